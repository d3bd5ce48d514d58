// What a run knows about itself, rendered in the Prometheus text exposition format (0.0.4):
// served live by engine/metrics_server and written at intervals to a file for node_exporter's
// textfile collector. Pure formatting; the run fills a MetricsSnapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "campaign/output/latency_histogram.h"
#include "engine/files.h"

namespace hayate::campaign::inline output {

// Destination groups exported with their own series. More groups than this would make a
// series per domain of the list; only the largest are kept (see keep_top_destinations).
inline constexpr std::size_t metrics_destinations_max = 50;

// One destination group: a site key ("mx example.com", "route 127.0.0.1:2525") or a domain.
// Rows refused on input have no domain; their group has an empty name and is not exported
// (nothing was attempted for them: they are hayate_messages_total{outcome="rejected"}).
struct DestinationCounts {
  std::string name;
  std::uint64_t delivered = 0;
  std::uint64_t bounced = 0;
  std::uint64_t deferred = 0;  // attempts deferred (each retry counts)
  std::uint64_t total() const { return delivered + bounced + deferred; }
};

// A latency summary without quantiles: enough for rate(sum)/rate(count) and the worst case.
struct LatencySummary {
  std::uint64_t count = 0;
  double sum_ms = 0;
  double max_ms = 0;
  void add(double latency_ms);
};

// One destination's shaping: its state and how often it was throttled, suspended, recovered.
struct ShapingCounts {
  std::string destination;
  std::string state;  // normal, recovering, throttled, suspended
  std::uint64_t throttles = 0;
  std::uint64_t suspensions = 0;
  std::uint64_t recoveries = 0;
};

struct MetricsSnapshot {
  std::string campaign;  // the job's id: a label on every series (left out when empty)
  // Counters since the run began.
  std::uint64_t delivered = 0;
  std::uint64_t bounced = 0;
  std::uint64_t deferred = 0;           // recipients that ended the run deferred
  std::uint64_t attempts_deferred = 0;  // temporary failures that were retried
  std::uint64_t rejected = 0;           // rows refused on input
  std::uint64_t suppressed = 0;         // rows skipped: on the suppression list
  std::uint64_t not_attempted = 0;      // left waiting when a signal stopped the run
  std::uint64_t recipients_read = 0;    // valid rows handed to the shards
  std::uint64_t connections_opened = 0;
  std::uint64_t connections_failed = 0;
  std::uint64_t tls_handshakes = 0;
  std::uint64_t tls_resumptions = 0;
  std::uint64_t tls_failures = 0;
  std::uint64_t message_bytes = 0;
  // Gauges.
  std::uint64_t connections_open = 0;
  std::uint64_t recipients_pending = 0;                 // inside the shards, all together
  std::vector<std::uint64_t> shard_recipients_pending;  // by shard index; may be empty
  // At most metrics_destinations_max are rendered, in the order given.
  std::vector<DestinationCounts> destinations;
  std::vector<ShapingCounts> shaping;                   // destinations ever throttled
  LatencyHistogram delivery_latency;                    // of every decided transaction
  std::optional<LatencySummary> journal_write_latency;  // deliveries journal writes
  double start_time_unix_s = 0;                         // when the run began (wall clock)
  double elapsed_s = 0;                                 // since then (monotonic)
};

// Drops the groups without a name, sorts by total descending (then name) and keeps the first
// `count_max`.
void keep_top_destinations(std::vector<DestinationCounts>& destinations,
                           std::size_t count_max = metrics_destinations_max);

// The snapshot in the text exposition format: a HELP and a TYPE line per family, names
// prefixed hayate_ with their unit (_seconds, _bytes, _total), label values escaped. No label
// value is empty (the format reads an empty value as no label at all): an empty campaign
// leaves the label out; a destination, shaping destination or shaping state without a name
// leaves its series out.
std::string render_prometheus(const MetricsSnapshot& snapshot);

// Appends `value` escaped for a label value: backslash, double quote and line feed become
// \\, \" and \n; invalid UTF-8 becomes U+FFFD (the format requires UTF-8).
void append_label_value(std::string_view value, std::string& out);

// Writes the rendered snapshot to `path` atomically: a new temporary file beside it (a fresh
// hidden name ending in ".tmp", created with O_EXCL), then rename(2), so a reader never sees
// half a file. For node_exporter's textfile collector the name must end in ".prom" (the
// collector reads only those; the temporary name does not, so it is never read) and the
// directory is the collector's --collector.textfile.directory. A symbolic link at `path` is
// refused. Mode 0644: the collector often runs as another user. No fsync: a file lost in a
// crash is rewritten at the next interval.
absl::Status write_metrics_file(const std::string& path, const MetricsSnapshot& snapshot);

// Writes `content` to `path` through a fresh temporary file and rename(2)
// (Directory::replace_file in the directory of `path`); new files get `mode`.
absl::Status write_file_atomically(const std::string& path, std::string_view content, mode_t mode);

// The latest snapshot, shared between the thread that publishes it and the metrics server's
// thread that renders it.
class MetricsBoard {
 public:
  void publish(MetricsSnapshot snapshot) {
    std::lock_guard<std::mutex> lock(mutex_);
    snapshot_ = std::move(snapshot);
  }
  MetricsSnapshot snapshot() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return snapshot_;
  }
  std::string render() const { return render_prometheus(snapshot()); }

 private:
  mutable std::mutex mutex_;
  MetricsSnapshot snapshot_;
};

}  // namespace hayate::campaign::output
