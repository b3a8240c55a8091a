// /metrics, /health, /debug/raft and the /ui page over HTTP (cpp-httplib) on each
// --listen-metrics-urls.
// /metrics renders ServerStats in the Prometheus text exposition format (version 0.0.4) with
// etcd's metric names where etcd has the metric; /health answers as etcd's does:
// {"health":"true"} with 200, or {"health":"false"} with 503.
// The client port speaks only HTTP/2 (the client front, or gRPC with TLS), so unlike etcd
// these are not served on the client URLs.
// /debug/raft is the cluster's raft state as JSON (raftkvpb.ClusterDebug, README.md), every
// member asked by this one; /debug/raft?member=self only this member's (MemberDebug). /ui is
// a page (ui/, compiled in) that polls /debug/raft every second.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "server/stats.h"
#include "tls/config.h"

namespace httplib {
class Server;
}

namespace raftkv::server::daemon {

// Prometheus text for one snapshot of the counters.
std::string RenderMetrics(const ServerStats& stats);

// What the HTTP endpoints read; the daemon wires these to EtcdServer, tests to fakes.
struct MetricsSource {
  std::function<ServerStats()> stats;
  // Calls done(OK) if healthy, done(error) otherwise; may complete on another thread.
  std::function<void(std::function<void(Status)> done)> check_health;
  std::chrono::milliseconds health_timeout{3000};
  // JSON for /debug/raft: the cluster view, or (cluster = false) this member's only.
  // Unset: /debug/raft answers 404.
  std::function<std::string(bool cluster)> debug_json;
};

// The /ui page's files (src/server/daemon/ui/), embedded at build time.
std::string_view UiAsset(std::string_view name);

class MetricsServer {
 public:
  explicit MetricsServer(MetricsSource source);
  ~MetricsServer();  // Stop()s
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds every URL (http://ip:port or https://ip:port; port 0 picks a free one) and serves
  // in the background. https URLs use `tls` (the client certificate, as etcd's metrics
  // URLs do; with client_cert_auth a client certificate signed by its CA is required).
  Status Start(const std::vector<std::string>& urls, const tls::TlsConfig& tls = {});
  // The ports actually bound, in the order of the URLs.
  const std::vector<int>& ports() const { return ports_; }
  void Stop();

 private:
  void Install(httplib::Server* server);
  // Blocks for at most health_timeout; returns "" if healthy, else the reason.
  std::string CheckHealth();

  MetricsSource source_;
  std::vector<std::unique_ptr<httplib::Server>> servers_;
  std::vector<std::thread> threads_;
  std::vector<int> ports_;
};

}  // namespace raftkv::server::daemon
