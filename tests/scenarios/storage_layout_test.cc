// L5: "Log and snapshot layout that is fast to append and fast to read back."
//
// The answer raftkv gives (src/storage/wal_format.h), shown on real DiskStorage files over
// the fault-injecting file system, watched through a file system that counts what the
// storage layer does:
//  - appending: one batch (one Ready) is one write at the end of the current segment and
//    one fdatasync (group commit); segments are preallocated (fallocate) so the data sync
//    does not also have to persist a growing file size, and are written strictly
//    sequentially;
//  - reading back: after a snapshot and compaction the segments wholly covered by the
//    snapshot are deleted, so a restart reads the newest snapshot file and the WAL after
//    it, nothing older.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "raft/types.h"
#include "storage/disk_storage.h"
#include "storage/fault_fs.h"
#include "storage/file_system.h"

namespace raftkv::scenario {
namespace {

using raft::Entry;
using raft::HardState;
using raft::Index;
using storage::DiskStorage;
using storage::FaultFileSystem;
using storage::FileSystem;
using storage::WritableFile;

// What happened to one opened file, in order.
struct FileLog {
  std::string path;  // as opened (a new segment is written under a .tmp name, then renamed)
  uint64_t allocated = 0;
  struct Write {
    uint64_t offset = 0;
    uint64_t len = 0;
  };
  std::vector<Write> writes;
};

// Forwards to the file it wraps and records every write and allocation.
class CountingFile final : public WritableFile {
 public:
  CountingFile(std::unique_ptr<WritableFile> inner, FileLog* log)
      : inner_(std::move(inner)), log_(log) {}
  Status WriteAt(uint64_t offset, std::string_view data) override {
    log_->writes.push_back({offset, data.size()});
    return inner_->WriteAt(offset, data);
  }
  // pwritev, where the file system interface has it: one write of the joined pieces.
  Status WriteAtV(uint64_t offset, std::span<const std::string_view> pieces) override {
    std::string joined;
    for (std::string_view p : pieces) joined += p;
    return WriteAt(offset, joined);
  }
  Status Sync() override { return inner_->Sync(); }
  Status Truncate(uint64_t size) override { return inner_->Truncate(size); }
  Status Allocate(uint64_t size) override {
    log_->allocated = std::max(log_->allocated, size);
    return inner_->Allocate(size);
  }
  Status Close() override { return inner_->Close(); }

 private:
  std::unique_ptr<WritableFile> inner_;
  FileLog* log_;
};

// Forwards ranged reads and adds their bytes to the file's count.
class CountingReader final : public storage::ReadableFile {
 public:
  CountingReader(std::unique_ptr<storage::ReadableFile> inner, uint64_t* bytes)
      : inner_(std::move(inner)), bytes_(bytes) {}
  uint64_t size() const override { return inner_->size(); }
  Status ReadAt(uint64_t offset, size_t n, std::string* out) override {
    *bytes_ += n;
    return inner_->ReadAt(offset, n, out);
  }

 private:
  std::unique_ptr<storage::ReadableFile> inner_;
  uint64_t* bytes_;
};

// A FileSystem over FaultFileSystem that counts reads (files and bytes) and records writes.
class CountingFs final : public FileSystem {
 public:
  explicit CountingFs(FaultFileSystem* inner) : inner_(inner) {}

  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path,
                                                     bool truncate) override {
    auto f = inner_->OpenWritable(path, truncate);
    if (!f.ok()) return f.status();
    files_.push_back(std::make_unique<FileLog>());
    files_.back()->path = path;
    return std::unique_ptr<WritableFile>(new CountingFile(std::move(*f), files_.back().get()));
  }
  Result<std::string> ReadAll(const std::string& path) override {
    auto r = inner_->ReadAll(path);
    if (r.ok()) read_bytes_[path] += r->size();
    return r;
  }
  Result<std::unique_ptr<storage::ReadableFile>> OpenReadable(const std::string& path) override {
    auto r = inner_->OpenReadable(path);
    if (!r.ok()) return r.status();
    return std::unique_ptr<storage::ReadableFile>(
        new CountingReader(std::move(*r), &read_bytes_[path]));  // std::map: stable address
  }
  Result<uint64_t> FileSize(const std::string& path) override { return inner_->FileSize(path); }
  Status Rename(const std::string& from, const std::string& to) override {
    return inner_->Rename(from, to);
  }
  Status Remove(const std::string& path) override { return inner_->Remove(path); }
  Status SyncDir(const std::string& dir) override { return inner_->SyncDir(dir); }
  Result<std::vector<std::string>> List(const std::string& dir) override {
    return inner_->List(dir);
  }
  Status CreateDir(const std::string& dir) override { return inner_->CreateDir(dir); }
  bool Exists(const std::string& path) override { return inner_->Exists(path); }
  Result<std::unique_ptr<storage::FileLock>> Lock(const std::string& path) override {
    return inner_->Lock(path);
  }

