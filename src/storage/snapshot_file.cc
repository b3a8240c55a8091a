#include "storage/snapshot_file.h"

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>

#include "storage/crc32c.h"
#include "storage/wal_format.h"

namespace raftkv::storage {

using wal_format::ParseHex16;
using wal_format::Reader;

namespace {

constexpr uint32_t kSnapMagic = 0x504e534bu;  // "KSNP" little-endian
constexpr uint32_t kSnapVersion1 = 1;
constexpr uint32_t kSnapVersion = 2;
constexpr size_t kV1HeaderSize = 4 + 4 + 4 + 8;
constexpr size_t kV2HeaderSize = 4 + 4 + 4;
constexpr size_t kV2TrailerSize = 8 + 4;
constexpr size_t kMaxConfIds = 1 << 16;
constexpr size_t kMaxMetaLen = 4 * (kMaxConfIds * 8 + 4) + 17;
// Starts with a NUL byte, which no image format used here starts with.
constexpr std::string_view kRefMagic("\0RKSNAPREF1", 11);

void PutIds(std::string* out, const std::vector<raft::NodeId>& ids) {
  PutU32(out, static_cast<uint32_t>(ids.size()));
  for (raft::NodeId id : ids) PutU64(out, id);
}

bool GetIds(Reader* r, std::vector<raft::NodeId>* ids) {
  uint32_t n = r->U32();
  if (!r->ok() || n > kMaxConfIds) return false;
  for (uint32_t i = 0; i < n; i++) ids->push_back(r->U64());
  return r->ok();
}

std::string EncodeMeta(const raft::SnapshotMeta& m) {
  std::string meta;
  PutU64(&meta, m.index);
  PutU64(&meta, m.term);
  PutIds(&meta, m.conf.voters);
  PutIds(&meta, m.conf.voters_outgoing);
  PutIds(&meta, m.conf.learners);
  PutIds(&meta, m.conf.learners_next);
  meta.push_back(m.conf.auto_leave ? 1 : 0);
  return meta;
}

bool DecodeMeta(std::string_view bytes, raft::SnapshotMeta* m) {
  Reader r(bytes);
  m->index = r.U64();
  m->term = r.U64();
  bool ok = GetIds(&r, &m->conf.voters) && GetIds(&r, &m->conf.voters_outgoing) &&
            GetIds(&r, &m->conf.learners) && GetIds(&r, &m->conf.learners_next);
  m->conf.auto_leave = r.U8() == 1;
  return ok && r.ok() && r.done();
}

}  // namespace

std::string SnapshotFileName(const raft::SnapshotMeta& meta) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "snap-%016" PRIx64 "-%016" PRIx64 ".snap", meta.term, meta.index);
  return buf;
}

bool ParseSnapshotFileName(const std::string& name, raft::Term* term, raft::Index* index) {
  if (name.size() != 5 + 16 + 1 + 16 + 5 || name.compare(0, 5, "snap-") != 0 || name[21] != '-' ||
      name.compare(38, 5, ".snap") != 0) {
    return false;
  }
  return ParseHex16(name.substr(5, 16), term) && ParseHex16(name.substr(22, 16), index);
}

std::string EncodeSnapshotFileRef(const SnapshotFileRef& ref) {
  std::string out(kRefMagic);
  PutU64(&out, ref.data_len);
  out += ref.path;
  return out;
}

bool IsSnapshotFileRef(std::string_view data) {
  return data.starts_with(kRefMagic);
}

Result<SnapshotFileRef> DecodeSnapshotFileRef(std::string_view data) {
  if (!IsSnapshotFileRef(data) || data.size() < kRefMagic.size() + 8 + 1) {
    return Status::InvalidArgument("not a snapshot file descriptor");
  }
  SnapshotFileRef ref;
  ref.data_len = DecodeU64(data.data() + kRefMagic.size());
  ref.path = std::string(data.substr(kRefMagic.size() + 8));
  return ref;
}

// --- writer ---

Result<std::unique_ptr<SnapshotFileWriter>> SnapshotFileWriter::Create(
    FileSystem* fs, std::string path, const raft::SnapshotMeta& meta) {
  std::unique_ptr<SnapshotFileWriter> w(new SnapshotFileWriter(fs, std::move(path)));
  auto f = fs->OpenWritable(w->path_, true);
  if (!f.ok()) return f.status();
  w->file_ = std::move(*f);
  std::string meta_bytes = EncodeMeta(meta);
  std::string header;
  PutU32(&header, kSnapMagic);
  PutU32(&header, kSnapVersion);
  PutU32(&header, static_cast<uint32_t>(meta_bytes.size()));
  header += meta_bytes;
  RAFTKV_RETURN_IF_ERROR(w->write(header));
  return w;
}

