#include "raft/raw_node.h"

#include "common/check.h"
#include "raft/conf_change.h"
#include "raft/planted_bugs.h"
#include "raft/raft.h"

namespace raftkv::raft {

Status Config::Validate() const {
  if (id == kNoNode) return Status::InvalidArgument("config: id must not be 0");
  if (heartbeat_tick <= 0) return Status::InvalidArgument("config: heartbeat_tick must be > 0");
  if (election_tick <= heartbeat_tick) {
    return Status::InvalidArgument("config: election_tick must be > heartbeat_tick");
  }
  if (storage == nullptr) return Status::InvalidArgument("config: storage is required");
  if (random == nullptr) return Status::InvalidArgument("config: random is required");
  if (max_inflight_msgs <= 0) return Status::InvalidArgument("config: max_inflight_msgs <= 0");
  if (read_only == ReadOnlyOption::kLeaseBased && !check_quorum) {
    return Status::InvalidArgument("config: lease-based reads require check_quorum");
  }
  return Status::OK();
}

// State remembered between GetReady() and Advance().
struct RawNode::Pending {
  Index last_index = 0;
  Term last_term = 0;
  Index snapshot_index = 0;
  Index applied_to = 0;
  uint64_t applied_bytes = 0;
  std::optional<HardState> hard_state;
};

RawNode::RawNode(std::unique_ptr<Raft> raft) : raft_(std::move(raft)) {}
RawNode::~RawNode() = default;

Result<std::unique_ptr<RawNode>> RawNode::Create(const Config& config,
                                                 const std::vector<NodeId>& peers) {
  auto r = Raft::New(config, peers);
  if (!r.ok()) return r.status();
  std::unique_ptr<RawNode> node(new RawNode(std::move(*r)));
  auto init = config.storage->GetInitialState();
  if (!init.ok()) return init.status();
  node->prev_hard_ = init->hard_state;
  node->prev_soft_ = node->raft_->soft_state();
  node->pending_ = std::make_unique<Pending>();
  node->max_committed_size_per_ready_ = config.max_committed_size_per_ready;
  return node;
}

void RawNode::Tick() {
  raft_->Tick();
}

Status RawNode::Campaign() {
  Message m;
  m.type = MessageType::kHup;
  return raft_->Step(m);
}

Status RawNode::Propose(std::string data) {
  Message m;
  m.type = MessageType::kPropose;
  m.from = raft_->id();
  m.entries.push_back(Entry{0, 0, EntryType::kNormal, std::move(data)});
  return raft_->Step(m);
}

Status RawNode::ProposeConfChange(const ConfChange& cc) {
  Message m;
  m.type = MessageType::kPropose;
  m.from = raft_->id();
  m.entries.push_back(Entry{0, 0, EntryType::kConfChange, EncodeConfChange(cc)});
  return raft_->Step(m);
}

ConfState RawNode::ApplyConfChange(const ConfChange& cc) {
  if (!handed_conf_.empty()) {
    Index i = handed_conf_.front();
    handed_conf_.pop_front();
    // The snapshot restored since is the configuration as of a later index already.
    if (i <= raft_->restored_index()) return raft_->conf_state();
  }
  return raft_->ApplyConfChange(cc);
}

Status RawNode::Step(const Message& msg) {
  switch (msg.type) {
    case MessageType::kHup:
    case MessageType::kBeat:
    case MessageType::kCheckQuorum:
      return Status::InvalidArgument("local message type from the network");
    default: return raft_->Step(msg);
  }
}

void RawNode::ReadIndex(std::string context) {
  Message m;
  m.type = MessageType::kReadIndex;
  m.from = raft_->id();
  m.context = std::move(context);
  (void)raft_->Step(m);  // dropped when no leader is known; the caller times out
}

void RawNode::TransferLeader(NodeId transferee) {
  Message m;
  m.type = MessageType::kTransferLeader;
  m.from = transferee;
  (void)raft_->Step(m);
}

void RawNode::ReportUnreachable(NodeId id) {
  Message m;
  m.type = MessageType::kUnreachable;
  m.from = id;
  (void)raft_->Step(m);
}

void RawNode::ReportSnapshot(NodeId id, bool success) {
  Message m;
  m.type = MessageType::kSnapshotStatus;
  m.from = id;
  m.reject = !success;
  (void)raft_->Step(m);
}

HardState RawNode::ReadyHardState() const {
  HardState hs = raft_->hard_state();
  if constexpr (kPlantedBug == 3) {
    // BUG: the vote just granted is left out of this Ready's hard state.
    if (raft_->vote_unpersisted()) hs.vote = hs.term == prev_hard_.term ? prev_hard_.vote : 0;
  }
  return hs;
}

Index RawNode::CommittedUpTo() const {
  const RaftLog& log = raft_->log();
  if constexpr (kPlantedBug == 4) return log.LastIndex();  // BUG: applies uncommitted entries
  return log.committed();
}

bool RawNode::HasReady() const {
  if (ready_outstanding_) return false;  // one Ready at a time
  const RaftLog& log = raft_->log();
  if (raft_->soft_state() != prev_soft_) return true;
  HardState hs = ReadyHardState();
  if (!hs.IsEmpty() && hs != prev_hard_) return true;
  if (log.UnstableSnapshot() || !log.UnstableEntries().empty()) return true;
  if (raft_->HasMessages() || raft_->HasReadStates() || raft_->HasReadWork()) return true;
  return CommittedUpTo() > log.applied();
}

Ready RawNode::GetReady() {
  RAFTKV_CHECK(!ready_outstanding_, "RawNode: GetReady() again before Advance()");
  raft_->MaybeStartReadRound();
  Ready rd;
  const RaftLog& log = raft_->log();

  SoftState ss = raft_->soft_state();
  if (ss != prev_soft_) {
    rd.soft_state = ss;
    prev_soft_ = ss;
  }
  // What the previous Readies made durable: this Ready's leader messages leave before its
  // own write, so they may speak only in that term (§10.2.1).
  const Term durable_term = prev_hard_.term;
  HardState hs = ReadyHardState();
  if (!hs.IsEmpty() && hs != prev_hard_) {
    RAFTKV_CHECK(hs.term >= prev_hard_.term, "§5.1 the persisted term never decreases");
    if constexpr (kPlantedBug != 3) {
      RAFTKV_CHECK(
          hs.term != prev_hard_.term || prev_hard_.vote == kNoNode || hs.vote == prev_hard_.vote,
          "§5.2 the vote never changes within a term");
    }
    RAFTKV_CHECK(hs.commit >= prev_hard_.commit, "the commit index never decreases");
    rd.must_sync = hs.term != prev_hard_.term || hs.vote != prev_hard_.vote;
    rd.hard_state = hs;
    prev_hard_ = hs;
  }
  raft_->clear_vote_unpersisted();

  *pending_ = Pending{};
  if (rd.hard_state) pending_->hard_state = rd.hard_state;
  if (log.UnstableSnapshot()) {
    rd.snapshot = *log.UnstableSnapshot();
    pending_->snapshot_index = rd.snapshot->meta.index;
    rd.must_sync = true;
  }
  rd.entries = log.UnstableEntries();
  if (!rd.entries.empty()) {
    pending_->last_index = rd.entries.back().index;
    pending_->last_term = rd.entries.back().term;
    rd.must_sync = true;
  }

  Index up_to = CommittedUpTo();
  if constexpr (kPlantedBug != 4) {
    RAFTKV_CHECK(up_to <= log.committed(), "State Machine Safety: only committed entries apply");
  }
  rd.committed_entries = log.NextEntriesUpTo(up_to, max_committed_size_per_ready_);
  if (!rd.committed_entries.empty()) {
    pending_->applied_to = rd.committed_entries.back().index;
    for (const Entry& e : rd.committed_entries) {
      if constexpr (kPlantedBug != 4) {
        RAFTKV_CHECK(e.index <= log.committed(), "committed_entries hold only committed entries");
      }
      pending_->applied_bytes += e.data.size();
      if (e.type == EntryType::kConfChange) handed_conf_.push_back(e.index);
    }
  }

  rd.leader_messages = raft_->TakeLeaderMessages();
  RAFTKV_CHECK(kPlantedBug == 3 || LeaderMessagesMayLeaveEarly(rd, durable_term),
               "§10.2.1 leader messages leave before the write only in a durable term");
  rd.messages = raft_->TakeMessages();
  if constexpr (kPlantedBug != 3) {
    // §5.1/Figure 2: a vote grant leaves only once the vote is durable.
    for (const Message& m : rd.messages) {
      if (m.type == MessageType::kVoteResponse && !m.reject) {
        // Either the vote itself is durable, or a later term is (then this node can never
        // vote again in m.term either).
        RAFTKV_CHECK(
            prev_hard_.term > m.term || (prev_hard_.term == m.term && prev_hard_.vote == m.to),
            "§5.1 a vote is persisted before it is granted");
      }
    }
  }
  rd.read_states = raft_->TakeReadStates();
  ready_outstanding_ = true;
  return rd;
}

void RawNode::Advance() {
  RAFTKV_CHECK(ready_outstanding_, "RawNode: Advance() without GetReady()");
  ready_outstanding_ = false;
  if (pending_->snapshot_index != 0) {
    raft_->OnSnapshotStable(pending_->snapshot_index);
    raft_->mutable_log().AppliedTo(pending_->snapshot_index);
  }
  if (pending_->applied_to != 0) {
    RAFTKV_CHECK(kPlantedBug == 4 || pending_->applied_to <= raft_->log().committed(),
                 "applied <= committed");
    raft_->OnApplied(pending_->applied_to, pending_->applied_bytes);
  }
  if (pending_->last_index != 0) raft_->OnStable(pending_->last_index, pending_->last_term);
  // Last: a candidate that won may become leader here, appending its first entry.
  if (pending_->hard_state) raft_->OnHardStateStable(*pending_->hard_state);
}

bool LeaderMessagesMayLeaveEarly(const Ready& rd, Term durable_term) {
  for (const Message& m : rd.leader_messages) {
    if (m.term > durable_term) return false;
  }
  return true;
}

uint64_t RawNode::TickCount() const {
  return raft_->tick_count();
}

std::optional<RawNode::LeaderLease> RawNode::GetLeaderLease() const {
  std::optional<uint64_t> sent = raft_->LeaseSentTick();
  if (!sent) return std::nullopt;
  return LeaderLease{*sent, raft_->tick_count(), raft_->LeaseTicks()};
}

NodeStatus RawNode::GetStatus() const {
  NodeStatus s;
  s.id = raft_->id();
  s.hard_state = raft_->hard_state();
  s.soft_state = raft_->soft_state();
  s.applied = raft_->log().applied();
  s.last_index = raft_->log().LastIndex();
  s.first_index = raft_->log().FirstIndex();
  s.conf = raft_->conf_state();
  s.lead_transferee = raft_->lead_transferee();
  if (raft_->role() == Role::kLeader) {
    for (const auto& [id, pr] : raft_->progress()) s.progress[id] = pr.ToStatus();
  }
  return s;
}

Index RawNode::LastIndex() const {
  return raft_->log().LastIndex();
}
Index RawNode::FirstIndex() const {
  return raft_->log().FirstIndex();
}
Result<Term> RawNode::TermAt(Index i) const {
  return raft_->log().TermAt(i);
}
Result<std::vector<Entry>> RawNode::Entries(Index lo, Index hi) const {
  return raft_->log().Slice(lo, hi, kNoLimit);
}

}  // namespace raftkv::raft
