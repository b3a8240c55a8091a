#include "storage/wal.h"

#include <gtest/gtest.h>

#include "storage/fault_fs.h"
#include "storage/wal_format.h"

namespace raftkv::storage {
namespace {

using raft::Entry;
using raft::HardState;

constexpr const char* kDir = "/d";

std::vector<Entry> MakeEntries(raft::Index first, raft::Index last, raft::Term term,
                               size_t size = 10) {
  std::vector<Entry> out;
  for (raft::Index i = first; i <= last; i++) {
    out.push_back(Entry{term, i, raft::EntryType::kNormal,
                        std::string(size, static_cast<char>('a' + i % 26))});
  }
  return out;
}

class WalTest : public ::testing::Test {
 protected:
  WalTest() : fs_(1) { (void)fs_.CreateDir(kDir); }

  std::unique_ptr<Wal> OpenOk(WalOptions opts = SmallSegments()) {
    auto w = Wal::Open(&fs_, kDir, opts, &state_);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(*w) : nullptr;
  }
  Status OpenStatus(WalOptions opts = SmallSegments()) {
    auto w = Wal::Open(&fs_, kDir, opts, &state_);
    return w.ok() ? Status::OK() : w.status();
  }
  static WalOptions OneSegment() {
    WalOptions o;
    o.segment_bytes = 1 << 20;
    return o;
  }
  static WalOptions SmallSegments() {
    WalOptions o;
    o.segment_bytes = 4096;
    return o;
  }
  std::vector<std::string> Segments() {
    std::vector<std::string> out;
    auto names = fs_.List(kDir);
    for (auto& n : *names) {
      if (n.ends_with(".log")) out.push_back(JoinPath(kDir, n));
    }
    return out;
  }

  FaultFileSystem fs_;
  WalState state_;
};

TEST_F(WalTest, open_emptyDir_createsFirstSegmentDurably) {
  auto w = OpenOk();
  EXPECT_EQ(state_.LastIndex(), 0u);
  fs_.PowerLoss(false);
  ASSERT_EQ(Segments().size(), 1u);
  EXPECT_EQ(Segments()[0], "/d/wal-0000000000000000-0000000000000001.log");
}

TEST_F(WalTest, write_thenReopen_recoversEntriesAndHardState) {
  {
    auto w = OpenOk();
    HardState hs{3, 2, 4};
    ASSERT_TRUE(w->Write(&hs, MakeEntries(1, 5, 3), nullptr).ok());
    EXPECT_EQ(w->sync_count(), 3u);  // 2 for creating the segment, 1 for the batch
  }
  fs_.PowerLoss(false);
  auto w = OpenOk();
  EXPECT_EQ(state_.entries, MakeEntries(1, 5, 3));
  EXPECT_EQ(state_.hard_state, (HardState{3, 2, 4}));
  EXPECT_EQ(state_.recovery_note, "");
}

TEST_F(WalTest, write_batchIsOneSync) {
  auto w = OpenOk(OneSegment());
  uint64_t before = fs_.sync_count();
  HardState hs{1, 1, 0};
  ASSERT_TRUE(w->Write(&hs, MakeEntries(1, 100, 1), nullptr).ok());
  EXPECT_EQ(fs_.sync_count() - before, 1u);
}

TEST_F(WalTest, truncate_conflictingSuffix_survivesRecovery) {
  {
    auto w = OpenOk();
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(1, 6, 1), nullptr).ok());
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(4, 5, 2), nullptr).ok());
  }
  fs_.PowerLoss(false);
  OpenOk();
  auto want = MakeEntries(1, 3, 1);
  for (auto& e : MakeEntries(4, 5, 2)) want.push_back(e);
  EXPECT_EQ(state_.entries, want);
}

TEST_F(WalTest, rotate_manySegments_recoversAll) {
  {
    auto w = OpenOk();
    for (raft::Index i = 1; i <= 300; i += 10) {
      ASSERT_TRUE(w->Write(nullptr, MakeEntries(i, i + 9, 1, 100), nullptr).ok());
    }
    EXPECT_GT(w->segment_count(), 5u);
  }
  fs_.PowerLoss(false);
  OpenOk();
  EXPECT_EQ(state_.entries, MakeEntries(1, 300, 1, 100));
}

