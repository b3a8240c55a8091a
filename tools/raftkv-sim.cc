// raftkv-sim: runs the deterministic cluster simulator over many seeds (each a random
// cluster life with faults, checked for Raft's safety properties, linearizability,
// durability and liveness), replays one seed with a readable trace, or plays the demo.
//
//   raftkv-sim --seeds 1000 --nodes 5 --faults all --ops 500
//   raftkv-sim --seed 42 --nodes 5 --trace
//   raftkv-sim --demo
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "sim/demo.h"
#include "sim/replay/replay_html.h"
#include "sim/run.h"
#include "sim/swarm.h"

namespace {

// The seed each thread is running, so that an abort (a RAFTKV_CHECK in the core or the
// simulator) still says which seed to replay.
thread_local uint64_t current_seed = 0;
thread_local bool running_seed = false;

void onAbort(int) {
  if (running_seed) {
    char buf[128];
    int n = std::snprintf(buf, sizeof buf,
                          "FAIL seed=%" PRIu64 " property=abort: the process aborted (see above)\n",
                          current_seed);
    if (n > 0) (void)!write(STDOUT_FILENO, buf, static_cast<size_t>(n));
  }
  std::signal(SIGABRT, SIG_DFL);
  std::abort();
}

using raftkv::sim::RunOptions;
using raftkv::sim::RunResult;

// ---- running a seed in a child process, so that an abort fails one seed, not the run ----

void putField(std::string* out, const std::string& s) {
  *out += std::to_string(s.size()) + ":" + s;
}

bool getField(const std::string& in, size_t* pos, std::string* s) {
  size_t colon = in.find(':', *pos);
  if (colon == std::string::npos) return false;
  size_t n = std::stoull(in.substr(*pos, colon - *pos));
  if (colon + 1 + n > in.size()) return false;
  *s = in.substr(colon + 1, n);
  *pos = colon + 1 + n;
  return true;
}

std::string encodeResult(const RunResult& r) {
  std::string out;
  for (uint64_t v :
       {r.seed, r.ops_done, r.ops_ok, r.events, static_cast<uint64_t>(r.virtual_time), r.trace_hash,
        r.faults, r.peak_events_per_second, static_cast<uint64_t>(r.linearizability_gave_up),
        static_cast<uint64_t>(r.violations.size()), static_cast<uint64_t>(r.last_events.size())}) {
    putField(&out, std::to_string(v));
  }
  for (const auto& v : r.violations) {
    putField(&out, v.property);
    putField(&out, v.description);
  }
  for (const auto& e : r.last_events) putField(&out, e);
  return out;
}

bool decodeResult(const std::string& in, RunResult* r) {
  size_t pos = 0;
  std::string f;
  uint64_t v[11];
  for (uint64_t& x : v) {
    if (!getField(in, &pos, &f)) return false;
    x = std::stoull(f);
  }
  r->seed = v[0];
  r->ops_done = v[1];
  r->ops_ok = v[2];
  r->events = v[3];
  r->virtual_time = static_cast<int64_t>(v[4]);
  r->trace_hash = v[5];
  r->faults = v[6];
  r->peak_events_per_second = v[7];
  r->linearizability_gave_up = v[8] != 0;
  for (uint64_t i = 0; i < v[9]; ++i) {
    raftkv::sim::Violation viol;
    if (!getField(in, &pos, &viol.property) || !getField(in, &pos, &viol.description)) return false;
    r->violations.push_back(viol);
  }
  for (uint64_t i = 0; i < v[10]; ++i) {
    if (!getField(in, &pos, &f)) return false;
    r->last_events.push_back(f);
  }
  return true;
}

RunResult runIsolated(const RunOptions& o) {
  int fds[2];
  if (pipe(fds) != 0) return raftkv::sim::RunSeed(o);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return raftkv::sim::RunSeed(o);
  }
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);  // the parent reports the abort
    close(fds[0]);
    std::string out = encodeResult(raftkv::sim::RunSeed(o));
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) _exit(3);
      done += static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string in;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  RunResult r;
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) || !decodeResult(in, &r)) {
    r = RunResult{};
    r.seed = o.seed;
    std::string how = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                          : "exited abnormally";
    r.violations.push_back({"abort", "the run " + how +
                                         " (a RAFTKV_CHECK in the core or the simulator; its "
                                         "message is on stderr; replay the seed to see it)"});
  }
  return r;
}

