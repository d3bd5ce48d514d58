// OUT/report.html (see report.h): the runs added up, laid on one time axis, then drawn as
// inline SVG. Every data mark carries the number it draws (data-value) and, where there are
// several, what it is (data-label), so that a test reads the chart back through the DOM.
#include "campaign/output/report.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <functional>
#include <initializer_list>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/assert.h"
#include "engine/strings.h"
#include "engine/utf8.h"

namespace hayate::campaign::inline output {

namespace {

// Caps that keep the page small whatever the campaign: a 100-run campaign of 600 samples each
// is thinned to this many points per line (more than a screen has pixels), its shaping events
// to this many markers, spread evenly over the campaign.
constexpr std::size_t time_points_max = 800;
constexpr std::size_t event_markers_max = 300;
constexpr std::size_t runs_rows_max = 200;  // the runs table: the latest ones
constexpr std::size_t held_rows_max = 50;
constexpr std::size_t label_bytes_max = 36;  // a bar's label; the full text is in its <title>

// ---------------------------------------------------------------------------------------------
// Text

// Appends `text` for HTML text or a double-quoted attribute: the markup characters as
// entities, line breaks and tabs as spaces, other control bytes and invalid UTF-8 as U+FFFD.
void append_escaped(std::string& html, std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const char c = text[pos];
    const auto byte = static_cast<unsigned char>(c);
    std::size_t length = 1;
    switch (c) {
      case '&':
        html += "&amp;";
        break;
      case '<':
        html += "&lt;";
        break;
      case '>':
        html += "&gt;";
        break;
      case '"':
        html += "&quot;";
        break;
      case '\'':
        html += "&#39;";
        break;
      case '\t':
      case '\r':
      case '\n':
        html += ' ';
        break;
      default:
        if (byte < 0x20 || byte == 0x7f) {
          html += "\xEF\xBF\xBD";
        } else if (byte < 0x80) {
          html += c;
        } else {
          length = utf8_sequence_length(text, pos);
          if (length == 0) {
            html += "\xEF\xBF\xBD";
            length = 1;
          } else {
            html.append(text.substr(pos, length));
          }
        }
    }
    pos += length;
  }
}

std::string escaped(std::string_view text) {
  std::string html;
  append_escaped(html, text);
  return html;
}

// `text` cut to about `bytes_max` bytes at a UTF-8 boundary, with an ellipsis when cut.
std::string shortened(std::string_view text, std::size_t bytes_max) {
  if (text.size() <= bytes_max) return std::string(text);
  std::size_t cut = bytes_max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return cat(text.substr(0, cut), "\xE2\x80\xA6");
}

// `value` with `decimals` digits after the point (coordinates: one is plenty).
void append_fixed(std::string& html, double value, int decimals) {
  char text[48];
  std::snprintf(text, sizeof text, "%.*f", decimals, std::isfinite(value) ? value : 0.0);
  html += text;
}

std::string fixed(double value, int decimals) {
  std::string text;
  append_fixed(text, value, decimals);
  return text;
}

// A data-value for a measured (non-integer) quantity: six significant digits.
std::string measured(double value) {
  char text[48];
  std::snprintf(text, sizeof text, "%.6g", std::isfinite(value) ? value : 0.0);
  return text;
}

// 1234567 as "1,234,567".
std::string grouped(std::uint64_t value) {
  const std::string digits = std::to_string(value);
  std::string text;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) text += ',';
    text += digits[i];
  }
  return text;
}

// An axis label: 1500 as "1.5k", 2000000 as "2M", small values with what decimals they need.
std::string axis_number(double value) {
  if (value >= 1e6) return cat(measured(value / 1e6), "M");
  if (value >= 1e4) return cat(measured(value / 1e3), "k");
  return measured(std::round(value * 100) / 100);
}

// A length of time for people: "42.0 s", "7 min 05 s", "3 h 20 min", "2 d 4 h".
std::string duration_text(double seconds) {
  if (!(seconds > 0)) return "0 s";
  if (seconds < 60) return cat(fixed(seconds, 1), " s");
  char text[64];
  const auto whole = static_cast<std::uint64_t>(seconds);
  if (whole < 3600) {
    std::snprintf(text, sizeof text, "%u min %02u s", unsigned(whole / 60), unsigned(whole % 60));
  } else if (whole < 86400) {
    std::snprintf(text, sizeof text, "%u h %02u min", unsigned(whole / 3600),
                  unsigned(whole % 3600 / 60));
  } else {
    std::snprintf(text, sizeof text, "%llu d %u h", static_cast<unsigned long long>(whole / 86400),
                  unsigned(whole % 86400 / 3600));
  }
  return text;
}

// A moment as "2024-05-01 14:05:03 UTC"; a dash when unknown (0).
std::string utc_text(double unix_s) {
  if (!(unix_s > 0) || unix_s > 253402300799.0) return "\xE2\x80\x94";  // an em dash
  const auto seconds = static_cast<std::time_t>(unix_s);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &utc);
  return text;
}

// An elapsed time on a time axis: "0", "30 s", "1 min 15 s", "2 h", "1 h 30 min", "3 d".
std::string elapsed_label(double seconds) {
  const auto whole = static_cast<std::uint64_t>(std::llround(std::max(seconds, 0.0)));
  if (whole == 0) return "0";
  if (whole < 60) return cat(whole, " s");
  if (whole < 3600) {
    return whole % 60 == 0 ? cat(whole / 60, " min") : cat(whole / 60, " min ", whole % 60, " s");
  }
  if (whole < 172800) {
    const std::uint64_t minutes = whole % 3600 / 60;
    return minutes == 0 ? cat(whole / 3600, " h") : cat(whole / 3600, " h ", minutes, " min");
  }
  return cat(measured(seconds / 86400), " d");
}

// ---------------------------------------------------------------------------------------------
// The runs added up

struct Totals {
  std::uint64_t rows = 0;        // the recipients file's rows, as the last run read it
  std::uint64_t recipients = 0;  // distinct recipients handed to the shards, every run
  std::uint64_t delivered = 0;
  std::uint64_t bounced = 0;
  std::uint64_t deferred = 0;       // still deferred after the last run
  std::uint64_t rejected = 0;       // the last run's: every run reads the file again
  std::uint64_t suppressed = 0;     // the same
  std::uint64_t not_attempted = 0;  // the last run's
  std::uint64_t attempts_deferred = 0;
  std::uint64_t connections = 0;
  std::uint64_t servers_greeted = 0;
  std::uint64_t tls_handshakes = 0;
  std::uint64_t possible_duplicates = 0;
  std::uint64_t events = 0;  // shaping events recorded, every run
  double duration_s = 0;     // the runs' durations added: the time spent sending
};

