// The watch hub against real MVCC stores, without a server: the test plays the apply thread
// (writes, then Publish / Reset) and the stream's sender (Next until idle).
#include "watch/hub.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "kv/test_util.h"

namespace raftkv::watch {
namespace {

using namespace raftkv::kv::testing;
using kv::Store;

const std::string kFromKey(1, '\0');

WatchSpec Key(const std::string& k, int64_t start = 0) {
  WatchSpec s;
  s.keys = kv::KeyRange{k, ""};
  s.start_revision = start;
  return s;
}

WatchSpec Prefix(const std::string& p, int64_t start = 0) {
  WatchSpec s;
  std::string end = p;
  end.back()++;
  s.keys = kv::KeyRange{p, end};
  s.start_revision = start;
  return s;
}

// One line per response: "<id> created rev=R", "<id> canceled rev=R [compact=C] [why]",
// "<id> rev=R: P k=v@r, D k@r", "progress rev=R".
std::string Line(const Response& r) {
  std::string s = std::to_string(r.watch_id);
  if (r.created) s += " created";
  if (r.canceled) s += " canceled";
  if (r.watch_id == kInvalidWatchId && !r.created) s = "progress";
  s += " rev=" + std::to_string(r.revision);
  if (r.compact_revision != 0) s += " compact=" + std::to_string(r.compact_revision);
  if (!r.cancel_reason.empty()) s += " (" + r.cancel_reason + ")";
  for (size_t i = 0; i < r.events.size(); ++i) {
    const kv::Event& e = r.events[i];
    s += i == 0 ? ": " : ", ";
    if (e.type == kv::Event::Type::kPut) {
      s += "P " + e.kv->key + "=" + e.kv->value + "@" + std::to_string(e.revision());
    } else {
      s += "D " + e.kv->key + "@" + std::to_string(e.revision());
    }
    if (r.prev_kv && e.prev) s += " prev=" + e.prev->value;
  }
  return s;
}

// Sends everything the stream has (Next until idle).
std::vector<std::string> Drain(Stream& s) {
  std::vector<std::string> out;
  for (int guard = 0; guard < 100000; ++guard) {
    Response r;
    Stream::Step step = s.Next(&r);
    if (step == Stream::Step::kIdle) return out;
    if (step == Stream::Step::kSend) out.push_back(Line(r));
  }
  ADD_FAILURE() << "the stream never went idle";
  return out;
}

using Lines = std::vector<std::string>;

class HubTest : public ::testing::Test {
 protected:
  explicit HubTest(HubOptions o = HubOptions())
      : store_(std::make_shared<Store>()), hub_(store_, o) {}

  // The apply thread: write, then publish.
  int64_t Put(const std::string& k, const std::string& v) {
    int64_t rev = MustPut(*store_, k, v).header.revision;
    hub_.Publish(rev);
    return rev;
  }
  int64_t Delete(const std::string& k, const std::string& end = "") {
    int64_t rev = MustDelete(*store_, k, end).header.revision;
    hub_.Publish(rev);
    return rev;
  }
  std::shared_ptr<Stream> Open() {
    return hub_.OpenStream([this] { ++wakes_; });
  }

