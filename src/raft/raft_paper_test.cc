// Tests traced to the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable
// Consensus Algorithm", extended version) and Ongaro's thesis. Each test quotes the
// sentence it checks.
#include <gtest/gtest.h>

#include "raft/raft_test_util.h"

namespace raftkv::raft {
namespace {

using testing::MakeNodeWithLog;
using testing::Network;
using testing::TestNode;

void NoPreVote(Config& c) {
  c.pre_vote = false;
}

// Drains every Ready of `n` as a runtime would and returns the messages it sent (leader
// messages first, then the others).
std::vector<Message> Drain(TestNode& tn) {
  std::vector<Message> out;
  while (tn.node->HasReady()) {
    Ready rd = tn.node->GetReady();
    out.insert(out.end(), rd.leader_messages.begin(), rd.leader_messages.end());
    if (!rd.entries.empty()) {
      EXPECT_TRUE(tn.storage->Append(rd.entries).ok());
    }
    if (rd.hard_state) tn.storage->SetHardState(*rd.hard_state);
    out.insert(out.end(), rd.messages.begin(), rd.messages.end());
    for (const Entry& e : rd.committed_entries) {
      if (e.type != EntryType::kConfChange) continue;
      auto cc = DecodeConfChange(e.data);  // the bootstrap configuration
      if (cc.ok()) tn.conf = tn.node->ApplyConfChange(*cc);
    }
    for (auto& rs : rd.read_states) tn.read_states.push_back(rs);
    tn.node->Advance();
  }
  return out;
}

Message Msg(MessageType t, NodeId from, NodeId to, Term term) {
  Message m;
  m.type = t;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

const Message* Find(const std::vector<Message>& ms, MessageType t, NodeId to) {
  for (const auto& m : ms) {
    if (m.type == t && m.to == to) return &m;
  }
  return nullptr;
}

// §5.1: "Current terms are exchanged whenever servers communicate; if one server's current
// term is smaller than the other's, then it updates its current term to the larger value.
// If a candidate or leader discovers that its term is out of date, it immediately reverts
// to follower state."
TEST(RaftPaper, follower_updatesTermFromHigherTermMessage) {
  TestNode tn = MakeNodeWithLog(1, {1, 2, 3}, {1}, 1);
  Message hb = Msg(MessageType::kHeartbeat, 2, 1, 5);
  ASSERT_TRUE(tn.node->Step(hb).ok());
  auto st = tn.node->GetStatus();
  EXPECT_EQ(st.hard_state.term, 5u);
  EXPECT_EQ(st.soft_state.role, Role::kFollower);
  EXPECT_EQ(st.soft_state.lead, 2u);
}

TEST(RaftPaper, leader_revertsToFollowerOnHigherTerm) {
  Network net(3);
  net.Elect(1);
  Term t = net.node(1).GetStatus().hard_state.term;
  // A vote response from the future (check-quorum lease does not apply to responses).
  Message m = Msg(MessageType::kAppendResponse, 2, 1, t + 3);
  ASSERT_TRUE(net.node(1).Step(m).ok());
  EXPECT_EQ(net.node(1).GetStatus().soft_state.role, Role::kFollower);
  EXPECT_EQ(net.node(1).GetStatus().hard_state.term, t + 3);
}

// §5.1: "If a server receives a request with a stale term number, it rejects the request."
TEST(RaftPaper, staleTermMessage_isIgnored) {
  TestNode tn = MakeNodeWithLog(1, {1, 2, 3}, {1, 2}, 3);
  Message app = Msg(MessageType::kAppend, 2, 1, 2);
  app.index = 2;
  app.log_term = 2;
  app.entries = {Entry{2, 3, EntryType::kNormal, "stale"}};
  ASSERT_TRUE(tn.node->Step(app).ok());
  EXPECT_EQ(tn.node->LastIndex(), 2u);
  EXPECT_EQ(tn.node->GetStatus().hard_state.term, 3u);
  // The stale leader is told our term so that it steps down.
  auto out = Drain(tn);
  const Message* r = Find(out, MessageType::kAppendResponse, 2);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->term, 3u);
}

// §5.2: "If the AppendEntries RPC's term is at least as large as the candidate's current
// term, then the candidate recognizes the leader as legitimate and returns to follower
// state."
TEST(RaftPaper, candidate_stepsDownOnAppendWithTermAtLeastItsOwn) {
  TestNode tn = MakeNodeWithLog(1, {1, 2, 3}, {1}, 1, NoPreVote);
  ASSERT_TRUE(tn.node->Campaign().ok());
  auto st = tn.node->GetStatus();
  ASSERT_EQ(st.soft_state.role, Role::kCandidate);
  Message app = Msg(MessageType::kAppend, 2, 1, st.hard_state.term);
  app.index = 1;
  app.log_term = 1;
  ASSERT_TRUE(tn.node->Step(app).ok());
  EXPECT_EQ(tn.node->GetStatus().soft_state.role, Role::kFollower);
  EXPECT_EQ(tn.node->GetStatus().soft_state.lead, 2u);
  EXPECT_EQ(tn.node->GetStatus().hard_state.term, st.hard_state.term);
}

// §5.2: "Each server will vote for at most one candidate in a given term, on a
// first-come-first-served basis." Figure 2: "persist currentTerm and votedFor before
// responding to RPCs" — the grant is in Ready::messages, with the vote in hard_state.
TEST(RaftPaper, vote_grantedAtMostOncePerTerm) {
  TestNode tn = MakeNodeWithLog(1, {1, 2, 3}, {1}, 1);
  auto vote = [&](NodeId from) {
    Message m = Msg(MessageType::kVote, from, 1, 2);
    m.index = 1;
    m.log_term = 1;
    EXPECT_TRUE(tn.node->Step(m).ok());
    Ready rd = tn.node->GetReady();
    for (const auto& lm : rd.leader_messages) {
      EXPECT_NE(lm.type, MessageType::kVoteResponse) << "vote sent before persisting";
    }
    const Message* r = Find(rd.messages, MessageType::kVoteResponse, from);
    EXPECT_NE(r, nullptr);
    bool granted = r && !r->reject;
    if (granted) {
      EXPECT_TRUE(rd.hard_state.has_value() || tn.storage->hard_state().vote == from);
      if (rd.hard_state) {
        EXPECT_EQ(rd.hard_state->vote, from);
      }
      EXPECT_TRUE(rd.must_sync || !rd.hard_state);
    }
    if (rd.hard_state) tn.storage->SetHardState(*rd.hard_state);
    tn.node->Advance();
    return granted;
  };
  EXPECT_TRUE(vote(2));
  EXPECT_FALSE(vote(3));
  EXPECT_TRUE(vote(2));  // the same candidate again (a retransmission) is fine
  EXPECT_EQ(tn.node->GetStatus().hard_state.vote, 2u);
}

// Seed 166 (simulator): a vote grant followed, before the Ready, by a higher term. The
// grant may still go out: the persisted later term forbids voting again in the old one.
TEST(RaftPaper, vote_thenHigherTermInSameReady_isSafe) {
  TestNode tn = MakeNodeWithLog(1, {1, 2, 3}, {1}, 1);
  Message v = Msg(MessageType::kVote, 2, 1, 2);
  v.index = 1;
  v.log_term = 1;
  ASSERT_TRUE(tn.node->Step(v).ok());
  ASSERT_TRUE(tn.node->Step(Msg(MessageType::kHeartbeat, 3, 1, 3)).ok());
  Ready rd = tn.node->GetReady();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->term, 3u);
  EXPECT_NE(Find(rd.messages, MessageType::kVoteResponse, 2), nullptr);
  tn.node->Advance();
}

// §5.4.1: "The voter denies its vote if its own log is more up-to-date than that of the
// candidate. ... If the logs have last entries with different terms, then the log with the
// later term is more up-to-date. If the logs end with the same term, then whichever log is
// longer is more up-to-date."
TEST(RaftPaper, vote_electionRestriction) {
  struct Case {
    Index index;
    Term log_term;
    bool granted;
  } cases[] = {{3, 1, false}, {1, 2, false}, {2, 2, true}, {5, 2, true}, {1, 3, true}};
  for (const Case& c : cases) {
    TestNode tn = MakeNodeWithLog(1, {1, 2, 3}, {1, 2}, 2);
    Message m = Msg(MessageType::kVote, 2, 1, 3);
    m.index = c.index;
    m.log_term = c.log_term;
    ASSERT_TRUE(tn.node->Step(m).ok());
    auto out = Drain(tn);
    const Message* r = Find(out, MessageType::kVoteResponse, 2);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(!r->reject, c.granted) << c.index << "/" << c.log_term;
  }
}

// §5.2: "election timeouts are chosen randomly from a fixed interval" — here
// [election_tick, 2*election_tick), from the seeded source in Config::random.
TEST(RaftPaper, electionTimeout_isRandomizedInRange) {
  std::set<int> seen;
  for (uint64_t seed = 1; seed <= 30; seed++) {
    TestNode tn;
    tn.storage = std::make_unique<MemoryStorage>();
    tn.random = std::make_unique<testing::SeededRandom>(seed);
    Config c = testing::TestConfig(1, tn.storage.get(), tn.random.get());
    auto n = RawNode::Create(c, {1, 2, 3});
    ASSERT_TRUE(n.ok());
    int ticks = 0;
    while ((*n)->GetStatus().soft_state.role == Role::kFollower && ticks < 100) {
      tn.node = std::move(*n);
      Drain(tn);  // applies the bootstrap configuration
      n = std::move(tn.node);
      (*n)->Tick();
      ticks++;
    }
    EXPECT_GE(ticks, c.election_tick);
    EXPECT_LT(ticks, 2 * c.election_tick);
    seen.insert(ticks);
  }
  EXPECT_GT(seen.size(), 3u);
}

// §8: "Raft handles this by having each leader commit a blank no-op entry into the log at
// the start of its term."
TEST(RaftPaper, newLeader_appendsEmptyEntryOfItsTerm) {
  Network net(3);
  Index before = net.node(1).LastIndex();
  net.Elect(1);
  RawNode& l = net.node(1);
  ASSERT_EQ(l.LastIndex(), before + 1);
  auto ents = l.Entries(l.LastIndex(), l.LastIndex() + 1);
  ASSERT_TRUE(ents.ok());
  EXPECT_EQ((*ents)[0].term, l.GetStatus().hard_state.term);
  EXPECT_TRUE((*ents)[0].data.empty());
  EXPECT_EQ(l.GetStatus().hard_state.commit, l.LastIndex());  // and it commits
}

// §5.4.2: "Raft never commits log entries from previous terms by counting replicas. Only
// log entries from the leader's current term are committed by counting replicas."
TEST(RaftPaper, leader_commitsOnlyCurrentTermEntriesByCounting) {
  TestNode tn = MakeNodeWithLog(1, {1, 2, 3}, {1, 2}, 2, NoPreVote);
  ASSERT_TRUE(tn.node->Campaign().ok());
  Drain(tn);
  Message v = Msg(MessageType::kVoteResponse, 2, 1, 3);
  ASSERT_TRUE(tn.node->Step(v).ok());
  Drain(tn);  // the empty entry (index 3, term 3) is now durable on the leader
  ASSERT_EQ(tn.node->GetStatus().soft_state.role, Role::kLeader);
  ASSERT_EQ(tn.node->LastIndex(), 3u);
  // Node 2 acknowledges index 2 (term 2): a majority holds it, but it is not committed.
  Message ack = Msg(MessageType::kAppendResponse, 2, 1, 3);
  ack.index = 2;
  ASSERT_TRUE(tn.node->Step(ack).ok());
  Drain(tn);
  EXPECT_EQ(tn.node->GetStatus().hard_state.commit, 0u);
  // Once the current-term entry is on a majority, it and everything before commit.
  ack.index = 3;
  ASSERT_TRUE(tn.node->Step(ack).ok());
  Drain(tn);
  EXPECT_EQ(tn.node->GetStatus().hard_state.commit, 3u);
}

// Thesis §10.2.1: "the leader can write to its disk in parallel with replicating to the
// followers"; it counts itself only once its own write is durable.
TEST(RaftPaper, leader_countsOwnEntryOnlyWhenDurable) {
  Network net(3);
  net.Elect(1);
  net.Isolate(3);
  RawNode& l = net.node(1);
  ASSERT_TRUE(l.Propose("x").ok());
  Ready rd = l.GetReady();
  ASSERT_EQ(rd.entries.size(), 1u);
  ASSERT_FALSE(rd.leader_messages.empty());  // appends may go before persisting
  // Deliver to node 2 and its ack back, before the leader's own write completes.
  for (const auto& m : rd.leader_messages) {
    if (m.to == 2) {
      ASSERT_TRUE(net.node(2).Step(m).ok());
    }
  }
  Index idx = rd.entries[0].index;
  EXPECT_TRUE(net.HandleReady(2));
  net.Stabilize();  // delivers node 2's ack; leader still holds the Ready
  // 2 of 3 hold it (the leader's copy is not durable): quorum counts node 2 and... only 2.
  // With node 3 isolated, commit needs the leader's own durable copy.
  EXPECT_LT(l.GetStatus().hard_state.commit, idx);
  ASSERT_TRUE(net.test_node(1).storage->Append(rd.entries).ok());
  l.Advance();
  EXPECT_EQ(l.GetStatus().hard_state.commit, idx);
}

// Figure 2 / etcd: heartbeats carry min(match, commit), so a follower never learns a commit
// index beyond what it is known to hold.
TEST(RaftPaper, heartbeat_carriesCommitBoundedByMatch) {
  Network net(3);
  net.Elect(1);
  net.Isolate(3);
  ASSERT_TRUE(net.node(1).Propose("a").ok());
  net.Stabilize();
  Index commit = net.node(1).GetStatus().hard_state.commit;
  net.Heal();
  net.ClearSent();
  net.filter = [](const Message& m) { return m.type == MessageType::kHeartbeat; };
  net.node(1).Tick();
  net.Stabilize();
  net.filter = nullptr;
  auto status = net.node(1).GetStatus();
  int seen = 0;
  for (const auto& m : net.sent()) {
    if (m.type != MessageType::kHeartbeat) continue;
    seen++;
    EXPECT_EQ(m.commit, std::min(status.progress.at(m.to).match, commit)) << m.to;
  }
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(net.node(2).GetStatus().hard_state.commit, commit);
  EXPECT_LT(net.node(3).GetStatus().hard_state.commit, commit);
}

// Thesis §9.6: "a server first asks whether it could win an election (a Pre-Vote) ... only
// if it hears back from a majority does it increment its term". A partitioned node must not
// inflate its term nor disrupt the leader when it returns.
TEST(RaftPaper, preVote_partitionedNodeDoesNotBumpTerm) {
  Network net(3);
  net.Elect(1);
  Term t = net.node(1).GetStatus().hard_state.term;
  net.Isolate(3);
  net.TickAll(100);
  EXPECT_EQ(net.node(3).GetStatus().hard_state.term, t);
  net.Heal();
  net.TickAll(30);
  EXPECT_EQ(net.Leader(), 1u);
  EXPECT_EQ(net.node(1).GetStatus().hard_state.term, t);
}

TEST(RaftPaper, withoutPreVote_partitionedNodeInflatesTerm) {
  Network net(3, [](Config& c) {
    c.pre_vote = false;
    c.check_quorum = false;
  });
  net.Elect(1);
  Term t = net.node(1).GetStatus().hard_state.term;
  net.Isolate(3);
  net.TickAll(100);
  EXPECT_GT(net.node(3).GetStatus().hard_state.term, t + 2);  // what pre-vote prevents
}

// Thesis §6.2: "a leader steps down if an election timeout elapses without a successful
// round of heartbeats to a majority of its cluster".
TEST(RaftPaper, checkQuorum_isolatedLeaderStepsDown) {
  Network net(3);
  net.Elect(1);
  net.TickAll(50);
  EXPECT_EQ(net.Leader(), 1u);  // healthy: stays
  net.Isolate(1);
  net.TickAll(2 * 10 + 1);
  EXPECT_NE(net.node(1).GetStatus().soft_state.role, Role::kLeader);
}

// Thesis §4.2.3: "if a server receives a RequestVote request within the minimum election
// timeout of hearing from a current leader, it does not update its term or grant its vote"
// — except for a leadership transfer (§3.10).
TEST(RaftPaper, follower_ignoresVoteWithinLeaderLease) {
  Network net(3);
  net.Elect(1);
  Term t = net.node(2).GetStatus().hard_state.term;
  Message v = Msg(MessageType::kVote, 3, 2, t + 1);
  v.index = net.node(3).LastIndex();
  v.log_term = *net.node(3).TermAt(v.index);
  ASSERT_TRUE(net.node(2).Step(v).ok());
  EXPECT_EQ(net.node(2).GetStatus().hard_state.term, t);
  EXPECT_FALSE(net.node(2).HasReady());
  v.context = "transfer";
  ASSERT_TRUE(net.node(2).Step(v).ok());
  EXPECT_EQ(net.node(2).GetStatus().hard_state.term, t + 1);
  EXPECT_EQ(net.node(2).GetStatus().hard_state.vote, 3u);
}

// Thesis §6.4: ReadIndex. "the leader ... can batch: it need only send one round of
// heartbeats for all of the read requests it has accumulated".
TEST(RaftPaper, readIndex_batchesReadsIntoOneHeartbeatRound) {
  Network net(3);
  net.Elect(1);
  net.ClearSent();
  for (int i = 0; i < 10; i++) net.node(1).ReadIndex("r" + std::to_string(i));
  net.Stabilize();
  EXPECT_EQ(net.CountSent(MessageType::kHeartbeat), 2);  // one round: one per follower
  auto& rs = net.test_node(1).read_states;
  ASSERT_EQ(rs.size(), 10u);
  for (int i = 0; i < 10; i++) {
    EXPECT_EQ(rs[i].context, "r" + std::to_string(i));
    EXPECT_EQ(rs[i].index, net.node(1).GetStatus().hard_state.commit);
  }
}

// Thesis §6.4 step 1: "If the leader has not yet marked an entry from its current term
// committed, it waits until it has done so."
TEST(RaftPaper, readIndex_deferredUntilLeaderCommitsInItsTerm) {
  Network net(3);
  net.Cut(1, 2);
  net.Cut(1, 3);
  ASSERT_TRUE(net.node(1).Campaign().ok());
  // Win the election by hand-delivering votes but nothing else.
  net.filter = [](const Message& m) {
    return m.type == MessageType::kPreVote || m.type == MessageType::kPreVoteResponse ||
           m.type == MessageType::kVote || m.type == MessageType::kVoteResponse;
  };
  net.Heal();
  net.Stabilize();
  ASSERT_EQ(net.Leader(), 1u);
  net.node(1).ReadIndex("early");
  net.Stabilize();
  EXPECT_TRUE(net.test_node(1).read_states.empty());
  net.filter = nullptr;
  net.TickAll(2);
  ASSERT_EQ(net.test_node(1).read_states.size(), 1u);
  EXPECT_EQ(net.test_node(1).read_states[0].index, net.node(1).GetStatus().hard_state.commit);
}

// §5.3 optimisation: "the follower can include the term of the conflicting entry and the
// first index it stores for that term ... one AppendEntries RPC will be required for each
// term with conflicting entries, rather than one RPC per entry."
TEST(RaftPaper, fastBacktracking_oneRoundTripPerConflictingTerm) {
  std::vector<Term> leader_log, follower_log;
  for (int i = 0; i < 3; i++) leader_log.push_back(1);
  follower_log = leader_log;
  for (int i = 4; i <= 20; i++) leader_log.push_back(2), follower_log.push_back(2);
  for (int i = 21; i <= 50; i++) leader_log.push_back(4);
  for (int i = 51; i <= 80; i++) leader_log.push_back(6);
  for (int i = 21; i <= 40; i++) follower_log.push_back(3);
  for (int i = 41; i <= 90; i++) follower_log.push_back(5);
  std::map<NodeId, TestNode> nodes;
  nodes.emplace(1, MakeNodeWithLog(1, {1, 2, 3}, leader_log, 6, NoPreVote));
  nodes.emplace(2, MakeNodeWithLog(2, {1, 2, 3}, follower_log, 5, NoPreVote));
  nodes.emplace(3, MakeNodeWithLog(3, {1, 2, 3}, leader_log, 6, NoPreVote));
  Network net(std::move(nodes));
  net.Elect(1);
  ASSERT_EQ(net.Leader(), 1u);
  int rejects = 0;
  for (const auto& m : net.sent()) {
    rejects += m.type == MessageType::kAppendResponse && m.from == 2 && m.reject;
  }
  // Conflicting terms: 3 and 5 on the follower, 4 and 6 on the leader; 60+ conflicting
  // entries. One rejection per term at most, not one per entry.
  std::printf("rejections: %d\n", rejects);
  EXPECT_GE(rejects, 1);
  EXPECT_LE(rejects, 3);
  RawNode& f = net.node(2);
  ASSERT_EQ(f.LastIndex(), net.node(1).LastIndex());
  for (Index i = 1; i <= f.LastIndex(); i++) EXPECT_EQ(*f.TermAt(i), *net.node(1).TermAt(i));
}

}  // namespace
}  // namespace raftkv::raft
