// A one-member raftkvd started in-process on free ports, driven as users drive etcd: with
// etcd's generated gRPC stubs, with etcdctl (a subprocess) and over HTTP.
#include "server/daemon/daemon.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/sha.h>

#include "api/session_metadata.h"
#include "server/daemon/test_util.h"

namespace raftkv::server::daemon {
namespace {

using namespace raftkv::server::daemon::testing;
namespace pb = etcdserverpb;

class DaemonTest : public ::testing::Test {
 protected:
  // Changes the config before the daemon starts (fixtures that need other limits).
  virtual void Tune(ServerConfig*) {}

  void SetUp() override {
    config_ = OneMemberConfig("d1", (dir_.path() / "d1").string(), ports_);
    Tune(&config_);
    Result<std::unique_ptr<Daemon>> d = Daemon::Start(config_);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    daemon_ = std::move(d).value();
    channel_ = grpc::CreateChannel(ports_.endpoint(), grpc::InsecureChannelCredentials());
    kv_ = pb::KV::NewStub(channel_);
    // A one-member cluster elects itself after an election timeout.
    ASSERT_TRUE(WaitFor([&] {
      grpc::ClientContext ctx;
      pb::PutRequest req;
      req.set_key("ready");
      pb::PutResponse resp;
      return kv_->Put(&ctx, req, &resp).ok();
    }));
  }

  grpc::Status Put(const std::string& key, const std::string& value, pb::PutResponse* resp,
                   grpc::ClientContext* ctx = nullptr) {
    grpc::ClientContext local;
    pb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    return kv_->Put(ctx ? ctx : &local, req, resp);
  }

  grpc::Status Get(const std::string& key, pb::RangeResponse* resp, int64_t revision = 0) {
    grpc::ClientContext ctx;
    pb::RangeRequest req;
    req.set_key(key);
    req.set_revision(revision);
    return kv_->Range(&ctx, req, resp);
  }

