#include "raft/types.h"

namespace raftkv::raft {

const char* MessageTypeName(MessageType t) {
  switch (t) {
    case MessageType::kHup: return "Hup";
    case MessageType::kBeat: return "Beat";
    case MessageType::kPropose: return "Propose";
    case MessageType::kCheckQuorum: return "CheckQuorum";
    case MessageType::kAppend: return "Append";
    case MessageType::kAppendResponse: return "AppendResponse";
    case MessageType::kVote: return "Vote";
    case MessageType::kVoteResponse: return "VoteResponse";
    case MessageType::kPreVote: return "PreVote";
    case MessageType::kPreVoteResponse: return "PreVoteResponse";
    case MessageType::kSnapshot: return "Snapshot";
    case MessageType::kHeartbeat: return "Heartbeat";
    case MessageType::kHeartbeatResponse: return "HeartbeatResponse";
    case MessageType::kReadIndex: return "ReadIndex";
    case MessageType::kReadIndexResponse: return "ReadIndexResponse";
    case MessageType::kTimeoutNow: return "TimeoutNow";
    case MessageType::kTransferLeader: return "TransferLeader";
    case MessageType::kUnreachable: return "Unreachable";
    case MessageType::kSnapshotStatus: return "SnapshotStatus";
  }
  return "Unknown";
}

const char* RoleName(Role r) {
  switch (r) {
    case Role::kFollower: return "Follower";
    case Role::kPreCandidate: return "PreCandidate";
    case Role::kCandidate: return "Candidate";
    case Role::kLeader: return "Leader";
  }
  return "Unknown";
}

}  // namespace raftkv::raft
