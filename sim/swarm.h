// Swarm testing (Groce et al., "Swarm Testing", ISSTA 2012): instead of running every seed
// with every fault at one fixed mix, each seed draws its own run: cluster size (1 to 7,
// even sizes and a single voter included), length (100 to 5,000 client operations), a
// subset of the fault kinds and a fault rate, message size limits, pre-vote and
// check-quorum on or off, lease or ReadIndex reads, clients reading through any node. A
// rare combination (say, stale messages with one entry per append and no check-quorum)
// then gets whole seeds to itself instead of a sliver of every seed.
//
// The draw uses its own generator seeded from the seed, so `--swarm --seed S` replays the
// same run, and the drawn run is also an explicit command line (ExplicitCommand) that
// replays bit for bit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "sim/run.h"

namespace raftkv::sim {

struct SwarmBounds {
  std::optional<int> nodes;  // fixed cluster size instead of a drawn one
};

// The run of seed `seed` in swarm mode. `base` supplies what is not drawn (trace, events
// kept for reports, the event budget).
RunOptions DrawSwarmRun(uint64_t seed, const RunOptions& base, const SwarmBounds& bounds = {});

// The raftkv-sim arguments that replay `o` without --swarm ("--seed S --nodes N ...").
std::string ExplicitArguments(const RunOptions& o);

}  // namespace raftkv::sim
