#include "kv/key_index.h"

#include <algorithm>

#include "common/check.h"

namespace raftkv::kv {

namespace {
// Index of the last revision in `revs` with main <= at, or -1.
int lastAtOrBefore(const std::vector<Revision>& revs, int64_t at) {
  auto it = std::upper_bound(revs.begin(), revs.end(), at,
                             [](int64_t a, const Revision& r) { return a < r.main; });
  return static_cast<int>(it - revs.begin()) - 1;
}
}  // namespace

void KeyIndex::Put(Revision rev) {
  if (generations_.empty() || generations_.back().closed) generations_.emplace_back();
  auto& revs = generations_.back().revs;
  // Revisions only grow: the store applies writes in revision order.
  RAFTKV_CHECK(revs.empty() || revs.back() < rev, "key index revisions must increase");
  revs.push_back(rev);
}

void KeyIndex::Tombstone(Revision rev) {
  RAFTKV_CHECK(live(), "only a live key can be deleted");
  auto& gen = generations_.back();
  RAFTKV_CHECK(gen.revs.back() < rev, "key index revisions must increase");
  gen.revs.push_back(rev);
  gen.closed = true;
}

std::optional<Revision> KeyIndex::Get(int64_t at) const {
  for (auto g = generations_.rbegin(); g != generations_.rend(); ++g) {
    if (g->revs.front().main > at) continue;
    int i = lastAtOrBefore(g->revs, at);
    bool is_tombstone = g->closed && i == static_cast<int>(g->revs.size()) - 1;
    if (is_tombstone) return std::nullopt;
    return g->revs[i];
  }
  return std::nullopt;
}

bool KeyIndex::Compact(int64_t at, std::vector<Revision>* dropped) {
  // Find the generation holding the latest change with main <= at.
  int gi = -1;
  for (int g = static_cast<int>(generations_.size()) - 1; g >= 0; --g) {
    if (generations_[g].revs.front().main <= at) {
      gi = g;
      break;
    }
  }
  if (gi < 0) return generations_.empty();
  for (int g = 0; g < gi; ++g) {
    for (const auto& r : generations_[g].revs) dropped->push_back(r);
  }
  auto& gen = generations_[gi];
  int i = lastAtOrBefore(gen.revs, at);
  bool is_tombstone = gen.closed && i == static_cast<int>(gen.revs.size()) - 1;
  int keep_from = is_tombstone ? i + 1 : i;
  for (int k = 0; k < keep_from; ++k) dropped->push_back(gen.revs[k]);
  gen.revs.erase(gen.revs.begin(), gen.revs.begin() + keep_from);
  generations_.erase(generations_.begin(), generations_.begin() + gi);
  if (generations_.front().revs.empty()) generations_.erase(generations_.begin());
  return generations_.empty();
}

void KeyIndex::VisibleRevisions(int64_t compacted, int64_t at, std::vector<Revision>* out) const {
  for (const auto& gen : generations_) {
    int n = static_cast<int>(gen.revs.size());
    for (int i = 0; i < n; ++i) {
      const Revision& r = gen.revs[i];
      if (r.main > at) return;
      if (r.main > compacted) {
        out->push_back(r);
        continue;
      }
      // r is at or below the compaction point: keep it only if it is the version a read at
      // `compacted` sees, i.e. the next change (if any) is after `compacted`.
      bool next_after = (i + 1 < n) ? gen.revs[i + 1].main > compacted : true;
      bool is_tombstone = gen.closed && i == n - 1;
      if (next_after && !is_tombstone) out->push_back(r);
    }
  }
}

}  // namespace raftkv::kv
