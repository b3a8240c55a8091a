#include "bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace raftkv::bench {
namespace {

// 2^7 = 128 sub-buckets per power of two: bucket width / value <= 1/128.
constexpr int kSubBits = 7;
constexpr uint64_t kSub = uint64_t{1} << kSubBits;

}  // namespace

Histogram::Histogram() : counts_(BucketIndex(kMaxValue) + 1, 0) {}

// Values below 2*kSub are their own bucket. Above, a value whose top bit is bit m keeps its
// kSubBits+1 leading bits: shift = m - kSubBits, index = shift*kSub + (value >> shift).
size_t Histogram::BucketIndex(uint64_t value) {
  if (value < 2 * kSub) return static_cast<size_t>(value);
  int msb = 63 - std::countl_zero(value);
  int shift = msb - kSubBits;
  return static_cast<size_t>(shift) * kSub + static_cast<size_t>(value >> shift);
}

uint64_t Histogram::BucketHighest(size_t index) {
  if (index < 2 * kSub) return index;
  uint64_t shift = index / kSub - 1;
  uint64_t sub = index - shift * kSub;  // in [kSub, 2*kSub)
  return ((sub + 1) << shift) - 1;
}

void Histogram::Record(uint64_t value) {
  value = std::min(value, kMaxValue);
  counts_[BucketIndex(value)]++;
  count_++;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < counts_.size(); i++) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

uint64_t Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // Nearest rank, 1-based; the epsilon keeps 99% of 1000 at rank 990 despite rounding.
  auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_) - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); i++) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(BucketHighest(i), min_, max_);
  }
  return max_;
}

}  // namespace raftkv::bench
