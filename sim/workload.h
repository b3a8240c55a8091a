// Workload: concurrent random clients doing put/get/cas on a few keys through the cluster,
// with timeouts and retries, recording every operation in the cluster's history.
//
// Each client runs one operation at a time. A write keeps its session sequence number
// across retries, so a retried write is one operation in the history (C2). An attempt ends
// with the node's answer, a refusal (not leader / busy: try another node) or a timeout
// (the write may or may not have been proposed). After max_attempts or give_up_after the
// client gives up: the operation is kUnknown, or kFail if every attempt was refused before
// anything could have been proposed.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "sim/cluster.h"
#include "sim/random.h"

namespace raftkv::sim {

struct WorkloadOptions {
  int clients = 4;
  int keys = 4;
  uint64_t ops = 500;  // operations to start in total (final reads not included)
  Time attempt_timeout = 300 * kMillisecond;
  int max_attempts = 8;
  Time give_up_after = 3 * kSecond;
  Time max_think = 50 * kMillisecond;  // pause between a client's operations (paces the run so
                                       // that faults happen while clients work)
  int read_percent = 40;
  int cas_percent = 20;
  // Reads go through any node, not only the one believed to lead: a home node per client
  // (followers, learners, a deposed leader stuck in a minority), a node that believes it
  // leads (there may be two, one of them deposed), or any node. A node that answers a read
  // without confirming its leadership (§6.4) is then caught serving a stale value. Final
  // reads keep the usual path. Off by default (draws from the run's random stream).
  bool read_anywhere = false;
  // With read_anywhere: right after a write is acknowledged, a probe read of its key at
  // each deposed leader that still believes it leads (one attempt each, a client of its
  // own): the moment and place where a stale read would show.
  bool probe_deposed_leaders = false;
};

class Workload {
 public:
  Workload(Cluster* cluster, const WorkloadOptions& options);

  void Start();
  // Starts no new operations (those in flight continue).
  void Stop() { stopped_ = true; }
  // Reads every key once more (with patient retries) after the faults are healed: the
  // last word of the history, so the linearizability check covers durability.
  void StartFinalReads();

  bool Idle() const { return busy_ == 0 && final_keys_.empty(); }
  uint64_t started() const { return started_; }
  uint64_t finished() const { return finished_; }
  bool AllStarted() const { return started_ >= options_.ops; }
  // Final reads that did not complete (the run reports them as a liveness failure).
  int final_reads_failed() const { return final_reads_failed_; }

 private:
  struct Client {
    int id = 0;
    bool busy = false;
    bool final_read = false;
    uint64_t op = 0;  // operation counter: replies for older ones are ignored
    int attempt = 0;  // attempt counter within the operation
    size_t history_index = 0;
    bool is_read = false;
    Command cmd;  // writes
    std::string key;
    bool maybe_proposed = false;
    Time started = 0;
    NodeId leader_guess = raft::kNoNode;
    NodeId home = raft::kNoNode;  // read_anywhere: the node this client usually reads from
    uint64_t next_seq = 1;
  };

  void maybeStartNext(Client& c);
  void begin(Client& c, bool final_read, const std::string& final_key);
  void sendAttempt(Client& c);
  void onReply(int ci, uint64_t op, int attempt, const ClientReply& r);
  void onTimeout(int ci, uint64_t op, int attempt);
  void retryOrGiveUp(Client& c, Time backoff);
  void finish(Client& c, check::Outcome outcome, const ClientReply* r);
  NodeId pickNode(Client& c);
  NodeId pickReadNode(Client& c);
  void probeDeposedLeaders(const std::string& key);
  std::string key(int i) const { return "k" + std::to_string(i); }

  Cluster* cluster_;
  Rng* rng_;
  WorkloadOptions options_;
  std::vector<Client> clients_;
  bool stopped_ = false;
  uint64_t started_ = 0;
  uint64_t finished_ = 0;
  int busy_ = 0;
  std::deque<std::string> final_keys_;
  int final_reads_failed_ = 0;
  // The last value each key was seen to hold, so cas often expects the right one.
  std::vector<std::string> last_seen_;
  int next_probe_client_ = 0;  // probes are clients 1000001, 1000002, ...
};

}  // namespace raftkv::sim
