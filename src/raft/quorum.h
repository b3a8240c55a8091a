// Quorum math (etcd's quorum/ package): the commit index a majority has acknowledged and
// the outcome of a vote. Pure functions over maps; shaped for joint consensus (§4.3).
#pragma once

#include <cstdint>
#include <map>
#include <set>

#include "raft/types.h"

namespace raftkv::raft {

enum class VoteResult : uint8_t { kPending = 0, kLost = 1, kWon = 2 };

const char* VoteResultName(VoteResult r);

// A set of voters deciding by simple majority.
class MajorityConfig {
 public:
  MajorityConfig() = default;
  explicit MajorityConfig(std::set<NodeId> ids) : ids_(std::move(ids)) {}

  const std::set<NodeId>& ids() const { return ids_; }
  bool empty() const { return ids_.empty(); }
  size_t size() const { return ids_.size(); }
  bool Contains(NodeId id) const { return ids_.count(id) != 0; }

  // The largest index acknowledged by a majority of the voters (ids missing from `acked`
  // count as 0). An empty config returns kNoLimit so that it never constrains a joint one.
  Index CommittedIndex(const std::map<NodeId, Index>& acked) const;

  // kWon once a majority voted yes, kLost once a majority can no longer be reached,
  // otherwise kPending. Missing ids have not voted. An empty config wins (joint shape).
  VoteResult Vote(const std::map<NodeId, bool>& votes) const;

 private:
  std::set<NodeId> ids_;
};

// Two majority configs that must both agree (joint consensus, §4.3). When `outgoing` is
// empty it behaves exactly like `incoming`.
struct JointConfig {
  MajorityConfig incoming;
  MajorityConfig outgoing;

  std::set<NodeId> Ids() const;
  bool Contains(NodeId id) const { return incoming.Contains(id) || outgoing.Contains(id); }
  Index CommittedIndex(const std::map<NodeId, Index>& acked) const;
  VoteResult Vote(const std::map<NodeId, bool>& votes) const;
};

}  // namespace raftkv::raft
