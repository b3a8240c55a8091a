#include "server/snapshot_data.h"

#include "common/coding.h"

namespace raftkv::server {
namespace {
constexpr char kMagic[] = "RKSD";
constexpr uint32_t kVersion = 1;
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

}  // namespace raftkv::server
