// Tests for campaign/schedule: exact decisions (can_send, reason, next_change) at injected
// times, across midnight, week ends and the DST changes of Europe/Berlin, and the parsers the
// job loader uses for [schedule].
#include "campaign/config/schedule.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace hayate::campaign {
namespace {

// An RFC 3339 instant; fails the test when it does not parse.
absl::Time at(std::string_view text) {
  absl::Time time;
  std::string error;
  EXPECT_TRUE(parse_date_time(text, absl::UTCTimeZone(), time, error)) << text << ": " << error;
  return time;
}

absl::TimeZone zone(std::string_view name) {
  absl::TimeZone loaded;
  std::string error;
  EXPECT_TRUE(load_time_zone(name, loaded, error)) << name << ": " << error;
  return loaded;
}

struct ScheduleSpec {
  std::string time_zone = "UTC";
  std::vector<std::string_view> windows = {};  // "= {}": designated initializers may skip it
  std::vector<std::string_view> days = {};
  std::string_view start_at = {};
  std::string_view stop_at = {};
};

Schedule make(const ScheduleSpec& spec) {
  Schedule schedule;
  schedule.time_zone_name = spec.time_zone;
  schedule.time_zone = zone(spec.time_zone);
  std::string error;
  for (std::string_view text : spec.windows) {
    SendWindow window;
    EXPECT_TRUE(parse_send_window(text, window, error)) << text << ": " << error;
    schedule.windows.push_back(window);
  }
  if (!spec.days.empty()) schedule.days_mask = 0;
  for (std::string_view text : spec.days) {
    absl::Weekday day;
    EXPECT_TRUE(parse_weekday(text, day, error)) << text << ": " << error;
    schedule.days_mask |= static_cast<std::uint8_t>(1u << static_cast<int>(day));
  }
  if (!spec.start_at.empty()) schedule.start_at = at(spec.start_at);
  if (!spec.stop_at.empty()) schedule.stop_at = at(spec.stop_at);
  return schedule;
}

// One expected decision; next_change "" means InfiniteFuture.
void expect_decision(const Schedule& schedule, std::string_view now, bool can_send,
                     ScheduleState state, std::string_view reason, std::string_view next_change) {
  const ScheduleDecision decision = decide(schedule, at(now));
  EXPECT_EQ(decision.can_send, can_send) << "at " << now;
  EXPECT_EQ(decision.state, state) << "at " << now;
  EXPECT_EQ(decision.reason, reason) << "at " << now;
  const absl::Time expected = next_change.empty() ? absl::InfiniteFuture() : at(next_change);
  EXPECT_EQ(decision.next_change, expected)
      << "at " << now << ": got " << absl::FormatTime(decision.next_change) << ", expected "
      << absl::FormatTime(expected);
}

constexpr ScheduleState kOpen = ScheduleState::open;
constexpr ScheduleState kBefore = ScheduleState::before_start;
constexpr ScheduleState kOutside = ScheduleState::outside_windows;
constexpr ScheduleState kAfter = ScheduleState::after_stop;

TEST(ScheduleTest, DefaultIsAlwaysOpen) {
  const Schedule schedule;
  expect_decision(schedule, "2026-11-24T09:00:00Z", true, kOpen, "open, no end", "");
  expect_decision(schedule, "1970-01-01T00:00:00Z", true, kOpen, "open, no end", "");
  expect_decision(schedule, "9999-12-31T23:59:59Z", true, kOpen, "open, no end", "");
}

// The README's example: two windows on weekdays in Tokyo, one day between start_at and stop_at.
TEST(ScheduleTest, TokyoWorkingDay) {
  const Schedule schedule = make({.time_zone = "Asia/Tokyo",
                                  .windows = {"09:00-12:00", "13:00-18:00"},
                                  .days = {"mon", "tue", "wed", "thu", "fri"},
                                  .start_at = "2026-11-24T09:00:00+09:00",
                                  .stop_at = "2026-11-24T21:00:00+09:00"});
  expect_decision(schedule, "2026-11-24T08:59:59+09:00", false, kBefore,
                  "before start_at 2026-11-24 09:00 +09:00", "2026-11-24T09:00:00+09:00");
  expect_decision(schedule, "2026-11-01T00:00:00Z", false, kBefore,
                  "before start_at 2026-11-24 09:00 +09:00", "2026-11-24T09:00:00+09:00");
  expect_decision(schedule, "2026-11-24T09:00:00+09:00", true, kOpen,
                  "open until 2026-11-24 12:00 +09:00", "2026-11-24T12:00:00+09:00");
  expect_decision(schedule, "2026-11-24T11:59:59.999999999+09:00", true, kOpen,
                  "open until 2026-11-24 12:00 +09:00", "2026-11-24T12:00:00+09:00");
  expect_decision(schedule, "2026-11-24T12:00:00+09:00", false, kOutside,
                  "outside the send windows; next window opens at 2026-11-24 13:00 +09:00",
                  "2026-11-24T13:00:00+09:00");
  expect_decision(schedule, "2026-11-24T03:30:00Z", false, kOutside,  // 12:30 in Tokyo
                  "outside the send windows; next window opens at 2026-11-24 13:00 +09:00",
                  "2026-11-24T13:00:00+09:00");
  expect_decision(schedule, "2026-11-24T17:30:00+09:00", true, kOpen,
                  "open until 2026-11-24 18:00 +09:00", "2026-11-24T18:00:00+09:00");
  // Tomorrow's window opens after stop_at: nothing more to wait for.
  expect_decision(schedule, "2026-11-24T18:00:00+09:00", false, kOutside,
                  "outside the send windows; none opens before stop_at 2026-11-24 21:00 +09:00",
                  "");
  expect_decision(schedule, "2026-11-24T21:00:00+09:00", false, kAfter,
                  "after stop_at 2026-11-24 21:00 +09:00", "");
  expect_decision(schedule, "2027-01-01T00:00:00Z", false, kAfter,
                  "after stop_at 2026-11-24 21:00 +09:00", "");
}

TEST(ScheduleTest, StopAtCutsAWindowShort) {
  const Schedule schedule = make({.time_zone = "Asia/Tokyo",
                                  .windows = {"09:00-12:00", "13:00-18:00"},
                                  .stop_at = "2026-11-24T15:30:00+09:00"});
  expect_decision(schedule, "2026-11-24T14:00:00+09:00", true, kOpen,
                  "open until 2026-11-24 15:30 +09:00", "2026-11-24T15:30:00+09:00");
  expect_decision(schedule, "2026-11-24T15:29:59+09:00", true, kOpen,
                  "open until 2026-11-24 15:30 +09:00", "2026-11-24T15:30:00+09:00");
  expect_decision(schedule, "2026-11-24T15:30:00+09:00", false, kAfter,
                  "after stop_at 2026-11-24 15:30 +09:00", "");
}

TEST(ScheduleTest, DaysSkipTheWeekend) {
  // 2026-11-27 is a Friday.
  const Schedule schedule = make({.time_zone = "Asia/Tokyo",
                                  .windows = {"09:00-12:00", "13:00-18:00"},
                                  .days = {"mon", "tue", "wed", "thu", "fri"}});
  expect_decision(schedule, "2026-11-27T18:00:00+09:00", false, kOutside,
                  "outside the send windows; next window opens at 2026-11-30 09:00 +09:00",
                  "2026-11-30T09:00:00+09:00");
  expect_decision(schedule, "2026-11-28T10:00:00+09:00", false, kOutside,
                  "outside the send windows; next window opens at 2026-11-30 09:00 +09:00",
                  "2026-11-30T09:00:00+09:00");
  expect_decision(schedule, "2026-11-30T08:59:00+09:00", false, kOutside,
                  "outside the send windows; next window opens at 2026-11-30 09:00 +09:00",
                  "2026-11-30T09:00:00+09:00");
  expect_decision(schedule, "2026-11-30T09:00:00+09:00", true, kOpen,
                  "open until 2026-11-30 12:00 +09:00", "2026-11-30T12:00:00+09:00");
  // Before midnight UTC on Sunday is already Monday in Tokyo.
  expect_decision(schedule, "2026-11-30T00:30:00Z", true, kOpen,
                  "open until 2026-11-30 12:00 +09:00", "2026-11-30T12:00:00+09:00");
}

TEST(ScheduleTest, BeforeStartAtReportsTheFirstOpening) {
  // start_at on a Saturday: the first window is Monday's.
  Schedule schedule = make({.time_zone = "Asia/Tokyo",
                            .windows = {"09:00-12:00"},
                            .days = {"monday", "friday"},
                            .start_at = "2026-11-28T10:00:00+09:00"});
  expect_decision(schedule, "2026-11-28T09:00:00+09:00", false, kBefore,
                  "before start_at 2026-11-28 10:00 +09:00", "2026-11-30T09:00:00+09:00");
  expect_decision(schedule, "2026-11-28T10:00:00+09:00", false, kOutside,
                  "outside the send windows; next window opens at 2026-11-30 09:00 +09:00",
                  "2026-11-30T09:00:00+09:00");
  // start_at inside a window: sending starts at start_at itself.
  schedule.start_at = at("2026-11-30T10:30:15+09:00");
  expect_decision(schedule, "2026-11-30T10:00:00+09:00", false, kBefore,
                  "before start_at 2026-11-30 10:30:15 +09:00", "2026-11-30T10:30:15+09:00");
  expect_decision(schedule, "2026-11-30T10:30:15+09:00", true, kOpen,
                  "open until 2026-11-30 12:00 +09:00", "2026-11-30T12:00:00+09:00");
  // No window between start_at and stop_at: the run will never send.
  schedule.start_at = at("2026-11-30T12:00:00+09:00");
  schedule.stop_at = at("2026-12-04T08:00:00+09:00");
  expect_decision(schedule, "2026-11-30T11:00:00+09:00", false, kBefore,
                  "before start_at 2026-11-30 12:00 +09:00", "");
}

TEST(ScheduleTest, NoWindowsIsOpenBetweenStartAndStop) {
  const Schedule schedule =
      make({.start_at = "2026-11-24T09:00:00+09:00", .stop_at = "2026-11-25T00:00:00+09:00"});
  expect_decision(schedule, "2026-11-23T23:59:59Z", false, kBefore,
                  "before start_at 2026-11-24 00:00 +00:00", "2026-11-24T00:00:00Z");
  expect_decision(schedule, "2026-11-24T00:00:00Z", true, kOpen,
                  "open until 2026-11-24 15:00 +00:00", "2026-11-24T15:00:00Z");
  expect_decision(schedule, "2026-11-24T14:59:59Z", true, kOpen,
                  "open until 2026-11-24 15:00 +00:00", "2026-11-24T15:00:00Z");
  expect_decision(schedule, "2026-11-24T15:00:00Z", false, kAfter,
                  "after stop_at 2026-11-24 15:00 +00:00", "");
}

TEST(ScheduleTest, NoWindowsWithDaysIsWholeDays) {
  // 2026-11-23 is a Monday: open from Monday 00:00 to Saturday 00:00.
  const Schedule schedule =
      make({.time_zone = "Europe/Berlin", .days = {"mon", "tue", "wed", "thu", "fri"}});
  expect_decision(schedule, "2026-11-25T12:00:00+01:00", true, kOpen,
                  "open until 2026-11-28 00:00 +01:00", "2026-11-28T00:00:00+01:00");
  expect_decision(schedule, "2026-11-29T12:00:00+01:00", false, kOutside,
                  "outside the send windows; next window opens at 2026-11-30 00:00 +01:00",
                  "2026-11-30T00:00:00+01:00");
}

TEST(ScheduleTest, WindowCrossingMidnight) {
  const Schedule schedule = make({.windows = {"22:00-02:00"}});
  expect_decision(schedule, "2026-11-24T21:59:59Z", false, kOutside,
                  "outside the send windows; next window opens at 2026-11-24 22:00 +00:00",
                  "2026-11-24T22:00:00Z");
  expect_decision(schedule, "2026-11-24T23:00:00Z", true, kOpen,
                  "open until 2026-11-25 02:00 +00:00", "2026-11-25T02:00:00Z");
  expect_decision(schedule, "2026-11-25T01:00:00Z", true, kOpen,
                  "open until 2026-11-25 02:00 +00:00", "2026-11-25T02:00:00Z");
  expect_decision(schedule, "2026-11-25T02:00:00Z", false, kOutside,
                  "outside the send windows; next window opens at 2026-11-25 22:00 +00:00",
                  "2026-11-25T22:00:00Z");
  // An end at 00:00 is the next midnight.
  const Schedule evening = make({.windows = {"22:00-00:00"}});
  expect_decision(evening, "2026-11-24T23:00:00Z", true, kOpen,
                  "open until 2026-11-25 00:00 +00:00", "2026-11-25T00:00:00Z");
}

TEST(ScheduleTest, DaysFilterBelongsToTheDayAWindowOpens) {
  // 2026-11-27 is a Friday: its window runs into Saturday; Saturday has none of its own.
  const Schedule schedule = make({.windows = {"22:00-02:00"}, .days = {"fri"}});
  expect_decision(schedule, "2026-11-27T23:00:00Z", true, kOpen,
                  "open until 2026-11-28 02:00 +00:00", "2026-11-28T02:00:00Z");
  expect_decision(schedule, "2026-11-28T01:59:00Z", true, kOpen,
                  "open until 2026-11-28 02:00 +00:00", "2026-11-28T02:00:00Z");
  expect_decision(schedule, "2026-11-28T23:00:00Z", false, kOutside,
                  "outside the send windows; next window opens at 2026-12-04 22:00 +00:00",
                  "2026-12-04T22:00:00Z");
  // Friday 01:00 belongs to Thursday's window, which is not enabled.
  expect_decision(schedule, "2026-11-27T01:00:00Z", false, kOutside,
                  "outside the send windows; next window opens at 2026-11-27 22:00 +00:00",
                  "2026-11-27T22:00:00Z");
}

TEST(ScheduleTest, OverlappingAndTouchingWindowsMerge) {
  const Schedule schedule =
      make({.windows = {"13:00-14:00", "09:00-12:00", "11:00-13:00", "15:00-16:00"}});
  expect_decision(schedule, "2026-11-24T09:30:00Z", true, kOpen,
                  "open until 2026-11-24 14:00 +00:00", "2026-11-24T14:00:00Z");
  expect_decision(schedule, "2026-11-24T14:00:00Z", false, kOutside,
                  "outside the send windows; next window opens at 2026-11-24 15:00 +00:00",
                  "2026-11-24T15:00:00Z");
  // The evening window joins the next morning's.
  const Schedule night = make({.windows = {"00:00-06:00", "22:00-24:00"}});
  expect_decision(night, "2026-11-24T23:00:00Z", true, kOpen, "open until 2026-11-25 06:00 +00:00",
                  "2026-11-25T06:00:00Z");
  expect_decision(night, "2026-11-24T03:00:00Z", true, kOpen, "open until 2026-11-24 06:00 +00:00",
                  "2026-11-24T06:00:00Z");
  // A window inside another adds nothing.
  const Schedule nested = make({.windows = {"08:00-20:00", "10:00-11:00"}});
  expect_decision(nested, "2026-11-24T10:30:00Z", true, kOpen, "open until 2026-11-24 20:00 +00:00",
                  "2026-11-24T20:00:00Z");
}

TEST(ScheduleTest, WindowsCoveringEveryMinuteAreAlwaysOpen) {
  for (const std::vector<std::string_view>& windows :
       {std::vector<std::string_view>{"00:00-12:00", "12:00-24:00"},
        std::vector<std::string_view>{"22:00-02:00", "02:00-22:00"},
        std::vector<std::string_view>{"00:00-24:00"},
        std::vector<std::string_view>{"06:00-06:01", "06:01-06:00"}}) {
    const Schedule schedule = make({.windows = windows, .stop_at = "2026-12-01T00:00:00Z"});
    expect_decision(schedule, "2026-11-24T12:00:00Z", true, kOpen,
                    "open until 2026-12-01 00:00 +00:00", "2026-12-01T00:00:00Z");
  }
  const Schedule endless = make({.windows = {"12:00-11:59", "11:59-12:00"}});
  expect_decision(endless, "2026-11-24T12:00:00Z", true, kOpen, "open, no end", "");
}

TEST(ScheduleTest, SpansRunAcrossTheEndOfTheWeek) {
  // Sunday and Monday all day: one span from Sunday 00:00 to Tuesday 00:00 (2026-11-29 is a
  // Sunday), whatever the order of the week's days inside the schedule.
  const Schedule schedule = make({.days = {"mon", "sun"}});
  expect_decision(schedule, "2026-11-29T12:00:00Z", true, kOpen,
                  "open until 2026-12-01 00:00 +00:00", "2026-12-01T00:00:00Z");
  expect_decision(schedule, "2026-11-30T23:00:00Z", true, kOpen,
                  "open until 2026-12-01 00:00 +00:00", "2026-12-01T00:00:00Z");
  expect_decision(schedule, "2026-12-01T00:00:00Z", false, kOutside,
                  "outside the send windows; next window opens at 2026-12-06 00:00 +00:00",
                  "2026-12-06T00:00:00Z");
  // Sunday evening into Monday morning, and Monday evening alone.
  const Schedule evenings =
      make({.windows = {"20:00-24:00", "00:00-04:00"}, .days = {"sun", "mon"}});
  expect_decision(evenings, "2026-11-29T21:00:00Z", true, kOpen,
                  "open until 2026-11-30 04:00 +00:00", "2026-11-30T04:00:00Z");
  expect_decision(evenings, "2026-11-30T20:00:00Z", true, kOpen,
                  "open until 2026-12-01 00:00 +00:00", "2026-12-01T00:00:00Z");
  expect_decision(evenings, "2026-12-01T00:00:00Z", false, kOutside,
                  "outside the send windows; next window opens at 2026-12-06 00:00 +00:00",
                  "2026-12-06T00:00:00Z");
  // Every day but Saturday: Sunday 00:00 runs to the next Saturday 00:00.
  const Schedule almost =
      make({.windows = {"00:00-24:00"}, .days = {"sun", "mon", "tue", "wed", "thu", "fri"}});
  expect_decision(almost, "2026-11-29T00:00:00Z", true, kOpen, "open until 2026-12-05 00:00 +00:00",
                  "2026-12-05T00:00:00Z");
}

// Europe/Berlin: on 2026-03-29 the clock goes from 02:00 CET to 03:00 CEST (01:00 UTC); on
// 2026-10-25 from 03:00 CEST back to 02:00 CET (01:00 UTC).
TEST(ScheduleTest, SpringForwardSkipsAWindowInTheMissingHour) {
  const Schedule schedule = make({.time_zone = "Europe/Berlin", .windows = {"02:00-03:00"}});
  expect_decision(schedule, "2026-03-28T01:30:00Z", true, kOpen,
                  "open until 2026-03-28 03:00 +01:00", "2026-03-28T02:00:00Z");
  // 02:00-03:00 does not exist on the 29th: the next window is on the 30th, in CEST.
  expect_decision(schedule, "2026-03-28T02:00:00Z", false, kOutside,
                  "outside the send windows; next window opens at 2026-03-30 02:00 +02:00",
                  "2026-03-30T00:00:00Z");
  expect_decision(schedule, "2026-03-29T00:59:59Z", false, kOutside,
                  "outside the send windows; next window opens at 2026-03-30 02:00 +02:00",
                  "2026-03-30T00:00:00Z");
  expect_decision(schedule, "2026-03-29T01:00:00Z", false, kOutside,
                  "outside the send windows; next window opens at 2026-03-30 02:00 +02:00",
                  "2026-03-30T00:00:00Z");
  expect_decision(schedule, "2026-03-30T00:00:00Z", true, kOpen,
                  "open until 2026-03-30 03:00 +02:00", "2026-03-30T01:00:00Z");
}

TEST(ScheduleTest, SpringForwardMovesEdgesInTheMissingHour) {
  // Across the change, 01:00-04:00 lasts two real hours.
  const Schedule across = make({.time_zone = "Europe/Berlin", .windows = {"01:00-04:00"}});
  expect_decision(across, "2026-03-29T00:00:00Z", true, kOpen, "open until 2026-03-29 04:00 +02:00",
                  "2026-03-29T02:00:00Z");
  // A start at 02:30 opens at the change, 03:00 CEST.
  const Schedule late_start = make({.time_zone = "Europe/Berlin", .windows = {"02:30-05:00"}});
  expect_decision(late_start, "2026-03-29T00:59:59Z", false, kOutside,
                  "outside the send windows; next window opens at 2026-03-29 03:00 +02:00",
                  "2026-03-29T01:00:00Z");
  expect_decision(late_start, "2026-03-29T01:00:00Z", true, kOpen,
                  "open until 2026-03-29 05:00 +02:00", "2026-03-29T03:00:00Z");
  // An end at 02:30 closes at the change.
  const Schedule early_end = make({.time_zone = "Europe/Berlin", .windows = {"00:00-02:30"}});
  expect_decision(early_end, "2026-03-29T00:30:00Z", true, kOpen,
                  "open until 2026-03-29 03:00 +02:00", "2026-03-29T01:00:00Z");
  // Windows on each side of the missing hour touch that day, and only that day.
  const Schedule touching =
      make({.time_zone = "Europe/Berlin", .windows = {"00:00-02:00", "03:00-05:00"}});
  expect_decision(touching, "2026-03-28T23:00:00Z", true, kOpen,
                  "open until 2026-03-29 05:00 +02:00", "2026-03-29T03:00:00Z");
  expect_decision(touching, "2026-03-27T23:00:00Z", true, kOpen,
                  "open until 2026-03-28 02:00 +01:00", "2026-03-28T01:00:00Z");
}

TEST(ScheduleTest, FallBackRepeatsTheHour) {
  // 02:00-03:00 on the 25th: from the first 02:00 (CEST) to 03:00 CET, two real hours.
  const Schedule schedule = make({.time_zone = "Europe/Berlin", .windows = {"02:00-03:00"}});
  expect_decision(schedule, "2026-10-24T23:59:59Z", false, kOutside,
                  "outside the send windows; next window opens at 2026-10-25 02:00 +02:00",
                  "2026-10-25T00:00:00Z");
  expect_decision(schedule, "2026-10-25T00:00:00Z", true, kOpen,
                  "open until 2026-10-25 03:00 +01:00", "2026-10-25T02:00:00Z");
  expect_decision(schedule, "2026-10-25T01:30:00Z", true, kOpen,  // 02:30 CET, the second time
                  "open until 2026-10-25 03:00 +01:00", "2026-10-25T02:00:00Z");
  expect_decision(schedule, "2026-10-25T02:00:00Z", false, kOutside,
                  "outside the send windows; next window opens at 2026-10-26 02:00 +01:00",
                  "2026-10-26T01:00:00Z");
  // An end in the repeated hour closes at its first occurrence, and stays closed.
  const Schedule early_end = make({.time_zone = "Europe/Berlin", .windows = {"01:00-02:30"}});
  expect_decision(early_end, "2026-10-24T23:00:00Z", true, kOpen,
                  "open until 2026-10-25 02:30 +02:00", "2026-10-25T00:30:00Z");
  expect_decision(early_end, "2026-10-25T01:00:00Z", false, kOutside,  // 02:00 CET
                  "outside the send windows; next window opens at 2026-10-26 01:00 +01:00",
                  "2026-10-26T00:00:00Z");
  // A day-long window is 25 hours long that day.
  const Schedule whole_day = make({.time_zone = "Europe/Berlin", .days = {"sun"}});
  expect_decision(whole_day, "2026-10-25T12:00:00Z", true, kOpen,
                  "open until 2026-10-26 00:00 +01:00", "2026-10-25T23:00:00Z");
  expect_decision(whole_day, "2026-10-24T21:59:59Z", false, kOutside,
                  "outside the send windows; next window opens at 2026-10-25 00:00 +02:00",
                  "2026-10-24T22:00:00Z");
}

TEST(ScheduleTest, NextChangeIsAlwaysLater) {
  // Walk a week in Berlin across the spring change, minute by minute, and check every
  // decision against the next: can_send holds until next_change and flips there.
  const Schedule schedule = make({.time_zone = "Europe/Berlin",
                                  .windows = {"01:30-02:30", "03:00-03:15", "23:00-01:00"},
                                  .days = {"sat", "sun", "mon"},
                                  .start_at = "2026-03-27T00:00:00Z",
                                  .stop_at = "2026-04-02T00:00:00Z"});
  absl::Time now = at("2026-03-26T23:00:00Z");
  const absl::Time end = at("2026-04-02T01:00:00Z");
  ScheduleDecision decision = decide(schedule, now);
  int flips = 0;
  for (; now < end; now += absl::Minutes(1)) {
    if (now >= decision.next_change) {
      const ScheduleDecision next = decide(schedule, now);
      EXPECT_NE(next.can_send, decision.can_send) << absl::FormatTime(now);
      EXPECT_GT(next.next_change, now);
      decision = next;
      ++flips;
      continue;
    }
    const ScheduleDecision here = decide(schedule, now);
    ASSERT_EQ(here.can_send, decision.can_send) << absl::FormatTime(now);
    ASSERT_EQ(here.next_change, decision.next_change) << absl::FormatTime(now);
  }
  // Runs of open time (UTC): Sat 28th 00:30-01:30, 02:00-02:15, 22:00-00:00; Sun 29th
  // 00:30-01:15 (01:30-02:30 ends at the change, 03:00 CEST, where 03:00-03:15 follows at
  // once), 21:00-23:00; Sun 23:30 to Mon 00:30, Mon 30th 01:00-01:15, 21:00-23:00. Tuesday to
  // Friday have no windows, and the next Saturday is after stop_at.
  EXPECT_EQ(flips, 2 * 8);
  EXPECT_FALSE(decision.can_send);
  EXPECT_EQ(decision.state, kOutside);
  EXPECT_EQ(decision.next_change, absl::InfiniteFuture());
  EXPECT_EQ(decide(schedule, end).state, kAfter);
}

// --- parsers ---

TEST(SendWindowTest, Valid) {
  const std::vector<std::pair<std::string_view, SendWindow>> cases = {
      {"09:00-12:00", {540, 720}},   {"9:00-17:30", {540, 1050}}, {"22:00-02:00", {1320, 120}},
      {"00:00-24:00", {0, 1440}},    {"23:59-00:00", {1439, 0}},  {" 09:00 - 12:00 ", {540, 720}},
      {"18:00-24:00", {1080, 1440}}, {"00:01-00:00", {1, 0}}};
  for (const auto& [text, expected] : cases) {
    SendWindow window;
    std::string error;
    ASSERT_TRUE(parse_send_window(text, window, error)) << text << ": " << error;
    EXPECT_EQ(window, expected) << text;
  }
}

TEST(SendWindowTest, Invalid) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"25:00-26:00", "hour 25 is not 00 to 23"},
      {"09:00-25:00", "hour 25 is not 00 to 23"},
      {"09:00-09:00",
       "the window is empty (it starts and ends at 09:00); write 00:00-24:00 "
       "for a whole day"},
      {"00:00-00:00",
       "the window is empty (it starts and ends at 00:00); write 00:00-24:00 "
       "for a whole day"},
      {"09:60-10:00", "minute 60 is not 00 to 59"},
      {"24:00-02:00", "24:00 only ends a window; a window from midnight starts at 00:00"},
      {"09:00-24:30", "no time is after 24:00"},
      {"0900-1200", "its start is not a time HH:MM"},
      {"09:00-1200", "its end is not a time HH:MM"},
      {"09:0-10:00", "its start is not a time HH:MM"},
      {"009:00-10:00", "its start is not a time HH:MM"},
      {"+9:00-10:00", "its start is not a time HH:MM"},
      {"09:00-", "its end is not a time HH:MM"},
      {"09:00:00-10:00:00", "its start is not a time HH:MM"},
      {"\xd9\xa0\xd9\xa9:00-10:00", "its start is not a time HH:MM"},
      {"09:00", "write a window as HH:MM-HH:MM, e.g. \"09:00-17:30\""},
      {"", "write a window as HH:MM-HH:MM, e.g. \"09:00-17:30\""},
      {"09:00-12:00-13:00", "write a window as HH:MM-HH:MM, e.g. \"09:00-17:30\""},
      {"09:00\xe2\x80\x93"
       "12:00",
       "write a window as HH:MM-HH:MM, e.g. \"09:00-17:30\""},
  };
  for (const auto& [text, expected] : cases) {
    SendWindow window{1, 2};
    std::string error;
    EXPECT_FALSE(parse_send_window(text, window, error)) << text;
    EXPECT_EQ(error, expected) << text;
    EXPECT_EQ(window, (SendWindow{1, 2})) << text;  // untouched on failure
  }
}

