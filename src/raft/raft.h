// Raft: the protocol state machine (etcd's raft.go). Step() plus one step function per
// role; everything it wants done (persist, send, apply) is collected for the next Ready by
// RawNode. Deterministic: time is Tick(), randomness comes from Config::random.
//
// Files: raft.cc (Step, roles, elections), raft_replication.cc (AppendEntries, commit,
// heartbeats, check-quorum), raft_read.cc (ReadIndex).
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "raft/planted_bugs.h"
#include "raft/progress.h"
#include "raft/quorum.h"
#include "raft/raft_log.h"
#include "raft/raw_node.h"
#include "raft/read_only.h"
#include "raft/types.h"

namespace raftkv::raft {

inline constexpr char kTransferContext[] = "transfer";

// The configuration `cs` (the snapshot's) with the changes of the log's entries in
// [from, up_to] applied in order (restart, see Raft::New).
Result<ConfState> ReplayConfChanges(const RaftLog& log, ConfState cs, Index from, Index up_to);
// The highest index a later configuration change in `log` proves committed (0 if none):
// see raft.cc.
Result<Index> CommittedByLaterChange(const RaftLog& log);

class Raft {
 public:
  // Builds the state machine from `config` and the storage's initial state. `peers` is the
  // bootstrap configuration if the storage is empty (see RawNode::Create).
  static Result<std::unique_ptr<Raft>> New(const Config& config, const std::vector<NodeId>& peers);

  void Tick();
  Status Step(const Message& m);

