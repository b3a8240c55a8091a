// FileSystem over POSIX calls. Every error names the path and the errno text.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "storage/file_system.h"

namespace raftkv::storage {
namespace {

constexpr size_t kMaxIov = 1024;  // Linux's UIO_MAXIOV: iovecs per pwritev call

Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  return Status::IOError(what + " " + path + ": " + std::strerror(err));
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      ssize_t n = ::pwrite(fd_, p, left, static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("write", path_, errno);
      }
      if (n == 0) return Status::IOError("write " + path_ + ": no progress");
      p += n;
      left -= static_cast<size_t>(n);
      offset += static_cast<uint64_t>(n);
    }
    return Status::OK();
  }

  Status WriteAtV(uint64_t offset, std::span<const std::string_view> pieces) override {
    size_t i = 0, done = 0;  // the next piece, and how much of it is already written
    while (true) {
      while (i < pieces.size() && done == pieces[i].size()) i++, done = 0;  // skip empty
      if (i == pieces.size()) return Status::OK();
      iov_.clear();
      for (size_t j = i; j < pieces.size() && iov_.size() < kMaxIov; j++) {
        size_t from = j == i ? done : 0;
        if (pieces[j].size() == from) continue;
        iov_.push_back(iovec{const_cast<char*>(pieces[j].data() + from), pieces[j].size() - from});
      }
      ssize_t n =
          ::pwritev(fd_, iov_.data(), static_cast<int>(iov_.size()), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("write", path_, errno);
      }
      if (n == 0) return Status::IOError("write " + path_ + ": no progress");
      offset += static_cast<uint64_t>(n);
      // A short write (signal, a 2 GiB call limit, a full disk): go on after what landed.
      for (auto left = static_cast<size_t>(n); left > 0;) {
        size_t step = std::min(left, pieces[i].size() - done);
        left -= step;
        done += step;
        if (done == pieces[i].size()) i++, done = 0;
      }
    }
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return ErrnoStatus("fdatasync", path_, errno);
    return Status::OK();
  }

  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return ErrnoStatus("ftruncate", path_, errno);
    }
    return Status::OK();
  }

  Status Allocate(uint64_t size) override {
    int rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
    if (rc != 0) return ErrnoStatus("fallocate", path_, rc);
    return Status::OK();
  }

  void StartWriteback(uint64_t offset, uint64_t len) override {
    ::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(len),
                      SYNC_FILE_RANGE_WRITE);
  }

  void DropCache(uint64_t offset, uint64_t len) override {
    ::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(len), POSIX_FADV_DONTNEED);
  }

  Status Close() override {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return ErrnoStatus("close", path_, errno);
    return Status::OK();
  }

 private:
  std::string path_;
  int fd_;
  std::vector<iovec> iov_;  // reused by WriteAtV
};

// pread until `n` bytes or the end of the file; returns how many were read.
Result<size_t> PreadUpTo(int fd, const std::string& path, uint64_t offset, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, buf + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoStatus("read", path, errno);
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

class PosixReadableFile final : public ReadableFile {
 public:
  PosixReadableFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixReadableFile() override { ::close(fd_); }

  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, size_t n, std::string* out) override {
    out->resize(n);
    auto got = PreadUpTo(fd_, path_, offset, out->data(), n);
    if (!got.ok()) return got.status();
    if (*got != n) {
      return Status::IOError("read " + path_ + ": end of file at " + std::to_string(offset + *got) +
                             " before " + std::to_string(offset + n));
    }
    return Status::OK();
  }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

class PosixLock final : public FileLock {
 public:
  explicit PosixLock(int fd) : fd_(fd) {}
  ~PosixLock() override { ::close(fd_); }  // closing releases the flock

 private:
  int fd_;
};

class PosixFs final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path,
                                                     bool truncate) override {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0);
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }

  Result<std::string> ReadAll(const std::string& path) override {
    std::string out;
    RAFTKV_RETURN_IF_ERROR(ReadInto(path, &out));
    return out;
  }

  Status ReadInto(const std::string& path, std::string* out) override {
    auto f = OpenReadable(path);
    if (!f.ok()) return f.status();
    return (*f)->ReadAt(0, (*f)->size(), out);  // reuses out's memory
  }

  Result<std::unique_ptr<ReadableFile>> OpenReadable(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus("stat", path, err);
    }
    return std::unique_ptr<ReadableFile>(
        new PosixReadableFile(path, fd, static_cast<uint64_t>(st.st_size)));
  }

  void Prefetch(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
    ::close(fd);
  }

  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus("rename", from, errno);
    return Status::OK();
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus("unlink", path, errno);
    return Status::OK();
  }

  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open dir", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus("fsync dir", dir, err);
    return Status::OK();
  }

  Result<std::vector<std::string>> List(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoStatus("opendir", dir, errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    return names;
  }

  Status CreateDir(const std::string& dir) override {
    for (size_t pos = 0; pos != std::string::npos;) {
      pos = dir.find('/', pos + 1);
      std::string prefix = dir.substr(0, pos);
      if (prefix.empty()) continue;  // the root of an absolute path
      if (::mkdir(prefix.c_str(), 0755) != 0) {
        if (errno == EEXIST) continue;
        return ErrnoStatus("mkdir", prefix, errno);
      }
      // The new directory's name lives in its parent: durable only once the parent is
      // synced (a power loss could otherwise leave a member without its data dir).
      size_t slash = prefix.find_last_of('/');
      std::string parent = slash == std::string::npos ? "." : prefix.substr(0, slash);
      RAFTKV_RETURN_IF_ERROR(SyncDir(parent.empty() ? "/" : parent));
    }
    return Status::OK();
  }

  bool Exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Result<std::unique_ptr<FileLock>> Lock(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return Status::Busy(path + " is locked by another process (data dir in use)");
      }
      return ErrnoStatus("flock", path, err);
    }
    return std::unique_ptr<FileLock>(new PosixLock(fd));
  }
};

}  // namespace

FileSystem* PosixFileSystem() {
  static PosixFs* fs = new PosixFs();
  return fs;
}

}  // namespace raftkv::storage
