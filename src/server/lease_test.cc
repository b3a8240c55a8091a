// Leases on real in-process members: grants and revokes through the log, keep-alives answered
// by the leader (forwarded by followers), expiry by the leader only, leases across restarts,
// snapshot installs and leader changes; the space quota's NOSPACE alarm; etcd's learner limit.
#include <future>

#include "server/test_util.h"

namespace raftkv::server {
namespace {

using std::chrono::milliseconds;
using testing::Cluster;
using testing::Put;
using testing::Sync;
using testing::Value;
using testing::WaitFor;

Result<etcdserverpb::LeaseGrantResponse> Grant(EtcdServer* s, int64_t ttl, int64_t id = 0) {
  etcdserverpb::LeaseGrantRequest req;
  req.set_ttl(ttl);
  req.set_id(id);
  return Sync<etcdserverpb::LeaseGrantResponse>([&](auto done) { s->LeaseGrant(req, done); });
}

Result<etcdserverpb::PutResponse> PutWithLease(EtcdServer* s, const std::string& k, int64_t lease) {
  etcdserverpb::PutRequest req;
  req.set_key(k);
  req.set_value("v");
  req.set_lease(lease);
  return Sync<etcdserverpb::PutResponse>([&](auto done) { s->Put(req, {}, done); });
}

Result<int64_t> KeepAlive(EtcdServer* s, int64_t id) {
  return Sync<int64_t>([&](auto done) { s->LeaseKeepAlive(id, done); });
}

Result<etcdserverpb::LeaseTimeToLiveResponse> TimeToLive(EtcdServer* s, int64_t id) {
  etcdserverpb::LeaseTimeToLiveRequest req;
  req.set_id(id);
  req.set_keys(true);
  return Sync<etcdserverpb::LeaseTimeToLiveResponse>(
      [&](auto done) { s->LeaseTimeToLive(req, done); });
}

Result<etcdserverpb::LeaseRevokeResponse> Revoke(EtcdServer* s, int64_t id) {
  etcdserverpb::LeaseRevokeRequest req;
  req.set_id(id);
  return Sync<etcdserverpb::LeaseRevokeResponse>([&](auto done) { s->LeaseRevoke(req, done); });
}

EtcdServer* AFollower(Cluster& c, EtcdServer* leader) {
  for (const auto& n : c.Running()) {
    if (c.at(n) != leader) return c.at(n);
  }
  return nullptr;
}

TEST(LeaseServer, Put_unknownLeaseIsNotFound) {
  Cluster c(1);
  c.StartAll();
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  auto r = PutWithLease(s, "k", 12345);
  EXPECT_EQ(r.status().message(), "etcdserver: requested lease not found");
  EXPECT_EQ(Value(s, "k"), "<none>");
}

TEST(LeaseServer, Revoke_deletesEveryKeyInOneRevision) {
  Cluster c(1);
  c.StartAll();
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  auto g = Grant(s, 60);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_GT(g->id(), 0);
  EXPECT_EQ(g->ttl(), 60);
  ASSERT_TRUE(PutWithLease(s, "a", g->id()).ok());
  auto last = PutWithLease(s, "b", g->id());
  ASSERT_TRUE(last.ok());
  auto rv = Revoke(s, g->id());
  ASSERT_TRUE(rv.ok()) << rv.status().ToString();
  EXPECT_EQ(rv->header().revision(), last->header().revision() + 1);
  EXPECT_EQ(Value(s, "a"), "<none>");
  EXPECT_EQ(Value(s, "b"), "<none>");
  EXPECT_EQ(Revoke(s, g->id()).status().message(), "etcdserver: requested lease not found");
}

TEST(LeaseServer, Grant_minimumTtlClientIdAndDuplicate) {
  Cluster c(1);  // 10 ms heartbeat, 100 ms election: etcd's minimum is ceil(150 ms) = 1 s
  c.StartAll();
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  auto g = Grant(s, 0, 77);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->id(), 77);
  EXPECT_EQ(g->ttl(), 1);
  EXPECT_EQ(Grant(s, 5, 77).status().message(), "etcdserver: lease already exists");
  EXPECT_EQ(Grant(s, 9000000001).status().message(), "etcdserver: too large lease TTL");
}

TEST(LeaseServer, KeepAlive_unknownLeaseIsTtlZero) {
  Cluster c(1);
  c.StartAll();
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  auto ttl = KeepAlive(s, 999);
  ASSERT_TRUE(ttl.ok()) << ttl.status().ToString();
  EXPECT_EQ(*ttl, 0);
  EXPECT_EQ(TimeToLive(s, 999).status().message(), "etcdserver: requested lease not found");
}

// A follower forwards keep-alives to the leader; a lease kept alive that way outlives its TTL
// several times over, and once abandoned the leader revokes it (its key goes with it).
TEST(LeaseServer, KeepAlive_throughAFollowerKeepsTheLeaseThenItExpires) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  EtcdServer* f = AFollower(c, leader);
  auto g = Grant(f, 1);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_TRUE(PutWithLease(f, "held", g->id()).ok());
  auto last_sent = std::chrono::steady_clock::now();
  for (int i = 0; i < 12; ++i) {  // 3 s: three times the TTL
    last_sent = std::chrono::steady_clock::now();
    auto ttl = KeepAlive(f, g->id());
    ASSERT_TRUE(ttl.ok()) << ttl.status().ToString();
    EXPECT_EQ(*ttl, 1);
    std::this_thread::sleep_for(milliseconds(250));
  }
  EXPECT_EQ(Value(f, "held"), "v");
  auto t = TimeToLive(f, g->id());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->grantedttl(), 1);
  ASSERT_EQ(t->keys_size(), 1);
  EXPECT_EQ(t->keys(0), "held");
  // Abandoned: the key goes, but never before the last keep-alive's TTL ran out (the leader
  // renewed it on receipt, after it was sent).
  EXPECT_TRUE(WaitFor([&] { return Value(f, "held") == "<none>"; }, std::chrono::seconds(5)));
  EXPECT_GE(std::chrono::steady_clock::now() - last_sent, milliseconds(1000))
      << "expired before its TTL";
  EXPECT_EQ(*KeepAlive(f, g->id()), 0);
}