  std::shared_ptr<Store> store_;
  Hub hub_;
  int wakes_ = 0;
};

TEST_F(HubTest, Create_createdComesFirstThenLiveEvents) {
  Put("a", "0");  // rev 2, before the watch: not sent
  auto s = Open();
  s->Create(kAutoWatchId, Key("a"));
  Put("a", "1");  // 3
  Put("b", "x");  // 4: another key
  Put("a", "2");  // 5
  EXPECT_EQ(Drain(*s), (Lines{"0 created rev=2", "0 rev=5: P a=1@3, P a=2@5"}));
  Put("a", "3");
  EXPECT_EQ(Drain(*s), (Lines{"0 rev=6: P a=3@6"}));
}

TEST_F(HubTest, Create_idsAreChosenAsEtcdDoes) {
  auto s = Open();
  s->Create(kAutoWatchId, Key("a"));                           // 0
  s->Create(2, Key("a"));                                      // the client's 2
  s->Create(kAutoWatchId, Key("a"));                           // 1
  s->Create(kAutoWatchId, Key("a"));                           // 3: 2 is taken
  s->Create(2, Key("b"));                                      // duplicate
  s->Create(kAutoWatchId, WatchSpec{kv::KeyRange{"b", "a"}});  // key >= range_end
  EXPECT_EQ(Drain(*s),
            (Lines{"0 created rev=1", "2 created rev=1", "1 created rev=1", "3 created rev=1",
                   std::string("-1 created canceled rev=1 (") + kErrWatcherDuplicateID + ")",
                   std::string("-1 created canceled rev=1 (") + kErrEmptyWatcherRange + ")"}));
  EXPECT_EQ(s->watcher_count(), 4u);
}

TEST_F(HubTest, ControlBacklog_countsUnsentAnswersAndItsPeak) {
  auto s = Open();
  EXPECT_EQ(s->Create(1, Key("a")), 1u);
  EXPECT_EQ(s->Refuse("no"), 2u);
  EXPECT_EQ(s->Cancel(1), 3u);
  EXPECT_EQ(s->Cancel(42), 3u);  // unknown: nothing queued
  EXPECT_EQ(s->RequestProgress(), 4u);
  EXPECT_EQ(s->control_backlog(), 4u);
  Response r;
  ASSERT_EQ(s->Next(&r), Stream::Step::kSend);
  EXPECT_EQ(s->control_backlog(), 3u);
  EXPECT_EQ(Drain(*s).size(), 3u);
  EXPECT_EQ(s->control_backlog(), 0u);
  EXPECT_EQ(s->Create(2, Key("a")), 1u);
  EXPECT_EQ(hub_.control_backlog_peak(), 4u);
}

class FewWatchersTest : public HubTest {
 protected:
  static HubOptions Few() {
    HubOptions o;
    o.max_watchers_per_stream = 2;
    return o;
  }
  FewWatchersTest() : HubTest(Few()) {}
};

TEST_F(FewWatchersTest, Create_beyondTheStreamLimitIsRefusedWithAReason) {
  auto s = Open();
  s->Create(kAutoWatchId, Key("a"));  // 0
  s->Create(kAutoWatchId, Key("b"));  // 1
  s->Create(kAutoWatchId, Key("c"));  // refused: the stream holds 2
  const std::string refused = "-1 created canceled rev=1 (" + TooManyWatchersReason(2) + ")";
  EXPECT_EQ(Drain(*s), (Lines{"0 created rev=1", "1 created rev=1", refused}));
  EXPECT_EQ(s->watcher_count(), 2u);
  // Another stream has its own allowance; a cancel makes room on this one.
  auto other = Open();
  other->Create(kAutoWatchId, Key("c"));
  EXPECT_EQ(Drain(*other), (Lines{"0 created rev=1"}));
  s->Cancel(0);
  s->Create(kAutoWatchId, Key("c"));
  EXPECT_EQ(Drain(*s), (Lines{"0 canceled rev=1", "2 created rev=1"}));
  Put("c", "1");
  EXPECT_EQ(Drain(*s), (Lines{"2 rev=2: P c=1@2"}));
  EXPECT_EQ(hub_.watcher_count(), 3u);
}

TEST_F(HubTest, Publish_aTxnArrivesWholeInOneResponse_forRangesAndFromKey) {
  auto s = Open();
  s->Create(kAutoWatchId, Prefix("k/"));
  s->Create(kAutoWatchId, WatchSpec{kv::KeyRange{"k/b", kFromKey}});
  Drain(*s);
  kv::TxnRequest t;
  t.success = {PutOp("k/a", "1"), PutOp("k/b", "2"), PutOp("x", "3"), PutOp("k/c", "4")};
  ASSERT_TRUE(store_->Txn(t).ok());
  hub_.Publish(store_->revision());
  EXPECT_EQ(Drain(*s), (Lines{"0 rev=2: P k/a=1@2, P k/b=2@2, P k/c=4@2",
                              "1 rev=2: P k/b=2@2, P x=3@2, P k/c=4@2"}));
}

// A revision's events are read once and shared: every watcher that takes all of them gets
// the same list (no copy per watcher); one that takes part of a txn (other keys, a filter)
// gets exactly its part, and prev_kv differs per watcher over the same shared events.
TEST_F(HubTest, Publish_watchersTakingAllOfARevisionShareOneList_partialSharesAreTheirOwn) {
  Put("k/b", "old");  // 2
  auto s = Open();
  WatchSpec with_prev = Prefix("k/");
  with_prev.prev_kv = true;
  s->Create(kAutoWatchId, Prefix("k/"));                              // 0: all
  s->Create(kAutoWatchId, with_prev);                                 // 1: all
  s->Create(kAutoWatchId, Key("k/b"));                                // 2: one
  s->Create(kAutoWatchId, WatchSpec{kv::KeyRange{"k/b", kFromKey}});  // 3: all
  WatchSpec no_delete = Prefix("k/");
  no_delete.no_delete = true;
  s->Create(kAutoWatchId, no_delete);  // 4: the puts
  Drain(*s);
  kv::TxnRequest t;
  t.success = {PutOp("k/c", "1"), DeleteOp("k/b"), PutOp("k/d", "2")};
  ASSERT_TRUE(store_->Txn(t).ok());
  hub_.Publish(store_->revision());  // 3
  std::map<int64_t, Response> got;
  for (Response r; s->Next(&r) == Stream::Step::kSend; r = Response()) {
    got[r.watch_id] = std::move(r);
  }
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(Line(got[0]), "0 rev=3: P k/c=1@3, D k/b@3, P k/d=2@3");
  EXPECT_EQ(Line(got[1]), "1 rev=3: P k/c=1@3, D k/b@3 prev=old, P k/d=2@3");
  EXPECT_EQ(Line(got[2]), "2 rev=3: D k/b@3");
  EXPECT_EQ(Line(got[3]), "3 rev=3: P k/c=1@3, D k/b@3, P k/d=2@3");
  EXPECT_EQ(Line(got[4]), "4 rev=3: P k/c=1@3, P k/d=2@3");
  const auto shared = got[0].events.part(0);
  EXPECT_EQ(got[1].events.part(0), shared);
  EXPECT_EQ(got[3].events.part(0), shared);
  EXPECT_NE(got[2].events.part(0), shared);
  EXPECT_NE(got[4].events.part(0), shared);
}

// Several queued revisions leave in one response: every event in revision order, each
// revision whole, the header at the last revision; the pieces are the revisions' shared lists.
TEST_F(HubTest, Next_queuedRevisionsCoalesceInOrder_headerAtTheLast) {
  auto s = Open();
  s->Create(kAutoWatchId, Prefix("k/"));
  s->Create(kAutoWatchId, Prefix("k/"));
  Drain(*s);
  Put("k/a", "1");  // 2
  kv::TxnRequest t;
  t.success = {PutOp("k/b", "2"), PutOp("k/c", "3")};
  ASSERT_TRUE(store_->Txn(t).ok());
  hub_.Publish(store_->revision());  // 3
  Delete("k/a");                     // 4
  Response first, second;
  ASSERT_EQ(s->Next(&first), Stream::Step::kSend);
  ASSERT_EQ(s->Next(&second), Stream::Step::kSend);
  EXPECT_EQ(Line(first), "0 rev=4: P k/a=1@2, P k/b=2@3, P k/c=3@3, D k/a@4");
  EXPECT_EQ(Line(second), "1 rev=4: P k/a=1@2, P k/b=2@3, P k/c=3@3, D k/a@4");
  ASSERT_EQ(first.events.part_count(), 3u);  // one piece per revision
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(first.events.part(i), second.events.part(i)) << "revision piece " << i;
  }
  EXPECT_EQ(Drain(*s), Lines{});
}

TEST(EventList, IteratesPiecesInOrder_dropsEmptyOnes) {
  auto event = [](const std::string& key, int64_t rev) {
    auto r = std::make_shared<kv::Record>();
    r->key = key;
    r->rev.main = rev;
    kv::Event e;
    e.kv = r;
    return e;
  };
  EventList l;
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.begin(), l.end());
  l.Append(
      std::make_shared<const EventPiece>(std::vector<kv::Event>{event("a", 2), event("b", 2)}));
  l.Append(std::make_shared<const EventPiece>(std::vector<kv::Event>{}));
  l.Append(nullptr);
  l.Append(std::make_shared<const EventPiece>(std::vector<kv::Event>{event("c", 3)}));
  EXPECT_EQ(l.size(), 3u);
  EXPECT_EQ(l.part_count(), 2u);
  std::string keys;
  for (const kv::Event& e : l) keys += e.kv->key;
  EXPECT_EQ(keys, "abc");
  EXPECT_EQ(l[2].kv->key, "c");
  EXPECT_EQ(l[1].revision(), 2);
  EXPECT_EQ(EventList({event("x", 5)}).size(), 1u);
}

