// Tests of the simulator's faulty disk model (ClusterOptions::disk_model): each node's disk
// is a storage::DiskStorage on its own storage::FaultFileSystem.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "sim/cluster.h"
#include "sim/run.h"
#include "storage/fault_fs.h"

namespace raftkv::sim {
namespace {

ClusterOptions diskOpts(int nodes, uint64_t seed) {
  ClusterOptions o;
  o.nodes = nodes;
  o.seed = seed;
  o.disk_model = true;
  return o;
}

RunOptions diskRun(int nodes, uint64_t seed) {
  RunOptions o;
  o.nodes = nodes;
  o.seed = seed;
  o.ops = 150;
  o.faults = FaultSet::All();
  o.faults.disk = true;
  return o;
}

TEST(DiskModel, runSeed_sameSeedGivesSameTraceHash) {
  RunOptions o = diskRun(3, 11);
  RunResult a = RunSeed(o);
  RunResult b = RunSeed(o);
  for (const auto& v : a.violations) ADD_FAILURE() << v.property << ": " << v.description;
  EXPECT_EQ(a.trace_hash, b.trace_hash);
  EXPECT_EQ(a.events, b.events);
  EXPECT_GT(a.events, 1000u);
  o.seed = 12;
  EXPECT_NE(RunSeed(o).trace_hash, a.trace_hash);
}

TEST(DiskModel, runSeed_allFaultsWithDiskOnFiveNodesPass) {
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    RunResult r = RunSeed(diskRun(5, seed));
    for (const auto& v : r.violations) {
      ADD_FAILURE() << "seed " << seed << " " << v.property << ": " << v.description;
    }
    EXPECT_GE(r.ops_ok, 1u) << "seed " << seed;
  }
}

TEST(DiskModel, crash_keepsEveryAcknowledgedWrite) {
  Cluster c(diskOpts(3, 5));
  NodeId leader = c.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.Put(leader, "k" + std::to_string(i), "v").ok());
  // Power loss on every node at once: only what was synced survives.
  for (NodeId id : c.NodeIds()) c.Crash(id);
  for (NodeId id : c.NodeIds()) ASSERT_TRUE(c.TryRestart(id).ok()) << "n" << id;
  leader = c.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  for (int i = 0; i < 20; ++i) {
    ClientReply r = c.Get(leader, "k" + std::to_string(i));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value, "v") << "k" << i;
  }
  EXPECT_TRUE(c.Violations().empty());
}

TEST(DiskModel, failedWrite_crashesTheNodeWhichRecoversLater) {
  Cluster c(diskOpts(3, 6));
  NodeId leader = c.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  NodeId follower = leader == 1 ? 2 : 1;
  c.InjectDiskFault(follower, /*on_sync=*/false, 0, /*no_space=*/true);
  ASSERT_TRUE(c.Put(leader, "a", "1").ok());
  ASSERT_TRUE(c.RunUntil([&]() { return !c.IsUp(follower); }, 2 * kSecond));
  // The cluster restarts it with the fault cleared; it catches up.
  ASSERT_TRUE(c.RunUntil([&]() { return c.IsUp(follower); }, 3 * kSecond));
  ASSERT_TRUE(c.Put(leader, "b", "2").ok());
  ASSERT_TRUE(c.RunUntil([&]() { return c.AppliedValue(follower, "b") == "2"; }, 3 * kSecond));
  EXPECT_EQ(c.AppliedValue(follower, "a"), "1");
  EXPECT_TRUE(c.Violations().empty());
}

TEST(DiskModel, restart_refusesAFlippedOldWalRecordAndTheOthersServe) {
  Cluster c(diskOpts(3, 7));
  NodeId leader = c.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.Put(leader, "k" + std::to_string(i), "v").ok());
  NodeId follower = leader == 1 ? 2 : 1;
  c.RunFor(200 * kMillisecond);
  c.Crash(follower);

  storage::FaultFileSystem* fs = c.FaultFs(follower);
  ASSERT_NE(fs, nullptr);
  auto names = fs->List("/data");
  ASSERT_TRUE(names.ok());
  std::vector<std::string> wals;
  for (const std::string& n : *names) {
    if (n.rfind("wal-", 0) == 0) wals.push_back(n);
  }
  ASSERT_FALSE(wals.empty());
  std::sort(wals.begin(), wals.end());
  // The first record of the first segment (32-byte header, then a 12-byte record header):
  // a byte of its payload, with many valid records after it.
  const std::string path = "/data/" + wals.front();
  const uint64_t offset = 32 + 12 + 2;
  ASSERT_TRUE(fs->FlipBit(path, offset, 3).ok());

  raftkv::Status s = c.TryRestart(follower);
  ASSERT_TRUE(s.Is(raftkv::Status::Code::kCorruption)) << s.ToString();
  EXPECT_NE(s.ToString().find(wals.front()), std::string::npos) << s.ToString();
  EXPECT_NE(s.ToString().find(std::to_string(32)), std::string::npos) << s.ToString();
  EXPECT_FALSE(c.IsUp(follower));

  // The other two are a majority and keep serving.
  leader = c.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  ASSERT_TRUE(c.Put(leader, "after", "x").ok());
  ClientReply r = c.Get(leader, "k3");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, "v");
  EXPECT_TRUE(c.Violations().empty());
}

}  // namespace
}  // namespace raftkv::sim
