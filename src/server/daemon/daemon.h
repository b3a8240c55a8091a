// The raftkvd process around one EtcdServer: the client front (src/front) on http:// client
// URLs and gRPC on https:// ones, /metrics and /health
// on every metrics URL, logging, and a clean stop on SIGTERM/SIGINT. main() (tools/raftkvd.cc)
// is RunDaemon(); tests start a Daemon in-process.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"
#include "front/front.h"
#include "server/config.h"
#include "server/daemon/kv_front.h"
#include "server/daemon/metrics.h"
#include "server/daemon/services.h"
#include "server/etcd_server.h"

namespace raftkv::server::daemon {

// How long a stop waits for in-flight client calls before cancelling them.
inline constexpr int kGrpcShutdownGraceMs = 5000;
inline constexpr int kWatchIntervalMs = 100;
// /debug/raft asks every other member at once and waits at most this long for each, so a
// dead or stopped member shows as down within one poll of the /ui page.
inline constexpr int kDebugPeerTimeoutMs = 300;

class Daemon {
 public:
  // Starts the server, then gRPC on config.listen_client_urls (port 0 picks a free port),
  // then the metrics endpoints. Fails with the reason if any part cannot start; nothing is
  // left running then.
  // https:// URLs use config.client_tls (a self-signed certificate under
  // <data-dir>/fixtures/client with --auto-tls); config.cipher_suites, when set, restricts
  // the process's TLS 1.2 suites.
  static Result<std::unique_ptr<Daemon>> Start(const ServerConfig& config);
  ~Daemon();  // Stop()s
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Stops accepting client calls, stops the server (a leader hands leadership over first;
  // pending calls fail with "server stopped"), waits for gRPC to drain, stops metrics.
  // Idempotent.
  void Stop();

  EtcdServer* server() { return server_.get(); }
  // True once the server stopped without Stop() being called: this member was removed from
  // the cluster or hit a fatal error (logged by the server). etcd exits then; so does main.
  bool stopped_on_its_own() const { return stopped_on_its_own_.load(); }
  // Ports actually bound, in the order of the URLs.
  const std::vector<int>& client_ports() const { return client_ports_; }
  const std::vector<int>& metrics_ports() const { return metrics_->ports(); }

 private:
  Daemon() = default;
  Status StartGrpc(const ServerConfig& config);
  // The client front serves the client URLs when none of them is https:// (TLS stays with
  // gRPC's own) and RAFTKV_CLIENT_FRONT is not "grpc" (the A/B switch for benchmarks).
  static bool UseFront(const ServerConfig& config);
  Status StartFront(const ServerConfig& config, const std::vector<std::string>& addresses,
                    const std::string& grpc_socket, const ServiceLimits& limits);
  // RAFTKV_FRONT_THREADS, default 1.
  static int FrontThreads();
  // The watcher: every kWatchIntervalMs, EtcdServer::Status tells whether this member is a
  // learner (for the services' learner gate) and whether the server stopped on its own.
  void Watch();
  void PollServer();

  std::unique_ptr<EtcdServer> server_;
  MemberState member_;
  std::unique_ptr<KvService> kv_;
  std::unique_ptr<ClusterService> cluster_;
  std::unique_ptr<MaintenanceService> maintenance_;
  std::unique_ptr<LeaseService> lease_;
  std::unique_ptr<SessionService> session_;
  std::unique_ptr<AuthService> auth_;
  std::unique_ptr<WatchService> watch_;
  std::unique_ptr<grpc::Server> grpc_;
  // The client front (src/front) on plaintext client URLs; gRPC then listens only on an
  // abstract unix socket, for the calls the front forwards.
  std::unique_ptr<KvFront> kv_front_;
  std::unique_ptr<front::Server> front_;
  std::unique_ptr<MetricsServer> metrics_;
  std::vector<int> client_ports_;
  bool stopped_ = false;
  std::atomic<bool> stopped_on_its_own_{false};
  std::thread watcher_;
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool watch_stop_ = false;  // guarded by watch_mu_
};

// spdlog on stderr, one line per event, at etcd's --log-level (panic and fatal log only
// critical events).
void SetupLogging(const std::string& level);

// The whole of main(): flags (exit status 2 on a bad command line, 0 after --help or
// --version), start (1 if it fails), serve until SIGTERM or SIGINT, stop, 0.
int RunDaemon(int argc, char** argv);

}  // namespace raftkv::server::daemon
