#include "sim/check/config_checker.h"

#include <algorithm>

namespace raftkv::check {

using raft::ConfState;
using raft::Index;
using raft::NodeId;

namespace {

bool Majority(const std::set<NodeId>& group, const std::vector<NodeId>& voters) {
  if (voters.empty()) return true;
  size_t n = 0;
  for (NodeId v : voters) n += group.count(v);
  return 2 * n > voters.size();
}

bool IsQuorum(const std::set<NodeId>& group, const ConfState& cs) {
  return Majority(group, cs.voters) && Majority(group, cs.voters_outgoing);
}

std::string Ids(const std::vector<NodeId>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); i++) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "}";
}

std::string Describe(const ConfState& cs) {
  std::string s = Ids(cs.voters);
  if (!cs.voters_outgoing.empty()) s += "&" + Ids(cs.voters_outgoing);
  if (!cs.learners.empty()) s += " learners " + Ids(cs.learners);
  if (!cs.learners_next.empty()) s += " next " + Ids(cs.learners_next);
  return s;
}

}  // namespace

bool QuorumsOverlap(const ConfState& a, const ConfState& b) {
  if (a.voters.empty() || b.voters.empty()) return true;  // no configuration decides nothing
  std::set<NodeId> all;
  for (const auto* v : {&a.voters, &a.voters_outgoing, &b.voters, &b.voters_outgoing}) {
    all.insert(v->begin(), v->end());
  }
  std::vector<NodeId> ids(all.begin(), all.end());
  if (ids.size() > 16) return true;  // beyond any simulated cluster
  // Quorums are closed under adding members: disjoint quorums exist iff some split of the
  // voters puts a quorum of `a` on one side and a quorum of `b` on the other.
  for (uint32_t mask = 0; mask < (1u << ids.size()); mask++) {
    std::set<NodeId> left, right;
    for (size_t i = 0; i < ids.size(); i++) ((mask >> i) & 1 ? left : right).insert(ids[i]);
    if (IsQuorum(left, a) && IsQuorum(right, b)) return false;
  }
  return true;
}

void ConfigChecker::report(std::string v) {
  violations_.push_back(std::move(v));
}

void ConfigChecker::ObserveConfig(NodeId id, Index index, const ConfState& cs, bool from_entry) {
  if (from_entry) change_indexes_.insert(index);
  if (index > 0) {
    auto [it, fresh] = at_index_.emplace(index, cs);
    if (fresh) {
      first_seen_[index] = id;
    } else if (it->second != cs) {
      report("config-agreement: node " + std::to_string(id) + " has configuration " + Describe(cs) +
             " as of index " + std::to_string(index) + " but node " +
             std::to_string(first_seen_[index]) + " had " + Describe(it->second));
    }
  }
  Current& mine = current_[id];
  mine = Current{index, cs};
  checkOverlap(id, mine);
}

void ConfigChecker::checkOverlap(NodeId id, const Current& mine) {
  for (const auto& [other, theirs] : current_) {
    if (other == id) continue;
    Index lo = std::min(mine.index, theirs.index), hi = std::max(mine.index, theirs.index);
    auto first = change_indexes_.upper_bound(lo);
    auto last = change_indexes_.upper_bound(hi);
    if (std::distance(first, last) > 1) continue;  // more than one change apart
    if (!QuorumsOverlap(mine.conf, theirs.conf)) {
      report("quorum-overlap: node " + std::to_string(id) + " (" + Describe(mine.conf) + " as of " +
             std::to_string(mine.index) + ") and node " + std::to_string(other) + " (" +
             Describe(theirs.conf) + " as of " + std::to_string(theirs.index) +
             ") have disjoint majorities");
    }
  }
}

void ConfigChecker::ObserveDown(NodeId id) {
  current_.erase(id);
  log_checked_.erase(id);
}

void ConfigChecker::ObserveLog(NodeId id, const raft::RawNode& node) {
  raft::NodeStatus st = node.GetStatus();
  if (st.soft_state.role != raft::Role::kLeader) {
    log_checked_.erase(id);
    return;
  }
  Index last = node.LastIndex();
  auto [it, fresh] = log_checked_.try_emplace(id, last);
  if (fresh || log_term_[id] != st.hard_state.term) {
    // A new leadership: what it inherited was appended by earlier leaders.
    log_term_[id] = st.hard_state.term;
    it->second = last;
    return;
  }
  if (last <= it->second) {
    it->second = last;
    return;
  }
  Index prev = it->second;
  it->second = last;
  Index from = std::max(st.applied + 1, node.FirstIndex());
  auto ents = node.Entries(from, last + 1);
  if (!ents.ok()) return;
  Index pending = 0;  // the latest unapplied change seen so far
  for (const raft::Entry& e : *ents) {
    if (e.type != raft::EntryType::kConfChange) continue;
    if (pending != 0 && e.index > prev && e.term == st.hard_state.term) {
      report("one-change-at-a-time: leader " + std::to_string(id) + " (term " +
             std::to_string(st.hard_state.term) + ") appended a configuration change at " +
             std::to_string(e.index) + " while the change at " + std::to_string(pending) +
             " was not applied (applied " + std::to_string(st.applied) + ")");
      return;
    }
    pending = e.index;
  }
}

}  // namespace raftkv::check
