// Log compaction and snapshots (L1-L4, L6), told in the simulator. Each node snapshots its
// state machine and compacts its log after a random number of applied entries
// (ClusterOptions::snapshot_every).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tests/scenarios/scenario_util.h"

namespace raftkv::scenario {
namespace {

using raft::kNoNode;

ClusterOptions SnapshotOptions(int nodes, uint64_t seed, int spares = 0) {
  ClusterOptions o = Options(nodes, seed);
  o.snapshot_every = 10;
  o.spare_nodes = spares;
  return o;
}

// Writes keys k0..k{n-1} through the leader; returns how many were acknowledged.
int WriteKeys(Cluster& c, NodeId leader, int n, const std::string& prefix = "k") {
  int ok = 0;
  for (int i = 0; i < n; i++) ok += c.Put(leader, prefix + std::to_string(i), "v").ok();
  return ok;
}

bool AllKeysApplied(const Cluster& c, NodeId id, int n, const std::string& prefix = "k") {
  for (int i = 0; i < n; i++) {
    if (c.AppliedValue(id, prefix + std::to_string(i)) != std::optional<std::string>("v")) {
      return false;
    }
  }
  return true;
}

// L1: "A snapshot replaces the log prefix up to an index: it holds the state machine
// state, the last included index and term, and the configuration."
TEST(Snapshot, L1_snapshot_replaces_the_log_prefix_and_keeps_the_configuration) {
  Cluster c(SnapshotOptions(3, 21));
  NodeId leader = c.WaitForLeader();
  ASSERT_NE(leader, kNoNode);
  ASSERT_EQ(WriteKeys(c, leader, 40), 40);
  for (NodeId id : c.NodeIds()) {
    const raft::RawNode* n = c.Node(id);
    const Index snap = c.SnapshotIndex(id);
    EXPECT_GT(snap, 5u) << "node " << id;
    // The log starts after the compacted prefix; the term of its last entry is kept.
    EXPECT_GT(n->FirstIndex(), 1u) << "node " << id;
    EXPECT_LE(n->FirstIndex(), snap + 1) << "node " << id;
    EXPECT_TRUE(n->TermAt(n->FirstIndex() - 1).ok()) << "node " << id;
  }
  // The bootstrap configuration entries are gone from every log, yet a restarted server
  // knows its peers: the configuration is in the snapshot.
  const NodeId f = leader % 3 + 1;
  c.Crash(f);
  c.Restart(f);
  EXPECT_EQ(c.Status(f).conf.voters, (std::vector<NodeId>{1, 2, 3}));
  EXPECT_TRUE(c.RunUntil([&] { return AllKeysApplied(c, f, 40); }, kSecond));
  ExpectNoViolations(c);
}

// L2: "A slow follower or a new server needs entries the leader has discarded: the leader
// sends its snapshot, then continues with the log."
TEST(Snapshot, L2_new_server_and_slow_follower_catch_up_from_a_snapshot) {
  Cluster c(SnapshotOptions(3, 22, /*spares=*/1));
  NodeId leader = c.WaitForLeader();
  ASSERT_NE(leader, kNoNode);
  ASSERT_EQ(WriteKeys(c, leader, 40), 40);
  ASSERT_GT(c.Node(leader)->FirstIndex(), 1u);
  // A brand-new, empty server 4 is added: the entries it needs are compacted away.
  raft::ConfChange add;
  add.changes = {{raft::ConfChangeType::kAddLearnerNode, 4}};
  ASSERT_TRUE(c.ProposeConfChange(leader, add).ok());
  ASSERT_TRUE(c.RunUntil([&] { return AllKeysApplied(c, 4, 40); }, 3 * kSecond));
  EXPECT_GE(c.SnapshotsInstalled(), 1u);
  // It took the configuration from the snapshot (and the log after it).
  EXPECT_TRUE(
      c.RunUntil([&] { return c.Status(4).conf.learners == std::vector<NodeId>{4}; }, kSecond));
  EXPECT_EQ(c.Status(4).conf.voters, (std::vector<NodeId>{1, 2, 3}));
  // Then it follows the log: a later write arrives as an entry.
  ASSERT_TRUE(c.Put(leader, "later", "v").ok());
  EXPECT_TRUE(c.RunUntil([&] { return c.AppliedValue(4, "later") == "v"; }, kSecond));
  // A follower that was down while the leader compacted also gets a snapshot.
  const NodeId slow = leader % 3 + 1;
  const uint64_t installed = c.SnapshotsInstalled();
  c.Crash(slow);
  ASSERT_EQ(WriteKeys(c, leader, 40, "m"), 40);
  c.Restart(slow);
  EXPECT_TRUE(c.RunUntil([&] { return AllKeysApplied(c, slow, 40, "m"); }, 3 * kSecond));
  EXPECT_GT(c.SnapshotsInstalled(), installed);
  ExpectNoViolations(c);
}

// L3: "A restarting server loads its newest snapshot and replays only the log after it."
TEST(Snapshot, L3_restart_loads_the_newest_snapshot_then_replays_the_rest) {
  Cluster c(SnapshotOptions(3, 23));
  NodeId leader = c.WaitForLeader();
  ASSERT_NE(leader, kNoNode);
  ASSERT_EQ(WriteKeys(c, leader, 50), 50);
  const NodeId f = leader % 3 + 1;
  ASSERT_TRUE(c.RunUntil([&] { return AllKeysApplied(c, f, 50); }, kSecond));
  const Index snap = c.SnapshotIndex(f);
  const Index applied = c.AppliedIndex(f);
  ASSERT_GT(snap, 0u);
  const uint64_t entries_before = c.EntriesApplied(f);
  c.Isolate(f);  // nothing new arrives: the restart works from its own disk only
  c.Crash(f);
  c.Restart(f);
  // The log before the snapshot is gone, so it cannot be replayed (the replay may already
  // have passed the next threshold and taken a newer snapshot).
  EXPECT_GT(c.Node(f)->FirstIndex(), 1u);
  EXPECT_LE(c.Node(f)->FirstIndex(), c.SnapshotIndex(f) + 1);
  // The state comes back from the snapshot plus exactly the entries after it.
  ASSERT_TRUE(c.RunUntil([&] { return c.AppliedIndex(f) == applied; }, kSecond));
  EXPECT_EQ(c.EntriesApplied(f) - entries_before, applied - snap);
  EXPECT_TRUE(AllKeysApplied(c, f, 50));
  c.Heal();
  ExpectNoViolations(c);
}

// L4: "When to snapshot (when the log has grown past a threshold), and snapshotting while
// clients keep being served." L6: "Each server snapshots independently."
TEST(Snapshot, L4_L6_servers_snapshot_independently_while_serving) {
  Cluster c(SnapshotOptions(5, 24));
  NodeId leader = c.WaitForLeader();
  ASSERT_NE(leader, kNoNode);
  const uint64_t before = c.SnapshotsTaken();
  // Every write is answered while snapshots are taken in between.
  EXPECT_EQ(WriteKeys(c, leader, 80), 80);
  EXPECT_GE(c.SnapshotsTaken() - before, 5u * 4);  // about every 10 entries on 5 nodes
  // Each server chose its own points (random thresholds), none needed another's.
  std::set<Index> points;
  for (NodeId id : c.NodeIds()) points.insert(c.SnapshotIndex(id));
  EXPECT_GE(points.size(), 2u);
  EXPECT_EQ(c.SnapshotsInstalled(), 0u) << "no server needed the leader's snapshot";
  ExpectNoViolations(c);
}

}  // namespace
}  // namespace raftkv::scenario
