// The write path's batching: the wait registry's batch completion, many proposals in one
// raft append, answers delivered in log order, none lost or doubled when the server stops
// in the middle of a batch, serializable ranges served off the apply thread, and linearizable
// reads sharing ReadIndex rounds.
#include <atomic>
#include <thread>

#include "api/errors.h"
#include "server/test_util.h"
#include "server/wait.h"

namespace raftkv::server {
namespace {

using testing::Cluster;
using testing::Put;
using testing::Value;
using testing::WaitFor;

TEST(WaitRegistryBatch, CompletesInOrderOnceAndSkipsUnknownIds) {
  WaitRegistry reg;
  std::vector<uint64_t> order;
  std::vector<std::string> values;
  auto deadline = WaitRegistry::Clock::now() + std::chrono::seconds(10);
  for (uint64_t id : {3, 1, 2}) {
    ASSERT_TRUE(reg.Register(id, deadline, [&, id](ApplyResult r) {
      order.push_back(id);
      values.push_back(r.ok() ? *r : r.status().ToString());
    }));
  }
  std::vector<std::pair<uint64_t, ApplyResult>> batch;
  batch.emplace_back(2, std::string("two"));
  batch.emplace_back(99, std::string("nobody waits"));
  batch.emplace_back(3, Status::Unavailable("three failed"));
  batch.emplace_back(1, std::string("one"));
  EXPECT_EQ(reg.CompleteBatch(std::move(batch)), 3u);
  EXPECT_EQ(order, (std::vector<uint64_t>{2, 3, 1}));
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[0], "two");
  EXPECT_NE(values[1].find("three failed"), std::string::npos);
  EXPECT_EQ(values[2], "one");
  EXPECT_EQ(reg.size(), 0u);
  // Completed calls are gone: a second delivery reaches nobody.
  std::vector<std::pair<uint64_t, ApplyResult>> again;
  again.emplace_back(1, std::string("late"));
  EXPECT_EQ(reg.CompleteBatch(std::move(again)), 0u);
  EXPECT_EQ(order.size(), 3u);
}

TEST(WaitRegistryBatch, CallbackMayRegisterAgain) {
  WaitRegistry reg;
  auto deadline = WaitRegistry::Clock::now() + std::chrono::seconds(10);
  bool second_done = false;
  ASSERT_TRUE(reg.Register(1, deadline, [&](ApplyResult) {
    // Runs outside the registry's lock: registering from a callback must not deadlock.
    EXPECT_TRUE(reg.Register(2, deadline, [&](ApplyResult) { second_done = true; }));
  }));
  std::vector<std::pair<uint64_t, ApplyResult>> batch;
  batch.emplace_back(1, std::string("x"));
  EXPECT_EQ(reg.CompleteBatch(std::move(batch)), 1u);
  EXPECT_EQ(reg.size(), 1u);
  EXPECT_TRUE(reg.Complete(2, std::string("y")));
  EXPECT_TRUE(second_done);
}

// Close racing with batch completions: every call completes exactly once, either with its
// result or with the close error.
TEST(WaitRegistryBatch, RaceWithCloseCompletesEachCallOnce) {
  constexpr int kCalls = 5000;
  WaitRegistry reg;
  std::vector<std::atomic<int>> done(kCalls);
  std::atomic<int> with_result{0}, with_error{0};
  auto deadline = WaitRegistry::Clock::now() + std::chrono::seconds(30);
  for (int i = 0; i < kCalls; i++) {
    ASSERT_TRUE(reg.Register(i, deadline, [&, i](ApplyResult r) {
      done[i]++;
      (r.ok() ? with_result : with_error)++;
    }));
  }
  std::thread completer([&] {
    for (int i = 0; i < kCalls; i += 50) {
      std::vector<std::pair<uint64_t, ApplyResult>> batch;
      for (int j = i; j < i + 50; j++) batch.emplace_back(j, std::string("ok"));
      reg.CompleteBatch(std::move(batch));
    }
  });
  reg.Close(Status::Unavailable(api::kErrStopped));
  completer.join();
  for (int i = 0; i < kCalls; i++) EXPECT_EQ(done[i].load(), 1) << i;
  EXPECT_EQ(with_result.load() + with_error.load(), kCalls);
  // Closed: a later registration fails at once.
  bool refused = false;
  EXPECT_FALSE(reg.Register(kCalls, deadline, [&](ApplyResult r) { refused = !r.ok(); }));
  EXPECT_TRUE(refused);
}

// Many puts in flight at once are proposed in batches; each gets its own revision, the
// answers agree with the store, and every member applies the same.
TEST(Batching, ConcurrentPutsGetDistinctRevisionsInLogOrder) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  constexpr int kThreads = 8, kPerThread = 40;
  std::mutex mu;
  std::map<int64_t, std::string> by_revision;  // revision -> key written at it
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        std::string key = "k" + std::to_string(t) + "-" + std::to_string(i);
        auto p = Put(s, key, "v" + std::to_string(i));
        if (!p.ok()) {
          failed++;
          continue;
        }
        std::lock_guard<std::mutex> l(mu);
        EXPECT_TRUE(by_revision.emplace(p->header().revision(), key).second)
            << "two puts answered with revision " << p->header().revision();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  ASSERT_EQ(by_revision.size(), static_cast<size_t>(kThreads * kPerThread));
  // Revisions 2..N+1, no gaps: each put applied once, in one order.
  EXPECT_EQ(by_revision.begin()->first, 2);
  EXPECT_EQ(by_revision.rbegin()->first, kThreads * kPerThread + 1);
  // The key answered with revision r was written at r on every member.
  for (const auto& name : c.Running()) {
    EtcdServer* m = c.at(name);
    ASSERT_TRUE(
        WaitFor([&] { return m->GetStats().applied_index >= s->GetStats().applied_index; }));
    for (int64_t rev : {int64_t{2}, by_revision.rbegin()->first}) {
      etcdserverpb::RangeRequest rr;
      rr.set_key(by_revision[rev]);
      rr.set_serializable(true);
      auto r = testing::Sync<etcdserverpb::RangeResponse>([&](auto d) { m->Range(rr, d); });
      ASSERT_TRUE(r.ok()) << name;
      ASSERT_EQ(r->kvs_size(), 1) << name;
      EXPECT_EQ(r->kvs(0).mod_revision(), rev) << name;
    }
  }
}