TEST_F(WalTest, recover_tornTail_isTruncatedAndAppendable) {
  {
    auto w = OpenOk(OneSegment());
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(1, 3, 1), nullptr).ok());
    fs_.FailSyncAfter(0, FaultFileSystem::Fault::kIOError);
    EXPECT_FALSE(w->Write(nullptr, MakeEntries(4, 4, 1, 3000), nullptr).ok());
    // Sticky: even a write that could succeed is refused.
    EXPECT_FALSE(w->Write(nullptr, MakeEntries(4, 4, 1), nullptr).ok());
  }
  // Keep a torn prefix of the failed record in the durable content.
  std::string path = Segments()[0];
  auto w2 = OpenOk(OneSegment());  // page cache still has the whole record: recovered
  EXPECT_EQ(state_.LastIndex(), 4u);
  w2.reset();
  fs_.PowerLoss(false);
  {
    auto f = fs_.OpenWritable(path, false);
    std::string rec(20, 'x');  // a record header claiming a length that is not there
    ASSERT_TRUE((*f)->WriteAt(wal_format::kSegmentHeaderSize + 3 * (12 + 17 + 10), rec).ok());
    ASSERT_TRUE((*f)->Sync().ok());
  }
  auto w = OpenOk(OneSegment());
  EXPECT_EQ(state_.entries, MakeEntries(1, 3, 1));
  EXPECT_NE(state_.recovery_note.find(path), std::string::npos) << state_.recovery_note;
  ASSERT_TRUE(w->Write(nullptr, MakeEntries(4, 6, 2), nullptr).ok());
  w.reset();
  fs_.PowerLoss(false);
  OpenOk(OneSegment());
  EXPECT_EQ(state_.LastIndex(), 6u);
  EXPECT_EQ(state_.recovery_note, "");
}

TEST_F(WalTest, recover_bitFlipInOlderSegment_refusesWithFileAndOffset) {
  {
    auto w = OpenOk();
    for (raft::Index i = 1; i <= 100; i += 10) {
      ASSERT_TRUE(w->Write(nullptr, MakeEntries(i, i + 9, 1, 100), nullptr).ok());
    }
  }
  std::string first = Segments()[0];
  uint64_t off = wal_format::kSegmentHeaderSize + 2 * (12 + 17 + 100) + 30;
  ASSERT_TRUE(fs_.FlipBit(first, off, 3).ok());
  Status s = OpenStatus();
  EXPECT_TRUE(s.Is(Status::Code::kCorruption)) << s.ToString();
  EXPECT_NE(s.message().find(first + " at offset " +
                             std::to_string(wal_format::kSegmentHeaderSize + 2 * (12 + 17 + 100))),
            std::string::npos)
      << s.ToString();
}

TEST_F(WalTest, recover_bitFlipInLastSegmentMiddle_refuses) {
  {
    auto w = OpenOk(OneSegment());
    for (raft::Index i = 1; i <= 5; i++) {
      ASSERT_TRUE(w->Write(nullptr, MakeEntries(i, i, 1), nullptr).ok());
    }
  }
  ASSERT_TRUE(fs_.FlipBit(Segments()[0], wal_format::kSegmentHeaderSize + 12 + 20, 0).ok());
  Status s = OpenStatus(OneSegment());
  EXPECT_TRUE(s.Is(Status::Code::kCorruption)) << s.ToString();
  EXPECT_NE(s.message().find("offset 32"), std::string::npos) << s.ToString();
}

TEST_F(WalTest, recover_badSegmentHeader_refuses) {
  {
    auto w = OpenOk();
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(1, 1, 1), nullptr).ok());
  }
  ASSERT_TRUE(fs_.FlipBit(Segments()[0], 9, 1).ok());
  Status s = OpenStatus();
  EXPECT_TRUE(s.Is(Status::Code::kCorruption)) << s.ToString();
  EXPECT_NE(s.message().find("offset 0"), std::string::npos) << s.ToString();
}

