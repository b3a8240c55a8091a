// RawNode: the public, single-threaded API of the consensus core (etcd raft's shape).
//
// Usage notes (what the implementation adds to the contract below):
//  - Bootstrap: Create(config, peers) on EMPTY storage writes one kConfChange entry per peer
//    (term 1, committed) into the first Ready; apply them with DecodeConfChange
//    (conf_change.h) + ApplyConfChange as for any committed change.
//  - Configuration at restart: LogStorage::GetInitialState().conf_state must be the
//    configuration AS OF THE SNAPSHOT (its metadata; empty without a snapshot), not the
//    latest one. The core replays the kConfChange entries after the snapshot up to
//    Config::applied itself; the application re-applies later committed ones with
//    ApplyConfChange as it replays the log. Until it has, the node does not campaign. On
//    restart `peers` is ignored (pass {} or the original peers).
//  - HasReady() is false while a Ready is outstanding; GetReady() twice without Advance()
//    is an invariant violation. A leader's own entries count toward commit only after the
//    Advance() of the Ready that held them (so a 1-node cluster commits after Advance()).
//  - Step() refuses (non-OK Status, no state change) messages from unknown senders, not
//    addressed to this node, without a term, of local types (kHup/kBeat/kCheckQuorum), or
//    with malformed entries. Messages with stale terms are ignored with OK.
//  - ReadIndex(): reads issued before the next GetReady() share one heartbeat round.
//  - If a follower's snapshot was lost, call ReportSnapshot(id, false); the leader also
//    falls back to probing after an election timeout of heartbeat answers.
//  - Membership (thesis ch. 4, conf_changer.h): ProposeConfChange() takes one change at a
//    time: a single add/remove/add-learner (kAuto) is a simple change; several changes, or
//    transition kJointImplicit/kJointExplicit, enter a joint configuration (decisions need
//    majorities of both halves). With kAuto/kJointImplicit the leader leaves it by itself
//    once applied; with kJointExplicit propose an empty ConfChange to leave. A new change
//    is refused (kFailedPrecondition) until the previous one is applied on the leader, and
//    so is promoting a learner that is not caught up (Config::max_learner_lag). A change
//    takes effect when applied. A removed leader steps down when it applies its removal.
//    A joining node is created with EMPTY storage and peers = {}: it learns the
//    configuration from the leader's log or snapshot.
//
// The core is a pure state machine. It never blocks, reads a clock, spawns a thread or does
// I/O. The runtime (the simulator, or raftkvd's raft loop) drives it:
//
//   loop:
//     on timer:            node.Tick()
//     on network message:  node.Step(msg)
//     on client request:   node.Propose(data) / node.ReadIndex(ctx) / ...
//     if node.HasReady():
//       Ready rd = node.GetReady();
//       send rd.leader_messages                       (may go before persisting, §10.2.1)
//       persist rd.snapshot, rd.entries, rd.hard_state (one durable write, one fsync)
//       send rd.messages                              (only after the write is durable)
//       apply rd.snapshot (if any), then rd.committed_entries, in order
//       serve reads whose rd.read_states index is applied
//       node.Advance()
//
// Only one Ready may be outstanding: GetReady() must be followed by Advance() before the
// next GetReady(). Other calls are allowed in between; their effects show up in the next
// Ready.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "raft/log_storage.h"
#include "raft/types.h"

namespace raftkv::raft {

class Raft;  // the protocol state machine (raft.h); RawNode wraps it

// Source of randomness for election timeouts. Passed in, never global, so that the
// simulator can replay a seed exactly (STYLE: no hidden random number generators).
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Uniform integer in [0, n). n > 0.
  virtual uint64_t Uniform(uint64_t n) = 0;
};

struct Config {
  // This node's id. Must not be kNoNode.
  NodeId id = kNoNode;

  // Ticks without hearing from a leader before a follower starts an election. The actual
  // timeout is randomized in [election_tick, 2*election_tick) (§5.2, thesis §9.3).
  int election_tick = 10;
  // Ticks between a leader's heartbeats. Must be < election_tick.
  int heartbeat_tick = 1;

  // Durable log the core reads stable entries from. Not owned; must outlive the node.
  LogStorage* storage = nullptr;
  // Randomness for election timeouts. Not owned; must outlive the node.
  RandomSource* random = nullptr;

  // Last applied index at restart. Committed entries up to it are not handed out again.
  Index applied = 0;

  // Flow control for AppendEntries (§10.2.1 pipelining): at most this many bytes of
  // entries per message, and at most this many messages in flight per follower while it
  // is in the replicate state.
  uint64_t max_size_per_msg = 1 << 20;
  int max_inflight_msgs = 256;
  // Proposals are refused (kBusy) while the leader's uncommitted log tail would exceed
  // this many bytes, so a slow disk or slow quorum cannot exhaust memory. 0 = no limit.
  uint64_t max_uncommitted_entries_size = 64 << 20;
  // Upper bound on bytes of committed entries handed out per Ready. 0 = no limit.
  uint64_t max_committed_size_per_ready = 16 << 20;

