// Scenario tests for the election questions E8-E12 of the Raft study notes
// (notes/seed-questions.md): how many leaders a term can have, which message is which, where
// the configuration lives, what a majority needs, and why a vote survives a crash. E1-E7 are
// in election_test.cc. Each test is one story told in the simulator and ends with no safety
// violation seen by the invariant checker.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/scenarios/scenario_util.h"

namespace raftkv::scenario {
namespace {

using raft::kNoNode;

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
  const auto [old, t, others] = SettleLeader(c);
  ASSERT_NE(old, kNoNode) << Trace(c);
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
