#include "server/leases.h"

#include <spdlog/spdlog.h>

#include <cmath>

#include "api/errors.h"
#include "server/discovery.h"
#include "server/members.h"

namespace raftkv::server {

namespace {

int64_t MinTtlSeconds(int heartbeat_ms, int election_ms) {
  // etcd: minTTL = ((3 * electionTicks) / 2) * heartbeat, in whole seconds rounded up.
  const int64_t ticks = heartbeat_ms > 0 ? election_ms / heartbeat_ms : 0;
  const double ms = static_cast<double>((3 * ticks) / 2) * heartbeat_ms;
  return static_cast<int64_t>(std::ceil(ms / 1000.0));
}

// The per-call state of an async forward: the client context and messages live until the
// callback ran.
template <typename Resp>
struct Forward {
  grpc::ClientContext ctx;
  raftkvpb::LeaseForwardRequest req;
  Resp resp;
};

}  // namespace

LeaseRuntime::LeaseRuntime(uint64_t member_id, uint64_t cluster_id, int heartbeat_ms,
                           int election_ms, tls::TlsConfig peer_tls, lease::NowFn now)
    : member_id_(member_id),
      cluster_id_(cluster_id),
      election_(election_ms),
      peer_tls_(std::move(peer_tls)),
      min_ttl_(MinTtlSeconds(heartbeat_ms, election_ms)),
      lessor_(
          now ? std::move(now) : [] { return lease::Clock::now(); },
          lease::LessorOptions{std::chrono::milliseconds(5000 + 2 * election_ms), 500}) {}

int64_t LeaseRuntime::NextLeaseId() {
  std::lock_guard<std::mutex> l(mu_);
  if (id_seq_ == 0) {
    // etcd's idutil: the member's low 16 bits, then the time in ms (40 bits), then a counter.
    uint64_t ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
    id_seq_ = ((member_id_ & 0xffff) << 48) | ((ms & ((uint64_t{1} << 40) - 1)) << 8);
  }
  uint64_t id = 0;
  while (id == 0) id = ++id_seq_ & ((uint64_t{1} << 63) - 1);  // positive ids only
  return static_cast<int64_t>(id);
}

std::optional<lease::Expired> LeaseRuntime::DueExpiries(Clock::time_point now) {
  if (now < next_expiry_check_) return std::nullopt;
  next_expiry_check_ = now + std::chrono::milliseconds(500);  // etcd's revoke loop cadence
  lease::Expired e = lessor_.TakeExpired();
  if (e.ids.empty()) return std::nullopt;
  return e;
}

raftkvpb::Discovery::Stub* LeaseRuntime::stubFor(const std::string& url) {
  std::lock_guard<std::mutex> l(mu_);
  // One stub per leader URL seen, kept while the runtime lives: calls in flight use them.
  auto& stub = stubs_[url];
  if (stub == nullptr) {
    auto channel = PeerChannel(url, peer_tls_);
    if (!channel.ok()) {
      spdlog::warn("lease forwarding to {}: {}", url, channel.status().message());
      stubs_.erase(url);
      return nullptr;
    }
    stub = raftkvpb::Discovery::NewStub(*channel);
  }
  return stub.get();
}

void LeaseRuntime::ForwardKeepAlive(const std::string& url, int64_t id, Done<int64_t> done) {
  auto f = std::make_shared<Forward<raftkvpb::LeaseKeepAliveForwardResponse>>();
  f->ctx.set_deadline(std::chrono::system_clock::now() + election_ + std::chrono::seconds(5));
  f->req.set_cluster_id(cluster_id_);
  f->req.set_id(id);
  raftkvpb::Discovery::Stub* stub = stubFor(url);
  if (stub == nullptr) return done(Status::Unavailable(api::kErrNoLeader));
  stub->async()->LeaseKeepAlive(
      &f->ctx, &f->req, &f->resp, [f, done = std::move(done)](grpc::Status s) {
        if (!s.ok()) return done(Status::Unavailable(api::kErrNoLeader));
        if (f->resp.error_code() != 0) {
          return done(Status::FromWire(f->resp.error_code(), f->resp.error()));
        }
        done(f->resp.ttl());
      });
}

void LeaseRuntime::ForwardTimeToLive(const std::string& url,
                                     const etcdserverpb::LeaseTimeToLiveRequest& req,
                                     Done<etcdserverpb::LeaseTimeToLiveResponse> done) {
  auto f = std::make_shared<Forward<raftkvpb::LeaseTimeToLiveForwardResponse>>();
  f->ctx.set_deadline(std::chrono::system_clock::now() + election_ + std::chrono::seconds(5));
  f->req.set_cluster_id(cluster_id_);
  f->req.set_id(req.id());
  f->req.set_keys(req.keys());
  raftkvpb::Discovery::Stub* stub = stubFor(url);
  if (stub == nullptr) return done(Status::Unavailable(api::kErrNoLeader));
  stub->async()->LeaseTimeToLive(
      &f->ctx, &f->req, &f->resp, [f, done = std::move(done)](grpc::Status s) {
        if (!s.ok()) return done(Status::Unavailable(api::kErrNoLeader));
        if (f->resp.error_code() != 0) {
          return done(Status::FromWire(f->resp.error_code(), f->resp.error()));
        }
        done(std::move(*f->resp.mutable_response()));
      });
}

std::string LeaseRuntime::CachedPeerUrl(uint64_t member) {
  std::lock_guard<std::mutex> l(mu_);
  return peer_url_.first == member ? peer_url_.second : std::string();
}

void LeaseRuntime::CachePeerUrl(uint64_t member, const std::string& url) {
  std::lock_guard<std::mutex> l(mu_);
  peer_url_ = {member, url};
}

void LeaseRuntime::Park(Clock::time_point deadline, std::function<void()> retry,
                        std::function<void(Status)> fail) {
  std::lock_guard<std::mutex> l(mu_);
  parked_.push_back(Parked{deadline, std::move(retry), std::move(fail)});
}

void LeaseRuntime::FailParked(const Status& why) {
  std::vector<Parked> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    all.swap(parked_);
  }
  for (auto& p : all) p.fail(why);
}

void LeaseRuntime::RunParked(Clock::time_point now) {
  std::vector<Parked> due;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (parked_.empty() || now < next_parked_run_) return;
    next_parked_run_ = now + std::chrono::milliseconds(50);
    due.swap(parked_);
  }
  for (auto& p : due) {
    if (now >= p.deadline) {
      p.fail(Status::Unavailable(api::kErrTimeout));
    } else {
      p.retry();  // parks itself again if still no leader
    }
  }
}

}  // namespace raftkv::server
