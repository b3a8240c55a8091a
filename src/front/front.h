// raftkvd's client front: an HTTP/2 server of its own (Debian's libnghttp2) on the client URLs.
// It answers the calls that carry the load (KV reads and writes) itself, through a Handler,
// and forwards every other call, stream by stream, to the gRPC server of the process over a
// socketpair, so Watch, Lease, Auth, Maintenance and the rest keep their gRPC services.
//
// Why (docs/benchmarks.md, "An HTTP/2 server of our own"): gRPC C++ spent about half of the
// cluster's CPU per put. The front reads everything a socket has, hands the complete calls to
// the Handler, and writes all the answers that are ready for a connection with one write.
//
// Threads: N loop threads, each with its own epoll and connections; loop 0 also accepts.
// Handler::Serve runs on a loop thread and must not block; the Reply may be used later, from
// any thread (raftkvd answers from its raft and apply threads). Plaintext only: https:// client
// URLs are served by gRPC itself (src/server/daemon/daemon.cc decides).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace raftkv::front {

namespace internal {
class Loop;
struct Mailbox;
}  // namespace internal

struct Header {
  std::string name;
  std::string value;
};

// Where one call's answer goes. Copyable; the first Ok or Error wins, later ones are ignored
// by the connection (the stream is gone). An answer for a connection or stream that closed
// meanwhile is dropped.
class Reply {
 public:
  Reply() = default;
  // `message`: the serialized response (the front adds gRPC's 5-byte message header).
  void Ok(std::string message) const;
  // A gRPC status other than OK, with its message (percent-encoded by the front).
  void Error(int code, std::string message) const;

 private:
  friend class internal::Loop;
  Reply(std::shared_ptr<internal::Mailbox> mailbox, uint64_t conn, int32_t stream)
      : mailbox_(std::move(mailbox)), conn_(conn), stream_(stream) {}

  std::shared_ptr<internal::Mailbox> mailbox_;
  uint64_t conn_ = 0;
  int32_t stream_ = 0;
};

// One unary call the Handler serves.
struct Call {
  std::string path;             // "/etcdserverpb.KV/Put"
  std::vector<Header> headers;  // as received (metadata: "token", "hasleader", ...)
  std::string_view message;     // the request message, valid during Serve only
  Reply reply;

  // The value of header `name` (lower case), or nullptr.
  const std::string* Find(std::string_view name) const;
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Whether `path` is a unary method this handler answers; every other call is forwarded.
  virtual bool Serves(std::string_view path) const = 0;
  // Called on a loop thread once the whole request arrived.
  virtual void Serve(Call call) = 0;
};

struct Options {
  int threads = 1;
  // A served call's request message above this many bytes is answered ResourceExhausted
  // without reaching the Handler (gRPC's max receive message size).
  size_t max_message_bytes = 4 << 20;
  // A new connection to the gRPC server (one per client connection, on its first forwarded
  // call): a connected stream socket, which the front owns from then on.
  std::function<Result<int>()> connect_upstream;
};

// What the loops did, summed (for tests and the benchmark notes).
struct Counters {
  uint64_t served = 0;     // calls handed to the Handler
  uint64_t forwarded = 0;  // calls forwarded to the gRPC server
  uint64_t reads = 0;      // read(2) calls that returned bytes, client side
  uint64_t writes = 0;     // send(2) calls, client side
};

class Server {
 public:
  // Listens on every "host:port" (port 0 picks one) and starts the loops. `handler` must
  // outlive the server.
  static Result<std::unique_ptr<Server>> Start(const std::vector<std::string>& addresses,
                                               Options options, Handler* handler);
  ~Server();  // Stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Ports bound, in the order of the addresses.
  const std::vector<int>& ports() const { return ports_; }
  // Closes the listening sockets: no new connections. Connections already open go on.
  void StopAccepting();
  // Writes the answers already handed over, then closes every connection and stops the loops.
  // Idempotent. Replies after this are dropped.
  void Stop();
  Counters counters() const;

 private:
  Server() = default;
  std::vector<int> listeners_;
  std::vector<int> ports_;
  std::unique_ptr<Options> options_;  // the loops point at it
  std::vector<std::unique_ptr<internal::Loop>> loops_;
  bool stopped_ = false;
};

}  // namespace raftkv::front
