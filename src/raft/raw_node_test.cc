#include "raft/raw_node.h"

#include <gtest/gtest.h>

#include "raft/raft_test_util.h"

namespace raftkv::raft {
namespace {

using testing::Network;
using testing::SeededRandom;

TEST(RawNode, create_rejectsInvalidConfig) {
  MemoryStorage s;
  SeededRandom r(1);
  Config c = testing::TestConfig(0, &s, &r);
  EXPECT_FALSE(RawNode::Create(c, {1}).ok());
  c = testing::TestConfig(1, &s, &r);
  c.read_only = Config::ReadOnlyOption::kLeaseBased;
  c.check_quorum = false;
  EXPECT_FALSE(RawNode::Create(c, {1}).ok());
  c = testing::TestConfig(1, &s, &r);
}

TEST(RawNode, create_withoutConfigurationWaitsToJoin) {
  MemoryStorage s;
  SeededRandom r(1);
  auto n = RawNode::Create(testing::TestConfig(1, &s, &r), {});
  ASSERT_TRUE(n.ok());
  for (int i = 0; i < 100; i++) (*n)->Tick();
  EXPECT_EQ((*n)->GetStatus().soft_state.role, Role::kFollower);  // never campaigns
  EXPECT_FALSE((*n)->Campaign().ok() && (*n)->GetStatus().soft_state.role != Role::kFollower);
}

TEST(RawNode, bootstrap_firstReadyHoldsCommittedConfEntries) {
  MemoryStorage s;
  SeededRandom r(1);
  auto n = RawNode::Create(testing::TestConfig(1, &s, &r), {1, 2, 3});
  ASSERT_TRUE(n.ok());
  ASSERT_TRUE((*n)->HasReady());
  Ready rd = (*n)->GetReady();
  ASSERT_EQ(rd.entries.size(), 3u);
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->commit, 3u);
  EXPECT_EQ(rd.committed_entries.size(), 3u);
  EXPECT_EQ(rd.entries[0].type, EntryType::kConfChange);
  (*n)->Advance();
}

TEST(RawNode, singleNode_commitsOnlyAfterAdvance) {
  Network net(1);
  RawNode& n = net.node(1);
  ASSERT_TRUE(n.Campaign().ok());
  // A single voter wins at once, but leads only once its new term and vote are durable.
  ASSERT_TRUE(n.HasReady());
  Ready rd = n.GetReady();
  ASSERT_TRUE(rd.soft_state.has_value());
  EXPECT_EQ(rd.soft_state->role, Role::kCandidate);
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->vote, 1u);
  EXPECT_TRUE(rd.entries.empty());
  EXPECT_TRUE(rd.leader_messages.empty());
  net.test_node(1).storage->SetHardState(*rd.hard_state);
  n.Advance();
  // Leader now; its empty entry is not committed before it is durable (§10.2.1).
  ASSERT_TRUE(n.HasReady());
  rd = n.GetReady();
  ASSERT_TRUE(rd.soft_state.has_value());
  EXPECT_EQ(rd.soft_state->role, Role::kLeader);
  ASSERT_EQ(rd.entries.size(), 1u);
  Index idx = rd.entries[0].index;
  EXPECT_LT(n.GetStatus().hard_state.commit, idx);
  EXPECT_TRUE(rd.committed_entries.empty());
  ASSERT_TRUE(net.test_node(1).storage->Append(rd.entries).ok());
  n.Advance();
  EXPECT_EQ(n.GetStatus().hard_state.commit, idx);
  net.Stabilize();
  ASSERT_TRUE(n.Propose("x").ok());
  net.Stabilize();
  EXPECT_EQ(net.test_node(1).applied.back().data, "x");
  EXPECT_EQ(n.GetStatus().applied, n.LastIndex());
}

