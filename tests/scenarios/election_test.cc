// Scenario tests for the election questions E1-E12 of the Raft study notes
// (notes/seed-questions.md). Each test is one story told in the simulator: set up a cluster,
// do the thing the question asks about, assert what Raft promises, and end with no safety
// violation seen by the invariant checker.
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
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  const Term t = TermOf(c, old);
  ASSERT_TRUE(WaitAllAtTerm(c, t));
  const std::vector<NodeId> others = Others(c, old);
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
  const NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);
  const Term t = TermOf(c, leader);
  ASSERT_TRUE(WaitAllAtTerm(c, t));
  const std::vector<NodeId> others = Others(c, leader);
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
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  const Term t = TermOf(c, old);
  ASSERT_TRUE(WaitAllAtTerm(c, t));
  const std::vector<NodeId> others = Others(c, old);
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
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  const Term t = TermOf(c, old);
  ASSERT_TRUE(WaitAllAtTerm(c, t));
  const std::vector<NodeId> others = Others(c, old);
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
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  const Term t = TermOf(c, old);
  ASSERT_TRUE(WaitAllAtTerm(c, t));
  const std::vector<NodeId> others = Others(c, old);
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

// E8: "Can there be two leaders? At most one per term; ... a stale leader of an older term
// may briefly think it leads but cannot commit."
TEST(Election, E8_two_leaders_only_in_different_terms) {
  ClusterOptions o = Options(5);
  o.check_quorum = false;  // the minority leader keeps believing it leads
  Cluster c(o);
  LeaderLog leaders;
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  const Term t = TermOf(c, old);
  ASSERT_TRUE(c.Put(old, "x", "0").ok());
  const std::vector<NodeId> others = Others(c, old);
  const std::vector<NodeId> majority(others.begin() + 1, others.end());

  c.Partition({{old, others[0]}, majority});
  NodeId fresh_leader = kNoNode;
  ASSERT_TRUE(c.RunUntil(
      [&] {
        leaders.Sample(c);
        for (NodeId id : majority) {
          if (IsLeader(c, id)) fresh_leader = id;
        }
        return fresh_leader != kNoNode;
      },
      5 * kSecond));
  // Two servers believe they lead, in different terms.
  EXPECT_TRUE(IsLeader(c, old));
  EXPECT_EQ(TermOf(c, old), t);
  EXPECT_GT(TermOf(c, fresh_leader), t);

  // The stale one cannot commit; the new one can.
  const Index stale_commit = CommitOf(c, old);
  EXPECT_FALSE(c.Put(old, "x", "stale", 300 * kMillisecond).ok());
  EXPECT_EQ(CommitOf(c, old), stale_commit);
  EXPECT_TRUE(c.Put(fresh_leader, "x", "fresh").ok());

  c.Heal();
  bool stale_applied = false;
  RunObserving(c, 2 * kSecond, [&] {
    leaders.Sample(c);
    for (NodeId id : c.NodeIds())
      stale_applied = stale_applied || c.AppliedValue(id, "x") == "stale";
  });
  EXPECT_FALSE(stale_applied);
  for (const auto& [term, ids] : leaders.leaders()) {
    EXPECT_EQ(ids.size(), 1u) << "two leaders in term " << term;
  }
  EXPECT_TRUE(WaitAllApplied(c, "x", "fresh"));
  ExpectNoViolations(c);
}

// E8: "... randomized timeouts make split votes rare."
TEST(Election, E8_randomized_timeouts_make_split_votes_rare) {
  Cluster c(Options(5, /*seed=*/7));
  const int kElections = 20;
  int first_round = 0;
  for (int i = 0; i < kElections; ++i) {
    const NodeId old = StableLeader(c);
    ASSERT_NE(old, kNoNode);
    const Term t = TermOf(c, old);
    c.Crash(old);
    const NodeId leader = c.WaitForLeader(5 * kSecond);
    ASSERT_NE(leader, kNoNode);
    // Won in the first term tried: no split vote forced another round.
    if (TermOf(c, leader) == t + 1) ++first_round;
    c.Restart(old);
    c.RunFor(300 * kMillisecond);
  }
  EXPECT_GE(first_round, kElections * 6 / 10) << first_round << " of " << kElections;
  ExpectNoViolations(c);
}