// Three members with a 1 s election timeout (a leader lease of 790 ms, check-quorum after
// 1-2 s; `tweak` may change more of each config); a 60 s lease granted on the leader and kept
// alive inside its leader lease; then the followers stop. Returns the leader, cut off from
// its followers but still leading for a while, and the lease in *lease (nullptr on failure).
EtcdServer* LeaderCutOffWithALease(Cluster& c, int64_t* lease,
                                   const std::function<void(ServerConfig*)>& tweak = nullptr) {
  for (const auto& n : {"n1", "n2", "n3"}) {
    ServerConfig cfg = c.Config(n);
    cfg.election_timeout_ms = 1000;
    if (tweak) tweak(&cfg);
    if (!c.StartWith(cfg).ok()) return nullptr;
  }
  EtcdServer* leader = c.WaitLeader();
  if (leader == nullptr) return nullptr;
  auto g = Grant(leader, 60);
  if (!g.ok()) return nullptr;
  *lease = g->id();
  EXPECT_TRUE(WaitFor([&] {
    auto ttl = KeepAlive(leader, g->id());
    return ttl.ok() && *ttl == 60 && leader->GetStats().keepalives_in_lease > 0;
  }));
  for (const auto& n : c.Running()) {
    if (c.at(n) != leader) c.Stop(n);
  }
  return leader;
}

// LeaderCutOffWithALease, then the leader's lessor clock jumps 61 s ahead (through *skew_ms,
// which must outlive the cluster): it finds the 60 s lease past its deadline, as a leader
// paused for a few seconds finds its stale deadlines when it resumes.
EtcdServer* LeaderCutOffWithAnExpiredLease(Cluster& c, int64_t* lease,
                                           std::atomic<int64_t>* skew_ms) {
  EtcdServer* leader = LeaderCutOffWithALease(c, lease, [skew_ms](ServerConfig* cfg) {
    cfg->lease_clock = [skew_ms] {
      return std::chrono::steady_clock::now() + milliseconds(skew_ms->load());
    };
  });
  *skew_ms = 61000;
  return leader;
}

// A healthy leader answers keep-alives inside its leader lease, without a ReadIndex round.
// Cut off from its followers, it stops doing so once the lease ran out, although it still
// leads until check-quorum fires: a keep-alive then waits for a round that cannot complete,
// and fails, so its client moves to a member that can reach the new leader.
TEST(LeaseServer, KeepAlive_answeredInsideTheLeaderLeaseOnly) {
  Cluster c(3);
  int64_t lease = 0;
  EtcdServer* leader = LeaderCutOffWithALease(c, &lease);
  ASSERT_NE(leader, nullptr);
  std::this_thread::sleep_for(milliseconds(900));
  const uint64_t in_lease = leader->GetStats().keepalives_in_lease;
  auto late = KeepAlive(leader, lease);
  EXPECT_FALSE(late.ok()) << "renewed by a leader cut off for longer than its lease";
  EXPECT_EQ(leader->GetStats().keepalives_in_lease, in_lease);
}

