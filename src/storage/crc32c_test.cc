#include "storage/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace raftkv::storage::crc32c {
namespace {

// Test vectors from RFC 3720 (iSCSI), appendix B.4, and the common "123456789" check value.
TEST(Crc32c, Value_standardVectors) {
  std::string zeros(32, '\0');
  std::string ones(32, '\xff');
  std::string inc(32, '\0');
  std::string dec(32, '\0');
  for (int i = 0; i < 32; i++) {
    inc[i] = static_cast<char>(i);
    dec[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(Value(zeros), 0x8A9136AAu);
  EXPECT_EQ(Value(ones), 0x62A8AB43u);
  EXPECT_EQ(Value(inc), 0x46DD794Eu);
  EXPECT_EQ(Value(dec), 0x113FDB5Cu);
  EXPECT_EQ(Value(std::string_view("123456789")), 0xE3069283u);
  EXPECT_EQ(Value(std::string_view("")), 0u);
}

TEST(Crc32c, Extend_equalsWholeValue) {
  std::string s = "hello world, this is a longer string spanning several words";
  for (size_t cut = 0; cut <= s.size(); cut++) {
    uint32_t c = Extend(Value(s.data(), cut), s.data() + cut, s.size() - cut);
    EXPECT_EQ(c, Value(s)) << cut;
  }
}

TEST(Crc32c, Software_matchesDispatchedPath) {
  std::mt19937_64 rng(42);
  for (int t = 0; t < 200; t++) {
    std::string s(rng() % 300, '\0');
    for (auto& ch : s) ch = static_cast<char>(rng());
    size_t off = s.empty() ? 0 : rng() % s.size();  // unaligned starts
    EXPECT_EQ(ExtendSoftware(7, s.data() + off, s.size() - off),
              Extend(7, s.data() + off, s.size() - off));
  }
}

// Large inputs take the three-stream path (blocks of 4 KiB joined by a shift); lengths
// around its thresholds and unaligned starts must give the software result.
TEST(Crc32c, LargeInputs_matchSoftware) {
  std::mt19937_64 rng(7);
  std::string s(200000, '\0');
  for (auto& ch : s) ch = static_cast<char>(rng());
  for (size_t len : {12287, 12288, 12289, 24576 + 5, 100000, 199990}) {
    for (size_t off : {0, 1, 7}) {
      EXPECT_EQ(ExtendSoftware(3, s.data() + off, len), Extend(3, s.data() + off, len))
          << len << " " << off;
    }
  }
  std::string zeros(3 * 4096 * 5, '\0');
  EXPECT_EQ(ExtendSoftware(0, zeros.data(), zeros.size()), Value(zeros));
}

}  // namespace
}  // namespace raftkv::storage::crc32c
