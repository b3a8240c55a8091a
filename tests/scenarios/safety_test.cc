// Scenario tests for the safety questions S1-S3 of the Raft study notes
// (notes/seed-questions.md): the election restriction, a stale server that keeps timing
// out, and the commit rule of Figure 8.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tests/scenarios/scenario_util.h"

namespace raftkv::scenario {
namespace {

using raft::kNoNode;

// S1: "Only a server holding every committed entry can win an election (the election
// restriction), and why it matters."
TEST(Safety, S1_only_a_server_with_every_committed_entry_can_win) {
  Cluster c(PaperOptions(5));
  MessageRecorder rec(c);
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  const std::vector<NodeId> others = Others(c, old);
  const std::vector<NodeId> complete = {others[0], others[1]};
  const std::vector<NodeId> behind = {others[2], others[3]};

  // Five writes are committed by old + complete (three of five); `behind` misses them.
  c.Partition({{old, complete[0], complete[1]}, behind});
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.Put(old, "k" + std::to_string(i), "v" + std::to_string(i)).ok());
  }
  const Index committed = CommitOf(c, old);
  for (NodeId b : behind) ASSERT_LT(c.PersistedLastIndex(b), committed);

  // The leader dies and everyone can talk again. A server that misses committed entries
  // campaigns first: the complete servers refuse it, and it cannot gather three votes.
  c.Crash(old);
  c.Heal();
  const size_t mark = rec.Mark();
  c.Campaign(behind[0]);
  LeaderLog leaders;
  RunObserving(c, 3 * kSecond, [&] { leaders.Sample(c); });
  for (NodeId full : complete) {
    EXPECT_FALSE(rec.Any(
        [&](const Message& m) {
          return m.type == MessageType::kVoteResponse && !m.reject && m.from == full &&
                 (m.to == behind[0] || m.to == behind[1]);
        },
        mark))
        << full << " voted for a server missing committed entries";
  }
  EXPECT_TRUE(rec.Any(
      [&](const Message& m) {
        return m.type == MessageType::kVoteResponse && m.reject && m.to == behind[0];
      },
      mark));

  // Every leader that won held every committed entry.
  ASSERT_FALSE(leaders.leaders().empty());
  for (const auto& [term, ids] : leaders.leaders()) {
    for (NodeId id : ids) {
      EXPECT_TRUE(id == complete[0] || id == complete[1])
          << "node " << id << " won term " << term << " without the committed entries";
    }
  }
  // Why it matters: nothing committed is lost, every server ends up with all of it.
  c.Restart(old);
  for (int i = 0; i < 5; ++i) {
    const sim::ClientReply r = GetViaLeader(c, "k" + std::to_string(i));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value, "v" + std::to_string(i));
  }
  EXPECT_TRUE(WaitAllApplied(c, "k4", "v4"));
  ExpectNoViolations(c);
}

// S2: "A slow server with a stale log keeps timing out: it cannot win, it must not keep
// disrupting the healthy majority ..."
TEST(Safety, S2_stale_server_rejoining_cannot_win_nor_disrupt) {
  Cluster c(Options(5));  // pre-vote and check-quorum on
  MessageRecorder rec(c);
  const NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);
  const Term t = TermOf(c, leader);
  const NodeId stale = Others(c, leader)[0];
  ASSERT_EQ(TermOf(c, stale), t);

  // Cut off for many election timeouts while the others commit writes.
  const size_t mark = rec.Mark();
  c.Isolate(stale);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.Put(leader, "k" + std::to_string(i), "v").ok());
  c.RunFor(5 * kSecond);
  // It kept timing out, but only asked "would you vote for me?" (pre-vote): its term did
  // not move, and it never sent a real vote request.
  EXPECT_TRUE(rec.Any(
      [&](const Message& m) { return m.type == MessageType::kPreVote && m.from == stale; }, mark));
  EXPECT_FALSE(rec.Any(
      [&](const Message& m) { return m.type == MessageType::kVote && m.from == stale; }, mark));
  EXPECT_EQ(TermOf(c, stale), t);

  // It comes back: the leader keeps its term and its leadership; the stale server never
  // becomes a candidate, only a follower that catches up.
  c.Heal();
  bool disrupted = false;
  bool stale_campaigned = false;
  RunObserving(c, 3 * kSecond, [&] {
    disrupted = disrupted || !IsLeader(c, leader) || TermOf(c, leader) != t;
    const Role r = RoleOf(c, stale);
    stale_campaigned = stale_campaigned || r == Role::kCandidate || r == Role::kLeader;
  });
  EXPECT_FALSE(disrupted);
  EXPECT_FALSE(stale_campaigned);
  EXPECT_EQ(c.Status(stale).soft_state.lead, leader);
  EXPECT_TRUE(WaitAllApplied(c, "k4", "v"));
  ExpectNoViolations(c);
}

