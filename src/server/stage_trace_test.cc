#include "server/stage_trace.h"

#include <gtest/gtest.h>

#include <thread>

namespace raftkv::server {
namespace {

TEST(StageTrace, Finish_addsEveryStageOnce) {
  StageTrace t({"a", "b", "c"});
  ASSERT_TRUE(t.TryStart(42));
  EXPECT_EQ(t.key(), 42u);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_TRUE(t.Mark(42, 1));
  EXPECT_TRUE(t.Mark(42, 2));
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  t.Finish(42);
  EXPECT_EQ(t.key(), StageTrace::kNone);
  StageTrace::Totals got = t.Get();
  EXPECT_EQ(got.traced, 1u);
  ASSERT_EQ(got.stages.size(), 3u);
  EXPECT_EQ(got.stages[0].name, "a");
  EXPECT_GE(got.stages[0].seconds, 0.002);
  EXPECT_LT(got.stages[1].seconds, 0.002);
  EXPECT_GE(got.stages[2].seconds, 0.003);
}

TEST(StageTrace, TryStart_oneTraceAtATime) {
  StageTrace t({"a"});
  ASSERT_TRUE(t.TryStart(1));
  EXPECT_FALSE(t.TryStart(2));
  EXPECT_EQ(t.key(), 1u);
  t.Finish(1);
  EXPECT_TRUE(t.TryStart(2));
}

TEST(StageTrace, Mark_ignoresOtherKeysAndSkippedBoundaries) {
  StageTrace t({"a", "b", "c"});
  ASSERT_TRUE(t.TryStart(7));
  EXPECT_FALSE(t.Mark(8, 1));  // another request
  EXPECT_FALSE(t.Mark(7, 2));  // boundary 1 not reached yet
  EXPECT_TRUE(t.Mark(7, 1));
  EXPECT_FALSE(t.Mark(7, 1));  // reached already
  t.Finish(7);                 // boundary 2 was never reached: not counted
  EXPECT_EQ(t.Get().traced, 0u);
  EXPECT_EQ(t.key(), StageTrace::kNone);
}

TEST(StageTrace, Rekey_followsTheRequest) {
  StageTrace t({"a", "b"});
  ASSERT_TRUE(t.TryStart(5));
  EXPECT_TRUE(t.Mark(5, 1));
  t.Rekey(5, 900);
  EXPECT_EQ(t.key(), 900u);
  EXPECT_FALSE(t.Mark(5, 2));
  t.Finish(900);
  EXPECT_EQ(t.Get().traced, 1u);
}

TEST(StageTrace, Abandon_closesWithoutCounting) {
  StageTrace t({"a"});
  ASSERT_TRUE(t.TryStart(3));
  t.Abandon(4);  // not the open trace
  EXPECT_EQ(t.key(), 3u);
  t.Abandon(3);
  EXPECT_EQ(t.key(), StageTrace::kNone);
  EXPECT_EQ(t.Get().traced, 0u);
}

TEST(StageTrace, TryStart_racingThreadsOpenOneTrace) {
  StageTrace t({"a"});
  std::atomic<int> opened{0};
  std::vector<std::thread> ts;
  for (int i = 1; i <= 8; i++) {
    ts.emplace_back([&, i] {
      if (t.TryStart(i)) opened++;
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(opened.load(), 1);
  EXPECT_NE(t.key(), StageTrace::kNone);
}

}  // namespace
}  // namespace raftkv::server
