// ServerStats: the counters raftkvd exposes on /metrics, kept by the runtime and rendered by
// metrics.cc in Prometheus text format with names modelled on etcd's
// (etcd_server_has_leader, etcd_disk_wal_fsync_duration_seconds, ...).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "server/stage_trace.h"

namespace raftkv::server {

// A fixed-bucket latency histogram in seconds, safe to update from several threads.
// Buckets are upper bounds 0.001 * 2^i s for i = 0..13 (1 ms .. 8.192 s), plus +Inf, as
// etcd's WAL fsync histogram.
class Histogram {
 public:
  static constexpr int kBuckets = 14;
  static double UpperBound(int i) { return 0.001 * static_cast<double>(uint64_t{1} << i); }

  void Observe(double seconds) {
    int i = 0;
    while (i < kBuckets && seconds > UpperBound(i)) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
  }

  struct Snapshot {
    std::array<uint64_t, kBuckets + 1> counts{};  // per bucket (not cumulative); last = +Inf
    double sum_seconds = 0;
    uint64_t count = 0;
  };
  Snapshot Get() const {
    Snapshot s;
    for (int i = 0; i <= kBuckets; ++i) {
      s.counts[i] = counts_[i].load(std::memory_order_relaxed);
      s.count += s.counts[i];
    }
    s.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return s;
  }

 private:
  std::array<std::atomic<uint64_t>, kBuckets + 1> counts_{};
  std::atomic<uint64_t> sum_ns_{0};
};

// A point-in-time copy of the server's counters (EtcdServer::GetStats()).
struct ServerStats {
  uint64_t member_id = 0;
  uint64_t cluster_id = 0;
  bool has_leader = false;
  bool is_leader = false;
  bool is_learner = false;
  uint64_t leader_changes_seen = 0;  // etcd_server_leader_changes_seen_total
  uint64_t term = 0;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  uint64_t proposals_committed = 0;  // etcd_server_proposals_committed_total
  uint64_t proposals_applied = 0;    // etcd_server_proposals_applied_total
  uint64_t proposals_pending = 0;    // etcd_server_proposals_pending
  uint64_t proposals_failed = 0;     // etcd_server_proposals_failed_total
  uint64_t slow_apply = 0;           // etcd_server_slow_apply_total
  // raftkv_read_index_rounds_total / raftkv_read_index_reads_total: ReadIndex rounds this
  // member started and the linearizable reads they carried (reads per round: how well a
  // round's heartbeats are shared).
  uint64_t read_index_rounds = 0;
  uint64_t read_index_reads = 0;
  int64_t revision = 0;  // etcd_debugging_mvcc_current_revision
  int64_t compact_revision = 0;
  uint64_t keys = 0;                   // etcd_debugging_mvcc_keys_total
  uint64_t db_size_bytes = 0;          // etcd_mvcc_db_total_size_in_bytes (an estimate)
  Histogram::Snapshot wal_fsync;       // etcd_disk_wal_fsync_duration_seconds
  Histogram::Snapshot snapshot_save;   // etcd_debugging_snap_save_total_duration_seconds
  Histogram::Snapshot snapshot_apply;  // raftkv_snapshot_apply_duration_seconds
  // raftkv_stage_seconds_total / raftkv_stage_traced_total (stage_trace.h): a proposal made
  // here, from the call to its answer; an append received as a follower, to its ack.
  StageTrace::Totals propose_stages;
  StageTrace::Totals append_stages;
  uint64_t snapshots_sent = 0;
  uint64_t snapshots_received = 0;
  // Lease keep-alives this member renewed as leader: answered inside the leader lease, or
  // after a ReadIndex round confirmed the leadership (lease_ops.cc).
  uint64_t keepalives_in_lease = 0;
  uint64_t keepalives_after_round = 0;
  // The client front (src/front), filled in by the daemon: calls it served itself and calls it
  // forwarded to gRPC; client-side reads and writes (calls per write is its batching).
  uint64_t front_calls_served = 0;
  uint64_t front_calls_forwarded = 0;
  uint64_t front_reads = 0;
  uint64_t front_writes = 0;
  // etcd_network_peer_sent_bytes_total / etcd_network_peer_received_bytes_total, by member.
  std::map<uint64_t, uint64_t> peer_sent_bytes;
  std::map<uint64_t, uint64_t> peer_received_bytes;
  // Raft messages to each member: sent, of those written from the raft thread itself (direct
  // send), and dropped (queue full, peer unreachable, stream failed).
  std::map<uint64_t, uint64_t> peer_sent_messages;
  std::map<uint64_t, uint64_t> peer_direct_messages;
  std::map<uint64_t, uint64_t> peer_dropped_messages;
  // Peers whose stream is up now (etcd_network_active_peers; --strict-reconfig-check).
  std::set<uint64_t> connected_peers;
};

}  // namespace raftkv::server
