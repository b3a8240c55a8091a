#include "server/discovery.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <optional>
#include <thread>

#include "api/errors.h"
#include "raftkvpb/internal.grpc.pb.h"
#include "server/leases.h"
#include "server/members.h"
#include "tls/tls.h"

namespace raftkv::server {
namespace {

class DiscoveryService final : public raftkvpb::Discovery::Service {
 public:
  DiscoveryService(uint64_t cluster_id, DiscoveryHandlers h)
      : cluster_id_(cluster_id), h_(std::move(h)) {}

  grpc::Status Debug(grpc::ServerContext*, const raftkvpb::DebugRequest* req,
                     raftkvpb::MemberDebug* resp) override {
    if (req->cluster_id() != cluster_id_) return foreign("debug request", req->cluster_id());
    *resp = h_.debug();
    return grpc::Status::OK;
  }

  grpc::Status Members(grpc::ServerContext*, const raftkvpb::DiscoverRequest*,
                       raftkvpb::DiscoverResponse* resp) override {
    auto list = h_.members();
    if (!list.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, list.status().message());
    resp->set_cluster_id(cluster_id_);
    for (const auto& m : list->members()) *resp->add_members() = m;
    for (uint64_t id : list->removed()) resp->add_removed(id);
    return grpc::Status::OK;
  }

  grpc::Status Promote(grpc::ServerContext* ctx, const raftkvpb::PromoteRequest* req,
                       raftkvpb::PromoteResponse* resp) override {
    if (req->cluster_id() != cluster_id_) return foreign("promote", req->cluster_id());
    auto r = wait<etcdserverpb::MemberPromoteResponse>(
        ctx, [&](auto done) { h_.promote(req->request(), std::move(done)); });
    if (!r) return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, api::kErrTimeout);
    setResult(std::move(*r), resp->mutable_response(), resp);
    return grpc::Status::OK;
  }

  grpc::Status LeaseKeepAlive(grpc::ServerContext* ctx, const raftkvpb::LeaseForwardRequest* req,
                              raftkvpb::LeaseKeepAliveForwardResponse* resp) override {
    if (req->cluster_id() != cluster_id_) return foreign("lease keep-alive", req->cluster_id());
    auto r = waitForLessor<int64_t>(ctx, [&](auto done) { h_.renew(req->id(), std::move(done)); });
    if (!r) return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, api::kErrTimeout);
    int64_t ttl = 0;
    setResult(std::move(*r), &ttl, resp);
    resp->set_ttl(ttl);
    return grpc::Status::OK;
  }

  grpc::Status LeaseTimeToLive(grpc::ServerContext* ctx, const raftkvpb::LeaseForwardRequest* req,
                               raftkvpb::LeaseTimeToLiveForwardResponse* resp) override {
    if (req->cluster_id() != cluster_id_) return foreign("lease time-to-live", req->cluster_id());
    etcdserverpb::LeaseTimeToLiveRequest ttl_req;
    ttl_req.set_id(req->id());
    ttl_req.set_keys(req->keys());
    auto r = waitForLessor<etcdserverpb::LeaseTimeToLiveResponse>(
        ctx, [&](auto done) { h_.time_to_live(ttl_req, std::move(done)); });
    if (!r) return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, api::kErrTimeout);
    setResult(std::move(*r), resp->mutable_response(), resp);
    return grpc::Status::OK;
  }

 private:
  grpc::Status foreign(const char* what, uint64_t from) const {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        fmt::format("raftkv: {} from cluster {:x} refused by cluster {:x}", what,
                                    from, cluster_id_));
  }

  // Runs an asynchronous handler and waits for its answer (the handlers always answer: their
  // calls carry the request timeout); the caller may give up first (30 s without a deadline).
  template <typename T, typename Start>
  static std::optional<Result<T>> wait(grpc::ServerContext* ctx, Start start) {
    auto p = std::make_shared<std::promise<Result<T>>>();
    auto f = p->get_future();
    start([p](Result<T> r) { p->set_value(std::move(r)); });
    auto until =
        std::min(ctx->deadline(), std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (f.wait_until(until) != std::future_status::ready) return std::nullopt;
    return f.get();
  }

  // As wait(), but a leader whose lessor is not promoted yet (it is still applying entries of
  // earlier terms) is given a moment instead of failing the follower's call.
  template <typename T, typename Start>
  std::optional<Result<T>> waitForLessor(grpc::ServerContext* ctx, Start start) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (true) {
      auto r = wait<T>(ctx, start);
      if (!r || r->ok() || !r->status().Is(Status::Code::kNotLeader) || !h_.is_leader() ||
          std::chrono::steady_clock::now() > until || ctx->IsCancelled()) {
        return r;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // The answer or the etcd error (code and text travel as numbers and strings).
  template <typename T, typename Out, typename Resp>
  static void setResult(Result<T> r, Out* out, Resp* resp) {
    if (r.ok()) {
      *out = std::move(*r);
    } else {
      resp->set_error_code(static_cast<uint32_t>(r.status().code()));
      resp->set_error(r.status().message());
    }
  }

  uint64_t cluster_id_;
  DiscoveryHandlers h_;
};

}  // namespace

Result<std::shared_ptr<grpc::Channel>> PeerChannel(const std::string& url,
                                                   const tls::TlsConfig& peer_tls) {
  auto creds = tls::CredentialsForUrl(url, peer_tls);
  if (!creds.ok()) return creds.status();
  return grpc::CreateChannel(UrlToAddress(url), *creds);
}

Result<etcdserverpb::MemberPromoteResponse> ForwardPromote(
    const std::string& leader_url, uint64_t cluster_id,
    const etcdserverpb::MemberPromoteRequest& req, std::chrono::milliseconds timeout,
    const tls::TlsConfig& peer_tls) {
  auto channel = PeerChannel(leader_url, peer_tls);
  if (!channel.ok()) return channel.status();
  auto stub = raftkvpb::Discovery::NewStub(*channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  raftkvpb::PromoteRequest preq;
  preq.set_cluster_id(cluster_id);
  *preq.mutable_request() = req;
  raftkvpb::PromoteResponse presp;
  grpc::Status s = stub->Promote(&ctx, preq, &presp);
  if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    return Status::FailedPrecondition(s.error_message());
  }
  if (!s.ok()) {
    spdlog::info("promote forwarded to {} failed: {}", leader_url, s.error_message());
    return Status::Unavailable(api::kErrTimeout);
  }
  if (presp.error_code() != 0) return Status::FromWire(presp.error_code(), presp.error());
  return std::move(*presp.mutable_response());
}

std::unique_ptr<grpc::Service> NewDiscoveryService(uint64_t cluster_id, DiscoveryHandlers h) {
  return std::make_unique<DiscoveryService>(cluster_id, std::move(h));
}

std::shared_ptr<grpc::Channel> DebugPeers::channel(const std::string& url) {
  std::lock_guard<std::mutex> l(mu_);
  auto& ch = channels_[url];
  if (!ch) {
    grpc::ChannelArguments args;
    // Reconnect attempts to a dead member back off to at most 1 s, so a member that comes
    // back shows as up within about a second of it listening again.
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    ch = grpc::CreateCustomChannel(UrlToAddress(url), grpc::InsecureChannelCredentials(), args);
  }
  return ch;
}

raftkvpb::MemberDebug DebugPeers::Ask(const std::string& url, uint64_t cluster_id,
                                      std::chrono::milliseconds timeout) {
  auto stub = raftkvpb::Discovery::NewStub(channel(url));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  raftkvpb::DebugRequest req;
  req.set_cluster_id(cluster_id);
  raftkvpb::MemberDebug resp;
  auto t0 = std::chrono::steady_clock::now();
  grpc::Status s = stub->Debug(&ctx, req, &resp);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!s.ok()) {
    resp.Clear();
    resp.set_up(false);
    resp.set_error(s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
                       ? fmt::format("no answer within {} ms", timeout.count())
                       : s.error_message());
  } else {
    resp.set_up(true);
  }
  resp.set_answer_ms(ms);
  return resp;
}

