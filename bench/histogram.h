// Latency histogram in the style of HdrHistogram: log-linear buckets (each power of two is
// split into 128 equal sub-buckets), so any recorded value is known to within 1/128 (< 1%)
// with a fixed, small array and O(1) recording. Histograms of the same shape merge by adding
// counts, so each client thread records into its own and the results are summed at the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace raftkv::bench {

class Histogram {
 public:
  // Values above this are clamped (about 18 minutes in nanoseconds).
  static constexpr uint64_t kMaxValue = (uint64_t{1} << 40) - 1;

  Histogram();

  void Record(uint64_t value);
  void Merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0 : static_cast<double>(sum_) / count_; }

  // The value at percentile p (0 < p <= 100) by nearest rank: the smallest recorded value v
  // such that at least p% of the values are <= v, reported as the highest value of v's
  // bucket (never above max()). Within 1/128 of the exact figure; 0 when empty.
  uint64_t Percentile(double p) const;

  // Bucket arithmetic, exposed for tests.
  static size_t BucketIndex(uint64_t value);
  static uint64_t BucketHighest(size_t index);

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  uint64_t sum_ = 0;
};

}  // namespace raftkv::bench
