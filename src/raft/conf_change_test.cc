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
