// The replay recorder observes without changing a run, records what the page needs, and
// the page embeds it safely.
#include "sim/replay/recorder.h"

#include <gtest/gtest.h>

#include "sim/replay/encoding.h"
#include "sim/replay/replay_html.h"
#include "sim/run.h"

namespace raftkv::sim {
namespace {

RunOptions SmallRun(uint64_t seed) {
  RunOptions o;
  o.seed = seed;
  o.nodes = 3;
  o.ops = 60;
  return o;
}

TEST(ReplayRecorder, Run_trace_hash_is_the_same_with_and_without_the_recorder) {
  for (uint64_t seed : {3, 4, 5}) {
    RunResult plain = RunSeed(SmallRun(seed));
    ReplayRecorder recorder;
    RunOptions o = SmallRun(seed);
    o.observer = &recorder;
    RunResult recorded = RunSeed(o);
    EXPECT_EQ(plain.trace_hash, recorded.trace_hash) << "seed " << seed;
    EXPECT_EQ(plain.events, recorded.events) << "seed " << seed;
    EXPECT_TRUE(recorder.finished());
    EXPECT_EQ(recorder.data().trace_hash, recorded.trace_hash);
  }
}

TEST(ReplayRecorder, SmallSeed_records_nodes_messages_logs_and_client_ops) {
  ReplayRecorder recorder;
  RunOptions o = SmallRun(7);
  o.observer = &recorder;
  RunResult r = RunSeed(o);
  const ReplayData& d = recorder.data();
  ASSERT_GE(d.nodes.size(), 3u);
  EXPECT_GT(d.msgs.size(), 100u);
  EXPECT_EQ(d.end, r.virtual_time);
  EXPECT_EQ(d.history.ops.size(), r.ops_done);
  size_t delivered = 0, leaders = 0, logs = 0, notes = 0;
  int64_t prev = 0;
  for (const auto& m : d.msgs) {
    EXPECT_GE(m.sent, prev) << "messages are in send order";
    prev = m.sent;
    EXPECT_GE(m.arrive, m.sent);
    delivered += m.fate == ReplayData::Msg::kDelivered;
  }
  EXPECT_GT(delivered, d.msgs.size() / 2);
  prev = 0;
  for (const auto& rec : d.records) {
    EXPECT_GE(rec.at, prev) << "records are in time order";
    prev = rec.at;
    if (rec.kind == ReplayData::Record::kLog) ++logs;
    if (rec.kind == ReplayData::Record::kNote) ++notes;
    if (rec.kind == ReplayData::Record::kNode && (rec.mask & 1u << ReplayData::kRole)) {
      for (size_t i = 0, v = 0; i < ReplayData::kFields; ++i) {
        if (!(rec.mask & 1u << i)) continue;
        if (i == ReplayData::kRole && rec.values[v] == 3) ++leaders;
        ++v;
      }
    }
  }
  EXPECT_GE(leaders, 1u) << "someone became leader";
  EXPECT_GT(logs, 10u);
  EXPECT_GT(notes, 0u) << "phases and faults are notes";
  // Every entry any log held has a label (put/cas/no-op/config).
  EXPECT_FALSE(d.entry_labels.empty());
}

TEST(ReplayRecorder, ViolationsAreRecordedWithTheirTime) {
  ReplayRecorder recorder;
  {
    ClusterOptions co;
    co.nodes = 3;
    co.observer = &recorder;
    Cluster c(co);
    c.WaitForLeader();
    c.AddViolation("liveness", "made up for the test");
  }
  bool found = false;
  for (const auto& rec : recorder.data().records) {
    if (rec.kind != ReplayData::Record::kViolation) continue;
    found = true;
    EXPECT_GT(rec.at, 0);
    EXPECT_EQ(recorder.data().strings[rec.b], "liveness: made up for the test");
  }
  EXPECT_TRUE(found);
}

TEST(ReplayHtml, Page_is_self_contained_and_embeds_the_run) {
  ReplayRecorder recorder;
  RunOptions o = SmallRun(9);
  o.observer = &recorder;
  RunSeed(o);
  ReplayPage page;
  page.title = "seed 9 <test>";
  page.question = "a </script> in a question";
  std::string html = ReplayHtml(recorder.data(), page);
  EXPECT_NE(html.find("<!doctype html>"), std::string::npos);
  EXPECT_NE(html.find("seed 9 &lt;test&gt;"), std::string::npos) << "the title is escaped";
  EXPECT_EQ(html.find("a </script>"), std::string::npos) << "data cannot close the script";
  EXPECT_EQ(html.find("{{"), std::string::npos) << "every template mark is filled";
  EXPECT_EQ(html.find("src=\"http"), std::string::npos) << "nothing is fetched";
  EXPECT_NE(html.find("\"messages\":\""), std::string::npos);
}

TEST(ReplayEncoding, Varint_base64_and_json) {
  std::string v;
  replay::PutVarint(&v, 0);
  replay::PutVarint(&v, 127);
  replay::PutVarint(&v, 300);
  EXPECT_EQ(v, std::string("\x00\x7f\xac\x02", 4));
  EXPECT_EQ(replay::Base64(""), "");
  EXPECT_EQ(replay::Base64("f"), "Zg==");
  EXPECT_EQ(replay::Base64("fo"), "Zm8=");
  EXPECT_EQ(replay::Base64("foo"), "Zm9v");
  EXPECT_EQ(replay::Base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(replay::JsonString("a\"b\\c\n</script>"),
            "\"a\\\"b\\\\c\\u000a\\u003c/script\\u003e\"");
}

}  // namespace
}  // namespace raftkv::sim
