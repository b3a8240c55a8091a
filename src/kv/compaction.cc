// Store::Compact. Compaction is logical first (reads below the revision fail at once) and
// physical as soon as no snapshot view pins older history: a view taken before the compaction
// still needs the versions visible at its own compaction revision, so those are dropped only
// when the last such view is released.
#include "common/check.h"
#include "kv/errors.h"
#include "kv/store.h"

namespace raftkv::kv {

Result<CompactionResponse> Store::Compact(const CompactionRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  if (req.revision <= compact_rev_) return ErrCompacted();
  if (req.revision > current_rev_) return ErrFutureRev();
  compact_rev_ = req.revision;
  maybeCompactPhysicallyLocked();
  CompactionResponse resp;
  resp.header.revision = current_rev_;
  return resp;
}

void Store::maybeCompactPhysicallyLocked() {
  int64_t target = compact_rev_;
  if (!pins_.empty()) target = std::min(target, *pins_.begin());
  if (target <= physical_compact_rev_) return;
  std::vector<Revision> dropped;
  for (auto it = index_.begin(); it != index_.end();) {
    bool empty = it->second.Compact(target, &dropped);
    it = empty ? index_.erase(it) : std::next(it);
  }
  for (const Revision& r : dropped) {
    auto it = revs_.find(r);
    RAFTKV_CHECK(it != revs_.end(), "every indexed revision is stored exactly once");
    record_bytes_ -= static_cast<int64_t>(it->second->key.size() + it->second->value.size()) +
                     kVersionOverheadBytes;
    revs_.erase(it);
  }
  physical_compact_rev_ = target;
}

void Store::unpin(int64_t rev) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pins_.find(rev);
  RAFTKV_CHECK(it != pins_.end(), "a snapshot view releases only its own pin");
  pins_.erase(it);
  maybeCompactPhysicallyLocked();
}

}  // namespace raftkv::kv
