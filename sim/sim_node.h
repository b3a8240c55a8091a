// SimNode: one simulated server. It runs the real consensus core (raft::RawNode) with a
// raft::MemoryStorage playing the DISK (what survives a crash), a volatile key-value state
// machine with client sessions, and the runtime loop of raw_node.h on virtual time:
//
//   GetReady -> send leader_messages now -> durable write (takes the disk latency) ->
//   write hard state/entries/snapshot to the disk -> send messages -> apply committed
//   entries -> serve read states -> Advance
//
// While a write is pending no new Ready is taken. A crash throws away the core, the pending
// write and the state machine; a restart builds a new core from the disk and replays the
// committed log into a fresh state machine (applied index restarts at 0).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/raw_node.h"
#include "sim/check/config_checker.h"
#include "sim/check/invariants.h"
#include "sim/cluster.h"
#include "sim/command.h"
#include "sim/event_queue.h"
#include "sim/network.h"
#include "sim/random.h"
#include "sim/trace.h"
#include "storage/disk_storage.h"
#include "storage/fault_fs.h"

namespace raftkv::sim {

// What every node shares: the clock, the network, the randomness, the checker, the trace.
struct SimContext {
  const ClusterOptions* options = nullptr;
  EventQueue* queue = nullptr;
  Network* network = nullptr;
  Rng* rng = nullptr;
  check::SafetyChecker* checker = nullptr;
  check::ConfigChecker* conf_checker = nullptr;
  Tracer* tracer = nullptr;
  // Reports a violation found by the runtime itself ("property: description").
  std::function<void(const std::string&)> violation;
  // Disk model only: a write or sync of node `id` failed and the node crashed itself; the
  // cluster schedules its restart (once "space is back").
  std::function<void(raft::NodeId id, const Status& why)> disk_failed;
};

using ReplyFn = std::function<void(const ClientReply&)>;

class SimNode {
 public:
  SimNode(raft::NodeId id, std::vector<raft::NodeId> peers, SimContext* ctx);
  ~SimNode();

  void Start();  // first boot: bootstraps the initial configuration
  // Loses the core, the unsynced write, the state machine, the waiters. With the disk model
  // the machine loses power: unsynced bytes are lost or torn (a pending write may first
  // reach the OS cache).
  void Crash();
  // Recovers from the disk. With the disk model, fails (the node stays down) if the disk
  // refuses to open, e.g. kCorruption for a damaged record.
  Status Restart();

  raft::NodeId id() const { return id_; }
  bool up() const { return core_ != nullptr; }
  // Changes on every crash and restart: events scheduled for an earlier life check it.
  uint64_t incarnation() const { return incarnation_; }
  const raft::RawNode* core() const { return core_.get(); }
  // Durable state (what a restart recovers). With the disk model and the node down: as of
  // the crash (unsynced writes included), since the disk is only reopened by Restart().
  raft::HardState persisted_hard_state() const;
  raft::Index persisted_last_index() const;
  // The node's simulated file system (nullptr unless ClusterOptions::disk_model).
  storage::FaultFileSystem* fault_fs() { return fs_.get(); }
  // Disk model: the next write (or sync) `after` operations from now fails with `fault`.
  void InjectDiskFault(bool on_sync, int64_t after, storage::FaultFileSystem::Fault fault);
  const KvStateMachine& state() const { return sm_; }
  raft::Index applied() const { return applied_; }
  // The configuration as of applied() (see applied_conf_).
  const raft::ConfState& applied_conf() const { return applied_conf_; }
  raft::Index snapshot_index() const { return snapshot_index_; }
  uint64_t snapshots_taken() const { return snapshots_taken_; }
  uint64_t snapshots_installed() const { return snapshots_installed_; }
  // Leader and role as of the last Ready's soft state.
  raft::NodeId lead() const { return lead_; }
  raft::Role role() const { return role_; }
  raft::Term term() const { return term_; }

