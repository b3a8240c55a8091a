// The retry policy: which server answers send a request to another member, which make a
// write's outcome unknown, and how the waits between tries grow.
#include "client/retry.h"

#include <gtest/gtest.h>

namespace raftkv::client {
namespace {

grpc::Status Err(grpc::StatusCode code, const std::string& msg) {
  return {code, msg};
}

TEST(Classify, NoLeaderAndNotLeaderWereNeverProposed) {
  EXPECT_EQ(Classify(Err(grpc::StatusCode::UNAVAILABLE, "etcdserver: no leader")),
            Disposition::kRetryNotApplied);
  EXPECT_EQ(Classify(Err(grpc::StatusCode::FAILED_PRECONDITION, "etcdserver: not leader")),
            Disposition::kRetryNotApplied);
  EXPECT_EQ(Classify(Err(grpc::StatusCode::RESOURCE_EXHAUSTED, "etcdserver: too many requests")),
            Disposition::kRetryNotApplied);
  // No connection could be opened: nothing was sent.
  EXPECT_EQ(Classify(Err(grpc::StatusCode::UNAVAILABLE, "failed to connect to all addresses")),
            Disposition::kRetryNotApplied);
}

TEST(Classify, TimeoutsAndBrokenConnectionsAreAmbiguous) {
  EXPECT_EQ(Classify(Err(grpc::StatusCode::UNAVAILABLE, "etcdserver: leader changed")),
            Disposition::kRetryAmbiguous);
  EXPECT_EQ(Classify(Err(grpc::StatusCode::UNAVAILABLE, "etcdserver: request timed out")),
            Disposition::kRetryAmbiguous);
  EXPECT_EQ(Classify(Err(grpc::StatusCode::UNAVAILABLE, "Connection reset by peer")),
            Disposition::kRetryAmbiguous);
  EXPECT_EQ(Classify(Err(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded")),
            Disposition::kRetryAmbiguous);
}

TEST(Classify, RequestErrorsAreFinal) {
  EXPECT_EQ(Classify(Err(grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: key is not provided")),
            Disposition::kFatal);
  EXPECT_EQ(Classify(Err(grpc::StatusCode::OUT_OF_RANGE,
                         "etcdserver: mvcc: required revision has been compacted")),
            Disposition::kFatal);
  EXPECT_EQ(Classify(Err(grpc::StatusCode::NOT_FOUND, "etcdserver: member not found")),
            Disposition::kFatal);
  EXPECT_EQ(Classify(grpc::Status::OK), Disposition::kDone);
}

TEST(Classify, ExpiredSessionIsRecognised) {
  EXPECT_EQ(Classify(Err(grpc::StatusCode::FAILED_PRECONDITION,
                         "raftkv: client session expired or unknown")),
            Disposition::kSessionExpired);
}

TEST(FromGrpc, KeepsEtcdsMessageAndMapsTheCode) {
  Status compacted = FromGrpc(Err(grpc::StatusCode::OUT_OF_RANGE,
                                  "etcdserver: mvcc: required revision has been compacted"));
  EXPECT_TRUE(compacted.Is(Status::Code::kCompacted));
  EXPECT_EQ(compacted.message(), "etcdserver: mvcc: required revision has been compacted");
  Status future = FromGrpc(Err(grpc::StatusCode::OUT_OF_RANGE,
                               "etcdserver: mvcc: required revision is a future revision"));
  EXPECT_TRUE(future.Is(Status::Code::kInvalidArgument));
  EXPECT_TRUE(FromGrpc(Err(grpc::StatusCode::NOT_FOUND, "x")).Is(Status::Code::kNotFound));
  EXPECT_TRUE(FromGrpc(Err(grpc::StatusCode::UNAVAILABLE, "x")).Is(Status::Code::kUnavailable));
}

TEST(Backoff, GrowsWithJitterUpToTheCapAndResets) {
  using std::chrono::milliseconds;
  Backoff b(milliseconds(10), milliseconds(100), 7);
  int64_t ceilings[] = {10, 20, 40, 80, 100, 100};
  for (int64_t ceiling : ceilings) {
    int64_t w = b.Next().count();
    EXPECT_GE(w, ceiling / 2);
    EXPECT_LE(w, ceiling);
  }
  b.Reset();
  EXPECT_LE(b.Next().count(), 10);
}

TEST(Backoff, SameSeedSameWaits) {
  using std::chrono::milliseconds;
  Backoff a(milliseconds(10), milliseconds(1000), 42);
  Backoff b(milliseconds(10), milliseconds(1000), 42);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(a.Next(), b.Next());
}

}  // namespace
}  // namespace raftkv::client
