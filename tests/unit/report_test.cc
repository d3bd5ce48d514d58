// Tests for campaign/output/report: every chart of report.html is drawn from the run records
// (each mark's data-value read back and compared with the input), an empty record shows
// "no data", strings from the records are escaped, the page loads nothing from anywhere, and a
// long campaign stays small. A small tag reader below pulls a chart's elements and attributes
// out of the page.
#include "campaign/output/report.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hayate::campaign {
namespace {

using Attributes = std::map<std::string, std::string>;

// The <svg> element of chart `name`, up to its </svg> (charts hold no nested svg).
std::string chart(const std::string& html, std::string_view name) {
  const std::string open = "<svg class=\"chart\" id=\"chart-" + std::string(name) + "\"";
  const std::size_t start = html.find(open);
  if (start == std::string::npos) return "";
  EXPECT_EQ(html.find(open, start + 1), std::string::npos) << name << " drawn twice";
  const std::size_t end = html.find("</svg>", start);
  return end == std::string::npos ? "" : html.substr(start, end - start);
}

// The attributes of every start tag in `svg` whose class attribute has the word `word`. The
// page is ours: attributes always double-quoted, no ">" inside a value (escaped as &gt;).
std::vector<Attributes> elements(const std::string& svg, std::string_view word) {
  std::vector<Attributes> found;
  std::size_t at = 0;
  while ((at = svg.find('<', at)) != std::string::npos) {
    ++at;
    if (at >= svg.size() || svg[at] < 'a' || svg[at] > 'z') continue;  // an end tag, <!...
    Attributes attributes;
    at = svg.find_first_of(" \t\n/>", at);
    while (at != std::string::npos && at < svg.size() && svg[at] != '>' && svg[at] != '/') {
      const std::size_t name = svg.find_first_not_of(" \t\n", at);
      const std::size_t equals = svg.find("=\"", name);
      const std::size_t close = svg.find('"', equals + 2);
      if (name == std::string::npos || equals == std::string::npos || close == std::string::npos) {
        ADD_FAILURE() << "malformed tag near " << svg.substr(at, 40);
        return found;
      }
      if (svg[name] == '>' || svg[name] == '/') {
        at = name;
        break;
      }
      attributes[svg.substr(name, equals - name)] = svg.substr(equals + 2, close - equals - 2);
      at = close + 1;
    }
    const std::string classes = " " + attributes["class"] + " ";
    if (classes.find(" " + std::string(word) + " ") != std::string::npos) {
      found.push_back(std::move(attributes));
    }
  }
  return found;
}

// data-label -> data-value of the marks with class word `word`.
std::map<std::string, std::string> values_by_label(const std::string& svg, std::string_view word) {
  std::map<std::string, std::string> values;
  for (Attributes& mark : elements(svg, word)) {
    EXPECT_EQ(values.count(mark["data-label"]), 0u) << "two marks for " << mark["data-label"];
    values[mark["data-label"]] = mark["data-value"];
  }
  return values;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> words;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    words.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return words;
}

// A run whose series samples every second `seconds` times: `per_second` delivered, a bounce
// every fourth second, a deferral every fifth, connections climbing then flat.
RunRecord synthetic_run(std::uint32_t number, double started_unix_s, int seconds,
                        std::uint64_t per_second) {
  RunRecord run;
  run.campaign = "spring-sale";
  run.run = number;
  run.state = "done";
  run.exit_code = 0;
  run.started_unix_s = started_unix_s;
  run.duration_s = seconds;
  run.ended_unix_s = started_unix_s + seconds;
  std::vector<SeriesPoint> points;
  SeriesPoint point;
  for (int second = 1; second <= seconds; ++second) {
    point.t_s = second;
    point.delivered += per_second;
    if (second % 4 == 0) ++point.bounced;
    if (second % 5 == 0) ++point.attempts_deferred;
    point.connections_open = std::min<std::uint64_t>(second, 6);
    points.push_back(point);
  }
  run.series.assign(points, 1);
  run.delivered = point.delivered;
  run.bounced = point.bounced;
  run.attempts_deferred = point.attempts_deferred;
  run.recipients = run.delivered + run.bounced + 3;
  run.deferred = 3;
  return run;
}

ShapingEvent shaping_event(std::int64_t time_unix_ms, std::string event, std::string destination,
                           int code = 0, std::string enhanced = "", std::string reply = "") {
  ShapingEvent shaping;
  shaping.time_unix_ms = time_unix_ms;
  shaping.event = std::move(event);
  shaping.destination = std::move(destination);
  shaping.code = code;
  shaping.enhanced = std::move(enhanced);
  shaping.reply = std::move(reply);
  return shaping;
}

std::vector<RunRecord> two_runs() {
  RunRecord first = synthetic_run(1, 1'700'000'000, 40, 10);
  first.destinations = {{"gmail.com", 300, 4, 2}, {"yahoo.com", 80, 3, 5}, {"b.test", 20, 3, 1}};
  first.providers = {{"gmail", 300, 4, 2}, {"default", 100, 6, 6}};
  first.bounce_reasons = {{"invalid_recipient", 8}, {"mailbox_full", 2}};
  first.deferral_reasons = {{"421 4.7.28 rate limited", 7}, {"451 4.3.0 try later", 1}};
  first.servers_greeted = 40;
  first.tls_handshakes = 30;
  first.latency.add(3);
  first.latency.add(40);
  first.latency.add(40);
  first.latency.add(2'000);
  first.events = {shaping_event(1'700'000'010'000, "throttled", "gmail", 421, "4.7.28",
                                "Our system has detected an unusual rate"),
                  shaping_event(1'700'000'030'000, "recovered", "gmail")};
  first.rejected = 2;
  first.total_rows = 420;

  RunRecord second = synthetic_run(2, 1'700'003'600, 20, 2);  // an hour later: the retries
  second.state = "retrying";
  second.state_detail = "3 recipients wait for their next retry";
  second.exit_code = 75;
  second.deferred = 1;
  second.rejected = 2;
  second.destinations = {{"yahoo.com", 40, 0, 1}};
  second.providers = {{"default", 40, 0, 1}};
  second.bounce_reasons = {{"mailbox_full", 5}};
  second.servers_greeted = 10;
  second.tls_handshakes = 10;
  second.latency.add(40);
  second.latency.add(400'000);
  second.events = {
      shaping_event(1'700'003'605'000, "suspended", "yahoo", 421, "", "Try again later")};
  second.held = {{"yahoo", "suspended", "421 Try again later", 1'700'003'700'000}};
  return {first, second};
}

ReportOptions options() { return {.campaign = "spring-sale", .generated_unix_s = 1'700'010'000}; }

constexpr std::string_view chart_names[] = {
    "rate",           "connections",      "destinations", "providers",
    "bounce-reasons", "deferral-reasons", "latency",      "tls"};

TEST(Report, IsOneSelfContainedPage) {
  const std::string html = render_report_html(two_runs(), options());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<meta name=\"viewport\" content=\"width=device-width"), std::string::npos);
  EXPECT_NE(html.find("content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\""),
            std::string::npos);
  EXPECT_NE(html.find("@media print"), std::string::npos);
  EXPECT_NE(html.find("@media (max-width:700px)"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_NE(html.find("</html>\n"), std::string::npos);
  for (std::string_view name : chart_names) {
    const std::string svg = chart(html, name);
    ASSERT_FALSE(svg.empty()) << name;
    EXPECT_NE(svg.find("data-chart=\"" + std::string(name) + "\""), std::string::npos);
    EXPECT_NE(svg.find("viewBox=\"0 0 800 "), std::string::npos) << name;
    EXPECT_FALSE(elements(svg, "mark").empty()) << name;
    EXPECT_TRUE(elements(svg, "empty").empty()) << name;
  }
}

TEST(Report, OutcomeBarsAddUpTheRuns) {
  const std::string html = render_report_html(two_runs(), options());
  const std::string destinations = chart(html, "destinations");
  EXPECT_EQ(values_by_label(destinations, "seg-delivered"),
            (std::map<std::string, std::string>{
                {"gmail.com", "300"}, {"yahoo.com", "120"}, {"b.test", "20"}}));
  EXPECT_EQ(values_by_label(destinations, "seg-bounced"),
            (std::map<std::string, std::string>{
                {"gmail.com", "4"}, {"yahoo.com", "3"}, {"b.test", "3"}}));
  EXPECT_EQ(values_by_label(destinations, "seg-deferred"),
            (std::map<std::string, std::string>{
                {"gmail.com", "2"}, {"yahoo.com", "6"}, {"b.test", "1"}}));
  // The largest first: gmail.com (306), yahoo.com (129), b.test (24).
  const auto rows = elements(destinations, "seg-delivered");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].at("data-label"), "gmail.com");
  EXPECT_EQ(rows[2].at("data-label"), "b.test");

  EXPECT_EQ(values_by_label(chart(html, "providers"), "seg-delivered"),
            (std::map<std::string, std::string>{{"gmail", "300"}, {"default", "140"}}));
  EXPECT_EQ(
      values_by_label(chart(html, "bounce-reasons"), "seg-bounced"),
      (std::map<std::string, std::string>{{"invalid_recipient", "8"}, {"mailbox_full", "7"}}));
  EXPECT_EQ(values_by_label(chart(html, "deferral-reasons"), "seg-deferred"),
            (std::map<std::string, std::string>{{"421 4.7.28 rate limited", "7"},
                                                {"451 4.3.0 try later", "1"}}));
}

TEST(Report, LatencyAndTlsAreTheMergedCounts) {
  const std::string html = render_report_html(two_runs(), options());
  const std::string latency = chart(html, "latency");
  const auto bars = elements(latency, "bar-latency");
  ASSERT_EQ(bars.size(), LatencyHistogram::bucket_count);
  std::vector<std::string> counts;
  for (const Attributes& bar : bars) counts.push_back(bar.at("data-value"));
  // 3 ms; 40 ms three times; 2 s; 400 s (the open bucket).
  EXPECT_EQ(counts, (std::vector<std::string>{"1", "0", "0", "3", "0", "0", "0", "0", "1", "0", "0",
                                              "0", "0", "0", "1"}));
  EXPECT_EQ(bars.front().at("data-label"), "\xE2\x89\xA4 5 ms");
  EXPECT_EQ(bars.back().at("data-label"), "> 5 min");
  EXPECT_EQ(
      values_by_label(latency, "quantile-label"),
      (std::map<std::string, std::string>{{"p50", "50"}, {"p90", "300000"}, {"p99", "300000"}}));

  const std::string tls = chart(html, "tls");
  EXPECT_EQ(values_by_label(tls, "seg-tls"),
            (std::map<std::string, std::string>{{"servers greeted", "40"}}));
  EXPECT_EQ(values_by_label(tls, "seg-plain"),
            (std::map<std::string, std::string>{{"servers greeted", "10"}}));
  EXPECT_EQ(elements(tls, "share").at(0).at("data-value"), "80");
}

TEST(Report, TimeChartsFollowTheSeries) {
  const std::string html = render_report_html(two_runs(), options());
  const std::string rate = chart(html, "rate");
  const auto sent = elements(rate, "line-sent");
  ASSERT_EQ(sent.size(), 1u);
  // Run 1: 400 delivered + 10 bounced; run 2: 40 + 5.
  EXPECT_EQ(sent[0].at("data-value"), "455");
  const std::vector<std::string> sent_rates = split(sent[0].at("data-values"));
  ASSERT_EQ(sent_rates.size(), 60u);  // one per second of both runs
  EXPECT_EQ(sent_rates[0], "10");
  EXPECT_EQ(sent_rates[3], "11");  // the fourth second has a bounce
  EXPECT_EQ(sent_rates[40], "2");  // run 2 starts
  EXPECT_EQ(split(sent[0].at("points")).size(), 60u);
  EXPECT_EQ(elements(rate, "line-bounced").at(0).at("data-value"), "15");
  EXPECT_EQ(elements(rate, "line-deferred").at(0).at("data-value"), "12");

  // Events: on the axis the runs lie end to end, so run 2's event 5 s in is at 40 + 5.
  const auto events = elements(rate, "event");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].at("data-label"), "throttled gmail");
  EXPECT_EQ(events[0].at("data-value"), "10");
  EXPECT_EQ(events[0].at("class"), "mark event event-throttled");
  EXPECT_EQ(events[1].at("data-value"), "30");
  EXPECT_EQ(events[2].at("data-label"), "suspended yahoo");
  EXPECT_EQ(events[2].at("data-value"), "45");
  EXPECT_NE(rate.find("<title>throttled gmail: 421 4.7.28 Our system has detected an unusual rate"),
            std::string::npos);
  EXPECT_NE(rate.find("class=\"run-start\""), std::string::npos);

  const auto connections = elements(chart(html, "connections"), "line-connections");
  ASSERT_EQ(connections.size(), 1u);
  EXPECT_EQ(connections[0].at("data-value"), "6");
  const std::vector<std::string> open = split(connections[0].at("data-values"));
  ASSERT_EQ(open.size(), 60u);
  EXPECT_EQ(open[0], "1");
  EXPECT_EQ(open[39], "6");
}

TEST(Report, SummaryFiguresAndTables) {
  const std::string html = render_report_html(two_runs(), options());
  const auto figures = [&] {
    std::map<std::string, std::string> values;
    for (Attributes& figure : elements(html, "figure"))
      values[figure["data-figure"]] = figure["data-value"];
    return values;
  }();
  EXPECT_EQ(figures.at("delivered"), "440");
  EXPECT_EQ(figures.at("bounced"), "15");
  EXPECT_EQ(figures.at("deferred"), "1");  // the last run's
  EXPECT_EQ(figures.at("rejected"), "2");  // the last run's, not 4
  // Made final by run 1 (410), then handed out by run 2 (45 + 3).
  EXPECT_EQ(figures.at("recipients"), "458");
  EXPECT_EQ(figures.at("runs"), "2");
  EXPECT_EQ(figures.at("duration"), "60");
  EXPECT_EQ(figures.at("last state"), "retrying");
  EXPECT_NE(html.find("exit 75"), std::string::npos);
  EXPECT_NE(html.find("<tr data-run=\"1\">"), std::string::npos);
  EXPECT_NE(html.find("<tr data-run=\"2\">"), std::string::npos);
  EXPECT_NE(html.find("2023-11-14 22:13:20 UTC"), std::string::npos);  // run 1's start
  EXPECT_NE(html.find("<td>yahoo</td><td>suspended</td><td>421 Try again later</td>"),
            std::string::npos);
}

TEST(Report, EmptyRecordShowsNoData) {
  for (const std::vector<RunRecord>& runs :
       {std::vector<RunRecord>{RunRecord{}}, std::vector<RunRecord>{}}) {
    const std::string html = render_report_html(runs, options());
    for (std::string_view name : chart_names) {
      const std::string svg = chart(html, name);
      ASSERT_FALSE(svg.empty()) << name;
      EXPECT_TRUE(elements(svg, "mark").empty()) << name;
      const auto empty = elements(svg, "empty");
      ASSERT_EQ(empty.size(), 1u) << name;
      EXPECT_NE(svg.find(">no data</text>"), std::string::npos) << name;
    }
  }
}

TEST(Report, EscapesEveryStringFromTheRecords) {
  const std::string hostile = "<script>alert(\"x\")</script> & 'quoted' \x01\xff";
  std::vector<RunRecord> runs = two_runs();
  runs[0].destinations[0].name = hostile;
  runs[0].providers[0].name = hostile;
  runs[0].bounce_reasons[0].first = hostile;
  runs[0].deferral_reasons[0].first = hostile;
  runs[0].events[0].destination = hostile;
  runs[0].events[0].reply = hostile;
  runs[0].events[0].enhanced = hostile;
  runs[1].state = hostile;
  runs[1].state_detail = hostile;
  runs[1].held[0] = {hostile, hostile, hostile, 0};
  ReportOptions hostile_options = options();
  hostile_options.campaign = hostile;
  const std::string html = render_report_html(runs, hostile_options);

  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("alert(\""), std::string::npos);
  EXPECT_EQ(html.find('\x01'), std::string::npos);
  EXPECT_EQ(html.find('\xff'), std::string::npos);
  const std::string escaped =
      "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39; "
      "\xEF\xBF\xBD\xEF\xBF\xBD";
  EXPECT_NE(html.find("<title>Campaign " + escaped + ": report</title>"), std::string::npos);
  EXPECT_NE(html.find("<td>" + escaped + "</td><td>" + escaped + "</td>"), std::string::npos);
  // The marks still read back, with the escaped name as their label.
  EXPECT_EQ(values_by_label(chart(html, "destinations"), "seg-delivered").at(escaped), "300");
  EXPECT_EQ(values_by_label(chart(html, "bounce-reasons"), "seg-bounced").at(escaped), "8");
  EXPECT_EQ(elements(chart(html, "rate"), "event").at(0).at("data-label"), "throttled " + escaped);
  // Every < in the page opens a tag we wrote: none comes from the data.
  for (std::size_t at = html.find('<'); at != std::string::npos; at = html.find('<', at + 1)) {
    const char next = at + 1 < html.size() ? html[at + 1] : ' ';
    EXPECT_TRUE((next >= 'a' && next <= 'z') || next == '/' || next == '!') << html.substr(at, 40);
  }
}

TEST(Report, LongCampaignStaysSmall) {
  std::vector<RunRecord> runs;
  const std::string reply(200, 'r');
  for (std::uint32_t number = 1; number <= 100; ++number) {
    RunRecord run = synthetic_run(number, 1'700'000'000.0 + number * 86'400.0, 600, 50);
    for (std::size_t i = 0; i < run_events_max; ++i) {
      run.events.push_back(shaping_event(
          static_cast<std::int64_t>(run.started_unix_s + static_cast<double>(i)) * 1000,
          i % 2 == 0 ? "throttled" : "recovered", "provider-" + std::to_string(i % 30), 421, "",
          reply));
    }
    for (std::size_t i = 0; i < run_top_max; ++i) {
      const std::string name = std::string(60, 'd') + std::to_string(i) + ".example";
      run.destinations.push_back({name, 1000 + i, 10, 5});
      run.providers.push_back({name, 1000 + i, 10, 5});
      run.bounce_reasons.emplace_back(reply + std::to_string(i), 10 + i);
      run.deferral_reasons.emplace_back(reply + std::to_string(i), 10 + i);
      run.held.push_back({name, "suspended", reply, 0});
    }
    for (int i = 0; i < 1000; ++i) run.latency.add(i);
    run.servers_greeted = 100;
    run.tls_handshakes = 90;
    runs.push_back(std::move(run));
  }
  const std::string html = render_report_html(runs, options());
  EXPECT_LT(html.size(), 2'000'000u);
  const std::string rate = chart(html, "rate");
  const auto sent = elements(rate, "line-sent");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_LE(split(sent[0].at("data-values")).size(), 800u);
  // Thinned, the line still adds up to everything sent: 100 runs of 600 s at 50/s + 150 bounces.
  EXPECT_EQ(sent[0].at("data-value"), std::to_string(100 * (600 * 50 + 150)));
  EXPECT_EQ(elements(rate, "event").size(), 300u);
  EXPECT_NE(html.find("300 of 50,000 events are drawn"), std::string::npos);
  EXPECT_EQ(elements(chart(html, "destinations"), "seg-delivered").size(), run_top_max);
}

}  // namespace
}  // namespace hayate::campaign
