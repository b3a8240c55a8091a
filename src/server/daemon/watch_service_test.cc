// The Watch service of a one-member raftkvd started in-process, driven with etcd's generated
// gRPC stubs: how it treats a client that sends requests without reading the answers, an
// undecodable request, and the per-stream watcher limit as a flag sets it.
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <thread>

#include "server/daemon/daemon.h"
#include "server/daemon/test_util.h"
#include "watch/hub.h"

namespace raftkv::server::daemon {
namespace {

using namespace raftkv::server::daemon::testing;
namespace pb = etcdserverpb;

class WatchServiceTest : public ::testing::Test {
 protected:
  virtual void Tune(ServerConfig*) {}

  void SetUp() override {
    config_ = OneMemberConfig("w1", (dir_.path() / "w1").string(), ports_);
    Tune(&config_);
    Result<std::unique_ptr<Daemon>> d = Daemon::Start(config_);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    daemon_ = std::move(d).value();
    channel_ = grpc::CreateChannel(ports_.endpoint(), grpc::InsecureChannelCredentials());
    watch_ = pb::Watch::NewStub(channel_);
  }

  static pb::WatchRequest CreateRequest(int64_t id, const std::string& key) {
    pb::WatchRequest req;
    req.mutable_create_request()->set_key(key);
    req.mutable_create_request()->set_watch_id(id);
    return req;
  }
  static pb::WatchRequest CancelRequest(int64_t id) {
    pb::WatchRequest req;
    req.mutable_cancel_request()->set_watch_id(id);
    return req;
  }

  TempDir dir_;
  Ports ports_;
  ServerConfig config_;
  std::unique_ptr<Daemon> daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Watch::Stub> watch_;
};

// etcd bounds a stream's unsent control answers (a channel of 16 its receive loop blocks on),
// so gRPC's flow control holds back a client that never reads. 100,000 requests (50,000
// create + cancel pairs, 200-byte keys) from a client that reads nothing: the server's
// backlog of unsent answers never passes 16; once the client reads, every answer arrives, in
// order.
TEST_F(WatchServiceTest, ControlReplies_unreadAreBoundedAndArriveInOrderOnceRead) {
  constexpr int kPairs = 50000;
  const std::string pad(200, 'p');
  grpc::ClientContext ctx;
  auto stream = watch_->Watch(&ctx);
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 1; i <= kPairs; ++i) {
      if (!stream->Write(CreateRequest(i, pad + std::to_string(i)))) return;
      written.fetch_add(1);
      if (!stream->Write(CancelRequest(i))) return;
      written.fetch_add(1);
    }
  });
  // Wait until the writer stops making progress (held back, or done: gRPC C++'s transport
  // auto-tunes its flow-control window and may take in all ~21 MB of requests; those wait
  // in gRPC's buffers, bounded by that window, not in raftkvd's queue).
  int last = -1;
  for (int tries = 0; tries < 60 && written.load() != last; ++tries) {
    last = written.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::printf("requests written before reading: %d of %d\n", written.load(), 2 * kPairs);
  watch::Hub& hub = daemon_->server()->WatchHub();
  EXPECT_LE(hub.control_backlog_peak(), 16u);

  pb::WatchResponse resp;
  for (int i = 1; i <= kPairs; ++i) {
    ASSERT_TRUE(stream->Read(&resp)) << i;
    ASSERT_TRUE(resp.created() && !resp.canceled()) << i << " " << resp.ShortDebugString();
    ASSERT_EQ(resp.watch_id(), i);
    ASSERT_TRUE(stream->Read(&resp)) << i;
    ASSERT_TRUE(resp.canceled() && !resp.created()) << i << " " << resp.ShortDebugString();
    ASSERT_EQ(resp.watch_id(), i);
  }
  writer.join();
  EXPECT_EQ(written.load(), 2 * kPairs);
  EXPECT_LE(hub.control_backlog_peak(), 16u);
  ctx.TryCancel();
}

