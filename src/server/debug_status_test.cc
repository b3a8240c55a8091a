// /debug/raft's data: a member's raft state and the cluster view assembled over the peer
// port, with three members on loopback; and the Timeline's bounded history.
#include <gtest/gtest.h>

#include <chrono>

#include "server/test_util.h"
#include "server/timeline.h"

namespace raftkv::server {
namespace {

using testing::Cluster;
using testing::Put;
using testing::WaitFor;

const raftkvpb::MemberDebug* Find(const raftkvpb::ClusterDebug& c, const std::string& name) {
  for (const auto& m : c.members()) {
    if (m.name() == name) return &m;
  }
  return nullptr;
}

TEST(ClusterDebug, EveryMemberAnswersAndTheLeaderListsItsFollowers) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  ASSERT_TRUE(Put(leader, "k", "v").ok());
  const std::string lname = c.NameOf(leader);
  // Asked of a follower: it asks the other two over their peer URLs.
  std::string asker = lname == "n1" ? "n2" : "n1";
  raftkvpb::ClusterDebug view;
  ASSERT_TRUE(WaitFor([&] {
    view = c.at(asker)->ClusterDebug(std::chrono::milliseconds(500));
    const auto* l = Find(view, lname);
    // Followers acknowledged everything the leader has.
    if (l == nullptr || l->followers_size() != 2) return false;
    for (const auto& f : l->followers()) {
      if (f.match() != l->last_index() || f.state() != "replicate") return false;
    }
    return true;
  })) << view.DebugString();
  EXPECT_EQ(view.members_size(), 3);
  EXPECT_EQ(view.served_by(), Find(view, asker)->id());
  const auto* l = Find(view, lname);
  EXPECT_EQ(view.leader(), l->id());
  for (const auto& m : view.members()) {
    EXPECT_TRUE(m.up()) << m.name() << ": " << m.error();
    EXPECT_EQ(m.term(), l->term()) << m.name();
    EXPECT_EQ(m.leader(), l->id()) << m.name();
    EXPECT_EQ(m.role(), m.id() == l->id() ? "leader" : "follower");
    EXPECT_FALSE(m.peer_urls().empty());
    for (const auto& e : m.events()) EXPECT_EQ(e.member(), m.id());
  }
  for (const auto& f : l->followers()) {
    EXPECT_GE(f.last_contact_ms(), 0);
    EXPECT_LT(f.last_contact_ms(), 1000) << "heartbeats every 10 ms";
    EXPECT_GT(f.inflight_capacity(), 0u);
    EXPECT_FALSE(f.is_learner());
  }
}

TEST(ClusterDebug, StoppedMemberIsDownWithinTheTimeout) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  std::string victim;
  for (const auto& n : c.Running()) {
    if (c.at(n) != leader) victim = n;
  }
  c.Stop(victim);
  auto t0 = std::chrono::steady_clock::now();
  raftkvpb::ClusterDebug view = leader->ClusterDebug(std::chrono::milliseconds(300));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, std::chrono::milliseconds(1500));
  const auto* down = Find(view, victim);
  ASSERT_NE(down, nullptr) << "a member that does not answer is still listed";
  EXPECT_FALSE(down->up());
  EXPECT_FALSE(down->error().empty());
  EXPECT_FALSE(down->peer_urls().empty()) << "from the member list";
  int up = 0;
  for (const auto& m : view.members()) up += m.up() ? 1 : 0;
  EXPECT_EQ(up, 2);
}

TEST(Timeline, EventsAreBoundedAndNameWhatHappened) {
  Timeline t(/*max_events=*/4);
  raft::SoftState ss;
  ss.role = raft::Role::kPreCandidate;
  t.ObserveSoftState(ss, 3);
  ss.role = raft::Role::kCandidate;
  t.ObserveSoftState(ss, 4);
  raft::Message m;
  m.type = raft::MessageType::kVoteResponse;
  m.from = 0xab;
  m.term = 4;
  t.ObserveVoteResponse(m);
  ss.role = raft::Role::kLeader;
  ss.lead = 1;
  t.ObserveSoftState(ss, 4);
  raftkvpb::MemberDebug d;
  t.Fill(&d);
  ASSERT_EQ(d.events_size(), 4) << "the ring keeps the newest 4";
  EXPECT_EQ(d.events(0).kind(), "vote");  // the pre-vote round fell out
  EXPECT_EQ(d.events(0).text(), "vote round for term 4 (votes for itself)");
  EXPECT_EQ(d.events(1).text(), "vote granted by ab (term 4)");
  EXPECT_EQ(d.events(2).text(), "became leader of term 4");
  EXPECT_EQ(d.events(3).kind(), "leader");
}

TEST(Timeline, QuantileIsTheBucketHoldingIt) {
  std::array<uint32_t, Timeline::kBuckets> counts{};
  EXPECT_EQ(Timeline::Quantile(counts, 0.99), 0);
  counts[0] = 98;
  counts[10] = 2;
  EXPECT_EQ(Timeline::Quantile(counts, 0.5), Timeline::BucketBound(0));
  EXPECT_EQ(Timeline::Quantile(counts, 0.99), Timeline::BucketBound(10));
  EXPECT_NEAR(Timeline::BucketBound(4), 100e-6, 1e-12);  // doubles every 4 buckets
}

TEST(Timeline, FsyncSummary) {
  Timeline t;
  for (int i = 0; i < 99; ++i) t.AddFsync(0.001);
  t.AddFsync(0.5);
  raftkvpb::MemberDebug d;
  t.Fill(&d);
  EXPECT_EQ(d.wal_fsync().count(), 100u);
  EXPECT_NEAR(d.wal_fsync().mean_ms(), (99 * 1.0 + 500) / 100, 1e-6);
  EXPECT_LE(d.wal_fsync().p50_ms(), 1.2);
  EXPECT_GE(d.wal_fsync().p50_ms(), 1.0);
  EXPECT_LE(d.wal_fsync().p99_ms(), 1.2) << "one slow sync in 100 is above the p99";
}

}  // namespace
}  // namespace raftkv::server
