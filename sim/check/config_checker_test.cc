// The configuration checker on hand-made configurations.
#include "sim/check/config_checker.h"

#include <gtest/gtest.h>

namespace raftkv::check {
namespace {

using raft::ConfState;
using raft::NodeId;

ConfState Conf(std::vector<NodeId> voters, std::vector<NodeId> outgoing = {}) {
  ConfState cs;
  cs.voters = std::move(voters);
  cs.voters_outgoing = std::move(outgoing);
  return cs;
}

TEST(ConfigChecker, quorumsOverlap_examples) {
  EXPECT_TRUE(QuorumsOverlap(Conf({1, 2, 3}), Conf({1, 2, 3, 4})));
  EXPECT_FALSE(QuorumsOverlap(Conf({1, 2, 3}), Conf({1, 2, 3, 4, 5})));  // {1,2} / {3,4,5}
  EXPECT_FALSE(QuorumsOverlap(Conf({1, 2}), Conf({3, 4})));
  EXPECT_TRUE(QuorumsOverlap(Conf({4, 5, 6}, {1, 2, 3}), Conf({1, 2, 3})));
  EXPECT_TRUE(QuorumsOverlap(Conf({4, 5, 6}, {1, 2, 3}), Conf({4, 5, 6})));
  EXPECT_TRUE(QuorumsOverlap(Conf({}), Conf({7})));  // no configuration decides nothing
}

TEST(ConfigChecker, disagreementAtAnIndex_isReported) {
  ConfigChecker c;
  c.ObserveConfig(1, 10, Conf({1, 2, 3}), true);
  c.ObserveConfig(2, 10, Conf({1, 2, 3}), true);
  EXPECT_TRUE(c.violations().empty());
  c.ObserveConfig(3, 10, Conf({1, 2}), false);  // e.g. a snapshot restored without its conf
  ASSERT_EQ(c.violations().size(), 1u);
  EXPECT_NE(c.violations()[0].find("config-agreement"), std::string::npos);
}

TEST(ConfigChecker, adjacentConfigurationsWithDisjointMajorities_areReported) {
  ConfigChecker c;
  c.ObserveConfig(1, 5, Conf({1, 2, 3}), true);
  c.ObserveConfig(2, 5, Conf({1, 2, 3}), true);
  // One change later a node has a configuration whose majority misses node 1's: reported.
  c.ObserveConfig(2, 6, Conf({1, 2, 3, 4, 5}), true);
  ASSERT_EQ(c.violations().size(), 1u);
  EXPECT_NE(c.violations()[0].find("quorum-overlap"), std::string::npos);
  // A node two changes behind is left to disjoint-majorities, which needs its log.
  ConfigChecker d;
  d.ObserveConfig(1, 5, Conf({1, 2, 3}), true);
  d.ObserveConfig(2, 6, Conf({1, 2, 3, 4}), true);
  d.ObserveConfig(2, 7, Conf({1, 2, 3, 4, 5}), true);
  EXPECT_TRUE(d.violations().empty());
  // A crashed node's view no longer counts.
  d.ObserveDown(1);
  d.ObserveConfig(3, 6, Conf({1, 2, 3, 4}), true);
  EXPECT_TRUE(d.violations().empty());
}

NodeLog Log(raft::Term last_term, raft::Index last_index, raft::Role role = raft::Role::kFollower,
            raft::Term term = 0) {
  NodeLog l;
  l.term = term == 0 ? last_term : term;
  l.last_term = last_term;
  l.last_index = last_index;
  l.role = role;
  return l;
}

// Node 1 on {1,2,3} as of 5; the others applied two more changes, {1,2,3,4,5} as of 9,
// whose quorum {3,4,5} misses the quorum {1,2} of node 1's configuration. Node 1's other
// voters, 2 and 3, hold `log2` and `log3`.
void TwoChangesApart(ConfigChecker* c, const NodeLog& log2, const NodeLog& log3) {
  c->ObserveConfig(1, 5, Conf({1, 2, 3}), true);
  for (NodeId id : {2, 3, 4, 5}) {
    c->ObserveConfig(id, 8, Conf({1, 2, 3, 4}), true);
    c->ObserveConfig(id, 9, Conf({1, 2, 3, 4, 5}), true);
  }
  c->ObserveLog(2, log2);
  c->ObserveLog(3, log3);
}

bool Reported(const ConfigChecker& c, const std::string& property) {
  for (const std::string& v : c.violations()) {
    if (v.rfind(property + ":", 0) == 0) return true;
  }
  return false;
}

TEST(ConfigChecker, disjointMajorities_olderNodeThatCouldWin_isReported) {
  ConfigChecker c;
  // Node 1's voters hold logs no more up-to-date than its own: it could win on {1,2}.
  TwoChangesApart(&c, Log(3, 9), Log(3, 9));
  c.ObserveLog(1, Log(3, 9, raft::Role::kPreCandidate));
  ASSERT_TRUE(Reported(c, "disjoint-majorities"));
  EXPECT_NE(c.violations()[0].find("node 1 ({1,2,3} as of 5"), std::string::npos)
      << c.violations()[0];
  EXPECT_NE(c.violations()[0].find("{1,2} / {3,4,5}"), std::string::npos) << c.violations()[0];
  // Once reported, the same pair is not reported again at every step.
  c.ObserveLog(1, Log(3, 9, raft::Role::kCandidate, 4));
  EXPECT_EQ(c.violations().size(), 1u) << c.violations().back();
}

TEST(ConfigChecker, disjointMajorities_olderNodeBlockedByMoreUpToDateVoters_isFine) {
  ConfigChecker c;
  // §5.4.1: nodes 2 and 3 hold the newer entries, so every quorum of {1,2,3} has a voter
  // that refuses node 1.
  TwoChangesApart(&c, Log(3, 9), Log(3, 9));
  c.ObserveLog(1, Log(3, 7, raft::Role::kCandidate, 5));
  EXPECT_TRUE(c.violations().empty());
  // One refusing voter is not enough: {1,2} remains a quorum of {1,2,3}.
  c.ObserveLog(2, Log(3, 7));
  EXPECT_TRUE(Reported(c, "disjoint-majorities"));
}

TEST(ConfigChecker, disjointMajorities_crashedVoterRefusesWithItsDisk) {
  ConfigChecker c;
  TwoChangesApart(&c, Log(3, 9), Log(3, 9));
  c.ObserveDown(2, Log(3, 9));  // it comes back with entries node 1 lacks
  c.ObserveLog(1, Log(3, 7, raft::Role::kPreCandidate));
  EXPECT_TRUE(c.violations().empty());
  // A crashed voter whose disk is unknown might grant.
  ConfigChecker d;
  TwoChangesApart(&d, Log(3, 9), Log(3, 9));
  d.ObserveDown(2);
  d.ObserveLog(1, Log(3, 7, raft::Role::kPreCandidate));
  EXPECT_TRUE(Reported(d, "disjoint-majorities"));
}

TEST(ConfigChecker, disjointMajorities_unappliedChangeExcusesOnlyAFollower) {
  ConfigChecker c;
  TwoChangesApart(&c, Log(3, 9), Log(3, 9));
  NodeLog follower = Log(3, 9);
  follower.unapplied_change = true;  // the core will not campaign until it applies it
  c.ObserveLog(1, follower);
  EXPECT_TRUE(c.violations().empty());
  NodeLog candidate = follower;  // ... unless it breaks that rule
  candidate.role = raft::Role::kCandidate;
  c.ObserveLog(1, candidate);
  EXPECT_TRUE(Reported(c, "disjoint-majorities"));
}

TEST(ConfigChecker, disjointMajorities_staleLeaderIsBlockedByHigherTerms) {
  ConfigChecker c;
  // A leader of term 3 on {1,2,3}: voters 2 and 3 moved on to term 4 and reject its appends.
  TwoChangesApart(&c, Log(4, 9), Log(4, 9));
  c.ObserveLog(1, Log(3, 7, raft::Role::kLeader));
  EXPECT_TRUE(c.violations().empty());
  // A leader whose voters are still in its term could commit on {1,2} unseen by {3,4,5}.
  c.ObserveLog(2, Log(3, 7));
  EXPECT_TRUE(Reported(c, "disjoint-majorities"));
}

// A removed node may campaign to hand over the commit index (raft.cc,
// MaybeCampaignToHandOver), so having no vote of its own is no excuse: like any candidate
// it is safe only because voters with newer logs refuse it (§5.4.1).
TEST(ConfigChecker, disjointMajorities_nonVoterIsBlockedByTheLogLikeAnyone) {
  auto removed_one = [](ConfigChecker* c) {
    for (NodeId id : {1, 2, 3}) c->ObserveConfig(id, 5, Conf({2, 3, 4}), true);  // 1 removed
    c->ObserveConfig(4, 8, Conf({2, 3, 4, 5}), true);
    c->ObserveConfig(4, 9, Conf({2, 3, 4, 5, 6}), true);
    c->ObserveLog(4, Log(3, 9));
  };
  // Voters 2 and 3 stored the changes (and will apply them): they refuse node 1.
  ConfigChecker c;
  removed_one(&c);
  NodeLog stored = Log(3, 9);
  stored.unapplied_change = true;
  c.ObserveLog(2, stored);
  c.ObserveLog(3, stored);
  c.ObserveLog(1, Log(3, 5));
  EXPECT_TRUE(c.violations().empty());
  // Voters whose logs are unknown might grant: {2,3} could elect node 1 unseen by {4,5,6}.
  ConfigChecker d;
  removed_one(&d);
  d.ObserveLog(1, Log(3, 5));
  EXPECT_TRUE(Reported(d, "disjoint-majorities"));
}

// Issue 11, seed 577 of `--nodes 5 --ops 1000 --fault-rate 2 --max-msg-bytes 1` (old core):
// node 7 had {1,4,5,6,7} as of 442, then restored a snapshot at 553 with the same
// configuration (the cluster had gone to {1,3,4,5,6} and back). The checker kept the pair's
// old order (7 older than node 3, which is on {1,3,4,5,6} as of 546) because only a
// configuration change refreshed its cached pairs, and reported node 7, the NEWEST, as a
// stale node that could win. Which node is older depends on the index too.
TEST(ConfigChecker, disjointMajorities_orderFollowsTheIndexWhenAConfigurationRecurs) {
  const ConfState c2 = Conf({1, 4, 5, 6, 7});
  const ConfState ca = Conf({1, 3, 4, 5, 6, 7});
  const ConfState c0 = Conf({1, 3, 4, 5, 6});
  ConfigChecker c;
  c.ObserveConfig(7, 442, c2, true);
  c.ObserveConfig(1, 442, c2, true);
  c.ObserveConfig(1, 500, ca, true);   // add 3
  c.ObserveConfig(1, 546, c0, true);   // remove 7
  c.ObserveConfig(3, 546, c0, true);   // node 7 (as of 442) is now two changes behind node 3
  c.ObserveConfig(1, 550, ca, true);   // add 7
  c.ObserveConfig(1, 553, c2, true);   // remove 3: back to node 7's configuration
  c.ObserveConfig(7, 553, c2, false);  // node 7 restores a snapshot at 553
  c.ObserveLog(7, Log(9, 553));        // the newest node may of course win
  EXPECT_TRUE(c.violations().empty()) << c.violations()[0];
  // Node 3 is the stale one now, and with its voters' logs unknown it is reported.
  c.ObserveLog(3, Log(9, 546));
  EXPECT_TRUE(Reported(c, "disjoint-majorities"));
}

// Swarm seed 1768000009862: node 1, re-added as a learner, had {5} learners {1} as of 406
// (its state from before its removal) when its core restored the leader's snapshot at 572
// carrying the same configuration, recurring. Judged as of 406 it looked older than node 2's
// {6} as of 498 and was reported. The core's view is the snapshot's, as of 572.
TEST(ConfigChecker, coreRestoredNewerSnapshot_sameConfigurationAtALaterIndexCounts) {
  raft::NodeStatus core;
  core.conf = Conf({5});
  core.first_index = 573;  // restored a snapshot at 572
  EXPECT_TRUE(CoreRestoredNewerSnapshot(406, Conf({5}), core));
  // A runtime's own compaction stays below what it applied: nothing pending.
  core.first_index = 300;
  EXPECT_FALSE(CoreRestoredNewerSnapshot(406, Conf({5}), core));
  core.first_index = 407;
  EXPECT_FALSE(CoreRestoredNewerSnapshot(406, Conf({5}), core));
  // A different configuration in the core is always the core's own.
  core.conf = Conf({5, 6});
  EXPECT_TRUE(CoreRestoredNewerSnapshot(406, Conf({5}), core));
}

// The pair of that seed: with the core's snapshot at 572 the stale-looking node is excused;
// the same node without a restored snapshot is still reported.
TEST(ConfigChecker, disjointMajorities_restoredSnapshotOfTheSameConfigurationIsNewer) {
  for (bool restored : {true, false}) {
    ConfigChecker c;
    c.ObserveConfig(1, 406, Conf({5}), false);
    c.ObserveConfig(5, 406, Conf({5}), false);
    c.ObserveConfig(6, 450, Conf({5, 6}), true);
    c.ObserveConfig(2, 498, Conf({6}), true);
    c.ObserveConfig(7, 530, Conf({5, 6}), true);  // back: {6} -> {5,6} -> {5}
    c.ObserveConfig(5, 560, Conf({5}), true);
    c.ObserveLog(5, Log(180, 572, raft::Role::kLeader));
    NodeLog one = Log(180, 572);
    if (restored) {
      one.core_conf = Conf({5});
      one.core_conf_index = 572;
    }
    c.ObserveLog(1, one);
    EXPECT_EQ(Reported(c, "disjoint-majorities"), !restored)
        << (c.violations().empty() ? "" : c.violations()[0]);
  }
}

}  // namespace
}  // namespace raftkv::check
