#include "storage/wal_bench.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <utility>

#include "storage/disk_storage.h"

namespace raftkv::storage {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// What each timed loop counts. Only time spent inside Step() is counted ("busy"), so loops
// can be interleaved: the disk's drift over a run then hits all of them alike.
struct Counts {
  uint64_t units = 0;  // syncs (raw loops) or batches (WAL)
  uint64_t entries = 0;
  uint64_t bytes = 0;
  double busy = 0;
};

class Loop {
 public:
  virtual ~Loop() = default;
  virtual Status Step() = 0;  // one unit of work: one write + one sync
  Counts counts;
};

// A minimal append + fdatasync loop into a preallocated file, the same shape as the WAL's
// segments (64 MiB, fallocated, a fresh file when full). `chunk` bytes per sync.
class RawLoop : public Loop {
 public:
  RawLoop(std::string path, size_t chunk) : path_(std::move(path)), buf_(chunk, 'r') {}
  ~RawLoop() override { Close(); }

  Status Step() override {
    auto t0 = Clock::now();
    if (fd_ < 0 || off_ + buf_.size() > kFileBytes) RAFTKV_RETURN_IF_ERROR(Reopen());
    if (::pwrite(fd_, buf_.data(), buf_.size(), static_cast<off_t>(off_)) !=
        static_cast<ssize_t>(buf_.size())) {
      return Status::IOError("raw loop: pwrite failed");
    }
    if (::fdatasync(fd_) != 0) return Status::IOError("raw loop: fdatasync failed");
    off_ += buf_.size();
    counts.units++;
    counts.bytes += buf_.size();
    counts.busy += Since(t0);
    return Status::OK();
  }

 private:
  static constexpr uint64_t kFileBytes = 64ull << 20;

  Status Reopen() {
    Close();
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd_ < 0 || ::posix_fallocate(fd_, 0, kFileBytes) != 0 || ::fsync(fd_) != 0) {
      return Status::IOError("raw loop: cannot create " + path_);
    }
    off_ = 0;
    return Status::OK();
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    ::unlink(path_.c_str());
  }

  std::string path_;
  std::string buf_;
  int fd_ = -1;
  uint64_t off_ = 0;
};

std::vector<raft::Entry> Batch(raft::Index first, size_t n, size_t size) {
  std::vector<raft::Entry> out(n);
  for (size_t i = 0; i < n; i++) {
    out[i].term = 1;
    out[i].index = first + i;
    out[i].data.assign(size, static_cast<char>('a' + i % 26));
  }
  return out;
}

// DiskStorage::Save of `batch` entries of `size` bytes per step, as the runtime hands over
// one Ready. Building the batch is the core's work and is not timed.
class WalLoop : public Loop {
 public:
  static Result<std::unique_ptr<WalLoop>> Open(const std::string& dir, size_t size, size_t batch,
                                               const WalBenchOptions& o) {
    fs::remove_all(dir);
    DiskStorageOptions opts;
    opts.wal.preallocate = o.preallocate;
    opts.wal.drop_cache = o.drop_cache;
    auto opened = DiskStorage::Open(dir, opts);
    if (!opened.ok()) return opened.status();
    return std::unique_ptr<WalLoop>(new WalLoop(dir, std::move(*opened), size, batch));
  }
  ~WalLoop() override {
    storage_.reset();
    fs::remove_all(dir_);
  }

  Status Step() override {
    std::vector<raft::Entry> ents = model_;
    for (size_t i = 0; i < batch_; i++) ents[i].index = next_ + i;
    raft::HardState hs{1, 1, next_ - 1};
    auto t0 = Clock::now();
    RAFTKV_RETURN_IF_ERROR(storage_->Save(&hs, std::move(ents), nullptr));
    next_ += batch_;
    // Bound memory (the in-memory log is not what is measured): compact rarely.
    if ((next_ - storage_->FirstIndex()) * (size_ + 64) > (512ull << 20)) {
      raft::Snapshot snap;
      snap.meta.index = next_ - 1 - batch_;
      snap.meta.term = 1;
      RAFTKV_RETURN_IF_ERROR(storage_->SaveSnapshot(snap));
      RAFTKV_RETURN_IF_ERROR(storage_->Compact(snap.meta.index));
    }
    counts.busy += Since(t0);
    counts.units++;
    counts.entries += batch_;
    counts.bytes += batch_ * size_;
    return Status::OK();
  }