// The wire memo of a shared piece: many senders ask at once, the bytes are computed once.
TEST(OnceBytesTest, Get_manyThreadsFillOnceAndSeeTheSameBytes) {
  OnceBytes once;
  std::atomic<int> fills{0};
  std::vector<std::thread> threads;
  std::vector<const std::string*> got(8);
  for (size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&, i] {
      got[i] = &once.Get([&](std::string* out) {
        fills.fetch_add(1);
        *out = "encoded";
      });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fills.load(), 1);
  for (const std::string* g : got) {
    EXPECT_EQ(g, got[0]);
    EXPECT_EQ(*g, "encoded");
  }
}

TEST_F(HubTest, Filters_andPrevKv) {
  Put("a", "old");
  auto s = Open();
  WatchSpec no_put = Key("a");
  no_put.no_put = true;
  no_put.prev_kv = true;
  WatchSpec no_delete = Key("a");
  no_delete.no_delete = true;
  s->Create(kAutoWatchId, no_put);
  s->Create(kAutoWatchId, no_delete);
  Drain(*s);
  Put("a", "new");  // 3
  Delete("a");      // 4
  EXPECT_EQ(Drain(*s), (Lines{"1 rev=3: P a=new@3", "0 rev=4: D a@4 prev=new"}));
}

