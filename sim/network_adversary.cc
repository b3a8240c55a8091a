// The network's adversarial delivery modes (issue 11), both opt-in fault kinds:
//
//   stale   a message is delivered once more, late (NetworkOptions::stale_rate): a stale
//           duplicate or retransmitted AppendEntries that arrives after newer ones from the
//           same leader, a vote request or response from an election long over, a deposed
//           leader's append reaching a follower of its successor;
//   replay  the network keeps a sample of old messages and the nemesis re-injects a burst
//           of them much later (ReplayRecorded), seconds and several terms after they were
//           sent, as a router with a stuck queue would.
//
// A correct core ignores or safely answers all of them (terms, §5.1; the AppendEntries
// consistency check and "truncate only on conflict", §5.3; stale acknowledgements never
// move a match index back). Both keep the link rules: a copy arriving over a cut link is
// lost like any other.
#include "sim/network.h"

namespace raftkv::sim {

namespace {

// How many old messages the record keeps, and how often a message of the frequent kinds
// (heartbeats and their responses, append acknowledgements) is kept: 1 in kSampleEvery.
// Appends with entries and everything an election or a transfer sends are all kept, so the
// record reaches back several seconds of replication and several elections.
constexpr size_t kRecordKeep = 1024;
constexpr uint64_t kSampleEvery = 16;

bool AlwaysKept(const raft::Message& m) {
  switch (m.type) {
    case raft::MessageType::kAppend: return !m.entries.empty();
    case raft::MessageType::kVote:
    case raft::MessageType::kVoteResponse:
    case raft::MessageType::kPreVote:
    case raft::MessageType::kPreVoteResponse:
    case raft::MessageType::kTimeoutNow:
    case raft::MessageType::kSnapshot: return true;
    default: return false;
  }
}

}  // namespace

void Network::maybeSendStale(const raft::Message& msg) {
  if (!(options_.stale_rate > 0) || !rng_->Chance(options_.stale_rate)) return;
  ++stats_.stale;
  scheduleCopy(msg, rng_->Range(options_.stale_min_delay, options_.stale_max_delay),
               /*duplicate=*/true);
}

void Network::maybeRecord(const raft::Message& msg) {
  if (!options_.record) return;
  if (!AlwaysKept(msg) && ++record_counter_ % kSampleEvery != 0) return;
  if (recorded_.size() >= kRecordKeep) recorded_.pop_front();
  recorded_.push_back(msg);
}

size_t Network::ReplayRecorded(size_t count, Time max_delay, raft::NodeId to) {
  std::vector<size_t> candidates;
  for (size_t i = 0; i < recorded_.size(); ++i) {
    if (to == raft::kNoNode || recorded_[i].to == to) candidates.push_back(i);
  }
  size_t sent = 0;
  for (; sent < count && !candidates.empty(); ++sent) {
    size_t pick = rng_->Uniform(candidates.size());
    ++stats_.replayed;
    scheduleCopy(recorded_[candidates[pick]], rng_->Range(0, max_delay), /*duplicate=*/true);
    candidates[pick] = candidates.back();
    candidates.pop_back();
  }
  return sent;
}

}  // namespace raftkv::sim
