// Planted bugs: test-only builds of the core that break one safety rule on purpose, so the
// simulator can prove it notices. The normal build (raftkv_raft) has RAFTKV_PLANTED_BUG 0.
//
//   1 = commit a previous-term entry by counting replicas (ignores §5.4.2, Figure 8)
//   2 = grant votes regardless of log up-to-dateness (skips the election restriction §5.4.1)
//   3 = send a vote grant before the vote is persisted, and leave the vote out of the next
//       Ready's hard state (so a crash forgets it; §5.1/Figure 2 "persist before replying")
//   4 = hand out entries up to the last index, not the commit index, as committed entries
//   5 = accept a configuration change while the previous one is not yet applied (§4.1:
//       one change at a time)
//   6 = restoring a snapshot keeps the old configuration instead of the snapshot's (§5.1:
//       the snapshot carries the configuration as of its index)
//
// Each is guarded by `if constexpr (kPlantedBug == N)` beside the rule it breaks, and the
// RAFTKV_CHECK guarding that same rule is disabled in that build.
#pragma once

#ifndef RAFTKV_PLANTED_BUG
#define RAFTKV_PLANTED_BUG 0
#endif

namespace raftkv::raft {
inline constexpr int kPlantedBug = RAFTKV_PLANTED_BUG;
}  // namespace raftkv::raft
