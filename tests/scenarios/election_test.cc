// Scenario tests for the election questions E1-E7 of the Raft study notes
// (notes/seed-questions.md); E8-E12 are in voting_test.cc. Each test is one story told in
// the simulator: set up a cluster, do the thing the question asks about, assert what Raft
// promises, and end with no safety violation seen by the invariant checker.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/scenarios/scenario_util.h"

namespace raftkv::scenario {
namespace {

using raft::kNoNode;

// E1: "A leader crashes: followers time out, become candidates, one wins with a majority."
TEST(Election, E1_leader_crashes_a_follower_wins_with_a_majority) {
  Cluster c(Options(5));
  MessageRecorder rec(c);
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  const Term t0 = TermOf(c, old);

  const size_t mark = rec.Mark();
  c.Crash(old);
  const NodeId leader = c.WaitForLeader(5 * kSecond);
  ASSERT_NE(leader, kNoNode);
  ASSERT_NE(leader, old);
  const Term t1 = TermOf(c, leader);
  EXPECT_GT(t1, t0);

  // It asked for votes as a candidate of its term and won a majority (3 of 5, its own
  // vote included).
  EXPECT_TRUE(rec.Any(
      [&](const Message& m) {
        return m.type == MessageType::kVote && m.from == leader && m.term == t1;
      },
      mark));
  std::set<NodeId> voters = {leader};
  for (const Sent& s : rec.Filter(IsVoteGrant, mark)) {
    if (s.msg.to == leader && s.msg.term == t1) voters.insert(s.msg.from);
  }
  EXPECT_GE(voters.size(), 3u);

  // Everyone else follows it in that term.
  EXPECT_TRUE(c.RunUntil(
      [&] {
        for (NodeId id : Others(c, leader, {old})) {
          raft::NodeStatus s = c.Status(id);
          if (s.soft_state.role != Role::kFollower || s.hard_state.term != t1 ||
              s.soft_state.lead != leader) {
            return false;
          }
        }
        return true;
      },
      kSecond));
  ExpectNoViolations(c);
}

// E1: "... a candidate that receives AppendEntries with a term >= its own becomes a
// follower."
TEST(Election, E1_candidate_steps_down_on_append_of_its_own_term) {
  Cluster c(PaperOptions(5));
  MessageRecorder rec(c);
  const auto [old, t, others] = SettleLeader(c);
  ASSERT_NE(old, kNoNode) << Trace(c);
  const NodeId winner = others[0];
  const NodeId loser = others[1];

  // The loser's vote requests are lost, so it stays a candidate; the winner campaigns in
  // the same term and the other two vote for it.
  rec.Drop([&](const Message& m) { return m.type == MessageType::kVote && m.from == loser; });
  c.Crash(old);
  c.Campaign(loser);
  c.Campaign(winner);

  bool loser_was_candidate = false;
  ASSERT_TRUE(c.RunUntil(
      [&] {
        raft::NodeStatus s = c.Status(loser);
        if (s.soft_state.role == Role::kCandidate && s.hard_state.term == t + 1) {
          loser_was_candidate = true;
        }
        return IsLeader(c, winner) && s.soft_state.role == Role::kFollower &&
               s.soft_state.lead == winner;
      },
      2 * kSecond))
      << Trace(c);
  EXPECT_TRUE(loser_was_candidate);
  // Same term on both: it was the leader's AppendEntries, not a higher term, that turned
  // the candidate into a follower.
  EXPECT_EQ(TermOf(c, winner), t + 1);
  EXPECT_EQ(TermOf(c, loser), t + 1);
  EXPECT_TRUE(rec.Any([&](const Message& m) {
    return IsLeaderToFollower(m) && m.from == winner && m.to == loser && m.term == t + 1;
  }));
  ExpectNoViolations(c);
}

// E2: "Terms: each election starts a new term; a server seeing a higher term adopts it."
TEST(Election, E2_each_election_starts_a_new_higher_term) {
  Cluster c(Options(3));
  Term previous = 0;
  for (int round = 0; round < 5; ++round) {
    const NodeId leader = StableLeader(c);
    ASSERT_NE(leader, kNoNode) << "round " << round;
    const Term t = TermOf(c, leader);
    EXPECT_GT(t, previous) << "round " << round;
    previous = t;
    // Every server adopts the newest term it hears of.
    EXPECT_TRUE(WaitAllAtTerm(c, t)) << "round " << round;
    c.Crash(leader);
    ASSERT_NE(c.WaitForLeader(5 * kSecond), kNoNode);
    c.Restart(leader);
  }
  ExpectNoViolations(c);
}

// E2: "... requests with a stale term are rejected."
TEST(Election, E2_stale_term_requests_are_rejected) {
  ClusterOptions o = Options(3);
  o.check_quorum = false;  // the cut-off leader keeps believing it leads
  Cluster c(o);
  MessageRecorder rec(c);
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  const Term t = TermOf(c, old);

  c.Isolate(old);
  ASSERT_TRUE(c.RunUntil(
      [&] {
        NodeId l = c.Leader();
        return l != kNoNode && l != old;
      },
      5 * kSecond));
  const NodeId leader = c.Leader();
  const Term t2 = TermOf(c, leader);
  ASSERT_GT(t2, t);
  EXPECT_TRUE(IsLeader(c, old)) << "the old leader should still believe it leads";

  // The network heals, but the old leader hears nothing unasked (no heartbeat nor vote
  // request of the new term): only the answers to its own stale requests can tell it.
  const size_t mark = rec.Mark();
  rec.Drop([&](const Message& m) { return m.to == old && !IsResponse(m.type); });
  c.Heal();
  ASSERT_TRUE(c.RunUntil([&] { return TermOf(c, old) >= t2; }, kSecond));
  EXPECT_EQ(RoleOf(c, old), Role::kFollower);
  rec.DropNothing();
  c.RunFor(200 * kMillisecond);

  // The old leader did send requests of its stale term...
  EXPECT_TRUE(rec.Any(
      [&](const Message& m) { return IsLeaderToFollower(m) && m.from == old && m.term == t; },
      mark));
  // ... no one accepted them: every answer it got carried the newer term, and no receiver
  // went back to the old term.
  for (const Sent& s : rec.Filter([&](const Message& m) { return m.to == old; }, mark)) {
    EXPECT_GE(s.msg.term, t2) << raft::MessageTypeName(s.msg.type) << " from " << s.msg.from;
  }
  for (NodeId id : Others(c, old)) EXPECT_GE(TermOf(c, id), t2);
  ExpectNoViolations(c);
}

// E3: "A follower that misses heartbeats increments its term, votes for itself and asks for
// votes; a leader ... that sees a higher term steps down."
TEST(Election, E3_follower_missing_heartbeats_campaigns_and_leader_steps_down) {
  const ClusterOptions o = PaperOptions(3);
  Cluster c(o);
  MessageRecorder rec(c);
  const auto [leader, t, others] = SettleLeader(c);
  ASSERT_NE(leader, kNoNode) << Trace(c);
  const NodeId deaf = others[1];

  // The leader's messages to `deaf` are lost: it stops hearing heartbeats.
  const size_t mark = rec.Mark();
  c.CutLink(leader, deaf);
  ASSERT_TRUE(
      c.RunUntil([&] { return RoleOf(c, deaf) == Role::kCandidate; }, 3 * ElectionTimeout(o)));
  EXPECT_EQ(TermOf(c, deaf), t + 1);
  EXPECT_EQ(VoteOf(c, deaf), deaf);
  // Once its new term and vote are durable, it asks every peer.
  for (NodeId peer : Others(c, deaf)) {
    EXPECT_TRUE(c.RunUntil(
        [&] {
          return rec.Any(
              [&](const Message& m) {
                return m.type == MessageType::kVote && m.from == deaf && m.to == peer &&
                       m.term == t + 1;
              },
              mark);
        },
        100 * kMillisecond))
        << "no vote request to " << peer;
  }

  // The leader sees the higher term in the request and steps down at once.
  ASSERT_TRUE(c.RunUntil([&] { return TermOf(c, leader) > t; }, kSecond));
  EXPECT_EQ(RoleOf(c, leader), Role::kFollower);

  c.Heal();
  EXPECT_NE(c.WaitForLeader(), kNoNode);
  ExpectNoViolations(c);
}

// E3: "... a candidate that sees a higher term steps down."
TEST(Election, E3_candidate_seeing_higher_term_steps_down) {
  Cluster c(PaperOptions(3));
  MessageRecorder rec(c);
  const auto [old, t, others] = SettleLeader(c);
  ASSERT_NE(old, kNoNode) << Trace(c);
  const NodeId cand = others[0];
  const NodeId rival = others[1];

  // `cand` campaigns but never hears the answers, so it stays a candidate.
  rec.Drop([&](const Message& m) { return m.type == MessageType::kVoteResponse && m.to == cand; });
  c.Crash(old);
  c.Campaign(cand);
  ASSERT_TRUE(c.RunUntil([&] { return TermOf(c, rival) == t + 1; }, kSecond));
  ASSERT_EQ(RoleOf(c, cand), Role::kCandidate);
  ASSERT_EQ(TermOf(c, cand), t + 1);

  // A rival campaigns in a higher term; the candidate sees it and becomes a follower.
  c.Campaign(rival);
  ASSERT_TRUE(c.RunUntil([&] { return TermOf(c, cand) > t + 1; }, kSecond));
  EXPECT_EQ(RoleOf(c, cand), Role::kFollower);
  EXPECT_EQ(TermOf(c, cand), t + 2);

  rec.DropNothing();
  EXPECT_NE(c.WaitForLeader(), kNoNode);
  ExpectNoViolations(c);
}

// E4: "How a follower decides its vote: ... only for a candidate whose log is at least as
// up-to-date as its own."
TEST(Election, E4_vote_only_for_a_log_at_least_as_up_to_date) {
  Cluster c(PaperOptions(3));
  MessageRecorder rec(c);
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  const std::vector<NodeId> others = Others(c, old);
  const NodeId complete = others[0];
  const NodeId stale = others[1];

  // `stale` is cut off while the other two commit writes it never sees.
  c.Partition({{old, complete}, {stale}});
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(c.Put(old, "k" + std::to_string(i), "v").ok());
  }
  ASSERT_LT(c.PersistedLastIndex(stale), CommitOf(c, old));

