// Three members over the real transport on loopback.
#include <set>
#include <thread>

#include "api/errors.h"
#include "server/test_util.h"

namespace raftkv::server {
namespace {

using testing::Cluster;
using testing::Put;
using testing::Value;
using testing::WaitFor;

std::vector<std::string> Followers(Cluster& c, EtcdServer* leader) {
  std::vector<std::string> out;
  for (const auto& n : c.Running()) {
    if (c.at(n) != leader) out.push_back(n);
  }
  return out;
}

TEST(ThreeMembers, WritesOnLeaderAndFollowerReadsOnFollower) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  auto f = Followers(c, leader);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(leader->cluster_id(), c.at(f[0])->cluster_id());

  auto p = Put(leader, "from-leader", "1");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  // A follower's write is forwarded by the core and answered by the follower itself.
  auto q = Put(c.at(f[0]), "from-follower", "2");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->header().member_id(), c.at(f[0])->member_id());
  EXPECT_EQ(q->header().revision(), p->header().revision() + 1);
  // A linearizable read on the other follower sees both acknowledged writes at once.
  EXPECT_EQ(Value(c.at(f[1]), "from-follower"), "2");
  EXPECT_EQ(Value(c.at(f[1]), "from-leader"), "1");
  for (int i = 0; i < 20; ++i) {
    std::string k = "k" + std::to_string(i);
    ASSERT_TRUE(Put(c.at(f[i % 2]), k, std::to_string(i)).ok());
    EXPECT_EQ(Value(c.at(f[(i + 1) % 2]), k), std::to_string(i));
  }
}

TEST(ThreeMembers, StageTrace_followsPutsThroughEveryStage) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  auto f = Followers(c, leader);
  // A follower's own proposal is forwarded, not appended there: it is not traced.
  ASSERT_TRUE(Put(c.at(f[0]), "via-follower", "x").ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Put(leader, "k" + std::to_string(i), "v").ok());
  ASSERT_TRUE(WaitFor([&] { return leader->GetStats().propose_stages.traced >= 1; }));
  ServerStats ls = leader->GetStats();
  ASSERT_EQ(ls.propose_stages.stages.size(), 8u);
  EXPECT_EQ(ls.propose_stages.stages[3].name, "wal_write_fsync");
  EXPECT_GT(ls.propose_stages.stages[3].seconds, 0);  // an fsync takes time
  EXPECT_GT(ls.propose_stages.stages[4].seconds, 0);  // so does a follower's acknowledgement
  EXPECT_EQ(c.at(f[0])->GetStats().propose_stages.traced, 0u);
  for (const auto& n : f) {
    EXPECT_TRUE(WaitFor([&] { return c.at(n)->GetStats().append_stages.traced >= 1; })) << n;
    EXPECT_GT(c.at(n)->GetStats().append_stages.stages[2].seconds, 0) << n;
  }
}

TEST(ThreeMembers, LeaderStopElectsNewLeaderAndKeepsAcknowledgedWrites) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Put(leader, "k" + std::to_string(i), "v").ok());
  std::string old = c.NameOf(leader);
  c.Stop(old);  // graceful: hands leadership over first
  EtcdServer* next = c.WaitLeader();
  ASSERT_NE(next, nullptr);
  EXPECT_NE(c.NameOf(next), old);
  for (const auto& n : c.Running()) {
    for (int i = 0; i < 10; ++i) EXPECT_EQ(Value(c.at(n), "k" + std::to_string(i)), "v") << n;
  }
  ASSERT_TRUE(Put(next, "after", "x").ok());
  for (const auto& n : c.Running()) EXPECT_EQ(Value(c.at(n), "after"), "x");
  // The stopped member comes back and catches up.
  ASSERT_TRUE(c.Start(old).ok());
  EXPECT_TRUE(WaitFor([&] { return Value(c.at(old), "after", true) == "x"; }));
}

