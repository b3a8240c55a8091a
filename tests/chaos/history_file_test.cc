#include "tests/chaos/history_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "sim/check/linearizability.h"

namespace raftkv::chaos {
namespace {

using check::Outcome;
using Verdict = check::LinearizabilityResult::Verdict;

Result<check::History> Parse(const std::string& text) {
  std::istringstream in(text);
  return ParseHistory(in);
}

check::History ParseFile(const std::string& name) {
  std::ifstream in(std::string(RAFTKV_CHAOS_TESTDATA) + "/" + name);
  EXPECT_TRUE(in) << name;
  auto h = ParseHistory(in);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? *h : check::History{};
}

TEST(HistoryFile, DecodeField_percentEscapesAndEmpty) {
  EXPECT_EQ(*DecodeField("-"), "");
  EXPECT_EQ(*DecodeField("a%20b%2D%7e"), "a b-~");
  EXPECT_FALSE(DecodeField("a%2").ok());
  EXPECT_FALSE(DecodeField("a%zz").ok());
}

TEST(HistoryFile, ParseHistory_allFields) {
  auto h = Parse(
      "# comment\n\n"
      "op 3 cas k%20x new old 10 20 ok ~ true\n"
      "op 4 get k - - 30 40 ok ~ false\n"
      "op 5 get k - - 30 40 ok - false\n"
      "op 6 put k v - 50 inf unknown ~ false\n");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->ops.size(), 4u);
  const auto& cas = h->ops[0];
  EXPECT_EQ(cas.client, 3);
  EXPECT_EQ(cas.kind, check::OpKind::kCas);
  EXPECT_EQ(cas.key, "k x");
  EXPECT_EQ(cas.value, "new");
  EXPECT_EQ(cas.expected, "old");
  EXPECT_EQ(cas.call_time, 10);
  EXPECT_EQ(cas.return_time, 20);
  EXPECT_TRUE(cas.cas_succeeded);
  EXPECT_FALSE(h->ops[1].read_value.has_value());  // "~": absent
  EXPECT_EQ(h->ops[2].read_value, std::optional<std::string>(""));
  EXPECT_EQ(h->ops[3].outcome, Outcome::kUnknown);
  EXPECT_EQ(h->ops[3].return_time, check::kNever);
}

TEST(HistoryFile, ParseHistory_badLinesNameTheirLineNumber) {
  auto short_line = Parse("op 1 put k v - 1 2 ok ~ false\nop 1 put k v\n");
  ASSERT_FALSE(short_line.ok());
  EXPECT_NE(short_line.status().message().find("line 2"), std::string::npos);
  EXPECT_FALSE(Parse("op 1 del k v - 1 2 ok ~ false\n").ok());
  EXPECT_FALSE(Parse("op 1 put k v - 1 2 maybe ~ false\n").ok());
  EXPECT_FALSE(Parse("op 1 put k v - 5 2 ok ~ false\n").ok());  // returned before called
  EXPECT_FALSE(Parse("op x put k v - 1 2 ok ~ false\n").ok());
  EXPECT_FALSE(Parse("op 1 put k v - 1 2 ok ~ yes\n").ok());
}

TEST(HistoryFile, StaleReadFile_isNotLinearizable) {
  auto r = check::CheckLinearizable(ParseFile("stale_read.history"));
  EXPECT_EQ(r.verdict, Verdict::kViolation);
  EXPECT_EQ(r.key, "x");
}

TEST(HistoryFile, LinearizableFile_isLinearizable) {
  auto h = ParseFile("linearizable.history");
  EXPECT_EQ(h.ops.size(), 10u);
  EXPECT_EQ(check::CheckLinearizable(h).verdict, Verdict::kLinearizable);
}

}  // namespace
}  // namespace raftkv::chaos
