// Store::Txn: etcd's mini-transactions. A Txn is one write transaction (one revision, its
// changes numbered by sub-revision). As in etcd, it runs in three steps:
//  1. validate the request's shape: op counts, empty keys, and no key put twice or both put
//     and deleted on one path (etcd's checkIntervals);
//  2. evaluate every compare, nested ones included, against the state before the txn, which
//     fixes the branch taken at every level; then check the requests on that path (range
//     revisions, ignore_value/ignore_lease keys) so nothing fails halfway;
//  3. apply the path; reads inside see the txn's earlier writes.
#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "common/check.h"
#include "kv/errors.h"
#include "kv/store.h"

namespace raftkv::kv {

namespace {

// A [key, end) interval with etcd's conventions: end "" = the single key, "\0" = unbounded.
struct Interval {
  std::string key, end;
  bool contains(const std::string& k) const {
    if (end.empty()) return k == key;
    if (end.size() == 1 && end[0] == '\0') return k >= key;
    return k >= key && k < end;
  }
};

struct Intervals {
  std::vector<Interval> ivs;
  bool intersects(const std::string& k) const {
    for (const auto& iv : ivs) {
      if (iv.contains(k)) return true;
    }
    return false;
  }
};

using KeySet = std::vector<std::string>;
bool hasKey(const KeySet& s, const std::string& k) {
  for (const auto& x : s) {
    if (x == k) return true;
  }
  return false;
}

// etcd's checkIntervals: the puts of one branch, its deletes, or ErrDuplicateKey.
Status checkIntervals(const std::vector<RequestOp>& ops, KeySet* puts, Intervals* dels) {
  for (const auto& op : ops) {
    if (auto* d = std::get_if<DeleteRangeRequest>(&op.request)) {
      dels->ivs.push_back({d->key, d->range_end});
    }
  }
  for (const auto& op : ops) {
    auto* t = std::get_if<TxnRequest>(&op.request);
    if (!t) continue;
    KeySet then_puts, else_puts;
    Intervals then_dels, else_dels;
    RAFTKV_RETURN_IF_ERROR(checkIntervals(t->success, &then_puts, &then_dels));
    RAFTKV_RETURN_IF_ERROR(checkIntervals(t->failure, &else_puts, &else_dels));
    for (const auto& k : then_puts) {
      if (hasKey(*puts, k) || dels->intersects(k)) return ErrDuplicateKey();
      puts->push_back(k);
    }
    for (const auto& k : else_puts) {
      // then and else are exclusive, so the same key in both is fine.
      if ((hasKey(*puts, k) && !hasKey(then_puts, k)) || dels->intersects(k)) {
        return ErrDuplicateKey();
      }
      if (!hasKey(*puts, k)) puts->push_back(k);
    }
    for (auto& iv : then_dels.ivs) dels->ivs.push_back(std::move(iv));
    for (auto& iv : else_dels.ivs) dels->ivs.push_back(std::move(iv));
  }
  for (const auto& op : ops) {
    auto* p = std::get_if<PutRequest>(&op.request);
    if (!p) continue;
    if (hasKey(*puts, p->key) || dels->intersects(p->key)) return ErrDuplicateKey();
    puts->push_back(p->key);
  }
  return Status::OK();
}

// etcd's checkTxnRequest/checkRequestOp: op counts and empty keys. A nested txn gets the
// budget its parent left over (`max_ops` minus the parent's largest list).
Status checkTxnShape(const TxnRequest& t, int64_t max_ops) {
  size_t opc = std::max({t.compare.size(), t.success.size(), t.failure.size()});
  if (static_cast<int64_t>(opc) > max_ops) return ErrTooManyOps();
  for (const auto& c : t.compare) {
    if (c.key.empty()) return ErrEmptyKey();
  }
  for (const auto* branch : {&t.success, &t.failure}) {
    for (const auto& op : *branch) {
      if (auto* r = std::get_if<RangeRequest>(&op.request)) {
        if (r->key.empty()) return ErrEmptyKey();
      } else if (auto* p = std::get_if<PutRequest>(&op.request)) {
        if (p->key.empty()) return ErrEmptyKey();
      } else if (auto* d = std::get_if<DeleteRangeRequest>(&op.request)) {
        if (d->key.empty()) return ErrEmptyKey();
      } else if (auto* n = std::get_if<TxnRequest>(&op.request)) {
        RAFTKV_RETURN_IF_ERROR(checkTxnShape(*n, max_ops - static_cast<int64_t>(opc)));
      }
    }
  }
  return Status::OK();
}

bool compareKV(const Compare& c, const KeyValue& kv) {
  auto cmp = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  int r = 0;
  switch (c.target) {
    case Compare::Target::kValue: r = kv.value.compare(c.value); break;
    case Compare::Target::kVersion: r = cmp(kv.version, c.version); break;
    case Compare::Target::kCreate: r = cmp(kv.create_revision, c.create_revision); break;
    case Compare::Target::kMod: r = cmp(kv.mod_revision, c.mod_revision); break;
    case Compare::Target::kLease: r = cmp(kv.lease, c.lease); break;
  }
  switch (c.result) {
    case Compare::Result::kEqual: return r == 0;
    case Compare::Result::kNotEqual: return r != 0;
    case Compare::Result::kGreater: return r > 0;
    case Compare::Result::kLess: return r < 0;
  }
  return false;
}

}  // namespace

// The branch taken at one txn level, and the paths of the txns nested in that branch.
struct TxnPath {
  bool succeeded = false;
  std::vector<TxnPath> nested;
};

class TxnExecutor {
 public:
  TxnExecutor(Store* s, Store::WriteCtx* ctx) : s_(s), ctx_(ctx) {}

