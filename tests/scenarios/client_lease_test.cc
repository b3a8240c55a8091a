// Scenario test for the lease-read variant of question C3 of the Raft study notes
// (notes/seed-questions.md). Kept apart from client_test.cc and OUT OF THE BUILD for now: it
// fails against the current core (the old leader serves lease reads for up to about two
// election timeouts after losing its quorum, while a new leader can be elected after about
// one); see the note in tests/scenarios/CMakeLists.txt. Add it to the build once it passes.
#include <gtest/gtest.h>

#include <memory>

#include "tests/scenarios/scenario_util.h"

namespace raftkv::scenario {
namespace {

using raft::kNoNode;

// C3: "... or a lease bounded by the election timeout": with lease reads and clocks that
// keep time, the old leader's lease runs out before a new leader can be elected, so no read
// it serves misses a write acknowledged before the read began.
TEST(Client, C3_lease_reads_are_never_stale_with_good_clocks) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    ClusterOptions o = Options(3, seed);
    o.read_only = raft::Config::ReadOnlyOption::kLeaseBased;
    Cluster c(o);
    const NodeId old = StableLeader(c);
    ASSERT_NE(old, kNoNode);
    ASSERT_TRUE(c.Put(old, "x", "1").ok());
    ASSERT_TRUE(WaitAllApplied(c, "x", "1"));
    c.RunFor(static_cast<Time>(seed) * 3 * kMillisecond);  // vary the phase of the cut

    // Every 5 ms a client reads through the old leader, while the majority elects a new
    // leader and writes x = 2 as soon as it can.
    c.Isolate(old);
    struct Read {
      Time call = 0;
      std::shared_ptr<PendingReply> reply = std::make_shared<PendingReply>();
    };
    std::vector<Read> reads;
    std::shared_ptr<PendingReply> write;
    const std::vector<NodeId> majority = Others(c, old);
    const Time end = c.Now() + 2 * kSecond;
    while (c.Now() < end) {
      Read r;
      r.call = c.Now();
      auto p = r.reply;
      Cluster* cp = &c;
      c.SubmitRead(old, "x", [p, cp](const sim::ClientReply& rep) {
        if (p->answered) return;
        p->answered = true;
        p->reply = rep;
        p->at = cp->Now();
      });
      reads.push_back(r);
      if (!write) {
        for (NodeId id : majority) {
          if (IsLeader(c, id)) write = SubmitWrite(c, id, PutCommand(60, 1, "x", "2"));
          if (write) break;
        }
      }
      c.RunFor(5 * kMillisecond);
    }
    ASSERT_TRUE(write && write->answered && write->reply.ok());
    int stale = 0;
    std::string first_stale;
    for (const Read& r : reads) {
      if (!r.reply->answered || !r.reply->reply.ok()) continue;
      if (r.call > write->at && r.reply->reply.value != "2") {
        if (stale++ == 0) {
          first_stale = "read called at " + std::to_string(r.call) + " us, answered at " +
                        std::to_string(r.reply->at) + " us";
        }
      }
    }
    EXPECT_EQ(stale, 0) << "stale reads through the old leader after x = 2 was acknowledged at "
                        << write->at << " us; first: " << first_stale << "\n"
                        << Trace(c);
    ExpectNoViolations(c);
  }
}

}  // namespace
}  // namespace raftkv::scenario