  // Thesis §9.6: a node first asks whether it could win (pre-vote) before raising its
  // term, so that a partitioned node rejoining does not disrupt a healthy leader.
  bool pre_vote = true;
  // Thesis §6.2: a leader steps down if it has not heard from a quorum within an election
  // timeout. Also makes followers ignore vote requests while they hear from a leader.
  bool check_quorum = true;

  enum class ReadOnlyOption : uint8_t {
    kSafe = 0,       // ReadIndex confirmed by a heartbeat round (thesis §6.4)
    kLeaseBased = 1  // trust the leader lease (thesis §6.4.1): needs check_quorum and
                     // bounded clock drift; opt-in
  };
  ReadOnlyOption read_only = ReadOnlyOption::kSafe;

  // Promoting a learner (kAddNode of a learner) is refused with kFailedPrecondition unless
  // the leader sees it replicating and at most this many entries behind its last index.
  uint64_t max_learner_lag = 1000;

  // Followers forward proposals to the leader instead of refusing them.
  bool disable_proposal_forwarding = false;

  // Returns OK or a description of the first invalid field.
  Status Validate() const;
};

// A batch of work for the runtime. See the file comment for the order of handling. Every
// field is empty when there is nothing of its kind to do.
struct Ready {
  // Leader and role, if they changed since the last Ready.
  std::optional<SoftState> soft_state;

  // Hard state to persist, if it changed since the last Ready. Must be durable before any
  // message in `messages` is sent (§5.1: persist currentTerm and votedFor before replying).
  std::optional<HardState> hard_state;

  // A snapshot received from the leader, to persist and then apply to the state machine
  // in place of the log prefix it covers. Persist it before `entries`.
  std::optional<Snapshot> snapshot;

  // Entries to append to stable storage (after any conflicting suffix is removed: an entry
  // at an index the storage already holds replaces it and everything after it, §5.3).
  std::vector<Entry> entries;

  // Messages that may be sent before this Ready is persisted: AppendEntries, heartbeats
  // and snapshots from a leader, whose term and vote are durable already (a candidate that
  // wins, even alone as the only voter, leads only once its term is durable:
  // LeaderMessagesMayLeaveEarly). The leader counts its own copy of an entry toward
  // commitment only after Advance() reports it durable (thesis §10.2.1), so sending early
  // is safe.
  std::vector<Message> leader_messages;

  // Messages to send only after `hard_state`, `snapshot` and `entries` are durable (vote
  // grants, append acknowledgements, ...).
  std::vector<Message> messages;

  // Committed entries to apply, in order. Every one is committed (State Machine Safety
  // depends on it) and is already durable or part of this Ready's `entries`: apply them
  // after persisting.
  std::vector<Entry> committed_entries;

  // ReadIndex requests that completed: serve each once applied index >= its index.
  std::vector<ReadState> read_states;

  // True if hard_state/entries/snapshot need a durable (fsynced) write. A Ready with only
  // a commit index change need not fsync.
  bool must_sync = false;

  bool Empty() const {
    return !soft_state && !hard_state && !snapshot && entries.empty() && leader_messages.empty() &&
           messages.empty() && committed_entries.empty() && read_states.empty();
  }
};

// Whether `rd.leader_messages` may leave before `rd` is persisted, given the term of the
// hard state the runtime has made durable: every one must speak in that term or an earlier
// one. A message in a term that a crash could still lose would let this node lead that term
// twice with different logs (issue 11, simulator seed 193). The core guarantees it; every
// runtime checks it again where it sends (RAFTKV_CHECK), so a runtime that reorders the
// Ready contract is caught at the send, not by a diverged follower later.
bool LeaderMessagesMayLeaveEarly(const Ready& rd, Term durable_term);

// Replication state of one follower as seen by the leader (etcd's tracker.Progress).
enum class ProgressState : uint8_t {
  kProbe = 0,      // one AppendEntries at a time until the match point is found
  kReplicate = 1,  // pipelined AppendEntries, bounded by the in-flight window
  kSnapshot = 2,   // a snapshot is being sent; no AppendEntries until it is done
};

struct ProgressStatus {
  Index match = 0;
  Index next = 0;
  ProgressState state = ProgressState::kProbe;
  bool recent_active = false;
  bool is_learner = false;
  // The in-flight window (replicate state): AppendEntries sent and not yet acknowledged,
  // their bytes of entries, and the window's capacity (Config::max_inflight_msgs).
  size_t inflight = 0;
  uint64_t inflight_bytes = 0;
  size_t inflight_capacity = 0;
  Index pending_snapshot = 0;  // snapshot state: the index of the snapshot being sent
};

