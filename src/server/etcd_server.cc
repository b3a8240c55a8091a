// EtcdServer: start-up (data dir, identity, recovery, transport, threads) and shutdown.
// The calls themselves are in kv_ops.cc, cluster.cc and maintenance.cc.
#include "server/etcd_server.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>

#include "api/errors.h"
#include "server/data_dir.h"
#include "server/discovery.h"
#include "server/server_impl.h"
#include "server/snapshot_data.h"
#include "tls/tls.h"

namespace raftkv::server {
namespace {

class StdRandom : public raft::RandomSource {
 public:
  StdRandom() : gen_(std::random_device{}()) {}
  uint64_t Uniform(uint64_t n) override { return gen_() % n; }

 private:
  std::mt19937_64 gen_;
};

Status ValidateConfig(const ServerConfig& c) {
  if (c.data_dir.empty()) return Status::InvalidArgument("config: data dir is required");
  if (c.heartbeat_interval_ms <= 0) {
    return Status::InvalidArgument("config: heartbeat interval must be > 0");
  }
  if (c.election_timeout_ms < 2 * c.heartbeat_interval_ms) {
    return Status::InvalidArgument(
        "config: election timeout must be at least twice the heartbeat interval");
  }
  if (c.listen_peer_urls.empty())
    return Status::InvalidArgument("config: no peer URL to listen on");
  if (c.initial_advertise_peer_urls.empty()) {
    return Status::InvalidArgument("config: no advertised peer URL");
  }
  if (c.snapshot_count == 0) return Status::InvalidArgument("config: snapshot count must be > 0");
  return Status::OK();
}

}  // namespace

EtcdServer::Impl::Impl(ServerConfig config)
    : config_(std::move(config)),
      request_timeout_(std::chrono::milliseconds(5000 + 2 * config_.election_timeout_ms)),
      next_request_id_(std::random_device{}() ^
                       (static_cast<uint64_t>(std::random_device{}()) << 32)),
      leader_lease_(std::chrono::milliseconds(config_.heartbeat_interval_ms),
                    config_.election_timeout_ms / std::max(1, config_.heartbeat_interval_ms) + 2) {}

EtcdServer::Impl::~Impl() {
  Stop();
}

Status EtcdServer::Impl::Init() {
  RAFTKV_RETURN_IF_ERROR(ValidateConfig(config_));
  // etcd's --peer-auto-tls: a self-signed certificate under <data-dir>/fixtures/peer.
  std::vector<std::string> peer_hosts;
  for (const auto& u : config_.listen_peer_urls) peer_hosts.push_back(UrlToAddress(u));
  RAFTKV_RETURN_IF_ERROR(tls::EnsureSelfSigned(config_.data_dir + "/fixtures/peer", peer_hosts, 365,
                                               &config_.peer_tls));
  RAFTKV_RETURN_IF_ERROR(openDataDir());
  leases_ = std::make_unique<LeaseRuntime>(member_id_, cluster_id_, config_.heartbeat_interval_ms,
                                           config_.election_timeout_ms, config_.peer_tls,
                                           config_.lease_clock);
  auto compaction =
      ParseAutoCompaction(config_.auto_compaction_mode, config_.auto_compaction_retention);
  if (!compaction.ok()) return compaction.status();
  compaction->revision_interval =
      std::chrono::milliseconds(config_.auto_compaction_revision_interval_ms);
  if (compaction->enabled()) compactor_ = std::make_unique<AutoCompactor>(*compaction);
  RAFTKV_RETURN_IF_ERROR(restoreFromStorage());
  feed_ = std::make_unique<StoreFeed>(store_, config_.watch);
  raft::Config rc;
  rc.id = member_id_;
  rc.heartbeat_tick = 1;
  rc.election_tick = config_.election_timeout_ms / config_.heartbeat_interval_ms;
  rc.storage = storage_.get();
  random_ = std::make_unique<StdRandom>();
  rc.random = random_.get();
  rc.applied = applied_;
  std::vector<raft::NodeId> peers;
  bool fresh = storage_->LastIndex() == 0 && storage_->hard_state().IsEmpty();
  if (fresh && config_.initial_cluster_state_new) {
    for (const auto& m : identity_.initial_members()) peers.push_back(m.id());
  }
  auto node = raft::RawNode::Create(rc, peers);
  if (!node.ok()) return node.status();
  node_ = std::move(*node);
  term_ = node_->GetStatus().hard_state.term;
  RAFTKV_RETURN_IF_ERROR(startTransport());
  raft_thread_ = std::thread([this] { raftLoop(); });
  apply_thread_ = std::thread([this] { applyLoop(); });
  snap_thread_ = std::thread([this] { snapshotLoop(); });
  // Named so that perf and /proc/<pid>/task show which loop spends the time.
  pthread_setname_np(raft_thread_.native_handle(), "raftkv-raft");
  pthread_setname_np(apply_thread_.native_handle(), "raftkv-apply");
  pthread_setname_np(snap_thread_.native_handle(), "raftkv-snap");
  spdlog::info("member {:x} of cluster {:x} started: applied {}, log [{}, {}], peer port {}",
               member_id_, cluster_id_, applied_, storage_->FirstIndex(), storage_->LastIndex(),
               peer_port_);
  return Status::OK();
}

Status EtcdServer::Impl::openDataDir() {
  std::string member_dir = config_.data_dir + "/member";
  // Durably (each new directory synced into its parent), before the identity and the WAL
  // are written into it: a power loss right after the first start must not lose the layout.
  Status created = storage::PosixFileSystem()->CreateDir(member_dir);
  if (!created.ok()) return Status::IOError("create " + member_dir + ": " + created.ToString());
  auto id = ReadIdentity(member_dir);
  if (id.ok()) {
    identity_ = std::move(*id);
    spdlog::info("restarting member {:x} from {} (initial cluster flags ignored)",
                 identity_.member_id(), config_.data_dir);
  } else if (id.status().Is(Status::Code::kNotFound)) {
    auto fresh =
        config_.initial_cluster_state_new ? BootstrapIdentity(config_) : DiscoverIdentity(config_);
    if (!fresh.ok()) return fresh.status();
    identity_ = std::move(*fresh);
    RAFTKV_RETURN_IF_ERROR(WriteIdentity(member_dir, identity_));
  } else {
    return id.status();
  }
  member_id_ = identity_.member_id();
  cluster_id_ = identity_.cluster_id();
  auto st = storage::DiskStorage::Open(member_dir + "/raft", storage::DiskStorageOptions{});
  if (!st.ok()) {
    return Status(
        st.status().code() == Status::Code::kBusy
            ? Status::Busy("data dir " + config_.data_dir + " is in use: " + st.status().message())
            : Status::Corruption("cannot recover data dir " + config_.data_dir + ": " +
                                 st.status().ToString()));
  }
  storage_ = std::move(*st);
  if (!storage_->recovery_note().empty()) {
    spdlog::warn("WAL recovery: {}", storage_->recovery_note());
  }
  spdlog::info("WAL recovered {} entries (first index {}, last index {})",
               storage_->LastIndex() + 1 - storage_->FirstIndex(), storage_->FirstIndex(),
               storage_->LastIndex());
  return Status::OK();
}

Status EtcdServer::Impl::restoreFromStorage() {
  store_ = std::make_shared<kv::Store>(config_.max_txn_ops, config_.session_timeout_ms);
  auth::StoreOptions ao;
  ao.token_ttl = std::chrono::seconds(config_.auth_token_ttl_s);
  ao.bcrypt_cost = config_.bcrypt_cost;
  auth_ = std::make_unique<auth::Store>(ao);
  auto snap = storage_->GetSnapshot();
  if (!snap.ok()) return snap.status();
  if (snap->IsEmpty()) return Status::OK();
  RAFTKV_RETURN_IF_ERROR(installSnapshot(*snap));
  spdlog::info("restored snapshot at index {} term {} ({} bytes, {} members)", snap->meta.index,
               snap->meta.term, snap->data.size(), members_.size());
  return Status::OK();
}

Status EtcdServer::Impl::startTransport() {
  transport::Options opts;
  opts.self = member_id_;
  opts.cluster_id = cluster_id_;
  opts.listen_address = UrlToAddress(config_.listen_peer_urls[0]);
  // Internal, for A/B runs (src/transport/README.md): every raft message on gRPC streams.
  if (const char* v = std::getenv("RAFTKV_PEER_STREAM"); v != nullptr && std::string(v) == "grpc") {
    opts.framed_stream = false;
  }
  // Internal, for A/B runs: framed-stream messages always go through the peer's sender thread.
  if (const char* v = std::getenv("RAFTKV_PEER_DIRECT_SEND");
      v != nullptr && std::string(v) == "0") {
    opts.direct_send = false;
  }
  // The raft loop reads the inbound framed streams itself (no reader thread hand-off);
  // internal, for A/B runs: RAFTKV_PEER_INBOUND=thread gives each its reader thread again.
  opts.inbound_poll = true;
  if (const char* v = std::getenv("RAFTKV_PEER_INBOUND");
      v != nullptr && std::string(v) == "thread") {
    opts.inbound_poll = false;
  }
  if (config_.peer_tls.enabled()) {
    auto m = tls::Load(config_.peer_tls);
    if (!m.ok()) return Status::InvalidArgument("peer TLS: " + m.status().message());
    opts.peer_credentials = tls::ChannelCredentials(*m);
    if (config_.listen_peer_urls[0].rfind("https://", 0) == 0) {
      opts.server_credentials = tls::ServerCredentials(*m);
    }
  }
  DiscoveryHandlers h;
  h.members = [this] { return MemberTableNow(); };
  h.promote = [this](const etcdserverpb::MemberPromoteRequest& req,
                     Done<etcdserverpb::MemberPromoteResponse> done) {
    PromoteAsLeader(req, std::move(done));
  };
  h.renew = [this](int64_t id, Done<int64_t> done) {
    if (!leases_->lessor().primary()) return done(Status::NotLeader(api::kErrNotLeader));
    LeaseRenewAsLeader(id, std::move(done));
  };
  h.time_to_live = [this](const etcdserverpb::LeaseTimeToLiveRequest& req,
                          Done<etcdserverpb::LeaseTimeToLiveResponse> done) {
    if (!leases_->lessor().primary()) return done(Status::NotLeader(api::kErrNotLeader));
    LeaseTimeToLiveAsLeader(req, std::move(done));
  };
  h.is_leader = [this] { return leader() == member_id_; };
  h.debug = [this] { return DebugStatus(); };
  discovery_ = NewDiscoveryService(cluster_id_, std::move(h));
  opts.extra_services.push_back(discovery_.get());
  auto t = transport::Transport::Start(opts, this);
  if (!t.ok()) return t.status();
  transport_ = std::move(*t);
  peer_port_ = transport_->listen_port();
  for (const auto& m : identity_.initial_members()) addPeer(m);
  for (const auto& m : members_.List()) addPeer(m);
  return Status::OK();
}

void EtcdServer::Impl::addPeer(const etcdserverpb::Member& m) {
  if (m.id() == member_id_ || m.peerurls().empty()) return;
  // The URL as given: the transport speaks TLS to https:// peers.
  if (!UrlToAddress(m.peerurls(0)).empty()) transport_->AddPeer(m.id(), m.peerurls(0));
}

std::string EtcdServer::Impl::fatal_error() const {
  std::lock_guard<std::mutex> l(fatal_mu_);
  return fatal_error_;
}

void EtcdServer::Impl::Stop() {
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  if (!stopping_.load() && raft_thread_.joinable() && lead_.load() == member_id_) {
    // A graceful leader hands over first so the cluster need not wait an election timeout.
    raft::NodeStatus st = RaftStatus();
    raft::NodeId best = raft::kNoNode;
    raft::Index best_match = 0;
    for (const auto& [id, pr] : st.progress) {
      if (id == member_id_ || pr.is_learner) continue;
      if (best == raft::kNoNode || pr.match > best_match) best = id, best_match = pr.match;
    }
    if (best != raft::kNoNode) {
      Status s = TransferLeadership(best, std::chrono::milliseconds(config_.election_timeout_ms));
      spdlog::info("stopping: leadership transfer to {:x}: {}", best, s.ToString());
    }
  }
  stopping_ = true;
  waits_.Close(Status::Unavailable(api::kErrStopped));
  loops_stop_ = true;
  raft_wake_.Ring();
  apply_cv_.notify_all();
  snap_cv_.notify_all();
  if (raft_thread_.joinable()) raft_thread_.join();
  if (apply_thread_.joinable()) apply_thread_.join();
  if (snap_thread_.joinable()) snap_thread_.join();
  // Password checks not started yet fail their calls ("server stopped").
  if (auth_) auth_->workers().Stop();
  if (transport_) transport_->Stop();
  // Reads still queued never reached the registry's callbacks' owners: fail them too.
  waits_.Close(Status::Unavailable(api::kErrStopped));
  if (leases_) leases_->FailParked(Status::Unavailable(api::kErrStopped));
  if (storage_) spdlog::info("member {:x} stopped", member_id_);
  node_.reset();
  storage_.reset();
}

// --- facade ---------------------------------------------------------------------------------

EtcdServer::EtcdServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EtcdServer::~EtcdServer() {
  Stop();
}

Result<std::unique_ptr<EtcdServer>> EtcdServer::Start(const ServerConfig& config) {
  auto impl = std::make_unique<Impl>(config);
  raftkv::Status s = impl->Init();
  if (!s.ok()) {
    impl->Stop();
    return s;
  }
  return std::unique_ptr<EtcdServer>(new EtcdServer(std::move(impl)));
}

void EtcdServer::Stop() {
  impl_->Stop();
}
bool EtcdServer::Stopped() const {
  return impl_->stopped();
}
std::string EtcdServer::StopReason() const {
  return impl_->fatal_error();
}
uint64_t EtcdServer::member_id() const {
  return impl_->member_id();
}
uint64_t EtcdServer::cluster_id() const {
  return impl_->cluster_id();
}
int EtcdServer::peer_port() const {
  return impl_->peer_port();
}
int64_t EtcdServer::session_timeout_ms() const {
  return impl_->config().session_timeout_ms;
}
ServerStats EtcdServer::GetStats() const {
  return impl_->GetStats();
}
watch::Hub& EtcdServer::WatchHub() {
  return impl_->watch_hub();
}
uint64_t EtcdServer::term() const {
  return impl_->term();
}
Result<std::unique_ptr<SnapshotReader>> EtcdServer::OpenSnapshot() {
  return impl_->OpenSnapshot();
}

}  // namespace raftkv::server
