#include "server/snapshot_data.h"

#include "common/coding.h"

namespace raftkv::server {
namespace {
constexpr char kMagic[] = "RKSD";
constexpr uint32_t kVersion = 1;
// A member table far larger than any cluster's is a damaged length, not a big header.
constexpr uint32_t kMaxMembersBytes = 16 << 20;
}  // namespace

std::string EncodeSnapshotHeader(const raftkvpb::MemberTable& members) {
  std::string out(kMagic, 4);
  PutU32(&out, kVersion);
  PutBytes(&out, members.SerializeAsString());
  return out;
}

Result<SnapshotParts> DecodeSnapshotData(std::string_view data) {
  if (data.size() < 8 || data.substr(0, 4) != std::string_view(kMagic, 4)) {
    return Status::Corruption("server snapshot: bad magic");
  }
  Decoder d(data.substr(4));
  uint32_t version = 0;
  std::string members;
  if (!d.GetU32(&version) || version != kVersion) {
    return Status::Corruption("server snapshot: unknown version");
  }
  if (!d.GetBytes(&members)) return Status::Corruption("server snapshot: truncated members");
  SnapshotParts p;
  if (!p.members.ParseFromString(members)) {
    return Status::Corruption("server snapshot: bad member table");
  }
  p.kv = data.substr(data.size() - d.remaining());
  return p;
}

// Parses the header once it is whole; what follows it goes to the kv loader.
Status SnapshotDataLoader::parseHeader() {
  if (header_.size() >= 4 && header_.compare(0, 4, kMagic, 4) != 0) {
    return Status::Corruption("server snapshot: bad magic");
  }
  if (header_.size() < 12) return Status::OK();
  uint32_t version = DecodeU32(header_.data() + 4);
  if (version != kVersion) {
    return Status::Corruption("server snapshot: unknown version " + std::to_string(version));
  }
  uint32_t len = DecodeU32(header_.data() + 8);
  if (len > kMaxMembersBytes) return Status::Corruption("server snapshot: bad member table size");
  if (header_.size() < 12 + size_t{len}) return Status::OK();
  if (!members_.ParseFromArray(header_.data() + 12, static_cast<int>(len))) {
    return Status::Corruption("server snapshot: bad member table");
  }
  header_done_ = true;
  std::string rest = header_.substr(12 + len);
  header_.clear();
  header_.shrink_to_fit();
  return rest.empty() ? Status::OK() : kv_.Add(rest);
}

Status SnapshotDataLoader::Add(std::string_view chunk) {
  if (header_done_) return kv_.Add(chunk);
  header_.append(chunk);
  return parseHeader();
}

Status SnapshotDataLoader::Finish(raftkvpb::MemberTable* members,
                                  std::unique_ptr<kv::Store>* store) {
  if (!header_done_) return Status::Corruption("server snapshot: truncated header");
  auto s = kv_.Finish();
  if (!s.ok()) return s.status();
  *members = std::move(members_);
  *store = std::move(*s);
  return Status::OK();
}

}  // namespace raftkv::server
