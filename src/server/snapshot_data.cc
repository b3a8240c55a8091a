#include "server/snapshot_data.h"

#include "common/coding.h"

namespace raftkv::server {
namespace {
constexpr char kMagic[] = "RKSD";
constexpr uint32_t kVersion = 2;  // 1: no extras
// A member table or extras far larger than any cluster's is a damaged length, not a big header.
constexpr uint32_t kMaxSectionBytes = 16 << 20;

Status UnknownVersion(uint32_t v) {
  return Status::Corruption("server snapshot: unknown version " + std::to_string(v));
}

// Parses the sections after magic and version from `d`.
Status DecodeSections(uint32_t version, Decoder* d, SnapshotParts* p) {
  std::string members, extras;
  if (!d->GetBytes(&members)) return Status::Corruption("server snapshot: truncated members");
  if (!p->members.ParseFromString(members)) {
    return Status::Corruption("server snapshot: bad member table");
  }
  if (version >= 2) {
    if (!d->GetBytes(&extras)) return Status::Corruption("server snapshot: truncated extras");
    if (!p->extras.ParseFromString(extras)) {
      return Status::Corruption("server snapshot: bad extras");
    }
  }
  return Status::OK();
}

// Whether `header` holds every section (their lengths checked as they are read).
Result<bool> HeaderComplete(std::string_view header) {
  uint32_t version = DecodeU32(header.data() + 4);
  size_t pos = 8;
  for (uint32_t i = 0; i < (version >= 2 ? 2u : 1u); i++) {
    if (header.size() < pos + 4) return false;
    uint32_t len = DecodeU32(header.data() + pos);
    if (len > kMaxSectionBytes) return Status::Corruption("server snapshot: bad section size");
    pos += 4 + size_t{len};
    if (header.size() < pos) return false;
  }
  return true;
}

}  // namespace

std::string EncodeSnapshotHeader(const raftkvpb::MemberTable& members,
                                 const raftkvpb::SnapshotExtras& extras) {
  std::string out(kMagic, 4);
  PutU32(&out, kVersion);
  PutBytes(&out, members.SerializeAsString());
  PutBytes(&out, extras.SerializeAsString());
  return out;
}

Result<SnapshotParts> DecodeSnapshotData(std::string_view data) {
  if (data.size() < 8 || data.substr(0, 4) != std::string_view(kMagic, 4)) {
    return Status::Corruption("server snapshot: bad magic");
  }
  Decoder d(data.substr(4));
  uint32_t version = 0;
  if (!d.GetU32(&version) || version < 1 || version > kVersion) return UnknownVersion(version);
  SnapshotParts p;
  RAFTKV_RETURN_IF_ERROR(DecodeSections(version, &d, &p));
  p.kv = data.substr(data.size() - d.remaining());
  return p;
}

// Parses the header once it is whole; what follows it goes to the kv loader.
Status SnapshotDataLoader::parseHeader() {
  if (header_.size() >= 4 && header_.compare(0, 4, kMagic, 4) != 0) {
    return Status::Corruption("server snapshot: bad magic");
  }
  if (header_.size() < 8) return Status::OK();
  uint32_t version = DecodeU32(header_.data() + 4);
  if (version < 1 || version > kVersion) return UnknownVersion(version);
  Result<bool> complete = HeaderComplete(header_);
  if (!complete.ok()) return complete.status();
  if (!*complete) return Status::OK();
  Decoder d(std::string_view(header_).substr(8));
  RAFTKV_RETURN_IF_ERROR(DecodeSections(version, &d, &parts_));
  header_done_ = true;
  std::string rest = header_.substr(header_.size() - d.remaining());
  header_.clear();
  header_.shrink_to_fit();
  return rest.empty() ? Status::OK() : kv_.Add(rest);
}

Status SnapshotDataLoader::Add(std::string_view chunk) {
  if (header_done_) return kv_.Add(chunk);
  header_.append(chunk);
  return parseHeader();
}

Status SnapshotDataLoader::Finish(SnapshotParts* parts, std::unique_ptr<kv::Store>* store) {
  if (!header_done_) return Status::Corruption("server snapshot: truncated header");
  auto s = kv_.Finish();
  if (!s.ok()) return s.status();
  parts->members = std::move(parts_.members);
  parts->extras = std::move(parts_.extras);
  *store = std::move(*s);
  return Status::OK();
}

}  // namespace raftkv::server
