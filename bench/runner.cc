#include "bench/runner.h"

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"

namespace raftkv::bench {
namespace {

using Clock = std::chrono::steady_clock;
using etcdserverpb::KV;
using KeepAliveStream = grpc::ClientAsyncReaderWriter<etcdserverpb::LeaseKeepAliveRequest,
                                                      etcdserverpb::LeaseKeepAliveResponse>;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// gRPC alarms and deadlines take system_clock time points.
std::chrono::system_clock::time_point SystemTime(Clock::time_point t) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(t - Clock::now());
}

std::string DecimalKey(uint64_t n, int size) {
  std::string digits = std::to_string(n);
  return std::string(size - digits.size(), '0') + digits;
}

// What every thread reads; written once before the threads start, except the counters.
struct Shared {
  const KvOptions* options = nullptr;
  Workload workload = Workload::kPut;
  std::string value;  // the same random value for every write, as etcd's benchmark does
  std::atomic<int64_t> budget{0};  // requests left to issue (total mode)
  Clock::time_point deadline;      // no new request after this (duration mode)
  std::atomic<uint64_t> done{0};
  const std::atomic<bool>* stop = nullptr;
};

enum class Op { kPut, kRange, kTxnPut, kKeepAlive };

// A keep-alive stream goes through these steps; one keep-alive is a write then a read.
enum class Stream { kNone, kStarting, kWriting, kReading };

// One closed-loop client: at most one request or one rate-limit alarm outstanding.
struct Client {
  KV::Stub* stub = nullptr;
  std::optional<grpc::ClientContext> ctx;
  Op op = Op::kPut;
  etcdserverpb::PutRequest put;
  etcdserverpb::RangeRequest range;
  etcdserverpb::TxnRequest txn;
  etcdserverpb::PutResponse put_resp;
  etcdserverpb::RangeResponse range_resp;
  etcdserverpb::TxnResponse txn_resp;
  std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::PutResponse>> put_reader;
  std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::RangeResponse>> range_reader;
  std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::TxnResponse>> txn_reader;
  // kKeepAlive: this client's lease and stream (opened on the first keep-alive).
  etcdserverpb::Lease::Stub* lease_stub = nullptr;
  int64_t lease_id = 0;
  Stream stream_step = Stream::kNone;
  std::unique_ptr<grpc::ClientContext> stream_ctx;
  std::unique_ptr<KeepAliveStream> stream;
  etcdserverpb::LeaseKeepAliveRequest ka_req;
  etcdserverpb::LeaseKeepAliveResponse ka_resp;
  grpc::Status status;
  grpc::Alarm alarm;
  bool waiting_alarm = false;
  Clock::time_point start;
};

class Worker {
 public:
  Worker(Shared* shared, std::vector<KV::Stub*> stubs,
         std::vector<std::pair<etcdserverpb::Lease::Stub*, int64_t>> leases, uint64_t seed)
      : shared_(shared), rng_(seed) {
    const KvOptions& o = *shared->options;
    clients_.reserve(stubs.size());
    for (size_t i = 0; i < stubs.size(); i++) {
      clients_.push_back(std::make_unique<Client>());
      clients_.back()->stub = stubs[i];
      if (i < leases.size()) {
        clients_.back()->lease_stub = leases[i].first;
        clients_.back()->lease_id = leases[i].second;
      }
    }
    if (o.rate > 0) {
      interval_ = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(o.threads / o.rate));
      burst_ = interval_ * static_cast<int64_t>(clients_.size());
    }
  }

  void Run() {
    next_slot_ = Clock::now();
    active_ = clients_.size();
    for (auto& c : clients_) Next(c.get());
    void* tag = nullptr;
    bool ok = false;
    while (active_ > 0 && cq_.Next(&tag, &ok)) {
      auto* c = static_cast<Client*>(tag);
      if (c->waiting_alarm) {
        c->waiting_alarm = false;
        Issue(c);
      } else if (c->op == Op::kKeepAlive && !StepStream(c, ok)) {
        continue;  // the keep-alive is under way
      } else {
        Finish(c);
        Next(c);
      }
    }
    finished_ = Clock::now();
    for (auto& c : clients_) {
      if (c->stream) c->stream_ctx->TryCancel();  // streams end with the run
    }
    cq_.Shutdown();
    while (cq_.Next(&tag, &ok)) {
    }
  }

