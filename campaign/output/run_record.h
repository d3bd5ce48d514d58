// What one run of a campaign did, aggregated while it runs: its counts (summary.json's names),
// a time series, the shaping events, the largest destinations and providers, the bounce and
// deferral reasons and the latency distribution. The run rewrites it as OUT/status.json once a
// second (atomically) and appends it to OUT/runs.jsonl when it ends; `hayate status` reads the
// first, `hayate report` and the end of every run draw OUT/report.html from both. Its size
// does not grow with the recipients: every list is capped, the series is thinned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "campaign/output/latency_histogram.h"

namespace hayate::campaign::inline output {

inline constexpr std::size_t run_series_points_max = 600;
inline constexpr std::size_t run_events_max = 500;
inline constexpr std::size_t run_top_max = 20;

// One sample of the run, taken once a second (thinned later): counts since the run began.
struct SeriesPoint {
  double t_s = 0;  // seconds since the run began
  std::uint64_t delivered = 0;
  std::uint64_t bounced = 0;
  std::uint64_t attempts_deferred = 0;
  std::uint64_t connections_open = 0;  // a gauge: open at that moment
};

// The samples of a run, at most run_series_points_max: when full, every second sample is
// dropped and the interval between those kept doubles, so a run of any length fits.
class RunSeries {
 public:
  // Samples closer than interval_s() to the last kept are skipped; the last one offered is
  // always kept as the tail (the latest state), replacing a skipped tail.
  void add(const SeriesPoint& point);
  const std::vector<SeriesPoint>& points() const { return points_; }
  double interval_s() const { return interval_s_; }
  // For the parser: the points as read, and their interval.
  void assign(std::vector<SeriesPoint> points, double interval_s);

 private:
  std::vector<SeriesPoint> points_;
  double interval_s_ = 1;
  bool tail_is_extra_ = false;  // the last point is the latest, not on the interval
};

// A throttle state change (shaping.jsonl has the same): what, where, and the reply that caused
// it (empty for a recovery or a suspension's end).
struct ShapingEvent {
  std::int64_t time_unix_ms = 0;
  std::string event;  // throttled, suspended, resumed, recovered (throttle_event_name)
  std::string destination;
  std::string source;  // the sending source's name; empty when the job names none
  int code = 0;        // the reply's code; 0 when no reply caused it
  std::string enhanced;
  std::string reply;               // the reply's text, cut to 200 bytes
  std::int64_t until_unix_ms = 0;  // a suspension: when it ends
};

// A destination held back right now, and the reply that did it.
struct HeldDestination {
  std::string destination;
  std::string state;               // throttled, suspended, recovering
  std::string cause;               // "421 4.7.28 Our system has detected..." (code, enhanced, text)
  std::int64_t until_unix_ms = 0;  // a suspension: when it ends; 0 otherwise
};

// Outcomes of one domain or one provider (a shaping destination: "gmail", "default").
struct NamedOutcomes {
  std::string name;
  std::uint64_t delivered = 0;
  std::uint64_t bounced = 0;
  std::uint64_t deferred = 0;  // attempts deferred
  std::uint64_t total() const { return delivered + bounced + deferred; }
};

using ReasonCounts = std::vector<std::pair<std::string, std::uint64_t>>;  // most first

struct RunRecord {
  std::string campaign;
  std::uint32_t run = 1;  // 1 for the campaign's first run, then 2, 3...
  // running, draining, waiting (every recipient read, the rest waiting for its retry) while a
  // process works on it; then done, retrying (ended with deferred recipients: the next run
  // retries them), outside_window, stopped (a signal), failed (any other exit code).
  std::string state = "running";
  std::string state_detail;  // why: "outside the send window: opens 09:00", "SIGTERM"...
  std::int64_t pid = 0;
  double started_unix_s = 0;
  double updated_unix_s = 0;
  double ended_unix_s = 0;  // 0 while running
  int exit_code = -1;       // -1 while running

  // The counts, under summary.json's names.
  std::uint64_t total_rows = 0;  // rows of the recipients file (estimated while reading)
  bool total_is_estimate = true;
  std::uint64_t rows = 0;        // read so far
  std::uint64_t recipients = 0;  // handed to the shards
  std::uint64_t delivered = 0;
  std::uint64_t bounced = 0;
  std::uint64_t deferred = 0;  // waiting for a retry now (the end: still deferred)
  std::uint64_t pending = 0;   // read and not decided yet: waiting, ready or in flight
  std::uint64_t attempts_deferred = 0;
  std::uint64_t rejected = 0;
  std::uint64_t suppressed = 0;
  std::uint64_t not_attempted = 0;
  std::uint64_t connections = 0;
  std::uint64_t connections_failed = 0;
  std::uint64_t connections_open = 0;
  std::uint64_t servers_greeted = 0;
  std::uint64_t tls_handshakes = 0;
  std::uint64_t message_bytes = 0;
  std::uint64_t possible_duplicates = 0;
  double duration_s = 0;
  double messages_per_second = 0;       // delivered + bounced over the run so far
  double current_per_second = 0;        // the same over the last ten seconds
  double eta_s = -1;                    // -1: cannot tell yet
  std::int64_t next_retry_unix_ms = 0;  // the earliest deferred recipient's retry; 0: none

  ReasonCounts bounce_reasons;
  ReasonCounts deferral_reasons;            // attempts deferred, per reason
  std::vector<NamedOutcomes> destinations;  // the run_top_max largest domains
  std::vector<NamedOutcomes> providers;     // the run_top_max largest shaping destinations
  std::vector<HeldDestination> held;        // throttled or suspended now
  LatencyHistogram latency;
  RunSeries series;
  std::vector<ShapingEvent> events;  // the first run_events_max
  std::uint64_t events_dropped = 0;

  // The sum of delivered + bounced + rejected + suppressed: recipients with a final outcome.
  std::uint64_t final_outcomes() const { return delivered + bounced + rejected + suppressed; }
};

// JSON: one object, keys as the fields' names. `indent` false: one line (runs.jsonl).
std::string render_run_record(const RunRecord& record, bool indent);
// The inverse; unknown keys are ignored, missing ones keep their defaults. An error names
// what is wrong (the caller adds the file).
absl::StatusOr<RunRecord> parse_run_record(std::string_view json);

// `counts` sorted most first (then by name), cut to `count_max`.
void keep_top(ReasonCounts& counts, std::size_t count_max);
void keep_top(std::vector<NamedOutcomes>& outcomes, std::size_t count_max);

}  // namespace hayate::campaign::output
