#include "kv/snapshot.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "kv/errors.h"
#include "kv/store.h"
#include "kv/test_util.h"

namespace raftkv::kv {
namespace {

using namespace raftkv::kv::testing;
const std::string kAll(1, '\0');

void fillRandom(Store& s, std::mt19937_64& rng, int n) {
  // Puts name leases 0..2: 1 and 2 must exist (a put naming an unknown lease is refused).
  for (lease::LeaseId id : {1, 2}) {
    if (!s.LeaseLookup(id).ok()) s.LeaseGrant(id, 60);
  }
  for (int i = 0; i < n; ++i) {
    std::string k = "k" + std::to_string(rng() % 50);
    if (rng() % 5 == 0) {
      MustDelete(s, k);
    } else {
      MustPut(s, k, std::string(rng() % 20, 'v') + std::to_string(i), rng() % 3);
    }
  }
}

std::unique_ptr<Store> mustRestore(const std::string& bytes) {
  auto r = Store::Restore(bytes);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : std::make_unique<Store>();
}

TEST(Snapshot, Restore_rebuildsIdenticalStore) {
  std::mt19937_64 rng(7);
  Store s(128, /*session_timeout=*/100);
  fillRandom(s, rng, 500);
  ASSERT_TRUE(s.Compact({200}).ok());
  fillRandom(s, rng, 100);
  s.sessions().Register(42, 10);
  s.sessions().Record(42, 1, "resp-1", 0, 11);
  std::string bytes = s.Snapshot()->Serialize();
  auto t = mustRestore(bytes);
  EXPECT_EQ(t->Hash(), s.Hash());
  EXPECT_EQ(t->revision(), s.revision());
  EXPECT_EQ(t->compact_revision(), 200);
  EXPECT_EQ(t->sessions(), s.sessions());
  // Reads at every revision still readable agree.
  for (int64_t rev = 200; rev <= s.revision(); rev += 7) {
    auto a = MustRange(s, kAll, kAll, rev);
    auto b = MustRange(*t, kAll, kAll, rev);
    ASSERT_EQ(a.kvs, b.kvs) << "rev " << rev;
  }
  // And the restored store keeps working like the original.
  MustPut(s, "new", "1");
  MustPut(*t, "new", "1");
  EXPECT_EQ(t->Hash(), s.Hash());
}

TEST(Snapshot, Restore_emptyStore) {
  Store s;
  auto t = mustRestore(s.Snapshot()->Serialize());
  EXPECT_EQ(t->revision(), 1);
  EXPECT_EQ(t->Hash(), s.Hash());
}

TEST(Snapshot, Restore_rejectsCorruption) {
  std::mt19937_64 rng(3);
  Store s;
  fillRandom(s, rng, 50);
  std::string bytes = s.Snapshot()->Serialize();
  // Every byte, several bit patterns: always a Corruption status, never a crash.
  for (size_t i = 0; i < bytes.size() * 3; ++i) {
    size_t pos = i % bytes.size();
    std::string bad = bytes;
    bad[pos] ^= static_cast<char>(i < bytes.size() ? 0x01 : (i < 2 * bytes.size() ? 0x80 : 0xff));
    auto r = Store::Restore(bad);
    ASSERT_FALSE(r.ok()) << "flip at " << pos;
    EXPECT_TRUE(r.status().Is(Status::Code::kCorruption));
  }
  auto r = Store::Restore(std::string_view(bytes).substr(0, bytes.size() - 10));
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(Store::Restore("").ok());
}

TEST(Snapshot, WriteTo_streamsInChunksAndStopsOnSinkError) {
  std::mt19937_64 rng(5);
  Store s;
  fillRandom(s, rng, 300);
  auto view = s.Snapshot();
  int chunks = 0;
  std::string joined;
  ASSERT_TRUE(view->WriteTo(
                      [&](std::string_view c) {
                        ++chunks;
                        joined.append(c);
                        return Status::OK();
                      },
                      /*batch_keys=*/4)
                  .ok());
  EXPECT_GT(chunks, 5);
  EXPECT_EQ(joined, view->Serialize());
  int calls = 0;
  Status st = view->WriteTo(
      [&](std::string_view) { return ++calls == 2 ? Status::IOError("disk full") : Status::OK(); });
  EXPECT_TRUE(st.Is(Status::Code::kIOError));
  EXPECT_EQ(calls, 2);
}

// Large values: no chunk exceeds the bound, even when one key's history is larger than it,
// and the chunks still restore the same store.
TEST(Snapshot, WriteTo_chunksNeverExceedTheByteBound) {
  Store s;
  const std::string big(300 << 10, 'v');  // 300 KiB
  for (int i = 0; i < 8; i++) MustPut(s, "big", big + std::to_string(i));
  for (int i = 0; i < 40; i++) MustPut(s, "k" + std::to_string(i), big);
  auto view = s.Snapshot();
  constexpr size_t kBound = 512 << 10;
  size_t largest = 0, chunks = 0;
  SnapshotLoader loader;
  ASSERT_TRUE(view->WriteTo(
                      [&](std::string_view c) {
                        largest = std::max(largest, c.size());
                        ++chunks;
                        return loader.Add(c);
                      },
                      /*batch_keys=*/256, kBound)
                  .ok());
  EXPECT_LE(largest, kBound);
  EXPECT_GT(chunks, 20u) << "about 14 MiB in chunks of at most 512 KiB";
  auto restored = loader.Finish();
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ((*restored)->Hash(), s.Hash());
}

// The snapshot is serialized by another thread while this one keeps writing, deleting and
// compacting; the restored store must equal the store as it was at the view's revision.
TEST(Snapshot, WriteTo_consistentWhileWritesContinue) {
  std::mt19937_64 rng(11);
  Store s;
  fillRandom(s, rng, 2000);
  ASSERT_TRUE(s.Compact({500}).ok());
  auto view = s.Snapshot();
  int64_t at = view->revision();
  uint32_t hash_at = s.HashKV(at)->hash;
  auto range_at = MustRange(s, kAll, kAll, at);

  // The writer stops after its second chunk until this thread has written and compacted,
  // so those writes certainly land in the middle of the snapshot; later writes race freely.
  std::string bytes;
  std::atomic<int> phase{0};
  std::thread writer([&] {
    int chunks = 0;
    Status st = view->WriteTo(
        [&](std::string_view c) {
          bytes.append(c);
          if (++chunks == 2) {
            phase = 1;
            while (phase.load() < 2) std::this_thread::yield();
          }
          return Status::OK();
        },
        /*batch_keys=*/2);
    EXPECT_TRUE(st.ok());
  });
  while (phase.load() < 1) std::this_thread::yield();
  std::mt19937_64 rng2(12);
  for (int i = 0; i < 300; ++i) {
    fillRandom(s, rng2, 5);
    // Compaction past the view's revision while it is being written: the view's pin must
    // keep the versions it still needs.
    if (i == 50) EXPECT_TRUE(s.Compact({s.revision()}).ok());
  }
  phase = 2;
  fillRandom(s, rng2, 500);
  writer.join();
  EXPECT_GT(s.revision(), at);
  view.reset();  // releases the pin; deferred compaction runs
  s.CheckInvariants();

  auto t = mustRestore(bytes);
  t->CheckInvariants();
  EXPECT_EQ(t->revision(), at);
  EXPECT_EQ(t->compact_revision(), 500);
  EXPECT_EQ(t->HashKV(at)->hash, hash_at);
  EXPECT_EQ(MustRange(*t, kAll, kAll).kvs, range_at.kvs);
}

TEST(Snapshot, Pin_defersPhysicalCompactionUntilReleased) {
  Store s;
  for (int i = 0; i < 10; ++i) MustPut(s, "a", std::to_string(i));  // revs 2..11
  auto view = s.Snapshot();
  ASSERT_TRUE(s.Compact({11}).ok());
  EXPECT_EQ(s.version_count(), 10u);  // still pinned
  RangeRequest old;
  old.key = "a";
  old.revision = 5;
  EXPECT_EQ(s.Range(old).status().message(), kErrCompacted);  // logically compacted at once
  auto t = mustRestore(view->Serialize());
  EXPECT_EQ(t->version_count(), 10u);
  EXPECT_EQ(MustRange(*t, "a", "", 5).kvs[0].value, "3");
  view.reset();
  EXPECT_EQ(s.version_count(), 1u);
}

}  // namespace
}  // namespace raftkv::kv

