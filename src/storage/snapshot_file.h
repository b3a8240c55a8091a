// Snapshot files: snap-<term:016x>-<index:016x>.snap in the data directory, written and
// read in bounded chunks so that an image is never held whole in memory.
//
// Layout, version 2 (little-endian), append-only so it can be streamed:
//   magic u32 "KSNP" | version u32 (2) | meta_len u32 | meta[meta_len] | data[data_len] |
//   data_len u64 | crc u32, where crc = CRC32C of every byte before it.
// meta = index u64 | term u64 | then for voters, voters_outgoing, learners, learners_next:
// count u32 + ids u64... | auto_leave u8.
// Version 1 (still read): magic | 1 | meta_len u32 | data_len u64 | meta | data | crc u32.
// Any other version is refused, naming the file and the offset of the version field.
//
// A snapshot is written to "<name>.tmp" chunk by chunk, fsynced, renamed, and the directory
// fsynced, so a snapshot file that exists under its final name is complete unless the disk
// corrupted it; the checksum catches that, and loading then falls back to the newest valid
// older file.
//
// Descriptors. With DiskStorage (the server), raft::Snapshot::data carries not the image
// but a small descriptor naming the file that holds it (EncodeSnapshotFileRef); the core
// treats it as opaque, the transport streams the file, and the application reads the image
// from the file in chunks. MemoryStorage users and the simulator keep the image inline.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "raft/types.h"
#include "storage/file_system.h"

namespace raftkv::storage {

// Chunks of at most this many bytes are read from snapshot files.
inline constexpr size_t kSnapshotChunkBytes = 1 << 20;

std::string SnapshotFileName(const raft::SnapshotMeta& meta);
bool ParseSnapshotFileName(const std::string& name, raft::Term* term, raft::Index* index);

// The descriptor carried in raft::Snapshot::data in place of the image.
struct SnapshotFileRef {
  std::string path;       // the file holding the image
  uint64_t data_len = 0;  // the image's size in bytes
};
std::string EncodeSnapshotFileRef(const SnapshotFileRef& ref);
// True if `data` is a descriptor (its magic cannot start a server or kv image).
bool IsSnapshotFileRef(std::string_view data);
Result<SnapshotFileRef> DecodeSnapshotFileRef(std::string_view data);

// Writes one snapshot file at `path` in chunks; the file is complete once Finish() returns
// OK. Destroying an unfinished writer removes the file (nothing half-written stays).
class SnapshotFileWriter {
 public:
  static Result<std::unique_ptr<SnapshotFileWriter>> Create(FileSystem* fs, std::string path,
                                                            const raft::SnapshotMeta& meta);
  ~SnapshotFileWriter();
  SnapshotFileWriter(const SnapshotFileWriter&) = delete;
  SnapshotFileWriter& operator=(const SnapshotFileWriter&) = delete;

  // Appends image bytes (any chunking).
  Status Append(std::string_view chunk);
  // Writes the trailer and fsyncs the file (not its directory: see SnapshotStore::Adopt).
  Status Finish();

  uint64_t data_len() const { return data_len_; }
  const std::string& path() const { return path_; }

 private:
  SnapshotFileWriter(FileSystem* fs, std::string path) : fs_(fs), path_(std::move(path)) {}
  Status write(std::string_view bytes);

  FileSystem* fs_;
  std::string path_;
  std::unique_ptr<WritableFile> file_;
  uint64_t offset_ = 0;
  uint64_t data_len_ = 0;
  uint32_t crc_ = 0;
  bool finished_ = false;
};

// Reads a snapshot file: Open() checks the header, the lengths and the checksum of the whole
// file in one chunked pass; ReadData() then streams the image. Errors name the file and the
// offset of what is wrong.
class SnapshotFileReader {
 public:
  static Result<std::unique_ptr<SnapshotFileReader>> Open(FileSystem* fs, const std::string& path);
  ~SnapshotFileReader();
  SnapshotFileReader(const SnapshotFileReader&) = delete;
  SnapshotFileReader& operator=(const SnapshotFileReader&) = delete;