  TempDir dir_;
  Ports ports_;
  ServerConfig config_;
  std::unique_ptr<Daemon> daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::KV::Stub> kv_;
};

TEST_F(DaemonTest, PutGetTxnCompactThroughEtcdStubs) {
  pb::PutResponse put;
  ASSERT_TRUE(Put("foo", "bar", &put).ok());
  int64_t rev = put.header().revision();
  EXPECT_GT(rev, 1);
  EXPECT_EQ(put.header().member_id(), daemon_->server()->member_id());
  pb::RangeResponse get;
  ASSERT_TRUE(Get("foo", &get).ok());
  ASSERT_EQ(get.kvs_size(), 1);
  EXPECT_EQ(get.kvs(0).value(), "bar");
  EXPECT_EQ(get.kvs(0).mod_revision(), rev);

  // Compare-and-set: value == bar -> put baz.
  grpc::ClientContext ctx;
  pb::TxnRequest txn;
  pb::Compare* cmp = txn.add_compare();
  cmp->set_key("foo");
  cmp->set_target(pb::Compare::VALUE);
  cmp->set_result(pb::Compare::EQUAL);
  cmp->set_value("bar");
  pb::PutRequest* then_put = txn.add_success()->mutable_request_put();
  then_put->set_key("foo");
  then_put->set_value("baz");
  pb::TxnResponse txn_resp;
  ASSERT_TRUE(kv_->Txn(&ctx, txn, &txn_resp).ok());
  EXPECT_TRUE(txn_resp.succeeded());
  ASSERT_TRUE(Get("foo", &get).ok());
  EXPECT_EQ(get.kvs(0).value(), "baz");

  grpc::ClientContext cctx;
  pb::CompactionRequest compact;
  compact.set_revision(rev + 1);
  pb::CompactionResponse compact_resp;
  ASSERT_TRUE(kv_->Compact(&cctx, compact, &compact_resp).ok());
  grpc::Status old = Get("foo", &get, rev);
  EXPECT_EQ(old.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(old.error_message(), "etcdserver: mvcc: required revision has been compacted");
}

TEST_F(DaemonTest, EdgeErrorsAreEtcds) {
  // 1.6 MiB: above --max-request-bytes (1.5 MiB) but within gRPC's allowance above it.
  pb::PutResponse put;
  grpc::Status big = Put("big", std::string(1600 * 1024, 'x'), &put);
  EXPECT_EQ(big.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(big.error_message(), "etcdserver: request is too large");

  pb::RangeResponse get;
  grpc::Status empty = Get("", &get);
  EXPECT_EQ(empty.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(empty.error_message(), "etcdserver: key is not provided");

  grpc::Status future = Get("foo", &get, 1'000'000);
  EXPECT_EQ(future.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(future.error_message(), "etcdserver: mvcc: required revision is a future revision");

  grpc::ClientContext ctx;
  pb::TxnRequest txn;
  for (int i = 0; i <= config_.max_txn_ops; ++i) {
    txn.add_success()->mutable_request_put()->set_key("k" + std::to_string(i));
  }
  pb::TxnResponse txn_resp;
  grpc::Status many = kv_->Txn(&ctx, txn, &txn_resp);
  EXPECT_EQ(many.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(many.error_message(), "etcdserver: too many operations in txn request");
}

// The Lease service over gRPC: grant, a keep-alive stream (one answer per request, TTL 0 for
// an unknown lease), time-to-live (TTL -1 for an unknown lease, as etcd), revoke.
TEST_F(DaemonTest, LeaseServiceOverGrpc) {
  auto lease = pb::Lease::NewStub(channel_);
  grpc::ClientContext gctx;
  pb::LeaseGrantRequest req;
  req.set_ttl(30);
  pb::LeaseGrantResponse granted;
  ASSERT_TRUE(lease->LeaseGrant(&gctx, req, &granted).ok());
  EXPECT_EQ(granted.ttl(), 30);
  EXPECT_EQ(granted.header().cluster_id(), daemon_->server()->cluster_id());

  grpc::ClientContext sctx;
  auto stream = lease->LeaseKeepAlive(&sctx);
  for (int64_t id : {granted.id(), int64_t{424242}, granted.id()}) {
    pb::LeaseKeepAliveRequest ka;
    ka.set_id(id);
    ASSERT_TRUE(stream->Write(ka));
    pb::LeaseKeepAliveResponse answer;
    ASSERT_TRUE(stream->Read(&answer));
    EXPECT_EQ(answer.id(), id);
    EXPECT_EQ(answer.ttl(), id == granted.id() ? 30 : 0);
    EXPECT_EQ(answer.header().member_id(), daemon_->server()->member_id());
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  grpc::ClientContext tctx;
  pb::LeaseTimeToLiveRequest ttl_req;
  ttl_req.set_id(424242);
  pb::LeaseTimeToLiveResponse ttl;
  ASSERT_TRUE(lease->LeaseTimeToLive(&tctx, ttl_req, &ttl).ok());
  EXPECT_EQ(ttl.ttl(), -1);

  grpc::ClientContext rctx;
  pb::LeaseRevokeRequest rv;
  rv.set_id(granted.id());
  pb::LeaseRevokeResponse revoked;
  EXPECT_TRUE(lease->LeaseRevoke(&rctx, rv, &revoked).ok());
  grpc::ClientContext r2;
  grpc::Status again = lease->LeaseRevoke(&r2, rv, &revoked);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(again.error_message(), "etcdserver: requested lease not found");
}

TEST_F(DaemonTest, StatusAndMemberList) {
  auto maintenance = pb::Maintenance::NewStub(channel_);
  grpc::ClientContext ctx;
  pb::StatusResponse status;
  ASSERT_TRUE(maintenance->Status(&ctx, pb::StatusRequest(), &status).ok());
  EXPECT_EQ(status.leader(), daemon_->server()->member_id());
  EXPECT_EQ(status.header().cluster_id(), daemon_->server()->cluster_id());
  EXPECT_GT(status.raftindex(), 0u);

  auto cluster = pb::Cluster::NewStub(channel_);
  grpc::ClientContext mctx;
  pb::MemberListResponse members;
  ASSERT_TRUE(cluster->MemberList(&mctx, pb::MemberListRequest(), &members).ok());
  ASSERT_EQ(members.members_size(), 1);
  EXPECT_EQ(members.members(0).name(), "d1");
  EXPECT_EQ(members.members(0).id(), daemon_->server()->member_id());
  ASSERT_EQ(members.members(0).peerurls_size(), 1);
  EXPECT_EQ(members.members(0).peerurls(0), ports_.peer_url());

  grpc::ClientContext actx;
  pb::MemberAddRequest add;
  // A scheme etcd refuses too (https:// is a valid peer URL since TLS, as in etcd).
  add.add_peerurls("ftp://127.0.0.1:1");
  pb::MemberAddResponse add_resp;
  grpc::Status bad = cluster->MemberAdd(&actx, add, &add_resp);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad.error_message(), "etcdserver: given member URLs are invalid");
}

TEST_F(DaemonTest, SessionRetryIsAnsweredOnce) {
  auto session = raftkvpb::Session::NewStub(channel_);
  grpc::ClientContext rctx;
  raftkvpb::RegisterResponse reg;
  ASSERT_TRUE(session->Register(&rctx, raftkvpb::RegisterRequest(), &reg).ok());
  EXPECT_NE(reg.client_id(), 0u);
  EXPECT_EQ(reg.timeout_ms(), config_.session_timeout_ms);

  auto put_seq1 = [&](pb::PutResponse* resp) {
    grpc::ClientContext ctx;
    ctx.AddMetadata(api::kMetaClientId, std::to_string(reg.client_id()));
    ctx.AddMetadata(api::kMetaSeq, "1");
    ctx.AddMetadata(api::kMetaAcked, "0");
    return Put("once", "v", resp, &ctx);
  };
  pb::PutResponse first, retry;
  ASSERT_TRUE(put_seq1(&first).ok());
  ASSERT_TRUE(put_seq1(&retry).ok());
  EXPECT_EQ(retry.header().revision(), first.header().revision()) << "the stored answer";
  pb::RangeResponse get;
  ASSERT_TRUE(Get("once", &get).ok());
  ASSERT_EQ(get.kvs_size(), 1);
  EXPECT_EQ(get.kvs(0).version(), 1) << "applied once";
  EXPECT_EQ(get.header().revision(), first.header().revision()) << "no second revision";

  grpc::ClientContext bad_ctx;
  bad_ctx.AddMetadata(api::kMetaClientId, "12x");
  bad_ctx.AddMetadata(api::kMetaSeq, "1");
  pb::PutResponse bad_resp;
  grpc::Status bad = Put("once", "w", &bad_resp, &bad_ctx);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find(api::kMetaClientId), std::string::npos);
}

TEST_F(DaemonTest, SnapshotStreamEndsWithItsSha256) {
  pb::PutResponse put;
  ASSERT_TRUE(Put("snap", std::string(100 * 1024, 's'), &put).ok());
  auto maintenance = pb::Maintenance::NewStub(channel_);
  grpc::ClientContext ctx;
  auto reader = maintenance->Snapshot(&ctx, pb::SnapshotRequest());
  pb::SnapshotResponse chunk;
  std::string image;
  uint64_t first_total = 0;
  uint64_t last_remaining = 1;
  while (reader->Read(&chunk)) {
    if (image.empty()) first_total = chunk.remaining_bytes() + chunk.blob().size();
    image += chunk.blob();
    EXPECT_EQ(chunk.remaining_bytes(), first_total - image.size());
    last_remaining = chunk.remaining_bytes();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(last_remaining, 0u);
  EXPECT_EQ(image.size(), first_total);
  ASSERT_GT(image.size(), size_t{SHA256_DIGEST_LENGTH} + 100 * 1024);
  unsigned char sha[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(image.data()), image.size() - SHA256_DIGEST_LENGTH,
         sha);
  EXPECT_EQ(image.substr(image.size() - SHA256_DIGEST_LENGTH),
            std::string(reinterpret_cast<char*>(sha), SHA256_DIGEST_LENGTH));
}

TEST_F(DaemonTest, EtcdctlWorksAgainstIt) {
  const std::string etcdctl =
      "ETCDCTL_API=3 etcdctl --dial-timeout=5s --command-timeout=10s "
      "--endpoints=" +
      ports_.endpoint() + " ";
  CommandResult r = RunCommand(etcdctl + "put greeting hello");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "OK\n");
  r = RunCommand(etcdctl + "get greeting");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "greeting\nhello\n");
  r = RunCommand(etcdctl + "del greeting");
  EXPECT_EQ(r.output, "1\n");
  r = RunCommand(etcdctl + "endpoint health");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("is healthy"), std::string::npos) << r.output;
  r = RunCommand(etcdctl + "endpoint status -w json");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"leader\":" + std::to_string(daemon_->server()->member_id())),
            std::string::npos)
      << r.output;
  r = RunCommand(etcdctl + "member list");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(", started, d1, " + ports_.peer_url() + ", " + ports_.client_url()),
            std::string::npos)
      << r.output;
  r = RunCommand(etcdctl + "get ''");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("key is not provided"), std::string::npos) << r.output;
}

