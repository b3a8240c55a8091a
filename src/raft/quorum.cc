#include "raft/quorum.h"

#include <algorithm>
#include <vector>

#include "raft/log_storage.h"

namespace raftkv::raft {

const char* VoteResultName(VoteResult r) {
  switch (r) {
    case VoteResult::kPending: return "Pending";
    case VoteResult::kLost: return "Lost";
    case VoteResult::kWon: return "Won";
  }
  return "Unknown";
}

Index MajorityConfig::CommittedIndex(const std::map<NodeId, Index>& acked) const {
  if (ids_.empty()) return kNoLimit;
  std::vector<Index> idx;
  idx.reserve(ids_.size());
  for (NodeId id : ids_) {
    auto it = acked.find(id);
    idx.push_back(it == acked.end() ? 0 : it->second);
  }
  // Sorted descending, the (n/2+1)-th value is held by a majority.
  std::sort(idx.begin(), idx.end(), std::greater<Index>());
  return idx[ids_.size() / 2];
}

VoteResult MajorityConfig::Vote(const std::map<NodeId, bool>& votes) const {
  if (ids_.empty()) return VoteResult::kWon;
  size_t yes = 0, missing = 0;
  for (NodeId id : ids_) {
    auto it = votes.find(id);
    if (it == votes.end()) {
      missing++;
    } else if (it->second) {
      yes++;
    }
  }
  size_t q = ids_.size() / 2 + 1;
  if (yes >= q) return VoteResult::kWon;
  if (yes + missing >= q) return VoteResult::kPending;
  return VoteResult::kLost;
}

std::set<NodeId> JointConfig::Ids() const {
  std::set<NodeId> all = incoming.ids();
  all.insert(outgoing.ids().begin(), outgoing.ids().end());
  return all;
}

Index JointConfig::CommittedIndex(const std::map<NodeId, Index>& acked) const {
  return std::min(incoming.CommittedIndex(acked), outgoing.CommittedIndex(acked));
}

VoteResult JointConfig::Vote(const std::map<NodeId, bool>& votes) const {
  VoteResult a = incoming.Vote(votes);
  VoteResult b = outgoing.Vote(votes);
  if (a == b) return a;
  if (a == VoteResult::kLost || b == VoteResult::kLost) return VoteResult::kLost;
  return VoteResult::kPending;
}

}  // namespace raftkv::raft
