#include "raft/inflights.h"

#include <gtest/gtest.h>

namespace raftkv::raft {
namespace {

TEST(Inflights, add_fillsWindow) {
  Inflights in(3);
  in.Add(1, 10);
  in.Add(2, 10);
  EXPECT_FALSE(in.Full());
  in.Add(5, 10);
  EXPECT_TRUE(in.Full());
  EXPECT_EQ(in.Count(), 3u);
  EXPECT_EQ(in.Bytes(), 30u);
}

TEST(Inflights, freeLE_freesAcknowledged) {
  Inflights in(4);
  for (Index i = 1; i <= 4; i++) in.Add(i * 2, 1);
  in.FreeLE(5);  // frees 2 and 4
  EXPECT_EQ(in.Count(), 2u);
  in.FreeLE(1);  // nothing
  EXPECT_EQ(in.Count(), 2u);
  in.FreeLE(100);
  EXPECT_EQ(in.Count(), 0u);
}

TEST(Inflights, ring_wrapsAround) {
  Inflights in(3);
  Index next = 1;
  for (int round = 0; round < 10; round++) {
    while (!in.Full()) in.Add(next++, 1);
    in.FreeLE(next - 2);  // leaves one outstanding
    EXPECT_EQ(in.Count(), 1u);
  }
  in.FreeFirstOne();
  EXPECT_EQ(in.Count(), 0u);
}

TEST(Inflights, bytesLimit_makesFull) {
  Inflights in(100, 50);
  in.Add(1, 30);
  EXPECT_FALSE(in.Full());
  in.Add(2, 30);
  EXPECT_TRUE(in.Full());
  in.FreeLE(1);
  EXPECT_FALSE(in.Full());
  in.Reset();
  EXPECT_EQ(in.Count(), 0u);
  EXPECT_EQ(in.Bytes(), 0u);
}

}  // namespace
}  // namespace raftkv::raft
