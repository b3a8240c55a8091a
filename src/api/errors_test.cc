#include "api/errors.h"

#include <gtest/gtest.h>

#include "auth/errors.h"
#include "kv/errors.h"

namespace raftkv::api {
namespace {
namespace pb = etcdserverpb;

void expectGrpc(const Status& s, grpc::StatusCode code, const std::string& msg) {
  grpc::Status g = ToGrpcStatus(s);
  EXPECT_EQ(g.error_code(), code) << s.ToString();
  EXPECT_EQ(g.error_message(), msg);
}

TEST(ToGrpcStatus, ok) {
  EXPECT_TRUE(ToGrpcStatus(Status::OK()).ok());
}

TEST(ToGrpcStatus, authErrorsGetEtcdCodes) {
  // The codes etcd's clients act on: UNAUTHENTICATED makes clientv3 log in again.
  expectGrpc(Status::InvalidArgument(auth::kErrInvalidAuthToken), grpc::StatusCode::UNAUTHENTICATED,
             "etcdserver: invalid auth token");
  expectGrpc(Status::FailedPrecondition(auth::kErrPermissionDenied),
             grpc::StatusCode::PERMISSION_DENIED, "etcdserver: permission denied");
  expectGrpc(Status::InvalidArgument(auth::kErrAuthFailed), grpc::StatusCode::INVALID_ARGUMENT,
             "etcdserver: authentication failed, invalid user ID or password");
  expectGrpc(Status::InvalidArgument(auth::kErrAuthOldRevision), grpc::StatusCode::INVALID_ARGUMENT,
             "etcdserver: revision of auth store is old");
  expectGrpc(Status::FailedPrecondition(auth::kErrUserNotFound),
             grpc::StatusCode::FAILED_PRECONDITION, "etcdserver: user name not found");
  expectGrpc(Status::InvalidArgument(auth::kErrUserEmpty), grpc::StatusCode::INVALID_ARGUMENT,
             "etcdserver: user name is empty");
}

TEST(ToGrpcStatus, storeErrorsGetEtcdCodesAndMessages) {
  expectGrpc(kv::ErrCompacted(), grpc::StatusCode::OUT_OF_RANGE,
             "etcdserver: mvcc: required revision has been compacted");
  expectGrpc(kv::ErrFutureRev(), grpc::StatusCode::OUT_OF_RANGE,
             "etcdserver: mvcc: required revision is a future revision");
  expectGrpc(kv::ErrEmptyKey(), grpc::StatusCode::INVALID_ARGUMENT,
             "etcdserver: key is not provided");
  expectGrpc(kv::ErrKeyNotFound(), grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: key not found");
  expectGrpc(kv::ErrValueProvided(), grpc::StatusCode::INVALID_ARGUMENT,
             "etcdserver: value is provided");
  expectGrpc(kv::ErrLeaseProvided(), grpc::StatusCode::INVALID_ARGUMENT,
             "etcdserver: lease is provided");
  expectGrpc(kv::ErrDuplicateKey(), grpc::StatusCode::INVALID_ARGUMENT,
             "etcdserver: duplicate key given in txn request");
  expectGrpc(kv::ErrTooManyOps(), grpc::StatusCode::INVALID_ARGUMENT,
             "etcdserver: too many operations in txn request");
  expectGrpc(Status::NotFound(kv::kErrLeaseNotFound), grpc::StatusCode::NOT_FOUND,
             "etcdserver: requested lease not found");
}

TEST(ToGrpcStatus, serverErrors) {
  expectGrpc(Status::NotLeader(kErrNoLeader), grpc::StatusCode::UNAVAILABLE,
             "etcdserver: no leader");
  expectGrpc(Status::NotLeader(kErrNotLeader), grpc::StatusCode::FAILED_PRECONDITION,
             "etcdserver: not leader");
  expectGrpc(Status::Unavailable(kErrTimeout), grpc::StatusCode::UNAVAILABLE,
             "etcdserver: request timed out");
  expectGrpc(Status::InvalidArgument(kErrRequestTooLarge), grpc::StatusCode::INVALID_ARGUMENT,
             "etcdserver: request is too large");
  expectGrpc(Status::Busy(kErrTooManyRequests), grpc::StatusCode::RESOURCE_EXHAUSTED,
             "etcdserver: too many requests");
  expectGrpc(Status::Corruption(kErrCorrupt), grpc::StatusCode::DATA_LOSS,
             "etcdserver: corrupt cluster");
}

TEST(ToGrpcStatus, membershipAndLearnerErrorsAsEtcd) {
  expectGrpc(Status::FailedPrecondition(kErrLearnerNotReady), grpc::StatusCode::FAILED_PRECONDITION,
             "etcdserver: can only promote a learner member which is in sync with leader");
  expectGrpc(Status::FailedPrecondition(kErrPeerUrlExist), grpc::StatusCode::FAILED_PRECONDITION,
             "etcdserver: Peer URLs already exists");
  expectGrpc(Status::InvalidArgument(kErrMemberBadUrls), grpc::StatusCode::INVALID_ARGUMENT,
             "etcdserver: given member URLs are invalid");
  expectGrpc(Status::Unavailable(kErrNotSupportedForLearner), grpc::StatusCode::UNAVAILABLE,
             "etcdserver: rpc not supported for learner");
}

// raftkvpb/session.proto promises FAILED_PRECONDITION: the client must register again.
TEST(ToGrpcStatus, sessionErrorsAreFailedPrecondition) {
  expectGrpc(kv::ErrSessionExpired(), grpc::StatusCode::FAILED_PRECONDITION,
             kv::kErrSessionExpired);
  expectGrpc(kv::ErrStaleSequence(), grpc::StatusCode::FAILED_PRECONDITION, kv::kErrStaleSequence);
}

TEST(ToGrpcStatus, unknownErrorKeepsMessage) {
  expectGrpc(Status::IOError("disk on fire"), grpc::StatusCode::UNKNOWN, "disk on fire");
}

TEST(Check, emptyKeys) {
  EXPECT_EQ(CheckRangeRequest(pb::RangeRequest()).message(), kv::kErrEmptyKey);
  EXPECT_EQ(CheckPutRequest(pb::PutRequest()).message(), kv::kErrEmptyKey);
  EXPECT_EQ(CheckDeleteRangeRequest(pb::DeleteRangeRequest()).message(), kv::kErrEmptyKey);
  pb::TxnRequest t;
  t.add_compare();
  EXPECT_EQ(CheckTxnRequest(t, kDefaultMaxTxnOps).message(), kv::kErrEmptyKey);
}

TEST(Check, putIgnoreFlags) {
  pb::PutRequest p;
  p.set_key("k");
  EXPECT_TRUE(CheckPutRequest(p).ok());
  p.set_ignore_value(true);
  p.set_value("v");
  EXPECT_EQ(CheckPutRequest(p).message(), kv::kErrValueProvided);
  p.clear_value();
  p.set_ignore_lease(true);
  p.set_lease(5);
  EXPECT_EQ(CheckPutRequest(p).message(), kv::kErrLeaseProvided);
  p.set_lease(0);
  EXPECT_TRUE(CheckPutRequest(p).ok());
}

TEST(Check, rangeUnknownEnum) {
  pb::RangeRequest r;
  r.set_key("k");
  r.set_sort_target(static_cast<pb::RangeRequest::SortTarget>(9));
  EXPECT_TRUE(CheckRangeRequest(r).Is(Status::Code::kInvalidArgument));
}

TEST(Check, txnTooManyOps) {
  pb::TxnRequest t;
  for (int i = 0; i < 3; i++)
    t.add_success()->mutable_request_put()->set_key("k" + std::to_string(i));
  EXPECT_TRUE(CheckTxnRequest(t, 3).ok());
  EXPECT_EQ(CheckTxnRequest(t, 2).message(), kv::kErrTooManyOps);
  // A nested txn gets only what the outer level leaves: 3 - 3 = 0 < 1.
  t.add_failure()->mutable_request_txn()->add_success()->mutable_request_put()->set_key("n");
  EXPECT_EQ(CheckTxnRequest(t, 3).message(), kv::kErrTooManyOps);
  EXPECT_TRUE(CheckTxnRequest(t, 4).ok());
}

TEST(Check, txnEmptyOpAndNestedErrors) {
  pb::TxnRequest t;
  t.add_success();  // no request set
  EXPECT_EQ(CheckTxnRequest(t, kDefaultMaxTxnOps).message(), kv::kErrKeyNotFound);
  pb::TxnRequest n;
  n.add_failure()->mutable_request_txn()->add_success()->mutable_request_put();  // empty key
  EXPECT_EQ(CheckTxnRequest(n, kDefaultMaxTxnOps).message(), kv::kErrEmptyKey);
  pb::TxnRequest c;
  auto* cmp = c.add_compare();
  cmp->set_key("k");
  cmp->set_target(static_cast<pb::Compare::CompareTarget>(7));
  EXPECT_TRUE(CheckTxnRequest(c, kDefaultMaxTxnOps).Is(Status::Code::kInvalidArgument));
}

TEST(Check, requestSize) {
  EXPECT_TRUE(CheckRequestSize(100, 100).ok());
  Status s = CheckRequestSize(101, 100);
  EXPECT_EQ(s.message(), kErrRequestTooLarge);
  EXPECT_EQ(ToGrpcStatus(s).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace raftkv::api
