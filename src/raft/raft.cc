#include "raft/raft.h"

#include <algorithm>
#include <set>

#include "common/check.h"
#include "raft/conf_change.h"
#include "raft/conf_changer.h"

namespace raftkv::raft {

Raft::Raft(const Config& c)
    : id_(c.id),
      log_(c.storage),
      election_tick_(c.election_tick),
      heartbeat_tick_(c.heartbeat_tick),
      random_(c.random),
      max_size_per_msg_(c.max_size_per_msg),
      max_inflight_(static_cast<size_t>(c.max_inflight_msgs)),
      max_uncommitted_size_(c.max_uncommitted_entries_size),
      max_learner_lag_(c.max_learner_lag),
      pre_vote_(c.pre_vote),
      check_quorum_(c.check_quorum),
      read_only_option_(c.read_only),
      disable_proposal_forwarding_(c.disable_proposal_forwarding) {
  // Thesis §6.4.1: a cluster that serves lease reads keeps, after a restart, the promise we
  // may have made to a leader just before stopping (we cannot know: it is not persisted).
  // Without lease reads the in-lease vote refusal is only against disruption (§4.2.3), and a
  // restarted node may vote at once, as in etcd.
  leader_contact_elapsed_ =
      read_only_option_ == Config::ReadOnlyOption::kLeaseBased ? 0 : election_tick_;
}

Result<std::unique_ptr<Raft>> Raft::New(const Config& config, const std::vector<NodeId>& peers) {
  RAFTKV_RETURN_IF_ERROR(config.Validate());
  for (NodeId p : peers) {
    if (p == kNoNode) return Status::InvalidArgument("peers: node id 0 is reserved");
  }
  std::unique_ptr<Raft> r(new Raft(config));
  LogStorage* storage = config.storage;
  auto init = storage->GetInitialState();
  if (!init.ok()) return init.status();
  ConfState cs = init->conf_state;
  bool empty = storage->LastIndex() == 0 && init->hard_state.IsEmpty();
  if (empty && !peers.empty()) {
    // Bootstrap (etcd's Bootstrap): the initial configuration as committed log entries at
    // term 1, so every member's log starts identical.
    std::set<NodeId> uniq(peers.begin(), peers.end());
    std::vector<Entry> ents;
    for (NodeId p : uniq) {
      ConfChange cc;
      cc.changes.push_back(ConfChangeSingle{ConfChangeType::kAddNode, p});
      ents.push_back(Entry{1, ents.size() + 1, EntryType::kConfChange, EncodeConfChange(cc)});
    }
    r->log_.Append(ents);
    r->term_ = 1;
    r->log_.CommitTo(ents.size());
    // The configuration comes from applying these entries, as on every restart, so every
    // node has the same configuration at every index (the first Ready hands them out).
    cs = ConfState{};
  } else {
    const HardState& hs = init->hard_state;
    if (hs.commit > r->log_.LastIndex()) {
      return Status::Corruption("hard state commit index beyond the stored log");
    }
    r->term_ = hs.term;
    r->vote_ = hs.vote;
    r->durable_term_ = hs.term;
    // A commit index below the snapshot's (its write lagged) is raised to it: a snapshot
    // holds only committed state.
    r->log_.CommitTo(hs.commit);
    // So is one below a configuration change that a later change in the log proves
    // committed (see CommittedByLaterChange).
    auto proven = CommittedByLaterChange(r->log_);
    if (!proven.ok()) return proven.status();
    r->log_.CommitTo(std::max(r->log_.committed(), *proven));
  }
  if (config.applied > 0) {
    Index applied = config.applied;
    if constexpr (kPlantedBug == 4) applied = std::min(applied, r->log_.committed());
    if (applied > r->log_.LastIndex()) {
      return Status::InvalidArgument("config.applied is beyond the last index");
    }
    // Applied entries were committed; the persisted commit index may lag (it need not be
    // synced), so catch up rather than refuse to start.
    r->log_.CommitTo(applied);
    r->log_.AppliedTo(applied);
  }
  // Restart: the stored configuration is the snapshot's; the changes the application has
  // applied since (up to config.applied) are replayed here, and later ones reach the core
  // through ApplyConfChange as the application re-applies the log. Until then the node
  // refuses to campaign (HasUnappliedConfChange), so it never decides with a stale one.
  if (!empty) {
    // The log may keep entries before the snapshot (compaction trails it): those are in
    // the snapshot's configuration already.
    Index snap_index = r->log_.FirstIndex() - 1;
    auto snap = storage->GetSnapshot();
    if (snap.ok()) snap_index = std::max(snap_index, snap->meta.index);
    auto replayed = ReplayConfChanges(r->log_, cs, snap_index + 1, r->log_.applied());
    if (!replayed.ok()) return replayed.status();
    cs = *replayed;
  }
  // No voters: a node joining an existing cluster; it learns the configuration from the
  // leader's log (or snapshot) and never campaigns meanwhile.
  r->conf_ = cs;
  r->InitProgress(cs);
  r->BecomeFollower(r->term_, kNoNode);
  return r;
}

void Raft::InitProgress(const ConfState& cs) {
  prs_.clear();
  SyncProgress(cs);
}

void Raft::SyncProgress(const ConfState& cs) {
  voters_ = ToJointConfig(cs);
  std::set<NodeId> members = Members(cs);
  for (auto it = prs_.begin(); it != prs_.end();) {
    it = members.count(it->first) ? std::next(it) : prs_.erase(it);
  }
  for (NodeId id : members) {
    bool learner = !voters_.Contains(id);
    auto [it, added] = prs_.try_emplace(id, Progress(log_.LastIndex() + 1, max_inflight_, learner));
    it->second.is_learner = learner;
    // A member added while we lead starts probing at our log's end (etcd does the same).
    if (added && role_ == Role::kLeader) it->second.recent_active = true;
  }
}

// ---- Role transitions ----

void Raft::ResetRandomizedElectionTimeout() {
  // §5.2 / thesis §9.3: spread timeouts in [election_tick, 2*election_tick) so that split
  // votes are rare.
  randomized_election_timeout_ =
      election_tick_ + static_cast<int>(random_->Uniform(static_cast<uint64_t>(election_tick_)));
}

void Raft::Reset(Term term) {
  RAFTKV_CHECK(term >= term_, "§5.1 the current term never decreases");
  if (term != term_) {
    term_ = term;
    vote_ = kNoNode;
  }
  lead_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetRandomizedElectionTimeout();
  lead_transferee_ = kNoNode;
  votes_.clear();
  for (auto& [id, pr] : prs_) {
    bool learner = pr.is_learner;
    pr = Progress(log_.LastIndex() + 1, max_inflight_, learner);
  }
  read_only_.Reset();
  uncommitted_size_ = 0;
  removed_leader_ = false;
  removal_armed_ = false;
  removal_acks_.clear();
}

void Raft::BecomeFollower(Term term, NodeId lead) {
  Reset(term);
  lead_ = lead;
  role_ = Role::kFollower;
}

void Raft::BecomePreCandidate() {
  RAFTKV_CHECK(role_ != Role::kLeader, "a leader never becomes a pre-candidate");
  // Thesis §9.6: no term change and no vote: a pre-candidate only asks.
  votes_.clear();
  lead_ = kNoNode;
  role_ = Role::kPreCandidate;
}

void Raft::BecomeCandidate() {
  RAFTKV_CHECK(role_ != Role::kLeader, "a leader never becomes a candidate");
  Reset(term_ + 1);
  vote_ = id_;  // §5.2: a candidate votes for itself
  role_ = Role::kCandidate;
}

void Raft::BecomeLeader() {
  // §5.2 Election Safety: only a candidate that won a vote quorum in this term leads it.
  RAFTKV_CHECK(role_ == Role::kCandidate, "§5.2 Election Safety: leader must come from candidate");
  RAFTKV_CHECK(voters_.Vote(votes_) == VoteResult::kWon,
               "§5.2 Election Safety: leader needs a vote quorum in its term");
  RAFTKV_CHECK(vote_ == id_, "§5.2 a candidate voted for itself in its term");
  Reset(term_);
  lead_ = id_;
  role_ = Role::kLeader;
  pending_conf_index_ = log_.LastIndex();  // earlier changes may be unapplied: wait
  // A removed node that won to hand over (CampaignToHandOver) has no progress of its own.
  if (auto self = prs_.find(id_); self != prs_.end()) {
    self->second.BecomeReplicate();
    // Thesis §10.2.1: our own copy counts only once durable.
    self->second.match = log_.LastStableIndex();
    self->second.next = log_.LastIndex() + 1;
    self->second.recent_active = true;
  }
  // §8: an empty entry of the new term lets the leader commit (and learn the commit
  // index of) everything before it.
  Status st = AppendEntries({Entry{}});
  RAFTKV_CHECK(st.ok(), "a new leader's empty entry is never refused");
  if (!voters_.Contains(id_)) BeginRemovedLeaderHandoff();
}

// ---- Elections ----

bool Raft::Promotable() const {
  auto it = prs_.find(id_);
  return it != prs_.end() && !it->second.is_learner && voters_.Contains(id_);
}

bool Raft::InLease() const {
  if (!check_quorum_) return false;
  // A leader's own election_elapsed_ restarts every election timeout (check-quorum).
  if (role_ == Role::kLeader) return true;
  return leader_contact_elapsed_ < election_tick_;
}

void Raft::Hup(bool transfer) {
  if (role_ == Role::kLeader || !Promotable()) return;
  // A committed configuration change we have not applied may remove us or change the
  // quorum: campaign only once it is applied (etcd's rule).
  if (HasUnappliedConfChange()) return;
  Campaign(pre_vote_ && !transfer, transfer);
}

VoteResult Raft::Poll(NodeId id, bool granted) {
  votes_.emplace(id, granted);  // the first answer of each voter counts
  return voters_.Vote(votes_);
}

void Raft::MaybeBecomeLeader() {
  RAFTKV_CHECK(role_ == Role::kCandidate && voters_.Vote(votes_) == VoteResult::kWon,
               "only a candidate with a vote quorum may lead");
  // Figure 2 ("persist before responding"), applied to ourselves: our own vote and term
  // must survive a crash before we act on the election (see durable_term_).
  if (durable_term_ != term_) return;  // OnHardStateStable finishes the election
  BecomeLeader();
  BcastAppend();
}

void Raft::OnHardStateStable(const HardState& hs) {
  if (hs.term <= durable_term_) return;
  durable_term_ = hs.term;
  if (role_ == Role::kCandidate && hs.term == term_ && voters_.Vote(votes_) == VoteResult::kWon) {
    MaybeBecomeLeader();
  }
}

void Raft::Campaign(bool pre_vote, bool transfer) {
  MessageType type;
  Term term;
  if (pre_vote) {
    BecomePreCandidate();
    type = MessageType::kPreVote;
    term = term_ + 1;  // the term we would campaign in; ours is unchanged
  } else {
    BecomeCandidate();
    type = MessageType::kVote;
    term = term_;
  }
  if (Poll(id_, true) == VoteResult::kWon) {
    // A single-voter cluster wins at once, but leads only once its term is durable.
    if (pre_vote) {
      Campaign(false, transfer);
    } else {
      MaybeBecomeLeader();
    }
    return;
  }
  for (NodeId id : voters_.Ids()) {
    if (id == id_) continue;
    Message m;
    m.type = type;
    m.to = id;
    m.term = term;
    m.index = log_.LastIndex();
    m.log_term = log_.LastTerm();
    if (transfer) m.context = kTransferContext;
    Send(std::move(m));
  }
}

// A node that is not a voter of its own configuration never campaigns, except here. A
// change it has applied removed or demoted it, so that change is committed; yet a server
// that still counts it as a voter asks for its vote, with a log behind ours, which we must
// refuse (§5.4.1). That server has not learned the commit: the removed leader crashed or
// stepped down before its handoff (BeginRemovedLeaderHandoff) finished, and nobody else
// may ever tell it, so the cluster would stall waiting for our vote. We campaign in our own
// (newer) configuration instead, win only with a quorum of it (whose logs are no more
// up to date than ours, §5.4.1), lead only to hand the commit index over, and step down.
// Safety is that of any election: the quorum and log rules, and not while a committed
// change is unapplied (sim/check/config_checker.h makes no exception for non-voters).
void Raft::MaybeCampaignToHandOver() {
  if (role_ == Role::kLeader || Promotable() || voters_.Ids().empty()) return;
  // At most once per election timeout, and not while we hear from a leader.
  if (handoff_elapsed_ < election_tick_) return;
  if (HasUnappliedConfChange()) return;
  handoff_elapsed_ = 0;
  Campaign(pre_vote_, false);
}

void Raft::HandleVoteRequest(const Message& m) {
  Message resp;
  resp.to = m.from;
  resp.type =
      m.type == MessageType::kVote ? MessageType::kVoteResponse : MessageType::kPreVoteResponse;
  // §5.2: one vote per term (re-granting to the same candidate is fine). A pre-vote for a
  // later term may be granted even though we voted in ours: it changes nothing.
  bool can_vote = vote_ == m.from || (vote_ == kNoNode && lead_ == kNoNode) ||
                  (m.type == MessageType::kPreVote && m.term > term_);
  // Thesis §6.4.1: a leader we acknowledged less than an election timeout ago may be
  // serving lease reads; a vote now (even in a term we learned since) could elect a second
  // leader during its lease. Only the leader itself may waive that (transfer, §3.10).
  bool forced = m.context == kTransferContext;
  if (vote_ != m.from && !forced && InLease()) can_vote = false;
  bool up_to_date = log_.IsUpToDate(m.index, m.log_term);
  if constexpr (kPlantedBug == 2) up_to_date = true;
  if (!can_vote || !up_to_date) {
    if (term_ == 0) return;  // a node that knows no term yet (joining) has nothing to say
    resp.term = term_;
    resp.reject = true;
    Send(std::move(resp));
    if (!up_to_date) MaybeCampaignToHandOver();
    return;
  }
  // §5.4.1 election restriction: grant only to a candidate whose log is at least as
  // up-to-date as ours, so every leader holds every committed entry.
  if constexpr (kPlantedBug != 2) {
    RAFTKV_CHECK(log_.IsUpToDate(m.index, m.log_term), "§5.4.1 election restriction");
  }
  resp.term = m.term;  // for a pre-vote, the future term the candidate asked about
  if (m.type == MessageType::kVote) {
    RAFTKV_CHECK(vote_ == kNoNode || vote_ == m.from, "§5.2 at most one vote per term");
    RAFTKV_CHECK(m.term == term_, "a vote is granted only in the current term");
    election_elapsed_ = 0;
    vote_ = m.from;
    if constexpr (kPlantedBug == 3) {
      // BUG: the grant goes out before the vote is durable.
      vote_unpersisted_ = true;
      resp.from = id_;
      leader_msgs_.push_back(std::move(resp));
      return;
    }
  }
  // The grant is in msgs_: sent only after the Ready holding the vote is durable (§5.1).
  Send(std::move(resp));
}

// ---- Step ----

namespace {
constexpr uint64_t kMaxSane = uint64_t{1} << 62;
}  // namespace

Status Raft::Validate(const Message& m) const {
  switch (m.type) {
    case MessageType::kHup:
    case MessageType::kBeat:
    case MessageType::kCheckQuorum: return Status::OK();
    case MessageType::kPropose:
      if (m.from != id_ && !IsMember(m.from)) return Status::InvalidArgument("unknown sender");
      if (m.entries.empty()) return Status::InvalidArgument("proposal without entries");
      for (const Entry& e : m.entries) {
        if (e.type != EntryType::kNormal && e.type != EntryType::kConfChange) {
          return Status::InvalidArgument("proposal with an unknown entry type");
        }
      }
      return Status::OK();
    case MessageType::kReadIndex:
      if (m.from != id_ && !IsMember(m.from)) return Status::InvalidArgument("unknown sender");
      return Status::OK();
    case MessageType::kTransferLeader:
      if (!IsMember(m.from)) return Status::InvalidArgument("unknown transferee");
      return Status::OK();
    case MessageType::kUnreachable:
    case MessageType::kSnapshotStatus:
      if (m.from == id_ || !IsMember(m.from)) return Status::InvalidArgument("unknown peer");
      return Status::OK();
    case MessageType::kAppend:
    case MessageType::kAppendResponse:
    case MessageType::kVote:
    case MessageType::kVoteResponse:
    case MessageType::kPreVote:
    case MessageType::kPreVoteResponse:
    case MessageType::kSnapshot:
    case MessageType::kHeartbeat:
    case MessageType::kHeartbeatResponse:
    case MessageType::kReadIndexResponse:
    case MessageType::kTimeoutNow: break;
    default: return Status::InvalidArgument("unknown message type");
  }
  if (m.from == kNoNode || m.from == id_) return Status::InvalidArgument("bad sender");
  // A leader's messages and vote requests are accepted from servers not (yet) in our
  // configuration: a joining node, or one that has not applied the latest change, learns
  // the configuration from the leader's log. Everything else must come from a member.
  bool from_anyone = m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
                     m.type == MessageType::kSnapshot || m.type == MessageType::kVote ||
                     m.type == MessageType::kPreVote;
  if (!from_anyone && !IsMember(m.from)) return Status::InvalidArgument("unknown sender");
  if (m.to != id_) return Status::InvalidArgument("message addressed to another node");
  if (m.term == 0) return Status::InvalidArgument("network message without a term");
  // Far beyond anything a real cluster reaches; refusing them keeps +1 from overflowing.
  if (m.term > kMaxSane || m.log_term > kMaxSane || m.index > kMaxSane || m.commit > kMaxSane ||
      m.reject_hint > kMaxSane) {
    return Status::InvalidArgument("term or index out of range");
  }
  if (m.snapshot && (m.snapshot->meta.index > kMaxSane || m.snapshot->meta.term > kMaxSane)) {
    return Status::InvalidArgument("snapshot index or term out of range");
  }
  if (m.type == MessageType::kAppend) {
    if (m.log_term > m.term) return Status::InvalidArgument("append: log_term above term");
    if (m.index > kNoLimit - m.entries.size() - 1) return Status::InvalidArgument("append: index");
    Term prev = m.log_term;
    for (size_t i = 0; i < m.entries.size(); i++) {
      const Entry& e = m.entries[i];
      if (e.index != m.index + 1 + i) return Status::InvalidArgument("append: not contiguous");
      if (e.term < prev || e.term > m.term) return Status::InvalidArgument("append: bad term");
      if (e.type != EntryType::kNormal && e.type != EntryType::kConfChange) {
        return Status::InvalidArgument("append: unknown entry type");
      }
      prev = e.term;
    }
  }
  if (m.type == MessageType::kSnapshot && (!m.snapshot || m.snapshot->IsEmpty())) {
    return Status::InvalidArgument("snapshot message without a snapshot");
  }
  return Status::OK();
}

Status Raft::Step(const Message& m) {
  RAFTKV_RETURN_IF_ERROR(Validate(m));
  // Proposals, read requests, transfer requests and transport reports are forwarded or
  // local: their term (normally 0) is not a claim about the sender's term.
  bool termless = m.term == 0 || m.type == MessageType::kPropose ||
                  m.type == MessageType::kReadIndex || m.type == MessageType::kTransferLeader ||
                  m.type == MessageType::kUnreachable || m.type == MessageType::kSnapshotStatus;
  if (termless) {
    // Local message.
  } else if (m.term > term_) {
    if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
      // Thesis §4.2.3/§6.2: while we hear from a leader, a vote request is a disruption
      // (e.g. a partitioned node rejoining); ignore it unless the leader itself asked for
      // it (leadership transfer).
      bool force = m.context == kTransferContext;
      if (!force && InLease()) return Status::OK();
    }
    // Thesis §9.6: a pre-vote never changes our term, and a granted pre-vote carries the
    // future term, which we adopt only when we campaign.
    bool keeps_term =
        m.type == MessageType::kPreVote || (m.type == MessageType::kPreVoteResponse && !m.reject);
    if (!keeps_term) {
      bool from_leader = m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
                         m.type == MessageType::kSnapshot;
      // §5.1: a server that sees a higher term adopts it and becomes a follower.
      BecomeFollower(m.term, from_leader ? m.from : kNoNode);
    }
  } else if (m.term < term_) {
    if ((check_quorum_ || pre_vote_) &&
        (m.type == MessageType::kHeartbeat || m.type == MessageType::kAppend)) {
      // A stale leader (e.g. one we stopped hearing under check-quorum) learns our term
      // and steps down, instead of being ignored forever.
      Message resp;
      resp.type = MessageType::kAppendResponse;
      resp.to = m.from;
      Send(std::move(resp));
    } else if (m.type == MessageType::kPreVote) {
      Message resp;
      resp.type = MessageType::kPreVoteResponse;
      resp.to = m.from;
      resp.term = term_;
      resp.reject = true;
      Send(std::move(resp));
    }
    return Status::OK();  // §5.1: stale terms are ignored
  }

