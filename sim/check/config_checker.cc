#include "sim/check/config_checker.h"

#include <algorithm>

namespace raftkv::check {

using raft::ConfState;
using raft::Index;
using raft::NodeId;
using raft::Role;

namespace {

bool Majority(const std::set<NodeId>& group, const std::vector<NodeId>& voters) {
  if (voters.empty()) return true;
  size_t n = 0;
  for (NodeId v : voters) n += group.count(v);
  return 2 * n > voters.size();
}

// Whether the voters for which `pred` holds are a majority of `voters` (empty: trivially).
template <typename Pred>
bool Majority(const Pred& pred, const std::vector<NodeId>& voters) {
  size_t n = 0;
  for (NodeId v : voters) n += pred(v) ? 1 : 0;
  return voters.empty() || 2 * n > voters.size();
}

bool Has(const std::vector<NodeId>& v, NodeId id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

bool IsQuorum(const std::set<NodeId>& group, const ConfState& cs) {
  return Majority(group, cs.voters) && Majority(group, cs.voters_outgoing);
}

std::set<NodeId> Voters(const ConfState& cs) {
  std::set<NodeId> all(cs.voters.begin(), cs.voters.end());
  all.insert(cs.voters_outgoing.begin(), cs.voters_outgoing.end());
  return all;
}

template <typename C>
std::string Ids(const C& v) {
  std::string s = "{";
  for (NodeId id : v) s += (s.size() > 1 ? "," : "") + std::to_string(id);
  return s + "}";
}

std::string Describe(const ConfState& cs) {
  std::string s = Ids(cs.voters);
  if (!cs.voters_outgoing.empty()) s += "&" + Ids(cs.voters_outgoing);
  if (!cs.learners.empty()) s += " learners " + Ids(cs.learners);
  if (!cs.learners_next.empty()) s += " next " + Ids(cs.learners_next);
  return s;
}

// A quorum of `a` and a quorum of `b` with no member in common, if there are such.
std::optional<std::pair<std::set<NodeId>, std::set<NodeId>>> DisjointQuorums(const ConfState& a,
                                                                             const ConfState& b) {
  if (a.voters.empty() || b.voters.empty())
    return std::nullopt;  // no configuration decides nothing
  std::set<NodeId> all = Voters(a);
  for (NodeId id : Voters(b)) all.insert(id);
  std::vector<NodeId> ids(all.begin(), all.end());
  if (ids.size() > 16) return std::nullopt;  // beyond any simulated cluster
  // Quorums are closed under adding members: disjoint quorums exist iff some split of the
  // voters puts a quorum of `a` on one side and a quorum of `b` on the other.
  for (uint32_t mask = 0; mask < (1u << ids.size()); mask++) {
    std::set<NodeId> left, right;
    for (size_t i = 0; i < ids.size(); i++) ((mask >> i) & 1 ? left : right).insert(ids[i]);
    if (IsQuorum(left, a) && IsQuorum(right, b)) return std::make_pair(left, right);
  }
  return std::nullopt;
}

// §5.4.1: a voter denies its vote to a candidate whose log is less up-to-date than its own.
bool MoreUpToDate(const NodeLog& x, const NodeLog& y) {
  return x.last_term != y.last_term ? x.last_term > y.last_term : x.last_index > y.last_index;
}

std::string DescribeLog(const NodeLog& l) {
  return std::string(raft::RoleName(l.role)) + " in term " + std::to_string(l.term) +
         ", log ends at " + std::to_string(l.last_index) + " (term " + std::to_string(l.last_term) +
         ")";
}

}  // namespace

bool QuorumsOverlap(const ConfState& a, const ConfState& b) {
  return !DisjointQuorums(a, b).has_value();
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
  auto [it, fresh] = current_.try_emplace(id);
  Current& mine = it->second;
  // The pairs with disjoint quorums, and which of two is older, change with a configuration
  // and with its index: a configuration can recur at a later index (seed 577 of issue 11).
  if (fresh || mine.conf != cs || mine.index != index) pairs_dirty_ = true;
  mine = Current{index, cs};
  checkOverlap(id, mine);
}

void ConfigChecker::checkOverlap(NodeId id, const Current& mine) {
  for (const auto& [other, theirs] : current_) {
    if (other == id) continue;
    Index lo = std::min(mine.index, theirs.index), hi = std::max(mine.index, theirs.index);
    auto first = change_indexes_.upper_bound(lo);
    auto last = change_indexes_.upper_bound(hi);
    if (std::distance(first, last) > 1) continue;  // further apart: disjoint-majorities
    if (!overlapCached(mine.conf, theirs.conf)) {
      report("quorum-overlap: node " + std::to_string(id) + " (" + Describe(mine.conf) + " as of " +
             std::to_string(mine.index) + ") and node " + std::to_string(other) + " (" +
             Describe(theirs.conf) + " as of " + std::to_string(theirs.index) +
             ") have disjoint majorities");
    }
  }
}

bool ConfigChecker::overlapCached(const ConfState& a, const ConfState& b) {
  std::string key = Describe(a) + "|" + Describe(b);
  auto it = overlap_cache_.find(key);
  if (it == overlap_cache_.end()) it = overlap_cache_.emplace(key, QuorumsOverlap(a, b)).first;
  return it->second;
}

void ConfigChecker::ObserveDown(NodeId id, std::optional<NodeLog> disk) {
  current_.erase(id);
  log_checked_.erase(id);
  cores_.erase(id);
  logs_.erase(id);
  if (disk) logs_[id] = *disk;
  pairs_dirty_ = true;
}

const NodeLog* ConfigChecker::logOf(NodeId id) const {
  auto it = logs_.find(id);
  return it == logs_.end() ? nullptr : &it->second;
}

bool ConfigChecker::unappliedChange(NodeId id, const NodeLog& log) const {
  auto it = cores_.find(id);
  if (it == cores_.end()) return log.unapplied_change;  // a hand-made view says it
  const auto& [node, commit, applied] = it->second;
  if (commit <= applied) return false;
  auto ents = node->Entries(std::max(applied + 1, node->FirstIndex()), commit + 1);
  if (!ents.ok()) return false;
  for (const raft::Entry& e : *ents) {
    if (e.type == raft::EntryType::kConfChange) return true;
  }
  return false;
}

bool CoreRestoredNewerSnapshot(raft::Index reported_index, const raft::ConfState& reported,
                               const raft::NodeStatus& core) {
  // A runtime compacts only below what it applied, so a log starting after the reported
  // index comes from a snapshot the core restored on its own.
  return core.conf != reported || core.first_index - 1 > reported_index;
}

void ConfigChecker::ObserveLog(NodeId id, const NodeLog& log) {
  cores_.erase(id);
  logs_[id] = log;
  checkDisjointPairs();
}

void ConfigChecker::ObserveLog(NodeId id, const raft::RawNode& node) {
  raft::NodeStatus st = node.GetStatus();
  NodeLog& l = logs_[id];
  l = NodeLog{};
  l.term = st.hard_state.term;
  l.role = st.soft_state.role;
  l.last_index = st.last_index;
  auto t = node.TermAt(l.last_index);
  l.last_term = t.ok() ? *t : 0;
  if (auto c = current_.find(id);
      c != current_.end() && CoreRestoredNewerSnapshot(c->second.index, c->second.conf, st)) {
    l.core_conf = st.conf;
    l.core_conf_index = st.first_index - 1;
  }
  cores_[id] = CoreView{&node, st.hard_state.commit, st.applied};
  checkOneChangeAtATime(id, node, st);
  checkDisjointPairs();
}

void ConfigChecker::checkDisjointPairs() {
  if (pairs_dirty_) {
    disjoint_.clear();
    for (auto x = current_.begin(); x != current_.end(); ++x) {
      for (auto y = std::next(x); y != current_.end(); ++y) {
        const auto& [older, newer] =
            x->second.index <= y->second.index ? std::pair(x, y) : std::pair(y, x);
        Index lo = older->second.index, hi = newer->second.index;
        auto first = change_indexes_.upper_bound(lo);
        auto last = change_indexes_.upper_bound(hi);
        if (std::distance(first, last) <= 1) continue;  // quorum-overlap's case
        if (!overlapCached(older->second.conf, newer->second.conf)) {
          disjoint_.emplace_back(older->first, newer->first);
        }
      }
    }
    pairs_dirty_ = false;
  }
  for (const auto& [a, b] : disjoint_) checkPair(a, b);
}

// Whether voter `v` refuses candidate (or leader) `a`: see the file comment of the header.
static bool Refuses(const NodeLog* lv, const NodeLog& la) {
  if (lv == nullptr) return false;  // nothing known: it might grant
  return la.role == Role::kLeader ? lv->term > la.term : MoreUpToDate(*lv, la);
}

void ConfigChecker::checkPair(NodeId a, NodeId b) {
  const Current& ca = current_.at(a);
  const Current& cb = current_.at(b);
  const NodeLog* la = logOf(a);
  if (la == nullptr) return;  // no input yet: it has not done anything
  // Between restoring a snapshot and the runtime applying it, the core decides with the
  // snapshot's configuration.
  const ConfState& conf = la->core_conf ? *la->core_conf : ca.conf;
  if (la->core_conf && (la->core_conf_index >= cb.index || overlapCached(conf, cb.conf))) return;
  // No excuse for a node without a vote of its own: a removed or demoted node campaigns to
  // hand over the commit index (raft.cc, MaybeCampaignToHandOver), and wins only on a
  // quorum of its configuration like anyone else.
  const bool follower = la->role == Role::kFollower;
  auto may_grant = [&](NodeId v) { return v == a || !Refuses(logOf(v), *la); };
  if (!Majority(may_grant, conf.voters) || !Majority(may_grant, conf.voters_outgoing)) {
    return;  // the refusing voters block every quorum
  }
  // Nor with a committed change unapplied (read from the core last: it copies entries); a
  // node that has started anyway is not excused.
  if (follower && unappliedChange(a, *la)) return;
  if (!reported_.emplace(a, ca.index).second) return;  // once per stale configuration
  std::set<NodeId> voters = Voters(conf);
  std::string refusing, granting;  // what is known of each voter
  for (NodeId v : voters) {
    if (v == a) continue;
    const NodeLog* lv = logOf(v);
    std::string known = lv ? (current_.count(v) ? "" : "down, ") + DescribeLog(*lv) : "log unknown";
    (may_grant(v) ? granting : refusing) += " " + std::to_string(v) + "[" + known + "]";
  }
  auto split = DisjointQuorums(conf, cb.conf);
  report("disjoint-majorities: node " + std::to_string(a) + " (" + Describe(conf) + " as of " +
         std::to_string(ca.index) + "; " + DescribeLog(*la) +
         ") could still win an election or commit while node " + std::to_string(b) + " has " +
         Describe(cb.conf) + " as of " + std::to_string(cb.index) + " (disjoint quorums " +
         (split ? Ids(split->first) + " / " + Ids(split->second) : std::string("?")) +
         "); may grant:" + granting + "; refuse:" + (refusing.empty() ? " none" : refusing));
}

void ConfigChecker::checkOneChangeAtATime(NodeId id, const raft::RawNode& node,
                                          const raft::NodeStatus& st) {
  if (st.soft_state.role != Role::kLeader) {
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