TEST_F(HubTest, StartRevision_replaysHistoryThenGoesLive) {
  Put("a", "1");  // 2
  Put("a", "2");  // 3
  Delete("a");    // 4
  auto s = Open();
  WatchSpec spec = Key("a", 2);
  spec.prev_kv = true;
  s->Create(kAutoWatchId, spec);
  EXPECT_EQ(hub_.unsynced_count(), 1u);
  EXPECT_EQ(Drain(*s),
            (Lines{"0 created rev=4", "0 rev=4: P a=1@2, P a=2@3 prev=1, D a@4 prev=2"}));
  EXPECT_EQ(hub_.unsynced_count(), 0u);
  Put("a", "3");
  EXPECT_EQ(Drain(*s), (Lines{"0 rev=5: P a=3@5"}));
}

TEST_F(HubTest, StartRevision_inTheFutureWaitsForIt) {
  auto s = Open();
  s->Create(kAutoWatchId, Key("a", 4));
  Put("a", "1");  // 2
  Put("a", "2");  // 3
  EXPECT_EQ(Drain(*s), (Lines{"0 created rev=1"}));
  Put("a", "3");  // 4
  EXPECT_EQ(Drain(*s), (Lines{"0 rev=4: P a=3@4"}));
}

TEST_F(HubTest, StartRevision_belowCompaction_cancelledWithCompactRevision_idStaysTaken) {
  for (int i = 0; i < 4; ++i) Put("a", std::to_string(i));  // 2..5
  ASSERT_TRUE(store_->Compact(kv::CompactionRequest{4}).ok());
  auto s = Open();
  s->Create(7, Key("a", 3));
  s->Create(8, Key("a", 4));  // at the compaction revision: served, as etcd
  EXPECT_EQ(Drain(*s), (Lines{"7 created rev=5", "8 created rev=5", "7 canceled rev=0 compact=4",
                              "8 rev=5: P a=2@4, P a=3@5"}));
  // As in etcd, the cancelled id stays taken until the client cancels it.
  s->Create(7, Key("a"));
  s->Cancel(7);
  s->Create(7, Key("a"));
  EXPECT_EQ(Drain(*s),
            (Lines{std::string("-1 created canceled rev=5 (") + kErrWatcherDuplicateID + ")",
                   "7 canceled rev=5", "7 created rev=5"}));
}

