// raftkv-grpc-floor: the least a KV server on gRPC C++ can cost per call. It answers KV.Range,
// KV.Put and KV.Compact at once (an empty response with a header, no store, no raft, no disk)
// Maintenance.Status naming itself the leader and Cluster.MemberList, on gRPC's callback API with
// raftkvd's client-side server options (the answers: null_answers.h, shared with
// raftkv-h2-floor, the same server on libnghttp2). Driven by the same load generator as raftkvd and
// etcd
//
//     bench/compare-etcd --ab floor=build/bin/raftkv-grpc-floor --ab raftkvd=build/bin/raftkvd
//         --with-etcd ...
//
// its server CPU per request is what gRPC alone costs: no server that keeps gRPC C++ for its
// clients can do a request for less (docs/benchmarks.md, issue 13). It takes etcd's flags so
// compare-etcd can start it like a member: it listens on --listen-client-urls (http:// only)
// and ignores every other flag.
#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "null_answers.h"

namespace {

namespace na = raftkv::bench::null_answers;

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

class NullKv final : public etcdserverpb::KV::CallbackService {
  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::RangeRequest* req,
                                  etcdserverpb::RangeResponse* resp) override {
    na::Range(*req, resp);
    return Done(ctx);
  }
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx,
                                const etcdserverpb::PutRequest* req,
                                etcdserverpb::PutResponse* resp) override {
    na::Put(*req, resp);
    return Done(ctx);
  }
  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* ctx,
                                    const etcdserverpb::CompactionRequest* req,
                                    etcdserverpb::CompactionResponse* resp) override {
    na::Compact(*req, resp);
    return Done(ctx);
  }
};

class NullMaintenance final : public etcdserverpb::Maintenance::CallbackService {
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::StatusRequest* req,
                                   etcdserverpb::StatusResponse* resp) override {
    na::Status(*req, resp);
    return Done(ctx);
  }
};

class NullCluster final : public etcdserverpb::Cluster::CallbackService {
 public:
  explicit NullCluster(std::vector<std::string> client_urls)
      : client_urls_(std::move(client_urls)) {}

 private:
  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::MemberListRequest* req,
                                       etcdserverpb::MemberListResponse* resp) override {
    na::MemberList(client_urls_, *req, resp);
    return Done(ctx);
  }
  const std::vector<std::string> client_urls_;
};

}  // namespace

int main(int argc, char** argv) {
  // SIGTERM/SIGINT are taken by sigwait below; blocked before gRPC starts its threads, which
  // inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::vector<std::string> urls = na::ClientUrls(argc, argv);
  if (urls.empty()) {
    std::fprintf(stderr, "raftkv-grpc-floor: --listen-client-urls http://host:port is required\n");
    return 2;
  }
  NullKv kv;
  NullMaintenance maintenance;
  NullCluster cluster(urls);
  grpc::ServerBuilder builder;
  for (const std::string& url : urls) {
    const std::string a = na::HostPort(url);
    if (a.empty()) {
      std::fprintf(stderr, "raftkv-grpc-floor: only http:// client URLs are served\n");
      return 2;
    }
    builder.AddListeningPort(a, grpc::InsecureServerCredentials());
  }
  // raftkvd's client-side options (src/server/daemon/daemon.cc).
  builder.SetMaxSendMessageSize(INT_MAX);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.RegisterService(&kv);
  builder.RegisterService(&maintenance);
  builder.RegisterService(&cluster);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    std::fprintf(stderr, "raftkv-grpc-floor: cannot listen\n");
    return 1;
  }
  int signal = 0;
  sigwait(&signals, &signal);
  server->Shutdown();
  return 0;
}
