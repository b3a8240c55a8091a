#include "server/reconfig_check.h"

#include <gtest/gtest.h>

#include "api/errors.h"
#include "server/test_util.h"

namespace raftkv::server {
namespace {

etcdserverpb::Member M(uint64_t id, bool started = true, bool learner = false) {
  etcdserverpb::Member m;
  m.set_id(id);
  if (started) m.set_name("n" + std::to_string(id));
  m.set_islearner(learner);
  return m;
}

// Three started voters, this member is 1, connected to 2 and 3.
ReconfigView Healthy3() {
  return ReconfigView{{M(1), M(2), M(3)}, 1, {2, 3}};
}

TEST(ReconfigCheck, HealthyClusterAllowsEveryChange) {
  ReconfigView v = Healthy3();
  EXPECT_TRUE(CheckAddMember(v, false).ok());
  EXPECT_TRUE(CheckAddMember(v, true).ok());
  EXPECT_TRUE(CheckRemoveMember(v, 3).ok());
  EXPECT_TRUE(CheckRemoveMember(v, 1).ok());
  EXPECT_TRUE(CheckPromoteMember(v).ok());
}

TEST(ReconfigCheck, AddVoterNeedsEveryVoterConnected) {
  ReconfigView v = Healthy3();
  v.connected.erase(3);
  Status s = CheckAddMember(v, false);
  EXPECT_EQ(s.message(), api::kErrUnhealthy);
  EXPECT_TRUE(CheckAddMember(v, true).ok()) << "a learner cannot cost the quorum";
}

TEST(ReconfigCheck, AddVoterNeedsStartedQuorumOfTheNewSize) {
  // 4 voters after the add need 3 started; only 2 have ever run.
  ReconfigView v{{M(1), M(2), M(3, false)}, 1, {2, 3}};
  EXPECT_EQ(CheckAddMember(v, false).message(), api::kErrNotEnoughStartedMembers);
  // One started member growing to two is how a restored cluster grows back: allowed.
  ReconfigView single{{M(1)}, 1, {}};
  EXPECT_TRUE(CheckAddMember(single, false).ok());
}

TEST(ReconfigCheck, RemovingAConnectedVoterMustLeaveAnActiveQuorum) {
  // 1 is connected only to 2 (3 is down): removing 2 leaves {1, 3} with one active voter.
  ReconfigView v = Healthy3();
  v.connected.erase(3);
  EXPECT_EQ(CheckRemoveMember(v, 2).message(), api::kErrUnhealthy);
  // Removing the member that is down is always safe: it is not in the active quorum.
  EXPECT_TRUE(CheckRemoveMember(v, 3).ok());
}

TEST(ReconfigCheck, RemovingNeedsStartedQuorumOfTheRest) {
  // 5 voters, two never started: removing a started one leaves 2 started of 4 (quorum 3).
  ReconfigView v{{M(1), M(2), M(3), M(4, false), M(5, false)}, 1, {2, 3, 4, 5}};
  EXPECT_EQ(CheckRemoveMember(v, 3).message(), api::kErrNotEnoughStartedMembers);
  EXPECT_TRUE(CheckRemoveMember(v, 5).ok()) << "removing an unstarted one leaves 3 of 4";
}

TEST(ReconfigCheck, LearnersNeverCount) {
  ReconfigView v{{M(1), M(2), M(3), M(9, true, true)}, 1, {2, 3}};
  EXPECT_TRUE(CheckRemoveMember(v, 9).ok());
  EXPECT_TRUE(CheckAddMember(v, false).ok()) << "the learner's missing connection is fine";
}

TEST(ReconfigCheck, PromoteCountsTheLearnerAsStarted) {
  // 2 voters, one started, plus the learner: 2 started of 3 after promotion.
  ReconfigView ok{{M(1), M(2, false), M(9, true, true)}, 1, {}};
  EXPECT_TRUE(CheckPromoteMember(ok).ok());
  // 3 voters, one started, plus the learner: 2 started of 4 (quorum 3).
  ReconfigView no{{M(1), M(2, false), M(3, false), M(9, true, true)}, 1, {}};
  EXPECT_EQ(CheckPromoteMember(no).message(), api::kErrNotEnoughStartedMembers);
}

TEST(ReconfigCheck, AFollowerAppliesOnlyTheStartedRules) {
  // A follower streams only to the leader: its missing connections say nothing.
  ReconfigView v{{M(1), M(2), M(3)}, 1, {2}, /*knows_connectivity=*/false};
  EXPECT_TRUE(CheckAddMember(v, false).ok());
  EXPECT_TRUE(CheckRemoveMember(v, 2).ok());
  ReconfigView unstarted{{M(1), M(2), M(3, false)}, 1, {}, false};
  EXPECT_EQ(CheckAddMember(unstarted, false).message(), api::kErrNotEnoughStartedMembers);
}

TEST(ReconfigCheck, UnknownMemberIsLeftToTheApplyCheck) {
  EXPECT_TRUE(CheckRemoveMember(Healthy3(), 42).ok());
}

}  // namespace
}  // namespace raftkv::server

