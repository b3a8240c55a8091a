// Membership safety, checked from every node's view of the configuration (thesis ch. 4):
//
//   config-agreement      every node that reaches log index i with a configuration change
//                         (or a snapshot) at i ends up with the same configuration there;
//                         a node that restores a snapshot takes the snapshot's (§5.1)
//   quorum-overlap        no two disjoint majorities: any two live nodes whose
//                         configurations are the same or one change apart (in the log's
//                         sequence of changes) have intersecting quorums, joint ones
//                         included (a quorum of a joint configuration is a majority of each
//                         half, §4.3)
//   one-change-at-a-time  a leader appends a configuration change only when every earlier
//                         change in its log is applied (§4.1; etcd's rule, since a change
//                         takes effect when applied)
//
// Nodes further apart than one change are not compared: the thesis's argument for them is
// that a node that far behind cannot win an election or commit (log comparison at vote
// time), which the safety checker's election and commit checks already cover.
//
// Independent of the core: it has its own quorum arithmetic and never calls the core's
// configuration code.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "raft/raw_node.h"
#include "raft/types.h"

namespace raftkv::check {

// Whether every quorum of `a` meets every quorum of `b` (brute force over the voters).
bool QuorumsOverlap(const raft::ConfState& a, const raft::ConfState& b);

class ConfigChecker {
 public:
  // Node `id` now has configuration `cs`, in effect as of log index `index`:
  // `from_entry` after applying the configuration-change entry at `index`, otherwise after
  // restoring (or taking) a snapshot at `index` or booting with `index` applied.
  void ObserveConfig(raft::NodeId id, raft::Index index, const raft::ConfState& cs,
                     bool from_entry);
  // After every input to a live node: checks the leader's newly appended entries.
  void ObserveLog(raft::NodeId id, const raft::RawNode& node);
  void ObserveDown(raft::NodeId id);

  const std::vector<std::string>& violations() const { return violations_; }

 private:
  struct Current {
    raft::Index index = 0;
    raft::ConfState conf;
  };
  void checkOverlap(raft::NodeId id, const Current& mine);
  void report(std::string v);

  std::map<raft::Index, raft::ConfState> at_index_;  // configuration as of index i
  std::map<raft::Index, raft::NodeId> first_seen_;   // who recorded it first
  std::set<raft::Index> change_indexes_;             // indexes of applied change entries
  std::map<raft::NodeId, Current> current_;          // live nodes
  std::map<raft::NodeId, raft::Index> log_checked_;  // leader: last index looked at
  std::map<raft::NodeId, raft::Term> log_term_;
  std::vector<std::string> violations_;
};

}  // namespace raftkv::check
