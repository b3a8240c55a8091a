#include "transport/peer_service.h"

#include <spdlog/spdlog.h>

#include <string>

#include "storage/crc32c.h"
#include "transport/codec.h"

namespace raftkv::transport {
namespace {

// Memory reserved up front for a snapshot image; larger images grow as chunks arrive, so
// a bogus total_size cannot make us allocate much before any data came.
constexpr uint64_t kMaxSnapshotReserve = 64 << 20;

// Member and cluster ids are shown in hex, as etcd and the server's logs do.
std::string Hex(uint64_t v) {
  return fmt::format("{:x}", v);
}

}  // namespace

PeerService::PeerService(const Options& options, Handler* handler, StatsTable* stats,
                         std::function<bool(raft::NodeId)> is_known_peer)
    : options_(options),
      handler_(handler),
      stats_(stats),
      is_known_peer_(std::move(is_known_peer)) {}

grpc::Status PeerService::Reject(grpc::StatusCode code, const std::string& peer_address,
                                 const std::string& why) const {
  spdlog::warn("transport {:x}: rejected stream from {}: {}", options_.self, peer_address, why);
  return grpc::Status(code, why);
}

grpc::Status PeerService::CheckHeader(const raftkvpb::StreamHeader& h,
                                      const std::string& peer_address) {
  if (h.cluster_id() != options_.cluster_id) {
    return Reject(grpc::StatusCode::FAILED_PRECONDITION, peer_address,
                  "cluster id mismatch: peer has " + Hex(h.cluster_id()) + ", this member has " +
                      Hex(options_.cluster_id));
  }
  if (h.to() != options_.self) {
    return Reject(grpc::StatusCode::FAILED_PRECONDITION, peer_address,
                  "stream for member " + Hex(h.to()) + " reached member " + Hex(options_.self));
  }
  if (h.from() == raft::kNoNode || !is_known_peer_(h.from())) {
    return Reject(grpc::StatusCode::PERMISSION_DENIED, peer_address,
                  "unknown sender member " + Hex(h.from()));
  }
  return grpc::Status::OK;
}

Result<raft::Message> PeerService::DecodeFrom(raft::NodeId from,
                                              const raftkvpb::Message& pm) const {
  auto msg = DecodeMessage(pm);
  if (!msg.ok()) return msg.status();
  if (!IsNetworkMessage(msg->type)) {
    return Status::InvalidArgument(std::string("local message type ") +
                                   raft::MessageTypeName(msg->type) + " on the wire");
  }
  if (msg->from != from) {
    return Status::InvalidArgument("message from " + Hex(msg->from) + " on the stream of member " +
                                   Hex(from));
  }
  if (msg->to != options_.self) {
    return Status::InvalidArgument("message for member " + Hex(msg->to) + " reached member " +
                                   Hex(options_.self));
  }
  return msg;
}

// One inbound message stream: header, then frames until the sender leaves or a frame is
// refused. Runs on gRPC's callback threads; deletes itself when gRPC is done with it. The
// next frame is read only after this one was handed over, so frames are delivered in the
// order they were sent.
class PeerService::InboundStream final
    : public grpc::ServerBidiReactor<raftkvpb::MessageBatch, raftkvpb::StreamAccept> {
 public:
  InboundStream(PeerService* service, grpc::CallbackServerContext* ctx)
      : service_(service), peer_address_(ctx->peer()) {
    StartRead(&batch_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      if (from_ == raft::kNoNode) {
        // Our own senders always start with a header; this is a client that left at once
        // or sent a frame that does not parse.
        Finish(service_->Reject(grpc::StatusCode::INVALID_ARGUMENT, peer_address_,
                                "no readable header"));
      } else {
        spdlog::info("transport {:x}: inbound stream from peer {:x} closed",
                     service_->options_.self, from_);
        Finish(grpc::Status::OK);
      }
      return;
    }
    if (from_ == raft::kNoNode) {
      grpc::Status st = service_->CheckHeader(batch_.header(), peer_address_);
      if (!st.ok()) return Finish(st);
      from_ = batch_.header().from();
      // Before the sender is told to go on: from now on its older streams deliver nothing.
      turn_ = service_->TakeOver(from_);
      accept_.set_member_id(service_->options_.self);
      StartWrite(&accept_);
      return;
    }
    DeliverAndReadNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "peer left"));
    spdlog::info("transport {:x}: inbound stream from peer {:x} ({}) opened",
                 service_->options_.self, from_, peer_address_);
    // The header frame may carry messages too (ours do not); they go first.
    DeliverAndReadNext();
  }

  void OnDone() override { delete this; }

 private:
  void DeliverAndReadNext() {
    grpc::Status st = service_->Deliver(from_, turn_, batch_, peer_address_);
    if (!st.ok()) return Finish(st);
    StartRead(&batch_);
  }

  PeerService* const service_;
  const std::string peer_address_;
  raft::NodeId from_ = raft::kNoNode;  // set once the header is accepted
  SenderTurn turn_;                    // set with from_
  raftkvpb::MessageBatch batch_;       // reused for every frame of the stream
  raftkvpb::StreamAccept accept_;
};