  // The leader dies; only `complete` and `stale` remain, and `stale` campaigns first.
  c.Crash(old);
  c.Partition({{complete, stale}});
  const size_t mark = rec.Mark();
  c.Campaign(stale);
  ASSERT_TRUE(c.RunUntil(
      [&] {
        return rec.Any(
            [&](const Message& m) {
              return m.type == MessageType::kVoteResponse && m.from == complete && m.to == stale;
            },
            mark);
      },
      kSecond));

  // `complete` refuses every vote to the stale log, in every term; the complete log wins.
  EXPECT_EQ(c.WaitForLeader(5 * kSecond), complete);
  EXPECT_FALSE(rec.Any(
      [&](const Message& m) { return IsVoteGrant(m) && m.from == complete && m.to == stale; }));
  EXPECT_TRUE(WaitAllApplied(c, "k3", "v"));
  ExpectNoViolations(c);
}

// E4: "... one vote per term."
TEST(Election, E4_one_vote_per_term_with_rival_candidates) {
  Cluster c(PaperOptions(5));
  MessageRecorder rec(c);
  for (int round = 0; round < 5; ++round) {
    const NodeId old = StableLeader(c);
    ASSERT_NE(old, kNoNode);
    const std::vector<NodeId> others = Others(c, old);
    // Two servers campaign at the same instant for the same term.
    c.Crash(old);
    c.Campaign(others[round % others.size()]);
    c.Campaign(others[(round + 1) % others.size()]);
    ASSERT_NE(c.WaitForLeader(5 * kSecond), kNoNode);
    c.Restart(old);
    c.RunFor(300 * kMillisecond);
  }

  size_t granted = 0;
  for (const auto& [voter, by_term] : GrantedVotes(rec)) {
    for (const auto& [term, candidates] : by_term) {
      granted += candidates.size();
      EXPECT_LE(candidates.size(), 1u) << "server " << voter << " voted twice in term " << term;
    }
  }
  EXPECT_GE(granted, 5u);  // there were votes to count
  ExpectNoViolations(c);
}

// E5: "An old leader comes back (network heals ...) while an election with a higher term is
// under way: it must step down; it cannot commit anything."
TEST(Election, E5_old_leader_returns_during_election) {
  ClusterOptions o = Options(3);
  o.check_quorum = false;  // the cut-off leader keeps believing it leads
  Cluster c(o);
  MessageRecorder rec(c);
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  const Term t = TermOf(c, old);
  ASSERT_TRUE(c.Put(old, "x", "1").ok());
  const Index commit_before = CommitOf(c, old);

  // The old leader is cut off; the others' election stays under way (vote answers lost).
  c.Isolate(old);
  rec.Drop([](const Message& m) { return m.type == MessageType::kVoteResponse; });
  ASSERT_TRUE(c.RunUntil(
      [&] {
        for (NodeId id : Others(c, old)) {
          if (RoleOf(c, id) == Role::kCandidate && TermOf(c, id) > t) return true;
        }
        return false;
      },
      3 * kSecond));
  ASSERT_TRUE(IsLeader(c, old));
  EXPECT_FALSE(c.Put(old, "x", "stale", 200 * kMillisecond).ok());
  EXPECT_EQ(CommitOf(c, old), commit_before);

  // It comes back: it learns the higher term and steps down, having committed nothing.
  c.Heal();
  ASSERT_TRUE(c.RunUntil([&] { return TermOf(c, old) > t; }, kSecond));
  EXPECT_EQ(RoleOf(c, old), Role::kFollower);
  EXPECT_EQ(CommitOf(c, old), commit_before);

  rec.DropNothing();
  const NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);
  EXPECT_GT(TermOf(c, leader), t);
  // The unanswered write may or may not survive; every server agrees on the outcome.
  c.RunFor(kSecond);
  const auto value = c.AppliedValue(leader, "x");
  EXPECT_TRUE(value == "1" || value == "stale");
  for (NodeId id : c.NodeIds()) EXPECT_EQ(c.AppliedValue(id, "x"), value) << "node " << id;
  ExpectNoViolations(c);
}