// The swarm options that were not drawn (a fixed --nodes), for the replay command.
std::string swarm_fixed_args;

std::string replayCommand(const RunOptions& o) {
  if (o.swarm) {
    return "raftkv-sim --swarm --seed " + std::to_string(o.seed) + swarm_fixed_args + " --trace";
  }
  return "raftkv-sim " + raftkv::sim::ExplicitArguments(o) + " --trace";
}

void printFailure(const RunOptions& o, const RunResult& r, size_t show_events) {
  for (const auto& v : r.violations) {
    std::printf("FAIL seed=%" PRIu64 " property=%s: %s\n", r.seed, v.property.c_str(),
                v.description.c_str());
    break;  // one line per failed seed; the first violation is the cause
  }
  if (r.violations.size() > 1) {
    std::printf("  (%zu violations in this seed)\n", r.violations.size());
  }
  size_t start = r.last_events.size() > show_events ? r.last_events.size() - show_events : 0;
  if (start < r.last_events.size()) std::printf("  last events before the violation:\n");
  for (size_t i = start; i < r.last_events.size(); ++i) {
    std::printf("    %s\n", r.last_events[i].c_str());
  }
  std::printf("  replay: %s\n", replayCommand(o).c_str());
  if (o.swarm) {
    std::printf("  (the same run: raftkv-sim %s --trace)\n",
                raftkv::sim::ExplicitArguments(o).c_str());
  }
  std::fflush(stdout);
}

// Seeds and failures per cluster size and per length class (swarm runs), for the summary.
struct Tally {
  uint64_t seeds[8] = {};
  uint64_t failed[8] = {};
  uint64_t by_length[4] = {};
  uint64_t failed_by_length[4] = {};

  static int lengthClass(uint64_t ops) {
    return ops < 300 ? 0 : ops < 900 ? 1 : ops < 2500 ? 2 : 3;
  }
  void add(const RunOptions& o, bool ok) {
    int n = std::clamp(o.nodes, 0, 7);
    ++seeds[n];
    failed[n] += ok ? 0 : 1;
    ++by_length[lengthClass(o.ops)];
    failed_by_length[lengthClass(o.ops)] += ok ? 0 : 1;
  }
  std::string describe() const {
    std::string s = "by cluster size:";
    for (int n = 1; n <= 7; ++n) {
      if (seeds[n] == 0) continue;
      s += " " + std::to_string(n) + "n=" + std::to_string(seeds[n]);
      if (failed[n]) s += "(" + std::to_string(failed[n]) + " failed)";
    }
    s += "; by length:";
    const char* names[4] = {"100-299", "300-899", "900-2499", "2500-5000"};
    for (int c = 0; c < 4; ++c) {
      s += std::string(" ") + names[c] + "=" + std::to_string(by_length[c]);
      if (failed_by_length[c]) s += "(" + std::to_string(failed_by_length[c]) + " failed)";
    }
    return s;
  }
};