SnapshotFileWriter::~SnapshotFileWriter() {
  if (finished_) return;
  if (file_) (void)file_->Close();
  (void)fs_->Remove(path_);
}

Status SnapshotFileWriter::write(std::string_view bytes) {
  RAFTKV_RETURN_IF_ERROR(file_->WriteAt(offset_, bytes));
  crc_ = crc32c::Extend(crc_, bytes.data(), bytes.size());
  offset_ += bytes.size();
  return Status::OK();
}

Status SnapshotFileWriter::Append(std::string_view chunk) {
  if (finished_) return Status::FailedPrecondition("snapshot file already finished: " + path_);
  RAFTKV_RETURN_IF_ERROR(write(chunk));
  data_len_ += chunk.size();
  return Status::OK();
}

Status SnapshotFileWriter::Finish() {
  std::string trailer;
  PutU64(&trailer, data_len_);
  RAFTKV_RETURN_IF_ERROR(write(trailer));
  std::string crc;
  PutU32(&crc, crc_);
  RAFTKV_RETURN_IF_ERROR(file_->WriteAt(offset_, crc));
  RAFTKV_RETURN_IF_ERROR(file_->Sync());
  RAFTKV_RETURN_IF_ERROR(file_->Close());
  finished_ = true;
  return Status::OK();
}

// --- reader ---

Result<std::unique_ptr<SnapshotFileReader>> SnapshotFileReader::Open(FileSystem* fs,
                                                                     const std::string& path) {
  std::unique_ptr<SnapshotFileReader> r(new SnapshotFileReader(path));
  auto file = fs->OpenReadable(path);
  if (!file.ok()) return file.status();
  r->file_ = std::move(*file);
  r->size_ = r->file_->size();
  RAFTKV_RETURN_IF_ERROR(r->parse());
  return r;
}

SnapshotFileReader::~SnapshotFileReader() = default;

Status SnapshotFileReader::corrupt(uint64_t offset, const std::string& what) const {
  return Status::Corruption("snapshot file " + path_ + " at offset " + std::to_string(offset) +
                            ": " + what);
}

Status SnapshotFileReader::readAt(uint64_t offset, size_t n, std::string* out) {
  if (offset > size_ || n > size_ - offset) {
    return corrupt(offset, "needs " + std::to_string(n) + " bytes but the file has " +
                               std::to_string(size_) + " (truncated)");
  }
  return file_->ReadAt(offset, n, out);
}

Status SnapshotFileReader::readRange(uint64_t offset, uint64_t n, size_t chunk,
                                     const std::function<Status(std::string_view)>& sink) {
  chunk = std::max<size_t>(chunk, 1);
  std::string buf;
  for (uint64_t done = 0; done < n;) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(chunk, n - done));
    RAFTKV_RETURN_IF_ERROR(readAt(offset + done, len, &buf));
    RAFTKV_RETURN_IF_ERROR(sink(buf));
    done += len;
  }
  return Status::OK();
}