// --- the check in a running cluster (in-process members, real transport) -----------------

namespace raftkv::server {
namespace {

using testing::Cluster;
using testing::Sync;
using testing::WaitFor;

Result<etcdserverpb::MemberRemoveResponse> Remove(EtcdServer* s, uint64_t id) {
  etcdserverpb::MemberRemoveRequest req;
  req.set_id(id);
  return Sync<etcdserverpb::MemberRemoveResponse>([&](auto d) { s->MemberRemove(req, d); });
}

Result<etcdserverpb::MemberAddResponse> AddVoter(EtcdServer* s, const std::string& url) {
  etcdserverpb::MemberAddRequest req;
  req.add_peerurls(url);
  return Sync<etcdserverpb::MemberAddResponse>([&](auto d) { s->MemberAdd(req, d); });
}

struct Degraded {
  EtcdServer* leader = nullptr;
  std::string up;    // a follower still running
  uint64_t down_id;  // the follower that was stopped
};

// Three members, one follower stopped, and the leader has seen its stream go down.
Degraded StopOneFollower(Cluster& c) {
  Degraded d;
  d.leader = c.WaitLeader();
  EXPECT_NE(d.leader, nullptr);
  std::vector<std::string> followers;
  for (const auto& n : c.Running()) {
    if (c.at(n) != d.leader) followers.push_back(n);
  }
  d.up = followers[0];
  d.down_id = c.at(followers[1])->member_id();
  c.Stop(followers[1]);
  EXPECT_TRUE(WaitFor([&] { return d.leader->GetStats().connected_peers.count(d.down_id) == 0; }));
  return d;
}

TEST(StrictReconfig, RefusesChangesThatWouldLoseTheActiveQuorum) {
  Cluster c(3);
  c.StartAll();
  Degraded d = StopOneFollower(c);
  ASSERT_NE(d.leader, nullptr);
  // Removing the running follower would leave {leader, stopped}: one active voter of two.
  auto rm = Remove(d.leader, c.at(d.up)->member_id());
  ASSERT_FALSE(rm.ok());
  EXPECT_EQ(rm.status().message(), api::kErrUnhealthy);
  // A fourth voter while one is down: the leader is not connected to every voter.
  auto add = AddVoter(d.leader, "http://127.0.0.1:1");
  ASSERT_FALSE(add.ok());
  EXPECT_EQ(add.status().message(), api::kErrUnhealthy);
  // Nothing changed, and removing the member that is down is allowed.
  auto ok = Remove(d.leader, d.down_id);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->members_size(), 2);
}

// A follower does not stream to the other followers: a healthy add sent to it must not be
// refused as "unhealthy cluster" (the connection rules are the leader's).
TEST(StrictReconfig, AHealthyAddSentToAFollowerIsAccepted) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  EtcdServer* follower = nullptr;
  for (const auto& n : c.Running()) {
    if (c.at(n) != leader) follower = c.at(n);
  }
  auto add = AddVoter(follower, testing::PeerUrl(testing::FreePort()));
  ASSERT_TRUE(add.ok()) << add.status().ToString();
  EXPECT_EQ(add->members_size(), 4);
}

TEST(StrictReconfig, OffLetsTheOperatorDoAsTheyAsk) {
  Cluster c(3);
  for (const auto& n : {"n1", "n2", "n3"}) {
    ServerConfig cfg = c.Config(n);
    cfg.strict_reconfig_check = false;
    ASSERT_TRUE(c.StartWith(cfg).ok()) << n;
  }
  Degraded d = StopOneFollower(c);
  ASSERT_NE(d.leader, nullptr);
  auto rm = Remove(d.leader, c.at(d.up)->member_id());
  ASSERT_TRUE(rm.ok()) << rm.status().ToString();
  EXPECT_EQ(rm->members_size(), 2);
}

}  // namespace
}  // namespace raftkv::server
