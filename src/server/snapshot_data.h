// The application part of a raft snapshot (raft::Snapshot::data):
//   magic "RKSD" | u32 version 1 | bytes member table (raftkvpb.MemberTable) | kv image
// where the kv image is kv::SnapshotView's format (it carries its own checksum) and runs to
// the end. The member table travels with the store so that member names and URLs survive
// both a restart from a snapshot and a snapshot sent to a lagging or new member.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "raftkvpb/internal.pb.h"

namespace raftkv::server {

std::string EncodeSnapshotHeader(const raftkvpb::MemberTable& members);

struct SnapshotParts {
  raftkvpb::MemberTable members;
  std::string_view kv;  // points into the decoded buffer
};
Result<SnapshotParts> DecodeSnapshotData(std::string_view data);

}  // namespace raftkv::server
