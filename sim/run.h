// One random simulated run (one seed): a cluster, random clients, a nemesis injecting
// faults; then the faults heal and the run checks liveness, reads every key, and checks the
// client history for linearizability and the logs for Raft's safety properties.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/cluster.h"
#include "sim/nemesis.h"

namespace raftkv::sim {

struct RunOptions {
  int nodes = 3;
  uint64_t seed = 1;
  FaultSet faults = FaultSet::All();
  uint64_t ops = 300;  // client operations in the chaos phase
  int clients = 4;
  int keys = 4;
  bool trace = false;       // print every event as it happens
  size_t last_events = 40;  // events kept for the failure report
  Time liveness_bound = 10 * kSecond;
  uint64_t max_events = 0;
  // Knobs for hunting specific bugs (the planted-bug tests use them).
  bool pre_vote = true;
  bool check_quorum = true;
  uint64_t max_size_per_msg = 1 << 20;
  uint64_t wal_segment_bytes = 64 << 10;  // ClusterOptions (with the disk model)
  // Watches the run without changing it (ClusterOptions::observer); not owned.
  SimObserver* observer = nullptr;
  double fault_rate = 1.0;  // >1: the nemesis acts more often  // event budget (0: a default scaled
                            // by ops), see ClusterOptions
  // The stronger search of issue 11 (all off by default: explicit runs replay as before;
  // --swarm draws them per seed, sim/swarm.h).
  bool read_anywhere = false;  // clients read through any node (WorkloadOptions)
  bool lease_reads = false;    // the cores serve reads from the check-quorum lease (§6.4.1)
  int min_voters = 3;          // membership changes keep at least this many voters
  // After liveness: with check-quorum on, a healed cluster keeps its leader (no election
  // for kStabilityWindow once in-flight stale messages have drained). Needs check_quorum.
  bool check_stability = false;
  uint64_t max_events_per_second = 0;  // ClusterOptions (0: unlimited)
  bool swarm = false;                  // drawn by DrawSwarmRun (for the replay command)
};

struct Violation {
  std::string property;  // e.g. "election-safety", "linearizability", "liveness"
  std::string description;
};

struct RunResult {
  uint64_t seed = 0;
  uint64_t ops_done = 0;  // operations in the history (any outcome), final reads included
  uint64_t ops_ok = 0;    // of which acknowledged
  uint64_t events = 0;    // simulator events processed
  uint64_t peak_events_per_second = 0;
  Time virtual_time = 0;
  uint64_t trace_hash = 0;  // fingerprint of the whole run (determinism)
  uint64_t faults = 0;
  uint64_t snapshots_taken = 0;      // by all nodes (log compactions)
  uint64_t snapshots_installed = 0;  // sent by a leader and installed
  bool linearizability_gave_up = false;
  std::vector<Violation> violations;
  std::vector<std::string> last_events;  // before the first violation

  bool ok() const { return violations.empty(); }
};

RunResult RunSeed(const RunOptions& options);

// Splits "property: description" as the checkers write their violations.
Violation ParseViolation(const std::string& text);

}  // namespace raftkv::sim
