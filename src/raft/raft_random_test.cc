// Randomized clusters with message loss, reordering, partitions and crash-restarts; after
// every step the safety properties of Figure 3 are checked. A small in-core cousin of the
// simulator, to catch core bugs early.
#include <gtest/gtest.h>

#include <algorithm>

#include "raft/raft_test_util.h"

namespace raftkv::raft {
namespace {

using testing::Network;
using testing::SeededRandom;

class SafetyChecker {
 public:
  void Check(Network& net) {
    for (NodeId id : net.ids()) {
      NodeStatus st = net.node(id).GetStatus();
      // Election Safety: at most one leader per term.
      if (st.soft_state.role == Role::kLeader) {
        auto [it, fresh] = leaders_.emplace(st.hard_state.term, id);
        ASSERT_EQ(it->second, id) << "two leaders in term " << st.hard_state.term;
      }
      // State Machine Safety: the same entry at every applied index on every node.
      const auto& applied = net.test_node(id).applied;
      for (size_t i = checked_[id]; i < applied.size(); i++) {
        const Entry& e = applied[i];
        auto [it, fresh] = committed_.emplace(e.index, e);
        ASSERT_EQ(it->second, e) << "node " << id << " applied a different entry at " << e.index;
      }
      checked_[id] = applied.size();
      // Leader Completeness (cheap form): the newest leader holds every entry known
      // committed (a deposed leader of an older term may not have learned of it yet).
      if (st.soft_state.role == Role::kLeader && st.hard_state.term == leaders_.rbegin()->first) {
        for (const auto& [idx, e] : committed_) {
          if (idx > st.last_index) {
            ADD_FAILURE() << "leader " << id << " misses committed index " << idx;
            return;
          }
          if (idx < st.first_index) continue;
          ASSERT_EQ(*net.node(id).TermAt(idx), e.term) << "leader lacks committed " << idx;
        }
      }
    }
  }
  void Restarted(NodeId id) { checked_[id] = 0; }
  size_t committed() const { return committed_.size(); }

