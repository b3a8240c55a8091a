#include "server/compactor.h"

#include <gtest/gtest.h>

namespace raftkv::server {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(ParseAutoCompaction, etcdsRules) {
  auto p = ParseAutoCompaction("periodic", "1");  // a plain number is hours
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->period, hours(1));
  p = ParseAutoCompaction("periodic", "30m");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->period, minutes(30));
  p = ParseAutoCompaction("periodic", "1h30m");
  EXPECT_EQ(p->period, minutes(90));
  p = ParseAutoCompaction("", "2.5s");
  EXPECT_EQ(p->period, milliseconds(2500));
  p = ParseAutoCompaction("revision", "1000");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->mode, CompactionMode::kRevision);
  EXPECT_EQ(p->revisions, 1000);
  p = ParseAutoCompaction("periodic", "0");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->enabled());
  EXPECT_FALSE(ParseAutoCompaction("daily", "1").ok());
  EXPECT_FALSE(ParseAutoCompaction("periodic", "1x").ok());
  EXPECT_FALSE(ParseAutoCompaction("periodic", "h").ok());
  EXPECT_FALSE(ParseAutoCompaction("periodic", "").ok());
}

TEST(AutoCompactor, Revision_everyFiveMinutesKeepsTheLastN) {
  AutoCompactor c(*ParseAutoCompaction("revision", "100"));
  AutoCompactor::Clock::time_point t{};
  EXPECT_FALSE(c.Tick(t, 50));  // starts the window
  t += minutes(4);
  EXPECT_FALSE(c.Tick(t, 500));
  t += minutes(1);
  auto r = c.Tick(t, 500);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 400);
  c.Done(true, t);
  t += minutes(5);
  EXPECT_FALSE(c.Tick(t, 500)) << "same target as the last compaction";
  t += minutes(5);
  r = c.Tick(t, 50);
  EXPECT_FALSE(r) << "revision - retention <= 0";
}

TEST(AutoCompactor, Periodic_compactsToTheRevisionOfOnePeriodAgo) {
  AutoCompactor c(*ParseAutoCompaction("periodic", "10s"));
  AutoCompactor::Clock::time_point t{};
  int64_t rev = 1;
  EXPECT_FALSE(c.Tick(t, rev));
  std::optional<int64_t> got;
  // Sampled every second (period / 10); nothing before the first 10 s.
  for (int s = 1; s <= 10 && !got; ++s) {
    t += seconds(1);
    rev = 1 + 10 * s;  // 10 revisions per second
    got = c.Tick(t, rev);
    if (s < 10) EXPECT_FALSE(got) << s;
  }
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, 1) << "the revision sampled 10 s ago";
  c.Done(true, t);
  // Then every period (capped at 1 h), each time to the revision of one period before.
  for (int s = 11; s <= 20; ++s) {
    t += seconds(1);
    got = c.Tick(t, 1 + 10 * s);
    if (s < 20) EXPECT_FALSE(got) << s;
  }
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, 101);
}

TEST(AutoCompactor, Pause_restartsTheWindow) {
  AutoCompactor c(*ParseAutoCompaction("revision", "1"));
  AutoCompactor::Clock::time_point t{};
  c.Tick(t, 10);
  t += minutes(5);
  ASSERT_TRUE(c.Tick(t, 10));
  c.Pause();  // lost leadership while the compaction was in flight
  t += minutes(1);
  EXPECT_FALSE(c.Tick(t, 20));
  t += minutes(5);
  EXPECT_TRUE(c.Tick(t, 20));
}

}  // namespace
}  // namespace raftkv::server
