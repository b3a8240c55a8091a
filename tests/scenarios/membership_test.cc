// Membership changes (M1) and leadership transfer, told in the simulator.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/scenarios/scenario_util.h"

namespace raftkv::scenario {
namespace {

using raft::ConfChange;
using raft::ConfChangeSingle;
using raft::ConfChangeTransition;
using raft::ConfChangeType;
using raft::ConfState;
using raft::kNoNode;
using sim::ClientReply;

ConfChange Changes(std::vector<ConfChangeSingle> changes,
                   ConfChangeTransition t = ConfChangeTransition::kAuto) {
  ConfChange cc;
  cc.changes = std::move(changes);
  cc.transition = t;
  return cc;
}

std::vector<NodeId> Sorted(std::vector<NodeId> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Runs until node `id` applied a configuration with exactly these voters, not joint.
bool WaitVoters(Cluster& c, NodeId id, const std::vector<NodeId>& voters,
                Time timeout = 3 * kSecond) {
  return c.RunUntil(
      [&] {
        if (!c.IsUp(id)) return false;
        ConfState cs = c.Status(id).conf;
        return Sorted(cs.voters) == voters && cs.voters_outgoing.empty();
      },
      timeout);
}

// A leader among `members` that has committed an entry of its own term.
NodeId SettledLeader(Cluster& c, const std::vector<NodeId>& members) {
  NodeId leader = WaitForLeaderAmong(c, members);
  if (leader == kNoNode) return leader;
  if (!c.Put(leader, "settle", "x").ok()) return kNoNode;
  return leader;
}

// M1: "Servers are added and removed while the cluster serves clients: the configuration
// is replicated through the log, a new server catches up as a non-voting learner first, and
// no two majorities can decide independently during the change."
TEST(Membership, M1_servers_added_and_removed_while_clients_are_served) {
  ClusterOptions o = Options(3, 11);
  o.spare_nodes = 2;  // nodes 4 and 5 start empty, with no configuration
  Cluster c(o);
  NodeId leader = SettledLeader(c, {1, 2, 3});
  ASSERT_NE(leader, kNoNode);
  int writes = 0;
  auto write = [&](NodeId via) {
    ClientReply r = c.Put(via, "k", "v" + std::to_string(++writes));
    return r.ok();
  };
  // A new server joins as a learner: it receives the log, but a quorum is still 2 of 3.
  ASSERT_TRUE(c.ProposeConfChange(leader, Changes({{ConfChangeType::kAddLearnerNode, 4}})).ok());
  ASSERT_TRUE(
      c.RunUntil([&] { return c.Status(4).conf.learners == std::vector<NodeId>{4}; }, 2 * kSecond));
  ASSERT_TRUE(write(leader));
  ASSERT_TRUE(WaitAllApplied(c, "k", "v1") || c.AppliedValue(4, "k") == "v1");
  // Promoted once caught up; then servers 3 out and 5 in, in one joint change (§4.3) while
  // the clients keep writing.
  ASSERT_TRUE(c.ProposeConfChange(leader, Changes({{ConfChangeType::kAddNode, 4}})).ok());
  ASSERT_TRUE(WaitVoters(c, leader, {1, 2, 3, 4}));
  ASSERT_TRUE(write(leader));
  leader = SettledLeader(c, {1, 2, 3, 4});
  ASSERT_NE(leader, kNoNode);
  NodeId out = leader == 3 ? 2 : 3;
  ASSERT_TRUE(c.ProposeConfChange(leader, Changes({{ConfChangeType::kAddNode, 5},
                                                   {ConfChangeType::kRemoveNode, out}}))
                  .ok());
  ConfState joint = c.Status(leader).conf;
  for (int i = 0; i < 5; i++) EXPECT_TRUE(write(leader)) << "write " << i << " during the change";
  std::vector<NodeId> final_voters = {1, 2, 3, 4, 5};
  std::erase(final_voters, out);
  for (NodeId id : final_voters) EXPECT_TRUE(WaitVoters(c, id, final_voters)) << id;
  // Everyone, the newcomer included, holds every acknowledged write.
  const std::string last = "v" + std::to_string(writes);
  EXPECT_TRUE(c.RunUntil([&] { return c.AppliedValue(5, "k") == last; }, 2 * kSecond));
  // The removed server is no longer asked: a quorum of the new configuration suffices.
  c.Crash(out);
  EXPECT_TRUE(write(leader));
  ExpectNoViolations(c);
}

// M1 (one change at a time, §4.1): a second change proposed while the first is in flight
// is refused, so no two majorities can ever decide independently.
TEST(Membership, M1_second_change_waits_until_the_first_is_applied) {
  ClusterOptions o = Options(3, 12);
  o.spare_nodes = 2;
  Cluster c(o);
  NodeId leader = SettledLeader(c, {1, 2, 3});
  ASSERT_NE(leader, kNoNode);
  ASSERT_TRUE(c.ProposeConfChange(leader, Changes({{ConfChangeType::kAddNode, 4}})).ok());
  Status second = c.ProposeConfChange(leader, Changes({{ConfChangeType::kAddNode, 5}}));
  EXPECT_TRUE(second.Is(Status::Code::kFailedPrecondition)) << second.ToString();
  ASSERT_TRUE(WaitVoters(c, leader, {1, 2, 3, 4}));
  // Applied: now the next one is accepted.
  EXPECT_TRUE(c.ProposeConfChange(leader, Changes({{ConfChangeType::kAddNode, 5}})).ok());
  EXPECT_TRUE(WaitVoters(c, leader, {1, 2, 3, 4, 5}));
  ExpectNoViolations(c);
}

// M1: a learner that is far behind is not promoted (it would stall the new quorum).
TEST(Membership, M1_lagging_learner_is_not_promoted) {
  ClusterOptions o = Options(3, 13);
  o.spare_nodes = 1;
  Cluster c(o);
  NodeId leader = SettledLeader(c, {1, 2, 3});
  ASSERT_NE(leader, kNoNode);
  c.Isolate(4);
  ASSERT_TRUE(c.ProposeConfChange(leader, Changes({{ConfChangeType::kAddLearnerNode, 4}})).ok());
  ASSERT_TRUE(c.RunUntil([&] { return c.Status(leader).conf.learners.size() == 1; }, kSecond));
  Status s = c.ProposeConfChange(leader, Changes({{ConfChangeType::kAddNode, 4}}));
  EXPECT_TRUE(s.Is(Status::Code::kFailedPrecondition)) << s.ToString();
  EXPECT_NE(s.ToString().find("not caught up"), std::string::npos) << s.ToString();
  c.Heal();
  ASSERT_TRUE(c.RunUntil(
      [&] {
        auto p = c.Status(leader).progress;
        return p.count(4) && p[4].state == raft::ProgressState::kReplicate;
      },
      3 * kSecond));
  EXPECT_TRUE(c.ProposeConfChange(leader, Changes({{ConfChangeType::kAddNode, 4}})).ok());
  EXPECT_TRUE(WaitVoters(c, 4, {1, 2, 3, 4}));
  ExpectNoViolations(c);
}

// The leader removes itself: it keeps leading until the change is committed (it applies
// only committed entries), then steps down; the removed server does not disrupt the rest
// (no elections, no term increases) even when it is cut off and comes back.
TEST(Membership, M1_removed_leader_steps_down_and_does_not_disrupt) {
  const ClusterOptions o = Options(5, 14);
  Cluster c(o);
  NodeId leader = SettledLeader(c, {1, 2, 3, 4, 5});
  ASSERT_NE(leader, kNoNode);
  ASSERT_TRUE(c.ProposeConfChange(leader, Changes({{ConfChangeType::kRemoveNode, leader}})).ok());
  EXPECT_TRUE(IsLeader(c, leader)) << "leads until its removal commits";
  std::vector<NodeId> rest = Others(c, leader);
  ASSERT_TRUE(WaitVoters(c, leader, rest));
  // It hands over (a heartbeat round carrying the commit of its removal), then steps down.
  EXPECT_TRUE(c.RunUntil([&] { return !IsLeader(c, leader); }, ElectionTimeout(o)));
  NodeId next = SettledLeader(c, rest);
  ASSERT_NE(next, kNoNode);
  const Term term = TermOf(c, next);
  // The removed server, cut off and then back, never raises anyone's term.
  c.Isolate(leader);
  c.RunFor(10 * ElectionTimeout(o));
  c.Heal();
  c.RunFor(10 * ElectionTimeout(o));
  for (NodeId id : rest) EXPECT_EQ(TermOf(c, id), term) << "node " << id;
  EXPECT_TRUE(IsLeader(c, next));
  EXPECT_TRUE(c.Put(next, "after", "1").ok());
  ExpectNoViolations(c);
}

// Leadership transfer (thesis §3.10): the leader hands over to a named voter, which wins
// at once in the next term; writes before and after are kept.
TEST(Membership, leadership_transfer_to_a_named_voter) {
  const ClusterOptions o = Options(5, 15);
  Cluster c(o);
  NodeId leader = SettledLeader(c, {1, 2, 3, 4, 5});
  ASSERT_NE(leader, kNoNode);
  ASSERT_TRUE(c.Put(leader, "x", "before").ok());
  const NodeId target = leader % 5 + 1;
  const Term term = TermOf(c, leader);
  c.TransferLeader(leader, target);
  ASSERT_TRUE(c.RunUntil([&] { return IsLeader(c, target); }, ElectionTimeout(o)));
  EXPECT_EQ(TermOf(c, target), term + 1);
  EXPECT_TRUE(c.Put(target, "x", "after").ok());
  EXPECT_EQ(GetViaLeader(c, "x").value, std::optional<std::string>("after"));
  ExpectNoViolations(c);
}

// A transfer to a target that cannot take over is abandoned after an election timeout: the
// old leader serves again.
TEST(Membership, leadership_transfer_to_an_unreachable_voter_is_abandoned) {
  const ClusterOptions o = Options(3, 16);
  Cluster c(o);
  NodeId leader = SettledLeader(c, {1, 2, 3});
  ASSERT_NE(leader, kNoNode);
  const NodeId target = leader % 3 + 1;
  c.Isolate(target);
  c.TransferLeader(leader, target);
  c.RunFor(3 * ElectionTimeout(o));
  EXPECT_TRUE(IsLeader(c, leader));
  EXPECT_TRUE(c.Put(leader, "y", "1").ok());
  ExpectNoViolations(c);
}

}  // namespace
}  // namespace raftkv::scenario
