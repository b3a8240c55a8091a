// The leader lease (thesis §6.4.1): reads served by a leader that a quorum acknowledged
// less than an election timeout ago, and the promise of each follower that makes the lease
// safe: no vote for another candidate until an election timeout after it last heard from
// a leader.
#include <gtest/gtest.h>

#include "raft/raft.h"
#include "raft/raft_test_util.h"
#include "raft/raw_node.h"

namespace raftkv::raft {
namespace {

using testing::Network;

void LeaseReads(Config& c) {
  c.read_only = Config::ReadOnlyOption::kLeaseBased;
}

void LeaseReadsNoPreVote(Config& c) {
  LeaseReads(c);
  c.pre_vote = false;
}

// The two members of a 3-node cluster other than `l`.
std::pair<NodeId, NodeId> Others(NodeId l) {
  std::vector<NodeId> o;
  for (NodeId id : {1, 2, 3}) {
    if (id != l) o.push_back(id);
  }
  return {o[0], o[1]};
}

// A vote request from `from`, as up to date as `to`'s log, in term `term`.
Message VoteRequest(Network& net, NodeId from, NodeId to, Term term) {
  Message m;
  m.type = MessageType::kVote;
  m.from = from;
  m.to = to;
  m.term = term;
  m.index = net.node(to).LastIndex();
  m.log_term = net.node(to).GetStatus().hard_state.term;
  return m;
}

// Whether `from` sent `to` a vote grant since the last ClearSent.
bool Granted(const Network& net, NodeId from, NodeId to) {
  for (const Message& m : net.sent()) {
    if (m.type == MessageType::kVoteResponse && m.from == from && m.to == to && !m.reject) {
      return true;
    }
  }
  return false;
}

// Steps vote request `m` into its addressee, lets the network settle, and says whether the
// addressee granted it.
bool VoteGranted(Network& net, const Message& m) {
  net.ClearSent();
  EXPECT_TRUE(net.node(m.to).Step(m).ok());
  net.Stabilize();
  return Granted(net, m.to, m.from);
}

Term TermOf(Network& net, NodeId id) {
  return net.node(id).GetStatus().hard_state.term;
}

TEST(Lease, readIndex_servedWithoutHeartbeatRound) {
  Network net(3, LeaseReads);
  NodeId l = net.ElectByTimeout();
  net.TickAll(1);  // a heartbeat round acknowledged by a quorum starts the lease
  net.ClearSent();
  net.node(l).ReadIndex("lease");
  net.Stabilize();
  EXPECT_EQ(net.CountSent(MessageType::kHeartbeat), 0);
  ASSERT_EQ(net.test_node(l).read_states.size(), 1u);
}

TEST(Lease, readIndex_deferredUntilCommitInTerm) {
  Network net(3, LeaseReads);
  net.filter = [](const Message& m) {
    return m.type != MessageType::kAppend && m.type != MessageType::kAppendResponse;
  };
  NodeId l = net.ElectByTimeout();
  ASSERT_NE(l, kNoNode);
  net.node(l).ReadIndex("l");
  net.Stabilize();
  EXPECT_TRUE(net.test_node(l).read_states.empty());
  net.filter = nullptr;
  net.TickAll(2);
  ASSERT_EQ(net.test_node(l).read_states.size(), 1u);
}

// Scenario C3 (reported by the scenario tests): a lease must end before another leader
// can be elected, i.e. within an election timeout of the last quorum acknowledgement.
TEST(Lease, readIndex_expiresWithoutQuorumAcks) {
  Network net(3, LeaseReads);
  NodeId l = net.ElectByTimeout();
  net.TickAll(3);
  net.node(l).ReadIndex("in-lease");
  net.Stabilize();
  ASSERT_EQ(net.test_node(l).read_states.size(), 1u);
  net.Isolate(l);
  for (int i = 0; i < 8; i++) net.TickAll();
  ASSERT_EQ(net.Leader(), l);  // check-quorum has not fired yet
  net.node(l).ReadIndex("expired");
  net.Stabilize();
  EXPECT_EQ(net.test_node(l).read_states.size(), 1u);  // not served from the lease
  net.Heal();
  net.TickAll(2);
  ASSERT_EQ(net.test_node(l).read_states.size(), 2u);  // served by a confirmed round
  EXPECT_EQ(net.test_node(l).read_states[1].context, "expired");
}

// Soak seed 1769000002416: a follower that acknowledged the leader's heartbeat learned a
// higher term from a late reply of a campaigning node (not a leader), forgot its leader,
// and granted that node's vote in the new term while the old leader's lease held; the old
// leader then served a stale read. Learning a term must not cancel the promise.
TEST(Lease, vote_refusedAfterHigherTermFromNonLeaderWhileInLease) {
  Network net(3, LeaseReadsNoPreVote);
  NodeId l = net.ElectByTimeout();
  auto [f, c] = Others(l);
  net.TickAll(1);
  Term later = TermOf(net, l) + 5;
  net.Isolate(l);  // the leader's lease holds on; it hears nothing of what follows
  Message late;    // c's reply to an append of some deposed leader, carrying c's term
  late.type = MessageType::kAppendResponse;
  late.from = c;
  late.to = f;
  late.term = later;
  ASSERT_TRUE(net.node(f).Step(late).ok());
  ASSERT_EQ(TermOf(net, f), later);  // §5.1: the term is adopted all the same
  EXPECT_FALSE(VoteGranted(net, VoteRequest(net, c, f, later)))
      << "a vote inside the lease of " << l;
  EXPECT_EQ(net.Leader(), l);
}

// The promise lasts an election timeout from the last leader contact, no longer: then the
// vote is granted (liveness).
TEST(Lease, vote_grantedOnceAnElectionTimeoutPassedWithoutLeader) {
  Network net(3, LeaseReadsNoPreVote);
  NodeId l = net.ElectByTimeout();
  auto [f, c] = Others(l);
  net.Isolate(l);
  net.Isolate(c);  // c's own campaigns stay away from f until we send one by hand
  for (int i = 0; i < 10; i++) net.node(f).Tick();  // election_tick = 10, no contact
  net.Heal();
  net.Isolate(l);
  Term later = TermOf(net, f) + 1;
  EXPECT_TRUE(VoteGranted(net, VoteRequest(net, c, f, later)));
}

// With lease reads, a restarted node cannot know whether it acknowledged a leader just
// before it stopped: it keeps the promise for an election timeout after it starts.
TEST(Lease, vote_refusedRightAfterRestart) {
  Network net(3, LeaseReads);
  NodeId l = net.ElectByTimeout();
  auto [f, c] = Others(l);
  net.TickAll(1);
  net.Isolate(l);
  net.Restart(f);
  EXPECT_FALSE(VoteGranted(net, VoteRequest(net, c, f, TermOf(net, f) + 1)));
}

// Without lease reads nothing depends on the promise after a restart: a restarted node
// votes at once, as in etcd.
TEST(Lease, vote_grantedRightAfterRestartWithoutLeaseReads) {
  Network net(3, [](Config& c) { c.pre_vote = false; });
  net.Elect(1);
  net.TickAll(1);
  net.Isolate(1);
  net.Restart(2);
  EXPECT_TRUE(VoteGranted(net, VoteRequest(net, 3, 2, TermOf(net, 2) + 1)));
}

// A leader may waive its own lease: the vote of a leadership transfer (§3.10) is granted
// inside it.
TEST(Lease, vote_transferGrantedInsideLease) {
  Network net(3, LeaseReadsNoPreVote);
  NodeId l = net.ElectByTimeout();
  auto [f, c] = Others(l);
  net.TickAll(1);
  net.Isolate(l);
  Message m = VoteRequest(net, c, f, TermOf(net, f) + 1);
  m.context = kTransferContext;
  EXPECT_TRUE(VoteGranted(net, m));
}

// The lease a runtime may lean on (RawNode::GetLeaderLease), with the default ReadIndex
// reads: dated by the newest heartbeat a quorum acknowledged, never by the leader's role.
TEST(Lease, leaderLease_datedByTheHeartbeatAQuorumAcknowledged) {
  Network net(3);
  NodeId l = net.ElectByTimeout();
  auto [f, c] = Others(l);
  net.TickAll(1);
  auto lease = net.node(l).GetLeaderLease();
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->now_tick - lease->sent_tick, 0u) << "this tick's heartbeat was acknowledged";
  EXPECT_EQ(lease->valid_ticks, 8);  // election_tick 10 less a margin of 2
  EXPECT_FALSE(net.node(f).GetLeaderLease().has_value()) << "followers hold no lease";
  EXPECT_FALSE(net.node(c).GetLeaderLease().has_value());
  const uint64_t acked = lease->sent_tick;
  net.Isolate(l);
  for (int i = 0; i < 8; i++) net.node(l).Tick();
  net.Stabilize();
  ASSERT_EQ(net.Leader(), l);  // check-quorum has not fired yet
  lease = net.node(l).GetLeaderLease();
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->sent_tick, acked) << "unacknowledged heartbeats do not extend it";
  EXPECT_GE(lease->now_tick - lease->sent_tick, static_cast<uint64_t>(lease->valid_ticks))
      << "expired after the valid ticks";
  net.Heal();
  net.TickAll(1);
  lease = net.node(l).GetLeaderLease();
  ASSERT_TRUE(lease.has_value());
  EXPECT_LT(lease->now_tick - lease->sent_tick, static_cast<uint64_t>(lease->valid_ticks));
}