// Issue 11, simulator seed 193 (3 nodes, 2000 ops): the only voter won alone and became
// leader in the same step, so its appends (leader messages, sent before the write) spoke in
// a term that was not durable. It crashed before the write, restarted in the old term, won
// the same term again and appended different entries at the same index and term. A learner
// that got the first incarnation's entries would then hold entries the leader believes it
// matches: two different entries with one index and term. Now the candidate leads only
// after the Ready holding its term and vote is durable, so nothing of a lost term leaves.
TEST(RawNode, singleVoterCrashBeforeTermIsDurable_learnerNeverGetsLostTermEntries) {
  testing::TestNode voter = testing::MakeNodeWithLog(1, {1}, {1, 1}, 1);
  ConfState with_learner;
  with_learner.voters = {1};
  with_learner.learners = {2};
  voter.storage->SetConfState(with_learner);
  // Re-create the core so that it reads the configuration with the learner.
  Config c = testing::TestConfig(1, voter.storage.get(), voter.random.get());
  auto r = RawNode::Create(c, {});
  ASSERT_TRUE(r.ok());
  voter.node = std::move(*r);

  ASSERT_TRUE(voter.node->Campaign().ok());
  Ready rd = voter.node->GetReady();
  Term term = voter.node->GetStatus().hard_state.term;
  EXPECT_EQ(term, 2u);
  // Nothing may leave before the write: the term is not durable yet.
  EXPECT_TRUE(rd.leader_messages.empty());
  EXPECT_TRUE(rd.entries.empty());
  EXPECT_NE(voter.node->GetStatus().soft_state.role, Role::kLeader);
  // Crash before the write: the Ready is lost. Restart from the storage (term 1).
  r = RawNode::Create(c, {});
  ASSERT_TRUE(r.ok());
  voter.node = std::move(*r);
  EXPECT_EQ(voter.node->GetStatus().hard_state.term, 1u);

  // The second life campaigns in the same term 2 and this time persists it first.
  ASSERT_TRUE(voter.node->Campaign().ok());
  rd = voter.node->GetReady();
  EXPECT_TRUE(rd.leader_messages.empty());
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->term, term);
  voter.storage->SetHardState(*rd.hard_state);
  voter.node->Advance();
  EXPECT_EQ(voter.node->GetStatus().soft_state.role, Role::kLeader);
  rd = voter.node->GetReady();
  ASSERT_FALSE(rd.leader_messages.empty());
  for (const Message& m : rd.leader_messages) {
    EXPECT_EQ(m.term, term);
    EXPECT_EQ(m.to, 2u);
  }
}

TEST(RawNode, leaderMessagesMayLeaveEarly_onlyInADurableTerm) {
  Ready rd;
  EXPECT_TRUE(LeaderMessagesMayLeaveEarly(rd, 0));
  Message m;
  m.type = MessageType::kAppend;
  m.term = 5;
  rd.leader_messages.push_back(m);
  EXPECT_TRUE(LeaderMessagesMayLeaveEarly(rd, 5));
  EXPECT_TRUE(LeaderMessagesMayLeaveEarly(rd, 6));
  EXPECT_FALSE(LeaderMessagesMayLeaveEarly(rd, 4));
}

TEST(RawNode, threeNodes_electReplicateApply) {
  Network net(3);
  net.Elect(1);
  EXPECT_EQ(net.Leader(), 1u);
  ASSERT_TRUE(net.node(1).Propose("a").ok());
  ASSERT_TRUE(net.node(1).Propose("b").ok());
  net.Stabilize();
  for (NodeId id : net.ids()) {
    auto& applied = net.test_node(id).applied;
    ASSERT_GE(applied.size(), 2u) << id;
    EXPECT_EQ(applied[applied.size() - 2].data, "a");
    EXPECT_EQ(applied.back().data, "b");
  }
}

TEST(RawNode, electionByTicks_oneLeaderEmerges) {
  Network net(3);
  for (int i = 0; i < 40 && net.Leader() == kNoNode; i++) net.TickAll();
  EXPECT_NE(net.Leader(), kNoNode);
}

TEST(RawNode, follower_forwardsProposal) {
  Network net(3);
  net.Elect(1);
  ASSERT_TRUE(net.node(2).Propose("fwd").ok());
  net.Stabilize();
  EXPECT_EQ(net.test_node(3).applied.back().data, "fwd");
}

TEST(RawNode, follower_forwardingDisabled_refuses) {
  Network net(3, [](Config& c) { c.disable_proposal_forwarding = true; });
  net.Elect(1);
  EXPECT_TRUE(net.node(2).Propose("x").Is(Status::Code::kNotLeader));
}

TEST(RawNode, noLeader_proposalRefused) {
  Network net(3);
  EXPECT_TRUE(net.node(1).Propose("x").Is(Status::Code::kNotLeader));
}

TEST(RawNode, uncommittedLimit_returnsBusy) {
  Network net(3, [](Config& c) { c.max_uncommitted_entries_size = 10; });
  net.Elect(1);
  net.Isolate(2);
  net.Isolate(3);
  ASSERT_TRUE(net.node(1).Propose("123456").ok());
  EXPECT_TRUE(net.node(1).Propose("123456").Is(Status::Code::kBusy));
  net.Heal();
  net.TickAll(2);
  net.Stabilize();
  EXPECT_TRUE(net.node(1).Propose("123456").ok());
}

