// LeaseRuntime: the server's part of leases that is neither the replicated table (kv::Store
// holds it) nor the gRPC service (daemon/lease_service.cc):
//  - the leader's lessor (lease/lessor.h): promoted by the apply thread once this member,
//    leading term T, applied T's first entry (every earlier entry is applied then, etcd's
//    rule); demoted by the raft thread when the leadership ends;
//  - the expiry cadence: every 500 ms the raft thread asks DueExpiries() and proposes one
//    revoke per expired lease (carrying the primary's term, see internal.proto);
//  - keep-alives and time-to-live calls a follower cannot answer, forwarded to the leader over
//    the peer port (raftkvpb.Discovery) with gRPC's async client: no thread waits;
//  - calls that arrived while no leader (or no promoted leader) was known, retried on the
//    raft thread's ticks until the request timeout;
//  - server-chosen lease ids, etcd style.
// Thread-safe; it owns no thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "etcdserverpb/rpc.pb.h"
#include "lease/lessor.h"
#include "raftkvpb/internal.grpc.pb.h"
#include "server/etcd_server.h"
#include "tls/tls.h"

namespace raftkv::server {

class LeaseRuntime {
 public:
  using Clock = std::chrono::steady_clock;

  // `peer_tls`: how to reach an https:// leader (its peer certificate is our client one).
  // `now`: the lessor's clock (null: the steady clock).
  LeaseRuntime(uint64_t member_id, uint64_t cluster_id, int heartbeat_ms, int election_ms,
               tls::TlsConfig peer_tls = {}, lease::NowFn now = nullptr);

  lease::Lessor& lessor() { return lessor_; }
  // etcd's minimum TTL: (3 * election ticks / 2) heartbeats, rounded up to whole seconds.
  int64_t min_ttl() const { return min_ttl_; }
  std::chrono::milliseconds election_timeout() const { return election_; }
  // A fresh positive id (etcd's id generator: member bits, time, counter).
  int64_t NextLeaseId();

  // Raft thread, each tick: the expired leases to revoke, at most every 500 ms.
  std::optional<lease::Expired> DueExpiries(Clock::time_point now);

  // --- forwarding to the leader (any thread; `done` runs on a gRPC thread) -----------------
  void ForwardKeepAlive(const std::string& leader_peer_url, int64_t id, Done<int64_t> done);
  void ForwardTimeToLive(const std::string& leader_peer_url,
                         const etcdserverpb::LeaseTimeToLiveRequest& req,
                         Done<etcdserverpb::LeaseTimeToLiveResponse> done);

  // The leader's peer URL, cached (the member table lives on the apply thread); "" if unknown.
  std::string CachedPeerUrl(uint64_t member);
  void CachePeerUrl(uint64_t member, const std::string& url);

  // --- waiting for a leader --------------------------------------------------------------
  // Runs `retry` again on a later tick (at most every 50 ms), or `fail` with "request timed
  // out" once `deadline` passed.
  void Park(Clock::time_point deadline, std::function<void()> retry,
            std::function<void(Status)> fail);
  // Raft thread, each tick: runs the parked calls that are due (outside the lock).
  void RunParked(Clock::time_point now);
  // The server stops: every parked call fails with `why` (its stream can then finish).
  void FailParked(const Status& why);

 private:
  // Null if the URL's TLS credentials do not load (logged once per URL).
  raftkvpb::Discovery::Stub* stubFor(const std::string& url);

  const uint64_t member_id_;
  const uint64_t cluster_id_;
  const std::chrono::milliseconds election_;
  const tls::TlsConfig peer_tls_;
  const int64_t min_ttl_;
  lease::Lessor lessor_;
  Clock::time_point next_expiry_check_{};

  std::mutex mu_;
  uint64_t id_seq_ = 0;
  std::map<std::string, std::unique_ptr<raftkvpb::Discovery::Stub>> stubs_;
  struct Parked {
    Clock::time_point deadline;
    std::function<void()> retry;
    std::function<void(Status)> fail;
  };
  std::vector<Parked> parked_;
  std::pair<uint64_t, std::string> peer_url_{0, ""};
  Clock::time_point next_parked_run_{};
};

}  // namespace raftkv::server
