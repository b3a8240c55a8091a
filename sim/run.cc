#include "sim/run.h"

#include <algorithm>

#include "sim/check/linearizability.h"
#include "sim/workload.h"

namespace raftkv::sim {
namespace {

// Chaos lasts until the clients have started their operations, but never longer than this
// (a cluster kept leaderless by faults must not make a seed run forever).
Time chaosCap(const RunOptions& o) {
  return 60 * kSecond + static_cast<Time>(o.ops) * 50 * kMillisecond;
}

std::string idList(const std::vector<NodeId>& ids) {
  std::string s;
  for (NodeId id : ids) s += (s.empty() ? "n" : ",n") + std::to_string(id);
  return s;
}

// Each node's state, into the trace: what a stalled cluster looks like when it is declared
// stalled (the roles alone do not say why nobody can win).
void noteNodeStates(Cluster& c) {
  static const char* const kRoles[] = {"follower", "pre-candidate", "candidate", "leader"};
  for (NodeId id : c.NodeIds()) {
    if (!c.IsUp(id)) {
      c.Note(id, "STATE down, persisted term=" + std::to_string(c.PersistedHardState(id).term) +
                     " last=" + std::to_string(c.PersistedLastIndex(id)));
      continue;
    }
    raft::NodeStatus st = c.Status(id);
    auto last_term = c.Node(id)->TermAt(st.last_index);
    c.Note(id, "STATE " + std::string(kRoles[static_cast<int>(st.soft_state.role)]) +
                   " term=" + std::to_string(st.hard_state.term) + " vote=n" +
                   std::to_string(st.hard_state.vote) + " lead=n" +
                   std::to_string(st.soft_state.lead) + " last=" + std::to_string(st.last_index) +
                   "/" + std::to_string(last_term.ok() ? *last_term : 0) +
                   " commit=" + std::to_string(st.hard_state.commit) +
                   " applied=" + std::to_string(st.applied) + " voters={" + idList(st.conf.voters) +
                   "} outgoing={" + idList(st.conf.voters_outgoing) + "} learners={" +
                   idList(st.conf.learners) + "}");
  }
}

// After healing: some node must become leader and a write must commit within the bound.
void checkLiveness(Cluster& c, const RunOptions& o) {
  Time deadline = c.Now() + o.liveness_bound;
  int attempt = 0;
  while (c.Now() < deadline && c.Violations().empty()) {
    NodeId leader = c.WaitForLeader(deadline - c.Now());
    if (leader == raft::kNoNode) break;
    Time left = deadline - c.Now();
    ClientReply r =
        c.Put(leader, "live", "x" + std::to_string(++attempt), std::min<Time>(left, 1 * kSecond));
    if (r.ok()) return;
    c.RunFor(std::min<Time>(deadline - c.Now(), 20 * kMillisecond));
  }
  if (!c.Violations().empty()) return;
  noteNodeStates(c);
  c.AddViolation("liveness", "no write committed within " +
                                 std::to_string(o.liveness_bound / kSecond) +
                                 "s of virtual time after healing (leader n" +
                                 std::to_string(c.Leader()) + ")");
}

// Stability (issue 11): once everything is healed and a write has committed, a cluster
// with check-quorum keeps its leader. Followers that hear heartbeats do not start
// elections, and vote requests from elsewhere (a removed node, one with an inflated term)
// are ignored while the leader's lease holds (thesis §4.2.3, §6.2). First the settling
// time: late copies of messages sent before the heal (fault kind stale, up to ~5 s; a
// delayed TimeoutNow legitimately moves leadership), a removed leader's handoff. Then no
// voter of the leader's configuration may move to a new term for the window.
constexpr Time kStabilitySettle = 6 * kSecond;
constexpr Time kStabilityWindow = 3 * kSecond;

void checkStability(Cluster& c) {
  c.RunFor(kStabilitySettle);
  if (!c.Violations().empty()) return;
  NodeId leader = c.WaitForLeader(5 * kSecond);
  if (leader == raft::kNoNode) {
    c.AddViolation("liveness", "no leader " + std::to_string(kStabilitySettle / kSecond) +
                                   "s after a write committed in the healed cluster");
    return;
  }
  const raft::Term term = c.Status(leader).hard_state.term;
  c.Note(raft::kNoNode, "PHASE stability (leader n" + std::to_string(leader) + ", term " +
                            std::to_string(term) + ")");
  c.RunFor(kStabilityWindow);
  if (!c.Violations().empty()) return;
  std::string changed;
  if (!c.IsUp(leader) || c.Status(leader).soft_state.role != raft::Role::kLeader ||
      c.Status(leader).hard_state.term != term) {
    changed = "n" + std::to_string(leader) + " lost its leadership";
  } else {
    const raft::ConfState conf = c.Status(leader).conf;
    std::vector<NodeId> voters = conf.voters;
    voters.insert(voters.end(), conf.voters_outgoing.begin(), conf.voters_outgoing.end());
    for (NodeId id : voters) {
      if (c.IsUp(id) && c.Status(id).hard_state.term != term) {
        changed = "voter n" + std::to_string(id) + " moved to term " +
                  std::to_string(c.Status(id).hard_state.term);
        break;
      }
    }
  }
  if (changed.empty()) return;
  c.AddViolation("stability", "healthy cluster, no faults: " + changed + " within " +
                                  std::to_string(kStabilityWindow / kSecond) + "s (leader n" +
                                  std::to_string(leader) + " of term " + std::to_string(term) +
                                  ", check-quorum on)");
}

}  // namespace

Violation ParseViolation(const std::string& text) {
  size_t colon = text.find(':');
  if (colon == std::string::npos || colon > 40) return Violation{"safety", text};
  size_t start = text.find_first_not_of(' ', colon + 1);
  return Violation{text.substr(0, colon), start == std::string::npos ? "" : text.substr(start)};
}

RunResult RunSeed(const RunOptions& options) {
  ClusterOptions co;
  co.nodes = options.nodes;
  co.seed = options.seed;
  co.trace = options.trace;
  co.recent_events = options.last_events;
  co.pre_vote = options.pre_vote;
  co.check_quorum = options.check_quorum;
  co.max_size_per_msg = options.max_size_per_msg;
  co.wal_segment_bytes = options.wal_segment_bytes;
  if (options.lease_reads) co.read_only = raft::Config::ReadOnlyOption::kLeaseBased;
  co.observer = options.observer;
  co.disk_model = options.faults.disk;
  co.spare_nodes = options.faults.member ? 2 : 0;
  // A per-seed snapshot threshold between 5 and 124 entries (derived from the seed, so the
  // run's random stream is untouched when snapshots are off).
  co.snapshot_every =
      options.faults.snapshot ? 5 + (options.seed * 0x9E3779B97F4A7C15ull >> 57) : 0;
  co.stop_on_violation = true;
  co.max_events_per_second = options.max_events_per_second;
  co.max_events = options.max_events != 0 ? options.max_events : 4'000'000 + options.ops * 20'000;
  Cluster cluster(co);

  WorkloadOptions wo;
  wo.clients = options.clients;
  wo.keys = options.keys;
  wo.ops = options.ops;
  wo.read_anywhere = options.read_anywhere;
  wo.probe_deposed_leaders = options.read_anywhere;
  Workload workload(&cluster, wo);
  Nemesis nemesis(&cluster, options.faults, options.fault_rate);
  nemesis.SetVoterBounds(static_cast<size_t>(std::max(1, options.min_voters)), 7);

  auto violated = [&]() { return !cluster.Violations().empty(); };
  cluster.Note(raft::kNoNode, "PHASE chaos (faults: " + options.faults.ToString() + ")");
  workload.Start();
  nemesis.Start();
  cluster.RunUntil([&]() { return violated() || (workload.AllStarted() && workload.Idle()); },
                   chaosCap(options));

  if (!violated()) {
    cluster.Note(raft::kNoNode, "PHASE heal");
    nemesis.Stop();
    nemesis.HealAll();
    workload.Stop();
    checkLiveness(cluster, options);
    if (!violated() && options.check_stability && options.check_quorum) checkStability(cluster);
  }
  if (!violated()) {
    // Operations still in flight finish (answer or give up) before the final reads.
    cluster.RunUntil([&]() { return violated() || workload.Idle(); }, 30 * kSecond);
    cluster.Note(raft::kNoNode, "PHASE final reads");
    workload.StartFinalReads();
    cluster.RunUntil([&]() { return violated() || workload.Idle(); }, 60 * kSecond);
    if (!violated() && (!workload.Idle() || workload.final_reads_failed() > 0)) {
      cluster.AddViolation("liveness",
                           "final reads of every key did not all complete after "
                           "healing");
    }
  }
  if (!violated()) cluster.FullCheck();

  RunResult result;
  result.seed = options.seed;
  if (!violated()) {
    check::LinearizabilityResult lin = check::CheckLinearizable(cluster.history());
    if (lin.verdict == check::LinearizabilityResult::Verdict::kViolation) {
      cluster.AddViolation("linearizability", "key " + lin.key + ": " + lin.explanation);
    } else if (lin.verdict == check::LinearizabilityResult::Verdict::kGaveUp) {
      result.linearizability_gave_up = true;
      cluster.AddViolation("linearizability-gave-up", "the checker gave up after " +
                                                          std::to_string(lin.states_explored) +
                                                          " states (not a pass)");
    }
  }

  result.ops_done = cluster.history().ops.size();
  for (const check::Operation& op : cluster.history().ops) {
    if (op.outcome == check::Outcome::kOk) ++result.ops_ok;
  }
  result.events = cluster.EventsProcessed();
  result.peak_events_per_second = cluster.PeakEventsPerSecond();
  result.virtual_time = cluster.Now();
  result.trace_hash = cluster.TraceHash();
  result.faults = nemesis.faults_injected();
  result.snapshots_taken = cluster.SnapshotsTaken();
  result.snapshots_installed = cluster.SnapshotsInstalled();
  for (const std::string& v : cluster.Violations()) result.violations.push_back(ParseViolation(v));
  result.last_events = cluster.EventsBeforeFirstViolation();
  return result;
}

}  // namespace raftkv::sim
