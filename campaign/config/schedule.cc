// When a campaign may send: the windows of [schedule] become spans of a local week, merged, and
// each occurrence of a span becomes an interval of absolute time through the zone's rules, so
// that DST changes move the edges the way a wall clock does.
#include "campaign/config/schedule.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

#include "absl/strings/ascii.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign::inline config {
namespace {

constexpr std::uint32_t minutes_per_week = 7 * minutes_per_day;
// How far decide() looks for the next window or the end of the current run of windows. A span
// occurs every week and only a skipped hour can hide one occurrence, so five weeks is plenty.
constexpr int horizon_days = 35;
constexpr std::size_t time_zone_name_bytes_max = 64;

constexpr std::array<std::string_view, 7> weekday_names = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};

// A stretch of the local week: weekday * 1440 + minute after midnight, and its length in
// minutes (a span may end in the next day or the next week).
struct WeeklySpan {
  std::uint32_t start_minute = 0;
  std::uint32_t length_minutes = 0;
  std::uint32_t end_minute() const { return start_minute + length_minutes; }
};

struct Interval {
  absl::Time start;
  absl::Time end;
};

// The first instant at which the local clock reads `civil` or later: the instant itself when it
// is unique, the moment of the change when DST skips it, its first occurrence when repeated.
absl::Time first_instant_at(const absl::TimeZone& zone, absl::CivilSecond civil) {
  const absl::TimeZone::TimeInfo info = zone.At(civil);
  return info.kind == absl::TimeZone::TimeInfo::SKIPPED ? info.trans : info.pre;
}

int weekday_index(absl::CivilDay day) { return static_cast<int>(absl::GetWeekday(day)); }

// The windows on the enabled days as disjoint spans of the week, sorted; spans that overlap or
// touch, also across midnight and across the end of the week, are merged. A single span of a
// whole week means the schedule is always open.
std::vector<WeeklySpan> weekly_spans(const Schedule& schedule) {
  static constexpr SendWindow whole_day{0, minutes_per_day};
  const std::span<const SendWindow> windows = schedule.windows.empty()
                                                  ? std::span<const SendWindow>(&whole_day, 1)
                                                  : std::span<const SendWindow>(schedule.windows);
  std::vector<WeeklySpan> spans;
  spans.reserve(windows.size() * 7);
  for (std::uint32_t day = 0; day < 7; ++day) {
    if ((schedule.days_mask & (1u << day)) == 0) continue;
    for (const SendWindow& window : windows) {
      HAYATE_ASSERT(window.start_minute < minutes_per_day);
      HAYATE_ASSERT(window.end_minute <= minutes_per_day);
      HAYATE_ASSERT(window.start_minute != window.end_minute);
      const std::uint32_t length = window.end_minute > window.start_minute
                                       ? window.end_minute - window.start_minute
                                       : window.end_minute + minutes_per_day - window.start_minute;
      spans.push_back({day * minutes_per_day + window.start_minute, length});
    }
  }
  HAYATE_ASSERT(!spans.empty());
  std::sort(spans.begin(), spans.end(), [](const WeeklySpan& a, const WeeklySpan& b) {
    return a.start_minute < b.start_minute;
  });
  std::vector<WeeklySpan> merged;
  for (const WeeklySpan& span : spans) {
    if (!merged.empty() && span.start_minute <= merged.back().end_minute()) {
      WeeklySpan& last = merged.back();
      last.length_minutes = std::max(last.end_minute(), span.end_minute()) - last.start_minute;
    } else {
      merged.push_back(span);
    }
  }
  // The last span may run past the end of the week into the first ones.
  while (merged.size() > 1 &&
         merged.back().end_minute() >= merged.front().start_minute + minutes_per_week) {
    WeeklySpan& last = merged.back();
    last.length_minutes =
        std::max(last.end_minute(), merged.front().end_minute() + minutes_per_week) -
        last.start_minute;
    merged.erase(merged.begin());
  }
  if (merged.size() == 1 && merged.front().length_minutes >= minutes_per_week) {
    merged.front() = {0, minutes_per_week};
  }
  HAYATE_ASSERT(!merged.empty() && merged.size() <= spans.size());
  return merged;
}

bool is_always_open(const std::vector<WeeklySpan>& spans) {
  return spans.size() == 1 && spans.front().length_minutes >= minutes_per_week;
}

// Where `time` stands among the occurrences of the spans: inside one (boundary: the end of the
// run of occurrences that touch it) or outside (boundary: the start of the next occurrence, or
// InfiniteFuture when none comes within the horizon).
struct Cover {
  bool inside = false;
  absl::Time boundary = absl::InfiniteFuture();
};

