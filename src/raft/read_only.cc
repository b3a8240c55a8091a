#include "raft/read_only.h"

#include <map>

namespace raftkv::raft {
namespace {
const char kPrefix[] = "ri:";

bool ParseContext(const std::string& ctx, uint64_t* id) {
  if (ctx.rfind(kPrefix, 0) != 0 || ctx.size() == sizeof(kPrefix) - 1) return false;
  uint64_t v = 0;
  for (size_t i = sizeof(kPrefix) - 1; i < ctx.size(); i++) {
    char c = ctx[i];
    if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *id = v;
  return true;
}
}  // namespace

std::string ReadOnly::StartRound(Index commit, NodeId self) {
  Round r;
  r.id = next_id_++;
  r.index = commit;
  r.acks.insert(self);
  r.reads = std::move(pending_);
  pending_.clear();
  rounds_.push_back(std::move(r));
  return kPrefix + std::to_string(rounds_.back().id);
}

std::string ReadOnly::LatestContext() const {
  if (rounds_.empty()) return "";
  return kPrefix + std::to_string(rounds_.back().id);
}

std::vector<CompletedRead> ReadOnly::RecvAck(NodeId from, const std::string& context,
                                             const JointConfig& voters) {
  std::vector<CompletedRead> done;
  uint64_t id = 0;
  if (!ParseContext(context, &id)) return done;
  // The ack counts for every round up to `id`.
  size_t last_done = 0;
  bool any = false;
  for (size_t i = 0; i < rounds_.size() && rounds_[i].id <= id; i++) {
    rounds_[i].acks.insert(from);
    std::map<NodeId, bool> votes;
    for (NodeId a : rounds_[i].acks) votes[a] = true;
    if (voters.Vote(votes) == VoteResult::kWon) {
      last_done = i;
      any = true;
    }
  }
  if (!any) return done;
  // A quorum for round k confirms every earlier round too.
  for (size_t i = 0; i <= last_done; i++) {
    for (auto& req : rounds_.front().reads) {
      done.push_back(CompletedRead{rounds_.front().index, std::move(req)});
    }
    rounds_.pop_front();
  }
  return done;
}

void ReadOnly::Reset() {
  pending_.clear();
  rounds_.clear();
}

}  // namespace raftkv::raft
