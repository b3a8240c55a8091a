// The configuration checker on hand-made configurations.
#include "sim/check/config_checker.h"

#include <gtest/gtest.h>

namespace raftkv::check {
namespace {

using raft::ConfState;
using raft::NodeId;

ConfState Conf(std::vector<NodeId> voters, std::vector<NodeId> outgoing = {}) {
  ConfState cs;
  cs.voters = std::move(voters);
  cs.voters_outgoing = std::move(outgoing);
  return cs;
}

TEST(ConfigChecker, quorumsOverlap_examples) {
  EXPECT_TRUE(QuorumsOverlap(Conf({1, 2, 3}), Conf({1, 2, 3, 4})));
  EXPECT_FALSE(QuorumsOverlap(Conf({1, 2, 3}), Conf({1, 2, 3, 4, 5})));  // {1,2} / {3,4,5}
  EXPECT_FALSE(QuorumsOverlap(Conf({1, 2}), Conf({3, 4})));
  EXPECT_TRUE(QuorumsOverlap(Conf({4, 5, 6}, {1, 2, 3}), Conf({1, 2, 3})));
  EXPECT_TRUE(QuorumsOverlap(Conf({4, 5, 6}, {1, 2, 3}), Conf({4, 5, 6})));
  EXPECT_TRUE(QuorumsOverlap(Conf({}), Conf({7})));  // no configuration decides nothing
}

TEST(ConfigChecker, disagreementAtAnIndex_isReported) {
  ConfigChecker c;
  c.ObserveConfig(1, 10, Conf({1, 2, 3}), true);
  c.ObserveConfig(2, 10, Conf({1, 2, 3}), true);
  EXPECT_TRUE(c.violations().empty());
  c.ObserveConfig(3, 10, Conf({1, 2}), false);  // e.g. a snapshot restored without its conf
  ASSERT_EQ(c.violations().size(), 1u);
  EXPECT_NE(c.violations()[0].find("config-agreement"), std::string::npos);
}

TEST(ConfigChecker, adjacentConfigurationsWithDisjointMajorities_areReported) {
  ConfigChecker c;
  c.ObserveConfig(1, 5, Conf({1, 2, 3}), true);
  c.ObserveConfig(2, 5, Conf({1, 2, 3}), true);
  // One change later a node has a configuration whose majority misses node 1's: reported.
  c.ObserveConfig(2, 6, Conf({1, 2, 3, 4, 5}), true);
  ASSERT_EQ(c.violations().size(), 1u);
  EXPECT_NE(c.violations()[0].find("quorum-overlap"), std::string::npos);
  // A node two changes behind is not compared (it cannot win a vote, see the header).
  ConfigChecker d;
  d.ObserveConfig(1, 5, Conf({1, 2, 3}), true);
  d.ObserveConfig(2, 6, Conf({1, 2, 3, 4}), true);
  d.ObserveConfig(2, 7, Conf({1, 2, 3, 4, 5}), true);
  EXPECT_TRUE(d.violations().empty());
  // A crashed node's view no longer counts.
  d.ObserveDown(1);
  d.ObserveConfig(3, 6, Conf({1, 2, 3, 4}), true);
  EXPECT_TRUE(d.violations().empty());
}

}  // namespace
}  // namespace raftkv::check