Cover cover_at(const std::vector<WeeklySpan>& spans, const absl::TimeZone& zone, absl::Time time) {
  // A span is shorter than a week, so one that starts more than 7 days before today's date has
  // ended. Occurrences come out in order and disjoint: the spans are disjoint in local time and
  // first_instant_at never goes backwards.
  const absl::CivilDay today = absl::ToCivilDay(time, zone);
  Cover cover;
  absl::Time previous_start = absl::InfinitePast();
  for (int offset = -7; offset <= horizon_days; ++offset) {
    const absl::CivilDay day = today + offset;
    const std::uint32_t week_start =
        static_cast<std::uint32_t>(weekday_index(day)) * minutes_per_day;
    for (const WeeklySpan& span : spans) {
      if (span.start_minute < week_start || span.start_minute >= week_start + minutes_per_day) {
        continue;
      }
      const absl::CivilMinute start = absl::CivilMinute(day) + (span.start_minute - week_start);
      const Interval interval{first_instant_at(zone, start),
                              first_instant_at(zone, start + span.length_minutes)};
      HAYATE_ASSERT(interval.start <= interval.end && previous_start <= interval.start);
      previous_start = interval.start;
      if (interval.start == interval.end) continue;  // wholly inside a skipped hour
      if (!cover.inside) {
        if (interval.end <= time) continue;
        if (interval.start > time) return {false, interval.start};
        cover = {true, interval.end};
      } else {
        if (interval.start > cover.boundary) return cover;
        cover.boundary = std::max(cover.boundary, interval.end);
      }
    }
  }
  return cover;  // inside a run longer than the horizon (not seen in any zone), or no window
}

// The first instant at or after `from` when sending may start, or InfiniteFuture.
absl::Time next_opening(const Schedule& schedule, const std::vector<WeeklySpan>& spans,
                        absl::Time from) {
  absl::Time opening = from;
  if (!is_always_open(spans)) {
    const Cover cover = cover_at(spans, schedule.time_zone, from);
    if (!cover.inside) opening = cover.boundary;
  }
  return opening < schedule.stop_at ? opening : absl::InfiniteFuture();
}

// "HH:MM" (or "H:MM") as minutes after midnight; 1440 for "24:00" when `is_end`.
bool parse_clock_time(std::string_view text, bool is_end, std::uint16_t& minutes,
                      std::string& error) {
  const std::size_t colon = text.find(':');
  const auto all_digits = [](std::string_view part) {
    return !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
      return absl::ascii_isdigit(static_cast<unsigned char>(c));
    });
  };
  if (colon == std::string_view::npos || colon < 1 || colon > 2 ||
      !all_digits(text.substr(0, colon)) || text.size() != colon + 3 ||
      !all_digits(text.substr(colon + 1))) {
    error = cat("its ", is_end ? "end" : "start", " is not a time HH:MM");
    return false;
  }
  const int hour = colon == 1 ? text[0] - '0' : (text[0] - '0') * 10 + (text[1] - '0');
  const int minute = (text[colon + 1] - '0') * 10 + (text[colon + 2] - '0');
  if (hour > 24) {
    error = cat("hour ", hour, " is not 00 to 23");
    return false;
  }
  if (minute > 59) {
    error = cat("minute ", minute, " is not 00 to 59");
    return false;
  }
  if (hour == 24 && minute != 0) {
    error = "no time is after 24:00";
    return false;
  }
  if (hour == 24 && !is_end) {
    error = "24:00 only ends a window; a window from midnight starts at 00:00";
    return false;
  }
  minutes = static_cast<std::uint16_t>(hour * 60 + minute);
  HAYATE_ASSERT(minutes <= minutes_per_day);
  return true;
}

std::string format_clock_time(std::uint16_t minutes) {
  std::string text;
  for (int value : {minutes / 60, minutes % 60}) {
    if (!text.empty()) text += ':';
    text += static_cast<char>('0' + value / 10);
    text += static_cast<char>('0' + value % 10);
  }
  return text;
}

bool is_time_zone_character(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '+';
}

// Parses `count` digits at `text[position]`, advancing `position`.
bool take_digits(std::string_view text, std::size_t& position, std::size_t count,
                 std::int64_t& value) {
  if (position + count > text.size()) return false;
  value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char c = text[position + i];
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    value = value * 10 + (c - '0');
  }
  position += count;
  return true;
}