  if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
      m.type == MessageType::kSnapshot) {
    leader_contact_elapsed_ = 0;  // the leader of our term spoke: our promise is renewed
  }
  switch (m.type) {
    case MessageType::kHup: Hup(false); return Status::OK();
    case MessageType::kVote:
    case MessageType::kPreVote: HandleVoteRequest(m); return Status::OK();
    default: break;
  }
  switch (role_) {
    case Role::kLeader: return StepLeader(m);
    case Role::kCandidate:
    case Role::kPreCandidate: return StepCandidate(m);
    case Role::kFollower: return StepFollower(m);
  }
  return Status::OK();
}

Status Raft::StepCandidate(const Message& m) {
  MessageType resp_type =
      role_ == Role::kPreCandidate ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  switch (m.type) {
    case MessageType::kPropose: return Status::NotLeader("no leader: election in progress");
    case MessageType::kAppend:
      // §5.2: a candidate that hears from a leader of its term (or later) steps down.
      BecomeFollower(m.term, m.from);
      HandleAppendEntries(m);
      return Status::OK();
    case MessageType::kHeartbeat:
      BecomeFollower(m.term, m.from);
      HandleHeartbeat(m);
      return Status::OK();
    case MessageType::kSnapshot:
      BecomeFollower(m.term, m.from);
      HandleSnapshot(m);
      return Status::OK();
    default: break;
  }
  if (m.type == resp_type) {
    switch (Poll(m.from, !m.reject)) {
      case VoteResult::kWon:
        if (role_ == Role::kPreCandidate) {
          Campaign(false, false);
        } else {
          MaybeBecomeLeader();
        }
        break;
      case VoteResult::kLost: BecomeFollower(term_, kNoNode); break;
      case VoteResult::kPending: break;
    }
  }
  return Status::OK();
}

