#include "raft/memory_storage.h"

#include <algorithm>

namespace raftkv::raft {

MemoryStorage::MemoryStorage() : entries_(1) {}  // the dummy entry: index 0, term 0

Result<InitialState> MemoryStorage::GetInitialState() const {
  return InitialState{hard_state_, snapshot_.meta.conf};
}

Index MemoryStorage::FirstIndex() const {
  return entries_[0].index + 1;
}

Index MemoryStorage::LastIndex() const {
  return entries_[0].index + entries_.size() - 1;
}

Result<std::vector<Entry>> MemoryStorage::Entries(Index lo, Index hi, uint64_t max_bytes) const {
  Index offset = entries_[0].index;
  if (lo <= offset) return Status::Compacted("entries: lo is compacted");
  if (hi > LastIndex() + 1) return Status::Unavailable("entries: hi beyond last index");
  std::vector<Entry> out;
  uint64_t size = 0;
  for (Index i = lo; i < hi; i++) {
    const Entry& e = entries_[i - offset];
    size += e.SizeBytes();
    if (!out.empty() && size > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

Result<Term> MemoryStorage::TermAt(Index i) const {
  Index offset = entries_[0].index;
  if (i < offset) return Status::Compacted("term: index is compacted");
  if (i - offset >= entries_.size()) return Status::Unavailable("term: index beyond last");
  return entries_[i - offset].term;
}

Result<Snapshot> MemoryStorage::GetSnapshot() const {
  return snapshot_;
}

void MemoryStorage::SetHardState(const HardState& hs) {
  hard_state_ = hs;
}

void MemoryStorage::SetConfState(const ConfState& cs) {
  snapshot_.meta.conf = cs;
}

Status MemoryStorage::Append(const std::vector<Entry>& entries) {
  if (entries.empty()) return Status::OK();
  for (size_t i = 1; i < entries.size(); i++) {
    if (entries[i].index != entries[i - 1].index + 1) {
      return Status::InvalidArgument("append: entries are not contiguous");
    }
  }
  Index first = FirstIndex();
  Index last = entries.back().index;
  if (last < first) return Status::OK();  // wholly compacted already
  // Skip the part that is already compacted.
  size_t skip = entries.front().index < first ? first - entries.front().index : 0;
  Index start = entries.front().index + skip;
  if (start > LastIndex() + 1) return Status::InvalidArgument("append: gap after last index");
  Index offset = entries_[0].index;
  entries_.resize(start - offset);  // drop the conflicting suffix (§5.3)
  entries_.insert(entries_.end(), entries.begin() + skip, entries.end());
  return Status::OK();
}

Status MemoryStorage::ApplySnapshot(const Snapshot& snap) {
  if (snap.meta.index < snapshot_.meta.index) {
    return Status::FailedPrecondition("apply snapshot: older than the current snapshot");
  }
  snapshot_ = snap;
  entries_.assign(1, Entry{snap.meta.term, snap.meta.index, EntryType::kNormal, ""});
  return Status::OK();
}

Result<Snapshot> MemoryStorage::CreateSnapshot(Index i, const ConfState& cs, std::string data) {
  if (i <= snapshot_.meta.index) return Status::FailedPrecondition("snapshot: out of date");
  if (i > LastIndex()) return Status::InvalidArgument("snapshot: index beyond last index");
  Index offset = entries_[0].index;
  snapshot_.meta.index = i;
  snapshot_.meta.term = entries_[i - offset].term;
  snapshot_.meta.conf = cs;
  snapshot_.data = std::move(data);
  return snapshot_;
}

Status MemoryStorage::Compact(Index compact_index) {
  Index offset = entries_[0].index;
  if (compact_index <= offset) return Status::Compacted("compact: already compacted");
  if (compact_index > LastIndex()) return Status::InvalidArgument("compact: beyond last index");
  size_t i = compact_index - offset;
  std::vector<Entry> rest;
  rest.reserve(entries_.size() - i);
  rest.push_back(Entry{entries_[i].term, entries_[i].index, EntryType::kNormal, ""});
  rest.insert(rest.end(), entries_.begin() + i + 1, entries_.end());
  entries_ = std::move(rest);
  return Status::OK();
}

}  // namespace raftkv::raft
