// The safety checker watching real RawNodes (the core's test network from
// raft_test_util.h): quiet on random runs with partitions and restarts, loud when two
// independent clusters are presented to it as one (a split brain).
#include <gtest/gtest.h>

#include "raft/raft_test_util.h"
#include "sim/check/invariants.h"

namespace raftkv::check {
namespace {

using raft::NodeId;
using raft::testing::Network;
using raft::testing::SeededRandom;

// Observes every node of a network (under ids shifted by `id_offset`) and feeds the
// entries each one applied since the last call.
class Watcher {
 public:
  explicit Watcher(SafetyChecker* checker, NodeId id_offset = 0)
      : checker_(checker), offset_(id_offset) {}

  void ObserveAll(Network& net) {
    for (NodeId id : net.ids()) checker_->Observe(id + offset_, net.node(id));
    for (NodeId id : net.ids()) {
      const auto& applied = net.test_node(id).applied;
      for (size_t i = seen_[id]; i < applied.size(); i++) {
        checker_->ObserveApply(id + offset_, applied[i]);
      }
      seen_[id] = applied.size();
    }
  }

  void Restart(Network& net, NodeId id) {
    net.Restart(id);
    checker_->ObserveCrash(id + offset_);
    seen_[id] = 0;
  }

  void FullCheck(Network& net) {
    std::map<NodeId, const raft::RawNode*> live;
    for (NodeId id : net.ids()) live[id + offset_] = &net.node(id);
    checker_->FullCheck(live);
  }

 private:
  SafetyChecker* checker_;
  NodeId offset_;
  std::map<NodeId, size_t> seen_;
};

std::string All(const SafetyChecker& c) {
  std::string s;
  for (const std::string& v : c.violations()) s += v + "\n";
  return s;
}

bool HasViolation(const SafetyChecker& c, const std::string& property) {
  for (const std::string& v : c.violations()) {
    if (v.rfind(property + ":", 0) == 0) return true;
  }
  return false;
}

TEST(SafetyCheckerRawNode, Observe_randomRunsWithFaultsReportNothing) {
  for (uint64_t seed = 1; seed <= 12; seed++) {
    const int n = seed % 2 == 0 ? 5 : 3;
    Network net(n);
    SafetyChecker checker;
    Watcher w(&checker);
    SeededRandom rnd(seed);
    int proposals = 0;
    for (int step = 0; step < 600; step++) {
      const uint64_t dice = rnd.Uniform(100);
      const NodeId some = 1 + rnd.Uniform(n);
      if (dice < 50) {
        for (NodeId id : net.ids()) net.node(id).Tick();
        net.Shuffle(rnd, 20, 10);
      } else if (dice < 80) {
        NodeId leader = net.Leader();
        if (leader != raft::kNoNode) {
          (void)net.node(leader).Propose("s" + std::to_string(seed) + "-" +
                                         std::to_string(proposals++));
        }
        net.Shuffle(rnd, 20, 10);
      } else if (dice < 85) {
        net.Isolate(some);
      } else if (dice < 92) {
        net.Heal();
      } else if (dice < 95) {
        w.Restart(net, some);
      } else {
        net.Shuffle(rnd, 50, 0);
      }
      w.ObserveAll(net);
      ASSERT_TRUE(checker.ok()) << "seed " << seed << " step " << step << "\n" << All(checker);
    }
    net.Heal();
    net.TickAll(30);
    w.ObserveAll(net);
    w.FullCheck(net);
    EXPECT_TRUE(checker.ok()) << "seed " << seed << "\n" << All(checker);
    // The run did something worth checking.
    raft::Index max_commit = 0;
    for (NodeId id : net.ids()) {
      max_commit = std::max(max_commit, net.node(id).GetStatus().hard_state.commit);
    }
    EXPECT_GT(max_commit, 10u) << "seed " << seed;
  }
}

TEST(SafetyCheckerRawNode, Observe_splitBrainReported) {
  // Two clusters that never talk, watched as one six-node cluster: both elect a leader
  // of the same term and commit different entries at the same index.
  Network a(3);
  Network b(3);
  a.Elect(1);
  b.Elect(2);
  ASSERT_EQ(a.node(1).GetStatus().hard_state.term, b.node(2).GetStatus().hard_state.term);
  ASSERT_TRUE(a.node(1).Propose("from-a").ok());
  ASSERT_TRUE(b.node(2).Propose("from-b").ok());
  a.Stabilize();
  b.Stabilize();

  SafetyChecker checker;
  Watcher wa(&checker, 0);
  Watcher wb(&checker, 10);
  wa.ObserveAll(a);
  EXPECT_TRUE(checker.ok()) << All(checker);
  wb.ObserveAll(b);
  EXPECT_TRUE(HasViolation(checker, "election-safety")) << All(checker);
  EXPECT_TRUE(HasViolation(checker, "log-matching")) << All(checker);
  EXPECT_TRUE(HasViolation(checker, "state-machine-safety")) << All(checker);
}

TEST(SafetyCheckerRawNode, Observe_leaderWithoutCommittedEntriesReported) {
  // Cluster a commits an entry; in cluster b (watched as the same nodes after a "crash"),
  // node 3 wins a later term without it.
  Network a(3);
  a.Elect(1);
  ASSERT_TRUE(a.node(1).Propose("committed").ok());
  a.Stabilize();
  Network b(3, [](raft::Config& c) {  // so that a second election can win at once
    c.pre_vote = false;
    c.check_quorum = false;
  });
  b.Elect(1);
  b.Elect(3);  // a later term than a's
  ASSERT_GT(b.node(3).GetStatus().hard_state.term, a.node(1).GetStatus().hard_state.term);

  SafetyChecker checker;
  Watcher wa(&checker);
  wa.ObserveAll(a);
  ASSERT_TRUE(checker.ok()) << All(checker);
  checker.ObserveCrash(3);
  checker.Observe(3, b.node(3));
  EXPECT_TRUE(HasViolation(checker, "leader-completeness")) << All(checker);
}

}  // namespace
}  // namespace raftkv::check