  RunResult& result() { return result_; }
  Clock::time_point finished() const { return finished_; }

 private:
  bool TakeBudget() {
    if (shared_->stop != nullptr && shared_->stop->load(std::memory_order_relaxed)) return false;
    if (shared_->options->duration_s > 0) return Clock::now() < shared_->deadline;
    return shared_->budget.fetch_sub(1, std::memory_order_relaxed) > 0;
  }

  // Starts the client's next request, or waits for its rate-limit slot, or retires it.
  void Next(Client* c) {
    if (!TakeBudget()) {
      active_--;
      return;
    }
    if (interval_ != Clock::duration::zero()) {
      // A slot missed by less than burst_ may still be used, so that clients slowed by a
      // few slow responses catch up and the mean rate holds (a token bucket of one slot
      // per client).
      Clock::time_point now = Clock::now();
      Clock::time_point slot = std::max(next_slot_, now - burst_);
      next_slot_ = slot + interval_;
      if (slot > now) {
        c->waiting_alarm = true;
        c->alarm.Set(&cq_, SystemTime(slot), c);
        return;
      }
    }
    Issue(c);
  }

  Op PickOp() {
    switch (shared_->workload) {
      case Workload::kRange: return Op::kRange;
      case Workload::kTxnPut: return Op::kTxnPut;
      case Workload::kLease: return Op::kKeepAlive;
      case Workload::kMixed:
        return std::uniform_real_distribution<double>(0, 1)(rng_) < shared_->options->read_ratio
                   ? Op::kRange
                   : Op::kPut;
      default: return Op::kPut;
    }
  }

  void Issue(Client* c) {
    const KvOptions& o = *shared_->options;
    std::string key = DecimalKey(
        std::uniform_int_distribution<uint64_t>(0, o.key_space_size - 1)(rng_), o.key_size);
    c->op = PickOp();
    c->ctx.emplace();
    c->ctx->set_deadline(SystemTime(
        Clock::now() +
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_s))));
    c->start = Clock::now();
    switch (c->op) {
      case Op::kPut:
        c->put.set_key(std::move(key));
        c->put.set_value(shared_->value);
        c->put_reader = c->stub->AsyncPut(&*c->ctx, c->put, &cq_);
        c->put_reader->Finish(&c->put_resp, &c->status, c);
        break;
      case Op::kRange:
        c->range.set_key(std::move(key));
        c->range.set_serializable(o.serializable);
        c->range_reader = c->stub->AsyncRange(&*c->ctx, c->range, &cq_);
        c->range_reader->Finish(&c->range_resp, &c->status, c);
        break;
      case Op::kTxnPut: {
        c->txn.clear_success();
        auto* put = c->txn.add_success()->mutable_request_put();
        put->set_key(std::move(key));
        put->set_value(shared_->value);
        c->txn_reader = c->stub->AsyncTxn(&*c->ctx, c->txn, &cq_);
        c->txn_reader->Finish(&c->txn_resp, &c->status, c);
        break;
      }
      case Op::kKeepAlive:
        c->ka_req.set_id(c->lease_id);
        if (c->stream == nullptr) {  // the stream lives as long as the run
          c->stream_ctx = std::make_unique<grpc::ClientContext>();
          c->stream_step = Stream::kStarting;
          c->stream = c->lease_stub->AsyncLeaseKeepAlive(c->stream_ctx.get(), &cq_, c);
        } else {
          c->stream_step = Stream::kWriting;
          c->stream->Write(c->ka_req, c);
        }
        break;
    }
  }

  // Advances a keep-alive: started -> write -> read. True once it is complete (c->status
  // says how it went); a broken stream is dropped and reopened by the next keep-alive.
  bool StepStream(Client* c, bool ok) {
    if (!ok) {
      c->status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "keep-alive stream broken");
      c->stream_ctx->TryCancel();
      broken_.push_back(std::move(c->stream));  // destroyed after the queue is drained
      broken_ctx_.push_back(std::move(c->stream_ctx));
      c->stream_step = Stream::kNone;
      return true;
    }
    switch (c->stream_step) {
      case Stream::kStarting:
        c->stream_step = Stream::kWriting;
        c->stream->Write(c->ka_req, c);
        return false;
      case Stream::kWriting:
        c->stream_step = Stream::kReading;
        c->stream->Read(&c->ka_resp, c);
        return false;
      default:
        c->stream_step = Stream::kNone;
        c->status = c->ka_resp.ttl() > 0
                        ? grpc::Status::OK
                        : grpc::Status(grpc::StatusCode::NOT_FOUND, "keep-alive answered TTL 0");
        return true;
    }
  }

  void Finish(Client* c) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - c->start);
    if (c->status.ok()) {
      result_.latency_ns.Record(static_cast<uint64_t>(ns.count()));
      result_.ok++;
    } else {
      result_.failed++;
      result_.errors[GrpcCodeName(c->status.error_code()) + ": " + c->status.error_message()]++;
    }
    shared_->done.fetch_add(1, std::memory_order_relaxed);
  }

  Shared* shared_;
  std::mt19937_64 rng_;
  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<Client>> clients_;
  size_t active_ = 0;
  Clock::duration interval_ = Clock::duration::zero();
  Clock::duration burst_ = Clock::duration::zero();
  Clock::time_point next_slot_;
  // Broken keep-alive streams and their contexts, kept until the run ends (a context must
  // outlive its stream: declared first, destroyed last).
  std::vector<std::unique_ptr<grpc::ClientContext>> broken_ctx_;
  std::vector<std::unique_ptr<KeepAliveStream>> broken_;
  RunResult result_;
  Clock::time_point finished_;
};

