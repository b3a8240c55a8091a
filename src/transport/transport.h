// Transport: raft messages between members on the peer port: a framed TCP stream between
// plaintext members (frame.h, peer_listener.h), gRPC (raftkv's own peer service, see
// proto/raftkvpb/raft.proto) for snapshots, TLS peers and members that do not speak the
// framed stream. The consensus core decides what to send; the transport only moves
// messages, and never blocks the raft loop.
//
//  - One long-lived client stream per peer carries batches of messages in order; a peer that
//    is down is retried with exponential backoff (capped at max_backoff) and reported to the
//    handler as unreachable, so the core falls back to probing (etcd's ReportUnreachable).
//  - Snapshots (kSnapshot messages, which may be large) go on a separate stream in chunks of
//    snapshot_chunk_bytes, so they never hold up heartbeats; the receiver verifies a checksum
//    of the whole image and only then hands over one complete message. An interrupted
//    snapshot is discarded on the receiving side and reported as failed on the sending side
//    (the core retries it): never half-applied.
//  - Images in files: when a snapshot's data is a file descriptor (storage/snapshot_file.h,
//    the server's DiskStorage), the sender streams the image from that file; when the Handler
//    gives a file writer (NewSnapshotFile), the receiver writes the chunks to it, fsyncs it,
//    and hands over a message whose data is the descriptor of that file. Neither side then
//    holds more than one chunk of the image. Otherwise the image travels inline in memory.
//  - Every stream starts with the sender's cluster id and member id. A peer with a different
//    cluster id, an unknown sender, or a message that does not decode is rejected with a
//    gRPC error and a log line; it never crashes the node. Messages addressed to another
//    member are rejected too.
//  - A per-peer queue bounds memory: when it is full new messages to that peer are dropped
//    (Raft tolerates loss) and the peer is reported unreachable.
//
// Thread safety: every public method may be called from any thread. Handler callbacks run on
// transport threads, never while a lock that the public methods take is held, and must not
// block for long.
#pragma once

#include <grpcpp/impl/codegen/service_type.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "raft/types.h"
#include "storage/snapshot_file.h"

