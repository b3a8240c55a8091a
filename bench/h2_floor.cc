// raftkv-h2-floor: the least raftkvd's client front (src/front: an HTTP/2 + gRPC framing server
// of our own on Debian's libnghttp2, no gRPC C++) can cost per call. It is the front with a
// Handler that answers exactly what raftkv-grpc-floor answers (null_answers.h: KV.Range,
// KV.Put and KV.Compact at once with an empty response and a header, Maintenance.Status naming
// itself the leader, Cluster.MemberList; every other method Unimplemented), so that the two
// null servers driven by the same load generator
//
//     bench/compare-etcd --ab grpc=build/bin/raftkv-grpc-floor --ab h2=build/bin/raftkv-h2-floor
//         --with-etcd ...
//
// differ only in the transport (docs/benchmarks.md, "An HTTP/2 server of our own").
//
// RAFTKV_FRONT_THREADS sets the front's loop threads (default: the number of cores).
// RAFTKV_H2_HANDOFF=1 answers on one other thread, as raftkvd's raft and apply threads do,
// and the answers go back through the front's mailboxes. At exit it prints the calls served,
// the reads and the writes.
//
// It takes etcd's flags so compare-etcd can start it like a member: it listens on
// --listen-client-urls (http:// only) and ignores every other flag; SIGTERM/SIGINT stop it.
#include <pthread.h>
#include <signal.h>

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "etcdserverpb/rpc.pb.h"
#include "front/front.h"
#include "front/wire.h"
#include "null_answers.h"

namespace {

namespace na = raftkv::bench::null_answers;
namespace pb = etcdserverpb;

template <class Req, class Resp, class F>
void Answer(const raftkv::front::Call& call, F answer_fn) {
  Req req;
  if (!req.ParseFromArray(call.message.data(), static_cast<int>(call.message.size()))) {
    call.reply.Error(raftkv::front::kGrpcInternal, "bad request");
    return;
  }
  Resp resp;
  answer_fn(req, &resp);
  call.reply.Ok(resp.SerializeAsString());
}

// Answers `call` (any thread).
void Dispatch(const raftkv::front::Call& call, const std::vector<std::string>& urls) {
  const std::string& path = call.path;
  if (path == "/etcdserverpb.KV/Range") {
    return Answer<pb::RangeRequest, pb::RangeResponse>(call, na::Range);
  }
  if (path == "/etcdserverpb.KV/Put") return Answer<pb::PutRequest, pb::PutResponse>(call, na::Put);
  if (path == "/etcdserverpb.KV/Compact") {
    return Answer<pb::CompactionRequest, pb::CompactionResponse>(call, na::Compact);
  }
  if (path == "/etcdserverpb.Maintenance/Status") {
    return Answer<pb::StatusRequest, pb::StatusResponse>(call, na::Status);
  }
  if (path == "/etcdserverpb.Cluster/MemberList") {
    return Answer<pb::MemberListRequest, pb::MemberListResponse>(
        call, [&urls](const pb::MemberListRequest& req, pb::MemberListResponse* resp) {
          na::MemberList(urls, req, resp);
        });
  }
  call.reply.Error(raftkv::front::kGrpcUnimplemented, "unknown method " + path);
}

// The null handler: every call is served (nothing is forwarded), at once or by the answering
// thread (RAFTKV_H2_HANDOFF=1), which takes calls in batches as raftkvd's threads do.
class NullHandler final : public raftkv::front::Handler {
 public:
  struct Job {
    raftkv::front::Call call;
    std::string message;
  };

  NullHandler(const std::vector<std::string>* urls, bool handoff) : urls_(urls) {
    if (handoff) answering_ = std::thread([this] { Run(); });
  }
  ~NullHandler() override {
    if (!answering_.joinable()) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    answering_.join();
  }

  bool Serves(std::string_view) const override { return true; }

  void Serve(raftkv::front::Call call) override {
    if (!answering_.joinable()) return Dispatch(call, *urls_);
    Job job{std::move(call), std::string(call.message)};  // the view dies with Serve
    {
      std::lock_guard<std::mutex> l(mu_);
      queue_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void Run() {
    std::deque<Job> batch;
    for (;;) {
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [this] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        batch.swap(queue_);
      }
      for (Job& j : batch) {
        j.call.message = j.message;  // where the bytes are now
        Dispatch(j.call, *urls_);
      }
      batch.clear();
    }
  }

  const std::vector<std::string>* urls_;
  std::thread answering_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stop_ = false;
};

int Threads() {
  if (const char* env = std::getenv("RAFTKV_FRONT_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 2 : static_cast<int>(cores);
}

}  // namespace

int main(int argc, char** argv) {
  // SIGTERM/SIGINT are taken with sigwait; blocked before the loops start so that they
  // inherit the mask. Writes use MSG_NOSIGNAL; SIGPIPE is ignored anyway.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  const std::vector<std::string> urls = na::ClientUrls(argc, argv);
  if (urls.empty()) {
    std::fprintf(stderr, "raftkv-h2-floor: --listen-client-urls http://host:port is required\n");
    return 2;
  }
  std::vector<std::string> addresses;
  for (const std::string& url : urls) {
    const std::string a = na::HostPort(url);
    if (a.empty()) {
      std::fprintf(stderr, "raftkv-h2-floor: only http:// client URLs are served\n");
      return 2;
    }
    addresses.push_back(a);
  }
  const char* env = std::getenv("RAFTKV_H2_HANDOFF");
  NullHandler handler(&urls, env != nullptr && std::string_view(env) == "1");
  raftkv::front::Options options;
  options.threads = Threads();
  auto server = raftkv::front::Server::Start(addresses, std::move(options), &handler);
  if (!server.ok()) {
    std::fprintf(stderr, "raftkv-h2-floor: %s\n", server.status().message().c_str());
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  (*server)->Stop();
  const raftkv::front::Counters c = (*server)->counters();
  std::fprintf(stderr,
               "raftkv-h2-floor: %llu calls served, %llu reads, %llu writes (%.2f answers per "
               "write)\n",
               static_cast<unsigned long long>(c.served), static_cast<unsigned long long>(c.reads),
               static_cast<unsigned long long>(c.writes),
               c.writes == 0 ? 0.0 : static_cast<double>(c.served) / c.writes);
  return 0;
}