Status SnapshotFileReader::parse() {
  std::string head;
  if (size_ < kV2HeaderSize)
    return corrupt(0, "too short for a header (" + std::to_string(size_) + " bytes)");
  RAFTKV_RETURN_IF_ERROR(readAt(0, kV1HeaderSize <= size_ ? kV1HeaderSize : kV2HeaderSize, &head));
  if (DecodeU32(head.data()) != kSnapMagic) return corrupt(0, "bad magic");
  uint32_t version = DecodeU32(head.data() + 4);
  uint32_t meta_len = DecodeU32(head.data() + 8);
  if (meta_len > kMaxMetaLen) return corrupt(8, "metadata length " + std::to_string(meta_len));
  uint64_t meta_offset = 0, body = 0;
  if (version == kSnapVersion) {
    if (size_ < kV2HeaderSize + meta_len + kV2TrailerSize) {
      return corrupt(size_, "truncated: shorter than header, metadata and trailer");
    }
    std::string tail;
    RAFTKV_RETURN_IF_ERROR(readAt(size_ - kV2TrailerSize, 8, &tail));
    data_len_ = DecodeU64(tail.data());
    meta_offset = kV2HeaderSize;
    body = size_ - 4;
    if (uint64_t{kV2HeaderSize} + meta_len + data_len_ + kV2TrailerSize != size_) {
      return corrupt(size_ - kV2TrailerSize, "image length " + std::to_string(data_len_) +
                                                 " does not match the file size " +
                                                 std::to_string(size_) + " (truncated or torn)");
    }
  } else if (version == kSnapVersion1) {
    if (head.size() < kV1HeaderSize) return corrupt(0, "truncated version 1 header");
    data_len_ = DecodeU64(head.data() + 12);
    meta_offset = kV1HeaderSize;
    body = size_ - 4;
    if (size_ < kV1HeaderSize + 4 || uint64_t{kV1HeaderSize} + meta_len + data_len_ + 4 != size_) {
      return corrupt(12, "lengths do not match the file size " + std::to_string(size_) +
                             " (truncated or torn)");
    }
  } else {
    return corrupt(4, "unknown format version " + std::to_string(version) +
                          " (this build reads versions 1 and 2)");
  }
  data_offset_ = meta_offset + meta_len;
  // One pass over the whole file for the checksum, before anything is used.
  uint32_t crc = 0;
  RAFTKV_RETURN_IF_ERROR(readRange(0, body, kSnapshotChunkBytes, [&](std::string_view c) {
    crc = crc32c::Extend(crc, c.data(), c.size());
    return Status::OK();
  }));
  std::string stored;
  RAFTKV_RETURN_IF_ERROR(readAt(body, 4, &stored));
  if (DecodeU32(stored.data()) != crc) return corrupt(body, "checksum mismatch");
  std::string meta;
  RAFTKV_RETURN_IF_ERROR(readAt(meta_offset, meta_len, &meta));
  if (!DecodeMeta(meta, &meta_)) return corrupt(meta_offset, "bad metadata");
  return Status::OK();
}

Status SnapshotFileReader::ReadData(const std::function<Status(std::string_view)>& sink,
                                    size_t chunk) {
  return readRange(data_offset_, data_len_, chunk, sink);
}

Status SnapshotFileReader::ReadFile(const std::function<Status(std::string_view)>& sink,
                                    size_t chunk) {
  return readRange(0, size_, chunk, sink);
}

Result<raft::Snapshot> ReadSnapshotFile(FileSystem* fs, const std::string& path) {
  auto r = SnapshotFileReader::Open(fs, path);
  if (!r.ok()) return r.status();
  raft::Snapshot snap;
  snap.meta = (*r)->meta();
  snap.data.reserve((*r)->data_len());
  RAFTKV_RETURN_IF_ERROR((*r)->ReadData([&](std::string_view c) {
    snap.data.append(c);
    return Status::OK();
  }));
  return snap;
}

// --- store ---

SnapshotStore::SnapshotStore(FileSystem* fs, std::string dir, int keep)
    : fs_(fs), dir_(std::move(dir)), keep_(std::max(keep, 1)) {}

std::string SnapshotStore::PathOf(const raft::SnapshotMeta& meta) const {
  return JoinPath(dir_, SnapshotFileName(meta));
}

std::string SnapshotStore::TempPath(const raft::SnapshotMeta& meta, const std::string& tag) const {
  static std::atomic<uint64_t> seq{0};
  return JoinPath(dir_, SnapshotFileName(meta) + "." + tag + std::to_string(seq++) + ".tmp");
}

Status SnapshotStore::Save(const raft::Snapshot& snap) {
  std::string tmp = JoinPath(dir_, SnapshotFileName(snap.meta) + ".tmp");
  auto w = SnapshotFileWriter::Create(fs_, tmp, snap.meta);
  if (!w.ok()) return w.status();
  std::string_view data = snap.data;
  for (size_t off = 0; off < data.size(); off += kSnapshotChunkBytes) {
    RAFTKV_RETURN_IF_ERROR((*w)->Append(data.substr(off, kSnapshotChunkBytes)));
  }
  RAFTKV_RETURN_IF_ERROR((*w)->Finish());
  RAFTKV_RETURN_IF_ERROR(fs_->Rename(tmp, PathOf(snap.meta)));
  return fs_->SyncDir(dir_);
}

