// Membership calls (etcd's Cluster service): adds, removals and promotions are raft
// configuration changes (one at a time, thesis §4.1) answered once this member applied them;
// peer URL updates are normal log entries.
#include <spdlog/spdlog.h>

#include <future>
#include <thread>

#include "api/errors.h"
#include "server/discovery.h"
#include "server/reconfig_check.h"
#include "server/server_impl.h"

namespace raftkv::server {
namespace {

bool SharesPeerUrl(const MemberTable& t,
                   const google::protobuf::RepeatedPtrField<std::string>& urls, uint64_t except) {
  for (const auto& m : t.List()) {
    if (m.id() == except) continue;
    for (const auto& a : m.peerurls()) {
      for (const auto& b : urls) {
        if (a == b) return true;
      }
    }
  }
  return false;
}

// etcd refuses to promote a learner whose log is behind the leader's by more than 10%
// (etcdserver isLearnerReady): it could not vote usefully and might cost the quorum.
// A template so it can take EtcdServer::Impl (private to EtcdServer: deduced, never named).
template <typename Server>
void PromoteOnLeader(Server& s, const etcdserverpb::MemberPromoteRequest& req,
                     Done<etcdserverpb::MemberPromoteResponse> done) {
  if (s.stopped()) return done(Status::Unavailable(api::kErrStopped));
  auto members = s.MemberTableNow();
  if (!members.ok()) return done(members.status());
  const etcdserverpb::Member* m = nullptr;
  for (const auto& x : members->members()) {
    if (x.id() == req.id()) m = &x;
  }
  if (m == nullptr) return done(Status::NotFound(api::kErrMemberNotFound));
  if (!m->islearner()) return done(Status::FailedPrecondition(api::kErrMemberNotLearner));
  raft::ProgressStatus learner, self;
  raft::Index last = 0;
  if (!s.LeaderProgress(req.id(), &learner, &last) ||
      !s.LeaderProgress(s.member_id(), &self, &last)) {
    return done(Status::Unavailable(api::kErrNotLeader));
  }
  if (static_cast<double>(learner.match) < 0.9 * static_cast<double>(self.match)) {
    spdlog::info("promote of {:x} refused: match {} of leader's {}", req.id(), learner.match,
                 self.match);
    return done(Status::FailedPrecondition(api::kErrLearnerNotReady));
  }
  if (s.config().strict_reconfig_check) {
    Status st = CheckPromoteMember(ReconfigView{
        std::vector<etcdserverpb::Member>(members->members().begin(), members->members().end()),
        s.member_id(),
        {}});
    if (!st.ok()) return done(st);
  }
  raftkvpb::ConfChangeContext ctx;
  *ctx.mutable_member() = *m;
  s.ProposeConfChange(raft::ConfChangeType::kAddNode, std::move(ctx),
                      s.template Typed<etcdserverpb::MemberPromoteResponse>(std::move(done)));
}

const etcdserverpb::Member* FindMember(const raftkvpb::MemberTable& t, uint64_t id) {
  for (const auto& m : t.members()) {
    if (m.id() == id) return &m;
  }
  return nullptr;
}

}  // namespace

void EtcdServer::Impl::PromoteAsLeader(const etcdserverpb::MemberPromoteRequest& req,
                                       Done<etcdserverpb::MemberPromoteResponse> done) {
  PromoteOnLeader(*this, req, std::move(done));
}

Result<raftkvpb::MemberTable> EtcdServer::Impl::MemberTableNow() {
  auto p = std::make_shared<std::promise<raftkvpb::MemberTable>>();
  auto f = p->get_future();
  RunOnApply([this, p] { p->set_value(members_.ToProto()); });
  if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    return Status::Unavailable(api::kErrTimeout);
  }
  return f.get();
}

// What --strict-reconfig-check looks at (apply thread: it reads the member table).
ReconfigView EtcdServer::Impl::reconfigView() const {
  ReconfigView v{members_.List(), member_id_, {}, leader() == member_id_};
  if (transport_) {
    for (const auto& [id, ps] : transport_->Stats()) {
      if (ps.connected) v.connected.insert(id);
    }
  }
  return v;
}

void EtcdServer::Impl::MemberAdd(const etcdserverpb::MemberAddRequest& req,
                                 Done<etcdserverpb::MemberAddResponse> done) {
  if (req.peerurls().empty()) {
    return done(Status::InvalidArgument("etcdserver: member peer URLs are required"));
  }
  if (stopped()) return done(Status::Unavailable(api::kErrStopped));
  RunOnApply([this, req, done = std::move(done)]() mutable {
    if (SharesPeerUrl(members_, req.peerurls(), 0)) {
      return done(Status::FailedPrecondition(api::kErrPeerUrlExist));
    }
    // etcd 3.4 allows one learner at a time (membership.maxLearners).
    if (req.islearner() && members_.learners() >= 1) {
      return done(Status::FailedPrecondition(api::kErrTooManyLearners));
    }
    if (config_.strict_reconfig_check) {
      Status st = CheckAddMember(reconfigView(), req.islearner());
      if (!st.ok()) return done(st);
    }
    std::vector<std::string> urls(req.peerurls().begin(), req.peerurls().end());
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    raftkvpb::ConfChangeContext ctx;
    etcdserverpb::Member* m = ctx.mutable_member();
    m->set_id(ComputeMemberId(urls, config_.initial_cluster_token, now));
    for (const auto& u : urls) m->add_peerurls(u);
    m->set_islearner(req.islearner());
    auto type =
        req.islearner() ? raft::ConfChangeType::kAddLearnerNode : raft::ConfChangeType::kAddNode;
    ProposeConfChange(type, std::move(ctx),
                      Typed<etcdserverpb::MemberAddResponse>(std::move(done)));
  });
}

