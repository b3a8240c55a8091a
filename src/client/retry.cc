#include "client/retry.h"

#include <algorithm>
#include <string_view>

namespace raftkv::client {
namespace {

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// etcd's messages for a request that never reached the log (v3rpc/rpctypes): safe to send
// again anywhere.
bool NotProposed(const std::string& msg) {
  return Contains(msg, "etcdserver: no leader") || Contains(msg, "etcdserver: not leader") ||
         Contains(msg, "etcdserver: too many requests") || Contains(msg, "etcdserver: not capable");
}

// The request may have been proposed; its fate is unknown to this member.
bool MaybeProposed(const std::string& msg) {
  return Contains(msg, "etcdserver: leader changed") ||
         Contains(msg, "etcdserver: request timed out") ||
         Contains(msg, "etcdserver: server stopped");
}

}  // namespace

Disposition Classify(const grpc::Status& s) {
  if (s.ok()) return Disposition::kDone;
  const std::string& msg = s.error_message();
  if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
      Contains(msg, "client session expired or unknown")) {
    return Disposition::kSessionExpired;
  }
  if (NotProposed(msg)) return Disposition::kRetryNotApplied;
  // gRPC could not open a connection: the request never left this process.
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE && Contains(msg, "failed to connect")) {
    return Disposition::kRetryNotApplied;
  }
  if (MaybeProposed(msg)) return Disposition::kRetryAmbiguous;
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED: return Disposition::kRetryAmbiguous;
    default: return Disposition::kFatal;
  }
}

Status FromGrpc(const grpc::Status& s) {
  const std::string& msg = s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::OK: return Status::OK();
    case grpc::StatusCode::INVALID_ARGUMENT: return Status::InvalidArgument(msg);
    case grpc::StatusCode::NOT_FOUND: return Status::NotFound(msg);
    case grpc::StatusCode::OUT_OF_RANGE:
      if (Contains(msg, "compacted")) return Status::Compacted(msg);
      return Status::InvalidArgument(msg);
    case grpc::StatusCode::FAILED_PRECONDITION: return Status::FailedPrecondition(msg);
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return Status::Busy(msg);
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED: return Status::Unavailable(msg);
    default:
      return Status::Aborted("grpc code " + std::to_string(static_cast<int>(s.error_code())) +
                             ": " + msg);
  }
}

std::chrono::milliseconds Backoff::Next() {
  int64_t ceiling = initial_.count() << std::min(failures_, 20);
  ceiling = std::min<int64_t>(ceiling, max_.count());
  ++failures_;
  std::uniform_int_distribution<int64_t> jitter(ceiling / 2, ceiling);
  return std::chrono::milliseconds(jitter(rng_));
}

}  // namespace raftkv::client
