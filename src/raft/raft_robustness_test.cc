// Step() must never crash on garbage (wrong senders, terms and indexes out of range,
// malformed entries), and leadership transfer and snapshots work end to end.
#include <gtest/gtest.h>

#include <algorithm>

#include "raft/raft_test_util.h"

namespace raftkv::raft {
namespace {

using testing::Network;
using testing::SeededRandom;

Message RandomMessage(SeededRandom& rnd, Term cur, Index last) {
  static const MessageType kTypes[] = {MessageType::kAppend,
                                       MessageType::kAppendResponse,
                                       MessageType::kVote,
                                       MessageType::kVoteResponse,
                                       MessageType::kPreVote,
                                       MessageType::kPreVoteResponse,
                                       MessageType::kSnapshot,
                                       MessageType::kHeartbeat,
                                       MessageType::kHeartbeatResponse,
                                       MessageType::kReadIndex,
                                       MessageType::kReadIndexResponse,
                                       MessageType::kTimeoutNow,
                                       MessageType::kTransferLeader,
                                       MessageType::kUnreachable,
                                       MessageType::kSnapshotStatus,
                                       MessageType::kPropose,
                                       MessageType::kHup,
                                       static_cast<MessageType>(99)};
  auto pick = [&](std::initializer_list<uint64_t> vals) {
    return *(vals.begin() + rnd.Uniform(vals.size()));
  };
  Message m;
  m.type = kTypes[rnd.Uniform(std::size(kTypes))];
  m.from = rnd.Uniform(6);
  m.to = rnd.Uniform(5);
  m.term = pick({0, cur > 0 ? cur - 1 : 0, cur, cur + 1, uint64_t{1} << 63, ~uint64_t{0}});
  m.index = pick({0, last, last + 1, last > 3 ? last - 3 : 0, ~uint64_t{0}, rnd.Uniform(100)});
  m.log_term = pick({0, cur, cur + 1, ~uint64_t{0}, rnd.Uniform(5)});
  m.commit = pick({0, last, last + 5, ~uint64_t{0}});
  m.reject = rnd.Uniform(2) == 1;
  m.reject_hint = pick({0, last, ~uint64_t{0}, rnd.Uniform(100)});
  m.context = pick({0, 1, 2}) == 0 ? "" : (rnd.Uniform(2) ? "transfer" : "ri:1");
  size_t n = rnd.Uniform(4);
  for (size_t i = 0; i < n; i++) {
    Entry e;
    e.index = rnd.Uniform(2) ? m.index + 1 + i : rnd.Uniform(100);
    e.term = rnd.Uniform(2) ? m.term : rnd.Uniform(10);
    e.type = static_cast<EntryType>(rnd.Uniform(3));
    e.data = "g";
    m.entries.push_back(e);
  }
  if (rnd.Uniform(3) == 0) {
    Snapshot s;
    s.meta.index = pick({0, last + 10, ~uint64_t{0}});
    s.meta.term = pick({0, cur, ~uint64_t{0}});
    if (rnd.Uniform(2)) s.meta.conf.voters = {1, 2, 3};
    m.snapshot = s;
  }
  return m;
}

TEST(RaftRobustness, step_survivesGarbage) {
  for (uint64_t seed = 1; seed <= 20; seed++) {
    SeededRandom rnd(seed);
    Network net(3);
    net.Elect(1);
    for (int i = 0; i < 600; i++) {
      NodeId id = 1 + rnd.Uniform(3);
      NodeStatus st = net.node(id).GetStatus();
      Message m = RandomMessage(rnd, st.hard_state.term, st.last_index);
      (void)net.node(id).Step(m);
      NodeStatus after = net.node(id).GetStatus();
      ASSERT_LE(after.hard_state.commit, after.last_index);
      ASSERT_GE(after.hard_state.term, st.hard_state.term);
      if (rnd.Uniform(4) == 0) net.node(id).Tick();
      if (rnd.Uniform(3) == 0) net.Stabilize();
    }
    net.Stabilize();
  }
}

TEST(RaftRobustness, joiningNodeWithoutTerm_ignoresVoteRequests) {
  MemoryStorage s;
  testing::SeededRandom r(1);
  auto n = RawNode::Create(testing::TestConfig(4, &s, &r), {});
  ASSERT_TRUE(n.ok());
  for (MessageType t : {MessageType::kPreVote, MessageType::kVote}) {
    Message m;
    m.type = t;
    m.from = 1;
    m.to = 4;
    m.term = 3;
    m.index = 0;  // not up to date with... anything: a joining node's log is empty anyway
    m.log_term = 0;
    EXPECT_TRUE((*n)->Step(m).ok());
  }
  while ((*n)->HasReady()) {
    Ready rd = (*n)->GetReady();
    for (const auto& m : rd.messages) EXPECT_NE(m.term, 0u);
    (*n)->Advance();
  }
}

TEST(RaftRobustness, snapshot_laggingFollowerCatchesUp) {
  Network net(3);
  net.Elect(1);
  net.Isolate(3);
  for (int i = 0; i < 10; i++) ASSERT_TRUE(net.node(1).Propose("e" + std::to_string(i)).ok());
  net.Stabilize();
  auto& leader = net.test_node(1);
  Index applied = leader.node->GetStatus().applied;
  ASSERT_TRUE(leader.storage->CreateSnapshot(applied, leader.conf, "image").ok());
  ASSERT_TRUE(leader.storage->Compact(applied).ok());
  net.Heal();
  net.TickAll(3);
  EXPECT_GE(net.CountSent(MessageType::kSnapshot), 1);
  auto& f = net.test_node(3);
  EXPECT_EQ(f.storage->GetSnapshot()->data, "image");
  EXPECT_EQ(f.node->GetStatus().applied, leader.node->GetStatus().applied);
  ASSERT_TRUE(net.node(1).Propose("after").ok());
  net.Stabilize();
  EXPECT_EQ(f.applied.back().data, "after");
  EXPECT_EQ(net.node(1).GetStatus().progress.at(3).state, ProgressState::kReplicate);
}

// Thesis §3.10: "the prior leader sends a TimeoutNow request to the target server ... the
// target server starts a new election" once its log is up to date.
TEST(RaftRobustness, transferLeader_toUpToDateAndLaggingFollower) {
  Network net(3);
  net.Elect(1);
  net.node(1).TransferLeader(2);
  net.Stabilize();
  EXPECT_EQ(net.Leader(), 2u);
  net.Isolate(3);
  ASSERT_TRUE(net.node(2).Propose("x").ok());
  net.Stabilize();
  net.Heal();
  net.node(2).TransferLeader(3);  // lagging: caught up first, then TimeoutNow
  net.Stabilize();
  EXPECT_EQ(net.Leader(), 3u);
  auto& a = net.test_node(3).applied;
  EXPECT_TRUE(std::any_of(a.begin(), a.end(), [](const Entry& e) { return e.data == "x"; }));
  EXPECT_EQ(net.node(3).GetStatus().hard_state.commit, net.node(3).LastIndex());
}

TEST(RaftRobustness, transferLeader_proposalsBusyUntilAbandoned) {
  Network net(3);
  net.Elect(1);
  net.Isolate(3);
  net.node(1).TransferLeader(3);
  EXPECT_TRUE(net.node(1).Propose("p").Is(Status::Code::kBusy));
  net.TickAll(11);  // an election timeout without success abandons the transfer
  EXPECT_EQ(net.Leader(), 1u);
  EXPECT_TRUE(net.node(1).Propose("p").ok());
}

TEST(RaftRobustness, transferLeader_requestOnFollowerIsForwarded) {
  Network net(3);
  net.Elect(1);
  net.node(2).TransferLeader(2);
  net.Stabilize();
  EXPECT_EQ(net.Leader(), 2u);
}

}  // namespace
}  // namespace raftkv::raft
