#include "server/discovery.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "raftkvpb/internal.grpc.pb.h"
#include "server/members.h"

namespace raftkv::server {
namespace {

class DiscoveryService final : public raftkvpb::Discovery::Service {
 public:
  DiscoveryService(uint64_t cluster_id, MemberLister members)
      : cluster_id_(cluster_id), members_(std::move(members)) {}

  grpc::Status Members(grpc::ServerContext*, const raftkvpb::DiscoverRequest*,
                       raftkvpb::DiscoverResponse* resp) override {
    auto list = members_();
    if (!list.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, list.status().message());
    resp->set_cluster_id(cluster_id_);
    for (const auto& m : list->members()) *resp->add_members() = m;
    for (uint64_t id : list->removed()) resp->add_removed(id);
    return grpc::Status::OK;
  }

 private:
  uint64_t cluster_id_;
  MemberLister members_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewDiscoveryService(uint64_t cluster_id, MemberLister members) {
  return std::make_unique<DiscoveryService>(cluster_id, std::move(members));
}

namespace {

// Asks one peer; kNotFound if it answers without listing us (it may not have applied the
// MemberAdd yet).
Result<raftkvpb::Identity> AskPeer(const ServerConfig& config, const std::string& url) {
  auto channel = grpc::CreateChannel(UrlToAddress(url), grpc::InsecureChannelCredentials());
  auto stub = raftkvpb::Discovery::NewStub(channel);
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

bool AskIfRemoved(const std::vector<std::string>& peer_urls, uint64_t self) {
  for (const auto& url : peer_urls) {
    auto stub = raftkvpb::Discovery::NewStub(
        grpc::CreateChannel(UrlToAddress(url), grpc::InsecureChannelCredentials()));
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
