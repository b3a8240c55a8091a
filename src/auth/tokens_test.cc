#include "auth/tokens.h"

#include <gtest/gtest.h>

#include <set>

namespace raftkv::auth {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
  TokenTable::Clock::time_point now{};
  TokenTable::NowFn fn() {
    return [this] { return now; };
  }
};

TEST(TokenTable, tokensAreRandomPrefixDotIndex) {
  std::set<std::string> prefixes;
  for (int i = 0; i < 100; i++) {
    std::string p = TokenTable::NewPrefix();
    ASSERT_EQ(p.size(), 16u);
    for (char c : p) ASSERT_TRUE(std::isalpha(static_cast<unsigned char>(c))) << p;
    prefixes.insert(p);
  }
  EXPECT_EQ(prefixes.size(), 100u);
  EXPECT_EQ(TokenTable::Token("abc", 42), "abc.42");
  EXPECT_EQ(TokenTable::IndexOf("abc.42"), 42u);
  EXPECT_EQ(TokenTable::IndexOf("abc42"), std::nullopt);
  EXPECT_EQ(TokenTable::IndexOf("abc.4x"), std::nullopt);
  EXPECT_EQ(TokenTable::IndexOf("abc."), std::nullopt);
  EXPECT_EQ(TokenTable::IndexOf("a.123456789012345678901"), std::nullopt);
}

TEST(TokenTable, expiresAfterTtlWithoutUseAndUseRestartsTheClock) {
  FakeClock clock;
  TokenTable t(10s, 100, clock.fn());
  t.Assign("x.1", "alice");
  clock.now += 9s;
  EXPECT_EQ(t.Lookup("x.1"), "alice");
  clock.now += 9s;  // 18 s after assignment, 9 s after the last use
  EXPECT_EQ(t.Lookup("x.1"), "alice");
  clock.now += 10s;
  EXPECT_EQ(t.Lookup("x.1"), std::nullopt);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.Lookup("never.2"), std::nullopt);
}

TEST(TokenTable, invalidateUserAndClear) {
  TokenTable t(60s, 100);
  t.Assign("a.1", "alice");
  t.Assign("a.2", "alice");
  t.Assign("b.3", "bob");
  t.InvalidateUser("alice");
  EXPECT_EQ(t.Lookup("a.1"), std::nullopt);
  EXPECT_EQ(t.Lookup("a.2"), std::nullopt);
  EXPECT_EQ(t.Lookup("b.3"), "bob");
  t.Clear();
  EXPECT_EQ(t.Lookup("b.3"), std::nullopt);
}

TEST(TokenTable, boundedBySweepingExpiredThenLeastRecentlyUsed) {
  FakeClock clock;
  TokenTable t(10s, 3, clock.fn());
  t.Assign("t.1", "u");
  clock.now += 1s;
  t.Assign("t.2", "u");
  clock.now += 1s;
  t.Assign("t.3", "u");
  clock.now += 1s;
  EXPECT_TRUE(t.Lookup("t.1").has_value());  // now the most recently used
  t.Assign("t.4", "u");
  EXPECT_EQ(t.size(), 3u);
  EXPECT_FALSE(t.Lookup("t.2").has_value()) << "the least recently used one goes";
  EXPECT_TRUE(t.Lookup("t.1").has_value());
  clock.now += 30s;
  t.Assign("t.5", "u");  // sweeps the expired ones
  EXPECT_EQ(t.size(), 1u);
  // A replayed assignment keeps the first.
  t.Assign("t.5", "other");
  EXPECT_EQ(t.Lookup("t.5"), "u");
}

}  // namespace
}  // namespace raftkv::auth
