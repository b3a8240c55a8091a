#include "raft/raft_log.h"

#include <gtest/gtest.h>

#include "raft/memory_storage.h"

namespace raftkv::raft {
namespace {

std::vector<Entry> Ents(Index from, std::vector<Term> terms) {
  std::vector<Entry> out;
  for (Term t : terms) out.push_back(Entry{t, from++, EntryType::kNormal, ""});
  return out;
}

TEST(Unstable, stableTo_dropsOnlyMatchingTerm) {
  Unstable u;
  u.offset = 5;
  u.entries = Ents(5, {1, 1, 2});
  u.StableTo(6, 2);  // wrong term: replaced meanwhile
  EXPECT_EQ(u.entries.size(), 3u);
  u.StableTo(6, 1);
  EXPECT_EQ(u.offset, 7u);
  EXPECT_EQ(u.entries.size(), 1u);
  u.StableTo(4, 1);  // already stable
  EXPECT_EQ(u.offset, 7u);
}

TEST(Unstable, truncateAndAppend_cases) {
  Unstable u;
  u.offset = 5;
  u.entries = Ents(5, {1, 1, 1});
  u.TruncateAndAppend(Ents(8, {2}));  // directly after
  EXPECT_EQ(u.entries.size(), 4u);
  u.TruncateAndAppend(Ents(6, {3, 3}));  // inside
  EXPECT_EQ(*u.MaybeLastIndex(), 7u);
  EXPECT_EQ(*u.MaybeTerm(7), 3u);
  u.TruncateAndAppend(Ents(3, {4}));  // before the offset: replaces everything
  EXPECT_EQ(u.offset, 3u);
  EXPECT_EQ(*u.MaybeLastIndex(), 3u);
}

class RaftLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(storage_.Append(Ents(1, {1, 1, 2})).ok());  // stable 1..3
  }
  MemoryStorage storage_;
};

TEST_F(RaftLogTest, termLookups_stableAndUnstable) {
  RaftLog log(&storage_);
  log.Append(Ents(4, {3, 3}));
  EXPECT_EQ(log.LastIndex(), 5u);
  EXPECT_EQ(log.LastTerm(), 3u);
  EXPECT_EQ(*log.TermAt(2), 1u);
  EXPECT_EQ(*log.TermAt(5), 3u);
  EXPECT_EQ(*log.TermAt(0), 0u);
  EXPECT_TRUE(log.TermAt(6).status().Is(Status::Code::kUnavailable));
  EXPECT_EQ(log.LastStableIndex(), 3u);
  auto all = log.Slice(2, 6, kNoLimit);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].index, 2u);
  EXPECT_EQ((*all)[3].index, 5u);
  EXPECT_EQ(log.Slice(2, 6, 0)->size(), 1u);
}

TEST_F(RaftLogTest, isUpToDate_comparesLastTermThenIndex) {
  RaftLog log(&storage_);  // last (3, term 2)
  EXPECT_TRUE(log.IsUpToDate(1, 3));
  EXPECT_TRUE(log.IsUpToDate(3, 2));
  EXPECT_TRUE(log.IsUpToDate(9, 2));
  EXPECT_FALSE(log.IsUpToDate(2, 2));
  EXPECT_FALSE(log.IsUpToDate(9, 1));
}

TEST_F(RaftLogTest, maybeAppend_matchConflictCommit) {
  RaftLog log(&storage_);
  // Mismatched previous term: refused.
  auto r = log.MaybeAppend(3, 1, 3, Ents(4, {3}));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  // Beyond the end: refused.
  EXPECT_FALSE(log.MaybeAppend(5, 2, 3, {})->has_value());
  // Matching: appended; commit = min(leader commit, last new).
  r = log.MaybeAppend(3, 2, 10, Ents(4, {3, 3}));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(**r, 5u);
  EXPECT_EQ(log.committed(), 5u);
  // Conflict below commit: refused with an error, log unchanged.
  auto bad = log.MaybeAppend(1, 1, 5, Ents(2, {4}));
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(*log.TermAt(2), 1u);
  // Already present entries: no truncation; commit does not go backwards.
  r = log.MaybeAppend(3, 2, 1, Ents(4, {3}));
  EXPECT_EQ(**r, 4u);
  EXPECT_EQ(log.LastIndex(), 5u);
  EXPECT_EQ(log.committed(), 5u);
}

