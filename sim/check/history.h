// A client history: what clients asked for and what they were told, with virtual times.
// The simulator (and later the real-process chaos harness) records one; the checkers read it.
//
// Model: a key-value register per key. put(k, v) always succeeds when it takes effect;
// get(k) returns the value or "absent"; cas(k, expected, new) succeeds iff the current value
// equals `expected` (absent never equals anything).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace raftkv::check {

enum class OpKind : uint8_t { kPut, kGet, kCas };

enum class Outcome : uint8_t {
  kOk,       // the client got an answer: the operation took effect exactly once
  kFail,     // the client was told it did NOT take effect (e.g. refused before proposing)
  kUnknown,  // timed out / connection lost: it may or may not have taken effect
};

inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

struct Operation {
  int client = 0;
  OpKind kind = OpKind::kGet;
  std::string key;
  std::string value;             // put: value written; cas: new value
  std::string expected;          // cas: expected current value
  int64_t call_time = 0;         // when the client invoked it
  int64_t return_time = kNever;  // when the client got its answer (kNever if kUnknown)
  Outcome outcome = Outcome::kUnknown;
  // get with kOk: the value read (nullopt = key absent).
  std::optional<std::string> read_value;
  // cas with kOk: whether the swap happened.
  bool cas_succeeded = false;
};

struct History {
  std::vector<Operation> ops;
};

// One line, e.g. "c3 cas(k1, 'a'->'b') = ok true [120, 180]".
std::string Describe(const Operation& op);

}  // namespace raftkv::check
