// Store::Events: the watch history read back from the MVCC store. The store keeps every
// version since the compaction revision in `revs_`, ordered by revision, so the changes of a
// revision range are one ordered scan; a change's previous version is the key's version
// visible one revision earlier (KeyIndex::Get), as etcd's watch server reads it.
#include <limits>

#include "kv/errors.h"
#include "kv/store.h"

namespace raftkv::kv {

bool KeyRange::Contains(const std::string& k) const {
  if (single()) return k == key;
  if (k < key) return false;
  return unbounded() || k < end;
}

std::shared_ptr<const Record> Store::previousLocked(const Record& r) const {
  // A create has no previous version (the key was absent or deleted one revision earlier);
  // below the compaction revision the previous version may be gone, and etcd's read of it
  // fails: no previous version either, on every member alike.
  if (r.version == 1 || r.rev.main - 1 < compact_rev_) return nullptr;
  auto ki = index_.find(r.key);
  if (ki == index_.end()) return nullptr;
  auto prev = ki->second.Get(r.rev.main - 1);
  if (!prev) return nullptr;
  return revs_.at(*prev);
}

size_t EventBytes(const Event& e) {
  size_t n = e.kv->key.size() + e.kv->value.size();
  if (e.prev) n += e.prev->key.size() + e.prev->value.size();
  return n;
}

Result<EventRead> Store::Events(int64_t from, int64_t to, const KeyRange& keys,
                                const EventBudget& budget) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (from < compact_rev_) return ErrCompacted();
  if (to > current_rev_) return ErrFutureRev();
  EventRead out;
  out.through = from > to ? from - 1 : to;  // unless the scan stops early
  auto it = revs_.lower_bound(Revision{from, 0});
  auto last = revs_.upper_bound(Revision{to, std::numeric_limits<int64_t>::max()});
  size_t scanned = 0, bytes = 0;
  int64_t current = 0;  // the revision being read
  for (; it != last; ++it) {
    const Record& r = *it->second;
    if (r.rev.main != current) {
      // Stop only between revisions: a revision's events are never split.
      if (current != 0 && (scanned >= budget.max_scanned || bytes >= budget.max_bytes)) {
        out.through = current;
        return out;
      }
      current = r.rev.main;
    }
    ++scanned;
    if (!keys.Contains(r.key)) continue;
    // Compaction at C drops a tombstone written at C itself (only versions needed to read
    // at C or later stay, as etcd's keyIndex.compact); whether it is gone yet depends on
    // snapshot pins, so it is never reported: every member answers alike.
    if (r.tombstone && r.rev.main == compact_rev_) continue;
    Event ev;
    ev.type = r.tombstone ? Event::Type::kDelete : Event::Type::kPut;
    ev.kv = it->second;
    ev.prev = previousLocked(r);
    bytes += EventBytes(ev);
    out.events.push_back(std::move(ev));
  }
  return out;
}

}  // namespace raftkv::kv
