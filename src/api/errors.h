// The gRPC face of raftkv's errors: etcd 3.4's exact codes and messages (its v3rpc/rpctypes),
// because etcd's clients recognise errors by their description, and request validation done
// at the API edge the way etcd's v3rpc does it (before anything reaches raft or the store).
#pragma once

#include <grpcpp/support/status.h>

#include <cstdint>

#include "common/status.h"
#include "etcdserverpb/rpc.pb.h"

namespace raftkv::api {

// Server-level errors raftkvd will report (the store's own are in kv/errors.h). Build the
// raftkv::Status with exactly this message; ToGrpcStatus gives it etcd's code.
inline constexpr char kErrNoLeader[] = "etcdserver: no leader";
inline constexpr char kErrNotLeader[] = "etcdserver: not leader";
inline constexpr char kErrLeaderChanged[] = "etcdserver: leader changed";
inline constexpr char kErrStopped[] = "etcdserver: server stopped";
inline constexpr char kErrTimeout[] = "etcdserver: request timed out";
inline constexpr char kErrRequestTooLarge[] = "etcdserver: request is too large";
inline constexpr char kErrTooManyRequests[] = "etcdserver: too many requests";
inline constexpr char kErrCorrupt[] = "etcdserver: corrupt cluster";
inline constexpr char kErrNoSpace[] = "etcdserver: mvcc: database space exceeded";
inline constexpr char kErrMemberNotFound[] = "etcdserver: member not found";
inline constexpr char kErrBadLeaderTransferee[] = "etcdserver: bad leader transferee";
inline constexpr char kErrLeaseExist[] = "etcdserver: lease already exists";
inline constexpr char kErrTimeoutLeaderTransfer[] =
    "etcdserver: request timed out, leader transfer took too long";
inline constexpr char kErrUnhealthy[] = "etcdserver: unhealthy cluster";
inline constexpr char kErrNotSupportedForLearner[] = "etcdserver: rpc not supported for learner";
// Cluster membership (etcd's rpctypes).
inline constexpr char kErrMemberExist[] = "etcdserver: member ID already exist";
inline constexpr char kErrPeerUrlExist[] = "etcdserver: Peer URLs already exists";
inline constexpr char kErrMemberBadUrls[] = "etcdserver: given member URLs are invalid";
inline constexpr char kErrMemberNotLearner[] = "etcdserver: can only promote a learner member";
inline constexpr char kErrLearnerNotReady[] =
    "etcdserver: can only promote a learner member which is in sync with leader";
inline constexpr char kErrTooManyLearners[] = "etcdserver: too many learner members in cluster";
inline constexpr char kErrNotEnoughStartedMembers[] =
    "etcdserver: re-configuration failed due to not enough started members";
// raftkv's own: one membership change at a time (thesis §4.1); the client may retry.
inline constexpr char kErrConfChangeInProgress[] =
    "etcdserver: a configuration change is already in progress; retry";

// etcd's default limits at its API edge (--max-txn-ops, --max-request-bytes).
inline constexpr int64_t kDefaultMaxTxnOps = 128;
inline constexpr int64_t kDefaultMaxRequestBytes = int64_t{1536} * 1024;

// Maps a Status to the grpc::Status etcd would send for the same error. Errors etcd names
// (matched on the message the store or server produced) get etcd's code and exact text, e.g.
// the store's "mvcc: required revision has been compacted" becomes OUT_OF_RANGE
// "etcdserver: mvcc: required revision has been compacted". Anything else becomes UNKNOWN
// with its message, as etcd does for errors it has no mapping for.
grpc::Status ToGrpcStatus(const Status& s);

// API-edge validation, as etcd's v3rpc checks requests. Run these before FromProto: they also
// reject enum values outside the ones declared (proto3 keeps unknown numbers), which the
// conversion does not expect. Interval checks of txns (duplicate keys) are the store's.
Status CheckRangeRequest(const etcdserverpb::RangeRequest& r);
Status CheckPutRequest(const etcdserverpb::PutRequest& r);
Status CheckDeleteRangeRequest(const etcdserverpb::DeleteRangeRequest& r);
Status CheckTxnRequest(const etcdserverpb::TxnRequest& r, int64_t max_txn_ops);
// A request whose serialized size exceeds max_request_bytes is refused (etcd checks this when
// proposing; "etcdserver: request is too large").
Status CheckRequestSize(size_t bytes, int64_t max_request_bytes);

}  // namespace raftkv::api