  const std::vector<std::unique_ptr<FileLog>>& files() const { return files_; }
  size_t WriteCount() const {
    size_t n = 0;
    for (const auto& f : files_) n += f->writes.size();
    return n;
  }
  // Bytes read per path, and their total for paths containing `part`.
  const std::map<std::string, uint64_t>& read_bytes() const { return read_bytes_; }
  uint64_t ReadBytesOf(std::string_view part) const {
    uint64_t n = 0;
    for (const auto& [path, bytes] : read_bytes_) n += path.find(part) != path.npos ? bytes : 0;
    return n;
  }

 private:
  FaultFileSystem* inner_;
  std::vector<std::unique_ptr<FileLog>> files_;
  std::map<std::string, uint64_t> read_bytes_;
};

constexpr const char* kDir = "/node1";
constexpr uint64_t kSegmentBytes = 16 << 10;
constexpr Index kPerBatch = 8;
constexpr Index kBatches = 100;

std::vector<Entry> Batch(Index first) {
  std::vector<Entry> out;
  for (Index i = first; i < first + kPerBatch; i++) {
    out.push_back(Entry{2, i, raft::EntryType::kNormal,
                        "put k" + std::to_string(i) + " " + std::string(100, 'v')});
  }
  return out;
}

std::vector<std::string> Names(FaultFileSystem& fs, std::string_view suffix) {
  std::vector<std::string> out;
  auto names = fs.List(kDir);
  EXPECT_TRUE(names.ok()) << names.status().ToString();
  if (!names.ok()) return out;
  for (const std::string& n : *names) {
    if (n.ends_with(suffix)) out.push_back(n);
  }
  return out;
}

TEST(
    Storage,
    L5_appends_are_one_sequential_write_and_one_sync_per_batch_and_restart_reads_only_snapshot_and_wal_after_it) {
  FaultFileSystem disk(5);
  CountingFs counting(&disk);
  storage::DiskStorageOptions opts;
  opts.fs = &counting;
  opts.wal.segment_bytes = kSegmentBytes;  // small, so that the story spans many segments
  auto opened = DiskStorage::Open(kDir, opts);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<DiskStorage> store = std::move(*opened);

  // 1. The leader appends 100 batches (one Ready each: entries plus the hard state).
  //    Each costs one write and one fdatasync, plus a few at the 5-6 segment rotations.
  size_t batches_without_rotation = 0;
  for (Index b = 0; b < kBatches; b++) {
    const Index first = 1 + b * kPerBatch;
    const size_t segments = store->wal_segment_count();
    const uint64_t syncs = disk.sync_count();
    const size_t writes = counting.WriteCount();
    HardState hs{2, 1, first - 1};
    ASSERT_TRUE(store->Save(&hs, Batch(first), nullptr).ok());
    if (store->wal_segment_count() != segments) continue;  // rotated: cut, header, rename
    ++batches_without_rotation;
    EXPECT_EQ(disk.sync_count() - syncs, 1u) << "batch " << b << ": one fdatasync per batch";
    EXPECT_EQ(counting.WriteCount() - writes, 1u) << "batch " << b << ": one write per batch";
  }
  const size_t segments_before = store->wal_segment_count();
  EXPECT_GE(segments_before, 4u) << "the story needs the log to span several segments";
  EXPECT_GE(batches_without_rotation, kBatches - 2 * segments_before);
  // A Ready that only moves the commit index is written but not synced (must_sync false).
  {
    const uint64_t syncs = disk.sync_count();
    HardState hs{2, 1, kBatches * kPerBatch};
    ASSERT_TRUE(store->Save(&hs, {}, nullptr, /*sync=*/false).ok());
    EXPECT_EQ(disk.sync_count(), syncs);
  }

  // 2. Sequential writes into preallocated segments: every segment file was fallocated to
  //    the segment size before its records, and each write starts where the previous ended.
  size_t segment_files = 0;
  for (const auto& f : counting.files()) {
    if (f->path.find("wal-") == std::string::npos) continue;
    ++segment_files;
    EXPECT_EQ(f->allocated, kSegmentBytes) << f->path << " is preallocated";
    ASSERT_FALSE(f->writes.empty()) << f->path;
    EXPECT_EQ(f->writes[0].offset, 0u) << f->path << " starts with its header";
    for (size_t i = 1; i < f->writes.size(); i++) {
      EXPECT_EQ(f->writes[i].offset, f->writes[i - 1].offset + f->writes[i - 1].len)
          << f->path << " write " << i << " is not sequential";
    }
  }
  EXPECT_EQ(segment_files, segments_before);
  const std::string last_segment = Names(disk, ".log").back();
  // (A segment is cut once it has reached the size, so the batch that crosses it may extend
  // the file a little: at least the preallocated size.)
  EXPECT_GE(disk.FileSize(std::string(kDir) + "/" + last_segment).value(), kSegmentBytes)
      << "the segment being appended keeps its preallocated size";

  // 3. The state machine snapshots at 300, later at 600, and the log is compacted at 600:
  //    the segments holding only entries <= 600 are deleted.
  raft::Snapshot snap;
  snap.meta = raft::SnapshotMeta{300, 2, raft::ConfState{{1, 2, 3}, {}, {}, {}, false}};
  snap.data = std::string(4000, 'o');  // the state machine's image
  ASSERT_TRUE(store->SaveSnapshot(snap).ok());
  snap.meta.index = 600;
  snap.data = std::string(4000, 's');
  ASSERT_TRUE(store->SaveSnapshot(snap).ok());
  EXPECT_EQ(Names(disk, ".snap").size(), 2u) << "the older snapshot is kept, as a fallback";
  ASSERT_TRUE(store->Compact(600).ok());
  const std::vector<std::string> kept = Names(disk, ".log");
  EXPECT_EQ(kept.size(), store->wal_segment_count());
  EXPECT_LE(kept.size(), segments_before / 2) << "segments covered by the snapshot are gone";
  store.reset();

  // 4. Restart: recovery reads the snapshot file and the remaining segments, nothing else.
  disk.PowerLoss(/*keep_torn_prefix=*/false);
  CountingFs reader(&disk);
  opts.fs = &reader;
  auto reopened = DiskStorage::Open(kDir, opts);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  store = std::move(*reopened);
  const std::map<std::string, uint64_t> recovery_reads = reader.read_bytes();
  EXPECT_EQ(store->FirstIndex(), 601u);
  EXPECT_EQ(store->LastIndex(), kBatches * kPerBatch);
  EXPECT_EQ(store->GetSnapshot().value().meta.index, 600u);
  EXPECT_EQ(store->Entries(601, 609, raft::kNoLimit).value(), Batch(601));

  // Each remaining segment is read once, whole; no other segment and only the newest
  // snapshot file are opened. (A snapshot file is read in ranges: its checksum is verified
  // in one pass before its image is used.)
  uint64_t wal_bytes_kept = 0;
  for (const std::string& n : kept) {
    wal_bytes_kept += disk.FileSize(std::string(kDir) + "/" + n).value();
  }
  std::vector<std::string> segments_read, snapshots_read;
  for (const auto& [path, bytes] : recovery_reads) {
    if (path.ends_with(".log")) segments_read.push_back(path);
    if (path.ends_with(".snap")) snapshots_read.push_back(path);
  }
  EXPECT_EQ(segments_read.size(), kept.size()) << "only the segments after the snapshot";
  EXPECT_EQ(reader.ReadBytesOf(".log"), wal_bytes_kept);
  EXPECT_LT(wal_bytes_kept, segments_before * kSegmentBytes / 2)
      << "a restart does not read the log the snapshot replaced";
  ASSERT_EQ(snapshots_read.size(), 1u);
  EXPECT_TRUE(snapshots_read[0].ends_with("0000000000000258.snap"))
      << snapshots_read[0] << ": only the newest snapshot (600) is read";
}

}  // namespace
}  // namespace raftkv::scenario
