// Membership safety, checked from every node's view of the configuration (thesis ch. 4):
//
//   config-agreement      every node that reaches log index i with a configuration change
//                         (or a snapshot) at i ends up with the same configuration there;
//                         a node that restores a snapshot takes the snapshot's (§5.1)
//   quorum-overlap        a single change never makes disjoint majorities: any two live
//                         nodes whose configurations are the same or one change apart (in
//                         the log's sequence of changes) have intersecting quorums, joint
//                         ones included (a quorum of a joint configuration is a majority of
//                         each half, §4.3)
//   disjoint-majorities   for ANY two live nodes whose configurations have disjoint quorums
//                         (two or more changes apart), the one with the older configuration
//                         cannot decide anything: checked after every input, see below
//   one-change-at-a-time  a leader appends a configuration change only when every earlier
//                         change in its log is applied (§4.1; etcd's rule, since a change
//                         takes effect when applied)
//
// Why a node two changes behind is harmless, and what is checked (disjoint-majorities).
// Let A hold configuration C_a (as of index a) and B the newer C_b (index b > a), with a
// quorum of C_a disjoint from a quorum of C_b. B applied C_b, so C_b is committed, and every
// change between them too. Changes take effect when applied (raw_node.h), so the thesis's
// argument (§4.1: a node that lacks a committed configuration cannot be elected, by the
// log comparison of §5.4.1) needs two more rules of etcd's design: a leader appends a
// change only after applying the previous one, so a log holding change k+1 proves change k
// committed (the append that carried it also carried the commit index, and a restart
// raises a lagging commit index to it, raft.cc CommittedByLaterChange); and a node does not
// campaign while a committed change is unapplied. Then a node still on C_a whose log holds
// change a+2 knows change a+1 is committed and will not campaign; one whose log stops
// before change a+2 has a log strictly behind the quorum of C_{a+1} that stored change a+2,
// and that quorum meets every quorum of C_a (adjacent configurations overlap), so voters of
// C_a refuse it. The checker verifies the conclusion directly on the current state, for
// every such pair:
//   - A is a follower that cannot campaign: a committed change is unapplied (a candidate or
//     leader with one is NOT excused: the core broke the rule). Not being a voter of C_a is
//     no excuse: a removed or demoted node campaigns to hand over the commit index
//     (raft.cc, MaybeCampaignToHandOver), and the log argument above does not depend on
//     the candidate's own vote;
//   - or the voters of C_a that would refuse A form a quorum-blocking set (what remains is
//     no quorum of C_a): for a follower or candidate, voters whose log is strictly more
//     up-to-date than A's (they deny their vote, §5.4.1); for a leader, voters in a higher
//     term (they reject its AppendEntries, so it commits nothing, §5.1). A crashed voter
//     counts with the log on its disk (it comes back with it) when the runtime knows it.
// Otherwise A could win an election (or commit) on a quorum that B's configuration never
// hears from: reported with both configurations, a pair of disjoint quorums, and A's state.
//
// Independent of the core: it has its own quorum arithmetic and never calls the core's
// configuration code.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "raft/raw_node.h"
#include "raft/types.h"

namespace raftkv::check {

// Whether every quorum of `a` meets every quorum of `b` (brute force over the voters).
bool QuorumsOverlap(const raft::ConfState& a, const raft::ConfState& b);

// What decides whether a node can win an election or commit: its terms and log end, its role
// and whether it holds a committed configuration change it has not applied.
struct NodeLog {
  raft::Term term = 0;
  raft::Term last_term = 0;
  raft::Index last_index = 0;
  raft::Role role = raft::Role::kFollower;
  bool unapplied_change = false;
  // The configuration the core decides with, when it is not the applied one: a snapshot
  // restored by the core and not yet applied by the runtime.
  std::optional<raft::ConfState> core_conf;
  raft::Index core_conf_index = 0;  // the snapshot's index
};

// Whether a node's core decides with a configuration newer than the one its runtime
// reported as of `reported_index`: it restored a leader's snapshot (its log now starts after
// the snapshot's index) that the runtime has not handled yet. The configuration may even be
// the same one recurring at a later index (swarm seed 1768000009862).
bool CoreRestoredNewerSnapshot(raft::Index reported_index, const raft::ConfState& reported,
                               const raft::NodeStatus& core);

class ConfigChecker {
 public:
  // Node `id` now has configuration `cs`, in effect as of log index `index`:
  // `from_entry` after applying the configuration-change entry at `index`, otherwise after
  // restoring (or taking) a snapshot at `index` or booting with `index` applied.
  void ObserveConfig(raft::NodeId id, raft::Index index, const raft::ConfState& cs,
                     bool from_entry);
  // After every input to a live node: checks the leader's newly appended entries and
  // (disjoint-majorities) every pair of live nodes with disjoint quorums.
  void ObserveLog(raft::NodeId id, const raft::RawNode& node);
  // The same from a hand-made log view (tests).
  void ObserveLog(raft::NodeId id, const NodeLog& log);
  // A crash. `disk`: the log the node will come back with, if the runtime knows it (it
  // keeps counting as a voter that refuses a less up-to-date candidate).
  void ObserveDown(raft::NodeId id, std::optional<NodeLog> disk = std::nullopt);

  const std::vector<std::string>& violations() const { return violations_; }

 private:
  struct Current {
    raft::Index index = 0;
    raft::ConfState conf;
  };
  void checkOverlap(raft::NodeId id, const Current& mine);
  void checkOneChangeAtATime(raft::NodeId id, const raft::RawNode& node,
                             const raft::NodeStatus& st);
  // disjoint-majorities for every live pair whose quorums are disjoint.
  void checkDisjointPairs();
  bool overlapCached(const raft::ConfState& a, const raft::ConfState& b);
  void checkPair(raft::NodeId older, raft::NodeId newer);
  const NodeLog* logOf(raft::NodeId id) const;
  // Whether a committed configuration change is not applied yet (read from the core only
  // when a pair needs it).
  bool unappliedChange(raft::NodeId id, const NodeLog& log) const;
  void report(std::string v);

  std::map<raft::Index, raft::ConfState> at_index_;  // configuration as of index i
  std::map<raft::Index, raft::NodeId> first_seen_;   // who recorded it first
  std::set<raft::Index> change_indexes_;             // indexes of applied change entries
  std::map<raft::NodeId, Current> current_;          // live nodes
  std::map<raft::NodeId, raft::Index> log_checked_;  // leader: last index looked at
  std::map<raft::NodeId, raft::Term> log_term_;
  // Log views: live nodes (as of their last input, or hand-made) and crashed ones (their
  // disk); the live cores, for what is read only when a pair needs it.
  struct CoreView {
    const raft::RawNode* node = nullptr;
    raft::Index commit = 0;
    raft::Index applied = 0;
  };
  std::map<raft::NodeId, CoreView> cores_;
  std::map<raft::NodeId, NodeLog> logs_;
  std::map<std::string, bool> overlap_cache_;  // QuorumsOverlap by configuration pair
  bool pairs_dirty_ = true;                    // live configurations changed
  std::vector<std::pair<raft::NodeId, raft::NodeId>> disjoint_;  // (older, newer) live pairs
  std::set<std::pair<raft::NodeId, raft::Index>> reported_;      // disjoint-majorities
  std::vector<std::string> violations_;
};

}  // namespace raftkv::check
