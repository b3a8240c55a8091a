// Snapshots on the server: the two thresholds (entries and bytes) and catching up a member
// from a multi-MiB snapshot that is streamed through files and the real transport.
#include <filesystem>
#include <map>

#include "server/test_util.h"

namespace raftkv::server {
namespace {

using testing::Cluster;
using testing::Put;
using testing::Value;
using testing::WaitFor;

uint64_t Saved(EtcdServer* s) {
  return s->GetStats().snapshot_save.count;
}

// Starts one member with the given thresholds and returns it once it leads.
EtcdServer* StartOne(Cluster* c, uint64_t count, uint64_t bytes) {
  ServerConfig cfg = c->Config("n1");
  cfg.snapshot_count = count;
  cfg.snapshot_bytes = bytes;
  EXPECT_TRUE(c->StartWith(cfg).ok());
  return c->WaitLeader();
}

TEST(SnapshotThreshold, BytesAloneTriggersASnapshot) {
  Cluster c(1);
  EtcdServer* s = StartOne(&c, /*count=*/1000000, /*bytes=*/64 << 10);
  ASSERT_NE(s, nullptr);
  const std::string value(8 << 10, 'v');
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Put(s, "k" + std::to_string(i), value).ok());
  EXPECT_EQ(Saved(s), 0u) << "32 KiB of entries is under the 64 KiB threshold";
  for (int i = 4; i < 10; ++i) ASSERT_TRUE(Put(s, "k" + std::to_string(i), value).ok());
  EXPECT_TRUE(WaitFor([&] { return Saved(s) >= 1; })) << "80 KiB of entries crossed 64 KiB";
}

TEST(SnapshotThreshold, BytesOffLeavesOnlyTheEntryCount) {
  Cluster c(1);
  EtcdServer* s = StartOne(&c, /*count=*/1000000, /*bytes=*/0);
  ASSERT_NE(s, nullptr);
  const std::string value(8 << 10, 'v');
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Put(s, "k" + std::to_string(i), value).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Saved(s), 0u);
}

TEST(SnapshotThreshold, EntryCountTriggersWithSmallEntries) {
  Cluster c(1);
  EtcdServer* s = StartOne(&c, /*count=*/20, /*bytes=*/uint64_t{1} << 30);
  ASSERT_NE(s, nullptr);
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(Put(s, "k" + std::to_string(i), "v").ok());
  EXPECT_TRUE(WaitFor([&] { return Saved(s) >= 1; }));
}

// The snapshot files in a member's raft directory: names -> sizes.
std::map<std::string, uintmax_t> RaftDirFiles(Cluster* c, const std::string& name) {
  std::map<std::string, uintmax_t> out;
  for (const auto& e :
       std::filesystem::directory_iterator(c->Config(name).data_dir + "/member/raft")) {
    std::string f = e.path().filename().string();
    if (f.starts_with("snap-")) out[f] = e.file_size();
  }
  return out;
}

// A follower that was down while the log was compacted catches up from a multi-MiB snapshot
// streamed through files and the real transport, and restarts from that snapshot file.
TEST(SnapshotCatchUp, FollowerCatchesUpFromAStreamedSnapshotAndRestartsFromIt) {
  Cluster c(3, /*snapshot_count=*/10);
  c.StartAll();
  EtcdServer* leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  std::string follower = c.NameOf(leader) == "n3" ? "n2" : "n3";
  c.Stop(follower);
  leader = c.WaitLeader();
  ASSERT_NE(leader, nullptr);
  const int kKeys = 48;
  auto value = [](int i) { return std::string(128 << 10, static_cast<char>('a' + i % 26)); };
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(Put(leader, "k" + std::to_string(i), value(i)).ok());
  ASSERT_TRUE(WaitFor([&] { return Saved(leader) >= 2; }));
  // Snapshots are written in the background: wait for one that holds most of the keys, or a
  // loaded machine restarts the follower while the newest is still an early, smaller one.
  auto largest_file = [&](const std::string& name) {
    uintmax_t largest = 0;
    for (const auto& [file, size] : RaftDirFiles(&c, name)) largest = std::max(largest, size);
    return largest;
  };
  ASSERT_TRUE(WaitFor([&] { return largest_file(c.NameOf(leader)) > (uintmax_t{4} << 20); }));

  ASSERT_TRUE(c.Start(follower).ok());
  EtcdServer* f = c.at(follower);
  ASSERT_TRUE(
      WaitFor([&] { return Value(f, "k47", true) == value(47); }, std::chrono::seconds(20)));
  EXPECT_GE(f->GetStats().snapshots_received, 1u);
  for (int i = 0; i < kKeys; ++i) {
    EXPECT_TRUE(Value(f, "k" + std::to_string(i), true) == value(i)) << i;
  }
  EXPECT_GT(largest_file(follower), uintmax_t{4} << 20)
      << "the image (most of 48 x 128 KiB) is in a file";

  // Restart: the store comes back from the newest snapshot file before anything is applied.
  c.Stop(follower);
  ASSERT_TRUE(c.Start(follower).ok());
  f = c.at(follower);
  EXPECT_EQ(Value(f, "k0", true).substr(0, 50), value(0).substr(0, 50));
  // The entries after the snapshot come back as the WAL is replayed and applied.
  EXPECT_TRUE(WaitFor([&] { return Value(f, "k47", true) == value(47); }));
  ASSERT_TRUE(Put(c.WaitLeader(), "after", "x").ok());
  EXPECT_TRUE(WaitFor([&] { return Value(f, "after", true) == "x"; }));
}

}  // namespace
}  // namespace raftkv::server
