// The `make run` demo: a 5-node cluster elects a leader, replicates client writes, loses
// its leader to a crash, elects again, lives through a partition that heals, and ends with
// every node's applied state. Printed as a short timeline in virtual time.
#pragma once

#include <cstdint>
#include <cstdio>

namespace raftkv::sim {

// Returns 0 if the story went as expected (leaders elected, writes committed, every node
// ends with the same state), 1 otherwise.
int RunDemo(FILE* out, uint64_t seed = 7);

}  // namespace raftkv::sim
