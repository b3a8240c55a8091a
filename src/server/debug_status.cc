// /debug/raft: a member's raft state for the /ui page (debug.proto), and the cluster view
// that any member assembles by asking the others over the peer port. Why the peer port and
// not the others' metrics URLs: the member list carries every member's peer URLs (and the
// peer port is where the transport already reaches them), while metrics URLs are not
// announced anywhere; so the view works for any deployment, including members added later.
#include <fmt/format.h>

#include <future>

#include "server/server_impl.h"

namespace raftkv::server {
namespace {

std::string Hex(uint64_t id) {
  return id == 0 ? "" : fmt::format("{:x}", id);
}

const char* StateName(raft::ProgressState s) {
  switch (s) {
    case raft::ProgressState::kProbe: return "probe";
    case raft::ProgressState::kReplicate: return "replicate";
    case raft::ProgressState::kSnapshot: return "snapshot";
  }
  return "probe";
}

// As the page and debug.proto spell them.
const char* RoleText(raft::Role r) {
  switch (r) {
    case raft::Role::kFollower: return "follower";
    case raft::Role::kPreCandidate: return "pre-candidate";
    case raft::Role::kCandidate: return "candidate";
    case raft::Role::kLeader: return "leader";
  }
  return "follower";
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

raftkvpb::MemberDebug EtcdServer::Impl::DebugStatus() {
  raftkvpb::MemberDebug d;
  d.set_id(Hex(member_id_));
  d.set_name(config_.name);
  for (const auto& u : config_.initial_advertise_peer_urls) d.add_peer_urls(u);
  for (const auto& u : config_.advertise_client_urls) d.add_client_urls(u);
  d.set_time_ms(NowMs());
  // The raft thread owns the core and the storage: one short visit for both.
  struct Raft {
    raft::NodeStatus st;
    raft::Index snapshot = 0;
  };
  auto p = std::make_shared<std::promise<Raft>>();
  auto f = p->get_future();
  RunOnRaft([this, p](raft::RawNode& n) {
    Raft r;
    r.st = n.GetStatus();
    if (auto snap = storage_->GetSnapshot(); snap.ok()) r.snapshot = snap->meta.index;
    p->set_value(std::move(r));
  });
  if (f.wait_for(std::chrono::milliseconds(500)) != std::future_status::ready) {
    d.set_up(false);
    d.set_error(stopped() ? "server stopped" : "raft loop busy: no status within 500 ms");
    return d;
  }
  Raft r = f.get();
  const raft::NodeStatus& st = r.st;
  d.set_up(true);
  d.set_role(RoleText(st.soft_state.role));
  d.set_term(st.hard_state.term);
  d.set_vote(Hex(st.hard_state.vote));
  d.set_leader(Hex(st.soft_state.lead));
  d.set_last_index(st.last_index);
  d.set_commit_index(st.hard_state.commit);
  d.set_applied_index(applied_index());
  d.set_first_index(st.first_index);
  d.set_snapshot_index(r.snapshot);
  d.set_is_learner(is_learner());
  const auto contact = transport_->Stats();
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [id, pr] : st.progress) {
    if (id == member_id_) continue;
    raftkvpb::FollowerProgress* fp = d.add_followers();
    fp->set_id(Hex(id));
    fp->set_state(StateName(pr.state));
    fp->set_match(pr.match);
    fp->set_next(pr.next);
    fp->set_inflight(static_cast<uint32_t>(pr.inflight));
    fp->set_inflight_bytes(pr.inflight_bytes);
    fp->set_inflight_capacity(static_cast<uint32_t>(pr.inflight_capacity));
    fp->set_recent_active(pr.recent_active);
    fp->set_is_learner(pr.is_learner);
    fp->set_pending_snapshot(pr.pending_snapshot);
    auto it = contact.find(id);
    const bool heard = it != contact.end() && it->second.last_received.time_since_epoch().count();
    fp->set_last_contact_ms(heard ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                        now - it->second.last_received)
                                        .count()
                                  : -1);
  }
  timeline_.Fill(&d);
  return d;
}

raftkvpb::ClusterDebug EtcdServer::Impl::ClusterDebug(std::chrono::milliseconds peer_timeout) {
  raftkvpb::ClusterDebug c;
  c.set_cluster_id(Hex(cluster_id_));
  c.set_served_by(Hex(member_id_));
  c.set_time_ms(NowMs());
  auto table = MemberTableNow();
  std::vector<etcdserverpb::Member> members;
  if (table.ok()) members.assign(table->members().begin(), table->members().end());
  // Everyone at once: the view costs one timeout at worst, not one per dead member.
  std::vector<std::future<raftkvpb::MemberDebug>> answers;
  for (const auto& m : members) {
    if (m.id() == member_id_) {
      answers.push_back(std::async(std::launch::deferred, [this] { return DebugStatus(); }));
    } else if (m.peerurls().empty()) {
      answers.push_back(std::async(std::launch::deferred, [] {
        raftkvpb::MemberDebug d;
        d.set_error("no peer URL known");
        return d;
      }));
    } else {
      answers.push_back(std::async(std::launch::async, [this, url = m.peerurls(0), peer_timeout] {
        return debug_peers_.Ask(url, cluster_id_, peer_timeout);
      }));
    }
  }
  if (members.empty())
    answers.push_back(std::async(std::launch::deferred, [this] { return DebugStatus(); }));
  uint64_t best_term = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    raftkvpb::MemberDebug d = answers[i].get();
    if (i < members.size()) {
      const etcdserverpb::Member& m = members[i];
      // The member list's names and URLs, which a member that does not answer cannot give.
      d.set_id(Hex(m.id()));
      if (!m.name().empty()) d.set_name(m.name());
      d.mutable_peer_urls()->CopyFrom(m.peerurls());
      if (m.clienturls_size() > 0) d.mutable_client_urls()->CopyFrom(m.clienturls());
      if (m.islearner()) d.set_is_learner(true);
    }
    if (d.up() && d.role() == "leader" && d.term() >= best_term) {
      best_term = d.term();
      c.set_leader(d.id());
    }
    if (d.up() && d.term() > c.term()) c.set_term(d.term());
    for (auto& e : *d.mutable_events()) e.set_member(d.id());
    *c.add_members() = std::move(d);
  }
  return c;
}

raftkvpb::MemberDebug EtcdServer::DebugStatus() {
  return impl_->DebugStatus();
}

raftkvpb::ClusterDebug EtcdServer::ClusterDebug(std::chrono::milliseconds peer_timeout) {
  return impl_->ClusterDebug(peer_timeout);
}

}  // namespace raftkv::server