 private:
  WalLoop(std::string dir, std::unique_ptr<DiskStorage> s, size_t size, size_t batch)
      : dir_(std::move(dir)),
        storage_(std::move(s)),
        size_(size),
        batch_(batch),
        model_(Batch(1, batch, size)) {}

  std::string dir_;
  std::unique_ptr<DiskStorage> storage_;
  size_t size_, batch_;
  std::vector<raft::Entry> model_;
  raft::Index next_ = 1;
};

// Runs the loops in turns of `slice` seconds each until every loop has had `seconds` of
// turns (and at least 3 steps), so that slow drift of the disk (other tenants, the device's
// cache) lands on all of them alike and the ratios compare like with like.
Status Interleave(const std::vector<Loop*>& loops, double seconds, double slice) {
  auto wall = Clock::now();
  double turns = 0;
  while (turns < seconds) {
    for (Loop* l : loops) {
      auto t0 = Clock::now();
      while (Since(t0) < slice || l->counts.units < 3) RAFTKV_RETURN_IF_ERROR(l->Step());
    }
    turns += slice;
    if (Since(wall) > 20 * seconds + 10) break;  // a stalled disk: report what we have
  }
  return Status::OK();
}

void EvictFromCache(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    int fd = ::open(e.path().c_str(), O_RDONLY);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);  // cold read, as after a reboot
    ::close(fd);
  }
}

// Writes about `bytes` of 16 KiB entries, evicts the files from the page cache, and times
// DiskStorage::Open (the recovery scan).
Status RunRecovery(const std::string& dir, uint64_t bytes) {
  fs::remove_all(dir);
  const size_t size = 16384, batch = 1024;
  raft::Index next = 1;
  {
    auto opened = DiskStorage::Open(dir, DiskStorageOptions{});
    if (!opened.ok()) return opened.status();
    while ((next - 1) * size < bytes) {
      raft::HardState hs{1, 1, next - 1};
      RAFTKV_RETURN_IF_ERROR((*opened)->Save(&hs, Batch(next, batch, size), nullptr));
      next += batch;
    }
  }
  uint64_t on_disk = 0;
  for (const auto& e : fs::directory_iterator(dir)) on_disk += e.file_size();
  // Raw: read every file once with a minimal loop, from a cold cache.
  EvictFromCache(dir);
  auto t0 = Clock::now();
  std::string buf(16 << 20, '\0');
  for (const auto& e : fs::directory_iterator(dir)) {
    int fd = ::open(e.path().c_str(), O_RDONLY);
    while (fd >= 0 && ::read(fd, buf.data(), buf.size()) > 0) {
    }
    if (fd >= 0) ::close(fd);
  }
  double raw = Since(t0);
  EvictFromCache(dir);
  t0 = Clock::now();
  auto opened = DiskStorage::Open(dir, DiskStorageOptions{});
  double cold = Since(t0);
  if (!opened.ok()) return opened.status();
  raft::Index recovered = (*opened)->LastIndex();
  opened = Status::Aborted("closed");
  t0 = Clock::now();
  opened = DiskStorage::Open(dir, DiskStorageOptions{});
  double warm = Since(t0);
  if (!opened.ok()) return opened.status();
  double mb = (next - 1) * double(size) / 1e6;
  std::printf("\nrecovery: %llu entries, %.0f MB of WAL (%.0f MB on disk incl. preallocation)\n",
              static_cast<unsigned long long>(recovered), mb, on_disk / 1e6);
  std::printf("  raw cold read of the files: %.2f s (%.0f MB/s)\n", raw, on_disk / raw / 1e6);
  std::printf("  Open() cold cache: %.2f s (%.0f MB/s, %.0f%% of raw read time)\n", cold, mb / cold,
              100 * raw / cold);
  std::printf("  Open() warm cache: %.2f s (%.0f MB/s)\n", warm, mb / warm);
  std::printf(
      "  target: 1 GiB in < 5 s: %s\n",
      (bytes >= (1ull << 30) ? (cold < 5.0 ? "met" : "MISSED") : "not measured (smaller WAL)"));
  opened = Status::Aborted("done");  // release before deleting
  fs::remove_all(dir);
  return Status::OK();
}

}  // namespace

