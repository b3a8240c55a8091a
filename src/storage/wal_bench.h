// The WAL benchmark (`raftkv-bench-wal`, later `raftkv-bench wal`): append throughput of
// DiskStorage for several entry sizes and batch sizes, next to the raw fdatasync rate and
// sequential write bandwidth of the same disk measured with minimal loops, plus the time
// to recover a large WAL. Prints a table with the ratios. Not a timed test.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace raftkv::storage {

struct WalBenchOptions {
  std::string dir;                // parent directory for scratch data; "" = system temp dir
  double seconds_per_case = 1.0;  // time spent on each (entry size, batch size) case
  std::vector<size_t> entry_sizes = {100, 1024, 16384};
  std::vector<size_t> batch_sizes = {1, 8, 64, 256, 1024};
  uint64_t recovery_bytes = 1ull << 30;  // WAL size for the recovery case; 0 = skip
  bool preallocate = true;               // WalOptions::preallocate for the cases
  bool drop_cache = true;                // WalOptions::drop_cache for the cases
};

// Runs everything, prints to stdout; returns a process exit code (0 = ran; targets are
// reported, not enforced).
int RunWalBenchmark(const WalBenchOptions& options);

}  // namespace raftkv::storage
