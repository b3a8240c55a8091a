#include "server/discovery.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <thread>

#include "api/errors.h"
#include "raftkvpb/internal.grpc.pb.h"
#include "server/members.h"
#include "tls/tls.h"

namespace raftkv::server {
namespace {

class DiscoveryService final : public raftkvpb::Discovery::Service {
 public:
  DiscoveryService(uint64_t cluster_id, MemberLister members, Promoter promote)
      : cluster_id_(cluster_id), members_(std::move(members)), promote_(std::move(promote)) {}

  grpc::Status Members(grpc::ServerContext*, const raftkvpb::DiscoverRequest*,
                       raftkvpb::DiscoverResponse* resp) override {
    auto list = members_();
    if (!list.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, list.status().message());
    resp->set_cluster_id(cluster_id_);
    for (const auto& m : list->members()) *resp->add_members() = m;
    for (uint64_t id : list->removed()) resp->add_removed(id);
    return grpc::Status::OK;
  }

  grpc::Status Promote(grpc::ServerContext* ctx, const raftkvpb::PromoteRequest* req,
                       raftkvpb::PromoteResponse* resp) override {
    if (req->cluster_id() != cluster_id_) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          fmt::format("raftkv: promote from cluster {:x} refused by cluster {:x}",
                                      req->cluster_id(), cluster_id_));
    }
    using Resp = etcdserverpb::MemberPromoteResponse;
    auto p = std::make_shared<std::promise<Result<Resp>>>();
    auto f = p->get_future();
    promote_(req->request(), [p](Result<Resp> r) { p->set_value(std::move(r)); });
    // The promoter always answers (its calls carry the request timeout); the caller may give
    // up first (a caller without a deadline gets 30 s).
    auto until =
        std::min(ctx->deadline(), std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (f.wait_until(until) != std::future_status::ready) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, api::kErrTimeout);
    }
    Result<Resp> r = f.get();
    if (r.ok()) {
      *resp->mutable_response() = std::move(*r);
    } else {
      resp->set_error_code(static_cast<uint32_t>(r.status().code()));
      resp->set_error(r.status().message());
    }
    return grpc::Status::OK;
  }

 private:
  uint64_t cluster_id_;
  MemberLister members_;
  Promoter promote_;
};

// A Status with the code and text the leader answered (codes travel as numbers).
Status StatusFromWire(uint32_t code, const std::string& msg) {
  using C = Status::Code;
  switch (static_cast<C>(code)) {
    case C::kNotFound: return Status::NotFound(msg);
    case C::kInvalidArgument: return Status::InvalidArgument(msg);
    case C::kCorruption: return Status::Corruption(msg);
    case C::kIOError: return Status::IOError(msg);
    case C::kCompacted: return Status::Compacted(msg);
    case C::kNotLeader: return Status::NotLeader(msg);
    case C::kBusy: return Status::Busy(msg);
    case C::kAborted: return Status::Aborted(msg);
    case C::kFailedPrecondition: return Status::FailedPrecondition(msg);
    default: return Status::Unavailable(msg);
  }
}

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
  if (presp.error_code() != 0) return StatusFromWire(presp.error_code(), presp.error());
  return std::move(*presp.mutable_response());
}

std::unique_ptr<grpc::Service> NewDiscoveryService(uint64_t cluster_id, MemberLister members,
                                                   Promoter promote) {
  return std::make_unique<DiscoveryService>(cluster_id, std::move(members), std::move(promote));
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
