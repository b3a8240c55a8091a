#include "sim/sim_node.h"

#include <cstdio>

#include "common/check.h"
#include "sim/conf_change_apply.h"

namespace raftkv::sim {

namespace {

// Where each node keeps its data directory on its own (in-memory) file system.
constexpr const char* kDataDir = "/data";

storage::DiskStorageOptions simDiskOptions(storage::FileSystem* fs, uint64_t segment_bytes) {
  storage::DiskStorageOptions o;
  o.fs = fs;
  // Small segments: runs rotate segments often, and preallocation stays cheap in memory.
  o.wal.segment_bytes = segment_bytes;
  return o;
}

}  // namespace

SimNode::SimNode(raft::NodeId id, std::vector<raft::NodeId> peers, SimContext* ctx)
    : id_(id), peers_(std::move(peers)), ctx_(ctx) {
  // The file system draws from the run's PRNG only with the disk model on, so runs without
  // it replay exactly as before.
  if (ctx_->options->disk_model)
    fs_ = std::make_unique<storage::FaultFileSystem>(ctx_->rng->Next());
}

SimNode::~SimNode() = default;

raft::LogStorage* SimNode::storage() {
  if (store_) return store_.get();
  return &disk_;
}

raft::HardState SimNode::persisted_hard_state() const {
  if (!fs_) return disk_.hard_state();
  return store_ ? store_->hard_state() : down_hard_state_;
}

raft::Index SimNode::persisted_last_index() const {
  if (!fs_) return disk_.LastIndex();
  return store_ ? store_->LastIndex() : down_last_index_;
}

void SimNode::InjectDiskFault(bool on_sync, int64_t after, storage::FaultFileSystem::Fault fault) {
  RAFTKV_CHECK(fs_ != nullptr, "disk faults need the disk model");
  if (on_sync) {
    fs_->FailSyncAfter(after, fault);
  } else {
    fs_->FailWriteAfter(after, fault);
  }
}

void SimNode::Start() {
  if (fs_) {
    auto opened = storage::DiskStorage::Open(
        kDataDir, simDiskOptions(fs_.get(), ctx_->options->wal_segment_bytes));
    RAFTKV_CHECK(opened.ok(), "a fresh simulated disk opens");
    store_ = std::move(opened).value();
  }
  boot(true);
}

Status SimNode::Restart() {
  RAFTKV_CHECK(!up(), "restart of a node that is up");
  if (fs_) {
    // Space is back: the faults that crashed the node are cleared before recovery.
    fs_->ClearFaults();
    auto opened = storage::DiskStorage::Open(
        kDataDir, simDiskOptions(fs_.get(), ctx_->options->wal_segment_bytes));
    if (!opened.ok()) return opened.status();
    store_ = std::move(opened).value();
    // The configuration comes from the snapshot plus the log (raw_node.h); the peers are
    // used only to bootstrap an empty disk.
    bool empty = store_->LastIndex() == 0 && store_->hard_state().IsEmpty();
    boot(empty);
    return Status::OK();
  }
  // A node that crashed before its bootstrap entries were durable has an empty disk and
  // boots as new again; otherwise it recovers from the disk.
  bool empty = disk_.LastIndex() == 0 && disk_.hard_state().IsEmpty();
  boot(empty);
  return Status::OK();
}

void SimNode::boot(bool bootstrap) {
  raft::Config cfg;
  cfg.id = id_;
  cfg.election_tick = ctx_->options->election_tick;
  cfg.heartbeat_tick = ctx_->options->heartbeat_tick;
  cfg.storage = storage();
  cfg.random = ctx_->rng;
  cfg.pre_vote = ctx_->options->pre_vote;
  cfg.check_quorum = ctx_->options->check_quorum;
  cfg.read_only = ctx_->options->read_only;
  cfg.max_size_per_msg = ctx_->options->max_size_per_msg;
  // The state machine is volatile: it restarts from the newest snapshot (L3) and replays
  // the committed log after it.
  sm_.Clear();
  applied_ = 0;
  snapshot_index_ = 0;
  auto snap = storage()->GetSnapshot();
  RAFTKV_CHECK(snap.ok(), "the simulated disk's snapshot is readable");
  if (!snap->IsEmpty()) restoreSnapshot(*snap);
  cfg.applied = applied_;
  auto created = raft::RawNode::Create(cfg, bootstrap ? peers_ : std::vector<raft::NodeId>{});
  if (!created.ok()) {
    std::fprintf(stderr, "n%llu: %s\n", static_cast<unsigned long long>(id_),
                 created.status().ToString().c_str());
  }
  RAFTKV_CHECK(created.ok(), "the simulator builds a valid core from its own disk");
  core_ = std::move(created).value();
  ++incarnation_;
  write_pending_ = false;
  lead_ = raft::kNoNode;
  role_ = raft::Role::kFollower;
  term_ = persisted_hard_state().term;
  if (applied_ > 0) ctx_->checker->ObserveSnapshotApply(id_, applied_, snap->meta.term);
  recordSynced();
  // The core starts with the snapshot's configuration (Config::applied is its index).
  applied_conf_ = core_->GetStatus().conf;
  ctx_->conf_checker->ObserveConfig(id_, applied_, applied_conf_, false);
  scheduleNextSnapshot();
  afterInput();
}

void SimNode::restoreSnapshot(const raft::Snapshot& snap) {
  Status s = sm_.Restore(snap.data);
  RAFTKV_CHECK(s.ok(), "a snapshot image the simulator wrote decodes");
  applied_ = snap.meta.index;
  applied_conf_ = snap.meta.conf;
  snapshot_index_ = snap.meta.index;
}

void SimNode::scheduleNextSnapshot() {
  uint64_t every = ctx_->options->snapshot_every;
  if (every == 0) return;
  // Random thresholds, so nodes snapshot independently (L6) and at different points.
  next_snapshot_at_ = applied_ + ctx_->rng->Range(every / 2 + 1, every + every / 2);
}

bool SimNode::maybeSnapshot() {
  if (ctx_->options->snapshot_every == 0 || applied_ < next_snapshot_at_) return true;
  scheduleNextSnapshot();
  // The configuration as of applied_ (L4: taken between applies, while the cluster keeps
  // serving). Not the core's: it may have restored a newer leader snapshot meanwhile, whose
  // Ready is still to come (seed 1765000001622).
  const raft::ConfState conf = applied_conf_;
  // Without such a snapshot the two agree: the runtime hands every applied change to the core.
  if (core_->FirstIndex() <= applied_ + 1 && core_->GetStatus().conf != conf) {
    ctx_->violation("config-applied: node " + std::to_string(id_) +
                    " tracks a configuration as of index " + std::to_string(applied_) +
                    " other than its core's");
  }
  // Keep a few entries behind the snapshot for slightly slow followers.
  raft::Index keep = ctx_->rng->Range(0, 8);
  raft::Index compact = applied_ > keep ? applied_ - keep : 0;
  if (store_) {
    raft::Snapshot snap;
    snap.meta.index = applied_;
    auto term = store_->TermAt(applied_);
    RAFTKV_CHECK(term.ok(), "the applied index is in the durable log");
    snap.meta.term = *term;
    snap.meta.conf = conf;
    snap.data = sm_.Serialize();
    Status s = store_->SaveSnapshot(snap);
    if (s.ok() && compact >= store_->FirstIndex()) s = store_->Compact(compact);
    if (!s.ok()) {
      Crash();
      if (ctx_->disk_failed) ctx_->disk_failed(id_, s);
      return false;
    }
  } else {
    auto snap = disk_.CreateSnapshot(applied_, conf, sm_.Serialize());
    RAFTKV_CHECK(snap.ok(), "a snapshot at the applied index is newer than the last one");
    if (compact >= disk_.FirstIndex()) {
      Status s = disk_.Compact(compact);
      RAFTKV_CHECK(s.ok(), "compaction below the snapshot index succeeds");
    }
  }
  snapshot_index_ = applied_;
  ++snapshots_taken_;
  ctx_->conf_checker->ObserveConfig(id_, applied_, conf, false);
  TraceEvent ev;
  ev.at = ctx_->queue->Now();
  ev.kind = TraceEvent::Kind::kNote;
  ev.node = id_;
  ev.text = "SNAPSHOT at " + std::to_string(applied_) + ", log from " + std::to_string(compact + 1);
  ctx_->tracer->Record(std::move(ev));
  return true;
}

void SimNode::Crash() {
  RAFTKV_CHECK(up(), "crash of a node that is down");
  if (fs_) crashDisk(write_pending_);
  core_.reset();
  ++incarnation_;
  write_pending_ = false;
  pending_ = raft::Ready{};
  sm_.Clear();
  applied_ = 0;
  lead_ = raft::kNoNode;
  role_ = raft::Role::kFollower;
  write_waiters_.clear();
  reads_.clear();
  ctx_->checker->ObserveCrash(id_);
  // The log it comes back with keeps refusing votes to less up-to-date candidates.
  ctx_->conf_checker->ObserveDown(id_, synced_log_);
}

void SimNode::recordSynced() {
  raft::LogStorage* disk = storage();
  synced_log_.term = persisted_hard_state().term;
  synced_log_.last_index = disk->LastIndex();
  auto t = disk->TermAt(synced_log_.last_index);
  synced_log_.last_term = t.ok() ? *t : 0;
}

void SimNode::crashDisk(bool pending_write) {
  if (pending_write && store_ && ctx_->rng->Chance(0.5)) {
    // The pending write reached the OS cache but not the platter.
    raft::Ready& rd = pending_;
    (void)store_->Save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries,
                       rd.snapshot ? &*rd.snapshot : nullptr, /*sync=*/false);
  }
  if (store_) {
    down_hard_state_ = store_->hard_state();
    down_last_index_ = store_->LastIndex();
  }
  store_.reset();
  fs_->PowerLoss(/*keep_torn_prefix=*/ctx_->rng->Chance(0.5));
}

