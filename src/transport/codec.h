// Conversion between the core's raft::Message and its wire form (raftkvpb::Message).
// Decoding validates what protobuf cannot: enum values the core does not know (a newer or
// broken peer) are refused with an error, never passed on.
#pragma once

#include "common/status.h"
#include "raft/types.h"
#include "raftkvpb/raft.pb.h"

namespace raftkv::transport {

void EncodeMessage(const raft::Message& msg, raftkvpb::Message* out);
Result<raft::Message> DecodeMessage(const raftkvpb::Message& in);

// Snapshot metadata alone (the snapshot stream sends the image separately).
void EncodeSnapshotMeta(const raft::SnapshotMeta& meta, raftkvpb::SnapshotMeta* out);
raft::SnapshotMeta DecodeSnapshotMeta(const raftkvpb::SnapshotMeta& in);

// Message types that travel between members. The local ones (Hup, Beat, CheckQuorum,
// Unreachable, SnapshotStatus) are generated inside a node and are refused on the wire.
bool IsNetworkMessage(raft::MessageType type);

}  // namespace raftkv::transport
