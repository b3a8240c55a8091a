// The front between a real gRPC client (etcd's generated stubs) and a real gRPC C++ server:
// calls it serves itself, calls it forwards (unary, bidirectional streams, large messages,
// cancellation), and what it refuses.
#include "front/front.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "front/upstream.h"
#include "front/wire.h"
#include "transport/tcp_proxy.h"

namespace raftkv::front {
namespace {

using namespace std::chrono_literals;
namespace pb = etcdserverpb;

// Behind the front: KV.Put answers with the value's size as the revision and the "token"
// metadata as prev_kv's value; KV.DeleteRange never answers until cancelled.
class BehindKv final : public pb::KV::CallbackService {
 public:
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const pb::PutRequest* req,
                                pb::PutResponse* resp) override {
    resp->mutable_header()->set_revision(static_cast<int64_t>(req->value().size()));
    auto it = ctx->client_metadata().find("token");
    if (it != ctx->client_metadata().end()) {
      resp->mutable_prev_kv()->set_value(std::string(it->second.data(), it->second.size()));
    }
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }

  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx,
                                        const pb::DeleteRangeRequest*,
                                        pb::DeleteRangeResponse*) override {
    class Hang : public grpc::ServerUnaryReactor {
     public:
      explicit Hang(BehindKv* kv) : kv_(kv) {}
      void OnCancel() override {
        kv_->cancelled.store(true);
        Finish(grpc::Status::CANCELLED);
      }
      void OnDone() override { delete this; }

     private:
      BehindKv* kv_;
    };
    (void)ctx;
    return new Hang(this);
  }

  std::atomic<bool> cancelled{false};
};

// Watch behind the front: each request's create key comes back as an event's value, in order.
class BehindWatch final : public pb::Watch::CallbackService {
 public:
  grpc::ServerBidiReactor<pb::WatchRequest, pb::WatchResponse>* Watch(
      grpc::CallbackServerContext*) override {
    class Echo : public grpc::ServerBidiReactor<pb::WatchRequest, pb::WatchResponse> {
     public:
      Echo() { StartRead(&req_); }
      void OnReadDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status::OK);
          return;
        }
        if (req_.create_request().key() == "fail") {
          Finish(grpc::Status(grpc::StatusCode::INTERNAL, "boom: "));  // gRPC's own texts end so
          return;
        }
        resp_.Clear();
        resp_.add_events()->mutable_kv()->set_value(req_.create_request().key());
        StartWrite(&resp_);
      }
      void OnWriteDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status::CANCELLED);
          return;
        }
        StartRead(&req_);
      }
      void OnDone() override { delete this; }

     private:
      pb::WatchRequest req_;
      pb::WatchResponse resp_;
    };
    return new Echo();
  }
};

// The front's handler: KV.Range. The key says how to answer: "fail" with an error, "later"
// from another thread, "never" not at all (the Reply is kept); otherwise at once, with the
// token as the value.
class RangeHandler final : public Handler {
 public:
  ~RangeHandler() override {
    for (auto& t : threads_) t.join();
  }
  bool Serves(std::string_view path) const override { return path == "/etcdserverpb.KV/Range"; }
  void Serve(Call call) override {
    pb::RangeRequest req;
    if (!req.ParseFromArray(call.message.data(), static_cast<int>(call.message.size()))) {
      call.reply.Error(kGrpcInternal, "bad request");
      return;
    }
    if (req.key() == "fail") {
      call.reply.Error(9, "etcdserver: 100% f\xc3\xbcll");
      return;
    }
    pb::RangeResponse resp;
    auto* kv = resp.add_kvs();
    kv->set_key(req.key());
    if (const std::string* token = call.Find("token")) kv->set_value(*token);
    std::string framed = resp.SerializeAsString();
    if (req.key() == "later") {
      threads_.emplace_back([reply = call.reply, framed] {
        std::this_thread::sleep_for(50ms);
        reply.Ok(framed);
      });
      return;
    }
    if (req.key() == "never") {
      std::lock_guard<std::mutex> l(mu_);
      kept_.push_back(call.reply);
      return;
    }
    call.reply.Ok(std::move(framed));
  }
  std::vector<Reply> Kept() {
    std::lock_guard<std::mutex> l(mu_);
    return kept_;
  }

