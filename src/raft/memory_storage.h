// MemoryStorage: a LogStorage kept in memory, for tests and the simulator.
//
// In the simulator it plays the role of the disk: whatever has been written here survives
// a simulated crash; whatever the runtime had not yet written is lost.
#pragma once

#include <vector>

#include "raft/log_storage.h"

namespace raftkv::raft {

class MemoryStorage final : public LogStorage {
 public:
  MemoryStorage();

  // LogStorage.
  Result<InitialState> GetInitialState() const override;
  Result<std::vector<Entry>> Entries(Index lo, Index hi, uint64_t max_bytes) const override;
  Result<Term> TermAt(Index i) const override;
  Index FirstIndex() const override;
  Index LastIndex() const override;
  Result<Snapshot> GetSnapshot() const override;

  // Writers, called by the runtime while handling a Ready.
  void SetHardState(const HardState& hs);
  void SetConfState(const ConfState& cs);
  // Appends entries; entries overlapping the existing log replace the conflicting suffix
  // (a follower's truncation, §5.3). Entries must be contiguous with the log (their first
  // index <= LastIndex()+1); older entries than FirstIndex() are ignored.
  Status Append(const std::vector<Entry>& entries);
  // Replaces the whole log with `snap` (a follower installing a leader's snapshot).
  // Fails with kFailedPrecondition if `snap` is older than the current snapshot.
  Status ApplySnapshot(const Snapshot& snap);
  // Records a snapshot of the application's state at applied index `i` (<= LastIndex()).
  Result<Snapshot> CreateSnapshot(Index i, const ConfState& cs, std::string data);
  // Discards entries before `compact_index` (which must be <= the snapshot index... or
  // any index <= LastIndex(); entries up to it must have been snapshotted by the caller).
  Status Compact(Index compact_index);

  const HardState& hard_state() const { return hard_state_; }

 private:
  HardState hard_state_;
  Snapshot snapshot_;
  // entries_[0] is a dummy entry holding the index and term of the last compacted entry
  // (the snapshot's), so that TermAt(FirstIndex()-1) works.
  std::vector<Entry> entries_;
};

}  // namespace raftkv::raft
