// Retry schedule: exponential delays, jitter and expiry.
#include "engine/shaping/backoff.h"

#include <algorithm>
#include <cmath>

#include "engine/assert.h"

namespace hayate::shaping {
namespace {

// first × factor^(attempts-1), capped at max, computed without overflow.
std::int64_t exponential_ms(const BackoffConfig& config, std::uint32_t attempts) {
  const double exponent = static_cast<double>(std::min<std::uint32_t>(attempts - 1, 1024));
  const double grown =
      static_cast<double>(config.first_delay_ms) * std::pow(config.factor, exponent);
  if (!(grown < static_cast<double>(config.max_delay_ms))) return config.max_delay_ms;
  return static_cast<std::int64_t>(grown);
}

// low + u × (high - low), for u in [0, 1); low when high <= low.
std::int64_t between(std::int64_t low, std::int64_t high, double u) {
  if (high <= low) return low;
  HAYATE_ASSERT(u >= 0 && u < 1);
  const auto span = static_cast<double>(high - low);
  return low + std::min(high - low, static_cast<std::int64_t>(u * span));
}

}  // namespace

RetryDecision next_retry(const BackoffConfig& config, std::uint32_t attempts,
                         std::int64_t first_attempt_ms, std::int64_t now_ms,
                         std::int64_t previous_delay_ms, UniformRandom random) {
  HAYATE_ASSERT(attempts >= 1);
  HAYATE_ASSERT(config.first_delay_ms > 0 && config.max_delay_ms >= config.first_delay_ms);
  HAYATE_ASSERT(config.factor >= 1 && config.max_age_ms > 0);
  RetryDecision decision;
  const std::int64_t expires_at_ms = first_attempt_ms + config.max_age_ms;
  if (now_ms >= expires_at_ms) {
    decision.expired = true;
    return decision;
  }
  std::int64_t delay_ms = 0;
  switch (config.jitter) {
    case Jitter::none:
      delay_ms = exponential_ms(config, attempts);
      break;
    case Jitter::full:
      delay_ms = between(config.first_delay_ms, exponential_ms(config, attempts), random());
      break;
    case Jitter::decorrelated: {
      const double previous =
          static_cast<double>(std::max(previous_delay_ms, config.first_delay_ms));
      const double high =
          std::min(previous * config.factor, static_cast<double>(config.max_delay_ms));
      delay_ms = between(config.first_delay_ms, static_cast<std::int64_t>(high), random());
      break;
    }
  }
  delay_ms = std::clamp(delay_ms, config.first_delay_ms, config.max_delay_ms);
  decision.retry_at_ms = std::min(now_ms + delay_ms, expires_at_ms);
  decision.delay_ms = decision.retry_at_ms - now_ms;
  HAYATE_ASSERT(decision.delay_ms > 0 && decision.retry_at_ms <= expires_at_ms);
  return decision;
}

}  // namespace hayate::shaping
