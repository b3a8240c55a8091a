#include "kv/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "kv/errors.h"
#include "kv/test_util.h"

namespace raftkv::kv {
namespace {

using namespace raftkv::kv::testing;

TEST(Store, Put_bumpsRevisionAndVersion) {
  Store s;
  EXPECT_EQ(s.revision(), 1);
  EXPECT_EQ(MustPut(s, "a", "1").header.revision, 2);
  EXPECT_EQ(MustPut(s, "a", "2").header.revision, 3);
  EXPECT_EQ(MustPut(s, "b", "x").header.revision, 4);
  auto r = MustRange(s, "a");
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].value, "2");
  EXPECT_EQ(r.kvs[0].create_revision, 2);
  EXPECT_EQ(r.kvs[0].mod_revision, 3);
  EXPECT_EQ(r.kvs[0].version, 2);
  EXPECT_EQ(r.header.revision, 4);
}

TEST(Store, PutDeletePut_resetsVersionAndCreateRevision) {
  Store s;
  MustPut(s, "k", "1");         // rev 2
  MustPut(s, "k", "2");         // rev 3
  auto d = MustDelete(s, "k");  // rev 4
  EXPECT_EQ(d.deleted, 1);
  EXPECT_EQ(d.header.revision, 4);
  EXPECT_TRUE(MustRange(s, "k").kvs.empty());
  MustPut(s, "k", "3");  // rev 5
  auto r = MustRange(s, "k");
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].version, 1);
  EXPECT_EQ(r.kvs[0].create_revision, 5);
  EXPECT_EQ(r.kvs[0].mod_revision, 5);
  // History is still readable.
  auto old = MustRange(s, "k", "", 3);
  ASSERT_EQ(old.kvs.size(), 1u);
  EXPECT_EQ(old.kvs[0].value, "2");
  EXPECT_EQ(old.kvs[0].version, 2);
  EXPECT_EQ(old.kvs[0].create_revision, 2);
  EXPECT_TRUE(MustRange(s, "k", "", 4).kvs.empty());
}

TEST(Store, Put_prevKv) {
  Store s;
  PutRequest p;
  p.key = "a";
  p.value = "1";
  p.prev_kv = true;
  auto r1 = s.Put(p);
  ASSERT_TRUE(r1.ok());
  EXPECT_FALSE(r1->has_prev_kv);
  p.value = "2";
  auto r2 = s.Put(p);
  ASSERT_TRUE(r2.ok());
  ASSERT_TRUE(r2->has_prev_kv);
  EXPECT_EQ(r2->prev_kv.value, "1");
  EXPECT_EQ(r2->prev_kv.mod_revision, 2);
}

TEST(Store, Put_leaseStoredAndIgnoreFlags) {
  Store s;
  ASSERT_TRUE(s.LeaseGrant(77, 10).ok());
  ASSERT_TRUE(s.LeaseGrant(88, 10).ok());
  MustPut(s, "a", "v1", 77);
  PutRequest p;
  p.key = "a";
  p.ignore_value = true;
  p.lease = 88;
  ASSERT_TRUE(s.Put(p).ok());
  auto r = MustRange(s, "a");
  EXPECT_EQ(r.kvs[0].value, "v1");
  EXPECT_EQ(r.kvs[0].lease, 88);
  PutRequest q;
  q.key = "a";
  q.value = "v2";
  q.ignore_lease = true;
  ASSERT_TRUE(s.Put(q).ok());
  r = MustRange(s, "a");
  EXPECT_EQ(r.kvs[0].value, "v2");
  EXPECT_EQ(r.kvs[0].lease, 88);
  EXPECT_EQ(r.kvs[0].version, 3);
}

TEST(Store, Put_errors) {
  Store s;
  PutRequest p;
  EXPECT_EQ(s.Put(p).status().message(), kErrEmptyKey);
  p.key = "missing";
  p.ignore_value = true;
  EXPECT_EQ(s.Put(p).status().message(), kErrKeyNotFound);
  p.ignore_value = false;
  p.ignore_lease = true;
  EXPECT_EQ(s.Put(p).status().message(), kErrKeyNotFound);
  MustPut(s, "missing", "now here");
  p.ignore_lease = false;
  p.ignore_value = true;
  p.value = "x";
  EXPECT_EQ(s.Put(p).status().message(), kErrValueProvided);
  p.ignore_value = false;
  p.ignore_lease = true;
  p.lease = 5;
  EXPECT_EQ(s.Put(p).status().message(), kErrLeaseProvided);
  EXPECT_EQ(s.revision(), 2);  // failed puts changed nothing
}

