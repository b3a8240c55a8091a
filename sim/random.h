// Rng: the one seeded source of randomness of a simulated run. Every random choice (network
// delays, faults, client operations, the cores' election timeouts) draws from it, in event
// order, so the same seed replays the same run bit for bit on any platform. The generator
// is splitmix64 and the helpers below avoid std::uniform_int_distribution, whose output is
// not specified by the standard and differs between standard libraries.
#pragma once

#include <cstdint>

#include "raft/raw_node.h"

namespace raftkv::sim {

class Rng final : public raft::RandomSource {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n), n > 0, without modulo bias (rejection of the short last bucket).
  uint64_t Uniform(uint64_t n) override {
    if (n <= 1) return 0;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
      x = Next();
    } while (x >= limit);
    return x % n;
  }

  // Uniform in [lo, hi] (inclusive), lo <= hi.
  int64_t Range(int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    return lo + static_cast<int64_t>(Uniform(static_cast<uint64_t>(hi - lo) + 1));
  }

  // Uniform double in [0, 1) from the top 53 bits (exact in IEEE double everywhere).
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // True with probability p.
  bool Chance(double p) { return p > 0 && Unit() < p; }

 private:
  uint64_t state_;
};

}  // namespace raftkv::sim
