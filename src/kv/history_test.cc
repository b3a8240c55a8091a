// Store::Events: the watch history as etcd's watchers see it.
#include <gtest/gtest.h>

#include "kv/errors.h"
#include "kv/store.h"
#include "kv/test_util.h"

namespace raftkv::kv {
namespace {

using namespace raftkv::kv::testing;

const KeyRange kAll{"\0", std::string(1, '\0')};

EventRead MustEvents(const Store& s, int64_t from, int64_t to, const KeyRange& keys = kAll,
                     size_t max_scanned = 4096, size_t max_bytes = 1 << 20) {
  auto r = s.Events(from, to, keys, EventBudget{max_scanned, max_bytes});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : EventRead{};
}

// "P key=value@rev" / "D key@rev", plus " prev=value@rev" when there is a previous version.
std::string Describe(const EventRead& read) {
  std::string out;
  for (const Event& e : read.events) {
    if (!out.empty()) out += "; ";
    if (e.type == Event::Type::kPut) {
      out += "P " + e.kv->key + "=" + e.kv->value + "@" + std::to_string(e.revision());
    } else {
      out += "D " + e.kv->key + "@" + std::to_string(e.revision());
    }
    if (e.prev) out += " prev=" + e.prev->value + "@" + std::to_string(e.prev->rev.main);
  }
  return out;
}

TEST(History, Events_putsAndDeletesInRevisionOrderWithPreviousVersions) {
  Store s;
  MustPut(s, "a", "1");  // 2
  MustPut(s, "a", "2");  // 3
  MustPut(s, "b", "x");  // 4
  MustDelete(s, "a");    // 5
  MustPut(s, "a", "3");  // 6: a new generation, no previous version
  EventRead r = MustEvents(s, 2, 6);
  EXPECT_EQ(Describe(r), "P a=1@2; P a=2@3 prev=1@2; P b=x@4; D a@5 prev=2@3; P a=3@6");
  EXPECT_EQ(r.through, 6);
  // A delete event carries only the key and its revision, as etcd's tombstones.
  const Record& tomb = *r.events[3].kv;
  EXPECT_TRUE(tomb.tombstone);
  EXPECT_EQ(tomb.version, 0);
  EXPECT_EQ(tomb.create_revision, 0);
  // A sub-range of revisions.
  EXPECT_EQ(Describe(MustEvents(s, 4, 5)), "P b=x@4; D a@5 prev=2@3");
}

TEST(History, Events_txnChangesShareTheirRevisionInOrder) {
  Store s;
  MustPut(s, "c", "old");  // 2
  TxnRequest t;
  t.success = {PutOp("b", "1"), DeleteOp("c"), PutOp("a", "2")};
  ASSERT_TRUE(s.Txn(t).ok());  // 3
  EventRead r = MustEvents(s, 3, 3);
  EXPECT_EQ(Describe(r), "P b=1@3; D c@3 prev=old@2; P a=2@3");
  for (size_t i = 0; i < r.events.size(); ++i) EXPECT_EQ(r.events[i].kv->rev.sub, (int64_t)i);
}

TEST(History, Events_keyRangesAsEtcdNamesThem) {
  Store s;
  MustPut(s, "a", "1");   // 2
  MustPut(s, "ab", "2");  // 3
  MustPut(s, "b", "3");   // 4
  MustPut(s, "zz", "4");  // 5
  EXPECT_EQ(Describe(MustEvents(s, 2, 5, KeyRange{"a", ""})), "P a=1@2");
  EXPECT_EQ(Describe(MustEvents(s, 2, 5, KeyRange{"a", "b"})), "P a=1@2; P ab=2@3");
  EXPECT_EQ(Describe(MustEvents(s, 2, 5, KeyRange{"b", std::string(1, '\0')})),
            "P b=3@4; P zz=4@5");
  EXPECT_EQ(MustEvents(s, 2, 5, kAll).events.size(), 4u);
  EXPECT_TRUE(MustEvents(s, 2, 5, KeyRange{"c", "d"}).events.empty());
  EXPECT_EQ(MustEvents(s, 2, 5, KeyRange{"c", "d"}).through, 5);
}

TEST(History, Events_carryLeaseAndVersionsAsStored) {
  Store s;
  ASSERT_TRUE(s.LeaseGrant(7, 60).ok());  // a grant is not a revision
  ASSERT_TRUE(s.LeaseGrant(9, 60).ok());
  MustPut(s, "k", "v1", 7);  // 2
  MustPut(s, "k", "v2", 9);  // 3
  EventRead r = MustEvents(s, 3, 3);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].kv->lease, 9);
  EXPECT_EQ(r.events[0].kv->version, 2);
  EXPECT_EQ(r.events[0].kv->create_revision, 2);
  EXPECT_EQ(r.events[0].prev->lease, 7);
}

