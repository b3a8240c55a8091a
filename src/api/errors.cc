#include "api/errors.h"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "auth/errors.h"
#include "kv/errors.h"
#include "lease/lease_table.h"

namespace raftkv::api {
namespace pb = etcdserverpb;

namespace {

struct GrpcError {
  grpc::StatusCode code;
  const char* message;
};

// Keyed on the message of the raftkv::Status. Store messages lack etcd's "etcdserver: "
// prefix for mvcc errors (etcd adds it only on the wire), hence the two spellings.
const std::unordered_map<std::string, GrpcError>& errorTable() {
  static const auto* table = new std::unordered_map<std::string, GrpcError>{
      {kv::kErrCompacted,
       {grpc::StatusCode::OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"}},
      {kv::kErrFutureRev,
       {grpc::StatusCode::OUT_OF_RANGE,
        "etcdserver: mvcc: required revision is a future revision"}},
      {kv::kErrEmptyKey, {grpc::StatusCode::INVALID_ARGUMENT, kv::kErrEmptyKey}},
      {kv::kErrKeyNotFound, {grpc::StatusCode::INVALID_ARGUMENT, kv::kErrKeyNotFound}},
      {kv::kErrValueProvided, {grpc::StatusCode::INVALID_ARGUMENT, kv::kErrValueProvided}},
      {kv::kErrLeaseProvided, {grpc::StatusCode::INVALID_ARGUMENT, kv::kErrLeaseProvided}},
      {kv::kErrDuplicateKey, {grpc::StatusCode::INVALID_ARGUMENT, kv::kErrDuplicateKey}},
      {kv::kErrTooManyOps, {grpc::StatusCode::INVALID_ARGUMENT, kv::kErrTooManyOps}},
      {kv::kErrLeaseNotFound, {grpc::StatusCode::NOT_FOUND, kv::kErrLeaseNotFound}},
      {kErrNoSpace, {grpc::StatusCode::RESOURCE_EXHAUSTED, kErrNoSpace}},
      {kErrNoLeader, {grpc::StatusCode::UNAVAILABLE, kErrNoLeader}},
      {kErrNotLeader, {grpc::StatusCode::FAILED_PRECONDITION, kErrNotLeader}},
      {kErrLeaderChanged, {grpc::StatusCode::UNAVAILABLE, kErrLeaderChanged}},
      {kErrStopped, {grpc::StatusCode::UNAVAILABLE, kErrStopped}},
      {kErrTimeout, {grpc::StatusCode::UNAVAILABLE, kErrTimeout}},
      {kErrRequestTooLarge, {grpc::StatusCode::INVALID_ARGUMENT, kErrRequestTooLarge}},
      {kErrTooManyRequests, {grpc::StatusCode::RESOURCE_EXHAUSTED, kErrTooManyRequests}},
      {kErrCorrupt, {grpc::StatusCode::DATA_LOSS, kErrCorrupt}},
      {kErrMemberNotFound, {grpc::StatusCode::NOT_FOUND, kErrMemberNotFound}},
      {kErrBadLeaderTransferee, {grpc::StatusCode::FAILED_PRECONDITION, kErrBadLeaderTransferee}},
      {kErrLeaseExist, {grpc::StatusCode::FAILED_PRECONDITION, kErrLeaseExist}},
      {lease::kErrLeaseTtlTooLarge, {grpc::StatusCode::OUT_OF_RANGE, lease::kErrLeaseTtlTooLarge}},
      {kErrTimeoutLeaderTransfer, {grpc::StatusCode::UNAVAILABLE, kErrTimeoutLeaderTransfer}},
      {kErrUnhealthy, {grpc::StatusCode::UNAVAILABLE, kErrUnhealthy}},
      {kErrNotSupportedForLearner, {grpc::StatusCode::UNAVAILABLE, kErrNotSupportedForLearner}},
      {kErrMemberExist, {grpc::StatusCode::FAILED_PRECONDITION, kErrMemberExist}},
      {kErrPeerUrlExist, {grpc::StatusCode::FAILED_PRECONDITION, kErrPeerUrlExist}},
      {kErrMemberBadUrls, {grpc::StatusCode::INVALID_ARGUMENT, kErrMemberBadUrls}},
      {kErrMemberNotLearner, {grpc::StatusCode::FAILED_PRECONDITION, kErrMemberNotLearner}},
      {kErrLearnerNotReady, {grpc::StatusCode::FAILED_PRECONDITION, kErrLearnerNotReady}},
      {kErrTooManyLearners, {grpc::StatusCode::FAILED_PRECONDITION, kErrTooManyLearners}},
      {kErrNotEnoughStartedMembers,
       {grpc::StatusCode::FAILED_PRECONDITION, kErrNotEnoughStartedMembers}},
      {kErrConfChangeInProgress, {grpc::StatusCode::UNAVAILABLE, kErrConfChangeInProgress}},
      // Auth (etcd's rpctypes).
      {auth::kErrRootUserNotExist,
       {grpc::StatusCode::FAILED_PRECONDITION, auth::kErrRootUserNotExist}},
      {auth::kErrRootRoleNotExist,
       {grpc::StatusCode::FAILED_PRECONDITION, auth::kErrRootRoleNotExist}},
      {auth::kErrUserAlreadyExist,
       {grpc::StatusCode::FAILED_PRECONDITION, auth::kErrUserAlreadyExist}},
      {auth::kErrUserEmpty, {grpc::StatusCode::INVALID_ARGUMENT, auth::kErrUserEmpty}},
      {auth::kErrUserNotFound, {grpc::StatusCode::FAILED_PRECONDITION, auth::kErrUserNotFound}},
      {auth::kErrRoleAlreadyExist,
       {grpc::StatusCode::FAILED_PRECONDITION, auth::kErrRoleAlreadyExist}},
      {auth::kErrRoleNotFound, {grpc::StatusCode::FAILED_PRECONDITION, auth::kErrRoleNotFound}},
      {auth::kErrRoleEmpty, {grpc::StatusCode::INVALID_ARGUMENT, auth::kErrRoleEmpty}},
      {auth::kErrAuthFailed, {grpc::StatusCode::INVALID_ARGUMENT, auth::kErrAuthFailed}},
      {auth::kErrPermissionDenied,
       {grpc::StatusCode::PERMISSION_DENIED, auth::kErrPermissionDenied}},
      {auth::kErrRoleNotGranted, {grpc::StatusCode::FAILED_PRECONDITION, auth::kErrRoleNotGranted}},
      {auth::kErrPermissionNotGranted,
       {grpc::StatusCode::FAILED_PRECONDITION, auth::kErrPermissionNotGranted}},
      {auth::kErrAuthNotEnabled, {grpc::StatusCode::FAILED_PRECONDITION, auth::kErrAuthNotEnabled}},
      {auth::kErrInvalidAuthToken, {grpc::StatusCode::UNAUTHENTICATED, auth::kErrInvalidAuthToken}},
      {auth::kErrInvalidAuthMgmt, {grpc::StatusCode::INVALID_ARGUMENT, auth::kErrInvalidAuthMgmt}},
      {auth::kErrAuthOldRevision, {grpc::StatusCode::INVALID_ARGUMENT, auth::kErrAuthOldRevision}},
      {"etcdserver: permission not given",
       {grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: permission not given"}},
      // Exactly-once sessions (raftkvpb/session.proto promises FAILED_PRECONDITION).
      {kv::kErrSessionExpired, {grpc::StatusCode::FAILED_PRECONDITION, kv::kErrSessionExpired}},
      {kv::kErrStaleSequence, {grpc::StatusCode::FAILED_PRECONDITION, kv::kErrStaleSequence}},
  };
  return *table;
}

Status checkRequestOp(const pb::RequestOp& op, int64_t max_txn_ops) {
  switch (op.request_case()) {
    case pb::RequestOp::kRequestRange: return CheckRangeRequest(op.request_range());
    case pb::RequestOp::kRequestPut: return CheckPutRequest(op.request_put());
    case pb::RequestOp::kRequestDeleteRange:
      return CheckDeleteRangeRequest(op.request_delete_range());
    case pb::RequestOp::kRequestTxn: return CheckTxnRequest(op.request_txn(), max_txn_ops);
    case pb::RequestOp::REQUEST_NOT_SET: break;
  }
  // etcd answers an empty op with "key not found".
  return kv::ErrKeyNotFound();
}

Status checkCompare(const pb::Compare& c) {
  if (c.key().empty()) return kv::ErrEmptyKey();
  if (!pb::Compare::CompareResult_IsValid(c.result()) ||
      !pb::Compare::CompareTarget_IsValid(c.target())) {
    return Status::InvalidArgument("raftkv: unknown compare result or target");
  }
  return Status::OK();
}

}  // namespace

grpc::Status ToGrpcStatus(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  const auto& table = errorTable();
  auto it = table.find(s.message());
  if (it != table.end()) return grpc::Status(it->second.code, it->second.message);
  return grpc::Status(grpc::StatusCode::UNKNOWN, s.message());
}

Status CheckRangeRequest(const pb::RangeRequest& r) {
  if (r.key().empty()) return kv::ErrEmptyKey();
  if (!pb::RangeRequest::SortOrder_IsValid(r.sort_order()) ||
      !pb::RangeRequest::SortTarget_IsValid(r.sort_target())) {
    return Status::InvalidArgument("raftkv: unknown sort order or target");
  }
  return Status::OK();
}

Status CheckPutRequest(const pb::PutRequest& r) {
  if (r.key().empty()) return kv::ErrEmptyKey();
  if (r.ignore_value() && !r.value().empty()) return kv::ErrValueProvided();
  if (r.ignore_lease() && r.lease() != 0) return kv::ErrLeaseProvided();
  return Status::OK();
}

Status CheckDeleteRangeRequest(const pb::DeleteRangeRequest& r) {
  if (r.key().empty()) return kv::ErrEmptyKey();
  return Status::OK();
}

// Like etcd, the op limit applies to the widest of compare/success/failure at each level, and
// nested txns are checked against what the outer level leaves.
Status CheckTxnRequest(const pb::TxnRequest& r, int64_t max_txn_ops) {
  int64_t ops = r.compare_size();
  ops = std::max<int64_t>(ops, r.success_size());
  ops = std::max<int64_t>(ops, r.failure_size());
  if (ops > max_txn_ops) return kv::ErrTooManyOps();
  for (const auto& c : r.compare()) RAFTKV_RETURN_IF_ERROR(checkCompare(c));
  for (const auto& op : r.success()) RAFTKV_RETURN_IF_ERROR(checkRequestOp(op, max_txn_ops - ops));
  for (const auto& op : r.failure()) RAFTKV_RETURN_IF_ERROR(checkRequestOp(op, max_txn_ops - ops));
  return Status::OK();
}

Status CheckRequestSize(size_t bytes, int64_t max_request_bytes) {
  if (static_cast<int64_t>(bytes) > max_request_bytes) {
    return Status::InvalidArgument(kErrRequestTooLarge);
  }
  return Status::OK();
}

}  // namespace raftkv::api
