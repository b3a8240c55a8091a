// FileSystem: every byte the storage layer reads or writes goes through this interface
// (LevelDB's Env), so tests and the simulator can swap the POSIX implementation for
// FaultFileSystem (fault_fs.h), which loses unsynced writes, tears them, flips bits and
// fails with ENOSPC/EIO on demand.
//
// Durability contract, as on Linux: bytes written to a file are durable only after
// WritableFile::Sync() returns OK; a newly created, renamed or removed name is durable only
// after SyncDir() of its directory returns OK.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace raftkv::storage {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // pwrite: writes `data` at `offset` (the file grows if needed). A failure may leave any
  // prefix of `data` written.
  virtual Status WriteAt(uint64_t offset, std::string_view data) = 0;
  // pwritev: writes the concatenation of `pieces` at `offset`, exactly as WriteAt of the
  // joined bytes would (a failure may leave any prefix of them written). Lets the WAL
  // write large payloads where they lie instead of copying them into one buffer first.
  virtual Status WriteAtV(uint64_t offset, std::span<const std::string_view> pieces) = 0;
  // A hint to start writing bytes [offset, offset + len) to the disk now, without waiting
  // (sync_file_range SYNC_FILE_RANGE_WRITE). Durability still needs Sync(); errors are
  // ignored here and reported by Sync().
  virtual void StartWriteback(uint64_t offset, uint64_t len) {}
  // fdatasync: makes the file's data (and its size) durable.
  virtual Status Sync() = 0;
  // ftruncate to `size` bytes.
  virtual Status Truncate(uint64_t size) = 0;
  // Reserves space so the file is at least `size` bytes long, reading as zeros beyond what
  // was written (fallocate). ENOSPC here means nothing was written.
  virtual Status Allocate(uint64_t size) = 0;
  virtual Status Close() = 0;
  // A hint that bytes [offset, offset + len), already synced, will not be read again soon:
  // the OS may drop them from its page cache (posix_fadvise DONTNEED). Never changes what
  // the file holds; errors are ignored (it is only a hint).
  virtual void DropCache(uint64_t offset, uint64_t len) {}
};

// A file opened for reading at any offset: snapshot files are read in bounded chunks, never
// whole (an image may be as large as the store).
class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // The file's size when it was opened.
  virtual uint64_t size() const = 0;
  // Exactly `n` bytes at `offset` into *out; an error if the file ends before.
  virtual Status ReadAt(uint64_t offset, size_t n, std::string* out) = 0;
};

// Held while a data directory is in use; released when destroyed (or when the process dies).
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Opens `path` for writing, creating it if missing. `truncate` empties an existing file.
  virtual Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path,
                                                             bool truncate) = 0;
  // The whole current content of a file.
  virtual Result<std::string> ReadAll(const std::string& path) = 0;
  virtual Result<std::unique_ptr<ReadableFile>> OpenReadable(const std::string& path) = 0;
  // The same into *out, reusing its memory (recovery reads many large segments; fresh
  // buffers would cost a page fault per 4 KiB each time).
  virtual Status ReadInto(const std::string& path, std::string* out) {
    auto r = ReadAll(path);
    if (!r.ok()) return r.status();
    *out = std::move(*r);
    return Status::OK();
  }
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  // A hint that `path` will be read soon (the OS may start reading it in the background).
  virtual void Prefetch(const std::string& path) {}
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Remove(const std::string& path) = 0;
  // fsync of a directory: makes creations, renames and removals inside it durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  // Names (not paths) of the entries of `dir`, without "." and "..".
  virtual Result<std::vector<std::string>> List(const std::string& dir) = 0;
  // Creates `dir` (and its parents) durably: each directory it creates is synced into its
  // parent before it returns. OK if it exists.
  virtual Status CreateDir(const std::string& dir) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // An exclusive, non-blocking lock on `path` (created if missing). Fails with kBusy if
  // another holder (another process, or another handle in this one) has it.
  virtual Result<std::unique_ptr<FileLock>> Lock(const std::string& path) = 0;
};

// The real file system (POSIX calls). Never null; lives for the whole process.
FileSystem* PosixFileSystem();

inline std::string JoinPath(const std::string& dir, const std::string& name) {
  return dir + "/" + name;
}

}  // namespace raftkv::storage
