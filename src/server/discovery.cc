#include "server/discovery.h"

#include <spdlog/spdlog.h>

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
    for (const auto& m : *list) *resp->add_members() = m;
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

Result<raftkvpb::Identity> DiscoverIdentity(const ServerConfig& config) {
  std::string errors;
  for (const auto& [name, urls] : config.initial_cluster) {
    if (name == config.name) continue;
    for (const auto& url : urls) {
      auto channel = grpc::CreateChannel(UrlToAddress(url), grpc::InsecureChannelCredentials());
      auto stub = raftkvpb::Discovery::NewStub(channel);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
      raftkvpb::DiscoverRequest req;
      raftkvpb::DiscoverResponse resp;
      grpc::Status s = stub->Members(&ctx, req, &resp);
      if (!s.ok()) {
        errors += " " + url + ": " + s.error_message() + ";";
        continue;
      }
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
      if (id.member_id() == 0) {
        return Status::InvalidArgument("joining existing cluster: no member has peer URL " +
                                       (config.initial_advertise_peer_urls.empty()
                                            ? std::string("?")
                                            : config.initial_advertise_peer_urls[0]) +
                                       " (add it with MemberAdd first)");
      }
      for (auto& m : *id.mutable_initial_members()) {
        if (m.id() == id.member_id()) {
          m.set_name(config.name);
          m.clear_clienturls();
          for (const auto& u : config.advertise_client_urls) m.add_clienturls(u);
        }
      }
      spdlog::info("joining cluster {:x} as member {:x} ({} members, asked {})", id.cluster_id(),
                   id.member_id(), resp.members_size(), url);
      return id;
    }
  }
  return Status::Unavailable("joining existing cluster: no member of --initial-cluster answered:" +
                             errors);
}

}  // namespace raftkv::server
