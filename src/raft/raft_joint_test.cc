// Joint consensus (thesis §4.3), learner promotion, and the configuration at restart.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "raft/conf_change.h"
#include "raft/conf_changer.h"
#include "raft/raft_test_util.h"

namespace raftkv::raft {
namespace {

using testing::Network;
using testing::SeededRandom;

ConfChange Joint(std::vector<ConfChangeSingle> changes,
                 ConfChangeTransition t = ConfChangeTransition::kAuto) {
  ConfChange cc;
  cc.transition = t;
  cc.changes = std::move(changes);
  return cc;
}

ConfChangeSingle Add(NodeId id) {
  return {ConfChangeType::kAddNode, id};
}
ConfChangeSingle Remove(NodeId id) {
  return {ConfChangeType::kRemoveNode, id};
}
ConfChangeSingle Learner(NodeId id) {
  return {ConfChangeType::kAddLearnerNode, id};
}

bool Applied(Network& net, NodeId id, const std::string& data) {
  auto& a = net.test_node(id).applied;
  return std::any_of(a.begin(), a.end(), [&](const Entry& e) { return e.data == data; });
}

using Ids = std::vector<NodeId>;

TEST(Joint, replaceTwoVoters_entersJointAndLeavesByItself) {
  Network net(3);
  net.Elect(1);
  net.AddNode(4);
  net.AddNode(5);
  ASSERT_TRUE(net.node(1).ProposeConfChange(Joint({Add(4), Add(5), Remove(3)})).ok());
  // One change at a time: nothing else until it is applied.
  EXPECT_TRUE(
      net.node(1).ProposeConfChange(Joint({Remove(2)})).Is(Status::Code::kFailedPrecondition));
  net.Stabilize();
  // The leader applied the joint entry and then its own empty "leave" change.
  for (NodeId id : {1, 2, 4, 5}) {
    ConfState cs = net.test_node(id).conf;
    EXPECT_EQ(cs.voters, (Ids{1, 2, 4, 5})) << id;
    EXPECT_TRUE(cs.voters_outgoing.empty()) << id;
  }
  int conf_entries = 0;
  for (const Entry& e : net.test_node(1).applied) {
    conf_entries += e.type == EntryType::kConfChange && e.index > 3;
  }
  EXPECT_EQ(conf_entries, 2);  // enter joint, leave joint
  ASSERT_TRUE(net.node(1).Propose("after").ok());
  net.Stabilize();
  EXPECT_TRUE(Applied(net, 5, "after"));
}

TEST(Joint, explicitTransition_needsBothMajoritiesUntilLeft) {
  Network net(3);
  net.Elect(1);
  for (NodeId id : {4, 5}) net.AddNode(id);
  ConfChange cc =
      Joint({Add(4), Add(5), Remove(2), Remove(3)}, ConfChangeTransition::kJointExplicit);
  ASSERT_TRUE(net.node(1).ProposeConfChange(cc).ok());
  net.Stabilize();
  ConfState cs = net.test_node(1).conf;
  EXPECT_EQ(cs.voters, (Ids{1, 4, 5}));
  EXPECT_EQ(cs.voters_outgoing, (Ids{1, 2, 3}));
  EXPECT_FALSE(cs.auto_leave);
  // A non-leave change is refused while joint.
  EXPECT_TRUE(
      net.node(1).ProposeConfChange(Joint({Remove(4)})).Is(Status::Code::kFailedPrecondition));
  // {1,4,5} is a majority of the new voters but not of the old ones: nothing commits.
  net.Isolate(2);
  net.Isolate(3);
  Index commit = net.node(1).GetStatus().hard_state.commit;
  ASSERT_TRUE(net.node(1).Propose("needs-both").ok());
  net.Stabilize();
  EXPECT_EQ(net.node(1).GetStatus().hard_state.commit, commit);
  // With 2 back, {1,2} is a majority of the old voters and {1,4,5} of the new: it commits.
  net.Heal();
  net.Isolate(3);
  net.TickAll(2);
  EXPECT_TRUE(Applied(net, 4, "needs-both"));
  // Leave explicitly: then the old voters no longer count.
  ASSERT_TRUE(net.node(1).ProposeConfChange(ConfChange{}).ok());
  net.Stabilize();
  EXPECT_EQ(net.test_node(4).conf.voters, (Ids{1, 4, 5}));
  EXPECT_TRUE(net.test_node(4).conf.voters_outgoing.empty());
  net.Isolate(2);
  ASSERT_TRUE(net.node(1).Propose("new-only").ok());
  net.Stabilize();
  EXPECT_TRUE(Applied(net, 5, "new-only"));
}

TEST(Joint, demotedVoterVotesInOutgoingHalfThenBecomesLearner) {
  Network net(3);
  net.Elect(1);
  ASSERT_TRUE(net.node(1)
                  .ProposeConfChange(Joint({Learner(3)}, ConfChangeTransition::kJointExplicit))
                  .ok());
  net.Stabilize();
  ConfState cs = net.test_node(1).conf;
  EXPECT_EQ(cs.voters, (Ids{1, 2}));
  EXPECT_EQ(cs.voters_outgoing, (Ids{1, 2, 3}));
  EXPECT_EQ(cs.learners_next, (Ids{3}));
  EXPECT_TRUE(cs.learners.empty());
  ASSERT_TRUE(net.node(1).ProposeConfChange(ConfChange{}).ok());
  net.Stabilize();
  EXPECT_EQ(net.test_node(3).conf.learners, (Ids{3}));
  EXPECT_TRUE(net.test_node(3).conf.learners_next.empty());
  // A learner never campaigns.
  for (int i = 0; i < 50; i++) net.node(3).Tick();
  EXPECT_EQ(net.node(3).GetStatus().soft_state.role, Role::kFollower);
}

TEST(Joint, removedLeaderLeadsThroughJointThenStepsDown) {
  Network net(3);
  net.Elect(1);
  net.AddNode(4);
  ASSERT_TRUE(
      net.node(1)
          .ProposeConfChange(Joint({Add(4), Remove(1)}, ConfChangeTransition::kJointExplicit))
          .ok());
  net.Stabilize();
  // In the joint configuration 1 is an outgoing voter: it still leads.
  EXPECT_EQ(net.Leader(), 1u);
  ASSERT_TRUE(net.node(1).ProposeConfChange(ConfChange{}).ok());
  net.Stabilize();
  net.TickAll(3);  // the handoff heartbeat round
  EXPECT_NE(net.node(1).GetStatus().soft_state.role, Role::kLeader);
  Term before = net.node(2).GetStatus().hard_state.term;
  for (int i = 0; i < 100 && net.Leader() == kNoNode; i++) net.TickAll();
  NodeId l = net.Leader();
  ASSERT_TRUE(l == 2 || l == 3 || l == 4) << l;
  // The removed server does not disrupt: it no longer campaigns, so the term stays put.
  Term after = net.node(l).GetStatus().hard_state.term;
  net.TickAll(100);
  EXPECT_EQ(net.Leader(), l);
  EXPECT_EQ(net.node(l).GetStatus().hard_state.term, after);
  EXPECT_GE(after, before);
}

TEST(Joint, promotingLaggingLearner_refusedUntilCaughtUp) {
  Network net(3, [](Config& c) { c.max_learner_lag = 5; });
  net.Elect(1);
  net.AddNode(4);
  ConfChange learner;
  learner.changes = {Learner(4)};
  ASSERT_TRUE(net.node(1).ProposeConfChange(learner).ok());
  net.Stabilize();
  net.Isolate(4);
  for (int i = 0; i < 20; i++) ASSERT_TRUE(net.node(1).Propose("w" + std::to_string(i)).ok());
  net.Stabilize();
  ConfChange promote;
  promote.changes = {Add(4)};
  Status s = net.node(1).ProposeConfChange(promote);
  EXPECT_TRUE(s.Is(Status::Code::kFailedPrecondition)) << s.ToString();
  EXPECT_NE(s.ToString().find("learner 4 is not caught up"), std::string::npos) << s.ToString();
  net.Heal();
  net.TickAll(3);
  ASSERT_TRUE(net.node(1).ProposeConfChange(promote).ok());
  net.Stabilize();
  EXPECT_EQ(net.test_node(4).conf.voters, (Ids{1, 2, 3, 4}));
}

TEST(Joint, restart_rebuildsConfigurationFromLog) {
  Network net(3);
  net.Elect(1);
  net.AddNode(4);
  ASSERT_TRUE(net.node(1).ProposeConfChange(Joint({Add(4), Remove(3)})).ok());
  net.Stabilize();
  ASSERT_EQ(net.test_node(2).conf.voters, (Ids{1, 2, 4}));
  // Restart with nothing applied: the stored configuration is the snapshot's (none), so
  // the node knows no voters until it re-applies the log, and cannot campaign meanwhile.
  net.Restart(2, {1, 2, 3});  // stale peers are ignored on restart
  EXPECT_TRUE(net.node(2).GetStatus().conf.voters.empty());
  net.Stabilize();
  EXPECT_EQ(net.node(2).GetStatus().conf.voters, (Ids{1, 2, 4}));
  // Restart with everything applied: the core replays the log's changes itself.
  testing::TestNode& tn = net.test_node(2);
  Config c = testing::TestConfig(2, tn.storage.get(), tn.random.get());
  c.applied = tn.storage->LastIndex();
  auto restarted = RawNode::Create(c, {});
  ASSERT_TRUE(restarted.ok()) << restarted.status().ToString();
  EXPECT_EQ((*restarted)->GetStatus().conf.voters, (Ids{1, 2, 4}));
}

// Simulator seed 943382: a leadership transfer's TimeoutNow reached a node with a committed
// configuration change it had not applied; it campaigned with the older configuration, whose
// majority could miss the current one's (disjoint-majorities). Like a timeout's campaign
// (Hup, etcd's rule), a transfer's waits until the change is applied.
TEST(Joint, timeoutNow_withACommittedUnappliedChange_waitsUntilItIsApplied) {
  Network net(3);
  net.Elect(1);
  ASSERT_TRUE(net.node(1).ProposeConfChange(Joint({Learner(4)})).ok());
  net.Stabilize();
  testing::TestNode& tn = net.test_node(2);
  Index change = 0;
  for (Index i = 4; i <= tn.storage->LastIndex(); i++) {  // after the 3 bootstrap entries
    auto e = tn.storage->Entries(i, i + 1, kNoLimit);
    ASSERT_TRUE(e.ok());
    if ((*e)[0].type == EntryType::kConfChange) change = i;
  }
  ASSERT_NE(change, 0u);
  Config c = testing::TestConfig(2, tn.storage.get(), tn.random.get());
  c.applied = change - 1;  // restarted before applying the committed change
  auto restarted = RawNode::Create(c, {});
  ASSERT_TRUE(restarted.ok()) << restarted.status().ToString();
  RawNode& node = **restarted;
  ASSERT_GE(node.GetStatus().hard_state.commit, change);
  Message m;
  m.type = MessageType::kTimeoutNow;
  m.from = 1;
  m.to = 2;
  m.term = node.GetStatus().hard_state.term;
  ASSERT_TRUE(node.Step(m).ok());
  EXPECT_EQ(node.GetStatus().soft_state.role, Role::kFollower) << "a committed change is unapplied";
  Ready rd = node.GetReady();
  for (const Entry& e : rd.committed_entries) {
    if (e.type == EntryType::kConfChange) node.ApplyConfChange(DecodeConfChange(e.data).value());
  }
  node.Advance();
  ASSERT_TRUE(node.Step(m).ok());
  EXPECT_EQ(node.GetStatus().soft_state.role, Role::kCandidate) << "applied: the transfer proceeds";
}

// A restart whose synced commit index lags a configuration change that a later change in
// the log proves committed (a torn hard state record): the commit index is raised, so the
// node applies the change before it may campaign, instead of campaigning with a
// configuration two changes old (the simulator's disjoint-majorities check, seed 693).
TEST(Joint, restart_commitLaggingTwoChanges_isRaisedAndNodeDoesNotCampaign) {
  Network net(3);
  net.Elect(1);
  ASSERT_TRUE(net.node(1).ProposeConfChange(Joint({Learner(4)})).ok());
  net.Stabilize();
  ASSERT_TRUE(net.node(1).ProposeConfChange(Joint({Learner(5)})).ok());
  net.Stabilize();
  testing::TestNode& tn = net.test_node(2);
  std::vector<Index> changes;
  for (Index i = 4; i <= tn.storage->LastIndex(); i++) {  // after the 3 bootstrap entries
    auto e = tn.storage->Entries(i, i + 1, kNoLimit);
    ASSERT_TRUE(e.ok());
    if ((*e)[0].type == EntryType::kConfChange) changes.push_back(i);
  }
  ASSERT_EQ(changes.size(), 2u);
  // The crash kept both changes but lost the hard state that said the first is committed.
  HardState hs = tn.storage->hard_state();
  hs.commit = changes[0] - 1;
  tn.storage->SetHardState(hs);
  Config c = testing::TestConfig(2, tn.storage.get(), tn.random.get());
  c.applied = changes[0] - 1;
  auto restarted = RawNode::Create(c, {});
  ASSERT_TRUE(restarted.ok()) << restarted.status().ToString();
  RawNode& node = **restarted;
  EXPECT_EQ(node.GetStatus().hard_state.commit, changes[0]);
  EXPECT_EQ(node.GetStatus().conf.voters, (Ids{1, 2, 3}));
  ASSERT_TRUE(node.Campaign().ok());
  EXPECT_EQ(node.GetStatus().soft_state.role, Role::kFollower) << "a committed change is unapplied";
  // The change is handed out as committed; once applied the node may campaign.
  Ready rd = node.GetReady();
  ASSERT_FALSE(rd.committed_entries.empty());
  EXPECT_EQ(rd.committed_entries.back().index, changes[0]);
  for (const Entry& e : rd.committed_entries) {
    if (e.type == EntryType::kConfChange) node.ApplyConfChange(DecodeConfChange(e.data).value());
  }
  node.Advance();
  EXPECT_EQ(node.GetStatus().conf.learners, (Ids{4}));
  ASSERT_TRUE(node.Campaign().ok());
  EXPECT_NE(node.GetStatus().soft_state.role, Role::kFollower);
}

TEST(Joint, snapshotCarriesConfiguration) {
  Network net(3);
  net.Elect(1);
  net.AddNode(4);
  ASSERT_TRUE(net.node(1).ProposeConfChange(Joint({Add(4), Remove(3)})).ok());
  net.Stabilize();
  // Node 2 compacts its log into a snapshot; a restart takes the configuration from it.
  testing::TestNode& tn = net.test_node(2);
  Index last = tn.storage->LastIndex();
  ASSERT_TRUE(tn.storage->CreateSnapshot(last, tn.conf, "state").ok());
  ASSERT_TRUE(tn.storage->Compact(last).ok());
  Config c = testing::TestConfig(2, tn.storage.get(), tn.random.get());
  c.applied = last;
  auto restarted = RawNode::Create(c, {});
  ASSERT_TRUE(restarted.ok()) << restarted.status().ToString();
  EXPECT_EQ((*restarted)->GetStatus().conf.voters, (Ids{1, 2, 4}));
}

// ---- The configuration changer against a simple reference ----

// Reference: each node's role after a change list is the role the LAST change naming it
// gives (add: voter, add-learner: learner, remove: gone); everyone else keeps theirs.
enum class RefRole { kNone, kVoter, kLearner };

std::map<NodeId, RefRole> RefApply(const ConfState& cs, const ConfChange& cc) {
  std::map<NodeId, RefRole> roles;
  for (NodeId id : cs.voters) roles[id] = RefRole::kVoter;
  for (NodeId id : cs.learners) roles[id] = RefRole::kLearner;
  for (const ConfChangeSingle& c : cc.changes) {
    roles[c.node_id] = c.type == ConfChangeType::kAddNode          ? RefRole::kVoter
                       : c.type == ConfChangeType::kAddLearnerNode ? RefRole::kLearner
                                                                   : RefRole::kNone;
  }
  return roles;
}

std::map<NodeId, RefRole> Roles(const ConfState& cs) {
  std::map<NodeId, RefRole> roles;
  for (NodeId id : Members(cs)) roles[id] = RefRole::kNone;
  for (NodeId id : cs.voters) roles[id] = RefRole::kVoter;
  for (NodeId id : cs.learners) roles[id] = RefRole::kLearner;
  return roles;
}

void ExpectSameRoles(std::map<NodeId, RefRole> a, std::map<NodeId, RefRole> b) {
  std::erase_if(a, [](const auto& kv) { return kv.second == RefRole::kNone; });
  std::erase_if(b, [](const auto& kv) { return kv.second == RefRole::kNone; });
  EXPECT_EQ(a, b);
}

void ExpectWellFormed(const ConfState& cs) {
  std::set<NodeId> voters(cs.voters.begin(), cs.voters.end());
  voters.insert(cs.voters_outgoing.begin(), cs.voters_outgoing.end());
  for (NodeId id : cs.learners) EXPECT_FALSE(voters.count(id)) << "learner " << id << " votes";
  for (NodeId id : cs.learners_next) {
    EXPECT_NE(std::find(cs.voters_outgoing.begin(), cs.voters_outgoing.end(), id),
              cs.voters_outgoing.end());
    EXPECT_EQ(std::find(cs.voters.begin(), cs.voters.end(), id), cs.voters.end());
  }
  EXPECT_FALSE(cs.voters.empty());
}

TEST(ConfChanger, randomChanges_matchReferenceAndKeepQuorumsIntersecting) {
  SeededRandom rnd(42);
  int simple = 0, joint = 0;
  for (int run = 0; run < 300; run++) {
    ConfState cs;
    cs.voters = {1, 2, 3};
    for (int step = 0; step < 20; step++) {
      ConfChange cc;
      size_t n = 1 + rnd.Uniform(rnd.Uniform(2) == 0 ? 1 : 4);
      for (size_t i = 0; i < n; i++) {
        cc.changes.push_back(
            ConfChangeSingle{static_cast<ConfChangeType>(rnd.Uniform(3)), 1 + rnd.Uniform(7)});
      }
      if (n == 1 && rnd.Uniform(4) == 0) cc.transition = ConfChangeTransition::kJointExplicit;
      auto next = NextConfState(cs, cc);
      if (!next.ok()) {
        // Only a change that would leave no voter is refused outside a joint config.
        EXPECT_TRUE(next.status().Is(Status::Code::kFailedPrecondition));
        std::map<NodeId, RefRole> ref = RefApply(cs, cc);
        EXPECT_TRUE(std::none_of(ref.begin(), ref.end(),
                                 [](const auto& kv) { return kv.second == RefRole::kVoter; }));
        continue;
      }
      ExpectWellFormed(*next);
      // Old and new decision-makers always overlap (§4.1 for simple changes, §4.3 via the
      // joint configuration).
      EXPECT_TRUE(QuorumsIntersect(cs, *next));
      if (!IsJoint(*next)) {
        simple++;
        ExpectSameRoles(Roles(*next), RefApply(cs, cc));
        cs = *next;
        continue;
      }
      joint++;
      // Joint: no simple change applies; leaving yields the reference's roles.
      EXPECT_FALSE(NextConfState(*next, ConfChange{{}, {Remove(1)}, ""}).ok());
      auto left = NextConfState(*next, ConfChange{});
      ASSERT_TRUE(left.ok());
      ExpectWellFormed(*left);
      EXPECT_TRUE(QuorumsIntersect(*next, *left));
      ExpectSameRoles(Roles(*left), RefApply(cs, cc));
      cs = *left;
    }
  }
  EXPECT_GT(simple, 100);
  EXPECT_GT(joint, 100);
}

TEST(ConfChanger, quorumIntersection) {
  auto conf = [](Ids v, Ids out = {}) {
    ConfState cs;
    cs.voters = v;
    cs.voters_outgoing = out;
    return cs;
  };
  EXPECT_TRUE(QuorumsIntersect(conf({1, 2, 3}), conf({1, 2, 3, 4})));
  EXPECT_TRUE(QuorumsIntersect(conf({1, 2, 3}), conf({1, 2})));
  EXPECT_FALSE(QuorumsIntersect(conf({1, 2, 3}), conf({1, 2, 3, 4, 5})));  // {1,2} vs {3,4,5}
  EXPECT_FALSE(QuorumsIntersect(conf({1, 2, 3}), conf({4, 5, 6})));
  EXPECT_TRUE(QuorumsIntersect(conf({1, 2, 3}), conf({4, 5, 6}, {1, 2, 3})));
  EXPECT_TRUE(QuorumsIntersect(conf({4, 5, 6}, {1, 2, 3}), conf({4, 5, 6})));
}

}  // namespace
}  // namespace raftkv::raft
