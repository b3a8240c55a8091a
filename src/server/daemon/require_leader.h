// etcd's "require leader" contract for client streams (clientv3.WithRequireLeader: the
// gRPC metadata `hasleader: true`, sent by etcdctl's watch, lock and elect and by etcd's Go
// clients for watches and keep-alives). etcd 3.4 (v3rpc stream interceptor, monitorLeader):
//  - a stream that asks for a leader on a member that knows none is refused at once with
//    Unavailable "etcdserver: no leader";
//  - streams that asked for one and are open when the member loses its leader are cancelled
//    with the same error once no leader has been seen for 3 election timeouts (the client
//    then reconnects, typically to a member on the majority side of a partition). Streams
//    that did not ask are left alone.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>

namespace raftkv::server::daemon {

// Whether the call carries `hasleader: true`.
bool RequiresLeader(const grpc::CallbackServerContext* ctx);

// etcd's ErrGRPCNoLeader: Unavailable "etcdserver: no leader".
grpc::Status NoLeaderStatus();

// etcd's monitorLeader: how many election timeouts without a leader cancel the streams.
inline constexpr int kNoLeaderElectionTimeouts = 3;

// The open streams that asked for a leader. Thread-safe. The daemon's watcher reports
// whether a leader is known (Observe); the services add and remove their streams.
class LeaderStreams {
 public:
  using Cancel = std::function<void()>;
  using Clock = std::chrono::steady_clock;

  // How long without a leader cancels the streams (3 election timeouts).
  void set_limit(Clock::duration limit);

  // Registers a stream; `cancel` finishes it with "etcdserver: no leader". It may be called
  // from the watcher thread at any time until Remove(token) returns, and must be safe to
  // call after the stream ended on its own (hold the stream by weak pointer).
  uint64_t Add(Cancel cancel);
  void Remove(uint64_t token);

  // The member's view now. Once no leader has been seen for the limit, every registered
  // stream is cancelled (and forgotten), as are streams added while that lasts.
  void Observe(bool has_leader, Clock::time_point now);

  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<uint64_t, Cancel> streams_;
  uint64_t next_token_ = 1;
  Clock::duration limit_ = std::chrono::seconds(3);
  std::optional<Clock::time_point> leaderless_since_;
};

}  // namespace raftkv::server::daemon
