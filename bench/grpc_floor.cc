// raftkv-grpc-floor: the least a KV server on gRPC C++ can cost per call. It answers KV.Range,
// KV.Put and KV.Compact at once (an empty response with a header, no store, no raft, no disk)
// Maintenance.Status naming itself the leader and Cluster.MemberList, on gRPC's callback API with
// raftkvd's client-side server options. Driven by the same load generator as raftkvd and etcd
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

namespace {

constexpr uint64_t kClusterId = 0x1;
constexpr uint64_t kMemberId = 0x2;

std::atomic<int64_t> revision{1};

void FillHeader(etcdserverpb::ResponseHeader* h) {
  h->set_cluster_id(kClusterId);
  h->set_member_id(kMemberId);
  h->set_revision(revision.load(std::memory_order_relaxed));
  h->set_raft_term(1);
}

class NullKv final : public etcdserverpb::KV::CallbackService {
  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::RangeRequest*,
                                  etcdserverpb::RangeResponse* resp) override {
    FillHeader(resp->mutable_header());
    return Done(ctx);
  }
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const etcdserverpb::PutRequest*,
                                etcdserverpb::PutResponse* resp) override {
    revision.fetch_add(1, std::memory_order_relaxed);
    FillHeader(resp->mutable_header());
    return Done(ctx);
  }
  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* ctx,
                                    const etcdserverpb::CompactionRequest*,
                                    etcdserverpb::CompactionResponse* resp) override {
    FillHeader(resp->mutable_header());
    return Done(ctx);
  }
  static grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

class NullMaintenance final : public etcdserverpb::Maintenance::CallbackService {
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::StatusRequest*,
                                   etcdserverpb::StatusResponse* resp) override {
    FillHeader(resp->mutable_header());
    resp->set_version("3.4.0");
    resp->set_leader(kMemberId);  // etcd's tool (--target-leader) looks for the leader
    resp->set_raftterm(1);
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// etcd's tool (--target-leader) lists the members, then asks each for its Status.
class NullCluster final : public etcdserverpb::Cluster::CallbackService {
 public:
  explicit NullCluster(std::vector<std::string> client_urls)
      : client_urls_(std::move(client_urls)) {}

 private:
  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::MemberListRequest*,
                                       etcdserverpb::MemberListResponse* resp) override {
    FillHeader(resp->mutable_header());
    etcdserverpb::Member* m = resp->add_members();
    m->set_id(kMemberId);
    m->set_name("floor");
    for (const std::string& u : client_urls_) m->add_clienturls(u);
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  const std::vector<std::string> client_urls_;
};

// "http://host:port[/]" -> "host:port"; empty if it is not an http URL.
std::string HostPort(std::string url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return "";
  url = url.substr(scheme.size());
  if (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// The --listen-client-urls, as given.
std::vector<std::string> ClientUrls(int argc, char** argv) {
  const std::string flag = "--listen-client-urls";
  std::string urls;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == flag && i + 1 < argc) urls = argv[i + 1];
    if (a.rfind(flag + "=", 0) == 0) urls = a.substr(flag.size() + 1);
  }
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= urls.size() && !urls.empty()) {
    size_t comma = urls.find(',', start);
    std::string u =
        urls.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    out.push_back(u);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // SIGTERM/SIGINT are taken by sigwait below; blocked before gRPC starts its threads, which
  // inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::vector<std::string> urls = ClientUrls(argc, argv);
  if (urls.empty()) {
    std::fprintf(stderr, "raftkv-grpc-floor: --listen-client-urls http://host:port is required\n");
    return 2;
  }
  NullKv kv;
  NullMaintenance maintenance;
  NullCluster cluster(urls);
  grpc::ServerBuilder builder;
  for (const std::string& url : urls) {
    const std::string a = HostPort(url);
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