TEST(Store, DeleteRange_rangeAndPrevKvs) {
  Store s;
  for (auto k : {"a", "b", "c", "d"}) MustPut(s, k, std::string("v") + k);
  DeleteRangeRequest d;
  d.key = "b";
  d.range_end = "d";
  d.prev_kv = true;
  auto r = s.DeleteRange(d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->deleted, 2);
  ASSERT_EQ(r->prev_kvs.size(), 2u);
  EXPECT_EQ(r->prev_kvs[0].key, "b");
  EXPECT_EQ(r->prev_kvs[1].value, "vc");
  EXPECT_EQ(r->header.revision, 6);  // one revision for the whole delete
  EXPECT_EQ(Keys(MustRange(s, "a", std::string(1, '\0'))), "a,d");
}

TEST(Store, DeleteRange_nothingDeletedKeepsRevision) {
  Store s;
  MustPut(s, "a", "1");
  auto d = MustDelete(s, "zzz");
  EXPECT_EQ(d.deleted, 0);
  EXPECT_EQ(d.header.revision, 2);
  EXPECT_EQ(s.revision(), 2);
  DeleteRangeRequest empty;
  EXPECT_EQ(s.DeleteRange(empty).status().message(), kErrEmptyKey);
}

TEST(Store, DeleteRange_allKeys) {
  Store s;
  for (auto k : {"a", "b", "c"}) MustPut(s, k, "v");
  auto d = MustDelete(s, std::string(1, '\0'), std::string(1, '\0'));
  EXPECT_EQ(d.deleted, 3);
  EXPECT_EQ(MustRange(s, std::string(1, '\0'), std::string(1, '\0')).count, 0);
}

TEST(Store, HashKV_equalForSameHistoryAndDiffersOtherwise) {
  Store a, b, c;
  for (Store* s : {&a, &b, &c}) {
    MustPut(*s, "x", "1");
    MustPut(*s, "y", "2");
  }
  MustPut(c, "x", "other");
  MustPut(a, "x", "3");
  MustPut(b, "x", "3");
  EXPECT_EQ(a.Hash(), b.Hash());
  EXPECT_NE(a.Hash(), c.Hash());
  EXPECT_EQ(a.HashKV(0)->hash, b.HashKV(0)->hash);
  EXPECT_EQ(a.HashKV(3)->hash, c.HashKV(3)->hash);  // same up to revision 3
  EXPECT_NE(a.HashKV(4)->hash, c.HashKV(4)->hash);
  EXPECT_EQ(a.HashKV(5).status().message(), kErrFutureRev);
}

}  // namespace
}  // namespace raftkv::kv

namespace raftkv::kv {
namespace {

// The server serves serializable reads on gRPC threads while the apply thread writes: every
// read sees a whole write (value matching its version) and revisions never go back.
TEST(Store, RangeFromOtherThreadsWhileWritingAndCompacting) {
  Store s;
  testing::MustPut(s, "k", "v1");
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  std::vector<std::string> errors(3);
  for (int t = 0; t < 3; t++) {
    readers.emplace_back([&, t] {
      int64_t last_rev = 0;
      RangeRequest req;
      req.key = "k";
      while (!done && errors[t].empty()) {
        auto r = s.Range(req);
        if (!r.ok()) {
          errors[t] = r.status().ToString();
          break;
        }
        if (r->header.revision < last_rev) errors[t] = "revision went back";
        last_rev = r->header.revision;
        if (r->kvs.size() != 1) {
          errors[t] = "key missing";
        } else if (r->kvs[0].value != "v" + std::to_string(r->kvs[0].version)) {
          errors[t] =
              "torn: value " + r->kvs[0].value + " at version " + std::to_string(r->kvs[0].version);
        }
        reads++;
      }
    });
  }
  for (int i = 2; i <= 3000; i++) {
    testing::MustPut(s, "k", "v" + std::to_string(i));
    testing::MustPut(s, "other" + std::to_string(i % 50), std::string(i % 200, 'x'));
    if (i % 500 == 0) ASSERT_TRUE(s.Compact({.revision = s.revision() - 10}).ok());
  }
  while (reads < 100) std::this_thread::yield();  // every reader ran against the writes
  done = true;
  for (auto& r : readers) r.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  s.CheckInvariants();
}

}  // namespace
}  // namespace raftkv::kv
