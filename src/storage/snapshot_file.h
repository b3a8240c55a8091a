// Snapshot files: snap-<term:016x>-<index:016x>.snap in the data directory.
//
// Layout (little-endian): magic u32 "KSNP" | version u32 | meta_len u32 | data_len u64 |
// meta[meta_len] | data[data_len] | crc u32, where crc = CRC32C of everything before it.
// meta = index u64 | term u64 | then for voters, voters_outgoing, learners, learners_next:
// count u32 + ids u64... | auto_leave u8.
//
// A snapshot is written to "<name>.tmp", fsynced, renamed, and the directory fsynced, so a
// snapshot file that exists under its final name is complete unless the disk corrupted it;
// the checksum catches that, and loading then falls back to the newest valid older file.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "raft/types.h"
#include "storage/file_system.h"

namespace raftkv::storage {

std::string SnapshotFileName(const raft::SnapshotMeta& meta);
bool ParseSnapshotFileName(const std::string& name, raft::Term* term, raft::Index* index);

std::string EncodeSnapshotFile(const raft::Snapshot& snap);
// `where` names the file in errors.
Result<raft::Snapshot> DecodeSnapshotFile(std::string_view content, const std::string& where);

class SnapshotStore {
 public:
  // Keeps the newest `keep` snapshot files (at least 1).
  SnapshotStore(FileSystem* fs, std::string dir, int keep);

  // Writes `snap` durably.
  Status Save(const raft::Snapshot& snap);
  // Deletes snapshot files beyond the newest `keep`. Called only once the newest one is
  // in use (for a leader's snapshot: once the WAL records its install), so that a crash
  // in between never leaves the WAL without the snapshot it was compacted to.
  Status Prune();

  // The newest snapshot file with index <= `max_index` that passes its checksum, or an
  // empty Snapshot if there is none. Invalid newer files are named in *note (left in place
  // for inspection). Files above `max_index` are a leader's snapshot whose install never
  // reached the WAL (never acknowledged): they are deleted, as are leftover .tmp files.
  Result<raft::Snapshot> LoadNewest(raft::Index max_index, std::string* note);

 private:
  struct FileRef {
    raft::Term term;
    raft::Index index;
    std::string name;
  };
  Result<std::vector<FileRef>> ListSorted();  // oldest first

  FileSystem* fs_;
  std::string dir_;
  int keep_;
};

}  // namespace raftkv::storage
