#include "raft/memory_storage.h"

#include <gtest/gtest.h>

namespace raftkv::raft {
namespace {

std::vector<Entry> Ents(Index from, std::vector<Term> terms) {
  std::vector<Entry> out;
  for (Term t : terms) out.push_back(Entry{t, from++, EntryType::kNormal, "d"});
  return out;
}

TEST(MemoryStorage, empty_hasDummyEntry) {
  MemoryStorage s;
  EXPECT_EQ(s.FirstIndex(), 1u);
  EXPECT_EQ(s.LastIndex(), 0u);
  EXPECT_EQ(*s.TermAt(0), 0u);
  EXPECT_TRUE(s.TermAt(1).status().Is(Status::Code::kUnavailable));
}

TEST(MemoryStorage, append_truncatesConflictingSuffix) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Ents(1, {1, 1, 2, 2})).ok());
  EXPECT_EQ(s.LastIndex(), 4u);
  ASSERT_TRUE(s.Append(Ents(3, {3})).ok());
  EXPECT_EQ(s.LastIndex(), 3u);
  EXPECT_EQ(*s.TermAt(3), 3u);
  EXPECT_FALSE(s.Append(Ents(6, {3})).ok());  // gap
}

TEST(MemoryStorage, entries_boundsAndSizeLimit) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Ents(1, {1, 1, 1, 1})).ok());
  auto all = s.Entries(1, 5, kNoLimit);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 4u);
  auto one = s.Entries(1, 5, 0);  // at least one
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
  auto two = s.Entries(1, 5, 2 * Entry{1, 1, EntryType::kNormal, "d"}.SizeBytes());
  EXPECT_EQ(two->size(), 2u);
  EXPECT_TRUE(s.Entries(1, 6, kNoLimit).status().Is(Status::Code::kUnavailable));
}

TEST(MemoryStorage, compactAndSnapshot) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Ents(1, {1, 1, 2, 2, 3})).ok());
  ConfState cs;
  cs.voters = {1, 2, 3};
  auto snap = s.CreateSnapshot(3, cs, "state");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->meta.term, 2u);
  ASSERT_TRUE(s.Compact(3).ok());
  EXPECT_EQ(s.FirstIndex(), 4u);
  EXPECT_EQ(*s.TermAt(3), 2u);
  EXPECT_TRUE(s.TermAt(2).status().Is(Status::Code::kCompacted));
  EXPECT_TRUE(s.Entries(3, 5, kNoLimit).status().Is(Status::Code::kCompacted));
  EXPECT_EQ(s.LastIndex(), 5u);
  EXPECT_EQ(s.GetInitialState()->conf_state, cs);
  // Appending over the compacted part ignores it.
  ASSERT_TRUE(s.Append(Ents(2, {1, 2, 3, 4})).ok());
  EXPECT_EQ(s.LastIndex(), 5u);
  EXPECT_EQ(*s.TermAt(5), 4u);
}

TEST(MemoryStorage, applySnapshot_replacesLog) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Ents(1, {1, 1})).ok());
  Snapshot snap;
  snap.meta.index = 10;
  snap.meta.term = 4;
  ASSERT_TRUE(s.ApplySnapshot(snap).ok());
  EXPECT_EQ(s.FirstIndex(), 11u);
  EXPECT_EQ(s.LastIndex(), 10u);
  EXPECT_EQ(*s.TermAt(10), 4u);
  snap.meta.index = 5;
  EXPECT_TRUE(s.ApplySnapshot(snap).Is(Status::Code::kFailedPrecondition));
}

TEST(MemoryStorage, hardState_roundTrip) {
  MemoryStorage s;
  s.SetHardState(HardState{3, 2, 1});
  EXPECT_EQ(s.GetInitialState()->hard_state, (HardState{3, 2, 1}));
}

}  // namespace
}  // namespace raftkv::raft
