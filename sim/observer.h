// SimObserver: watches a simulated run without taking part in it. The replay recorder
// (sim/replay/) is one; ClusterOptions::observer attaches it. Every call comes from the
// simulation's single thread. An observer must not change the run: it draws no randomness,
// schedules no events and calls no mutating Cluster method, so a run's trace hash is the
// same with and without one (sim_tests checks this).
#pragma once

#include <cstdint>

#include "raft/types.h"

namespace raftkv::sim {

class Cluster;
struct TraceEvent;
using Time = int64_t;  // virtual microseconds (cluster.h)

class SimObserver {
 public:
  // Why the network lost a message when it was sent.
  enum class Drop : uint8_t {
    kLinkCut = 1,  // the link from sender to receiver is cut (partition, one-way cut)
    kRandom = 2,   // random loss (NetworkOptions::drop_rate)
    kHook = 3,     // the scenario's message hook refused it (Cluster::SetMessageHook)
  };

  virtual ~SimObserver() = default;

  // The cluster is built (nodes started, nothing run yet) / about to be destroyed.
  virtual void OnStart(const Cluster& cluster) {}
  virtual void OnEnd(const Cluster& cluster) {}
  // Before and after every event, so that a change made between events (a scenario's
  // Crash() or Partition()) is seen at the virtual time it was made.
  virtual void OnSync(const Cluster& cluster) {}
  // Every traced event (cluster.h's trace: notes, role changes, deliveries, writes).
  virtual void OnTrace(const TraceEvent& event) {}

  // The network scheduled one copy of `msg` to arrive at `arrive` (a duplicate is a second
  // copy). Returns a token that OnArrival gets back for this copy.
  virtual uint64_t OnScheduled(const raft::Message& msg, Time now, Time arrive, bool duplicate) {
    return 0;
  }
  // The copy arrived: `link_up` false means the link was cut meanwhile and it is lost.
  virtual void OnArrival(uint64_t token, bool link_up) {}
  // `msg` was lost as it was sent.
  virtual void OnDropped(const raft::Message& msg, Time now, Drop why) {}
};

}  // namespace raftkv::sim
