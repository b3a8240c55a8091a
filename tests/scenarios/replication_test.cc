// Scenario tests for the replication questions R1-R4 of the Raft study notes
// (notes/seed-questions.md): how a write travels from the leader to a majority, what a
// crash at each step can and cannot do, and how a leader repairs a divergent log.
#include <gtest/gtest.h>

#include <set>

#include "tests/scenarios/scenario_util.h"

namespace raftkv::scenario {
namespace {

using raft::kNoNode;

bool IsAck(const Message& m) {
  return m.type == MessageType::kAppendResponse && !m.reject;
}

Index LastIndexOf(const Cluster& c, NodeId id) {
  return c.Status(id).last_index;
}

// R1: "A client write is appended by the leader, replicated, committed once a majority has
// it, applied, and only then answered; followers apply once they learn the commit index."
TEST(Replication, R1_write_is_committed_by_a_majority_then_applied_then_answered) {
  Cluster c(Options(3));
  MessageRecorder rec(c);
  const NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);
  ASSERT_TRUE(c.Put(leader, "warm", "up").ok());
  ASSERT_TRUE(WaitAllApplied(c, "warm", "up"));
  const std::vector<NodeId> followers = Others(c, leader);
  const NodeId acker = followers[0];
  const NodeId silent = followers[1];

  // Every acknowledgement to the leader is lost: the entry reaches both followers' logs,
  // but nobody may commit or apply it, and the client gets no answer.
  const Index i = LastIndexOf(c, leader) + 1;
  rec.Drop(
      [&](const Message& m) { return m.type == MessageType::kAppendResponse && m.to == leader; });
  EXPECT_EQ(c.Put(leader, "x", "1", 300 * kMillisecond).code, sim::ClientReply::Code::kTimeout);
  for (NodeId f : followers) {
    EXPECT_GE(c.PersistedLastIndex(f), i) << "replicated to " << f;
    EXPECT_LT(CommitOf(c, f), i);
  }
  EXPECT_LT(CommitOf(c, leader), i);
  for (NodeId id : c.NodeIds()) EXPECT_EQ(c.AppliedValue(id, "x"), std::nullopt);

  // One follower's acknowledgements get through: with the leader that is a majority.
  rec.Drop(
      [&](const Message& m) { return m.type == MessageType::kAppendResponse && m.from == silent; });
  ASSERT_TRUE(c.RunUntil([&] { return CommitOf(c, leader) >= i; }, kSecond));
  ASSERT_TRUE(c.RunUntil([&] { return c.AppliedValue(leader, "x") == "1"; }, kSecond));

  // A new write: answered only after a follower acknowledged it and the leader applied it.
  const Index j = LastIndexOf(c, leader) + 1;
  const size_t mark = rec.Mark();
  const Time called = c.Now();
  ASSERT_TRUE(c.Put(leader, "y", "2").ok());
  const Time answered = c.Now();
  EXPECT_EQ(c.AppliedValue(leader, "y"), "2");
  EXPECT_GE(CommitOf(c, leader), j);
  const auto acks = rec.Filter(
      [&](const Message& m) { return IsAck(m) && m.from == acker && m.index >= j; }, mark);
  ASSERT_FALSE(acks.empty());
  EXPECT_GE(acks.front().at, called);
  EXPECT_LE(acks.front().at, answered);

  // The silent follower applies it only once the leader has told it the commit index.
  ASSERT_TRUE(c.RunUntil([&] { return c.AppliedValue(silent, "y") == "2"; }, kSecond));
  EXPECT_TRUE(rec.Any(
      [&](const Message& m) {
        return (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat) &&
               m.from == leader && m.to == silent && m.commit >= j;
      },
      mark));
  ExpectNoViolations(c);
}

// R2: "The leader waits for a majority, not for every follower; a slow or dead follower does
// not slow commits."
TEST(Replication, R2_slow_or_dead_follower_does_not_slow_commits) {
  Cluster c(Options(5));
  const NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);
  ASSERT_TRUE(c.Put(leader, "warm", "up").ok());

  // One follower is dead, another writes to a disk a full second slow.
  const std::vector<NodeId> followers = Others(c, leader);
  c.Crash(followers[0]);
  c.SetSlowDisk(followers[1], kSecond);
  for (int i = 0; i < 5; ++i) {
    const Time start = c.Now();
    EXPECT_TRUE(c.Put(leader, "k" + std::to_string(i), "v", 500 * kMillisecond).ok());
    // Two fast followers and the leader are a majority: a few network and disk delays.
    EXPECT_LT(c.Now() - start, 50 * kMillisecond) << "write " << i;
  }
  // The slow follower is behind, not forgotten: it catches up.
  EXPECT_TRUE(WaitAllApplied(c, "k4", "v", 20 * kSecond));
  ExpectNoViolations(c);
}

