#include <gtest/gtest.h>

#include "kv/errors.h"
#include "kv/store.h"
#include "kv/test_util.h"

namespace raftkv::kv {
namespace {

using namespace raftkv::kv::testing;
const std::string kAll(1, '\0');

TEST(Compaction, Compact_errorsForCompactedAndFutureRevisions) {
  Store s;
  MustPut(s, "a", "1");  // rev 2
  MustPut(s, "a", "2");  // rev 3
  EXPECT_EQ(s.Compact({4}).status().message(), kErrFutureRev);
  EXPECT_EQ(s.Compact({0}).status().message(), kErrCompacted);
  auto r = s.Compact({3});  // compacting at the current revision is allowed
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->header.revision, 3);
  EXPECT_EQ(s.compact_revision(), 3);
  EXPECT_EQ(s.Compact({3}).status().message(), kErrCompacted);
  EXPECT_EQ(s.Compact({2}).status().message(), kErrCompacted);
  EXPECT_EQ(s.revision(), 3);  // compaction does not create a revision
}

TEST(Compaction, Compact_keepsLatestLiveVersionAndDropsDeletedKeys) {
  Store s;
  MustPut(s, "a", "1");  // 2
  MustPut(s, "a", "2");  // 3
  MustPut(s, "b", "1");  // 4
  MustDelete(s, "b");    // 5
  MustPut(s, "c", "1");  // 6
  MustDelete(s, "c");    // 7
  MustPut(s, "a", "3");  // 8
  ASSERT_TRUE(s.Compact({6}).ok());
  // At 6: a=2 (rev 3), c=1; b was deleted at 5.
  EXPECT_EQ(Keys(MustRange(s, "a", kAll, 6)), "a,c");
  EXPECT_EQ(MustRange(s, "a", "", 6).kvs[0].value, "2");
  EXPECT_EQ(MustRange(s, "a", "", 6).kvs[0].version, 2);
  EXPECT_EQ(Keys(MustRange(s, "a", kAll, 7)), "a");
  EXPECT_EQ(MustRange(s, "a").kvs[0].value, "3");
  EXPECT_EQ(MustRange(s, "a").kvs[0].version, 3);  // version survives compaction
  RangeRequest old;
  old.key = "a";
  old.revision = 5;
  EXPECT_EQ(s.Range(old).status().message(), kErrCompacted);
  // A put on a key whose tombstone was compacted starts version 1 again.
  ASSERT_TRUE(s.Compact({8}).ok());
  MustPut(s, "b", "again");
  EXPECT_EQ(MustRange(s, "b").kvs[0].version, 1);
  EXPECT_EQ(MustRange(s, "b").kvs[0].create_revision, 9);
}

TEST(Compaction, Compact_hashOfVisibleHistoryUnchanged) {
  Store s;
  for (int i = 0; i < 20; ++i) MustPut(s, "k" + std::to_string(i % 4), std::to_string(i));
  MustDelete(s, "k1");
  auto before = s.HashKV(0);
  ASSERT_TRUE(s.Compact({10}).ok());
  // HashKV covers the history from the compaction revision on; reading at the same
  // revisions gives the same answers, so compare against a store compacted the same way
  // by a different path: a second store that compacts in two steps.
  Store t;
  for (int i = 0; i < 20; ++i) MustPut(t, "k" + std::to_string(i % 4), std::to_string(i));
  MustDelete(t, "k1");
  ASSERT_TRUE(t.Compact({5}).ok());
  ASSERT_TRUE(t.Compact({10}).ok());
  EXPECT_EQ(s.HashKV(0)->hash, t.HashKV(0)->hash);
  EXPECT_EQ(s.Hash(), t.Hash());
  EXPECT_NE(before->hash, s.HashKV(0)->hash);  // the dropped history was hashed before
  EXPECT_EQ(s.HashKV(9).status().message(), kErrCompacted);
}

TEST(Compaction, Compact_txnAfterCompactionStillCountsVersions) {
  Store s;
  MustPut(s, "a", "1");
  MustPut(s, "a", "2");
  ASSERT_TRUE(s.Compact({3}).ok());
  TxnRequest t;
  t.compare = {Cmp("a", Compare::Target::kVersion, Compare::Result::kEqual, 2)};
  t.success = {PutOp("a", "3")};
  auto r = s.Txn(t);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->succeeded);
  EXPECT_EQ(MustRange(s, "a").kvs[0].version, 3);
}

}  // namespace
}  // namespace raftkv::kv

namespace raftkv::kv {
namespace {

using namespace raftkv::kv::testing;

TEST(Compaction, Compact_dropsOldVersionsPhysically) {
  Store s;
  for (int i = 0; i < 10; ++i) MustPut(s, "a", std::to_string(i));  // revs 2..11
  MustPut(s, "b", "x");                                             // 12
  MustDelete(s, "b");                                               // 13
  EXPECT_EQ(s.version_count(), 12u);
  ASSERT_TRUE(s.Compact({13}).ok());
  EXPECT_EQ(s.version_count(), 1u);  // only a's latest version
}

}  // namespace
}  // namespace raftkv::kv