TEST_F(WalTest, recover_missingMiddleSegment_refuses) {
  {
    auto w = OpenOk();
    for (raft::Index i = 1; i <= 100; i += 10) {
      ASSERT_TRUE(w->Write(nullptr, MakeEntries(i, i + 9, 1, 100), nullptr).ok());
    }
  }
  auto segs = Segments();
  ASSERT_GE(segs.size(), 3u);
  ASSERT_TRUE(fs_.Remove(segs[1]).ok());
  Status s = OpenStatus();
  EXPECT_TRUE(s.Is(Status::Code::kCorruption)) << s.ToString();
  EXPECT_NE(s.message().find("missing"), std::string::npos) << s.ToString();
}

TEST_F(WalTest, removeSegments_afterCompaction_recoveryStartsAtMarker) {
  {
    auto w = OpenOk();
    HardState hs{1, 1, 100};
    for (raft::Index i = 1; i <= 100; i += 10) {
      ASSERT_TRUE(w->Write(&hs, MakeEntries(i, i + 9, 1, 100), nullptr).ok());
    }
    size_t before = w->segment_count();
    WalMarker m{80, 1, false};
    ASSERT_TRUE(w->Write(nullptr, {}, &m).ok());
    ASSERT_TRUE(w->RemoveSegmentsThrough(80).ok());
    EXPECT_LT(w->segment_count(), before);
    ASSERT_TRUE(w->Write(&hs, MakeEntries(101, 110, 1, 100), nullptr).ok());
  }
  fs_.PowerLoss(false);
  OpenOk();
  EXPECT_EQ(state_.base, (WalMarker{80, 1, false}));
  EXPECT_EQ(state_.entries, MakeEntries(81, 110, 1, 100));
  EXPECT_EQ(state_.hard_state, (HardState{1, 1, 100}));
}

TEST_F(WalTest, installMarker_replacesLog) {
  {
    auto w = OpenOk();
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(1, 10, 1), nullptr).ok());
    WalMarker m{50, 3, true};
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(51, 52, 3), &m).ok());
  }
  fs_.PowerLoss(false);
  OpenOk();
  EXPECT_EQ(state_.base, (WalMarker{50, 3, true}));
  EXPECT_EQ(state_.entries, MakeEntries(51, 52, 3));
}

TEST_F(WalTest, noSpaceOnRotation_failsCleanly_thenRecovers) {
  WalOptions o = SmallSegments();
  auto w = OpenOk(o);
  ASSERT_TRUE(w->Write(nullptr, MakeEntries(1, 20, 1, 100), nullptr).ok());
  fs_.SetSpaceLimit(fs_.FileSize(Segments()[0]).value() + 10);
  Status s;
  raft::Index next = 21;
  for (; next < 200 && s.ok(); next++)
    s = w->Write(nullptr, MakeEntries(next, next, 1, 100), nullptr);
  EXPECT_NE(s.message().find("No space"), std::string::npos) << s.ToString();
  raft::Index acked = next - 2;
  w.reset();
  fs_.ClearFaults();
  w = OpenOk(o);
  EXPECT_EQ(state_.LastIndex(), acked);
  ASSERT_TRUE(w->Write(nullptr, MakeEntries(acked + 1, acked + 1, 1, 100), nullptr).ok());
}

TEST_F(WalTest, recover_zeroedTailRecord_isEndOfLog) {
  {
    auto w = OpenOk(OneSegment());
    for (raft::Index i = 1; i <= 3; i++) {
      ASSERT_TRUE(w->Write(nullptr, MakeEntries(i, i, 1), nullptr).ok());
    }
  }
  // The last record's sectors read back as zeros (written, never synced, power lost).
  auto f = fs_.OpenWritable(Segments()[0], false);
  ASSERT_TRUE((*f)->WriteAt(wal_format::kSegmentHeaderSize + 2 * 39, std::string(39, '\0')).ok());
  OpenOk(OneSegment());
  EXPECT_EQ(state_.entries, MakeEntries(1, 2, 1));
}