namespace raftkv::kv {
namespace {

using namespace raftkv::kv::testing;

TEST(SnapshotLoader, Add_anyChunkBoundariesGiveTheSameStore) {
  std::mt19937_64 rng(21);
  Store s(128, 50);
  fillRandom(s, rng, 400);
  s.sessions().Register(3, 1);
  s.sessions().Record(3, 1, "ok", 0, 2);
  std::string bytes = s.Snapshot()->Serialize();
  for (size_t max_chunk : {size_t{1}, size_t{7}, size_t{64}, size_t{4096}}) {
    SnapshotLoader loader;
    size_t off = 0;
    while (off < bytes.size()) {
      size_t n = std::min(bytes.size() - off, 1 + rng() % max_chunk);
      ASSERT_TRUE(loader.Add(std::string_view(bytes).substr(off, n)).ok());
      off += n;
    }
    auto t = loader.Finish();
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ((*t)->Hash(), s.Hash()) << "max_chunk " << max_chunk;
  }
}

TEST(SnapshotLoader, Finish_beforeAllBytesIsTruncated) {
  Store s;
  MustPut(s, "a", "1");
  std::string bytes = s.Snapshot()->Serialize();
  SnapshotLoader loader;
  ASSERT_TRUE(loader.Add(std::string_view(bytes).substr(0, bytes.size() - 1)).ok());
  auto r = loader.Finish();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().Is(Status::Code::kCorruption));
  SnapshotLoader extra;
  EXPECT_FALSE(extra.Add(bytes + "x").ok());
}

}  // namespace
}  // namespace raftkv::kv

namespace raftkv::kv {
namespace {

using namespace raftkv::kv::testing;

TEST(Snapshot, Pin_twoViewsReleasedOutOfOrder) {
  Store s;
  for (int i = 0; i < 10; ++i) MustPut(s, "a", std::to_string(i));  // revs 2..11
  auto v1 = s.Snapshot();                                           // pins 0
  ASSERT_TRUE(s.Compact({5}).ok());
  auto v2 = s.Snapshot();  // pins 5
  ASSERT_TRUE(s.Compact({8}).ok());
  EXPECT_EQ(s.version_count(), 10u);
  v2.reset();
  EXPECT_EQ(s.version_count(), 10u);  // v1 still needs everything
  auto t1 = Store::Restore(v1->Serialize());
  ASSERT_TRUE(t1.ok());
  EXPECT_EQ((*t1)->version_count(), 10u);
  v1.reset();
  EXPECT_EQ(s.version_count(), 4u);  // revs 8..11
  s.CheckInvariants();
}

}  // namespace
}  // namespace raftkv::kv
