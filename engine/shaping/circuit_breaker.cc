// Circuit breaker: closed → open after K failures → half_open after the cool-down → closed on a
// successful probe, or open again (for longer) on a failed one.
#include "engine/shaping/circuit_breaker.h"

#include <algorithm>
#include <cmath>

#include "engine/assert.h"

namespace hayate::shaping {

CircuitBreaker::CircuitBreaker(const BreakerConfig& config) : config_(config) {
  HAYATE_ASSERT(config.failures_to_open >= 1);
  HAYATE_ASSERT(config.open_ms > 0 && config.open_max_ms >= config.open_ms);
  HAYATE_ASSERT(config.open_growth >= 1);
}

BreakerState CircuitBreaker::state(std::int64_t now_ms) const {
  if (state_ == BreakerState::open && now_ms >= open_until_ms_) return BreakerState::half_open;
  return state_;
}

BreakerChange CircuitBreaker::open(std::int64_t now_ms) {
  // open_ms × growth^trips, capped; computed in double and clamped before the conversion.
  const double grown = static_cast<double>(config_.open_ms) *
                       std::pow(config_.open_growth, static_cast<double>(std::min(trips_, 64u)));
  const std::int64_t duration_ms = grown >= static_cast<double>(config_.open_max_ms)
                                       ? config_.open_max_ms
                                       : static_cast<std::int64_t>(grown);
  ++trips_;
  const BreakerChange change{state_, BreakerState::open, now_ms + duration_ms};
  state_ = BreakerState::open;
  open_until_ms_ = change.open_until_ms;
  probe_in_flight_ = false;
  consecutive_failures_ = 0;
  HAYATE_ASSERT(duration_ms > 0 && duration_ms <= config_.open_max_ms);
  return change;
}

bool CircuitBreaker::allow_attempt(std::int64_t now_ms, std::optional<BreakerChange>* change) {
  if (change != nullptr) change->reset();
  switch (state_) {
    case BreakerState::closed:
      return true;
    case BreakerState::open:
      if (now_ms < open_until_ms_) return false;
      state_ = BreakerState::half_open;
      if (change != nullptr) {
        *change = BreakerChange{BreakerState::open, BreakerState::half_open, open_until_ms_};
      }
      probe_in_flight_ = true;
      probe_started_ms_ = now_ms;
      return true;
    case BreakerState::half_open:
      if (probe_in_flight_ && now_ms - probe_started_ms_ < config_.probe_timeout_ms) return false;
      probe_in_flight_ = true;
      probe_started_ms_ = now_ms;
      return true;
  }
  return false;
}

std::optional<BreakerChange> CircuitBreaker::on_success(std::int64_t now_ms) {
  (void)now_ms;
  consecutive_failures_ = 0;
  trips_ = 0;
  probe_in_flight_ = false;
  if (state_ == BreakerState::closed) return std::nullopt;
  // A success while open comes from a connection opened before the breaker tripped: the host
  // answers after all, so close.
  const BreakerChange change{state_, BreakerState::closed, 0};
  state_ = BreakerState::closed;
  return change;
}

std::optional<BreakerChange> CircuitBreaker::on_failure(std::int64_t now_ms) {
  switch (state_) {
    case BreakerState::closed:
      ++consecutive_failures_;
      if (consecutive_failures_ < config_.failures_to_open) return std::nullopt;
      return open(now_ms);
    case BreakerState::half_open:
      return open(now_ms);  // the probe failed: a longer cool-down
    case BreakerState::open:
      // Connections opened before the trip fail late; they do not extend the cool-down.
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace hayate::shaping