TEST(WeekdayTest, Names) {
  const std::vector<std::pair<std::string_view, absl::Weekday>> cases = {
      {"mon", absl::Weekday::monday},     {"Monday", absl::Weekday::monday},
      {"TUES", absl::Weekday::tuesday},   {"wed", absl::Weekday::wednesday},
      {"thurs", absl::Weekday::thursday}, {"fri", absl::Weekday::friday},
      {"Sat", absl::Weekday::saturday},   {"sunday", absl::Weekday::sunday}};
  for (const auto& [text, expected] : cases) {
    absl::Weekday day = absl::Weekday::monday;
    std::string error;
    ASSERT_TRUE(parse_weekday(text, day, error)) << text;
    EXPECT_EQ(day, expected) << text;
  }
  for (std::string_view text : {"", "mo", "mondays", "lun", "月", "mon ", "sun\n", "weekday"}) {
    absl::Weekday day;
    std::string error;
    EXPECT_FALSE(parse_weekday(text, day, error)) << text;
    EXPECT_EQ(error, "days are mon, tue, wed, thu, fri, sat and sun (or the full English names)");
  }
}

TEST(TimeZoneTest, LoadsIanaNames) {
  for (std::string_view name : {"UTC", "Asia/Tokyo", "Europe/Berlin", "Etc/GMT-9",
                                "America/Argentina/Buenos_Aires", "America/Port-au-Prince"}) {
    absl::TimeZone loaded;
    std::string error;
    EXPECT_TRUE(load_time_zone(name, loaded, error)) << name << ": " << error;
    EXPECT_EQ(loaded.name(), name);
  }
  absl::TimeZone gmt9;
  std::string error;
  ASSERT_TRUE(load_time_zone("Etc/GMT-9", gmt9, error));  // POSIX sign: nine hours east
  EXPECT_EQ(format_schedule_time(at("2026-11-24T00:00:00Z"), gmt9), "2026-11-24 09:00 +09:00");
}

