#include "server/daemon/daemon.h"

#include <absl/synchronization/mutex.h>
#include <google/protobuf/util/json_util.h>
#include <grpc/grpc.h>
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <thread>

#include "front/upstream.h"
#include "server/daemon/flags.h"
#include "tls/tls.h"

namespace raftkv::server::daemon {
namespace {

std::string JoinUrls(const std::vector<std::string>& urls) {
  std::string s;
  for (const std::string& u : urls) s += (s.empty() ? "" : ",") + u;
  return s;
}

// /debug/raft's body: the protobuf JSON mapping of debug.proto with its own field names and
// every field present, so the schema does not depend on values.
std::string DebugJson(EtcdServer* srv, bool cluster) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  std::string out;
  auto s = cluster ? google::protobuf::util::MessageToJsonString(
                         srv->ClusterDebug(std::chrono::milliseconds(kDebugPeerTimeoutMs)), &out, o)
                   : google::protobuf::util::MessageToJsonString(srv->DebugStatus(), &out, o);
  if (!s.ok()) return "{}";
  return out;
}

}  // namespace

// etcd's --auto-tls: a self-signed certificate under <data-dir>/fixtures/client for the
// client URLs' hosts (the peer side does the same under fixtures/peer, in EtcdServer).
Status ResolveClientAutoTls(ServerConfig* config) {
  std::vector<std::string> hosts;
  for (const auto& u : config->listen_client_urls) {
    Result<HostPort> hp = ParseHttpUrl(u);
    if (hp.ok()) hosts.push_back(hp->Address());
  }
  return tls::EnsureSelfSigned(config->data_dir + "/fixtures/client", hosts, 365,
                               &config->client_tls);
}

Result<std::unique_ptr<Daemon>> Daemon::Start(const ServerConfig& flags_config) {
  // gRPC reads the cipher list at its first TLS handshake: before anything connects.
  if (!flags_config.cipher_suites.empty()) tls::RestrictCipherSuites(flags_config.cipher_suites);
  ServerConfig config = flags_config;
  RAFTKV_RETURN_IF_ERROR(ResolveClientAutoTls(&config));
  std::unique_ptr<Daemon> d(new Daemon());
  Result<std::unique_ptr<EtcdServer>> server = EtcdServer::Start(config);
  if (!server.ok()) return server.status();
  d->server_ = std::move(server).value();
  d->PollServer();  // the learner gate is right from the first call
  d->watcher_ = std::thread([raw = d.get()] { raw->Watch(); });
  Status s = d->StartGrpc(config);
  if (s.ok()) {
    MetricsSource source;
    EtcdServer* srv = d->server_.get();
    Daemon* raw = d.get();
    source.stats = [srv, raw] {
      ServerStats st = srv->GetStats();
      if (raw->front_) {
        const front::Counters c = raw->front_->counters();
        st.front_calls_served = c.served;
        st.front_calls_forwarded = c.forwarded;
        st.front_reads = c.reads;
        st.front_writes = c.writes;
      }
      return st;
    };
    source.check_health = [srv](std::function<void(Status)> done) {
      srv->CheckHealth([done](Result<bool> r) {
        if (!r.ok()) return done(r.status());
        done(*r ? Status::OK() : Status::Unavailable("unhealthy"));
      });
    };
    source.debug_json = [srv](bool cluster) { return DebugJson(srv, cluster); };
    d->metrics_ = std::make_unique<MetricsServer>(std::move(source));
    s = d->metrics_->Start(config.listen_metrics_urls, config.client_tls);
  }
  if (!s.ok()) {
    d->Stop();
    return s;
  }
  spdlog::info(
      "raftkvd started: name={} member-id={:x} cluster-id={:x} client-urls={} "
      "advertise-client-urls={} peer-urls={} metrics-urls={} data-dir={}",
      config.name, d->server_->member_id(), d->server_->cluster_id(),
      JoinUrls(config.listen_client_urls), JoinUrls(config.advertise_client_urls),
      JoinUrls(config.initial_advertise_peer_urls), JoinUrls(config.listen_metrics_urls),
      config.data_dir);
  return d;
}