TEST_F(DaemonTest, HealthAndMetricsOverHttp) {
  httplib::Client http("127.0.0.1", ports_.metrics);
  auto health = http.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "{\"health\":\"true\"}");
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("\netcd_server_has_leader 1\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("\netcd_server_is_leader 1\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("etcd_disk_wal_fsync_duration_seconds_count "), std::string::npos);
}

// The client front's counters: a put is served by the front itself, a member list forwarded.
TEST_F(DaemonTest, FrontCountersOnMetrics) {
  pb::PutResponse put;
  ASSERT_TRUE(Put("front-counted", "v", &put).ok());
  grpc::ClientContext ctx;
  pb::MemberListResponse members;
  ASSERT_TRUE(
      pb::Cluster::NewStub(channel_)->MemberList(&ctx, pb::MemberListRequest(), &members).ok());
  httplib::Client http("127.0.0.1", ports_.metrics);
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  auto value = [&](const std::string& name) {
    const size_t at = metrics->body.find("\n" + name + " ");
    if (at == std::string::npos) return -1.0;
    return std::stod(metrics->body.substr(at + name.size() + 2));
  };
  EXPECT_GE(value("raftkv_front_calls_served_total"), 1);
  EXPECT_GE(value("raftkv_front_calls_forwarded_total"), 1);
  EXPECT_GE(value("raftkv_front_writes_total"), 2);
}

