// The run as others see it while it goes on and after: OUT/status.json rewritten once a second
// from what the shards and the reader show, OUT/runs.jsonl (a line per finished run) and
// OUT/report.html drawn from both at the end. The monitor thread updates it; the run's main
// thread finishes it after the shards are joined.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "campaign/delivery/campaign_shard.h"
#include "campaign/output/run_record.h"
#include "campaign/output/run_tally.h"
#include "engine/files.h"

namespace hayate::campaign::inline run {

inline constexpr std::string_view status_file_name = "status.json";
inline constexpr std::string_view runs_file_name = "runs.jsonl";
inline constexpr std::string_view report_file_name = "report.html";

// The reader's progress, stored (relaxed) by the reader thread as it goes.
struct ReaderProgress {
  std::atomic<std::uint64_t> rows{0};        // CSV rows read
  std::atomic<std::uint64_t> recipients{0};  // handed to the shards
  std::atomic<std::uint64_t> skipped{0};     // final in an earlier run
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> suppressed{0};
  std::atomic<std::uint64_t> bytes{0};  // of the recipients file
  std::atomic<bool> done{false};        // the whole file was read
};

// What the shards show of themselves, added up (once a second).
struct LiveView {
  ShardCounters totals;
  std::vector<std::pair<std::string, DomainCounts>> destinations;  // the largest, merged
  std::vector<ShapingView> shaping;                                // merge_shaping's order
  RunTally tally;
  std::int64_t next_retry_unix_ms = 0;
  std::uint64_t connections_open = 0;
  std::uint64_t pending = 0;  // held by the shards: waiting, ready or in flight
  std::uint64_t waiting = 0;  // of those, deferred and waiting for their retry
};
LiveView collect_live_view(std::vector<std::unique_ptr<CampaignShard>>& shards);

// One view per destination (its shards' together), the most held back first.
std::vector<ShapingView> merge_shaping(std::vector<ShapingView> all);

// Why a run stopped before its work was done, as the monitor saw it.
enum class StopCause : std::uint8_t { none, signal, window, other };

// How a run ended, for its last record.
struct RunEnding {
  int exit_code = 0;
  StopCause cause = StopCause::none;
  std::string cause_detail;  // "SIGTERM", "outside the send window ..."
  ShardCounters totals;
  std::uint64_t rows = 0;
  std::uint64_t recipients = 0;
  std::uint64_t rejected = 0;
  std::uint64_t suppressed = 0;
  double duration_s = 0;
};

class StatusWriter {
 public:
  // `run`: this run's number (1 for the campaign's first). `bytes_total`: the recipients
  // file's size, for the estimate of its rows.
  StatusWriter(const Directory& out, std::string campaign, std::uint32_t run, double started_wall_s,
               std::uint64_t bytes_total);

  // Once a second from the monitor: the record from the live view, status.json rewritten.
  void update(const LiveView& view, const ReaderProgress& reader, const ShapingEventLog* events,
              double elapsed_s);
  // The monitor's word when the run starts to drain.
  void note_stop(StopCause cause, std::string detail);
  StopCause stop_cause() const;

  // At the end, from the main thread (the monitor is gone): the last record in status.json
  // and runs.jsonl, then report.html from every run. False when a file could not be written
  // (said on stderr).
  bool finish(const LiveView& view, const ReaderProgress& reader, const ShapingEventLog* events,
              const RunEnding& ending);

 private:
  void fill(const LiveView& view, const ReaderProgress& reader, const ShapingEventLog* events,
            double elapsed_s);
  void estimate(const ReaderProgress& reader, double now_s);

  const Directory& out_;
  std::uint64_t bytes_total_;
  mutable std::mutex mutex_;  // the record: the monitor updates it, the main thread finishes it
  RunRecord record_;
  StopCause stop_cause_ = StopCause::none;
  std::string stop_detail_;
  std::deque<std::pair<double, std::uint64_t>> recent_;  // (elapsed s, outcomes) the last 10 s
  bool write_failed_said_ = false;
};

// runs.jsonl's records, then status.json's when its run is not among them (a run going on,
// or one killed before it could finish). Missing files are no runs; a damaged line is skipped
// with a note in `notes`.
absl::StatusOr<std::vector<RunRecord>> read_run_records(const Directory& out,
                                                        std::vector<std::string>& notes);
// report.html (or `name`) in `out` from `runs`, atomically.
absl::Status write_report(const Directory& out, const std::vector<RunRecord>& runs,
                          std::string_view name = report_file_name);

}  // namespace hayate::campaign::run

namespace hayate::campaign::inline run {

// Exit codes of `hayate status`, besides the usage (64) and data (65, 66) ones: what a script
// asks of a campaign. Documented in README.md and in `hayate status --help`.
namespace status_exit {
inline constexpr int done = 0;     // the last run ended with every recipient decided
inline constexpr int failed = 1;   // the last run failed, or its process is gone mid-run
inline constexpr int running = 3;  // a run is going on (sending, draining or waiting)
inline constexpr int pending = 4;  // not done, nothing running: the next run goes on with it
}  // namespace status_exit

// A running record not rewritten for this long belongs to a run that is stuck or gone.
inline constexpr double status_stale_s = 30;

// What `hayate status` says of a record: the state as it is now (a record that says
// "running" whose process is gone, or that was not rewritten for a while, is "gone"), and
// the exit code of the command (cli/status_command.h status_exit).
struct StatusJudgement {
  std::string state;
  int exit_code = 0;
};
// `alive`: the record's process still exists. `now_unix_s`: the wall clock now.
StatusJudgement judge_status(const RunRecord& record, double now_unix_s, bool alive);
// The human text: a few lines, the figures first.
std::string render_status_text(const RunRecord& record, const StatusJudgement& judgement,
                               double now_unix_s);

}  // namespace hayate::campaign::run