Status Daemon::StartGrpc(const ServerConfig& config) {
  ServiceLimits limits{config.max_request_bytes, config.max_txn_ops};
  member_.leader_streams.set_limit(kNoLeaderElectionTimeouts *
                                   std::chrono::milliseconds(config.election_timeout_ms));
  kv_ = std::make_unique<KvService>(server_.get(), limits, &member_);
  cluster_ = std::make_unique<ClusterService>(server_.get(), &member_);
  maintenance_ = std::make_unique<MaintenanceService>(server_.get(), &member_);
  lease_ = std::make_unique<LeaseService>(server_.get(), &member_);
  session_ = std::make_unique<SessionService>(server_.get(), &member_);
  auth_ = std::make_unique<AuthService>(server_.get(), &member_);
  member_.client_cert_auth = config.client_tls.client_cert_auth;
  watch_ = std::make_unique<WatchService>(
      server_.get(), limits, &member_,
      std::chrono::milliseconds(config.watch_progress_notify_interval_ms));

  grpc::ServerBuilder builder;
  // https:// client URLs speak TLS with the client certificate (etcd ignores the certificate
  // on http:// URLs, and so do we).
  std::shared_ptr<grpc::ServerCredentials> tls_creds;
  if (config.client_tls.enabled()) {
    auto m = tls::Load(config.client_tls);
    if (!m.ok()) return Status::InvalidArgument("client TLS: " + m.status().message());
    tls_creds = tls::ServerCredentials(*m);
  }
  client_ports_.assign(config.listen_client_urls.size(), 0);
  std::vector<std::string> front_addresses;
  const bool use_front = UseFront(config);
  for (size_t i = 0; i < config.listen_client_urls.size(); ++i) {
    Result<HostPort> hp = ParseHttpUrl(config.listen_client_urls[i]);
    if (!hp.ok()) return hp.status();
    if (hp->tls && !tls_creds) {
      return Status::InvalidArgument(
          "TLS key/cert (--cert-file, --key-file) must be provided "
          "for client url " +
          config.listen_client_urls[i] + " with HTTPS scheme");
    }
    if (use_front) {
      front_addresses.push_back(hp->Address());
    } else {
      builder.AddListeningPort(hp->Address(),
                               hp->tls ? tls_creds : grpc::InsecureServerCredentials(),
                               &client_ports_[i]);
    }
  }
  // Behind the front, gRPC serves the calls it forwards on a socket of this process only.
  const std::string grpc_socket = front::UniqueAbstractName("raftkvd");
  int grpc_socket_port = 0;
  if (use_front) {
    builder.AddListeningPort("unix-abstract:" + grpc_socket, grpc::InsecureServerCredentials(),
                             &grpc_socket_port);
  }
  // As etcd: requests somewhat above --max-request-bytes still arrive, so the edge check
  // answers "request is too large" instead of the transport refusing them.
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_request_bytes + kGrpcOverheadBytes));
  builder.SetMaxSendMessageSize(INT_MAX);
  // gRPC enables SO_REUSEPORT by default, which would let two daemons share a client port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // etcd's keepalive enforcement (5 s minimum between client pings): etcd's clients ping
  // idle connections, which gRPC's default policy (5 min) would answer with GOAWAY.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.RegisterService(kv_.get());
  builder.RegisterService(cluster_.get());
  builder.RegisterService(maintenance_.get());
  builder.RegisterService(lease_.get());
  builder.RegisterService(session_.get());
  builder.RegisterService(auth_.get());
  builder.RegisterService(watch_.get());
  grpc_ = builder.BuildAndStart();
  for (size_t i = 0; i < client_ports_.size() && !use_front; ++i) {
    if (grpc_ == nullptr || client_ports_[i] == 0) {
      return Status::IOError("cannot listen for clients on " + config.listen_client_urls[i] +
                             " (address in use?)");
    }
  }
  if (grpc_ == nullptr) return Status::IOError("cannot start the gRPC server");
  if (use_front) return StartFront(config, front_addresses, grpc_socket, limits);
  return Status::OK();
}

bool Daemon::UseFront(const ServerConfig& config) {
  const char* env = std::getenv("RAFTKV_CLIENT_FRONT");
  if (env != nullptr && std::string_view(env) == "grpc") return false;  // the A/B switch
  for (const std::string& url : config.listen_client_urls) {
    Result<HostPort> hp = ParseHttpUrl(url);
    if (!hp.ok() || hp->tls) return false;  // TLS stays with gRPC's own
  }
  return !config.listen_client_urls.empty();
}

Status Daemon::StartFront(const ServerConfig& config, const std::vector<std::string>& addresses,
                          const std::string& grpc_socket, const ServiceLimits& limits) {
  kv_front_ = std::make_unique<KvFront>(server_.get(), limits, &member_);
  front::Options o;
  o.threads = FrontThreads();
  // As the gRPC server's limit: somewhat above --max-request-bytes still reaches the edge
  // check, which answers "request is too large".
  o.max_message_bytes = static_cast<size_t>(config.max_request_bytes + kGrpcOverheadBytes);
  o.connect_upstream = [grpc_socket] { return front::ConnectAbstract(grpc_socket); };
  Result<std::unique_ptr<front::Server>> f =
      front::Server::Start(addresses, std::move(o), kv_front_.get());
  if (!f.ok()) {
    return Status::IOError("cannot listen for clients on " + JoinUrls(config.listen_client_urls) +
                           " (address in use?): " + f.status().message());
  }
  front_ = std::move(f).value();
  client_ports_ = front_->ports();
  return Status::OK();
}

