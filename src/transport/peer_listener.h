// The plaintext peer port, owned by the transport: one acceptor thread accepts connections
// and looks at their first bytes (MSG_PEEK). A connection that starts with the framed
// preamble (frame.h) is served here, by a reader thread of its own; anything else (HTTP/2:
// every gRPC call of the peer protocol, snapshots, discovery and forwarding) is handed to the
// gRPC server with AddInsecureChannelFromFd, which then serves it as if it had accepted it.
//
// An inbound framed stream is checked and delivered by PeerService (the same header checks,
// rejections, log lines and per-sender ordering as the gRPC stream): the reader thread
// decodes a batch and calls Handler::OnMessage itself. A connection on which nothing arrives
// for keepalive_interval + keepalive_timeout is closed (the sender pings every interval).
//
// With Options::inbound_poll there are no reader threads: accepted streams join an epoll set
// (poll_fd()) and the thread that calls PollInbound (the raft loop) reads, answers pings and
// delivers them itself, so a message reaches the raft loop without a thread hand-off.
//
// What an unauthenticated connection can cost (README.md, "Bounds before the handshake"):
// until its hello is complete and checked, a connection is only an entry in the acceptor's
// pending list (an fd and a few bytes, no thread); the acceptor reads the preamble and hello
// itself without blocking. At most kMaxUnadmitted connections wait there: a new one beyond
// that pushes out the oldest, so connections that send nothing cannot lock real members
// out. A reader thread exists only for an accepted stream, and at most kMaxFramedStreams
// of them; a sender's newer stream closes its older one.
#pragma once

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "transport/frame.h"
#include "transport/peer_service.h"
#include "transport/transport.h"

namespace grpc {
class Server;
}

namespace raftkv::transport {

class PeerListener {
 public:
  // Connections that have not finished the framed handshake: waiting for their first bytes
  // (gRPC's too, for a round trip) or for the rest of a framed hello. Why 64: a real cluster
  // (etcd advises at most 7-9 members) has at most a few members reconnecting at once, and
  // gRPC clients (snapshots, discovery) send their preface at once, so it never comes near;
  // an fd and a small buffer each, the whole list costs ~64 fds and a few KiB.
  static constexpr size_t kMaxUnadmitted = 64;
  // Inbound framed streams past the handshake (a reader thread each). Why 64: there is one
  // per other member (a sender's newer stream closes its older one), so only a cluster of
  // more than 64 members, which Raft clusters never are, would reach it; it bounds the
  // threads (and stacks) that senders knowing the cluster id and a member id can make us run.
  static constexpr size_t kMaxFramedStreams = 64;

  // Binds and listens on `options.listen_address`. NotFound when the address is not a
  // host:port this listener understands (the caller then lets gRPC listen as before).
  static Result<std::unique_ptr<PeerListener>> Listen(const Options& options, PeerService* service);
  ~PeerListener();
  PeerListener(const PeerListener&) = delete;
  PeerListener& operator=(const PeerListener&) = delete;

  int port() const { return port_; }
  // Starts accepting; connections that are not framed go to `server` (which must have been
  // built without a listening port of its own and outlive Stop()).
  void Start(grpc::Server* server);
  // Stops accepting, closes every framed connection and joins its thread. Idempotent.
  void Stop();

  // Options::inbound_poll only (else -1 and a no-op): an epoll descriptor that polls readable
  // when an inbound stream has bytes waiting, and the call that reads and delivers them
  // without waiting (one thread at a time; see the class comment).
  int poll_fd() const { return poll_fd_; }
  void PollInbound();

 private:
  using Clock = std::chrono::steady_clock;

  // At most one log line per interval for a refusal a flood can repeat; the next line says
  // how many were left out. Used by the acceptor thread only.
  class LogThrottle {
   public:
    // Whether to log now; then *left_out is how many were not logged since the last line.
    bool Allow(uint64_t* left_out);

