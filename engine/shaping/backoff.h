// The retry schedule of a deferred recipient: exponential backoff with jitter, so that the
// recipients deferred by one 421 burst do not all come back in the same second, and an age
// limit after which a recipient expires (and becomes a bounce with reason "expired").
// Pure: time and the random source are passed in.
#pragma once

#include <cstdint>

#include "absl/functional/function_ref.h"

namespace hayate::shaping {

// none: the exponential delay as it is. full: uniform between first_delay and the exponential
// delay (AWS "full jitter", with the first delay as its floor so no retry comes back at once).
// decorrelated: uniform between first_delay and factor × the previous delay, capped (AWS
// "decorrelated jitter"): spreads as well and keeps growing without an attempt counter.
enum class Jitter : std::uint8_t { none, full, decorrelated };

struct BackoffConfig {
  std::int64_t first_delay_ms = 60'000;
  double factor = 2;
  std::int64_t max_delay_ms = 3'600'000;
  std::int64_t max_age_ms = 3 * 86'400'000LL;  // from the first attempt
  Jitter jitter = Jitter::full;
};

// Uniform in [0, 1). Tests pass a fixed value; production wraps absl::BitGen.
using UniformRandom = absl::FunctionRef<double()>;

struct RetryDecision {
  bool expired = false;          // give up: the recipient is older than max_age
  std::int64_t retry_at_ms = 0;  // when not expired
  std::int64_t delay_ms = 0;     // retry_at_ms - now_ms; the next call's previous_delay_ms
};

// The retry after failed attempt number `attempts` (1 after the first failure) at `now_ms`, of
// a recipient first tried at `first_attempt_ms`. `previous_delay_ms` is the delay returned
// last time (0 before the first retry). The last retry is pulled in to land at max_age
// exactly, so a recipient is tried once more at its age limit before it expires.
RetryDecision next_retry(const BackoffConfig& config, std::uint32_t attempts,
                         std::int64_t first_attempt_ms, std::int64_t now_ms,
                         std::int64_t previous_delay_ms, UniformRandom random);

}  // namespace hayate::shaping
