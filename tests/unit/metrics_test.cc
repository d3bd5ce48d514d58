// Tests of campaign/metrics and engine/metrics_server: the exact Prometheus text of a run,
// read back by a strict little parser of the text format; hostile label values; the top-N
// cut; the atomic .prom file under a concurrent reader; the HTTP request judge on good,
// hostile and partial requests; and the server itself over real loopback sockets (200, HEAD,
// 404, 405, 400, 408, 431, many clients, a silent client, stop() while a client holds on).
#include "campaign/output/metrics.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/metrics_server.h"
#include "engine/strings.h"
#include "engine/version.h"

namespace hayate::campaign {
namespace {

// ---------------------------------------------------------------------------------------------
// A strict parser of the text exposition format 0.0.4, enough to prove the output is valid:
// every line is a HELP, a TYPE or a sample `name{label="value",...} value`; names and label
// names follow the format's grammar; label values use only the three escapes; every sample
// belongs to a family whose TYPE came before it; no series appears twice.

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped
  double value = 0;
};

struct Parsed {
  bool ok = true;
  std::string error;
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;
  std::map<std::string, std::string> helps;
};

bool is_metric_name(std::string_view name, bool colon_allowed) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_allowed && c == ':');
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// The histogram rules of the format: per series (labels but le), _bucket lines with le in
// increasing order, counts that never go down (cumulative), the last le="+Inf" and equal to
// _count, then one _sum and one _count.
void check_histograms(Parsed& parsed) {
  for (const auto& [family, type] : parsed.types) {
    if (type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<const Sample*>> buckets;
    std::map<std::map<std::string, std::string>, const Sample*> sums, counts;
    for (const Sample& sample : parsed.samples) {
      if (sample.name == family + "_bucket") {
        std::map<std::string, std::string> labels = sample.labels;
        if (labels.erase("le") != 1) parsed.error = cat(family, ": a bucket without le");
        buckets[labels].push_back(&sample);
      } else if (sample.name == family + "_sum") {
        sums[sample.labels] = &sample;
      } else if (sample.name == family + "_count") {
        counts[sample.labels] = &sample;
      } else if (sample.name == family) {
        parsed.error = cat(family, ": a histogram sample without a suffix");
      }
    }
    if (buckets.empty()) parsed.error = cat(family, ": no buckets");
    for (const auto& [labels, series] : buckets) {
      double previous_bound = -1;
      double previous_count = 0;
      for (const Sample* bucket : series) {
        const std::string& le = bucket->labels.at("le");
        const double bound = le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr);
        if (bound <= previous_bound) parsed.error = cat(family, ": le not increasing at ", le);
        if (bucket->value < previous_count) parsed.error = cat(family, ": not cumulative at ", le);
        previous_bound = bound;
        previous_count = bucket->value;
      }
      if (series.back()->labels.at("le") != "+Inf") parsed.error = cat(family, ": no +Inf");
      if (!sums.count(labels) || !counts.count(labels)) {
        parsed.error = cat(family, ": no _sum or _count");
      } else if (counts.at(labels)->value != series.back()->value) {
        parsed.error = cat(family, ": _count is not the +Inf bucket");
      }
    }
  }
  if (!parsed.error.empty()) parsed.ok = false;
}

Parsed parse_exposition(std::string_view text) {
  Parsed parsed;
  const auto fail = [&](std::string why, std::string_view line) {
    if (parsed.ok) parsed.error = cat(why, " in line: ", line);
    parsed.ok = false;
  };
  if (text.empty() || text.back() != '\n') fail("no final line feed", "");
  std::vector<std::string> series_seen;
  std::size_t position = 0;
  while (parsed.ok && position < text.size()) {
    const std::size_t end = text.find('\n', position);
    const std::string_view line = text.substr(position, end - position);
    position = end + 1;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const std::string_view rest = line.substr(7);
      const std::size_t space = rest.find(' ');
      const std::string name(rest.substr(0, space));
      if (space == std::string_view::npos || !is_metric_name(name, true)) {
        fail("bad HELP/TYPE", line);
        break;
      }
      const std::string value(rest.substr(space + 1));
      if (line[2] == 'H') {
        if (parsed.helps.count(name) || parsed.types.count(name)) fail("HELP after TYPE", line);
        parsed.helps[name] = value;
      } else {
        static const std::vector<std::string> types = {"counter", "gauge", "summary", "histogram",
                                                       "untyped"};
        if (std::find(types.begin(), types.end(), value) == types.end()) fail("type", line);
        if (parsed.types.count(name)) fail("second TYPE", line);
        parsed.types[name] = value;
      }
      continue;
    }
    if (line.empty() || line[0] == '#') {
      fail("unexpected line", line);
      break;
    }
    Sample sample;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    sample.name = std::string(line.substr(0, i));
    if (!is_metric_name(sample.name, true)) fail("metric name", line);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (parsed.ok && i < line.size() && line[i] != '}') {
        std::size_t name_end = line.find('=', i);
        if (name_end == std::string_view::npos) {
          fail("label without =", line);
          break;
        }
        const std::string label(line.substr(i, name_end - i));
        if (!is_metric_name(label, false)) fail("label name", line);
        i = name_end + 1;
        if (i >= line.size() || line[i] != '"') {
          fail("label value not quoted", line);
          break;
        }
        ++i;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          const char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i >= line.size()) break;
            const char escaped = line[i++];
            if (escaped == 'n') {
              value += '\n';
            } else if (escaped == '\\' || escaped == '"') {
              value += escaped;
            } else {
              fail("bad escape", line);
            }
            continue;
          }
          value += c;
        }
        if (!closed) fail("label value not closed", line);
        // Allowed by the format but the same as no label: ours never writes one.
        if (value.empty()) fail("empty label value", line);
        if (sample.labels.count(label)) fail("label twice", line);
        sample.labels[label] = value;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size() || line[i] != '}') fail("labels not closed", line);
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      fail("no space before the value", line);
      break;
    }
    const std::string value_text(line.substr(i + 1));
    char* value_end = nullptr;
    sample.value = std::strtod(value_text.c_str(), &value_end);
    if (value_text.empty() || *value_end != '\0') fail("value", line);
    std::string family = sample.name;
    for (std::string_view suffix : {"_sum", "_count", "_bucket"}) {
      if (!family.ends_with(suffix)) continue;
      const std::string base = family.substr(0, family.size() - suffix.size());
      const auto type = parsed.types.find(base);
      if (type == parsed.types.end()) continue;
      if (type->second == "histogram" || (type->second == "summary" && suffix != "_bucket")) {
        family = base;
      }
    }
    if (!parsed.types.count(family)) fail("sample before its TYPE", line);
    std::string series = sample.name;
    for (const auto& [label, value] : sample.labels) series += cat("|", label, "=", value);
    if (std::find(series_seen.begin(), series_seen.end(), series) != series_seen.end()) {
      fail("series twice", line);
    }
    series_seen.push_back(series);
    parsed.samples.push_back(std::move(sample));
  }
  if (parsed.ok) check_histograms(parsed);
  return parsed;
}

