// The limits of one destination × source IP on one shard, and how replies move them: GCRA
// pacing of transactions, AIMD on the rate and on the connection count (cut on a throttle
// reply, recovered additively when replies are clean), suspensions, and the warm-up cap.
// A shard holds its share of each configured limit (the limit divided among the shards, at
// least one connection). Pure state: time is passed in; the shard logs what changes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/shaping/aimd.h"
#include "engine/shaping/gcra.h"

namespace hayate::campaign::inline delivery {

struct ThrottleLimits {
  std::uint32_t connections_max = 1;  // this shard's share, at least 1
  shaping::Rate rate;                 // this shard's share; unlimited: none configured
  shaping::Rate rate_min{1, 60'000};  // a throttle never paces slower than this
  std::uint32_t messages_per_connection = 100;
  double throttle_factor = 0.5;
  std::int64_t throttle_cooldown_ms = 600'000;
  std::int64_t recovery_interval_ms = 60'000;
  // Messages this shard may send today from this source to this destination (warm-up);
  // nullopt: no cap.
  std::optional<std::uint64_t> warmup_remaining;
};

// Shard `index`'s part of `total` split among `shards`: equal parts, the remainder one each to
// the first shards, so the parts add up to exactly `total` (a warm-up cap of 5 on 2 shards
// is 3 + 2, not 2 + 2).
inline std::uint64_t share_of(std::uint64_t total, std::uint32_t shards, std::uint32_t index) {
  return total / shards + (index < total % shards ? 1 : 0);
}

// What changed, for the log line, the events file and the metrics.
enum class ThrottleEventType : std::uint8_t { throttled, suspended, recovered, resumed };
const char* throttle_event_name(ThrottleEventType type);

// How shaped a throttle is, least first: a group of throttles shows the worst of its own.
enum class ShapingState : std::uint8_t { normal, recovering, throttled, suspended };
const char* shaping_state_name(ShapingState state);

struct ThrottleEvent {
  ThrottleEventType type = ThrottleEventType::throttled;
  double rate_per_second_before = 0;  // 0: no pacing
  double rate_per_second_after = 0;
  std::uint32_t connections_before = 0;
  std::uint32_t connections_after = 0;
  std::int64_t until_ms = 0;  // suspended: the end of the suspension (shard clock)
};

class Throttle {
 public:
  Throttle(std::string destination, std::string source, const ThrottleLimits& limits,
           std::int64_t now_ms);

  const std::string& destination() const { return destination_; }
  const std::string& source() const { return source_; }
  std::uint32_t messages_per_connection() const { return limits_.messages_per_connection; }

  // Connections: the current allowance (cut by throttles) and those open.
  std::uint32_t connections_allowed() const;
  bool may_open_connection(std::int64_t now_ms) const;
  void connection_opened() { ++connections_open_; }
  void connection_closed();

  // May a transaction start now? True counts it against the rate and the warm-up cap.
  bool try_send(std::int64_t now_ms);
  // When try_send may next succeed (now_ms when it may now); INT64_MAX when the warm-up cap
  // for today is spent.
  std::int64_t next_send_ms(std::int64_t now_ms) const;
  bool warmup_spent() const { return limits_.warmup_remaining && *limits_.warmup_remaining == 0; }
  std::uint64_t sent() const { return sent_; }

  // A reply that says nothing about pace (delivered, or refused for the recipient's sake).
  std::optional<ThrottleEvent> on_clean_reply(std::int64_t now_ms);
  // A throttle reply: cut connections and, with `cut_rate`, the rate (once per cool-down);
  // `pause_ms` > 0 also suspends sending that long. A refusal at the greeting ("too many
  // connections") is about concurrency, not pace: the caller passes cut_rate = false.
  std::optional<ThrottleEvent> on_throttle(std::int64_t now_ms, std::int64_t pause_ms,
                                           bool cut_rate = true);
  // No transaction until now + `duration_ms` (a longer suspension in force is kept).
  std::optional<ThrottleEvent> suspend(std::int64_t now_ms, std::int64_t duration_ms);
  // A suspension that ended: the event once (the shard polls about once a second).
  std::optional<ThrottleEvent> poll(std::int64_t now_ms);

  bool suspended(std::int64_t now_ms) const { return now_ms < suspended_until_ms_; }
  std::int64_t suspended_until_ms() const { return suspended_until_ms_; }
  // "normal", "throttled", "recovering" or "suspended".
  ShapingState state(std::int64_t now_ms) const;
  bool shaped(std::int64_t now_ms) const;  // anything but normal
  double rate_per_second() const;          // the pace in force; 0: none

  std::uint64_t throttles() const { return throttles_; }
  std::uint64_t suspensions() const { return suspensions_; }
  std::uint64_t recoveries() const { return recoveries_; }

 private:
  // Messages per second over the last observation_seconds (or since the first send, when
  // that is more recent): the pace to cut from when none was configured.
  double observed_rate_per_second(std::int64_t now_ms) const;
  void count_sent(std::int64_t now_ms);
  ThrottleEvent event(ThrottleEventType type) const;
  void set_pace(double per_second, std::int64_t now_ms);  // gcra_ set

  std::string destination_;
  std::string source_;
  ThrottleLimits limits_;
  std::optional<shaping::Gcra> gcra_;       // none while unpaced
  std::optional<shaping::Aimd> rate_aimd_;  // in messages per second; set with gcra_
  shaping::Aimd connection_aimd_;
  std::uint32_t connections_open_ = 0;
  std::int64_t suspended_until_ms_ = 0;
  bool suspension_reported_ended_ = true;
  std::uint64_t sent_ = 0;
  // Sends in each of the last observation_seconds seconds, for observed_rate_per_second.
  static constexpr std::size_t observation_seconds = 10;
  std::uint32_t sent_per_second_[observation_seconds] = {};
  std::int64_t last_second_ = 0;     // the second (now_ms / 1000) of the newest bucket
  std::int64_t first_sent_ms_ = -1;  // the first send; -1: none yet
  std::uint64_t throttles_ = 0;
  std::uint64_t suspensions_ = 0;
  std::uint64_t recoveries_ = 0;
};

}  // namespace hayate::campaign::delivery
