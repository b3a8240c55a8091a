#include "kv/sessions.h"

#include <gtest/gtest.h>

#include "kv/codec.h"
#include "kv/errors.h"
#include "kv/store.h"
#include "kv/test_util.h"

namespace raftkv::kv {
namespace {

TEST(SessionTable, Check_newThenDuplicateReturnsStoredResponse) {
  SessionTable t(100);
  t.Register(7, 0);
  auto c = t.Check(7, 1, 1);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());  // new: apply it
  t.Record(7, 1, "first", 0, 1);
  auto again = t.Check(7, 1, 2);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ(**again, "first");
  // Several outstanding requests: seq 3 before seq 2 is fine.
  t.Record(7, 3, "third", 0, 3);
  EXPECT_FALSE(t.Check(7, 2, 3)->has_value());
  EXPECT_EQ(**t.Check(7, 3, 3), "third");
}

TEST(SessionTable, Check_unknownClientIsExpired) {
  SessionTable t(100);
  EXPECT_EQ(t.Check(1, 1, 0).status().message(), kErrSessionExpired);
}

TEST(SessionTable, Record_ackDiscardsAndOlderSeqIsStale) {
  SessionTable t(0);
  t.Register(1, 0);
  t.Record(1, 1, "r1", 0, 0);
  t.Record(1, 2, "r2", 0, 0);
  t.Record(1, 3, "r3", /*acked_through=*/2, 0);
  EXPECT_EQ(t.Check(1, 1, 0).status().message(), kErrStaleSequence);
  EXPECT_EQ(t.Check(1, 2, 0).status().message(), kErrStaleSequence);
  EXPECT_EQ(**t.Check(1, 3, 0), "r3");
}

TEST(SessionTable, ExpireSessions_byLogTimeOnly) {
  SessionTable t(10);
  t.Register(1, 100);
  t.Register(2, 105);
  EXPECT_EQ(t.ExpireSessions(110), 0);
  EXPECT_EQ(t.ExpireSessions(111), 1);  // client 1 idle for 11 > 10
  EXPECT_EQ(t.Check(1, 1, 111).status().message(), kErrSessionExpired);
  EXPECT_TRUE(t.Check(2, 1, 111).ok());  // use refreshes client 2 at 111
  // A new leader's clock behind the old one does not move time backwards.
  EXPECT_EQ(t.ExpireSessions(50), 0);
  EXPECT_EQ(t.clock(), 111);
  EXPECT_EQ(t.ExpireSessions(122), 1);
  EXPECT_EQ(t.size(), 0u);
}

TEST(SessionTable, ExpireSessions_sameOnEveryReplicaForSameEntries) {
  SessionTable a(5), b(5);
  for (SessionTable* t : {&a, &b}) {
    t->Register(1, 0);
    t->Register(2, 3);
    t->Record(2, 1, "x", 0, 4);
    t->ExpireSessions(8);
  }
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 1u);
}

TEST(SessionTable, Encode_roundTrips) {
  SessionTable t(30);
  t.Register(5, 1);
  t.Record(5, 1, std::string("bin\0ary", 7), 0, 2);
  t.Record(5, 2, "two", 0, 3);
  t.Register(9, 4);
  std::string buf;
  t.EncodeTo(&buf);
  Decoder d(buf);
  auto back = SessionTable::DecodeFrom(&d);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, t);
  EXPECT_TRUE(d.empty());
  Decoder shortd(std::string_view(buf).substr(0, buf.size() - 3));
  EXPECT_FALSE(SessionTable::DecodeFrom(&shortd).ok());
}

}  // namespace
}  // namespace raftkv::kv

namespace raftkv::kv {
namespace {

// How the apply loop uses the table (question C2): a client's write is committed and applied,
// the reply is lost, the client retries with the same sequence number; the retry is answered
// from the table and the store does not apply the put a second time.
TEST(SessionTable, Check_retriedPutAppliedOnce) {
  Store s(128, /*session_timeout=*/1000);
  const uint64_t client = 17;  // index of the client's register entry
  s.sessions().Register(client, 0);
  auto apply = [&](uint64_t seq, const std::string& value, int64_t now) -> std::string {
    auto seen = s.sessions().Check(client, seq, now);
    EXPECT_TRUE(seen.ok());
    if (seen->has_value()) return **seen;
    auto resp = testing::MustPut(s, "counter", value);
    std::string encoded = std::to_string(resp.header.revision);  // stands in for the reply
    s.sessions().Record(client, seq, encoded, 0, now);
    return encoded;
  };
  EXPECT_EQ(apply(1, "a", 10), "2");
  EXPECT_EQ(apply(1, "a", 20), "2");  // the retry
  EXPECT_EQ(s.revision(), 2);
  EXPECT_EQ(testing::MustRange(s, "counter").kvs[0].version, 1);
  EXPECT_EQ(apply(2, "b", 30), "3");
  // The table travels with snapshots, so a member restored from one dedups the same way.
  auto restored = Store::Restore(s.Snapshot()->Serialize());
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(**(*restored)->sessions().Check(client, 2, 40), "3");
}

}  // namespace
}  // namespace raftkv::kv