// One follower's acknowledgement makes a quorum of 3 with the leader; none of 5 does not.
TEST(Lease, leaderLease_needsAQuorumNotOneFollower) {
  Network net(5);
  NodeId l = net.ElectByTimeout();
  net.TickAll(1);
  ASSERT_TRUE(net.node(l).GetLeaderLease().has_value());
  const uint64_t acked = net.node(l).GetLeaderLease()->sent_tick;
  std::vector<NodeId> others;
  for (NodeId id : {1, 2, 3, 4, 5}) {
    if (id != l) others.push_back(id);
  }
  net.Cut(l, others[0]);
  net.Cut(l, others[1]);
  net.Cut(l, others[2]);  // only others[3] still answers: 2 of 5
  net.TickAll(1);
  EXPECT_EQ(net.node(l).GetLeaderLease()->sent_tick, acked);
  net.Heal();
  net.Cut(l, others[0]);
  net.Cut(l, others[1]);  // 3 of 5 answer
  net.TickAll(1);
  EXPECT_GT(net.node(l).GetLeaderLease()->sent_tick, acked);
}

// A leader that hands over its leadership waives the lease: the transferee is elected
// inside it (vote_transferGrantedInsideLease).
TEST(Lease, leaderLease_noneWhileTransferring) {
  Network net(3);
  NodeId l = net.ElectByTimeout();
  auto [f, c] = Others(l);
  net.TickAll(1);
  ASSERT_TRUE(net.node(l).GetLeaderLease().has_value());
  net.Isolate(f);  // the transfer cannot complete at once
  net.node(l).TransferLeader(f);
  EXPECT_FALSE(net.node(l).GetLeaderLease().has_value());
}

// Without check-quorum the followers make no promise, so there is no lease to count on.
TEST(Lease, leaderLease_noneWithoutCheckQuorum) {
  Network net(3, [](Config& c) { c.check_quorum = false; });
  net.Elect(1);
  net.TickAll(1);
  EXPECT_FALSE(net.node(1).GetLeaderLease().has_value());
}

}  // namespace
}  // namespace raftkv::raft