void SimNode::Tick() {
  core_->Tick();
  afterInput();
}

void SimNode::Receive(const raft::Message& msg) {
  TraceEvent ev;
  ev.at = ctx_->queue->Now();
  ev.kind = TraceEvent::Kind::kDeliver;
  ev.node = id_;
  ev.peer = msg.from;
  ev.msg = msg.type;
  ev.term = msg.term;
  ev.index = msg.index;
  ev.extra = msg.entries.empty() ? msg.commit : msg.entries.size();
  ev.reject = msg.reject;
  ctx_->tracer->Record(std::move(ev));
  (void)core_->Step(msg);  // a refused message is the core's decision, nothing to do here
  afterInput();
}

void SimNode::Campaign() {
  (void)core_->Campaign();
  afterInput();
}

void SimNode::TransferLeader(raft::NodeId transferee) {
  core_->TransferLeader(transferee);
  afterInput();
}

Status SimNode::ProposeConfChange(const raft::ConfChange& cc) {
  Status s = core_->ProposeConfChange(cc);
  afterInput();
  return s;
}

ClientReply SimNode::refusal(const Status& s) const {
  ClientReply r;
  r.code = s.Is(Status::Code::kBusy) ? ClientReply::Code::kBusy : ClientReply::Code::kNotLeader;
  r.leader_hint = lead_;
  return r;
}

