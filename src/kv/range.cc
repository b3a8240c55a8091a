// Store::Range: etcd's RangeRequest semantics (limit, revision, sort, filters, count).
#include <algorithm>
#include <limits>

#include "common/check.h"
#include "kv/errors.h"
#include "kv/store.h"

namespace raftkv::kv {

namespace {

// "\0" as range_end means "no upper bound" (etcd's WithFromKey / WithPrefix of "").
bool isFromKey(const std::string& end) {
  return end.size() == 1 && end[0] == '\0';
}

bool passesFilters(const RangeRequest& req, const KeyValue& kv) {
  if (req.min_mod_revision > 0 && kv.mod_revision < req.min_mod_revision) return false;
  if (req.max_mod_revision > 0 && kv.mod_revision > req.max_mod_revision) return false;
  if (req.min_create_revision > 0 && kv.create_revision < req.min_create_revision) return false;
  if (req.max_create_revision > 0 && kv.create_revision > req.max_create_revision) return false;
  return true;
}

bool hasFilters(const RangeRequest& req) {
  return req.min_mod_revision != 0 || req.max_mod_revision != 0 || req.min_create_revision != 0 ||
         req.max_create_revision != 0;
}

// Negative, zero or positive as a sorts before, with or after b on `target`.
int compareOn(SortTarget target, const KeyValue& a, const KeyValue& b) {
  auto cmp = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  switch (target) {
    case SortTarget::kKey: return a.key.compare(b.key);
    case SortTarget::kVersion: return cmp(a.version, b.version);
    case SortTarget::kCreate: return cmp(a.create_revision, b.create_revision);
    case SortTarget::kMod: return cmp(a.mod_revision, b.mod_revision);
    case SortTarget::kValue: return a.value.compare(b.value);
  }
  return 0;
}

}  // namespace

void Store::forEachLive(const std::string& key, const std::string& end, int64_t at,
                        const std::function<bool(const std::string&, Revision)>& fn) const {
  if (end.empty()) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    if (auto rev = it->second.Get(at)) fn(it->first, *rev);
    return;
  }
  bool unbounded = isFromKey(end);
  for (auto it = index_.lower_bound(key); it != index_.end(); ++it) {
    if (!unbounded && it->first >= end) break;
    auto rev = it->second.Get(at);
    if (rev && !fn(it->first, *rev)) return;
  }
}

Status Store::checkRangeRevision(int64_t rev, int64_t cur_rev) const {
  if (rev > cur_rev) return ErrFutureRev();
  if (rev < compact_rev_) return ErrCompacted();
  return Status::OK();
}

Result<RangeResponse> Store::rangeLocked(const RangeRequest& req, int64_t cur_rev) const {
  if (req.key.empty()) return ErrEmptyKey();
  int64_t at = req.revision > 0 ? req.revision : cur_rev;
  RAFTKV_RETURN_IF_ERROR(checkRangeRevision(at, cur_rev));

  // etcd: a sort target other than KEY with order NONE sorts ascending; ascending by key is
  // the natural order and needs no sort.
  SortOrder order = req.sort_order;
  if (order == SortOrder::kNone && req.sort_target != SortTarget::kKey) order = SortOrder::kAscend;
  bool need_sort = !(order == SortOrder::kNone ||
                     (order == SortOrder::kAscend && req.sort_target == SortTarget::kKey));
  // Fetch everything when results are sorted or filtered before the limit is applied;
  // otherwise one more than the limit, to know whether there is `more`. As in etcd, this
  // looks at the requested order: order NONE with a non-KEY target sorts only the first
  // limit+1 keys (in key order), not the whole range.
  size_t fetch = std::numeric_limits<size_t>::max();
  if (req.sort_order == SortOrder::kNone && !hasFilters(req) && req.limit > 0) {
    fetch = static_cast<size_t>(req.limit) + 1;
  }

  RangeResponse resp;
  resp.header.revision = cur_rev;
  forEachLive(req.key, req.range_end, at, [&](const std::string&, Revision rev) {
    ++resp.count;
    if (!req.count_only && resp.kvs.size() < fetch) {
      KeyValue kv = toKeyValue(recordAt(rev));
      if (passesFilters(req, kv)) resp.kvs.push_back(std::move(kv));
    }
    return true;
  });
  if (req.count_only) return resp;

  if (need_sort) {
    // Stable, so equal elements stay in key order on every member.
    SortTarget target = req.sort_target;
    bool desc = order == SortOrder::kDescend;
    std::stable_sort(resp.kvs.begin(), resp.kvs.end(), [&](const KeyValue& a, const KeyValue& b) {
      int c = compareOn(target, a, b);
      return desc ? c > 0 : c < 0;
    });
  }
  if (req.limit > 0 && resp.kvs.size() > static_cast<size_t>(req.limit)) {
    resp.kvs.resize(req.limit);
    resp.more = true;
  }
  // After sorting: a sort on VALUE uses the values even when only keys are returned.
  if (req.keys_only) {
    for (auto& kv : resp.kvs) kv.value.clear();
  }
  return resp;
}

Result<RangeResponse> Store::Range(const RangeRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  return rangeLocked(req, current_rev_);
}

}  // namespace raftkv::kv
