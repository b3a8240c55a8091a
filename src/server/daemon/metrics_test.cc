#include "server/daemon/metrics.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <sstream>
#include <thread>

namespace raftkv::server::daemon {
namespace {

// A Prometheus text-format (0.0.4) reader strict enough to reject what a scraper would.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
struct Exposition {
  std::map<std::string, std::string> types;  // family -> counter|gauge|histogram
  std::vector<Sample> samples;

  double Value(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    for (const Sample& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    ADD_FAILURE() << "no sample " << name;
    return -1;
  }
};

std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  if (types.count(name)) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      std::string base = name.substr(0, name.size() - s.size());
      auto it = types.find(base);
      if (it != types.end() && it->second == "histogram") return base;
    }
  }
  return "";
}

Exposition ParseExposition(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  std::string line;
  std::string help_for;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      help_for = line.substr(7, line.find(' ', 7) - 7);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      EXPECT_EQ(name, help_for) << "HELP precedes TYPE";
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
      EXPECT_EQ(e.types.count(name), 0u) << "family declared twice: " << name;
      e.types[name] = type;
      continue;
    }
    EXPECT_FALSE(line.empty() || line[0] == '#') << "unexpected line: " << line;
    Sample s;
    size_t i = line.find_first_of("{ ");
    s.name = line.substr(0, i);
    for (char ch : s.name) EXPECT_TRUE(isalnum(ch) || ch == '_' || ch == ':') << line;
    if (line[i] == '{') {
      size_t close = line.find('}', i);
      EXPECT_NE(close, std::string::npos) << line;
      std::string labels = line.substr(i + 1, close - i - 1);
      size_t pos = 0;
      while (pos < labels.size()) {
        size_t eq = labels.find("=\"", pos);
        size_t end = labels.find('"', eq + 2);
        EXPECT_TRUE(eq != std::string::npos && end != std::string::npos) << line;
        s.labels[labels.substr(pos, eq - pos)] = labels.substr(eq + 2, end - eq - 2);
        pos = end + 1;
        if (pos < labels.size()) {
          EXPECT_EQ(labels[pos], ',') << line;
          ++pos;
        }
      }
      i = close + 1;
    }
    EXPECT_EQ(line[i], ' ') << line;
    std::string value = line.substr(i + 1);
    char* end = nullptr;
    s.value = value == "+Inf" ? INFINITY : std::strtod(value.c_str(), &end);
    EXPECT_TRUE(value == "+Inf" || (end && *end == '\0')) << "bad value: " << line;
    EXPECT_NE(FamilyOf(s.name, e.types), "") << "sample before its # TYPE: " << line;
    e.samples.push_back(s);
  }
  return e;
}

ServerStats SampleStats() {
  ServerStats s;
  s.member_id = 0x8e9e05c52164694d;
  s.has_leader = true;
  s.is_leader = false;
  s.leader_changes_seen = 3;
  s.proposals_committed = 120;
  s.proposals_applied = 119;
  s.proposals_pending = 1;
  s.proposals_failed = 2;
  s.revision = 77;
  s.keys = 5;
  s.read_index_rounds = 4;
  s.read_index_reads = 90;
  s.front_calls_served = 1000;
  s.front_calls_forwarded = 7;
  s.front_reads = 300;
  s.front_writes = 250;
  Histogram h;
  h.Observe(0.0005);  // first bucket
  h.Observe(0.003);   // le 0.004
  h.Observe(0.003);
  h.Observe(100);  // +Inf only
  s.wal_fsync = h.Get();
  s.peer_sent_bytes = {{0xabc, 1000}, {0xdef, 2000}};
  s.peer_received_bytes = {{0xabc, 10}};
  s.peer_sent_messages = {{0xdef, 50}};
  s.peer_direct_messages = {{0xdef, 30}};
  s.peer_dropped_messages = {{0xdef, 2}};
  s.connected_peers = {0xdef};
  return s;
}

TEST(Metrics, RenderedTextParsesBackWithEtcdNames) {
  Exposition e = ParseExposition(RenderMetrics(SampleStats()));
  EXPECT_EQ(e.types["etcd_server_has_leader"], "gauge");
  EXPECT_EQ(e.Value("etcd_server_has_leader"), 1);
  EXPECT_EQ(e.Value("etcd_server_is_leader"), 0);
  EXPECT_EQ(e.types["etcd_server_leader_changes_seen_total"], "counter");
  EXPECT_EQ(e.Value("etcd_server_leader_changes_seen_total"), 3);
  EXPECT_EQ(e.Value("etcd_server_proposals_committed_total"), 120);
  EXPECT_EQ(e.Value("etcd_server_proposals_applied_total"), 119);
  EXPECT_EQ(e.Value("etcd_server_proposals_pending"), 1);
  EXPECT_EQ(e.Value("etcd_server_proposals_failed_total"), 2);
  EXPECT_EQ(e.Value("etcd_server_id", {{"server_id", "8e9e05c52164694d"}}), 1);
  EXPECT_EQ(e.Value("etcd_debugging_mvcc_current_revision"), 77);
  EXPECT_EQ(e.Value("etcd_debugging_mvcc_keys_total"), 5);
  EXPECT_EQ(e.types["raftkv_read_index_rounds_total"], "counter");
  EXPECT_EQ(e.Value("raftkv_read_index_rounds_total"), 4);
  EXPECT_EQ(e.Value("raftkv_read_index_reads_total"), 90);
  EXPECT_EQ(e.types["raftkv_front_calls_served_total"], "counter");
  EXPECT_EQ(e.Value("raftkv_front_calls_served_total"), 1000);
  EXPECT_EQ(e.Value("raftkv_front_calls_forwarded_total"), 7);
  EXPECT_EQ(e.Value("raftkv_front_reads_total"), 300);
  EXPECT_EQ(e.Value("raftkv_front_writes_total"), 250);
  EXPECT_EQ(e.Value("etcd_network_peer_sent_bytes_total", {{"To", "def"}}), 2000);
  EXPECT_EQ(e.Value("etcd_network_peer_received_bytes_total", {{"From", "abc"}}), 10);
  EXPECT_EQ(e.types["raftkv_peer_direct_messages_total"], "counter");
  EXPECT_EQ(e.Value("raftkv_peer_sent_messages_total", {{"To", "def"}}), 50);
  EXPECT_EQ(e.Value("raftkv_peer_direct_messages_total", {{"To", "def"}}), 30);
  EXPECT_EQ(e.Value("raftkv_peer_dropped_messages_total", {{"To", "def"}}), 2);
  EXPECT_EQ(e.types["etcd_network_active_peers"], "gauge");
  EXPECT_EQ(
      e.Value("etcd_network_active_peers", {{"Local", "8e9e05c52164694d"}, {"Remote", "def"}}), 1);
}

