// Range: every option, plus a randomized cross-check against a deliberately simple model
// (a flat list of every version ever written).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "kv/errors.h"
#include "kv/store.h"
#include "kv/test_util.h"

namespace raftkv::kv {
namespace {

using namespace raftkv::kv::testing;
const std::string kAll(1, '\0');

// a=1 (rev2), b=22 (rev3), c=3 (rev4), a=111 (rev5), d=4 (rev6), b deleted (rev7), b=2 (rev8)
void fill(Store& s) {
  MustPut(s, "a", "1");
  MustPut(s, "b", "22");
  MustPut(s, "c", "3");
  MustPut(s, "a", "111");
  MustPut(s, "d", "4");
  MustDelete(s, "b");
  MustPut(s, "b", "2");
}

RangeResponse mustRange(Store& s, RangeRequest req) {
  auto r = s.Range(req);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : RangeResponse{};
}

TEST(Range, Range_singleKeyAndHalfOpenRange) {
  Store s;
  fill(s);
  EXPECT_EQ(Keys(MustRange(s, "b")), "b");
  EXPECT_EQ(Keys(MustRange(s, "bb")), "");
  EXPECT_EQ(Keys(MustRange(s, "a", "c")), "a,b");
  EXPECT_EQ(Keys(MustRange(s, "b", kAll)), "b,c,d");
  EXPECT_EQ(Keys(MustRange(s, kAll, kAll)), "a,b,c,d");
  EXPECT_EQ(Keys(MustRange(s, "c", "a")), "");  // end before key: empty
  EXPECT_EQ(MustRange(s, "a", "c").count, 2);
}

TEST(Range, Range_emptyKeyIsAnError) {
  Store s;
  RangeRequest req;
  EXPECT_EQ(s.Range(req).status().message(), kErrEmptyKey);
}

TEST(Range, Range_limitSetsMoreAndCountIsTotal) {
  Store s;
  fill(s);
  RangeRequest req;
  req.key = "a";
  req.range_end = kAll;
  req.limit = 2;
  auto r = mustRange(s, req);
  EXPECT_EQ(Keys(r), "a,b");
  EXPECT_TRUE(r.more);
  EXPECT_EQ(r.count, 4);
  req.limit = 4;
  r = mustRange(s, req);
  EXPECT_FALSE(r.more);
  EXPECT_EQ(r.kvs.size(), 4u);
}

TEST(Range, Range_pastRevisionFutureAndCompacted) {
  Store s;
  fill(s);  // revision 8
  EXPECT_EQ(Keys(MustRange(s, "a", kAll, 3)), "a,b");
  EXPECT_EQ(MustRange(s, "a", "", 4).kvs[0].value, "1");
  EXPECT_EQ(Keys(MustRange(s, "a", kAll, 7)), "a,c,d");
  EXPECT_EQ(MustRange(s, "a", kAll, 7).header.revision, 8);  // header: current revision
  RangeRequest req;
  req.key = "a";
  req.revision = 9;
  EXPECT_EQ(s.Range(req).status().message(), kErrFutureRev);
  ASSERT_TRUE(s.Compact({5}).ok());
  req.revision = 4;
  EXPECT_EQ(s.Range(req).status().message(), kErrCompacted);
  req.revision = 5;  // the compaction revision itself is readable
  EXPECT_EQ(mustRange(s, req).kvs[0].value, "111");
}

TEST(Range, Range_keysOnlyAndCountOnly) {
  Store s;
  fill(s);
  RangeRequest req;
  req.key = "a";
  req.range_end = kAll;
  req.keys_only = true;
  auto r = mustRange(s, req);
  ASSERT_EQ(r.kvs.size(), 4u);
  for (const auto& kv : r.kvs) {
    EXPECT_TRUE(kv.value.empty());
    EXPECT_GT(kv.mod_revision, 0);
  }
  req.keys_only = false;
  req.count_only = true;
  r = mustRange(s, req);
  EXPECT_TRUE(r.kvs.empty());
  EXPECT_EQ(r.count, 4);
}

TEST(Range, Range_sortEveryTargetAndOrder) {
  Store s;
  fill(s);
  RangeRequest req;
  req.key = "a";
  req.range_end = kAll;
  req.sort_order = SortOrder::kDescend;
  req.sort_target = SortTarget::kKey;
  EXPECT_EQ(Keys(mustRange(s, req)), "d,c,b,a");
  req.sort_target = SortTarget::kMod;  // a5 b8 c4 d6
  EXPECT_EQ(Keys(mustRange(s, req)), "b,d,a,c");
  req.sort_order = SortOrder::kAscend;
  EXPECT_EQ(Keys(mustRange(s, req)), "c,a,d,b");
  req.sort_target = SortTarget::kCreate;  // a2 b8 c4 d6
  EXPECT_EQ(Keys(mustRange(s, req)), "a,c,d,b");
  req.sort_target = SortTarget::kVersion;  // a2 b1 c1 d1: ties stay in key order
  EXPECT_EQ(Keys(mustRange(s, req)), "b,c,d,a");
  req.sort_target = SortTarget::kValue;  // 111 2 3 4
  req.sort_order = SortOrder::kDescend;
  req.keys_only = true;  // sorting still uses the values
  EXPECT_EQ(Keys(mustRange(s, req)), "d,c,b,a");
  // NONE with a non-key target sorts ascending (etcd's rule).
  req.keys_only = false;
  req.sort_order = SortOrder::kNone;
  req.sort_target = SortTarget::kMod;
  EXPECT_EQ(Keys(mustRange(s, req)), "c,a,d,b");
  // Sort then limit.
  req.sort_order = SortOrder::kAscend;
  req.limit = 1;
  auto r = mustRange(s, req);
  EXPECT_EQ(Keys(r), "c");
  EXPECT_TRUE(r.more);
  // etcd quirk: order NONE fetches only limit+1 keys (a, b) before sorting them by MOD.
  req.sort_order = SortOrder::kNone;
  r = mustRange(s, req);
  EXPECT_EQ(Keys(r), "a");
  EXPECT_TRUE(r.more);
}

TEST(Range, Range_revisionFilters) {
  Store s;
  fill(s);  // mod: a5 b8 c4 d6, create: a2 b8 c4 d6
  RangeRequest req;
  req.key = "a";
  req.range_end = kAll;
  req.min_mod_revision = 5;
  EXPECT_EQ(Keys(mustRange(s, req)), "a,b,d");
  req.max_mod_revision = 6;
  EXPECT_EQ(Keys(mustRange(s, req)), "a,d");
  req = RangeRequest{};
  req.key = "a";
  req.range_end = kAll;
  req.max_create_revision = 4;
  EXPECT_EQ(Keys(mustRange(s, req)), "a,c");
  req.min_create_revision = 3;
  auto r = mustRange(s, req);
  EXPECT_EQ(Keys(r), "c");
  EXPECT_EQ(r.count, 4);  // count ignores filters, as in etcd
  req = RangeRequest{};
  req.key = "a";
  req.range_end = kAll;
  req.min_mod_revision = 5;
  req.limit = 2;
  r = mustRange(s, req);
  EXPECT_EQ(Keys(r), "a,b");
  EXPECT_TRUE(r.more);
}

// ---- randomized cross-check --------------------------------------------------------------

struct ModelVersion {
  std::string key, value;
  int64_t rev, create, version, lease;
  bool tombstone;
};

class Model {
 public:
  int64_t rev = 1;
  int64_t compacted = 0;
  std::vector<ModelVersion> all;

