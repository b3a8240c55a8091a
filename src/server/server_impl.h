// EtcdServer::Impl: the runtime behind the facade. Three threads (see README.md):
//  - the raft thread owns the RawNode and the DiskStorage writes: ticks, steps messages,
//    turns proposals and reads into core calls, handles each Ready in raw_node.h's order;
//  - the apply thread owns the kv::Store (with its session table) and the member table:
//    applies committed entries in order, installs snapshots, serves reads, completes calls;
//  - the snapshot thread serializes pinned store views into raft snapshots.
// Calls from gRPC threads only enqueue work and never touch the core; the one exception to
// "the store is the apply thread's" is a serializable range, which reads the store the apply
// thread published (ReadStore) on the gRPC thread: kv::Store locks every call.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "api/convert.h"
#include "auth/store.h"
#include "kv/store.h"
#include "raft/raw_node.h"
#include "raftkvpb/internal.pb.h"
#include "server/compactor.h"
#include "server/discovery.h"
#include "server/etcd_server.h"
#include "server/leader_lease.h"
#include "server/leases.h"
#include "server/members.h"
#include "server/stage_trace.h"
#include "server/store_feed.h"
#include "server/timeline.h"
#include "server/wait.h"
#include "server/wakeup.h"
#include "storage/disk_storage.h"
#include "transport/transport.h"

namespace raftkv::server {

struct ReconfigView;  // server/reconfig_check.h

using Clock = std::chrono::steady_clock;

// etcd's space-quota cost of a write (lease_ops.cc): key + value + 256 bytes per put; a txn
// costs its larger branch.
int64_t QuotaCost(const etcdserverpb::PutRequest& p);
int64_t QuotaCost(const etcdserverpb::TxnRequest& t);

// A read waiting for its read index (or served at once): runs on the apply thread.
using ReadOp = std::function<ApplyResult(kv::Store&)>;
struct PendingRead {
  uint64_t id = 0;
  ReadOp op;
};

class EtcdServer::Impl : public transport::Handler {
 public:
  // EtcdServer::Status (the call) would hide the type in here.
  using Status = ::raftkv::Status;

  explicit Impl(ServerConfig config);
  ~Impl() override;

  Status Init();
  void Stop();

  // transport::Handler (transport threads).
  void OnMessage(raft::Message msg) override;
  void OnUnreachable(raft::NodeId peer) override;
  void OnSnapshotSent(raft::NodeId peer, bool ok) override;
  Result<std::unique_ptr<storage::SnapshotFileWriter>> NewSnapshotFile(
      const raft::SnapshotMeta& meta) override;  // snapshot.cc

  // --- Used by the facade (any thread) ------------------------------------------------------
  bool stopped() const { return stopping_.load(); }
  uint64_t member_id() const { return member_id_; }
  uint64_t cluster_id() const { return cluster_id_; }
  int peer_port() const { return peer_port_; }
  const ServerConfig& config() const { return config_; }
  uint64_t term() const { return term_.load(); }
  uint64_t leader() const { return lead_.load(); }
  Clock::time_point Deadline() const { return Clock::now() + request_timeout_; }
  // Whether this member leads inside the core's leader lease (leader_lease.h).
  bool LeaderLeaseHolds() const { return leader_lease_.Holds(Clock::now()); }

  // Proposes `req` (its id, origin and time are filled here); `w` gets the applied result.
  void Propose(raftkvpb::InternalRequest req, Waiter w);
  // Proposes a configuration change; the context's request_id/origin are filled here.
  void ProposeConfChange(raft::ConfChangeType type, raftkvpb::ConfChangeContext ctx, Waiter w);
  // A linearizable read: ReadIndex (batched), then `op` once applied >= the read index.
  void LinearizableRead(ReadOp op, Waiter w);
  // Runs `op` on the apply thread now (serializable reads, member list, hashes).
  void SerializableRead(ReadOp op, Waiter w);
  // The store as the apply thread last published it, for serializable ranges served on the
  // calling thread: kv::Store takes its own mutex in every call, so a read is atomic against
  // the apply thread's writes; a snapshot install publishes the new store before anything
  // is applied to it.
  std::shared_ptr<kv::Store> ReadStore() const { return feed_->ReadStore(); }
  // The watchers of this member, fed by the apply thread (store_feed.h).
  watch::Hub& watch_hub() { return feed_->hub(); }
  // Runs `fn` on the raft thread (with the core) before the next Ready.
  void RunOnRaft(std::function<void(raft::RawNode&)> fn);
  void RunOnApply(std::function<void()> fn);

