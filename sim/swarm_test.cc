#include "sim/swarm.h"

#include <gtest/gtest.h>

#include <set>

namespace raftkv::sim {
namespace {

TEST(Swarm, draw_isAFunctionOfTheSeed) {
  RunOptions base;
  for (uint64_t seed : {1u, 2u, 99u}) {
    EXPECT_EQ(ExplicitArguments(DrawSwarmRun(seed, base)),
              ExplicitArguments(DrawSwarmRun(seed, base)));
  }
  EXPECT_NE(ExplicitArguments(DrawSwarmRun(1, base)), ExplicitArguments(DrawSwarmRun(2, base)));
}

TEST(Swarm, draw_coversEverySizeLengthAndFaultKind) {
  RunOptions base;
  std::set<int> sizes;
  std::set<int> length_classes;
  int on[14] = {}, off[14] = {};
  int lease = 0, anywhere = 0, no_check_quorum = 0, one_entry = 0, single_voter_floor = 0;
  int focused = 0, tiny_segments = 0;
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    RunOptions o = DrawSwarmRun(seed, base);
    EXPECT_TRUE(o.swarm);
    EXPECT_EQ(o.seed, seed);
    ASSERT_GE(o.nodes, 1);
    ASSERT_LE(o.nodes, 7);
    sizes.insert(o.nodes);
    ASSERT_GE(o.ops, 100u);
    ASSERT_LE(o.ops, 5000u);
    length_classes.insert(o.ops < 300 ? 0 : o.ops < 900 ? 1 : o.ops < 2500 ? 2 : 3);
    const FaultSet& f = o.faults;
    bool kinds[14] = {f.crash, f.partition, f.asym,   f.drop,     f.dup,      f.reorder, f.delay,
                      f.slow,  f.disk,      f.member, f.snapshot, f.transfer, f.stale,   f.replay};
    int enabled = 0;
    for (int k = 0; k < 14; ++k) {
      (kinds[k] ? on : off)[k]++;
      enabled += kinds[k];
    }
    ASSERT_GE(enabled, 1) << "a swarm seed always has a fault";
    focused += enabled <= 3;
    tiny_segments += o.wal_segment_bytes == 4096;
    EXPECT_FALSE(o.lease_reads && !o.check_quorum) << "lease reads need check-quorum";
    lease += o.lease_reads;
    anywhere += o.read_anywhere;
    no_check_quorum += !o.check_quorum;
    one_entry += o.max_size_per_msg == 1;
    single_voter_floor += o.min_voters == 1;
  }
  EXPECT_EQ(sizes.size(), 7u);
  EXPECT_EQ(length_classes.size(), 4u);
  for (int k = 0; k < 14; ++k) {
    EXPECT_GT(on[k], 400) << "fault kind " << k;
    EXPECT_GT(off[k], 400) << "fault kind " << k;
  }
  for (int n : {lease, anywhere, no_check_quorum, one_entry, single_voter_floor}) EXPECT_GT(n, 200);
  // Half of the seeds focus on one to three kinds; half have tiny WAL segments.
  EXPECT_GT(focused, 850);
  EXPECT_GT(tiny_segments, 850);
  EXPECT_LT(tiny_segments, 1150);
}

TEST(Swarm, fixedNodes_overridesOnlyTheSize) {
  RunOptions base;
  SwarmBounds b;
  b.nodes = 4;
  RunOptions free = DrawSwarmRun(7, base);
  RunOptions fixed = DrawSwarmRun(7, base, b);
  EXPECT_EQ(fixed.nodes, 4);
  EXPECT_EQ(fixed.ops, free.ops);
  EXPECT_EQ(fixed.faults.ToString(), free.faults.ToString());
}

TEST(Swarm, explicitArguments_nameEveryDrawnKnob) {
  RunOptions o;
  o.seed = 5;
  o.nodes = 2;
  o.ops = 1234;
  o.clients = 3;
  o.keys = 2;
  o.faults = *FaultSet::Parse("crash,stale,replay");
  o.pre_vote = false;
  o.lease_reads = true;
  o.read_anywhere = true;
  o.max_size_per_msg = 1;
  o.fault_rate = 0.75;
  o.min_voters = 1;
  o.wal_segment_bytes = 4096;
  EXPECT_EQ(ExplicitArguments(o),
            "--seed 5 --nodes 2 --faults crash,stale,replay --ops 1234 --clients 3 --keys 2 "
            "--no-pre-vote --max-msg-bytes 1 --wal-segment-bytes 4096 --fault-rate 0.75 "
            "--lease-reads --read-anywhere --min-voters 1");
  o.check_stability = true;
  EXPECT_TRUE(ExplicitArguments(o).ends_with(" --min-voters 1 --check-stability"));
  // Defaults add nothing: an explicit run's replay line is what it always was.
  RunOptions d;
  EXPECT_EQ(ExplicitArguments(d),
            "--seed 1 --nodes 3 --faults " + d.faults.ToString() + " --ops 300 --clients 4");
}

// Small clusters and single voters: every checker and the membership nemesis work with
// one or two voters (a candidate that wins alone), with the adversarial network on.
TEST(Swarm, smallClustersPassWithEveryFault) {
  for (int nodes : {1, 2}) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      RunOptions o;
      o.nodes = nodes;
      o.seed = seed;
      o.ops = 150;
      o.faults = *FaultSet::Parse("all,stale,replay");
      o.min_voters = 1;
      o.read_anywhere = true;
      RunResult r = RunSeed(o);
      for (const auto& v : r.violations) {
        ADD_FAILURE() << nodes << " nodes, seed " << seed << " " << v.property << ": "
                      << v.description;
      }
      EXPECT_GT(r.ops_ok, 0u);
    }
  }
}

TEST(Swarm, swarmRun_replaysBitForBit) {
  RunOptions o = DrawSwarmRun(3, RunOptions{});
  o.ops = std::min<uint64_t>(o.ops, 200);
  RunResult a = RunSeed(o);
  RunResult b = RunSeed(o);
  EXPECT_EQ(a.trace_hash, b.trace_hash);
  EXPECT_EQ(a.events, b.events);
}

}  // namespace
}  // namespace raftkv::sim
