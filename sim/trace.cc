#include "sim/trace.h"

#include <cinttypes>

namespace raftkv::sim {

std::string FormatTime(Time t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRId64 ".%06" PRId64 "s", t / 1000000, t % 1000000);
  return buf;
}

std::string FormatEvent(const TraceEvent& ev) {
  char buf[256];
  std::string head = FormatTime(ev.at);
  switch (ev.kind) {
    case TraceEvent::Kind::kDeliver:
    case TraceEvent::Kind::kSend:
      std::snprintf(buf, sizeof buf,
                    "%s n%" PRIu64 " %s %s %s n%" PRIu64 " term=%" PRIu64 " index=%" PRIu64
                    " n=%" PRIu64 "%s",
                    head.c_str(), ev.node, ev.kind == TraceEvent::Kind::kDeliver ? "recv" : "send",
                    raft::MessageTypeName(ev.msg),
                    ev.kind == TraceEvent::Kind::kDeliver ? "from" : "to", ev.peer, ev.term,
                    ev.index, ev.extra, ev.reject ? " reject" : "");
      return buf;
    case TraceEvent::Kind::kPersist:
      std::snprintf(buf, sizeof buf,
                    "%s n%" PRIu64 " persisted term=%" PRIu64 " last_index=%" PRIu64
                    " commit=%" PRIu64,
                    head.c_str(), ev.node, ev.term, ev.index, ev.extra);
      return buf;
    case TraceEvent::Kind::kRole:
      std::snprintf(buf, sizeof buf, "%s n%" PRIu64 " becomes %s term=%" PRIu64 " leader=n%" PRIu64,
                    head.c_str(), ev.node, ev.text.c_str(), ev.term, ev.peer);
      return buf;
    case TraceEvent::Kind::kNote:
      if (ev.node != raft::kNoNode) {
        std::snprintf(buf, sizeof buf, "%s n%" PRIu64 " ", head.c_str(), ev.node);
      } else {
        std::snprintf(buf, sizeof buf, "%s ", head.c_str());
      }
      return buf + ev.text;
  }
  return head;
}

void Tracer::Record(TraceEvent ev) {
  ++count_;
  mix(static_cast<uint64_t>(ev.at));
  mix(static_cast<uint64_t>(ev.kind) << 8 | static_cast<uint64_t>(ev.msg));
  mix(ev.node << 32 | ev.peer);
  mix(ev.term);
  mix(ev.index);
  mix(ev.extra);
  for (char c : ev.text) mix(static_cast<uint8_t>(c));
  if (listener_) listener_(ev);
  if (observer_) observer_->OnTrace(ev);
  if (print_) std::fprintf(out_, "%s\n", FormatEvent(ev).c_str());
  if (keep_ == 0) return;
  if (ring_.size() == keep_) ring_.pop_front();
  ring_.push_back(std::move(ev));
}

void Tracer::Note(Time at, raft::NodeId node, std::string text) {
  TraceEvent ev;
  ev.at = at;
  ev.node = node;
  ev.text = std::move(text);
  Record(std::move(ev));
}

std::vector<std::string> Tracer::Recent(size_t n) const {
  std::vector<std::string> out;
  size_t start = ring_.size() > n ? ring_.size() - n : 0;
  for (size_t i = start; i < ring_.size(); ++i) out.push_back(FormatEvent(ring_[i]));
  return out;
}

}  // namespace raftkv::sim
