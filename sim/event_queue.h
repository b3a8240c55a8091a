// EventQueue: the simulator's clock and agenda. Events run in (time, sequence) order; the
// sequence number (the order in which events were scheduled) breaks ties, so two events
// due at the same virtual microsecond always run in the same order.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace raftkv::sim {

using Time = int64_t;  // virtual microseconds (same as cluster.h)

class EventQueue {
 public:
  using Fn = std::function<void()>;

  // Schedules `fn` at absolute time `at` (clamped to Now(): the past cannot be scheduled).
  void At(Time at, Fn fn);
  void After(Time delay, Fn fn) { At(now_ + delay, std::move(fn)); }

  bool Empty() const { return heap_.empty(); }
  // Time of the earliest pending event; requires !Empty().
  Time NextTime() const { return heap_.front().at; }
  Time Now() const { return now_; }
  size_t Size() const { return heap_.size(); }
  uint64_t Processed() const { return processed_; }

  // Pops the earliest event, advances the clock to its time and runs it. False if empty.
  bool RunNext();
  // Moves the clock forward to `t` without running anything (t must not pass an event).
  void AdvanceTo(Time t);

 private:
  struct Event {
    Time at;
    uint64_t seq;
    Fn fn;
  };
  // Min-heap order: the "greater" event sinks.
  static bool Later(const Event& a, const Event& b) {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  }

  std::vector<Event> heap_;
  Time now_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t processed_ = 0;
};

}  // namespace raftkv::sim