// /debug/raft's JSON is debug.proto's mapping: parsing it back strictly (no unknown field)
// checks the schema; the raw text checks the names the /ui page reads.
TEST_F(DaemonTest, DebugRaftJsonFollowsItsSchema) {
  httplib::Client http("127.0.0.1", ports_.metrics);
  auto res = http.Get("/debug/raft");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  raftkvpb::ClusterDebug view;
  google::protobuf::util::JsonParseOptions strict;
  strict.ignore_unknown_fields = false;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(res->body, &view, strict).ok())
      << res->body;
  for (const char* key : {"\"cluster_id\"", "\"served_by\"", "\"leader\"", "\"members\"",
                          "\"role\"", "\"term\"", "\"vote\"", "\"last_index\"", "\"commit_index\"",
                          "\"applied_index\"", "\"snapshot_index\"", "\"wal_fsync\"", "\"p99_ms\"",
                          "\"followers\"", "\"events\"", "\"samples\"", "\"up\"", "\"error\""}) {
    EXPECT_NE(res->body.find(key), std::string::npos) << key << " missing in " << res->body;
  }
  ASSERT_EQ(view.members_size(), 1);
  const raftkvpb::MemberDebug& me = view.members(0);
  EXPECT_TRUE(me.up());
  EXPECT_EQ(me.name(), "d1");
  EXPECT_EQ(me.role(), "leader");
  EXPECT_EQ(view.leader(), me.id());
  EXPECT_EQ(me.leader(), me.id());
  EXPECT_EQ(me.vote(), me.id());
  EXPECT_GE(me.term(), 1u);
  EXPECT_EQ(view.term(), me.term());
  EXPECT_GE(me.commit_index(), 2u);  // the bootstrap entry and the leader's no-op at least
  EXPECT_GE(me.last_index(), me.commit_index());
  EXPECT_GT(me.wal_fsync().count(), 0u);
  EXPECT_GT(me.wal_fsync().p99_ms(), 0);
  EXPECT_EQ(me.followers_size(), 0) << "a one-member cluster has no followers";
  bool became_leader = false;
  for (const auto& e : me.events()) {
    became_leader =
        became_leader || (e.kind() == "role" && e.text().find("leader") != std::string::npos);
    EXPECT_EQ(e.member(), me.id());
    EXPECT_GT(e.time_ms(), 0);
  }
  EXPECT_TRUE(became_leader);
  // 64-bit numbers are strings in proto3's JSON (as in etcd's JSON gateway).
  EXPECT_NE(res->body.find("\"term\":\"" + std::to_string(me.term()) + "\""), std::string::npos);

  auto self = http.Get("/debug/raft?member=self");
  ASSERT_TRUE(self);
  raftkvpb::MemberDebug alone;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(self->body, &alone, strict).ok());
  EXPECT_EQ(alone.id(), me.id());
}

TEST_F(DaemonTest, UiPageAndItsFilesAreServed) {
  httplib::Client http("127.0.0.1", ports_.metrics);
  auto page = http.Get("/ui");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(page->body.find("/ui/ui.js"), std::string::npos);
  EXPECT_EQ(page->body.find("http://"), std::string::npos) << "nothing from elsewhere";
  for (const char* path : {"/ui/ui.js", "/ui/ui.css"}) {
    auto f = http.Get(path);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->status, 200) << path;
    EXPECT_GT(f->body.size(), 1000u) << path;
  }
  auto js = http.Get("/ui/ui.js");
  EXPECT_NE(js->body.find("/debug/raft"), std::string::npos);
  EXPECT_EQ(http.Get("/ui/other.js")->status, 404);
}

TEST_F(DaemonTest, StopFailsLaterCallsAndIsIdempotent) {
  daemon_->Stop();
  pb::PutResponse put;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  EXPECT_FALSE(Put("after", "stop", &put, &ctx).ok());
  daemon_->Stop();
}

