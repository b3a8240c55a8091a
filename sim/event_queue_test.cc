#include "sim/event_queue.h"

#include <gtest/gtest.h>

#include <string>

namespace raftkv::sim {
namespace {

TEST(EventQueue, runNext_runsInTimeOrder) {
  EventQueue q;
  std::string order;
  q.At(30, [&] { order += "c"; });
  q.At(10, [&] { order += "a"; });
  q.At(20, [&] { order += "b"; });
  while (q.RunNext()) {
  }
  EXPECT_EQ(order, "abc");
  EXPECT_EQ(q.Now(), 30);
  EXPECT_EQ(q.Processed(), 3u);
}

TEST(EventQueue, runNext_breaksTiesByScheduleOrder) {
  EventQueue q;
  std::string order;
  for (char c = 'a'; c <= 'j'; ++c) q.At(5, [&order, c] { order += c; });
  while (q.RunNext()) {
  }
  EXPECT_EQ(order, "abcdefghij");
}

TEST(EventQueue, after_schedulesRelativeToNowAndEventsMayScheduleMore) {
  EventQueue q;
  std::vector<Time> seen;
  q.At(100, [&] {
    seen.push_back(q.Now());
    q.After(50, [&] { seen.push_back(q.Now()); });
    q.After(0, [&] { seen.push_back(q.Now()); });
  });
  while (q.RunNext()) {
  }
  EXPECT_EQ(seen, (std::vector<Time>{100, 100, 150}));
}

TEST(EventQueue, at_clampsThePastToNow) {
  EventQueue q;
  q.At(100, [] {});
  q.RunNext();
  Time ran = -1;
  q.At(10, [&] { ran = q.Now(); });
  q.RunNext();
  EXPECT_EQ(ran, 100);
}

TEST(EventQueue, advanceTo_movesTheClockWithoutRunning) {
  EventQueue q;
  bool ran = false;
  q.At(500, [&] { ran = true; });
  q.AdvanceTo(400);
  EXPECT_EQ(q.Now(), 400);
  EXPECT_FALSE(ran);
  EXPECT_EQ(q.NextTime(), 500);
}

}  // namespace
}  // namespace raftkv::sim