bool take_char(std::string_view text, std::size_t& position, std::string_view choices) {
  if (position >= text.size() || choices.find(text[position]) == std::string_view::npos) {
    return false;
  }
  ++position;
  return true;
}

}  // namespace

ScheduleDecision decide(const Schedule& schedule, absl::Time now) {
  HAYATE_ASSERT(schedule.start_at < schedule.stop_at);
  HAYATE_ASSERT(schedule.days_mask != 0 && (schedule.days_mask & ~every_day_mask) == 0);
  ScheduleDecision decision;
  const absl::TimeZone& zone = schedule.time_zone;
  if (now >= schedule.stop_at) {
    decision.state = ScheduleState::after_stop;
    decision.reason = cat("after stop_at ", format_schedule_time(schedule.stop_at, zone));
    return decision;
  }
  const std::vector<WeeklySpan> spans = weekly_spans(schedule);
  if (now < schedule.start_at) {
    decision.state = ScheduleState::before_start;
    decision.reason = cat("before start_at ", format_schedule_time(schedule.start_at, zone));
    decision.next_change = next_opening(schedule, spans, schedule.start_at);
    return decision;
  }
  Cover cover{true, absl::InfiniteFuture()};
  if (!is_always_open(spans)) cover = cover_at(spans, zone, now);
  if (cover.inside) {
    decision.can_send = true;
    decision.state = ScheduleState::open;
    decision.next_change = std::min(cover.boundary, schedule.stop_at);
    decision.reason = decision.next_change == absl::InfiniteFuture()
                          ? "open, no end"
                          : cat("open until ", format_schedule_time(decision.next_change, zone));
  } else {
    decision.state = ScheduleState::outside_windows;
    decision.next_change =
        cover.boundary < schedule.stop_at ? cover.boundary : absl::InfiniteFuture();
    if (decision.next_change != absl::InfiniteFuture()) {
      decision.reason = cat("outside the send windows; next window opens at ",
                            format_schedule_time(decision.next_change, zone));
    } else if (schedule.stop_at != absl::InfiniteFuture()) {
      decision.reason = cat("outside the send windows; none opens before stop_at ",
                            format_schedule_time(schedule.stop_at, zone));
    } else {
      decision.reason = "outside the send windows; none opens again";
    }
  }
  HAYATE_ASSERT(decision.next_change > now);
  return decision;
}

bool parse_send_window(std::string_view text, SendWindow& window, std::string& error) {
  const std::size_t dash = text.find('-');
  if (dash == std::string_view::npos || text.find('-', dash + 1) != std::string_view::npos) {
    error = "write a window as HH:MM-HH:MM, e.g. \"09:00-17:30\"";
    return false;
  }
  SendWindow parsed;
  const std::string_view start = trim(text.substr(0, dash), " ");
  const std::string_view end = trim(text.substr(dash + 1), " ");
  if (!parse_clock_time(start, /*is_end=*/false, parsed.start_minute, error) ||
      !parse_clock_time(end, /*is_end=*/true, parsed.end_minute, error)) {
    return false;
  }
  if (parsed.start_minute == parsed.end_minute) {
    error = cat("the window is empty (it starts and ends at ",
                format_clock_time(parsed.start_minute), "); write 00:00-24:00 for a whole day");
    return false;
  }
  window = parsed;
  return true;
}

bool parse_weekday(std::string_view text, absl::Weekday& day, std::string& error) {
  // Three letters or more of the English name: the first three already tell the days apart.
  if (text.size() >= 3) {
    for (std::size_t i = 0; i < weekday_names.size(); ++i) {
      const std::string_view name = weekday_names[i];
      if (text.size() <= name.size() && equals_ignoring_case(text, name.substr(0, text.size()))) {
        day = static_cast<absl::Weekday>(i);
        return true;
      }
    }
  }
  error = "days are mon, tue, wed, thu, fri, sat and sun (or the full English names)";
  return false;
}

