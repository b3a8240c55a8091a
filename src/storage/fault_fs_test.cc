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

}  // namespace
}  // namespace raftkv::storage