// etcd's fragment (WatchCreateRequest.fragment): a response at or above the request limit
// plus gRPC's overhead allowance is sent in pieces below it, all but the last marked
// fragment; a watcher that did not ask gets it whole.
class SmallRequestDaemonTest : public DaemonTest {
 protected:
  static constexpr int64_t kMaxRequest = 64 << 10;
  void Tune(ServerConfig* c) override { c->max_request_bytes = kMaxRequest; }
};

TEST_F(SmallRequestDaemonTest, Watch_fragmentSplitsALargeResponse) {
  const std::string value(60 << 10, 'v');
  constexpr int kPuts = 12;  // 720 KiB of values: above the 576 KiB limit in one response
  pb::PutResponse put;
  int64_t first = 0;
  for (int i = 0; i < kPuts; ++i) {
    ASSERT_TRUE(Put("frag/" + std::to_string(i), value, &put).ok());
    if (i == 0) first = put.header().revision();
  }
  const size_t limit = static_cast<size_t>(kMaxRequest + kGrpcOverheadBytes);
  auto watch = pb::Watch::NewStub(channel_);
  for (bool fragment : {true, false}) {
    SCOPED_TRACE(fragment ? "fragment" : "whole");
    grpc::ClientContext ctx;
    auto stream = watch->Watch(&ctx);
    pb::WatchRequest req;
    auto* create = req.mutable_create_request();
    create->set_key("frag/");
    create->set_range_end("frag0");
    create->set_start_revision(first);  // history: read in one batch of every put
    create->set_fragment(fragment);
    ASSERT_TRUE(stream->Write(req));
    pb::WatchResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    ASSERT_TRUE(resp.created());
    std::vector<pb::WatchResponse> got;
    int events = 0;
    while (events < kPuts && stream->Read(&resp)) {
      events += resp.events_size();
      got.push_back(resp);
    }
    ASSERT_EQ(events, kPuts);
    int64_t next = first;
    for (const pb::WatchResponse& r : got) {
      for (const auto& e : r.events()) EXPECT_EQ(e.kv().mod_revision(), next++);
    }
    if (fragment) {
      ASSERT_GE(got.size(), 2u);
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].fragment(), i + 1 < got.size()) << i;
        EXPECT_LT(got[i].ByteSizeLong(), limit) << i;
      }
    } else {
      ASSERT_EQ(got.size(), 1u);
      EXPECT_FALSE(got[0].fragment());
      EXPECT_GE(got[0].ByteSizeLong(), limit);
    }
    ctx.TryCancel();
  }
}

// --auto-compaction-mode revision through the server: the leader's compactor keeps the last
// N revisions (etcd's v3compactor.Revision). Its interval is etcd's fixed 5 minutes; the test
// shortens it through ServerConfig (no flag sets it).
class RevisionCompactionDaemonTest : public DaemonTest {
 protected:
  void Tune(ServerConfig* c) override {
    c->auto_compaction_mode = "revision";
    c->auto_compaction_retention = "5";
    c->auto_compaction_revision_interval_ms = 100;
  }
};

TEST_F(RevisionCompactionDaemonTest, AutoCompaction_oldRevisionsBecomeCompacted) {
  pb::PutResponse put;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Put("ac", std::to_string(i), &put).ok());
  const int64_t last = put.header().revision();
  pb::RangeResponse got;
  // The next run after the last put compacts to last - 5.
  ASSERT_TRUE(WaitFor([&] { return !Get("ac", &got, last - 6).ok(); }));
  grpc::Status s = Get("ac", &got, last - 6);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(s.error_message(), "etcdserver: mvcc: required revision has been compacted");
  s = Get("ac", &got, last - 5);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(got.kvs_size(), 1);
  EXPECT_EQ(got.kvs(0).value(), "14");
  EXPECT_EQ(got.header().revision(), last);
  s = Get("ac", &got, 2);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
}

TEST(DaemonStart, TakenClientPortIsAClearError) {
  TempDir dir;
  Ports ports;
  Result<std::unique_ptr<Daemon>> first =
      Daemon::Start(OneMemberConfig("a", (dir.path() / "a").string(), ports));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Ports other;
  other.client = ports.client;
  Result<std::unique_ptr<Daemon>> second =
      Daemon::Start(OneMemberConfig("b", (dir.path() / "b").string(), other));
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen for clients on " + ports.client_url()),
            std::string::npos)
      << second.status().ToString();
}

}  // namespace
}  // namespace raftkv::server::daemon
