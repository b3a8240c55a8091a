// The exact error strings etcd returns for the state-machine errors raftkv reproduces.
// The server maps each Status code to a gRPC code later; clients match on these strings
// (etcd's clients compare error descriptions), so they are copied verbatim.
#pragma once

#include "common/status.h"

namespace raftkv::kv {

// mvcc package (etcd server/mvcc/kvstore.go).
inline constexpr char kErrCompacted[] = "mvcc: required revision has been compacted";
inline constexpr char kErrFutureRev[] = "mvcc: required revision is a future revision";
// etcdserver / rpctypes.
inline constexpr char kErrEmptyKey[] = "etcdserver: key is not provided";
inline constexpr char kErrKeyNotFound[] = "etcdserver: key not found";
inline constexpr char kErrValueProvided[] = "etcdserver: value is provided";
inline constexpr char kErrLeaseProvided[] = "etcdserver: lease is provided";
inline constexpr char kErrDuplicateKey[] = "etcdserver: duplicate key given in txn request";
inline constexpr char kErrTooManyOps[] = "etcdserver: too many operations in txn request";
// A put or txn naming a lease that is not in the table (same text as lease/lease_table.h).
inline constexpr char kErrLeaseNotFound[] = "etcdserver: requested lease not found";
// raftkv's own (client sessions, snapshot decoding).
inline constexpr char kErrSessionExpired[] = "raftkv: client session expired or unknown";
inline constexpr char kErrStaleSequence[] =
    "raftkv: request sequence number is older than the session's retained responses";
inline constexpr char kErrBadSnapshot[] = "raftkv: kv snapshot is corrupt";

// Status codes chosen so the server can map them to etcd's gRPC codes:
// Compacted -> OutOfRange, FutureRev -> OutOfRange, EmptyKey/ValueProvided/LeaseProvided/
// DuplicateKey/TooManyOps -> InvalidArgument, KeyNotFound -> InvalidArgument.
inline Status ErrCompacted() {
  return Status::Compacted(kErrCompacted);
}
inline Status ErrFutureRev() {
  return Status::Unavailable(kErrFutureRev);
}
inline Status ErrEmptyKey() {
  return Status::InvalidArgument(kErrEmptyKey);
}
inline Status ErrKeyNotFound() {
  return Status::InvalidArgument(kErrKeyNotFound);
}
inline Status ErrValueProvided() {
  return Status::InvalidArgument(kErrValueProvided);
}
inline Status ErrLeaseProvided() {
  return Status::InvalidArgument(kErrLeaseProvided);
}
inline Status ErrDuplicateKey() {
  return Status::InvalidArgument(kErrDuplicateKey);
}
inline Status ErrTooManyOps() {
  return Status::InvalidArgument(kErrTooManyOps);
}
inline Status ErrSessionExpired() {
  return Status::FailedPrecondition(kErrSessionExpired);
}
inline Status ErrStaleSequence() {
  return Status::FailedPrecondition(kErrStaleSequence);
}
inline Status ErrBadSnapshot(const std::string& why) {
  return Status::Corruption(std::string(kErrBadSnapshot) + ": " + why);
}

}  // namespace raftkv::kv
