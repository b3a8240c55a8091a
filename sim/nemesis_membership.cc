// The nemesis's membership and leadership-transfer events (issue 3): changes are proposed
// to the current leader while the other faults keep going, so they race partitions,
// crashes, snapshots and leader changes. The core refuses what it must (a change while
// another is pending, promoting a learner that lags); the checkers judge the rest.
#include <algorithm>

#include "sim/nemesis.h"

namespace raftkv::sim {

namespace {

bool Has(const std::vector<NodeId>& v, NodeId id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

raft::ConfChangeSingle Single(raft::ConfChangeType t, NodeId id) {
  return raft::ConfChangeSingle{t, id};
}

}  // namespace

void Nemesis::changeMembership(bool burst) {
  NodeId leader = cluster_->Leader();
  if (leader == raft::kNoNode) return;
  const raft::ConfState conf = cluster_->Status(leader).conf;
  if (!conf.voters_outgoing.empty()) return;  // joint: the leader leaves it by itself
  const std::vector<NodeId>& voters = conf.voters;
  // Non-voters that may join: learners, removed nodes (their disk intact), brand-new ones.
  std::vector<NodeId> outsiders;
  for (NodeId id : ids_) {
    if (!Has(voters, id) && !Has(conf.learners, id)) outsiders.push_back(id);
  }
  using T = raft::ConfChangeType;
  raft::ConfChange cc;
  int kind = static_cast<int>(rng_->Uniform(6));
  const size_t min_voters = min_voters_, max_voters = max_voters_;
  if (kind == 0 && !outsiders.empty()) {
    // A new member: brand-new empty nodes first (they need a snapshot once logs compact).
    NodeId id = !never_members_.empty() && rng_->Chance(0.7)
                    ? never_members_.front()
                    : outsiders[rng_->Uniform(outsiders.size())];
    bool as_voter = voters.size() < max_voters && rng_->Chance(0.4);
    cc.changes.push_back(Single(as_voter ? T::kAddNode : T::kAddLearnerNode, id));
  } else if (kind == 1 && !conf.learners.empty() && voters.size() < max_voters) {
    cc.changes.push_back(Single(T::kAddNode, conf.learners[rng_->Uniform(conf.learners.size())]));
  } else if (kind == 2 && voters.size() > min_voters) {
    // Remove a voter; a third of the time the leader itself.
    NodeId id = rng_->Chance(0.33) ? leader : voters[rng_->Uniform(voters.size())];
    cc.changes.push_back(Single(T::kRemoveNode, id));
  } else if (kind == 3 && !conf.learners.empty()) {
    cc.changes.push_back(
        Single(T::kRemoveNode, conf.learners[rng_->Uniform(conf.learners.size())]));
  } else if (kind == 4 && !outsiders.empty()) {
    // Replace a voter (maybe the leader) in one joint change (§4.3).
    NodeId in = !never_members_.empty() && rng_->Chance(0.5)
                    ? never_members_.front()
                    : outsiders[rng_->Uniform(outsiders.size())];
    NodeId out = rng_->Chance(0.25) ? leader : voters[rng_->Uniform(voters.size())];
    cc.changes = {Single(T::kAddNode, in), Single(T::kRemoveNode, out)};
    if (rng_->Chance(0.3)) cc.transition = raft::ConfChangeTransition::kJointImplicit;
  } else if (kind == 5 && voters.size() > min_voters) {
    // Demote a voter to learner and, if there is one, promote a learner, jointly.
    NodeId out = voters[rng_->Uniform(voters.size())];
    cc.changes.push_back(Single(T::kAddLearnerNode, out));
    if (!conf.learners.empty()) {
      cc.changes.push_back(Single(T::kAddNode, conf.learners[rng_->Uniform(conf.learners.size())]));
    }
    cc.transition = raft::ConfChangeTransition::kJointImplicit;
  } else {
    return;
  }
  ++faults_;
  if (!cluster_->ProposeConfChange(leader, cc).ok()) return;
  for (const raft::ConfChangeSingle& c : cc.changes) std::erase(never_members_, c.node_id);
  // Now and then another change right away, while the first is in flight: the core must
  // refuse it (§4.1, one change at a time).
  if (!burst && rng_->Chance(0.3)) changeMembership(true);
}

void Nemesis::transferLeadership() {
  NodeId leader = cluster_->Leader();
  if (leader == raft::kNoNode) return;
  std::vector<NodeId> voters = cluster_->Status(leader).conf.voters;
  std::erase(voters, leader);
  if (voters.empty()) return;
  NodeId target = voters[rng_->Uniform(voters.size())];
  cluster_->Note(leader, "TRANSFER LEADERSHIP to n" + std::to_string(target));
  cluster_->TransferLeader(leader, target);
}

}  // namespace raftkv::sim
