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
  c.Isolate(stale);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.Put(leader, "k" + std::to_string(i), "v").ok());
  c.RunFor(5 * kSecond);
  // It kept timing out, but only asked "would you vote for me?" (pre-vote): its term did
  // not move, and it never sent a real vote request.
  EXPECT_TRUE(rec.Any(
      [&](const Message& m) { return m.type == MessageType::kPreVote && m.from == stale; }));
  EXPECT_FALSE(
      rec.Any([&](const Message& m) { return m.type == MessageType::kVote && m.from == stale; }));
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

// S3: "Figure 8: a leader must not commit an entry of an earlier term by counting
// replicas."
//
// The story of Figure 8 of the paper, with five servers:
//  (a) s1 leads term t1 and appends entry i, but it reaches no one; s1 crashes.
//  (b) s5 wins term t2 (votes of s2, s3, s4), appends its own entry i of term t2, which
//      also reaches no one; s5 crashes.
//  (c) s1 restarts and wins term t3. It copies its old entry i (term t1) to the others, so
//      a majority holds it; but its entry of term t3 reaches no one. Entry i must NOT be
//      committed: were s1 to crash now, s5 (last term t2 > t1) could win and replace it.
//  (d) once s1's entry of term t3 reaches a majority, both commit.
// Entry i is larger than the per-message limit, so s1 sends it alone.
TEST(Safety, S3_figure8_old_term_entry_is_not_committed_by_counting) {
  ClusterOptions o = Options(5);
  o.check_quorum = false;  // elections are steered with Campaign and dropped requests
  Cluster c(o);
  MessageRecorder rec(c);
  const NodeId s1 = StableLeader(c);
  ASSERT_NE(s1, kNoNode);
  const Term t1 = TermOf(c, s1);
  ASSERT_TRUE(c.Put(s1, "base", "0").ok());
  ASSERT_TRUE(WaitAllApplied(c, "base", "0"));
  const std::vector<NodeId> others = Others(c, s1);
  const NodeId s5 = others[3];
  const std::vector<NodeId> voters = {others[0], others[1], others[2]};
  const Index i = c.Status(s1).last_index + 1;
  const std::string big(2 << 20, 'f');  // over the 1 MiB per-message limit

  // (a)
  rec.Drop([&](const Message& m) {
    return m.type == MessageType::kAppend && m.from == s1 && !m.entries.empty();
  });
  SubmitWrite(c, s1, PutCommand(88, 1, "f8", big));
  ASSERT_TRUE(c.RunUntil([&] { return c.PersistedLastIndex(s1) >= i; }, kSecond));
  c.Crash(s1);
  ASSERT_EQ(c.PersistedLastIndex(s1), i);

  // (b)
  rec.Drop([&](const Message& m) {
    if ((m.type == MessageType::kVote || m.type == MessageType::kPreVote) && m.from != s5) {
      return true;  // only s5 campaigns
    }
    return m.type == MessageType::kAppend && m.from == s5 && !m.entries.empty();
  });
  c.Campaign(s5);
  ASSERT_TRUE(
      c.RunUntil([&] { return IsLeader(c, s5) && c.PersistedLastIndex(s5) >= i; }, kSecond));
  const Term t2 = TermOf(c, s5);
  ASSERT_GT(t2, t1);
  ASSERT_EQ(LogTermAt(c, s5, i), t2);
  c.Crash(s5);

  // (c) Only s1 may campaign (the others' pre-vote and vote requests are lost), and of its
  // AppendEntries only those without an entry of its new term reach a follower that
  // already holds i.
  std::set<NodeId> holds_i;
  rec.Drop([&](const Message& m) {
    if ((m.type == MessageType::kVote || m.type == MessageType::kPreVote) && m.from != s1) {
      return true;
    }
    if (m.type == MessageType::kAppendResponse && m.to == s1 && !m.reject && m.index >= i) {
      holds_i.insert(m.from);
    }
    if (m.type != MessageType::kAppend || m.from != s1) return false;
    const bool carries_new_term = std::any_of(m.entries.begin(), m.entries.end(),
                                              [&](const raft::Entry& e) { return e.term > t2; });
    return carries_new_term && holds_i.count(m.to) > 0;
  });
  c.Restart(s1);
  c.Campaign(s1);
  ASSERT_TRUE(c.RunUntil([&] { return IsLeader(c, s1); }, 5 * kSecond)) << Trace(c);
  const Term t3 = TermOf(c, s1);
  ASSERT_GT(t3, t2);
  // s1's progress shows entry i on a majority: itself and at least two followers.
  ASSERT_TRUE(c.RunUntil(
      [&] {
        int holders = 0;
        for (const auto& [id, pr] : c.Status(s1).progress) {
          if (id != s1 && pr.match >= i) ++holders;
        }
        return holders >= 2;
      },
      2 * kSecond))
      << "entry " << i << " never reached a majority";
  Index max_commit = 0;
  RunObserving(c, kSecond, [&] {
    for (NodeId id : c.NodeIds()) {
      if (c.IsUp(id)) max_commit = std::max(max_commit, CommitOf(c, id));
    }
  });
  EXPECT_LT(max_commit, i) << "entry " << i << " of term " << t1
                           << " was committed by counting replicas in term " << t3;
  EXPECT_EQ(c.AppliedValue(s1, "f8"), std::nullopt);

  // (d)
  rec.DropNothing();
  ASSERT_TRUE(c.RunUntil([&] { return CommitOf(c, s1) > i; }, 2 * kSecond));
  EXPECT_EQ(LogTermAt(c, s1, i), t1);
  c.Restart(s5);
  EXPECT_TRUE(WaitAllApplied(c, "f8", big, 5 * kSecond));
  ExpectNoViolations(c);
}

}  // namespace
}  // namespace raftkv::scenario
