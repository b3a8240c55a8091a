#include "raft/progress.h"

#include <gtest/gtest.h>

namespace raftkv::raft {
namespace {

TEST(Progress, maybeUpdate_advancesMatchAndNext) {
  Progress p(5, 4);
  p.match = 3;
  EXPECT_FALSE(p.MaybeUpdate(2));
  EXPECT_TRUE(p.MaybeUpdate(6));
  EXPECT_EQ(p.match, 6u);
  EXPECT_EQ(p.next, 7u);
}

TEST(Progress, maybeDecrTo_probeUsesHint) {
  Progress p(10, 4);                  // probing index 9
  EXPECT_FALSE(p.MaybeDecrTo(5, 3));  // stale: not the outstanding probe
  EXPECT_TRUE(p.MaybeDecrTo(9, 3));
  EXPECT_EQ(p.next, 4u);
  p.match = 5;
  p.next = 10;
  EXPECT_TRUE(p.MaybeDecrTo(9, 1));
  EXPECT_EQ(p.next, 6u);  // never below match+1
}

TEST(Progress, maybeDecrTo_replicateFallsBackToMatch) {
  Progress p(1, 4);
  p.match = 5;
  p.BecomeReplicate();
  p.SentEntries(3, 8, 3);
  EXPECT_EQ(p.next, 9u);
  EXPECT_FALSE(p.MaybeDecrTo(4, 0));  // stale
  EXPECT_TRUE(p.MaybeDecrTo(7, 0));
  EXPECT_EQ(p.next, 6u);
}

TEST(Progress, isPaused_perState) {
  Progress p(1, 2);
  EXPECT_FALSE(p.IsPaused());
  p.SentEntries(1, 1, 1);  // probe: one at a time
  EXPECT_TRUE(p.IsPaused());
  p.MaybeUpdate(1);
  p.BecomeReplicate();
  EXPECT_FALSE(p.IsPaused());
  p.SentEntries(1, 2, 1);
  p.SentEntries(1, 3, 1);
  EXPECT_TRUE(p.IsPaused());  // window full
  p.inflights.FreeLE(2);
  EXPECT_FALSE(p.IsPaused());
  p.BecomeSnapshot(10);
  EXPECT_TRUE(p.IsPaused());
  p.BecomeProbe();
  EXPECT_EQ(p.next, 11u);  // resumes after the snapshot
}

}  // namespace
}  // namespace raftkv::raft
