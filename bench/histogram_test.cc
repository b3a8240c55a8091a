#include "bench/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace raftkv::bench {
namespace {

// Nearest-rank percentile of sorted data: the reference the histogram must match.
uint64_t ExactPercentile(const std::vector<uint64_t>& sorted, double p) {
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size() - 1e-9));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

// Latency-like data: log-normal around 2 ms, with a few slow outliers up to seconds.
std::vector<uint64_t> LatencyLikeData(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> body(std::log(2e6), 0.6);
  std::uniform_real_distribution<double> tail(1e7, 3e9);
  std::vector<uint64_t> v;
  for (size_t i = 0; i < n; i++) {
    v.push_back(static_cast<uint64_t>(i % 500 == 0 ? tail(rng) : body(rng)));
  }
  return v;
}

void ExpectWithinOnePercent(uint64_t got, uint64_t exact, double p) {
  EXPECT_GE(got, exact) << "p" << p;
  EXPECT_LE(static_cast<double>(got), exact * (1 + 1.0 / 128) + 1) << "p" << p;
}

TEST(Histogram, PercentilesMatchSortedDataWithinOnePercent) {
  for (uint64_t seed : {1, 2, 3}) {
    std::vector<uint64_t> data = LatencyLikeData(20000 + seed * 7, seed);
    Histogram h;
    for (uint64_t v : data) h.Record(v);
    std::sort(data.begin(), data.end());
    for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
      ExpectWithinOnePercent(h.Percentile(p), ExactPercentile(data, p), p);
    }
    EXPECT_EQ(h.count(), data.size());
    EXPECT_EQ(h.min(), data.front());
    EXPECT_EQ(h.max(), data.back());
    EXPECT_EQ(h.Percentile(100), data.back());
  }
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 0; v < 256; v++) h.Record(v);
  EXPECT_EQ(h.Percentile(50), 127u);  // rank 128 of 256
  EXPECT_EQ(h.Percentile(100), 255u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_DOUBLE_EQ(h.mean(), 127.5);
}

TEST(Histogram, BucketsCoverEveryValueOnce) {
  for (uint64_t v : {uint64_t{0}, uint64_t{255}, uint64_t{256}, uint64_t{257}, uint64_t{1000},
                     uint64_t{123456789}, Histogram::kMaxValue}) {
    size_t i = Histogram::BucketIndex(v);
    EXPECT_GE(Histogram::BucketHighest(i), v);
    EXPECT_LE(Histogram::BucketHighest(i) - v, v / 128) << v;
    EXPECT_EQ(Histogram::BucketIndex(Histogram::BucketHighest(i)), i);
    if (i > 0) {
      EXPECT_LT(Histogram::BucketHighest(i - 1), v) << v;
    }
  }
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  std::vector<uint64_t> a = LatencyLikeData(5000, 10);
  std::vector<uint64_t> b = LatencyLikeData(7000, 11);
  Histogram ha, hb, all;
  for (uint64_t v : a) ha.Record(v), all.Record(v);
  for (uint64_t v : b) hb.Record(v), all.Record(v);
  ha.Merge(hb);
  EXPECT_EQ(ha.count(), all.count());
  EXPECT_EQ(ha.min(), all.min());
  EXPECT_EQ(ha.max(), all.max());
  EXPECT_DOUBLE_EQ(ha.mean(), all.mean());
  for (double p : {50.0, 90.0, 99.0, 99.9}) EXPECT_EQ(ha.Percentile(p), all.Percentile(p));
}

TEST(Histogram, MergeIntoEmptyKeepsMinimum) {
  Histogram empty, h;
  h.Record(5000);
  empty.Merge(h);
  EXPECT_EQ(empty.min(), 5000u);
  EXPECT_EQ(empty.Percentile(50), 5000u);
}

TEST(Histogram, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.Percentile(99), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
}

TEST(Histogram, HugeValuesAreClamped) {
  Histogram h;
  h.Record(UINT64_MAX);
  EXPECT_EQ(h.max(), Histogram::kMaxValue);
  EXPECT_EQ(h.Percentile(50), Histogram::kMaxValue);
}

}  // namespace
}  // namespace raftkv::bench