  // etcd's applyCompare: every key in the range must satisfy the compare; an absent key
  // compares as a zero KeyValue, except that a VALUE compare on no key is false.
  bool evalCompare(const Compare& c) const {
    bool any = false, all = true;
    s_->forEachLive(c.key, c.range_end, ctx_->readRev(), [&](const std::string&, Revision rev) {
      any = true;
      if (!compareKV(c, s_->toKeyValue(s_->recordAt(rev)))) {
        all = false;
        return false;
      }
      return true;
    });
    if (any) return all;
    if (c.target == Compare::Target::kValue) return false;
    return compareKV(c, KeyValue{});
  }

  TxnPath choosePath(const TxnRequest& t) const {
    TxnPath path;
    path.succeeded = true;
    for (const auto& c : t.compare) {
      if (!evalCompare(c)) {
        path.succeeded = false;
        break;
      }
    }
    for (const auto& op : path.succeeded ? t.success : t.failure) {
      if (auto* n = std::get_if<TxnRequest>(&op.request)) path.nested.push_back(choosePath(*n));
    }
    return path;
  }

  // Checks that nothing on the path can fail once applying starts.
  Status checkPath(const TxnRequest& t, const TxnPath& path) const {
    size_t ni = 0;
    for (const auto& op : path.succeeded ? t.success : t.failure) {
      if (auto* r = std::get_if<RangeRequest>(&op.request)) {
        if (r->revision > 0) {
          RAFTKV_RETURN_IF_ERROR(s_->checkRangeRevision(r->revision, ctx_->begin_rev));
        }
      } else if (auto* p = std::get_if<PutRequest>(&op.request)) {
        RAFTKV_RETURN_IF_ERROR(s_->checkPutLocked(*p, ctx_->begin_rev));
      } else if (auto* n = std::get_if<TxnRequest>(&op.request)) {
        RAFTKV_RETURN_IF_ERROR(checkPath(*n, path.nested[ni++]));
      }
    }
    return Status::OK();
  }

  TxnResponse apply(const TxnRequest& t, const TxnPath& path) {
    TxnResponse resp;
    resp.succeeded = path.succeeded;
    size_t ni = 0;
    for (const auto& op : path.succeeded ? t.success : t.failure) {
      ResponseOp out;
      if (auto* r = std::get_if<RangeRequest>(&op.request)) {
        auto rr = s_->rangeLocked(*r, ctx_->readRev());
        RAFTKV_CHECK(rr.ok(), "txn ranges are checked before the txn applies");
        out.response = std::move(rr).value();
      } else if (auto* p = std::get_if<PutRequest>(&op.request)) {
        out.response = s_->putLocked(*p, ctx_);
      } else if (auto* d = std::get_if<DeleteRangeRequest>(&op.request)) {
        out.response = s_->deleteRangeLocked(*d, ctx_);
      } else if (auto* n = std::get_if<TxnRequest>(&op.request)) {
        out.response = apply(*n, path.nested[ni++]);
      }
      resp.responses.push_back(std::move(out));
    }
    return resp;
  }

 private:
  Store* s_;
  Store::WriteCtx* ctx_;
};

Result<TxnResponse> Store::Txn(const TxnRequest& req) {
  // max_txn_ops_ == 0 means no limit.
  int64_t budget = max_txn_ops_ > 0 ? max_txn_ops_ : std::numeric_limits<int64_t>::max() / 2;
  RAFTKV_RETURN_IF_ERROR(checkTxnShape(req, budget));
  {
    KeySet puts;
    Intervals dels;
    RAFTKV_RETURN_IF_ERROR(checkIntervals(req.success, &puts, &dels));
    puts.clear();
    dels.ivs.clear();
    RAFTKV_RETURN_IF_ERROR(checkIntervals(req.failure, &puts, &dels));
  }
  std::lock_guard<std::mutex> lock(mu_);
  WriteCtx ctx{current_rev_, 0};
  TxnExecutor exec(this, &ctx);
  TxnPath path = exec.choosePath(req);
  RAFTKV_RETURN_IF_ERROR(exec.checkPath(req, path));
  TxnResponse resp = exec.apply(req, path);
  endWriteLocked(ctx);
  // As etcd 3.4: only the top-level header carries the revision after the txn; each nested
  // range reports the revision it read at, a put the revision it created, a delete either
  // (storeTxnWrite), and a nested txn's own header stays empty (newTxnResp).
  resp.header.revision = current_rev_;
  return resp;
}

}  // namespace raftkv::kv
