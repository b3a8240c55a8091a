// raftkv-bench-wal [--dir=PATH] [--seconds=S] [--recovery-mib=N] [--quick] [--recovery-only]
//                  [--sizes=100,1024,...] [--batches=1,8,...] [--no-prealloc] [--keep-cache]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace {
std::vector<size_t> ParseList(const std::string& s) {
  std::vector<size_t> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoul(item));
  return out;
}
}  // namespace

#include "storage/wal_bench.h"

int main(int argc, char** argv) {
  raftkv::storage::WalBenchOptions o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a.rfind("--dir=", 0) == 0) {
      o.dir = a.substr(6);
    } else if (a.rfind("--seconds=", 0) == 0) {
      o.seconds_per_case = std::atof(a.c_str() + 10);
    } else if (a.rfind("--recovery-mib=", 0) == 0) {
      o.recovery_bytes = std::strtoull(a.c_str() + 15, nullptr, 10) << 20;
    } else if (a.rfind("--sizes=", 0) == 0) {
      o.entry_sizes = ParseList(a.substr(8));
    } else if (a.rfind("--batches=", 0) == 0) {
      o.batch_sizes = ParseList(a.substr(10));
    } else if (a == "--no-prealloc") {
      o.preallocate = false;
    } else if (a == "--keep-cache") {
      o.drop_cache = false;
    } else if (a == "--recovery-only") {
      o.entry_sizes.clear();
    } else if (a == "--quick") {
      o.seconds_per_case = 0.3;
      o.batch_sizes = {1, 64, 1024};
      o.recovery_bytes = 64 << 20;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--dir=PATH] [--seconds=S] [--recovery-mib=N] [--quick] "
                   "[--recovery-only] [--sizes=N,...] [--batches=N,...] [--no-prealloc] "
                   "[--keep-cache]\n",
                   argv[0]);
      return 2;
    }
  }
  return raftkv::storage::RunWalBenchmark(o);
}
