// DiskStorage on the real file system: the POSIX layer, flock and fallocate.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "storage/disk_storage.h"

namespace raftkv::storage {
namespace {

namespace fs = std::filesystem;

class PosixTest : public ::testing::Test {
 protected:
  PosixTest()
      : dir_((fs::temp_directory_path() /
              ("raftkv-posix-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                 .string()) {
    fs::remove_all(dir_);
    opts_.wal.segment_bytes = 64 << 10;
  }
  ~PosixTest() override { fs::remove_all(dir_); }
  std::string dir_;
  DiskStorageOptions opts_;
};

TEST_F(PosixTest, saveReopen_recoversAcrossSegments) {
  std::vector<raft::Entry> all;
  {
    auto s = std::move(DiskStorage::Open(dir_, opts_).value());
    for (raft::Index i = 1; i <= 300; i++) {
      all.push_back(raft::Entry{1, i, raft::EntryType::kNormal, std::string(500, 'a' + i % 26)});
      raft::HardState hs{1, 1, i};
      ASSERT_TRUE(s->Save(&hs, {all.back()}, nullptr).ok());
    }
    EXPECT_GT(s->wal_segment_count(), 1u);
  }
  auto s = std::move(DiskStorage::Open(dir_, opts_).value());
  EXPECT_EQ(s->Entries(1, 301, raft::kNoLimit).value(), all);
  EXPECT_EQ(s->hard_state(), (raft::HardState{1, 1, 300}));
  EXPECT_EQ(s->recovery_note(), "");
}

TEST_F(PosixTest, lock_secondOpenOfSameDirIsBusy) {
  auto a = DiskStorage::Open(dir_, opts_);
  ASSERT_TRUE(a.ok());
  auto b = DiskStorage::Open(dir_, opts_);
  EXPECT_TRUE(b.status().Is(Status::Code::kBusy)) << b.status().ToString();
}

TEST_F(PosixTest, tornTail_onRealFile_isTruncated) {
  {
    auto s = std::move(DiskStorage::Open(dir_, opts_).value());
    ASSERT_TRUE(s->Save(nullptr, {raft::Entry{1, 1, raft::EntryType::kNormal, "x"}}, nullptr).ok());
  }
  std::string seg;
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (e.path().extension() == ".log") seg = e.path().string();
  }
  auto f = PosixFileSystem()->OpenWritable(seg, false);
  ASSERT_TRUE(f.ok());
  // A record header that promises more bytes than follow: a write cut by a crash.
  ASSERT_TRUE(
      (*f)->WriteAt(32 + 12 + 18, std::string("\x01\x02\x03\x04\xff\x00\x00\x00\x01", 9)).ok());
  (*f)->Close();
  auto s = DiskStorage::Open(dir_, opts_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->LastIndex(), 1u);
  EXPECT_NE((*s)->recovery_note().find("torn tail"), std::string::npos);
}

// pwritev through more pieces than one call takes (1024), empty pieces included, at an
// offset inside an existing file: the file reads back as the joined pieces.
TEST_F(PosixTest, writeAtV_manyPieces_readsBackJoined) {
  fs::create_directories(dir_);
  std::string path = dir_ + "/v";
  auto f = std::move(PosixFileSystem()->OpenWritable(path, true).value());
  ASSERT_TRUE(f->WriteAt(0, std::string(100, '-')).ok());
  std::vector<std::string> owned;
  for (int i = 0; i < 2500; i++)
    owned.push_back(std::string(i % 7 == 0 ? 0 : 1 + i % 300, 'a' + i % 26));
  std::vector<std::string_view> pieces(owned.begin(), owned.end());
  std::string joined;
  for (const auto& p : owned) joined += p;
  ASSERT_TRUE(f->WriteAtV(10, pieces).ok());
  ASSERT_TRUE(f->Sync().ok());
  f->DropCache(0, 4096);  // a hint: the content stays
  ASSERT_TRUE(f->Close().ok());
  EXPECT_EQ(PosixFileSystem()->ReadAll(path).value(), std::string(10, '-') + joined);
}

TEST_F(PosixTest, openReadable_readsRanges_andRefusesPastTheEnd) {
  fs::create_directories(dir_);
  std::string path = dir_ + "/r";
  std::string content;
  for (int i = 0; i < 100000; i++) content += static_cast<char>('a' + i % 26);
  auto w = std::move(PosixFileSystem()->OpenWritable(path, true).value());
  ASSERT_TRUE(w->WriteAt(0, content).ok());
  ASSERT_TRUE(w->Close().ok());
  auto r = PosixFileSystem()->OpenReadable(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->size(), content.size());
  std::string out;
  ASSERT_TRUE((*r)->ReadAt(70000, 30000, &out).ok());
  EXPECT_EQ(out, content.substr(70000));
  Status past = (*r)->ReadAt(99990, 11, &out);
  EXPECT_FALSE(past.ok());
  EXPECT_NE(past.message().find(path), std::string::npos) << past.ToString();
  EXPECT_FALSE(PosixFileSystem()->OpenReadable(dir_ + "/missing").ok());
}

}  // namespace
}  // namespace raftkv::storage
