// Tracer: the readable record of a run. Every event is folded into a running hash (the
// determinism tests compare it across runs) and kept in a ring of recent events for failure
// reports; with tracing on, each event is also printed as it happens. Events are stored as
// small structs and formatted only when someone reads them.
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "raft/types.h"
#include "sim/event_queue.h"
#include "sim/observer.h"

namespace raftkv::sim {

struct TraceEvent {
  enum class Kind : uint8_t {
    kDeliver,  // node received a message
    kSend,     // node sent a message (accepted by the network or not)
    kPersist,  // node's durable write completed
    kRole,     // node's role/leader changed
    kNote,     // anything else (faults, client ops, checks), described by `text`
  };
  Time at = 0;
  Kind kind = Kind::kNote;
  raft::NodeId node = raft::kNoNode;
  raft::NodeId peer = raft::kNoNode;
  raft::MessageType msg = raft::MessageType::kHup;
  uint64_t term = 0;
  uint64_t index = 0;
  uint64_t extra = 0;  // entries in a message / commit index / ...
  bool reject = false;
  std::string text;
};

std::string FormatEvent(const TraceEvent& ev);
std::string FormatTime(Time t);  // "12.345678s"

class Tracer {
 public:
  Tracer(size_t keep, bool print) : keep_(keep), print_(print) {}

  void Record(TraceEvent ev);
  void Note(Time at, raft::NodeId node, std::string text);

  uint64_t hash() const { return hash_; }
  uint64_t count() const { return count_; }
  // The last `n` events, oldest first.
  std::vector<std::string> Recent(size_t n) const;
  bool printing() const { return print_; }
  void SetOutput(FILE* out) { out_ = out; }
  void SetListener(std::function<void(const TraceEvent&)> l) { listener_ = std::move(l); }
  void SetObserver(SimObserver* observer) { observer_ = observer; }

 private:
  void mix(uint64_t v) { hash_ ^= v + 0x9e3779b97f4a7c15ULL + (hash_ << 6) + (hash_ >> 2); }
  size_t keep_;
  bool print_;
  FILE* out_ = stdout;
  std::function<void(const TraceEvent&)> listener_;
  SimObserver* observer_ = nullptr;
  std::deque<TraceEvent> ring_;
  uint64_t hash_ = 1469598103934665603ULL;
  uint64_t count_ = 0;
};

}  // namespace raftkv::sim
