#include "sim/command.h"

#include <gtest/gtest.h>

namespace raftkv::sim {
namespace {

TEST(Command, encodeDecode_roundTrips) {
  Command c{check::OpKind::kCas, 7, 42, "k1", "new", "old"};
  auto d = DecodeCommand(EncodeCommand(c));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, c);
}

TEST(Command, decode_rejectsTruncatedAndGarbage) {
  std::string data = EncodeCommand(Command{check::OpKind::kPut, 1, 1, "key", "value", ""});
  for (size_t n = 0; n < data.size(); ++n) {
    EXPECT_FALSE(DecodeCommand(data.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(DecodeCommand(data + "x").ok());
  std::string bad_kind = data;
  bad_kind[0] = static_cast<char>(check::OpKind::kGet);
  EXPECT_FALSE(DecodeCommand(bad_kind).ok());
}

TEST(KvStateMachine, apply_putAndCas) {
  KvStateMachine sm;
  EXPECT_FALSE(sm.Apply({check::OpKind::kCas, 1, 1, "k", "a", ""}).cas_succeeded)
      << "absent never equals anything";
  EXPECT_FALSE(sm.Get("k").has_value());
  sm.Apply({check::OpKind::kPut, 1, 2, "k", "a", ""});
  EXPECT_EQ(sm.Get("k"), "a");
  EXPECT_TRUE(sm.Apply({check::OpKind::kCas, 1, 3, "k", "b", "a"}).cas_succeeded);
  EXPECT_EQ(sm.Get("k"), "b");
  EXPECT_FALSE(sm.Apply({check::OpKind::kCas, 1, 4, "k", "c", "a"}).cas_succeeded);
  EXPECT_EQ(sm.Get("k"), "b");
}

// C2: a retried write (same client, same seq) takes effect once and gets the first answer.
TEST(KvStateMachine, apply_retryIsAnsweredFromTheSessionNotReapplied) {
  KvStateMachine sm;
  sm.Apply({check::OpKind::kPut, 1, 1, "k", "a", ""});
  ApplyResult first = sm.Apply({check::OpKind::kCas, 2, 1, "k", "b", "a"});
  EXPECT_TRUE(first.cas_succeeded);
  sm.Apply({check::OpKind::kPut, 1, 2, "k", "a", ""});  // someone writes "a" again
  ApplyResult retry = sm.Apply({check::OpKind::kCas, 2, 1, "k", "b", "a"});
  EXPECT_TRUE(retry.duplicate);
  EXPECT_TRUE(retry.cas_succeeded) << "the stored result, not a new evaluation";
  EXPECT_EQ(sm.Get("k"), "a") << "the retry must not swap again";
}

TEST(KvStateMachine, apply_olderSeqIsStaleAndIgnored) {
  KvStateMachine sm;
  sm.Apply({check::OpKind::kPut, 1, 5, "k", "new", ""});
  ApplyResult r = sm.Apply({check::OpKind::kPut, 1, 4, "k", "old", ""});
  EXPECT_TRUE(r.stale);
  EXPECT_EQ(sm.Get("k"), "new");
}

TEST(KvStateMachine, clear_forgetsDataAndSessions) {
  KvStateMachine sm;
  sm.Apply({check::OpKind::kPut, 1, 1, "k", "a", ""});
  sm.Clear();
  EXPECT_FALSE(sm.Get("k").has_value());
  EXPECT_FALSE(sm.Apply({check::OpKind::kPut, 1, 1, "k", "a", ""}).duplicate);
}

}  // namespace
}  // namespace raftkv::sim
