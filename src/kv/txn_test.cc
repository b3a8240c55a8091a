#include <gtest/gtest.h>

#include "kv/errors.h"
#include "kv/store.h"
#include "kv/test_util.h"

namespace raftkv::kv {
namespace {

using namespace raftkv::kv::testing;
using T = Compare::Target;
using R = Compare::Result;

TxnResponse mustTxn(Store& s, const TxnRequest& t) {
  auto r = s.Txn(t);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : TxnResponse{};
}

TEST(Txn, Txn_isOneRevisionWithSubRevisions) {
  Store s;
  TxnRequest t;
  t.success = {PutOp("a", "1"), PutOp("b", "2"), PutOp("c", "3")};
  auto r = mustTxn(s, t);
  EXPECT_TRUE(r.succeeded);  // no compares: success
  EXPECT_EQ(r.header.revision, 2);
  EXPECT_EQ(s.revision(), 2);
  auto all = MustRange(s, "a", "d");
  ASSERT_EQ(all.kvs.size(), 3u);
  for (const auto& kv : all.kvs) EXPECT_EQ(kv.mod_revision, 2);
  ASSERT_EQ(r.responses.size(), 3u);
  EXPECT_EQ(std::get<PutResponse>(r.responses[1].response).header.revision, 2);
}

TEST(Txn, Compare_versionCreateModValueLease) {
  Store s;
  ASSERT_TRUE(s.LeaseGrant(7, 10).ok());
  MustPut(s, "k", "v1", 7);  // rev 2
  MustPut(s, "k", "v2", 7);  // rev 3, version 2, create 2
  struct Case {
    Compare c;
    bool want;
  };
  std::vector<Case> cases = {
      {Cmp("k", T::kVersion, R::kEqual, 2), true},
      {Cmp("k", T::kVersion, R::kGreater, 1), true},
      {Cmp("k", T::kVersion, R::kLess, 2), false},
      {Cmp("k", T::kVersion, R::kNotEqual, 2), false},
      {Cmp("k", T::kCreate, R::kEqual, 2), true},
      {Cmp("k", T::kMod, R::kEqual, 3), true},
      {Cmp("k", T::kMod, R::kLess, 3), false},
      {Cmp("k", T::kLease, R::kEqual, 7), true},
      {Cmp("k", T::kValue, R::kEqual, 0, "v2"), true},
      {Cmp("k", T::kValue, R::kGreater, 0, "v1"), true},
      {Cmp("k", T::kValue, R::kLess, 0, "v1"), false},
      // An absent key has version/create/mod 0; a value compare on it is false.
      {Cmp("nokey", T::kVersion, R::kEqual, 0), true},
      {Cmp("nokey", T::kCreate, R::kEqual, 0), true},
      {Cmp("nokey", T::kValue, R::kEqual, 0, ""), false},
      {Cmp("nokey", T::kValue, R::kNotEqual, 0, "x"), false},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    TxnRequest t;
    t.compare = {cases[i].c};
    EXPECT_EQ(mustTxn(s, t).succeeded, cases[i].want) << "case " << i;
  }
  EXPECT_EQ(s.revision(), 3);  // read-only txns do not bump the revision
}

TEST(Txn, Compare_overRangeNeedsEveryKey) {
  Store s;
  MustPut(s, "p/a", "1");
  MustPut(s, "p/b", "1");
  MustPut(s, "q", "9");
  TxnRequest t;
  Compare c = Cmp("p/", T::kValue, R::kEqual, 0, "1");
  c.range_end = "p0";
  t.compare = {c};
  EXPECT_TRUE(mustTxn(s, t).succeeded);
  MustPut(s, "p/c", "2");
  EXPECT_FALSE(mustTxn(s, t).succeeded);
  Compare all = Cmp(std::string(1, '\0'), T::kVersion, R::kGreater, 0);
  all.range_end = std::string(1, '\0');
  t.compare = {all};
  EXPECT_TRUE(mustTxn(s, t).succeeded);
}

TEST(Txn, Branches_successAndFailure) {
  Store s;
  MustPut(s, "k", "old");
  TxnRequest t;
  t.compare = {Cmp("k", T::kValue, R::kEqual, 0, "old")};
  t.success = {PutOp("k", "new"), RangeOp("k")};
  t.failure = {RangeOp("k")};
  auto r = mustTxn(s, t);
  EXPECT_TRUE(r.succeeded);
  ASSERT_EQ(r.responses.size(), 2u);
  // A read inside the txn sees the txn's own earlier write.
  auto& rr = std::get<RangeResponse>(r.responses[1].response);
  ASSERT_EQ(rr.kvs.size(), 1u);
  EXPECT_EQ(rr.kvs[0].value, "new");
  EXPECT_EQ(rr.kvs[0].mod_revision, 3);
  r = mustTxn(s, t);
  EXPECT_FALSE(r.succeeded);
  ASSERT_EQ(r.responses.size(), 1u);
  EXPECT_EQ(std::get<RangeResponse>(r.responses[0].response).kvs[0].value, "new");
  EXPECT_EQ(s.revision(), 3);
}

TEST(Txn, Nested_compareUsesStateBeforeTxn) {
  Store s;
  MustPut(s, "x", "1");  // rev 2
  TxnRequest inner;
  // Evaluated before the outer put of y: y does not exist yet.
  inner.compare = {Cmp("y", T::kVersion, R::kEqual, 0)};
  inner.success = {PutOp("z", "inner-success"), DeleteOp("x")};
  inner.failure = {PutOp("z", "inner-failure")};
  TxnRequest outer;
  outer.compare = {Cmp("x", T::kValue, R::kEqual, 0, "1")};
  outer.success = {PutOp("y", "1"), TxnOp(inner)};
  auto r = mustTxn(s, outer);
  EXPECT_TRUE(r.succeeded);
  ASSERT_EQ(r.responses.size(), 2u);
  auto& nested = std::get<TxnResponse>(r.responses[1].response);
  EXPECT_TRUE(nested.succeeded);
  EXPECT_EQ(nested.header.revision, 0);  // etcd 3.4 leaves a nested txn's header empty
  EXPECT_EQ(std::get<DeleteRangeResponse>(nested.responses[1].response).deleted, 1);
  EXPECT_EQ(s.revision(), 3);
  EXPECT_EQ(MustRange(s, "z").kvs[0].value, "inner-success");
  EXPECT_TRUE(MustRange(s, "x").kvs.empty());
  EXPECT_EQ(MustRange(s, "y").kvs[0].mod_revision, 3);
}

// The header revisions etcd 3.4 reports inside a write txn (observed against etcd 3.4.23):
// a range reports the revision it read at (the txn's own earlier writes make that the new
// revision), a put the revision it creates, a delete the new revision once anything changed.
TEST(Txn, Headers_nestedResponsesCarryEtcdsRevisions) {
  Store s;
  MustPut(s, "a", "1");  // rev 2
  MustPut(s, "b", "2");  // rev 3
  TxnRequest t;
  t.success = {RangeOp("a"), PutOp("c", "3"), RangeOp("b"), DeleteOp("zz"), RangeOp("a")};
  auto r = mustTxn(s, t);
  EXPECT_EQ(r.header.revision, 4);
  EXPECT_EQ(std::get<RangeResponse>(r.responses[0].response).header.revision, 3);
  EXPECT_EQ(std::get<PutResponse>(r.responses[1].response).header.revision, 4);
  EXPECT_EQ(std::get<RangeResponse>(r.responses[2].response).header.revision, 4);
  EXPECT_EQ(std::get<DeleteRangeResponse>(r.responses[3].response).header.revision, 4);
  EXPECT_EQ(std::get<RangeResponse>(r.responses[4].response).header.revision, 4);
  // A delete that removes nothing before any change reports the revision read.
  TxnRequest u;
  u.success = {DeleteOp("zz"), PutOp("x", "1")};
  r = mustTxn(s, u);
  EXPECT_EQ(r.header.revision, 5);
  EXPECT_EQ(std::get<DeleteRangeResponse>(r.responses[0].response).header.revision, 4);
  EXPECT_EQ(std::get<PutResponse>(r.responses[1].response).header.revision, 5);
}

TEST(Txn, Nested_failureBranchOfNestedTxn) {
  Store s;
  MustPut(s, "y", "exists");
  TxnRequest inner;
  inner.compare = {Cmp("y", T::kVersion, R::kEqual, 0)};
  inner.success = {PutOp("z", "s")};
  inner.failure = {PutOp("z", "f")};
  TxnRequest outer;
  outer.compare = {Cmp("nokey", T::kVersion, R::kGreater, 0)};  // false
  outer.failure = {TxnOp(inner)};
  auto r = mustTxn(s, outer);
  EXPECT_FALSE(r.succeeded);
  EXPECT_FALSE(std::get<TxnResponse>(r.responses[0].response).succeeded);
  EXPECT_EQ(MustRange(s, "z").kvs[0].value, "f");
}

TEST(Txn, DuplicateKey_rejected) {
  Store s;
  MustPut(s, "a", "0");
  TxnRequest t;
  t.success = {PutOp("a", "1"), PutOp("a", "2")};
  EXPECT_EQ(s.Txn(t).status().message(), kErrDuplicateKey);
  t.success = {DeleteOp("a", "b"), PutOp("a", "1")};  // put inside a deleted range
  EXPECT_EQ(s.Txn(t).status().message(), kErrDuplicateKey);
  TxnRequest inner;
  inner.success = {PutOp("a", "2")};
  t.success = {PutOp("a", "1"), TxnOp(inner)};  // nested put of the same key
  EXPECT_EQ(s.Txn(t).status().message(), kErrDuplicateKey);
  // The same key in both branches of a nested txn is fine: only one runs.
  inner.failure = {PutOp("a", "3")};
  t.success = {TxnOp(inner)};
  EXPECT_TRUE(s.Txn(t).ok());
  // Success and failure of the top-level txn are checked separately.
  t.success = {PutOp("a", "1")};
  t.failure = {PutOp("a", "2")};
  EXPECT_TRUE(s.Txn(t).ok());
  // Two deletes of overlapping ranges are allowed.
  t.success = {DeleteOp("a"), DeleteOp("a", "z")};
  t.failure = {};
  EXPECT_TRUE(s.Txn(t).ok());
}

TEST(Txn, Errors_leaveStoreUnchanged) {
  Store s;
  MustPut(s, "a", "1");  // rev 2
  ASSERT_TRUE(s.Compact({2}).ok());
  MustPut(s, "a", "2");  // rev 3
  uint32_t before = s.Hash();
  TxnRequest t;
  RangeRequest old;
  old.key = "a";
  old.revision = 1;
  t.success = {PutOp("b", "x"), RequestOp{old}};
  EXPECT_EQ(s.Txn(t).status().message(), kErrCompacted);
  RangeRequest future;
  future.key = "a";
  future.revision = 4;  // even though the txn itself would create revision 4
  t.success = {PutOp("b", "x"), RequestOp{future}};
  EXPECT_EQ(s.Txn(t).status().message(), kErrFutureRev);
  PutRequest ignore;
  ignore.key = "missing";
  ignore.ignore_value = true;
  t.success = {PutOp("b", "x"), RequestOp{ignore}};
  EXPECT_EQ(s.Txn(t).status().message(), kErrKeyNotFound);
  t.success = {PutOp("", "x")};
  EXPECT_EQ(s.Txn(t).status().message(), kErrEmptyKey);
  t.success = {};
  t.compare = {Cmp("", T::kVersion, R::kEqual, 0)};
  EXPECT_EQ(s.Txn(t).status().message(), kErrEmptyKey);
  EXPECT_EQ(s.Hash(), before);
  EXPECT_EQ(s.revision(), 3);
}

TEST(Txn, TooManyOps) {
  Store s(/*max_txn_ops=*/3);
  TxnRequest t;
  t.success = {PutOp("a", "1"), PutOp("b", "1"), PutOp("c", "1")};
  EXPECT_TRUE(s.Txn(t).ok());
  t.success.push_back(PutOp("d", "1"));
  EXPECT_EQ(s.Txn(t).status().message(), kErrTooManyOps);
  TxnRequest inner;
  inner.success = {PutOp("x", "1"), PutOp("y", "1")};
  t.success = {TxnOp(inner), PutOp("z", "1")};  // nested budget: 3 - 2 = 1
  EXPECT_EQ(s.Txn(t).status().message(), kErrTooManyOps);
  // A parent using the whole budget leaves nothing for a nested txn.
  TxnRequest small;
  small.success = {PutOp("x", "1")};
  t.success = {TxnOp(small), PutOp("y", "1"), PutOp("z", "1")};
  EXPECT_EQ(s.Txn(t).status().message(), kErrTooManyOps);
  t.success = {TxnOp(small), PutOp("y", "1")};
  EXPECT_TRUE(s.Txn(t).ok());
  Store unlimited(/*max_txn_ops=*/0);
  t.success.clear();
  for (int i = 0; i < 1000; ++i) t.success.push_back(PutOp("k" + std::to_string(i), "v"));
  EXPECT_TRUE(unlimited.Txn(t).ok());
}

TEST(Txn, DeleteThenRangeInsideTxn) {
  Store s;
  MustPut(s, "a", "1");
  MustPut(s, "b", "2");
  TxnRequest t;
  DeleteRangeRequest d;
  d.key = "a";
  d.range_end = "c";
  d.prev_kv = true;
  t.success = {RequestOp{d}, RangeOp("a", "c")};
  auto r = mustTxn(s, t);
  auto& dr = std::get<DeleteRangeResponse>(r.responses[0].response);
  EXPECT_EQ(dr.deleted, 2);
  EXPECT_EQ(dr.prev_kvs.size(), 2u);
  EXPECT_EQ(std::get<RangeResponse>(r.responses[1].response).count, 0);
  EXPECT_EQ(s.revision(), 4);
}

}  // namespace
}  // namespace raftkv::kv