   private:
    Clock::time_point last_{};
    bool logged_ = false;
    uint64_t left_out_ = 0;
  };
  struct Inbound {
    std::unique_ptr<FrameSocket> socket;
    std::string peer_address;
    raft::NodeId from = raft::kNoNode;
    uint64_t stream = 0;  // PeerService's stream number once taken over; guarded by mu_
    std::thread thread;   // the reader thread; none with Options::inbound_poll
    std::atomic<bool> done{false};
    // Polled streams (Options::inbound_poll), used under poll_mu_: the sender's turn (from
    // Admit), when a frame last arrived, and the batch every frame is parsed into.
    PeerService::SenderTurn turn;
    Clock::time_point last_heard;
    raftkvpb::MessageBatch batch;
  };
  struct Pending {
    int fd = -1;
    std::string peer_address;
    Clock::time_point accepted;
    Clock::time_point deadline;
    // Sent part of the magic: re-checked every few ms rather than polled (its data stays
    // readable, so polling it would spin until the deadline).
    bool partial = false;
    bool ready = false;  // readable in the last poll: worth looking at
    // Set once the framed magic was seen: from then on its bytes are read (consumed), and it
    // owns the fd.
    std::unique_ptr<FrameSocket> socket;
    bool preamble_read = false;
  };

  PeerListener(const Options& options, PeerService* service, std::vector<int> fds, int port);
  void AcceptLoop();
  // Accepts up to a burst of new connections, each looked at once at once.
  void AcceptSome(int listen_fd, std::vector<Pending>* pending);
  // After an accept failed for lack of resources (no free fd, no memory): a rate-limited
  // log line, and no accepting until kAcceptPause has passed (the waiting connection keeps
  // the listening socket readable, so polling it would spin).
  void PauseAccepting(int error);
  // Makes room for one more pending connection by closing the oldest.
  void DropOldest(std::vector<Pending>* pending, const std::string& newcomer);
  // Looks at a pending connection; true once it was routed (gRPC, a reader thread) or closed.
  bool Advance(Pending* p, bool expired);
  // Reads what arrived of a framed connection's preamble and hello; then checks the hello
  // and starts the stream or refuses it.
  bool AdvanceFramed(Pending* p, bool expired);
  // A framed connection's hello, once all of it arrived (false: not yet).
  static Result<bool> TryReadHello(Pending* p, raftkvpb::StreamHeader* header);
  // Answers a framed connection with a reject frame (the caller then closes it).
  static void SendReject(FrameSocket* socket, const std::string& why);
  // Starts the reader thread of a framed stream whose hello passed the checks.
  void StartStream(std::unique_ptr<FrameSocket> socket, const std::string& peer_address,
                   raft::NodeId from);
  size_t LiveStreams();
  // The reader thread of a stream (without Options::inbound_poll).
  void ServeFramed(Inbound* in);
  // One frame that arrived on an admitted stream: a batch is delivered; anything else but a
  // ping (which the caller answers) is refused. Not OK: the stream ends, with a reject frame
  // carrying the error's message.
  grpc::Status DeliverFrame(Inbound* in, FrameType type, const std::string& payload);
  // The log line for a stream that ended because reading failed with `st`.
  void LogStreamEnd(const Inbound& in, const Status& st);
  // Polled streams (peer_listener_poll.cc): admitted on the acceptor thread and added to the
  // epoll set; read, and ended, by PollInbound's caller.
  void StartPolled(std::unique_ptr<Inbound> in);
  void DrainPolled(Inbound* in, Clock::time_point now);
  void EndPolled(Inbound* in);
  // Ends polled streams on which nothing arrived for keepalive_interval + keepalive_timeout.
  void EndSilent(Clock::time_point now);
  // The rest of the handshake: takes the sender over and sends the accept.
  Status Admit(Inbound* in, PeerService::SenderTurn* turn);
  // Closes the older of `in` and any other stream from the same sender (it delivers nothing).
  void CloseSuperseded(Inbound* in, uint64_t stream);
  void ReapFinished();

  const Options options_;
  PeerService* const service_;
  const std::vector<int> listen_fds_;
  const int port_;
  int wake_fd_ = -1;  // eventfd: wakes the acceptor for Stop
  grpc::Server* server_ = nullptr;
  std::thread acceptor_;

  // The acceptor's throttles: connections pushed out for lack of room, handshakes refused
  // (timed out or malformed), streams refused over kMaxFramedStreams.
  LogThrottle dropped_log_, refused_log_, over_streams_log_, accept_failed_log_;
  Clock::time_point accept_paused_until_{};  // acceptor thread only

  // Polled streams: the epoll set, and the lock PollInbound holds so that Stop and
  // ReapFinished never free a stream it is reading.
  int poll_fd_ = -1;
  std::mutex poll_mu_;
  Clock::time_point last_silence_check_{};  // guarded by poll_mu_

  std::mutex mu_;
  bool stopped_ = false;                         // guarded by mu_
  std::list<std::unique_ptr<Inbound>> inbound_;  // guarded by mu_
};

}  // namespace raftkv::transport