TEST(History, Events_failBelowCompactionAndBeyondTheCurrentRevision) {
  Store s;
  for (int i = 0; i < 5; ++i) MustPut(s, "k", std::to_string(i));  // 2..6
  ASSERT_TRUE(s.Compact(CompactionRequest{4}).ok());
  auto below = s.Events(3, 6, kAll);
  ASSERT_FALSE(below.ok());
  EXPECT_EQ(below.status().message(), kErrCompacted);
  auto future = s.Events(4, 7, kAll);
  ASSERT_FALSE(future.ok());
  EXPECT_EQ(future.status().message(), kErrFutureRev);
  // From the compaction revision on, history is complete; the previous version of the
  // change at the compaction revision is below it, so it is not reported.
  EXPECT_EQ(Describe(MustEvents(s, 4, 6)), "P k=2@4; P k=3@5 prev=2@4; P k=4@6 prev=3@5");
  // An empty range of revisions (from = current + 1) reads nothing.
  EventRead none = MustEvents(s, 7, 6);
  EXPECT_TRUE(none.events.empty());
  EXPECT_EQ(none.through, 6);
}

TEST(History, Events_atTheCompactionRevisionNeverReportATombstone_pinnedOrNot) {
  // Compaction at C drops a delete written at C once no snapshot pins older history; with a
  // pin it is still stored. Both stores must answer alike.
  for (bool pinned : {false, true}) {
    Store s;
    MustPut(s, "a", "1");  // 2
    MustPut(s, "b", "1");  // 3
    TxnRequest t;
    t.success = {DeleteOp("a"), PutOp("c", "1")};
    ASSERT_TRUE(s.Txn(t).ok());  // 4
    MustPut(s, "b", "2");        // 5
    std::unique_ptr<SnapshotView> pin;
    if (pinned) pin = s.Snapshot();
    ASSERT_TRUE(s.Compact(CompactionRequest{4}).ok());
    EXPECT_EQ(Describe(MustEvents(s, 4, 5)), "P c=1@4; P b=2@5 prev=1@3") << "pinned=" << pinned;
  }
}

TEST(History, Events_boundedReadsStopBetweenRevisions) {
  Store s;
  TxnRequest t;
  t.success = {PutOp("a", "1"), PutOp("b", "1"), PutOp("c", "1")};
  ASSERT_TRUE(s.Txn(t).ok());  // 2: three changes
  MustPut(s, "a", "2");        // 3
  MustPut(s, "a", "3");        // 4
  // A budget of 2 changes still reads revision 2 whole, then stops.
  EventRead first = MustEvents(s, 2, 4, kAll, 2);
  EXPECT_EQ(first.events.size(), 3u);
  EXPECT_EQ(first.through, 2);
  EventRead second = MustEvents(s, first.through + 1, 4, kAll, 1);
  EXPECT_EQ(Describe(second), "P a=2@3 prev=1@2");
  EXPECT_EQ(second.through, 3);
  // Changes outside the key range count against the budget too (they are scanned).
  EventRead filtered = MustEvents(s, 2, 4, KeyRange{"z", ""}, 3);
  EXPECT_TRUE(filtered.events.empty());
  EXPECT_EQ(filtered.through, 2);
  // The byte budget: revision 3 alone (a=2 and its previous a=1: 4 bytes) spends it.
  EventRead by_bytes = MustEvents(s, 3, 4, kAll, 4096, 2);
  EXPECT_EQ(by_bytes.through, 3);
  EXPECT_EQ(by_bytes.events.size(), 1u);
}

}  // namespace
}  // namespace raftkv::kv
