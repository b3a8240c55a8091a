// The nemesis's adversarial-delivery event (issue 11): a burst of recorded old messages
// re-injected into the network (fault kind `replay`; the `stale` kind is network weather,
// see Nemesis::changeWeather and sim/network_adversary.cc).
#include <vector>

#include "sim/nemesis.h"

namespace raftkv::sim {

void Nemesis::replayOldMessages() {
  // A burst towards a node in the middle of an election (old vote grants and refusals
  // reach a candidate of a later term), towards any one node (a stuck queue to it
  // flushes), or to anyone.
  NodeId to = raft::kNoNode;
  switch (rng_->Uniform(3)) {
    case 0: {
      std::vector<NodeId> campaigning = cluster_->Campaigning();
      if (!campaigning.empty()) to = campaigning[rng_->Uniform(campaigning.size())];
      break;
    }
    case 1: to = ids_[rng_->Uniform(ids_.size())]; break;
    default: break;
  }
  size_t count = static_cast<size_t>(rng_->Range(1, 30));
  Time spread = rng_->Range(0, 20) * kMillisecond;
  cluster_->ReplayOldMessages(count, spread, to);
}

}  // namespace raftkv::sim