// Checks the end of every R3 story: the cluster serves again, the write committed before
// the failure is intact, the write in flight ended as one of `allowed`, and all servers
// agree on it.
void ExpectAllowedOutcome(Cluster& c, const std::string& key,
                          const std::set<std::optional<std::string>>& allowed) {
  const sim::ClientReply base = GetViaLeader(c, "base");
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(base.value, "0") << "a committed write was lost";
  const sim::ClientReply r = GetViaLeader(c, key);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(allowed.count(r.value)) << key << " = " << r.value.value_or("(absent)");
  c.RunFor(kSecond);
  for (NodeId id : c.NodeIds()) {
    EXPECT_EQ(c.AppliedValue(id, key), r.value) << "node " << id;
  }
}

// R3: "Failure at each step: the leader crashes after appending locally ... The outcome is
// always one of the allowed ones, never a lost committed write."
TEST(Replication, R3_leader_crashes_after_appending_locally) {
  Cluster c(Options(3));
  MessageRecorder rec(c);
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  ASSERT_TRUE(c.Put(old, "base", "0").ok());
  const Index i = LastIndexOf(c, old) + 1;

  // The entry never leaves the leader.
  rec.Drop([&](const Message& m) {
    return m.type == MessageType::kAppend && m.from == old && !m.entries.empty();
  });
  auto reply = SubmitWrite(c, old, PutCommand(77, 1, "k", "a"));
  ASSERT_TRUE(c.RunUntil([&] { return c.PersistedLastIndex(old) >= i; }, kSecond));
  c.Crash(old);
  rec.DropNothing();
  ASSERT_NE(c.WaitForLeader(), kNoNode);
  c.Restart(old);

  EXPECT_FALSE(reply->answered && reply->reply.ok());
  // Lost (never committed) or kept (committed later by a new leader): both are allowed.
  ExpectAllowedOutcome(c, "k", {std::nullopt, "a"});
  ExpectNoViolations(c);
}

// R3: "... after replicating to a minority ..."
TEST(Replication, R3_leader_crashes_after_replicating_to_a_minority) {
  Cluster c(Options(5));
  MessageRecorder rec(c);
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  ASSERT_TRUE(c.Put(old, "base", "0").ok());
  const Index i = LastIndexOf(c, old) + 1;
  const NodeId lucky = Others(c, old)[0];

  // The entry reaches one follower only: two of five.
  rec.Drop([&](const Message& m) {
    return m.type == MessageType::kAppend && m.from == old && m.to != lucky && !m.entries.empty();
  });
  auto reply = SubmitWrite(c, old, PutCommand(77, 1, "k", "b"));
  ASSERT_TRUE(c.RunUntil(
      [&] { return c.PersistedLastIndex(old) >= i && c.PersistedLastIndex(lucky) >= i; }, kSecond));
  EXPECT_LT(CommitOf(c, old), i);
  c.Crash(old);
  rec.DropNothing();
  ASSERT_NE(c.WaitForLeader(), kNoNode);
  c.Restart(old);

  EXPECT_FALSE(reply->answered && reply->reply.ok());
  ExpectAllowedOutcome(c, "k", {std::nullopt, "b"});
  ExpectNoViolations(c);
}

// R3: "... after committing but before answering (the client retries — see C2) ..."
TEST(Replication, R3_leader_crashes_after_committing_before_answering) {
  Cluster c(Options(3));
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  ASSERT_TRUE(c.Put(old, "base", "0").ok());
  const Index i = LastIndexOf(c, old) + 1;

  // The leader's own disk is slow, so it applies (and answers) late; its followers' acks
  // commit the entry meanwhile.
  c.SetSlowDisk(old, kSecond);
  auto reply = SubmitWrite(c, old, PutCommand(77, 1, "k", "c"));
  ASSERT_TRUE(c.RunUntil([&] { return CommitOf(c, old) >= i; }, 3 * kSecond));
  ASSERT_FALSE(reply->answered);
  c.Crash(old);
  c.SetSlowDisk(old, 0);

  // Committed means it survives: the new leader has it.
  const NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);
  // The client, told nothing, retries the same request; it succeeds.
  auto retry = SubmitWrite(c, leader, PutCommand(77, 1, "k", "c"));
  ASSERT_TRUE(c.RunUntil([&] { return retry->answered; }, 2 * kSecond));
  EXPECT_TRUE(retry->reply.ok());
  c.Restart(old);
  ExpectAllowedOutcome(c, "k", {"c"});
  ExpectNoViolations(c);
}

