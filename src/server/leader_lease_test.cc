// LeaderLeaseClock: the core's tick-dated leader lease turned into a moment of the steady
// clock, dated from when the acknowledged heartbeat's tick really happened.
#include "server/leader_lease.h"

#include <gtest/gtest.h>

namespace raftkv::server {
namespace {

using std::chrono::milliseconds;
using Lease = raft::RawNode::LeaderLease;
using Clock = LeaderLeaseClock::Clock;

const Clock::time_point kT0 = Clock::time_point{} + std::chrono::hours(1);

TEST(LeaderLeaseClock, holdsForOneTickLessThanTheCoreTrustsFromTheSentTick) {
  LeaderLeaseClock clock(milliseconds(10), 12);
  for (uint64_t t = 1; t <= 5; t++) clock.OnTick(t, kT0 + milliseconds(10) * t);
  clock.Publish(Lease{4, 5, 8});  // tick 4 happened at kT0 + 40 ms
  EXPECT_TRUE(clock.Holds(kT0 + milliseconds(50)));
  EXPECT_TRUE(clock.Holds(kT0 + milliseconds(109)));
  EXPECT_FALSE(clock.Holds(kT0 + milliseconds(110))) << "40 ms + 7 ticks";
}

// After a stall the loop does not burst ticks, so tick counts lag the clock: the lease is
// dated from the sent tick's real moment, not from the tick count.
TEST(LeaderLeaseClock, aStalledLoopShortensTheLeaseNeverStretchesIt) {
  LeaderLeaseClock clock(milliseconds(10), 12);
  clock.OnTick(1, kT0 + milliseconds(10));
  clock.OnTick(2, kT0 + milliseconds(500));  // the raft thread was stalled for 490 ms
  clock.Publish(Lease{1, 2, 8});
  EXPECT_FALSE(clock.Holds(kT0 + milliseconds(501)));
  clock.Publish(Lease{2, 2, 8});
  EXPECT_TRUE(clock.Holds(kT0 + milliseconds(501)));
  EXPECT_FALSE(clock.Holds(kT0 + milliseconds(570)));
}

TEST(LeaderLeaseClock, noLeaseUnknownOrForgottenTickNeverHolds) {
  LeaderLeaseClock clock(milliseconds(10), 4);
  for (uint64_t t = 1; t <= 9; t++) clock.OnTick(t, kT0 + milliseconds(10) * t);
  EXPECT_FALSE(clock.Holds(kT0)) << "nothing published yet";
  clock.Publish(Lease{9, 9, 8});
  EXPECT_TRUE(clock.Holds(kT0 + milliseconds(100)));
  clock.Publish(std::nullopt);  // not leader, or transferring
  EXPECT_FALSE(clock.Holds(kT0 + milliseconds(100)));
  clock.Publish(Lease{3, 9, 8});  // tick 3 fell out of the 4 remembered
  EXPECT_FALSE(clock.Holds(kT0 + milliseconds(31)));
  clock.Publish(Lease{0, 9, 8});  // a tick never recorded
  EXPECT_FALSE(clock.Holds(kT0));
  clock.Publish(Lease{9, 9, 1});  // too short to trust at all
  EXPECT_FALSE(clock.Holds(kT0 + milliseconds(90)));
}

}  // namespace
}  // namespace raftkv::server
