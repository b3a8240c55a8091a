// ReadOnly: the leader's bookkeeping for safe ReadIndex (thesis §6.4).
//
// Reads are batched. Requests wait in a pending batch; when the leader next flushes its
// work (RawNode::GetReady) the whole batch starts ONE heartbeat round whose context names
// it. A read cannot join a round whose heartbeats were already sent: an acknowledgement
// only proves leadership at a time after the heartbeat was sent, which must be after the
// read arrived. Rounds complete in order: an acknowledgement of round r also acknowledges
// every earlier round (it was received later than their heartbeats were sent).
#pragma once

#include <deque>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "raft/quorum.h"
#include "raft/types.h"

namespace raftkv::raft {

struct ReadRequest {
  NodeId from = kNoNode;  // who asked: the leader itself or a follower
  std::string context;    // the requester's opaque context
};

struct CompletedRead {
  Index index = 0;
  ReadRequest request;
};

class ReadOnly {
 public:
  // Queues a read; it waits until StartRound().
  void Add(ReadRequest req) { pending_.push_back(std::move(req)); }
  bool HasPending() const { return !pending_.empty(); }
  std::vector<ReadRequest> TakePending() { return std::exchange(pending_, {}); }
  bool HasRounds() const { return !rounds_.empty(); }

  // Moves all pending reads into a new round reading at `commit`; returns its heartbeat
  // context. `self` acknowledges at once.
  std::string StartRound(Index commit, NodeId self);
  // Context of the newest round in flight (heartbeats carry it so a lost ack is retried),
  // or empty.
  std::string LatestContext() const;

  // `from` acknowledged the round with `context`. Returns the reads of every round that
  // now has a quorum of acknowledgements, oldest first.
  std::vector<CompletedRead> RecvAck(NodeId from, const std::string& context,
                                     const JointConfig& voters);

  // Leadership changed: drop everything (requesters time out and retry).
  void Reset();

  size_t PendingCount() const { return pending_.size(); }
  size_t RoundCount() const { return rounds_.size(); }

 private:
  struct Round {
    uint64_t id = 0;
    Index index = 0;
    std::set<NodeId> acks;
    std::vector<ReadRequest> reads;
  };
  std::vector<ReadRequest> pending_;
  std::deque<Round> rounds_;
  uint64_t next_id_ = 1;
};

}  // namespace raftkv::raft
