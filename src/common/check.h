// RAFTKV_CHECK: an assertion that is never compiled out. Safety rules of Raft and storage
// invariants use it: a broken invariant means continuing could lose or corrupt data, so the
// process stops with the condition, the location and a message (abort only on a broken
// invariant; every expected failure is a Status).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace raftkv::internal {
[[noreturn]] inline void CheckFailed(const char* cond, const char* file, int line,
                                     const char* msg) {
  std::fprintf(stderr, "%s:%d: invariant violated: %s (%s)\n", file, line, msg, cond);
  std::fflush(stderr);
  std::abort();
}
}  // namespace raftkv::internal

// RAFTKV_CHECK(cond, "what the rule is, e.g. §5.4.2 ...")
#define RAFTKV_CHECK(cond, msg)                                                   \
  do {                                                                            \
    if (!(cond)) ::raftkv::internal::CheckFailed(#cond, __FILE__, __LINE__, msg); \
  } while (0)
