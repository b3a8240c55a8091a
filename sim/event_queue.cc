#include "sim/event_queue.h"

#include <algorithm>

#include "common/check.h"

namespace raftkv::sim {

void EventQueue::At(Time at, Fn fn) {
  heap_.push_back(Event{std::max(at, now_), next_seq_++, std::move(fn)});
  std::push_heap(heap_.begin(), heap_.end(), Later);
}

bool EventQueue::RunNext() {
  if (heap_.empty()) return false;
  std::pop_heap(heap_.begin(), heap_.end(), Later);
  Event ev = std::move(heap_.back());
  heap_.pop_back();
  RAFTKV_CHECK(ev.at >= now_, "virtual time never goes backwards");
  now_ = ev.at;
  ++processed_;
  ev.fn();
  return true;
}

void EventQueue::AdvanceTo(Time t) {
  RAFTKV_CHECK(heap_.empty() || t <= heap_.front().at, "AdvanceTo must not skip events");
  if (t > now_) now_ = t;
}

}  // namespace raftkv::sim