Status Raft::StepFollower(const Message& m) {
  switch (m.type) {
    case MessageType::kPropose: {
      if (lead_ == kNoNode) return Status::NotLeader("no leader known");
      if (disable_proposal_forwarding_) return Status::NotLeader("proposal forwarding disabled");
      Message fwd = m;
      fwd.from = kNoNode;
      fwd.to = lead_;
      Send(std::move(fwd));
      return Status::OK();
    }
    case MessageType::kAppend:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleAppendEntries(m);
      handoff_elapsed_ = 0;
      return Status::OK();
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleHeartbeat(m);
      handoff_elapsed_ = 0;
      return Status::OK();
    case MessageType::kSnapshot:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleSnapshot(m);
      handoff_elapsed_ = 0;
      return Status::OK();
    case MessageType::kTransferLeader:
    case MessageType::kReadIndex: {
      if (lead_ == kNoNode) return Status::NotLeader("no leader known");
      Message fwd = m;
      if (m.type == MessageType::kReadIndex) fwd.from = kNoNode;
      fwd.to = lead_;
      fwd.term = 0;
      Send(std::move(fwd));
      return Status::OK();
    }
    case MessageType::kTimeoutNow:
      // Thesis §3.10: the leader asked us to take over: campaign now, skipping pre-vote,
      // but never with a configuration a committed, unapplied change replaces (Hup, etcd's
      // rule; seed 943382: a transferee two changes behind won with a stale majority).
      Hup(true);
      return Status::OK();
    case MessageType::kReadIndexResponse:
      read_states_.push_back(ReadState{m.index, m.context});
      return Status::OK();
    default: return Status::OK();
  }
}