Status SnapshotStore::Adopt(const std::string& path, const raft::SnapshotMeta& meta) {
  auto r = SnapshotFileReader::Open(fs_, path);
  if (!r.ok()) return r.status();
  const raft::SnapshotMeta& got = (*r)->meta();
  if (got.index != meta.index || got.term != meta.term) {
    return Status::InvalidArgument("snapshot file " + path + " holds index " +
                                   std::to_string(got.index) + " term " + std::to_string(got.term) +
                                   ", not " + std::to_string(meta.index) + "/" +
                                   std::to_string(meta.term));
  }
  std::string final_path = PathOf(meta);
  if (path != final_path) RAFTKV_RETURN_IF_ERROR(fs_->Rename(path, final_path));
  return fs_->SyncDir(dir_);
}

Result<std::vector<SnapshotStore::FileRef>> SnapshotStore::ListSorted() {
  auto names = fs_->List(dir_);
  if (!names.ok()) return names.status();
  std::vector<FileRef> files;
  for (const std::string& name : *names) {
    FileRef f{0, 0, name};
    if (ParseSnapshotFileName(name, &f.term, &f.index)) files.push_back(f);
  }
  std::sort(files.begin(), files.end(), [](const FileRef& a, const FileRef& b) {
    return a.index != b.index ? a.index < b.index : a.term < b.term;
  });
  return files;
}

// Received files (TempPath "recv") at or below the newest snapshot can no longer be
// installed (the core refuses a snapshot that is not newer than its commit index): a transfer
// the core dropped leaves one behind, removed here rather than only at the next open.
Status SnapshotStore::dropStaleReceived(raft::Index newest) {
  auto names = fs_->List(dir_);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    raft::Term term = 0;
    raft::Index index = 0;
    if (!name.ends_with(".tmp") || name.find(".snap.recv") == std::string::npos ||
        !ParseSnapshotFileName(name.substr(0, name.find(".snap.recv") + 5), &term, &index) ||
        index > newest) {
      continue;
    }
    RAFTKV_RETURN_IF_ERROR(fs_->Remove(JoinPath(dir_, name)));
  }
  return Status::OK();
}

Status SnapshotStore::Prune() {
  auto files = ListSorted();
  if (!files.ok()) return files.status();
  if (!files->empty()) RAFTKV_RETURN_IF_ERROR(dropStaleReceived(files->back().index));
  if (files->size() <= static_cast<size_t>(keep_)) return Status::OK();
  size_t drop = files->size() - keep_;
  for (size_t i = 0; i < drop; i++) {
    RAFTKV_RETURN_IF_ERROR(fs_->Remove(JoinPath(dir_, (*files)[i].name)));
  }
  return fs_->SyncDir(dir_);
}

Result<raft::Snapshot> SnapshotStore::LoadNewest(const WalView& wal, bool inline_data,
                                                 std::string* note) {
  auto names = fs_->List(dir_);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (name.starts_with("snap-") && name.ends_with(".tmp")) {
      RAFTKV_RETURN_IF_ERROR(fs_->Remove(JoinPath(dir_, name)));
    }
  }
  auto files = ListSorted();
  if (!files.ok()) return files.status();
  for (auto it = files->rbegin(); it != files->rend(); ++it) {
    std::string path = JoinPath(dir_, it->name);
    std::optional<raft::Term> wal_term = wal.term_at ? wal.term_at(it->index) : std::nullopt;
    if (it->index > wal.last_index || (wal_term && *wal_term != it->term)) {
      RAFTKV_RETURN_IF_ERROR(fs_->Remove(path));
      RAFTKV_RETURN_IF_ERROR(fs_->SyncDir(dir_));
      continue;
    }
    Status s;
    auto r = SnapshotFileReader::Open(fs_, path);
    if (!r.ok()) {
      s = r.status();
    } else if ((*r)->meta().index != it->index || (*r)->meta().term != it->term) {
      s = Status::Corruption("snapshot metadata does not match its file name: " + path);
    }
    if (s.ok() && inline_data) {
      raft::Snapshot snap;
      snap.meta = (*r)->meta();
      snap.data.reserve((*r)->data_len());
      s = (*r)->ReadData([&](std::string_view c) {
        snap.data.append(c);
        return Status::OK();
      });
      if (s.ok()) return snap;
    } else if (s.ok()) {
      raft::Snapshot snap;
      snap.meta = (*r)->meta();
      snap.data = EncodeSnapshotFileRef(SnapshotFileRef{path, (*r)->data_len()});
      return snap;
    }
    if (s.code() == Status::Code::kIOError) return s;
    if (!note->empty()) *note += "; ";
    *note += "skipped invalid snapshot (" + s.message() + ")";
  }
  return raft::Snapshot{};
}

}  // namespace raftkv::storage
