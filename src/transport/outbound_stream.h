// The stream a PeerSender writes its batches to: the gRPC `Raft/Stream` call, or the framed
// TCP stream (frame.h). PeerSender keeps the queue, batching, backoff and reporting; a stream
// only opens, writes, keeps itself alive and ends.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "raft/types.h"
#include "raftkvpb/raft.grpc.pb.h"
#include "transport/frame.h"

namespace raftkv::transport {

class OutboundStream {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~OutboundStream() = default;

  // Sends the header and waits for the receiver to accept it as member `peer`.
  virtual Status Handshake(const raftkvpb::StreamHeader& header, raft::NodeId peer,
                           Clock::time_point deadline) = 0;
  // Sends one batch; *wire_bytes is what it took on the wire.
  virtual Status Write(const raftkvpb::MessageBatch& batch, uint64_t* wire_bytes) = 0;

  // Writing from the caller's thread (PeerSender's direct send), for streams that can write
  // without waiting. The caller guarantees that no other call (but Cancel) runs meanwhile.
  virtual bool direct_writes() const { return false; }
  // Writes `batch` without ever waiting: true when all of it went out, false when the socket
  // took only part of it (or none); the rest is kept and goes out first, before anything else,
  // on the next Flush, Write or Poll. An error means the stream is dead.
  virtual Result<bool> TryWrite(const raftkvpb::MessageBatch& batch, uint64_t* wire_bytes) {
    return Status::FailedPrecondition(std::string(kind()) + " stream has no direct writes");
  }
  // Writes (waiting as Write does) what an unfinished TryWrite left.
  virtual Status Flush() { return Status::OK(); }

  // Does the keepalive work due at `now` and takes in what the receiver sent; an error means
  // the stream is dead. Call it once NextPoll() has passed.
  virtual Status Poll(Clock::time_point now) { return Status::OK(); }
  virtual Clock::time_point NextPoll() const { return Clock::time_point::max(); }
  // Ends the stream from any thread (Stop, a new address): blocked calls return.
  virtual void Cancel() = 0;
  // Closes the stream once the pump is done with it; returns how the receiver ended it, for
  // the log ("" when there is nothing to add).
  virtual std::string Finish(bool cancel) = 0;
  virtual const char* kind() const = 0;
};

// The gRPC bidi stream on an already connected channel (HTTP/2 keepalive is the channel's).
class GrpcOutboundStream final : public OutboundStream {
 public:
  explicit GrpcOutboundStream(std::shared_ptr<grpc::Channel> channel);
  Status Handshake(const raftkvpb::StreamHeader& header, raft::NodeId peer,
                   Clock::time_point deadline) override;
  Status Write(const raftkvpb::MessageBatch& batch, uint64_t* wire_bytes) override;
  void Cancel() override { ctx_.TryCancel(); }
  std::string Finish(bool cancel) override;
  const char* kind() const override { return "gRPC"; }

 private:
  std::unique_ptr<raftkvpb::Raft::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<raftkvpb::MessageBatch, raftkvpb::StreamAccept>> stream_;
};

// The framed TCP stream. Keepalive: a kPing every keepalive_interval (at most one
// outstanding); no kPong within keepalive_timeout ends the stream. Writes that cannot go out
// for keepalive_interval + keepalive_timeout (SO_SNDTIMEO, TCP_USER_TIMEOUT) end it too.
class FramedOutboundStream final : public OutboundStream {
 public:
  FramedOutboundStream(int fd, std::chrono::milliseconds keepalive_interval,
                       std::chrono::milliseconds keepalive_timeout);
  // After a failed Handshake: whether the peer answered in something other than the framed
  // protocol (an older member's gRPC server), so the gRPC stream should be used instead.
  bool peer_not_framed() const { return peer_not_framed_; }
  Status Handshake(const raftkvpb::StreamHeader& header, raft::NodeId peer,
                   Clock::time_point deadline) override;
  Status Write(const raftkvpb::MessageBatch& batch, uint64_t* wire_bytes) override;
  bool direct_writes() const override { return true; }
  Result<bool> TryWrite(const raftkvpb::MessageBatch& batch, uint64_t* wire_bytes) override;
  Status Flush() override;
  Status Poll(Clock::time_point now) override;
  Clock::time_point NextPoll() const override;
  void Cancel() override { socket_.Shutdown(); }
  std::string Finish(bool cancel) override;
  const char* kind() const override { return "framed"; }

 private:
  FrameSocket socket_;
  const std::chrono::milliseconds interval_;
  const std::chrono::milliseconds timeout_;
  bool peer_not_framed_ = false;
  bool ping_outstanding_ = false;
  Clock::time_point last_ping_;
  // Serializes `batch` as one frame into out_ (which must hold nothing unsent).
  Status Encode(const raftkvpb::MessageBatch& batch, uint64_t* wire_bytes);

  std::string out_;      // the frame being written, reused
  size_t out_sent_ = 0;  // how much of out_ is on the wire; the rest goes out first
};

// Connects a TCP socket to `target` ("host:port", "[v6]:port") within `deadline`, asking
// `stopping` every few ms. NotFound when `target` is not of that form (gRPC's other target
// syntaxes: those peers stay on gRPC).
Result<int> ConnectTcp(const std::string& target, OutboundStream::Clock::time_point deadline,
                       const std::function<bool()>& stopping);

}  // namespace raftkv::transport
