// LogStorage: the core's read-only view of the durable log, implemented by the runtime.
//
// The core reads stable (already persisted) entries through this interface; it never
// writes to it. The runtime persists what a Ready asks it to persist (into its own
// implementation: MemoryStorage in tests and the simulator, the WAL in raftkvd) and then
// calls RawNode::Advance(). Entries handed to the runtime in Ready::entries are therefore
// visible through LogStorage by the time Advance() returns.
//
// Invariant: the entries visible are the contiguous range [FirstIndex(), LastIndex()];
// TermAt(FirstIndex() - 1) is the term of the last compacted entry (the snapshot's).
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "common/status.h"
#include "raft/types.h"

namespace raftkv::raft {

inline constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

struct InitialState {
  HardState hard_state;
  ConfState conf_state;
};

class LogStorage {
 public:
  virtual ~LogStorage() = default;

  // Hard state and configuration at startup (after a restart: as last persisted).
  virtual Result<InitialState> GetInitialState() const = 0;

  // Entries [lo, hi), at least one if lo < hi, at most `max_bytes` in total beyond the
  // first. Fails with kCompacted if lo < FirstIndex(), kUnavailable if hi > LastIndex()+1.
  virtual Result<std::vector<Entry>> Entries(Index lo, Index hi, uint64_t max_bytes) const = 0;

  // Term of entry i, for FirstIndex()-1 <= i <= LastIndex(). kCompacted below that range,
  // kUnavailable above it.
  virtual Result<Term> TermAt(Index i) const = 0;

  // Index of the first entry still available (snapshot index + 1).
  virtual Index FirstIndex() const = 0;

  // Index of the last entry (snapshot index if the log after it is empty).
  virtual Index LastIndex() const = 0;

  // The most recent snapshot. kUnavailable if it is being produced and not ready yet (the
  // core retries later).
  virtual Result<Snapshot> GetSnapshot() const = 0;
};

}  // namespace raftkv::raft
