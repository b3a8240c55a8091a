// Scenario tests for the client questions C2 and C3 of the Raft study notes
// (notes/seed-questions.md): exactly-once writes with client sessions, and reads that a
// deposed leader must not serve stale.
#include <gtest/gtest.h>

#include <memory>

#include "tests/scenarios/scenario_util.h"

namespace raftkv::scenario {
namespace {

using raft::kNoNode;

// Makes a write committed but unanswered: the leader's own disk is slow (so it applies and
// answers late) while its followers commit the entry; then the leader crashes. Returns the
// new leader.
NodeId CommitThenCrashLeader(Cluster& c, NodeId leader, const sim::Command& cmd) {
  const Index i = c.Status(leader).last_index + 1;
  c.SetSlowDisk(leader, kSecond);
  auto reply = SubmitWrite(c, leader, cmd);
  EXPECT_TRUE(c.RunUntil([&] { return CommitOf(c, leader) >= i; }, 3 * kSecond));
  EXPECT_FALSE(reply->answered) << "the client was answered before the crash";
  c.Crash(leader);
  c.SetSlowDisk(leader, 0);
  return c.WaitForLeader();
}

// Runs until `p` is answered (or `timeout`); returns whether it was.
bool WaitAnswered(Cluster& c, const std::shared_ptr<PendingReply>& p, Time timeout = 2 * kSecond) {
  return c.RunUntil([&] { return p->answered; }, timeout);
}

// A client that knows the cluster's servers but not the leader: it starts at `first`,
// follows a refusal's leader hint, and moves on to the next server when one does not
// answer. Returns the reply and counts the servers it tried.
sim::ClientReply PutFindingLeader(Cluster& c, NodeId first, const std::string& key,
                                  const std::string& value, int* tries) {
  const std::vector<NodeId> all = c.NodeIds();
  NodeId via = first;
  sim::ClientReply r;
  for (*tries = 1; *tries <= 10; ++*tries) {
    r = c.Put(via, key, value, 300 * kMillisecond);
    if (r.ok()) return r;
    if (r.code == sim::ClientReply::Code::kNotLeader && r.leader_hint != kNoNode &&
        r.leader_hint != via) {
      via = r.leader_hint;  // redirected
    } else {
      via = all[via % all.size()];  // no answer or no hint: try the next server
    }
  }
  return r;
}

// C1: "Clients find the leader, and keep finding it when leadership or membership changes
// (redirects or forwarding; names, not fixed addresses)."
TEST(Client, C1_clients_keep_finding_the_leader) {
  Cluster c(Options(3));
  const NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);
  const NodeId next = Others(c, leader)[0];

  // A write through a follower is forwarded to the leader; the answer names the leader.
  sim::ClientReply r = c.Put(next, "x", "1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.leader_hint, leader);

  // Leadership moves; a client still talking to the old leader is redirected or forwarded,
  // and told of the new one.
  c.TransferLeader(leader, next);
  ASSERT_TRUE(c.RunUntil([&] { return IsLeader(c, next); }, 2 * kSecond));
  int tries = 0;
  r = PutFindingLeader(c, leader, "x", "2", &tries);
  ASSERT_TRUE(r.ok());
  EXPECT_LE(tries, 3);
  EXPECT_EQ(r.leader_hint, next);

  // The leader it knows crashes: the client tries the others and finds the new leader.
  c.Crash(next);
  r = PutFindingLeader(c, next, "x", "3", &tries);
  ASSERT_TRUE(r.ok());
  EXPECT_LE(tries, 5);
  const NodeId now = c.Leader();
  ASSERT_NE(now, kNoNode);
  EXPECT_EQ(r.leader_hint, now);
  const sim::ClientReply x = GetViaLeader(c, "x");
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x.value, "3");
  ExpectNoViolations(c);
}

// C2: "Exactly-once: a client whose write was committed but not answered retries; with
// client sessions the write takes effect once (x++ must not become x+2)."
// x++ here is a compare-and-set from the value read: a second application would fail and
// tell the client its increment did not happen.
TEST(Client, C2_retried_increment_takes_effect_once) {
  Cluster c(Options(3));
  NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);
  ASSERT_TRUE(c.Put(leader, "x", "1").ok());

  const sim::Command incr = CasCommand(42, 1, "x", "1", "2");
  leader = CommitThenCrashLeader(c, leader, incr);
  ASSERT_NE(leader, kNoNode);

  // The client heard nothing and retries the very same request (same session, same
  // sequence number): it is told the increment happened, and it happened once.
  auto retry = SubmitWrite(c, leader, incr);
  ASSERT_TRUE(WaitAnswered(c, retry));
  ASSERT_TRUE(retry->reply.ok());
  EXPECT_TRUE(retry->reply.cas_succeeded);
  const sim::ClientReply x = GetViaLeader(c, "x");
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x.value, "2");
  ExpectNoViolations(c);
}

// C2: "... with client sessions the write takes effect once": a late retry must not undo a
// later write by another client.
TEST(Client, C2_late_retry_does_not_overwrite_a_newer_write) {
  Cluster c(Options(3));
  NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);

  const sim::Command first = PutCommand(42, 1, "x", "from-42");
  leader = CommitThenCrashLeader(c, leader, first);
  ASSERT_NE(leader, kNoNode);
  // Another client writes after it.
  ASSERT_TRUE(c.Put(leader, "x", "from-other").ok());

  // The first client's retry is answered from its session, not applied again.
  auto retry = SubmitWrite(c, leader, first);
  ASSERT_TRUE(WaitAnswered(c, retry));
  EXPECT_TRUE(retry->reply.ok());
  const sim::ClientReply x = GetViaLeader(c, "x");
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x.value, "from-other");
  ExpectNoViolations(c);
}

// C3: "Reads are linearizable: a deposed leader must not serve stale reads (ReadIndex ...)."
TEST(Client, C3_isolated_old_leader_does_not_serve_stale_reads) {
  for (bool check_quorum : {false, true}) {
    SCOPED_TRACE(check_quorum ? "check-quorum on" : "check-quorum off");
    ClusterOptions o = Options(3);
    o.check_quorum = check_quorum;  // off: the old leader keeps believing it leads
    Cluster c(o);
    const NodeId old = StableLeader(c);
    ASSERT_NE(old, kNoNode);
    ASSERT_TRUE(c.Put(old, "x", "1").ok());
    ASSERT_TRUE(WaitAllApplied(c, "x", "1"));

    c.Isolate(old);
    const NodeId leader = WaitForLeaderAmong(c, Others(c, old));
    ASSERT_NE(leader, kNoNode);
    ASSERT_TRUE(c.Put(leader, "x", "2").ok());
    // Its local state is stale: a local read would return "1".
    ASSERT_EQ(c.AppliedValue(old, "x"), "1");
    if (!check_quorum) {
      EXPECT_TRUE(IsLeader(c, old));
    }

    const sim::ClientReply r = c.Get(old, "x", 500 * kMillisecond);
    EXPECT_FALSE(r.ok() && r.value == "1") << "stale read served by the deposed leader";
    EXPECT_FALSE(r.ok()) << "an isolated server cannot confirm a read";
    const sim::ClientReply fresh = c.Get(leader, "x");
    ASSERT_TRUE(fresh.ok());
    EXPECT_EQ(fresh.value, "2");
    ExpectNoViolations(c);
  }
}

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