TEST(TimeZoneTest, RefusesOtherNames) {
  constexpr std::string_view kUnknown =
      "no such time zone in the system's tzdata; use an IANA name such as \"Asia/Tokyo\", "
      "\"Europe/Berlin\" or \"UTC\"";
  constexpr std::string_view kMalformed =
      "a time zone is an IANA name such as \"Asia/Tokyo\", \"Europe/Berlin\" or \"UTC\"";
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"Asia/Tokio", kUnknown},
      {"Mars/Olympus_Mons", kUnknown},
      {"Europe", kUnknown},  // a directory of zones
      {"", kMalformed},
      {"../../etc/passwd", kMalformed},
      {"/etc/localtime", kMalformed},
      {"Europe//Berlin", kMalformed},
      {"Europe/Berlin/", kMalformed},
      {"Asia/Tokyo ", kMalformed},
      {"UTC+09:00", kMalformed},
      {"zone.tab", kMalformed},
      {std::string_view("UTC\0", 4), kMalformed},
      {"localtime",
       "name the zone (e.g. \"Europe/Berlin\"): the machine's local time may differ from one "
       "host to the next"},
  };
  for (const auto& [name, expected] : cases) {
    absl::TimeZone loaded = absl::FixedTimeZone(3600);
    std::string error;
    EXPECT_FALSE(load_time_zone(name, loaded, error)) << name;
    EXPECT_EQ(error, expected) << name;
    EXPECT_EQ(loaded, absl::FixedTimeZone(3600)) << name;  // untouched on failure
  }
}