void SimNode::SubmitWrite(const Command& cmd, ReplyFn done) {
  Status s = core_->Propose(EncodeCommand(cmd));
  if (!s.ok()) {
    reply(std::move(done), refusal(s));
    return;
  }
  write_waiters_[{cmd.client, cmd.seq}].push_back(std::move(done));
  afterInput();
}

void SimNode::SubmitRead(const std::string& key, ReplyFn done) {
  if (lead_ == raft::kNoNode) {
    // The core would drop the request silently; a real server answers "no leader".
    reply(std::move(done), refusal(Status::NotLeader("no leader known")));
    return;
  }
  std::string ctx =
      std::to_string(id_) + "/" + std::to_string(incarnation_) + "/" + std::to_string(next_read_++);
  reads_[ctx] = PendingRead{key, std::move(done)};
  core_->ReadIndex(ctx);
  afterInput();
}

void SimNode::reply(ReplyFn done, ClientReply r) {
  // Answers travel as their own event, so a client reacting to one never re-enters this
  // node in the middle of handling a Ready.
  ctx_->queue->After(0, [done = std::move(done), r = std::move(r)]() { done(r); });
}

void SimNode::afterInput() {
  ctx_->checker->Observe(id_, *core_);
  ctx_->conf_checker->ObserveLog(id_, *core_);
  // Once a safety check has failed the run is over: handling this Ready could trip an
  // assertion on the broken state (an abort) and hide the checker's report.
  if (ctx_->options->stop_on_violation &&
      (!ctx_->checker->ok() || !ctx_->conf_checker->violations().empty())) {
    return;
  }
  maybeHandleReady();
}

