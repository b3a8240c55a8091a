// The application part of a raft snapshot image:
//   magic "RKSD" | u32 version 2 | bytes member table (raftkvpb.MemberTable)
//                | bytes extras (raftkvpb.SnapshotExtras: the auth state, ...) | kv image
// where the kv image is kv::SnapshotView's format (it carries its own checksum) and runs to
// the end. The member table and the extras travel with the store so that member names and
// URLs, users, roles and permissions survive both a restart from a snapshot and a snapshot
// sent to a lagging or new member. Version 1 images (no extras) are still read: their extras
// are empty (auth disabled, no users).
//
// On the server the image lives in a snapshot file (storage/snapshot_file.h) and is written
// and read in chunks: SnapshotDataLoader rebuilds the store from the chunks as they are read,
// so the image is never held whole in memory.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "kv/snapshot.h"
#include "kv/store.h"
#include "raftkvpb/internal.pb.h"

namespace raftkv::server {

std::string EncodeSnapshotHeader(const raftkvpb::MemberTable& members,
                                 const raftkvpb::SnapshotExtras& extras);

struct SnapshotParts {
  raftkvpb::MemberTable members;
  raftkvpb::SnapshotExtras extras;
  std::string_view kv;  // points into the decoded buffer
};
Result<SnapshotParts> DecodeSnapshotData(std::string_view data);

// Rebuilds the member table and the store from an image fed in chunks (any boundaries).
class SnapshotDataLoader {
 public:
  explicit SnapshotDataLoader(int64_t max_txn_ops) : kv_(max_txn_ops) {}
  // An error is final.
  Status Add(std::string_view chunk);
  // Checks that the image was complete (the kv image's end tag and checksum).
  Status Finish(SnapshotParts* parts, std::unique_ptr<kv::Store>* store);

 private:
  Status parseHeader();

  std::string header_;  // the header until it is complete (it is small)
  bool header_done_ = false;
  SnapshotParts parts_;
  kv::SnapshotLoader kv_;
};

}  // namespace raftkv::server