// Stopping the server while many puts are in flight: every call is answered exactly once
// (applied ones with their result, the rest with "server stopped"), and every put answered
// OK is in the store after a restart (acknowledged means durable).
TEST(Batching, StopMidBatchAnswersEveryCallOnce) {
  Cluster c(1);
  c.StartAll();
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  constexpr int kCalls = 400;
  std::vector<std::atomic<int>> answers(kCalls);
  std::vector<std::atomic<bool>> acked(kCalls);
  std::atomic<int> n_answered_ok{0};
  std::thread stopper;
  for (int i = 0; i < kCalls; i++) {
    etcdserverpb::PutRequest req;
    req.set_key("stop-" + std::to_string(i));
    req.set_value("v");
    s->Put(req, {}, [&, i](Result<etcdserverpb::PutResponse> r) {
      answers[i]++;
      if (r.ok()) {
        acked[i] = true;
        n_answered_ok++;
      }
    });
    if (i == kCalls / 2) {
      // Some of the first half applied, then Stop races with the second half.
      ASSERT_TRUE(WaitFor([&] { return n_answered_ok.load() > 0; }));
      stopper = std::thread([s] { s->Stop(); });
    }
  }
  ASSERT_TRUE(WaitFor([&] {
    for (auto& a : answers) {
      if (a.load() == 0) return false;
    }
    return true;
  }));
  stopper.join();
  c.Stop("n1");
  for (int i = 0; i < kCalls; i++) EXPECT_EQ(answers[i].load(), 1) << i;
  ASSERT_TRUE(c.Start("n1").ok());
  s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  int n_acked = 0;
  for (int i = 0; i < kCalls; i++) {
    if (!acked[i]) continue;
    n_acked++;
    EXPECT_EQ(Value(s, "stop-" + std::to_string(i)), "v") << i;
  }
  EXPECT_GT(n_acked, 0);
}

// Serializable ranges run on the caller's thread against the published store while the
// apply thread writes: each read sees a whole put (never a torn or going-back value).
TEST(Batching, SerializableReadsWhileWriting) {
  Cluster c(1);
  c.StartAll();
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(Put(s, "counter", "0").ok());
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; t++) {
    readers.emplace_back([&] {
      int64_t last_rev = 0;
      while (!stop.load()) {
        auto r = testing::Get(s, "counter", /*serializable=*/true);
        if (!r.ok() || r->kvs_size() != 1) {
          bad++;
          continue;
        }
        // The value is the put's number; the key's mod revision never goes back.
        if (r->kvs(0).mod_revision() < last_rev ||
            std::to_string(r->kvs(0).version() - 1) != r->kvs(0).value()) {
          bad++;
        }
        last_rev = r->kvs(0).mod_revision();
        reads++;
      }
    });
  }
  for (int i = 1; i <= 200; i++) ASSERT_TRUE(Put(s, "counter", std::to_string(i)).ok());
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(Value(s, "counter", /*serializable=*/true), "200");
}

// A burst of linearizable reads shares ReadIndex rounds (reads that arrive while a round is
// in flight wait for the next one), every read is answered exactly once, and each sees the
// put acknowledged before it was issued.
TEST(Batching, LinearizableReadsShareRoundsAndSeeEarlierWrites) {
  Cluster c(3);
  c.StartAll();
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(Put(s, "r", "before").ok());
  const ServerStats before = s->GetStats();
  constexpr int kReads = 200;
  std::vector<std::atomic<int>> answers(kReads);
  std::atomic<int> wrong{0};
  etcdserverpb::RangeRequest rr;
  rr.set_key("r");
  for (int i = 0; i < kReads; i++) {
    s->Range(rr, [&, i](Result<etcdserverpb::RangeResponse> r) {
      if (!r.ok() || r->kvs_size() != 1 || r->kvs(0).value() != "before") wrong++;
      answers[i]++;
    });
  }
  ASSERT_TRUE(WaitFor([&] {
    for (auto& a : answers) {
      if (a.load() == 0) return false;
    }
    return true;
  }));
  for (int i = 0; i < kReads; i++) EXPECT_EQ(answers[i].load(), 1) << i;
  EXPECT_EQ(wrong.load(), 0);
  const ServerStats after = s->GetStats();
  const uint64_t rounds = after.read_index_rounds - before.read_index_rounds;
  EXPECT_EQ(after.read_index_reads - before.read_index_reads, uint64_t{kReads});
  EXPECT_GE(rounds, 1u);
  EXPECT_LE(rounds * 2, uint64_t{kReads}) << "reads of a burst should share rounds";
  // A read issued after a put was acknowledged sees it.
  ASSERT_TRUE(Put(s, "r", "after").ok());
  EXPECT_EQ(Value(s, "r"), "after");
}

}  // namespace
}  // namespace raftkv::server