const Sample* find_sample(const Parsed& parsed, std::string_view name,
                          std::map<std::string, std::string> labels) {
  for (const Sample& sample : parsed.samples) {
    if (sample.name == name && sample.labels == labels) return &sample;
  }
  return nullptr;
}

MetricsSnapshot sample_snapshot() {
  MetricsSnapshot snapshot;
  snapshot.campaign = "newsletter-2026-11";
  snapshot.delivered = 9500;
  snapshot.bounced = 120;
  snapshot.deferred = 3;
  snapshot.attempts_deferred = 41;
  snapshot.rejected = 2;
  snapshot.suppressed = 7;
  snapshot.not_attempted = 0;
  snapshot.recipients_read = 9623;
  snapshot.connections_opened = 57;
  snapshot.connections_failed = 2;
  snapshot.connections_open = 12;
  snapshot.tls_handshakes = 55;
  snapshot.tls_resumptions = 40;
  snapshot.tls_failures = 1;
  snapshot.message_bytes = 19'456'000;
  snapshot.recipients_pending = 250;
  snapshot.shard_recipients_pending = {200, 50};
  snapshot.destinations = {{"mx gmail.com", 6000, 20, 10}, {"route 127.0.0.1:2525", 3500, 100, 31}};
  // 5 ms is in the first bucket (le is "at most"), 400 s above the last bound.
  for (double ms : {3.0, 5.0, 7.5, 120.0, 120.0, 999.5, 400'000.0}) {
    snapshot.delivery_latency.add(ms);
  }
  snapshot.journal_write_latency = LatencySummary{80, 123.5, 9.25};
  snapshot.start_time_unix_s = 1762178709.25;
  snapshot.elapsed_s = 42.5;
  return snapshot;
}

TEST(RenderPrometheus, ExactTextOfARun) {
  const std::string expected =
      "# HELP hayate_messages_total Recipients by outcome: delivered, bounced, deferred (still"
      " deferred when the run ended), rejected (refused on input), suppressed (on the suppression"
      " list, not sent), not_attempted (left when a signal stopped the run).\n"
      "# TYPE hayate_messages_total counter\n"
      "hayate_messages_total{campaign=\"newsletter-2026-11\",outcome=\"delivered\"} 9500\n"
      "hayate_messages_total{campaign=\"newsletter-2026-11\",outcome=\"bounced\"} 120\n"
      "hayate_messages_total{campaign=\"newsletter-2026-11\",outcome=\"deferred\"} 3\n"
      "hayate_messages_total{campaign=\"newsletter-2026-11\",outcome=\"rejected\"} 2\n"
      "hayate_messages_total{campaign=\"newsletter-2026-11\",outcome=\"suppressed\"} 7\n"
      "hayate_messages_total{campaign=\"newsletter-2026-11\",outcome=\"not_attempted\"} 0\n"
      "# HELP hayate_attempts_deferred_total Temporary failures (4xx, timeouts, lost connections)"
      " that were retried.\n"
      "# TYPE hayate_attempts_deferred_total counter\n"
      "hayate_attempts_deferred_total{campaign=\"newsletter-2026-11\"} 41\n"
      "# HELP hayate_recipients_read_total Valid recipient rows read and handed to the shards.\n"
      "# TYPE hayate_recipients_read_total counter\n"
      "hayate_recipients_read_total{campaign=\"newsletter-2026-11\"} 9623\n"
      "# HELP hayate_message_bytes_total Message bytes sent after DATA.\n"
      "# TYPE hayate_message_bytes_total counter\n"
      "hayate_message_bytes_total{campaign=\"newsletter-2026-11\"} 19456000\n"
      "# HELP hayate_connections_opened_total SMTP connections opened.\n"
      "# TYPE hayate_connections_opened_total counter\n"
      "hayate_connections_opened_total{campaign=\"newsletter-2026-11\"} 57\n"
      "# HELP hayate_connections_failed_total SMTP connections that ended before they could carry"
      " mail.\n"
      "# TYPE hayate_connections_failed_total counter\n"
      "hayate_connections_failed_total{campaign=\"newsletter-2026-11\"} 2\n"
      "# HELP hayate_connections_open SMTP connections open now.\n"
      "# TYPE hayate_connections_open gauge\n"
      "hayate_connections_open{campaign=\"newsletter-2026-11\"} 12\n"
      "# HELP hayate_tls_handshakes_total TLS handshakes completed.\n"
      "# TYPE hayate_tls_handshakes_total counter\n"
      "hayate_tls_handshakes_total{campaign=\"newsletter-2026-11\"} 55\n"
      "# HELP hayate_tls_resumptions_total TLS handshakes that resumed an earlier session.\n"
      "# TYPE hayate_tls_resumptions_total counter\n"
      "hayate_tls_resumptions_total{campaign=\"newsletter-2026-11\"} 40\n"
      "# HELP hayate_tls_failures_total TLS handshakes that failed.\n"
      "# TYPE hayate_tls_failures_total counter\n"
      "hayate_tls_failures_total{campaign=\"newsletter-2026-11\"} 1\n"
      "# HELP hayate_recipients_pending Recipients inside the shards: queued, in flight or waiting"
      " for a retry.\n"
      "# TYPE hayate_recipients_pending gauge\n"
      "hayate_recipients_pending{campaign=\"newsletter-2026-11\"} 250\n"
      "# HELP hayate_shard_recipients_pending Recipients inside each shard.\n"
      "# TYPE hayate_shard_recipients_pending gauge\n"
      "hayate_shard_recipients_pending{campaign=\"newsletter-2026-11\",shard=\"0\"} 200\n"
      "hayate_shard_recipients_pending{campaign=\"newsletter-2026-11\",shard=\"1\"} 50\n"
      "# HELP hayate_destination_messages_total Attempt outcomes of the largest destinations (MX"
      " group, route or domain).\n"
      "# TYPE hayate_destination_messages_total counter\n"
      "hayate_destination_messages_total{campaign=\"newsletter-2026-11\",destination=\"mx"
      " gmail.com\",outcome=\"delivered\"} 6000\n"
      "hayate_destination_messages_total{campaign=\"newsletter-2026-11\",destination=\"mx"
      " gmail.com\",outcome=\"bounced\"} 20\n"
      "hayate_destination_messages_total{campaign=\"newsletter-2026-11\",destination=\"mx"
      " gmail.com\",outcome=\"deferred\"} 10\n"
      "hayate_destination_messages_total{campaign=\"newsletter-2026-11\",destination=\"route"
      " 127.0.0.1:2525\",outcome=\"delivered\"} 3500\n"
      "hayate_destination_messages_total{campaign=\"newsletter-2026-11\",destination=\"route"
      " 127.0.0.1:2525\",outcome=\"bounced\"} 100\n"
      "hayate_destination_messages_total{campaign=\"newsletter-2026-11\",destination=\"route"
      " 127.0.0.1:2525\",outcome=\"deferred\"} 31\n"
      "# HELP hayate_delivery_latency_seconds Time from a transaction's first command to the reply"
      " that decided the recipient.\n"
      "# TYPE hayate_delivery_latency_seconds histogram\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"0.005\"} 2\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"0.01\"} 3\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"0.025\"} 3\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"0.05\"} 3\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"0.1\"} 3\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"0.25\"} 5\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"0.5\"} 5\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"1\"} 6\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"2.5\"} 6\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"5\"} 6\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"10\"} 6\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"30\"} 6\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"60\"} 6\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"300\"} 6\n"
      "hayate_delivery_latency_seconds_bucket{campaign=\"newsletter-2026-11\",le=\"+Inf\"} 7\n"
      "hayate_delivery_latency_seconds_sum{campaign=\"newsletter-2026-11\"} 401.255\n"
      "hayate_delivery_latency_seconds_count{campaign=\"newsletter-2026-11\"} 7\n"
      "# HELP hayate_journal_write_seconds Time spent writing the deliveries journal.\n"
      "# TYPE hayate_journal_write_seconds summary\n"
      "hayate_journal_write_seconds_sum{campaign=\"newsletter-2026-11\"} 0.1235\n"
      "hayate_journal_write_seconds_count{campaign=\"newsletter-2026-11\"} 80\n"
      "# HELP hayate_journal_write_max_seconds The longest write of the deliveries journal.\n"
      "# TYPE hayate_journal_write_max_seconds gauge\n"
      "hayate_journal_write_max_seconds{campaign=\"newsletter-2026-11\"} 0.00925\n"
      "# HELP hayate_run_start_time_seconds When the run began, in seconds since the Unix epoch.\n"
      "# TYPE hayate_run_start_time_seconds gauge\n"
      "hayate_run_start_time_seconds{campaign=\"newsletter-2026-11\"} 1762178709.25\n"
      "# HELP hayate_run_duration_seconds Seconds since the run began.\n"
      "# TYPE hayate_run_duration_seconds gauge\n"
      "hayate_run_duration_seconds{campaign=\"newsletter-2026-11\"} 42.5\n"
      "# HELP hayate_build_info Always 1; the labels name the build that runs.\n"
      "# TYPE hayate_build_info gauge\n" +
      cat("hayate_build_info{campaign=\"newsletter-2026-11\",version=\"", version, "\",compiler=\"",
          compiler, "\"} 1\n");
  const std::string text = render_prometheus(sample_snapshot());
  EXPECT_EQ(text, expected);
  const Parsed parsed = parse_exposition(text);
  ASSERT_TRUE(parsed.ok) << parsed.error;
  EXPECT_EQ(parsed.samples.size(), 47u);
  EXPECT_EQ(parsed.types.size(), 19u);
  EXPECT_EQ(parsed.helps.size(), 19u);
  for (const Sample& sample : parsed.samples) {
    EXPECT_TRUE(sample.name.starts_with("hayate_")) << sample.name;
    EXPECT_EQ(sample.labels.at("campaign"), "newsletter-2026-11") << sample.name;
  }
}

TEST(RenderPrometheus, OptionalFamiliesAreLeftOutWhenEmpty) {
  MetricsSnapshot snapshot;
  snapshot.campaign = "c";
  const std::string text = render_prometheus(snapshot);
  const Parsed parsed = parse_exposition(text);
  ASSERT_TRUE(parsed.ok) << parsed.error;
  EXPECT_EQ(text.find("hayate_shard_recipients_pending"), std::string::npos);
  EXPECT_EQ(text.find("hayate_destination_messages_total"), std::string::npos);
  EXPECT_EQ(text.find("hayate_journal_write"), std::string::npos);
  EXPECT_EQ(parsed.samples.size(), 36u);  // the latency histogram is there, all zero
  const Sample* duration = find_sample(parsed, "hayate_run_duration_seconds", {{"campaign", "c"}});
  ASSERT_NE(duration, nullptr);
  EXPECT_EQ(duration->value, 0);
}

TEST(RenderPrometheus, LargeCountersAreExact) {
  MetricsSnapshot snapshot;
  snapshot.campaign = "big";
  snapshot.message_bytes = 18'446'744'073'709'551'615ull;  // a double would round this
  snapshot.elapsed_s = 0.1 + 0.2;                          // shortest round-trip text
  const std::string text = render_prometheus(snapshot);
  EXPECT_NE(text.find("hayate_message_bytes_total{campaign=\"big\"} 18446744073709551615\n"),
            std::string::npos);
  EXPECT_NE(text.find("hayate_run_duration_seconds{campaign=\"big\"} 0.30000000000000004\n"),
            std::string::npos);
}

TEST(LabelValues, HostileValuesAreEscapedAndReadBackUnchanged) {
  struct Case {
    std::string_view value;
    std::string_view escaped;
  };
  const Case cases[] = {
      {"plain-id_1.0", "plain-id_1.0"},
      {"quote\"inside", "quote\\\"inside"},
      {"back\\slash", "back\\\\slash"},
      {"line\nfeed", "line\\nfeed"},
      {"\\n literally", "\\\\n literally"},
      {"\"} 1\nhayate_fake_total{x=\"", "\\\"} 1\\nhayate_fake_total{x=\\\""},
      {"tab\tand\rcr", "tab\tand\rcr"},  // allowed raw by the format
      {"caf\xC3\xA9 \xE2\x82\xAC", "caf\xC3\xA9 \xE2\x82\xAC"},
      {"", ""},
  };
  for (const Case& c : cases) {
    std::string out;
    append_label_value(c.value, out);
    EXPECT_EQ(out, c.escaped) << c.value;
    if (c.value.empty()) continue;  // no empty label value is rendered: see EmptyNames
    MetricsSnapshot snapshot;
    snapshot.campaign = std::string(c.value);
    snapshot.destinations = {{std::string(c.value), 1, 2, 3}};
    const Parsed parsed = parse_exposition(render_prometheus(snapshot));
    ASSERT_TRUE(parsed.ok) << parsed.error << " for " << c.value;
    EXPECT_EQ(parsed.samples.size(), 39u) << c.value;  // an injected line would add one
    const Sample* delivered = find_sample(parsed, "hayate_destination_messages_total",
                                          {{"campaign", std::string(c.value)},
                                           {"destination", std::string(c.value)},
                                           {"outcome", "delivered"}});
    ASSERT_NE(delivered, nullptr) << c.value;
    EXPECT_EQ(delivered->value, 1);
  }
}

TEST(LabelValues, InvalidUtf8BecomesReplacementCharacter) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"a\xFF"
       "b",
       "a\xEF\xBF\xBD"
       "b"},
      {"\xC3", "\xEF\xBF\xBD"},                                  // truncated sequence
      {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},                  // overlong '/'
      {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // UTF-16 surrogate
      {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // > U+10FFFF
      {"\xF0\x9F\x93\xA7", "\xF0\x9F\x93\xA7"},                                  // U+1F4E7, kept
  };
  for (const auto& [value, escaped] : cases) {
    std::string out;
    append_label_value(value, out);
    EXPECT_EQ(out, escaped);
  }
}

