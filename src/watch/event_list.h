// EventList: the events of one watch response, as shared pieces rather than a copy.
//
// The hub reads a published revision's events once and hands the same immutable list to
// every watcher that takes all of them (the common case: watchers of the written key with no
// filter). A response then holds references to those lists, one per revision it covers (or
// one list of its own for a catch-up read or a filtered share), so queueing and sending a
// revision to N watchers costs N reference counts, not N vectors of events.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <vector>

#include "kv/events.h"

namespace raftkv::watch {

// Events nobody changes once shared (a revision's, or a watcher's share of it).
using SharedEvents = std::shared_ptr<const std::vector<kv::Event>>;

class EventList {
 public:
  EventList() = default;
  EventList(std::initializer_list<kv::Event> events) : EventList(std::vector<kv::Event>(events)) {}
  explicit EventList(std::vector<kv::Event> events) {
    Append(std::make_shared<const std::vector<kv::Event>>(std::move(events)));
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