TEST_F(HubTest, Cancel_dropsWhatWasPendingAndAnswersCanceled_unknownIdsIgnored) {
  auto s = Open();
  s->Create(kAutoWatchId, Key("a"));
  s->Create(kAutoWatchId, Key("a"));
  Drain(*s);
  Put("a", "1");
  s->Cancel(0);
  s->Cancel(42);
  EXPECT_EQ(Drain(*s), (Lines{"0 canceled rev=2", "1 rev=2: P a=1@2"}));
  Put("a", "2");
  EXPECT_EQ(Drain(*s), (Lines{"1 rev=3: P a=2@3"}));
  EXPECT_EQ(hub_.watcher_count(), 1u);
  s->Close();
  EXPECT_EQ(hub_.watcher_count(), 0u);
}

// Watchers cancelled while waiting in the stream's turn (many: the turn is compacted at once,
// without the stream going idle first), some with events queued: the others are sent every
// event in order, the cancelled ones nothing after their `canceled`.
TEST_F(HubTest, Cancel_manyWhileInTurn_othersGetEverythingCancelledNothing) {
  auto s = Open();
  for (int i = 0; i < 200; ++i) s->Create(kAutoWatchId, Key("a"));
  Drain(*s);
  Put("a", "1");  // 2: all 200 in turn
  Response first;
  ASSERT_EQ(s->Next(&first), Stream::Step::kSend);  // watcher 0 sent; 199 wait in turn
  EXPECT_EQ(Line(first), "0 rev=2: P a=1@2");
  for (int i = 1; i < 200; i += 4) s->Cancel(i);  // 50 while in turn with events queued
  for (int i = 2; i < 200; i += 4) s->Cancel(i);  // 50 more: past half of the turn
  Put("a", "2");                                  // 3
  std::map<int64_t, std::string> got;
  for (const std::string& line : Drain(*s)) {
    int64_t id = std::stoll(line.substr(0, line.find(' ')));
    got[id] += line.substr(line.find(' ') + 1) + "|";
  }
  for (int64_t id = 0; id < 200; ++id) {
    SCOPED_TRACE(id);
    if (id % 4 == 1 || id % 4 == 2) {
      EXPECT_EQ(got[id], "canceled rev=2|");
    } else if (id == 0) {
      EXPECT_EQ(got[id], "rev=3: P a=2@3|");
    } else {
      EXPECT_EQ(got[id], "rev=3: P a=1@2, P a=2@3|");
    }
  }
  EXPECT_EQ(hub_.watcher_count(), 100u);
  s->Close();
}

TEST_F(HubTest, Wake_onlyWhenAnIdleStreamGetsSomething) {
  auto s = Open();
  s->Create(kAutoWatchId, Key("a"));
  s->Create(kAutoWatchId, Key("b"));
  EXPECT_EQ(wakes_, 1);  // a new stream is idle: its first response wakes it, once
  Drain(*s);
  Put("c", "1");
  EXPECT_EQ(wakes_, 1);  // nothing for this stream
  Put("a", "1");
  Put("a", "2");
  EXPECT_EQ(wakes_, 2);  // once, until the sender comes back
  Drain(*s);
  Put("a", "3");
  EXPECT_EQ(wakes_, 3);
}