TEST(Destinations, TopFiftyByTotalThenName) {
  std::vector<DestinationCounts> destinations;
  for (int i = 0; i < 120; ++i) {
    destinations.push_back({cat("d", i), static_cast<std::uint64_t>(i % 60), 0, 0});
  }
  keep_top_destinations(destinations);
  ASSERT_EQ(destinations.size(), metrics_destinations_max);
  // Totals 59 (d59, d119), 58 (d58, d118)...: ties ordered by name.
  EXPECT_EQ(destinations[0].name, "d119");
  EXPECT_EQ(destinations[1].name, "d59");
  EXPECT_EQ(destinations[2].name, "d118");
  EXPECT_EQ(destinations[48].name, "d35");
  EXPECT_EQ(destinations[49].name, "d95");
  EXPECT_EQ(destinations[49].total(), 35u);

  std::vector<DestinationCounts> few = {{"b", 1, 1, 1}, {"a", 3, 0, 0}, {"c", 0, 0, 9}};
  keep_top_destinations(few, 2);
  ASSERT_EQ(few.size(), 2u);
  EXPECT_EQ(few[0].name, "c");
  EXPECT_EQ(few[1].name, "a");
}

TEST(Destinations, RenderNeverExportsMoreThanFifty) {
  MetricsSnapshot snapshot;
  snapshot.campaign = "c";
  for (int i = 0; i < 80; ++i) snapshot.destinations.push_back({cat("site", i), 1, 0, 0});
  const Parsed parsed = parse_exposition(render_prometheus(snapshot));
  ASSERT_TRUE(parsed.ok) << parsed.error;
  int series = 0;
  for (const Sample& sample : parsed.samples) {
    series += sample.name == "hayate_destination_messages_total" ? 1 : 0;
  }
  EXPECT_EQ(series, 150);
  EXPECT_EQ(find_sample(parsed, "hayate_destination_messages_total",
                        {{"campaign", "c"}, {"destination", "site50"}, {"outcome", "delivered"}}),
            nullptr);
}

