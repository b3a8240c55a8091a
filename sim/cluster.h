// A simulated Raft cluster: N nodes running the real consensus core on virtual time, a
// network and disk model with faults, and a key-value state machine on every node. The
// random simulator runs (sim/run.h) and the scenario tests (tests/scenarios/) both drive it.
// Single-threaded and deterministic: the same options (seed included) give the same run.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/raw_node.h"
#include "sim/check/history.h"
#include "sim/command.h"

namespace raftkv::storage {
class FaultFileSystem;
}

namespace raftkv::sim {

class Rng;
class SimObserver;
struct TraceEvent;
struct NetworkStats;

using raft::NodeId;
using Time = int64_t;  // virtual microseconds since the start of the run

inline constexpr Time kMillisecond = 1000;
inline constexpr Time kSecond = 1000 * kMillisecond;

struct NetworkOptions {
  Time min_delay = 200;               // one-way delivery delay is uniform in [min, max]; a spread
  Time max_delay = 2 * kMillisecond;  // larger than the gap between sends reorders
  double drop_rate = 0.0;             // probability a message is lost
  double duplicate_rate = 0.0;        // probability a message is delivered twice
  // Occasional long delays (a congested or flapping link): with this probability a message
  // gets an extra delay uniform in [0, long_delay_max].
  double long_delay_rate = 0.0;
  Time long_delay_max = 0;
  // Adversarial delivery (fault kinds `stale` and `replay`, sim/network_adversary.cc; off by
  // default). With probability stale_rate an accepted message is delivered once more, late:
  // after a delay uniform in [stale_min_delay, stale_max_delay]. So a stale duplicate of an
  // AppendEntries arrives after newer ones, a retransmission overtakes nothing, and a deposed
  // leader's messages arrive after the election that deposed it.
  double stale_rate = 0.0;
  Time stale_min_delay = 0;
  Time stale_max_delay = 0;
  // Keep copies of old messages so that Network::ReplayRecorded can deliver them again
  // much later (seconds, several terms).
  bool record = false;
};

struct DiskOptions {
  Time min_sync = 100;  // latency of one durable write (fsync)
  Time max_sync = 1 * kMillisecond;
};

struct ClusterOptions {
  int nodes = 3;  // ids 1..nodes, all voters
  // Extra nodes nodes+1..nodes+spare_nodes: up from the start with an EMPTY disk and no
  // configuration, until a membership change adds them.
  int spare_nodes = 0;
  // Each node snapshots its state machine and compacts its log after applying a random
  // number of entries in [every/2+1, 3*every/2] since its last snapshot. 0 = never.
  uint64_t snapshot_every = 0;
  uint64_t seed = 1;
  Time tick_interval = 10 * kMillisecond;
  int election_tick = 10;
  int heartbeat_tick = 1;
  bool pre_vote = true;
  bool check_quorum = true;
  raft::Config::ReadOnlyOption read_only = raft::Config::ReadOnlyOption::kSafe;
  // Flow control of the cores (raft::Config); a tiny value sends one entry per message,
  // which widens the windows between acknowledgements of consecutive entries.
  uint64_t max_size_per_msg = 1 << 20;
  NetworkOptions network;
  DiskOptions disk;
  // The faulty disk model: each node's disk is a storage::DiskStorage on its own
  // storage::FaultFileSystem (power loss tears unsynced writes; ENOSPC/EIO on demand).
  // Off: a raft::MemoryStorage whose only crash loss is the pending write.
  bool disk_model = false;
  // The WAL's segment size on that disk: small, so runs rotate and remove segments often;
  // swarm runs also draw a tiny one, so that segment boundaries land next to every
  // compaction point.
  uint64_t wal_segment_bytes = 64 << 10;
  // Keep a readable trace of every event (for --trace and for failure reports).
  bool trace = false;
  // How many recent events to keep for failure reports when trace is off.
  size_t recent_events = 200;
  // Safety valve against message storms and livelocks that never advance virtual time:
  // after this many events the cluster records a "liveness" violation and stops
  // processing events. 0 = unlimited.
  uint64_t max_events = 0;
  // The same within any one second of virtual time. 0 = unlimited. (Not a default: with
  // one entry per message and a reordering network, a healthy leader's go-back-N retries
  // reach a few hundred thousand events per second.)
  uint64_t max_events_per_second = 0;
  // Nodes stop handling Readies once a safety checker has reported a violation (random
  // runs: the run ends there, and the report is the checker's, not an assertion's).
  bool stop_on_violation = false;
  // Watches the run without changing it (sim/observer.h; the replay recorder). Not owned;
  // must outlive the cluster.
  SimObserver* observer = nullptr;
};

// What a client was told.
struct ClientReply {
  enum class Code : uint8_t { kOk, kNotLeader, kTimeout, kBusy };
  Code code = Code::kTimeout;
  std::optional<std::string> value;  // get: value read (nullopt: absent)
  bool cas_succeeded = false;        // cas
  NodeId leader_hint = raft::kNoNode;
  bool ok() const { return code == Code::kOk; }
};

// "+v4,-2" style, for traces and reports.
std::string DescribeConfChange(const raft::ConfChange& cc);

class Cluster {
 public:
  explicit Cluster(const ClusterOptions& options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // ---- virtual time ----
  Time Now() const;
  // Processes events until Now() has advanced by `duration`.
  void RunFor(Time duration);
  // Processes events until `pred()` holds (checked after every event) or `timeout` passes.
  // Returns whether it held.
  bool RunUntil(const std::function<bool()>& pred, Time timeout);

  // ---- inspection ----
  std::vector<NodeId> NodeIds() const;
  // The members (voters and learners) as a client would learn them from the cluster (like
  // etcd's member list): the leader's configuration, or the most advanced live node's;
  // every node while none knows a configuration.
  std::vector<NodeId> Members() const;
  bool IsUp(NodeId id) const;
  // Whether messages from `from` reach `to` now (no partition or one-way cut between them).
  bool LinkUp(NodeId from, NodeId to) const;
  // The live node that believes it is leader with the highest term; kNoNode if none.
  NodeId Leader() const;
  // Every live node that believes it is leader (a deposed one may not know yet).
  std::vector<NodeId> SelfProclaimedLeaders() const;
  // Live nodes that believe they lead in a term below the highest such term: deposed
  // leaders that have not noticed yet.
  std::vector<NodeId> DeposedLeaders() const;
  // Every live candidate or pre-candidate.
  std::vector<NodeId> Campaigning() const;
  // Runs until some node is leader; returns it, or kNoNode after `timeout`.
  NodeId WaitForLeader(Time timeout = 10 * kSecond);
  // Live node's core (nullptr if crashed). Read-only: drive it through this class.
  const raft::RawNode* Node(NodeId id) const;
  raft::NodeStatus Status(NodeId id) const;  // requires IsUp(id)
  // Durable state of a node (what survives a crash), also for crashed nodes.
  raft::HardState PersistedHardState(NodeId id) const;
  raft::Index PersistedLastIndex(NodeId id) const;
  // The node's key-value state machine (applied state).
  std::optional<std::string> AppliedValue(NodeId id, const std::string& key) const;
  raft::Index AppliedIndex(NodeId id) const;

  // ---- faults ----
  void Crash(NodeId id);  // loses volatile state and every write not yet durable
  // Recovers from the node's durable state. A disk that refuses to open (disk model) is a
  // "recovery" violation; the node stays down.
  void Restart(NodeId id);
  // The same, but a refused restart is returned instead of recorded as a violation.
  raftkv::Status TryRestart(NodeId id);
  void Isolate(NodeId id);  // cuts every link to and from `id`
  // Symmetric partition: nodes in different groups cannot talk. Nodes not listed are
  // isolated.
  void Partition(const std::vector<std::vector<NodeId>>& groups);
  void CutLink(NodeId from, NodeId to);  // one direction only (asymmetric fault)
  void RestoreLink(NodeId from, NodeId to);
  void Heal();  // restores every link (does not restart crashed nodes)
  // Adds `extra` latency to every disk write of `id` (a slow node); 0 restores it.
  void SetSlowDisk(NodeId id, Time extra);
  // Disk model only (ClusterOptions::disk_model): the next write (or sync) `after`
  // operations from now on node `id` fails with ENOSPC or EIO. The node then crashes itself
  // and the cluster restarts it 10-1000 ms later with the fault cleared.
  void InjectDiskFault(NodeId id, bool on_sync, int64_t after, bool no_space);
  // Disk model only: node `id`'s file system (to damage it in tests); nullptr otherwise.
  storage::FaultFileSystem* FaultFs(NodeId id);
  void SetNetwork(const NetworkOptions& network);
  // Delivers up to `count` recorded old messages again (NetworkOptions::record), each within
  // `spread` from now, to node `to` only unless it is kNoNode.
  void ReplayOldMessages(size_t count, Time spread, NodeId to);

  // ---- direct actions on a node's core ----
  void Campaign(NodeId id);
  void TransferLeader(NodeId leader, NodeId transferee);
  // Proposes a membership change through node `via` (normally the leader); the core's
  // answer (kFailedPrecondition while another change is pending, ...).
  raftkv::Status ProposeConfChange(NodeId via, const raft::ConfChange& cc);
  // Snapshots taken and installed (from a leader) by all nodes so far, and the index of
  // node `id`'s newest state machine image (0: none).
  uint64_t SnapshotsTaken() const;
  uint64_t SnapshotsInstalled() const;
  raft::Index SnapshotIndex(NodeId id) const;
  // Log entries node `id` has applied to its state machine over all its lives (an entry
  // replayed after a restart counts again; a snapshot restore counts none).
  uint64_t EntriesApplied(NodeId id) const;

  // ---- client operations ----
  // Synchronous helpers for scenarios: submit through node `via` and run the cluster until
  // the reply or the timeout. Writes use a client session (exactly-once on retry, C2).
  ClientReply Put(NodeId via, const std::string& key, const std::string& value,
                  Time timeout = 2 * kSecond);
  ClientReply Get(NodeId via, const std::string& key, Time timeout = 2 * kSecond);  // ReadIndex
  ClientReply Cas(NodeId via, const std::string& key, const std::string& expected,
                  const std::string& value, Time timeout = 2 * kSecond);
  // Every operation submitted through the helpers above (and by random clients), for the
  // linearizability checker.
  const check::History& history() const;

  // ---- observation ----
  // Called for every message the network accepts for delivery (before faults apply).
  // Returning false drops it. Used by scenarios to watch or intercept traffic.
  void SetMessageHook(std::function<bool(const raft::Message&)> hook);
  // Safety violations found so far (the invariant checker runs after every event).
  const std::vector<std::string>& Violations() const;
  // The last `n` events, one readable line each.
  std::vector<std::string> RecentEvents(size_t n) const;

  // ---- for the random runs (sim/run.h) and tools; additions to the scenario API ----
  // Schedules `fn` as an event `delay` from now.
  void After(Time delay, std::function<void()> fn);
  // Asynchronous client requests through node `via` (nothing happens if it is down: the
  // caller times out). Not recorded in the history: the caller records its own operations.
  void SubmitWrite(NodeId via, const Command& cmd, std::function<void(const ClientReply&)> done);
  void SubmitRead(NodeId via, const std::string& key, std::function<void(const ClientReply&)> done);
  check::History* mutable_history();
  // The run's random source (the same one the cores and the network use).
  Rng& rng();
  // Records a violation found outside the safety checker ("liveness", "linearizability"...).
  void AddViolation(const std::string& property, const std::string& description);
  // Runs the checker's full re-check of every live node's log.
  void FullCheck();
  // The events that preceded the first violation (empty if none).
  const std::vector<std::string>& EventsBeforeFirstViolation() const;
  // Adds a line to the trace (faults, client actions, phases).
  void Note(NodeId node, const std::string& text);
  // Called for every traced event (the demo's timeline watches role changes).
  void SetEventListener(std::function<void(const TraceEvent&)> listener);
  // Every key/value the node's state machine holds.
  std::vector<std::pair<std::string, std::string>> AppliedState(NodeId id) const;
  uint64_t EventsProcessed() const;
  // The most events processed within one second of virtual time (windows from the first
  // event of each), see ClusterOptions::max_events_per_second.
  uint64_t PeakEventsPerSecond() const;
  // True once max_events was exceeded: the run is over.
  bool Halted() const;
  uint64_t TraceHash() const;
  const NetworkStats& network_stats() const;
  const NetworkOptions& network_options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace raftkv::sim
