// Nemesis: schedules random faults during the chaos phase of a run, and heals everything
// for the final phase. Each kind of fault can be switched on or off (FaultSet).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "sim/cluster.h"
#include "sim/random.h"

namespace raftkv::sim {

struct FaultSet {
  bool crash = false;      // crash and later restart nodes, the leader included
  bool partition = false;  // symmetric splits, leader in a minority, a bridge node
  bool asym = false;       // one-way link cuts
  bool drop = false;       // random message loss
  bool dup = false;        // random duplication
  bool reorder = false;    // a wide delay spread
  bool delay = false;      // occasional long delays
  bool slow = false;       // a slow disk on a node
  // The faulty disk model (ClusterOptions::disk_model): crashes are power losses that tear
  // unsynced writes, and writes/syncs fail now and then with ENOSPC or EIO. Part of All().
  bool disk = false;
  // Membership changes (sim/nemesis_membership.cc): add a brand-new empty node (as voter or
  // learner), promote a learner, remove a voter or the leader, re-add a removed node,
  // replace a voter or demote one in a joint change. Adds two spare nodes to the cluster.
  bool member = false;
  // Snapshots and log compaction at random thresholds on every node.
  bool snapshot = false;
  // Leadership transfers to a random voter (thesis §3.10).
  bool transfer = false;
  // Adversarial delivery (sim/network_adversary.cc), not part of All() so that runs with
  // `all` replay as before; --swarm draws them. `stale`: late second copies of messages
  // (stale duplicates, retransmissions overtaken by newer ones, a deposed leader's appends
  // after the next election). `replay`: bursts of recorded old messages re-injected much
  // later.
  bool stale = false;
  bool replay = false;

  static FaultSet All();
  static FaultSet None() { return FaultSet{}; }
  // "all", "none" or a comma list of the names above.
  static Result<FaultSet> Parse(const std::string& list);
  std::string ToString() const;
  bool Any() const {
    return crash || partition || asym || drop || dup || reorder || delay || slow || disk ||
           member || transfer || stale || replay;
  }
};

class Nemesis {
 public:
  // `rate` scales how often faults happen (2 = twice as often).
  Nemesis(Cluster* cluster, const FaultSet& faults, double rate = 1.0);

  // Starts scheduling faults at random intervals.
  void Start();
  // Stops scheduling new faults (pending repairs still run but do nothing after HealAll).
  void Stop() { stopped_ = true; }
  // Heals every link, restores a clean network and normal disks, restarts crashed nodes.
  void HealAll();

  uint64_t faults_injected() const { return faults_; }
  // Membership changes keep the number of voters within [min, max] (default 3..7; 1 lets
  // the cluster shrink to a single voter, which wins its elections alone).
  void SetVoterBounds(size_t min, size_t max) {
    min_voters_ = min;
    max_voters_ = max;
  }

 private:
  void scheduleNext();
  void act();
  void crashSome();
  void crashFor(NodeId id, Time down);
  void restartSome();
  void watchVotes();
  void partitionSome();
  void cutSomeLinks();
  void changeWeather();
  void slowSomeDisk();
  void failSomeDisk();
  void changeMembership() { changeMembership(false); }
  void changeMembership(bool burst);
  void transferLeadership();
  void replayOldMessages();
  std::vector<NodeId> upNodes() const;
  std::vector<NodeId> shuffled(std::vector<NodeId> v);

  Cluster* cluster_;
  Rng* rng_;
  FaultSet faults_set_;
  double rate_;
  NetworkOptions base_network_;
  std::vector<NodeId> ids_;
  bool stopped_ = false;
  uint64_t epoch_ = 0;  // bumped by HealAll: older scheduled repairs do nothing
  uint64_t faults_ = 0;
  std::vector<NodeId> never_members_;  // spare nodes not yet added: brand-new and empty
  size_t min_voters_ = 3;
  size_t max_voters_ = 7;
};

}  // namespace raftkv::sim
