// Per-peer traffic counters shared by the senders and the receiving service.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>

#include "raft/types.h"
#include "transport/transport.h"

namespace raftkv::transport {

class StatsTable {
 public:
  void AddSent(raft::NodeId peer, uint64_t messages, uint64_t bytes) {
    std::lock_guard lock(mu_);
    PeerStats& s = stats_[peer];
    s.sent_messages += messages;
    s.sent_bytes += bytes;
  }
  void AddReceived(raft::NodeId peer, uint64_t messages, uint64_t bytes) {
    std::lock_guard lock(mu_);
    PeerStats& s = stats_[peer];
    s.received_messages += messages;
    s.received_bytes += bytes;
    s.last_received = std::chrono::steady_clock::now();
  }
  // Messages written from the caller's thread (PeerSender's direct send); `unfinished`: the
  // socket took only part of the frame and the stream thread finished it.
  void AddDirect(raft::NodeId peer, uint64_t messages, bool unfinished) {
    std::lock_guard lock(mu_);
    PeerStats& s = stats_[peer];
    s.direct_messages += messages;
    s.direct_unfinished_writes += unfinished ? 1 : 0;
  }
  void AddDropped(raft::NodeId peer, uint64_t messages) {
    std::lock_guard lock(mu_);
    stats_[peer].dropped_messages += messages;
  }
  void SetConnected(raft::NodeId peer, bool connected) {
    std::lock_guard lock(mu_);
    stats_[peer].connected = connected;
  }
  void Ensure(raft::NodeId peer) {
    std::lock_guard lock(mu_);
    stats_[peer];
  }
  std::map<raft::NodeId, PeerStats> Get() const {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  mutable std::mutex mu_;
  std::map<raft::NodeId, PeerStats> stats_;
};

}  // namespace raftkv::transport
