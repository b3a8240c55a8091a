// Membership changes, one server at a time (thesis §4.1), and learners (§4.2.1).
#include <gtest/gtest.h>

#include <algorithm>

#include "raft/raft_test_util.h"

namespace raftkv::raft {
namespace {

using testing::Network;

ConfChange Change(ConfChangeType t, NodeId id) {
  ConfChange cc;
  cc.changes.push_back(ConfChangeSingle{t, id});
  return cc;
}

bool Applied(Network& net, NodeId id, const std::string& data) {
  auto& a = net.test_node(id).applied;
  return std::any_of(a.begin(), a.end(), [&](const Entry& e) { return e.data == data; });
}

TEST(Membership, addNode_joinsCatchesUpAndVotes) {
  Network net(3);
  net.Elect(1);
  net.AddNode(4);
  ASSERT_TRUE(net.node(1).ProposeConfChange(Change(ConfChangeType::kAddNode, 4)).ok());
  // §4.1: one change at a time — a second one waits until the first is applied.
  EXPECT_TRUE(net.node(1)
                  .ProposeConfChange(Change(ConfChangeType::kAddNode, 5))
                  .Is(Status::Code::kFailedPrecondition));
  net.Stabilize();
  EXPECT_EQ(net.test_node(4).conf.voters, (std::vector<NodeId>{1, 2, 3, 4}));
  EXPECT_EQ(net.test_node(1).conf.voters, (std::vector<NodeId>{1, 2, 3, 4}));
  ASSERT_TRUE(net.node(1).Propose("after").ok());
  net.Stabilize();
  EXPECT_TRUE(Applied(net, 4, "after"));
  // Four voters: a quorum is 3. With 2 and 3 cut off, nothing commits...
  net.Isolate(2);
  net.Isolate(3);
  Index commit = net.node(1).GetStatus().hard_state.commit;
  ASSERT_TRUE(net.node(1).Propose("needs3").ok());
  net.Stabilize();
  EXPECT_EQ(net.node(1).GetStatus().hard_state.commit, commit);
  // ...and with 3 back, 1+3+4 commit it.
  net.Heal();
  net.Isolate(2);
  net.TickAll(2);
  EXPECT_TRUE(Applied(net, 4, "needs3"));
}

TEST(Membership, learner_receivesLogButDoesNotCount) {
  Network net(3);
  net.Elect(1);
  net.AddNode(4);
  ASSERT_TRUE(net.node(1).ProposeConfChange(Change(ConfChangeType::kAddLearnerNode, 4)).ok());
  net.Stabilize();
  EXPECT_EQ(net.test_node(1).conf.learners, (std::vector<NodeId>{4}));
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.Stabilize();
  EXPECT_TRUE(Applied(net, 4, "x"));
  net.Isolate(2);
  net.Isolate(3);
  Index commit = net.node(1).GetStatus().hard_state.commit;
  ASSERT_TRUE(net.node(1).Propose("y").ok());
  net.Stabilize();
  EXPECT_EQ(net.node(1).GetStatus().hard_state.commit, commit);  // 1 + learner: no quorum
  // A learner never campaigns.
  for (int i = 0; i < 50; i++) net.node(4).Tick();
  EXPECT_EQ(net.node(4).GetStatus().soft_state.role, Role::kFollower);
}

TEST(Membership, removeNode_shrinksQuorum) {
  Network net(3);
  net.Elect(1);
  ASSERT_TRUE(net.node(1).ProposeConfChange(Change(ConfChangeType::kRemoveNode, 3)).ok());
  net.Stabilize();
  EXPECT_EQ(net.test_node(1).conf.voters, (std::vector<NodeId>{1, 2}));
  net.Isolate(3);
  ASSERT_TRUE(net.node(1).Propose("two").ok());
  net.Stabilize();
  EXPECT_TRUE(Applied(net, 2, "two"));
}

TEST(Membership, removeLeader_stepsDownAndOthersElect) {
  Network net(3);
  net.Elect(1);
  ASSERT_TRUE(net.node(1).ProposeConfChange(Change(ConfChangeType::kRemoveNode, 1)).ok());
  net.Stabilize();
  // It hands over first: a heartbeat round tells 2 and 3 that its removal committed.
  EXPECT_EQ(net.node(1).GetStatus().soft_state.role, Role::kLeader);
  EXPECT_TRUE(net.node(1).Propose("refused").Is(Status::Code::kNotLeader));
  net.TickAll(3);
  EXPECT_NE(net.node(1).GetStatus().soft_state.role, Role::kLeader);
  EXPECT_EQ(net.node(2).GetStatus().hard_state.commit, net.node(1).GetStatus().hard_state.commit);
  for (int i = 0; i < 100 && net.Leader() == kNoNode; i++) net.TickAll();
  NodeId l = net.Leader();
  ASSERT_TRUE(l == 2 || l == 3) << l;
  ASSERT_TRUE(net.node(l).Propose("new").ok());
  net.Stabilize();
  EXPECT_TRUE(Applied(net, 2, "new"));
  EXPECT_TRUE(Applied(net, 3, "new"));
}

TEST(Membership, malformedAndInapplicableChanges_refused) {
  Network net(3);
  net.Elect(1);
  ConfChange leave;  // empty: "leave the joint configuration", but it is not joint
  EXPECT_TRUE(net.node(1).ProposeConfChange(leave).Is(Status::Code::kFailedPrecondition));
  ConfChange none;
  none.changes = {{ConfChangeType::kRemoveNode, 1},
                  {ConfChangeType::kRemoveNode, 2},
                  {ConfChangeType::kRemoveNode, 3}};
  EXPECT_TRUE(net.node(1).ProposeConfChange(none).Is(Status::Code::kFailedPrecondition));
  Message m;
  m.type = MessageType::kPropose;
  m.from = 1;
  m.entries.push_back(Entry{0, 0, EntryType::kConfChange, "\x07garbage"});
  EXPECT_TRUE(net.node(1).Step(m).Is(Status::Code::kInvalidArgument));
}

}  // namespace
}  // namespace raftkv::raft
