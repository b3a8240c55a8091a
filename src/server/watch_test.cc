// Watches on real in-process members: the apply thread feeds each member's hub, and a
// watcher sees every revision exactly once and in order across a leader change, a snapshot
// install on its member, compaction while it lags, and a consumer that does not read.
#include <gtest/gtest.h>

#include "server/test_util.h"
#include "watch/hub.h"

namespace raftkv::server {
namespace {

using namespace raftkv::server::testing;

watch::WatchSpec Prefix(const std::string& p, int64_t start = 0) {
  watch::WatchSpec s;
  std::string end = p;
  end.back()++;
  s.keys = kv::KeyRange{p, end};
  s.start_revision = start;
  return s;
}

// A watcher driven by the test thread: Next() until idle, as a stream's sender would.
struct Watch {
  std::shared_ptr<watch::Stream> stream;
  std::vector<watch::Response> responses;
  std::vector<std::pair<int64_t, std::string>> events;  // (revision, "key=value" or "key=DEL")
  int64_t created_rev = -1;
  int64_t compacted = 0;

  Watch(EtcdServer* s, const watch::WatchSpec& spec) {
    stream = s->WatchHub().OpenStream([] {});
    stream->Create(watch::kAutoWatchId, spec);
  }
  void Poll() {
    watch::Response r;
    while (stream->Next(&r) != watch::Stream::Step::kIdle) {
      if (r.created) created_rev = r.revision;
      if (r.compact_revision != 0) compacted = r.compact_revision;
      for (const auto& e : r.events) {
        events.emplace_back(
            e.revision(),
            e.kv->key + "=" + (e.type == kv::Event::Type::kPut ? e.kv->value : "DEL"));
      }
      responses.push_back(std::move(r));
      r = watch::Response();
    }
  }
  // Polls until `n` events arrived (or 10 s).
  bool WaitEvents(size_t n) {
    return WaitFor([&] {
      Poll();
      return events.size() >= n;
    });
  }
};

// Every revision of [first, last] exactly once, in order (each write here is one key).
void ExpectContiguous(const Watch& w, int64_t first, int64_t last) {
  ASSERT_EQ(w.events.size(), static_cast<size_t>(last - first + 1));
  for (size_t i = 0; i < w.events.size(); ++i) {
    EXPECT_EQ(w.events[i].first, first + static_cast<int64_t>(i)) << "event " << i;
  }
}

int64_t PutRev(EtcdServer* s, const std::string& k, const std::string& v) {
  auto r = Put(s, k, v);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->header().revision() : 0;
}

// Adds a learner through `leader` and starts it (empty: it will need a snapshot). Returns
// its name, or "" if that failed.
std::string AddLearner(Cluster& c, EtcdServer* leader) {
  std::string joiner = c.AddName();
  etcdserverpb::MemberAddRequest add;
  add.add_peerurls(PeerUrl(c.port(joiner)));
  add.set_islearner(true);
  if (!Sync<etcdserverpb::MemberAddResponse>([&](auto d) { leader->MemberAdd(add, d); }).ok()) {
    return "";
  }
  ServerConfig cfg = c.Config(joiner);
  cfg.initial_cluster.clear();
  for (const auto& n : c.Running()) cfg.initial_cluster[n] = {PeerUrl(c.port(n))};
  cfg.initial_cluster[joiner] = {PeerUrl(c.port(joiner))};
  cfg.initial_cluster_state_new = false;
  return c.StartWith(cfg).ok() ? joiner : "";
}

TEST(Watch, EveryMemberSeesEveryRevisionOnceAcrossALeaderChange) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  std::string old_leader = c.NameOf(leader);
  std::vector<std::string> others;
  for (const auto& n : c.Running()) {
    if (n != old_leader) others.push_back(n);
  }
  int64_t first = PutRev(leader, "w/0", "v0");
  std::vector<std::unique_ptr<Watch>> ws;
  for (const auto& n : others) ws.push_back(std::make_unique<Watch>(c.at(n), Prefix("w/", first)));
  for (int i = 1; i < 20; ++i)
    PutRev(leader, "w/" + std::to_string(i % 3), "v" + std::to_string(i));
  c.Stop(old_leader);
  leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  int64_t last = 0;
  for (int i = 20; i < 40; ++i) {
    last = PutRev(leader, "w/" + std::to_string(i % 3), "v" + std::to_string(i));
  }
  for (auto& w : ws) {
    ASSERT_TRUE(w->WaitEvents(40));
    ExpectContiguous(*w, first, last);
  }
  EXPECT_EQ(ws[0]->events, ws[1]->events);  // the same history on both members
  EXPECT_EQ(ws[0]->events.back().second, "w/0=v39");
}

// A learner joins: it starts empty, a watcher on it waits at revision 1, then the leader's
// snapshot replaces its store. The watcher reads the revisions it missed from the installed
// store's history, then follows live writes.
// A 3-member cluster that snapshots every 10 entries, with keys s/0..s/29 (revisions
// 2..31); the tests add a learner, which can only catch up from a snapshot.
class WatchOnNewLearner : public ::testing::Test {
 protected:
  void SetUp() override {
    c.StartAll();
    leader = c.WaitLeader();
    ASSERT_NE(leader, nullptr);
    for (int i = 0; i < 30; ++i) last = PutRev(leader, "s/" + std::to_string(i), "v");
  }
  Cluster c{3, /*snapshot_count=*/10};
  EtcdServer* leader = nullptr;
  int64_t last = 0;
};

TEST_F(WatchOnNewLearner, SnapshotInstallOnItsMember_watcherCatchesUpFromTheNewStore) {
  std::string joiner = AddLearner(c, leader);
  ASSERT_FALSE(joiner.empty());
  Watch w(c.at(joiner), Prefix("s/", 2));
  w.Poll();
  ASSERT_TRUE(WaitFor([&] { return c.at(joiner)->GetStats().snapshots_received >= 1; }));
  int64_t live = PutRev(leader, "s/live", "x");
  ASSERT_TRUE(w.WaitEvents(31));
  EXPECT_EQ(w.created_rev, 1) << "the watch existed before the snapshot was installed";
  ExpectContiguous(w, 2, live);
  EXPECT_EQ(last + 1, live);
}

TEST_F(WatchOnNewLearner, SnapshotInstallCompactedPastTheWatcher_cancelledWithCompactRevision) {
  etcdserverpb::CompactionRequest compact;
  compact.set_revision(last - 5);
  ASSERT_TRUE(
      Sync<etcdserverpb::CompactionResponse>([&](auto d) { leader->Compact(compact, d); }).ok());
  // The snapshot the learner gets must hold the compaction: writes elsewhere until the leader
  // snapshots again. (With the snapshot taken before it, the learner would install revisions
  // 2..31 uncompacted, the watcher would sync from them, and the compaction applied later
  // would rightly not cancel a synced watcher.)
  uint64_t saved = leader->GetStats().snapshot_save.count;
  for (int i = 0; i < 40 && leader->GetStats().snapshot_save.count == saved; ++i) {
    PutRev(leader, "other/" + std::to_string(i), "v");
  }
  ASSERT_GT(leader->GetStats().snapshot_save.count, saved);
  std::string joiner = AddLearner(c, leader);
  ASSERT_FALSE(joiner.empty());
  Watch w(c.at(joiner), Prefix("s/", 2));
  ASSERT_TRUE(WaitFor([&] {
    w.Poll();
    return w.compacted != 0;
  }));
  EXPECT_EQ(w.created_rev, 1);
  EXPECT_EQ(w.compacted, last - 5);
  EXPECT_TRUE(w.events.empty());
  EXPECT_EQ(w.stream->watcher_count(), 0u);
}

ServerConfig SmallQueues(Cluster& c, const std::string& name) {
  ServerConfig cfg = c.Config(name);
  cfg.watch.max_queued_revisions = 4;
  cfg.watch.max_queued_bytes = 64 << 10;
  cfg.watch.read_budget.max_scanned = 50;
  return cfg;
}

TEST(Watch, CompactionWhileAWatcherLags_cancelledWithCompactRevisionAfterWhatItGot) {
  Cluster c(1);
  ASSERT_TRUE(c.StartWith(SmallQueues(c, "n1")).ok());
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  Watch w(s, Prefix("c/"));
  w.Poll();
  int64_t last = 0;
  for (int i = 0; i < 40; ++i) last = PutRev(s, "c/k", std::to_string(i));
  EXPECT_EQ(s->WatchHub().unsynced_count(), 1u) << "it fell behind instead of being waited for";
  etcdserverpb::CompactionRequest compact;
  compact.set_revision(last - 3);
  ASSERT_TRUE(Sync<etcdserverpb::CompactionResponse>([&](auto d) { s->Compact(compact, d); }).ok());
  w.Poll();
  EXPECT_EQ(w.compacted, last - 3);
  ASSERT_EQ(w.events.size(), 4u) << "what was queued before it fell behind went out first";
  ExpectContiguous(w, 2, 5);
  EXPECT_EQ(w.responses.back().watch_id, 0);
  EXPECT_TRUE(w.responses.back().canceled);
}

TEST(Watch, SlowConsumer_memoryStaysBoundedAndNothingIsLost) {
  Cluster c(1);
  ASSERT_TRUE(c.StartWith(SmallQueues(c, "n1")).ok());
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  Watch slow(s, Prefix("m/"));
  slow.Poll();
  Watch fast(s, Prefix("m/"));
  fast.Poll();
  const std::string value(4096, 'x');
  int64_t first = 0, last = 0;
  for (int i = 0; i < 300; ++i) {
    last = PutRev(s, "m/" + std::to_string(i % 7), value + std::to_string(i));
    if (first == 0) first = last;
    fast.Poll();
    // The queue of the watcher nobody reads never holds more than its bound.
    ASSERT_LE(s->WatchHub().queued_bytes(), size_t{64 << 10} + value.size() + 16) << i;
  }
  EXPECT_EQ(s->WatchHub().unsynced_count(), 1u);
  ASSERT_TRUE(slow.WaitEvents(300));
  ExpectContiguous(slow, first, last);
  ExpectContiguous(fast, first, last);
  EXPECT_EQ(slow.events, fast.events);
  EXPECT_EQ(s->WatchHub().unsynced_count(), 0u);
}

}  // namespace
}  // namespace raftkv::server
