#include "server/daemon/require_leader.h"

#include <gtest/gtest.h>

namespace raftkv::server::daemon {
namespace {

using std::chrono::milliseconds;
using Clock = LeaderStreams::Clock;

TEST(LeaderStreams, Observe_cancelsOnlyAfterTheLimitWithoutALeader) {
  LeaderStreams s;
  s.set_limit(milliseconds(300));
  int cancelled = 0;
  s.Add([&] { ++cancelled; });
  s.Add([&] { ++cancelled; });
  Clock::time_point t0 = Clock::now();
  s.Observe(true, t0);
  s.Observe(false, t0 + milliseconds(100));  // leaderless from here
  s.Observe(false, t0 + milliseconds(399));
  EXPECT_EQ(cancelled, 0);
  s.Observe(false, t0 + milliseconds(400));
  EXPECT_EQ(cancelled, 2);
  EXPECT_EQ(s.size(), 0u);
  // Still no leader: a stream added meanwhile goes at the next observation.
  s.Add([&] { ++cancelled; });
  s.Observe(false, t0 + milliseconds(500));
  EXPECT_EQ(cancelled, 3);
}

TEST(LeaderStreams, Observe_aLeaderSeenRestartsTheWindow) {
  LeaderStreams s;
  s.set_limit(milliseconds(300));
  int cancelled = 0;
  s.Add([&] { ++cancelled; });
  Clock::time_point t0 = Clock::now();
  s.Observe(false, t0);
  s.Observe(false, t0 + milliseconds(250));
  s.Observe(true, t0 + milliseconds(260));  // a new leader in time: nothing is cancelled
  s.Observe(false, t0 + milliseconds(270));
  s.Observe(false, t0 + milliseconds(560));
  EXPECT_EQ(cancelled, 0);
  s.Observe(false, t0 + milliseconds(570));
  EXPECT_EQ(cancelled, 1);
}

TEST(LeaderStreams, Remove_aStreamThatEndedIsNotCancelled) {
  LeaderStreams s;
  s.set_limit(milliseconds(0));
  int cancelled = 0;
  uint64_t gone = s.Add([&] { ADD_FAILURE() << "a removed stream was cancelled"; });
  s.Add([&] { ++cancelled; });
  s.Remove(gone);
  s.Observe(false, Clock::now());
  EXPECT_EQ(cancelled, 1);
}

}  // namespace
}  // namespace raftkv::server::daemon