// The --html page of one seed: the recorded run, how to run it again, and its outcome.
bool writeReplay(const std::string& path, const RunOptions& o, const RunResult& r,
                 const raftkv::sim::ReplayData& data) {
  raftkv::sim::ReplayPage page;
  page.title = "seed " + std::to_string(o.seed) + " · " + std::to_string(o.nodes) + " nodes · " +
               std::to_string(o.ops) + " ops · faults " + o.faults.ToString();
  std::string cmd = replayCommand(o);
  page.command = cmd.substr(0, cmd.size() - std::string(" --trace").size()) + " --html " + path;
  page.outcome = r.ok() ? "ok: no violation; linearizable"
                        : r.violations[0].property + ": " + r.violations[0].description;
  raftkv::Status s = raftkv::sim::WriteReplayHtml(path, data, page);
  if (!s.ok()) {
    std::fprintf(stderr, "--html: %s\n", s.ToString().c_str());
    return false;
  }
  std::printf("replay written to %s (%zu messages, %zu changes)\n", path.c_str(), data.msgs.size(),
              data.records.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"raftkv deterministic cluster simulator"};
  uint64_t seeds = 0;
  uint64_t first_seed = 1;
  std::optional<uint64_t> one_seed;
  int nodes = 3;
  std::string faults = "all";
  uint64_t ops = 300;
  int clients = 4;
  int jobs = 1;
  size_t show_events = 20;
  bool trace = false;
  bool demo = false;
  bool no_pre_vote = false;
  bool no_check_quorum = false;
  uint64_t max_msg_bytes = 1 << 20;
  uint64_t wal_segment_bytes = 64 << 10;
  double fault_rate = 1.0;
  bool no_isolate = false;
  bool swarm = false;
  int keys = 4;
  bool lease_reads = false;
  bool read_anywhere = false;
  bool check_stability = false;
  uint64_t max_events = 0;
  uint64_t max_event_rate = 0;
  int min_voters = 3;
  double duration = 0;
  double progress = 0;
  std::string html;
  app.add_option("--seeds", seeds, "number of seeds to run")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1000000000}));
  app.add_option("--first-seed", first_seed, "first seed of the range");
  app.add_option("--seed", one_seed, "replay one seed");
  app.add_option("--nodes", nodes, "cluster size (1-7; with --swarm: fixes the drawn size)")
      ->check(CLI::Range(1, 7));
  app.add_option("--faults", faults,
                 "comma list: crash,partition,asym,drop,dup,reorder,delay,slow,disk,member,"
                 "snapshot,transfer,stale,replay | all (the first twelve) | none");
  app.add_option("--ops", ops, "client operations per seed")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1000000000}));
  app.add_option("--clients", clients, "concurrent clients")->check(CLI::Range(1, 64));
  app.add_option("--jobs", jobs, "seeds run in parallel threads")->check(CLI::Range(1, 64));
  app.add_option("--show-events", show_events, "events printed before a violation");
  app.add_flag("--trace", trace, "print every event of the run (with --seed)");
  app.add_flag("--demo", demo, "play the 5-node demo timeline");
  app.add_option("--html", html,
                 "with --seed: write the run as a self-contained HTML replay to this file");
  app.add_flag("--no-isolate", no_isolate,
               "run seeds in this process (by default each seed of --seeds runs in a child "
               "process, so an abort fails that seed only)");
  app.add_flag("--no-pre-vote", no_pre_vote, "run the cores without pre-vote");
  app.add_flag("--no-check-quorum", no_check_quorum, "run the cores without check-quorum");
  app.add_option("--max-msg-bytes", max_msg_bytes,
                 "cores' max_size_per_msg (1: one entry per message)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1000000000}));
  app.add_option("--wal-segment-bytes", wal_segment_bytes,
                 "WAL segment size of the simulated disks (with the disk fault)")
      ->check(CLI::Range(uint64_t{512}, uint64_t{1} << 30));
  app.add_option("--fault-rate", fault_rate, "how often the nemesis acts (2 = twice as often)")
      ->check(CLI::Range(0.1, 100.0));
  app.add_option("--keys", keys, "keys the clients work on")->check(CLI::Range(1, 64));
  app.add_option("--max-event-rate", max_event_rate,
                 "events per second of virtual time beyond which a run is a liveness failure "
                 "(a message storm; default: unlimited)");
  app.add_option("--max-events", max_events,
                 "event budget per seed, beyond which a run is a liveness failure (default: "
                 "4,000,000 + 20,000 per operation)");
  app.add_flag("--lease-reads", lease_reads,
               "the cores serve reads from the check-quorum lease instead of a ReadIndex round");
  app.add_flag("--read-anywhere", read_anywhere,
               "clients read through any node (followers, learners, deposed leaders)");
  app.add_option("--min-voters", min_voters,
                 "membership changes keep at least this many voters (default 3)")
      ->check(CLI::Range(1, 7));
  app.add_flag("--check-stability", check_stability,
               "after liveness, a healed cluster with check-quorum must keep its leader");
  app.add_flag("--swarm", swarm,
               "each seed draws its own run: cluster size, length, fault kinds and rate, "
               "message size, pre-vote/check-quorum, read path (see docs/simulator.md)");
  app.add_option("--duration", duration,
                 "with --seeds or alone: stop starting seeds after this many seconds")
      ->check(CLI::Range(1.0, 1e7));
  app.add_option("--progress", progress, "print a progress line every this many seconds")
      ->check(CLI::Range(1.0, 1e6));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);                    // prints the help or the error
    return e.get_exit_code() == 0 ? rc : 2;  // usage errors exit 2, as raftkvd's do
  }

  if (demo) return raftkv::sim::RunDemo(stdout);

  auto parsed = raftkv::sim::FaultSet::Parse(faults);
  if (!parsed.ok()) {
    std::fprintf(stderr, "--faults: %s\n", parsed.status().message().c_str());
    return 2;
  }
  RunOptions base;
  base.nodes = nodes;
  base.faults = *parsed;
  base.ops = ops;
  base.clients = clients;
  base.last_events = std::max<size_t>(show_events, 1);
  base.pre_vote = !no_pre_vote;
  base.check_quorum = !no_check_quorum;
  base.max_size_per_msg = max_msg_bytes;
  base.wal_segment_bytes = wal_segment_bytes;
  base.fault_rate = fault_rate;
  base.keys = keys;
  base.lease_reads = lease_reads;
  base.read_anywhere = read_anywhere;
  base.min_voters = min_voters;
  base.check_stability = check_stability;
  base.max_events = max_events;
  base.max_events_per_second = max_event_rate;
  if (lease_reads && no_check_quorum) {
    std::fprintf(stderr, "--lease-reads needs check-quorum (drop --no-check-quorum)\n");
    return 2;
  }
  raftkv::sim::SwarmBounds bounds;
  if (swarm) {
    for (const char* drawn :
         {"--faults", "--ops", "--clients", "--keys", "--fault-rate", "--max-msg-bytes",
          "--wal-segment-bytes", "--min-voters", "--no-pre-vote", "--no-check-quorum",
          "--lease-reads", "--read-anywhere", "--check-stability"}) {
      if (app.count(drawn) != 0) {
        std::fprintf(stderr, "%s: drawn per seed with --swarm (only --nodes can be fixed)\n",
                     drawn);
        return 2;
      }
    }
    if (app.count("--nodes") != 0) {
      bounds.nodes = nodes;
      swarm_fixed_args += " --nodes " + std::to_string(nodes);
    }
    if (max_events != 0) swarm_fixed_args += " --max-events " + std::to_string(max_events);
    if (max_event_rate != 0) {
      swarm_fixed_args += " --max-event-rate " + std::to_string(max_event_rate);
    }
  }

  if (one_seed) {
    if (seeds != 0) {
      std::fprintf(stderr, "--seed and --seeds are exclusive\n");
      return 2;
    }
    seeds = 1;
    first_seed = *one_seed;
  } else if (trace || !html.empty()) {
    std::fprintf(stderr, "%s needs --seed S\n", trace ? "--trace" : "--html");
    return 2;
  }
  if (seeds == 0 && duration > 0) seeds = UINT64_MAX / 2;  // until the time is up
  if (seeds == 0) {
    std::fprintf(stderr, "nothing to do: give --seeds N, --seed S or --demo (see --help)\n");
    return 2;
  }
  base.trace = trace;
  if (one_seed && swarm) {
    RunOptions drawn = raftkv::sim::DrawSwarmRun(*one_seed, base, bounds);
    std::printf("swarm seed %" PRIu64 ": raftkv-sim %s\n", *one_seed,
                raftkv::sim::ExplicitArguments(drawn).c_str());
    std::fflush(stdout);
  }
  raftkv::sim::ReplayRecorder recorder;
  if (!html.empty()) base.observer = &recorder;

  std::signal(SIGABRT, onAbort);
  const bool isolate = !no_isolate && !one_seed;
  std::fflush(stdout);
  auto t0 = std::chrono::steady_clock::now();
  std::atomic<uint64_t> next{0};
  std::mutex mu;
  uint64_t failed = 0, total_ops = 0, total_violations = 0, total_events = 0, gave_up = 0;
  uint64_t done = 0, peak_rate = 0;
  Tally tally;
  auto since_start = [&]() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  double last_progress = 0;
  auto worker = [&]() {
    for (;;) {
      if (duration > 0 && since_start() >= duration) return;
      uint64_t i = next.fetch_add(1);
      if (i >= seeds) return;
      RunOptions o = swarm ? raftkv::sim::DrawSwarmRun(first_seed + i, base, bounds) : base;
      o.seed = first_seed + i;
      current_seed = o.seed;
      running_seed = true;
      std::fflush(stdout);
      RunResult r = isolate ? runIsolated(o) : raftkv::sim::RunSeed(o);
      running_seed = false;
      std::lock_guard<std::mutex> lock(mu);
      ++done;
      tally.add(o, r.ok());
      if (r.ok()) peak_rate = std::max(peak_rate, r.peak_events_per_second);
      total_ops += r.ops_done;
      total_events += r.events;
      total_violations += r.violations.size();
      if (r.linearizability_gave_up) ++gave_up;
      if (!r.ok()) {
        ++failed;
        printFailure(o, r, show_events);
      } else if (one_seed) {
        std::printf("seed=%" PRIu64 " ok ops=%" PRIu64 " acknowledged=%" PRIu64 " faults=%" PRIu64
                    " snapshots_taken=%" PRIu64 " snapshots_installed=%" PRIu64
                    " virtual_time=%.3fs events=%" PRIu64 " peak_events_per_s=%" PRIu64
                    " trace_hash=%016" PRIx64 "\n",
                    r.seed, r.ops_done, r.ops_ok, r.faults, r.snapshots_taken,
                    r.snapshots_installed, r.virtual_time / 1e6, r.events, r.peak_events_per_second,
                    r.trace_hash);
      }
      if (progress > 0 && since_start() - last_progress >= progress) {
        last_progress = since_start();
        std::printf("progress: seeds=%" PRIu64 " failed=%" PRIu64
                    " elapsed=%.0fs seeds/minute=%.1f%s\n",
                    done, failed, last_progress, done * 60.0 / std::max(last_progress, 1e-9),
                    swarm ? (" " + tally.describe()).c_str() : "");
        std::fflush(stdout);
      }
      if (!html.empty() && !writeReplay(html, o, r, recorder.data())) ++failed;
    }
  };
  if (!one_seed) {
    std::printf("running %s seeds from %" PRIu64 "%s%s\n",
                seeds >= UINT64_MAX / 2 ? "as many" : std::to_string(seeds).c_str(), first_seed,
                swarm ? " in swarm mode" : "",
                duration > 0
                    ? (" for " + std::to_string(static_cast<int64_t>(duration)) + "s").c_str()
                    : "");
    std::fflush(stdout);
  }
  int threads = static_cast<int>(std::min<uint64_t>(jobs, seeds));
  if (threads <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) pool.emplace_back(worker);
    for (auto& th : pool) th.join();
  }
  double elapsed = since_start();
  if (swarm) {
    std::printf("%s\n", tally.describe().c_str());
    std::printf("seeds=%" PRIu64 " failed=%" PRIu64 " ops=%" PRIu64 " violations=%" PRIu64
                " gave_up=%" PRIu64 " swarm from seed %" PRIu64
                " elapsed=%.1fs events/s=%.0f seeds/minute=%.1f"
                " peak_virtual_events_per_s=%" PRIu64 "\n",
                done, failed, total_ops, total_violations, gave_up, first_seed, elapsed,
                elapsed > 0 ? total_events / elapsed : 0.0,
                elapsed > 0 ? done * 60.0 / elapsed : 0.0, peak_rate);
    return failed == 0 ? 0 : 1;
  }
  std::printf("seeds=%" PRIu64 " failed=%" PRIu64 " ops=%" PRIu64 " violations=%" PRIu64
              " gave_up=%" PRIu64
              " nodes=%d faults=%s elapsed=%.1fs events/s=%.0f"
              " seeds/minute=%.1f\n",
              done, failed, total_ops, total_violations, gave_up, nodes,
              base.faults.ToString().c_str(), elapsed, elapsed > 0 ? total_events / elapsed : 0.0,
              elapsed > 0 ? done * 60.0 / elapsed : 0.0);
  return failed == 0 ? 0 : 1;
}