TEST_F(WalTest, recover_leftoverTmpSegment_isDeleted) {
  OpenOk().reset();
  auto f = fs_.OpenWritable("/d/wal-0000000000000001-0000000000000001.log.tmp", true);
  ASSERT_TRUE((*f)->WriteAt(0, "half a header").ok());
  OpenOk();
  EXPECT_FALSE(fs_.Exists("/d/wal-0000000000000001-0000000000000001.log.tmp"));
  EXPECT_EQ(Segments().size(), 1u);
}

TEST_F(WalTest, recover_interruptedSegmentRemoval_skipsObsoleteSegments) {
  {
    auto w = OpenOk();
    for (raft::Index i = 1; i <= 150; i += 10) {
      ASSERT_TRUE(w->Write(nullptr, MakeEntries(i, i + 9, 1, 100), nullptr).ok());
    }
    WalMarker m{140, 1, false};
    ASSERT_TRUE(w->Write(nullptr, {}, &m).ok());
  }
  // Removal of the obsolete segments got only as far as the second one.
  auto segs = Segments();
  ASSERT_GE(segs.size(), 4u);
  ASSERT_TRUE(fs_.Remove(segs[1]).ok());
  OpenOk();
  EXPECT_EQ(state_.base, (WalMarker{140, 1, false}));
  EXPECT_EQ(state_.entries, MakeEntries(141, 150, 1, 100));
  EXPECT_FALSE(fs_.Exists(segs[0])) << "obsolete segment before the gap is deleted";
}

TEST_F(WalTest, write_entryAboveRecordLimit_isRefusedNotSticky) {
  auto w = OpenOk();
  std::vector<Entry> big = {
      Entry{1, 1, raft::EntryType::kNormal, std::string(wal_format::kMaxRecordPayload, 'x')}};
  EXPECT_TRUE(w->Write(nullptr, big, nullptr).Is(Status::Code::kInvalidArgument));
  EXPECT_TRUE(w->Write(nullptr, MakeEntries(1, 1, 1), nullptr).ok());
}

TEST_F(WalTest, write_hugeBatch_thenMore_recoversAll) {
  // A batch above 64 MiB makes the Wal release its encode buffer afterwards; the next
  // batch must still land after it.
  std::vector<Entry> huge = MakeEntries(1, 5, 1, 13 << 20);
  {
    auto w = OpenOk(OneSegment());
    ASSERT_TRUE(w->Write(nullptr, huge, nullptr).ok());
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(6, 7, 1), nullptr).ok());
  }
  fs_.PowerLoss(false);
  OpenOk(OneSegment());
  ASSERT_EQ(state_.LastIndex(), 7u);
  EXPECT_TRUE(state_.entries[4] == huge[4]);
  EXPECT_TRUE(state_.entries[6] == MakeEntries(7, 7, 1)[0]);
}

TEST_F(WalTest, recover_unsyncedSectorLostOutOfOrder_isTornNotCorrupt) {
  {
    auto w = OpenOk(OneSegment());
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(1, 1, 1), nullptr).ok());
    // One batch, two records; a crash persisted the second but not a middle sector of the
    // first (writeback out of order).
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(2, 3, 1, 2000), nullptr).ok());
  }
  auto f = fs_.OpenWritable(Segments()[0], false);
  ASSERT_TRUE((*f)->WriteAt(1024, std::string(512, '\0')).ok());
  OpenOk(OneSegment());
  EXPECT_EQ(state_.entries, MakeEntries(1, 1, 1));
  EXPECT_NE(state_.recovery_note.find("torn tail"), std::string::npos);
}

