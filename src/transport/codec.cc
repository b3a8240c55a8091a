#include "transport/codec.h"

#include <string>

namespace raftkv::transport {
namespace {

// The core's enums and the proto's enums share their numbers; this lists the valid ones.
bool KnownMessageType(int v) {
  if (v < 0 || v > 255) return false;  // the core's enum is one byte
  switch (static_cast<raft::MessageType>(v)) {
    case raft::MessageType::kHup:
    case raft::MessageType::kBeat:
    case raft::MessageType::kPropose:
    case raft::MessageType::kCheckQuorum:
    case raft::MessageType::kAppend:
    case raft::MessageType::kAppendResponse:
    case raft::MessageType::kVote:
    case raft::MessageType::kVoteResponse:
    case raft::MessageType::kPreVote:
    case raft::MessageType::kPreVoteResponse:
    case raft::MessageType::kSnapshot:
    case raft::MessageType::kHeartbeat:
    case raft::MessageType::kHeartbeatResponse:
    case raft::MessageType::kReadIndex:
    case raft::MessageType::kReadIndexResponse:
    case raft::MessageType::kTimeoutNow:
    case raft::MessageType::kTransferLeader:
    case raft::MessageType::kUnreachable:
    case raft::MessageType::kSnapshotStatus: return true;
  }
  return false;
}

bool KnownEntryType(int v) {
  return v == static_cast<int>(raft::EntryType::kNormal) ||
         v == static_cast<int>(raft::EntryType::kConfChange);
}

void EncodeIds(const std::vector<raft::NodeId>& ids,
               google::protobuf::RepeatedField<uint64_t>* out) {
  out->Reserve(static_cast<int>(ids.size()));
  for (raft::NodeId id : ids) out->Add(id);
}

std::vector<raft::NodeId> DecodeIds(const google::protobuf::RepeatedField<uint64_t>& in) {
  return {in.begin(), in.end()};
}

}  // namespace

bool IsNetworkMessage(raft::MessageType type) {
  switch (type) {
    case raft::MessageType::kHup:
    case raft::MessageType::kBeat:
    case raft::MessageType::kCheckQuorum:
    case raft::MessageType::kUnreachable:
    case raft::MessageType::kSnapshotStatus: return false;
    default: return true;
  }
}

void EncodeSnapshotMeta(const raft::SnapshotMeta& meta, raftkvpb::SnapshotMeta* out) {
  out->set_index(meta.index);
  out->set_term(meta.term);
  raftkvpb::ConfState* cs = out->mutable_conf();
  EncodeIds(meta.conf.voters, cs->mutable_voters());
  EncodeIds(meta.conf.voters_outgoing, cs->mutable_voters_outgoing());
  EncodeIds(meta.conf.learners, cs->mutable_learners());
  EncodeIds(meta.conf.learners_next, cs->mutable_learners_next());
  cs->set_auto_leave(meta.conf.auto_leave);
}

raft::SnapshotMeta DecodeSnapshotMeta(const raftkvpb::SnapshotMeta& in) {
  raft::SnapshotMeta meta;
  meta.index = in.index();
  meta.term = in.term();
  meta.conf.voters = DecodeIds(in.conf().voters());
  meta.conf.voters_outgoing = DecodeIds(in.conf().voters_outgoing());
  meta.conf.learners = DecodeIds(in.conf().learners());
  meta.conf.learners_next = DecodeIds(in.conf().learners_next());
  meta.conf.auto_leave = in.conf().auto_leave();
  return meta;
}

void EncodeMessage(const raft::Message& msg, raftkvpb::Message* out) {
  out->set_type(static_cast<raftkvpb::MessageType>(msg.type));
  out->set_from(msg.from);
  out->set_to(msg.to);
  out->set_term(msg.term);
  out->set_index(msg.index);
  out->set_log_term(msg.log_term);
  out->mutable_entries()->Reserve(static_cast<int>(msg.entries.size()));
  for (const raft::Entry& e : msg.entries) {
    raftkvpb::Entry* pe = out->add_entries();
    pe->set_term(e.term);
    pe->set_index(e.index);
    pe->set_type(static_cast<raftkvpb::EntryType>(e.type));
    pe->set_data(e.data);
  }
  out->set_commit(msg.commit);
  out->set_reject(msg.reject);
  out->set_reject_hint(msg.reject_hint);
  if (msg.snapshot) {
    EncodeSnapshotMeta(msg.snapshot->meta, out->mutable_snapshot()->mutable_meta());
    out->mutable_snapshot()->set_data(msg.snapshot->data);
  }
  out->set_context(msg.context);
}

Result<raft::Message> DecodeMessage(const raftkvpb::Message& in) {
  if (!KnownMessageType(in.type())) {
    return Status::Corruption("unknown message type " + std::to_string(in.type()));
  }
  raft::Message msg;
  msg.type = static_cast<raft::MessageType>(in.type());
  msg.from = in.from();
  msg.to = in.to();
  msg.term = in.term();
  msg.index = in.index();
  msg.log_term = in.log_term();
  msg.entries.reserve(in.entries_size());
  for (const raftkvpb::Entry& pe : in.entries()) {
    if (!KnownEntryType(pe.type())) {
      return Status::Corruption("unknown entry type " + std::to_string(pe.type()) + " at index " +
                                std::to_string(pe.index()));
    }
    raft::Entry& e = msg.entries.emplace_back();
    e.term = pe.term();
    e.index = pe.index();
    e.type = static_cast<raft::EntryType>(pe.type());
    e.data = pe.data();
  }
  msg.commit = in.commit();
  msg.reject = in.reject();
  msg.reject_hint = in.reject_hint();
  if (in.has_snapshot()) {
    msg.snapshot.emplace();
    msg.snapshot->meta = DecodeSnapshotMeta(in.snapshot().meta());
    msg.snapshot->data = in.snapshot().data();
  }
  if (msg.type == raft::MessageType::kSnapshot && !msg.snapshot) {
    return Status::Corruption("snapshot message without a snapshot");
  }
  msg.context = in.context();
  return msg;
}

}  // namespace raftkv::transport
