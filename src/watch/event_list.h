// EventList: the events of one watch response, as shared pieces rather than a copy.
//
// The hub reads a published revision's events once and hands the same immutable list to
// every watcher that takes all of them (the common case: watchers of the written key with no
// filter). A response then holds references to those lists, one per revision it covers (or
// one list of its own for a catch-up read or a filtered share), so queueing and sending a
// revision to N watchers costs N reference counts, not N vectors of events. Each piece also
// carries a memo for the service's wire encoding of its events, so a revision's events are
// encoded once, not once per watcher.
#pragma once

#include <atomic>
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kv/events.h"

namespace raftkv::watch {

// Bytes computed at most once, by the first thread that asks, then read by any thread.
class OnceBytes {
 public:
  // The bytes, computed by fill(std::string*) on the first call.
  template <typename Fill>
  const std::string& Get(Fill&& fill) const {
    if (!ready_.load(std::memory_order_acquire)) {
      std::lock_guard<std::mutex> l(mu_);
      if (!ready_.load(std::memory_order_relaxed)) {
        fill(&bytes_);
        ready_.store(true, std::memory_order_release);
      }
    }
    return bytes_;
  }

 private:
  mutable std::mutex mu_;
  mutable std::atomic<bool> ready_{false};
  mutable std::string bytes_;  // written once, under mu_, before ready_
};

// Events nobody changes once shared (a revision's, or a watcher's share of it), with the
// service's memo of their wire form: the gRPC service (src/server/daemon/watch_wire.h) keeps
// the events encoded as a WatchResponse's events field here, without and with previous
// versions, so every watcher's response that shares the piece reuses the same bytes.
struct EventPiece {
  explicit EventPiece(std::vector<kv::Event> e) : events(std::move(e)) {}
  std::vector<kv::Event> events;
  OnceBytes wire[2];  // [prev_kv]

  size_t size() const { return events.size(); }
  bool empty() const { return events.empty(); }
  const kv::Event& operator[](size_t i) const { return events[i]; }
};
using SharedEvents = std::shared_ptr<const EventPiece>;

class EventList {
 public:
  EventList() = default;
  EventList(std::initializer_list<kv::Event> events) : EventList(std::vector<kv::Event>(events)) {}
  explicit EventList(std::vector<kv::Event> events) {
    Append(std::make_shared<const EventPiece>(std::move(events)));
  }

  // Appends a piece (kept in order). Empty pieces are dropped.
  void Append(SharedEvents part) {
    if (part == nullptr || part->empty()) return;
    size_ += part->size();
    if (first_ == nullptr) {
      first_ = std::move(part);  // the usual response has one piece: no vector allocated
    } else {
      rest_.push_back(std::move(part));
    }
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t part_count() const { return first_ == nullptr ? 0 : 1 + rest_.size(); }
  const SharedEvents& part(size_t i) const { return i == 0 ? first_ : rest_[i - 1]; }

  // The i-th event overall (linear in the number of pieces: tests and small lists).
  const kv::Event& operator[](size_t i) const {
    size_t p = 0;
    while (i >= part(p)->size()) i -= part(p++)->size();
    return (*part(p))[i];
  }

  // Every event in order, across pieces.
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = kv::Event;
    using difference_type = std::ptrdiff_t;
    using pointer = const kv::Event*;
    using reference = const kv::Event&;

    const_iterator() = default;
    const_iterator(const EventList* list, size_t part) : list_(list), part_(part) {}
    reference operator*() const { return (*list_->part(part_))[index_]; }
    pointer operator->() const { return &**this; }
    const_iterator& operator++() {
      if (++index_ == list_->part(part_)->size()) {
        ++part_;
        index_ = 0;
      }
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const const_iterator& o) const {
      return part_ == o.part_ && index_ == o.index_;
    }
    bool operator!=(const const_iterator& o) const { return !(*this == o); }

   private:
    const EventList* list_ = nullptr;
    size_t part_ = 0;
    size_t index_ = 0;  // pieces are never empty, so (part, 0) is a valid position
  };
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, part_count()); }

 private:
  SharedEvents first_;
  std::vector<SharedEvents> rest_;
  size_t size_ = 0;
};

}  // namespace raftkv::watch
