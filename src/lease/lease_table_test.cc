#include "lease/lease_table.h"

#include <gtest/gtest.h>

namespace raftkv::lease {
namespace {

TEST(LeaseTable, Grant_refusesZeroIdDuplicateAndTooLargeTtl) {
  LeaseTable t;
  EXPECT_TRUE(t.Grant(7, 10).ok());
  Status dup = t.Grant(7, 20);
  EXPECT_EQ(dup.message(), kErrLeaseExist);
  EXPECT_EQ(t.Find(7)->ttl, 10);  // the first grant stands
  EXPECT_EQ(t.Grant(kNoLease, 10).message(), kErrLeaseNotFound);
  EXPECT_EQ(t.Grant(8, kMaxTtlSeconds + 1).message(), kErrLeaseTtlTooLarge);
  EXPECT_TRUE(t.Grant(8, kMaxTtlSeconds).ok());
  EXPECT_TRUE(t.Grant(-5, 3).ok());  // etcd accepts negative client-chosen ids
  EXPECT_EQ(t.Ids(), (std::vector<LeaseId>{-5, 7, 8}));
}

TEST(LeaseTable, Move_attachesDetachesAndIgnoresUnknownLeases) {
  LeaseTable t;
  ASSERT_TRUE(t.Grant(1, 10).ok());
  ASSERT_TRUE(t.Grant(2, 10).ok());
  t.Move("a", kNoLease, 1);
  t.Move("b", kNoLease, 1);
  t.Move("c", kNoLease, 99);  // unknown lease: nothing tracked
  EXPECT_EQ(t.Find(1)->keys, (std::set<std::string>{"a", "b"}));
  t.Move("a", 1, 2);         // re-put with another lease
  t.Move("b", 1, kNoLease);  // re-put without a lease, or deleted
  EXPECT_TRUE(t.Find(1)->keys.empty());
  EXPECT_EQ(t.Find(2)->keys, (std::set<std::string>{"a"}));
}

TEST(LeaseTable, Revoke_returnsKeysInOrderAndForgetsTheLease) {
  LeaseTable t;
  ASSERT_TRUE(t.Grant(1, 10).ok());
  t.Move("zeta", kNoLease, 1);
  t.Move("alpha", kNoLease, 1);
  auto keys = t.Revoke(1);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(*keys, (std::vector<std::string>{"alpha", "zeta"}));
  EXPECT_FALSE(t.Contains(1));
  EXPECT_EQ(t.Revoke(1).status().message(), kErrLeaseNotFound);
}

TEST(LeaseTable, EncodeDecode_roundTripsIdsAndTtls) {
  LeaseTable t;
  ASSERT_TRUE(t.Grant(-3, 5).ok());
  ASSERT_TRUE(t.Grant(42, 60).ok());
  std::string buf;
  t.EncodeTo(&buf);
  Decoder d(buf);
  auto back = LeaseTable::DecodeFrom(&d);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(d.empty());
  EXPECT_TRUE(*back == t);
}

TEST(LeaseTable, DecodeFrom_refusesTruncatedAndUnorderedInput) {
  LeaseTable t;
  ASSERT_TRUE(t.Grant(1, 5).ok());
  ASSERT_TRUE(t.Grant(2, 5).ok());
  std::string buf;
  t.EncodeTo(&buf);
  for (size_t n = 0; n < buf.size(); ++n) {
    Decoder d(std::string_view(buf).substr(0, n));
    EXPECT_FALSE(LeaseTable::DecodeFrom(&d).ok()) << "prefix " << n;
  }
  std::string swapped;
  PutU32(&swapped, 2);
  PutI64(&swapped, 2);
  PutI64(&swapped, 5);
  PutI64(&swapped, 1);
  PutI64(&swapped, 5);
  Decoder d(swapped);
  EXPECT_TRUE(LeaseTable::DecodeFrom(&d).status().Is(Status::Code::kCorruption));
}

}  // namespace
}  // namespace raftkv::lease
