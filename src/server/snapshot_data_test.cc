// The server's snapshot image (snapshot_data.h): version 2 carries the auth state in its
// extras; version-1 images (before auth) still load, with no extras; any chunking works;
// damage is an error, never a half-loaded store.
#include "server/snapshot_data.h"

#include <gtest/gtest.h>

#include "common/coding.h"

namespace raftkv::server {
namespace {

std::string KvImage() {
  kv::Store store;
  kv::PutRequest p;
  p.key = "k";
  p.value = "v";
  EXPECT_TRUE(store.Put(p).ok());
  std::string out;
  auto view = store.Snapshot();
  EXPECT_TRUE(view->WriteTo([&](std::string_view c) {
                    out.append(c);
                    return Status::OK();
                  })
                  .ok());
  return out;
}

raftkvpb::MemberTable Members() {
  raftkvpb::MemberTable t;
  auto* m = t.add_members();
  m->set_id(7);
  m->set_name("m7");
  m->add_peerurls("https://127.0.0.1:2380");
  return t;
}

Status Load(const std::string& image, size_t chunk, SnapshotParts* parts,
            std::unique_ptr<kv::Store>* store) {
  SnapshotDataLoader loader(128);
  for (size_t off = 0; off < image.size(); off += chunk) {
    RAFTKV_RETURN_IF_ERROR(loader.Add(std::string_view(image).substr(off, chunk)));
  }
  return loader.Finish(parts, store);
}

TEST(SnapshotData, versionTwoCarriesTheExtrasInAnyChunking) {
  raftkvpb::SnapshotExtras extras;
  extras.set_auth("auth state bytes");
  std::string image = EncodeSnapshotHeader(Members(), extras) + KvImage();
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{64}, image.size()}) {
    SnapshotParts parts;
    std::unique_ptr<kv::Store> store;
    ASSERT_TRUE(Load(image, chunk, &parts, &store).ok()) << chunk;
    EXPECT_EQ(parts.extras.auth(), "auth state bytes");
    EXPECT_EQ(parts.members.members(0).name(), "m7");
    kv::RangeRequest r;
    r.key = "k";
    auto got = store->Range(r);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->kvs.size(), 1u);
  }
  auto decoded = DecodeSnapshotData(image);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->extras.auth(), "auth state bytes");
}

TEST(SnapshotData, versionOneImagesStillLoadWithoutExtras) {
  // What raftkvd wrote before auth existed: magic, version 1, member table, kv image.
  std::string image("RKSD", 4);
  PutU32(&image, 1);
  PutBytes(&image, Members().SerializeAsString());
  image += KvImage();
  SnapshotParts parts;
  std::unique_ptr<kv::Store> store;
  ASSERT_TRUE(Load(image, 5, &parts, &store).ok());
  EXPECT_EQ(parts.members.members_size(), 1);
  EXPECT_TRUE(parts.extras.auth().empty());
  ASSERT_TRUE(DecodeSnapshotData(image).ok());
}

TEST(SnapshotData, damagedHeadersAreRefused) {
  raftkvpb::SnapshotExtras extras;
  std::string good = EncodeSnapshotHeader(Members(), extras) + KvImage();
  SnapshotParts parts;
  std::unique_ptr<kv::Store> store;
  std::string bad_version = good;
  bad_version[4] = 9;
  EXPECT_FALSE(Load(bad_version, 7, &parts, &store).ok());
  std::string huge_section = good;
  std::string len;
  PutU32(&len, 0x7fffffff);
  huge_section.replace(8, 4, len);  // the member table's length
  EXPECT_FALSE(Load(huge_section, 7, &parts, &store).ok());
  EXPECT_FALSE(Load(good.substr(0, 10), 7, &parts, &store).ok());
  EXPECT_FALSE(Load(good.substr(0, good.size() - 3), 7, &parts, &store).ok());
}

}  // namespace
}  // namespace raftkv::server