// S2: "... and a rejected vote does not reset the rejecter's election timer." A stale
// server asks for votes every 50 ms, more often than any election timeout; the up-to-date
// server refuses each time and still times out and wins on its own schedule.
TEST(Safety, S2_rejected_votes_do_not_reset_the_rejecters_timer) {
  ClusterOptions o = Options(3);
  o.check_quorum = false;  // no leader lease: the request is answered (and refused)
  Cluster c(o);
  MessageRecorder rec(c);
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  const std::vector<NodeId> others = Others(c, old);
  const NodeId healthy = others[0];
  const NodeId stale = others[1];
  c.Isolate(stale);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.Put(old, "k" + std::to_string(i), "v").ok());
  ASSERT_TRUE(c.RunUntil([&] { return c.AppliedValue(healthy, "k2") == "v"; }, kSecond));

  c.Crash(old);
  c.Heal();
  const Time crashed_at = c.Now();
  const size_t mark = rec.Mark();
  bool healthy_campaigned = false;
  while (!healthy_campaigned && c.Now() - crashed_at < 2 * kSecond) {
    c.Campaign(stale);
    healthy_campaigned = c.RunUntil(
        [&] {
          const Role r = RoleOf(c, healthy);
          return r == Role::kPreCandidate || r == Role::kCandidate || r == Role::kLeader;
        },
        50 * kMillisecond);
  }
  ASSERT_TRUE(healthy_campaigned);
  // Its timer ran out within its randomized timeout (< 2 election timeouts) of the last
  // heartbeat, despite refusing requests all along.
  EXPECT_LT(c.Now() - crashed_at, 2 * ElectionTimeout(o) + 20 * kMillisecond);
  EXPECT_TRUE(rec.Any(
      [&](const Message& m) {
        return (m.type == MessageType::kPreVoteResponse || m.type == MessageType::kVoteResponse) &&
               m.from == healthy && m.to == stale && m.reject;
      },
      mark));
  EXPECT_EQ(WaitForLeaderAmong(c, {healthy, stale}), healthy);
  EXPECT_TRUE(WaitAllApplied(c, "k2", "v"));
  ExpectNoViolations(c);
}

// The set-up of Figure 8 of the paper, with five servers s1..s5:
//  (a) s1 leads term t1 and appends entry i, but it reaches no one; s1 crashes.
//  (b) s5 wins term t2 (votes of s2, s3, s4), appends its own entry i of term t2, which
//      also reaches no one; s5 crashes.
//  (c) s1 restarts and wins term t3. It copies its old entry i (term t1) to the others, so
//      a majority holds it; but its entry of term t3 reaches no one.
// Entry i is larger than the per-message limit, so s1 sends it alone. Elections are steered
// by dropping the vote requests of everyone but the intended winner.
struct Figure8 {
  NodeId s1 = kNoNode;
  NodeId s5 = kNoNode;
  Index i = 0;
  Term t1 = 0;
  Term t2 = 0;
  Term t3 = 0;
  std::string big = std::string(2 << 20, 'f');  // over the 1 MiB per-message limit
  std::set<NodeId> holds_i;                     // followers that acknowledged entry i
};

bool IsCampaignFromOtherThan(const Message& m, NodeId winner) {
  return (m.type == MessageType::kVote || m.type == MessageType::kPreVote) && m.from != winner;
}

ClusterOptions Figure8Options() {
  ClusterOptions o = Options(5);
  o.check_quorum = false;  // elections are steered with Campaign and dropped requests
  return o;
}