TEST(Metrics, StageTotals_byTraceAndStage) {
  ServerStats s = SampleStats();
  s.propose_stages = {3, {{"queue", 0.25}, {"wal_write_fsync", 1.5}}};
  s.append_stages = {2, {{"to_raft", 0.125}}};
  Exposition e = ParseExposition(RenderMetrics(s));
  EXPECT_EQ(e.types["raftkv_stage_traced_total"], "counter");
  EXPECT_EQ(e.Value("raftkv_stage_traced_total", {{"trace", "propose"}}), 3);
  EXPECT_EQ(e.Value("raftkv_stage_traced_total", {{"trace", "append"}}), 2);
  EXPECT_EQ(
      e.Value("raftkv_stage_seconds_total", {{"trace", "propose"}, {"stage", "wal_write_fsync"}}),
      1.5);
  EXPECT_EQ(e.Value("raftkv_stage_seconds_total", {{"trace", "append"}, {"stage", "to_raft"}}),
            0.125);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Exposition e = ParseExposition(RenderMetrics(SampleStats()));
  const std::string h = "etcd_disk_wal_fsync_duration_seconds";
  EXPECT_EQ(e.types[h], "histogram");
  EXPECT_EQ(e.Value(h + "_bucket", {{"le", "0.001"}}), 1);
  EXPECT_EQ(e.Value(h + "_bucket", {{"le", "0.002"}}), 1);
  EXPECT_EQ(e.Value(h + "_bucket", {{"le", "0.004"}}), 3);
  EXPECT_EQ(e.Value(h + "_bucket", {{"le", "8.192"}}), 3);
  EXPECT_EQ(e.Value(h + "_bucket", {{"le", "+Inf"}}), 4);
  EXPECT_EQ(e.Value(h + "_count"), 4);
  EXPECT_NEAR(e.Value(h + "_sum"), 100.0065, 1e-6);
  double last = 0;
  int buckets = 0;
  for (const Sample& s : e.samples) {
    if (s.name != h + "_bucket") continue;
    EXPECT_GE(s.value, last);
    last = s.value;
    ++buckets;
  }
  EXPECT_EQ(buckets, Histogram::kBuckets + 1);
}

std::string Get(int port, const std::string& path, int* status) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  auto res = client.Get(path.c_str());
  if (!res) {
    *status = -1;
    return "";
  }
  *status = res->status;
  return res->body;
}

TEST(MetricsServer, ServesMetricsAndHealthAsEtcd) {
  std::atomic<int> mode{0};  // 0 healthy, 1 unhealthy, 2 never answers
  MetricsSource src;
  src.stats = [] { return SampleStats(); };
  src.check_health = [&mode](std::function<void(Status)> done) {
    if (mode == 0) done(Status::OK());
    if (mode == 1) {
      std::thread([done] { done(Status::Unavailable("etcdserver: no leader")); }).detach();
    }
  };
  src.health_timeout = std::chrono::milliseconds(200);
  MetricsServer server(src);
  ASSERT_TRUE(server.Start({"http://127.0.0.1:0", "http://127.0.0.1:0"}).ok());
  ASSERT_EQ(server.ports().size(), 2u);
  int status = 0;
  for (int port : server.ports()) {
    std::string body = Get(port, "/metrics", &status);
    EXPECT_EQ(status, 200);
    EXPECT_EQ(ParseExposition(body).Value("etcd_server_has_leader"), 1);
  }
  EXPECT_EQ(Get(server.ports()[0], "/health", &status), "{\"health\":\"true\"}");
  EXPECT_EQ(status, 200);
  mode = 1;
  EXPECT_EQ(Get(server.ports()[0], "/health", &status), "{\"health\":\"false\"}");
  EXPECT_EQ(status, 503);
  mode = 2;
  EXPECT_EQ(Get(server.ports()[1], "/health", &status), "{\"health\":\"false\"}");
  EXPECT_EQ(status, 503);
  Get(server.ports()[0], "/nope", &status);
  EXPECT_EQ(status, 404);
  server.Stop();
  Get(server.ports()[0], "/metrics", &status);
  EXPECT_EQ(status, -1) << "stopped";
}

TEST(MetricsServer, PortInUseIsAClearError) {
  MetricsSource src;
  src.stats = [] { return ServerStats{}; };
  src.check_health = [](std::function<void(Status)> done) { done(Status::OK()); };
  MetricsServer first(src);
  ASSERT_TRUE(first.Start({"http://127.0.0.1:0"}).ok());
  MetricsServer second(src);
  Status s = second.Start({"http://127.0.0.1:" + std::to_string(first.ports()[0])});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot listen"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace raftkv::server::daemon
