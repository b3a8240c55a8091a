// Plain data types of the consensus core: log entries, messages, persistent state,
// configuration and snapshot metadata. These are values; they carry no behaviour beyond
// comparison and size estimates. Encoding them for the wire or the disk is the job of the
// layers that need it (storage, transport); the core never serialises anything itself,
// except a ConfChange into an entry's data (see conf_change.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace raftkv::raft {

using NodeId = uint64_t;  // 0 means "none"
using Term = uint64_t;    // 0 means "before any election"
using Index = uint64_t;   // log positions start at 1; 0 means "before the first entry"

inline constexpr NodeId kNoNode = 0;

enum class EntryType : uint8_t {
  kNormal = 0,      // application command (may be empty: a new leader's no-op, §8)
  kConfChange = 1,  // data is an encoded ConfChange (see conf_change.h)
};

struct Entry {
  Term term = 0;
  Index index = 0;
  EntryType type = EntryType::kNormal;
  std::string data;

  // Bytes this entry accounts for in size limits (payload plus a fixed overhead).
  uint64_t SizeBytes() const { return data.size() + 24; }
  bool operator==(const Entry&) const = default;
};

// The state every server persists before answering any RPC (Figure 2): currentTerm,
// votedFor, and (not strictly required, but saves replay work) the commit index.
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;

  bool IsEmpty() const { return term == 0 && vote == kNoNode && commit == 0; }
  bool operator==(const HardState&) const = default;
};

// A cluster configuration as replicated in the log (thesis ch. 4). When `voters_outgoing`
// is non-empty the cluster is in a joint configuration: decisions need a majority of
// `voters` AND a majority of `voters_outgoing` (§4.3). Learners receive the log but never
// vote nor count toward a quorum. `learners_next` are voters of the outgoing configuration
// that become learners when the joint configuration is left.
struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> voters_outgoing;
  std::vector<NodeId> learners;
  std::vector<NodeId> learners_next;
  // In a joint configuration: leave it automatically once it is committed.
  bool auto_leave = false;

  bool operator==(const ConfState&) const = default;
};

// A change to the configuration, carried by a kConfChange entry.
enum class ConfChangeType : uint8_t {
  kAddNode = 0,         // add (or promote a learner to) a voter
  kRemoveNode = 1,      // remove a voter or learner
  kAddLearnerNode = 2,  // add a learner (or demote a voter to learner)
};

struct ConfChangeSingle {
  ConfChangeType type = ConfChangeType::kAddNode;
  NodeId node_id = kNoNode;
  bool operator==(const ConfChangeSingle&) const = default;
};

// How a multi-step change is carried out.
enum class ConfChangeTransition : uint8_t {
  kAuto = 0,           // one-at-a-time if the change is simple, else joint with auto-leave
  kJointImplicit = 1,  // enter joint; leave automatically once committed
  kJointExplicit = 2,  // enter joint; the application proposes an empty change to leave
};

// A configuration change. An empty `changes` list with a joint configuration active means
// "leave the joint configuration".
struct ConfChange {
  ConfChangeTransition transition = ConfChangeTransition::kAuto;
  std::vector<ConfChangeSingle> changes;
  std::string context;  // opaque to the core (the server stores member URLs here)
  bool operator==(const ConfChange&) const = default;
};

struct SnapshotMeta {
  Index index = 0;  // last log index the snapshot covers
  Term term = 0;    // term of that entry
  ConfState conf;   // configuration as of `index` (thesis §5.1)
  bool operator==(const SnapshotMeta&) const = default;
};

struct Snapshot {
  SnapshotMeta meta;
  std::string data;  // the application's state machine image; opaque to the core

  bool IsEmpty() const { return meta.index == 0; }
  bool operator==(const Snapshot&) const = default;
};

enum class MessageType : uint8_t {
  // Local messages: never sent over the network, only passed to Step() by the runtime
  // or generated internally.
  kHup = 0,          // start an election (as if the election timer fired)
  kBeat = 1,         // leader: send heartbeats now
  kPropose = 2,      // a client proposal; followers forward it to the leader
  kCheckQuorum = 3,  // leader: check it heard from a quorum in the last election timeout

  // Network messages.
  kAppend = 10,  // AppendEntries (§5.3)
  kAppendResponse = 11,
  kVote = 12,  // RequestVote (§5.2)
  kVoteResponse = 13,
  kPreVote = 14,  // thesis §9.6: would you vote for me? (does not change terms)
  kPreVoteResponse = 15,
  kSnapshot = 16,   // InstallSnapshot (§7, thesis ch. 5)
  kHeartbeat = 17,  // empty AppendEntries carrying the commit index
  kHeartbeatResponse = 18,
  kReadIndex = 19,  // follower asks the leader for a read index (thesis §6.4)
  kReadIndexResponse = 20,
  kTimeoutNow = 21,      // leadership transfer: start an election now (thesis §3.10)
  kTransferLeader = 22,  // ask the leader to transfer leadership (may be forwarded)

  // Local reports from the runtime.
  kUnreachable = 30,     // the transport could not reach `from`
  kSnapshotStatus = 31,  // result of sending a snapshot to `from` (reject = failure)
};

const char* MessageTypeName(MessageType t);

// One message between two servers. Which fields are meaningful depends on `type`; the
// comments say which. Unused fields stay zero/empty.
struct Message {
  MessageType type = MessageType::kHup;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term = 0;  // sender's current term (0 for local messages)

  // kAppend: index/log_term of the entry preceding `entries` (prevLogIndex/prevLogTerm).
  // kVote/kPreVote: index/log_term of the candidate's last entry (§5.4.1).
  // kAppendResponse: on success, the last index now known to match.
  // kHeartbeat: the leader's logical tick when sent; kHeartbeatResponse echoes it (dates
  // the acknowledgement for the leader lease, thesis §6.4.1).
  Index index = 0;
  Term log_term = 0;
  std::vector<Entry> entries;  // kAppend, kPropose
  Index commit = 0;            // kAppend, kHeartbeat: leader's commit index

  // Responses: the request was refused. For kAppendResponse, reject_hint/log_term carry
  // the follower's conflict hint (§5.3 optimisation): the largest index <= the probed index
  // whose term is <= the probe's log_term, and that entry's term. The leader skips a whole
  // conflicting term per round trip.
  bool reject = false;
  Index reject_hint = 0;

  std::optional<Snapshot> snapshot;  // kSnapshot
  // kReadIndex/kReadIndexResponse/kHeartbeat(Response): opaque request context.
  // kVote/kPreVote: "transfer" when the election was started by TimeoutNow, which lets it
  // bypass the leader-lease check (thesis §4.2.3, §3.10).
  std::string context;
};

enum class Role : uint8_t {
  kFollower = 0,
  kPreCandidate = 1,
  kCandidate = 2,
  kLeader = 3,
};

const char* RoleName(Role r);

// Volatile state that is useful to the runtime but need not be persisted.
struct SoftState {
  NodeId lead = kNoNode;
  Role role = Role::kFollower;
  bool operator==(const SoftState&) const = default;
};

// A completed ReadIndex request: once the state machine has applied `index`, a read
// started with `context` may be served linearizably from local state (thesis §6.4).
struct ReadState {
  Index index = 0;
  std::string context;
  bool operator==(const ReadState&) const = default;
};

}  // namespace raftkv::raft
