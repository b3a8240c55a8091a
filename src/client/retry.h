// The client's retry policy, kept apart from gRPC plumbing so it can be tested alone:
// which errors are worth another try (and on which member), and how long to wait between
// tries.
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include "common/status.h"

namespace raftkv::client {

// What an RPC's outcome means for the next step.
enum class Disposition {
  kDone,             // success
  kRetryNotApplied,  // refused before anything was proposed (no leader, overloaded): any
                     // request may be sent again, to another member
  kRetryAmbiguous,   // timed out or the connection broke: a write may or may not have been
                     // applied; only reads and session writes (deduplicated) may be resent
  kSessionExpired,   // the server no longer knows our client session
  kFatal,            // the request itself was refused (bad argument, compacted, ...)
};

Disposition Classify(const grpc::Status& s);

// The raftkv::Status a caller sees for a gRPC error; the message is the server's (etcd's
// exact text, e.g. "etcdserver: mvcc: required revision has been compacted").
Status FromGrpc(const grpc::Status& s);

// Exponential backoff with full jitter, capped: the n-th wait after a failure is uniform in
// [initial * 2^n / 2, initial * 2^n], at most `max`. Reset after a success.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed)
      : initial_(initial), max_(max), rng_(seed) {}

  std::chrono::milliseconds Next();
  void Reset() { failures_ = 0; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  int failures_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace raftkv::client