void SimNode::sendAll(const std::vector<raft::Message>& msgs) {
  for (const raft::Message& m : msgs) ctx_->network->Send(m);
}

void SimNode::maybeHandleReady() {
  if (!up() || write_pending_ || !core_->HasReady()) return;
  pending_ = core_->GetReady();
  // The configuration the core restored with this Ready's snapshot (another snapshot may
  // replace it in the core while the write is pending).
  if (pending_.snapshot) pending_snapshot_conf_ = core_->GetStatus().conf;
  if (pending_.soft_state) {
    const raft::SoftState& ss = *pending_.soft_state;
    if (ss.lead != lead_ || ss.role != role_) {
      TraceEvent ev;
      ev.at = ctx_->queue->Now();
      ev.kind = TraceEvent::Kind::kRole;
      ev.node = id_;
      ev.peer = ss.lead;
      ev.term = core_->GetStatus().hard_state.term;
      ev.text = raft::RoleName(ss.role);
      ctx_->tracer->Record(std::move(ev));
    }
    lead_ = ss.lead;
    role_ = ss.role;
  }
  if (pending_.hard_state) term_ = pending_.hard_state->term;
  // The leader's appends go out while its own write is in flight (thesis §10.2.1), but only
  // in a term the disk holds already. The simulator reports a core that breaks this as a
  // violation (and goes on, as a runtime without the check would); raftkvd stops at once.
  if (!raft::LeaderMessagesMayLeaveEarly(pending_, persisted_hard_state().term)) {
    ctx_->violation("persist-before-speak: node " + std::to_string(id_) +
                    " would send before its write a message in a term its disk does not hold"
                    " (durable term " +
                    std::to_string(persisted_hard_state().term) + ")");
  }
  sendAll(pending_.leader_messages);
  const bool needs_sync =
      pending_.must_sync || pending_.snapshot.has_value() || !pending_.entries.empty();
  if (!needs_sync) {
    finishReady();
    return;
  }
  write_pending_ = true;
  const DiskOptions& disk = ctx_->options->disk;
  Time latency = ctx_->rng->Range(disk.min_sync, disk.max_sync) + slow_extra_;
  uint64_t life = incarnation_;
  ctx_->queue->After(latency, [this, life]() {
    if (incarnation_ != life) return;  // crashed meanwhile: the write never happened
    finishReady();
  });
}

bool SimNode::maybePersist(raft::Ready* rd) {
  if (!store_) return true;
  if (!rd->snapshot && rd->entries.empty() && !rd->hard_state && !rd->must_sync) return true;
  Status s = store_->Save(rd->hard_state ? &*rd->hard_state : nullptr, rd->entries,
                          rd->snapshot ? &*rd->snapshot : nullptr, rd->must_sync);
  if (s.ok()) return true;
  // The node stops rather than acknowledge anything of a write that failed: it sends none
  // of the Ready's messages and applies nothing; recovery truncates the half record.
  pending_ = std::move(*rd);
  write_pending_ = true;  // so the crash may still push it to the OS cache (it fails again)
  Crash();
  if (ctx_->disk_failed) ctx_->disk_failed(id_, s);
  return false;
}

