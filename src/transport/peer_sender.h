// The sending side for one peer: a bounded queue drained by a stream thread into batches on
// one long-lived stream (framed TCP, or gRPC's Raft/Stream for TLS peers and members that do
// not speak the framed protocol; see outbound_stream.h), and a snapshot thread that sends kSnapshot
// messages in chunks on their own connection (so a large image never delays heartbeats).
//
// Direct send (framed stream only, README.md "Direct send"): when the stream is open and idle
// (nothing queued, nothing being written), Send() writes the messages on the caller's thread
// without waiting (MSG_DONTWAIT), saving the stream thread's wake-up. A write the socket takes
// only in part is finished by the stream thread before anything else goes out; a failed one
// is handed to the stream thread, which ends the stream and reports it as for its own writes.
// Whoever writes (the stream thread or a caller) holds the `writing_` token, taken and given
// back under mu_ but held without it: the other side never waits for it, a caller queues
// instead, so the raft thread never blocks on the network.
//
// Failures are reported to the Handler from these threads, never under a lock:
//  - the stream could not be opened or broke: OnUnreachable(peer), queued messages dropped,
//    reconnect after a backoff that doubles from min_backoff up to max_backoff;
//  - a snapshot finished: OnSnapshotSent(peer, ok), ok once the receiver confirmed it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "raft/types.h"
#include "raftkvpb/raft.grpc.pb.h"
#include "transport/outbound_stream.h"
#include "transport/stats_table.h"
#include "transport/transport.h"

namespace raftkv::transport {

class PeerSender {
 public:
  PeerSender(const Options& options, Handler* handler, StatsTable* stats, raft::NodeId peer,
             std::string address);
  // Stops and joins (must not run on one of this sender's own threads).
  ~PeerSender();
  PeerSender(const PeerSender&) = delete;
  PeerSender& operator=(const PeerSender&) = delete;

  void Start();
  // Points the sender at a new address; an open stream is closed and reopened there.
  void SetAddress(const std::string& address);

  // Sends `msgs` (no snapshots) in order: written at once from this thread when the stream
  // allows a direct send, else queued for the stream thread. Never waits for the network.
  // Returns how many were dropped because the queue was full.
  size_t Send(std::vector<raft::Message> msgs);
  // Queues a kSnapshot message for the snapshot thread; false when that queue is full.
  bool EnqueueSnapshot(raft::Message msg);
  raft::NodeId peer() const { return peer_; }

  // Asks both threads to finish (cancels streams in progress); no callbacks follow once
  // Join() has returned. Stop() is safe from any thread, Join() not from this sender's.
  void Stop();
  void Join();
  bool OnOwnThread() const;

 private:
  void RunStream();
  void RunSnapshots();
  // Opens the message stream and waits for the receiver to accept the header: the framed
  // stream to a plaintext peer (options_.framed_stream), the gRPC one to a TLS peer or to a
  // peer that does not speak the framed protocol.
  Result<std::shared_ptr<OutboundStream>> OpenStream();
  // *use_grpc: the peer answered, but not in the framed protocol (an older member).
  Result<std::shared_ptr<OutboundStream>> OpenFramedStream(const std::string& target,
                                                           bool* use_grpc);
  Result<std::shared_ptr<OutboundStream>> OpenGrpcStream();
  // Registers `stream` so Stop() and SetAddress() can cancel it; false when already stopping.
  bool TrackStream(std::shared_ptr<OutboundStream> stream);
  // Sends queued messages in batches until the stream fails, the address changes or Stop;
  // while it runs, callers may write to the stream directly (if it allows that).
  Status Pump(const std::shared_ptr<OutboundStream>& stream, uint64_t address_generation);
  Status PumpBatches(OutboundStream* stream, uint64_t address_generation);
  // Whether `msgs` may be written from the caller's thread now (mu_ held).
  bool CanSendDirectLocked(const std::vector<raft::Message>& msgs) const;
  // Writes `msgs` to direct_ from this thread; `lock` (held on entry) is released meanwhile.
  void SendDirect(std::vector<raft::Message> msgs, std::unique_lock<std::mutex> lock);
  // *image_size: the image's size in bytes (for the log).
  Status SendSnapshot(const raft::Message& msg, uint64_t* image_size);
  // A fresh channel (own connection) to the current address, connected, or an error.
  Result<std::shared_ptr<grpc::Channel>> Connect();
  // Registers `ctx` so Stop() can cancel it; false when already stopping.
  bool TrackContext(std::shared_ptr<grpc::ClientContext>* slot,
                    std::shared_ptr<grpc::ClientContext> ctx);
  // Waits for `d` unless stopped or the address changes first.
  void Sleep(std::chrono::milliseconds d, uint64_t generation);
  size_t DropQueued();
  raftkvpb::StreamHeader Header() const;

  const Options options_;
  Handler* const handler_;
  StatsTable* const stats_;
  const raft::NodeId peer_;

  mutable std::mutex mu_;
  // Two condition variables so that a raft message wakes only the stream thread (cv_: new
  // messages, address changes, Stop) and a snapshot only the snapshot thread (snapshot_cv_:
  // new snapshots, Stop): one futex wake-up per message, not two.
  std::condition_variable cv_;
  std::condition_variable snapshot_cv_;
  std::string address_;                                // guarded by mu_
  uint64_t address_generation_ = 0;                    // guarded by mu_; bumped by SetAddress
  bool stopping_ = false;                              // guarded by mu_
  std::deque<raft::Message> queue_;                    // guarded by mu_
  std::deque<raft::Message> snapshots_;                // guarded by mu_
  std::shared_ptr<OutboundStream> stream_;             // guarded by mu_
  std::shared_ptr<grpc::ClientContext> snapshot_ctx_;  // guarded by mu_
  // Direct send. direct_: the open stream callers may write to (null: none, or direct sends
  // are off), opened at direct_generation_. writing_: a thread is writing to (or polling) the
  // stream; only that thread touches the stream (Cancel aside). unfinished_: a direct write
  // left the rest of its frame in the stream, to be flushed by the stream thread before
  // anything else. direct_error_: a direct write failed; the stream thread ends the stream.
  // pump_waiting_: the stream thread waits for a caller's write to end (a poll is due).
  std::shared_ptr<OutboundStream> direct_;  // guarded by mu_
  uint64_t direct_generation_ = 0;          // guarded by mu_
  bool writing_ = false;                    // guarded by mu_
  bool unfinished_ = false;                 // guarded by mu_
  uint64_t unfinished_messages_ = 0;        // guarded by mu_
  uint64_t unfinished_bytes_ = 0;           // guarded by mu_
  Status direct_error_;                     // guarded by mu_
  bool pump_waiting_ = false;               // guarded by mu_
  raftkvpb::MessageBatch direct_frame_;     // used only by the caller holding writing_

  bool unreachable_logged_ = false;    // stream thread only: log a down peer once
  bool grpc_fallback_logged_ = false;  // stream thread only

  std::thread stream_thread_;
  std::thread snapshot_thread_;
};

}  // namespace raftkv::transport
