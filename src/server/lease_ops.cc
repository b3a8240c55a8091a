// The Lease calls (etcd's Lease service) and the space quota's edge check. Grants and revokes
// go through the log like any write; keep-alives and time-to-live are answered by the leader's
// lessor (a follower forwards them, LeaseRuntime); the lease list is the local table.
#include <spdlog/spdlog.h>

#include "api/errors.h"
#include "kv/errors.h"
#include "server/auth_ops.h"
#include "server/server_impl.h"

namespace raftkv::server {
namespace {

// etcd's quota costs (etcdserver/quota.go): a put costs its key and value plus 256 bytes, a
// txn its larger branch of puts, a lease grant 64 bytes.
constexpr int64_t kQuotaKvOverhead = 256;
constexpr int64_t kQuotaLeaseOverhead = 64;
constexpr int64_t kDefaultQuotaBytes = int64_t{2} << 30;  // etcd's DefaultQuotaBytes (2 GiB)

int64_t PutCost(const etcdserverpb::PutRequest& p) {
  return kQuotaKvOverhead + static_cast<int64_t>(p.key().size() + p.value().size());
}

int64_t BranchCost(const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops) {
  int64_t cost = 0;
  for (const auto& op : ops) {
    if (op.has_request_put()) cost += PutCost(op.request_put());
  }
  return cost;
}

}  // namespace

int64_t QuotaCost(const etcdserverpb::TxnRequest& t) {
  return std::max(BranchCost(t.success()), BranchCost(t.failure()));
}
int64_t QuotaCost(const etcdserverpb::PutRequest& p) {
  return PutCost(p);
}

// etcd's quotaAlarmer.check: a write that would take the store past the quota is refused
// with NOSPACE, and the alarm is raised (through the log) for this member.
Status EtcdServer::Impl::CheckQuota(int64_t cost) {
  const int64_t quota =
      config_.quota_backend_bytes == 0 ? kDefaultQuotaBytes : config_.quota_backend_bytes;
  if (quota < 0 || cost == 0) return Status::OK();
  if (ReadStore()->SizeBytes() + cost < quota) return Status::OK();
  raftkvpb::InternalRequest r;
  auto* a = r.mutable_alarm();
  a->set_action(etcdserverpb::AlarmRequest::ACTIVATE);
  a->set_memberid(member_id_);
  a->set_alarm(etcdserverpb::NOSPACE);
  Propose(std::move(r), [](const ApplyResult&) {});
  return Status::FailedPrecondition(api::kErrNoSpace);
}

// --- leader side ----------------------------------------------------------------------------

// A keep-alive on the primary: the deadline is renewed now, and the answer waits for a
// ReadIndex round (shared with the reads of the moment) that confirms this member still
// leads. A deposed leader that does not know it yet thus never promises a TTL the new leader
// might not honour: the new leader was elected after the followers answered this round, so
// it promotes (full TTL + election timeout) after this renewal (lease/lessor.h).
// "Expired" (TTL 0) waits for the same confirmation: a deposed leader's deadlines are stale
// (the renewals went to the new leader), so its "expired" is no more to be trusted than its
// renewals; etcd's LeaseRenew ensures the leadership before either answer. Seen in a chaos run:
// a leader paused for 2.4 s resumed with its lessor still primary, found the lease past its
// stale deadline and answered TTL 0 while the new leader kept the lease alive.
void EtcdServer::Impl::LeaseRenewAsLeader(int64_t id, Done<int64_t> done) {
  auto renewed = leases_->lessor().Renew(id);
  if (!renewed.ok() && !renewed.status().Is(Status::Code::kNotFound)) {
    return done(renewed.status());
  }
  const int64_t ttl = renewed.ok() ? *renewed : 0;  // etcd: TTL 0 for a lease that is gone
  // Inside the leader lease no other member can have taken over (and one that takes over
  // later extends every lease past what this answer promises: leader_lease.h), so the
  // answer needs no round. Outside it, a ReadIndex round must first confirm that this
  // member still leads (etcd 3.5's ensureLeadership), or an isolated old leader would
  // keep renewing leases that the new leader lets expire.
  if (LeaderLeaseHolds()) {
    keepalives_in_lease_++;
    return done(ttl);
  }
  keepalives_after_round_++;
  // The round must be this leader's own, in the term in which it renewed (§6.4): a round that
  // went unanswered is asked again after a stepdown, through the new leader, and then confirms
  // only that someone leads. Seen in a 5-member chaos run: a leader paused for 4 s resumed,
  // found the lease past its stale deadline, stepped down, and the retried round answered the
  // keep-alive with that TTL 0 while the new leader kept the lease alive. A member leads at
  // most once per term, so "still leader in the same term" means it led throughout.
  const uint64_t renewed_in = term();
  LinearizableRead([](kv::Store&) -> ApplyResult { return std::string(); },
                   [this, ttl, renewed_in, done = std::move(done)](ApplyResult r) {
                     if (!r.ok()) return done(r.status());
                     if (term() != renewed_in || leader() != member_id_) {
                       return done(Status::Unavailable(api::kErrLeaderChanged));
                     }
                     done(ttl);
                   });
}

void EtcdServer::Impl::LeaseTimeToLiveAsLeader(const etcdserverpb::LeaseTimeToLiveRequest& req,
                                               Done<etcdserverpb::LeaseTimeToLiveResponse> done) {
  auto left = leases_->lessor().Remaining(req.id());
  if (!left.ok()) return done(left.status());
  auto l = ReadStore()->LeaseLookup(req.id());
  if (!l.ok()) return done(l.status());
  etcdserverpb::LeaseTimeToLiveResponse r;
  r.set_id(req.id());
  // etcd truncates the remaining time to whole seconds.
  r.set_ttl(std::chrono::duration_cast<std::chrono::seconds>(*left).count());
  r.set_grantedttl(l->ttl);
  if (req.keys()) {
    for (const auto& k : l->keys) r.add_keys(k);
  }
  api::FillHeader(api::HeaderInfo{cluster_id_, member_id_, term()}, r.mutable_header());
  r.mutable_header()->set_revision(revision_.load());
  done(std::move(r));
}

// Raft thread, every tick: what only the leader does on a timer. Expired leases are revoked
// through the log (one entry each, carrying the primary's term), auto compaction proposes
// its compactions, and calls parked for want of a leader are retried.
void EtcdServer::Impl::leaderDuties(Clock::time_point now) {
  leases_->RunParked(now);
  if (auto expired = leases_->DueExpiries(now)) {
    for (int64_t id : expired->ids) {
      raftkvpb::InternalRequest r;
      r.mutable_lease_revoke()->set_id(id);
      r.mutable_lease_revoke()->set_expiry_term(expired->term);
      Propose(std::move(r), [](const ApplyResult&) {});
    }
  }
  if (compactor_ == nullptr || soft_.role != raft::Role::kLeader) return;
  if (auto rev = compactor_->Tick(now, revision_.load())) {
    spdlog::info("auto compaction at revision {}", *rev);
    raftkvpb::InternalRequest r;
    r.mutable_compaction()->set_revision(*rev);
    Propose(std::move(r), [this](const ApplyResult& res) {
      // "compacted" means someone compacted further already: done, as in etcd.
      bool ok = res.ok() || res.status().message() == kv::kErrCompacted;
      RunOnRaft([this, ok](raft::RawNode&) { compactor_->Done(ok, Clock::now()); });
    });
  }
}

// --- any member -----------------------------------------------------------------------------

// Runs `local` if this member is the promoted leader, else `forward` with the leader's peer
// URL; with no (promoted) leader known yet, retries on later ticks until the request timeout.
void EtcdServer::Impl::LeaderCall(std::function<void()> local,
                                  std::function<void(const std::string&)> forward,
                                  std::function<void(Status)> fail, Clock::time_point deadline) {
  if (stopped()) return fail(Status::Unavailable(api::kErrStopped));
  if (leases_->lessor().primary()) return local();
  uint64_t lead = leader();
  std::string url;
  if (lead != raft::kNoNode && lead != member_id_) url = leaderPeerUrl(lead);
  if (!url.empty()) return forward(url);
  leases_->Park(
      deadline,
      [this, local = std::move(local), forward = std::move(forward), fail, deadline] {
        LeaderCall(local, forward, fail, deadline);
      },
      fail);
}

// The leader's peer URL from the cache, or "" while the apply thread (which owns the member
// table) fills it: this runs on gRPC threads and on the raft thread (parked calls), neither
// of which may wait for the apply thread (a snapshot install can keep it busy for seconds).
std::string EtcdServer::Impl::leaderPeerUrl(uint64_t lead) {
  std::string url = leases_->CachedPeerUrl(lead);
  if (!url.empty()) return url;
  RunOnApply([this, lead] {
    const etcdserverpb::Member* m = members_.Find(lead);
    if (m != nullptr && !m->peerurls().empty()) leases_->CachePeerUrl(lead, m->peerurls(0));
  });
  return "";
}

void EtcdServer::LeaseGrant(const etcdserverpb::LeaseGrantRequest& req, const auth::AuthInfo& who,
                            Done<etcdserverpb::LeaseGrantResponse> done) {
  if (impl_->is_learner())
    return done(raftkv::Status::Unavailable(api::kErrNotSupportedForLearner));
  raftkv::Status q = impl_->CheckQuota(kQuotaLeaseOverhead);
  if (!q.ok()) return done(q);
  raftkvpb::InternalRequest r;
  SetCaller(who, &r);
  auto* g = r.mutable_lease_grant();
  // No id given: the server chooses one (etcd's v3_server LeaseGrant).
  g->set_id(req.id() != 0 ? req.id() : impl_->leases().NextLeaseId());
  // The minimum is applied here, so the log carries the TTL every member grants.
  g->set_ttl(std::max(req.ttl(), impl_->leases().min_ttl()));
  impl_->Propose(std::move(r), impl_->Typed<etcdserverpb::LeaseGrantResponse>(std::move(done)));
}

void EtcdServer::LeaseRevoke(const etcdserverpb::LeaseRevokeRequest& req, const auth::AuthInfo& who,
                             Done<etcdserverpb::LeaseRevokeResponse> done) {
  if (impl_->is_learner())
    return done(raftkv::Status::Unavailable(api::kErrNotSupportedForLearner));
  raftkvpb::InternalRequest r;
  SetCaller(who, &r);  // checked when applied (CheckApplyPermission)
  r.mutable_lease_revoke()->set_id(req.id());
  impl_->Propose(std::move(r), impl_->Typed<etcdserverpb::LeaseRevokeResponse>(std::move(done)));
}

void EtcdServer::LeaseKeepAlive(int64_t id, Done<int64_t> done) {
  Impl* impl = impl_.get();
  auto shared = std::make_shared<Done<int64_t>>(std::move(done));
  impl->LeaderCall([impl, id, shared] { impl->LeaseRenewAsLeader(id, *shared); },
                   [impl, id, shared](const std::string& url) {
                     impl->leases().ForwardKeepAlive(url, id, *shared);
                   },
                   [shared](raftkv::Status s) { (*shared)(s); }, impl->Deadline());
}

void EtcdServer::LeaseTimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& req,
                                 const auth::AuthInfo& who,
                                 Done<etcdserverpb::LeaseTimeToLiveResponse> done) {
  Impl* impl = impl_.get();
  using Resp = etcdserverpb::LeaseTimeToLiveResponse;
  // etcd checks only a call that asks for the keys: their names are what it would reveal.
  const bool check = req.keys() && impl->auth().enabled();
  if (check) {
    raftkv::Status s =
        CheckLeaseKeys(impl->auth(), *impl->ReadStore(), who, req.id(), LeaseKeyAccess::kRead);
    if (!s.ok()) return done(s);
  }
  // Forwarded answers carry the leader's header; this member's identity goes on top.
  auto shared =
      std::make_shared<Done<Resp>>([impl, who, check, done = std::move(done)](Result<Resp> r) {
        if (r.ok() && check) {
          raftkv::Status s = impl->auth().CheckUnchanged(who);
          if (!s.ok()) return done(s);
        }
        if (r.ok()) {
          r->mutable_header()->set_cluster_id(impl->cluster_id());
          r->mutable_header()->set_member_id(impl->member_id());
        }
        done(std::move(r));
      });
  impl->LeaderCall([impl, req, shared] { impl->LeaseTimeToLiveAsLeader(req, *shared); },
                   [impl, req, shared](const std::string& url) {
                     impl->leases().ForwardTimeToLive(url, req, *shared);
                   },
                   [shared](raftkv::Status s) { (*shared)(s); }, impl->Deadline());
}

void EtcdServer::LeaseLeases(Done<etcdserverpb::LeaseLeasesResponse> done) {
  if (impl_->stopped()) return done(raftkv::Status::Unavailable(api::kErrStopped));
  etcdserverpb::LeaseLeasesResponse r;
  for (int64_t id : impl_->ReadStore()->LeaseIds()) r.add_leases()->set_id(id);
  FillHeader(r.mutable_header());
  done(std::move(r));
}

void EtcdServer::FillHeader(etcdserverpb::ResponseHeader* h) const {
  api::FillHeader(api::HeaderInfo{impl_->cluster_id(), impl_->member_id(), impl_->term()}, h);
  h->set_revision(impl_->revision());
}

}  // namespace raftkv::server
