// Tests of the simulated cluster as a whole: the runtime loop around the real core,
// crash/restart, client sessions end to end, and determinism of whole runs.
#include "sim/cluster.h"

#include <gtest/gtest.h>

#include "sim/run.h"

namespace raftkv::sim {
namespace {

ClusterOptions opts(int nodes, uint64_t seed) {
  ClusterOptions o;
  o.nodes = nodes;
  o.seed = seed;
  return o;
}

TEST(Cluster, waitForLeader_electsOneAndWritesCommitEverywhere) {
  Cluster c(opts(3, 1));
  NodeId leader = c.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  ASSERT_TRUE(c.Put(leader, "k", "v1").ok());
  c.RunFor(200 * kMillisecond);
  for (NodeId id : c.NodeIds()) EXPECT_EQ(c.AppliedValue(id, "k"), "v1") << "n" << id;
  ClientReply r = c.Get(leader, "k");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, "v1");
  EXPECT_TRUE(c.Violations().empty());
  EXPECT_EQ(c.history().ops.size(), 2u);
}

TEST(Cluster, get_throughAFollowerIsServedViaReadIndex) {
  Cluster c(opts(3, 2));
  NodeId leader = c.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  ASSERT_TRUE(c.Put(leader, "k", "v").ok());
  NodeId follower = leader == 1 ? 2 : 1;
  ClientReply r = c.Get(follower, "k");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, "v");
}

TEST(Cluster, restart_rebuildsTheStateMachineFromTheDurableLog) {
  Cluster c(opts(3, 3));
  NodeId leader = c.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  ASSERT_TRUE(c.Put(leader, "a", "1").ok());
  ASSERT_TRUE(c.Put(leader, "b", "2").ok());
  c.RunFor(100 * kMillisecond);
  NodeId follower = leader == 3 ? 2 : 3;
  raft::Index before = c.PersistedLastIndex(follower);
  c.Crash(follower);
  EXPECT_FALSE(c.IsUp(follower));
  EXPECT_EQ(c.PersistedLastIndex(follower), before) << "the disk survives a crash";
  c.Restart(follower);
  c.RunFor(500 * kMillisecond);
  EXPECT_EQ(c.AppliedValue(follower, "a"), "1");
  EXPECT_EQ(c.AppliedValue(follower, "b"), "2");
  EXPECT_TRUE(c.Violations().empty());
}

TEST(Cluster, crashedLeader_isReplacedAndTheClusterKeepsCommitting) {
  Cluster c(opts(5, 4));
  NodeId leader = c.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  ASSERT_TRUE(c.Put(leader, "k", "1").ok());
  c.Crash(leader);
  NodeId next = c.WaitForLeader();
  ASSERT_NE(next, raft::kNoNode);
  EXPECT_NE(next, leader);
  ASSERT_TRUE(c.Put(next, "k", "2").ok());
  EXPECT_TRUE(c.Violations().empty());
}

// C2 end to end: a write retried with the same session seq is applied once, even when
// another client wrote in between, and the retry gets an answer.
TEST(Cluster, submitWrite_retryWithSameSeqTakesEffectOnce) {
  Cluster c(opts(3, 5));
  NodeId leader = c.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  int answers = 0;
  auto count = [&](const ClientReply& r) { answers += r.ok() ? 1 : 0; };
  Command first{check::OpKind::kPut, 1, 1, "k", "from-client-1", ""};
  c.SubmitWrite(leader, first, count);
  c.RunFor(100 * kMillisecond);
  ASSERT_TRUE(c.Put(leader, "k", "from-scenario").ok());
  c.SubmitWrite(leader, first, count);  // the retry
  c.RunFor(100 * kMillisecond);
  EXPECT_EQ(answers, 2);
  for (NodeId id : c.NodeIds()) EXPECT_EQ(c.AppliedValue(id, "k"), "from-scenario");
}

TEST(Cluster, partition_minorityCannotCommit) {
  Cluster c(opts(5, 6));
  NodeId leader = c.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  std::vector<NodeId> minority{leader}, majority;
  for (NodeId id : c.NodeIds()) {
    if (id != leader) (minority.size() < 2 ? minority : majority).push_back(id);
  }
  c.Partition({minority, majority});
  EXPECT_FALSE(c.Put(leader, "k", "lost", 500 * kMillisecond).ok());
  c.Heal();
  NodeId now = c.WaitForLeader();
  ASSERT_NE(now, raft::kNoNode);
  ASSERT_TRUE(c.Put(now, "k", "kept").ok());
  c.RunFor(300 * kMillisecond);
  for (NodeId id : c.NodeIds()) EXPECT_EQ(c.AppliedValue(id, "k"), "kept");
}

TEST(RunSeed, sameSeed_sameTrace) {
  RunOptions o;
  o.nodes = 3;
  o.seed = 11;
  o.ops = 100;
  RunResult a = RunSeed(o);
  RunResult b = RunSeed(o);
  EXPECT_EQ(a.trace_hash, b.trace_hash);
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.virtual_time, b.virtual_time);
  EXPECT_GT(a.events, 1000u);
  o.seed = 12;
  RunResult c = RunSeed(o);
  EXPECT_NE(a.trace_hash, c.trace_hash);
}

TEST(RunSeed, healthyClusterPassesEveryCheck) {
  RunOptions o;
  o.nodes = 3;
  o.seed = 1;
  o.ops = 200;
  o.faults = FaultSet::None();
  RunResult r = RunSeed(o);
  for (const auto& v : r.violations) ADD_FAILURE() << v.property << ": " << v.description;
  EXPECT_GE(r.ops_ok, 200u);
}

TEST(RunSeed, allFaultsOnFiveNodesPass) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    RunOptions o;
    o.nodes = 5;
    o.seed = seed;
    o.ops = 150;
    RunResult r = RunSeed(o);
    for (const auto& v : r.violations) {
      ADD_FAILURE() << "seed " << seed << " " << v.property << ": " << v.description;
    }
  }
}

TEST(FaultSet, parse_acceptsListsAndRejectsUnknownNames) {
  auto all = FaultSet::Parse("all");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->ToString(),
            "crash,partition,asym,drop,dup,reorder,delay,slow,disk,member,snapshot,transfer");
  auto some = FaultSet::Parse("crash,dup");
  ASSERT_TRUE(some.ok());
  EXPECT_TRUE(some->crash && some->dup && !some->partition);
  EXPECT_EQ(FaultSet::Parse("none")->ToString(), "none");
  EXPECT_FALSE(FaultSet::Parse("crash,meteor").ok());
}

}  // namespace
}  // namespace raftkv::sim
