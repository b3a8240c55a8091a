// raftkv-check-history: reads a chaos history file (history_file.h) and checks each key's
// sub-history for linearizability with the simulator's checker (sim/check).
//
//   raftkv-check-history [--max-states N] [--quiet] <history-file>
//
// Prints one line per key and a last line "verdict: linearizable | non-linearizable |
// unknown". Exit status: 0 linearizable, 1 non-linearizable, 3 the search gave up (too many
// states), 2 bad usage or a malformed file.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "sim/check/linearizability.h"
#include "tests/chaos/history_file.h"

namespace {

using raftkv::check::History;
using raftkv::check::LinearizabilityOptions;
using raftkv::check::LinearizabilityResult;
using Verdict = LinearizabilityResult::Verdict;

struct Args {
  std::string path;
  uint64_t max_states = LinearizabilityOptions{}.max_states_per_key;
  bool quiet = false;
};

bool ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--max-states" && i + 1 < argc) {
      char* end = nullptr;
      args->max_states = std::strtoull(argv[++i], &end, 10);
      if (*end != '\0' || args->max_states == 0) return false;
    } else if (a == "--quiet") {
      args->quiet = true;
    } else if (!a.empty() && a[0] != '-' && args->path.empty()) {
      args->path = a;
    } else {
      return false;
    }
  }
  return !args->path.empty();
}

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kLinearizable: return "linearizable";
    case Verdict::kViolation: return "non-linearizable";
    case Verdict::kGaveUp: return "unknown";
  }
  return "?";
}

// Splits by key: the checker partitions by key itself, but one call per key lets us report
// each key's size and search effort, and keep checking the others after a violation.
std::map<std::string, History> ByKey(const History& h) {
  std::map<std::string, History> out;
  for (const auto& op : h.ops) out[op.key].ops.push_back(op);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, &args)) {
    std::cerr << "usage: raftkv-check-history [--max-states N] [--quiet] <history-file>\n";
    return 2;
  }
  std::ifstream in(args.path);
  if (!in) {
    std::cerr << "raftkv-check-history: cannot open " << args.path << "\n";
    return 2;
  }
  auto history = raftkv::chaos::ParseHistory(in);
  if (!history.ok()) {
    std::cerr << "raftkv-check-history: " << args.path << ": " << history.status().message()
              << "\n";
    return 2;
  }
  LinearizabilityOptions options;
  options.max_states_per_key = args.max_states;
  Verdict overall = Verdict::kLinearizable;
  for (const auto& [key, sub] : ByKey(*history)) {
    LinearizabilityResult r = raftkv::check::CheckLinearizable(sub, options);
    if (!args.quiet || r.verdict != Verdict::kLinearizable) {
      std::cout << "key " << key << ": " << VerdictName(r.verdict) << " (" << sub.ops.size()
                << " ops, " << r.states_explored << " states)\n";
    }
    if (r.verdict == Verdict::kViolation) {
      std::cout << r.explanation << "\n";
      overall = Verdict::kViolation;
    } else if (r.verdict == Verdict::kGaveUp && overall == Verdict::kLinearizable) {
      overall = Verdict::kGaveUp;
    }
  }
  std::cout << "verdict: " << VerdictName(overall) << " (" << history->ops.size() << " ops)\n";
  switch (overall) {
    case Verdict::kLinearizable: return 0;
    case Verdict::kViolation: return 1;
    case Verdict::kGaveUp: return 3;
  }
  return 2;
}