// A large batch ends with a padding record on a page boundary, so the next write starts
// page-aligned; recovery skips the padding and keeps everything.
TEST_F(WalTest, write_largeBatch_endsOnPageBoundary_andRecovers) {
  std::vector<Entry> small = MakeEntries(1, 1, 1, 10);
  std::vector<Entry> big = MakeEntries(2, 9, 1, 10000);  // 80 KB: padded
  std::vector<Entry> after = MakeEntries(10, 10, 1, 10);
  {
    auto w = OpenOk(OneSegment());
    ASSERT_TRUE(w->Write(nullptr, small, nullptr).ok());
    ASSERT_TRUE(w->Write(nullptr, big, nullptr).ok());
    ASSERT_TRUE(w->Write(nullptr, after, nullptr).ok());
  }
  fs_.PowerLoss(false);
  auto bytes = fs_.ReadAll(Segments()[0]);
  ASSERT_TRUE(bytes.ok());
  // The record after the big batch (entry 10: payload term|index|type|data) starts on a page.
  std::string needle(8, '\0');
  needle[0] = 10;  // index 10, little-endian
  size_t at = bytes->find(std::string(1, '\x01') + std::string(7, '\0') + needle);
  ASSERT_NE(at, std::string::npos);
  size_t record_start = at - wal_format::kRecordHeaderSize;
  EXPECT_EQ(record_start % wal_format::kPageSize, 0u) << record_start;
  OpenOk(OneSegment());
  ASSERT_EQ(state_.LastIndex(), 10u);
  EXPECT_TRUE(state_.entries[5] == big[4]);
  EXPECT_TRUE(state_.entries[9] == after[0]);
}

// Padding is not zeros: a rotted padding record followed by good records is corruption, not a
// torn tail that would truncate the acknowledged records after it.
TEST_F(WalTest, recover_bitFlipInPadding_refuses) {
  {
    auto w = OpenOk(OneSegment());
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(1, 8, 1, 10000), nullptr).ok());
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(9, 9, 1, 10), nullptr).ok());
  }
  auto bytes = fs_.ReadAll(Segments()[0]);
  ASSERT_TRUE(bytes.ok());
  // The padding's filler sits just before the page boundary where entry 9's record starts.
  size_t boundary = 0;
  for (size_t off = wal_format::kPageSize; off < bytes->size(); off += wal_format::kPageSize) {
    if (static_cast<unsigned char>((*bytes)[off - 1]) == 0xA5) {
      boundary = off;
      break;
    }
  }
  ASSERT_GT(boundary, 0u);
  ASSERT_TRUE(fs_.FlipBit(Segments()[0], boundary - 10, 2).ok());
  Status s = OpenStatus(OneSegment());
  EXPECT_TRUE(s.Is(Status::Code::kCorruption)) << s.ToString();
}

// Rotation (etcd's rule): with 4096-byte segments and 1290-byte batches, four batches fill
// the first segment (97 + 4 x 1290 >= 4096) and the fifth opens the second.
constexpr raft::Index kBatchesPerSmallSegment = 4;

std::unique_ptr<Wal> FillFirstSegment(std::unique_ptr<Wal> w, bool last_synced) {
  for (raft::Index b = 0; b < kBatchesPerSmallSegment; b++) {
    bool sync = last_synced || b + 1 < kBatchesPerSmallSegment;
    EXPECT_TRUE(
        w->Write(nullptr, MakeEntries(b * 10 + 1, b * 10 + 10, 1, 100), nullptr, sync).ok());
  }
  EXPECT_EQ(w->segment_count(), 1u);
  return w;
}

TEST_F(WalTest, rotate_batchOpensNewSegment_oneFileSyncAndOneDirSync) {
  auto w = FillFirstSegment(OpenOk(), true);
  uint64_t syncs = fs_.sync_count();
  ASSERT_TRUE(w->Write(nullptr, MakeEntries(41, 50, 1, 100), nullptr).ok());
  EXPECT_EQ(w->segment_count(), 2u);
  EXPECT_EQ(fs_.sync_count() - syncs, 2u) << "the new file's fdatasync and the directory's";
  fs_.PowerLoss(true);
  OpenOk();
  EXPECT_EQ(state_.entries, MakeEntries(1, 50, 1, 100));
  EXPECT_EQ(Segments().size(), 2u);
}