TEST(DateTimeTest, Rfc3339) {
  const absl::TimeZone tokyo = zone("Asia/Tokyo");
  const absl::Time midnight_utc =
      absl::FromCivil(absl::CivilSecond(2026, 11, 24, 0, 0, 0), absl::UTCTimeZone());
  const std::vector<std::pair<std::string_view, absl::Time>> cases = {
      {"2026-11-24T09:00:00+09:00", midnight_utc},
      {"2026-11-24t00:00:00z", midnight_utc},
      {"2026-11-24 00:00:00Z", midnight_utc},
      {"2026-11-24T09:00+09:00", midnight_utc},
      {"2026-11-23T19:30:00-04:30", midnight_utc},
      {"2026-11-24T00:00:00-00:00", midnight_utc},  // RFC 3339 4.3: offset unknown
      {"2026-11-24T09:00:00", midnight_utc},        // local: Tokyo
      {"2026-11-24T09:00", midnight_utc},
      {"2026-11-24T00:00:00.5Z", midnight_utc + absl::Milliseconds(500)},
      {"2026-11-24T00:00:00.123456789123Z", midnight_utc + absl::Nanoseconds(123456789)},
      {"2026-11-23T23:59:60Z", midnight_utc},  // a leap second
      {"2028-02-29T09:00:00+09:00",
       absl::FromCivil(absl::CivilSecond(2028, 2, 29, 0, 0, 0), absl::UTCTimeZone())},
  };
  for (const auto& [text, expected] : cases) {
    absl::Time time;
    std::string error;
    ASSERT_TRUE(parse_date_time(text, tokyo, time, error)) << text << ": " << error;
    EXPECT_EQ(time, expected) << text << ": " << absl::FormatTime(time);
  }
}