// E5: "An old leader comes back (... or it restarts) while an election with a higher term is
// under way: it must step down."
TEST(Election, E5_old_leader_restarts_during_election) {
  Cluster c(Options(3));
  MessageRecorder rec(c);
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  const Term t = TermOf(c, old);
  ASSERT_TRUE(c.Put(old, "x", "1").ok());

  c.Crash(old);
  rec.Drop([](const Message& m) { return m.type == MessageType::kVoteResponse; });
  ASSERT_TRUE(c.RunUntil(
      [&] {
        for (NodeId id : Others(c, old)) {
          if (RoleOf(c, id) == Role::kCandidate && TermOf(c, id) > t) return true;
        }
        return false;
      },
      3 * kSecond));

  // It restarts as a follower of its persisted term, never as a leader ...
  c.Restart(old);
  EXPECT_EQ(RoleOf(c, old), Role::kFollower);
  EXPECT_EQ(TermOf(c, old), t);
  // ... and adopts the higher term as soon as it hears of it.
  ASSERT_TRUE(c.RunUntil([&] { return TermOf(c, old) > t; }, kSecond));
  EXPECT_EQ(RoleOf(c, old), Role::kFollower);

  rec.DropNothing();
  const NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);
  EXPECT_GT(TermOf(c, leader), t);
  EXPECT_TRUE(WaitAllApplied(c, "x", "1"));
  ExpectNoViolations(c);
}