  // Progress of `id` as the leader sees it, and the leader's last index; false if this
  // member is not the leader. Blocks briefly for the raft thread.
  bool LeaderProgress(raft::NodeId id, raft::ProgressStatus* pr, raft::Index* last);
  // Hands leadership to `transferee` and waits until it leads or `timeout` passes.
  Status TransferLeadership(raft::NodeId transferee, std::chrono::milliseconds timeout);
  raft::NodeStatus RaftStatus();
  // The member table, read on the apply thread (waits at most a few seconds).
  Result<raftkvpb::MemberTable> MemberTableNow();
  // MemberPromote as the leader runs it (no forwarding): what a follower's forwarded
  // promote reaches through the Discovery service.
  void PromoteAsLeader(const etcdserverpb::MemberPromoteRequest& req,
                       Done<etcdserverpb::MemberPromoteResponse> done);

  // Cluster and maintenance calls (cluster.cc, maintenance.cc); the facade forwards.
  ReconfigView reconfigView() const;  // apply thread
  void MemberAdd(const etcdserverpb::MemberAddRequest& req,
                 Done<etcdserverpb::MemberAddResponse> done);
  void MemberRemove(const etcdserverpb::MemberRemoveRequest& req,
                    Done<etcdserverpb::MemberRemoveResponse> done);
  void MemberUpdate(const etcdserverpb::MemberUpdateRequest& req,
                    Done<etcdserverpb::MemberUpdateResponse> done);
  void MemberList(Done<etcdserverpb::MemberListResponse> done);
  void MemberPromote(const etcdserverpb::MemberPromoteRequest& req,
                     Done<etcdserverpb::MemberPromoteResponse> done);
  void StatusCall(Done<etcdserverpb::StatusResponse> done);
  void Hash(Done<etcdserverpb::HashResponse> done);
  void HashKV(const etcdserverpb::HashKVRequest& req, Done<etcdserverpb::HashKVResponse> done);
  void MoveLeader(const etcdserverpb::MoveLeaderRequest& req,
                  Done<etcdserverpb::MoveLeaderResponse> done);
  void CheckHealth(Done<bool> done);
  Result<std::unique_ptr<SnapshotReader>> OpenSnapshot();
  ServerStats GetStats() const;
  // This member's raft state, its followers as it leads them, and its timeline
  // (debug_status.cc; /debug/raft and the peers' Debug calls).
  raftkvpb::MemberDebug DebugStatus();
  // Every member's DebugStatus, asked over the peer port in parallel.
  raftkvpb::ClusterDebug ClusterDebug(std::chrono::milliseconds peer_timeout);
  Timeline& timeline() { return timeline_; }

  // Leases and the space quota (lease_ops.cc).
  LeaseRuntime& leases() { return *leases_; }
  // Refuses a write of `cost` quota bytes with NOSPACE (and raises the alarm) if the store
  // would pass --quota-backend-bytes.
  Status CheckQuota(int64_t cost);
  // The leader's answers (no forwarding): what a follower's forwarded calls reach.
  void LeaseRenewAsLeader(int64_t id, Done<int64_t> done);
  void LeaseTimeToLiveAsLeader(const etcdserverpb::LeaseTimeToLiveRequest& req,
                               Done<etcdserverpb::LeaseTimeToLiveResponse> done);
  // `local` on the promoted leader, `forward` elsewhere (with the leader's peer URL), retried
  // until `deadline` while no leader is known.
  void LeaderCall(std::function<void()> local, std::function<void(const std::string&)> forward,
                  std::function<void(Status)> fail, Clock::time_point deadline);
  void AlarmCall(const etcdserverpb::AlarmRequest& req, Done<etcdserverpb::AlarmResponse> done);