// ---- Output ----

void Raft::Send(Message m) {
  if (m.from == kNoNode) m.from = id_;
  bool vote_kind = m.type == MessageType::kVote || m.type == MessageType::kPreVote ||
                   m.type == MessageType::kVoteResponse || m.type == MessageType::kPreVoteResponse;
  if (vote_kind) {
    RAFTKV_CHECK(m.term != 0, "vote messages carry an explicit term");
  } else if (m.type != MessageType::kPropose && m.type != MessageType::kReadIndex &&
             m.type != MessageType::kTransferLeader) {
    m.term = term_;
  }
  // A leader's appends, heartbeats and snapshots depend only on state that is durable
  // already (its term and vote) and may leave before the Ready is persisted (§10.2.1).
  if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
      m.type == MessageType::kSnapshot) {
    RAFTKV_CHECK(m.term <= durable_term_, "§10.2.1 a leader speaks early only in a durable term");
    leader_msgs_.push_back(std::move(m));
  } else {
    msgs_.push_back(std::move(m));
  }
}

// ---- Configuration (thesis ch. 4; takes effect when applied, as in etcd) ----

Result<ConfState> ReplayConfChanges(const RaftLog& log, ConfState cs, Index from, Index up_to) {
  Index first = std::max(from, log.FirstIndex());
  if (up_to < first) return cs;
  auto ents = log.Slice(first, up_to + 1, kNoLimit);
  if (!ents.ok()) return ents.status();
  for (const Entry& e : *ents) {
    if (e.type != EntryType::kConfChange) continue;
    auto cc = DecodeConfChange(e.data);
    if (!cc.ok()) return Status::Corruption("configuration change entry does not decode");
    auto next = NextConfState(cs, *cc);
    if (next.ok()) cs = *next;  // a change refused at apply time left it unchanged then too
  }
  return cs;
}