// Delivered and bounced recipients are final: a later run skips them, so their counts add up.
// Deferred, rejected, suppressed and not attempted are looked at again by the next run, so the
// last run's counts are the campaign's. The distinct recipients are those made final before
// the last run plus those the last run handed out.
Totals add_up(const std::vector<RunRecord>& runs) {
  Totals totals;
  for (const RunRecord& run : runs) {
    totals.recipients = totals.delivered + totals.bounced + run.recipients;
    totals.delivered += run.delivered;
    totals.bounced += run.bounced;
    totals.attempts_deferred += run.attempts_deferred;
    totals.connections += run.connections;
    totals.servers_greeted += run.servers_greeted;
    totals.tls_handshakes += run.tls_handshakes;
    totals.possible_duplicates += run.possible_duplicates;
    totals.events += run.events.size() + run.events_dropped;
    totals.duration_s += std::max(run.duration_s, 0.0);
  }
  if (!runs.empty()) {
    const RunRecord& last = runs.back();
    totals.rows = std::max(last.total_rows, last.rows);
    totals.deferred = last.deferred;
    totals.rejected = last.rejected;
    totals.suppressed = last.suppressed;
    totals.not_attempted = last.not_attempted;
  }
  return totals;
}

// Most first (`count`), then by name (`name`); at most `count_max`.
template <typename Item, typename Count, typename Name>
void sort_and_cut(std::vector<Item>& items, Count count, Name name, std::size_t count_max) {
  std::sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
    if (count(a) != count(b)) return count(a) > count(b);
    return name(a) < name(b);
  });
  if (items.size() > count_max) items.resize(count_max);
}

// Each run's largest destinations (or providers) added up by name, the largest first. Each
// run kept only its own largest, so a name small in every run may be missing: a top list.
std::vector<NamedOutcomes> merged_outcomes(const std::vector<RunRecord>& runs,
                                           std::vector<NamedOutcomes> RunRecord::*list) {
  std::map<std::string, NamedOutcomes, std::less<>> by_name;
  for (const RunRecord& run : runs) {
    for (const NamedOutcomes& item : run.*list) {
      NamedOutcomes& sum = by_name[item.name];
      sum.name = item.name;
      sum.delivered += item.delivered;
      sum.bounced += item.bounced;
      sum.deferred += item.deferred;
    }
  }
  std::vector<NamedOutcomes> merged;
  merged.reserve(by_name.size());
  for (auto& [name, item] : by_name) merged.push_back(std::move(item));
  sort_and_cut(
      merged, [](const NamedOutcomes& item) { return item.total(); },
      [](const NamedOutcomes& item) -> const std::string& { return item.name; }, run_top_max);
  return merged;
}

ReasonCounts merged_reasons(const std::vector<RunRecord>& runs, ReasonCounts RunRecord::*list) {
  std::map<std::string, std::uint64_t, std::less<>> by_reason;
  for (const RunRecord& run : runs) {
    for (const auto& [reason, count] : run.*list) by_reason[reason] += count;
  }
  ReasonCounts merged(by_reason.begin(), by_reason.end());
  sort_and_cut(
      merged, [](const auto& item) { return item.second; },
      [](const auto& item) -> const std::string& { return item.first; }, run_top_max);
  return merged;
}

// ---------------------------------------------------------------------------------------------
// The time axis
//
// The runs are laid end to end: each run takes the length of its own duration, the next one
// starts where it ended, and a dashed line marks where a run starts. A campaign's later runs
// often come hours after the first (the retries of deferred recipients), and on a wall clock
// the charts would be a few thin slivers in an empty plane; end to end, every run gets room in
// proportion to its sending time, and the runs table gives the wall-clock times.

struct TimePoint {
  double t_s = 0;          // the end of the interval, on the report's axis
  double span_s = 0;       // the interval's length
  std::uint64_t sent = 0;  // delivered + bounced in the interval
  std::uint64_t bounced = 0;
  std::uint64_t attempts_deferred = 0;
  std::uint64_t connections_open = 0;  // at the end (the largest, once thinned)
};

struct RunSpan {
  double offset_s = 0;  // where the run starts on the axis
  double length_s = 0;
  std::uint32_t run = 0;
  double started_unix_s = 0;
};

struct Timeline {
  std::vector<TimePoint> points;
  std::vector<RunSpan> runs;  // one per run, in order
  double length_s = 0;
};

std::uint64_t increase(std::uint64_t now, std::uint64_t before) {
  return now > before ? now - before : 0;
}

// Consecutive points merged in groups, so that at most `points_max` remain: counts added,
// intervals joined, the gauge's largest value kept.
void thin(std::vector<TimePoint>& points, std::size_t points_max) {
  HAYATE_ASSERT(points_max > 0);
  if (points.size() <= points_max) return;
  const std::size_t group = (points.size() + points_max - 1) / points_max;
  std::vector<TimePoint> thinned;
  thinned.reserve(points.size() / group + 1);
  for (std::size_t first = 0; first < points.size(); first += group) {
    TimePoint merged = points[first];
    for (std::size_t i = first + 1; i < std::min(first + group, points.size()); ++i) {
      merged.t_s = points[i].t_s;
      merged.span_s += points[i].span_s;
      merged.sent += points[i].sent;
      merged.bounced += points[i].bounced;
      merged.attempts_deferred += points[i].attempts_deferred;
      merged.connections_open = std::max(merged.connections_open, points[i].connections_open);
    }
    thinned.push_back(merged);
  }
  points = std::move(thinned);
  HAYATE_ASSERT(points.size() <= points_max);
}

