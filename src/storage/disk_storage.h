// DiskStorage: the core's LogStorage kept durably in a data directory (WAL + snapshot
// files), with the same read semantics as raft::MemoryStorage.
//
// The live suffix of the log (entries after the last compaction) is held in memory for
// reads; the WAL is only read at Open(), which recovers the state (see wal_format.h).
//
// Use from the runtime, per Ready (before sending the messages that depend on it):
//   storage->Save(rd.hard_state ? &*rd.hard_state : nullptr, std::move(rd.entries),
//                 rd.snapshot ? &*rd.snapshot : nullptr, rd.must_sync);
// and, after the application has snapshotted its state at applied index i:
//   storage->SaveSnapshot(snap);  storage->Compact(i - keep_for_slow_followers);
//
// Writes come from one thread (the runtime's raft loop); reads may come from any thread.
// After a write error (ENOSPC, EIO) every later write fails with the same error until the
// directory is reopened: nothing half-written is acknowledged, and reopening truncates it.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "raft/log_storage.h"
#include "storage/file_system.h"
#include "storage/snapshot_file.h"
#include "storage/wal.h"

namespace raftkv::storage {

// Where GetSnapshot()'s image lives. In files, raft::Snapshot::data is a descriptor of the
// snapshot file (snapshot_file.h) and no image is ever held in memory; inline, it is the
// image itself (the simulator, whose nodes exchange snapshots in memory).
enum class SnapshotImages { kAuto, kInline, kInFiles };

struct DiskStorageOptions {
  WalOptions wal;
  int keep_snapshots = 2;    // snapshot files kept (the newest ones)
  FileSystem* fs = nullptr;  // nullptr: the real file system
  // kAuto: in files on the real file system (the server), inline on a test file system.
  SnapshotImages snapshot_images = SnapshotImages::kAuto;
};

class DiskStorage final : public raft::LogStorage {
 public:
  // Locks `dir` (creating it if needed), checks its VERSION marker, loads the newest valid
  // snapshot and replays the WAL after it. Fails with kBusy if another process has the
  // directory open, kCorruption (naming file and offset) if data is damaged.
  static Result<std::unique_ptr<DiskStorage>> Open(const std::string& dir,
                                                   const DiskStorageOptions& options);
  ~DiskStorage() override;

  // LogStorage.
  Result<raft::InitialState> GetInitialState() const override;
  Result<std::vector<raft::Entry>> Entries(raft::Index lo, raft::Index hi,
                                           uint64_t max_bytes) const override;
  Result<raft::Term> TermAt(raft::Index i) const override;
  raft::Index FirstIndex() const override;
  raft::Index LastIndex() const override;
  Result<raft::Snapshot> GetSnapshot() const override;

  // Persists one Ready: `snap` (a leader's snapshot to install: it replaces the whole log),
  // then `entries` (replacing any conflicting suffix, §5.3; entries at or below the
  // compaction point are ignored), then `hs`. One fdatasync for the WAL part (the snapshot
  // file, when there is one, is synced first). Any argument may be null or empty. When it
  // returns OK, everything is durable — unless `sync` is false (Ready::must_sync false:
  // only the commit index moved), which skips the WAL's fdatasync; such a write becomes
  // durable with the next synced one and may be lost in a crash before that.
  Status Save(const raft::HardState* hs, const std::vector<raft::Entry>& entries,
              const raft::Snapshot* snap, bool sync = true);
  // The same, taking the entries over instead of copying them into the in-memory log (the
  // runtime's Ready entries are not needed after Save; saves a copy of every payload).
  Status Save(const raft::HardState* hs, std::vector<raft::Entry>&& entries,
              const raft::Snapshot* snap, bool sync = true);
  // Records the application's snapshot (index <= LastIndex(), newer than the current one).
  // Does not compact the log. `snap.data` is either the image or a descriptor of a finished
  // file written with NewSnapshotWriter() (adopted: renamed into place, never copied; removed
  // if it cannot be adopted); the same holds for the snapshot given to Save().
  Status SaveSnapshot(const raft::Snapshot& snap);
  // A writer for a new snapshot file in the data directory, at a temporary name (`tag`
  // tells writers apart); pass EncodeSnapshotFileRef({w->path(), w->data_len()}) as the
  // snapshot's data once it is finished. Unadopted files are deleted at the next Open.
  Result<std::unique_ptr<SnapshotFileWriter>> NewSnapshotWriter(const raft::SnapshotMeta& meta,
                                                                const std::string& tag);
  // Opens the image of a snapshot: the descriptor's file, or the saved file for `snap.meta`.
  Result<std::unique_ptr<SnapshotFileReader>> OpenSnapshot(const raft::Snapshot& snap) const;
  bool snapshot_images_in_files() const { return !inline_images_; }
  // Discards entries up to and including `compact_index`, which must be covered by the
  // saved snapshot; afterwards FirstIndex() == compact_index + 1. Deletes WAL segments
  // wholly below it.
  Status Compact(raft::Index compact_index);

  raft::HardState hard_state() const;
  // What recovery had to repair or skip (a torn tail, an invalid snapshot), or empty.
  const std::string& recovery_note() const { return recovery_note_; }
  size_t wal_segment_count() const { return wal_->segment_count(); }
  // Bytes (Entry::SizeBytes) of the entries appended since Open, plus those recovered after
  // the snapshot: the log's growth, for the application's snapshot threshold in bytes.
  uint64_t appended_bytes() const { return appended_bytes_.load(std::memory_order_relaxed); }

 private:
  DiskStorage(FileSystem* fs, std::string dir, const DiskStorageOptions& options);
  Status Recover();
  Status maybeWriteVersion();
  Status Fail(Status s);
  Status saveSnapshot(const raft::Snapshot& snap);
  void discardUnadopted(const raft::Snapshot& snap);
  // Writes or adopts `snap`'s file; *kept is what snapshot_ becomes once it is in use.
  Status storeSnapshot(const raft::Snapshot& snap, raft::Snapshot* kept);
  Status SaveImpl(const raft::HardState* hs, const std::vector<raft::Entry>& entries,
                  const raft::Snapshot* snap, bool sync, std::vector<raft::Entry>* owned);
  // Copies `entries` into the in-memory log, or moves them out of *owned (which holds them).
  void AppendInMemory(std::span<const raft::Entry> entries, std::vector<raft::Entry>* owned);
  raft::Index LastIndexLocked() const { return entries_[0].index + entries_.size() - 1; }

  FileSystem* fs_;
  std::string dir_;
  DiskStorageOptions options_;
  bool inline_images_;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<Wal> wal_;
  SnapshotStore snapshots_;
  std::string recovery_note_;
  Status error_;  // sticky write error
  std::atomic<uint64_t> appended_bytes_{0};

  mutable std::mutex mu_;  // guards the fields below against concurrent readers
  raft::HardState hard_state_;
  raft::Snapshot snapshot_;
  // entries_[0] is a dummy holding the index and term of the last compacted entry, as in
  // MemoryStorage, so TermAt(FirstIndex() - 1) works.
  std::vector<raft::Entry> entries_;
};

}  // namespace raftkv::storage