namespace raftkv::transport {

// What the transport delivers to its owner (the server's raft loop).
class Handler {
 public:
  virtual ~Handler() = default;
  // A message from a peer, addressed to this member. Snapshot messages arrive complete.
  virtual void OnMessage(raft::Message msg) = 0;
  // Messages to `peer` could not be delivered (connection lost, queue full).
  virtual void OnUnreachable(raft::NodeId peer) = 0;
  // Sending a snapshot to `peer` finished; `ok` false means it must be retried.
  virtual void OnSnapshotSent(raft::NodeId peer, bool ok) = 0;
  // Where a snapshot being received is written: a writer for a temporary file (removed if
  // the transfer does not finish), or nullptr to receive the image in memory.
  virtual Result<std::unique_ptr<storage::SnapshotFileWriter>> NewSnapshotFile(
      const raft::SnapshotMeta& meta) {
    return std::unique_ptr<storage::SnapshotFileWriter>();
  }
};

struct Options {
  raft::NodeId self = raft::kNoNode;
  uint64_t cluster_id = 0;
  // host:port to listen on for peers (from --listen-peer-urls, scheme stripped). Port 0
  // picks a free port; see Transport::listen_port().
  std::string listen_address;
  size_t max_queued_messages_per_peer = 4096;
  size_t snapshot_chunk_bytes = 1 << 20;
  // A snapshot send that has not been confirmed after snapshot_timeout plus 1 s per MiB of
  // image is abandoned and reported failed (a receiver that stalls with the connection
  // alive would otherwise hold the follower in snapshot state forever).
  std::chrono::milliseconds snapshot_timeout{30000};
  std::chrono::milliseconds min_backoff{50};
  std::chrono::milliseconds max_backoff{1000};
  // HTTP/2 keepalive pings on peer connections: a connection whose pings go unanswered for
  // keepalive_timeout is closed and reopened, so a silent peer (host gone, network
  // partition) is noticed without waiting for TCP's retransmission timeout.
  std::chrono::milliseconds keepalive_interval{5000};
  std::chrono::milliseconds keepalive_timeout{5000};
  // How long a new connection to the plaintext peer port may take to send its framed hello
  // (gRPC connections: their first bytes, at most 1 s) while it holds one of the port's
  // PeerListener::kMaxUnadmitted pre-handshake slots; then it is refused and closed. Our
  // senders write preamble and hello at once. Tests make it shorter.
  std::chrono::milliseconds handshake_timeout{5000};
  // TLS on the peer port (etcd's --peer-* flags and https:// peer URLs). The peer server
  // listens with server_credentials (null: plaintext); a peer added with an
  // "https://host:port" address is reached with peer_credentials (null: gRPC's TLS with the
  // system's roots), one added as "http://host:port" or "host:port" in plaintext. With
  // client certificate authentication in server_credentials, a member without a certificate
  // signed by the trusted CA cannot even open a stream (the handshake fails).
  std::shared_ptr<grpc::ServerCredentials> server_credentials;
  std::shared_ptr<grpc::ChannelCredentials> peer_credentials;
  // Raft messages on the framed TCP stream (README.md, "Framed message stream") when both
  // ends are plaintext; false keeps every message on gRPC's Raft/Stream as before. Internal:
  // tests use it for a member that speaks only gRPC (an older version), and the daemon turns
  // it off with RAFTKV_PEER_STREAM=grpc for A/B runs. With server_credentials set the
  // listener is gRPC's alone, and https:// peers are always reached over gRPC.
  bool framed_stream = true;
  // On the framed stream, messages sent while the stream is idle are written at once from
  // the thread calling Send (never waiting), not handed to the peer's stream thread (README.md,
  // "Direct send"). Internal: the daemon turns it off with RAFTKV_PEER_DIRECT_SEND=0 for A/B
  // runs.
  bool direct_send = true;
  // Inbound framed streams are read by whoever calls Transport::PollInbound (the raft loop,
  // which waits on inbound_poll_fd()), not by a reader thread each (README.md, "Polled
  // inbound streams"): a message then reaches the raft loop without a thread hand-off. The
  // caller must poll often (at least every keepalive_interval): pings are answered and silent
  // streams closed only then. Internal: the daemon turns it off with RAFTKV_PEER_INBOUND=thread
  // for A/B runs.
  bool inbound_poll = false;
  // Extra gRPC services to serve on the peer port (the server's member-discovery service
  // for nodes joining an existing cluster). Not owned; must outlive the transport.
  std::vector<grpc::Service*> extra_services;
};

struct PeerStats {
  uint64_t sent_bytes = 0;
  uint64_t received_bytes = 0;
  uint64_t sent_messages = 0;
  uint64_t received_messages = 0;
  uint64_t dropped_messages = 0;  // queue full or peer unreachable
  // Of the sent ones: written from Send's caller (direct send; counted once the write began),
  // and how many of those writes the socket took only in part (finished by the stream thread).
  uint64_t direct_messages = 0;
  uint64_t direct_unfinished_writes = 0;
  bool connected = false;
  // When something (messages, a snapshot chunk) last arrived from the peer; epoch if never.
  std::chrono::steady_clock::time_point last_received{};
};

class Transport {
 public:
  // Starts listening for peers on options.listen_address (the framed listener and the gRPC
  // server behind it, or gRPC alone with TLS). `handler` must outlive the
  // transport.
  static Result<std::unique_ptr<Transport>> Start(const Options& options, Handler* handler);
  // Stops (as Stop()).
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // The port the peer server listens on (useful when started with port 0).
  int listen_port() const;

  // Peers are known by member id and address ("host:port", "http://host:port" or
  // "https://host:port" for TLS). Adding a known peer with a new address updates it; messages to
  // unknown peers are dropped and reported unreachable. Messages received from a member not added
  // here are rejected.
  void AddPeer(raft::NodeId id, const std::string& address);
  void RemovePeer(raft::NodeId id);

  // Sends messages to their peers (msg.to), in order per peer; never blocks on the network.
  // Each peer's messages are written from this thread when its stream is idle (direct_send),
  // else queued for its sender thread.
  void Send(std::vector<raft::Message> msgs);

  // With Options::inbound_poll: a file descriptor that polls readable when an inbound framed
  // stream has bytes waiting (then call PollInbound), or -1 when there is none to watch
  // (TLS peers, gRPC streams only).
  int inbound_poll_fd() const;
  // Reads what has arrived on the inbound framed streams, without waiting, and delivers it
  // (Handler::OnMessage on this thread); answers pings and closes streams that broke or went
  // silent. No-op without Options::inbound_poll.
  void PollInbound();
  // Traffic per peer since start.
  std::map<raft::NodeId, PeerStats> Stats() const;

  // Closes every stream and the peer server; callbacks stop before it returns. Idempotent.
  void Stop();

 private:
  class Impl;
  explicit Transport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace raftkv::transport
