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

// Writes families one after another; every sample carries the campaign label first.
class Exposition {
 public:
  explicit Exposition(std::string_view campaign) {
    campaign_label_ = "campaign=\"";
    append_label_value(campaign, campaign_label_);
    campaign_label_ += '"';
  }

  void family(std::string_view name, std::string_view type, std::string_view help) {
    // HELP text escapes backslash and line feed; ours are constants without them.
    HAYATE_ASSERT(help.find_first_of("\\\n") == std::string_view::npos);
    append(text_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }

  template <typename Value>
  void sample(std::string_view name, Value value, std::string_view label_name = {},
              std::string_view label_value = {}, std::string_view label2_name = {},
              std::string_view label2_value = {}) {
    append(text_, name, "{", campaign_label_);
    if (!label_name.empty()) {
      append(text_, ",", label_name, "=\"");
      append_label_value(label_value, text_);
      text_ += '"';
    }
    if (!label2_name.empty()) {
      append(text_, ",", label2_name, "=\"");
      append_label_value(label2_value, text_);
      text_ += '"';
    }
    text_ += "} ";
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
  std::string campaign_label_;
  std::string text_;
};

}  // namespace

void LatencySummary::add(double latency_ms) {
  ++count;
  sum_ms += latency_ms;
  max_ms = std::max(max_ms, latency_ms);
}

void keep_top_destinations(std::vector<DestinationCounts>& destinations, std::size_t count_max) {
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
  out.family("hayate_messages_total", "counter",
             "Recipients by outcome: delivered, bounced, deferred (still deferred when the run "
             "ended), rejected (refused on input), not_attempted (left when a signal stopped "
             "the run).");
  out.sample("hayate_messages_total", snapshot.delivered, "outcome", "delivered");
  out.sample("hayate_messages_total", snapshot.bounced, "outcome", "bounced");
  out.sample("hayate_messages_total", snapshot.deferred, "outcome", "deferred");
  out.sample("hayate_messages_total", snapshot.rejected, "outcome", "rejected");
  out.sample("hayate_messages_total", snapshot.not_attempted, "outcome", "not_attempted");
  out.single("hayate_attempts_deferred_total", "counter",
             "Temporary failures (4xx, timeouts, lost connections) that were retried.",
             snapshot.attempts_deferred);
  out.single("hayate_recipients_read_total", "counter",
             "Valid recipient rows read and handed to the shards.", snapshot.recipients_read);
  out.single("hayate_message_bytes_total", "counter", "Message bytes sent after DATA.",
             snapshot.message_bytes);
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
  out.single("hayate_recipients_pending", "gauge",
             "Recipients inside the shards: queued, in flight or waiting for a retry.",
             snapshot.recipients_pending);
  if (!snapshot.shard_recipients_pending.empty()) {
    out.family("hayate_shard_recipients_pending", "gauge", "Recipients inside each shard.");
    for (std::size_t i = 0; i < snapshot.shard_recipients_pending.size(); ++i) {
      out.sample("hayate_shard_recipients_pending", snapshot.shard_recipients_pending[i], "shard",
                 std::to_string(i));
    }
  }
  if (!snapshot.destinations.empty()) {
    out.family("hayate_destination_messages_total", "counter",
               "Attempt outcomes of the largest destinations (MX group, route or domain).");
    const std::size_t count = std::min(snapshot.destinations.size(), metrics_destinations_max);
    for (std::size_t i = 0; i < count; ++i) {
      const DestinationCounts& destination = snapshot.destinations[i];
      out.sample("hayate_destination_messages_total", destination.delivered, "destination",
                 destination.name, "outcome", "delivered");
      out.sample("hayate_destination_messages_total", destination.bounced, "destination",
                 destination.name, "outcome", "bounced");
      out.sample("hayate_destination_messages_total", destination.deferred, "destination",
                 destination.name, "outcome", "deferred");
    }
  }
  if (!snapshot.shaping.empty()) {
    out.family("hayate_shaping_events_total", "counter",
               "Throttle state changes by destination: throttled (rate or connections cut), "
               "suspended, recovered.");
    for (const ShapingCounts& shaping : snapshot.shaping) {
      out.sample("hayate_shaping_events_total", shaping.throttles, "destination",
                 shaping.destination, "event", "throttled");
      out.sample("hayate_shaping_events_total", shaping.suspensions, "destination",
                 shaping.destination, "event", "suspended");
      out.sample("hayate_shaping_events_total", shaping.recoveries, "destination",
                 shaping.destination, "event", "recovered");
    }
    out.family("hayate_destination_shaping_state", "gauge",
               "1 for the state each throttled destination is in now.");
    for (const ShapingCounts& shaping : snapshot.shaping) {
      out.sample("hayate_destination_shaping_state", std::uint64_t{1}, "destination",
                 shaping.destination, "state", shaping.state);
    }
  }
  if (snapshot.journal_write_latency) {
    const LatencySummary& latency = *snapshot.journal_write_latency;
    out.family("hayate_journal_write_seconds", "summary",
               "Time spent writing the deliveries journal.");
    out.sample("hayate_journal_write_seconds_sum", latency.sum_ms / 1000);
    out.sample("hayate_journal_write_seconds_count", latency.count);
    out.single("hayate_journal_write_max_seconds", "gauge",
               "The longest write of the deliveries journal.", latency.max_ms / 1000);
  }
  out.single("hayate_run_start_time_seconds", "gauge",
             "When the run began, in seconds since the Unix epoch.", snapshot.start_time_unix_s);
  out.single("hayate_run_duration_seconds", "gauge", "Seconds since the run began.",
             snapshot.elapsed_s);
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