  // Adapts a typed Done callback to a Waiter: parses the serialized response and fills the
  // top-level header (cluster_id, member_id, raft_term; the store filled the revision).
  template <typename Resp>
  Waiter Typed(Done<Resp> done) {
    return [this, done = std::move(done)](ApplyResult r) {
      if (!r.ok()) {
        done(r.status());
        return;
      }
      Resp resp;
      if (!resp.ParseFromString(*r)) {
        done(Status::Corruption("raftkv: undecodable response"));
        return;
      }
      api::FillHeader(api::HeaderInfo{cluster_id_, member_id_, term()}, resp.mutable_header());
      done(std::move(resp));
    };
  }
  // Typed's counterpart for callers that want the response's bytes (the client front): the
  // header is filled without parsing the rest (api::FillHeaderBytes).
  Waiter Bytes(Done<std::string> done) {
    return [this, done = std::move(done)](ApplyResult r) {
      if (!r.ok()) {
        done(r.status());
        return;
      }
      std::string out = std::move(r).value();
      Status s = api::FillHeaderBytes(api::HeaderInfo{cluster_id_, member_id_, term()}, &out);
      if (!s.ok()) return done(s);
      done(std::move(out));
    };
  }
  // Users, roles, permissions and tokens (src/auth): changed only by the apply thread, in log
  // order (applyOp, installSnapshot); checked from any thread.
  auth::Store& auth() { return *auth_; }
  uint64_t applied_index() const { return applied_index_.load(); }
  uint64_t commit_index() const { return commit_index_.load(); }
  int64_t revision() const { return revision_.load(); }
  // The store's size as the quota measures it (kv::Store::SizeBytes).
  uint64_t db_size() const { return static_cast<uint64_t>(ReadStore()->SizeBytes()); }
  bool is_learner() const { return is_learner_.load(); }
  std::string fatal_error() const;

 private:
  // --- startup (etcd_server.cc) ---
  Status openDataDir();
  Status restoreFromStorage();
  Status startTransport();
  void addPeer(const etcdserverpb::Member& m);

  // --- raft thread (raft_loop.cc) ---
  void raftLoop();
  // Queues work for the raft thread (`push` runs under inbox_mu_) and wakes it if it sleeps.
  template <typename F>
  void toRaft(F push);
  // Sleeps until the inbox has work, an inbound peer stream has bytes, or `until`.
  void waitForWork(Clock::time_point until);
  void drainInbox();
  struct PendingProposal {
    uint64_t id = 0;
    std::string data;  // the serialized InternalRequest
  };
  void proposeBatch(std::vector<PendingProposal> proposals);
  void traceAppended(const std::vector<PendingProposal>& batch, size_t first, size_t next);
  // The key of `t`'s open trace if it is the index of one of `entries`, else kNone.
  static raft::Index TracedIn(const StageTrace& t, const std::vector<raft::Entry>& entries);
  void issueReadIndex(Clock::time_point now);
  void handleReady();
  void handleSoftState(const raft::SoftState& ss);
  void handleCommitted(std::vector<raft::Entry> entries);
  void expireHeld(Clock::time_point now);
  void checkTransfers(Clock::time_point now);
  void maybeCheckRemoved(Clock::time_point now);
  void leaderDuties(Clock::time_point now);  // lease expiry, auto compaction (lease_ops.cc)
  std::string leaderPeerUrl(uint64_t lead);
  void saveSnapshotOnRaft(raft::Snapshot snap, Clock::time_point started);
  void fail(const Status& s);  // fatal: logs, stops the loops, fails every call
  void shutdownLoops();
  void setStopReason(
      const std::string& why);  // stops the loops and fails every call (Stop, removal, fatal)