 private:
  std::map<Term, NodeId> leaders_;
  std::map<Index, Entry> committed_;
  std::map<NodeId, size_t> checked_;
};

// conf_changes: remove/re-add the highest node at random; joint: also, in joint
// consensus, toggle the second highest between voter and learner in the same change.
void RunRandom(uint64_t seed, int nodes, bool pre_vote, bool conf_changes = false,
               bool joint = false) {
  SeededRandom rnd(seed);
  Network net(nodes, [&](Config& c) {
    c.pre_vote = pre_vote;
    c.max_size_per_msg = 200;
    c.max_inflight_msgs = 4;
  });
  SafetyChecker checker;
  int proposals = 0;
  for (int step = 0; step < 1500; step++) {
    uint64_t r = rnd.Uniform(100);
    NodeId id = 1 + rnd.Uniform(nodes);
    if (r < 30) {
      net.node(id).Tick();
    } else if (r < 45) {
      (void)net.node(id).Propose("v" + std::to_string(proposals++));
    } else if (r < 47) {
      net.node(id).ReadIndex("r");
    } else if (r < 49) {
      net.Isolate(id);
    } else if (r < 53) {
      net.Heal();
    } else if (r < 54) {
      net.Restart(id, net.ids());
      checker.Restarted(id);
    } else if (r < 56 && conf_changes) {
      // Remove or re-add the highest node, one change at a time.
      NodeId victim = nodes;
      const auto& voters = net.test_node(id).conf.voters;
      bool present = std::find(voters.begin(), voters.end(), victim) != voters.end();
      ConfChange cc;
      cc.changes.push_back(ConfChangeSingle{
          present ? ConfChangeType::kRemoveNode : ConfChangeType::kAddNode, victim});
      if (joint && rnd.Uniform(2) == 0) {
        NodeId other = nodes - 1;
        bool voter = std::find(voters.begin(), voters.end(), other) != voters.end();
        cc.changes.push_back(ConfChangeSingle{
            voter ? ConfChangeType::kAddLearnerNode : ConfChangeType::kAddNode, other});
      }
      (void)net.node(id).ProposeConfChange(cc);
    }
    net.Shuffle(rnd, 1 + rnd.Uniform(8), 10);
    checker.Check(net);
    if (::testing::Test::HasFatalFailure() || ::testing::Test::HasFailure()) {
      FAIL() << "seed " << seed << " step " << step;
    }
  }
  // Liveness after healing: a leader emerges and a proposal commits everywhere.
  net.Heal();
  if (conf_changes) {
    // Re-add the highest node if it is out, then demand that every node applies a final
    // write (leaders may change meanwhile: keep retrying).
    auto has = [&](NodeId l, NodeId id) {
      const auto& v = net.test_node(l).conf.voters;
      return std::find(v.begin(), v.end(), id) != v.end();
    };
    auto everyone_applied = [&] {
      for (NodeId id : net.ids()) {
        const auto& a = net.test_node(id).applied;
        if (std::none_of(a.begin(), a.end(), [](const Entry& e) { return e.data == "final"; })) {
          return false;
        }
      }
      return true;
    };
    for (int i = 0; i < 600 && !everyone_applied(); i++) {
      NodeId l = net.Leader();
      if (l != kNoNode) {
        ConfChange cc;
        cc.changes.push_back(ConfChangeSingle{ConfChangeType::kAddNode, NodeId(nodes)});
        cc.changes.push_back(ConfChangeSingle{ConfChangeType::kAddNode, NodeId(nodes - 1)});
        if (!net.test_node(l).conf.voters_outgoing.empty()) {
          // Joint: the leader leaves it by itself.
        } else if (!has(l, nodes) || !has(l, nodes - 1)) {
          (void)net.node(l).ProposeConfChange(cc);
        } else if (i % 50 == 0) {
          (void)net.node(l).Propose("final");
        }
      }
      net.TickAll();
    }
    checker.Check(net);
    EXPECT_TRUE(everyone_applied()) << "seed " << seed;
    return;
  }
  for (int i = 0; i < 200 && net.Leader() == kNoNode; i++) net.TickAll();
  NodeId leader = net.Leader();
  ASSERT_NE(leader, kNoNode) << "seed " << seed;
  ASSERT_TRUE(net.node(leader).Propose("final").ok());
  for (int i = 0; i < 50; i++) net.TickAll();
  checker.Check(net);
  for (NodeId id : net.ids()) {
    ASSERT_FALSE(net.test_node(id).applied.empty());
    EXPECT_EQ(net.node(id).GetStatus().hard_state.commit,
              net.node(leader).GetStatus().hard_state.commit)
        << "seed " << seed << " node " << id << " last " << net.node(id).LastIndex() << " leader "
        << leader << " last " << net.node(leader).LastIndex() << " pr "
        << (net.node(leader).GetStatus().progress.count(id)
                ? static_cast<int>(net.node(leader).GetStatus().progress.at(id).state)
                : -1)
        << " match "
        << (net.node(leader).GetStatus().progress.count(id)
                ? net.node(leader).GetStatus().progress.at(id).match
                : 0)
        << " tnconf " << net.test_node(leader).conf.voters.size() << " rconf "
        << net.node(leader).GetStatus().conf.voters.size() << " applied "
        << net.node(leader).GetStatus().applied << " commit5 "
        << " role " << static_cast<int>(net.node(id).GetStatus().soft_state.role) << " term "
        << net.node(id).GetStatus().hard_state.term << " vs "
        << net.node(leader).GetStatus().hard_state.term;
  }
  EXPECT_GT(checker.committed(), 0u);
}

// The sanitizer build runs a quarter of the seeds (it is ~30x slower).
#ifdef __SANITIZE_ADDRESS__
constexpr uint64_t kSeedDivisor = 4;
#else
constexpr uint64_t kSeedDivisor = 1;
#endif

TEST(RaftRandom, threeNodes_safetyUnderFaults) {
  for (uint64_t seed = 1; seed <= 60 / kSeedDivisor; seed++) RunRandom(seed, 3, true);
}

TEST(RaftRandom, fiveNodes_safetyUnderFaults) {
  for (uint64_t seed = 100; seed < 100 + 40 / kSeedDivisor; seed++) RunRandom(seed, 5, true);
}

TEST(RaftRandom, fiveNodes_confChanges_safetyUnderFaults) {
  for (uint64_t seed = 300; seed < 300 + 40 / kSeedDivisor; seed++) RunRandom(seed, 5, true, true);
}

TEST(RaftRandom, fiveNodes_jointChanges_safetyUnderFaults) {
  for (uint64_t seed = 400; seed < 400 + 40 / kSeedDivisor; seed++) {
    RunRandom(seed, 5, true, true, true);
  }
}

TEST(RaftRandom, fiveNodes_noPreVote_safetyUnderFaults) {
  for (uint64_t seed = 200; seed < 200 + 30 / kSeedDivisor; seed++) RunRandom(seed, 5, false);
}

}  // namespace
}  // namespace raftkv::raft