TEST_F(HubTest, NextBatch_takesSeveralResponsesInOrderAndStopsAtTheBound) {
  auto s = Open();
  for (int i = 0; i < 3; ++i) s->Create(kAutoWatchId, Key("a"));
  std::vector<Response> out;
  EXPECT_EQ(s->NextBatch(&out, 2), Stream::Step::kSend);
  EXPECT_EQ(out.size(), 2u);
  EXPECT_EQ(s->NextBatch(&out, 10), Stream::Step::kSend);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(Line(out[2]), "2 created rev=1");
  EXPECT_EQ(s->NextBatch(&out, 10), Stream::Step::kIdle);
  Put("a", "1");
  EXPECT_EQ(s->NextBatch(&out, 10), Stream::Step::kSend);
  EXPECT_EQ(out.size(), 6u);
}

TEST_F(HubTest, ProgressNotify_onlyForQuietSyncedWatchersThatAsked) {
  auto s = Open();
  WatchSpec quiet = Key("q");
  quiet.progress_notify = true;
  WatchSpec busy = Key("b");
  busy.progress_notify = true;
  s->Create(kAutoWatchId, quiet);
  s->Create(kAutoWatchId, busy);
  s->Create(kAutoWatchId, Key("q"));  // did not ask
  Drain(*s);
  Put("b", "1");  // 2
  Drain(*s);
  hub_.NotifyProgress();
  EXPECT_EQ(Drain(*s), (Lines{"0 rev=2"}));
  hub_.NotifyProgress();  // now both were quiet
  EXPECT_EQ(Drain(*s), (Lines{"0 rev=2", "1 rev=2"}));
}

TEST_F(HubTest, RequestProgress_answersOnceEveryWatcherHasBeenSentThatRevision) {
  for (int i = 0; i < 5; ++i) Put("a", std::to_string(i));  // 2..6
  auto s = Open();
  s->Create(kAutoWatchId, Key("a", 2));  // must replay 2..6 first
  s->RequestProgress();
  EXPECT_EQ(Drain(*s), (Lines{"0 created rev=6",
                              "0 rev=6: P a=0@2, P a=1@3, P a=2@4, "
                              "P a=3@5, P a=4@6",
                              "progress rev=6"}));
  s->RequestProgress();
  EXPECT_EQ(Drain(*s), (Lines{"progress rev=6"}));
}

class SmallQueueTest : public HubTest {
 protected:
  static HubOptions Small() {
    HubOptions o;
    o.max_queued_revisions = 3;
    o.read_budget.max_scanned = 2;
    return o;
  }
  SmallQueueTest() : HubTest(Small()) {}
};

TEST_F(SmallQueueTest, SlowConsumer_fallsBehindWithABoundedQueueAndCatchesUpInOrder) {
  auto s = Open();
  s->Create(kAutoWatchId, Prefix("k"));
  Drain(*s);
  // 10 revisions while the consumer sends nothing: the queue stops at 3, the rest is read
  // from history afterwards; nothing is lost, duplicated or reordered.
  for (int i = 0; i < 10; ++i) Put("k" + std::to_string(i % 2), std::to_string(i));
  EXPECT_EQ(hub_.unsynced_count(), 1u);
  std::vector<int64_t> revs;
  for (const std::string& line : Drain(*s)) {
    for (size_t at = line.find('@'); at != std::string::npos; at = line.find('@', at + 1)) {
      revs.push_back(std::stoll(line.substr(at + 1)));
    }
  }
  std::vector<int64_t> want;
  for (int64_t r = 2; r <= 11; ++r) want.push_back(r);
  EXPECT_EQ(revs, want);
  EXPECT_EQ(hub_.unsynced_count(), 0u);  // synced again
  Put("k1", "live");
  EXPECT_EQ(Drain(*s), (Lines{"0 rev=12: P k1=live@12"}));
}