// The delivery latency histogram read back from the text: le values in seconds in increasing
// order, cumulative counts, +Inf equal to _count, _sum in seconds.
TEST(DeliveryLatency, RenderedAsACumulativeHistogramInSeconds) {
  MetricsSnapshot snapshot;
  snapshot.campaign = "h";
  LatencyHistogram shard_one, shard_two;  // the run merges the shards' histograms
  for (double ms : {1.0, 5.0, 5.5, 60.0}) shard_one.add(ms);
  for (double ms : {60.0, 2'000.0, 300'000.0, 300'001.0}) shard_two.add(ms);
  snapshot.delivery_latency.merge(shard_one);
  snapshot.delivery_latency.merge(shard_two);
  const Parsed parsed = parse_exposition(render_prometheus(snapshot));
  ASSERT_TRUE(parsed.ok) << parsed.error;
  EXPECT_EQ(parsed.types.at("hayate_delivery_latency_seconds"), "histogram");
  std::vector<std::pair<std::string, double>> buckets;
  for (const Sample& sample : parsed.samples) {
    if (sample.name != "hayate_delivery_latency_seconds_bucket") continue;
    EXPECT_EQ(sample.labels.at("campaign"), "h");
    buckets.emplace_back(sample.labels.at("le"), sample.value);
  }
  const std::vector<std::pair<std::string, double>> expected = {
      {"0.005", 2}, {"0.01", 3}, {"0.025", 3}, {"0.05", 3}, {"0.1", 5},
      {"0.25", 5},  {"0.5", 5},  {"1", 5},     {"2.5", 6},  {"5", 6},
      {"10", 6},    {"30", 6},   {"60", 6},    {"300", 7},  {"+Inf", 8}};
  EXPECT_EQ(buckets, expected);
  // Every bound of the type is rendered, converted from milliseconds.
  ASSERT_EQ(buckets.size(), LatencyHistogram::bucket_count);
  for (std::size_t i = 0; i < LatencyHistogram::bounds_ms.size(); ++i) {
    EXPECT_EQ(std::strtod(buckets[i].first.c_str(), nullptr),
              LatencyHistogram::bounds_ms[i] / 1000);
  }
  const Sample* count =
      find_sample(parsed, "hayate_delivery_latency_seconds_count", {{"campaign", "h"}});
  const Sample* sum =
      find_sample(parsed, "hayate_delivery_latency_seconds_sum", {{"campaign", "h"}});
  ASSERT_NE(count, nullptr);
  ASSERT_NE(sum, nullptr);
  EXPECT_EQ(count->value, 8);
  EXPECT_EQ(count->value, buckets.back().second);
  EXPECT_DOUBLE_EQ(sum->value, (1 + 5 + 5.5 + 60 + 60 + 2'000 + 300'000 + 300'001) / 1000.0);
}

TEST(DeliveryLatency, AnEmptyHistogramIsAllZeros) {
  MetricsSnapshot snapshot;
  snapshot.campaign = "h";
  const Parsed parsed = parse_exposition(render_prometheus(snapshot));
  ASSERT_TRUE(parsed.ok) << parsed.error;
  std::size_t buckets = 0;
  for (const Sample& sample : parsed.samples) {
    if (!sample.name.starts_with("hayate_delivery_latency_seconds")) continue;
    EXPECT_EQ(sample.value, 0) << sample.name;
    buckets += sample.name.ends_with("_bucket") ? 1 : 0;
  }
  EXPECT_EQ(buckets, LatencyHistogram::bucket_count);
}

TEST(Outcomes, SuppressedIsAnOutcomeOfTheMessagesFamily) {
  MetricsSnapshot snapshot;
  snapshot.campaign = "s";
  snapshot.suppressed = 12;
  snapshot.rejected = 3;
  const Parsed parsed = parse_exposition(render_prometheus(snapshot));
  ASSERT_TRUE(parsed.ok) << parsed.error;
  const Sample* suppressed =
      find_sample(parsed, "hayate_messages_total", {{"campaign", "s"}, {"outcome", "suppressed"}});
  ASSERT_NE(suppressed, nullptr);
  EXPECT_EQ(suppressed->value, 12);
  const Sample* rejected =
      find_sample(parsed, "hayate_messages_total", {{"campaign", "s"}, {"outcome", "rejected"}});
  ASSERT_NE(rejected, nullptr);
  EXPECT_EQ(rejected->value, 3);
  std::vector<std::string> outcomes;
  for (const Sample& sample : parsed.samples) {
    if (sample.name == "hayate_messages_total") outcomes.push_back(sample.labels.at("outcome"));
  }
  EXPECT_EQ(outcomes, (std::vector<std::string>{"delivered", "bounced", "deferred", "rejected",
                                                "suppressed", "not_attempted"}));
}

TEST(BuildInfo, OneGaugeNamingVersionAndCompiler) {
  MetricsSnapshot snapshot;
  snapshot.campaign = "b";
  const Parsed parsed = parse_exposition(render_prometheus(snapshot));
  ASSERT_TRUE(parsed.ok) << parsed.error;
  EXPECT_EQ(parsed.types.at("hayate_build_info"), "gauge");
  const Sample* info = find_sample(
      parsed, "hayate_build_info",
      {{"campaign", "b"}, {"version", std::string(version)}, {"compiler", std::string(compiler)}});
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->value, 1);
  EXPECT_EQ(std::string(version), "0.1.0");  // what `hayate --version` prints
  EXPECT_TRUE(compiler.starts_with("gcc ") || compiler.starts_with("clang ")) << compiler;
}

// Names that can be empty: the campaign (a snapshot not yet filled), the destination group of
// rows refused on input (no domain), a shaping destination or state. None becomes `=""`.
TEST(EmptyNames, NoSeriesHasAnEmptyLabelValue) {
  MetricsSnapshot snapshot;
  snapshot.campaign = "";
  snapshot.rejected = 4;
  snapshot.destinations = {{"", 0, 0, 0}, {"mx a.test", 5, 1, 2}, {"", 1, 1, 1}};
  snapshot.shaping = {{"", "throttled", 1, 0, 0}, {"gmail", "", 2, 1, 1}};
  snapshot.delivery_latency.add(12);
  snapshot.journal_write_latency = LatencySummary{1, 2, 2};
  snapshot.shard_recipients_pending = {0};
  const std::string text = render_prometheus(snapshot);
  EXPECT_EQ(text.find("=\"\""), std::string::npos) << text;
  EXPECT_EQ(text.find("{}"), std::string::npos) << text;
  const Parsed parsed = parse_exposition(text);  // fails on an empty label value too
  ASSERT_TRUE(parsed.ok) << parsed.error;
  for (const Sample& sample : parsed.samples) {
    EXPECT_EQ(sample.labels.count("campaign"), 0u) << sample.name;
  }
  const Sample* named = find_sample(parsed, "hayate_destination_messages_total",
                                    {{"destination", "mx a.test"}, {"outcome", "delivered"}});
  ASSERT_NE(named, nullptr);
  EXPECT_EQ(named->value, 5);
  const Sample* duration = find_sample(parsed, "hayate_run_duration_seconds", {});
  ASSERT_NE(duration, nullptr);  // `name value`, without braces
  int destination_series = 0, shaping_events = 0, shaping_states = 0;
  for (const Sample& sample : parsed.samples) {
    destination_series += sample.name == "hayate_destination_messages_total" ? 1 : 0;
    shaping_events += sample.name == "hayate_shaping_events_total" ? 1 : 0;
    shaping_states += sample.name == "hayate_destination_shaping_state" ? 1 : 0;
  }
  EXPECT_EQ(destination_series, 3);  // mx a.test only
  EXPECT_EQ(shaping_events, 3);      // gmail only
  EXPECT_EQ(shaping_states, 0);      // gmail has no state to name
}

TEST(EmptyNames, OnlyUnnamedGroupsLeaveTheirFamiliesOut) {
  MetricsSnapshot snapshot;
  snapshot.campaign = "e";
  snapshot.destinations = {{"", 0, 0, 0}};
  snapshot.shaping = {{"", "throttled", 1, 0, 0}};
  const std::string text = render_prometheus(snapshot);
  EXPECT_TRUE(parse_exposition(text).ok);
  EXPECT_EQ(text.find("hayate_destination_messages_total"), std::string::npos);
  EXPECT_EQ(text.find("hayate_shaping_events_total"), std::string::npos);
  EXPECT_EQ(text.find("hayate_destination_shaping_state"), std::string::npos);
}

// The unnamed group does not take one of the fifty places.
TEST(EmptyNames, KeepTopDestinationsDropsTheUnnamedGroup) {
  std::vector<DestinationCounts> destinations = {{"", 9, 9, 9}, {"b", 1, 0, 0}, {"a", 2, 0, 0}};
  keep_top_destinations(destinations, 2);
  ASSERT_EQ(destinations.size(), 2u);
  EXPECT_EQ(destinations[0].name, "a");
  EXPECT_EQ(destinations[1].name, "b");
}

TEST(LatencySummary, AddsCountSumAndMax) {
  LatencySummary latency;
  for (double ms : {3.0, 0.5, 12.25, 1.0}) latency.add(ms);
  EXPECT_EQ(latency.count, 4u);
  EXPECT_EQ(latency.sum_ms, 16.75);
  EXPECT_EQ(latency.max_ms, 12.25);
}

// ---------------------------------------------------------------------------------------------
// The textfile collector's file.

class TempDirectory {
 public:
  TempDirectory() {
    std::string pattern = ::testing::TempDir() + "metrics_test.XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp " << pattern;
    path_ = pattern;
  }
  ~TempDirectory() { std::system(cat("rm -rf '", path_, "'").c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(MetricsFile, WritesTheRenderedTextAndLeavesNoTemporary) {
  TempDirectory directory;
  const std::string path = directory.path() + "/hayate.prom";
  const MetricsSnapshot snapshot = sample_snapshot();
  ASSERT_TRUE(write_metrics_file(path, snapshot).ok());
  const std::string text = read_whole_file(path);
  EXPECT_EQ(text, render_prometheus(snapshot));
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_TRUE(parse_exposition(text).ok);
  struct stat info {};
  EXPECT_NE(stat((path + ".tmp").c_str(), &info), 0);
  EXPECT_EQ(stat(path.c_str(), &info), 0);
  const mode_t mask = umask(0);
  umask(mask);
  EXPECT_EQ(info.st_mode & 0777, 0644u & ~mask);
}

TEST(MetricsFile, ReplacesTheFileAtomicallyUnderAConcurrentReader) {
  TempDirectory directory;
  const std::string path = directory.path() + "/run.prom";
  MetricsSnapshot small;
  small.campaign = "small";
  MetricsSnapshot large = sample_snapshot();
  for (int i = 0; i < 50; ++i) large.destinations.push_back({cat("site-", i), 1, 2, 3});
  const std::string small_text = render_prometheus(small);
  const std::string large_text = render_prometheus(large);
  ASSERT_TRUE(write_metrics_file(path, small).ok());

  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!done.load()) {
      const std::string text = read_whole_file(path);
      if (text != small_text && text != large_text) ++torn;
      ++reads;
    }
  });
  for (int i = 0; i < 400; ++i) {
    ASSERT_TRUE(write_metrics_file(path, i % 2 == 0 ? large : small).ok());
  }
  while (reads.load() < 50) std::this_thread::yield();
  done.store(true);
  reader.join();
  EXPECT_EQ(torn.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_EQ(read_whole_file(path), small_text);
}

// A symbolic link where the metrics file belongs is refused, and its target keeps its bytes.
TEST(MetricsFile, ALinkAtThePathIsRefused) {
  TempDirectory directory;
  const std::string target = directory.path() + "/precious";
  const std::string path = directory.path() + "/hayate.prom";
  std::ofstream(target) << "keep me\n";
  ASSERT_EQ(symlink(target.c_str(), path.c_str()), 0);
  const absl::Status status = write_metrics_file(path, sample_snapshot());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(std::string(status.message()).find(path + " is a symbolic link"), std::string::npos)
      << status.message();
  EXPECT_EQ(read_whole_file(target), "keep me\n");
}

TEST(MetricsFile, UnwritableDirectoryIsAnErrorNamingThePath) {
  const absl::Status status =
      write_metrics_file("/nonexistent-directory-of-hayate/x.prom", MetricsSnapshot{});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(std::string(status.message()).find("/nonexistent-directory-of-hayate/x.prom"),
            std::string::npos)
      << status.message();
  EXPECT_NE(std::string(status.message()).find("No such file or directory"), std::string::npos);
}

TEST(MetricsBoard, RendersTheLastPublishedSnapshotFromAnotherThread) {
  MetricsBoard board;
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    for (std::uint64_t i = 1; i <= 2000; ++i) {
      MetricsSnapshot snapshot;
      snapshot.campaign = "live";
      snapshot.delivered = i;
      snapshot.bounced = i;  // always equal: a torn snapshot would show
      board.publish(std::move(snapshot));
    }
    done.store(true);
  });
  int renders = 0;
  while (!done.load() || renders == 0) {
    const Parsed parsed = parse_exposition(board.render());
    ASSERT_TRUE(parsed.ok) << parsed.error;
    const Sample* delivered = find_sample(parsed, "hayate_messages_total",
                                          {{"campaign", "live"}, {"outcome", "delivered"}});
    const Sample* bounced = find_sample(parsed, "hayate_messages_total",
                                        {{"campaign", "live"}, {"outcome", "bounced"}});
    if (delivered != nullptr && bounced != nullptr) {
      EXPECT_EQ(delivered->value, bounced->value);
      ++renders;
    }
  }
  publisher.join();
  EXPECT_EQ(board.snapshot().delivered, 2000u);
}

}  // namespace
}  // namespace hayate::campaign

