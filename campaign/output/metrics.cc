// Prometheus text exposition of a run (see metrics.h). Format reference: "Exposition formats",
// text format 0.0.4: `# HELP name text`, `# TYPE name type`, then `name{label="value"} value`
// lines, each ending with a line feed.
#include "campaign/output/metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "engine/assert.h"
#include "engine/strings.h"
#include "engine/utf8.h"
#include "engine/version.h"

namespace hayate::campaign::inline output {

namespace {

void append_number(std::uint64_t value, std::string& out) { append(out, value); }

// Shortest text that reads back as the same double (Go's ParseFloat reads it).
void append_number(double value, std::string& out) {
  HAYATE_ASSERT(value == value);  // no NaN: every value here is a count or a duration
  char text[64];
  const std::to_chars_result result = std::to_chars(text, text + sizeof text, value);
  HAYATE_ASSERT(result.ec == std::errc());
  out.append(text, result.ptr);
}

// Writes families one after another; every sample carries the campaign label first. No label
// value is ever empty: callers leave out what has no name.
class Exposition {
 public:
  // An empty campaign (a snapshot not yet filled) leaves the label out: the format reads an
  // empty value as no label at all, and a job's id is never empty.
  explicit Exposition(std::string_view campaign) : campaign_(campaign) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    // HELP text escapes backslash and line feed; ours are constants without them.
    HAYATE_ASSERT(help.find_first_of("\\\n") == std::string_view::npos);
    append(text_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }

  template <typename Value>
  void sample(std::string_view name, Value value, std::string_view label_name = {},
              std::string_view label_value = {}, std::string_view label2_name = {},
              std::string_view label2_value = {}) {
    text_ += name;
    char separator = '{';
    if (!campaign_.empty()) label("campaign", campaign_, separator);
    if (!label_name.empty()) label(label_name, label_value, separator);
    if (!label2_name.empty()) label(label2_name, label2_value, separator);
    if (separator == ',') text_ += '}';
    text_ += ' ';
    append_number(value, text_);
    text_ += '\n';
  }

  template <typename Value>
  void single(std::string_view name, std::string_view type, std::string_view help, Value value) {
    family(name, type, help);
    sample(name, value);
  }

  std::string take() { return std::move(text_); }

 private:
  void label(std::string_view name, std::string_view value, char& separator) {
    HAYATE_ASSERT(!value.empty());  // the callers skip what has no name
    append(text_, separator, name, "=\"");
    append_label_value(value, text_);
    text_ += '"';
    separator = ',';
  }

