// Generic Cell Rate Algorithm (ITU-T I.371, the "virtual scheduling" form): a rate limiter that
// spaces cells evenly instead of letting a bucket refill and burst. One theoretical arrival
// time is the whole state, so a limiter costs 24 bytes and a check is a compare and an add.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hayate::shaping {

// N events per period. count == 0 means no limit.
struct Rate {
  std::uint32_t count = 0;
  std::int64_t period_ms = 1000;

  bool unlimited() const { return count == 0; }
  // Events per second, for logs and arithmetic (0 when unlimited).
  double per_second() const;
  friend bool operator==(const Rate&, const Rate&) = default;
};

// "600/min", "10/s", "20000/h", "50000/d"; units: s, sec, second, m, min, minute, h, hour, d,
// day. A count of 0 is not a rate ("unlimited" is spelled by leaving the key out). False with
// `error` set when `text` is none of these.
bool parse_rate(std::string_view text, Rate& rate, std::string& error);

// A limiter for one stream (a source × destination, say). `burst` is how many events may go
// back to back after an idle spell (1: perfectly smooth, every event one interval apart).
class Gcra {
 public:
  explicit Gcra(Rate rate, std::uint32_t burst = 1);

  // True, and the event is counted, when it may happen at `now_ms`; false leaves no trace.
  bool try_acquire(std::int64_t now_ms);
  // The earliest time at or after `now_ms` when try_acquire will succeed.
  std::int64_t next_allowed(std::int64_t now_ms) const;
  // A new rate (AIMD cuts and restores it). Events already admitted keep their weight: the
  // backlog they left is rescaled to the new interval, so a cut slows the next event at once
  // and a raise does not forgive a burst that just went out.
  void set_rate(Rate rate, std::int64_t now_ms);

  const Rate& rate() const { return rate_; }
  std::uint32_t burst() const { return burst_; }

 private:
  static std::int64_t interval_ns_of(const Rate& rate);

  Rate rate_;
  std::uint32_t burst_;
  std::int64_t interval_ns_;   // emission interval T, rounded up: never faster than the rate
  std::int64_t tolerance_ns_;  // (burst - 1) * T
  std::int64_t theoretical_arrival_ns_ = INT64_MIN;  // TAT; INT64_MIN: nothing admitted yet
};

}  // namespace hayate::shaping