// The write that opens a segment fails at its fdatasync and the power goes: the .tmp file
// never got a durable name, the batch was never acknowledged, and nothing before it is lost.
TEST_F(WalTest, rotate_crashBeforeNewSegmentIsDurable_losesOnlyThatBatch) {
  for (bool torn : {false, true}) {
    SCOPED_TRACE(torn);
    FaultFileSystem fs(7);
    ASSERT_TRUE(fs.CreateDir(kDir).ok());
    {
      auto w = std::move(Wal::Open(&fs, kDir, SmallSegments(), &state_).value());
      for (raft::Index b = 0; b < kBatchesPerSmallSegment; b++) {
        ASSERT_TRUE(w->Write(nullptr, MakeEntries(b * 10 + 1, b * 10 + 10, 1, 100), nullptr).ok());
      }
      fs.FailSyncAfter(0, FaultFileSystem::Fault::kIOError);
      HardState hs{1, 1, 50};
      EXPECT_FALSE(w->Write(&hs, MakeEntries(41, 50, 1, 100), nullptr).ok());
      EXPECT_FALSE(w->sticky_error().ok());
    }
    fs.PowerLoss(torn);
    auto w = Wal::Open(&fs, kDir, SmallSegments(), &state_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_EQ(state_.entries, MakeEntries(1, 40, 1, 100));
    EXPECT_EQ(state_.hard_state, HardState{});
    auto names = fs.List(kDir).value();
    for (const auto& n : names) EXPECT_FALSE(n.ends_with(".tmp")) << n;
  }
}

// A rotation that fails while writing (disk full) leaves a half-written .tmp behind without
// any crash; reopening deletes it, and the same segment is then created again.
TEST_F(WalTest, rotate_writeFailsHalfway_tmpIsDeletedAndRotationRetried) {
  {
    auto w = FillFirstSegment(OpenOk(), true);
    fs_.FailWriteAfter(0, FaultFileSystem::Fault::kNoSpace);
    Status s = w->Write(nullptr, MakeEntries(41, 50, 1, 100), nullptr);
    EXPECT_NE(s.message().find("No space"), std::string::npos) << s.ToString();
    EXPECT_TRUE(w->Write(nullptr, MakeEntries(41, 50, 1, 100), nullptr).Is(s.code()))
        << "the error is sticky";
  }
  fs_.ClearFaults();
  auto w = OpenOk();
  EXPECT_EQ(state_.entries, MakeEntries(1, 40, 1, 100));
  auto names = fs_.List(kDir).value();
  for (const auto& n : names) EXPECT_FALSE(n.ends_with(".tmp")) << n;
  ASSERT_TRUE(w->Write(nullptr, MakeEntries(41, 50, 1, 100), nullptr).ok());
  EXPECT_EQ(w->segment_count(), 2u);
  fs_.PowerLoss(true);
  OpenOk();
  EXPECT_EQ(state_.entries, MakeEntries(1, 50, 1, 100));
}

// A batch written without a sync, then a rotation: the old segment is synced before the new
// one exists, so the unsynced batch is durable with the (acknowledged) batch after it.
TEST_F(WalTest, rotate_afterUnsyncedBatch_syncsOldSegmentFirst) {
  {
    auto w = FillFirstSegment(OpenOk(), false);
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(41, 50, 1, 100), nullptr).ok());
    EXPECT_EQ(w->segment_count(), 2u);
  }
  fs_.PowerLoss(true);
  OpenOk();
  EXPECT_EQ(state_.entries, MakeEntries(1, 50, 1, 100));
  EXPECT_EQ(state_.recovery_note, "");
}

// Reopened with smaller segments than the last segment was preallocated for: the zero tail
// is cut before the next segment follows (else an older segment would end in zeros).
TEST_F(WalTest, rotate_afterReopenWithSmallerSegments_cutsPreallocatedTail) {
  {
    auto w = OpenOk(OneSegment());
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(1, 50, 1, 100), nullptr).ok());
  }
  {
    auto w = OpenOk();  // 4096-byte segments: the 1 MiB file is already "full"
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(51, 60, 1, 100), nullptr).ok());
    EXPECT_EQ(w->segment_count(), 2u);
  }
  fs_.PowerLoss(true);
  OpenOk();
  EXPECT_EQ(state_.entries, MakeEntries(1, 60, 1, 100));
  EXPECT_LT(fs_.FileSize(Segments()[0]).value(), 1u << 20);
}

