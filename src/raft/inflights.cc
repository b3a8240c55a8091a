#include "raft/inflights.h"

#include "common/check.h"

namespace raftkv::raft {

Inflights::Inflights(size_t capacity, uint64_t max_bytes)
    : capacity_(capacity == 0 ? 1 : capacity), max_bytes_(max_bytes) {}

void Inflights::Add(Index index, uint64_t bytes) {
  RAFTKV_CHECK(!Full(), "inflights: Add on a full window (caller must check Full())");
  if (count_ > 0) {
    const Slot& last = buffer_[(start_ + count_ - 1) % capacity_];
    RAFTKV_CHECK(index > last.index, "inflights: indexes must increase");
  }
  if (buffer_.size() < capacity_) buffer_.resize(capacity_);
  buffer_[(start_ + count_) % capacity_] = Slot{index, bytes};
  count_++;
  bytes_ += bytes;
}

void Inflights::FreeLE(Index to) {
  while (count_ > 0 && buffer_[start_].index <= to) {
    bytes_ -= buffer_[start_].bytes;
    start_ = (start_ + 1) % capacity_;
    count_--;
  }
  if (count_ == 0) start_ = 0;
}

void Inflights::FreeFirstOne() {
  if (count_ == 0) return;
  FreeLE(buffer_[start_].index);
}

bool Inflights::Full() const {
  return count_ == capacity_ || (max_bytes_ != 0 && bytes_ >= max_bytes_);
}

void Inflights::Reset() {
  start_ = 0;
  count_ = 0;
  bytes_ = 0;
}

}  // namespace raftkv::raft
