// A circuit breaker per MX host: after K connection-level failures in a row (refused, timed
// out, TLS failed, closed before or during a transaction) the host is left alone for a
// cool-down, then one probe connection decides whether it is back. Pure: time is passed in.
#pragma once

#include <cstdint>
#include <optional>

namespace hayate::shaping {

struct BreakerConfig {
  std::uint32_t failures_to_open = 5;    // consecutive failures that open the breaker
  std::int64_t open_ms = 60'000;         // first cool-down
  double open_growth = 2;                // each further trip without a success in between
  std::int64_t open_max_ms = 3'600'000;  // the cool-down never grows past this
  // A probe that never reports (its connection was dropped unseen) stops blocking the next
  // probe after this long.
  std::int64_t probe_timeout_ms = 120'000;
};

// closed: connections flow. open: none until the cool-down ends. half_open: one probe.
enum class BreakerState : std::uint8_t { closed, open, half_open };

struct BreakerChange {
  BreakerState from;
  BreakerState to;
  std::int64_t open_until_ms;  // when to == open: the end of the cool-down
};

class CircuitBreaker {
 public:
  explicit CircuitBreaker(const BreakerConfig& config = {});

  // May a connection to this host start now? In half_open the first caller gets the probe
  // (true) and the rest false until it reports. `change` is set when the breaker moved from
  // open to half_open.
  bool allow_attempt(std::int64_t now_ms, std::optional<BreakerChange>* change = nullptr);
  // The connection reached its goal (a greeting and a transaction, or a clean QUIT).
  std::optional<BreakerChange> on_success(std::int64_t now_ms);
  // A connection-level failure (refused, timeout, TLS failure, early close).
  std::optional<BreakerChange> on_failure(std::int64_t now_ms);

  // The state as of `now_ms` (an open breaker whose cool-down ended reads half_open).
  BreakerState state(std::int64_t now_ms) const;
  // When an open breaker lets its probe through; meaningless when closed.
  std::int64_t open_until_ms() const { return open_until_ms_; }
  std::uint32_t trips() const { return trips_; }

 private:
  BreakerChange open(std::int64_t now_ms);

  BreakerConfig config_;
  BreakerState state_ = BreakerState::closed;
  std::uint32_t consecutive_failures_ = 0;
  std::uint32_t trips_ = 0;  // since the last success; sizes the next cool-down
  std::int64_t open_until_ms_ = 0;
  bool probe_in_flight_ = false;
  std::int64_t probe_started_ms_ = 0;
};

}  // namespace hayate::shaping