 private:
  std::mutex mu_;
  std::vector<Reply> kept_;
  std::vector<std::thread> threads_;
};

class FrontTest : public ::testing::Test {
 protected:
  void SetUp() override { StartAll(/*upstream=*/true); }
  void TearDown() override {
    front_.reset();
    if (grpc_) grpc_->Shutdown(std::chrono::system_clock::now() + 1s);
  }

  void StartAll(bool upstream, size_t max_message = 4 << 20) {
    grpc::ServerBuilder b;
    b.RegisterService(&kv_);
    b.RegisterService(&watch_);
    b.SetMaxReceiveMessageSize(64 << 20);
    const std::string name = "raftkv-front-test-" + std::to_string(getpid()) + "-" +
                             std::to_string(reinterpret_cast<uintptr_t>(this));
    b.AddListeningPort("unix-abstract:" + name, grpc::InsecureServerCredentials());
    grpc_ = b.BuildAndStart();
    ASSERT_NE(grpc_, nullptr);
    Options o;
    o.threads = 2;
    o.max_message_bytes = max_message;
    if (upstream) {
      o.connect_upstream = [name] { return ConnectAbstract(name); };
    } else {
      o.connect_upstream = []() -> Result<int> { return Status::IOError("no gRPC here"); };
    }
    auto s = Server::Start({"127.0.0.1:0"}, std::move(o), &handler_);
    ASSERT_TRUE(s.ok()) << s.status().message();
    front_ = std::move(s).value();
    target_ = "127.0.0.1:" + std::to_string(front_->ports()[0]);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
  }

  pb::RangeResponse Range(const std::string& key, grpc::Status* status,
                          const char* token = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    if (token != nullptr) ctx.AddMetadata("token", token);
    pb::RangeRequest req;
    req.set_key(key);
    pb::RangeResponse resp;
    *status = pb::KV::NewStub(channel_)->Range(&ctx, req, &resp);
    return resp;
  }

  // A Watch stream through the front with one create request for `key` sent.
  static std::unique_ptr<grpc::ClientReaderWriter<pb::WatchRequest, pb::WatchResponse>> OpenWatch(
      const std::shared_ptr<grpc::Channel>& channel, grpc::ClientContext* ctx,
      const std::string& key) {
    auto stream = pb::Watch::NewStub(channel)->Watch(ctx);
    pb::WatchRequest w;
    w.mutable_create_request()->set_key(key);
    EXPECT_TRUE(stream->Write(w));
    return stream;
  }