// E6: "A follower first grants a vote to a higher-term candidate, then gets AppendEntries
// from the old leader: it rejects them, returning its term, and the old leader steps down."
TEST(Election, E6_follower_that_voted_rejects_old_leader) {
  ClusterOptions o = Options(3);
  o.check_quorum = false;  // no leader lease: the follower may vote while the leader lives
  Cluster c(o);
  MessageRecorder rec(c);
  const auto [old, t, others] = SettleLeader(c);
  ASSERT_NE(old, kNoNode) << Trace(c);
  const NodeId cand = others[0];
  const NodeId voter = others[1];

  // The old leader and `cand` cannot talk; `cand` times out and asks `voter`. So that the
  // old leader learns nothing before the grant, its exchanges with `voter` are held from
  // the vote request until the grant.
  c.CutLink(old, cand);
  c.CutLink(cand, old);
  bool asked = false;
  bool granted = false;
  rec.Drop([&](const Message& m) {
    if (m.type == MessageType::kVote && m.from == cand && m.to == voter) asked = true;
    if (IsVoteGrant(m) && m.from == voter && m.to == cand) granted = true;
    return asked && !granted &&
           ((m.from == old && m.to == voter) || (m.from == voter && m.to == old));
  });
  const size_t mark = rec.Mark();
  ASSERT_TRUE(c.RunUntil(
      [&] {
        return rec.Any(
            [&](const Message& m) { return IsVoteGrant(m) && m.from == voter && m.to == cand; },
            mark);
      },
      3 * kSecond))
      << Trace(c);
  const Term tv = TermOf(c, voter);
  ASSERT_GT(tv, t);
  const size_t granted_at = rec.After(
      [&](const Message& m) { return IsVoteGrant(m) && m.from == voter && m.to == cand; }, mark);

  // The old leader, who can only hear from `voter`, learns of the new term and steps down.
  ASSERT_TRUE(c.RunUntil([&] { return TermOf(c, old) > t; }, kSecond));
  EXPECT_EQ(RoleOf(c, old), Role::kFollower);

  // The old leader's AppendEntries of term t reached the voter, which answered them only
  // after its grant, with its newer term.
  EXPECT_TRUE(rec.Any(
      [&](const Message& m) {
        return IsLeaderToFollower(m) && m.from == old && m.to == voter && m.term == t;
      },
      mark));
  const auto answers = rec.Filter(
      [&](const Message& m) { return m.from == voter && m.to == old && IsResponse(m.type); },
      granted_at);
  EXPECT_FALSE(answers.empty()) << Trace(c);
  for (const Sent& s : answers) EXPECT_GE(s.msg.term, tv);

  c.Heal();
  const NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);
  EXPECT_GE(TermOf(c, leader), tv);
  ExpectNoViolations(c);
}

