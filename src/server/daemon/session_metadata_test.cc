#include "api/session_metadata.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "server/daemon/services.h"

namespace raftkv::server::daemon {
namespace {

Result<SessionRef> ParseFrom(const std::multimap<std::string, std::string>& raw) {
  std::multimap<grpc::string_ref, grpc::string_ref> md;
  for (const auto& [k, v] : raw) md.emplace(grpc::string_ref(k), grpc::string_ref(v));
  return ParseSessionMetadata(md);
}

std::string ErrorOf(const std::multimap<std::string, std::string>& raw) {
  Result<SessionRef> r = ParseFrom(raw);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.status().Is(Status::Code::kInvalidArgument));
  return r.ok() ? "" : r.status().message();
}

TEST(SessionMetadata, NoneMeansNoSession) {
  Result<SessionRef> r = ParseFrom({{"user-agent", "x"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->client_id, 0u);
}

TEST(SessionMetadata, ParsesAllThree) {
  Result<SessionRef> r = ParseFrom(
      {{api::kMetaClientId, "18446744073709551615"}, {api::kMetaSeq, "7"}, {api::kMetaAcked, "5"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->client_id, 18446744073709551615u);
  EXPECT_EQ(r->seq, 7u);
  EXPECT_EQ(r->acked_through, 5u);
  r = ParseFrom({{api::kMetaClientId, "3"}, {api::kMetaSeq, "1"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->acked_through, 0u);
}

TEST(SessionMetadata, BadValuesNameTheKey) {
  EXPECT_NE(ErrorOf({{api::kMetaClientId, "x1"}, {api::kMetaSeq, "1"}}).find(api::kMetaClientId),
            std::string::npos);
  EXPECT_NE(ErrorOf({{api::kMetaClientId, "-1"}, {api::kMetaSeq, "1"}}).find(api::kMetaClientId),
            std::string::npos);
  EXPECT_NE(ErrorOf({{api::kMetaClientId, "0"}, {api::kMetaSeq, "1"}}).find(api::kMetaClientId),
            std::string::npos);
  EXPECT_NE(ErrorOf({{api::kMetaClientId, "1"}, {api::kMetaSeq, "99999999999999999999"}})
                .find(api::kMetaSeq),
            std::string::npos);
  EXPECT_NE(ErrorOf({{api::kMetaClientId, "1"}, {api::kMetaSeq, ""}}).find(api::kMetaSeq),
            std::string::npos);
  EXPECT_NE(ErrorOf({{api::kMetaClientId, "1"}, {api::kMetaSeq, "0"}}).find(api::kMetaSeq),
            std::string::npos);
  EXPECT_NE(ErrorOf({{api::kMetaClientId, "1"}}).find(api::kMetaSeq), std::string::npos);
  EXPECT_NE(ErrorOf({{api::kMetaSeq, "1"}}).find(api::kMetaClientId), std::string::npos);
  EXPECT_NE(ErrorOf({{api::kMetaClientId, "1"}, {api::kMetaSeq, "2"}, {api::kMetaAcked, "2"}})
                .find(api::kMetaAcked),
            std::string::npos);
  EXPECT_NE(ErrorOf({{api::kMetaClientId, "1"}, {api::kMetaSeq, "2"}, {api::kMetaAcked, "a"}})
                .find(api::kMetaAcked),
            std::string::npos);
}

}  // namespace
}  // namespace raftkv::server::daemon