// The series of every run as intervals between consecutive samples (the counts are since the
// run began, so an interval's count is the difference), on the report's axis.
Timeline build_timeline(const std::vector<RunRecord>& runs) {
  Timeline timeline;
  double offset_s = 0;
  for (const RunRecord& run : runs) {
    const std::vector<SeriesPoint>& points = run.series.points();
    double length_s = std::max(run.duration_s, 0.0);
    if (!points.empty()) length_s = std::max(length_s, points.back().t_s);
    if (run.ended_unix_s > run.started_unix_s) {
      length_s = std::max(length_s, run.ended_unix_s - run.started_unix_s);
    }
    timeline.runs.push_back({offset_s, length_s, run.run, run.started_unix_s});
    SeriesPoint last;  // the run's start: nothing yet
    for (const SeriesPoint& point : points) {
      if (!(point.t_s > last.t_s)) continue;  // out of order or repeated: counted with the next
      timeline.points.push_back({
          .t_s = offset_s + point.t_s,
          .span_s = point.t_s - last.t_s,
          .sent = increase(point.delivered + point.bounced, last.delivered + last.bounced),
          .bounced = increase(point.bounced, last.bounced),
          .attempts_deferred = increase(point.attempts_deferred, last.attempts_deferred),
          .connections_open = point.connections_open,
      });
      last = point;
    }
    offset_s += length_s;
  }
  timeline.length_s = offset_s;
  thin(timeline.points, time_points_max);
  return timeline;
}

// Where a moment of run `index` lies on the axis, kept within the run.
double axis_time_s(const Timeline& timeline, std::size_t index, const RunRecord& run,
                   std::int64_t unix_ms) {
  const RunSpan& span = timeline.runs[index];
  const double into_run_s = static_cast<double>(unix_ms) / 1000.0 - run.started_unix_s;
  return span.offset_s + std::clamp(into_run_s, 0.0, span.length_s);
}

// ---------------------------------------------------------------------------------------------
// SVG pieces

// The plot area of a chart, in viewBox units.
struct Frame {
  double left = 0;
  double top = 0;
  double width = 0;
  double height = 0;
  double bottom() const { return top + height; }
};

constexpr double chart_width = 800;
constexpr Frame time_frame{.left = 60, .top = 28, .width = 720, .height = 220};
constexpr double time_chart_height = 290;

void open_chart(std::string& html, std::string_view name, std::string_view title, double width,
                double height) {
  append(html, "<svg class=\"chart\" id=\"chart-", name, "\" data-chart=\"", name,
         "\" viewBox=\"0 0 ", fixed(width, 0), " ", fixed(height, 0),
         "\" preserveAspectRatio=\"xMidYMid meet\" role=\"img\" aria-label=\"");
  append_escaped(html, title);
  html += "\">";
}

// A chart with nothing to draw: the same id, a "no data" text and no mark.
void empty_chart(std::string& html, std::string_view name, std::string_view title) {
  open_chart(html, name, title, chart_width, 80);
  html += "<text class=\"empty\" x=\"400\" y=\"46\" text-anchor=\"middle\">no data</text></svg>\n";
}

// A value axis from 0: a round step (1, 2 or 5 times a power of ten) and the top, a multiple
// of it, at or above the peak, with at most five steps.
struct YScale {
  double step = 1;
  double max = 1;
};

YScale y_scale(double peak) {
  if (!(peak > 0) || !std::isfinite(peak)) return {};
  double power = std::pow(10.0, std::floor(std::log10(peak / 5)));
  for (int i = 0; i < 4; ++i, power *= 10) {
    for (double factor : {1.0, 2.0, 5.0}) {
      const double step = factor * power;
      const double steps = std::ceil(peak / step - 1e-9);
      if (steps <= 5) return {step, std::max(steps, 1.0) * step};
    }
  }
  return {peak, peak};
}

void draw_y_axis(std::string& html, const Frame& frame, const YScale& scale) {
  const int steps = static_cast<int>(std::lround(scale.max / scale.step));
  HAYATE_ASSERT(steps >= 1 && steps <= 5);
  for (int i = 0; i <= steps; ++i) {
    const double y = frame.bottom() - frame.height * i / steps;
    append(html, "<line class=\"grid\" x1=\"", fixed(frame.left, 1), "\" x2=\"",
           fixed(frame.left + frame.width, 1), "\" y1=\"", fixed(y, 1), "\" y2=\"", fixed(y, 1),
           "\"/><text class=\"axis\" x=\"", fixed(frame.left - 6, 1), "\" y=\"", fixed(y + 4, 1),
           "\" text-anchor=\"end\">", axis_number(scale.step * i), "</text>");
  }
}

// Ticks at a round step, at most about eight of them.
void draw_time_axis(std::string& html, const Frame& frame, double length_s) {
  static constexpr std::array<double, 22> steps_s = {
      1,    2,    5,    10,    15,    30,    60,    120,    300,    600,     900,
      1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000, 31536000};
  double step_s = steps_s.back();
  for (double candidate : steps_s) {
    if (length_s / candidate <= 8) {
      step_s = candidate;
      break;
    }
  }
  for (int i = 0; i * step_s <= length_s * (1 + 1e-9) && i <= 400; ++i) {
    const double x = frame.left + frame.width * (i * step_s) / length_s;
    append(html, "<line class=\"tick\" x1=\"", fixed(x, 1), "\" x2=\"", fixed(x, 1), "\" y1=\"",
           fixed(frame.bottom(), 1), "\" y2=\"", fixed(frame.bottom() + 5, 1),
           "\"/><text class=\"axis\" x=\"", fixed(x, 1), "\" y=\"", fixed(frame.bottom() + 20, 1),
           "\" text-anchor=\"middle\">", elapsed_label(i * step_s), "</text>");
  }
}

// A dashed line where each run after the first starts; the run's number on top while there
// are few enough to read.
void draw_run_separators(std::string& html, const Frame& frame, const Timeline& timeline) {
  const bool labelled = timeline.runs.size() > 1 && timeline.runs.size() <= 12;
  for (const RunSpan& span : timeline.runs) {
    const double x = frame.left + frame.width * span.offset_s / timeline.length_s;
    if (span.offset_s > 0) {
      append(html, "<line class=\"run-start\" x1=\"", fixed(x, 1), "\" x2=\"", fixed(x, 1),
             "\" y1=\"", fixed(frame.top - 8, 1), "\" y2=\"", fixed(frame.bottom(), 1),
             "\"><title>run ", span.run, " started ", utc_text(span.started_unix_s),
             "</title></line>");
    }
    if (labelled) {
      append(html, "<text class=\"run-label\" x=\"", fixed(x + 4, 1), "\" y=\"",
             fixed(frame.top - 10, 1), "\">run ", span.run, "</text>");
    }
  }
}

