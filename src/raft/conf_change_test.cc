#include "raft/conf_change.h"

#include <gtest/gtest.h>

namespace raftkv::raft {
namespace {

TEST(ConfChange, encodeDecode_roundTrip) {
  ConfChange cc;
  cc.transition = ConfChangeTransition::kJointExplicit;
  cc.changes = {{ConfChangeType::kAddNode, 4}, {ConfChangeType::kRemoveNode, 1ull << 40}};
  cc.context = std::string("url\0x", 5);
  auto d = DecodeConfChange(EncodeConfChange(cc));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, cc);
  EXPECT_TRUE(DecodeConfChange(EncodeConfChange(ConfChange{})).ok());
}

// The encoding is stored in the WAL and in snapshots: its bytes must never change silently.
TEST(ConfChange, encode_layoutIsStable) {
  ConfChange cc;
  cc.transition = ConfChangeTransition::kJointImplicit;
  cc.changes = {{ConfChangeType::kAddLearnerNode, 0x0102}};
  cc.context = "ab";
  const std::string want(
      "\x01"                                  // transition
      "\x01\x00\x00\x00"                      // one change
      "\x02\x02\x01\x00\x00\x00\x00\x00\x00"  // add learner, node 0x0102
      "\x02\x00\x00\x00"
      "ab",  // context
      1 + 4 + 9 + 4 + 2);
  EXPECT_EQ(EncodeConfChange(cc), want);
}

TEST(ConfChange, decode_rejectsMalformed) {
  ConfChange cc;
  cc.changes = {{ConfChangeType::kAddLearnerNode, 9}};
  cc.context = "ctx";
  std::string s = EncodeConfChange(cc);
  for (size_t n = 0; n < s.size(); n++) {
    EXPECT_FALSE(DecodeConfChange(s.substr(0, n)).ok()) << n;  // every truncation
  }
  EXPECT_FALSE(DecodeConfChange(s + "x").ok());
  std::string bad = s;
  bad[0] = 7;
  EXPECT_FALSE(DecodeConfChange(bad).ok());
  std::string huge = s;
  huge[1] = huge[2] = huge[3] = huge[4] = '\xff';
  EXPECT_FALSE(DecodeConfChange(huge).ok());
}

}  // namespace
}  // namespace raftkv::raft