int RunWalBenchmark(const WalBenchOptions& o) {
  fs::path parent = o.dir.empty() ? fs::temp_directory_path() : fs::path(o.dir);
  fs::path root = parent / ("raftkv-wal-bench-" + std::to_string(::getpid()));
  fs::create_directories(root);
  std::printf("WAL benchmark in %s, %.1f s per case\n", root.c_str(), o.seconds_per_case);

  if (o.entry_sizes.empty()) {  // recovery only
    Status st = RunRecovery((root / "recovery").string(), o.recovery_bytes);
    if (!st.ok()) std::printf("recovery error: %s\n", st.ToString().c_str());
    fs::remove_all(root);
    return st.ok() ? 0 : 1;
  }
  // The disk may be shared and noisy, so every case runs interleaved with the two raw loops
  // (turns of 50 ms each); the ratios compare measurements taken in the same moments.
  std::printf("raw-sync: 100 B pwrite + fdatasync into a preallocated file (syncs/s)\n");
  std::printf("raw-MB/s: 16 MiB pwrite + fdatasync into a preallocated file\n");
  std::printf("(each case interleaved with both raw loops in 50 ms turns)\n\n");
  std::printf("%6s %6s %11s %9s %9s %9s %9s %10s %9s\n", "entry", "batch", "appends/s", "MB/s",
              "fsyncs/s", "raw-sync", "raw-MB/s", "fsync/raw", "MB/s/raw");
  for (size_t size : o.entry_sizes) {
    for (size_t batch : o.batch_sizes) {
      RawLoop raw_sync((root / "raw-sync").string(), 100);
      RawLoop raw_seq((root / "raw-seq").string(), 16 << 20);
      auto wal = WalLoop::Open((root / "case").string(), size, batch, o);
      Status st = wal.ok() ? Interleave({&raw_sync, &raw_seq, wal->get()}, o.seconds_per_case, 0.05)
                           : wal.status();
      if (!st.ok()) {
        std::printf("error: %s\n", st.ToString().c_str());
        return 1;
      }
      const Counts& w = (*wal)->counts;
      double syncs = w.units / w.busy, bw = w.bytes / w.busy;
      double raw_syncs = raw_sync.counts.units / raw_sync.counts.busy;
      double raw_bw = raw_seq.counts.bytes / raw_seq.counts.busy;
      std::printf("%6zu %6zu %11.0f %9.2f %9.0f %9.0f %9.1f %9.0f%% %8.0f%%\n", size, batch,
                  w.entries / w.busy, bw / 1e6, syncs, raw_syncs, raw_bw / 1e6,
                  100 * syncs / raw_syncs, 100 * bw / raw_bw);
      std::fflush(stdout);
    }
  }
  std::printf("\ntargets: batch-1 fsync/raw >= 90%%; 16 KiB x large batch MB/s/raw >= 80%%\n");
  if (o.recovery_bytes > 0) {
    Status s = RunRecovery((root / "recovery").string(), o.recovery_bytes);
    if (!s.ok()) {
      std::printf("recovery error: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  fs::remove_all(root);
  return 0;
}

}  // namespace raftkv::storage
