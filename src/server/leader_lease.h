// LeaderLeaseClock: the leader lease of the consensus core (RawNode::GetLeaderLease, thesis
// §6.4.1) as a moment on this machine's steady clock, published by the raft thread for
// other threads: a lease keep-alive is answered at once while it holds, and waits for a
// ReadIndex round only when it does not (lease_ops.cc).
//
// The core dates its lease in ticks: the tick at which it sent the newest heartbeat a quorum
// acknowledged. The raft loop does not burst ticks after a stall, so a tick count can lag
// the wall clock; this clock therefore remembers when each recent tick happened and dates
// the lease from the sent tick's real moment, so a stalled raft thread shortens the lease
// instead of stretching it. It trusts one tick less than the core, for the phase between a
// tick and the heartbeats sent after it.
//
// Why a keep-alive answered inside the lease is safe: every member of the acknowledging
// quorum received the heartbeat after the sent tick, and a member that acknowledges this
// leader's term votes in a later term only afterwards, so any new leader is elected after
// the sent tick, and its lessor gives every lease its full TTL plus an election timeout
// when it takes over (etcd's Promote) — later than anything this leader promised before
// sent tick + election timeout. With check-quorum the followers also refuse other
// candidates for that long (Lease.vote_*), so normally no new leader exists at all.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "raft/raw_node.h"

namespace raftkv::server {

class LeaderLeaseClock {
 public:
  using Clock = std::chrono::steady_clock;

  // `tick`: the raft loop's tick interval; `history`: how many recent ticks to remember
  // (at least the election timeout in ticks, or every lease will look unknown).
  LeaderLeaseClock(Clock::duration tick, size_t history)
      : tick_(tick), ticks_(std::max<size_t>(history, 1)) {}

  // Raft thread, right after RawNode::Tick: the node's tick count and when that tick began.
  void OnTick(uint64_t tick_count, Clock::time_point at) {
    ticks_[tick_count % ticks_.size()] = {tick_count, at};
  }

  // Raft thread, after stepping messages and before sending a Ready's messages (a
  // leadership transfer's TimeoutNow must never leave while the old lease is published).
  void Publish(const std::optional<raft::RawNode::LeaderLease>& lease) {
    until_ns_.store(Until(lease).time_since_epoch().count(), std::memory_order_release);
  }

  // Any thread: whether the published lease holds at `now`.
  bool Holds(Clock::time_point now) const {
    return now.time_since_epoch().count() < until_ns_.load(std::memory_order_acquire);
  }

  // Until when `lease` holds; the epoch (never) if it is unknown or too old to be dated.
  Clock::time_point Until(const std::optional<raft::RawNode::LeaderLease>& lease) const {
    if (!lease || lease->valid_ticks <= 1) return Clock::time_point{};
    const Dated& d = ticks_[lease->sent_tick % ticks_.size()];
    if (d.tick != lease->sent_tick || d.at == Clock::time_point{}) return Clock::time_point{};
    return d.at + (lease->valid_ticks - 1) * tick_;
  }

 private:
  struct Dated {
    uint64_t tick = 0;
    Clock::time_point at{};
  };
  const Clock::duration tick_;
  std::vector<Dated> ticks_;  // raft thread only
  std::atomic<int64_t> until_ns_{0};
};

}  // namespace raftkv::server