// A leader appends a configuration change only after applying every earlier change in its
// log (CheckConfChangeProposal, §4.1), so whoever holds a change at index j holds that
// leader's log up to j (Log Matching, §5.3) and every change before j in it is committed.
// The synced commit index can lag this: a crash may tear the hard state record written
// after the entries of the same batch. Without raising it a restarted node would campaign
// (HasUnappliedConfChange sees nothing committed) with a configuration two changes old,
// whose majorities may miss the current one's (found by the simulator's
// disjoint-majorities check). Returns the index of the second-to-last change after the
// commit index, or 0.
Result<Index> CommittedByLaterChange(const RaftLog& log) {
  Index lo = std::max(log.committed() + 1, log.FirstIndex());
  if (lo > log.LastIndex()) return Index{0};
  auto ents = log.Slice(lo, log.LastIndex() + 1, kNoLimit);
  if (!ents.ok()) return ents.status();
  Index previous = 0, last = 0;
  for (const Entry& e : *ents) {
    if (e.type != EntryType::kConfChange) continue;
    previous = last;
    last = e.index;
  }
  return previous;
}

bool Raft::HasUnappliedConfChange() const {
  if (log_.committed() <= log_.applied()) return false;
  Index lo = std::max(log_.applied() + 1, log_.FirstIndex());
  auto ents = log_.Slice(lo, log_.committed() + 1, kNoLimit);
  if (!ents.ok()) return false;
  // Only a change that alters the configuration matters (the bootstrap entries re-add the
  // voters a freshly bootstrapped node already has).
  ConfState cs = conf_;
  for (const Entry& e : *ents) {
    if (e.type != EntryType::kConfChange) continue;
    auto cc = DecodeConfChange(e.data);
    if (!cc.ok()) continue;
    auto next = NextConfState(cs, *cc);
    if (next.ok() && *next != cs) return true;
  }
  return false;
}