// One line of a time chart: a polyline through `values` (one per timeline point). data-value
// is `total`, what the line adds up to (or its peak, for a gauge); data-values lists the
// plotted values in order.
void draw_line(std::string& html, const Frame& frame, const Timeline& timeline,
               const std::vector<double>& values, double y_max, std::string_view kind,
               std::string_view label, std::string_view total) {
  HAYATE_ASSERT(values.size() == timeline.points.size());
  append(html, "<polyline class=\"mark line line-", kind, "\" data-label=\"", label,
         "\" data-value=\"", total, "\" data-values=\"");
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) html += ' ';
    html += measured(values[i]);
  }
  html += "\" points=\"";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) html += ' ';
    append_fixed(html, frame.left + frame.width * timeline.points[i].t_s / timeline.length_s, 1);
    html += ',';
    append_fixed(html, frame.bottom() - frame.height * std::min(values[i] / y_max, 1.0), 1);
  }
  append(html, "\"><title>", label, "</title></polyline>");
  // A polyline of one point draws nothing: a run shorter than the sampling interval has one
  // value, shown as a ring.
  if (values.size() == 1) {
    append(html, "<circle class=\"line line-", kind, "\" r=\"4\" cx=\"");
    append_fixed(html, frame.left + frame.width * timeline.points[0].t_s / timeline.length_s, 1);
    html += "\" cy=\"";
    append_fixed(html, frame.bottom() - frame.height * std::min(values[0] / y_max, 1.0), 1);
    html += "\"/>";
  }
}

std::string_view event_kind(std::string_view event) {
  for (std::string_view known : {"throttled", "suspended", "resumed", "recovered"}) {
    if (event == known) return known;
  }
  return "other";
}

// A vertical marker per shaping event; past event_markers_max, an even sample of them.
// data-value: where it is on the axis, in seconds; data-label: the event and destination.
void draw_event_markers(std::string& html, const Frame& frame, const Timeline& timeline,
                        const std::vector<RunRecord>& runs) {
  std::size_t total = 0;
  for (const RunRecord& run : runs) total += run.events.size();
  std::size_t seen = 0;
  std::size_t drawn = 0;
  for (std::size_t index = 0; index < runs.size(); ++index) {
    for (const ShapingEvent& event : runs[index].events) {
      const std::size_t position = seen++;
      // The drawn-th marker is the event at position drawn * total / max.
      if (total > event_markers_max && position != drawn * total / event_markers_max) continue;
      ++drawn;
      const double t_s = axis_time_s(timeline, index, runs[index], event.time_unix_ms);
      const double x = frame.left + frame.width * t_s / timeline.length_s;
      const std::string label = escaped(cat(event.event, " ", event.destination));
      append(html, "<line class=\"mark event event-", event_kind(event.event), "\" x1=\"",
             fixed(x, 1), "\" x2=\"", fixed(x, 1), "\" y1=\"", fixed(frame.top, 1), "\" y2=\"",
             fixed(frame.bottom(), 1), "\" data-value=\"", measured(t_s), "\" data-label=\"", label,
             "\"><title>", label);
      if (event.code != 0) append(html, ": ", event.code, " ");
      if (!event.enhanced.empty()) append(html, escaped(event.enhanced), " ");
      append(html, escaped(event.reply), " (", utc_text(event.time_unix_ms / 1000.0),
             ")</title></line>");
    }
  }
  HAYATE_ASSERT(drawn <= event_markers_max);
}

// ---------------------------------------------------------------------------------------------
// Charts

std::uint64_t series_total(const Timeline& timeline, std::uint64_t TimePoint::*count) {
  std::uint64_t total = 0;
  for (const TimePoint& point : timeline.points) total += point.*count;
  return total;
}

std::vector<double> rates(const Timeline& timeline, std::uint64_t TimePoint::*count) {
  std::vector<double> values;
  values.reserve(timeline.points.size());
  for (const TimePoint& point : timeline.points) {
    values.push_back(static_cast<double>(point.*count) / point.span_s);
  }
  return values;
}

void chart_rate(std::string& html, const Timeline& timeline, const std::vector<RunRecord>& runs) {
  constexpr std::string_view title = "Messages per second over time";
  if (timeline.points.empty() || !(timeline.length_s > 0)) return empty_chart(html, "rate", title);
  const std::vector<double> sent = rates(timeline, &TimePoint::sent);
  const std::vector<double> bounced = rates(timeline, &TimePoint::bounced);
  const std::vector<double> deferred = rates(timeline, &TimePoint::attempts_deferred);
  double peak = 0;
  for (const auto* values : {&sent, &bounced, &deferred}) {
    for (double value : *values) peak = std::max(peak, value);
  }
  const double y_max = y_scale(peak).max;
  const Frame& frame = time_frame;
  open_chart(html, "rate", title, chart_width, time_chart_height);
  draw_y_axis(html, frame, y_scale(peak));
  draw_time_axis(html, frame, timeline.length_s);
  draw_run_separators(html, frame, timeline);
  draw_event_markers(html, frame, timeline, runs);
  draw_line(html, frame, timeline, deferred, y_max, "deferred", "attempts deferred per second",
            std::to_string(series_total(timeline, &TimePoint::attempts_deferred)));
  draw_line(html, frame, timeline, bounced, y_max, "bounced", "bounced per second",
            std::to_string(series_total(timeline, &TimePoint::bounced)));
  draw_line(html, frame, timeline, sent, y_max, "sent", "delivered + bounced per second",
            std::to_string(series_total(timeline, &TimePoint::sent)));
  html += "</svg>\n";
}

void chart_connections(std::string& html, const Timeline& timeline) {
  constexpr std::string_view title = "Open connections over time";
  if (timeline.points.empty() || !(timeline.length_s > 0)) {
    return empty_chart(html, "connections", title);
  }
  std::vector<double> open;
  open.reserve(timeline.points.size());
  std::uint64_t peak = 0;
  for (const TimePoint& point : timeline.points) {
    open.push_back(static_cast<double>(point.connections_open));
    peak = std::max(peak, point.connections_open);
  }
  const YScale scale = y_scale(static_cast<double>(peak));
  const double y_max = scale.max;
  open_chart(html, "connections", title, chart_width, time_chart_height);
  draw_y_axis(html, time_frame, scale);
  draw_time_axis(html, time_frame, timeline.length_s);
  draw_run_separators(html, time_frame, timeline);
  draw_line(html, time_frame, timeline, open, y_max, "connections", "connections open",
            std::to_string(peak));
  html += "</svg>\n";
}

