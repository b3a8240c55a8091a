#include "raft/progress.h"

#include <algorithm>

#include "common/check.h"

namespace raftkv::raft {

void Progress::ResetState(ProgressState s) {
  probe_sent = false;
  pending_snapshot = 0;
  snapshot_heartbeats = 0;
  state = s;
  inflights.Reset();
}

void Progress::BecomeProbe() {
  // After a snapshot, resume right after it; otherwise after what we know matches.
  if (state == ProgressState::kSnapshot) {
    Index ps = pending_snapshot;
    ResetState(ProgressState::kProbe);
    next = std::max(match + 1, ps + 1);
  } else {
    ResetState(ProgressState::kProbe);
    next = match + 1;
  }
}

void Progress::BecomeReplicate() {
  ResetState(ProgressState::kReplicate);
  next = match + 1;
}

void Progress::BecomeSnapshot(Index snapshot_index) {
  ResetState(ProgressState::kSnapshot);
  pending_snapshot = snapshot_index;
}

bool Progress::MaybeUpdate(Index n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::MaybeDecrTo(Index rejected, Index match_hint) {
  if (state == ProgressState::kReplicate) {
    // A rejection at or below match is a stale answer to an older message.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // Probe (or snapshot): only the answer to the outstanding probe counts.
  if (next == 0 || next - 1 != rejected) return false;
  next = std::max(std::min(rejected, match_hint + 1), match + 1);
  probe_sent = false;
  return true;
}

void Progress::SentEntries(size_t count, Index last, uint64_t bytes) {
  switch (state) {
    case ProgressState::kReplicate:
      if (count > 0) {
        next = last + 1;
        inflights.Add(last, bytes);
      }
      break;
    case ProgressState::kProbe: probe_sent = true; break;
    case ProgressState::kSnapshot:
      RAFTKV_CHECK(false, "progress: sending entries to a follower in snapshot state");
  }
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe: return probe_sent;
    case ProgressState::kReplicate: return inflights.Full();
    case ProgressState::kSnapshot: return true;
  }
  return true;
}

ProgressStatus Progress::ToStatus() const {
  ProgressStatus s;
  s.match = match;
  s.next = next;
  s.state = state;
  s.recent_active = recent_active;
  s.is_learner = is_learner;
  s.inflight = inflights.Count();
  s.inflight_bytes = inflights.Bytes();
  s.inflight_capacity = inflights.Capacity();
  s.pending_snapshot = pending_snapshot;
  return s;
}

}  // namespace raftkv::raft