// A point-in-time view of the node, for the runtime, metrics and tests.
struct NodeStatus {
  NodeId id = kNoNode;
  HardState hard_state;
  SoftState soft_state;
  Index applied = 0;
  Index last_index = 0;
  Index first_index = 0;
  ConfState conf;
  NodeId lead_transferee = kNoNode;
  // Only on the leader: replication progress of every member (including itself).
  std::map<NodeId, ProgressStatus> progress;
};

class RawNode {
 public:
  // Creates a node from `config`. If the storage is empty (a brand-new node) and `peers`
  // is non-empty, the node bootstraps: the initial configuration `peers` is written as the
  // first log entries (committed by definition), as etcd's Bootstrap does. A restarted
  // node passes an empty `peers` and recovers its state from storage.
  static Result<std::unique_ptr<RawNode>> Create(const Config& config,
                                                 const std::vector<NodeId>& peers);
  ~RawNode();
  RawNode(const RawNode&) = delete;
  RawNode& operator=(const RawNode&) = delete;

  // Advances the logical clock by one tick (election and heartbeat timers).
  void Tick();
  // How many times Tick() was called since the node was created.
  uint64_t TickCount() const;

  // Starts an election now (skipping the randomized timeout).
  Status Campaign();

  // Proposes `data` to be appended to the log. kNotLeader if there is no leader to take it
  // (or forwarding is disabled on a follower), kBusy while a leadership transfer is in
  // progress or the uncommitted-size limit is reached. OK does not mean committed.
  Status Propose(std::string data);

  // Proposes a configuration change (thesis ch. 4). Refused (kFailedPrecondition) while an
  // earlier change is not yet applied (§4.1: one change at a time), if it does not apply
  // to the current configuration (e.g. removes every voter, a simple change while joint),
  // or if it promotes a learner that is not caught up.
  Status ProposeConfChange(const ConfChange& cc);

  // Applies a committed configuration change entry's change to the configuration. The
  // runtime calls it for every kConfChange entry of Ready::committed_entries, in order, as
  // it applies them; returns the new configuration. A change from an entry that a snapshot
  // restored meanwhile (Ready pending while a newer snapshot arrived) already covers is
  // not applied again.
  ConfState ApplyConfChange(const ConfChange& cc);

  // Feeds a message received from a peer (or a local report) into the state machine.
  // Messages from unknown senders or with malformed contents are refused, never trusted.
  Status Step(const Message& msg);

  // Requests a linearizable read point (thesis §6.4). Completes as a ReadState in a later
  // Ready carrying the same `context`; dropped silently if leadership is lost meanwhile
  // (the runtime times the request out and retries).
  void ReadIndex(std::string context);

  // Asks the leader to hand leadership to `transferee` (thesis §3.10).
  void TransferLeader(NodeId transferee);

  // Tells the core that the transport could not deliver to `id` (it moves the follower
  // back to probing) or how sending it a snapshot ended.
  void ReportUnreachable(NodeId id);
  void ReportSnapshot(NodeId id, bool success);

  // False while a Ready is outstanding (between GetReady() and Advance()).
  bool HasReady() const;
  // Collects pending work. Requires that the previous Ready was Advance()d.
  Ready GetReady();
  // Reports that the last Ready was handled: persisted, sent, applied.
  void Advance();

  NodeStatus GetStatus() const;

  // The leader lease (thesis §6.4.1) for a runtime that answers something without a
  // ReadIndex round while it holds (raftkvd's lease keep-alives): no other leader can be
  // elected before the tick `sent_tick + valid_ticks` of this node's clock. nullopt when
  // this node cannot count on it (see Raft::LeaseSentTick).
  struct LeaderLease {
    uint64_t sent_tick;  // the tick whose heartbeat a quorum acknowledged
    uint64_t now_tick;   // this node's tick count now
    int valid_ticks;
  };
  std::optional<LeaderLease> GetLeaderLease() const;

  // Read-only view of the node's log, stable and unstable, for inspection by the runtime
  // and the simulator's invariant checkers.
  Index LastIndex() const;
  Index FirstIndex() const;
  Result<Term> TermAt(Index i) const;
  Result<std::vector<Entry>> Entries(Index lo, Index hi) const;

 private:
  struct Pending;  // what the outstanding Ready holds, for Advance()

  explicit RawNode(std::unique_ptr<Raft> raft);
  HardState ReadyHardState() const;
  Index CommittedUpTo() const;

  std::unique_ptr<Raft> raft_;
  std::unique_ptr<Pending> pending_;
  // Indexes of the kConfChange entries handed out in committed_entries and not yet passed
  // to ApplyConfChange, oldest first.
  std::deque<Index> handed_conf_;
  uint64_t max_committed_size_per_ready_ = 0;
  // State as of the last Ready, to tell what changed.
  SoftState prev_soft_;
  HardState prev_hard_;
  bool ready_outstanding_ = false;
};

}  // namespace raftkv::raft