bool load_time_zone(std::string_view name, absl::TimeZone& zone, std::string& error) {
  // IANA names are components of letters, digits, '_', '-' and '+' joined by '/'
  // ("America/Argentina/Buenos_Aires", "Etc/GMT-9"); anything else could name another file.
  bool well_formed = !name.empty() && name.size() <= time_zone_name_bytes_max &&
                     name.front() != '/' && name.back() != '/' &&
                     name.find("//") == std::string_view::npos;
  for (char c : name) well_formed = well_formed && (is_time_zone_character(c) || c == '/');
  if (!well_formed) {
    error = "a time zone is an IANA name such as \"Asia/Tokyo\", \"Europe/Berlin\" or \"UTC\"";
    return false;
  }
  if (name == "localtime") {
    error =
        "name the zone (e.g. \"Europe/Berlin\"): the machine's local time may differ from "
        "one host to the next";
    return false;
  }
  absl::TimeZone loaded;
  if (!absl::LoadTimeZone(std::string(name), &loaded)) {
    error =
        "no such time zone in the system's tzdata; use an IANA name such as \"Asia/Tokyo\", "
        "\"Europe/Berlin\" or \"UTC\"";
    return false;
  }
  zone = loaded;
  return true;
}

bool to_time(const WrittenDateTime& written, const absl::TimeZone& zone, absl::Time& time,
             std::string& error) {
  const absl::CivilDay day(written.year, written.month, written.day);
  if (written.year < 0 || written.year > 9999 || written.month < 1 || written.month > 12 ||
      day.year() != written.year || day.month() != written.month || day.day() != written.day) {
    error = cat("there is no date ", written.year, "-", written.month, "-", written.day);
    return false;
  }
  if (written.hour < 0 || written.hour > 23 || written.minute < 0 || written.minute > 59 ||
      written.second < 0 || written.second > 60 || written.nanosecond >= 1'000'000'000) {
    error = "the time of day is out of range";
    return false;
  }
  if (written.offset_minutes &&
      (*written.offset_minutes <= -24 * 60 || *written.offset_minutes >= 24 * 60)) {
    error = "the UTC offset is out of range";
    return false;
  }
  // A leap second (RFC 3339 5.7) normalizes to the next minute: POSIX time has none.
  const absl::CivilSecond civil(written.year, written.month, written.day, written.hour,
                                written.minute, written.second);
  time = written.offset_minutes
             ? absl::FromCivil(civil, absl::FixedTimeZone(*written.offset_minutes * 60))
             : first_instant_at(zone, civil);
  time += absl::Nanoseconds(written.nanosecond);
  return true;
}

bool parse_date_time(std::string_view text, const absl::TimeZone& zone, absl::Time& time,
                     std::string& error) {
  WrittenDateTime written;
  std::size_t at = 0;
  std::int64_t value = 0;
  bool ok = take_digits(text, at, 4, written.year) && take_char(text, at, "-") &&
            take_digits(text, at, 2, value);
  written.month = static_cast<int>(value);
  ok = ok && take_char(text, at, "-") && take_digits(text, at, 2, value);
  written.day = static_cast<int>(value);
  ok = ok && take_char(text, at, "Tt ") && take_digits(text, at, 2, value);
  written.hour = static_cast<int>(value);
  ok = ok && take_char(text, at, ":") && take_digits(text, at, 2, value);
  written.minute = static_cast<int>(value);
  if (ok && take_char(text, at, ":")) {
    ok = take_digits(text, at, 2, value);
    written.second = static_cast<int>(value);
    if (ok && take_char(text, at, ".")) {
      std::size_t digits = 0;
      for (; at < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[at]));
           ++at, ++digits) {
        if (digits < 9) written.nanosecond = written.nanosecond * 10 + (text[at] - '0');
      }
      for (std::size_t i = digits; i < 9; ++i) written.nanosecond *= 10;
      ok = digits > 0;
    }
  }
  if (ok && take_char(text, at, "Zz")) {
    written.offset_minutes = 0;
  } else if (ok && at < text.size()) {
    const int sign = text[at] == '-' ? -1 : 1;
    std::int64_t hours = 0;
    std::int64_t minutes = 0;
    ok = take_char(text, at, "+-") && take_digits(text, at, 2, hours) && take_char(text, at, ":") &&
         take_digits(text, at, 2, minutes) && minutes < 60;
    written.offset_minutes = sign * static_cast<int>(hours * 60 + minutes);
  }
  if (!ok || at != text.size()) {
    error = "write an RFC 3339 date-time such as 2026-11-24T09:00:00+09:00";
    return false;
  }
  return to_time(written, zone, time, error);
}

std::string format_schedule_time(absl::Time time, const absl::TimeZone& zone) {
  const absl::TimeZone::CivilInfo info = zone.At(time);
  const bool whole_minute = info.cs.second() == 0 && info.subsecond == absl::ZeroDuration();
  return absl::FormatTime(whole_minute ? "%Y-%m-%d %H:%M %Ez" : "%Y-%m-%d %H:%M:%E*S %Ez", time,
                          zone);
}

}  // namespace hayate::campaign::config