// One horizontal bar made of segments, left to right, each a rect with its count.
struct Segment {
  std::string_view kind;  // delivered, bounced, deferred, tls, plain, reason
  std::uint64_t value = 0;
};

constexpr double bars_label_width = 300;  // the names' column, right-aligned
constexpr double bars_left = 310;
constexpr double bars_width = 400;  // room on the right for the total
constexpr double bar_row_height = 26;

void draw_bar_row(std::string& html, double y, std::string_view name,
                  const std::vector<Segment>& segments, std::uint64_t scale_max) {
  const std::string label = escaped(name.empty() ? "(none)" : name);
  append(html, "<text class=\"label\" x=\"", fixed(bars_label_width, 0), "\" y=\"",
         fixed(y + 17, 1), "\" text-anchor=\"end\">", escaped(shortened(name, label_bytes_max)),
         "<title>", label, "</title></text>");
  double x = bars_left;
  std::uint64_t total = 0;
  for (const Segment& segment : segments) {
    const double width = bars_width * static_cast<double>(segment.value) / scale_max;
    append(html, "<rect class=\"mark seg seg-", segment.kind, "\" x=\"", fixed(x, 1), "\" y=\"",
           fixed(y + 4, 1), "\" width=\"", fixed(width, 1), "\" height=\"",
           fixed(bar_row_height - 8, 1), "\" data-value=\"", segment.value, "\" data-label=\"",
           label, "\"><title>", label, ": ", grouped(segment.value), " ", segment.kind,
           "</title></rect>");
    x += width;
    total += segment.value;
  }
  append(html, "<text class=\"value\" x=\"", fixed(x + 6, 1), "\" y=\"", fixed(y + 17, 1), "\">",
         grouped(total), "</text>");
}

void chart_outcomes(std::string& html, std::string_view name, std::string_view title,
                    const std::vector<NamedOutcomes>& rows) {
  std::uint64_t scale_max = 0;
  for (const NamedOutcomes& row : rows) scale_max = std::max(scale_max, row.total());
  if (scale_max == 0) return empty_chart(html, name, title);
  open_chart(html, name, title, chart_width, 16 + bar_row_height * rows.size());
  double y = 8;
  for (const NamedOutcomes& row : rows) {
    draw_bar_row(
        html, y, row.name,
        {{"delivered", row.delivered}, {"bounced", row.bounced}, {"deferred", row.deferred}},
        scale_max);
    y += bar_row_height;
  }
  html += "</svg>\n";
}

void chart_reasons(std::string& html, std::string_view name, std::string_view title,
                   std::string_view kind, const ReasonCounts& reasons) {
  std::uint64_t scale_max = 0;
  for (const auto& [reason, count] : reasons) scale_max = std::max(scale_max, count);
  if (scale_max == 0) return empty_chart(html, name, title);
  open_chart(html, name, title, chart_width, 16 + bar_row_height * reasons.size());
  double y = 8;
  for (const auto& [reason, count] : reasons) {
    draw_bar_row(html, y, reason, {{kind, count}}, scale_max);
    y += bar_row_height;
  }
  html += "</svg>\n";
}

// A latency in the unit that reads best: "25 ms", "2.5 s", "5 min".
std::string latency_text(double ms) {
  if (ms < 1000) return cat(measured(ms), " ms");
  if (ms < 60000) return cat(measured(ms / 1000), " s");
  return cat(measured(ms / 60000), " min");
}

// A bucket's name: its upper bound, "> 5 min" for the open one.
std::string bucket_label(std::size_t bucket) {
  const auto& bounds = LatencyHistogram::bounds_ms;
  if (bucket >= bounds.size()) return cat("> ", latency_text(bounds.back()));
  return latency_text(bounds[bucket]);
}

void draw_quantiles(std::string& html, const Frame& frame, const LatencyHistogram& latency,
                    double bucket_width) {
  constexpr std::array<std::pair<std::string_view, double>, 3> quantiles = {
      {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}}};
  for (std::size_t q = 0; q < quantiles.size(); ++q) {
    const double value_ms = latency.quantile_ms(quantiles[q].second);
    std::size_t bucket = 0;
    while (bucket + 1 < LatencyHistogram::bounds_ms.size() &&
           LatencyHistogram::bounds_ms[bucket] < value_ms) {
      ++bucket;
    }
    const double x = frame.left + bucket_width * (bucket + 1);
    append(html, "<line class=\"quantile\" x1=\"", fixed(x, 1), "\" x2=\"", fixed(x, 1), "\" y1=\"",
           fixed(frame.top, 1), "\" y2=\"", fixed(frame.bottom(), 1),
           "\"/><text class=\"quantile-label\" x=\"", fixed(x - 3, 1), "\" y=\"",
           fixed(frame.top + 14 + 16 * q, 1), "\" text-anchor=\"end\" data-label=\"",
           quantiles[q].first, "\" data-value=\"", measured(value_ms), "\">", quantiles[q].first,
           " \xE2\x89\xA4 ", bucket_label(bucket), "</text>");
  }
}

void chart_latency(std::string& html, const LatencyHistogram& latency) {
  constexpr std::string_view title = "Delivery latency distribution";
  std::uint64_t peak = 0;
  for (std::uint64_t count : latency.counts) peak = std::max(peak, count);
  if (latency.count == 0 || peak == 0) return empty_chart(html, "latency", title);
  const YScale scale = y_scale(static_cast<double>(peak));
  const double y_max = scale.max;
  const Frame frame{.left = 60, .top = 16, .width = 720, .height = 220};
  const double bucket_width = frame.width / LatencyHistogram::bucket_count;
  open_chart(html, "latency", title, chart_width, 290);
  draw_y_axis(html, frame, scale);
  for (std::size_t bucket = 0; bucket < LatencyHistogram::bucket_count; ++bucket) {
    const std::uint64_t count = latency.counts[bucket];
    const double height = frame.height * static_cast<double>(count) / y_max;
    const double x = frame.left + bucket_width * bucket;
    const std::string label = bucket_label(bucket);
    append(html, "<rect class=\"mark bar bar-latency\" x=\"", fixed(x + 2, 1), "\" y=\"",
           fixed(frame.bottom() - height, 1), "\" width=\"", fixed(bucket_width - 4, 1),
           "\" height=\"", fixed(height, 1), "\" data-value=\"", count, "\" data-label=\"",
           bucket == 0 ? "\xE2\x89\xA4 " : "", label, "\"><title>", grouped(count), " deliveries ",
           bucket == 0 ? "\xE2\x89\xA4 " : "", label, "</title></rect>");
    // Every other label: fifteen do not fit side by side.
    if (bucket % 2 == 0 || bucket + 1 == LatencyHistogram::bucket_count) {
      append(html, "<text class=\"axis\" x=\"", fixed(x + bucket_width / 2, 1), "\" y=\"",
             fixed(frame.bottom() + 20, 1), "\" text-anchor=\"middle\">", label, "</text>");
    }
  }
  draw_quantiles(html, frame, latency, bucket_width);
  html += "</svg>\n";
}