  // --- apply thread (apply.cc) ---
  struct Committed {
    std::vector<raft::Entry> entries;
    std::map<raft::Index, raft::ConfState> conf_states;  // for kConfChange entries
  };
  struct Install {
    raft::Snapshot snap;
  };
  struct ReadBatch {
    raft::Index index = 0;
    std::vector<PendingRead> reads;
  };
  using ApplyItem = std::variant<Committed, Install, ReadBatch, std::function<void()>>;
  void postApply(ApplyItem item);
  void applyLoop();
  void applyCommitted(Committed c);
  void applyEntry(const raft::Entry& e, const raft::ConfState* cs);
  void applyNormal(const raft::Entry& e);
  void applyConfChange(const raft::Entry& e, const raft::ConfState& cs);
  Status installSnapshot(const raft::Snapshot& snap);
  Status loadSnapshotImage(const raft::Snapshot& snap, struct SnapshotParts* parts,
                           std::unique_ptr<kv::Store>* store);
  ApplyResult applyRequest(const raftkvpb::InternalRequest& r, const raft::Entry& e);
  ApplyResult applyOp(const raftkvpb::InternalRequest& r, const raft::Entry& e);
  ApplyResult applyLeaseOrAlarm(const raftkvpb::InternalRequest& r, const raft::Entry& e);
  void serveReads();
  void maybeSnapshot();
  Result<raft::Snapshot> writeSnapshotFile(const struct SnapshotJob& job);  // snapshot thread
  bool snapshotDue() const;
  void maybePublish();
  void finishApply(uint64_t origin, uint64_t request_id, ApplyResult r);
  void flushCompletions();

  // --- snapshot thread ---
  void snapshotLoop();

  ServerConfig config_;
  uint64_t member_id_ = 0;
  uint64_t cluster_id_ = 0;
  int peer_port_ = 0;
  raftkvpb::Identity identity_;
  std::chrono::milliseconds request_timeout_;
  std::atomic<uint64_t> next_request_id_;

  std::unique_ptr<storage::DiskStorage> storage_;
  std::unique_ptr<raft::RandomSource> random_;
  std::unique_ptr<raft::RawNode> node_;  // raft thread only (after Init)
  std::unique_ptr<transport::Transport> transport_;
  std::unique_ptr<grpc::Service> discovery_;
  WaitRegistry waits_;
  // Leases beyond the replicated table (the leader's lessor, forwarding) and the leader's
  // auto compaction; both leader duties run on the raft thread's ticks.
  std::unique_ptr<LeaseRuntime> leases_;
  std::unique_ptr<AutoCompactor> compactor_;

  // Raft thread inbox. Other threads queue work under inbox_mu_ and ring raft_wake_ if the
  // loop sleeps (raft_sleeping_): it sleeps in poll() on raft_wake_ and the transport's
  // inbound streams (Transport::inbound_poll_fd) until its next tick.
  std::mutex inbox_mu_;
  Wakeup raft_wake_;
  bool raft_sleeping_ = false;  // guarded by inbox_mu_
  std::vector<raft::Message> inbox_msgs_;
  std::vector<std::function<void(raft::RawNode&)>> inbox_tasks_;
  std::vector<PendingRead> inbox_reads_;
  std::vector<PendingProposal> inbox_proposals_;
  // Raft thread only: read batches waiting for their ReadState, by context.
  struct ReadRound {
    Clock::time_point issued;
    Clock::time_point first_issued;
    std::vector<PendingRead> reads;
  };
  std::map<std::string, ReadRound> read_rounds_;
  std::vector<PendingRead> new_reads_;
  // Proposals made while no leader was known, proposed again once one is.
  struct HeldProposal {
    uint64_t id = 0;
    std::string data;
    Clock::time_point since;
  };
  std::vector<HeldProposal> held_proposals_;
  // MoveLeader calls waiting for the transfer to finish.
  struct PendingTransfer {
    raft::NodeId target = raft::kNoNode;
    Clock::time_point deadline;
    Clock::time_point retry_at;  // the core gives a transfer up after an election timeout
    std::function<void(Status)> done;
  };
  std::vector<PendingTransfer> transfers_;
  // Leaderless since; when the last "was I removed?" check was started.
  Clock::time_point no_leader_since_{}, last_removed_check_{};
  std::atomic<bool> removed_check_running_{false};
  uint64_t next_read_ctx_ = 0;
  raft::SoftState soft_;

