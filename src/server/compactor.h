// AutoCompactor: etcd's --auto-compaction-mode / --auto-compaction-retention, run by the
// leader (etcd pauses its compactor on followers). Without it the MVCC history grows without
// bound in memory. Driven by the raft thread's ticks with the time passed in, so tests step
// it by hand; it answers with the revision to compact (the caller proposes the Compaction).
//
//  - revision mode, retention N: every 5 minutes, compact to (current revision - N) if that
//    is positive and not the revision compacted last time (etcd's v3compactor.Revision);
//  - periodic mode, retention P: sample the current revision every P/10 (P capped at 1 h for
//    the interval: every 6 min for P >= 1 h); once P has passed since the start (or since the
//    last success), compact to the revision sampled P ago, then again every
//    min(P, 1 h) (etcd's v3compactor.Periodic).
// A compaction that fails with "compacted" counts as done, as in etcd.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "common/status.h"

namespace raftkv::server {

enum class CompactionMode { kPeriodic, kRevision };

// etcd's v3compactor revInterval: revision mode compacts every 5 minutes.
inline constexpr std::chrono::milliseconds kRevisionCompactionInterval = std::chrono::minutes(5);

struct AutoCompaction {
  CompactionMode mode = CompactionMode::kPeriodic;
  // Periodic: the retention window; revision: the number of revisions kept. 0 = off.
  std::chrono::milliseconds period{0};
  int64_t revisions = 0;
  // Revision mode: how often to compact. etcd's is fixed at 5 minutes (no flag); tests set a
  // shorter one through ServerConfig::auto_compaction_revision_interval_ms.
  std::chrono::milliseconds revision_interval = kRevisionCompactionInterval;
  bool enabled() const { return period.count() > 0 || revisions > 0; }
};

// etcd's flag parsing (embed.parseCompactionRetention): a plain non-negative integer is hours
// in periodic mode and a revision count in revision mode; anything else must be a Go duration
// ("1h30m", "30m", "10s", "500ms") and is a duration in either mode (in revision mode etcd then
// keeps that many nanoseconds' worth of revisions; so does raftkv). Mode "" is periodic.
Result<AutoCompaction> ParseAutoCompaction(const std::string& mode, const std::string& retention);
// Go's time.ParseDuration for the units etcd users write: h, m, s, ms, us (µs), ns, with
// decimals ("1.5h") and sequences ("1h30m").
Result<std::chrono::nanoseconds> ParseGoDuration(const std::string& text);

class AutoCompactor {
 public:
  using Clock = std::chrono::steady_clock;
  explicit AutoCompactor(AutoCompaction cfg) : cfg_(cfg) {}

  // Leader only; `now` from the caller's clock, `rev` the current store revision. Returns the
  // revision to compact now, if any. Call Done() with the outcome.
  std::optional<int64_t> Tick(Clock::time_point now, int64_t rev);
  // The compaction proposed by the last Tick finished (ok: done or already compacted).
  void Done(bool ok, Clock::time_point now);
  // Not the leader any more: etcd pauses; resuming starts the windows afresh.
  void Pause();

 private:
  std::optional<int64_t> tickRevision(Clock::time_point now, int64_t rev);
  std::optional<int64_t> tickPeriodic(Clock::time_point now, int64_t rev);

  AutoCompaction cfg_;
  bool running_ = false;
  bool in_flight_ = false;
  int64_t in_flight_rev_ = 0;
  Clock::time_point next_{};
  // Revision mode: the last compacted revision.
  int64_t prev_ = 0;
  // Periodic mode: revisions sampled every retry interval, oldest first; when the window
  // started (or last succeeded).
  std::deque<int64_t> samples_;
  Clock::time_point last_success_{};
  bool first_done_ = false;
};

}  // namespace raftkv::server
