// ReadIndex (thesis §6.4): linearizable reads without writing to the log.
#include "common/check.h"
#include "raft/raft.h"

namespace raftkv::raft {

void Raft::HandleReadIndex(const Message& m) {
  ReadRequest req{m.from == kNoNode ? id_ : m.from, m.context};
  if (read_only_option_ == Config::ReadOnlyOption::kLeaseBased && CommittedEntryInCurrentTerm() &&
      LeaseValid()) {
    // Thesis §6.4.1: no other leader can exist while a quorum's lease holds. An expired
    // lease falls back to the safe heartbeat round below.
    CompleteRead(log_.committed(), req);
    return;
  }
  // Queued; a leader that has not committed an entry of its term does not yet know the
  // commit index (§6.4 step 1), so the batch waits until it has.
  read_only_.Add(std::move(req));
}

bool Raft::HasReadWork() const {
  return role_ == Role::kLeader && read_only_.HasPending() && CommittedEntryInCurrentTerm();
}

void Raft::MaybeStartReadRound() {
  if (!HasReadWork()) return;
  if (read_only_option_ == Config::ReadOnlyOption::kLeaseBased && LeaseValid()) {
    // Reads deferred until the first commit of our term: the lease answers them now.
    for (const ReadRequest& req : read_only_.TakePending()) CompleteRead(log_.committed(), req);
    return;
  }
  std::string ctx = read_only_.StartRound(log_.committed(), id_);
  if (voters_.Vote({{id_, true}}) == VoteResult::kWon) {
    // A single voter confirms its own leadership.
    for (const CompletedRead& r : read_only_.RecvAck(id_, ctx, voters_)) {
      CompleteRead(r.index, r.request);
    }
    return;
  }
  for (auto& [id, pr] : prs_) {
    if (id != id_) SendHeartbeat(id, ctx);
  }
}

void Raft::CompleteRead(Index index, const ReadRequest& req) {
  RAFTKV_CHECK(index <= log_.committed(), "a read index is a committed index");
  if (req.from == id_) {
    read_states_.push_back(ReadState{index, req.context});
    return;
  }
  Message resp;
  resp.type = MessageType::kReadIndexResponse;
  resp.to = req.from;
  resp.index = index;
  resp.context = req.context;
  Send(std::move(resp));
}

}  // namespace raftkv::raft