// E9: "RequestVote and AppendEntries (heartbeat) are different messages, answered
// differently."
TEST(Election, E9_vote_requests_and_heartbeats_are_different_messages) {
  Cluster c(Options(3));
  MessageRecorder rec(c);
  const NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);
  ASSERT_TRUE(c.Put(leader, "x", "1").ok());
  c.RunFor(500 * kMillisecond);

  const auto count = [&](MessageType type, NodeId from, NodeId to) {
    return rec.Count(
        [&](const Message& m) { return m.type == type && m.from == from && m.to == to; });
  };
  // Each request type is answered by its own response type, and only when asked.
  const std::pair<MessageType, MessageType> pairs[] = {
      {MessageType::kVote, MessageType::kVoteResponse},
      {MessageType::kPreVote, MessageType::kPreVoteResponse},
      {MessageType::kHeartbeat, MessageType::kHeartbeatResponse},
      {MessageType::kAppend, MessageType::kAppendResponse},
  };
  for (NodeId a : c.NodeIds()) {
    for (NodeId b : Others(c, a)) {
      for (const auto& [request, response] : pairs) {
        EXPECT_LE(count(response, b, a), count(request, a, b))
            << raft::MessageTypeName(response) << " from " << b << " to " << a;
      }
    }
  }

  // A vote request carries the candidate's last log position, no entries.
  const auto votes = rec.Filter([](const Message& m) {
    return m.type == MessageType::kVote || m.type == MessageType::kPreVote;
  });
  ASSERT_FALSE(votes.empty());
  for (const Sent& s : votes) {
    EXPECT_TRUE(s.msg.entries.empty());
    EXPECT_LT(s.msg.log_term, s.msg.term);
  }
  // A heartbeat carries no entries (it keeps followers from timing out and brings them the
  // commit index); the log travels in AppendEntries, whose entries follow the position
  // (index, log_term) they are checked against.
  const auto beats = rec.Filter([](const Message& m) { return m.type == MessageType::kHeartbeat; });
  ASSERT_FALSE(beats.empty());
  for (const Sent& s : beats) EXPECT_TRUE(s.msg.entries.empty());
  bool appended = false;
  for (const Sent& s :
       rec.Filter([](const Message& m) { return m.type == MessageType::kAppend; })) {
    for (size_t i = 0; i < s.msg.entries.size(); ++i) {
      appended = true;
      EXPECT_EQ(s.msg.entries[i].index, s.msg.index + 1 + i);
      EXPECT_GE(s.msg.entries[i].term, s.msg.log_term);
    }
  }
  EXPECT_TRUE(appended);
  // While heartbeats flow, no follower times out: after the first election, no more
  // vote requests.
  const size_t mark = rec.Mark();
  c.RunFor(2 * kSecond);
  EXPECT_FALSE(rec.Any(
      [](const Message& m) {
        return m.type == MessageType::kVote || m.type == MessageType::kPreVote;
      },
      mark));
  ExpectNoViolations(c);
}

