// Member discovery for a member joining an existing cluster (--initial-cluster-state
// existing): every member serves raftkvpb.Discovery on its peer port; the joining member
// asks the peers named in --initial-cluster for the cluster id and the member list (it must
// have been added with MemberAdd first) and finds its own id by its advertised peer URLs.
// With peer TLS the service is behind the peer port's TLS (and its client certificate check),
// like the raft streams. The same service carries MemberPromote from a follower to the leader (etcd
// forwards it: only the leader knows how far a learner is behind).
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common/status.h"
#include "etcd_server.h"
#include "raftkvpb/debug.pb.h"
#include "raftkvpb/internal.pb.h"
#include "tls/config.h"

namespace raftkv::server {

// `members` reads the current member table (any thread; may block briefly).
using MemberLister = std::function<Result<raftkvpb::MemberTable>()>;
// The leader-side MemberPromote of this member (no forwarding; "etcdserver: not leader" if it
// no longer leads).
using Promoter = std::function<void(const etcdserverpb::MemberPromoteRequest&,
                                    Done<etcdserverpb::MemberPromoteResponse>)>;
// A follower's lease calls, answered by this member's lessor (NotLeader if it is not the
// promoted leader).
using LeaseRenewer = std::function<void(int64_t, Done<int64_t>)>;
using LeaseTtlReader = std::function<void(const etcdserverpb::LeaseTimeToLiveRequest&,
                                          Done<etcdserverpb::LeaseTimeToLiveResponse>)>;
struct DiscoveryHandlers {
  MemberLister members;
  Promoter promote;
  LeaseRenewer renew;
  LeaseTtlReader time_to_live;
  // Whether this member leads now: a leader not yet promoted (still applying earlier terms)
  // makes a forwarded lease call wait a little rather than fail.
  std::function<bool()> is_leader;
  // This member's state for another member's /debug/raft (EtcdServer::Impl::DebugStatus).
  std::function<raftkvpb::MemberDebug()> debug;
};
std::unique_ptr<grpc::Service> NewDiscoveryService(uint64_t cluster_id, DiscoveryHandlers h);
Result<raftkvpb::Identity> DiscoverIdentity(const ServerConfig& config);
// True if a member reachable at one of `peer_urls` lists `self` as removed from the cluster
// (how a member removed while cut off learns it: the leader stops talking to it).
bool AskIfRemoved(const std::vector<std::string>& peer_urls, uint64_t self,
                  const tls::TlsConfig& peer_tls);

// --- The cluster view of /debug/raft --------------------------------------------------------
// Asks members for their MemberDebug over their peer URLs (Discovery.Debug). Channels are
// kept per URL, so a page polling every second reuses connections; a dead member costs at
// most `timeout` (a refused connection fails at once).
class DebugPeers {
 public:
  // The member's answer with up = true, or up = false and the error.
  raftkvpb::MemberDebug Ask(const std::string& peer_url, uint64_t cluster_id,
                            std::chrono::milliseconds timeout);

 private:
  std::shared_ptr<grpc::Channel> channel(const std::string& url);
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

// --- Promote forwarding ---------------------------------------------------------------------
// Follower side: asks the leader at `leader_url` to promote `req` and waits at most `timeout`
// (blocking: call it on a thread of its own). The leader's answer, its etcd error, or
// "etcdserver: request timed out" if it cannot be reached.
Result<etcdserverpb::MemberPromoteResponse> ForwardPromote(
    const std::string& leader_url, uint64_t cluster_id,
    const etcdserverpb::MemberPromoteRequest& req, std::chrono::milliseconds timeout,
    const tls::TlsConfig& peer_tls = {});

// A channel to a member's peer URL: TLS with the --peer-* certificates for https:// URLs
// (all calls on the peer port go through this), plaintext otherwise.
Result<std::shared_ptr<grpc::Channel>> PeerChannel(const std::string& url,
                                                   const tls::TlsConfig& peer_tls);

}  // namespace raftkv::server