  // Apply thread inbox and state.
  std::mutex apply_mu_;
  std::condition_variable apply_cv_;
  std::deque<ApplyItem> apply_queue_;
  std::shared_ptr<kv::Store> store_;
  std::unique_ptr<auth::Store> auth_;
  std::unique_ptr<StoreFeed> feed_;  // store_ to serializable readers and watchers (Init on)
  MemberTable members_;
  raft::ConfState conf_state_;
  raft::Index applied_ = 0;
  raft::Term applied_term_ = 0;
  raft::Index last_snapshot_index_ = 0;
  uint64_t snapshot_bytes_mark_ = 0;  // storage_->appended_bytes() at the last snapshot
  std::multimap<raft::Index, PendingRead> waiting_reads_;
  // Results for this member's calls in the batch being applied (flushCompletions).
  std::vector<std::pair<uint64_t, ApplyResult>> completions_;
  std::atomic<bool> publishing_{false}, published_{false};

  // Snapshot thread.
  std::mutex snap_mu_;
  std::condition_variable snap_cv_;
  std::deque<std::function<void()>> snap_queue_;
  std::atomic<bool> snapshot_in_progress_{false};

  std::thread raft_thread_, apply_thread_, snap_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> loops_stop_{false};
  std::mutex stop_mu_;
  mutable std::mutex fatal_mu_;
  std::string fatal_error_;

  // Observed state, for any thread.
  std::atomic<uint64_t> term_{0}, lead_{0}, applied_index_{0}, commit_index_{0};
  std::atomic<bool> is_learner_{false};
  std::atomic<int64_t> revision_{1}, compact_revision_{0};
  std::atomic<uint64_t> keys_{0};
  std::atomic<uint64_t> leader_changes_{0}, proposals_committed_{0}, proposals_applied_{0},
      proposals_failed_{0}, slow_apply_{0}, snapshots_sent_{0}, snapshots_received_{0},
      keepalives_in_lease_{0}, keepalives_after_round_{0}, read_index_rounds_{0},
      read_index_reads_{0};
  Histogram wal_fsync_, snapshot_save_, snapshot_apply_;
  Timeline timeline_;              // what /ui shows of the last minutes (timeline.h)
  LeaderLeaseClock leader_lease_;  // published by the raft thread (leader_lease.h)
  DebugPeers debug_peers_;         // ClusterDebug's connections to the other members
  // Where a request's time goes (stage_trace.h): a proposal made on this member, from the
  // call to its completion (boundaries: raft thread picks it up, appended to the log, WAL
  // write starts, durable, committed, apply thread starts its batch, applied, answered),
  // and, on a follower, an append from its arrival to the acknowledgement being sent.
  StageTrace propose_trace_{{"queue", "propose", "to_wal", "wal_write_fsync", "peer_acks",
                             "to_apply", "apply", "complete"}};
  StageTrace append_trace_{{"to_raft", "to_wal", "wal_write_fsync", "ack_send"}};
  // Boundaries of propose_trace_ and append_trace_, in order.
  enum ProposeMark : size_t {
    kPickedUp = 1,
    kAppended,
    kWalStart,
    kDurable,
    kCommitted,
    kApplyStart,
    kApplied
  };
  enum AppendMark : size_t { kStepped = 1, kAppendWalStart, kAppendDurable };
};

}  // namespace raftkv::server