TEST(DateTimeTest, LocalTimesAcrossDst) {
  const absl::TimeZone berlin = zone("Europe/Berlin");
  absl::Time time;
  std::string error;
  ASSERT_TRUE(parse_date_time("2026-03-29T02:30:00", berlin, time, error));  // skipped
  EXPECT_EQ(time, at("2026-03-29T01:00:00Z"));
  ASSERT_TRUE(parse_date_time("2026-10-25T02:30:00", berlin, time, error));  // repeated
  EXPECT_EQ(time, at("2026-10-25T00:30:00Z"));
}

TEST(DateTimeTest, Invalid) {
  constexpr std::string_view kSyntax =
      "write an RFC 3339 date-time such as 2026-11-24T09:00:00+09:00";
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"", kSyntax},
      {"2026-11-24", kSyntax},
      {"2026-11-24T9:00:00Z", kSyntax},
      {"2026-11-24T09:00:00+0900", kSyntax},
      {"2026-11-24T09:00:00+09", kSyntax},
      {"2026-11-24T09:00:00.Z", kSyntax},
      {"2026-11-24T09:00:00Z ", kSyntax},
      {"2026-11-24T09:00:00+09:60", kSyntax},
      {"26-11-24T09:00:00Z", kSyntax},
      {"tomorrow", kSyntax},
      {"2026/11/24 09:00", kSyntax},
      {"2026-02-29T09:00:00Z", "there is no date 2026-2-29"},
      {"2026-13-01T09:00:00Z", "there is no date 2026-13-1"},
      {"2026-00-10T09:00:00Z", "there is no date 2026-0-10"},
      {"2026-11-24T24:00:00Z", "the time of day is out of range"},
      {"2026-11-24T09:61:00Z", "the time of day is out of range"},
      {"2026-11-24T09:00:61Z", "the time of day is out of range"},
      {"2026-11-24T09:00:00+24:00", "the UTC offset is out of range"},
  };
  for (const auto& [text, expected] : cases) {
    absl::Time time = absl::UnixEpoch();
    std::string error;
    EXPECT_FALSE(parse_date_time(text, absl::UTCTimeZone(), time, error)) << text;
    EXPECT_EQ(error, expected) << text;
  }
}

TEST(DateTimeTest, Format) {
  const absl::TimeZone tokyo = zone("Asia/Tokyo");
  EXPECT_EQ(format_schedule_time(at("2026-11-24T00:00:00Z"), tokyo), "2026-11-24 09:00 +09:00");
  EXPECT_EQ(format_schedule_time(at("2026-11-24T00:00:30Z"), tokyo), "2026-11-24 09:00:30 +09:00");
  EXPECT_EQ(format_schedule_time(at("2026-11-24T00:00:00.25Z"), tokyo),
            "2026-11-24 09:00:00.25 +09:00");
  EXPECT_EQ(format_schedule_time(at("2026-11-24T00:00:00Z"), zone("America/St_Johns")),
            "2026-11-23 20:30 -03:30");
}

}  // namespace
}  // namespace hayate::campaign
