// Timeline: a member's recent history for the /ui page, kept in bounded memory outside the
// raft machinery. Two parts:
//  - events: a ring of the last `max_events` things the member saw happen (role and leader
//    changes, pre-vote and vote rounds and their answers, votes it cast, membership changes,
//    snapshots sent, received and taken), each with its wall-clock time and term;
//  - samples: one per second for the last `seconds` seconds: proposals and reads per
//    second, the p99 of its own proposals' latency from proposal to applied, and the term,
//    leader and commit index at the end of the second.
// Thread-safe. Counting a proposal or a read is one relaxed atomic add (gRPC and raft
// threads); the rest takes a mutex once per event, per applied batch or per second.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "raft/types.h"
#include "raftkvpb/debug.pb.h"

namespace raftkv::server {

class Timeline {
 public:
  explicit Timeline(size_t max_events = 512, int seconds = 300);

  // Raft thread: what a Ready's soft state and hard state say, and vote answers received.
  void ObserveSoftState(const raft::SoftState& ss, uint64_t term);
  void ObserveHardState(const raft::HardState& hs);
  void ObserveVoteResponse(const raft::Message& m);
  // Anything else worth showing (membership changes, snapshots): kind as in debug.proto.
  void Event(const std::string& kind, uint64_t term, const std::string& text);

  void AddProposals(uint64_t n) { proposals_.fetch_add(n, std::memory_order_relaxed); }
  void AddReads(uint64_t n) { reads_.fetch_add(n, std::memory_order_relaxed); }
  // Proposal-to-applied latencies of this member's own proposals (apply thread, per batch).
  void AddCommitLatencies(const std::vector<double>& seconds);
  // One WAL fsync's duration (raft thread): the summary in MemberDebug::wal_fsync.
  void AddFsync(double seconds);
  // Closes the current second's sample once the wall clock is past it (raft thread, on
  // every tick); term, leader and commit index are stamped on it.
  void Tick(uint64_t term, uint64_t leader, uint64_t commit_index);

  // Copies events and samples into `out` (oldest first).
  void Fill(raftkvpb::MemberDebug* out) const;

  // Latency histogram buckets: upper bounds 50 µs * 2^(i/4), i = 0..kBuckets-1.
  static constexpr int kBuckets = 64;
  static double BucketBound(int i);
  // The upper bound of the bucket holding quantile q (0 < q <= 1) of `counts`; 0 if empty.
  static double Quantile(const std::array<uint32_t, kBuckets>& counts, double q);

 private:
  void addEvent(const std::string& kind, uint64_t term, const std::string& text);

  const size_t max_events_;
  const int seconds_;
  std::atomic<uint64_t> proposals_{0}, reads_{0};

  mutable std::mutex mu_;
  std::deque<raftkvpb::TimelineEvent> events_;
  std::deque<raftkvpb::TimelineSample> samples_;
  int64_t current_second_ = 0;
  uint64_t proposals_mark_ = 0, reads_mark_ = 0;  // the counters when the second began
  std::array<uint32_t, kBuckets> latency_{};      // the current second's latencies
  uint32_t latency_count_ = 0;
  std::array<uint32_t, kBuckets> fsync_{};  // since start
  uint64_t fsync_count_ = 0;
  double fsync_sum_ = 0;
  raft::SoftState soft_;
  uint64_t vote_term_ = 0;
  raft::NodeId vote_ = raft::kNoNode;
};

}  // namespace raftkv::server
