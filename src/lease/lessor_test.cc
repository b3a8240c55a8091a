#include "lease/lessor.h"

#include <gtest/gtest.h>

#include <random>

namespace raftkv::lease {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A clock the test moves by hand.
struct FakeClock {
  Clock::time_point t{seconds(1000)};
  NowFn fn() {
    return [this] { return t; };
  }
};

TEST(Lessor, Renew_onlyOnThePrimary) {
  FakeClock clock;
  Lessor l(clock.fn());
  l.Granted(1, 10);
  EXPECT_TRUE(l.Renew(1).status().Is(Status::Code::kNotLeader));
  EXPECT_TRUE(l.TakeExpired().ids.empty());
  l.Promote(3, seconds(1));
  auto ttl = l.Renew(1);
  ASSERT_TRUE(ttl.ok());
  EXPECT_EQ(*ttl, 10);
  EXPECT_EQ(l.Renew(2).status().message(), kErrLeaseNotFound);
  l.Demote(3);
  EXPECT_TRUE(l.Renew(1).status().Is(Status::Code::kNotLeader));
  l.Promote(3, seconds(1));  // the apply thread late for a term already ended: ignored
  EXPECT_FALSE(l.primary());
  l.Promote(4, seconds(1));
  EXPECT_TRUE(l.primary());
}

TEST(Lessor, TakeExpired_afterTtlWithoutRenewal) {
  FakeClock clock;
  Lessor l(clock.fn());
  l.Promote(1, seconds(0));
  l.Granted(1, 5);
  l.Granted(2, 10);
  clock.t += milliseconds(4999);
  EXPECT_TRUE(l.TakeExpired().ids.empty());
  clock.t += milliseconds(1);
  Expired e = l.TakeExpired();
  EXPECT_EQ(e.ids, std::vector<LeaseId>{1});
  EXPECT_EQ(e.term, 1u);
  // Once expired it cannot be renewed, and it is offered again only after the retry interval.
  EXPECT_EQ(l.Renew(1).status().message(), kErrLeaseNotFound);
  EXPECT_TRUE(l.TakeExpired().ids.empty());
  clock.t += seconds(3);
  EXPECT_EQ(l.TakeExpired().ids, std::vector<LeaseId>{1});
  l.Revoked(1);
  clock.t += seconds(10);
  EXPECT_EQ(l.TakeExpired().ids, std::vector<LeaseId>{2});
}

TEST(Lessor, Renew_pushesTheDeadline) {
  FakeClock clock;
  Lessor l(clock.fn());
  l.Promote(1, seconds(0));
  l.Granted(1, 5);
  clock.t += seconds(4);
  ASSERT_TRUE(l.Renew(1).ok());
  clock.t += seconds(4);
  EXPECT_TRUE(l.TakeExpired().ids.empty());
  auto left = l.Remaining(1);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(*left, seconds(1));
}

TEST(Lessor, Promote_givesEveryLeaseItsFullTtlPlusTheExtension) {
  FakeClock clock;
  Lessor l(clock.fn());
  l.Reset({{1, 5}, {2, 60}});
  clock.t += seconds(100);  // a follower keeps no deadlines: time passing changes nothing
  l.Promote(2, seconds(1));
  EXPECT_EQ(*l.Remaining(1), seconds(6));
  EXPECT_EQ(*l.Remaining(2), seconds(61));
  EXPECT_EQ(l.primary_term(), 2u);
}

TEST(Lessor, Promote_revivesALeaseThatExpiredUnderThePreviousPrimary) {
  FakeClock clock;
  Lessor l(clock.fn());
  l.Promote(1, seconds(0));
  l.Granted(1, 5);
  clock.t += seconds(6);
  ASSERT_EQ(l.TakeExpired().ids.size(), 1u);
  l.Demote(1);  // the revoke was lost with the leadership
  l.Promote(3, seconds(1));
  EXPECT_TRUE(l.Renew(1).ok());
}

TEST(Lessor, TakeExpired_boundedPerRound) {
  FakeClock clock;
  LessorOptions opts;
  opts.max_expired_per_round = 3;
  Lessor l(clock.fn(), opts);
  l.Promote(1, seconds(0));
  for (LeaseId id = 1; id <= 7; ++id) l.Granted(id, 1);
  clock.t += seconds(2);
  EXPECT_EQ(l.TakeExpired().ids.size(), 3u);
  EXPECT_EQ(l.TakeExpired().ids.size(), 3u);
  EXPECT_EQ(l.TakeExpired().ids.size(), 1u);
}

TEST(Lessor, Reset_onAPrimaryRestartsDeadlines) {
  FakeClock clock;
  Lessor l(clock.fn());
  l.Promote(1, seconds(0));
  l.Reset({{5, 2}});
  clock.t += milliseconds(1999);
  EXPECT_TRUE(l.TakeExpired().ids.empty());
  clock.t += milliseconds(1);
  EXPECT_EQ(l.TakeExpired().ids, std::vector<LeaseId>{5});
}

// A model of leases across leader changes, at the lessor's level: three members, one lessor
// each, one clock. Leadership moves at random (the old leader demotes; after an election
// delay the new one promotes, as the server does once it applied its term's first entry);
// a client keeps lease K alive through whoever is primary (keep-alives to a non-primary
// fail and are retried, as a client does), and abandons lease A. Expiry decisions of any
// primary are checked against what the client was told:
//  - K, renewed at least every ttl/3 while a primary exists, never expires while the client
//    holds a renewal whose TTL has not run out;
//  - A expires no earlier than its last renewal + TTL (client's view).
TEST(LessorModel, LeaderChanges_neverExpireALeaseEarly) {
  for (int seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    FakeClock clock;
    const int64_t ttl = 3;
    const auto election = milliseconds(200);
    std::vector<std::unique_ptr<Lessor>> members;
    for (int i = 0; i < 3; ++i) {
      members.push_back(std::make_unique<Lessor>(clock.fn()));
      members.back()->Reset({{1, ttl}, {2, ttl}});  // K = 1, A = 2
    }
    int leader = 0;
    uint64_t term = 1;
    members[0]->Promote(term, election);
    Clock::time_point k_valid_until = clock.t + seconds(ttl);  // client's view of K
    Clock::time_point a_valid_until = clock.t + seconds(ttl);  // A: granted now, never renewed
    bool a_expired = false;
    Clock::time_point next_renew = clock.t;
    Clock::time_point election_done{};  // when the pending election's winner promotes
    int pending = -1;
    // 600 steps with leader changes, then 5 s of stable leadership (A must expire then).
    for (int step = 0; step < 700; ++step) {
      clock.t += milliseconds(50);
      if (step < 600 && pending < 0 && rng() % 40 == 0) {  // leadership is lost
        members[leader]->Demote(term);
        pending = static_cast<int>(rng() % 3);
        election_done = clock.t + election + milliseconds(rng() % 400);
      }
      if (pending >= 0 && clock.t >= election_done) {
        leader = pending;
        pending = -1;
        members[leader]->Promote(++term, election);
      }
      if (clock.t >= next_renew) {
        if (pending < 0) {
          auto r = members[leader]->Renew(1);
          ASSERT_TRUE(r.ok()) << "seed " << seed << ": kept-alive lease not renewable";
          k_valid_until = clock.t + seconds(*r);
          next_renew = clock.t + milliseconds(ttl * 1000 / 3);
        }
        // else: no primary; the client retries on the next step.
      }
      for (auto& m : members) {
        for (LeaseId id : m->TakeExpired().ids) {
          if (id == 1) {
            ASSERT_GE(clock.t, k_valid_until) << "seed " << seed << ": K expired early";
          }
          if (id == 2) {
            ASSERT_GE(clock.t, a_valid_until) << "seed " << seed << ": A expired early";
            a_expired = true;
          }
        }
      }
      // No primary for longer than the TTL could in principle let K lapse on the client's
      // side: then the client's view is what was promised, and the check above still holds.
    }
    EXPECT_TRUE(a_expired) << "seed " << seed << ": the abandoned lease never expired";
  }
}

}  // namespace
}  // namespace raftkv::lease
