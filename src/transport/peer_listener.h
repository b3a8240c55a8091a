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

 private:
  struct Inbound {
    std::unique_ptr<FrameSocket> socket;
    std::string peer_address;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  struct Pending {
    int fd;
    std::string peer_address;
    std::chrono::steady_clock::time_point deadline;
    // Sent part of the magic: re-checked every few ms rather than polled (its data stays
    // readable, so polling it would spin until the deadline).
    bool partial = false;
  };

  PeerListener(const Options& options, PeerService* service, std::vector<int> fds, int port);
  void AcceptLoop();
  void AcceptAll(int listen_fd, std::vector<Pending>* pending);
  // Looks at a pending connection's first bytes; true once it was routed or closed.
  bool Classify(Pending* p, bool expired);
  void ServeFramed(Inbound* in);
  // The handshake; the sender's id once accepted (an answer was sent either way).
  Result<raft::NodeId> Admit(Inbound* in, PeerService::SenderTurn* turn);
  void ReapFinished();

  const Options options_;
  PeerService* const service_;
  const std::vector<int> listen_fds_;
  const int port_;
  int wake_fd_ = -1;  // eventfd: wakes the acceptor for Stop
  grpc::Server* server_ = nullptr;
  std::thread acceptor_;

  std::mutex mu_;
  bool stopped_ = false;                         // guarded by mu_
  std::list<std::unique_ptr<Inbound>> inbound_;  // guarded by mu_
};

}  // namespace raftkv::transport
