#include "storage/fault_fs.h"

#include <gtest/gtest.h>

namespace raftkv::storage {
namespace {

class FaultFsTest : public ::testing::Test {
 protected:
  FaultFsTest() : fs_(3) { (void)fs_.CreateDir("/d"); }
  std::unique_ptr<WritableFile> Open(const std::string& p) {
    return std::move(fs_.OpenWritable(p, false).value());
  }
  std::string Read(const std::string& p) {
    auto r = fs_.ReadAll(p);
    return r.ok() ? *r : "<missing>";
  }
  FaultFileSystem fs_;
};

TEST_F(FaultFsTest, powerLoss_dropsUnsyncedBytes) {
  auto f = Open("/d/a");
  ASSERT_TRUE(fs_.SyncDir("/d").ok());
  ASSERT_TRUE(f->WriteAt(0, "durable").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->WriteAt(7, "-lost").ok());
  EXPECT_EQ(Read("/d/a"), "durable-lost");
  fs_.PowerLoss(false);
  EXPECT_EQ(Read("/d/a"), "durable");
  EXPECT_FALSE(f->WriteAt(0, "x").ok()) << "handles die with the power";
}

TEST_F(FaultFsTest, powerLoss_tornKeepsOnlyAPrefix) {
  bool saw_partial = false;
  for (int i = 0; i < 50; i++) {
    FaultFileSystem fs(i);
    ASSERT_TRUE(fs.CreateDir("/d").ok());
    auto f = std::move(fs.OpenWritable("/d/a", false).value());
    ASSERT_TRUE(fs.SyncDir("/d").ok());
    ASSERT_TRUE(f->WriteAt(0, "0123456789").ok());
    fs.PowerLoss(true);
    std::string got = fs.ReadAll("/d/a").value();
    EXPECT_EQ(got, std::string("0123456789").substr(0, got.size()));
    saw_partial |= !got.empty() && got.size() < 10;
  }
  EXPECT_TRUE(saw_partial);
}

// A vectored write is one write of the joined pieces: it reads back joined, and power loss
// keeps only a prefix of the joined bytes (never a later piece without an earlier one).
TEST_F(FaultFsTest, writeAtV_isOneWriteOfTheJoinedPieces_tornAsAPrefix) {
  std::vector<std::string_view> pieces = {"head|", "", "0123456789", "|tail"};
  const std::string joined = "head|0123456789|tail";
  bool saw_partial = false;
  for (int i = 0; i < 50; i++) {
    FaultFileSystem fs(i);
    ASSERT_TRUE(fs.CreateDir("/d").ok());
    auto f = std::move(fs.OpenWritable("/d/a", false).value());
    ASSERT_TRUE(fs.SyncDir("/d").ok());
    ASSERT_TRUE(f->WriteAt(0, "sync").ok());
    ASSERT_TRUE(f->Sync().ok());
    uint64_t writes = fs.write_count();
    ASSERT_TRUE(f->WriteAtV(4, pieces).ok());
    EXPECT_EQ(fs.write_count(), writes + 1);
    EXPECT_EQ(fs.ReadAll("/d/a").value(), "sync" + joined);
    fs.PowerLoss(true);
    std::string got = fs.ReadAll("/d/a").value();
    ASSERT_GE(got.size(), 4u);
    EXPECT_EQ(got, ("sync" + joined).substr(0, got.size()));
    saw_partial |= got.size() > 4 && got.size() < 4 + joined.size();
  }
  EXPECT_TRUE(saw_partial);
}

TEST_F(FaultFsTest, writeAtV_failedWrite_leavesAPrefix) {
  auto f = Open("/d/a");
  fs_.FailWriteAfter(0, FaultFileSystem::Fault::kIOError);
  std::vector<std::string_view> pieces = {"abc", "defgh", "ij"};
  Status s = f->WriteAtV(0, pieces);
  EXPECT_NE(s.message().find("Input/output error"), std::string::npos) << s.ToString();
  std::string got = Read("/d/a");
  EXPECT_EQ(got, std::string("abcdefghij").substr(0, got.size()));
}

TEST_F(FaultFsTest, dropCache_keepsContent_andCountsUnsyncedDrops) {
  auto f = Open("/d/a");
  ASSERT_TRUE(f->WriteAt(0, "synced").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->WriteAt(6, "-dirty").ok());
  f->DropCache(0, 6);
  EXPECT_EQ(fs_.unsynced_cache_drops(), 0u);
  f->DropCache(0, 12);
  EXPECT_EQ(fs_.unsynced_cache_drops(), 1u);
  EXPECT_EQ(fs_.cache_dropped_bytes(), 18u);
  EXPECT_EQ(Read("/d/a"), "synced-dirty");
}

TEST_F(FaultFsTest, powerLoss_unsyncedDirectoryEntriesVanish) {
  auto f = Open("/d/new");
  ASSERT_TRUE(f->WriteAt(0, "data").ok());
  ASSERT_TRUE(f->Sync().ok());  // the data, but not the name
  fs_.PowerLoss(false);
  EXPECT_FALSE(fs_.Exists("/d/new"));
}

TEST_F(FaultFsTest, rename_isDurableOnlyAfterDirSync) {
  auto f = Open("/d/a.tmp");
  ASSERT_TRUE(f->WriteAt(0, "v1").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(fs_.SyncDir("/d").ok());
  ASSERT_TRUE(fs_.Rename("/d/a.tmp", "/d/a").ok());
  fs_.PowerLoss(false);
  EXPECT_TRUE(fs_.Exists("/d/a.tmp"));
  EXPECT_FALSE(fs_.Exists("/d/a"));
  ASSERT_TRUE(fs_.Rename("/d/a.tmp", "/d/a").ok());
  ASSERT_TRUE(fs_.SyncDir("/d").ok());
  fs_.PowerLoss(false);
  EXPECT_EQ(Read("/d/a"), "v1");
}

TEST_F(FaultFsTest, failNthWrite_failsOnceWithChosenError) {
  auto f = Open("/d/a");
  fs_.FailWriteAfter(1, FaultFileSystem::Fault::kIOError);
  EXPECT_TRUE(f->WriteAt(0, "a").ok());
  Status s = f->WriteAt(1, "b");
  EXPECT_TRUE(s.Is(Status::Code::kIOError));
  EXPECT_NE(s.message().find("Input/output"), std::string::npos);
  EXPECT_TRUE(f->WriteAt(1, "b").ok());
}

TEST_F(FaultFsTest, spaceLimit_writesWhatFitsThenNoSpace) {
  auto f = Open("/d/a");
  fs_.SetSpaceLimit(5);
  Status s = f->WriteAt(0, "0123456789");
  EXPECT_NE(s.message().find("No space"), std::string::npos) << s.ToString();
  EXPECT_EQ(Read("/d/a"), "01234");
  EXPECT_FALSE(f->Allocate(100).ok());
}

TEST_F(FaultFsTest, failSync_leavesDataUnsynced) {
  auto f = Open("/d/a");
  ASSERT_TRUE(fs_.SyncDir("/d").ok());
  ASSERT_TRUE(f->WriteAt(0, "x").ok());
  fs_.FailSyncAfter(0, FaultFileSystem::Fault::kIOError);
  EXPECT_FALSE(f->Sync().ok());
  fs_.PowerLoss(false);
  EXPECT_EQ(Read("/d/a"), "");
}

TEST_F(FaultFsTest, flipBit_changesStoredByte) {
  auto f = Open("/d/a");
  ASSERT_TRUE(f->WriteAt(0, "A").ok());
  ASSERT_TRUE(fs_.FlipBit("/d/a", 0, 0).ok());
  EXPECT_EQ(Read("/d/a"), "@");
}

TEST_F(FaultFsTest, lock_isExclusiveUntilReleased) {
  auto l = fs_.Lock("/d/LOCK");
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(fs_.Lock("/d/LOCK").status().Is(Status::Code::kBusy));
  l = Status::Aborted("released");
  EXPECT_TRUE(fs_.Lock("/d/LOCK").ok());
}

TEST_F(FaultFsTest, openReadable_readsRangesOfTheFile_andCountsThem) {
  auto f = Open("/d/a");
  ASSERT_TRUE(f->WriteAt(0, "0123456789").ok());
  auto r = std::move(fs_.OpenReadable("/d/a").value());
  EXPECT_EQ(r->size(), 10u);
  std::string out;
  ASSERT_TRUE(r->ReadAt(3, 4, &out).ok());
  EXPECT_EQ(out, "3456");
  EXPECT_FALSE(r->ReadAt(8, 3, &out).ok()) << "past the end";
  EXPECT_EQ(fs_.read_count(), 1u);
  EXPECT_EQ(fs_.read_bytes(), 4u);
  // Like an open descriptor, the reader keeps the file across a rename.
  ASSERT_TRUE(fs_.Rename("/d/a", "/d/b").ok());
  ASSERT_TRUE(r->ReadAt(0, 2, &out).ok());
  EXPECT_EQ(out, "01");
  EXPECT_FALSE(fs_.OpenReadable("/d/a").ok());
}

TEST_F(FaultFsTest, openReadable_handleDiesWithThePower) {
  auto f = Open("/d/a");
  ASSERT_TRUE(f->WriteAt(0, "data").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(fs_.SyncDir("/d").ok());
  auto r = std::move(fs_.OpenReadable("/d/a").value());
  fs_.PowerLoss(false);
  std::string out;
  EXPECT_FALSE(r->ReadAt(0, 1, &out).ok());
}

}  // namespace
}  // namespace raftkv::storage