void chart_tls(std::string& html, const Totals& totals) {
  constexpr std::string_view title = "Share of servers greeted that spoke TLS";
  if (totals.servers_greeted == 0) return empty_chart(html, "tls", title);
  const std::uint64_t tls = std::min(totals.tls_handshakes, totals.servers_greeted);
  open_chart(html, "tls", title, chart_width, 16 + bar_row_height * 2);
  draw_bar_row(html, 8, "servers greeted", {{"tls", tls}, {"plain", totals.servers_greeted - tls}},
               totals.servers_greeted);
  const double share = 100.0 * static_cast<double>(tls) / totals.servers_greeted;
  append(html, "<text class=\"share\" x=\"", fixed(bars_left, 0), "\" y=\"",
         fixed(8 + bar_row_height + 17, 1), "\" data-value=\"", measured(share), "\">",
         fixed(share, 1), "% with TLS</text></svg>\n");
}

// ---------------------------------------------------------------------------------------------
// HTML sections

void append_figure(std::string& html, std::string_view name, std::string_view value_text,
                   std::string_view value, std::string_view note = {}) {
  append(html, "<div class=\"figure\" data-figure=\"", name, "\" data-value=\"", value,
         "\"><span class=\"value\">", value_text, "</span><span class=\"name\">", name);
  if (!note.empty()) append(html, " <small>", note, "</small>");
  html += "</span></div>";
}

void append_count_figure(std::string& html, std::string_view name, std::uint64_t value,
                         std::string_view note = {}) {
  append_figure(html, name, grouped(value), std::to_string(value), note);
}

void section_summary(std::string& html, const std::vector<RunRecord>& runs, const Totals& totals) {
  html += "<section id=\"summary\"><h2>Summary</h2><div class=\"figures\">";
  append_count_figure(html, "recipients", totals.recipients);
  append_count_figure(html, "delivered", totals.delivered);
  append_count_figure(html, "bounced", totals.bounced);
  append_count_figure(html, "deferred", totals.deferred, "after the last run");
  append_count_figure(html, "rejected", totals.rejected);
  append_count_figure(html, "suppressed", totals.suppressed);
  append_count_figure(html, "not attempted", totals.not_attempted);
  const double rate =
      totals.duration_s > 0
          ? static_cast<double>(totals.delivered + totals.bounced) / totals.duration_s
          : 0;
  append_figure(html, "messages per second", fixed(rate, 1), measured(rate));
  append_figure(html, "duration", duration_text(totals.duration_s), measured(totals.duration_s),
                "sending, every run");
  append_count_figure(html, "runs", runs.size());
  if (!runs.empty()) {
    const RunRecord& last = runs.back();
    const std::string code = last.exit_code < 0 ? "running" : std::to_string(last.exit_code);
    append_figure(html, "last state", escaped(last.state), escaped(last.state), cat("exit ", code));
  }
  append_count_figure(html, "connections", totals.connections);
  append_count_figure(html, "possible duplicates", totals.possible_duplicates);
  html += "</div>";
  if (totals.rows > 0) {
    append(html, "<p class=\"note\">", grouped(totals.rows),
           " rows in the recipients file. Delivered and bounced add up over the runs; deferred, "
           "rejected, suppressed and not attempted are the last run's.</p>");
  }
  html += "</section>\n";
}

void append_legend(std::string& html,
                   std::initializer_list<std::pair<std::string_view, std::string_view>> keys) {
  html += "<p class=\"legend\">";
  for (const auto& [kind, text] : keys) {
    append(html, "<span><i class=\"key key-", kind, "\"></i>", text, "</span>");
  }
  html += "</p>";
}

void section_time(std::string& html, const std::vector<RunRecord>& runs, const Timeline& timeline,
                  const Totals& totals) {
  html += "<section id=\"throughput\"><h2>Messages per second</h2>";
  append_legend(html, {{"sent", "delivered + bounced"},
                       {"bounced", "bounced"},
                       {"deferred", "attempts deferred"},
                       {"throttled", "throttled"},
                       {"suspended", "suspended"},
                       {"resumed", "resumed"},
                       {"recovered", "recovered"}});
  chart_rate(html, timeline, runs);
  html += "<p class=\"note\">";
  if (timeline.runs.size() > 1) {
    html +=
        "Runs are drawn one after another, each as long as it ran (a dashed line where a run "
        "starts). ";
  }
  html += "The vertical markers are shaping events: hover one for its destination and reply.";
  std::size_t recorded = 0;
  for (const RunRecord& run : runs) recorded += run.events.size();
  if (recorded > event_markers_max) {
    append(html, " ", grouped(event_markers_max), " of ", grouped(recorded),
           " events are drawn, evenly spread.");
  }
  if (totals.events > recorded) {
    append(html, " ", grouped(totals.events - recorded), " more were not recorded.");
  }
  html += "</p></section>\n<section id=\"connections\"><h2>Connections</h2>";
  chart_connections(html, timeline);
  html += "</section>\n";
}

