// Inflights: the bounded window of AppendEntries sent to one follower and not yet
// acknowledged (etcd's tracker/inflights.go). A ring buffer of (last index, bytes) per
// message; the leader stops pipelining to a follower while its window is full.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "raft/types.h"

namespace raftkv::raft {

class Inflights {
 public:
  // At most `capacity` messages and (if max_bytes > 0) about max_bytes of entries.
  explicit Inflights(size_t capacity, uint64_t max_bytes = 0);

  // Records a message whose last entry is `index`. Indexes must increase.
  void Add(Index index, uint64_t bytes);
  // Frees every message whose last index is <= `to` (they were acknowledged).
  void FreeLE(Index to);
  // Frees the oldest message (a heartbeat answer shows the follower is alive although
  // its acknowledgements may have been lost).
  void FreeFirstOne();
  bool Full() const;
  size_t Count() const { return count_; }
  uint64_t Bytes() const { return bytes_; }
  size_t Capacity() const { return capacity_; }
  void Reset();

 private:
  struct Slot {
    Index index = 0;
    uint64_t bytes = 0;
  };
  size_t capacity_;
  uint64_t max_bytes_;
  std::vector<Slot> buffer_;  // ring; grows lazily up to capacity_
  size_t start_ = 0;
  size_t count_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace raftkv::raft
