// AIMD controller: the state machine normal → throttled → recovering → normal.
#include "engine/shaping/aimd.h"

#include <algorithm>

#include "engine/assert.h"

namespace hayate::shaping {

Aimd::Aimd(const AimdConfig& config) : config_(config), limit_(config.ceiling) {
  HAYATE_ASSERT(config.floor > 0 && config.floor <= config.ceiling);
  HAYATE_ASSERT(config.decrease_factor > 0 && config.decrease_factor < 1);
  HAYATE_ASSERT(config.increase_step > 0);
  HAYATE_ASSERT(config.cooldown_ms >= 0 && config.increase_interval_ms >= 0);
}

std::optional<AimdChange> Aimd::change(AimdState to, double limit) {
  HAYATE_ASSERT(limit >= config_.floor && limit <= config_.ceiling);
  if (to == state_ && limit == limit_) return std::nullopt;
  AimdChange result{state_, to, limit_, limit};
  state_ = to;
  limit_ = limit;
  return result;
}

std::optional<AimdChange> Aimd::on_throttle(std::int64_t now_ms) {
  if (state_ == AimdState::throttled && now_ms - last_cut_ms_ < config_.cooldown_ms) {
    return std::nullopt;  // the same episode
  }
  last_cut_ms_ = now_ms;
  last_increase_ms_ = now_ms;
  ++cuts_;
  const double cut = std::max(config_.floor, limit_ * config_.decrease_factor);
  std::optional<AimdChange> result = change(AimdState::throttled, cut);
  // Already at the floor and throttled again after the cool-down: report it anyway, since a
  // new episode began (the caller logs that the floor holds).
  if (!result) result = AimdChange{state_, state_, limit_, limit_};
  return result;
}

std::optional<AimdChange> Aimd::on_success(std::int64_t now_ms) {
  if (state_ == AimdState::normal) return std::nullopt;
  if (state_ == AimdState::throttled) {
    if (now_ms - last_cut_ms_ < config_.cooldown_ms) return std::nullopt;
    // The cool-down is over: the first step up happens one interval after it ended.
    last_increase_ms_ = last_cut_ms_ + config_.cooldown_ms;
    if (now_ms - last_increase_ms_ < config_.increase_interval_ms) {
      return change(AimdState::recovering, limit_);
    }
  }
  if (now_ms - last_increase_ms_ < config_.increase_interval_ms) return std::nullopt;
  last_increase_ms_ = now_ms;
  const double raised = std::min(config_.ceiling, limit_ + config_.increase_step);
  return change(raised >= config_.ceiling ? AimdState::normal : AimdState::recovering, raised);
}

}  // namespace hayate::shaping