  std::string campaign_;
  std::string text_;
};

void render_outcomes(const MetricsSnapshot& snapshot, Exposition& out) {
  out.family("hayate_messages_total", "counter",
             "Recipients by outcome: delivered, bounced, deferred (still deferred when the run "
             "ended), rejected (refused on input), suppressed (on the suppression list, not "
             "sent), not_attempted (left when a signal stopped the run).");
  out.sample("hayate_messages_total", snapshot.delivered, "outcome", "delivered");
  out.sample("hayate_messages_total", snapshot.bounced, "outcome", "bounced");
  out.sample("hayate_messages_total", snapshot.deferred, "outcome", "deferred");
  out.sample("hayate_messages_total", snapshot.rejected, "outcome", "rejected");
  out.sample("hayate_messages_total", snapshot.suppressed, "outcome", "suppressed");
  out.sample("hayate_messages_total", snapshot.not_attempted, "outcome", "not_attempted");
  out.single("hayate_attempts_deferred_total", "counter",
             "Temporary failures (4xx, timeouts, lost connections) that were retried.",
             snapshot.attempts_deferred);
  out.single("hayate_recipients_read_total", "counter",
             "Valid recipient rows read and handed to the shards.", snapshot.recipients_read);
  out.single("hayate_message_bytes_total", "counter", "Message bytes sent after DATA.",
             snapshot.message_bytes);
}

void render_connections(const MetricsSnapshot& snapshot, Exposition& out) {
  out.single("hayate_connections_opened_total", "counter", "SMTP connections opened.",
             snapshot.connections_opened);
  out.single("hayate_connections_failed_total", "counter",
             "SMTP connections that ended before they could carry mail.",
             snapshot.connections_failed);
  out.single("hayate_connections_open", "gauge", "SMTP connections open now.",
             snapshot.connections_open);
  out.single("hayate_tls_handshakes_total", "counter", "TLS handshakes completed.",
             snapshot.tls_handshakes);
  out.single("hayate_tls_resumptions_total", "counter",
             "TLS handshakes that resumed an earlier session.", snapshot.tls_resumptions);
  out.single("hayate_tls_failures_total", "counter", "TLS handshakes that failed.",
             snapshot.tls_failures);
}

void render_pending(const MetricsSnapshot& snapshot, Exposition& out) {
  out.single("hayate_recipients_pending", "gauge",
             "Recipients inside the shards: queued, in flight or waiting for a retry.",
             snapshot.recipients_pending);
  if (snapshot.shard_recipients_pending.empty()) return;
  out.family("hayate_shard_recipients_pending", "gauge", "Recipients inside each shard.");
  for (std::size_t i = 0; i < snapshot.shard_recipients_pending.size(); ++i) {
    out.sample("hayate_shard_recipients_pending", snapshot.shard_recipients_pending[i], "shard",
               std::to_string(i));
  }
}

// The group without a name (rows refused on input, which have no domain) is left out: nothing
// was attempted for it, and its rows are counted as rejected.
void render_destinations(const std::vector<DestinationCounts>& destinations, Exposition& out) {
  const auto named = [](const DestinationCounts& d) { return !d.name.empty(); };
  if (std::none_of(destinations.begin(), destinations.end(), named)) return;
  out.family("hayate_destination_messages_total", "counter",
             "Attempt outcomes of the largest destinations (MX group, route or domain).");
  std::size_t rendered = 0;
  for (const DestinationCounts& destination : destinations) {
    if (!named(destination)) continue;
    if (rendered++ == metrics_destinations_max) break;
    out.sample("hayate_destination_messages_total", destination.delivered, "destination",
               destination.name, "outcome", "delivered");
    out.sample("hayate_destination_messages_total", destination.bounced, "destination",
               destination.name, "outcome", "bounced");
    out.sample("hayate_destination_messages_total", destination.deferred, "destination",
               destination.name, "outcome", "deferred");
  }
}

// Shaping destinations are named by the shaping rules (1 to 64 characters, "default" for the
// rest) or by a site key, so none is empty in a run. One that is would be left out rather than
// named: any name chosen for it could be a real destination's, and a series twice is invalid.
void render_shaping(const std::vector<ShapingCounts>& shaping, Exposition& out) {
  const auto named = [](const ShapingCounts& s) { return !s.destination.empty(); };
  if (std::none_of(shaping.begin(), shaping.end(), named)) return;
  out.family("hayate_shaping_events_total", "counter",
             "Throttle state changes by destination: throttled (rate or connections cut), "
             "suspended, recovered.");
  for (const ShapingCounts& counts : shaping) {
    if (!named(counts)) continue;
    out.sample("hayate_shaping_events_total", counts.throttles, "destination", counts.destination,
               "event", "throttled");
    out.sample("hayate_shaping_events_total", counts.suspensions, "destination", counts.destination,
               "event", "suspended");
    out.sample("hayate_shaping_events_total", counts.recoveries, "destination", counts.destination,
               "event", "recovered");
  }
  out.family("hayate_destination_shaping_state", "gauge",
             "1 for the state each throttled destination is in now.");
  for (const ShapingCounts& counts : shaping) {
    if (!named(counts) || counts.state.empty()) continue;
    out.sample("hayate_destination_shaping_state", std::uint64_t{1}, "destination",
               counts.destination, "state", counts.state);
  }
}

// A histogram in the text format: one _bucket per upper bound in increasing order, each
// counting everything at or below it (cumulative), the last le="+Inf"; then _sum and _count.
// _count is taken from the buckets so that it always equals the +Inf bucket, as the format
// requires.
void render_delivery_latency(const LatencyHistogram& histogram, Exposition& out) {
  out.family("hayate_delivery_latency_seconds", "histogram",
             "Time from a transaction's first command to the reply that decided the recipient.");
  std::uint64_t cumulative = 0;
  std::string bound;
  for (std::size_t i = 0; i < LatencyHistogram::bounds_ms.size(); ++i) {
    cumulative += histogram.counts[i];
    bound.clear();
    append_number(LatencyHistogram::bounds_ms[i] / 1000, bound);
    out.sample("hayate_delivery_latency_seconds_bucket", cumulative, "le", bound);
  }
  cumulative += histogram.counts.back();
  out.sample("hayate_delivery_latency_seconds_bucket", cumulative, "le", "+Inf");
  out.sample("hayate_delivery_latency_seconds_sum", histogram.sum_ms / 1000);
  out.sample("hayate_delivery_latency_seconds_count", cumulative);
}

void render_journal(const std::optional<LatencySummary>& journal_write_latency, Exposition& out) {
  if (!journal_write_latency) return;
  const LatencySummary& latency = *journal_write_latency;
  out.family("hayate_journal_write_seconds", "summary",
             "Time spent writing the deliveries journal.");
  out.sample("hayate_journal_write_seconds_sum", latency.sum_ms / 1000);
  out.sample("hayate_journal_write_seconds_count", latency.count);
  out.single("hayate_journal_write_max_seconds", "gauge",
             "The longest write of the deliveries journal.", latency.max_ms / 1000);
}

void render_run(const MetricsSnapshot& snapshot, Exposition& out) {
  out.single("hayate_run_start_time_seconds", "gauge",
             "When the run began, in seconds since the Unix epoch.", snapshot.start_time_unix_s);
  out.single("hayate_run_duration_seconds", "gauge", "Seconds since the run began.",
             snapshot.elapsed_s);
  // The usual build_info gauge: its labels name the build, so that a dashboard can tell
  // which version sent a campaign.
  out.family("hayate_build_info", "gauge", "Always 1; the labels name the build that runs.");
  out.sample("hayate_build_info", std::uint64_t{1}, "version", hayate::version, "compiler",
             hayate::compiler);
}

}  // namespace

void LatencySummary::add(double latency_ms) {
  ++count;
  sum_ms += latency_ms;
  max_ms = std::max(max_ms, latency_ms);
}

void keep_top_destinations(std::vector<DestinationCounts>& destinations, std::size_t count_max) {
  // The unnamed group (rows refused on input) is never exported: it must not take a place.
  std::erase_if(destinations, [](const DestinationCounts& d) { return d.name.empty(); });
  const auto larger = [](const DestinationCounts& a, const DestinationCounts& b) {
    return a.total() != b.total() ? a.total() > b.total() : a.name < b.name;
  };
  if (destinations.size() > count_max) {
    std::partial_sort(destinations.begin(), destinations.begin() + count_max, destinations.end(),
                      larger);
    destinations.resize(count_max);
  } else {
    std::sort(destinations.begin(), destinations.end(), larger);
  }
}

void append_label_value(std::string_view value, std::string& out) {
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x80) {
      out += c;
    } else if (const std::size_t length = hayate::utf8_sequence_length(value, i); length > 0) {
      out.append(value.substr(i, length));
      i += length - 1;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
    }
  }
}

std::string render_prometheus(const MetricsSnapshot& snapshot) {
  Exposition out(snapshot.campaign);
  render_outcomes(snapshot, out);
  render_connections(snapshot, out);
  render_pending(snapshot, out);
  render_destinations(snapshot.destinations, out);
  render_shaping(snapshot.shaping, out);
  render_delivery_latency(snapshot.delivery_latency, out);
  render_journal(snapshot.journal_write_latency, out);
  render_run(snapshot, out);
  return out.take();
}

absl::Status write_file_atomically(const std::string& path, std::string_view content, mode_t mode) {
  std::string name;
  absl::StatusOr<Directory> directory = Directory::open_parent(path, name);
  if (!directory.ok()) {
    return absl::Status(directory.status().code(),
                        cat("cannot write ", path, ": ", directory.status().message()));
  }
  return directory->replace_file(name, content, mode);
}

absl::Status write_metrics_file(const std::string& path, const MetricsSnapshot& snapshot) {
  const std::string text = render_prometheus(snapshot);
  HAYATE_ASSERT(!text.empty() && text.back() == '\n');  // the textfile collector needs it
  // Readable by others: node_exporter seldom runs as the user that sends.
  return write_file_atomically(path, text, 0644);
}

}  // namespace hayate::campaign::output
