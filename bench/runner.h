// The load generator of raftkv-bench: closed-loop clients issuing etcd v3 KV requests over
// gRPC's asynchronous API. Each client thread owns one CompletionQueue, a share of the
// clients and its own histogram and error counts; nothing is shared on the request path but
// two atomic counters (the request budget and the completed count for the progress line).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "bench/histogram.h"
#include "bench/options.h"
#include "common/status.h"

namespace raftkv::bench {

struct RunResult {
  Histogram latency_ns;                    // successful requests only
  std::map<std::string, uint64_t> errors;  // "CODE: message" -> count
  uint64_t ok = 0;
  uint64_t failed = 0;
  double elapsed_s = 0;
  double cpu_user_s = 0;  // this process, during the run
  double cpu_sys_s = 0;
  std::vector<std::string> endpoints;  // the endpoints actually used
  uint64_t puts = 0;                   // watch: puts the writer made (ok = events delivered)
};

// Called about every 100 ms from the calling thread with the number of completed requests
// (successful or not) and the seconds since the start.
using ProgressFn = std::function<void(uint64_t done, double elapsed_s)>;

// The credentials of every connection: plaintext, or TLS with --cacert (and --cert/--key as
// the client certificate). Fails if a file cannot be read.
Result<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const KvOptions& o);
// A connection of its own (not shared with other channels to the same address).
std::shared_ptr<grpc::Channel> Connect(const std::string& endpoint, int index,
                                       const std::shared_ptr<grpc::ChannelCredentials>& creds);

// Asks each endpoint for Maintenance.Status; returns the one whose member id is the leader
// it reports.
Result<std::string> FindLeader(const std::vector<std::string>& endpoints, double timeout_s,
                               const std::shared_ptr<grpc::ChannelCredentials>& creds);

// Runs `workload` (not kWal) with `options`. Connection setup (and the leader search) is not
// timed. `stop` may be set from a signal handler to end the run early.
Result<RunResult> RunKv(Workload workload, const KvOptions& options, const ProgressFn& progress,
                        const std::atomic<bool>* stop);

// raftkv-bench watch (watch.cc): many watchers on one key, one writer. The result counts
// events delivered (ok), their put-to-event latency, and the time from the first put to the
// last event.
Result<RunResult> RunWatch(const KvOptions& options, const ProgressFn& progress,
                           const std::atomic<bool>* stop);

// gRPC status code name as etcd's clients print it, e.g. "Unavailable".
std::string GrpcCodeName(int code);

}  // namespace raftkv::bench