  const ModelVersion* latest(const std::string& key, int64_t at) const {
    const ModelVersion* best = nullptr;
    for (const auto& v : all) {
      if (v.key == key && v.rev <= at) best = &v;
    }
    return best && !best->tombstone ? best : nullptr;
  }
  // Writes at revision `at` (rev + 1); the caller bumps `rev` when the write transaction
  // changed something.
  void putAt(const std::string& k, const std::string& v, int64_t lease, int64_t at) {
    const ModelVersion* prev = latest(k, at);
    all.push_back({k, v, at, prev ? prev->create : at, prev ? prev->version + 1 : 1, lease, false});
  }
  bool delAt(const std::string& k, const std::string& end, int64_t at) {
    std::vector<std::string> keys = liveKeys(k, end, at);
    for (const auto& key : keys) all.push_back({key, "", at, 0, 0, 0, true});
    return !keys.empty();
  }
  void put(const std::string& k, const std::string& v, int64_t lease) {
    putAt(k, v, lease, rev + 1);
    ++rev;
  }
  void del(const std::string& k, const std::string& end) {
    if (delAt(k, end, rev + 1)) ++rev;
  }
  int64_t version(const std::string& k) const {
    const ModelVersion* v = latest(k, rev);
    return v ? v->version : 0;
  }
  static bool inRange(const std::string& x, const std::string& k, const std::string& end) {
    if (end.empty()) return x == k;
    if (end == std::string(1, '\0')) return x >= k;
    return x >= k && x < end;
  }
  std::vector<std::string> liveKeys(const std::string& k, const std::string& end,
                                    int64_t at) const {
    std::map<std::string, bool> keys;
    for (const auto& v : all) {
      if (inRange(v.key, k, end) && latest(v.key, at)) keys[v.key] = true;
    }
    std::vector<std::string> out;
    for (const auto& [key, _] : keys) out.push_back(key);
    return out;
  }