TEST(ThreeMembers, FullRestartFromDataDirsKeepsData) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Put(leader, "k" + std::to_string(i), "v").ok());
  for (const auto& n : c.Running()) c.Stop(n);
  c.StartAll();
  ASSERT_NE(c.WaitLeader(), nullptr);
  for (const auto& n : c.Running()) EXPECT_EQ(Value(c.at(n), "k9"), "v") << n;
  ASSERT_TRUE(Put(c.WaitLeader(), "k10", "v").ok());
}

TEST(ThreeMembers, MoveLeaderHandsOver) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  auto f = Followers(c, leader);
  etcdserverpb::MoveLeaderRequest req;
  req.set_targetid(c.at(f[0])->member_id());
  auto r =
      testing::Sync<etcdserverpb::MoveLeaderResponse>([&](auto d) { leader->MoveLeader(req, d); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(WaitFor([&] { return c.at(f[0])->GetStats().is_leader; }));
  // Asking a follower fails as etcd does.
  auto r2 = testing::Sync<etcdserverpb::MoveLeaderResponse>(
      [&](auto d) { c.at(f[1])->MoveLeader(req, d); });
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().message(), api::kErrNotLeader);
}

TEST(ThreeMembers, ConcurrentWritesOnEveryMemberAreAllAppliedOnceInOneOrder) {
  Cluster c(3, /*snapshot_count=*/50);
  c.StartAll();
  ASSERT_NE(c.WaitLeader(), nullptr);
  std::vector<std::string> names = c.Running();
  constexpr int kThreads = 6, kPuts = 40;
  std::vector<std::vector<int64_t>> revs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      EtcdServer* s = c.at(names[t % names.size()]);
      for (int i = 0; i < kPuts; ++i) {
        auto p = Put(s, "t" + std::to_string(t) + "-" + std::to_string(i), std::to_string(i));
        if (p.ok()) revs[t].push_back(p->header().revision());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<int64_t> all;
  for (const auto& r : revs) {
    EXPECT_EQ(r.size(), static_cast<size_t>(kPuts));
    for (size_t i = 1; i < r.size(); ++i) EXPECT_LT(r[i - 1], r[i]);  // each client's order
    all.insert(r.begin(), r.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPuts));  // one revision per write
  for (const auto& n : names) {
    for (int t = 0; t < kThreads; ++t) {
      EXPECT_EQ(Value(c.at(n), "t" + std::to_string(t) + "-" + std::to_string(kPuts - 1)),
                std::to_string(kPuts - 1))
          << n;
    }
  }
  // Every member applied the same log: same store hash.
  std::set<uint32_t> hashes;
  for (const auto& n : names) {
    etcdserverpb::HashKVRequest req;
    auto h = testing::Sync<etcdserverpb::HashKVResponse>([&](auto d) { c.at(n)->HashKV(req, d); });
    ASSERT_TRUE(h.ok());
    hashes.insert(h->hash());
  }
  EXPECT_EQ(hashes.size(), 1u);
}

TEST(ThreeMembers, WithoutQuorumWritesFailAndReadsTimeOutCleanly) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  ASSERT_TRUE(Put(leader, "a", "1").ok());
  auto f = Followers(c, leader);
  std::string survivor = f[0];
  c.Stop(c.NameOf(leader));
  c.Stop(f[1]);
  // Alone, the survivor loses its leader (election timeout) and never gets another one: a
  // write is held, then refused.
  ASSERT_TRUE(WaitFor([&] { return !c.at(survivor)->GetStats().has_leader; }));
  auto p = Put(c.at(survivor), "b", "2");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), api::kErrNoLeader);
  // A serializable read is still served from the local store.
  EXPECT_EQ(Value(c.at(survivor), "a", /*serializable=*/true), "1");
  ServerStats st = c.at(survivor)->GetStats();
  EXPECT_FALSE(st.has_leader);
  EXPECT_GE(st.proposals_failed, 1u);
}

}  // namespace
}  // namespace raftkv::server