TEST_F(SmallQueueTest, SlowConsumer_historyCompactedMeanwhile_cancelledWithCompactRevision) {
  auto s = Open();
  s->Create(kAutoWatchId, Key("k"));
  Drain(*s);
  for (int i = 0; i < 6; ++i) Put("k", std::to_string(i));  // 2..7; queue holds 2..4
  ASSERT_TRUE(store_->Compact(kv::CompactionRequest{6}).ok());
  EXPECT_EQ(Drain(*s), (Lines{"0 rev=4: P k=0@2, P k=1@3, P k=2@4", "0 canceled rev=0 compact=6"}));
  Put("k", "after");
  EXPECT_EQ(Drain(*s), Lines{});
}

TEST_F(HubTest, Reset_afterASnapshotInstall_watchersContinueFromTheNewStore) {
  auto s = Open();
  WatchSpec spec = Key("a");
  spec.prev_kv = true;
  s->Create(kAutoWatchId, spec);
  Put("a", "1");  // 2: sent before the install
  Drain(*s);
  // The leader applied 3..5 meanwhile; this member installs its snapshot.
  Store leader;
  MustPut(leader, "a", "1");
  MustPut(leader, "a", "2");
  MustPut(leader, "b", "x");
  MustDelete(leader, "a");
  auto installed = Store::Restore(leader.Snapshot()->Serialize());
  ASSERT_TRUE(installed.ok());
  hub_.Reset(std::shared_ptr<Store>(std::move(installed).value()));
  EXPECT_EQ(hub_.published(), 5);
  EXPECT_EQ(Drain(*s), (Lines{"0 rev=5: P a=2@3 prev=1, D a@5 prev=2"}));
}

TEST_F(HubTest, Reset_newStoreCompactedPastTheWatcher_cancelled) {
  auto s = Open();
  s->Create(kAutoWatchId, Key("a"));
  Drain(*s);
  Store leader;
  for (int i = 0; i < 4; ++i) MustPut(leader, "a", std::to_string(i));  // 2..5
  ASSERT_TRUE(leader.Compact(kv::CompactionRequest{4}).ok());
  auto installed = Store::Restore(leader.Snapshot()->Serialize());
  ASSERT_TRUE(installed.ok());
  hub_.Reset(std::shared_ptr<Store>(std::move(installed).value()));
  EXPECT_EQ(Drain(*s), (Lines{"0 canceled rev=0 compact=4"}));
}

std::string EventLine(const kv::Event& e) {
  Response r;
  r.events = {e};
  return Line(r);
}

