// Additive-increase / multiplicative-decrease over one limit (a rate or a connection count),
// as TCP does with its window: a throttle reply cuts the limit by a factor, clean replies
// bring it back step by step. Pure: the caller passes the time and logs the transitions.
#pragma once

#include <cstdint>
#include <optional>

namespace hayate::shaping {

struct AimdConfig {
  double ceiling = 1;                  // the configured limit; recovery stops here
  double floor = 1;                    // a cut never goes below this
  double decrease_factor = 0.5;        // limit *= factor on a throttle signal, in (0, 1)
  double increase_step = 1;            // limit += step per recovery interval of clean replies
  std::int64_t cooldown_ms = 600'000;  // after a cut: no second cut, and no recovery, this long
  std::int64_t increase_interval_ms = 60'000;  // at most one step per interval
};

// normal: at the ceiling. throttled: cut, within the cool-down. recovering: past the
// cool-down, climbing back.
enum class AimdState : std::uint8_t { normal, throttled, recovering };

// What a signal changed, for the caller's log line and metrics.
struct AimdChange {
  AimdState from;
  AimdState to;
  double limit_before;
  double limit_after;
};

class Aimd {
 public:
  explicit Aimd(const AimdConfig& config);

  // A throttle reply. Cuts the limit unless a cut happened within the cool-down (one burst of
  // 421s on twenty connections is one signal, not twenty); a throttle during recovery cuts
  // from where the recovery had got to. nullopt when nothing changed.
  std::optional<AimdChange> on_throttle(std::int64_t now_ms);
  // A clean reply (accepted, or refused for a reason that is not about pace). Past the
  // cool-down, adds one step per increase interval up to the ceiling.
  std::optional<AimdChange> on_success(std::int64_t now_ms);

  double limit() const { return limit_; }
  AimdState state() const { return state_; }
  const AimdConfig& config() const { return config_; }
  std::uint64_t cuts() const { return cuts_; }

 private:
  std::optional<AimdChange> change(AimdState to, double limit);

  AimdConfig config_;
  double limit_;
  AimdState state_ = AimdState::normal;
  std::int64_t last_cut_ms_ = 0;
  std::int64_t last_increase_ms_ = 0;
  std::uint64_t cuts_ = 0;
};

}  // namespace hayate::shaping
