// FaultFileSystem: an in-memory FileSystem that models what a crash does to a disk, for
// unit tests and the simulator's disk model (LevelDB's fault_injection_test, grown up).
//
// Model. Each file has its current content (what reads see: the page cache) and its durable
// content (what survives power loss: as of its last successful Sync). Each directory entry
// is likewise current or durable: creations, renames and removals become durable at
// SyncDir of the parent. PowerLoss() reverts every name to its durable state and every file
// to its durable content, optionally keeping a random prefix of the unsynced bytes (a torn
// write). A vectored write (WriteAtV) is one write of the joined pieces: one fault point,
// torn like any other. Faults: the Nth write or sync fails with ENOSPC or EIO (a failed write may
// leave a random prefix of its data), a space limit (ENOSPC), and bit flips in stored bytes.
//
// Single-threaded. Randomness comes from the seed given at construction.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "storage/file_system.h"

namespace raftkv::storage {

class FaultFileSystem final : public FileSystem {
 public:
  explicit FaultFileSystem(uint64_t seed);
  ~FaultFileSystem() override;

  // FileSystem.
  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path,
                                                     bool truncate) override;
  Result<std::string> ReadAll(const std::string& path) override;
  Result<std::unique_ptr<ReadableFile>> OpenReadable(const std::string& path) override;
  Result<uint64_t> FileSize(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status SyncDir(const std::string& dir) override;
  Result<std::vector<std::string>> List(const std::string& dir) override;
  Status CreateDir(const std::string& dir) override;
  bool Exists(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> Lock(const std::string& path) override;

  // Simulates power loss: unsynced data and undurable names are lost; with
  // `keep_torn_prefix` each file keeps a random prefix of its unsynced bytes. Every open file
  // and lock handle becomes stale (its operations fail), as the process died.
  void PowerLoss(bool keep_torn_prefix);

  enum class Fault { kNone, kNoSpace, kIOError };
  // The write (or sync) `n` operations from now (0 = the next one) fails with `fault`, once.
  void FailWriteAfter(int64_t n, Fault fault);
  void FailSyncAfter(int64_t n, Fault fault);
  // Total bytes all files may hold; writes beyond it fail with ENOSPC after writing what
  // fits. 0 = unlimited.
  void SetSpaceLimit(uint64_t bytes) { space_limit_ = bytes; }
  void ClearFaults();

  // Flips bit `bit` of byte `offset` of `path`, in both current and durable content.
  Status FlipBit(const std::string& path, uint64_t offset, int bit);

  uint64_t write_count() const { return writes_; }
  uint64_t sync_count() const { return syncs_; }
  // Reads served (ReadAll calls and ReadableFile::ReadAt calls), and their bytes.
  uint64_t read_count() const { return reads_; }
  uint64_t read_bytes() const { return read_bytes_; }
  // DropCache hints received: bytes covered, and how many covered bytes not yet synced
  // (a caller that drops pages it has not synced has its durability order wrong).
  uint64_t cache_dropped_bytes() const { return cache_dropped_bytes_; }
  uint64_t unsynced_cache_drops() const { return unsynced_cache_drops_; }

 private:
  struct Inode;
  class File;
  class LockHandle;
  class Reader;
  friend class File;
  friend class Reader;

  Status OnWrite(Inode* node, uint64_t offset, std::string_view data);
  Status OnSync(Inode* node);
  void OnDropCache(const Inode& node, uint64_t offset, uint64_t len);
  uint64_t TotalBytes() const;
  static Status FaultStatus(Fault f, const std::string& what);

  std::mt19937_64 rng_;
  uint64_t generation_ = 0;  // bumped by PowerLoss; stale handles refuse to work
  std::map<std::string, std::shared_ptr<Inode>> names_;    // current namespace
  std::map<std::string, std::shared_ptr<Inode>> durable_;  // namespace after power loss
  std::set<std::string> dirs_;
  std::set<std::string> locks_;
  int64_t fail_write_in_ = -1;
  int64_t fail_sync_in_ = -1;
  Fault write_fault_ = Fault::kNone;
  Fault sync_fault_ = Fault::kNone;
  uint64_t space_limit_ = 0;
  uint64_t writes_ = 0;
  uint64_t syncs_ = 0;
  uint64_t reads_ = 0;
  uint64_t read_bytes_ = 0;
  uint64_t cache_dropped_bytes_ = 0;
  uint64_t unsynced_cache_drops_ = 0;
};

}  // namespace raftkv::storage
