#include "sim/network.h"

#include "common/check.h"

namespace raftkv::sim {

Network::Network(int nodes, EventQueue* queue, Rng* rng, const NetworkOptions& options,
                 DeliverFn deliver)
    : nodes_(nodes),
      queue_(queue),
      rng_(rng),
      options_(options),
      deliver_(std::move(deliver)),
      up_(static_cast<size_t>(nodes + 1) * (nodes + 1), true) {}

bool Network::LinkUp(raft::NodeId from, raft::NodeId to) const {
  if (from == 0 || to == 0 || from > static_cast<raft::NodeId>(nodes_) ||
      to > static_cast<raft::NodeId>(nodes_)) {
    return false;
  }
  return up_[slot(from, to)];
}

void Network::setLink(raft::NodeId from, raft::NodeId to, bool up) {
  RAFTKV_CHECK(from >= 1 && to >= 1 && from <= static_cast<raft::NodeId>(nodes_) &&
                   to <= static_cast<raft::NodeId>(nodes_),
               "link endpoints are node ids 1..nodes");
  up_[slot(from, to)] = up;
}

void Network::Partition(const std::vector<std::vector<raft::NodeId>>& groups) {
  std::vector<int> group_of(nodes_ + 1, -1);
  for (size_t g = 0; g < groups.size(); ++g) {
    for (raft::NodeId id : groups[g]) group_of[id] = static_cast<int>(g);
  }
  for (int a = 1; a <= nodes_; ++a) {
    for (int b = 1; b <= nodes_; ++b) {
      if (a == b) continue;
      setLink(a, b, group_of[a] >= 0 && group_of[a] == group_of[b]);
    }
  }
}

void Network::Isolate(raft::NodeId id) {
  for (int other = 1; other <= nodes_; ++other) {
    if (static_cast<raft::NodeId>(other) == id) continue;
    setLink(id, other, false);
    setLink(other, id, false);
  }
}

void Network::HealAll() {
  up_.assign(up_.size(), true);
}

int Network::CutLinks() const {
  int n = 0;
  for (int a = 1; a <= nodes_; ++a) {
    for (int b = 1; b <= nodes_; ++b) {
      if (a != b && !up_[slot(a, b)]) ++n;
    }
  }
  return n;
}

Time Network::randomDelay() {
  Time d = rng_->Range(options_.min_delay, options_.max_delay);
  if (options_.long_delay_rate > 0 && rng_->Chance(options_.long_delay_rate)) {
    d += rng_->Range(0, options_.long_delay_max);
  }
  return d;
}

void Network::scheduleCopy(const raft::Message& msg, Time delay, bool duplicate) {
  const uint64_t token =
      observer_ ? observer_->OnScheduled(msg, queue_->Now(), queue_->Now() + delay, duplicate) : 0;
  queue_->After(delay, [this, msg, token]() {
    // A link cut while the message was in flight loses it too.
    const bool up = LinkUp(msg.from, msg.to);
    if (observer_) observer_->OnArrival(token, up);
    if (!up) {
      ++stats_.dropped;
      return;
    }
    ++stats_.delivered;
    deliver_(msg);
  });
}

void Network::drop(const raft::Message& msg, SimObserver::Drop why) {
  ++stats_.dropped;
  if (observer_) observer_->OnDropped(msg, queue_->Now(), why);
}

void Network::Send(const raft::Message& msg) {
  ++stats_.sent;
  if (hook_ && !hook_(msg)) return drop(msg, SimObserver::Drop::kHook);
  if (!LinkUp(msg.from, msg.to)) return drop(msg, SimObserver::Drop::kLinkCut);
  if (options_.drop_rate > 0 && rng_->Chance(options_.drop_rate)) {
    return drop(msg, SimObserver::Drop::kRandom);
  }
  if (options_.duplicate_rate > 0 && rng_->Chance(options_.duplicate_rate)) {
    ++stats_.duplicated;
    scheduleCopy(msg, randomDelay(), /*duplicate=*/true);
  }
  scheduleCopy(msg, randomDelay(), /*duplicate=*/false);
  maybeSendStale(msg);
  maybeRecord(msg);
}

}  // namespace raftkv::sim
