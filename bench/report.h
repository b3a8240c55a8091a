// Output of raftkv-bench: the progress line while running and the result at the end, as
// text or as one JSON object.
#pragma once

#include <string>

#include "bench/options.h"
#include "bench/runner.h"

namespace raftkv::bench {

// Progress on stderr: a bar redrawn in place on a terminal, otherwise a plain line every
// `line_every_s` seconds. `expected` is the total request count (0 in duration mode).
class Progress {
 public:
  Progress(bool terminal, uint64_t expected, double duration_s, double line_every_s = 2.0);
  void Update(uint64_t done, double elapsed_s);
  void Finish();

 private:
  bool terminal_;
  uint64_t expected_;
  double duration_s_;
  double line_every_s_;
  double last_line_s_ = 0;
  uint64_t last_done_ = 0;
  bool drew_ = false;
};

std::string FormatText(Workload w, const KvOptions& o, const RunResult& r);
std::string FormatJson(Workload w, const KvOptions& o, const RunResult& r);

// JSON string literal with escapes (error messages come from servers).
std::string JsonString(const std::string& s);

}  // namespace raftkv::bench
