// One destination × source on one shard: pacing, AIMD and suspensions (see throttle.h).
#include "campaign/delivery/throttle.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/assert.h"

namespace hayate::campaign::inline delivery {

namespace {

// A pace in messages per second as a Rate: counted per hour so that slow paces (a few an
// hour) keep their precision and fast ones (thousands a second) still fit.
shaping::Rate rate_of(double per_second) {
  const double per_hour = std::clamp(per_second * 3600, 1.0, 4e9);
  return shaping::Rate{static_cast<std::uint32_t>(std::llround(per_hour)), 3'600'000};
}

// The shard's clock counts whole milliseconds: a pace above 1,000/s needs that many sends
// allowed within one millisecond, or it would top out at 1,000/s.
std::uint32_t burst_for(const shaping::Rate& rate) {
  const double per_millisecond = rate.per_second() / 1000;
  return static_cast<std::uint32_t>(std::clamp(std::ceil(per_millisecond), 1.0, 1e6));
}

shaping::AimdConfig connection_config(const ThrottleLimits& limits) {
  shaping::AimdConfig config;
  config.ceiling = std::max<std::uint32_t>(1, limits.connections_max);
  config.floor = 1;
  config.decrease_factor = limits.throttle_factor;
  config.increase_step = 1;
  config.cooldown_ms = limits.throttle_cooldown_ms;
  config.increase_interval_ms = limits.recovery_interval_ms;
  return config;
}

shaping::AimdConfig rate_config(const ThrottleLimits& limits, double ceiling_per_second) {
  shaping::AimdConfig config;
  config.ceiling = ceiling_per_second;
  config.floor = std::min(limits.rate_min.per_second(), ceiling_per_second);
  config.decrease_factor = limits.throttle_factor;
  config.increase_step = ceiling_per_second / 10;  // ten clean intervals back to the ceiling
  config.cooldown_ms = limits.throttle_cooldown_ms;
  config.increase_interval_ms = limits.recovery_interval_ms;
  return config;
}

int severity(shaping::AimdState state) {
  switch (state) {
    case shaping::AimdState::normal:
      return 0;
    case shaping::AimdState::recovering:
      return 1;
    case shaping::AimdState::throttled:
      return 2;
  }
  return 0;
}

}  // namespace

const char* throttle_event_name(ThrottleEventType type) {
  switch (type) {
    case ThrottleEventType::throttled:
      return "throttled";
    case ThrottleEventType::suspended:
      return "suspended";
    case ThrottleEventType::recovered:
      return "recovered";
    case ThrottleEventType::resumed:
      return "resumed";
  }
  return "unknown";
}

Throttle::Throttle(std::string destination, std::string source, const ThrottleLimits& limits,
                   std::int64_t now_ms)
    : destination_(std::move(destination)),
      source_(std::move(source)),
      limits_(limits),
      connection_aimd_(connection_config(limits)) {
  (void)now_ms;
  HAYATE_ASSERT(limits.throttle_factor > 0 && limits.throttle_factor < 1);
  HAYATE_ASSERT(!limits.rate_min.unlimited());
  if (!limits.rate.unlimited()) {
    gcra_.emplace(limits.rate, burst_for(limits.rate));
    rate_aimd_.emplace(rate_config(limits, limits.rate.per_second()));
  }
}

std::uint32_t Throttle::connections_allowed() const {
  return std::max<std::uint32_t>(
      1, static_cast<std::uint32_t>(std::floor(connection_aimd_.limit() + 1e-9)));
}

bool Throttle::may_open_connection(std::int64_t now_ms) const {
  return !suspended(now_ms) && !warmup_spent() && connections_open_ < connections_allowed();
}

void Throttle::connection_closed() {
  HAYATE_ASSERT(connections_open_ > 0);
  --connections_open_;
}

void Throttle::count_sent(std::int64_t now_ms) {
  const std::int64_t second = now_ms / 1000;
  if (first_sent_ms_ < 0) {
    first_sent_ms_ = now_ms;
    last_second_ = second;
  }
  // Clear the buckets of the seconds that passed without a send (all of them after a gap).
  for (std::int64_t s = last_second_ + 1;
       s <= second && s <= last_second_ + static_cast<std::int64_t>(observation_seconds); ++s) {
    sent_per_second_[static_cast<std::size_t>(s) % observation_seconds] = 0;
  }
  if (second > last_second_) last_second_ = second;
  ++sent_per_second_[static_cast<std::size_t>(second) % observation_seconds];
  ++sent_;
}

double Throttle::observed_rate_per_second(std::int64_t now_ms) const {
  if (first_sent_ms_ < 0) return limits_.rate_min.per_second();
  const std::int64_t second = now_ms / 1000;
  std::uint64_t sent = 0;
  for (std::size_t i = 0; i < observation_seconds; ++i) {
    const std::int64_t bucket_second = second - static_cast<std::int64_t>(i);
    if (bucket_second > last_second_ || bucket_second < first_sent_ms_ / 1000 ||
        bucket_second <= last_second_ - static_cast<std::int64_t>(observation_seconds)) {
      continue;  // after the newest bucket, before the first send, or overwritten since
    }
    sent += sent_per_second_[static_cast<std::size_t>(bucket_second) % observation_seconds];
  }
  const double covered_s = std::clamp(static_cast<double>(now_ms - first_sent_ms_) / 1000.0, 1.0,
                                      static_cast<double>(observation_seconds));
  return std::max(static_cast<double>(sent) / covered_s, limits_.rate_min.per_second());
}

bool Throttle::try_send(std::int64_t now_ms) {
  if (suspended(now_ms) || warmup_spent()) return false;
  if (gcra_ && !gcra_->try_acquire(now_ms)) return false;
  if (limits_.warmup_remaining) --*limits_.warmup_remaining;
  count_sent(now_ms);
  return true;
}

std::int64_t Throttle::next_send_ms(std::int64_t now_ms) const {
  if (warmup_spent()) return std::numeric_limits<std::int64_t>::max();
  std::int64_t at = std::max(now_ms, suspended_until_ms_);
  if (gcra_) at = std::max(at, gcra_->next_allowed(now_ms));
  return at;
}

void Throttle::set_pace(double per_second, std::int64_t now_ms) {
  const shaping::Rate rate = rate_of(per_second);
  if (burst_for(rate) != gcra_->burst()) {
    gcra_.emplace(rate, burst_for(rate));  // a new burst: start afresh at the new pace
  } else {
    gcra_->set_rate(rate, now_ms);
  }
}

ThrottleEvent Throttle::event(ThrottleEventType type) const {
  ThrottleEvent event;
  event.type = type;
  event.rate_per_second_before = event.rate_per_second_after = rate_per_second();
  event.connections_before = event.connections_after = connections_allowed();
  event.until_ms = suspended_until_ms_;
  return event;
}

std::optional<ThrottleEvent> Throttle::on_clean_reply(std::int64_t now_ms) {
  const bool was_shaped =
      severity(connection_aimd_.state()) > 0 || (rate_aimd_ && severity(rate_aimd_->state()) > 0);
  if (!was_shaped) return std::nullopt;
  ThrottleEvent result = event(ThrottleEventType::recovered);
  connection_aimd_.on_success(now_ms);
  if (rate_aimd_) {
    if (rate_aimd_->on_success(now_ms)) set_pace(rate_aimd_->limit(), now_ms);
    if (rate_aimd_->state() == shaping::AimdState::normal && limits_.rate.unlimited()) {
      gcra_.reset();  // back to the pace it had before any throttle: none
      rate_aimd_.reset();
    }
  }
  const bool shaped =
      severity(connection_aimd_.state()) > 0 || (rate_aimd_ && severity(rate_aimd_->state()) > 0);
  if (shaped) return std::nullopt;  // still climbing: one event when it is back
  ++recoveries_;
  result.rate_per_second_after = rate_per_second();
  result.connections_after = connections_allowed();
  return result;
}

std::optional<ThrottleEvent> Throttle::on_throttle(std::int64_t now_ms, std::int64_t pause_ms,
                                                   bool cut_rate) {
  ThrottleEvent result = event(ThrottleEventType::throttled);
  if (!rate_aimd_ && cut_rate) {
    // No pace was configured: cut from the pace observed until now.
    const double observed = observed_rate_per_second(now_ms);
    rate_aimd_.emplace(rate_config(limits_, observed));
    gcra_.emplace(rate_of(observed), burst_for(rate_of(observed)));
  }
  const bool connections_cut = connection_aimd_.on_throttle(now_ms).has_value();
  const bool rate_cut = cut_rate && rate_aimd_->on_throttle(now_ms).has_value();
  if (rate_cut) set_pace(rate_aimd_->limit(), now_ms);
  if (pause_ms > 0) {
    if (std::optional<ThrottleEvent> paused = suspend(now_ms, pause_ms);
        paused && !connections_cut && !rate_cut) {
      return paused;
    }
  }
  if (!connections_cut && !rate_cut) return std::nullopt;  // within the cool-down of a cut
  ++throttles_;
  result.rate_per_second_after = rate_per_second();
  result.connections_after = connections_allowed();
  result.until_ms = suspended_until_ms_;
  return result;
}

std::optional<ThrottleEvent> Throttle::suspend(std::int64_t now_ms, std::int64_t duration_ms) {
  HAYATE_ASSERT(duration_ms >= 0);
  const std::int64_t until = now_ms + duration_ms;
  if (until <= suspended_until_ms_) return std::nullopt;
  const bool was_suspended = suspended(now_ms);
  suspended_until_ms_ = until;
  suspension_reported_ended_ = false;
  if (was_suspended) return std::nullopt;  // extended, not a new suspension
  ++suspensions_;
  return event(ThrottleEventType::suspended);
}

std::optional<ThrottleEvent> Throttle::poll(std::int64_t now_ms) {
  if (suspension_reported_ended_ || suspended(now_ms)) return std::nullopt;
  suspension_reported_ended_ = true;
  return event(ThrottleEventType::resumed);
}

const char* shaping_state_name(ShapingState state) {
  switch (state) {
    case ShapingState::normal:
      return "normal";
    case ShapingState::recovering:
      return "recovering";
    case ShapingState::throttled:
      return "throttled";
    case ShapingState::suspended:
      return "suspended";
  }
  return "normal";
}

ShapingState Throttle::state(std::int64_t now_ms) const {
  if (suspended(now_ms)) return ShapingState::suspended;
  const int worst =
      std::max(severity(connection_aimd_.state()), rate_aimd_ ? severity(rate_aimd_->state()) : 0);
  return worst == 2   ? ShapingState::throttled
         : worst == 1 ? ShapingState::recovering
                      : ShapingState::normal;
}

bool Throttle::shaped(std::int64_t now_ms) const { return state(now_ms) != ShapingState::normal; }

double Throttle::rate_per_second() const { return gcra_ ? gcra_->rate().per_second() : 0; }

}  // namespace hayate::campaign::delivery
