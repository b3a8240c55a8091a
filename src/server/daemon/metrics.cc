#include "server/daemon/metrics.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "server/daemon/flags.h"

namespace raftkv::server::daemon {
namespace {

class Writer {
 public:
  // One metric family: its # HELP and # TYPE lines.
  void Family(const char* name, const char* type, const char* help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void Sample(const std::string& name, double v, const std::string& labels = "") {
    out_ += fmt::format("{}{} {}\n", name, labels.empty() ? "" : "{" + labels + "}", v);
  }
  void Sample(const std::string& name, uint64_t v, const std::string& labels = "") {
    out_ += fmt::format("{}{} {}\n", name, labels.empty() ? "" : "{" + labels + "}", v);
  }
  void Gauge(const char* name, const char* help, double v) {
    Family(name, "gauge", help);
    Sample(name, v);
  }
  void Counter(const char* name, const char* help, uint64_t v) {
    Family(name, "counter", help);
    Sample(name, v);
  }
  // Prometheus buckets are cumulative; ServerStats keeps them per bucket.
  void Histo(const char* name, const char* help, const Histogram::Snapshot& h) {
    Family(name, "histogram", help);
    uint64_t cumulative = 0;
    for (int i = 0; i < Histogram::kBuckets; ++i) {
      cumulative += h.counts[i];
      Sample(std::string(name) + "_bucket", cumulative,
             fmt::format("le=\"{}\"", Histogram::UpperBound(i)));
    }
    Sample(std::string(name) + "_bucket", h.count, "le=\"+Inf\"");
    Sample(std::string(name) + "_sum", h.sum_seconds);
    Sample(std::string(name) + "_count", h.count);
  }
  // One sampled request's time per stage (StageTrace), as counters by trace and stage.
  void Stages(const std::vector<std::pair<const char*, const StageTrace::Totals*>>& traces) {
    Family("raftkv_stage_traced_total", "counter",
           "Requests traced through every stage (one at a time is traced).");
    for (const auto& [trace, t] : traces) {
      Sample("raftkv_stage_traced_total", t->traced, fmt::format("trace=\"{}\"", trace));
    }
    Family("raftkv_stage_seconds_total", "counter",
           "Time the traced requests spent in each stage, summed.");
    for (const auto& [trace, t] : traces) {
      for (const auto& st : t->stages) {
        Sample("raftkv_stage_seconds_total", st.seconds,
               fmt::format("trace=\"{}\",stage=\"{}\"", trace, st.name));
      }
    }
  }
  void PerPeer(const char* name, const char* help, const char* label,
               const std::map<uint64_t, uint64_t>& by_peer) {
    Family(name, "counter", help);
    for (const auto& [id, value] : by_peer) {
      Sample(name, value, fmt::format("{}=\"{:x}\"", label, id));
    }
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string RenderMetrics(const ServerStats& s) {
  Writer w;
  w.Gauge("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.",
          s.has_leader ? 1 : 0);
  w.Gauge("etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise.",
          s.is_leader ? 1 : 0);
  w.Gauge("etcd_server_is_learner",
          "Whether or not this member is a learner. 1 if is, 0 otherwise.", s.is_learner ? 1 : 0);
  w.Counter("etcd_server_leader_changes_seen_total", "The number of leader changes seen.",
            s.leader_changes_seen);
  w.Family("etcd_server_id", "gauge",
           "Server or member ID in hexadecimal format. 1 for 'server_id' "
           "label with current ID.");
  w.Sample("etcd_server_id", uint64_t{1}, fmt::format("server_id=\"{:x}\"", s.member_id));
  // etcd exports these three "_total" values as gauges; kept so for dashboards' sake.
  w.Gauge("etcd_server_proposals_committed_total",
          "The total number of consensus proposals committed.",
          static_cast<double>(s.proposals_committed));
  w.Gauge("etcd_server_proposals_applied_total", "The total number of consensus proposals applied.",
          static_cast<double>(s.proposals_applied));
  w.Gauge("etcd_server_proposals_pending", "The current number of pending proposals to commit.",
          static_cast<double>(s.proposals_pending));
  w.Counter("etcd_server_proposals_failed_total", "The total number of failed proposals seen.",
            s.proposals_failed);
  w.Counter("etcd_server_slow_apply_total",
            "The total number of slow apply requests (likely overloaded from slow disk).",
            s.slow_apply);
  w.Counter("raftkv_read_index_rounds_total",
            "ReadIndex rounds started by this member (each confirms leadership once).",
            s.read_index_rounds);
  w.Counter("raftkv_read_index_reads_total",
            "Linearizable reads served through those rounds (several share a round).",
            s.read_index_reads);
  w.Gauge("raftkv_raft_term", "The current raft term of this member.", static_cast<double>(s.term));
  w.Gauge("raftkv_raft_commit_index", "The raft commit index of this member.",
          static_cast<double>(s.commit_index));
  w.Gauge("raftkv_raft_applied_index", "The raft index applied to the store by this member.",
          static_cast<double>(s.applied_index));
  w.Gauge("etcd_debugging_mvcc_current_revision", "The current revision of store.",
          static_cast<double>(s.revision));
  w.Gauge("etcd_debugging_mvcc_compact_revision", "The revision of the last compaction in store.",
          static_cast<double>(s.compact_revision));
  w.Gauge("etcd_debugging_mvcc_keys_total", "Total number of keys.", static_cast<double>(s.keys));
  w.Gauge("etcd_mvcc_db_total_size_in_bytes",
          "Total size of the underlying database physically allocated in bytes (raftkv: an "
          "estimate of the store's size).",
          static_cast<double>(s.db_size_bytes));
  w.Histo("etcd_disk_wal_fsync_duration_seconds",
          "The latency distributions of fsync called by WAL.", s.wal_fsync);
  w.Histo("etcd_debugging_snap_save_total_duration_seconds",
          "The total latency distributions of save called by snapshot.", s.snapshot_save);
  w.Histo("raftkv_snapshot_apply_duration_seconds",
          "The latency distributions of restoring the store from a received snapshot.",
          s.snapshot_apply);
  w.Stages({{"propose", &s.propose_stages}, {"append", &s.append_stages}});
  w.Counter("raftkv_front_calls_served_total",
            "Client calls the HTTP/2 front served itself (KV Range, Put, DeleteRange, Txn).",
            s.front_calls_served);
  w.Counter("raftkv_front_calls_forwarded_total",
            "Client calls the front forwarded to the gRPC services.", s.front_calls_forwarded);
  w.Counter("raftkv_front_reads_total", "read(2) calls on client sockets that returned bytes.",
            s.front_reads);
  w.Counter("raftkv_front_writes_total", "send(2) calls on client sockets.", s.front_writes);
  w.Counter("raftkv_lease_keepalives_in_lease_total",
            "Lease keep-alives renewed by this leader inside its leader lease, without a round.",
            s.keepalives_in_lease);
  w.Counter("raftkv_lease_keepalives_after_round_total",
            "Lease keep-alives renewed by this leader after a ReadIndex round confirmed it leads.",
            s.keepalives_after_round);
  w.Counter("raftkv_snapshots_sent_total", "The number of snapshots sent to followers.",
            s.snapshots_sent);
  w.Counter("raftkv_snapshots_received_total", "The number of snapshots received from a leader.",
            s.snapshots_received);
  w.PerPeer("etcd_network_peer_sent_bytes_total", "The total number of bytes sent to peers.", "To",
            s.peer_sent_bytes);
  w.PerPeer("etcd_network_peer_received_bytes_total",
            "The total number of bytes received from peers.", "From", s.peer_received_bytes);
  w.PerPeer("raftkv_peer_sent_messages_total", "Raft messages sent to each peer.", "To",
            s.peer_sent_messages);
  w.PerPeer("raftkv_peer_direct_messages_total",
            "Of the raft messages sent to each peer, those written from the raft thread itself "
            "(direct send: the peer's framed stream was idle).",
            "To", s.peer_direct_messages);
  w.PerPeer("raftkv_peer_dropped_messages_total",
            "Raft messages to each peer that were dropped (queue full, peer unreachable, stream "
            "failed).",
            "To", s.peer_dropped_messages);
  w.Family("etcd_network_active_peers", "gauge", "The current number of active peer connections.");
  for (uint64_t id : s.connected_peers) {
    w.Sample("etcd_network_active_peers", uint64_t{1},
             fmt::format("Local=\"{:x}\",Remote=\"{:x}\"", s.member_id, id));
  }
  return w.Take();
}

MetricsServer::MetricsServer(MetricsSource source) : source_(std::move(source)) {}

MetricsServer::~MetricsServer() {
  Stop();
}

std::string MetricsServer::CheckHealth() {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Status status;
  };
  // Shared so that a check finishing after our timeout writes into live memory.
  auto shared = std::make_shared<Shared>();
  source_.check_health([shared](Status s) {
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->done = true;
    shared->status = std::move(s);
    shared->cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(shared->mu);
  if (!shared->cv.wait_for(lock, source_.health_timeout, [&] { return shared->done; })) {
    return "health check timed out";
  }
  return shared->status.ok() ? "" : shared->status.message();
}

void MetricsServer::Install(httplib::Server* server) {
  server->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderMetrics(source_.stats()), "text/plain; version=0.0.4; charset=utf-8");
  });
  server->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    std::string reason = CheckHealth();
    if (reason.empty()) {
      res.set_content("{\"health\":\"true\"}", "application/json");
      return;
    }
    spdlog::warn("/health error: {} (status code 503)", reason);
    res.status = 503;
    res.set_content("{\"health\":\"false\"}", "application/json");
  });
  server->Get("/debug/raft", [this](const httplib::Request& req, httplib::Response& res) {
    if (!source_.debug_json) {
      res.status = 404;
      return;
    }
    const bool self = req.get_param_value("member") == "self";
    res.set_header("Cache-Control", "no-store");
    res.set_content(source_.debug_json(!self), "application/json");
  });
  // The page and its two files; no other path under /ui exists.
  auto asset = [](const char* name, const char* type) {
    return [name, type](const httplib::Request&, httplib::Response& res) {
      std::string_view body = UiAsset(name);
      res.set_content(body.data(), body.size(), type);
    };
  };
  server->Get("/ui", asset("index.html", "text/html; charset=utf-8"));
  server->Get("/ui/", asset("index.html", "text/html; charset=utf-8"));
  server->Get("/ui/ui.js", asset("ui.js", "text/javascript; charset=utf-8"));
  server->Get("/ui/ui.css", asset("ui.css", "text/css; charset=utf-8"));
}

Status MetricsServer::Start(const std::vector<std::string>& urls, const tls::TlsConfig& tls) {
  for (const std::string& url : urls) {
    Result<HostPort> hp = ParseHttpUrl(url);
    if (!hp.ok()) return hp.status();
    std::unique_ptr<httplib::Server> server;
    if (hp->tls) {
      if (tls.cert_file.empty()) {
        return Status::InvalidArgument(
            "TLS key/cert (--cert-file, --key-file) must be provided "
            "for metrics url " +
            url + " with HTTPS scheme");
      }
      // cpp-httplib's OpenSSL server; a CA given here makes it require client certificates.
      auto ssl = std::make_unique<httplib::SSLServer>(
          tls.cert_file.c_str(), tls.key_file.c_str(),
          tls.client_cert_auth ? tls.trusted_ca_file.c_str() : nullptr);
      if (!ssl->is_valid()) {
        return Status::InvalidArgument("metrics: cannot use the TLS certificate " + tls.cert_file +
                                       " / key " + tls.key_file);
      }
      server = std::move(ssl);
    } else {
      server = std::make_unique<httplib::Server>();
    }
    Install(server.get());
    // httplib's default adds SO_REUSEPORT, which would let a second daemon share the port.
    server->set_socket_options([](int sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    int port = hp->port;
    if (port == 0) {
      port = server->bind_to_any_port(hp->host.c_str());
    } else if (!server->bind_to_port(hp->host.c_str(), port)) {
      port = -1;
    }
    if (port < 0) {
      return Status::IOError("metrics: cannot listen on " + url + " (address in use?)");
    }
    ports_.push_back(port);
    httplib::Server* raw = server.get();
    servers_.push_back(std::move(server));
    auto exited = std::make_shared<std::atomic<bool>>(false);
    threads_.emplace_back([raw, exited] {
      raw->listen_after_bind();
      exited->store(true);
    });
    // stop() before the loop runs would be lost (and Stop() would then wait forever).
    while (!raw->is_running() && !exited->load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  return Status::OK();
}

void MetricsServer::Stop() {
  for (auto& s : servers_) s->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  servers_.clear();
}

}  // namespace raftkv::server::daemon
