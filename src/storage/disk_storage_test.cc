#include "storage/disk_storage.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "common/coding.h"
#include "storage/crc32c.h"
#include "storage/fault_fs.h"

namespace raftkv::storage {
namespace {

using raft::Entry;
using raft::HardState;
using raft::Index;
using raft::Snapshot;

constexpr const char* kDir = "/data";

std::vector<Entry> MakeEntries(Index first, Index last, raft::Term term, size_t size = 20) {
  std::vector<Entry> out;
  for (Index i = first; i <= last; i++) {
    out.push_back(Entry{term, i, raft::EntryType::kNormal,
                        std::to_string(term) + ":" + std::to_string(i) + std::string(size, 'p')});
  }
  return out;
}

Snapshot MakeSnapshot(Index index, raft::Term term) {
  Snapshot s;
  s.meta.index = index;
  s.meta.term = term;
  s.meta.conf.voters = {1, 2, 3};
  s.data = "state@" + std::to_string(index);
  return s;
}

class DiskStorageTest : public ::testing::Test {
 protected:
  DiskStorageTest() : fs_(7) {
    opts_.fs = &fs_;
    opts_.wal.segment_bytes = 2048;
  }
  std::unique_ptr<DiskStorage> OpenOk() {
    auto s = DiskStorage::Open(kDir, opts_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  Status OpenStatus() {
    auto s = DiskStorage::Open(kDir, opts_);
    return s.ok() ? Status::OK() : s.status();
  }
  std::vector<Entry> All(const DiskStorage& s) {
    if (s.LastIndex() < s.FirstIndex()) return {};
    return s.Entries(s.FirstIndex(), s.LastIndex() + 1, raft::kNoLimit).value();
  }

  FaultFileSystem fs_;
  DiskStorageOptions opts_;
};

TEST_F(DiskStorageTest, open_new_isEmptyLikeMemoryStorage) {
  auto s = OpenOk();
  EXPECT_EQ(s->FirstIndex(), 1u);
  EXPECT_EQ(s->LastIndex(), 0u);
  EXPECT_EQ(s->TermAt(0).value(), 0u);
  EXPECT_TRUE(s->TermAt(1).status().Is(Status::Code::kUnavailable));
  EXPECT_TRUE(s->GetInitialState()->hard_state.IsEmpty());
  EXPECT_TRUE(s->GetSnapshot()->IsEmpty());
}

TEST_F(DiskStorageTest, open_twice_secondIsRefusedByLock) {
  auto s = OpenOk();
  Status st = OpenStatus();
  EXPECT_TRUE(st.Is(Status::Code::kBusy)) << st.ToString();
  s.reset();
  EXPECT_TRUE(OpenStatus().ok());
}

TEST_F(DiskStorageTest, open_wrongVersionMarker_refuses) {
  OpenOk().reset();
  auto f = fs_.OpenWritable("/data/VERSION", true);
  ASSERT_TRUE((*f)->WriteAt(0, "raftkv-storage 99\n").ok());
  Status st = OpenStatus();
  EXPECT_TRUE(st.Is(Status::Code::kFailedPrecondition)) << st.ToString();
}

TEST_F(DiskStorageTest, save_thenPowerLoss_recoversEverythingAcknowledged) {
  {
    auto s = OpenOk();
    HardState hs{2, 1, 3};
    ASSERT_TRUE(s->Save(&hs, MakeEntries(1, 5, 2), nullptr).ok());
  }
  fs_.PowerLoss(true);
  auto s = OpenOk();
  EXPECT_EQ(All(*s), MakeEntries(1, 5, 2));
  EXPECT_EQ(s->hard_state(), (HardState{2, 1, 3}));
  auto got = s->Entries(2, 6, 1);  // max_bytes: at least one entry
  EXPECT_EQ(got->size(), 1u);
}

TEST_F(DiskStorageTest, truncateThenCrash_truncationIsDurable) {
  {
    auto s = OpenOk();
    ASSERT_TRUE(s->Save(nullptr, MakeEntries(1, 8, 1), nullptr).ok());
    HardState hs{2, 2, 3};
    ASSERT_TRUE(s->Save(&hs, MakeEntries(4, 4, 2), nullptr).ok());
    EXPECT_EQ(s->LastIndex(), 4u);
  }
  fs_.PowerLoss(true);
  auto s = OpenOk();
  auto want = MakeEntries(1, 3, 1);
  want.push_back(MakeEntries(4, 4, 2)[0]);
  EXPECT_EQ(All(*s), want);
}

TEST_F(DiskStorageTest, snapshotAndCompact_removesSegments_recoveryReadsOnlySuffix) {
  {
    auto s = OpenOk();
    for (Index i = 1; i <= 200; i += 10) {
      HardState hs{1, 1, i + 9};
      ASSERT_TRUE(s->Save(&hs, MakeEntries(i, i + 9, 1), nullptr).ok());
    }
    size_t before = s->wal_segment_count();
    ASSERT_TRUE(s->SaveSnapshot(MakeSnapshot(150, 1)).ok());
    ASSERT_TRUE(s->Compact(150).ok());
    EXPECT_LT(s->wal_segment_count(), before);
    EXPECT_EQ(s->FirstIndex(), 151u);
    EXPECT_EQ(s->TermAt(150).value(), 1u);
    EXPECT_TRUE(s->Entries(150, 160, raft::kNoLimit).status().Is(Status::Code::kCompacted));
  }
  fs_.PowerLoss(false);
  auto s = OpenOk();
  EXPECT_EQ(s->FirstIndex(), 151u);
  EXPECT_EQ(All(*s), MakeEntries(151, 200, 1));
  EXPECT_EQ(s->GetSnapshot().value(), MakeSnapshot(150, 1));
  EXPECT_EQ(s->GetInitialState()->conf_state.voters, (std::vector<raft::NodeId>{1, 2, 3}));
}

TEST_F(DiskStorageTest, compact_beyondSnapshot_isRefused) {
  auto s = OpenOk();
  ASSERT_TRUE(s->Save(nullptr, MakeEntries(1, 10, 1), nullptr).ok());
  EXPECT_TRUE(s->Compact(5).Is(Status::Code::kFailedPrecondition));
}

TEST_F(DiskStorageTest, oldSnapshots_prunedToKeepCount) {
  auto s = OpenOk();
  ASSERT_TRUE(s->Save(nullptr, MakeEntries(1, 10, 1), nullptr).ok());
  for (Index i = 2; i <= 8; i += 2) ASSERT_TRUE(s->SaveSnapshot(MakeSnapshot(i, 1)).ok());
  int snaps = 0;
  auto names = fs_.List(kDir);
  for (auto& n : *names) snaps += n.ends_with(".snap");
  EXPECT_EQ(snaps, opts_.keep_snapshots);
}

TEST_F(DiskStorageTest, installSnapshot_replacesLog_andSurvivesCrash) {
  {
    auto s = OpenOk();
    ASSERT_TRUE(s->Save(nullptr, MakeEntries(1, 10, 1), nullptr).ok());
    Snapshot snap = MakeSnapshot(40, 3);
    HardState hs{3, 0, 40};
    ASSERT_TRUE(s->Save(&hs, MakeEntries(41, 42, 3), &snap).ok());
    EXPECT_EQ(s->FirstIndex(), 41u);
  }
  fs_.PowerLoss(true);
  auto s = OpenOk();
  EXPECT_EQ(s->FirstIndex(), 41u);
  EXPECT_EQ(s->TermAt(40).value(), 3u);
  EXPECT_EQ(All(*s), MakeEntries(41, 42, 3));
  EXPECT_EQ(s->GetSnapshot()->meta.index, 40u);
}

TEST_F(DiskStorageTest, corruptNewestSnapshot_fallsBackWhenWalAllows) {
  {
    auto s = OpenOk();
    ASSERT_TRUE(s->Save(nullptr, MakeEntries(1, 10, 1), nullptr).ok());
    ASSERT_TRUE(s->SaveSnapshot(MakeSnapshot(4, 1)).ok());
    ASSERT_TRUE(s->SaveSnapshot(MakeSnapshot(8, 1)).ok());
  }
  ASSERT_TRUE(fs_.FlipBit("/data/snap-0000000000000001-0000000000000008.snap", 30, 2).ok());
  auto s = OpenOk();
  EXPECT_EQ(s->GetSnapshot()->meta.index, 4u);
  EXPECT_NE(s->recovery_note().find("checksum"), std::string::npos) << s->recovery_note();
}

TEST_F(DiskStorageTest, corruptSnapshotNeededByWal_refuses) {
  {
    auto s = OpenOk();
    ASSERT_TRUE(s->Save(nullptr, MakeEntries(1, 10, 1), nullptr).ok());
    ASSERT_TRUE(s->SaveSnapshot(MakeSnapshot(8, 1)).ok());
    ASSERT_TRUE(s->Compact(8).ok());
  }
  ASSERT_TRUE(fs_.FlipBit("/data/snap-0000000000000001-0000000000000008.snap", 30, 2).ok());
  Status st = OpenStatus();
  EXPECT_TRUE(st.Is(Status::Code::kCorruption)) << st.ToString();
}

TEST_F(DiskStorageTest, eio_isSticky_andReopenRecovers) {
  auto s = OpenOk();
  ASSERT_TRUE(s->Save(nullptr, MakeEntries(1, 3, 1), nullptr).ok());
  fs_.FailWriteAfter(0, FaultFileSystem::Fault::kIOError);
  Status st = s->Save(nullptr, MakeEntries(4, 6, 1), nullptr);
  EXPECT_TRUE(st.Is(Status::Code::kIOError));
  EXPECT_NE(st.message().find("Input/output"), std::string::npos);
  EXPECT_TRUE(s->Save(nullptr, MakeEntries(4, 6, 1), nullptr).Is(Status::Code::kIOError));
  EXPECT_EQ(s->LastIndex(), 3u);  // nothing unacknowledged is visible
  s.reset();
  fs_.PowerLoss(false);  // drops the unsynced half batch
  s = OpenOk();
  EXPECT_EQ(All(*s), MakeEntries(1, 3, 1));
  ASSERT_TRUE(s->Save(nullptr, MakeEntries(4, 6, 1), nullptr).ok());
}

TEST_F(DiskStorageTest, open_dataWithoutVersionMarker_refuses) {
  {
    auto s = OpenOk();
    ASSERT_TRUE(s->Save(nullptr, MakeEntries(1, 2, 1), nullptr).ok());
  }
  ASSERT_TRUE(fs_.Remove("/data/VERSION").ok());
  Status st = OpenStatus();
  EXPECT_TRUE(st.Is(Status::Code::kCorruption)) << st.ToString();
}

TEST_F(DiskStorageTest, installInterruptedBeforeWal_snapshotIsDiscarded) {
  {
    auto s = OpenOk();
    ASSERT_TRUE(s->Save(nullptr, MakeEntries(1, 5, 1), nullptr).ok());
    Snapshot snap = MakeSnapshot(50, 2);
    fs_.FailWriteAfter(1, FaultFileSystem::Fault::kIOError);  // the snapshot file, then the WAL
    EXPECT_FALSE(s->Save(nullptr, {}, &snap).ok());
    fs_.ClearFaults();
  }
  fs_.PowerLoss(false);
  auto s = OpenOk();
  EXPECT_TRUE(s->GetSnapshot()->IsEmpty());
  EXPECT_EQ(All(*s), MakeEntries(1, 5, 1));
  EXPECT_FALSE(fs_.Exists("/data/snap-0000000000000002-0000000000000032.snap"));
}

// Soak seed 1770100001027: a leader's snapshot inside the log's range, whose file was made
// durable (synced and renamed) while the WAL write carrying its install marker failed at
// fdatasync. The WAL still holds the uncommitted suffix the snapshot replaced (here 5..10 of
// term 1 against the snapshot's 8 of term 2); recovering with that snapshot plus that log
// once made entries of a deposed leader look committed.
TEST_F(DiskStorageTest, installLostFromWal_snapshotConflictingWithTheLogIsDiscarded) {
  {
    auto s = OpenOk();
    ASSERT_TRUE(s->Save(nullptr, MakeEntries(1, 10, 1), nullptr).ok());
    ASSERT_TRUE(s->SaveSnapshot(MakeSnapshot(4, 1)).ok());
    Snapshot snap = MakeSnapshot(8, 2);
    HardState hs{2, 0, 8};
    fs_.FailSyncAfter(1, FaultFileSystem::Fault::kIOError);  // the file's sync, then the WAL's
    EXPECT_FALSE(s->Save(&hs, {}, &snap).ok());
    fs_.ClearFaults();
    ASSERT_TRUE(fs_.Exists("/data/snap-0000000000000002-0000000000000008.snap"));
  }
  fs_.PowerLoss(false);
  auto s = OpenOk();
  EXPECT_EQ(s->GetSnapshot()->meta.index, 4u);
  EXPECT_EQ(s->LastIndex(), 10u);
  EXPECT_EQ(s->TermAt(8).value(), 1u);
  EXPECT_FALSE(fs_.Exists("/data/snap-0000000000000002-0000000000000008.snap"));
}

// The same lost marker, but the snapshot agrees with the log at its index: by log matching
// the prefixes are equal, the snapshot holds committed state, and it is used.
TEST_F(DiskStorageTest, installLostFromWal_snapshotMatchingTheLogIsKept) {
  {
    auto s = OpenOk();
    ASSERT_TRUE(s->Save(nullptr, MakeEntries(1, 10, 1), nullptr).ok());
    Snapshot snap = MakeSnapshot(8, 1);
    HardState hs{1, 0, 8};
    fs_.FailSyncAfter(1, FaultFileSystem::Fault::kIOError);
    EXPECT_FALSE(s->Save(&hs, {}, &snap).ok());
    fs_.ClearFaults();
  }
  fs_.PowerLoss(false);
  auto s = OpenOk();
  EXPECT_EQ(s->GetSnapshot()->meta.index, 8u);
  EXPECT_EQ(All(*s), MakeEntries(1, 10, 1));
}

TEST_F(DiskStorageTest, saveByMove_sameResultAsCopy) {
  auto s = OpenOk();
  ASSERT_TRUE(s->Save(nullptr, MakeEntries(1, 5, 1), nullptr).ok());
  ASSERT_TRUE(s->SaveSnapshot(MakeSnapshot(1, 1)).ok());
  ASSERT_TRUE(s->Compact(1).ok());
  std::vector<Entry> batch = MakeEntries(1, 2, 1);          // 1 is compacted: skipped
  for (auto& e : MakeEntries(3, 6, 2)) batch.push_back(e);  // 3 onwards replaced
  ASSERT_TRUE(s->Save(nullptr, std::move(batch), nullptr).ok());
  auto want = MakeEntries(2, 2, 1);
  for (auto& e : MakeEntries(3, 6, 2)) want.push_back(e);
  EXPECT_EQ(All(*s), want);
  s.reset();
  fs_.PowerLoss(false);
  EXPECT_EQ(All(*OpenOk()), want);
}

TEST_F(DiskStorageTest, saveWithoutSync_becomesDurableWithNextSyncedSave) {
  auto s = OpenOk();
  HardState hs1{1, 1, 1};
  ASSERT_TRUE(s->Save(&hs1, MakeEntries(1, 2, 1), nullptr).ok());
  uint64_t syncs = fs_.sync_count();
  HardState hs2{1, 1, 2};
  ASSERT_TRUE(s->Save(&hs2, {}, nullptr, /*sync=*/false).ok());
  EXPECT_EQ(fs_.sync_count(), syncs);
  EXPECT_EQ(s->hard_state(), hs2);
  s.reset();
  fs_.PowerLoss(false);
  s = OpenOk();
  EXPECT_EQ(s->hard_state(), hs1) << "an unsynced write may be lost";
  ASSERT_TRUE(s->Save(&hs2, {}, nullptr, false).ok());
  ASSERT_TRUE(s->Save(nullptr, MakeEntries(3, 3, 1), nullptr).ok());
  s.reset();
  fs_.PowerLoss(false);
  s = OpenOk();
  EXPECT_EQ(s->hard_state(), hs2);
  EXPECT_EQ(s->LastIndex(), 3u);
}

TEST_F(DiskStorageTest, batchLargerThanSegment_thenMoreWrites_recoverAll) {
  auto s = OpenOk();
  ASSERT_TRUE(s->Save(nullptr, MakeEntries(1, 200, 1, 100), nullptr).ok());  // > 2 KiB segment
  ASSERT_TRUE(s->Save(nullptr, MakeEntries(201, 210, 1, 100), nullptr).ok());
  s.reset();
  fs_.PowerLoss(false);
  EXPECT_EQ(All(*OpenOk()), MakeEntries(1, 210, 1, 100));
}

// --- Property test -----------------------------------------------------------------------

// The observable durable state, as a model.
struct Model {
  Index base = 0;
  raft::Term base_term = 0;
  std::vector<Entry> entries;
  HardState hs;

  Index Last() const { return base + entries.size(); }
  raft::Term TermAt(Index i) const { return i == base ? base_term : entries[i - base - 1].term; }
  bool operator==(const Model&) const = default;
};

Model Observe(const DiskStorage& s) {
  Model m;
  m.base = s.FirstIndex() - 1;
  m.base_term = s.TermAt(m.base).value();
  if (s.LastIndex() >= s.FirstIndex()) {
    m.entries = s.Entries(s.FirstIndex(), s.LastIndex() + 1, raft::kNoLimit).value();
  }
  m.hs = s.hard_state();
  return m;
}

std::string Describe(const Model& m) {
  return "base=" + std::to_string(m.base) + " last=" + std::to_string(m.Last()) +
         " hs.commit=" + std::to_string(m.hs.commit) + " hs.term=" + std::to_string(m.hs.term);
}

// One random life of a data directory: saves, snapshots, compactions, installs, faults and
// crashes. After every crash the recovered state must be the acknowledged state, or (if a
// write was in flight) one of the states the in-flight write passes through — a prefix of
// its records. Nothing acknowledged is lost; nothing is invented.
void RunSequence(uint64_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto chance = [&](int pct) { return static_cast<int>(rng() % 100) < pct; };
  FaultFileSystem fs(seed);
  DiskStorageOptions opts;
  opts.fs = &fs;
  opts.wal.segment_bytes = 512 + rng() % 2048;
  opts.keep_snapshots = 1 + rng() % 2;
  auto s = std::move(DiskStorage::Open(kDir, opts).value());
  Model acked;
  Index snap_index = 0;
  raft::Term term = 1;

  for (int step = 0; step < 40; step++) {
    std::vector<Model> candidates = {acked};
    Status st;
    int op = static_cast<int>(rng() % 100);
    bool fault = chance(15);
    if (fault) {
      auto kind = chance(50) ? FaultFileSystem::Fault::kIOError : FaultFileSystem::Fault::kNoSpace;
      if (chance(50))
        fs.FailWriteAfter(rng() % 3, kind);
      else
        fs.FailSyncAfter(rng() % 3, kind);
    }
    if (op < 75 || acked.Last() == acked.base) {
      // Append, sometimes replacing a suffix; sometimes with a new hard state.
      Index first = acked.Last() + 1;
      // Like Raft, never replace what a snapshot covers (it is committed, §5.4).
      Index floor = std::max(acked.base, snap_index);
      if (acked.Last() > floor && chance(25)) {
        first = floor + 1 + rng() % (acked.Last() - floor);
        term++;
      }
      auto ents = MakeEntries(first, first + rng() % 6, term, rng() % 200);
      if (chance(20)) ents.clear();
      HardState hs{term, rng() % 4, 0};
      Index new_last = ents.empty() ? acked.Last() : ents.back().index;
      hs.commit = std::min(acked.hs.commit + rng() % 3, new_last);
      bool with_hs = chance(60) || ents.empty();
      Model m = acked;
      if (!ents.empty() && first <= m.Last()) {
        m.entries.resize(first - m.base - 1);
        candidates.push_back(m);
      }
      for (const Entry& e : ents) {
        m.entries.push_back(e);
        candidates.push_back(m);
      }
      if (with_hs) {
        m.hs = hs;
        candidates.push_back(m);
      }
      const HardState* hsp = with_hs ? &hs : nullptr;
      st = chance(50) ? s->Save(hsp, ents, nullptr)  // copy or move: same outcome
                      : s->Save(hsp, std::vector<Entry>(ents), nullptr);
      if (st.ok()) acked = m;
    } else if (op < 90) {
      // The application snapshots and compacts.
      Index i = acked.base + 1 + rng() % (acked.Last() - acked.base);
      if (i > snap_index) {
        st = s->SaveSnapshot(MakeSnapshot(i, acked.TermAt(i)));
        if (st.ok()) snap_index = i;
      }
      if (st.ok() && std::min(snap_index, acked.Last()) > acked.base) {
        Model m = acked;
        Index c = acked.base + 1 + rng() % (std::min(snap_index, acked.Last()) - acked.base);
        m.base_term = m.TermAt(c);
        m.entries.erase(m.entries.begin(), m.entries.begin() + (c - m.base));
        m.base = c;
        candidates.push_back(m);
        st = s->Compact(c);
        if (st.ok()) acked = m;
      }
    } else {
      // A leader's snapshot is installed.
      Index i = std::max(acked.Last(), snap_index) + 1 + rng() % 5;
      term++;
      Snapshot snap = MakeSnapshot(i, term);
      auto ents = MakeEntries(i + 1, i + rng() % 3, term);
      HardState hs{term, 0, i};
      Model m;
      m.base = i;
      m.base_term = term;
      m.hs = acked.hs;
      candidates.push_back(m);
      for (const Entry& e : ents) {
        m.entries.push_back(e);
        candidates.push_back(m);
      }
      m.hs = hs;
      candidates.push_back(m);
      st = s->Save(&hs, ents, &snap);
      if (st.ok()) {
        acked = m;
        snap_index = i;
      }
    }
    fs.ClearFaults();
    if (st.ok()) {
      ASSERT_EQ(Observe(*s), acked) << "step " << step;
      if (!chance(10)) continue;
      candidates = {acked};  // a crash with nothing in flight
    } else {
      ASSERT_TRUE(fault) << "step " << step << ": " << st.ToString();
      ASSERT_EQ(Observe(*s), acked) << "failed write must not change the visible state";
    }
    // Crash: process death (page cache survives) or power loss (torn or clean).
    s.reset();
    int crash = static_cast<int>(rng() % 3);
    if (crash > 0) fs.PowerLoss(crash == 2);
    auto reopened = DiskStorage::Open(kDir, opts);
    ASSERT_TRUE(reopened.ok()) << "step " << step << ": " << reopened.status().ToString();
    s = std::move(*reopened);
    Model got = Observe(*s);
    ASSERT_LE(s->GetSnapshot()->meta.index, s->LastIndex()) << "step " << step;
    bool found = std::find(candidates.begin(), candidates.end(), got) != candidates.end();
    ASSERT_TRUE(found) << "step " << step << ": recovered " << Describe(got) << ", acked "
                       << Describe(acked) << ", in-flight " << Describe(candidates.back());
    acked = got;
    snap_index = s->GetSnapshot()->meta.index;
    term = std::max({term, acked.hs.term, acked.entries.empty() ? 0 : acked.entries.back().term});
  }
}

TEST(DiskStorageProperty, randomWritesAndCrashes_neverLoseAcknowledgedEntries) {
  for (uint64_t seed = 1; seed <= 2000; seed++) {
    RunSequence(seed);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// --- Streamed snapshot files on the real file system (snapshot_file.h) ---

class SnapshotFileTest : public ::testing::Test {
 protected:
  SnapshotFileTest() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "raftkv-snap-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  ~SnapshotFileTest() override { std::filesystem::remove_all(dir_); }

  static std::string Image(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; i++) s[i] = static_cast<char>((i * 131) ^ (i >> 9));
    return s;
  }
  // Writes `image` in 64 KiB chunks to `path`.
  void Write(const std::string& path, const raft::SnapshotMeta& meta, const std::string& image) {
    auto w = SnapshotFileWriter::Create(fs(), path, meta);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (size_t off = 0; off < image.size(); off += 64 << 10) {
      ASSERT_TRUE((*w)->Append(std::string_view(image).substr(off, 64 << 10)).ok());
    }
    ASSERT_TRUE((*w)->Finish().ok());
  }
  // Reads the image back, checking that no chunk is larger than 1 MiB.
  static Result<std::string> ReadImage(SnapshotFileReader* r) {
    std::string out;
    size_t largest = 0;
    Status s = r->ReadData([&](std::string_view c) {
      largest = std::max(largest, c.size());
      out.append(c);
      return Status::OK();
    });
    if (!s.ok()) return s;
    EXPECT_LE(largest, kSnapshotChunkBytes);
    return out;
  }
  static void Patch(const std::string& path, uint64_t offset, std::string_view bytes) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  std::string OpenError(const std::string& path) {
    auto r = SnapshotFileReader::Open(fs(), path);
    return r.ok() ? "<opened>" : r.status().ToString();
  }
  FileSystem* fs() { return PosixFileSystem(); }

  std::string dir_;
  raft::SnapshotMeta meta_{40, 3, raft::ConfState{{1, 2, 3}, {}, {4}, {}, false}};
};

TEST_F(SnapshotFileTest, streamedRoundTrip_inBoundedChunks) {
  std::string path = dir_ + "/a.snap";
  std::string image = Image(3 * (1 << 20) + 12345);
  Write(path, meta_, image);
  auto r = SnapshotFileReader::Open(fs(), path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->meta(), meta_);
  EXPECT_EQ((*r)->data_len(), image.size());
  auto got = ReadImage(r->get());
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == image);
}

TEST_F(SnapshotFileTest, truncatedTornCorruptAndUnknownVersion_areRefusedNamingFileAndOffset) {
  std::string image = Image(300000);
  std::string path = dir_ + "/t.snap";
  Write(path, meta_, image);
  uint64_t size = std::filesystem::file_size(path);

  std::filesystem::resize_file(path, size - 5);  // trailer cut
  std::string e = OpenError(path);
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("offset"), std::string::npos) << e;

  Write(path, meta_, image);
  std::filesystem::resize_file(path, size / 2);  // torn in the middle of the image
  e = OpenError(path);
  EXPECT_NE(e.find("Corruption"), std::string::npos) << e;
  EXPECT_NE(e.find(path + " at offset"), std::string::npos) << e;

  Write(path, meta_, image);
  Patch(path, size / 2, "\x5a");  // one byte rotted
  e = OpenError(path);
  EXPECT_NE(e.find("checksum mismatch"), std::string::npos) << e;
  EXPECT_NE(e.find(path + " at offset " + std::to_string(size - 4)), std::string::npos) << e;

  Write(path, meta_, image);
  Patch(path, 4, std::string("\x63\0\0\0", 4));
  e = OpenError(path);
  EXPECT_NE(e.find("unknown format version 99"), std::string::npos) << e;
  EXPECT_NE(e.find(path + " at offset 4"), std::string::npos) << e;
}

TEST_F(SnapshotFileTest, version1File_isStillRead) {
  std::string meta;
  PutU64(&meta, meta_.index);
  PutU64(&meta, meta_.term);
  for (const auto* ids : {&meta_.conf.voters, &meta_.conf.voters_outgoing, &meta_.conf.learners,
                          &meta_.conf.learners_next}) {
    PutU32(&meta, static_cast<uint32_t>(ids->size()));
    for (raft::NodeId id : *ids) PutU64(&meta, id);
  }
  meta.push_back(0);
  std::string image = Image(5000);
  std::string file;
  PutU32(&file, 0x504e534bu);
  PutU32(&file, 1);
  PutU32(&file, static_cast<uint32_t>(meta.size()));
  PutU64(&file, image.size());
  file += meta + image;
  PutU32(&file, crc32c::Value(file));
  std::string path = dir_ + "/v1.snap";
  std::ofstream(path, std::ios::binary) << file;
  auto r = SnapshotFileReader::Open(fs(), path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->meta(), meta_);
  EXPECT_EQ(ReadImage(r->get()).value(), image);
}

TEST_F(SnapshotFileTest, unfinishedWriter_leavesNoFile) {
  std::string path = dir_ + "/u.snap.tmp";
  {
    auto w = SnapshotFileWriter::Create(fs(), path, meta_);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(Image(1000)).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

// The server's mode: the storage holds a descriptor, never the image, across saves, the
// install of a received file, and restarts.
TEST_F(SnapshotFileTest, diskStorage_keepsDescriptorsAndRestartsFromAStreamedSnapshot) {
  std::string image = Image(2 * (1 << 20) + 7);
  raft::SnapshotMeta meta{30, 2, raft::ConfState{{1, 2, 3}, {}, {}, {}, false}};
  {
    auto s = DiskStorage::Open(dir_, DiskStorageOptions{});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE((*s)->snapshot_images_in_files());
    ASSERT_TRUE((*s)->Save(nullptr, MakeEntries(1, 40, 2), nullptr).ok());
    auto w = (*s)->NewSnapshotWriter(meta, "take");
    ASSERT_TRUE(w.ok());
    for (size_t off = 0; off < image.size(); off += 1 << 20) {
      ASSERT_TRUE((*w)->Append(std::string_view(image).substr(off, 1 << 20)).ok());
    }
    ASSERT_TRUE((*w)->Finish().ok());
    raft::Snapshot snap{meta, EncodeSnapshotFileRef({(*w)->path(), (*w)->data_len()})};
    ASSERT_TRUE((*s)->SaveSnapshot(snap).ok());
    ASSERT_TRUE((*s)->Compact(30).ok());
    auto got = (*s)->GetSnapshot();
    ASSERT_TRUE(got.ok());
    EXPECT_LT(got->data.size(), 512u);
    EXPECT_TRUE(IsSnapshotFileRef(got->data));
    EXPECT_FALSE(std::filesystem::exists((*w)->path())) << "the temporary file was renamed";
  }
  auto s = DiskStorage::Open(dir_, DiskStorageOptions{});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto got = (*s)->GetSnapshot();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->meta, meta);
  ASSERT_TRUE(IsSnapshotFileRef(got->data));
  EXPECT_EQ(DecodeSnapshotFileRef(got->data)->data_len, image.size());
  auto r = (*s)->OpenSnapshot(*got);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(ReadImage(r->get()).value() == image);
  EXPECT_EQ((*s)->FirstIndex(), 31u);
}

TEST_F(SnapshotFileTest, diskStorage_installsAReceivedFileAndDropsAnUnadoptedOne) {
  std::string image = Image(1500000);
  raft::SnapshotMeta meta{100, 5, raft::ConfState{{1, 2, 3}, {}, {}, {}, false}};
  std::string stray;
  {
    auto s = DiskStorage::Open(dir_, DiskStorageOptions{});
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Save(nullptr, MakeEntries(1, 10, 1), nullptr).ok());
    // A transfer that was received but never handed over (the core dropped it).
    auto w0 = (*s)->NewSnapshotWriter(meta, "recv");
    ASSERT_TRUE(w0.ok());
    ASSERT_TRUE((*w0)->Finish().ok());
    stray = (*w0)->path();
    auto w = (*s)->NewSnapshotWriter(meta, "recv");
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(image).ok());
    ASSERT_TRUE((*w)->Finish().ok());
    raft::Snapshot snap{meta, EncodeSnapshotFileRef({(*w)->path(), (*w)->data_len()})};
    HardState hs{5, 0, 100};
    ASSERT_TRUE((*s)->Save(&hs, {}, &snap).ok());
    EXPECT_EQ((*s)->FirstIndex(), 101u);
    EXPECT_FALSE(std::filesystem::exists(stray)) << "a received file at or below it is stale";
    // A newer transfer that was received and not handed over yet is kept...
    auto w2 = (*s)->NewSnapshotWriter(raft::SnapshotMeta{200, 5, {}}, "recv");
    ASSERT_TRUE((*w2)->Finish().ok());
    stray = (*w2)->path();
    ASSERT_TRUE((*s)->Save(nullptr, MakeEntries(101, 110, 5), nullptr).ok());
    ASSERT_TRUE((*s)->SaveSnapshot(MakeSnapshot(105, 5)).ok());
    EXPECT_TRUE(std::filesystem::exists(stray));
  }
  auto s = DiskStorage::Open(dir_, DiskStorageOptions{});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(stray)) << "...and deleted at the next open";
  // The newest snapshot is the application's at 105; the received one at 100 is kept as the
  // fallback and still readable.
  EXPECT_EQ((*s)->GetSnapshot()->meta.index, 105u);
  raft::Snapshot received{meta, ""};
  auto r = (*s)->OpenSnapshot(received);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(ReadImage(r->get()).value() == image);
}

TEST_F(SnapshotFileTest, diskStorage_refusesAReceivedFileForAnotherIndex) {
  auto s = DiskStorage::Open(dir_, DiskStorageOptions{});
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Save(nullptr, MakeEntries(1, 10, 1), nullptr).ok());
  raft::SnapshotMeta meta{100, 5, {}};
  auto w = (*s)->NewSnapshotWriter(meta, "recv");
  ASSERT_TRUE((*w)->Finish().ok());
  raft::SnapshotMeta other{120, 5, {}};
  raft::Snapshot snap{other, EncodeSnapshotFileRef({(*w)->path(), 0})};
  EXPECT_FALSE((*s)->Save(nullptr, {}, &snap).ok());
  EXPECT_EQ((*s)->GetSnapshot()->meta.index, 0u) << "nothing installed";
  EXPECT_EQ((*s)->LastIndex(), 10u);
  EXPECT_FALSE(std::filesystem::exists((*w)->path())) << "the unusable file is removed";
  // The same for an application snapshot that is not newer than the saved one.
  auto w2 = (*s)->NewSnapshotWriter(raft::SnapshotMeta{0, 0, {}}, "take");
  ASSERT_TRUE((*w2)->Finish().ok());
  raft::Snapshot stale{raft::SnapshotMeta{0, 0, {}}, EncodeSnapshotFileRef({(*w2)->path(), 0})};
  EXPECT_FALSE((*s)->SaveSnapshot(stale).ok());
  EXPECT_FALSE(std::filesystem::exists((*w2)->path()));
}

}  // namespace
}  // namespace raftkv::storage