// A batch above 2 MiB is written in chunks. A failure in a later chunk is like a torn write
// of the whole batch: it is not acknowledged, its hard state (written last) is not
// recovered, and what survives of it is a prefix of its entries after everything before.
TEST_F(WalTest, write_chunkedBatchFailsInALaterChunk_recoversAPrefixAndNothingElse) {
  for (bool power_loss : {false, true}) {
    SCOPED_TRACE(power_loss);
    FaultFileSystem fs(11);
    ASSERT_TRUE(fs.CreateDir(kDir).ok());
    WalOptions o;
    o.segment_bytes = 16 << 20;
    std::vector<Entry> batch = MakeEntries(11, 510, 2, 10000);  // 5 MB: three chunks
    {
      auto w = std::move(Wal::Open(&fs, kDir, o, &state_).value());
      HardState hs{1, 1, 10};
      ASSERT_TRUE(w->Write(&hs, MakeEntries(1, 10, 1), nullptr).ok());
      fs.FailWriteAfter(1, FaultFileSystem::Fault::kIOError);  // the second chunk
      HardState hs2{2, 1, 510};
      uint64_t writes = fs.write_count();
      EXPECT_FALSE(w->Write(&hs2, batch, nullptr).ok());
      EXPECT_EQ(fs.write_count() - writes, 2u);
    }
    if (power_loss) fs.PowerLoss(true);
    auto w = Wal::Open(&fs, kDir, o, &state_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_EQ(state_.hard_state, (HardState{1, 1, 10}));
    ASSERT_GE(state_.entries.size(), 10u);
    EXPECT_LT(state_.entries.size(), 510u);
    EXPECT_EQ(std::vector<Entry>(state_.entries.begin(), state_.entries.begin() + 10),
              MakeEntries(1, 10, 1));
    for (size_t i = 10; i < state_.entries.size(); i++) {
      ASSERT_TRUE(state_.entries[i] == batch[i - 10]) << i;
    }
  }
}

// Synced pages are handed to DropCache as the log grows, never unsynced ones; the page
// being appended to is kept. Nothing changes what recovery reads.
TEST_F(WalTest, dropCache_onlySyncedWholePages_recoveryUnaffected) {
  WalOptions o;
  o.segment_bytes = 2 << 20;
  {
    auto w = OpenOk(o);
    raft::Index next = 1;
    for (int b = 0; b < 48; b++, next += 8) {  // 48 x 80 KB (padded to 4 KiB): two segments
      ASSERT_TRUE(w->Write(nullptr, MakeEntries(next, next + 7, 1, 10000), nullptr).ok());
    }
    EXPECT_EQ(w->segment_count(), 2u);
    EXPECT_EQ(fs_.unsynced_cache_drops(), 0u);
    EXPECT_GE(fs_.cache_dropped_bytes(), 3u << 20);
    uint64_t dropped = fs_.cache_dropped_bytes();
    for (int b = 0; b < 4; b++, next += 8) {  // unsynced: nothing more is dropped
      ASSERT_TRUE(w->Write(nullptr, MakeEntries(next, next + 7, 1, 10000), nullptr, false).ok());
    }
    EXPECT_EQ(fs_.cache_dropped_bytes(), dropped);
    ASSERT_TRUE(w->Write(nullptr, MakeEntries(next, next, 1, 10), nullptr).ok());
    EXPECT_GT(fs_.cache_dropped_bytes(), dropped);
    EXPECT_EQ(fs_.unsynced_cache_drops(), 0u);
  }
  fs_.PowerLoss(false);
  OpenOk(o);
  EXPECT_EQ(state_.LastIndex(), 48u * 8 + 4 * 8 + 1);
  o.drop_cache = false;
  FaultFileSystem other(2);
  ASSERT_TRUE(other.CreateDir(kDir).ok());
  auto w = std::move(Wal::Open(&other, kDir, o, &state_).value());
  ASSERT_TRUE(w->Write(nullptr, MakeEntries(1, 200, 1, 10000), nullptr).ok());
  EXPECT_EQ(other.cache_dropped_bytes(), 0u);
}

}  // namespace
}  // namespace raftkv::storage
