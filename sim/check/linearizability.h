// Linearizability checker for key-value histories (Wing & Gong search with Lowe's
// memoisation of (linearized-set, state) pairs; the history is partitioned by key first,
// which is sound because operations on different keys commute: P-compositionality).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/check/history.h"

namespace raftkv::check {

struct LinearizabilityResult {
  enum class Verdict : uint8_t { kLinearizable, kViolation, kGaveUp };
  Verdict verdict = Verdict::kLinearizable;
  // On kViolation: the key whose sub-history has no linearization, and a short
  // human-readable explanation (the operations involved, the longest prefix found).
  std::string key;
  std::string explanation;
  uint64_t states_explored = 0;
};

struct LinearizabilityOptions {
  // Upper bound on search states per key before giving up (verdict kGaveUp).
  uint64_t max_states_per_key = 20'000'000;
  // Upper bound on the memory of the explored-states cache of one key (verdict kGaveUp).
  uint64_t max_cache_bytes = uint64_t{1} << 30;
};

LinearizabilityResult CheckLinearizable(const History& history,
                                        const LinearizabilityOptions& options = {});

}  // namespace raftkv::check