void EtcdServer::Impl::MemberRemove(const etcdserverpb::MemberRemoveRequest& req,
                                    Done<etcdserverpb::MemberRemoveResponse> done) {
  if (stopped()) return done(Status::Unavailable(api::kErrStopped));
  RunOnApply([this, id = req.id(), done = std::move(done)]() mutable {
    if (members_.Find(id) == nullptr) return done(Status::NotFound(api::kErrMemberNotFound));
    if (config_.strict_reconfig_check) {
      Status st = CheckRemoveMember(reconfigView(), id);
      if (!st.ok()) return done(st);
    }
    raftkvpb::ConfChangeContext ctx;
    ctx.mutable_member()->set_id(id);
    ProposeConfChange(raft::ConfChangeType::kRemoveNode, std::move(ctx),
                      Typed<etcdserverpb::MemberRemoveResponse>(std::move(done)));
  });
}

void EtcdServer::Impl::MemberUpdate(const etcdserverpb::MemberUpdateRequest& req,
                                    Done<etcdserverpb::MemberUpdateResponse> done) {
  if (stopped()) return done(Status::Unavailable(api::kErrStopped));
  RunOnApply([this, req, done = std::move(done)]() mutable {
    if (members_.Find(req.id()) == nullptr) {
      return done(Status::NotFound(api::kErrMemberNotFound));
    }
    if (SharesPeerUrl(members_, req.peerurls(), req.id())) {
      return done(Status::FailedPrecondition(api::kErrPeerUrlExist));
    }
    raftkvpb::InternalRequest r;
    r.mutable_member_update()->set_id(req.id());
    for (const auto& u : req.peerurls()) r.mutable_member_update()->add_peer_urls(u);
    Propose(std::move(r), Typed<etcdserverpb::MemberUpdateResponse>(std::move(done)));
  });
}

void EtcdServer::Impl::MemberList(Done<etcdserverpb::MemberListResponse> done) {
  if (stopped()) return done(Status::Unavailable(api::kErrStopped));
  Waiter w = Typed<etcdserverpb::MemberListResponse>(std::move(done));
  SerializableRead(
      [this](kv::Store&) -> ApplyResult {
        etcdserverpb::MemberListResponse r;
        for (const auto& m : members_.List()) *r.add_members() = m;
        return r.SerializeAsString();
      },
      std::move(w));
}

// Only the leader can check the learner's progress: a follower forwards the call to it over
// the peer port (as etcd does) on a thread of its own, so no server thread waits on the network,
// and answers with the leader's result under its own header.
void EtcdServer::Impl::MemberPromote(const etcdserverpb::MemberPromoteRequest& req,
                                     Done<etcdserverpb::MemberPromoteResponse> done) {
  if (stopped()) return done(Status::Unavailable(api::kErrStopped));
  uint64_t lead = leader();
  if (lead == member_id_) return PromoteOnLeader(*this, req, std::move(done));
  if (lead == 0) return done(Status::Unavailable(api::kErrNoLeader));
  auto members = MemberTableNow();
  if (!members.ok()) return done(members.status());
  const etcdserverpb::Member* l = FindMember(*members, lead);
  if (l == nullptr || l->peerurls().empty()) return done(Status::Unavailable(api::kErrNoLeader));
  std::thread([url = l->peerurls(0), cluster = cluster_id_, self = member_id_, req,
               timeout = request_timeout_, peer_tls = config_.peer_tls, done = std::move(done)] {
    auto r = ForwardPromote(url, cluster, req, timeout, peer_tls);
    if (r.ok()) {
      // The leader's term and revision; this member's identity.
      r->mutable_header()->set_cluster_id(cluster);
      r->mutable_header()->set_member_id(self);
    }
    done(std::move(r));
  }).detach();
}

// --- facade -------------------------------------------------------------------------------

void EtcdServer::MemberAdd(const etcdserverpb::MemberAddRequest& req,
                           Done<etcdserverpb::MemberAddResponse> done) {
  impl_->MemberAdd(req, std::move(done));
}
void EtcdServer::MemberRemove(const etcdserverpb::MemberRemoveRequest& req,
                              Done<etcdserverpb::MemberRemoveResponse> done) {
  impl_->MemberRemove(req, std::move(done));
}
void EtcdServer::MemberUpdate(const etcdserverpb::MemberUpdateRequest& req,
                              Done<etcdserverpb::MemberUpdateResponse> done) {
  impl_->MemberUpdate(req, std::move(done));
}
void EtcdServer::MemberList(const etcdserverpb::MemberListRequest&,
                            Done<etcdserverpb::MemberListResponse> done) {
  impl_->MemberList(std::move(done));
}
void EtcdServer::MemberPromote(const etcdserverpb::MemberPromoteRequest& req,
                               Done<etcdserverpb::MemberPromoteResponse> done) {
  impl_->MemberPromote(req, std::move(done));
}

}  // namespace raftkv::server
