// Snapshots (taken, restarted from, sent to a new member) and membership changes.
#include "api/errors.h"
#include "server/discovery.h"
#include "server/test_util.h"

namespace raftkv::server {
namespace {

using testing::Cluster;
using testing::Put;
using testing::Sync;
using testing::Value;
using testing::WaitFor;

int SnapshotFiles(const std::string& data_dir) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(data_dir + "/member/raft")) {
    if (e.path().extension() == ".snap") ++n;
  }
  return n;
}

Result<etcdserverpb::MemberAddResponse> AddMember(EtcdServer* s, const std::string& url,
                                                  bool learner) {
  etcdserverpb::MemberAddRequest req;
  req.add_peerurls(url);
  req.set_islearner(learner);
  return Sync<etcdserverpb::MemberAddResponse>([&](auto d) { s->MemberAdd(req, d); });
}

Result<etcdserverpb::MemberListResponse> List(EtcdServer* s) {
  etcdserverpb::MemberListRequest req;
  return Sync<etcdserverpb::MemberListResponse>([&](auto d) { s->MemberList(req, d); });
}

Result<etcdserverpb::MemberPromoteResponse> Promote(EtcdServer* s, uint64_t id) {
  etcdserverpb::MemberPromoteRequest req;
  req.set_id(id);
  return Sync<etcdserverpb::MemberPromoteResponse>([&](auto d) { s->MemberPromote(req, d); });
}

// Starts `name` as a member joining the running cluster (initial_cluster_state existing).
Status Join(Cluster& c, const std::string& name, const std::vector<std::string>& existing) {
  ServerConfig cfg = c.Config(name);
  cfg.initial_cluster.clear();
  for (const auto& n : existing) cfg.initial_cluster[n] = {testing::PeerUrl(c.port(n))};
  cfg.initial_cluster[name] = {testing::PeerUrl(c.port(name))};
  cfg.initial_cluster_state_new = false;
  return c.StartWith(cfg);
}

TEST(Snapshots, TakenCompactedRestoredAndSentToNewMember) {
  Cluster c(3, /*snapshot_count=*/20);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(Put(leader, "k" + std::to_string(i), "v").ok());
  for (const auto& n : c.Running()) {
    EXPECT_TRUE(WaitFor([&] { return c.at(n)->GetStats().snapshot_save.count >= 3; })) << n;
    EXPECT_GE(SnapshotFiles(c.Config(n).data_dir), 1) << n;
  }
  // Restart every member: each restores its newest snapshot and replays the rest.
  auto members_before = List(leader);
  ASSERT_TRUE(members_before.ok());
  for (const auto& n : c.Running()) c.Stop(n);
  c.StartAll();
  leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  for (const auto& n : c.Running()) EXPECT_EQ(Value(c.at(n), "k99"), "v") << n;
  // Every member published its client URL; every member lists all of them.
  for (const auto& n : c.Running()) {
    EXPECT_TRUE(WaitFor([&] {
      auto l = List(c.at(n));
      if (!l.ok() || l->members_size() != 3) return false;
      for (const auto& m : l->members()) {
        if (m.clienturls_size() != 1 || m.name().empty()) return false;
      }
      return true;
    })) << n;
  }
  auto members_after = List(leader);
  ASSERT_TRUE(members_after.ok());
  ASSERT_EQ(members_after->members_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(members_after->members(i).name(), members_before->members(i).name());
    EXPECT_EQ(members_after->members(i).peerurls(0), members_before->members(i).peerurls(0));
  }
  // A new member joins: the log it needs is compacted away, so it gets a snapshot.
  std::string joiner = c.AddName();
  auto add = AddMember(leader, testing::PeerUrl(c.port(joiner)), /*learner=*/false);
  ASSERT_TRUE(add.ok()) << add.status().ToString();
  EXPECT_EQ(add->members_size(), 4);
  Status joined = Join(c, joiner, {"n1", "n2", "n3"});
  ASSERT_TRUE(joined.ok()) << joined.ToString();
  EXPECT_EQ(c.at(joiner)->member_id(), add->member().id());
  EXPECT_TRUE(WaitFor([&] { return Value(c.at(joiner), "k99", true) == "v"; }));
  EXPECT_GE(c.at(joiner)->GetStats().snapshots_received, 1u);
  ASSERT_TRUE(Put(c.WaitLeader(), "after-join", "x").ok());
  EXPECT_EQ(Value(c.at(joiner), "after-join"), "x");
  // Its member table came with the snapshot: names and URLs of the others.
  auto list = List(c.at(joiner));
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->members_size(), 4);
  for (const auto& m : list->members()) EXPECT_FALSE(m.peerurls().empty());
  // The new member published its name and client URLs through the log.
  EXPECT_TRUE(WaitFor([&] {
    auto l = List(leader);
    if (!l.ok()) return false;
    for (const auto& m : l->members()) {
      if (m.id() == add->member().id()) return m.name() == joiner && m.clienturls_size() == 1;
    }
    return false;
  }));
}

