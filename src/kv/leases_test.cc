#include <gtest/gtest.h>

#include "kv/codec.h"
#include "kv/errors.h"
#include "kv/store.h"
#include "kv/test_util.h"

namespace raftkv::kv {
namespace {

using namespace testing;

std::vector<std::string> AttachedKeys(const Store& s, lease::LeaseId id) {
  auto l = s.LeaseLookup(id);
  if (!l.ok()) return {};
  return std::vector<std::string>(l->keys.begin(), l->keys.end());
}

TEST(StoreLeases, Put_unknownLeaseIsNotFoundAndChangesNothing) {
  Store s;
  PutRequest p;
  p.key = "k";
  p.value = "v";
  p.lease = 42;
  EXPECT_EQ(s.Put(p).status().message(), std::string(kErrLeaseNotFound));
  TxnRequest t;
  RequestOp op;
  op.request = p;
  t.success = {op};
  EXPECT_EQ(s.Txn(t).status().message(), std::string(kErrLeaseNotFound));
  EXPECT_EQ(s.revision(), 1);
  ASSERT_TRUE(s.LeaseGrant(42, 10).ok());
  EXPECT_TRUE(s.Put(p).ok());
  EXPECT_TRUE(s.Txn(t).ok());
  EXPECT_EQ(AttachedKeys(s, 42), std::vector<std::string>{"k"});
}

TEST(StoreLeases, LeaseRevoke_deletesEveryAttachedKeyInOneRevision) {
  Store s;
  ASSERT_TRUE(s.LeaseGrant(1, 10).ok());
  MustPut(s, "b", "1", 1);
  MustPut(s, "a", "1", 1);
  MustPut(s, "other", "1");
  int64_t before = s.revision();
  auto h = s.LeaseRevoke(1);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->revision, before + 1);
  EXPECT_EQ(s.revision(), before + 1);
  EXPECT_TRUE(MustRange(s, "a").kvs.empty());
  EXPECT_TRUE(MustRange(s, "b").kvs.empty());
  EXPECT_EQ(MustRange(s, "other").kvs.size(), 1u);
  // Both deletions share the revision, in key order.
  auto old = MustRange(s, "a", "c", before);
  EXPECT_EQ(Keys(old), "a,b");
  EXPECT_FALSE(s.LeaseLookup(1).ok());
  EXPECT_EQ(s.LeaseRevoke(1).status().message(), std::string(kErrLeaseNotFound));
  s.CheckInvariants();
}

TEST(StoreLeases, LeaseRevoke_withoutKeysDoesNotBumpTheRevision) {
  Store s;
  ASSERT_TRUE(s.LeaseGrant(1, 10).ok());
  auto h = s.LeaseRevoke(1);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->revision, 1);
  EXPECT_EQ(s.revision(), 1);
}

TEST(StoreLeases, Attachments_followTheLatestVersion) {
  Store s;
  ASSERT_TRUE(s.LeaseGrant(1, 10).ok());
  ASSERT_TRUE(s.LeaseGrant(2, 10).ok());
  MustPut(s, "k", "v", 1);
  PutRequest keep;  // ignore_lease keeps the key on its lease
  keep.key = "k";
  keep.value = "v2";
  keep.ignore_lease = true;
  ASSERT_TRUE(s.Put(keep).ok());
  EXPECT_EQ(AttachedKeys(s, 1), std::vector<std::string>{"k"});
  MustPut(s, "k", "v3", 2);  // moved to lease 2
  EXPECT_TRUE(AttachedKeys(s, 1).empty());
  EXPECT_EQ(AttachedKeys(s, 2), std::vector<std::string>{"k"});
  MustPut(s, "k", "v4");  // re-put without a lease: detached
  EXPECT_TRUE(AttachedKeys(s, 2).empty());
  ASSERT_TRUE(s.LeaseRevoke(2).ok());
  EXPECT_EQ(MustRange(s, "k").kvs.size(), 1u);  // no longer the lease's: it survives
  MustPut(s, "j", "v", 1);
  MustDelete(s, "j");  // a deleted key is detached
  EXPECT_TRUE(AttachedKeys(s, 1).empty());
}

TEST(StoreLeases, Snapshot_carriesTheTableAndRebuildsAttachments) {
  Store s;
  ASSERT_TRUE(s.LeaseGrant(5, 30).ok());
  ASSERT_TRUE(s.LeaseGrant(-9, 7).ok());
  MustPut(s, "a", "1", 5);
  MustPut(s, "b", "1", 5);
  MustPut(s, "b", "2");  // detached again
  MustPut(s, "c", "1", -9);
  MustPut(s, "d", "1", 5);
  MustDelete(s, "d");
  auto restored = Store::Restore(s.Snapshot()->Serialize());
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  Store& r = **restored;
  EXPECT_EQ(r.LeaseTtls(), s.LeaseTtls());
  EXPECT_EQ(AttachedKeys(r, 5), std::vector<std::string>{"a"});
  EXPECT_EQ(AttachedKeys(r, -9), std::vector<std::string>{"c"});
  EXPECT_EQ(r.Hash(), s.Hash());
  EXPECT_EQ(r.SizeBytes(), s.SizeBytes());
  // Revoking on the restored store does what it does on the original.
  ASSERT_TRUE(r.LeaseRevoke(5).ok());
  ASSERT_TRUE(s.LeaseRevoke(5).ok());
  EXPECT_EQ(r.Hash(), s.Hash());
}

// A store image written before leases were replicated (format version 1) still loads; its
// keys keep their lease ids, which name no lease.
TEST(StoreLeases, Restore_readsVersion1Images) {
  std::string img = SnapshotLoader::EncodeHeaderForTest(1, 1, 0);
  PutU8(&img, 0);  // no keys
  PutU32(&img, Crc32Extend(0, img.data(), img.size()));
  auto r = Store::Restore(img);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE((*r)->LeaseIds().empty());
  EXPECT_EQ((*r)->revision(), 1);
}

TEST(StoreLeases, SizeBytes_growsWithWritesAndShrinksWithCompaction) {
  Store s;
  const int64_t empty = s.SizeBytes();
  EXPECT_EQ(empty, 0);
  MustPut(s, "key", std::string(1000, 'x'));
  MustPut(s, "key", std::string(1000, 'y'));
  const int64_t two = 2 * (3 + 1000 + Store::kVersionOverheadBytes);
  EXPECT_EQ(s.SizeBytes(), two);
  ASSERT_TRUE(s.LeaseGrant(1, 5).ok());
  EXPECT_EQ(s.SizeBytes(), two + Store::kLeaseOverheadBytes);
  CompactionRequest c;
  c.revision = s.revision();
  ASSERT_TRUE(s.Compact(c).ok());
  EXPECT_EQ(s.SizeBytes(), two / 2 + Store::kLeaseOverheadBytes);
}

}  // namespace
}  // namespace raftkv::kv
