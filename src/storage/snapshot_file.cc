#include "storage/snapshot_file.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "storage/crc32c.h"
#include "storage/wal_format.h"

namespace raftkv::storage {

using wal_format::ParseHex16;
using wal_format::Reader;

namespace {

constexpr uint32_t kSnapMagic = 0x504e534bu;  // "KSNP" little-endian
constexpr uint32_t kSnapVersion = 1;
constexpr size_t kSnapHeaderSize = 4 + 4 + 4 + 8;
constexpr size_t kSnapTrailerSize = 4;
constexpr size_t kMaxConfIds = 1 << 16;

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

std::string EncodeSnapshotFile(const raft::Snapshot& snap) {
  std::string meta;
  PutU64(&meta, snap.meta.index);
  PutU64(&meta, snap.meta.term);
  PutIds(&meta, snap.meta.conf.voters);
  PutIds(&meta, snap.meta.conf.voters_outgoing);
  PutIds(&meta, snap.meta.conf.learners);
  PutIds(&meta, snap.meta.conf.learners_next);
  meta.push_back(snap.meta.conf.auto_leave ? 1 : 0);

  std::string out;
  out.reserve(kSnapHeaderSize + meta.size() + snap.data.size() + kSnapTrailerSize);
  PutU32(&out, kSnapMagic);
  PutU32(&out, kSnapVersion);
  PutU32(&out, static_cast<uint32_t>(meta.size()));
  PutU64(&out, snap.data.size());
  out += meta;
  out += snap.data;
  PutU32(&out, crc32c::Value(out.data(), out.size()));
  return out;
}

Result<raft::Snapshot> DecodeSnapshotFile(std::string_view content, const std::string& where) {
  if (content.size() < kSnapHeaderSize + kSnapTrailerSize) {
    return Status::Corruption("snapshot file too short: " + where);
  }
  size_t body = content.size() - kSnapTrailerSize;
  if (DecodeU32(content.data() + body) != crc32c::Value(content.data(), body)) {
    return Status::Corruption("snapshot checksum mismatch: " + where);
  }
  Reader r(content.substr(0, body));
  if (r.U32() != kSnapMagic) return Status::Corruption("bad snapshot magic: " + where);
  if (r.U32() != kSnapVersion) return Status::Corruption("unsupported snapshot version: " + where);
  uint32_t meta_len = r.U32();
  uint64_t data_len = r.U64();
  if (uint64_t{meta_len} + data_len + kSnapHeaderSize != body) {
    return Status::Corruption("snapshot lengths do not match the file size: " + where);
  }
  Reader m(r.Bytes(meta_len));
  raft::Snapshot snap;
  snap.meta.index = m.U64();
  snap.meta.term = m.U64();
  bool ok = GetIds(&m, &snap.meta.conf.voters) && GetIds(&m, &snap.meta.conf.voters_outgoing) &&
            GetIds(&m, &snap.meta.conf.learners) && GetIds(&m, &snap.meta.conf.learners_next);
  snap.meta.conf.auto_leave = m.U8() == 1;
  if (!ok || !m.ok() || !m.done()) return Status::Corruption("bad snapshot metadata: " + where);
  snap.data = std::string(r.Bytes(data_len));
  return snap;
}

SnapshotStore::SnapshotStore(FileSystem* fs, std::string dir, int keep)
    : fs_(fs), dir_(std::move(dir)), keep_(std::max(keep, 1)) {}

Status SnapshotStore::Save(const raft::Snapshot& snap) {
  std::string name = SnapshotFileName(snap.meta);
  std::string tmp = JoinPath(dir_, name + ".tmp");
  auto f = fs_->OpenWritable(tmp, true);
  if (!f.ok()) return f.status();
  RAFTKV_RETURN_IF_ERROR((*f)->WriteAt(0, EncodeSnapshotFile(snap)));
  RAFTKV_RETURN_IF_ERROR((*f)->Sync());
  RAFTKV_RETURN_IF_ERROR((*f)->Close());
  RAFTKV_RETURN_IF_ERROR(fs_->Rename(tmp, JoinPath(dir_, name)));
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

Status SnapshotStore::Prune() {
  auto files = ListSorted();
  if (!files.ok()) return files.status();
  if (files->size() <= static_cast<size_t>(keep_)) return Status::OK();
  size_t drop = files->size() - keep_;
  for (size_t i = 0; i < drop; i++) {
    RAFTKV_RETURN_IF_ERROR(fs_->Remove(JoinPath(dir_, (*files)[i].name)));
  }
  return fs_->SyncDir(dir_);
}

Result<raft::Snapshot> SnapshotStore::LoadNewest(raft::Index max_index, std::string* note) {
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
    if (it->index > max_index) {
      RAFTKV_RETURN_IF_ERROR(fs_->Remove(path));
      RAFTKV_RETURN_IF_ERROR(fs_->SyncDir(dir_));
      continue;
    }
    auto content = fs_->ReadAll(path);
    if (!content.ok()) return content.status();
    auto snap = DecodeSnapshotFile(*content, path);
    if (snap.ok() && (snap->meta.index != it->index || snap->meta.term != it->term)) {
      snap = Status::Corruption("snapshot metadata does not match its file name: " + path);
    }
    if (snap.ok()) return snap;
    if (!note->empty()) *note += "; ";
    *note += "skipped invalid snapshot (" + snap.status().message() + ")";
  }
  return raft::Snapshot{};
}

}  // namespace raftkv::storage
