#include "bench/options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace raftkv::bench {
namespace {

Result<Command> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "raftkv-bench");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseCommand(static_cast<int>(argv.size()), argv.data());
}

// The error message, which must name what was wrong.
std::string Error(std::vector<std::string> args) {
  auto r = Parse(std::move(args));
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  return r.status().message();
}

TEST(Options, ParsesEveryKvFlagInBothForms) {
  auto r = Parse({"mixed",
                  "--endpoints",
                  "http://127.0.0.1:1,127.0.0.1:2",
                  "--clients=64",
                  "--conns",
                  "8",
                  "--threads=2",
                  "--duration",
                  "1.5",
                  "--key-size",
                  "8",
                  "--key-space-size=100000",
                  "--val-size",
                  "256",
                  "--consistency",
                  "s",
                  "--read-ratio=0.75",
                  "--target-leader",
                  "--rate",
                  "500",
                  "--json",
                  "--seed",
                  "7"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const KvOptions& o = r->kv;
  EXPECT_EQ(r->workload, Workload::kMixed);
  EXPECT_EQ(o.endpoints, (std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:2"}));
  EXPECT_EQ(o.clients, 64);
  EXPECT_EQ(o.conns, 8);
  EXPECT_EQ(o.threads, 2);
  EXPECT_EQ(o.total, 0u);
  EXPECT_DOUBLE_EQ(o.duration_s, 1.5);
  EXPECT_EQ(o.key_space_size, 100000u);
  EXPECT_EQ(o.val_size, 256);
  EXPECT_TRUE(o.serializable);
  EXPECT_DOUBLE_EQ(o.read_ratio, 0.75);
  EXPECT_TRUE(o.target_leader);
  EXPECT_DOUBLE_EQ(o.rate, 500);
  EXPECT_TRUE(o.json);
  EXPECT_EQ(o.seed, 7u);
}

TEST(Options, DefaultsToTenThousandRequests) {
  auto r = Parse({"put"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kv.total, 10000u);
  EXPECT_FALSE(r->kv.serializable);
}

TEST(Options, WalFlagsPassThrough) {
  auto r = Parse({"wal", "--sizes=100,16384", "--batches", "1,1024", "--seconds", "0.5",
                  "--recovery-mib=0", "--no-prealloc", "--dir", "/somewhere"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->workload, Workload::kWal);
  EXPECT_EQ(r->wal.entry_sizes, (std::vector<size_t>{100, 16384}));
  EXPECT_EQ(r->wal.batch_sizes, (std::vector<size_t>{1, 1024}));
  EXPECT_DOUBLE_EQ(r->wal.seconds_per_case, 0.5);
  EXPECT_EQ(r->wal.recovery_bytes, 0u);
  EXPECT_FALSE(r->wal.preallocate);
  EXPECT_EQ(r->wal.dir, "/somewhere");
}

TEST(Options, RejectsBadInputWithTheFlagNamed) {
  EXPECT_NE(Error({}).find("missing subcommand"), std::string::npos);
  EXPECT_NE(Error({"delete"}).find("unknown subcommand 'delete'"), std::string::npos);
  EXPECT_NE(Error({"put", "--bogus"}).find("unknown flag '--bogus'"), std::string::npos);
  EXPECT_NE(Error({"put", "--clients"}).find("--clients: missing value"), std::string::npos);
  EXPECT_NE(Error({"put", "--clients", "ten"}).find("--clients: not a non-negative integer"),
            std::string::npos);
  EXPECT_NE(Error({"put", "--clients", "0"}).find("--clients: 0 is out of range"),
            std::string::npos);
  EXPECT_NE(Error({"put", "--clients=-3"}).find("--clients"), std::string::npos);
  EXPECT_NE(Error({"put", "--duration", "abc"}).find("--duration: not a number"),
            std::string::npos);
  EXPECT_NE(Error({"put", "--total", "5", "--duration", "1"}).find("not both"), std::string::npos);
  EXPECT_NE(Error({"range", "--consistency", "x"}).find("must be l or s"), std::string::npos);
  EXPECT_NE(Error({"put", "--consistency", "s"}).find("range and mixed only"), std::string::npos);
  EXPECT_NE(Error({"range", "--read-ratio", "0.5"}).find("mixed only"), std::string::npos);
  EXPECT_NE(Error({"mixed", "--read-ratio", "1.5"}).find("--read-ratio"), std::string::npos);
  EXPECT_NE(Error({"put", "--clients", "2", "--conns", "3"}).find("--conns"), std::string::npos);
  EXPECT_NE(Error({"put", "--key-size", "4", "--key-space-size", "100000"})
                .find("4 bytes cannot hold 100000"),
            std::string::npos);
  EXPECT_NE(Error({"put", "--endpoints", "a,,b"}).find("empty item"), std::string::npos);
  EXPECT_NE(Error({"put", "--json=yes"}).find("takes no value"), std::string::npos);
  EXPECT_NE(Error({"wal", "--clients", "3"}).find("unknown flag '--clients' for wal"),
            std::string::npos);
  EXPECT_NE(Error({"wal", "--sizes", "100,x"}).find("--sizes"), std::string::npos);
}

TEST(Options, KeySizeJustLargeEnough) {
  EXPECT_TRUE(Parse({"put", "--key-size", "5", "--key-space-size", "100000"}).ok());
}

}  // namespace
}  // namespace raftkv::bench
