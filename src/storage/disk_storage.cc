#include "storage/disk_storage.h"

#include "common/check.h"
#include "storage/wal_format.h"

namespace raftkv::storage {

using raft::Entry;
using raft::Index;
using raft::Term;

DiskStorage::DiskStorage(FileSystem* fs, std::string dir, const DiskStorageOptions& options)
    : fs_(fs),
      dir_(std::move(dir)),
      options_(options),
      inline_images_(options.snapshot_images == SnapshotImages::kAuto
                         ? fs != PosixFileSystem()
                         : options.snapshot_images == SnapshotImages::kInline),
      snapshots_(fs, dir_, options.keep_snapshots),
      entries_(1) {}

DiskStorage::~DiskStorage() = default;

Result<std::unique_ptr<DiskStorage>> DiskStorage::Open(const std::string& dir,
                                                       const DiskStorageOptions& options) {
  FileSystem* fs = options.fs != nullptr ? options.fs : PosixFileSystem();
  std::unique_ptr<DiskStorage> s(new DiskStorage(fs, dir, options));
  RAFTKV_RETURN_IF_ERROR(s->Recover());
  return s;
}

// A new directory gets its VERSION marker before anything else; an existing one must carry
// the version this code writes.
Status DiskStorage::maybeWriteVersion() {
  std::string path = JoinPath(dir_, "VERSION");
  if (fs_->Exists(path)) {
    auto content = fs_->ReadAll(path);
    if (!content.ok()) return content.status();
    if (*content != wal_format::kVersionFileContent) {
      return Status::FailedPrecondition(path + ": unsupported storage version \"" + *content +
                                        "\"");
    }
    return Status::OK();
  }
  auto names = fs_->List(dir_);
  if (!names.ok()) return names.status();
  for (const std::string& n : *names) {
    if (n.ends_with(".log") || n.ends_with(".snap")) {
      std::string msg = path;
      msg.append(" is missing but the directory holds data (").append(n).append(")");
      return Status::Corruption(msg);
    }
  }
  auto f = fs_->OpenWritable(path + ".tmp", true);
  if (!f.ok()) return f.status();
  RAFTKV_RETURN_IF_ERROR((*f)->WriteAt(0, wal_format::kVersionFileContent));
  RAFTKV_RETURN_IF_ERROR((*f)->Sync());
  RAFTKV_RETURN_IF_ERROR(fs_->Rename(path + ".tmp", path));
  return fs_->SyncDir(dir_);
}

Status DiskStorage::Recover() {
  RAFTKV_RETURN_IF_ERROR(fs_->CreateDir(dir_));
  auto lock = fs_->Lock(JoinPath(dir_, "LOCK"));
  if (!lock.ok()) return lock.status();
  lock_ = std::move(*lock);
  RAFTKV_RETURN_IF_ERROR(maybeWriteVersion());

  // Snapshot files are synced before their rename, but the rename may not be durable yet
  // if the previous process died before its directory fsync.
  RAFTKV_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  WalState st;
  auto wal = Wal::Open(fs_, dir_, options_.wal, &st);
  if (!wal.ok()) return wal.status();
  wal_ = std::move(*wal);
  SnapshotStore::WalView view;
  view.last_index = st.LastIndex();
  view.term_at = [&st](Index i) -> std::optional<raft::Term> {
    if (i == st.base.index) return st.base.term;
    if (i < st.base.index || i > st.LastIndex()) return std::nullopt;
    return st.entries[i - st.base.index - 1].term;
  };
  auto snap = snapshots_.LoadNewest(view, inline_images_, &recovery_note_);
  if (!snap.ok()) return snap.status();
  snapshot_ = std::move(*snap);
  if (!st.recovery_note.empty()) {
    recovery_note_ += (recovery_note_.empty() ? "" : "; ") + st.recovery_note;
  }
  // The WAL may only be compacted through entries a snapshot file holds.
  if (st.base.index > snapshot_.meta.index) {
    return Status::Corruption(
        "WAL in " + dir_ + " is compacted through index " + std::to_string(st.base.index) +
        " but the newest valid snapshot file covers only " + std::to_string(snapshot_.meta.index));
  }
  hard_state_ = st.hard_state;
  entries_.assign(1, Entry{st.base.term, st.base.index, raft::EntryType::kNormal, ""});
  entries_.reserve(st.entries.size() + 1);
  uint64_t bytes = 0;
  for (Entry& e : st.entries) {
    if (e.index > snapshot_.meta.index) bytes += e.SizeBytes();
    entries_.push_back(std::move(e));
  }
  appended_bytes_ = bytes;
  return Status::OK();
}

Status DiskStorage::Fail(Status s) {
  if (error_.ok()) error_ = s;
  return s;
}

Result<raft::InitialState> DiskStorage::GetInitialState() const {
  std::lock_guard<std::mutex> l(mu_);
  return raft::InitialState{hard_state_, snapshot_.meta.conf};
}

Result<std::vector<Entry>> DiskStorage::Entries(Index lo, Index hi, uint64_t max_bytes) const {
  std::lock_guard<std::mutex> l(mu_);
  Index offset = entries_[0].index;
  if (lo <= offset) return Status::Compacted("entries before " + std::to_string(offset + 1));
  if (hi > LastIndexLocked() + 1) {
    return Status::Unavailable("entries up to " + std::to_string(hi - 1) + " beyond last " +
                               std::to_string(LastIndexLocked()));
  }
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (Index i = lo; i < hi; i++) {
    const Entry& e = entries_[i - offset];
    bytes += e.SizeBytes();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

Result<Term> DiskStorage::TermAt(Index i) const {
  std::lock_guard<std::mutex> l(mu_);
  Index offset = entries_[0].index;
  if (i < offset) return Status::Compacted("term of compacted entry " + std::to_string(i));
  if (i > LastIndexLocked()) return Status::Unavailable("term of entry " + std::to_string(i));
  return entries_[i - offset].term;
}

Index DiskStorage::FirstIndex() const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_[0].index + 1;
}

Index DiskStorage::LastIndex() const {
  std::lock_guard<std::mutex> l(mu_);
  return LastIndexLocked();
}

Result<raft::Snapshot> DiskStorage::GetSnapshot() const {
  std::lock_guard<std::mutex> l(mu_);
  return snapshot_;
}

raft::HardState DiskStorage::hard_state() const {
  std::lock_guard<std::mutex> l(mu_);
  return hard_state_;
}

// Appends to the in-memory log, replacing a conflicting suffix. Entries are contiguous and
// start after the compaction point, at or before LastIndex() + 1 (checked by Save).
void DiskStorage::AppendInMemory(std::span<const Entry> entries, std::vector<Entry>* owned) {
  if (entries.empty()) return;
  Index offset = entries_[0].index;
  entries_.resize(entries.front().index - offset);
  if (owned == nullptr) {
    entries_.insert(entries_.end(), entries.begin(), entries.end());
    return;
  }
  auto first = owned->begin() + (entries.data() - owned->data());
  entries_.insert(entries_.end(), std::make_move_iterator(first),
                  std::make_move_iterator(owned->end()));
}

Status DiskStorage::Save(const raft::HardState* hs, std::vector<Entry>&& entries,
                         const raft::Snapshot* snap, bool sync) {
  Status s = SaveImpl(hs, entries, snap, sync, &entries);
  if (!s.ok() && snap != nullptr) discardUnadopted(*snap);
  return s;
}

Status DiskStorage::Save(const raft::HardState* hs, const std::vector<Entry>& entries,
                         const raft::Snapshot* snap, bool sync) {
  Status s = SaveImpl(hs, entries, snap, sync, nullptr);
  if (!s.ok() && snap != nullptr) discardUnadopted(*snap);
  return s;
}

Status DiskStorage::SaveImpl(const raft::HardState* hs, const std::vector<Entry>& entries,
                             const raft::Snapshot* snap, bool sync, std::vector<Entry>* owned) {
  if (!error_.ok()) return error_;
  bool install = snap != nullptr && !snap->IsEmpty();
  Index base = entries_[0].index;  // only this thread writes entries_
  Index last = LastIndexLocked();
  WalMarker marker;
  if (install) {
    if (snap->meta.index <= snapshot_.meta.index) {
      return Status::FailedPrecondition("snapshot at " + std::to_string(snap->meta.index) +
                                        " is not newer than " +
                                        std::to_string(snapshot_.meta.index));
    }
    marker = WalMarker{snap->meta.index, snap->meta.term, true};
    base = last = snap->meta.index;
  }
  // Entries at or below the compaction point are already covered; skip them.
  size_t skip = 0;
  while (skip < entries.size() && entries[skip].index <= base) skip++;
  std::span<const Entry> fresh(entries.data() + skip, entries.size() - skip);
  if (!fresh.empty() && fresh.front().index > last + 1) {
    return Status::InvalidArgument("entries start at " + std::to_string(fresh.front().index) +
                                   " leaving a gap after " + std::to_string(last));
  }
  for (size_t i = 1; i < fresh.size(); i++) {
    if (fresh[i].index != fresh[i - 1].index + 1) {
      return Status::InvalidArgument("entries are not contiguous");
    }
  }
  raft::Snapshot kept;
  if (install) {
    Status s = storeSnapshot(*snap, &kept);
    if (!s.ok()) return s.code() == Status::Code::kIOError ? Fail(s) : s;
  }
  Status s = wal_->Write(hs, fresh, install ? &marker : nullptr, sync || install);
  if (s.ok() && install) s = snapshots_.Prune();
  if (!s.ok()) return Fail(s);

  std::lock_guard<std::mutex> l(mu_);
  if (install) {
    snapshot_ = std::move(kept);
    entries_.assign(1, Entry{snap->meta.term, snap->meta.index, raft::EntryType::kNormal, ""});
  }
  uint64_t bytes = 0;
  for (const Entry& e : fresh) bytes += e.SizeBytes();
  appended_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  AppendInMemory(fresh, owned);
  if (hs != nullptr) hard_state_ = *hs;
  return Status::OK();
}

Status DiskStorage::SaveSnapshot(const raft::Snapshot& snap) {
  Status s = saveSnapshot(snap);
  if (!s.ok()) discardUnadopted(snap);
  return s;
}

// A finished temporary file that could not be adopted can never be used (whole or
// nothing): it is removed now rather than at the next Open. Errors are ignored (Open
// deletes leftover .tmp files anyway).
void DiskStorage::discardUnadopted(const raft::Snapshot& snap) {
  if (!IsSnapshotFileRef(snap.data)) return;
  auto ref = DecodeSnapshotFileRef(snap.data);
  if (!ref.ok() || ref->path == snapshots_.PathOf(snap.meta) || !ref->path.ends_with(".tmp")) {
    return;
  }
  if (fs_->Exists(ref->path)) (void)fs_->Remove(ref->path);
}

Status DiskStorage::saveSnapshot(const raft::Snapshot& snap) {
  if (!error_.ok()) return error_;
  if (snap.meta.index <= snapshot_.meta.index) {
    return Status::FailedPrecondition("snapshot at " + std::to_string(snap.meta.index) +
                                      " is not newer than " + std::to_string(snapshot_.meta.index));
  }
  auto term = TermAt(snap.meta.index);
  if (!term.ok()) return term.status();
  RAFTKV_CHECK(*term == snap.meta.term, "a snapshot's term is the term of its last entry");
  raft::Snapshot kept;
  Status s = storeSnapshot(snap, &kept);
  if (!s.ok()) return s.code() == Status::Code::kIOError ? Fail(s) : s;
  s = snapshots_.Prune();
  if (!s.ok()) return Fail(s);
  std::lock_guard<std::mutex> l(mu_);
  snapshot_ = std::move(kept);
  return Status::OK();
}

Status DiskStorage::storeSnapshot(const raft::Snapshot& snap, raft::Snapshot* kept) {
  kept->meta = snap.meta;
  uint64_t data_len = snap.data.size();
  if (IsSnapshotFileRef(snap.data)) {
    auto ref = DecodeSnapshotFileRef(snap.data);
    if (!ref.ok()) return ref.status();
    RAFTKV_RETURN_IF_ERROR(snapshots_.Adopt(ref->path, snap.meta));
    data_len = ref->data_len;
    if (inline_images_) {
      auto full = ReadSnapshotFile(fs_, snapshots_.PathOf(snap.meta));
      if (!full.ok()) return full.status();
      kept->data = std::move(full->data);
      return Status::OK();
    }
  } else {
    RAFTKV_RETURN_IF_ERROR(snapshots_.Save(snap));
    if (inline_images_) {
      kept->data = snap.data;
      return Status::OK();
    }
  }
  kept->data = EncodeSnapshotFileRef(SnapshotFileRef{snapshots_.PathOf(snap.meta), data_len});
  return Status::OK();
}

Result<std::unique_ptr<SnapshotFileWriter>> DiskStorage::NewSnapshotWriter(
    const raft::SnapshotMeta& meta, const std::string& tag) {
  return SnapshotFileWriter::Create(fs_, snapshots_.TempPath(meta, tag), meta);
}

Result<std::unique_ptr<SnapshotFileReader>> DiskStorage::OpenSnapshot(
    const raft::Snapshot& snap) const {
  std::string path = snapshots_.PathOf(snap.meta);
  if (IsSnapshotFileRef(snap.data)) {
    auto ref = DecodeSnapshotFileRef(snap.data);
    if (!ref.ok()) return ref.status();
    // A received file is renamed into place once saved: prefer the saved name.
    if (!fs_->Exists(path)) path = ref->path;
  }
  auto r = SnapshotFileReader::Open(fs_, path);
  if (!r.ok()) return r.status();
  if ((*r)->meta().index != snap.meta.index || (*r)->meta().term != snap.meta.term) {
    return Status::Corruption("snapshot file " + path + " does not hold index " +
                              std::to_string(snap.meta.index));
  }
  return r;
}

Status DiskStorage::Compact(Index compact_index) {
  if (!error_.ok()) return error_;
  Index base = entries_[0].index;
  if (compact_index <= base) {
    return Status::Compacted("already compacted through " + std::to_string(base));
  }
  if (compact_index > snapshot_.meta.index) {
    return Status::FailedPrecondition("compaction to " + std::to_string(compact_index) +
                                      " beyond the saved snapshot at " +
                                      std::to_string(snapshot_.meta.index));
  }
  RAFTKV_CHECK(compact_index <= LastIndexLocked(), "a snapshot covers only existing entries");
  Term term = entries_[compact_index - base].term;
  WalMarker marker{compact_index, term, false};
  Status s = wal_->Write(nullptr, {}, &marker);
  if (!s.ok()) return Fail(s);
  {
    std::lock_guard<std::mutex> l(mu_);
    entries_.erase(entries_.begin(), entries_.begin() + (compact_index - base));
    entries_[0].data.clear();
    entries_[0].type = raft::EntryType::kNormal;
  }
  s = wal_->RemoveSegmentsThrough(compact_index);
  if (!s.ok()) return Fail(s);
  return Status::OK();
}

}  // namespace raftkv::storage
