#include "raft/conf_changer.h"

#include <string>
#include <vector>

namespace raftkv::raft {

namespace {

using IdSet = std::set<NodeId>;

IdSet ToSet(const std::vector<NodeId>& v) {
  return IdSet(v.begin(), v.end());
}
std::vector<NodeId> ToVec(const IdSet& s) {
  return std::vector<NodeId>(s.begin(), s.end());
}

// The mutable form of a ConfState while a change is applied.
struct Sets {
  IdSet voters, outgoing, learners, learners_next;
};

Sets ToSets(const ConfState& cs) {
  return Sets{ToSet(cs.voters), ToSet(cs.voters_outgoing), ToSet(cs.learners),
              ToSet(cs.learners_next)};
}

ConfState ToConfState(const Sets& s, bool auto_leave) {
  ConfState cs;
  cs.voters = ToVec(s.voters);
  cs.voters_outgoing = ToVec(s.outgoing);
  cs.learners = ToVec(s.learners);
  cs.learners_next = ToVec(s.learners_next);
  cs.auto_leave = auto_leave;
  return cs;
}

Status ApplyOne(Sets* s, const ConfChangeSingle& c) {
  if (c.node_id == kNoNode) return Status::InvalidArgument("configuration change for node 0");
  NodeId id = c.node_id;
  switch (c.type) {
    case ConfChangeType::kAddNode:
      s->voters.insert(id);
      s->learners.erase(id);
      s->learners_next.erase(id);
      return Status::OK();
    case ConfChangeType::kRemoveNode:
      s->voters.erase(id);
      s->learners.erase(id);
      s->learners_next.erase(id);
      return Status::OK();
    case ConfChangeType::kAddLearnerNode:
      s->voters.erase(id);
      // A voter of the outgoing half keeps voting there until the joint configuration is
      // left; only then does it become a learner (etcd's LearnersNext).
      if (s->outgoing.count(id)) {
        s->learners_next.insert(id);
      } else {
        s->learners.insert(id);
      }
      return Status::OK();
  }
  return Status::InvalidArgument("unknown configuration change type");
}

size_t SymmetricDifference(const IdSet& a, const IdSet& b) {
  size_t n = 0;
  for (NodeId id : a) n += b.count(id) ? 0 : 1;
  for (NodeId id : b) n += a.count(id) ? 0 : 1;
  return n;
}

bool IsQuorum(const IdSet& group, const std::vector<NodeId>& voters) {
  if (voters.empty()) return true;  // an empty half never constrains (joint shape)
  size_t n = 0;
  for (NodeId id : voters) n += group.count(id);
  return n > voters.size() / 2;
}

bool IsQuorumOf(const IdSet& group, const ConfState& cs) {
  return IsQuorum(group, cs.voters) && IsQuorum(group, cs.voters_outgoing);
}

}  // namespace

bool IsJoint(const ConfState& cs) {
  return !cs.voters_outgoing.empty();
}

bool IsLeaveJoint(const ConfChange& cc) {
  return cc.changes.empty();
}

bool EntersJoint(const ConfChange& cc) {
  return !cc.changes.empty() &&
         (cc.transition != ConfChangeTransition::kAuto || cc.changes.size() > 1);
}

Result<ConfState> NextConfState(const ConfState& cs, const ConfChange& cc) {
  Sets s = ToSets(cs);
  if (IsLeaveJoint(cc)) {
    if (!IsJoint(cs)) {
      return Status::FailedPrecondition("empty configuration change outside a joint configuration");
    }
    for (NodeId id : s.learners_next) s.learners.insert(id);
    return ToConfState(Sets{s.voters, {}, s.learners, {}}, false);
  }
  if (IsJoint(cs)) {
    return Status::FailedPrecondition(
        "the configuration is joint: leave it (empty change) before the next change");
  }
  bool joint = EntersJoint(cc);
  if (joint) s.outgoing = s.voters;
  for (const ConfChangeSingle& c : cc.changes) RAFTKV_RETURN_IF_ERROR(ApplyOne(&s, c));
  if (s.voters.empty()) {
    return Status::FailedPrecondition("the change removes every voter");
  }
  if (!joint && SymmetricDifference(s.voters, ToSet(cs.voters)) > 1) {
    return Status::FailedPrecondition("a simple change may alter at most one voter");
  }
  bool auto_leave = joint && cc.transition != ConfChangeTransition::kJointExplicit;
  return ToConfState(s, auto_leave);
}

JointConfig ToJointConfig(const ConfState& cs) {
  return JointConfig{MajorityConfig(ToSet(cs.voters)), MajorityConfig(ToSet(cs.voters_outgoing))};
}

std::set<NodeId> Members(const ConfState& cs) {
  IdSet m = ToSet(cs.voters);
  for (const auto* v : {&cs.voters_outgoing, &cs.learners, &cs.learners_next}) {
    m.insert(v->begin(), v->end());
  }
  return m;
}

bool QuorumsIntersect(const ConfState& a, const ConfState& b) {
  if (a.voters.empty() || b.voters.empty()) return true;  // no configuration: decides nothing
  IdSet all = ToSet(a.voters);
  for (const auto* v : {&a.voters_outgoing, &b.voters, &b.voters_outgoing}) {
    all.insert(v->begin(), v->end());
  }
  std::vector<NodeId> ids(all.begin(), all.end());
  // Quorums are upward closed, so disjoint quorums exist iff some split of the voters into
  // two sides has a quorum of `a` on one side and a quorum of `b` on the other.
  if (ids.size() > 20) return true;  // far beyond any test cluster
  for (uint32_t mask = 0; mask < (1u << ids.size()); mask++) {
    IdSet left, right;
    for (size_t i = 0; i < ids.size(); i++) ((mask >> i) & 1 ? left : right).insert(ids[i]);
    if (IsQuorumOf(left, a) && IsQuorumOf(right, b)) return false;
  }
  return true;
}

}  // namespace raftkv::raft
