// Progress: the leader's view of one follower's log (etcd's tracker.Progress).
//
//   probe:     the match point is unknown; send one AppendEntries, wait for its answer
//              (or the next heartbeat response) before sending another;
//   replicate: the follower is in sync; pipeline AppendEntries optimistically, bounded by
//              the in-flight window;
//   snapshot:  the follower needs a snapshot; send nothing else until it is applied.
//
// Invariant: match < next.
#pragma once

#include "raft/inflights.h"
#include "raft/raw_node.h"
#include "raft/types.h"

namespace raftkv::raft {

class Progress {
 public:
  Progress(Index next, size_t max_inflight, bool is_learner = false)
      : next(next), inflights(max_inflight), is_learner(is_learner) {}

  Index match = 0;
  Index next = 1;
  ProgressState state = ProgressState::kProbe;
  // In snapshot state: the index of the snapshot being sent.
  Index pending_snapshot = 0;
  // Leader lease (thesis §6.4.1): 1 + the leader's tick at which it sent the newest
  // heartbeat this follower acknowledged (0 = none). The follower ignores vote requests for
  // an election timeout after receiving it, so no other leader can arise before then.
  uint64_t lease_tick = 0;
  // In snapshot state: heartbeat answers received since the snapshot was sent.
  int snapshot_heartbeats = 0;
  // Heard from since the last check-quorum round (thesis §6.2).
  bool recent_active = false;
  // In probe state: one probe is outstanding, send nothing more until it is answered.
  bool probe_sent = false;
  Inflights inflights;
  bool is_learner = false;

  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(Index snapshot_index);

  // A successful append response acknowledged `n`. Returns whether match advanced.
  bool MaybeUpdate(Index n);
  // An append probing `rejected` was refused; the follower hinted that its log matches at
  // most up to `match_hint`. Returns false if the rejection is stale (ignored).
  bool MaybeDecrTo(Index rejected, Index match_hint);
  // Records that an AppendEntries carrying entries up to `last` (of `bytes`) was sent;
  // `count` is the number of entries.
  void SentEntries(size_t count, Index last, uint64_t bytes);
  // Whether the leader must not send AppendEntries to this follower now.
  bool IsPaused() const;

  ProgressStatus ToStatus() const;

 private:
  void ResetState(ProgressState s);
};

}  // namespace raftkv::raft