  // Inspection.
  NodeId id() const { return id_; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId lead() const { return lead_; }
  Role role() const { return role_; }
  SoftState soft_state() const { return SoftState{lead_, role_}; }
  HardState hard_state() const { return HardState{term_, vote_, log_.committed()}; }
  const RaftLog& log() const { return log_; }
  RaftLog& mutable_log() { return log_; }
  const ConfState& conf_state() const { return conf_; }
  const std::map<NodeId, Progress>& progress() const { return prs_; }
  NodeId lead_transferee() const { return lead_transferee_; }
  int randomized_election_timeout() const { return randomized_election_timeout_; }
  uint64_t uncommitted_size() const { return uncommitted_size_; }

  // Output for the next Ready.
  std::vector<Message> TakeMessages() { return std::exchange(msgs_, {}); }
  std::vector<Message> TakeLeaderMessages() { return std::exchange(leader_msgs_, {}); }
  std::vector<ReadState> TakeReadStates() { return std::exchange(read_states_, {}); }
  bool HasMessages() const { return !msgs_.empty() || !leader_msgs_.empty(); }
  bool HasReadStates() const { return !read_states_.empty(); }

  // The runtime made entries up to (index, term) durable (Advance()). The leader counts
  // its own copy toward commitment only now (thesis §10.2.1).
  void OnStable(Index index, Term term);
  void OnSnapshotStable(Index index);
  // The runtime made `hs` durable (Advance()). A candidate that has won its election
  // becomes leader only now: see durable_term_.
  void OnHardStateStable(const HardState& hs);
  // Committed entries up to `index` were applied; they no longer count as uncommitted.
  void OnApplied(Index index, uint64_t applied_bytes);

  // ReadIndex: starts one heartbeat round for all reads queued since the last one, if
  // reads are waiting and allowed (leader that committed in its term). Called by RawNode
  // when it collects a Ready.
  void MaybeStartReadRound();
  bool HasReadWork() const;

  // Thesis §6.4.1, the leader lease in ticks: the tick at which this leader sent the newest
  // heartbeat that a quorum of voters acknowledged (the leader acknowledges its own at the
  // current tick). Every voter that acknowledged it refuses other candidates for an election
  // timeout of its own ticks after receiving it (InLease). nullopt when no such promise
  // holds: not leader, transferring leadership (the transferee may be elected inside the
  // lease), no quorum heard yet, or without check-quorum (followers then promise nothing).
  std::optional<uint64_t> LeaseSentTick() const;
  // How many ticks after LeaseSentTick the lease is trusted: the election timeout less a
  // margin for tick phase and clock drift.
  int LeaseTicks() const { return std::max(0, election_tick_ - std::max(2, election_tick_ / 5)); }
  uint64_t tick_count() const { return tick_count_; }

  // Planted bug 3: the vote granted last is not yet reported for persistence.
  bool vote_unpersisted() const { return vote_unpersisted_; }
  void clear_vote_unpersisted() { vote_unpersisted_ = false; }

  ConfState ApplyConfChange(const ConfChange& cc);
  // Index of the last snapshot restored (its configuration replaced ours).
  Index restored_index() const { return restored_index_; }

 private:
  explicit Raft(const Config& c);

  // Role transitions.
  void BecomeFollower(Term term, NodeId lead);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void Reset(Term term);
  void ResetRandomizedElectionTimeout();

  // Elections (raft.cc).
  void Hup(bool transfer);
  void Campaign(bool pre_vote, bool transfer);
  VoteResult Poll(NodeId id, bool granted);
  // A candidate whose vote quorum is complete leads once its term and vote are durable.
  void MaybeBecomeLeader();
  void HandleVoteRequest(const Message& m);
  void MaybeCampaignToHandOver();
  bool Promotable() const;
  bool InLease() const;

  Status StepLeader(const Message& m);
  Status StepCandidate(const Message& m);
  Status StepFollower(const Message& m);

  // Replication (raft_replication.cc).
  Status AppendEntries(std::vector<Entry> ents);
  bool MaybeSendAppend(NodeId to, bool send_if_empty);
  void SendAppend(NodeId to) { MaybeSendAppend(to, true); }
  void BcastAppend();
  void BcastHeartbeat();
  void SendHeartbeat(NodeId to, const std::string& ctx);
  bool MaybeCommit();
  void HandleAppendEntries(const Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleSnapshot(const Message& m);
  bool Restore(const Snapshot& s);
  bool MaybeSendSnapshot(NodeId to, Progress& pr);
  void HandleAppendResponse(const Message& m, Progress& pr);
  void HandleHeartbeatResponse(const Message& m, Progress& pr);
  bool QuorumActive();
  // Lease reads: whether a quorum acknowledged a heartbeat sent less than a lease ago.
  bool LeaseValid() const;
  bool CommittedEntryInCurrentTerm() const;
  void TickElection();
  void TickHeartbeat();

  // Reads (raft_read.cc).
  void HandleReadIndex(const Message& m);
  void CompleteRead(Index index, const ReadRequest& req);

  void Send(Message m);
  bool HasUnappliedConfChange() const;
  Status CheckConfChangeProposal(const std::vector<Entry>& ents) const;
  bool IsVoter(NodeId id) const { return voters_.Contains(id); }
  bool IsMember(NodeId id) const { return prs_.count(id) != 0; }
  Status Validate(const Message& m) const;
  void InitProgress(const ConfState& cs);
  // Brings prs_ and voters_ in line with `cs`, keeping the progress of remaining members.
  void SyncProgress(const ConfState& cs);
  Status CheckPromotions(const ConfChange& cc) const;
  void MaybeAutoLeave();
  void BeginRemovedLeaderHandoff();
  void MaybeArmRemovedLeaderHandoff();
  void OnRemovedLeaderAck(const Message& m);

  NodeId id_;
  Term term_ = 0;
  NodeId vote_ = kNoNode;
  RaftLog log_;

  Role role_ = Role::kFollower;
  NodeId lead_ = kNoNode;
  NodeId lead_transferee_ = kNoNode;

  ConfState conf_;
  JointConfig voters_;
  std::map<NodeId, Progress> prs_;
  std::map<NodeId, bool> votes_;

  ReadOnly read_only_;
  std::vector<ReadState> read_states_;

  std::vector<Message> msgs_;         // send after the Ready is durable
  std::vector<Message> leader_msgs_;  // may be sent before (the leader's appends)

  uint64_t tick_count_ = 0;  // logical clock, for the leader lease
  int election_elapsed_ = 0;
  // Ticks since a leader of any term last spoke to us (thesis §6.4.1). Under check-quorum it
  // is a promise to that leader: no vote for anyone else until an election timeout passed,
  // so a quorum's acknowledgement makes a lease. A new term does not reset it: a higher term
  // learned from a non-leader (a late reply, a candidate) must not cancel the promise. It
  // starts at 0 with lease reads: before a restart we may have acknowledged a leader whose
  // lease still holds (see the constructor).
  int leader_contact_elapsed_ = 0;
  // Ticks since a leader last spoke to us or we last campaigned to hand over
  // (MaybeCampaignToHandOver). Unlike election_elapsed_, a new term does not reset it: a
  // candidate without pre-vote brings a new term with every request.
  int handoff_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;
  uint64_t uncommitted_size_ = 0;
  Index pending_conf_index_ = 0;  // leader: index of the last conf change proposed
  Index restored_index_ = 0;
  // A leader whose removal is applied keeps heartbeating (taking no proposals) until every
  // voter of the new configuration acknowledged a heartbeat carrying a commit index past
  // the removal, then steps down (thesis §4.2.2). Changes take effect when applied, so
  // without this the rest might never learn that the change committed and keep waiting
  // for the removed server's vote. Gives up after two election timeouts.
  bool removed_leader_ = false;
  Index removal_commit_ = 0;
  bool removal_armed_ = false;
  uint64_t removal_beat_tick_ = 0;
  std::set<NodeId> removal_acks_;
  int removal_ticks_ = 0;
  bool vote_unpersisted_ = false;
  // The highest term of a hard state the runtime has made durable. A leader's messages
  // leave before its Ready is persisted (§10.2.1), so it may lead only a term that is
  // durable already: otherwise a crash could lose the term and vote, the node could win
  // the same term again (its voters re-grant to it) and append different entries at the
  // same index and term. A candidate that wins alone (single voter) waits for this.
  Term durable_term_ = 0;

  // Config.
  int election_tick_;
  int heartbeat_tick_;
  RandomSource* random_;
  uint64_t max_size_per_msg_;
  size_t max_inflight_;
  uint64_t max_uncommitted_size_;
  Index max_learner_lag_;
  bool pre_vote_;
  bool check_quorum_;
  Config::ReadOnlyOption read_only_option_;
  bool disable_proposal_forwarding_;
};

}  // namespace raftkv::raft