// A 3-member cluster with keys k0..k9 and a learner added (not started yet).
class MembershipWithLearner : public ::testing::Test {
 protected:
  void SetUp() override {
    c.StartAll();
    leader = c.WaitLeader();
    ASSERT_NE(leader, nullptr);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(Put(leader, "k" + std::to_string(i), "v").ok());
    learner = c.AddName();
    add = AddMember(leader, testing::PeerUrl(c.port(learner)), /*learner=*/true);
    ASSERT_TRUE(add.ok()) << add.status().ToString();
  }

  Cluster c{3};
  EtcdServer* leader = nullptr;
  std::string learner;
  Result<etcdserverpb::MemberAddResponse> add = Status::Unavailable("not added");
};

TEST_F(MembershipWithLearner, LearnerAddPromoteAndRemove) {
  EXPECT_TRUE(add->member().islearner());
  uint64_t id = add->member().id();

  // Far behind (not even started): promotion is refused with etcd's words.
  etcdserverpb::MemberPromoteRequest promote;
  promote.set_id(id);
  auto early =
      Sync<etcdserverpb::MemberPromoteResponse>([&](auto d) { leader->MemberPromote(promote, d); });
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.status().message(),
            "etcdserver: can only promote a learner member which is in sync with leader");

  ASSERT_TRUE(Join(c, learner, {"n1", "n2", "n3"}).ok());
  EXPECT_TRUE(WaitFor([&] { return Value(c.at(learner), "k9", true) == "v"; }));
  EXPECT_TRUE(c.at(learner)->GetStats().is_learner);
  // A learner serves only serializable reads (as etcd).
  EXPECT_EQ(Value(c.at(learner), "k9"),
            "<error: Unavailable: etcdserver: rpc not supported for learner>");
  EXPECT_EQ(Put(c.at(learner), "k9", "w").status().message(),
            "etcdserver: rpc not supported for learner");
  leader = c.WaitLeader();
  auto ok =
      Sync<etcdserverpb::MemberPromoteResponse>([&](auto d) { leader->MemberPromote(promote, d); });
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  for (const auto& m : ok->members()) EXPECT_FALSE(m.islearner());
  EXPECT_TRUE(WaitFor([&] { return !c.at(learner)->GetStats().is_learner; }));

  // Unknown members.
  etcdserverpb::MemberPromoteRequest unknown;
  unknown.set_id(12345);
  auto nf =
      Sync<etcdserverpb::MemberPromoteResponse>([&](auto d) { leader->MemberPromote(unknown, d); });
  ASSERT_FALSE(nf.ok());
  EXPECT_EQ(nf.status().message(), api::kErrMemberNotFound);

  // Remove a follower: it stops itself once it applies its removal.
  std::string victim;
  for (const auto& n : c.Running()) {
    if (c.at(n) != leader && n != learner) victim = n;
  }
  etcdserverpb::MemberRemoveRequest rm;
  rm.set_id(c.at(victim)->member_id());
  auto removed =
      Sync<etcdserverpb::MemberRemoveResponse>([&](auto d) { leader->MemberRemove(rm, d); });
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(removed->members_size(), 3);
  // It applies its removal, or (if the leader stopped replicating to it first) learns it
  // from a peer once leaderless: either way it stops.
  EXPECT_TRUE(
      WaitFor([&] { return Put(c.at(victim), "x", "y").status().message() == api::kErrStopped; }));
  EXPECT_TRUE(c.at(victim)->Stopped());
  EXPECT_EQ(c.at(victim)->StopReason(), "the member has been permanently removed from the cluster");
  ASSERT_TRUE(Put(leader, "after-remove", "1").ok());
  EXPECT_EQ(Value(c.at(learner), "after-remove"), "1");

  // MemberUpdate goes through the log.
  etcdserverpb::MemberUpdateRequest up;
  up.set_id(id);
  up.add_peerurls(testing::PeerUrl(c.port(learner)));
  auto upd = Sync<etcdserverpb::MemberUpdateResponse>([&](auto d) { leader->MemberUpdate(up, d); });
  ASSERT_TRUE(upd.ok()) << upd.status().ToString();
}