grpc::ServerBidiReactor<raftkvpb::MessageBatch, raftkvpb::StreamAccept>* PeerService::Stream(
    grpc::CallbackServerContext* ctx) {
  return new InboundStream(this, ctx);
}

PeerService::SenderTurn PeerService::TakeOver(raft::NodeId from) {
  std::shared_ptr<SenderSlot> slot;
  {
    std::lock_guard lock(slots_mu_);
    auto& s = slots_[from];
    if (!s) s = std::make_shared<SenderSlot>();
    slot = s;
  }
  // Waits for a frame of the older stream that is being delivered right now.
  std::lock_guard lock(slot->mu);
  return SenderTurn{slot, ++slot->stream};
}

grpc::Status PeerService::Deliver(raft::NodeId from, const SenderTurn& turn,
                                  const raftkvpb::MessageBatch& batch,
                                  const std::string& peer_address) {
  if (stopping_.load()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stopping");
  if (!is_known_peer_(from)) {
    return Reject(grpc::StatusCode::PERMISSION_DENIED, peer_address,
                  "member " + Hex(from) + " was removed");
  }
  // One frame of a sender at a time, and only from its newest stream: frames still in
  // flight on a stream the sender gave up on are dropped (Raft tolerates loss), never
  // delivered after messages it sent later on the new one.
  std::lock_guard lock(turn.slot->mu);
  if (turn.slot->stream != turn.stream) {
    spdlog::info("transport {:x}: inbound stream from peer {:x} ({}) superseded by a newer one",
                 options_.self, from, peer_address);
    return grpc::Status(grpc::StatusCode::ABORTED, "superseded by a newer stream");
  }
  // Validate the whole batch before delivering any of it.
  std::vector<raft::Message> msgs;
  msgs.reserve(batch.messages_size());
  for (const raftkvpb::Message& pm : batch.messages()) {
    auto msg = DecodeFrom(from, pm);
    if (msg.ok() && msg->type == raft::MessageType::kSnapshot) {
      msg = Status::InvalidArgument("snapshot on the message stream");
    }
    if (!msg.ok()) {
      return Reject(grpc::StatusCode::INVALID_ARGUMENT, peer_address,
                    "member " + Hex(from) + ": " + msg.status().ToString());
    }
    msgs.push_back(std::move(*msg));
  }
  if (!msgs.empty()) stats_->AddReceived(from, msgs.size(), batch.ByteSizeLong());
  for (raft::Message& m : msgs) handler_->OnMessage(std::move(m));
  return grpc::Status::OK;
}

grpc::Status PeerService::SendSnapshot(grpc::ServerContext* ctx,
                                       grpc::ServerReader<raftkvpb::SnapshotChunk>* reader,
                                       raftkvpb::SnapshotAck* ack) {
  const std::string peer_address = ctx->peer();
  raftkvpb::SnapshotChunk first;
  if (!reader->Read(&first)) {
    return Reject(grpc::StatusCode::INVALID_ARGUMENT, peer_address, "no readable header");
  }
  grpc::Status st = CheckHeader(first.header(), peer_address);
  if (!st.ok()) return st;
  const raft::NodeId from = first.header().from();
  auto msg = DecodeFrom(from, first.message());
  if (msg.ok() && msg->type != raft::MessageType::kSnapshot) {
    msg = Status::InvalidArgument(std::string("snapshot stream carries a ") +
                                  raft::MessageTypeName(msg->type) + " message");
  }
  if (!msg.ok()) {
    return Reject(grpc::StatusCode::INVALID_ARGUMENT, peer_address,
                  "member " + Hex(from) + ": " + msg.status().ToString());
  }
  uint64_t size = 0;
  st = ReceiveSnapshotBody(from, peer_address, reader, std::move(first), &*msg, &size);
  if (!st.ok()) return st;
  if (stopping_.load()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stopping");
  spdlog::info("transport {:x}: received snapshot at index {} ({} bytes) from peer {:x}",
               options_.self, msg->snapshot->meta.index, size, from);
  stats_->AddReceived(from, 1, 0);
  handler_->OnMessage(std::move(*msg));
  ack->set_received_bytes(size);
  return grpc::Status::OK;
}

// Receives the image chunk by chunk into the Handler's file (fsynced once complete; the
// message then carries the file's descriptor) or, without one, into memory. Whole or
// nothing: on any failure the writer is dropped, which removes its file.
grpc::Status PeerService::ReceiveSnapshotBody(raft::NodeId from, const std::string& peer_address,
                                              grpc::ServerReader<raftkvpb::SnapshotChunk>* reader,
                                              raftkvpb::SnapshotChunk chunk, raft::Message* msg,
                                              uint64_t* size) {
  const uint64_t total = chunk.total_size();
  auto file = handler_->NewSnapshotFile(msg->snapshot->meta);
  if (!file.ok()) {
    spdlog::error("transport {:x}: cannot create a file for a snapshot from peer {:x}: {}",
                  options_.self, from, file.status().ToString());
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "cannot store the snapshot");
  }
  std::unique_ptr<storage::SnapshotFileWriter> writer = std::move(*file);
  std::string image;
  if (!writer) image.reserve(std::min(total, kMaxSnapshotReserve));
  uint64_t received = 0;
  uint32_t crc = 0;
  while (true) {
    if (stopping_.load()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stopping");
    if (chunk.offset() != received || chunk.data().size() > total - received) {
      return Reject(grpc::StatusCode::INVALID_ARGUMENT, peer_address,
                    "member " + Hex(from) + ": snapshot chunk at offset " +
                        std::to_string(chunk.offset()) + " (" +
                        std::to_string(chunk.data().size()) + " bytes) does not follow " +
                        std::to_string(received) + " of " + std::to_string(total) + " bytes");
    }
    crc = storage::crc32c::Extend(crc, chunk.data().data(), chunk.data().size());
    if (writer) {
      Status s = writer->Append(chunk.data());
      if (!s.ok()) {
        spdlog::error("transport {:x}: writing a snapshot from peer {:x}: {}", options_.self, from,
                      s.ToString());
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "cannot store the snapshot");
      }
    } else {
      image.append(chunk.data());
    }
    received += chunk.data().size();
    stats_->AddReceived(from, 0, chunk.ByteSizeLong());
    if (chunk.last()) break;
    if (!reader->Read(&chunk)) {
      spdlog::warn(
          "transport {:x}: snapshot from peer {:x} interrupted at {} of {} bytes; discarded",
          options_.self, from, received, total);
      return grpc::Status(grpc::StatusCode::ABORTED, "snapshot stream interrupted");
    }
  }
  if (received != total) {
    return Reject(grpc::StatusCode::DATA_LOSS, peer_address,
                  "member " + Hex(from) + ": snapshot ended at " + std::to_string(received) +
                      " of " + std::to_string(total) + " bytes");
  }
  if (crc != chunk.crc32c()) {
    return Reject(grpc::StatusCode::DATA_LOSS, peer_address,
                  "member " + Hex(from) + ": snapshot checksum mismatch");
  }
  *size = received;
  if (!writer) {
    msg->snapshot->data = std::move(image);
    return grpc::Status::OK;
  }
  Status s = writer->Finish();
  if (!s.ok()) {
    spdlog::error("transport {:x}: syncing a snapshot from peer {:x}: {}", options_.self, from,
                  s.ToString());
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "cannot store the snapshot");
  }
  msg->snapshot->data = storage::EncodeSnapshotFileRef({writer->path(), writer->data_len()});
  return grpc::Status::OK;
}

}  // namespace raftkv::transport
