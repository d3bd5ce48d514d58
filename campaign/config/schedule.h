// When a campaign may send: [schedule] in the job file (start_at, stop_at, daily send windows,
// days, timezone). Pure: the caller passes the time in, so a cron-started run asks decide() once
// at start and again at next_change; nothing here reads a clock or a file but the zone's tzdata.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace hayate::campaign::inline config {

inline constexpr std::size_t send_windows_max = 64;  // per job; a day has 1440 minutes
inline constexpr std::uint16_t minutes_per_day = 24 * 60;
inline constexpr std::uint8_t every_day_mask = 0x7f;

// A daily send window as written, "09:00-12:00", in minutes after local midnight. end_minute
// at or before start_minute means the window crosses midnight ("22:00-02:00" ends at 02:00 the
// next day); 1440 is "24:00". A window belongs to the day it opens (for `days`).
struct SendWindow {
  std::uint16_t start_minute = 0;              // 0..1439
  std::uint16_t end_minute = minutes_per_day;  // 0..1440, != start_minute
  friend bool operator==(const SendWindow&, const SendWindow&) = default;
};

// [schedule], checked. The default sends at any time.
struct Schedule {
  absl::Time start_at = absl::InfinitePast();   // before it, nothing is sent
  absl::Time stop_at = absl::InfiniteFuture();  // from it on, no transaction starts
  std::vector<SendWindow> windows;              // as written; empty: the whole of each day
  std::uint8_t days_mask = every_day_mask;      // bit (1 << absl::Weekday): monday = bit 0
  std::string time_zone_name = "UTC";           // IANA name; windows and days are local to it
  absl::TimeZone time_zone = absl::UTCTimeZone();
};

enum class ScheduleState : std::uint8_t { open, before_start, outside_windows, after_stop };

struct ScheduleDecision {
  bool can_send = false;
  ScheduleState state = ScheduleState::open;
  // For a log line: "before start_at 2026-11-24 09:00 +09:00", "outside the send windows;
  // next window opens at 2026-11-24 13:00 +09:00", "after stop_at 2026-11-24 21:00 +09:00",
  // or, when open, "open until 2026-11-24 12:00 +09:00" / "open, no end".
  std::string reason;
  // When can_send flips: the end of the current window (or stop_at), or the opening of the
  // next window; absl::InfiniteFuture() when it never will.
  absl::Time next_change = absl::InfiniteFuture();
};

// Whether `schedule` lets a transaction start at `now`, and until when that holds. Windows
// that overlap or touch (also across midnight, and "00:00-24:00" on consecutive days) count as
// one. Across a DST change a window opens the first time the local clock reads its start and
// closes the first time it reads its end: a start or end in a skipped hour becomes the moment
// of the change (02:00-03:00 on a spring-forward day never opens), and a repeated hour counts
// from its first occurrence (02:00-03:00 on a fall-back day lasts two hours).
ScheduleDecision decide(const Schedule& schedule, absl::Time now);

// Parsers for the job loader; on failure `error` says what is wrong, without a location.

// "HH:MM-HH:MM", spaces around '-' allowed; hours 00-23, "24:00" only as an end.
bool parse_send_window(std::string_view text, SendWindow& window, std::string& error);

// "mon".."sun" or "monday".."sunday", any case.
bool parse_weekday(std::string_view text, absl::Weekday& day, std::string& error);

// An IANA zone name such as "Asia/Tokyo" or "UTC", loaded from the system's tzdata. Names that
// could reach outside the zoneinfo directory ("..", "/etc/passwd") or depend on the machine
// ("localtime") are refused.
bool load_time_zone(std::string_view name, absl::TimeZone& zone, std::string& error);

// A date and time as a job file writes it: TOML's offset or local date-time, or RFC 3339 text.
struct WrittenDateTime {
  std::int64_t year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;  // 60 (a leap second) is read as the next minute's 00
  std::uint32_t nanosecond = 0;
  std::optional<int> offset_minutes;  // none: a local time in the schedule's zone
};

// The instant `written` names; a local time in a skipped hour becomes the moment of the change,
// one in a repeated hour its first occurrence (as for windows).
bool to_time(const WrittenDateTime& written, const absl::TimeZone& zone, absl::Time& time,
             std::string& error);

// RFC 3339 5.6 "2026-11-24T09:00:00+09:00" ('T', 't' or a space; "Z"; fraction and seconds
// optional); without an offset, a local time in `zone`.
bool parse_date_time(std::string_view text, const absl::TimeZone& zone, absl::Time& time,
                     std::string& error);

// "2026-11-24 09:00 +09:00" in `zone` (seconds shown only when not zero).
std::string format_schedule_time(absl::Time time, const absl::TimeZone& zone);

}  // namespace hayate::campaign::config