// Issue 11: the only voter wins its elections alone. Its raft loop sends appends to the
// learner before its own write (thesis §10.2.1) only in a term its WAL holds durably
// (RAFTKV_CHECK in handleReady): each restart below is such an election, and the learner
// must end up with exactly the voter's data.
TEST(Membership, SingleVoterWithLearner_restartsAndLearnerAgrees) {
  Cluster c{1};
  c.StartAll();
  EtcdServer* voter = c.WaitLeader();
  ASSERT_NE(voter, nullptr);
  std::string learner = c.AddName();
  ASSERT_TRUE(AddMember(voter, testing::PeerUrl(c.port(learner)), /*learner=*/true).ok());
  ASSERT_TRUE(Join(c, learner, {"n1"}).ok());
  for (int life = 0; life < 4; ++life) {
    voter = c.WaitLeader();
    ASSERT_NE(voter, nullptr) << "life " << life;
    ASSERT_TRUE(Put(voter, "k", "v" + std::to_string(life)).ok()) << "life " << life;
    c.Stop("n1");
    ASSERT_TRUE(c.Start("n1").ok()) << "life " << life;
  }
  voter = c.WaitLeader();
  ASSERT_NE(voter, nullptr);
  ASSERT_TRUE(Put(voter, "k", "last").ok());
  EXPECT_TRUE(WaitFor([&] { return Value(c.at(learner), "k", true) == "last"; }));
  auto hash = [&](EtcdServer* s) {
    etcdserverpb::HashKVRequest req;
    auto r = Sync<etcdserverpb::HashKVResponse>([&](auto d) { s->HashKV(req, d); });
    return r.ok() ? r->hash() : 0;
  };
  EXPECT_TRUE(WaitFor([&] { return hash(voter) == hash(c.at(learner)); }));
}

// etcd forwards MemberPromote to the leader: a follower answers with the leader's result.
TEST_F(MembershipWithLearner, PromoteThroughAFollower) {
  uint64_t id = add->member().id();
  auto follower = [&] {
    EtcdServer* l = c.WaitLeader();
    for (const auto& n : c.Running()) {
      if (c.at(n) != l && n != learner) return c.at(n);
    }
    return static_cast<EtcdServer*>(nullptr);
  };
  EtcdServer* f = follower();
  ASSERT_NE(f, nullptr);

  // The leader's refusals come back with etcd's words.
  auto behind = Promote(f, id);  // the learner has not even started
  ASSERT_FALSE(behind.ok());
  EXPECT_EQ(behind.status().message(),
            "etcdserver: can only promote a learner member which is in sync with leader");
  EXPECT_EQ(Promote(f, 12345).status().message(), api::kErrMemberNotFound);
  EXPECT_EQ(Promote(f, f->member_id()).status().message(),
            "etcdserver: can only promote a learner member");

  ASSERT_TRUE(Join(c, learner, {"n1", "n2", "n3"}).ok());
  EXPECT_TRUE(WaitFor([&] { return Value(c.at(learner), "k9", true) == "v"; }));
  f = follower();
  ASSERT_NE(f, nullptr);
  auto ok = Promote(f, id);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->header().member_id(), f->member_id());
  EXPECT_EQ(ok->header().cluster_id(), f->cluster_id());
  ASSERT_EQ(ok->members_size(), 4);
  for (const auto& m : ok->members()) EXPECT_FALSE(m.islearner());
  // Every member applied the promotion.
  for (const auto& n : c.Running()) {
    EXPECT_TRUE(WaitFor([&] {
      auto l = List(c.at(n));
      if (!l.ok()) return false;
      for (const auto& m : l->members()) {
        if (m.id() == id) return !m.islearner();
      }
      return false;
    })) << n;
  }
  EXPECT_TRUE(WaitFor([&] { return !c.at(learner)->GetStats().is_learner; }));
  ASSERT_TRUE(Put(c.at(learner), "by-new-voter", "1").ok());

  // The peer-port call carries the cluster id: another cluster's member is refused.
  etcdserverpb::MemberPromoteRequest req;
  req.set_id(id);
  std::string leader_url = testing::PeerUrl(c.WaitLeader()->peer_port());
  auto wrong = ForwardPromote(leader_url, f->cluster_id() + 1, req, std::chrono::seconds(2));
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("refused"), std::string::npos)
      << wrong.status().ToString();
  // An unreachable leader: etcd's timeout text.
  auto dead = ForwardPromote(testing::PeerUrl(testing::FreePort()), f->cluster_id(), req,
                             std::chrono::milliseconds(300));
  EXPECT_EQ(dead.status().message(), api::kErrTimeout);
}

TEST(Membership, PromoteWithoutLeaderFails) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  std::string lead = c.NameOf(leader), survivor;
  for (const auto& n : c.Running()) {
    if (n != lead) survivor = n;
  }
  for (const auto& n : c.Running()) {
    if (n != survivor) c.Stop(n);
  }
  EtcdServer* s = c.at(survivor);
  ASSERT_TRUE(WaitFor([&] { return !s->GetStats().has_leader; }));
  EXPECT_EQ(Promote(s, 12345).status().message(), api::kErrNoLeader);
}

TEST(Membership, RemovingTheLeaderElectsAnother) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  ASSERT_TRUE(Put(leader, "a", "1").ok());
  etcdserverpb::MemberRemoveRequest rm;
  rm.set_id(leader->member_id());
  auto r = Sync<etcdserverpb::MemberRemoveResponse>([&](auto d) { leader->MemberRemove(rm, d); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string old = c.NameOf(leader);
  c.Stop(old);
  EtcdServer* next = c.WaitLeader();
  ASSERT_NE(next, nullptr);
  ASSERT_TRUE(Put(next, "b", "2").ok());
  auto list = List(next);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->members_size(), 2);
}

}  // namespace
}  // namespace raftkv::server