// E10: "How servers know each other: the configuration is part of the replicated state
// (configuration entries in the log), not learned from heartbeats."
TEST(Election, E10_configuration_lives_in_the_log) {
  Cluster c(Options(3));
  MessageRecorder rec(c);
  ASSERT_NE(c.WaitForLeader(), kNoNode);
  const std::vector<NodeId> all = {1, 2, 3};

  for (NodeId id : c.NodeIds()) {
    std::vector<NodeId> voters = c.Status(id).conf.voters;
    std::sort(voters.begin(), voters.end());
    EXPECT_EQ(voters, all) << "node " << id;
    // The membership is written as configuration entries in every log, and committed.
    const raft::RawNode* node = c.Node(id);
    auto entries = node->Entries(node->FirstIndex(), node->LastIndex() + 1);
    ASSERT_TRUE(entries.ok());
    Index last_conf = 0;
    for (const raft::Entry& e : entries.value()) {
      if (e.type == raft::EntryType::kConfChange) last_conf = e.index;
    }
    EXPECT_GT(last_conf, 0u) << "node " << id << " has no configuration entry";
    EXPECT_LE(last_conf, CommitOf(c, id));
  }

  // A server that hears nothing from anyone still knows its peers: cut it off, crash it
  // and restart it; it reads the configuration back from its own log and asks both peers.
  const NodeId lonely = 2;
  c.Isolate(lonely);
  c.Crash(lonely);
  c.Restart(lonely);
  std::vector<NodeId> voters = c.Status(lonely).conf.voters;
  std::sort(voters.begin(), voters.end());
  EXPECT_EQ(voters, all);
  const size_t mark = rec.Mark();
  c.RunFor(5 * ElectionTimeout(Options(3)));
  for (NodeId peer : Others(c, lonely)) {
    EXPECT_TRUE(rec.Any(
        [&](const Message& m) {
          return (m.type == MessageType::kPreVote || m.type == MessageType::kVote) &&
                 m.from == lonely && m.to == peer;
        },
        mark))
        << "never asked " << peer;
  }
  c.Heal();
  EXPECT_NE(c.WaitForLeader(), kNoNode);
  ExpectNoViolations(c);
}

// E11: "Five servers: with two down the other three elect a leader; with three down no
// leader can be elected and the survivors must not inflate terms without bound (pre-vote),
// and must elect at once when a majority returns."
TEST(Election, E11_five_servers_two_down_three_down_one_back) {
  const ClusterOptions o = Options(5);
  Cluster c(o);
  const NodeId first = StableLeader(c);
  ASSERT_NE(first, kNoNode);

  // Two down, the leader among them: the other three elect a leader and commit.
  const NodeId second_down = Others(c, first)[0];
  c.Crash(first);
  c.Crash(second_down);
  const NodeId leader = c.WaitForLeader(5 * kSecond);
  ASSERT_NE(leader, kNoNode);
  EXPECT_TRUE(c.Put(leader, "x", "1").ok());

  // Three down: the two survivors can never win, and pre-vote keeps their terms still.
  c.Crash(leader);
  const std::vector<NodeId> survivors = Others(c, leader, {first, second_down});
  ASSERT_EQ(survivors.size(), 2u);
  std::map<NodeId, Term> term_at_crash;
  for (NodeId id : survivors) term_at_crash[id] = TermOf(c, id);
  bool someone_led = false;
  Term max_term = 0;
  RunObserving(c, 20 * kSecond, [&] {
    for (NodeId id : survivors) {
      someone_led = someone_led || IsLeader(c, id);
      max_term = std::max(max_term, TermOf(c, id));
    }
  });
  EXPECT_FALSE(someone_led);
  for (NodeId id : survivors) {
    EXPECT_EQ(TermOf(c, id), term_at_crash[id]) << "node " << id << " inflated its term";
  }

  // One returns: a majority again, and a leader within about two election timeouts.
  c.Restart(first);
  const Time start = c.Now();
  const NodeId back = c.WaitForLeader(4 * ElectionTimeout(o));
  ASSERT_NE(back, kNoNode) << "no leader " << (c.Now() - start) / kMillisecond
                           << " ms after a majority returned";
  EXPECT_TRUE(c.Put(back, "x", "2").ok());
  ExpectNoViolations(c);
}