int Daemon::FrontThreads() {
  if (const char* env = std::getenv("RAFTKV_FRONT_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return 1;
}

void Daemon::Watch() {
  std::unique_lock<std::mutex> lock(watch_mu_);
  while (!watch_stop_) {
    lock.unlock();
    PollServer();
    lock.lock();
    watch_cv_.wait_for(lock, std::chrono::milliseconds(kWatchIntervalMs),
                       [this] { return watch_stop_; });
  }
}

void Daemon::PollServer() {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<etcdserverpb::StatusResponse>> result;
  };
  auto shared = std::make_shared<Shared>();
  server_->Status(etcdserverpb::StatusRequest(), [shared](Result<etcdserverpb::StatusResponse> r) {
    std::lock_guard<std::mutex> l(shared->mu);
    shared->result.emplace(std::move(r));
    shared->cv.notify_all();
  });
  std::unique_lock<std::mutex> l(shared->mu);
  if (!shared->cv.wait_for(l, std::chrono::seconds(1),
                           [&] { return shared->result.has_value(); })) {
    return;  // busy: try again next round
  }
  if (shared->result->ok()) {
    member_.is_learner.store(shared->result->value().islearner());
    bool has_leader = shared->result->value().leader() != 0;
    member_.has_leader.store(has_leader);
    member_.leader_streams.Observe(has_leader, std::chrono::steady_clock::now());
    return;
  }
  std::lock_guard<std::mutex> w(watch_mu_);
  if (!watch_stop_ && shared->result->status().message() == api::kErrStopped &&
      !stopped_on_its_own_.exchange(true)) {
    spdlog::warn("the server stopped on its own (removed from the cluster or a fatal error)");
  }
}

void Daemon::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard<std::mutex> l(watch_mu_);
    watch_stop_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  // Shutdown refuses new calls at once and waits for in-flight ones, which the server's
  // Stop completes (with "server stopped" if they cannot finish), so both run together.
  // The front takes no new connections meanwhile, and still carries the answers.
  if (front_) front_->StopAccepting();
  std::thread grpc_stop;
  if (grpc_) {
    grpc_stop = std::thread([this] {
      grpc_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(kGrpcShutdownGraceMs));
    });
  }
  if (server_) server_->Stop();
  if (grpc_stop.joinable()) grpc_stop.join();
  if (front_) front_->Stop();
  if (metrics_) metrics_->Stop();
  spdlog::info("raftkvd stopped");
}

Daemon::~Daemon() {
  Stop();
  // The front and the gRPC server go before the services they dispatch to, and they before
  // the server.
  front_.reset();
  grpc_.reset();
  metrics_.reset();
}

void SetupLogging(const std::string& level) {
  spdlog::drop("raftkvd");
  auto logger = spdlog::stderr_logger_mt("raftkvd");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  spdlog::level::level_enum l = spdlog::level::info;
  if (level == "debug") l = spdlog::level::debug;
  if (level == "warn") l = spdlog::level::warn;
  if (level == "error") l = spdlog::level::err;
  if (level == "panic" || level == "fatal") l = spdlog::level::critical;
  spdlog::set_level(l);
  spdlog::flush_on(spdlog::level::trace);  // one line per event, never held back
}

int RunDaemon(int argc, char** argv) {
  ServerConfig config;
  bool exit_now = false;
  Status s = ParseFlags(argc, argv, &config, &exit_now);
  if (!s.ok()) {
    std::cerr << "raftkvd: " << s.message() << " (see raftkvd --help)" << std::endl;
    return 2;
  }
  if (exit_now) return 0;
  SetupLogging(config.log_level);
  // Debian's abseil checks every absl::Mutex acquisition (gRPC's locks) for lock-order cycles,
  // a debugging aid that cost ~3% of a leader's CPU under load (perf, docs/benchmarks.md).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Block the stop signals before any thread starts (threads inherit the mask); this thread
  // then takes them with sigwait, outside any signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  Result<std::unique_ptr<Daemon>> daemon = Daemon::Start(config);
  if (!daemon.ok()) {
    spdlog::critical("raftkvd failed to start: {}", daemon.status().message());
    return 1;
  }
  // Serve until a stop signal, or until the server stops on its own (as etcd, which exits
  // when its member is removed from the cluster).
  const timespec poll{0, 200 * 1000 * 1000};
  while (true) {
    int sig = sigtimedwait(&stop_signals, nullptr, &poll);
    if (sig > 0) {
      spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    if (daemon.value()->stopped_on_its_own()) {
      spdlog::info("exiting: the server has stopped");
      break;
    }
  }
  daemon.value()->Stop();
  return 0;
}

}  // namespace raftkv::server::daemon