// R3: "... followers crash mid-apply. The outcome is always one of the allowed ones."
TEST(Replication, R3_follower_crashes_mid_apply) {
  Cluster c(Options(3));
  const NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);
  ASSERT_TRUE(c.Put(leader, "base", "0").ok());
  const NodeId follower = Others(c, leader)[0];
  const Index start = c.AppliedIndex(follower);

  // Thirty writes at once; the follower crashes when it has applied only part of them.
  std::vector<std::shared_ptr<PendingReply>> replies;
  for (int k = 0; k < 30; ++k) {
    replies.push_back(SubmitWrite(c, leader, PutCommand(77, k + 1, "k" + std::to_string(k), "v")));
  }
  ASSERT_TRUE(c.RunUntil([&] { return c.AppliedIndex(follower) > start; }, kSecond));
  c.Crash(follower);
  ASSERT_TRUE(c.RunUntil(
      [&] {
        for (const auto& r : replies) {
          if (!r->answered) return false;
        }
        return true;
      },
      5 * kSecond));
  for (const auto& r : replies) EXPECT_TRUE(r->reply.ok());
  c.Restart(follower);
  // It replays its log and ends with exactly the leader's state.
  EXPECT_TRUE(WaitAllApplied(c, "k29", "v"));
  for (int k = 0; k < 30; ++k) {
    EXPECT_EQ(c.AppliedValue(follower, "k" + std::to_string(k)), "v") << k;
  }
  ExpectAllowedOutcome(c, "k0", {"v"});
  ExpectNoViolations(c);
}

// R4: "After an election logs disagree: the leader finds the last matching entry (quickly,
// with a conflict hint), the follower deletes its conflicting suffix and takes the leader's
// entries."
TEST(Replication, R4_fast_backtracking_skips_a_term_per_round_trip) {
  ClusterOptions o = Options(5);
  o.check_quorum = false;  // the cut-off leader keeps appending in its own term
  Cluster c(o);
  MessageRecorder rec(c);
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  ASSERT_TRUE(c.Put(old, "base", "0").ok());
  ASSERT_TRUE(WaitAllApplied(c, "base", "0"));
  const Index matched = c.Status(old).last_index;  // the last entry all logs share

  // Cut off, the old leader appends thirty entries of its term that can never commit.
  c.Isolate(old);
  for (int k = 0; k < 30; ++k) {
    SubmitWrite(c, old, PutCommand(90, k + 1, "lost" + std::to_string(k), "x"));
  }
  c.RunFor(50 * kMillisecond);
  ASSERT_GE(c.PersistedLastIndex(old), matched + 30);

  // Meanwhile the majority moves on through three leaders (three terms), ten writes each.
  std::vector<NodeId> majority = Others(c, old);
  NodeId down = kNoNode;
  for (int round = 0; round < 3; ++round) {
    const NodeId l = WaitForLeaderAmong(c, majority);
    ASSERT_NE(l, kNoNode) << "round " << round;
    for (int k = 0; k < 10; ++k) {
      ASSERT_TRUE(c.Put(l, "r" + std::to_string(round) + "k" + std::to_string(k), "v").ok());
    }
    if (down != kNoNode) c.Restart(down);
    if (round < 2) {
      c.Crash(l);
      down = l;
    }
  }
  const NodeId leader = WaitForLeaderAmong(c, majority);
  ASSERT_NE(leader, kNoNode);

  // The conflicting terms: those of the entries after the match point, on either side.
  std::set<Term> conflicting;
  for (NodeId id : {old, leader}) {
    const raft::RawNode* n = c.Node(id);
    auto entries = n->Entries(matched + 1, n->LastIndex() + 1);
    ASSERT_TRUE(entries.ok());
    for (const raft::Entry& e : entries.value()) conflicting.insert(e.term);
  }
  const Index leader_last = c.Status(leader).last_index;
  ASSERT_GE(leader_last, matched + 30);  // a naive leader would probe ~30 times

  // The old leader rejoins; count how often it refuses the new leader's AppendEntries
  // until its log is the leader's.
  const size_t mark = rec.Mark();
  c.Heal();
  ASSERT_TRUE(c.RunUntil(
      [&] {
        return c.IsUp(old) && c.Status(old).last_index >= leader_last &&
               LogTermAt(c, old, leader_last) == LogTermAt(c, leader, leader_last);
      },
      5 * kSecond));
  const size_t rejects = rec.Count(
      [&](const Message& m) {
        return m.type == MessageType::kAppendResponse && m.from == old && m.reject;
      },
      mark);
  EXPECT_GE(rejects, 1u) << "the logs did not diverge";
  EXPECT_LE(rejects, conflicting.size())
      << rejects << " rejections for " << conflicting.size() << " conflicting terms";

  // The conflicting suffix is gone; the old leader's log is the leader's.
  for (Index k = matched; k <= leader_last; ++k) {
    EXPECT_EQ(LogTermAt(c, old, k), LogTermAt(c, leader, k)) << "index " << k;
  }
  EXPECT_TRUE(WaitAllApplied(c, "r2k9", "v"));
  for (int k = 0; k < 30; ++k) {
    EXPECT_EQ(c.AppliedValue(old, "lost" + std::to_string(k)), std::nullopt);
  }
  ExpectNoViolations(c);
}

}  // namespace
}  // namespace raftkv::scenario