Status Raft::CheckConfChangeProposal(const std::vector<Entry>& ents) const {
  int n = 0;
  for (const Entry& e : ents) {
    if (e.type != EntryType::kConfChange) continue;
    auto cc = DecodeConfChange(e.data);
    if (!cc.ok()) return Status::InvalidArgument("malformed configuration change");
    // §4.1: one change at a time: the previous one must be applied first (the leader's
    // configuration is then the one the new change builds on).
    bool pending = pending_conf_index_ > log_.applied() || ++n > 1;
    if constexpr (kPlantedBug == 5) pending = false;  // BUG: stacks changes
    if (pending) return Status::FailedPrecondition("a configuration change is still pending");
    auto next = NextConfState(conf_, *cc);
    if (!next.ok()) return next.status();
    RAFTKV_RETURN_IF_ERROR(CheckPromotions(*cc));
  }
  return Status::OK();
}

Status Raft::CheckPromotions(const ConfChange& cc) const {
  for (const ConfChangeSingle& c : cc.changes) {
    if (c.type != ConfChangeType::kAddNode) continue;
    auto it = prs_.find(c.node_id);
    if (it == prs_.end() || !it->second.is_learner) continue;
    // A learner far behind would make the new quorum wait for it (thesis §4.2.1): promote
    // only one that is replicating and within max_learner_lag entries of our log.
    const Progress& pr = it->second;
    Index last = log_.LastIndex();
    if (pr.state != ProgressState::kReplicate || pr.match + max_learner_lag_ < last) {
      return Status::FailedPrecondition("learner " + std::to_string(c.node_id) +
                                        " is not caught up (match " + std::to_string(pr.match) +
                                        ", leader's last index " + std::to_string(last) +
                                        "): promote it once it replicates the log");
    }
  }
  return Status::OK();
}