// The sender writes a batch of responses with gRPC's buffer hint on all but the last (one
// sendmsg per batch). 200 watchers on one stream, created from an old revision (created and
// history responses mixed in batches), then live puts: every watcher gets `created` first and
// then every revision exactly once, in order, with the header at the last revision sent, and
// nothing is held back (the deadline fails the test instead). The hang of a hinted *first*
// write is not reproducible with this C++ client (its own pings and window updates make the
// server's transport write); e2e_watch test_etcdctl_watch_from_a_compacted_revision_is_cancelled
// catches it (etcdctl times out with the first write hinted).
TEST_F(WatchServiceTest, BatchedWrites_manyWatchersGetEveryEventInOrder) {
  constexpr int kWatchers = 200, kBefore = 10, kLive = 20;
  auto kv = pb::KV::NewStub(channel_);
  auto put = [&](int i) {
    grpc::ClientContext ctx;
    pb::PutRequest req;
    req.set_key("k");
    req.set_value("v" + std::to_string(i));
    pb::PutResponse resp;
    ASSERT_TRUE(kv->Put(&ctx, req, &resp).ok());
  };
  for (int i = 0; i < kBefore; ++i) put(i);  // revisions 2..11
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = watch_->Watch(&ctx);
  for (int id = 1; id <= kWatchers; ++id) {
    pb::WatchRequest req = CreateRequest(id, "k");
    req.mutable_create_request()->set_start_revision(2);
    ASSERT_TRUE(stream->Write(req));
  }
  std::thread writer([&] {
    for (int i = kBefore; i < kBefore + kLive; ++i) put(i);  // revisions 12..31
  });
  std::map<int64_t, int64_t> next;  // watcher -> the revision it expects next
  int64_t events = 0;
  pb::WatchResponse resp;
  while (events < int64_t{kWatchers} * (kBefore + kLive) && stream->Read(&resp)) {
    const int64_t id = resp.watch_id();
    if (resp.created()) {
      ASSERT_FALSE(resp.canceled()) << resp.ShortDebugString();
      ASSERT_EQ(next.count(id), 0u) << "created twice: " << id;
      next[id] = 2;
      continue;
    }
    ASSERT_EQ(next.count(id), 1u) << "events before created: " << id;
    ASSERT_GT(resp.events_size(), 0) << resp.ShortDebugString();
    for (const auto& e : resp.events()) {
      ASSERT_EQ(e.kv().mod_revision(), next[id]) << "watcher " << id;
      ASSERT_EQ(e.kv().value(), "v" + std::to_string(next[id] - 2));
      ++next[id];
      ++events;
    }
    EXPECT_EQ(resp.header().revision(), next[id] - 1) << "header at the last revision sent";
  }
  writer.join();
  ASSERT_EQ(events, int64_t{kWatchers} * (kBefore + kLive)) << "a read failed or timed out";
  for (const auto& [id, rev] : next) EXPECT_EQ(rev, 2 + kBefore + kLive) << "watcher " << id;
  EXPECT_EQ(next.size(), static_cast<size_t>(kWatchers));
  ctx.TryCancel();
}

// The service parses requests itself (gRPC's raw method): bytes that are no WatchRequest end
// the call with Internal, as gRPC-Go's server (etcd) answers a request it cannot decode, and
// the member keeps serving other streams.
TEST_F(WatchServiceTest, UndecodableRequest_endsTheCallWithInternal) {
  grpc::GenericStub generic(channel_);
  grpc::ClientContext ctx;
  grpc::CompletionQueue cq;
  auto await = [&cq](intptr_t want) {
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), want);
    return ok;
  };
  auto call = generic.PrepareCall(&ctx, "/etcdserverpb.Watch/Watch", &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(await(1));
  const char garbage[] = {0x0f, 0x01, 0x02};  // field 1 with wire type 7: no such type
  grpc::Slice slice(garbage, sizeof(garbage));
  grpc::ByteBuffer bytes(&slice, 1);
  call->Write(bytes, reinterpret_cast<void*>(2));
  await(2);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(3));
  ASSERT_TRUE(await(3));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(status.error_message().rfind("grpc: error unmarshalling request", 0), 0u)
      << status.error_message();
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }

  grpc::ClientContext ctx2;  // another stream is served as before
  auto stream = watch_->Watch(&ctx2);
  ASSERT_TRUE(stream->Write(CreateRequest(7, "k")));
  pb::WatchResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_TRUE(resp.created());
  EXPECT_EQ(resp.watch_id(), 7);
  ctx2.TryCancel();
}

// --max-watchers-per-stream (ServerConfig::watch.max_watchers_per_stream; flags_test checks
// the flag sets it): a create beyond it is refused as etcd refuses one, the stream's watchers
// keep working, and a cancel makes room again.
class FewWatchersServiceTest : public WatchServiceTest {
 protected:
  void Tune(ServerConfig* c) override { c->watch.max_watchers_per_stream = 2; }
};

TEST_F(FewWatchersServiceTest, MaxWatchersPerStream_createBeyondIsRefused) {
  grpc::ClientContext ctx;
  auto stream = watch_->Watch(&ctx);
  pb::WatchResponse resp;
  for (int64_t id : {1, 2, 3}) {
    ASSERT_TRUE(stream->Write(CreateRequest(id, "k")));
    ASSERT_TRUE(stream->Read(&resp));
    EXPECT_TRUE(resp.created());
    if (id <= 2) {
      EXPECT_FALSE(resp.canceled()) << id;
      EXPECT_EQ(resp.watch_id(), id);
    } else {
      EXPECT_TRUE(resp.canceled());
      EXPECT_EQ(resp.watch_id(), -1);
      EXPECT_EQ(resp.cancel_reason(), watch::TooManyWatchersReason(2));
    }
  }
  ASSERT_TRUE(stream->Write(CancelRequest(1)));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_TRUE(resp.canceled());
  ASSERT_TRUE(stream->Write(CreateRequest(3, "k")));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_TRUE(resp.created() && !resp.canceled());
  EXPECT_EQ(resp.watch_id(), 3);
  ctx.TryCancel();
}

}  // namespace
}  // namespace raftkv::server::daemon
