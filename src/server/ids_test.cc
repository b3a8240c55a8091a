#include <gtest/gtest.h>

#include "server/config.h"
#include "server/members.h"

namespace raftkv::server {
namespace {

// Values computed by etcd 3.4 (types.ID of a member with these URLs and token): the derivation
// is SHA-1 of the sorted URLs and the token, first 8 bytes big-endian.
TEST(Ids, MemberIdDependsOnUrlsTokenAndTime) {
  uint64_t a = ComputeMemberId({"http://10.0.0.1:2380"}, "tok");
  EXPECT_NE(a, 0u);
  EXPECT_EQ(a, ComputeMemberId({"http://10.0.0.1:2380"}, "tok"));
  EXPECT_NE(a, ComputeMemberId({"http://10.0.0.1:2380"}, "other"));
  EXPECT_NE(a, ComputeMemberId({"http://10.0.0.2:2380"}, "tok"));
  EXPECT_NE(a, ComputeMemberId({"http://10.0.0.1:2380"}, "tok", 1700000000));
  // URL order does not matter.
  EXPECT_EQ(ComputeMemberId({"http://a:1", "http://b:2"}, "t"),
            ComputeMemberId({"http://b:2", "http://a:1"}, "t"));
}

TEST(Ids, EtcdDefaultMemberId) {
  // etcd's well-known id of a default single member (http://localhost:2380, etcd-cluster).
  EXPECT_EQ(ComputeMemberId({"http://localhost:2380"}, "etcd-cluster"), 0x8e9e05c52164694dULL);
  EXPECT_EQ(ComputeClusterId({0x8e9e05c52164694dULL}, "etcd-cluster"), 0xcdf818194e3a8c32ULL);
}

TEST(Ids, ClusterIdIgnoresOrder) {
  EXPECT_EQ(ComputeClusterId({1, 2, 3}, "t"), ComputeClusterId({3, 1, 2}, "t"));
  EXPECT_NE(ComputeClusterId({1, 2, 3}, "t"), ComputeClusterId({1, 2}, "t"));
}

TEST(Members, UrlToAddress) {
  EXPECT_EQ(UrlToAddress("http://127.0.0.1:2380"), "127.0.0.1:2380");
  EXPECT_EQ(UrlToAddress("https://host:1/path"), "host:1");
  EXPECT_EQ(UrlToAddress("host:3"), "host:3");
}

}  // namespace
}  // namespace raftkv::server
