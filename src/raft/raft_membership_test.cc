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

// Issue 11 (simulator seeds 40 of 3 nodes, 75, 471 and 707 of 5 nodes, 350048 of the disk
// runs): the leader applied its own removal, then crashed before its handoff told the other
// voter that the removal committed. Node 2 still counts node 1 as a voter and needs its
// vote, but node 1's log is longer (it appended "x" after the removal), so node 1 must
// refuse (§5.4.1); and node 1, no longer a voter, never campaigned: no leader, ever. Now the
// removed node campaigns in its own configuration ({2}) when asked for a vote it must
// refuse, leads only to hand the commit index over, and steps down.
TEST(Membership, removedLeaderCrashedBeforeHandoff_campaignsToHandOver) {
  auto node = [](NodeId id, Index last, Index commit) {
    testing::TestNode tn;
    tn.storage = std::make_unique<MemoryStorage>();
    tn.random = std::make_unique<testing::SeededRandom>(id * 7919);
    std::vector<Entry> log = {
        {1, 1, EntryType::kNormal, ""},
        {1, 2, EntryType::kNormal, ""},
        {2, 3, EntryType::kNormal, ""},
        {2, 4, EntryType::kConfChange, EncodeConfChange(Change(ConfChangeType::kRemoveNode, 1))},
        {2, 5, EntryType::kNormal, "x"}};
    log.resize(last);
    EXPECT_TRUE(tn.storage->Append(log).ok());
    tn.storage->SetHardState(HardState{2, 1, commit});
    tn.conf.voters = {1, 2};
    tn.storage->SetConfState(tn.conf);
    Config c = testing::TestConfig(id, tn.storage.get(), tn.random.get());
    c.applied = commit;
    auto r = RawNode::Create(c, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    tn.node = std::move(*r);
    return tn;
  };
  std::map<NodeId, testing::TestNode> nodes;
  nodes.emplace(1, node(1, 5, 4));  // applied its removal: configuration {2}
  nodes.emplace(2, node(2, 4, 3));  // holds the removal, does not know it committed
  Network net(std::move(nodes));
  EXPECT_EQ(net.node(1).GetStatus().conf.voters, (std::vector<NodeId>{2}));
  EXPECT_EQ(net.node(2).GetStatus().conf.voters, (std::vector<NodeId>{1, 2}));

  for (int i = 0; i < 200 && net.test_node(2).conf.voters != std::vector<NodeId>{2}; i++) {
    net.TickAll();
  }
  // Node 2 learned that the removal committed (node 1 led, to hand over)...
  ASSERT_EQ(net.test_node(2).conf.voters, (std::vector<NodeId>{2}));
  EXPECT_GT(net.CountSent(MessageType::kVote), 0);
  // ...and now leads alone; node 1 stepped down and stays out.
  for (int i = 0; i < 200 && net.Leader() != 2; i++) net.TickAll();
  ASSERT_EQ(net.Leader(), 2u);
  ASSERT_TRUE(net.node(2).Propose("after").ok());
  net.Stabilize();
  EXPECT_TRUE(Applied(net, 2, "after"));
  EXPECT_TRUE(Applied(net, 2, "x"));  // node 1's entry, committed by the handoff
  for (int i = 0; i < 100; i++) net.TickAll();
  EXPECT_EQ(net.Leader(), 2u);
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