// "Expired" needs a confirmed leadership as much as a renewal does. A leader cut off from
// its followers whose lessor then finds the lease past its deadline (as a leader paused for a
// few seconds finds it when it resumes: the renewals went to the new leader meanwhile) must
// not answer TTL 0 before check-quorum demotes it; a chaos run caught raftkvd doing so.
TEST(LeaseServer, KeepAlive_expiredIsAnsweredOnlyByAConfirmedLeader) {
  Cluster c(3);
  std::atomic<int64_t> skew_ms{0};
  int64_t lease = 0;
  EtcdServer* leader = LeaderCutOffWithAnExpiredLease(c, &lease, &skew_ms);
  ASSERT_NE(leader, nullptr);
  std::this_thread::sleep_for(milliseconds(900));
  auto late = KeepAlive(leader, lease);
  EXPECT_FALSE(late.ok()) << "a leader that cannot confirm its leadership answered TTL "
                          << (late.ok() ? std::to_string(*late) : "");
}

// The confirming round must be the renewing leader's own. A leader cut off from its followers
// renews (here: finds the lease past its deadline) and waits for a round; the followers come
// back and elect a new leader, the old one steps down, and its round, asked again, is answered
// through the new leader. That answer confirms nothing about the old leader's renewal: the
// keep-alive must fail, not carry the deposed leader's TTL (a 5-member chaos run caught it
// answering TTL 0 so while the new leader kept the lease alive).
TEST(LeaseServer, KeepAlive_roundRetriedThroughANewLeaderConfirmsNothing) {
  Cluster c(3);
  std::atomic<int64_t> skew_ms{0};
  int64_t lease = 0;
  EtcdServer* leader = LeaderCutOffWithAnExpiredLease(c, &lease, &skew_ms);
  ASSERT_NE(leader, nullptr);
  std::this_thread::sleep_for(milliseconds(900));  // and the leader lease has run out
  auto answer = std::make_shared<std::promise<Result<int64_t>>>();
  leader->LeaseKeepAlive(lease, [answer](Result<int64_t> r) { answer->set_value(std::move(r)); });
  const std::string old_name = c.NameOf(leader);
  for (const auto& n : {"n1", "n2", "n3"}) {
    if (n != old_name) ASSERT_TRUE(c.Start(n).ok());
  }
  auto f = answer->get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  Result<int64_t> got = f.get();
  EXPECT_FALSE(got.ok()) << "the deposed leader answered TTL "
                         << (got.ok() ? std::to_string(*got) : "");
  EtcdServer* now_leading = c.WaitLeader();
  ASSERT_NE(now_leading, nullptr);
  EXPECT_NE(now_leading, leader);
  auto fresh = KeepAlive(now_leading, lease);  // the lease lives on
  ASSERT_TRUE(fresh.ok()) << fresh.status().message();
  EXPECT_GT(*fresh, 0);
}

// Leadership moves while a client keeps a lease alive: the new leader extends every lease
// (full TTL + election timeout) once it applied its first entry, so the lease survives.
TEST(LeaseServer, LeaderChange_keptAliveLeaseSurvives) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  auto g = Grant(leader, 1);
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(PutWithLease(leader, "held", g->id()).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread client([&] {
    while (!stop.load()) {
      for (const auto& n : c.Running()) {  // any member: followers forward
        auto ttl = KeepAlive(c.at(n), g->id());
        if (!ttl.ok() || *ttl != 1) failures++;
        break;
      }
      std::this_thread::sleep_for(milliseconds(200));
    }
  });
  for (int round = 0; round < 3; ++round) {
    leader = c.WaitLeader();
    ASSERT_NE(leader, nullptr);
    EtcdServer* f = AFollower(c, leader);
    etcdserverpb::MoveLeaderRequest mv;
    mv.set_targetid(f->member_id());
    auto moved =
        Sync<etcdserverpb::MoveLeaderResponse>([&](auto done) { leader->MoveLeader(mv, done); });
    EXPECT_TRUE(moved.ok()) << moved.status().ToString();
    std::this_thread::sleep_for(milliseconds(700));
  }
  stop = true;
  client.join();
  EXPECT_EQ(Value(c.WaitLeader(), "held"), "v");
  EXPECT_LE(failures.load(), 3) << "keep-alives may fail while leadership moves, not for long";
}

