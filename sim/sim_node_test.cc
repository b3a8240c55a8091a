// Tests of SimNode, the simulated server's runtime loop around the core, driven by hand-made
// messages: the test plays the leader, so the interleaving is exact.
#include "sim/sim_node.h"

#include <gtest/gtest.h>

#include <ostream>

#include "raft/conf_change.h"

namespace raftkv::raft {
// Readable failures: "voters {1,2,3} learners {4}".
void PrintTo(const ConfState& cs, std::ostream* os) {
  auto ids = [os](const std::vector<NodeId>& v) {
    *os << "{";
    for (size_t i = 0; i < v.size(); ++i) *os << (i ? "," : "") << v[i];
    *os << "}";
  };
  *os << "voters ";
  ids(cs.voters);
  *os << " learners ";
  ids(cs.learners);
}
}  // namespace raftkv::raft

namespace raftkv::sim {
namespace {

raft::ConfState Conf(std::vector<NodeId> voters, std::vector<NodeId> learners) {
  raft::ConfState cs;
  cs.voters = std::move(voters);
  cs.learners = std::move(learners);
  return cs;
}

raft::Entry AddLearnerEntry(raft::Term term, raft::Index index, NodeId learner) {
  raft::ConfChange cc;
  cc.changes.push_back({raft::ConfChangeType::kAddLearnerNode, learner});
  return raft::Entry{term, index, raft::EntryType::kConfChange, raft::EncodeConfChange(cc)};
}

// Node 2 of {1,2,3} with its own clock, network (whose messages go nowhere) and checkers.
// Nothing ticks it, so it never campaigns.
struct OneNode {
  ClusterOptions options;
  EventQueue queue;
  Rng rng{7};
  check::SafetyChecker checker;
  check::ConfigChecker conf_checker;
  Tracer tracer{64, false};
  std::unique_ptr<Network> network;
  std::vector<std::string> violations;
  SimContext ctx;
  std::unique_ptr<SimNode> node;

  OneNode() {
    options.snapshot_every = 1;  // a snapshot after every Ready that applies something
    network =
        std::make_unique<Network>(3, &queue, &rng, options.network, [](const raft::Message&) {});
    ctx.options = &options;
    ctx.queue = &queue;
    ctx.network = network.get();
    ctx.rng = &rng;
    ctx.checker = &checker;
    ctx.conf_checker = &conf_checker;
    ctx.tracer = &tracer;
    ctx.violation = [this](const std::string& v) { violations.push_back(v); };
    node = std::make_unique<SimNode>(2, std::vector<NodeId>{1, 2, 3}, &ctx);
  }

  // Runs events until `pred` holds; false if the queue ran dry first.
  bool RunUntil(const std::function<bool()>& pred) {
    while (!pred()) {
      if (queue.Empty()) return false;
      queue.RunNext();
    }
    return true;
  }
};

// A leader snapshot reaches the node while its write of a Ready with older committed entries
// is pending (seed 1765000001622). The core restores the snapshot's newer configuration at
// once; the snapshot the node then takes at its applied index must record the configuration
// as of that index, so that a restart from it has the right members.
TEST(SimNode, maybeSnapshot_recordsTheAppliedConfigurationWhileANewerSnapshotIsPending) {
  OneNode t;
  t.node->Start();
  ASSERT_TRUE(t.RunUntil([&] { return t.node->applied() == 3; }));  // the bootstrap entries
  ASSERT_EQ(t.node->applied_conf(), Conf({1, 2, 3}, {}));

  // Leader 1 (term 2) appends 4..6, with "add learner 4" at 5, and commits up to 5.
  raft::Message app;
  app.type = raft::MessageType::kAppend;
  app.from = 1;
  app.to = 2;
  app.term = 2;
  app.index = 3;
  app.log_term = 1;
  app.entries = {raft::Entry{2, 4, raft::EntryType::kNormal, ""}, AddLearnerEntry(2, 5, 4),
                 AddLearnerEntry(2, 6, 5)};
  app.commit = 5;
  t.node->Receive(app);
  // Still writing that Ready: a snapshot at 8 arrives, with both learners added.
  raft::Message snap;
  snap.type = raft::MessageType::kSnapshot;
  snap.from = 1;
  snap.to = 2;
  snap.term = 2;
  snap.snapshot = raft::Snapshot{{8, 2, Conf({1, 2, 3}, {4, 5})}, KvStateMachine().Serialize()};
  t.node->Receive(snap);
  ASSERT_EQ(t.node->core()->GetStatus().conf, Conf({1, 2, 3}, {4, 5})) << "restored at once";

  // The pending write completes: 4 and 5 are applied, then a snapshot is taken at 5.
  ASSERT_TRUE(t.RunUntil([&] { return t.node->snapshot_index() == 5; }));
  EXPECT_EQ(t.node->applied_conf(), Conf({1, 2, 3}, {4}));
  EXPECT_TRUE(t.violations.empty()) << t.violations.front();

  // Crash before the snapshot at 8 is written: the node comes back from its own at 5.
  t.node->Crash();
  ASSERT_TRUE(t.node->Restart().ok());
  EXPECT_EQ(t.node->applied(), 5u);
  EXPECT_EQ(t.node->core()->GetStatus().conf, Conf({1, 2, 3}, {4}));
}

}  // namespace
}  // namespace raftkv::sim