  BehindKv kv_;
  BehindWatch watch_;
  RangeHandler handler_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<Server> front_;
  std::string target_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(FrontTest, ServesItsOwnCallsWithMetadata) {
  grpc::Status st;
  pb::RangeResponse r = Range("k", &st, "tok-1");
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(r.kvs_size(), 1);
  EXPECT_EQ(r.kvs(0).key(), "k");
  EXPECT_EQ(r.kvs(0).value(), "tok-1");
  EXPECT_EQ(front_->counters().served, 1u);
  EXPECT_EQ(front_->counters().forwarded, 0u);
}

TEST_F(FrontTest, ServedErrorKeepsCodeAndMessage) {
  grpc::Status st;
  Range("fail", &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(st.error_message(), "etcdserver: 100% f\xc3\xbcll");
}

TEST_F(FrontTest, AnswersFromAnotherThread) {
  grpc::Status st;
  pb::RangeResponse r = Range("later", &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(r.kvs(0).key(), "later");
}

TEST_F(FrontTest, ForwardsUnaryCallsWithMetadata) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("token", "tok-2");
  pb::PutRequest req;
  req.set_key("a");
  req.set_value(std::string(1234, 'v'));
  pb::PutResponse resp;
  grpc::Status st = pb::KV::NewStub(channel_)->Put(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.header().revision(), 1234);
  EXPECT_EQ(resp.prev_kv().value(), "tok-2");
  EXPECT_EQ(front_->counters().forwarded, 1u);
  EXPECT_EQ(front_->counters().served, 0u);
}

TEST_F(FrontTest, ForwardsLargeMessagesBothWays) {
  const std::string big(3 << 20, 'b');  // three times a stream's window
  grpc::ClientContext ctx;
  pb::PutRequest req;
  req.set_key("a");
  req.set_value(big);
  pb::PutResponse resp;
  ASSERT_TRUE(pb::KV::NewStub(channel_)->Put(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.header().revision(), static_cast<int64_t>(big.size()));

  grpc::ClientContext wctx;
  auto stream = pb::Watch::NewStub(channel_)->Watch(&wctx);
  for (int i = 0; i < 3; i++) {
    pb::WatchRequest w;
    w.mutable_create_request()->set_key(big + std::to_string(i));
    ASSERT_TRUE(stream->Write(w));
    pb::WatchResponse got;
    ASSERT_TRUE(stream->Read(&got));
    ASSERT_EQ(got.events_size(), 1);
    EXPECT_EQ(got.events(0).kv().value(), big + std::to_string(i));
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(FrontTest, ForwardsBidirectionalStreamsInOrder) {
  grpc::ClientContext ctx;
  auto stream = pb::Watch::NewStub(channel_)->Watch(&ctx);
  for (int i = 0; i < 200; i++) {
    pb::WatchRequest w;
    w.mutable_create_request()->set_key("k" + std::to_string(i));
    ASSERT_TRUE(stream->Write(w));
  }
  for (int i = 0; i < 200; i++) {
    pb::WatchResponse got;
    ASSERT_TRUE(stream->Read(&got));
    EXPECT_EQ(got.events(0).kv().value(), "k" + std::to_string(i));
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

// The gRPC server ends a stream with an error while the client still has its side open: the
// client gets the status, not a reset.
TEST_F(FrontTest, ForwardedStreamEndedByTheServerKeepsItsStatus) {
  grpc::ClientContext ctx;
  auto stream = OpenWatch(channel_, &ctx, "fail");
  pb::WatchResponse got;
  EXPECT_FALSE(stream->Read(&got));
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INTERNAL) << st.error_message();
  EXPECT_EQ(st.error_message(), "boom: ");
}

TEST_F(FrontTest, ClientCancellationReachesTheGrpcServer) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 200ms);
  pb::DeleteRangeRequest req;
  pb::DeleteRangeResponse resp;
  grpc::Status st = pb::KV::NewStub(channel_)->DeleteRange(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  for (int i = 0; i < 200 && !kv_.cancelled.load(); i++) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(kv_.cancelled.load());
}

TEST_F(FrontTest, MixedCallsFromManyThreadsOnOneConnection) {
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++) {
    threads.emplace_back([&, t] {
      auto kv = pb::KV::NewStub(channel_);
      for (int i = 0; i < 100; i++) {
        const std::string key = std::to_string(t) + "-" + std::to_string(i);
        grpc::ClientContext ctx;
        if (i % 2 == 0) {
          pb::RangeRequest req;
          req.set_key(key);
          pb::RangeResponse resp;
          if (!kv->Range(&ctx, req, &resp).ok() || resp.kvs(0).key() != key) bad++;
        } else {
          pb::PutRequest req;
          req.set_value(key);
          pb::PutResponse resp;
          if (!kv->Put(&ctx, req, &resp).ok() ||
              resp.header().revision() != static_cast<int64_t>(key.size())) {
            bad++;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(front_->counters().served, 400u);
  EXPECT_EQ(front_->counters().forwarded, 400u);
}

TEST_F(FrontTest, AnAnswerForAGoneCallIsDropped) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 200ms);
  pb::RangeRequest req;
  req.set_key("never");
  pb::RangeResponse resp;
  EXPECT_EQ(pb::KV::NewStub(channel_)->Range(&ctx, req, &resp).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_EQ(handler_.Kept().size(), 1u);
  handler_.Kept()[0].Ok(pb::RangeResponse().SerializeAsString());  // the stream was reset: dropped
  grpc::Status st;
  Range("after", &st);
  EXPECT_TRUE(st.ok()) << st.error_message();
  front_->Stop();
  handler_.Kept()[0].Error(kGrpcInternal, "after stop");  // the loops are gone: dropped
}

class SmallFrontTest : public FrontTest {
 protected:
  void SetUp() override { StartAll(/*upstream=*/true, /*max_message=*/1000); }
};

TEST_F(SmallFrontTest, OversizedServedRequestIsRefusedAndTheConnectionGoesOn) {
  grpc::Status st;
  Range(std::string(5000, 'k'), &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(st.error_message().find("larger than max"), std::string::npos) << st.error_message();
  Range("small", &st);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

class NoUpstreamTest : public FrontTest {
 protected:
  void SetUp() override { StartAll(/*upstream=*/false); }
};

TEST_F(NoUpstreamTest, ForwardedCallIsUnavailableWithoutAGrpcServer) {
  grpc::ClientContext ctx;
  pb::PutRequest req;
  pb::PutResponse resp;
  grpc::Status st = pb::KV::NewStub(channel_)->Put(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(st.error_message().find("gRPC server"), std::string::npos) << st.error_message();
  grpc::Status served;
  Range("k", &served);
  EXPECT_TRUE(served.ok());
}

// A client that vanishes with calls in flight (etcdctl killed while it holds a lock: a
// forwarded Watch and a served call still open). The front closes both sides and goes on.
TEST_F(FrontTest, ClientConnectionsDyingWithCallsInFlight) {
  for (int round = 0; round < 5; round++) {
    auto proxy = std::make_unique<transport::testing::FreezableProxy>(front_->ports()[0]);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(proxy->port()),
                                       grpc::InsecureChannelCredentials());
    grpc::ClientContext wctx;
    auto stream = OpenWatch(channel, &wctx, "k");
    pb::WatchResponse got;
    ASSERT_TRUE(stream->Read(&got));
    grpc::ClientContext rctx;
    pb::RangeRequest req;
    req.set_key("never");
    pb::RangeResponse resp;
    grpc::Status pending_status;
    std::atomic<bool> done{false};
    pb::KV::NewStub(channel)->async()->Range(&rctx, &req, &resp, [&](grpc::Status s) {
      pending_status = s;
      done = true;
    });
    while (handler_.Kept().size() < static_cast<size_t>(round + 1)) {
      std::this_thread::sleep_for(1ms);
    }
    proxy.reset();  // both connections of the proxy end at once
    handler_.Kept().back().Ok(pb::RangeResponse().SerializeAsString());  // dropped
    grpc::Status st;
    Range("alive", &st);
    ASSERT_TRUE(st.ok()) << "round " << round << ": " << st.error_message();
    rctx.TryCancel();
    wctx.TryCancel();
    while (!done.load()) std::this_thread::sleep_for(1ms);
    stream->Finish();
  }
}

// etcdctl's `endpoint status` sends ":authority: http://host:port", which gRPC accepts.
TEST_F(FrontTest, AcceptsWhatGrpcAcceptsInHeaders) {
  grpc::ChannelArguments args;
  args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, "http://" + target_);
  auto channel = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
  auto kv = pb::KV::NewStub(channel);
  grpc::ClientContext c1;
  pb::RangeRequest rreq;
  rreq.set_key("k");
  pb::RangeResponse rresp;
  grpc::Status st = kv->Range(&c1, rreq, &rresp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  grpc::ClientContext c2;
  pb::PutRequest preq;
  pb::PutResponse presp;
  st = kv->Put(&c2, preq, &presp);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

// "localhost" (etcd's default client URL) is every address it resolves to, as gRPC binds it:
// a client on 127.0.0.1 and one on ::1 both get in.
TEST(FrontListen, ListensOnEveryAddressOfAName) {
  RangeHandler handler;
  auto s = Server::Start({"localhost:0"}, Options{}, &handler);
  ASSERT_TRUE(s.ok()) << s.status().message();
  const int port = (*s)->ports()[0];
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  ASSERT_EQ(getaddrinfo("localhost", std::to_string(port).c_str(), &hints, &res), 0);
  int tried = 0;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(connect(fd, a->ai_addr, a->ai_addrlen), 0) << "family " << a->ai_family;
    close(fd);
    tried++;
  }
  freeaddrinfo(res);
  EXPECT_GE(tried, 1);
}

TEST_F(FrontTest, ClosesAConnectionSpeakingGarbageAndServesOthers) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(front_->ports()[0]));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_GT(write(fd, junk, sizeof junk - 1), 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[4096];
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0) {
  }
  EXPECT_EQ(r, 0) << "the front should close the connection, not time out";
  close(fd);
  grpc::Status st;
  Range("k", &st);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

}  // namespace
}  // namespace raftkv::front