  // Inputs. Each requires up().
  void Tick();
  void Receive(const raft::Message& msg);
  void Campaign();
  void TransferLeader(raft::NodeId transferee);
  // Proposes a membership change (the core's answer: refused or accepted).
  Status ProposeConfChange(const raft::ConfChange& cc);
  // Proposes a session write. `done` gets the answer once this node applies it, or at once
  // if the core refuses it; nothing if the node crashes or the entry is lost (the client
  // times out).
  void SubmitWrite(const Command& cmd, ReplyFn done);
  // A linearizable read through ReadIndex, served once applied >= the read index.
  void SubmitRead(const std::string& key, ReplyFn done);

  void SetSlowDisk(Time extra) { slow_extra_ = extra; }

  // Counters for reports.
  uint64_t entries_applied() const { return entries_applied_; }

 private:
  struct PendingRead {
    std::string key;
    ReplyFn done;
    raft::Index index = 0;
    bool has_index = false;
  };

  void boot(bool bootstrap);
  raft::LogStorage* storage();
  // Writes one Ready to the disk; false if the disk model failed it (the node crashed).
  bool maybePersist(raft::Ready* rd);
  void crashDisk(bool pending_write);
  // Notes the log as of the last completed durable write: what a crash leaves (the
  // configuration checker counts a crashed voter with it).
  void recordSynced();
  void afterInput();
  void maybeHandleReady();
  void finishReady();
  void applyEntries(const std::vector<raft::Entry>& entries);
  // Replaces the state machine with a snapshot's image (install or restart).
  void restoreSnapshot(const raft::Snapshot& snap);
  // Takes a snapshot of the state machine and compacts the log once enough entries were
  // applied since the last one (ClusterOptions::snapshot_every); false if the disk model
  // failed the write (the node crashed).
  bool maybeSnapshot();
  void scheduleNextSnapshot();
  void maybeServeReads();
  void sendAll(const std::vector<raft::Message>& msgs);
  void reply(ReplyFn done, ClientReply r);
  ClientReply refusal(const Status& s) const;

  raft::NodeId id_;
  std::vector<raft::NodeId> peers_;
  SimContext* ctx_;
  raft::MemoryStorage disk_;  // durable: survives crashes (without the disk model)
  // The disk model (ClusterOptions::disk_model): a DiskStorage on this node's own fault-
  // injecting file system. The file system survives crashes; the DiskStorage does not.
  std::unique_ptr<storage::FaultFileSystem> fs_;
  std::unique_ptr<storage::DiskStorage> store_;
  raft::HardState down_hard_state_;  // persisted_* while down (disk model)
  raft::Index down_last_index_ = 0;
  check::NodeLog synced_log_;  // see recordSynced()

  // Volatile state (gone on crash).
  std::unique_ptr<raft::RawNode> core_;
  uint64_t incarnation_ = 0;
  bool write_pending_ = false;
  raft::Ready pending_;
  raft::ConfState pending_snapshot_conf_;
  KvStateMachine sm_;
  raft::Index applied_ = 0;
  // The configuration as of applied_ (what a snapshot at applied_ records). Not the core's:
  // the core switches to a leader snapshot's newer configuration as soon as it restores it,
  // while the runtime may still be applying older committed entries of a pending Ready.
  raft::ConfState applied_conf_;
  raft::NodeId lead_ = raft::kNoNode;
  raft::Role role_ = raft::Role::kFollower;
  raft::Term term_ = 0;
  std::map<std::pair<uint64_t, uint64_t>, std::vector<ReplyFn>> write_waiters_;
  std::map<std::string, PendingRead> reads_;
  uint64_t next_read_ = 0;

  Time slow_extra_ = 0;
  uint64_t entries_applied_ = 0;
  raft::Index snapshot_index_ = 0;    // of the state machine image last taken/restored
  raft::Index next_snapshot_at_ = 0;  // applied index that triggers the next snapshot
  uint64_t snapshots_taken_ = 0;
  uint64_t snapshots_installed_ = 0;
};

}  // namespace raftkv::sim
