// Wal: the segmented write-ahead log (format and recovery rules in wal_format.h).
//
// Open() replays the directory's segments into a WalState; Write() appends one batch (one
// Ready) with exactly one fdatasync. After any write or sync error the Wal is failed for
// good (a sticky error, as LevelDB's background error): every later Write returns that
// error, nothing more is written, and the caller must reopen, which truncates whatever half
// record the failure left behind.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "raft/types.h"
#include "storage/file_system.h"

namespace raftkv::storage {

class GatherBuffer;  // one batch's bytes for a gathered write (wal.cc)

struct WalOptions {
  uint64_t segment_bytes = 64ull << 20;  // rotate once a segment would grow past this
  bool preallocate = true;               // fallocate each new segment to segment_bytes
  // Drop synced WAL pages from the OS page cache as the log grows (the WAL is read only at
  // recovery; see Wal::maybeDropCache).
  bool drop_cache = true;
};

// A compaction point or an installed snapshot (kMarker record).
struct WalMarker {
  raft::Index index = 0;
  raft::Term term = 0;
  bool install = false;  // true: the log before and after `index` was replaced
  bool operator==(const WalMarker&) const = default;
};

// The log as recovered: entries (base.index, base.index + entries.size()].
struct WalState {
  raft::HardState hard_state;
  WalMarker base;  // last compacted entry; {0, 0} if nothing was ever compacted
  std::vector<raft::Entry> entries;
  std::string recovery_note;  // e.g. "truncated torn tail of <file> at offset N", or empty

  raft::Index LastIndex() const { return base.index + entries.size(); }
};

class Wal {
 public:
  // Creates the directory's first segment if there is none. `dir` must exist.
  static Result<std::unique_ptr<Wal>> Open(FileSystem* fs, const std::string& dir,
                                           const WalOptions& options, WalState* state);
  ~Wal();

  // One durable write: [marker] [truncate] entries... [hard state], then one fdatasync.
  // `entries` must be contiguous; if the first one is <= the last index, the suffix from it
  // is truncated first (durably, in the same batch). Any argument may be null/empty.
  // With `sync` false the fdatasync is skipped: the batch becomes durable with the next
  // synced one (for a Ready whose must_sync is false, e.g. only the commit index moved).
  Status Write(const raft::HardState* hs, std::span<const raft::Entry> entries,
               const WalMarker* marker, bool sync = true);

  // Deletes the segments all of whose entries are <= `compacted` (never the last one).
  Status RemoveSegmentsThrough(raft::Index compacted);

  const Status& sticky_error() const { return error_; }
  size_t segment_count() const { return segments_.size(); }
  uint64_t sync_count() const { return syncs_; }

 private:
  struct Segment {
    uint64_t seq;
    raft::Index first_index;
    std::string name;
  };
  Wal(FileSystem* fs, std::string dir, WalOptions options);

  Status Recover(WalState* state);
  Status CreateSegment(uint64_t seq, raft::Index first_index);
  Status WriteBatch(const raft::HardState* hs, std::span<const raft::Entry> entries,
                    const WalMarker* marker, raft::Index last, bool sync);
  Status OpenNextSegment(std::unique_ptr<WritableFile>* next);
  Status FinishNewSegment(std::unique_ptr<WritableFile> next);
  Status FlushChunk(WritableFile* f, uint64_t* at, uint64_t* kicked, bool last);
  Status SealSegment();
  void maybeDropCache(bool all);
  Status Fail(Status s);
  std::string Path(const std::string& name) const { return JoinPath(dir_, name); }

  FileSystem* fs_;
  std::string dir_;
  WalOptions options_;
  std::vector<Segment> segments_;
  std::unique_ptr<WritableFile> file_;  // the last segment
  uint64_t offset_ = 0;                 // end of its records
  uint64_t file_size_ = 0;              // its size: > offset_ while preallocated space is left
  bool unsynced_ = false;               // it holds records written without a sync since
  uint64_t dropped_ = 0;                // [0, dropped_) was handed to DropCache
  // What a new segment's leading records repeat, and where the log ends.
  raft::HardState hs_;
  WalMarker marker_;
  raft::Index last_index_ = 0;
  Status error_;
  uint64_t syncs_ = 0;
  std::unique_ptr<GatherBuffer> batch_;  // reused by every Write
};

}  // namespace raftkv::storage