// §5.3 (Figure 2, AppendEntries step 5): commitIndex = min(leaderCommit, index of last new
// entry), not the follower's last index: entries after the append's may be a stale tail of
// an older term that the leader's commit index does not vouch for.
TEST_F(RaftLogTest, maybeAppend_commitBoundedByLastNewEntry) {
  RaftLog log(&storage_);                           // (1,1) (2,1) (3,2)
  log.Append(Ents(4, {2, 2, 2}));                   // 4..6 of term 2, say from a deposed leader
  auto r = log.MaybeAppend(3, 2, 6, Ents(4, {2}));  // matches 4; the leader has committed 6
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(**r, 4u);
  EXPECT_EQ(log.LastIndex(), 6u);  // the matching append truncated nothing
  EXPECT_EQ(log.committed(), 4u);  // 5 and 6 are not known to match the leader's
}

TEST_F(RaftLogTest, maybeAppend_truncatesUncommittedConflict) {
  RaftLog log(&storage_);
  log.Append(Ents(4, {2, 2, 2}));
  auto r = log.MaybeAppend(4, 2, 0, Ents(5, {3}));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(log.LastIndex(), 5u);
  EXPECT_EQ(*log.TermAt(5), 3u);
}

TEST_F(RaftLogTest, maybeCommit_onlyGivenTerm) {
  RaftLog log(&storage_);
  log.Append(Ents(4, {3}));
  EXPECT_FALSE(log.MaybeCommit(3, 3));  // entry 3 is of term 2 (§5.4.2)
  EXPECT_EQ(log.committed(), 0u);
  EXPECT_TRUE(log.MaybeCommit(4, 3));
  EXPECT_EQ(log.committed(), 4u);
  EXPECT_FALSE(log.MaybeCommit(2, 1));  // never decreases
  EXPECT_EQ(log.committed(), 4u);
}

TEST_F(RaftLogTest, findConflictByTerm_skipsLargerTerms) {
  RaftLog log(&storage_);
  log.Append(Ents(4, {4, 4, 4, 5, 5}));  // terms: 1 1 2 4 4 4 5 5
  EXPECT_EQ(log.FindConflictByTerm(8, 3), (std::pair<Index, Term>{3, 2}));
  EXPECT_EQ(log.FindConflictByTerm(8, 4), (std::pair<Index, Term>{6, 4}));
  EXPECT_EQ(log.FindConflictByTerm(8, 9), (std::pair<Index, Term>{8, 5}));
  EXPECT_EQ(log.FindConflictByTerm(8, 0), (std::pair<Index, Term>{0, 0}));
  EXPECT_EQ(log.FindConflictByTerm(20, 1).second, 0u);  // beyond the log
}

TEST_F(RaftLogTest, nextEntries_andApplied) {
  RaftLog log(&storage_);
  log.Append(Ents(4, {3, 3}));
  log.CommitTo(4);
  auto ents = log.NextEntriesUpTo(log.committed(), 0);
  ASSERT_EQ(ents.size(), 4u);
  EXPECT_EQ(ents.back().index, 4u);
  log.AppliedTo(2);
  EXPECT_EQ(log.NextEntriesUpTo(log.committed(), 0).front().index, 3u);
  EXPECT_EQ(log.NextEntriesUpTo(log.committed(), 1).size(), 1u);
  log.AppliedTo(4);
  EXPECT_FALSE(log.HasNextCommittedEntries());
}

TEST_F(RaftLogTest, stableTo_movesStableIndex) {
  RaftLog log(&storage_);
  log.Append(Ents(4, {3, 3}));
  ASSERT_TRUE(storage_.Append(log.UnstableEntries()).ok());
  log.StableTo(5, 3);
  EXPECT_TRUE(log.UnstableEntries().empty());
  EXPECT_EQ(log.LastStableIndex(), 5u);
}

TEST(RaftLogDeath, commitBeyondLastIndex_isAnInvariantViolation) {
  MemoryStorage s;
  RaftLog log(&s);
  EXPECT_DEATH(log.CommitTo(3), "commit index beyond the last index");
}

}  // namespace
}  // namespace raftkv::raft
