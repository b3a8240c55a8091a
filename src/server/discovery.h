// Member discovery for a member joining an existing cluster (--initial-cluster-state
// existing): every member serves raftkvpb.Discovery on its peer port; the joining member
// asks the peers named in --initial-cluster for the cluster id and the member list (it must
// have been added with MemberAdd first) and finds its own id by its advertised peer URLs.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <vector>

#include "common/status.h"
#include "etcd_server.h"
#include "raftkvpb/internal.pb.h"

namespace raftkv::server {

// `members` reads the current member table (any thread; may block briefly).
using MemberLister = std::function<Result<raftkvpb::MemberTable>()>;
std::unique_ptr<grpc::Service> NewDiscoveryService(uint64_t cluster_id, MemberLister members);
Result<raftkvpb::Identity> DiscoverIdentity(const ServerConfig& config);
// True if a member reachable at one of `peer_urls` lists `self` as removed from the cluster
// (how a member removed while cut off learns it: the leader stops talking to it).
bool AskIfRemoved(const std::vector<std::string>& peer_urls, uint64_t self);

}  // namespace raftkv::server