// A model check: random writes, compactions, and consumers that send only now and then.
// Every watcher's output must be exactly the history of its keys from its start revision
// (recorded as it was written), each revision once and in order; a watcher cancelled for
// compaction must have got a prefix of it.
TEST(HubModel, RandomWorkload_everyWatcherSeesExactlyItsHistory) {
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    std::mt19937 rng(seed);
    auto store = std::make_shared<Store>();
    HubOptions o;
    o.max_queued_revisions = 1 + rng() % 4;
    o.read_budget.max_scanned = 1 + rng() % 5;
    o.max_response_bytes = 1 + rng() % 40;
    Hub hub(store, o);
    std::vector<kv::Event> history;  // every event, read right after its write
    struct W {
      std::shared_ptr<Stream> stream;
      WatchSpec spec;
      std::vector<std::string> got;
      int64_t compacted = 0;
      bool created = false;
    };
    std::vector<W> ws;
    auto keyOf = [&] { return std::string(1, "abcd"[rng() % 4]); };
    auto take = [&](W& w, const Response& r) {
      if (r.created) {
        ASSERT_FALSE(w.created);
        w.created = true;
        if (w.spec.start_revision == 0) w.spec.start_revision = r.revision + 1;
        return;
      }
      ASSERT_TRUE(w.created) << "created comes first";
      if (r.compact_revision != 0) w.compacted = r.compact_revision;
      for (const auto& e : r.events) w.got.push_back(EventLine(e));
    };
    for (int step = 0; step < 300; ++step) {
      int what = rng() % 10;
      int64_t before = store->revision();
      if (what < 5) {
        MustPut(*store, keyOf(), std::to_string(step));
      } else if (what == 5) {
        MustDelete(*store, keyOf());
      } else if (what == 6 && ws.size() < 6) {
        W w;
        w.stream = hub.OpenStream([] {});
        w.spec = rng() % 2 ? Key(keyOf()) : WatchSpec{kv::KeyRange{"b", kFromKey}};
        w.spec.start_revision = rng() % 2 ? 0 : 1 + rng() % store->revision();
        w.spec.no_delete = rng() % 5 == 0;
        w.spec.no_put = !w.spec.no_delete && rng() % 7 == 0;
        w.stream->Create(kAutoWatchId, w.spec);
        ws.push_back(std::move(w));
      } else if (what == 7 && rng() % 3 == 0) {
        int64_t c = store->compact_revision() + 1 + rng() % 3;
        if (c <= store->revision()) (void)store->Compact(kv::CompactionRequest{c});
      } else if (what == 8) {  // a txn over 2-4 distinct keys: watchers take all or part
        std::string keys = "abcd";
        std::shuffle(keys.begin(), keys.end(), rng);
        kv::TxnRequest t;
        for (size_t i = 0, n = 2 + rng() % 3; i < n; ++i) {
          std::string k(1, keys[i]);
          t.success.push_back(rng() % 3 ? PutOp(k, std::to_string(step)) : DeleteOp(k));
        }
        ASSERT_TRUE(store->Txn(t).ok());
      }
      if (store->revision() > before) {
        auto read = store->Events(store->revision(), store->revision(),
                                  kv::KeyRange{std::string(1, '\0'), kFromKey});
        ASSERT_TRUE(read.ok());
        for (auto& e : read->events) history.push_back(e);
      }
      hub.Publish(store->revision());
      for (W& w : ws) {  // each consumer sends a couple of responses, or none
        for (int i = rng() % 3; i > 0; --i) {
          Response r;
          Stream::Step st = w.stream->Next(&r);
          if (st == Stream::Step::kIdle) break;
          if (st == Stream::Step::kSend) take(w, r);
        }
      }
    }
    for (W& w : ws) {
      for (Response r; w.stream->Next(&r) != Stream::Step::kIdle; r = Response()) take(w, r);
      std::vector<std::string> want, gap;
      for (const auto& e : history) {
        if (e.revision() < w.spec.start_revision || !w.spec.keys.Contains(e.kv->key)) continue;
        if (w.spec.no_delete && e.type == kv::Event::Type::kDelete) continue;
        if (w.spec.no_put && e.type == kv::Event::Type::kPut) continue;
        want.push_back(EventLine(e));
        // etcd's one gap: a watch that starts exactly at the compaction revision does not
        // get that revision's deletes (compaction dropped them) if it reads after it.
        bool dropped = e.type == kv::Event::Type::kDelete &&
                       e.revision() == w.spec.start_revision &&
                       store->compact_revision() >= w.spec.start_revision;
        if (!dropped) gap.push_back(want.back());
      }
      if (w.got != want && !w.got.empty() && !gap.empty() && w.got.front() == gap.front()) {
        want = gap;
      }
      if (w.compacted != 0) {
        ASSERT_LE(w.got.size(), want.size()) << "seed " << seed;
        want.resize(w.got.size());
      }
      ASSERT_EQ(w.got, want) << "seed " << seed << " start " << w.spec.start_revision
                             << " compacted " << w.compacted;
    }
  }
}

}  // namespace
}  // namespace raftkv::watch