  Result<RangeResponse> range(const RangeRequest& req) const {
    int64_t at = req.revision > 0 ? req.revision : rev;
    if (at > rev) return ErrFutureRev();
    if (at < compacted) return ErrCompacted();
    RangeResponse resp;
    resp.header.revision = rev;
    for (const auto& key : liveKeys(req.key, req.range_end, at)) {
      const ModelVersion* v = latest(key, at);
      ++resp.count;
      KeyValue kv{v->key, v->create, v->rev, v->version, v->value, v->lease};
      if (req.min_mod_revision && kv.mod_revision < req.min_mod_revision) continue;
      if (req.max_mod_revision && kv.mod_revision > req.max_mod_revision) continue;
      if (req.min_create_revision && kv.create_revision < req.min_create_revision) continue;
      if (req.max_create_revision && kv.create_revision > req.max_create_revision) continue;
      resp.kvs.push_back(kv);
    }
    if (req.count_only) {
      resp.kvs.clear();
      return resp;
    }
    // etcd's quirk: without a requested order and filters only limit+1 keys are fetched.
    bool filtered = req.min_mod_revision || req.max_mod_revision || req.min_create_revision ||
                    req.max_create_revision;
    if (req.sort_order == SortOrder::kNone && !filtered && req.limit > 0 &&
        static_cast<int64_t>(resp.kvs.size()) > req.limit + 1) {
      resp.kvs.resize(req.limit + 1);
    }
    auto order = req.sort_order;
    if (order == SortOrder::kNone && req.sort_target != SortTarget::kKey) {
      order = SortOrder::kAscend;
    }
    if (order != SortOrder::kNone) {
      auto field = [&](const KeyValue& kv) -> std::pair<std::string, int64_t> {
        switch (req.sort_target) {
          case SortTarget::kKey: return {kv.key, 0};
          case SortTarget::kVersion: return {"", kv.version};
          case SortTarget::kCreate: return {"", kv.create_revision};
          case SortTarget::kMod: return {"", kv.mod_revision};
          case SortTarget::kValue: return {kv.value, 0};
        }
        return {};
      };
      std::stable_sort(resp.kvs.begin(), resp.kvs.end(), [&](const auto& a, const auto& b) {
        return order == SortOrder::kDescend ? field(b) < field(a) : field(a) < field(b);
      });
    }
    if (req.limit > 0 && static_cast<int64_t>(resp.kvs.size()) > req.limit) {
      resp.kvs.resize(req.limit);
      resp.more = true;
    }
    if (req.keys_only) {
      for (auto& kv : resp.kvs) kv.value.clear();
    }
    return resp;
  }
};

std::string randomKey(std::mt19937_64& rng) {
  static const char* keys[] = {"a", "ab", "abc", "b", "ba", "c", "cc", "d", "e", "f"};
  return keys[rng() % 10];
}

TEST(Range, Range_randomizedMatchesReferenceModel) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    auto s = std::make_unique<Store>();
    ASSERT_TRUE(s->LeaseGrant(1, 60).ok());  // puts name leases 0..2
    ASSERT_TRUE(s->LeaseGrant(2, 60).ok());
    Model m;
    for (int step = 0; step < 300; ++step) {
      int op = static_cast<int>(rng() % 10);
      if (op < 5) {
        std::string k = randomKey(rng), v = std::to_string(rng() % 5);
        int64_t lease = static_cast<int64_t>(rng() % 3);
        MustPut(*s, k, v, lease);
        m.put(k, v, lease);
      } else if (op < 7) {
        std::string k = randomKey(rng), end = rng() % 2 ? "" : randomKey(rng);
        if (rng() % 5 == 0) end = kAll;
        MustDelete(*s, k, end);
        m.del(k, end);
      } else if (op == 8) {
        // A txn: compare a key's version, then two puts of distinct keys or a delete.
        std::string ck = randomKey(rng), k1 = randomKey(rng), k2 = randomKey(rng);
        if (k1 == k2) k2 += "x";
        int64_t want = m.version(ck) + (rng() % 2 ? 0 : 1);
        TxnRequest t;
        t.compare = {Cmp(ck, Compare::Target::kVersion, Compare::Result::kEqual, want)};
        t.success = {PutOp(k1, "t1"), PutOp(k2, "t2")};
        t.failure = {DeleteOp(k1, kAll)};
        auto r = s->Txn(t);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        bool ok = m.version(ck) == want;
        ASSERT_EQ(r->succeeded, ok);
        if (ok) {
          m.putAt(k1, "t1", 0, m.rev + 1);
          m.putAt(k2, "t2", 0, m.rev + 1);
          ++m.rev;
        } else if (m.delAt(k1, kAll, m.rev + 1)) {
          ++m.rev;
        }
      } else if (op == 9 && rng() % 8 == 0) {
        // Snapshot and continue on the restored store: it must behave identically.
        std::string bytes = s->Snapshot()->Serialize();
        auto restored = Store::Restore(bytes);
        ASSERT_TRUE(restored.ok()) << restored.status().ToString();
        ASSERT_EQ((*restored)->Hash(), s->Hash());
        s = std::move(restored).value();
      } else if (op == 7 && rng() % 4 == 0) {
        int64_t c = m.compacted + 1 + static_cast<int64_t>(rng() % 5);
        auto r = s->Compact({c});
        if (c <= m.rev) {
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          m.compacted = c;
        } else {
          ASSERT_EQ(r.status().message(), kErrFutureRev);
        }
      }
      ASSERT_EQ(s->revision(), m.rev) << "seed " << seed << " step " << step;
      s->CheckInvariants();
      RangeRequest req;
      req.key = randomKey(rng);
      int e = static_cast<int>(rng() % 4);
      req.range_end = e == 0 ? "" : (e == 1 ? kAll : randomKey(rng));
      if (rng() % 2) req.revision = static_cast<int64_t>(rng() % (m.rev + 2));
      if (rng() % 3 == 0) req.limit = static_cast<int64_t>(rng() % 4);
      req.sort_order = static_cast<SortOrder>(rng() % 3);
      req.sort_target = static_cast<SortTarget>(rng() % 5);
      req.keys_only = rng() % 5 == 0;
      req.count_only = rng() % 7 == 0;
      if (rng() % 4 == 0) req.min_mod_revision = static_cast<int64_t>(rng() % (m.rev + 1));
      if (rng() % 4 == 0) req.max_mod_revision = static_cast<int64_t>(rng() % (m.rev + 1));
      if (rng() % 4 == 0) req.min_create_revision = static_cast<int64_t>(rng() % (m.rev + 1));
      if (rng() % 4 == 0) req.max_create_revision = static_cast<int64_t>(rng() % (m.rev + 1));
      auto got = s->Range(req);
      auto want = m.range(req);
      ASSERT_EQ(got.ok(), want.ok()) << "seed " << seed << " step " << step;
      if (!got.ok()) {
        ASSERT_EQ(got.status().message(), want.status().message());
        continue;
      }
      ASSERT_EQ(got->kvs, want->kvs) << "seed " << seed << " step " << step;
      ASSERT_EQ(got->count, want->count) << "seed " << seed << " step " << step;
      ASSERT_EQ(got->more, want->more) << "seed " << seed << " step " << step;
      ASSERT_EQ(got->header.revision, want->header.revision);
    }
  }
}

}  // namespace
}  // namespace raftkv::kv
