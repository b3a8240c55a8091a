#include "kv/key_index.h"

#include <gtest/gtest.h>

namespace raftkv::kv {
namespace {

TEST(KeyIndex, Get_seesLatestChangeAtOrBeforeRevision) {
  KeyIndex ki;
  ki.Put({2, 0});
  ki.Put({4, 1});
  ki.Tombstone({6, 0});
  ki.Put({8, 0});
  EXPECT_FALSE(ki.Get(1));
  EXPECT_EQ(ki.Get(2), (Revision{2, 0}));
  EXPECT_EQ(ki.Get(3), (Revision{2, 0}));
  EXPECT_EQ(ki.Get(5), (Revision{4, 1}));
  EXPECT_FALSE(ki.Get(6));
  EXPECT_FALSE(ki.Get(7));
  EXPECT_EQ(ki.Get(100), (Revision{8, 0}));
  EXPECT_EQ(ki.generations().size(), 2u);
  EXPECT_TRUE(ki.live());
}

TEST(KeyIndex, Compact_keepsLatestLiveVersionAtRevision) {
  KeyIndex ki;
  ki.Put({2, 0});
  ki.Put({3, 0});
  ki.Put({5, 0});
  std::vector<Revision> dropped;
  EXPECT_FALSE(ki.Compact(4, &dropped));
  EXPECT_EQ(dropped, (std::vector<Revision>{{2, 0}}));
  EXPECT_EQ(ki.Get(4), (Revision{3, 0}));
  EXPECT_EQ(ki.Get(5), (Revision{5, 0}));
}

TEST(KeyIndex, Compact_dropsTombstonedGenerations) {
  KeyIndex ki;
  ki.Put({2, 0});
  ki.Tombstone({3, 0});
  std::vector<Revision> dropped;
  EXPECT_FALSE(ki.Compact(2, &dropped));  // tombstone after 2 still needed
  EXPECT_TRUE(dropped.empty());
  EXPECT_TRUE(ki.Compact(3, &dropped));
  EXPECT_EQ(dropped, (std::vector<Revision>{{2, 0}, {3, 0}}));
}

TEST(KeyIndex, Compact_acrossGenerations) {
  KeyIndex ki;
  ki.Put({2, 0});
  ki.Tombstone({3, 0});
  ki.Put({5, 0});
  ki.Put({7, 0});
  std::vector<Revision> dropped;
  EXPECT_FALSE(ki.Compact(6, &dropped));
  EXPECT_EQ(dropped, (std::vector<Revision>{{2, 0}, {3, 0}}));
  ASSERT_EQ(ki.generations().size(), 1u);
  EXPECT_EQ(ki.generations()[0].revs, (std::vector<Revision>{{5, 0}, {7, 0}}));
}

TEST(KeyIndex, VisibleRevisions_matchesWhatCompactionKeeps) {
  KeyIndex ki;
  ki.Put({2, 0});
  ki.Put({3, 0});
  ki.Tombstone({4, 0});
  ki.Put({6, 0});
  ki.Put({9, 0});
  for (int64_t c = 0; c <= 9; ++c) {
    KeyIndex copy = ki;
    std::vector<Revision> dropped, visible, after;
    copy.Compact(c, &dropped);
    ki.VisibleRevisions(c, 100, &visible);
    copy.VisibleRevisions(c, 100, &after);
    EXPECT_EQ(visible, after) << "c=" << c;
    size_t kept = 0;
    for (const auto& g : copy.generations()) kept += g.revs.size();
    EXPECT_EQ(visible.size(), kept) << "c=" << c;
  }
  std::vector<Revision> upto;
  ki.VisibleRevisions(3, 6, &upto);
  EXPECT_EQ(upto, (std::vector<Revision>{{3, 0}, {4, 0}, {6, 0}}));
}

}  // namespace
}  // namespace raftkv::kv
