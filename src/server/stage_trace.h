// StageTrace: where one request's time goes inside a member, stage by stage, always on.
//
// One request at a time is traced (the next one that starts while no trace is open, or
// while the open one has been stuck for over a second, e.g. its call was lost to a leader
// change): the threads it passes through stamp the moment it reaches each stage boundary,
// and when it is done the time between consecutive stamps is added to per-stage totals.
// The cost of a request that is not traced is one relaxed atomic load per boundary; of a
// traced one, a clock read per boundary. /metrics exports the totals
// (raftkv_stage_seconds_total{trace,stage} and raftkv_stage_traced_total{trace}), so the
// mean time per stage over a benchmark is the difference of two scrapes divided by the
// difference of the counts (bench/compare-etcd --stages does that).
//
// The stamps are written by one thread after another, each hand-over going through a
// mutex-protected queue, so relaxed atomics are enough; a trace abandoned half way (its
// key never reaches the next stage) is simply replaced.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace raftkv::server {

class StageTrace {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxStages = 10;
  static constexpr uint64_t kNone = 0;

  struct Stage {
    std::string name;
    double seconds = 0;  // summed over every finished trace
  };
  struct Totals {
    uint64_t traced = 0;  // finished traces
    std::vector<Stage> stages;
  };

  // `stages[i]` names the time from boundary i to boundary i+1 (boundary 0 is Start).
  explicit StageTrace(std::vector<std::string> stages) : names_(std::move(stages)) {}

  // Opens a trace for `key` (non-zero) if none is open or the open one is stale; true if
  // this call opened it.
  bool TryStart(uint64_t key) {
    const int64_t now = NowNs();
    uint64_t cur = key_.load(std::memory_order_relaxed);
    if (cur == kStarting ||
        (cur != kNone && now - stamps_[0].load(std::memory_order_relaxed) < kStaleNs)) {
      return false;
    }
    // One caller wins the slot; the others see kStarting or another key.
    if (!key_.compare_exchange_strong(cur, kStarting, std::memory_order_acquire)) return false;
    reached_ = 0;
    stamps_[0].store(now, std::memory_order_relaxed);
    key_.store(key, std::memory_order_release);
    return true;
  }
  // The key of the open trace (kNone if none): callers compare it with theirs.
  uint64_t key() const { return key_.load(std::memory_order_acquire); }
  // The traced request, known as `from`, is now known as `to` (a request id becomes a log
  // index).
  void Rekey(uint64_t from, uint64_t to) {
    key_.compare_exchange_strong(from, to, std::memory_order_acq_rel);
  }
  // The open trace, if it is `key`'s and has reached boundary i-1, reaches boundary `i`
  // (1..stages) now; true if so.
  bool Mark(uint64_t key, size_t i) {
    if (key == kNone || key_.load(std::memory_order_acquire) != key || i == 0 ||
        i > names_.size() || reached_.load(std::memory_order_relaxed) != i - 1) {
      return false;
    }
    stamps_[i].store(NowNs(), std::memory_order_relaxed);
    reached_.store(i, std::memory_order_relaxed);
    return true;
  }
  // Marks the last boundary for `key` and adds the trace's stage times to the totals if
  // every boundary was reached; closes the trace either way (if it is `key`'s).
  void Finish(uint64_t key) {
    if (key == kNone || key_.load(std::memory_order_acquire) != key) return;
    Mark(key, names_.size());
    bool ordered = true;
    for (size_t i = 1; i <= names_.size(); ++i) {
      ordered = ordered && stamps_[i].load(std::memory_order_relaxed) >=
                               stamps_[i - 1].load(std::memory_order_relaxed);
    }
    if (ordered && reached_.load(std::memory_order_relaxed) == names_.size()) {
      for (size_t i = 0; i < names_.size(); ++i) {
        sums_ns_[i].fetch_add(stamps_[i + 1].load(std::memory_order_relaxed) -
                                  stamps_[i].load(std::memory_order_relaxed),
                              std::memory_order_relaxed);
      }
      traced_.fetch_add(1, std::memory_order_relaxed);
    }
    for (size_t i = 1; i <= names_.size(); ++i) stamps_[i].store(0, std::memory_order_relaxed);
    key_.store(kNone, std::memory_order_release);
  }
  // Closes `key`'s trace without counting it (its request went another way).
  void Abandon(uint64_t key) {
    key_.compare_exchange_strong(key, kNone, std::memory_order_release);
  }

  Totals Get() const {
    Totals t;
    t.traced = traced_.load(std::memory_order_relaxed);
    for (size_t i = 0; i < names_.size(); ++i) {
      t.stages.push_back(
          Stage{names_[i], static_cast<double>(sums_ns_[i].load(std::memory_order_relaxed)) / 1e9});
    }
    return t;
  }

 private:
  static constexpr int64_t kStaleNs = 1'000'000'000;
  static constexpr uint64_t kStarting = ~uint64_t{0};
  static int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
  }

  const std::vector<std::string> names_;
  std::atomic<uint64_t> key_{kNone};
  std::array<std::atomic<int64_t>, kMaxStages + 1> stamps_{};
  std::atomic<size_t> reached_{0};
  std::array<std::atomic<uint64_t>, kMaxStages> sums_ns_{};
  std::atomic<uint64_t> traced_{0};
};

}  // namespace raftkv::server