// E11, the contrast: "... must not inflate terms without bound (pre-vote)". Without
// pre-vote the same two survivors raise their terms on every timeout, which is what pre-vote
// is for: each later returning server would have to adopt the inflated term.
TEST(Election, E11_without_pre_vote_survivors_inflate_terms) {
  ClusterOptions o = Options(5);
  o.pre_vote = false;
  Cluster c(o);
  const NodeId leader = StableLeader(c);
  ASSERT_NE(leader, kNoNode);
  const std::vector<NodeId> others = Others(c, leader);
  c.Crash(leader);
  c.Crash(others[0]);
  c.Crash(others[1]);
  const Term before = TermOf(c, others[2]);
  c.RunFor(5 * kSecond);
  // At least one timeout per two election timeouts: 5 s is 25 of them.
  EXPECT_GE(TermOf(c, others[2]), before + 10);
  EXPECT_GE(TermOf(c, others[3]), before + 10);
  EXPECT_FALSE(IsLeader(c, others[2]) || IsLeader(c, others[3]));
  ExpectNoViolations(c);
}

// E12: "A server votes at most once per term, even across a crash and restart (the vote is
// persisted before it is sent)."
TEST(Election, E12_vote_survives_crash_and_restart) {
  Cluster c(PaperOptions(3));
  MessageRecorder rec(c);
  const NodeId old = StableLeader(c);
  ASSERT_NE(old, kNoNode);
  const Term t = TermOf(c, old);
  ASSERT_TRUE(WaitAllAtTerm(c, t));
  const std::vector<NodeId> others = Others(c, old);
  const NodeId cand = others[0];
  const NodeId voter = others[1];

  // `cand` campaigns; `voter` grants. The grant is lost, and `cand` is then cut off, so
  // the term stays undecided.
  c.Crash(old);
  rec.Drop([&](const Message& m) { return IsVoteGrant(m) && m.to == cand; });
  c.Campaign(cand);
  ASSERT_TRUE(c.RunUntil(
      [&] {
        return rec.Any([&](const Message& m) {
          return IsVoteGrant(m) && m.from == voter && m.to == cand && m.term == t + 1;
        });
      },
      kSecond));

  // The voter crashes right after sending the grant: the vote must already be durable.
  c.Crash(voter);
  const raft::HardState hs = c.PersistedHardState(voter);
  EXPECT_EQ(hs.term, t + 1);
  EXPECT_EQ(hs.vote, cand);
  c.Isolate(cand);
  c.Restart(voter);
  EXPECT_EQ(TermOf(c, voter), t + 1);
  EXPECT_EQ(VoteOf(c, voter), cand);

  // A second candidate asks for the voter's vote in the same term: it is refused.
  c.Restart(old);
  ASSERT_EQ(TermOf(c, old), t);
  const size_t mark = rec.Mark();
  c.Campaign(old);  // term t + 1, the term the voter already voted in
  ASSERT_TRUE(c.RunUntil(
      [&] {
        return rec.Any(
            [&](const Message& m) {
              return m.type == MessageType::kVoteResponse && m.from == voter && m.to == old &&
                     m.term == t + 1;
            },
            mark);
      },
      kSecond));
  for (const Sent& s : rec.Filter(
           [&](const Message& m) {
             return m.type == MessageType::kVoteResponse && m.from == voter && m.to == old &&
                    m.term == t + 1;
           },
           mark)) {
    EXPECT_TRUE(s.msg.reject) << "voted twice in term " << t + 1;
  }
  EXPECT_FALSE(IsLeader(c, old) && TermOf(c, old) == t + 1);

  rec.DropNothing();
  c.Heal();
  EXPECT_NE(c.WaitForLeader(), kNoNode);
  for (const auto& [v, by_term] : GrantedVotes(rec)) {
    for (const auto& [term, candidates] : by_term) {
      EXPECT_LE(candidates.size(), 1u) << "server " << v << " voted twice in term " << term;
    }
  }
  ExpectNoViolations(c);
}

}  // namespace
}  // namespace raftkv::scenario