namespace {

// Asks one peer; kNotFound if it answers without listing us (it may not have applied the
// MemberAdd yet).
Result<raftkvpb::Identity> AskPeer(const ServerConfig& config, const std::string& url) {
  auto channel = PeerChannel(url, config.peer_tls);
  if (!channel.ok()) return channel.status();
  auto stub = raftkvpb::Discovery::NewStub(*channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  raftkvpb::DiscoverRequest req;
  raftkvpb::DiscoverResponse resp;
  grpc::Status s = stub->Members(&ctx, req, &resp);
  if (!s.ok()) return Status::Unavailable(url + ": " + s.error_message());
  raftkvpb::Identity id;
  id.set_cluster_id(resp.cluster_id());
  for (const auto& m : resp.members()) {
    *id.add_initial_members() = m;
    for (const auto& u : m.peerurls()) {
      for (const auto& mine : config.initial_advertise_peer_urls) {
        if (u == mine) id.set_member_id(m.id());
      }
    }
  }
  if (id.member_id() == 0) return Status::NotFound(url + ": not listed");
  spdlog::info("joining cluster {:x} as member {:x} ({} members, asked {})", id.cluster_id(),
               id.member_id(), resp.members_size(), url);
  return id;
}

}  // namespace

bool AskIfRemoved(const std::vector<std::string>& peer_urls, uint64_t self,
                  const tls::TlsConfig& peer_tls) {
  for (const auto& url : peer_urls) {
    auto channel = PeerChannel(url, peer_tls);
    if (!channel.ok()) continue;
    auto stub = raftkvpb::Discovery::NewStub(*channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    raftkvpb::DiscoverRequest req;
    raftkvpb::DiscoverResponse resp;
    if (!stub->Members(&ctx, req, &resp).ok()) continue;
    for (uint64_t id : resp.removed()) {
      if (id == self) return true;
    }
  }
  return false;
}

Result<raftkvpb::Identity> DiscoverIdentity(const ServerConfig& config) {
  // A few rounds: the member asked may not have applied our MemberAdd yet.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string errors;
  bool listed_nowhere = false;
  while (true) {
    errors.clear();
    listed_nowhere = true;
    for (const auto& [name, urls] : config.initial_cluster) {
      if (name == config.name) continue;
      for (const auto& url : urls) {
        auto id = AskPeer(config, url);
        if (id.ok()) return id;
        if (!id.status().Is(Status::Code::kNotFound)) listed_nowhere = false;
        errors += " " + id.status().message() + ";";
      }
    }
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (listed_nowhere) {
    std::string mine = config.initial_advertise_peer_urls.empty()
                           ? std::string("?")
                           : config.initial_advertise_peer_urls[0];
    return Status::InvalidArgument("joining existing cluster: no member has peer URL " + mine +
                                   " (add it with MemberAdd first)");
  }
  return Status::Unavailable("joining existing cluster: no member of --initial-cluster answered:" +
                             errors);
}

}  // namespace raftkv::server
