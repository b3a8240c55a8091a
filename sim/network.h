// Network: the simulated message network between nodes. Each accepted message is delivered
// once (or twice, if duplicated) after a random delay in [min_delay, max_delay], so messages
// sent close together may arrive out of order. Links can be cut one direction at a time; a
// cut link drops what is sent over it and what arrives over it while it is cut. Whether the
// receiver is alive is the receiver's business (the cluster drops messages to crashed nodes);
// messages a node sent before it crashed stay in flight, as on a real network.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "raft/types.h"
#include "sim/cluster.h"
#include "sim/event_queue.h"
#include "sim/observer.h"
#include "sim/random.h"

namespace raftkv::sim {

struct NetworkStats {
  uint64_t sent = 0;        // messages handed to Send
  uint64_t dropped = 0;     // lost: random drop, hook, or a cut link (at send or arrival)
  uint64_t duplicated = 0;  // extra copies scheduled
  uint64_t delivered = 0;   // copies handed to the receiver
  uint64_t stale = 0;       // late copies scheduled (NetworkOptions::stale_rate)
  uint64_t replayed = 0;    // recorded old messages sent again (ReplayRecorded)
};

class Network {
 public:
  using DeliverFn = std::function<void(const raft::Message&)>;
  using HookFn = std::function<bool(const raft::Message&)>;

  // Nodes are 1..nodes. `deliver` is called at arrival time for every delivered copy.
  Network(int nodes, EventQueue* queue, Rng* rng, const NetworkOptions& options, DeliverFn deliver);

  void Send(const raft::Message& msg);

  void SetOptions(const NetworkOptions& options) { options_ = options; }
  const NetworkOptions& options() const { return options_; }
  void SetHook(HookFn hook) { hook_ = std::move(hook); }
  // Sees every message's fate (sim/observer.h); nullptr: none.
  void SetObserver(SimObserver* observer) { observer_ = observer; }

  void CutLink(raft::NodeId from, raft::NodeId to) { setLink(from, to, false); }
  void RestoreLink(raft::NodeId from, raft::NodeId to) { setLink(from, to, true); }
  bool LinkUp(raft::NodeId from, raft::NodeId to) const;
  // Symmetric partition into groups; nodes in no group are cut from everyone.
  void Partition(const std::vector<std::vector<raft::NodeId>>& groups);
  void Isolate(raft::NodeId id);
  void HealAll();
  // Number of directed links currently cut.
  int CutLinks() const;
  // Delivers up to `count` recorded old messages again (NetworkOptions::record), each after
  // a delay in [0, max_delay], to node `to` only unless it is kNoNode. Returns how many.
  size_t ReplayRecorded(size_t count, Time max_delay, raft::NodeId to);
  size_t RecordedCount() const { return recorded_.size(); }

  const NetworkStats& stats() const { return stats_; }

 private:
  void setLink(raft::NodeId from, raft::NodeId to, bool up);
  size_t slot(raft::NodeId from, raft::NodeId to) const { return from * (nodes_ + 1) + to; }
  Time randomDelay();
  // `duplicate`: a second copy of a message sent once (the replay shows it as such).
  void scheduleCopy(const raft::Message& msg, Time delay, bool duplicate);
  void drop(const raft::Message& msg, SimObserver::Drop why);
  // The adversarial modes (network_adversary.cc): a late copy, and the record of old
  // messages.
  void maybeSendStale(const raft::Message& msg);
  void maybeRecord(const raft::Message& msg);

  int nodes_;
  EventQueue* queue_;
  Rng* rng_;
  NetworkOptions options_;
  DeliverFn deliver_;
  HookFn hook_;
  SimObserver* observer_ = nullptr;
  std::vector<bool> up_;  // (nodes+1)^2 directed links
  NetworkStats stats_;
  std::deque<raft::Message> recorded_;  // a sample of old messages (NetworkOptions::record)
  uint64_t record_counter_ = 0;
};

}  // namespace raftkv::sim
