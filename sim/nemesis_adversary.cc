// The nemesis's adversarial-delivery event (issue 11): a burst of recorded old messages
// re-injected into the network (fault kind `replay`; the `stale` kind is network weather,
// see Nemesis::changeWeather and sim/network_adversary.cc).
#include "sim/nemesis.h"

namespace raftkv::sim {

void Nemesis::replayOldMessages() {
  // Half the time a burst towards one node (a stuck queue to it flushes), else to anyone.
  NodeId to = rng_->Chance(0.5) ? ids_[rng_->Uniform(ids_.size())] : raft::kNoNode;
  size_t count = static_cast<size_t>(rng_->Range(1, 30));
  Time spread = rng_->Range(0, 20) * kMillisecond;
  cluster_->ReplayOldMessages(count, spread, to);
}

}  // namespace raftkv::sim