  const raft::SnapshotMeta& meta() const { return meta_; }
  uint64_t data_len() const { return data_len_; }
  uint64_t file_size() const { return size_; }
  // Passes the image to `sink` in chunks of at most `chunk` bytes (stops at its first error).
  Status ReadData(const std::function<Status(std::string_view)>& sink,
                  size_t chunk = kSnapshotChunkBytes);
  // The same for the whole file, header to trailer (what the transport ships).
  Status ReadFile(const std::function<Status(std::string_view)>& sink,
                  size_t chunk = kSnapshotChunkBytes);

 private:
  explicit SnapshotFileReader(std::string path) : path_(std::move(path)) {}
  Status readAt(uint64_t offset, size_t n, std::string* out);
  Status readRange(uint64_t offset, uint64_t n, size_t chunk,
                   const std::function<Status(std::string_view)>& sink);
  Status parse();
  Status corrupt(uint64_t offset, const std::string& what) const;

  std::string path_;
  std::unique_ptr<ReadableFile> file_;  // read in chunks, never whole
  uint64_t size_ = 0;
  uint64_t data_offset_ = 0;
  uint64_t data_len_ = 0;
  raft::SnapshotMeta meta_;
};

// Reads the whole image of `path` into memory (tests, the simulator's inline snapshots).
Result<raft::Snapshot> ReadSnapshotFile(FileSystem* fs, const std::string& path);

class SnapshotStore {
 public:
  // Keeps the newest `keep` snapshot files (at least 1).
  SnapshotStore(FileSystem* fs, std::string dir, int keep);

  std::string PathOf(const raft::SnapshotMeta& meta) const;
  // A temporary path in the directory for a snapshot being written or received (deleted at
  // the next LoadNewest if never adopted).
  std::string TempPath(const raft::SnapshotMeta& meta, const std::string& tag) const;

  // Writes an inline snapshot durably, in chunks.
  Status Save(const raft::Snapshot& snap);
  // Makes a finished file (SnapshotFileWriter at TempPath or PathOf) the snapshot file for
  // `meta`: checks it, renames it into place and fsyncs the directory.
  Status Adopt(const std::string& path, const raft::SnapshotMeta& meta);
  // Deletes snapshot files beyond the newest `keep`, and received temporary files at or below
  // the newest snapshot (never installable). Called only once the newest one is
  // in use (for a leader's snapshot: once the WAL records its install), so that a crash
  // in between never leaves the WAL without the snapshot it was compacted to.
  Status Prune();

  // What the WAL holds, for LoadNewest to tell snapshots it adopted from ones it did not.
  struct WalView {
    raft::Index last_index = 0;
    // The term of the WAL's entry (or compaction point) at an index, if the WAL holds it.
    std::function<std::optional<raft::Term>(raft::Index)> term_at;
  };

  // The newest snapshot file the WAL can stand on that passes its checksum, or an empty
  // Snapshot if there is none: its data is the image when `inline_data`, else a
  // descriptor. Invalid newer files are named in *note (left in place for inspection).
  // A leader's snapshot whose install never reached the WAL (never acknowledged) is
  // deleted, as are leftover .tmp files: a file above the WAL's last index, or one whose
  // term differs from the WAL's entry at its index (the install's marker was lost but the
  // file's rename was durable; the WAL still holds the uncommitted suffix it replaced).
  Result<raft::Snapshot> LoadNewest(const WalView& wal, bool inline_data, std::string* note);

 private:
  struct FileRef {
    raft::Term term;
    raft::Index index;
    std::string name;
  };
  Result<std::vector<FileRef>> ListSorted();  // oldest first
  Status dropStaleReceived(raft::Index newest);

  FileSystem* fs_;
  std::string dir_;
  int keep_;
};

}  // namespace raftkv::storage
