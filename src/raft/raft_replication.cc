// Log replication: the leader's AppendEntries/heartbeats and the follower's handling of
// them, the commit rule, flow control, check-quorum.
#include <algorithm>

#include "common/check.h"
#include "raft/raft.h"

namespace raftkv::raft {

// ---- Ticks ----

void Raft::Tick() {
  tick_count_++;
  if (leader_contact_elapsed_ < election_tick_) leader_contact_elapsed_++;
  if (role_ == Role::kLeader) {
    TickHeartbeat();
  } else {
    TickElection();
  }
}

void Raft::TickElection() {
  election_elapsed_++;
  handoff_elapsed_++;
  if (Promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    Message m;
    m.type = MessageType::kHup;
    (void)Step(m);
  }
}

void Raft::TickHeartbeat() {
  if (removed_leader_ && ++removal_ticks_ >= 2 * election_tick_) {
    BecomeFollower(term_, kNoNode);  // the handoff did not finish; the others time out
    return;
  }
  heartbeat_elapsed_++;
  election_elapsed_++;
  if (election_elapsed_ >= election_tick_) {
    election_elapsed_ = 0;
    if (check_quorum_) {
      Message m;
      m.type = MessageType::kCheckQuorum;
      (void)Step(m);
    }
    if (role_ != Role::kLeader) return;
    // A transfer that did not finish within an election timeout is abandoned (§3.10).
    lead_transferee_ = kNoNode;
  }
  if (heartbeat_elapsed_ >= heartbeat_tick_) {
    heartbeat_elapsed_ = 0;
    Message m;
    m.type = MessageType::kBeat;
    (void)Step(m);
  }
}

// ---- Leader ----

Status Raft::AppendEntries(std::vector<Entry> ents) {
  uint64_t size = 0;
  for (const Entry& e : ents) size += e.data.size();
  // Bound the uncommitted tail so a slow quorum or disk cannot exhaust memory (a single
  // proposal is always let in when nothing is outstanding, so no entry is stuck forever).
  if (max_uncommitted_size_ > 0 && size > 0 && uncommitted_size_ > 0 &&
      uncommitted_size_ + size > max_uncommitted_size_) {
    return Status::Busy("too many uncommitted bytes");
  }
  Index li = log_.LastIndex();
  for (size_t i = 0; i < ents.size(); i++) {
    ents[i].term = term_;
    ents[i].index = li + 1 + i;
  }
  // Leader Append-Only (§5.3, Figure 3): a leader only ever appends at its log's end.
  RAFTKV_CHECK(ents.front().index == log_.LastIndex() + 1, "§5.3 Leader Append-Only");
  log_.Append(ents);
  uncommitted_size_ += size;
  // Our own copy is not counted yet: see OnStable (thesis §10.2.1).
  return Status::OK();
}

void Raft::OnStable(Index index, Term term) {
  log_.StableTo(index, term);
  if (role_ != Role::kLeader) return;
  Index durable = std::min(index, log_.LastStableIndex());
  if (durable == 0 || !log_.MatchTerm(durable, log_.TermOrZero(durable))) return;
  auto self = prs_.find(id_);
  if (self != prs_.end() && self->second.MaybeUpdate(durable) && MaybeCommit()) BcastAppend();
}

void Raft::OnSnapshotStable(Index index) {
  log_.StableSnapTo(index);
}

void Raft::OnApplied(Index index, uint64_t applied_bytes) {
  log_.AppliedTo(index);
  uncommitted_size_ = applied_bytes >= uncommitted_size_ ? 0 : uncommitted_size_ - applied_bytes;
  MaybeAutoLeave();
}

bool Raft::MaybeSendAppend(NodeId to, bool send_if_empty) {
  Progress& pr = prs_.at(to);
  if (pr.IsPaused()) return false;
  Index prev = pr.next - 1;
  auto prev_term = log_.TermAt(prev);
  auto ents = log_.EntriesFrom(pr.next, max_size_per_msg_);
  if (!prev_term.ok() || !ents.ok()) return MaybeSendSnapshot(to, pr);
  if (ents->empty() && !send_if_empty) return false;
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = log_.committed();
  uint64_t bytes = 0;
  for (const Entry& e : *ents) bytes += e.SizeBytes();
  size_t n = ents->size();
  Index last = n > 0 ? ents->back().index : prev;
  m.entries = std::move(*ents);
  pr.SentEntries(n, last, bytes);
  Send(std::move(m));
  return true;
}

bool Raft::MaybeSendSnapshot(NodeId to, Progress& pr) {
  if (!pr.recent_active) return false;
  auto snap = log_.storage()->GetSnapshot();
  if (!snap.ok() || snap->IsEmpty()) return false;  // not ready yet: retried later
  pr.BecomeSnapshot(snap->meta.index);
  Message m;
  m.type = MessageType::kSnapshot;
  m.to = to;
  m.snapshot = std::move(*snap);
  Send(std::move(m));
  return true;
}

void Raft::BcastAppend() {
  for (auto& [id, pr] : prs_) {
    if (id != id_) SendAppend(id);
  }
}

void Raft::SendHeartbeat(NodeId to, const std::string& ctx) {
  // The follower may not have our entries up to commit yet: tell it no more than it
  // is known to match, so it never commits an entry it might not hold.
  Message m;
  m.type = MessageType::kHeartbeat;
  m.to = to;
  m.commit = std::min(prs_.at(to).match, log_.committed());
  m.index = tick_count_;  // echoed back: dates the acknowledgement for the lease
  m.context = ctx;
  Send(std::move(m));
}

void Raft::BcastHeartbeat() {
  MaybeArmRemovedLeaderHandoff();
  std::string ctx = read_only_.LatestContext();
  for (auto& [id, pr] : prs_) {
    if (id != id_) SendHeartbeat(id, ctx);
  }
}

bool Raft::MaybeCommit() {
  std::map<NodeId, Index> acked;
  for (const auto& [id, pr] : prs_) acked[id] = pr.match;
  Index mci = voters_.CommittedIndex(acked);
  if constexpr (kPlantedBug == 1) {
    // BUG: commits whatever a majority holds, even an entry of a previous term (Figure 8).
    if (mci > log_.committed() && mci <= log_.LastIndex()) {
      log_.CommitTo(mci);
      return true;
    }
    return false;
  }
  bool moved = log_.MaybeCommit(mci, term_);
  if (moved) {
    // §5.4.2: a leader commits by counting replicas only an entry of its current term.
    RAFTKV_CHECK(log_.TermOrZero(log_.committed()) == term_, "§5.4.2 commit only current term");
  }
  return moved;
}

bool Raft::CommittedEntryInCurrentTerm() const {
  return log_.TermOrZero(log_.committed()) == term_;
}

std::optional<uint64_t> Raft::LeaseSentTick() const {
  if (!check_quorum_ || role_ != Role::kLeader || lead_transferee_ != kNoNode) return std::nullopt;
  std::map<NodeId, Index> acked;  // 1 + the send tick each voter acknowledged; 0: none
  for (const auto& [id, pr] : prs_) acked[id] = id == id_ ? tick_count_ + 1 : pr.lease_tick;
  uint64_t q = voters_.CommittedIndex(acked);  // newest send tick a quorum acknowledged
  if (q == 0) return std::nullopt;
  return q - 1;
}

bool Raft::LeaseValid() const {
  std::optional<uint64_t> sent = LeaseSentTick();
  // Followers count the election timeout on their own clocks, starting no earlier than
  // our send tick.
  return sent && tick_count_ - *sent < static_cast<uint64_t>(LeaseTicks());
}

bool Raft::QuorumActive() {
  std::map<NodeId, bool> active;
  for (auto& [id, pr] : prs_) {
    if (pr.is_learner) continue;
    active[id] = id == id_ || pr.recent_active;
    if (id != id_) pr.recent_active = false;
  }
  return voters_.Vote(active) == VoteResult::kWon;
}

Status Raft::StepLeader(const Message& m) {
  switch (m.type) {
    case MessageType::kBeat: BcastHeartbeat(); return Status::OK();
    case MessageType::kCheckQuorum:
      // Thesis §6.2: a leader that has not heard from a quorum for an election timeout
      // may be partitioned away; it steps down so clients look elsewhere.
      if (!QuorumActive()) BecomeFollower(term_, kNoNode);
      return Status::OK();
    case MessageType::kPropose: {
      if (!prs_.count(id_) || removed_leader_) {
        return Status::NotLeader("leader was removed from the configuration");
      }
      if (lead_transferee_ != kNoNode) return Status::Busy("leadership transfer in progress");
      RAFTKV_RETURN_IF_ERROR(CheckConfChangeProposal(m.entries));
      std::vector<Entry> ents = m.entries;
      RAFTKV_RETURN_IF_ERROR(AppendEntries(std::move(ents)));
      for (Index i = 0; i < m.entries.size(); i++) {
        if (m.entries[i].type == EntryType::kConfChange) {
          pending_conf_index_ = log_.LastIndex() - m.entries.size() + 1 + i;
        }
      }
      BcastAppend();
      return Status::OK();
    }
    case MessageType::kReadIndex: HandleReadIndex(m); return Status::OK();
    default: break;
  }
  auto it = prs_.find(m.from);
  if (it == prs_.end()) return Status::InvalidArgument("message from an unknown peer");
  Progress& pr = it->second;
  switch (m.type) {
    case MessageType::kAppendResponse: HandleAppendResponse(m, pr); break;
    case MessageType::kHeartbeatResponse: HandleHeartbeatResponse(m, pr); break;
    case MessageType::kSnapshotStatus:
      if (pr.state != ProgressState::kSnapshot) break;
      pr.BecomeProbe();
      // Wait for the next heartbeat answer before probing (etcd's behaviour).
      if (!m.reject) pr.probe_sent = true;
      break;
    case MessageType::kUnreachable:
      // The transport lost a message: stop pipelining, find the match point again.
      if (pr.state == ProgressState::kReplicate) pr.BecomeProbe();
      break;
    case MessageType::kTransferLeader: {
      NodeId target = m.from;
      if (pr.is_learner || target == id_) break;
      if (lead_transferee_ == target) break;
      election_elapsed_ = 0;  // the transfer must finish within an election timeout
      lead_transferee_ = target;
      if (pr.match == log_.LastIndex()) {
        Message tn;
        tn.type = MessageType::kTimeoutNow;
        tn.to = target;
        Send(std::move(tn));
      } else {
        SendAppend(target);
      }
      break;
    }
    default: break;
  }
  return Status::OK();
}

void Raft::HandleAppendResponse(const Message& m, Progress& pr) {
  pr.recent_active = true;
  if (m.reject) {
    // Fast backtracking: the follower's hint names the last index that can possibly
    // match; jumping over our entries of larger terms costs one round trip per term.
    Index next_probe = m.reject_hint;
    if (m.log_term > 0) next_probe = log_.FindConflictByTerm(m.reject_hint, m.log_term).first;
    if (pr.MaybeDecrTo(m.index, next_probe)) {
      if (pr.state == ProgressState::kReplicate) pr.BecomeProbe();
      SendAppend(m.from);
    }
    return;
  }
  if (m.index > log_.LastIndex()) return;  // acknowledges entries we never had: garbage
  bool old_paused = pr.IsPaused();
  // A probe answered at exactly the known match point also ends probing.
  bool probe_confirmed = pr.state == ProgressState::kProbe && pr.match == m.index;
  if (!pr.MaybeUpdate(m.index) && !probe_confirmed) return;
  switch (pr.state) {
    case ProgressState::kProbe: pr.BecomeReplicate(); break;
    case ProgressState::kSnapshot:
      if (pr.match + 1 >= log_.FirstIndex()) {
        pr.BecomeProbe();
        pr.BecomeReplicate();
      }
      break;
    case ProgressState::kReplicate: pr.inflights.FreeLE(m.index); break;
  }
  if (MaybeCommit()) {
    BcastAppend();
  } else if (old_paused) {
    SendAppend(m.from);
  }
  // Pipeline: keep sending while the window has room.
  while (MaybeSendAppend(m.from, false)) {
  }
  if (m.from == lead_transferee_ && pr.match == log_.LastIndex()) {
    Message tn;
    tn.type = MessageType::kTimeoutNow;
    tn.to = m.from;
    Send(std::move(tn));
  }
}

void Raft::HandleHeartbeatResponse(const Message& m, Progress& pr) {
  pr.recent_active = true;
  pr.probe_sent = false;
  if (pr.state == ProgressState::kReplicate && pr.inflights.Full()) pr.inflights.FreeFirstOne();
  // The follower is alive but the snapshot seems lost (nobody reported it): retry.
  if (pr.state == ProgressState::kSnapshot && ++pr.snapshot_heartbeats >= election_tick_) {
    pr.BecomeProbe();
  }
  if (pr.match < log_.LastIndex()) SendAppend(m.from);
  pr.lease_tick = std::max(pr.lease_tick, std::min(m.index, tick_count_) + 1);
  OnRemovedLeaderAck(m);
  if (role_ != Role::kLeader) return;
  if (m.context.empty()) return;
  for (const CompletedRead& r : read_only_.RecvAck(m.from, m.context, voters_)) {
    CompleteRead(r.index, r.request);
  }
}

// ---- Follower ----

void Raft::HandleAppendEntries(const Message& m) {
  Message resp;
  resp.type = MessageType::kAppendResponse;
  resp.to = m.from;
  if (m.index < log_.committed()) {
    // Everything up to our commit index matches any leader's log (§5.4): say so.
    resp.index = log_.committed();
    Send(std::move(resp));
    return;
  }
  auto r = log_.MaybeAppend(m.index, m.log_term, m.commit, m.entries);
  if (!r.ok()) return;  // would overwrite committed entries: refuse silently
  if (r->has_value()) {
    resp.index = **r;
    Send(std::move(resp));
    return;
  }
  // Conflict hint (§5.3): the largest index <= the probe whose term is <= the probe's
  // term. Everything after it certainly conflicts.
  Index hint_index = std::min(m.index, log_.LastIndex());
  auto [hint, hint_term] = log_.FindConflictByTerm(hint_index, m.log_term);
  resp.index = m.index;
  resp.reject = true;
  resp.reject_hint = hint;
  resp.log_term = hint_term;
  Send(std::move(resp));
}

void Raft::HandleHeartbeat(const Message& m) {
  // The leader sends min(match, commit), so we hold every entry up to it. A commit beyond
  // our log is garbage (or from a confused sender): ignored, never trusted.
  if (m.commit <= log_.LastIndex()) log_.CommitTo(m.commit);
  Message resp;
  resp.type = MessageType::kHeartbeatResponse;
  resp.to = m.from;
  resp.index = m.index;
  resp.context = m.context;
  Send(std::move(resp));
}

void Raft::HandleSnapshot(const Message& m) {
  Message resp;
  resp.type = MessageType::kAppendResponse;
  resp.to = m.from;
  resp.index = Restore(*m.snapshot) ? log_.LastIndex() : log_.committed();
  Send(std::move(resp));
}

bool Raft::Restore(const Snapshot& s) {
  if (s.meta.index <= log_.committed()) return false;
  if (log_.MatchTerm(s.meta.index, s.meta.term)) {
    // We already have the snapshot's last entry: just fast-forward the commit index.
    log_.CommitTo(s.meta.index);
    return false;
  }
  if (s.meta.conf.voters.empty()) return false;  // malformed: no configuration
  log_.Restore(s);
  restored_index_ = s.meta.index;
  // Thesis §5.1: the snapshot carries the configuration as of its last index; the entries
  // that produced it are gone, so it must replace ours.
  if constexpr (kPlantedBug != 6) conf_ = s.meta.conf;  // BUG 6: keeps the old one
  InitProgress(conf_);
  return true;
}

}  // namespace raftkv::raft
