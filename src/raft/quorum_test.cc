#include "raft/quorum.h"

#include <gtest/gtest.h>

#include "raft/log_storage.h"
#include "raft/raft_test_util.h"

namespace raftkv::raft {
namespace {

// Deliberately simple references: try every candidate value and count.
Index RefCommitted(const std::set<NodeId>& ids, const std::map<NodeId, Index>& acked) {
  if (ids.empty()) return kNoLimit;
  Index best = 0;
  for (NodeId c : ids) {
    Index cand = acked.count(c) ? acked.at(c) : 0;
    size_t n = 0;
    for (NodeId id : ids) n += (acked.count(id) ? acked.at(id) : 0) >= cand;
    if (n > ids.size() / 2 && cand > best) best = cand;
  }
  return best;
}

VoteResult RefVote(const std::set<NodeId>& ids, const std::map<NodeId, bool>& votes) {
  if (ids.empty()) return VoteResult::kWon;
  size_t yes = 0, no = 0;
  for (NodeId id : ids) {
    if (!votes.count(id)) continue;
    (votes.at(id) ? yes : no)++;
  }
  if (2 * yes > ids.size()) return VoteResult::kWon;
  if (2 * no >= ids.size()) return VoteResult::kLost;
  return VoteResult::kPending;
}

TEST(MajorityConfig, committedIndex_examples) {
  MajorityConfig c({1, 2, 3});
  EXPECT_EQ(c.CommittedIndex({{1, 5}, {2, 3}, {3, 1}}), 3u);
  EXPECT_EQ(c.CommittedIndex({{1, 5}}), 0u);
  EXPECT_EQ(c.CommittedIndex({{1, 5}, {2, 5}}), 5u);
  EXPECT_EQ(MajorityConfig({1, 2, 3, 4}).CommittedIndex({{1, 4}, {2, 3}, {3, 2}, {4, 1}}), 2u);
  EXPECT_EQ(MajorityConfig().CommittedIndex({}), kNoLimit);
}

TEST(MajorityConfig, vote_examples) {
  MajorityConfig c({1, 2, 3});
  EXPECT_EQ(c.Vote({}), VoteResult::kPending);
  EXPECT_EQ(c.Vote({{1, true}}), VoteResult::kPending);
  EXPECT_EQ(c.Vote({{1, true}, {2, true}}), VoteResult::kWon);
  EXPECT_EQ(c.Vote({{1, true}, {2, false}}), VoteResult::kPending);
  EXPECT_EQ(c.Vote({{1, false}, {2, false}}), VoteResult::kLost);
  EXPECT_EQ(MajorityConfig({1, 2, 3, 4}).Vote({{1, true}, {2, true}, {3, false}, {4, false}}),
            VoteResult::kLost);
}

TEST(JointConfig, needsBothMajorities) {
  JointConfig j{MajorityConfig({1, 2, 3}), MajorityConfig({3, 4, 5})};
  EXPECT_EQ(j.CommittedIndex({{1, 9}, {2, 9}, {3, 1}, {4, 1}, {5, 1}}), 1u);
  EXPECT_EQ(j.CommittedIndex({{1, 9}, {2, 9}, {4, 7}, {5, 8}}), 7u);
  EXPECT_EQ(j.Vote({{1, true}, {2, true}}), VoteResult::kPending);
  EXPECT_EQ(j.Vote({{1, true}, {2, true}, {4, true}, {5, true}}), VoteResult::kWon);
  EXPECT_EQ(j.Vote({{1, true}, {2, true}, {4, false}, {5, false}}), VoteResult::kLost);
  JointConfig simple{MajorityConfig({1, 2, 3}), MajorityConfig()};
  EXPECT_EQ(simple.CommittedIndex({{1, 4}, {2, 4}}), 4u);
}

TEST(MajorityConfig, property_matchesReference) {
  testing::SeededRandom rnd(42);
  for (int iter = 0; iter < 3000; iter++) {
    std::set<NodeId> ids;
    size_t n = rnd.Uniform(8);
    for (size_t i = 0; i < n; i++) ids.insert(1 + rnd.Uniform(10));
    std::map<NodeId, Index> acked;
    std::map<NodeId, bool> votes;
    for (NodeId id = 1; id <= 10; id++) {
      if (rnd.Uniform(4) != 0) acked[id] = rnd.Uniform(20);
      uint64_t v = rnd.Uniform(3);
      if (v != 2) votes[id] = v == 1;
    }
    MajorityConfig c(ids);
    ASSERT_EQ(c.CommittedIndex(acked), RefCommitted(ids, acked)) << "iter " << iter;
    ASSERT_EQ(c.Vote(votes), RefVote(ids, votes)) << "iter " << iter;
    // Joint: the smaller of the two commit indexes; a vote needs both.
    std::set<NodeId> ids2;
    for (size_t i = 0; i < rnd.Uniform(6); i++) ids2.insert(1 + rnd.Uniform(10));
    JointConfig j{c, MajorityConfig(ids2)};
    ASSERT_EQ(j.CommittedIndex(acked),
              std::min(RefCommitted(ids, acked), RefCommitted(ids2, acked)));
    VoteResult a = RefVote(ids, votes), b = RefVote(ids2, votes);
    VoteResult want = (a == VoteResult::kWon && b == VoteResult::kWon)     ? VoteResult::kWon
                      : (a == VoteResult::kLost || b == VoteResult::kLost) ? VoteResult::kLost
                                                                           : VoteResult::kPending;
    ASSERT_EQ(j.Vote(votes), want);
  }
}

}  // namespace
}  // namespace raftkv::raft