TEST(RawNode, step_refusesGarbage) {
  Network net(3);
  net.Elect(1);
  RawNode& n = net.node(2);
  Message m;
  m.type = MessageType::kAppendResponse;
  m.from = 99;  // unknown sender (only a leader's messages may come from non-members)
  m.to = 2;
  m.term = 5;
  EXPECT_FALSE(n.Step(m).ok());
  m.type = MessageType::kAppend;
  m.from = 1;
  m.term = 0;
  EXPECT_FALSE(n.Step(m).ok());  // no term
  m.term = n.GetStatus().hard_state.term;
  m.index = 1000;
  m.entries = {Entry{m.term, 5, EntryType::kNormal, ""}};  // not contiguous
  EXPECT_FALSE(n.Step(m).ok());
  m.type = static_cast<MessageType>(200);
  EXPECT_FALSE(n.Step(m).ok());
  m.type = MessageType::kHup;
  EXPECT_FALSE(n.Step(m).ok());  // local type from the network
  // Out-of-range but well-formed: ignored or refused, never a crash.
  Message hb;
  hb.type = MessageType::kHeartbeat;
  hb.from = 1;
  hb.to = 2;
  hb.term = n.GetStatus().hard_state.term;
  hb.commit = 1u << 30;
  EXPECT_TRUE(n.Step(hb).ok());
  EXPECT_LE(n.GetStatus().hard_state.commit, n.LastIndex());
  Message resp;
  resp.type = MessageType::kAppendResponse;
  resp.from = 2;
  resp.to = 1;
  resp.term = hb.term;
  resp.index = 1u << 30;
  EXPECT_TRUE(net.node(1).Step(resp).ok());
  EXPECT_LE(net.node(1).GetStatus().hard_state.commit, net.node(1).LastIndex());
  resp.reject = true;
  resp.reject_hint = 1u << 30;
  resp.log_term = 77;
  EXPECT_TRUE(net.node(1).Step(resp).ok());
  net.Stabilize();
  ASSERT_TRUE(net.node(1).Propose("still fine").ok());
  net.Stabilize();
  EXPECT_EQ(net.test_node(2).applied.back().data, "still fine");
}

TEST(RawNode, readIndex_leaderServesAfterHeartbeatRound) {
  Network net(3);
  net.Elect(1);
  net.node(1).ReadIndex("r1");
  net.Stabilize();
  auto& rs = net.test_node(1).read_states;
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].context, "r1");
  EXPECT_EQ(rs[0].index, net.node(1).GetStatus().hard_state.commit);
}

TEST(RawNode, readIndex_followerGetsResponseFromLeader) {
  Network net(3);
  net.Elect(1);
  net.node(2).ReadIndex("f");
  net.Stabilize();
  auto& rs = net.test_node(2).read_states;
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].context, "f");
}

TEST(RawNode, readIndex_singleNode) {
  Network net(1);
  net.Elect(1);
  net.node(1).ReadIndex("s");
  net.Stabilize();
  ASSERT_EQ(net.test_node(1).read_states.size(), 1u);
}

TEST(RawNode, restart_appliedBeyondPersistedCommitIsAccepted) {
  Network net(3);
  net.Elect(1);
  ASSERT_TRUE(net.node(1).Propose("p").ok());
  net.Stabilize();
  auto& tn = net.test_node(2);
  Index applied = net.node(2).GetStatus().applied;
  HardState hs = tn.storage->hard_state();
  hs.commit = 1;  // the commit index write was not synced
  tn.storage->SetHardState(hs);
  Config c = testing::TestConfig(2, tn.storage.get(), tn.random.get());
  c.applied = applied;
  auto r = RawNode::Create(c, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->GetStatus().hard_state.commit, applied);
  c.applied = (*r)->LastIndex() + 1;
  EXPECT_FALSE(RawNode::Create(c, {}).ok());
}

TEST(RawNode, readIndex_lostWhenPartitionedLeaderStepsDown) {
  Network net(3);
  net.Elect(1);
  net.Isolate(1);
  net.node(1).ReadIndex("x");
  net.TickAll(30);
  EXPECT_TRUE(net.test_node(1).read_states.empty());
}

TEST(RawNode, reportUnreachable_movesFollowerToProbe) {
  Network net(3);
  net.Elect(1);
  ASSERT_TRUE(net.node(1).Propose("a").ok());
  net.Stabilize();
  EXPECT_EQ(net.node(1).GetStatus().progress.at(2).state, ProgressState::kReplicate);
  net.node(1).ReportUnreachable(2);
  EXPECT_EQ(net.node(1).GetStatus().progress.at(2).state, ProgressState::kProbe);
}

TEST(RawNode, proposeConfChange_emptyChangeRefused) {
  Network net(1);
  net.Elect(1);
  EXPECT_TRUE(net.node(1).ProposeConfChange(ConfChange{}).Is(Status::Code::kFailedPrecondition));
}

TEST(RawNode, restart_recoversFromStorage) {
  Network net(3);
  net.Elect(1);
  ASSERT_TRUE(net.node(1).Propose("p").ok());
  net.Stabilize();
  auto& tn = net.test_node(2);
  Config c = testing::TestConfig(2, tn.storage.get(), tn.random.get());
  auto r = RawNode::Create(c, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->LastIndex(), net.node(2).LastIndex());
  EXPECT_EQ((*r)->GetStatus().hard_state, tn.storage->hard_state());
}

}  // namespace
}  // namespace raftkv::raft