// -------------------------------------------------------------------------------------------------
// The HTTP side.

namespace hayate {
namespace {

HttpVerdict judge(std::string_view request) { return examine_http_request(request, 8192); }

TEST(ExamineHttpRequest, ScrapesAreServed) {
  // What Prometheus 2.x sends.
  const HttpVerdict prometheus = judge(
      "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nUser-Agent: Prometheus/2.45.0\r\n"
      "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
      "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
      "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n");
  EXPECT_EQ(prometheus.status, 200);
  EXPECT_FALSE(prometheus.head);
  // curl, HTTP/1.0 without Host, bare LF, a query, absolute form, leading empty lines, HEAD.
  EXPECT_EQ(judge("GET /metrics HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.88.1\r\n"
                  "Accept: */*\r\n\r\n")
                .status,
            200);
  EXPECT_EQ(judge("GET /metrics HTTP/1.0\r\n\r\n").status, 200);
  EXPECT_EQ(judge("GET /metrics HTTP/1.1\nHost: x\n\n").status, 200);
  EXPECT_EQ(judge("GET /metrics?name[]=hayate_messages_total HTTP/1.1\r\nHost: x\r\n\r\n").status,
            200);
  EXPECT_EQ(judge("GET http://127.0.0.1:9464/metrics HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
  EXPECT_EQ(judge("\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
  EXPECT_EQ(judge("GET /metrics HTTP/1.1\r\nhOsT: x\r\nEmpty:\r\n\r\n").status, 200);
  const HttpVerdict head = judge("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.head);
}

TEST(ExamineHttpRequest, IncompleteRequestsWaitForMore) {
  const std::string full = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  for (std::size_t size = 0; size < full.size(); ++size) {
    EXPECT_EQ(judge(full.substr(0, size)).status, 0) << size;
  }
  EXPECT_EQ(judge(full).status, 200);
  EXPECT_EQ(judge("\r").status, 0);
}

TEST(ExamineHttpRequest, OtherPathsAndMethods) {
  EXPECT_EQ(judge("GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
  EXPECT_EQ(judge("GET /metrics/ HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
  EXPECT_EQ(judge("GET /metricsx HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
  EXPECT_EQ(judge("GET /%6detrics HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
  EXPECT_EQ(judge("GET /../metrics HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
  EXPECT_EQ(judge("GET http://x HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
  EXPECT_EQ(judge("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").status, 405);
  EXPECT_EQ(judge("DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status, 405);
  EXPECT_EQ(judge("get /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status, 405);  // case-sensitive
}

TEST(ExamineHttpRequest, MalformedRequestsAreBad) {
  using namespace std::string_view_literals;
  const std::string_view bad[] = {
      "GET /metrics\r\n\r\n"sv,                                 // HTTP/0.9
      "GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n"sv,            // two spaces
      "GET /metrics HTTP/1.1 \r\nHost: x\r\n\r\n"sv,            // trailing space
      "GET /metrics HTTP/1.1\r\n\r\n"sv,                        // 1.1 without Host
      "GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"sv,  // two Hosts
      "GET /metrics HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"sv,
      "GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n"sv,               // space before the colon
      "GET /metrics HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n"sv,  // obs-fold
      "GET /metrics HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n"sv,
      "GET /metrics HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n"sv,  // bare CR
      "GET /metrics HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n"sv,  // NUL
      "GET /metrics HTTP/1.1\r\nHost: x\r\nX: \x1b[31m\r\n\r\n"sv,
      "GET /met\x7frics HTTP/1.1\r\nHost: x\r\n\r\n"sv,
      "GET /m\xC3\xA9trics HTTP/1.1\r\nHost: x\r\n\r\n"sv,
      "G(T /metrics HTTP/1.1\r\nHost: x\r\n\r\n"sv,
      "GET metrics HTTP/1.1\r\nHost: x\r\n\r\n"sv,
      "GET * HTTP/1.1\r\nHost: x\r\n\r\n"sv,
      "GET /metrics HTTP/1.x\r\nHost: x\r\n\r\n"sv,
      "GET /metrics http/1.1\r\nHost: x\r\n\r\n"sv,
      "GET /metrics HTTP/1.10\r\nHost: x\r\n\r\n"sv,
      "\rGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"sv,
      "EHLO client.example\r\n"sv,                         // an SMTP client
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n"sv,  // TLS, as far as a LF
  };
  for (std::string_view request : bad) {
    EXPECT_EQ(judge(request).status, 400) << request;
  }
  // A bad request line is judged at once, before the headers are complete.
  EXPECT_EQ(judge("GET /metrics HTTP/1.1 extra\r\n").status, 400);
}

TEST(ExamineHttpRequest, OtherVersionsAndSizes) {
  EXPECT_EQ(judge("GET /metrics HTTP/2.0\r\n\r\n").status, 505);
  EXPECT_EQ(judge("GET /metrics HTTP/0.9\r\n\r\n").status, 505);
  const std::string header = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ";
  const std::string end = "\r\n\r\n";
  // Exactly at the cap: served; one byte over: 431, whether complete or not.
  const std::string fits = header + std::string(8192 - header.size() - end.size(), 'a') + end;
  ASSERT_EQ(fits.size(), 8192u);
  EXPECT_EQ(judge(fits).status, 200);
  const std::string over = header + std::string(8193 - header.size() - end.size(), 'a') + end;
  EXPECT_EQ(judge(over).status, 431);
  EXPECT_EQ(judge(header + std::string(9000, 'a')).status, 431);
  EXPECT_EQ(judge(std::string(9000, '\n')).status, 431);
  EXPECT_EQ(examine_http_request("GET /metrics HTTP/1.0\r\n\r\n", 20).status, 431);
}

TEST(MakeHttpResponse, ExactBytes) {
  EXPECT_EQ(make_http_response(200, "a 1\n", false),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            "Content-Length: 4\r\nConnection: close\r\n\r\na 1\n");
  EXPECT_EQ(make_http_response(200, "a 1\n", true),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            "Content-Length: 4\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(make_http_response(404, "ignored", false),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 39\r\nConnection: close\r\n\r\n"
            "not found: the metrics are at /metrics\n");
  EXPECT_EQ(make_http_response(405, "", false),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 28\r\nAllow: GET, HEAD\r\nConnection: close\r\n\r\n"
            "method not allowed: use GET\n");
}

// ---------------------------------------------------------------------------------------------
// The server over real sockets.

int connect_to(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ADD_FAILURE() << "connect: " << std::strerror(errno);
  }
  timeval timeout{10, 0};  // a hung server fails the test instead of hanging it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent <= 0) return;  // the server may close early (431): the reply tells
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
}

std::string read_until_eof(int fd) {
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t got = recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) break;
    text.append(buffer, static_cast<std::size_t>(got));
  }
  return text;
}

std::string exchange(std::uint16_t port, std::string_view request) {
  const int fd = connect_to(port);
  send_all(fd, request);
  std::string response = read_until_eof(fd);
  close(fd);
  return response;
}

std::unique_ptr<MetricsServer> start_server(std::function<std::string()> render,
                                            MetricsServerOptions options = {}) {
  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::start("127.0.0.1:0", std::move(render), options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(MetricsServer, AnswersAScrapeWithTheRenderedText) {
  std::atomic<int> renders{0};
  auto server = start_server([&] {
    ++renders;
    return std::string("hayate_up{campaign=\"c\"} 1\n");
  });
  ASSERT_NE(server, nullptr);
  EXPECT_NE(server->port(), 0);
  EXPECT_EQ(server->address(), cat("127.0.0.1:", server->port()));
  EXPECT_EQ(exchange(server->port(), "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            "Content-Length: 26\r\nConnection: close\r\n\r\nhayate_up{campaign=\"c\"} 1\n");
  EXPECT_EQ(exchange(server->port(), "HEAD /metrics HTTP/1.0\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            "Content-Length: 26\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(renders.load(), 2);
  EXPECT_EQ(server->responses_sent(), 2u);
}

TEST(MetricsServer, ServesARealRender) {
  campaign::MetricsBoard board;
  board.publish(campaign::MetricsSnapshot{});
  auto server = start_server([&] { return board.render(); });
  ASSERT_NE(server, nullptr);
  const std::string response =
      exchange(server->port(), "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
  const std::size_t body = response.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  EXPECT_EQ(response.substr(body + 4), board.render());
}

TEST(MetricsServer, AnswersErrors) {
  std::atomic<int> renders{0};
  auto server = start_server([&] {
    ++renders;
    return std::string("x 1\n");
  });
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(exchange(server->port(), "GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n"),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 39\r\nConnection: close\r\n\r\n"
            "not found: the metrics are at /metrics\n");
  EXPECT_EQ(exchange(server->port(), "BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n").substr(0, 32),
            "HTTP/1.1 405 Method Not Allowed\r");
  EXPECT_EQ(exchange(server->port(), "this is not http\r\n\r\n"),
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 12\r\nConnection: close\r\n\r\nbad request\n");
  EXPECT_EQ(exchange(server->port(), "GET /metrics HTTP/2.0\r\n\r\n").substr(0, 39),
            "HTTP/1.1 505 HTTP Version Not Supported");
  // The client gives up half way (shuts its side): a partial request is a bad one.
  {
    const int fd = connect_to(server->port());
    send_all(fd, "GET /metrics HTTP/1.1\r\nHo");
    shutdown(fd, SHUT_WR);
    EXPECT_EQ(read_until_eof(fd).substr(0, 24), "HTTP/1.1 400 Bad Request");
    close(fd);
  }
  // Larger than 8 KiB without an end: 431, and the server does not wait for the rest.
  EXPECT_EQ(exchange(server->port(), "GET /metrics HTTP/1.1\r\nX: " + std::string(10000, 'a'))
                .substr(0, 44),
            "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(renders.load(), 0);
}

TEST(MetricsServer, RequestArrivingInPiecesIsServed) {
  auto server = start_server([] { return std::string("x 1\n"); });
  ASSERT_NE(server, nullptr);
  const int fd = connect_to(server->port());
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  for (char c : request) {
    send_all(fd, std::string_view(&c, 1));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // separate segments
  }
  EXPECT_EQ(read_until_eof(fd).substr(0, 15), "HTTP/1.1 200 OK");
  close(fd);
}

TEST(MetricsServer, ASilentClientGets408AndDoesNotBlockOthers) {
  MetricsServerOptions options;
  options.read_timeout_ms = 300;
  auto server = start_server([] { return std::string("x 1\n"); }, options);
  ASSERT_NE(server, nullptr);
  const auto started = std::chrono::steady_clock::now();
  const int silent = connect_to(server->port());
  send_all(silent, "GET /metrics HTTP/1.1\r\n");  // and then nothing
  // Another scrape is answered meanwhile.
  EXPECT_EQ(exchange(server->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").substr(0, 15),
            "HTTP/1.1 200 OK");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(250));
  EXPECT_EQ(read_until_eof(silent),
            "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 16\r\nConnection: close\r\n\r\nrequest timeout\n");
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_GE(waited, std::chrono::milliseconds(290));
  EXPECT_LT(waited, std::chrono::milliseconds(2000));
  close(silent);
}

TEST(MetricsServer, ManyClientsAtOnceAreAllServed) {
  MetricsServerOptions options;
  options.connections_max = 4;  // the rest wait in the backlog: none is slow to ask
  auto server = start_server([] { return std::string(100'000, '#') + "\n"; }, options);
  ASSERT_NE(server, nullptr);
  constexpr int kClients = 24;
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      const std::string response =
          exchange(server->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
      if (response.starts_with("HTTP/1.1 200 OK\r\n") &&
          response.ends_with(std::string(100'000, '#') + "\n")) {
        ++good;
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(good.load(), kClients);
  EXPECT_EQ(server->responses_sent(), static_cast<std::uint64_t>(kClients));
}

// Clients that connect and say nothing hold every slot and more wait in the backlog; a scrape
// is still answered well before their read deadline, as the oldest of them make room.
TEST(MetricsServer, IdleSocketsCannotKeepAScrapeWaiting) {
  MetricsServerOptions options;
  options.connections_max = 4;
  options.read_timeout_ms = 5000;
  auto server = start_server([] { return std::string("x 1\n"); }, options);
  ASSERT_NE(server, nullptr);
  std::vector<int> idle;
  for (int i = 0; i < 12; ++i) idle.push_back(connect_to(server->port()));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(exchange(server->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").substr(0, 15),
            "HTTP/1.1 200 OK");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1500));
  // The oldest idle client was closed to make room, with a 408.
  EXPECT_EQ(read_until_eof(idle.front()).substr(0, 28), "HTTP/1.1 408 Request Timeout");
  for (int fd : idle) close(fd);
}

TEST(MetricsServer, StopReturnsQuicklyWhileAClientHoldsAConnection) {
  auto server = start_server([] { return std::string("x 1\n"); });
  ASSERT_NE(server, nullptr);
  const int idle = connect_to(server->port());
  const int partial = connect_to(server->port());
  send_all(partial, "GET /metrics HTTP/1.1\r\nHost");
  // Let the server accept both before stopping.
  ASSERT_EQ(exchange(server->port(), "GET /metrics HTTP/1.0\r\n\r\n").substr(0, 15),
            "HTTP/1.1 200 OK");
  const auto started = std::chrono::steady_clock::now();
  server->stop();
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, std::chrono::milliseconds(100));
  // Both clients see the connection end, with no response.
  EXPECT_EQ(read_until_eof(idle), "");
  EXPECT_EQ(read_until_eof(partial), "");
  close(idle);
  close(partial);
  // The port is free again, and stop() twice is harmless.
  server->stop();
  const std::string address = server->address();
  server.reset();
  absl::StatusOr<std::unique_ptr<MetricsServer>> again =
      MetricsServer::start(address, [] { return std::string(); });
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST(MetricsServer, AnIdleServerStopsQuickly) {
  for (int i = 0; i < 20; ++i) {
    auto server = start_server([] { return std::string(); });
    ASSERT_NE(server, nullptr);
    const auto started = std::chrono::steady_clock::now();
    server.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(100));
  }
}

TEST(MetricsServer, AddressInUseIsAClearError) {
  auto first = start_server([] { return std::string(); });
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<MetricsServer>> second =
      MetricsServer::start(first->address(), [] { return std::string(); });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(std::string(second.status().message()),
            cat("metrics listen address ", first->address(),
                " is already in use (another hayate or exporter?); choose another port"));
}

TEST(MetricsServer, BadAndNonLoopbackAddressesAreRefused) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"127.0.0.1", "no port"},
      {"", "no port"},
      {"127.0.0.1:", "the port is not a number"},
      {"127.0.0.1:http", "the port is not a number"},
      {"127.0.0.1:99999", "the port is above 65535"},
      {"127.0.0.1:123456", "the port is above 65535"},
      {"127.0.0.1:-1", "the port is not a number"},
      {"::1:9464", "an IPv6 address needs brackets"},
      {"[::1]", "an IPv6 address needs brackets and a port"},
      {"[::1]9464", "an IPv6 address needs brackets and a port"},
      {"[127.0.0.1]:9464", "not a numeric IP address"},
      {"metrics.example:9464", "not a numeric IP address"},
      {":9464", "not a numeric IP address"},
      {"127.1:9464", "not a numeric IP address"},
  };
  for (const auto& [address, why] : cases) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> server =
        MetricsServer::start(address, [] { return std::string(); });
    ASSERT_FALSE(server.ok()) << address;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_EQ(std::string(server.status().message()),
              cat("metrics listen address \"", address, "\": ", why,
                  " (expected 127.0.0.1:PORT or [::1]:PORT)"));
  }
  for (std::string_view address : {"0.0.0.0:0", "192.0.2.1:9464", "[::]:0", "[2001:db8::1]:0"}) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> server =
        MetricsServer::start(address, [] { return std::string(); });
    ASSERT_FALSE(server.ok()) << address;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(server.status().message()).find("is not a loopback address"),
              std::string::npos)
        << server.status();
  }
  // With the flag, an address that is not this host's is still refused, by bind().
  MetricsServerOptions options;
  options.allow_non_loopback = true;
  absl::StatusOr<std::unique_ptr<MetricsServer>> foreign = MetricsServer::start(
      "192.0.2.1:9464", [] { return std::string(); }, options);
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(std::string(foreign.status().message()),
            "metrics listen address 192.0.2.1:9464 is not an address of this host");
}

// A command line is checked before anything starts, with the messages start() would give.
TEST(MetricsServer, CheckListenAddressBindsNothing) {
  EXPECT_TRUE(check_metrics_listen_address("127.0.0.1:9464", false).ok());
  EXPECT_TRUE(check_metrics_listen_address("[::1]:0", false).ok());
  const absl::Status public_address = check_metrics_listen_address("0.0.0.0:9464", false);
  EXPECT_EQ(public_address.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(public_address.message()),
            "metrics listen address \"0.0.0.0:9464\" is not a loopback address; metrics reveal "
            "campaign names and volumes, so they are served on 127.0.0.0/8 or ::1 only");
  EXPECT_TRUE(check_metrics_listen_address("0.0.0.0:9464", true).ok());
  EXPECT_EQ(
      std::string(check_metrics_listen_address("localhost", false).message()),
      "metrics listen address \"localhost\": no port (expected 127.0.0.1:PORT or [::1]:PORT)");
}

TEST(MetricsServer, LocalhostAndOtherLoopbackForms) {
  for (std::string_view address : {"localhost:0", "127.0.0.2:0", "[::1]:0"}) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> server =
        MetricsServer::start(address, [] { return std::string("y 2\n"); });
    if (!server.ok() && address == "[::1]:0") {
      GTEST_SKIP() << "no IPv6 loopback here: " << server.status();
    }
    ASSERT_TRUE(server.ok()) << address << ": " << server.status();
    if (address == "[::1]:0") {
      EXPECT_EQ((*server)->address(), cat("[::1]:", (*server)->port()));
      continue;
    }
    if (address == "localhost:0") {
      EXPECT_EQ((*server)->address(), cat("127.0.0.1:", (*server)->port()));
      EXPECT_EQ(exchange((*server)->port(), "GET /metrics HTTP/1.0\r\n\r\n").substr(0, 15),
                "HTTP/1.1 200 OK");
    }
  }
}

}  // namespace
}  // namespace hayate