ConfState Raft::ApplyConfChange(const ConfChange& cc) {
  auto next = NextConfState(conf_, cc);
  // A change that does not apply (refused at proposal time, so only a change that raced a
  // leader change) leaves the configuration as it is, on every node alike.
  if (!next.ok()) return conf_;
  conf_ = *next;
  SyncProgress(conf_);
  if (role_ == Role::kLeader) {
    if (!voters_.Contains(id_)) {
      // Removed or demoted, and the change is committed (we apply only committed entries):
      // hand over, then stop leading; the remaining voters elect a new leader (§4.2.2).
      BeginRemovedLeaderHandoff();
    } else {
      MaybeCommit();
      BcastAppend();  // new members start catching up (and learn the new commit index) now
    }
  }
  return conf_;
}

void Raft::BeginRemovedLeaderHandoff() {
  removed_leader_ = true;
  removal_commit_ = log_.committed();
  removal_armed_ = false;
  removal_acks_.clear();
  removal_ticks_ = 0;
  BcastAppend();
}

void Raft::MaybeArmRemovedLeaderHandoff() {
  if (!removed_leader_ || removal_armed_) return;
  for (NodeId id : voters_.Ids()) {
    auto it = prs_.find(id);
    if (it == prs_.end() || it->second.match < removal_commit_) return;
  }
  // Every heartbeat from now on carries a commit index past the removal.
  removal_armed_ = true;
  removal_beat_tick_ = tick_count_;
}

void Raft::OnRemovedLeaderAck(const Message& m) {
  if (!removed_leader_ || !removal_armed_ || m.index < removal_beat_tick_) return;
  removal_acks_.insert(m.from);
  for (NodeId id : voters_.Ids()) {
    if (!removal_acks_.count(id)) return;
  }
  BecomeFollower(term_, kNoNode);
}

void Raft::MaybeAutoLeave() {
  // §4.3: once the joint configuration is applied, the leader moves the cluster on to the
  // new one by itself, with an empty change (kJointExplicit waits for the application).
  if (role_ != Role::kLeader || !IsJoint(conf_) || !conf_.auto_leave) return;
  if (pending_conf_index_ > log_.applied() || lead_transferee_ != kNoNode) return;
  Entry e{0, 0, EntryType::kConfChange, EncodeConfChange(ConfChange{})};
  if (!AppendEntries({e}).ok()) return;  // retried after the next apply
  pending_conf_index_ = log_.LastIndex();
  BcastAppend();
}

}  // namespace raftkv::raft
