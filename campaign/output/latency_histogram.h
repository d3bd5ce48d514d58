// The distribution of delivery latencies (a transaction's time from its first command to the
// reply that decided the recipient), in fixed buckets: each shard fills its own, the run adds
// them up for the metrics (a Prometheus histogram), status.json and the report. Fixed size,
// no allocation: the same at ten recipients or ten million.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace hayate::campaign::inline output {

struct LatencyHistogram {
  // Upper bounds of the buckets, in milliseconds; one more bucket holds what is above the last.
  static constexpr std::array<double, 14> bounds_ms = {
      5, 10, 25, 50, 100, 250, 500, 1'000, 2'500, 5'000, 10'000, 30'000, 60'000, 300'000};
  static constexpr std::size_t bucket_count = bounds_ms.size() + 1;

  std::array<std::uint64_t, bucket_count> counts{};  // per bucket, not cumulative
  std::uint64_t count = 0;
  double sum_ms = 0;

  void add(double latency_ms) {
    std::size_t bucket = 0;
    while (bucket < bounds_ms.size() && latency_ms > bounds_ms[bucket]) ++bucket;
    ++counts[bucket];
    ++count;
    sum_ms += latency_ms;
  }
  void merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < bucket_count; ++i) counts[i] += other.counts[i];
    count += other.count;
    sum_ms += other.sum_ms;
  }
  // The latency below which `fraction` (0..1) of the samples lie, as the upper bound of the
  // bucket that holds it (the last bound for the open bucket); 0 when empty.
  double quantile_ms(double fraction) const {
    if (count == 0) return 0;
    const double wanted = fraction * static_cast<double>(count);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts[i];
      if (static_cast<double>(seen) >= wanted && counts[i] > 0) {
        return i < bounds_ms.size() ? bounds_ms[i] : bounds_ms.back();
      }
    }
    return bounds_ms.back();
  }
};

}  // namespace hayate::campaign::output