// E7: "A leader sends AppendEntries to followers and to a candidate during an election:
// each answers with its term; the stale leader learns it and steps down."
TEST(Election, E7_stale_leader_learns_term_from_candidate) {
  ClusterOptions o = Options(3);
  o.check_quorum = false;  // the leader keeps leading while one follower is cut off
  Cluster c(o);
  MessageRecorder rec(c);
  const auto [old, t, others] = SettleLeader(c);
  ASSERT_NE(old, kNoNode) << Trace(c);
  const NodeId cand = others[0];
  const NodeId follower = others[1];

  // `cand` is cut off from the leader and becomes a candidate whose vote requests are lost,
  // so the follower keeps following the old leader in term t.
  c.CutLink(old, cand);
  c.CutLink(cand, old);
  rec.Drop([&](const Message& m) { return m.type == MessageType::kVote && m.from == cand; });
  ASSERT_TRUE(c.RunUntil([&] { return RoleOf(c, cand) == Role::kCandidate; }, 3 * kSecond))
      << Trace(c);
  const Term tc = TermOf(c, cand);
  ASSERT_GT(tc, t);
  ASSERT_TRUE(IsLeader(c, old));
  // The follower answers the leader with its own term: t.
  for (const Sent& s : rec.Filter([&](const Message& m) {
         return m.from == follower && m.to == old && IsResponse(m.type);
       })) {
    EXPECT_EQ(s.msg.term, t);
  }

  // The link comes back: the leader's next heartbeat reaches the candidate, who answers
  // with its higher term; the leader steps down.
  const size_t mark = rec.Mark();
  c.RestoreLink(old, cand);
  c.RestoreLink(cand, old);
  ASSERT_TRUE(c.RunUntil([&] { return TermOf(c, old) > t; }, kSecond));
  EXPECT_EQ(RoleOf(c, old), Role::kFollower);
  EXPECT_TRUE(rec.Any(
      [&](const Message& m) {
        return IsLeaderToFollower(m) && m.from == old && m.to == cand && m.term == t;
      },
      mark));
  const auto answers = rec.Filter(
      [&](const Message& m) { return m.from == cand && m.to == old && IsResponse(m.type); }, mark);
  EXPECT_FALSE(answers.empty());
  for (const Sent& s : answers) EXPECT_GE(s.msg.term, tc);

  rec.DropNothing();
  const NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);
  EXPECT_GT(TermOf(c, leader), t);
  ExpectNoViolations(c);
}

}  // namespace
}  // namespace raftkv::scenario
