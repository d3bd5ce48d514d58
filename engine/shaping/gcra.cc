// GCRA limiter and the "N/unit" rate syntax of the shaping rules.
#include "engine/shaping/gcra.h"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::shaping {
namespace {

constexpr std::int64_t ns_per_ms = 1'000'000;
// A bound on counts so that the emission interval stays at least 1 ns for any period and the
// arithmetic below cannot overflow.
constexpr std::uint32_t rate_count_max = 1'000'000'000;

struct Unit {
  std::string_view name;
  std::int64_t period_ms;
};
constexpr std::array<Unit, 10> units = {{{"s", 1'000},
                                         {"sec", 1'000},
                                         {"second", 1'000},
                                         {"m", 60'000},
                                         {"min", 60'000},
                                         {"minute", 60'000},
                                         {"h", 3'600'000},
                                         {"hour", 3'600'000},
                                         {"d", 86'400'000},
                                         {"day", 86'400'000}}};

std::int64_t to_ns(std::int64_t ms) {
  constexpr std::int64_t limit = std::numeric_limits<std::int64_t>::max() / ns_per_ms;
  HAYATE_ASSERT(ms <= limit && ms >= -limit);  // about 292 years either side of the epoch
  return ms * ns_per_ms;
}

}  // namespace

double Rate::per_second() const {
  if (unlimited()) return 0;
  return static_cast<double>(count) * 1000.0 / static_cast<double>(period_ms);
}

bool parse_rate(std::string_view text, Rate& rate, std::string& error) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0) {
    error = cat("'", text, "' is not a rate; write e.g. \"600/min\", \"10/s\" or \"20000/h\"");
    return false;
  }
  std::uint64_t count = 0;
  for (char c : text.substr(0, slash)) {
    if (c < '0' || c > '9') {
      error = cat("'", text, "' is not a rate: the count must be a whole number");
      return false;
    }
    count = count * 10 + static_cast<std::uint64_t>(c - '0');
    if (count > rate_count_max) {
      error = cat("'", text, "' is not a rate: the count must be at most ", rate_count_max);
      return false;
    }
  }
  if (count == 0) {
    error = cat("'", text, "': a rate of 0 sends nothing; leave the key out for no limit");
    return false;
  }
  const std::string_view unit = text.substr(slash + 1);
  for (const Unit& candidate : units) {
    if (unit == candidate.name) {
      rate.count = static_cast<std::uint32_t>(count);
      rate.period_ms = candidate.period_ms;
      return true;
    }
  }
  error = cat("'", text, "' is not a rate: the unit after '/' must be s, min, h or d");
  return false;
}

std::int64_t Gcra::interval_ns_of(const Rate& rate) {
  if (rate.unlimited()) return 0;
  HAYATE_ASSERT(rate.period_ms > 0 && rate.count <= rate_count_max);
  const std::int64_t period_ns = to_ns(rate.period_ms);
  // Rounded up: 7/s admits one event every 142,857,143 ns, never an eighth within the second.
  return (period_ns + rate.count - 1) / rate.count;
}

Gcra::Gcra(Rate rate, std::uint32_t burst)
    : rate_(rate),
      burst_(burst),
      interval_ns_(interval_ns_of(rate)),
      tolerance_ns_(interval_ns_ * static_cast<std::int64_t>(burst > 0 ? burst - 1 : 0)) {
  HAYATE_ASSERT(burst >= 1 && burst <= rate_count_max);
}

bool Gcra::try_acquire(std::int64_t now_ms) {
  if (rate_.unlimited()) return true;
  const std::int64_t now_ns = to_ns(now_ms);
  const std::int64_t arrival_ns = std::max(theoretical_arrival_ns_, now_ns);
  if (arrival_ns - now_ns > tolerance_ns_) return false;
  theoretical_arrival_ns_ = arrival_ns + interval_ns_;
  HAYATE_ASSERT(theoretical_arrival_ns_ > now_ns);
  return true;
}

std::int64_t Gcra::next_allowed(std::int64_t now_ms) const {
  if (rate_.unlimited()) return now_ms;
  const std::int64_t now_ns = to_ns(now_ms);
  if (theoretical_arrival_ns_ == INT64_MIN || theoretical_arrival_ns_ - now_ns <= tolerance_ns_) {
    return now_ms;
  }
  const std::int64_t allowed_ns = theoretical_arrival_ns_ - tolerance_ns_;
  const std::int64_t allowed_ms = (allowed_ns + ns_per_ms - 1) / ns_per_ms;  // round up
  HAYATE_ASSERT(allowed_ms > now_ms);
  return allowed_ms;
}

void Gcra::set_rate(Rate rate, std::int64_t now_ms) {
  const std::int64_t old_interval_ns = interval_ns_;
  rate_ = rate;
  interval_ns_ = interval_ns_of(rate);
  tolerance_ns_ = interval_ns_ * static_cast<std::int64_t>(burst_ - 1);
  if (rate.unlimited() || old_interval_ns == 0 || theoretical_arrival_ns_ == INT64_MIN) return;
  const std::int64_t now_ns = to_ns(now_ms);
  const std::int64_t backlog_ns = theoretical_arrival_ns_ - now_ns;
  if (backlog_ns <= 0) return;  // idle long enough: nothing owed at either rate
  // The same number of cells still owed, each now worth the new interval.
  const __int128 scaled =
      static_cast<__int128>(backlog_ns) * interval_ns_ / static_cast<__int128>(old_interval_ns);
  const __int128 limit = std::numeric_limits<std::int64_t>::max() - now_ns;
  theoretical_arrival_ns_ = now_ns + static_cast<std::int64_t>(std::min(scaled, limit));
}

}  // namespace hayate::shaping