double CpuSeconds(const timeval& tv) {
  return tv.tv_sec + tv.tv_usec / 1e6;
}

// Waits until every channel is connected, so that the run does not time TCP setup.
Status WaitConnected(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                     const std::vector<std::string>& endpoints, double timeout_s) {
  auto deadline = std::chrono::system_clock::now() +
                  std::chrono::duration_cast<std::chrono::system_clock::duration>(
                      std::chrono::duration<double>(timeout_s));
  for (size_t i = 0; i < channels.size(); i++) {
    if (!channels[i]->WaitForConnected(deadline)) {
      return Status::Unavailable("cannot connect to " + endpoints[i % endpoints.size()]);
    }
  }
  return Status::OK();
}

std::string RandomValue(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string v(size, '\0');
  for (char& ch : v) ch = static_cast<char>('a' + rng() % 26);
  return v;
}

Result<std::string> ReadPem(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in || ss.str().empty()) return Status::InvalidArgument(flag + ": cannot read " + path);
  return ss.str();
}

}  // namespace

Result<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const KvOptions& o) {
  if (o.cacert.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  auto ca = ReadPem("--cacert", o.cacert);
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *ca;
  if (!o.cert.empty()) {
    auto cert = ReadPem("--cert", o.cert);
    if (!cert.ok()) return cert.status();
    auto key = ReadPem("--key", o.key);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

std::shared_ptr<grpc::Channel> Connect(const std::string& endpoint, int index,
                                       const std::shared_ptr<grpc::ChannelCredentials>& creds) {
  grpc::ChannelArguments args;
  // Without these, channels to the same address share one TCP connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("raftkv.bench.conn", index);
  return grpc::CreateCustomChannel(endpoint, creds, args);
}

std::string GrpcCodeName(int code) {
  static const char* const kNames[] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  if (code >= 0 && code < static_cast<int>(std::size(kNames))) return kNames[code];
  return "Code" + std::to_string(code);
}

Result<std::string> FindLeader(const std::vector<std::string>& endpoints, double timeout_s,
                               const std::shared_ptr<grpc::ChannelCredentials>& creds) {
  std::string errors;
  for (const auto& endpoint : endpoints) {
    auto stub = etcdserverpb::Maintenance::NewStub(Connect(endpoint, 0, creds));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
    etcdserverpb::StatusResponse resp;
    grpc::Status st = stub->Status(&ctx, etcdserverpb::StatusRequest(), &resp);
    if (!st.ok()) {
      errors += " " + endpoint + ": " + GrpcCodeName(st.error_code()) + " " + st.error_message();
      continue;
    }
    if (resp.leader() != 0 && resp.leader() == resp.header().member_id()) return endpoint;
  }
  return Status::Unavailable("no endpoint reports itself leader;" + errors);
}

Result<RunResult> RunKv(Workload workload, const KvOptions& options, const ProgressFn& progress,
                        const std::atomic<bool>* stop) {
  std::vector<std::string> endpoints = options.endpoints;
  auto creds = ChannelCredentials(options);
  if (!creds.ok()) return creds.status();
  if (options.target_leader) {
    auto leader = FindLeader(endpoints, options.timeout_s, *creds);
    if (!leader.ok()) return leader.status();
    endpoints = {*leader};
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<KV::Stub>> stubs;
  for (int i = 0; i < options.conns; i++) {
    channels.push_back(Connect(endpoints[i % endpoints.size()], i, *creds));
    stubs.push_back(KV::NewStub(channels.back()));
  }
  RAFTKV_RETURN_IF_ERROR(WaitConnected(channels, endpoints, options.timeout_s));

  Shared shared;
  shared.options = &options;
  shared.workload = workload;
  shared.value = RandomValue(options.val_size, options.seed);
  shared.budget = static_cast<int64_t>(std::min<uint64_t>(options.total, INT64_MAX));
  shared.stop = stop;
  // The lease workload: one lease per client, granted before the clock starts (TTL 60 s:
  // far longer than any gap between two keep-alives).
  std::vector<std::unique_ptr<etcdserverpb::Lease::Stub>> lease_stubs;
  std::vector<std::pair<etcdserverpb::Lease::Stub*, int64_t>> leases;
  if (workload == Workload::kLease) {
    for (auto& ch : channels) lease_stubs.push_back(etcdserverpb::Lease::NewStub(ch));
    for (int i = 0; i < options.clients; i++) {
      auto* stub = lease_stubs[i % options.conns].get();
      grpc::ClientContext ctx;
      ctx.set_deadline(SystemTime(Clock::now() + std::chrono::seconds(10)));
      etcdserverpb::LeaseGrantRequest req;
      req.set_ttl(60);
      etcdserverpb::LeaseGrantResponse resp;
      grpc::Status st = stub->LeaseGrant(&ctx, req, &resp);
      if (!st.ok()) return Status::Unavailable("lease grant failed: " + st.error_message());
      leases.emplace_back(stub, resp.id());
    }
  }
  std::vector<std::vector<KV::Stub*>> per_thread(options.threads);
  std::vector<std::vector<std::pair<etcdserverpb::Lease::Stub*, int64_t>>> leases_per_thread(
      options.threads);
  for (int i = 0; i < options.clients; i++) {
    per_thread[i % options.threads].push_back(stubs[i % options.conns].get());
    if (!leases.empty()) leases_per_thread[i % options.threads].push_back(leases[i]);
  }
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < options.threads; t++) {
    workers.push_back(std::make_unique<Worker>(&shared, per_thread[t], leases_per_thread[t],
                                               options.seed * 1000 + t));
  }

  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  Clock::time_point start = Clock::now();
  shared.deadline = start + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(options.duration_s));
  std::vector<std::thread> threads;
  std::atomic<int> running{options.threads};
  for (auto& w : workers) {
    threads.emplace_back([&w, &running] {
      w->Run();
      running--;
    });
  }
  while (running.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (progress)
      progress(shared.done.load(std::memory_order_relaxed), Seconds(Clock::now() - start));
  }
  for (auto& t : threads) t.join();
  RunResult result;
  // Up to the last completion, not to the end of the progress poll.
  Clock::time_point end = start;
  for (auto& w : workers) end = std::max(end, w->finished());
  result.elapsed_s = Seconds(end - start);
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  result.cpu_user_s = CpuSeconds(after.ru_utime) - CpuSeconds(before.ru_utime);
  result.cpu_sys_s = CpuSeconds(after.ru_stime) - CpuSeconds(before.ru_stime);
  result.endpoints = endpoints;
  for (auto& w : workers) {
    RunResult& r = w->result();
    result.latency_ns.Merge(r.latency_ns);
    result.ok += r.ok;
    result.failed += r.failed;
    for (auto& [k, v] : r.errors) result.errors[k] += v;
  }
  return result;
}

}  // namespace raftkv::bench
