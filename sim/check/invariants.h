// The five safety properties of Raft (Figure 3 of the paper), checked incrementally after
// every simulator event from the outside, through the nodes' public read-only API:
//   Election Safety      at most one leader per term
//   Leader Append-Only   a leader never overwrites or deletes entries in its log
//   Log Matching         same index and term in two logs => identical prefixes
//   Leader Completeness  an entry committed in term T is in the log of every leader of term > T
//   State Machine Safety no two servers apply different entries at the same index
// plus monotonicity (a node's term and commit index never decrease while it is up; applied
// index never exceeds commit).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "raft/raw_node.h"

namespace raftkv::check {

class SafetyChecker {
 public:
  SafetyChecker();
  ~SafetyChecker();

  // After any event that may have changed live node `id`. Cheap: looks only at what changed
  // (new entries, a changed tail, a new role/term/commit).
  void Observe(raft::NodeId id, const raft::RawNode& node);
  // Each entry node `id` applies to its state machine, in order (State Machine Safety).
  void ObserveApply(raft::NodeId id, const raft::Entry& entry);
  // Node `id` applied a snapshot covering everything up to `index` (issue 3).
  void ObserveSnapshotApply(raft::NodeId id, raft::Index index, raft::Term term);
  // Node `id` crashed: its volatile state is gone (a restarted node may legitimately have
  // a lower commit index and a shorter unsynced tail).
  void ObserveCrash(raft::NodeId id);
  // Full (non-incremental) re-check of every live node's whole log; call at the end of a
  // run or periodically.
  void FullCheck(const std::map<raft::NodeId, const raft::RawNode*>& live_nodes);

  bool ok() const { return violations_.empty(); }
  // Each a one-line description: property name, nodes, index/term involved.
  const std::vector<std::string>& violations() const { return violations_; }

 private:
  struct State;  // per-node mirrors, global committed entries, leaders per term
  std::unique_ptr<State> state_;
  std::vector<std::string> violations_;
};

}  // namespace raftkv::check