// The lease table is replicated state: it survives a restart (WAL replay) and reaches a
// member that catches up from a snapshot, attachments included.
TEST(LeaseServer, RestartAndSnapshotInstall_keepLeasesAndAttachments) {
  Cluster c(3, /*snapshot_count=*/10);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  std::string down = c.NameOf(AFollower(c, leader));
  c.Stop(down);
  leader = c.WaitLeader();
  auto g = Grant(leader, 3600);
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(PutWithLease(leader, "leased", g->id()).ok());
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(Put(leader, "k" + std::to_string(i), "v").ok());
  ASSERT_TRUE(WaitFor([&] { return leader->GetStats().snapshot_save.count >= 2; }));
  ASSERT_TRUE(c.Start(down).ok());
  EtcdServer* back = c.at(down);
  ASSERT_TRUE(WaitFor([&] { return Value(back, "k29", true) == "v"; }));
  EXPECT_GE(back->GetStats().snapshots_received, 1u);
  auto leases =
      Sync<etcdserverpb::LeaseLeasesResponse>([&](auto done) { back->LeaseLeases(done); });
  ASSERT_TRUE(leases.ok());
  ASSERT_EQ(leases->leases_size(), 1);
  EXPECT_EQ(leases->leases(0).id(), g->id());
  // Restart every member: the table comes back from snapshots + WAL.
  for (const auto& n : c.Running()) c.Stop(n);
  for (const auto& n : {"n1", "n2", "n3"}) ASSERT_TRUE(c.Start(n).ok());
  leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  auto t = TimeToLive(leader, g->id());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->grantedttl(), 3600);
  ASSERT_EQ(t->keys_size(), 1);
  EXPECT_EQ(t->keys(0), "leased");
  // Revoking it deletes the key on every member, the one restored from a snapshot included.
  ASSERT_TRUE(Revoke(leader, g->id()).ok());
  for (const auto& n : c.Running()) {
    EXPECT_TRUE(WaitFor([&] { return Value(c.at(n), "leased", true) == "<none>"; })) << n;
  }
}

// --quota-backend-bytes: a write past the quota is refused with NOSPACE and raises the alarm,
// which then refuses every put (reads and deletes still work) until it is disarmed after the
// space was freed.
TEST(Quota, NoSpace_alarmRefusesPutsUntilDisarmed) {
  Cluster c(1);
  ServerConfig cfg = c.Config("n1");
  cfg.quota_backend_bytes = 64 << 10;
  ASSERT_TRUE(c.StartWith(cfg).ok());
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  const std::string value(8 << 10, 'x');
  Status refused;
  int i = 0;
  for (; i < 20 && refused.ok(); ++i) refused = Put(s, "k" + std::to_string(i), value).status();
  EXPECT_EQ(refused.message(), "etcdserver: mvcc: database space exceeded");
  etcdserverpb::AlarmRequest get;
  EXPECT_TRUE(WaitFor([&] {
    auto a = Sync<etcdserverpb::AlarmResponse>([&](auto done) { s->Alarm(get, done); });
    return a.ok() && a->alarms_size() == 1 && a->alarms(0).alarm() == etcdserverpb::NOSPACE;
  }));
  // Even a small put is refused now; reads and deletes are served.
  EXPECT_EQ(Put(s, "small", "1").status().message(), "etcdserver: mvcc: database space exceeded");
  EXPECT_EQ(Value(s, "k0"), value);
  etcdserverpb::DeleteRangeRequest del;
  del.set_key("k");
  del.set_range_end("l");
  auto d =
      Sync<etcdserverpb::DeleteRangeResponse>([&](auto done) { s->DeleteRange(del, {}, done); });
  ASSERT_TRUE(d.ok());
  etcdserverpb::CompactionRequest cmp;
  cmp.set_revision(d->header().revision());
  ASSERT_TRUE(
      Sync<etcdserverpb::CompactionResponse>([&](auto done) { s->Compact(cmp, done); }).ok());
  EXPECT_EQ(Put(s, "small", "1").status().message(), "etcdserver: mvcc: database space exceeded");
  etcdserverpb::AlarmRequest disarm;
  disarm.set_action(etcdserverpb::AlarmRequest::DEACTIVATE);
  disarm.set_memberid(s->member_id());
  disarm.set_alarm(etcdserverpb::NOSPACE);
  ASSERT_TRUE(Sync<etcdserverpb::AlarmResponse>([&](auto done) { s->Alarm(disarm, done); }).ok());
  EXPECT_TRUE(Put(s, "small", "1").ok());
}

}  // namespace
}  // namespace raftkv::server