void SimNode::finishReady() {
  raft::Ready rd = std::move(pending_);
  pending_ = raft::Ready{};
  if (store_) {
    if (!maybePersist(&rd)) return;
  } else if (rd.snapshot) {
    Status s = disk_.ApplySnapshot(*rd.snapshot);
    RAFTKV_CHECK(s.ok(), "the core hands out only snapshots newer than the disk's");
  }
  if (!store_) {
    if (!rd.entries.empty()) {
      Status s = disk_.Append(rd.entries);
      RAFTKV_CHECK(s.ok(), "Ready entries are contiguous with the durable log");
    }
    if (rd.hard_state) disk_.SetHardState(*rd.hard_state);
  }
  if (rd.must_sync || !rd.entries.empty() || rd.hard_state) {
    recordSynced();
    const raft::HardState hs = persisted_hard_state();
    TraceEvent ev;
    ev.at = ctx_->queue->Now();
    ev.kind = TraceEvent::Kind::kPersist;
    ev.node = id_;
    ev.term = hs.term;
    ev.index = persisted_last_index();
    ev.extra = hs.commit;
    ctx_->tracer->Record(std::move(ev));
  }
  // Votes and acknowledgements only now that what they promise is durable (§5.1).
  sendAll(rd.messages);
  if (rd.snapshot) {
    // A leader's snapshot (L2): it replaces the state machine; the core took its
    // configuration from the snapshot's metadata.
    restoreSnapshot(*rd.snapshot);
    ++snapshots_installed_;
    scheduleNextSnapshot();
    ctx_->checker->ObserveSnapshotApply(id_, applied_, rd.snapshot->meta.term);
    ctx_->conf_checker->ObserveConfig(id_, applied_, pending_snapshot_conf_, false);
  }
  applyEntries(rd.committed_entries);
  for (const raft::ReadState& rs : rd.read_states) {
    auto it = reads_.find(rs.context);
    if (it == reads_.end()) continue;
    it->second.index = rs.index;
    it->second.has_index = true;
  }
  maybeServeReads();
  core_->Advance();
  write_pending_ = false;
  if (!maybeSnapshot()) return;
  afterInput();
}

void SimNode::applyEntries(const std::vector<raft::Entry>& entries) {
  for (const raft::Entry& e : entries) {
    RAFTKV_CHECK(e.index == applied_ + 1, "committed entries are applied in order, no gaps");
    ctx_->checker->ObserveApply(id_, e);
    applied_ = e.index;
    ++entries_applied_;
    if (e.type == raft::EntryType::kConfChange) {
      raft::ConfState cs = ApplyConfChangeEntry(core_.get(), e);
      if (core_->FirstIndex() <= e.index) {
        ctx_->conf_checker->ObserveConfig(id_, e.index, cs, true);
      } else {
        // A snapshot the core restored meanwhile (its Ready still pending) covers the entry:
        // the core kept that snapshot's newer configuration; the one as of e.index follows
        // from the one before it.
        cs = ConfStateAfterEntry(applied_conf_, e);
      }
      applied_conf_ = cs;
      continue;
    }
    if (e.data.empty()) continue;  // a new leader's no-op (§8)
    auto cmd = DecodeCommand(e.data);
    RAFTKV_CHECK(cmd.ok(), "every non-empty normal entry is a command the simulator wrote");
    ApplyResult res = sm_.Apply(*cmd);
    if (res.stale) continue;
    auto it = write_waiters_.find({cmd->client, cmd->seq});
    if (it == write_waiters_.end()) continue;
    ClientReply r;
    r.code = ClientReply::Code::kOk;
    r.cas_succeeded = res.cas_succeeded;
    r.leader_hint = lead_;
    for (ReplyFn& done : it->second) reply(std::move(done), r);
    write_waiters_.erase(it);
  }
}

void SimNode::maybeServeReads() {
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (!it->second.has_index || it->second.index > applied_) {
      ++it;
      continue;
    }
    ClientReply r;
    r.code = ClientReply::Code::kOk;
    r.value = sm_.Get(it->second.key);
    r.leader_hint = lead_;
    reply(std::move(it->second.done), r);
    it = reads_.erase(it);
  }
}

}  // namespace raftkv::sim