void SetUpFigure8(Cluster& c, MessageRecorder& rec, Figure8& f) {
  f.s1 = StableLeader(c);
  ASSERT_NE(f.s1, kNoNode);
  f.t1 = TermOf(c, f.s1);
  ASSERT_TRUE(c.Put(f.s1, "base", "0").ok());
  ASSERT_TRUE(WaitAllApplied(c, "base", "0"));
  f.s5 = Others(c, f.s1)[3];
  f.i = c.Status(f.s1).last_index + 1;

  // (a)
  rec.Drop([&](const Message& m) {
    return m.type == MessageType::kAppend && m.from == f.s1 && !m.entries.empty();
  });
  SubmitWrite(c, f.s1, PutCommand(88, 1, "f8", f.big));
  ASSERT_TRUE(c.RunUntil([&] { return c.PersistedLastIndex(f.s1) >= f.i; }, kSecond));
  c.Crash(f.s1);
  ASSERT_EQ(c.PersistedLastIndex(f.s1), f.i);

  // (b)
  rec.Drop([&](const Message& m) {
    if (IsCampaignFromOtherThan(m, f.s5)) return true;
    return m.type == MessageType::kAppend && m.from == f.s5 && !m.entries.empty();
  });
  c.Campaign(f.s5);
  ASSERT_TRUE(c.RunUntil([&] { return IsLeader(c, f.s5) && c.PersistedLastIndex(f.s5) >= f.i; },
                         5 * kSecond))
      << Trace(c);
  f.t2 = TermOf(c, f.s5);
  ASSERT_GT(f.t2, f.t1);
  ASSERT_EQ(LogTermAt(c, f.s5, f.i), f.t2);
  c.Crash(f.s5);

  // (c) Of s1's AppendEntries, those carrying an entry of its new term are lost on the way
  // to a follower that already holds i.
  rec.Drop([&](const Message& m) {
    if (IsCampaignFromOtherThan(m, f.s1)) return true;
    if (m.type == MessageType::kAppendResponse && m.to == f.s1 && !m.reject && m.index >= f.i) {
      f.holds_i.insert(m.from);
    }
    if (m.type != MessageType::kAppend || m.from != f.s1) return false;
    const bool carries_new_term = std::any_of(m.entries.begin(), m.entries.end(),
                                              [&](const raft::Entry& e) { return e.term > f.t2; });
    return carries_new_term && f.holds_i.count(m.to) > 0;
  });
  c.Restart(f.s1);
  c.Campaign(f.s1);
  ASSERT_TRUE(c.RunUntil([&] { return IsLeader(c, f.s1); }, 5 * kSecond)) << Trace(c);
  f.t3 = TermOf(c, f.s1);
  ASSERT_GT(f.t3, f.t2);
  // s1's progress shows entry i on a majority: itself and at least two followers.
  ASSERT_TRUE(c.RunUntil(
      [&] {
        int holders = 0;
        for (const auto& [id, pr] : c.Status(f.s1).progress) {
          if (id != f.s1 && pr.match >= f.i) ++holders;
        }
        return holders >= 2;
      },
      2 * kSecond))
      << "entry " << f.i << " never reached a majority";
}

// S3: "Figure 8: a leader must not commit an entry of an earlier term by counting
// replicas."
// After (c), entry i (term t1) is on a majority, yet it must NOT be committed; (d) once
// s1's entry of term t3 reaches a majority, both commit.
TEST(Safety, S3_figure8_old_term_entry_is_not_committed_by_counting) {
  Cluster c(Figure8Options());
  MessageRecorder rec(c);
  Figure8 f;
  ASSERT_NO_FATAL_FAILURE(SetUpFigure8(c, rec, f));

  Index max_commit = 0;
  RunObserving(c, kSecond, [&] {
    for (NodeId id : c.NodeIds()) {
      if (c.IsUp(id)) max_commit = std::max(max_commit, CommitOf(c, id));
    }
  });
  EXPECT_LT(max_commit, f.i) << "entry " << f.i << " of term " << f.t1
                             << " was committed by counting replicas in term " << f.t3;
  EXPECT_EQ(c.AppliedValue(f.s1, "f8"), std::nullopt);

  // (d)
  rec.DropNothing();
  ASSERT_TRUE(c.RunUntil([&] { return CommitOf(c, f.s1) > f.i; }, 2 * kSecond));
  EXPECT_EQ(LogTermAt(c, f.s1, f.i), f.t1);
  c.Restart(f.s5);
  EXPECT_TRUE(WaitAllApplied(c, "f8", f.big, 5 * kSecond));
  ExpectNoViolations(c);
}

// S3: "... why": after (c), were s1 to crash before committing an entry of its own term,
// s5 (last term t2 > t1) can win and replace entry i on every server. Had s1 reported i
// committed, a committed entry would now be lost; since it did not, nothing is.
TEST(Safety, S3_figure8_old_entry_on_a_majority_can_still_be_replaced) {
  Cluster c(Figure8Options());
  MessageRecorder rec(c);
  Figure8 f;
  ASSERT_NO_FATAL_FAILURE(SetUpFigure8(c, rec, f));

  c.Crash(f.s1);
  rec.Drop([&](const Message& m) { return IsCampaignFromOtherThan(m, f.s5); });
  c.Restart(f.s5);
  c.Campaign(f.s5);
  ASSERT_TRUE(c.RunUntil([&] { return IsLeader(c, f.s5); }, 5 * kSecond)) << Trace(c);
  rec.DropNothing();
  // s5's entry of term t2 replaces entry i everywhere, and is committed.
  ASSERT_TRUE(c.RunUntil(
      [&] {
        for (NodeId id : c.NodeIds()) {
          if (c.IsUp(id) && (LogTermAt(c, id, f.i) != f.t2 || CommitOf(c, id) < f.i)) {
            return false;
          }
        }
        return true;
      },
      2 * kSecond));
  c.Restart(f.s1);
  ASSERT_TRUE(c.RunUntil([&] { return LogTermAt(c, f.s1, f.i) == f.t2; }, 2 * kSecond));
  c.RunFor(500 * kMillisecond);
  for (NodeId id : c.NodeIds()) EXPECT_EQ(c.AppliedValue(id, "f8"), std::nullopt) << id;
  ExpectNoViolations(c);
}

}  // namespace
}  // namespace raftkv::scenario
