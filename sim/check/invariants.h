// The five safety properties of Raft (Figure 3 of the paper), checked incrementally after
// every simulator event from the outside, through the nodes' public read-only API:
//   Election Safety      at most one leader per term
//   Leader Append-Only   a leader never overwrites or deletes entries in its log
//   Log Matching         same index and term in two logs => identical prefixes
//   Leader Completeness  an entry committed in term T is in the log of every leader of term > T
//   State Machine Safety no two servers apply different entries at the same index
// plus monotonicity (a node's term and commit index never decrease while it is up; applied
// index never exceeds commit), the commit rule of §5.4.2 (Figure 8): a leader moves its
// commit index only to an entry of its own term, and committed-kept: a committed entry never
// leaves a live node's log except by compaction (a follower deletes only entries that
// conflict with a leader's, §5.3, and a leader holds every committed entry, §5.4; so a
// follower that truncates on a stale duplicate AppendEntries is caught when it truncates,
// not only if a later leader happens to lack the entry).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "raft/raw_node.h"

namespace raftkv::check {

// The part of a node's state the checker looks at.
struct NodeState {
  raft::Term term = 0;
  raft::Index commit = 0;
  raft::Index applied = 0;
  raft::Role role = raft::Role::kFollower;
};

// Read-only view of one node: RawNode's inspection API behind an interface, so that the
// checking logic can also be exercised on hand-made logs (tests, and any other runtime).
class NodeView {
 public:
  virtual ~NodeView() = default;
  virtual NodeState State() const = 0;
  virtual raft::Index FirstIndex() const = 0;
  virtual raft::Index LastIndex() const = 0;
  virtual Result<raft::Term> TermAt(raft::Index i) const = 0;
  // Entries [lo, hi).
  virtual Result<std::vector<raft::Entry>> Entries(raft::Index lo, raft::Index hi) const = 0;
};

// NodeView over a live RawNode (defined in invariants_raw_node.cc: link a core library).
class RawNodeView : public NodeView {
 public:
  explicit RawNodeView(const raft::RawNode& node) : node_(node) {}
  NodeState State() const override;
  raft::Index FirstIndex() const override;
  raft::Index LastIndex() const override;
  Result<raft::Term> TermAt(raft::Index i) const override;
  Result<std::vector<raft::Entry>> Entries(raft::Index lo, raft::Index hi) const override;

 private:
  const raft::RawNode& node_;
};

// Usage contract: call Observe(id) after every input to node `id` (tick, step, propose,
// advance, ...) and before applying the committed entries of the Ready it hands out; the
// checker learns which entries are committed from the nodes' commit indexes, so an entry
// applied before any observed node counts it committed is a violation.
class SafetyChecker {
 public:
  SafetyChecker();
  ~SafetyChecker();

  // After any event that may have changed live node `id`. Cheap: looks only at what changed
  // (new entries, a changed tail, a new role/term/commit).
  void Observe(raft::NodeId id, const raft::RawNode& node);
  void Observe(raft::NodeId id, const NodeView& node);
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
  void FullCheck(const std::map<raft::NodeId, const NodeView*>& live_nodes);

  bool ok() const { return violations_.empty(); }
  // Each a one-line description: property name, nodes, index/term involved.
  const std::vector<std::string>& violations() const { return violations_; }

 private:
  struct State;  // per-node mirrors, global committed entries, leaders per term
  struct NodeMirror;
  struct ReadLog;

  void report(std::string violation);
  static Status readLog(const NodeView& view, raft::Index from, const NodeMirror* reuse,
                        ReadLog* log);
  void checkMonotonic(raft::NodeId id, const NodeState& st, raft::Index last, NodeMirror& m);
  void checkLeaderAppendOnly(raft::NodeId id, const NodeState& st, const ReadLog& log,
                             const NodeMirror& m);
  void checkLeaderCommit(raft::NodeId id, const NodeState& st, const ReadLog& log,
                         const NodeMirror& m);
  void checkLogMatching(raft::NodeId id, const ReadLog& log, const NodeMirror* m);
  void checkCommittedKept(raft::NodeId id, const ReadLog& log, const NodeMirror& m);
  void learnCommitted(raft::NodeId id, raft::Term term, raft::Index commit, const ReadLog& log);
  void checkLeader(raft::NodeId id, const NodeState& st, const ReadLog& log, NodeMirror& m);

  std::unique_ptr<State> state_;
  std::vector<std::string> violations_;
};

}  // namespace raftkv::check
