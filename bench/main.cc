// raftkv-bench: load generator for etcd-v3-compatible servers (raftkvd, etcd) and a wrapper
// around the WAL benchmark. See bench/README.md and `raftkv-bench --help`.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string>

#include "bench/options.h"
#include "bench/report.h"
#include "bench/runner.h"

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) {
  g_stop.store(true);
}

int RunKvCommand(const raftkv::bench::Command& cmd) {
  using namespace raftkv::bench;
  const KvOptions& o = cmd.kv;
  Progress progress(isatty(STDERR_FILENO) != 0, o.total, o.duration_s);
  ProgressFn fn;
  if (!o.quiet) fn = [&progress](uint64_t done, double s) { progress.Update(done, s); };
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  auto result = cmd.workload == Workload::kWatch ? RunWatch(o, fn, &g_stop)
                                                 : RunKv(cmd.workload, o, fn, &g_stop);
  if (!o.quiet) progress.Finish();
  if (!result.ok()) {
    std::fprintf(stderr, "raftkv-bench: %s\n", result.status().ToString().c_str());
    return 1;
  }
  std::string out =
      o.json ? FormatJson(cmd.workload, o, *result) : FormatText(cmd.workload, o, *result);
  std::fputs(out.c_str(), stdout);
  // Exit 3 when any request failed, so scripts notice without parsing.
  return result->failed > 0 ? 3 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace raftkv::bench;
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }
  auto cmd = ParseCommand(argc, argv);
  if (!cmd.ok()) {
    std::fprintf(stderr, "raftkv-bench: %s\n%s", cmd.status().message().c_str(), Usage().c_str());
    return 2;
  }
  if (cmd->workload == Workload::kWal) return raftkv::storage::RunWalBenchmark(cmd->wal);
  return RunKvCommand(*cmd);
}
