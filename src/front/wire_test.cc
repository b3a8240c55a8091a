#include "front/wire.h"

#include <gtest/gtest.h>

#include <string>

namespace raftkv::front {
namespace {

std::string Framed(std::string_view msg, char flag = 0) {
  std::string out(kFrameHeaderBytes, '\0');
  PutFrameHeader(msg.size(), out.data());
  out[0] = flag;
  out.append(msg);
  return out;
}

TEST(Wire, UnframesExactlyOneMessage) {
  std::string_view m;
  ASSERT_EQ(UnframeUnary(Framed("hello"), &m), UnframeResult::kOk);
  EXPECT_EQ(m, "hello");
  ASSERT_EQ(UnframeUnary(Framed(""), &m), UnframeResult::kOk);
  EXPECT_EQ(m, "");
  ASSERT_EQ(UnframeUnary("", &m), UnframeResult::kOk);  // no DATA: an empty message
  EXPECT_EQ(m, "");
  const std::string big(300000, 'x');
  ASSERT_EQ(UnframeUnary(Framed(big), &m), UnframeResult::kOk);
  EXPECT_EQ(m.size(), big.size());
}

TEST(Wire, RefusesWhatIsNotOneMessage) {
  std::string_view m;
  EXPECT_EQ(UnframeUnary("abc", &m), UnframeResult::kMalformed);  // short header
  EXPECT_EQ(UnframeUnary(Framed("hello").substr(0, 7), &m), UnframeResult::kMalformed);
  EXPECT_EQ(UnframeUnary(Framed("a") + Framed("b"), &m), UnframeResult::kMalformed);  // two
  EXPECT_EQ(UnframeUnary(Framed("x", 2), &m), UnframeResult::kMalformed);             // bad flag
  EXPECT_EQ(UnframeUnary(Framed("x", 1), &m), UnframeResult::kCompressed);
}

TEST(Wire, PercentEncodesAsGrpcDoes) {
  EXPECT_EQ(PercentEncode("etcdserver: key not found"), "etcdserver: key not found");
  EXPECT_EQ(PercentEncode("100%"), "100%25");
  EXPECT_EQ(PercentEncode("a\nb"), "a%0Ab");
  EXPECT_EQ(PercentEncode("\xc3\xbc"), "%C3%BC");
}

}  // namespace
}  // namespace raftkv::front