void section_outcomes(std::string& html, const std::vector<RunRecord>& runs) {
  html += "<section id=\"destinations\"><h2>Outcomes per destination domain</h2>";
  append_legend(
      html,
      {{"delivered", "delivered"}, {"bounced", "bounced"}, {"deferred", "attempts deferred"}});
  chart_outcomes(html, "destinations", "Outcomes per destination domain (largest 20)",
                 merged_outcomes(runs, &RunRecord::destinations));
  html += "</section>\n<section id=\"providers\"><h2>Outcomes per provider</h2>";
  chart_outcomes(html, "providers", "Outcomes per provider (largest 20)",
                 merged_outcomes(runs, &RunRecord::providers));
  html += "</section>\n<section id=\"bounce-reasons\"><h2>Bounce reasons</h2>";
  chart_reasons(html, "bounce-reasons", "Bounced recipients per reason", "bounced",
                merged_reasons(runs, &RunRecord::bounce_reasons));
  html += "</section>\n<section id=\"deferral-reasons\"><h2>Deferral reasons</h2>";
  chart_reasons(html, "deferral-reasons", "Attempts deferred per reason", "deferred",
                merged_reasons(runs, &RunRecord::deferral_reasons));
  html += "</section>\n";
}

void section_latency_tls(std::string& html, const std::vector<RunRecord>& runs,
                         const Totals& totals) {
  LatencyHistogram latency;
  for (const RunRecord& run : runs) latency.merge(run.latency);
  html += "<section id=\"latency\"><h2>Delivery latency</h2>";
  if (latency.count > 0) {
    append(html, "<p class=\"note\">", grouped(latency.count),
           " transactions, from the first command to the reply that decided: p50 \xE2\x89\xA4 ",
           latency_text(latency.quantile_ms(0.5)), ", p90 \xE2\x89\xA4 ",
           latency_text(latency.quantile_ms(0.9)), ", p99 \xE2\x89\xA4 ",
           latency_text(latency.quantile_ms(0.99)), ", mean ",
           latency_text(std::round(latency.sum_ms / static_cast<double>(latency.count))), ".</p>");
  }
  chart_latency(html, latency);
  html += "</section>\n<section id=\"tls\"><h2>TLS</h2>";
  append_legend(html, {{"tls", "TLS"}, {"plain", "plain text"}});
  chart_tls(html, totals);
  html += "</section>\n";
}

// Shaping events per destination: how often each was throttled, suspended, resumed, recovered.
void append_events_table(std::string& html, const std::vector<RunRecord>& runs) {
  constexpr std::array<std::string_view, 4> kinds = {"throttled", "suspended", "resumed",
                                                     "recovered"};
  std::map<std::string, std::array<std::uint64_t, 5>, std::less<>> by_destination;
  for (const RunRecord& run : runs) {
    for (const ShapingEvent& event : run.events) {
      auto& counts = by_destination[event.destination];
      std::size_t kind = 0;
      while (kind < kinds.size() && kinds[kind] != event.event) ++kind;
      ++counts[kind];
    }
  }
  if (by_destination.empty()) return;
  std::vector<std::pair<std::string, std::array<std::uint64_t, 5>>> rows(by_destination.begin(),
                                                                         by_destination.end());
  auto events = [](const auto& row) {
    std::uint64_t sum = 0;
    for (std::uint64_t count : row.second) sum += count;
    return sum;
  };
  sort_and_cut(
      rows, events, [](const auto& row) -> const std::string& { return row.first; }, run_top_max);
  html +=
      "<h3>Shaping events per destination</h3><div class=\"table-wrap\"><table><thead><tr>"
      "<th>destination</th><th class=\"num\">throttled</th><th class=\"num\">suspended</th>"
      "<th class=\"num\">resumed</th><th class=\"num\">recovered</th></tr></thead><tbody>";
  for (const auto& [destination, counts] : rows) {
    append(html, "<tr><td>", escaped(destination), "</td>");
    for (std::size_t kind = 0; kind < kinds.size(); ++kind) {
      append(html, "<td class=\"num\">", grouped(counts[kind]), "</td>");
    }
    html += "</tr>";
  }
  html += "</tbody></table></div>";
}

void append_held_table(std::string& html, const RunRecord& last) {
  append(html, "<h3>Held destinations at the end of run ", last.run, "</h3>");
  if (last.held.empty()) {
    html += "<p class=\"note\">None: no destination was throttled or suspended.</p>";
    return;
  }
  html +=
      "<div class=\"table-wrap\"><table id=\"held\"><thead><tr><th>destination</th>"
      "<th>state</th><th>cause</th><th>until</th></tr></thead><tbody>";
  const std::size_t shown = std::min(last.held.size(), held_rows_max);
  for (std::size_t i = 0; i < shown; ++i) {
    const HeldDestination& held = last.held[i];
    append(html, "<tr><td>", escaped(held.destination), "</td><td>", escaped(held.state),
           "</td><td>", escaped(held.cause), "</td><td>",
           held.until_unix_ms > 0 ? utc_text(held.until_unix_ms / 1000.0) : "", "</td></tr>");
  }
  html += "</tbody></table></div>";
  if (shown < last.held.size()) {
    append(html, "<p class=\"note\">", grouped(last.held.size() - shown), " more.</p>");
  }
}

void append_runs_table(std::string& html, const std::vector<RunRecord>& runs) {
  html +=
      "<div class=\"table-wrap\"><table id=\"runs\"><thead><tr><th class=\"num\">run</th>"
      "<th>state</th><th>started</th><th class=\"num\">duration</th>"
      "<th class=\"num\">delivered</th><th class=\"num\">bounced</th>"
      "<th class=\"num\">deferred</th><th class=\"num\">rejected</th>"
      "<th class=\"num\">exit</th></tr></thead><tbody>";
  const std::size_t first = runs.size() > runs_rows_max ? runs.size() - runs_rows_max : 0;
  for (std::size_t i = first; i < runs.size(); ++i) {
    const RunRecord& run = runs[i];
    append(html, "<tr data-run=\"", run.run, "\"><td class=\"num\">", run.run, "</td><td>",
           escaped(run.state));
    if (!run.state_detail.empty())
      append(html, "<br><small>", escaped(run.state_detail), "</small>");
    append(html, "</td><td class=\"when\">", utc_text(run.started_unix_s),
           "</td><td class=\"num\">", duration_text(run.duration_s), "</td><td class=\"num\">",
           grouped(run.delivered), "</td><td class=\"num\">", grouped(run.bounced),
           "</td><td class=\"num\">", grouped(run.deferred), "</td><td class=\"num\">",
           grouped(run.rejected), "</td><td class=\"num\">",
           run.exit_code < 0 ? std::string("\xE2\x80\x94") : std::to_string(run.exit_code),
           "</td></tr>");
  }
  html += "</tbody></table></div>";
  if (first > 0)
    append(html, "<p class=\"note\">The first ", grouped(first), " runs are not listed.</p>");
}

