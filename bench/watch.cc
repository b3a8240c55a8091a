// raftkv-bench watch: many watchers on one key, one writer (etcd's benchmark tool's
// watch-latency workload). The watchers are spread over `streams` Watch streams, and the
// streams over the endpoints (followers serve watches too); once every watcher is created,
// the writer puts the key `rate` times a second (to the leader with --target-leader), each
// value carrying the time it was sent. Measured: events delivered per second over all
// watchers, and each event's latency from the put being sent to the event arriving.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/runner.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace raftkv::bench {
namespace {

using Clock = std::chrono::steady_clock;

double CpuSeconds(bool user) {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const timeval& t = user ? u.ru_utime : u.ru_stime;
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// One Watch stream with its share of the watchers, read on its own thread.
struct WatchStream {
  std::unique_ptr<etcdserverpb::Watch::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
      rw;
  int watchers = 0;
  Histogram latency_ns;
  uint64_t events = 0;
  int64_t last_event_ns = 0;
  std::string error;
};

struct Ready {
  std::mutex mu;
  std::condition_variable cv;
  int created = 0;  // watchers created over all streams
  int failed = 0;   // streams that failed before all their watchers were created
};

void ReadStream(WatchStream* s, const std::string& key, Ready* ready) {
  for (int i = 0; i < s->watchers; ++i) {
    etcdserverpb::WatchRequest req;
    req.mutable_create_request()->set_key(key);
    if (!s->rw->Write(req)) break;
  }
  int created = 0;
  etcdserverpb::WatchResponse resp;
  while (s->rw->Read(&resp)) {
    if (resp.created()) {
      if (resp.canceled()) s->error = "create refused: " + resp.cancel_reason();
      ++created;
      std::lock_guard<std::mutex> l(ready->mu);
      ++ready->created;
      ready->cv.notify_all();
      continue;
    }
    int64_t now = NowNs();
    for (const auto& ev : resp.events()) {
      int64_t sent = std::strtoll(ev.kv().value().c_str(), nullptr, 10);
      s->latency_ns.Record(static_cast<uint64_t>(std::max<int64_t>(0, now - sent)));
      ++s->events;
    }
    if (resp.events_size() > 0) s->last_event_ns = now;
  }
  if (created < s->watchers) {
    grpc::Status st = s->rw->Finish();
    if (s->error.empty()) s->error = st.error_message();
    std::lock_guard<std::mutex> l(ready->mu);
    ++ready->failed;
    ready->cv.notify_all();
  }
}

}  // namespace

Result<RunResult> RunWatch(const KvOptions& o, const ProgressFn& progress,
                           const std::atomic<bool>* stop) {
  std::vector<std::string> endpoints = o.endpoints;
  std::string writer_endpoint = endpoints[0];
  auto creds = ChannelCredentials(o);
  if (!creds.ok()) return creds.status();
  if (o.target_leader) {
    auto leader = FindLeader(endpoints, o.timeout_s, *creds);
    if (!leader.ok()) return leader.status();
    writer_endpoint = *leader;
  }
  const std::string key(o.key_size, 'w');
  // Connections: `conns` channels over the endpoints, streams round-robin over them.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < o.conns; ++i) {
    channels.push_back(Connect(endpoints[i % endpoints.size()], i, *creds));
  }
  std::vector<std::unique_ptr<WatchStream>> streams;
  Ready ready;
  for (int i = 0; i < o.streams; ++i) {
    auto s = std::make_unique<WatchStream>();
    s->watchers = o.watchers / o.streams + (i < o.watchers % o.streams ? 1 : 0);
    s->stub = etcdserverpb::Watch::NewStub(channels[i % channels.size()]);
    s->rw = s->stub->Watch(&s->ctx);
    streams.push_back(std::move(s));
  }
  std::vector<std::thread> readers;
  for (auto& s : streams) readers.emplace_back(ReadStream, s.get(), key, &ready);
  auto cancel_all = [&] {
    for (auto& s : streams) s->ctx.TryCancel();
    for (auto& t : readers) t.join();
  };
  {
    std::unique_lock<std::mutex> l(ready.mu);
    bool all = ready.cv.wait_for(l, std::chrono::duration<double>(o.timeout_s + 10),
                                 [&] { return ready.created >= o.watchers || ready.failed > 0; });
    if (!all || ready.failed > 0) {
      l.unlock();
      cancel_all();
      std::string why = "watchers not created";
      for (auto& s : streams) {
        if (!s->error.empty()) why = s->error;
      }
      return Status::Unavailable(why);
    }
  }

  // The writer: puts at `rate` per second (or as fast as acknowledged when rate is 0).
  auto kv = etcdserverpb::KV::NewStub(Connect(writer_endpoint, o.conns, *creds));
  RunResult result;
  result.endpoints = endpoints;
  double cpu_user0 = CpuSeconds(true), cpu_sys0 = CpuSeconds(false);
  auto start = Clock::now();
  auto deadline = start + std::chrono::duration<double>(o.duration_s);
  uint64_t puts = 0;
  auto last_progress = start;
  while (!(stop && stop->load())) {
    if (o.total > 0 ? puts >= o.total : Clock::now() >= deadline) break;
    if (o.rate > 0) {
      auto slot = start + std::chrono::duration<double>(static_cast<double>(puts) / o.rate);
      std::this_thread::sleep_until(slot);
    }
    etcdserverpb::PutRequest put;
    put.set_key(key);
    std::string value = std::to_string(NowNs());
    if (value.size() < static_cast<size_t>(o.val_size)) value.resize(o.val_size, ' ');
    put.set_value(value);
    etcdserverpb::PutResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::duration_cast<std::chrono::system_clock::duration>(
                         std::chrono::duration<double>(o.timeout_s)));
    grpc::Status st = kv->Put(&ctx, put, &resp);
    if (!st.ok()) {
      result.errors[GrpcCodeName(st.error_code()) + ": " + st.error_message()]++;
      result.failed++;
    }
    ++puts;
    if (progress && Clock::now() - last_progress > std::chrono::milliseconds(100)) {
      uint64_t events = 0;
      for (auto& s : streams) events += s->events;  // racy read: progress only
      progress(events, std::chrono::duration<double>(Clock::now() - start).count());
      last_progress = Clock::now();
    }
  }
  // Let the last events arrive: every watcher should get every acknowledged put.
  uint64_t want = (puts - result.failed) * static_cast<uint64_t>(o.watchers);
  auto drain_deadline = Clock::now() + std::chrono::duration<double>(o.timeout_s);
  while (Clock::now() < drain_deadline) {
    uint64_t got = 0;
    for (auto& s : streams) got += s->events;
    if (got >= want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  cancel_all();
  int64_t last_ns = 0;
  for (auto& s : streams) {
    result.latency_ns.Merge(s->latency_ns);
    result.ok += s->events;
    last_ns = std::max(last_ns, s->last_event_ns);
  }
  if (result.ok < want) {
    result.errors["events missing: " + std::to_string(want - result.ok) + " of " +
                  std::to_string(want)]++;
  }
  result.puts = puts;
  int64_t start_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count();
  result.elapsed_s = static_cast<double>(std::max<int64_t>(last_ns - start_ns, 1)) / 1e9;
  result.cpu_user_s = CpuSeconds(true) - cpu_user0;
  result.cpu_sys_s = CpuSeconds(false) - cpu_sys0;
  return result;
}

}  // namespace raftkv::bench
