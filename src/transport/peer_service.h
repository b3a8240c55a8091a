// The receiving side: the raftkvpb.Raft gRPC service on the peer port. Each stream starts
// with a header naming the cluster and the sender; a wrong cluster id, a sender that is not
// a known peer, a message for another member or a frame that does not decode ends the
// stream with a gRPC error and a warning line. Snapshots are received into a file (or memory,
// see Handler::NewSnapshotFile), checked against their CRC32C, and only then handed to the
// Handler as one message.
//
// The message stream is served with gRPC's callback API (a ServerBidiReactor per inbound
// stream): a frame is decoded and handed to the Handler on the gRPC thread that read it, with
// no hop to a sync-server thread in between (that hop cost a wake-up per frame on every
// member). Snapshots keep the sync API: they write to disk, which must not block gRPC's
// callback threads.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "raftkvpb/raft.grpc.pb.h"
#include "transport/stats_table.h"
#include "transport/transport.h"

namespace raftkv::transport {

class PeerService final
    : public raftkvpb::Raft::WithCallbackMethod_Stream<raftkvpb::Raft::Service> {
 public:
  // `is_known_peer` says whether a member id was added with AddPeer (called per frame).
  PeerService(const Options& options, Handler* handler, StatsTable* stats,
              std::function<bool(raft::NodeId)> is_known_peer);

  // After this, nothing more is delivered to the Handler.
  void SetStopping() { stopping_.store(true); }

  grpc::ServerBidiReactor<raftkvpb::MessageBatch, raftkvpb::StreamAccept>* Stream(
      grpc::CallbackServerContext* ctx) override;
  grpc::Status SendSnapshot(grpc::ServerContext* ctx,
                            grpc::ServerReader<raftkvpb::SnapshotChunk>* reader,
                            raftkvpb::SnapshotAck* ack) override;

  // What the framed stream (peer_listener.h) shares with the gRPC one, so both check and
  // deliver alike.
  //
  // Checks a stream's header; on refusal logs a warning naming `peer_address`.
  grpc::Status CheckHeader(const raftkvpb::StreamHeader& h, const std::string& peer_address);
  // Decodes and validates one message from `from`.
  Result<raft::Message> DecodeFrom(raft::NodeId from, const raftkvpb::Message& pm) const;
  // Inbound message streams of one sender. A sender has one stream at a time, but after it
  // reconnects the receiver may still hold frames of the old one: `stream` names the newest
  // stream, the only one allowed to deliver, and `mu` is held while a frame is delivered,
  // so the messages of a sender reach the Handler in the order it sent them.
  struct SenderSlot {
    std::mutex mu;
    uint64_t stream = 0;  // guarded by mu
  };
  struct SenderTurn {
    std::shared_ptr<SenderSlot> slot;
    uint64_t stream = 0;
  };
  // Makes a newly accepted stream from `from` its newest; older ones deliver nothing more.
  SenderTurn TakeOver(raft::NodeId from);
  // Validates a whole frame from `from`, then hands its messages to the Handler in order,
  // unless a newer stream from that sender has taken over.
  grpc::Status Deliver(raft::NodeId from, const SenderTurn& turn,
                       const raftkvpb::MessageBatch& batch, const std::string& peer_address);
  // Logs the refusal of a stream from `peer_address` and returns it as a status.
  grpc::Status Reject(grpc::StatusCode code, const std::string& peer_address,
                      const std::string& why) const;

 private:
  class InboundStream;
  grpc::Status ReceiveSnapshotBody(raft::NodeId from, const std::string& peer_address,
                                   grpc::ServerReader<raftkvpb::SnapshotChunk>* reader,
                                   raftkvpb::SnapshotChunk first, raft::Message* msg,
                                   uint64_t* size);

  const Options options_;
  Handler* const handler_;
  StatsTable* const stats_;
  const std::function<bool(raft::NodeId)> is_known_peer_;
  std::atomic<bool> stopping_{false};
  std::mutex slots_mu_;
  std::map<raft::NodeId, std::shared_ptr<SenderSlot>> slots_;  // guarded by slots_mu_
};

}  // namespace raftkv::transport