void section_runs(std::string& html, const std::vector<RunRecord>& runs) {
  html += "<section id=\"runs-section\"><h2>Runs and held destinations</h2>";
  if (runs.empty()) {
    html += "<p class=\"note\">No run has been recorded.</p></section>\n";
    return;
  }
  append_runs_table(html, runs);
  append_held_table(html, runs.back());
  append_events_table(html, runs);
  html += "</section>\n";
}

// The page's CSS. Colours name outcomes the same way everywhere; legend keys are borders, not
// backgrounds, so that they survive printing.
constexpr std::string_view style = R"css(
:root{--delivered:#2e7d32;--bounced:#c62828;--deferred:#ef8f00;--conn:#1565c0;
--throttled:#e65100;--suspended:#6a1b9a;--resumed:#00838f;--recovered:#7cb342;--plain:#b0bec5}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1b1f24;background:#f3f4f6}
main{max-width:1040px;margin:0 auto;padding:16px}
header h1{font-size:1.5rem;margin:8px 0 2px;overflow-wrap:anywhere}
header p{margin:0 0 16px;color:#57606a}
section{background:#fff;border:1px solid #d8dde3;border-radius:8px;padding:12px 16px;
margin:0 0 16px}
h2{font-size:1.15rem;margin:0 0 8px}
h3{font-size:1rem;margin:16px 0 6px}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px}
.figure{border:1px solid #e3e6ea;border-radius:6px;padding:8px 10px;background:#fafbfc}
.figure .value{display:block;font-size:1.35rem;font-weight:600;overflow-wrap:anywhere}
.figure .name{color:#57606a;font-size:.85rem}
.figure small{display:block}
svg.chart{display:block;width:100%;height:auto;margin:4px 0}
svg.chart text{font-family:inherit;font-size:14px;fill:#1b1f24}
svg.chart .axis{fill:#57606a;font-size:13px}
svg.chart .run-label{fill:#57606a;font-size:12px}
svg.chart .empty{fill:#57606a;font-size:18px}
svg.chart .value{fill:#57606a;font-size:13px}
.grid{stroke:#e3e6ea;stroke-width:1}
.tick{stroke:#8c959f}
.run-start{stroke:#57606a;stroke-width:1.5;stroke-dasharray:5 4}
.line{fill:none;stroke-width:2;stroke-linejoin:round}
.line-sent{stroke:var(--delivered)}.line-bounced{stroke:var(--bounced)}
.line-deferred{stroke:var(--deferred)}.line-connections{stroke:var(--conn)}
.event{stroke-width:3;opacity:.55}
.event-throttled{stroke:var(--throttled)}.event-suspended{stroke:var(--suspended)}
.event-resumed{stroke:var(--resumed)}.event-recovered{stroke:var(--recovered)}
.event-other{stroke:#57606a}
.seg-delivered{fill:var(--delivered)}.seg-bounced{fill:var(--bounced)}
.seg-deferred{fill:var(--deferred)}.seg-tls{fill:var(--delivered)}.seg-plain{fill:var(--plain)}
.bar-latency{fill:var(--conn)}
.quantile{stroke:#1b1f24;stroke-width:1.5;stroke-dasharray:3 3}
svg.chart .quantile-label{font-size:13px;font-weight:600;paint-order:stroke;stroke:#fff;
stroke-width:4px;stroke-linejoin:round}
svg.chart .share{font-weight:600}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:.85rem;margin:0 0 4px;color:#57606a}
.key{display:inline-block;width:0;height:0;border:6px solid;border-radius:2px;margin-right:5px;
vertical-align:-1px}
.key-sent,.key-delivered,.key-tls{border-color:var(--delivered)}
.key-bounced{border-color:var(--bounced)}.key-deferred{border-color:var(--deferred)}
.key-throttled{border-color:var(--throttled)}.key-suspended{border-color:var(--suspended)}
.key-resumed{border-color:var(--resumed)}.key-recovered{border-color:var(--recovered)}
.key-plain{border-color:var(--plain)}
.note{color:#57606a;font-size:.85rem;margin:6px 0 0}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.88rem}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{color:#57606a;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td{overflow-wrap:break-word}
.when{white-space:nowrap}
@media (max-width:700px){main{padding:8px}section{padding:10px;overflow-x:auto}
.figures{grid-template-columns:repeat(2,1fr)}header h1{font-size:1.25rem}
svg.chart{min-width:600px}}
@media print{body{background:none;color:#000;font-size:11pt}main{max-width:none;padding:0}
section{border:none;border-radius:0;padding:0;margin:0 0 12pt;background:none}
.figure{background:none}svg.chart,table,.figures{break-inside:avoid;page-break-inside:avoid}
h2,h3{break-after:avoid;page-break-after:avoid}}
)css";

void append_head(std::string& html, const ReportOptions& options) {
  html +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'; img-src data:\">\n"
      "<meta name=\"generator\" content=\"hayate\">\n<title>";
  append(html, "Campaign ", escaped(options.campaign), ": report</title>\n<style>", style,
         "</style>\n</head>\n");
}

}  // namespace

std::string render_report_html(const std::vector<RunRecord>& runs, const ReportOptions& options) {
  const Totals totals = add_up(runs);
  const Timeline timeline = build_timeline(runs);
  HAYATE_ASSERT(timeline.runs.size() == runs.size());
  std::string html;
  html.reserve(64 * 1024);
  append_head(html, options);
  append(html, "<body>\n<main>\n<header><h1>Campaign ", escaped(options.campaign),
         "</h1><p>Report generated ", utc_text(options.generated_unix_s), " \xC2\xB7 ",
         grouped(runs.size()), runs.size() == 1 ? " run" : " runs");
  if (!runs.empty()) {
    append(html, " \xC2\xB7 first started ", utc_text(runs.front().started_unix_s),
           " \xC2\xB7 last state ", escaped(runs.back().state));
  }
  html += "</p></header>\n";
  section_summary(html, runs, totals);
  section_time(html, runs, timeline, totals);
  section_outcomes(html, runs);
  section_latency_tls(html, runs, totals);
  section_runs(html, runs);
  html += "</main>\n</body>\n</html>\n";
  return html;
}

}  // namespace hayate::campaign::output
