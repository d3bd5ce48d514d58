// status.json, runs.jsonl and report.html of a run (see run_status.h).
#include "campaign/run/run_status.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "campaign/output/report.h"
#include "campaign/run/exit_codes.h"
#include "engine/strings.h"
#include "engine/write_fully.h"

namespace hayate::campaign::inline run {

namespace {

// runs.jsonl and status.json are read back whole: a record is a few hundred kilobytes at most
// (its lists are capped), and a campaign has some runs, not thousands.
constexpr std::uint64_t status_bytes_max = 4 << 20;
constexpr std::uint64_t runs_bytes_max = 256 << 20;
constexpr double rate_window_s = 10;

double now_unix_s() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

std::string cause_of(const ShapingEvent& event) {
  std::string cause = event.event;
  if (event.code != 0) {
    append(cause, " after ", event.code, event.enhanced.empty() ? "" : " ", event.enhanced, " ",
           event.reply);
  }
  return cause;
}

std::vector<HeldDestination> held_destinations(const std::vector<ShapingView>& views,
                                               const std::vector<ShapingEvent>& causes,
                                               std::int64_t now_unix_ms) {
  std::vector<HeldDestination> held;
  for (const ShapingView& view : views) {
    if (view.state == ShapingState::normal) continue;
    HeldDestination entry;
    entry.destination = view.destination;
    entry.state = shaping_state_name(view.state);
    for (const ShapingEvent& cause : causes) {
      if (cause.destination != view.destination) continue;
      entry.cause = cause_of(cause);
      if (view.state == ShapingState::suspended && cause.until_unix_ms > now_unix_ms) {
        entry.until_unix_ms = cause.until_unix_ms;
      }
    }
    held.push_back(std::move(entry));
    if (held.size() >= run_top_max) break;
  }
  return held;
}

absl::StatusOr<std::string> read_in(const Directory& out, std::string_view name,
                                    std::uint64_t bytes_max) {
  const std::string path = out.path_of(name);
  return read_regular_file(path, bytes_max, name);
}

}  // namespace

LiveView collect_live_view(std::vector<std::unique_ptr<CampaignShard>>& shards) {
  LiveView view;
  absl::flat_hash_map<std::string, std::size_t> index;
  std::vector<ShapingView> shaping;
  for (auto& shard : shards) {
    ShardSnapshot board = shard->board().read();
    view.totals.add(board.counters);
    // A named destination's domains are on every shard (runner.cc shard_of): one entry each.
    for (auto& [name, counts] : board.destinations) {
      auto [found, inserted] = index.emplace(name, view.destinations.size());
      if (inserted) {
        view.destinations.emplace_back(std::move(name), counts);
      } else {
        view.destinations[found->second].second.add(counts);
      }
    }
    for (ShapingView& item : board.shaping) shaping.push_back(std::move(item));
    view.tally.merge(board.tally);
    if (board.next_retry_unix_ms != 0 &&
        (view.next_retry_unix_ms == 0 || board.next_retry_unix_ms < view.next_retry_unix_ms)) {
      view.next_retry_unix_ms = board.next_retry_unix_ms;
    }
    const LiveCounters& live = shard->live();
    view.connections_open += live.connections_open.load(std::memory_order_relaxed);
    view.pending += live.recipients_held.load(std::memory_order_relaxed);
    view.waiting += live.recipients_waiting.load(std::memory_order_relaxed);
  }
  view.shaping = merge_shaping(std::move(shaping));
  return view;
}

std::vector<ShapingView> merge_shaping(std::vector<ShapingView> all) {
  std::vector<ShapingView> merged;
  absl::flat_hash_map<std::string, std::size_t> index;
  for (ShapingView& view : all) {
    auto [found, inserted] = index.emplace(view.destination, merged.size());
    if (inserted) {
      merged.push_back(std::move(view));
      continue;
    }
    ShapingView& into = merged[found->second];
    into.throttles += view.throttles;
    into.suspensions += view.suspensions;
    into.recoveries += view.recoveries;
    into.state = std::max(into.state, view.state);
  }
  std::sort(merged.begin(), merged.end(), [](const ShapingView& a, const ShapingView& b) {
    if (a.state != b.state) return a.state > b.state;
    if (a.throttles + a.suspensions != b.throttles + b.suspensions) {
      return a.throttles + a.suspensions > b.throttles + b.suspensions;
    }
    return a.destination < b.destination;
  });
  return merged;
}

StatusWriter::StatusWriter(const Directory& out, std::string campaign, std::uint32_t run,
                           double started_wall_s, std::uint64_t bytes_total)
    : out_(out), bytes_total_(bytes_total) {
  record_.campaign = std::move(campaign);
  record_.run = run;
  record_.pid = getpid();
  record_.started_unix_s = started_wall_s;
  record_.series.add(SeriesPoint{});  // the start: a run shorter than a second still has a line
}

void StatusWriter::note_stop(StopCause cause, std::string detail) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stop_cause_ != StopCause::none) return;  // the first cause is the one
  stop_cause_ = cause;
  stop_detail_ = std::move(detail);
}

StopCause StatusWriter::stop_cause() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stop_cause_;
}

// The record from what the shards, the reader and the shaping log show now.
void StatusWriter::fill(const LiveView& view, const ReaderProgress& reader,
                        const ShapingEventLog* events, double elapsed_s) {
  RunRecord& r = record_;
  const ShardCounters& totals = view.totals;
  r.updated_unix_s = now_unix_s();
  r.duration_s = elapsed_s;
  r.rows = reader.rows.load(std::memory_order_relaxed);
  r.recipients = reader.recipients.load(std::memory_order_relaxed);
  r.rejected = reader.rejected.load(std::memory_order_relaxed);
  r.suppressed = reader.suppressed.load(std::memory_order_relaxed);
  r.delivered = totals.delivered;
  r.bounced = totals.bounced;
  r.attempts_deferred = totals.attempts_deferred;
  r.not_attempted = totals.not_attempted;
  r.connections = totals.connections_opened;
  r.connections_failed = totals.connections_failed;
  r.connections_open = view.connections_open;
  r.servers_greeted = totals.servers_greeted;
  r.tls_handshakes = totals.tls_handshakes;
  r.message_bytes = totals.message_bytes;
  r.possible_duplicates = totals.possible_duplicates;
  r.next_retry_unix_ms = view.next_retry_unix_ms;
  r.bounce_reasons = view.tally.bounce_reasons();
  r.deferral_reasons = view.tally.deferral_reasons();
  keep_top(r.bounce_reasons, run_top_max);
  keep_top(r.deferral_reasons, run_top_max);
  r.destinations.clear();
  for (const auto& [name, counts] : view.destinations) {
    if (name.empty()) continue;  // the rows refused on input: no destination
    // Attempts that were neither delivered nor bounced were deferred.
    const std::uint64_t decided = counts.delivered + counts.bounced;
    r.destinations.push_back(
        NamedOutcomes{name, counts.delivered, counts.bounced,
                      counts.attempts > decided ? counts.attempts - decided : 0});
  }
  keep_top(r.destinations, run_top_max);
  r.providers = view.tally.providers;
  keep_top(r.providers, run_top_max);
  r.latency = view.tally.delivery_latency;
  r.series.add(SeriesPoint{elapsed_s, totals.delivered, totals.bounced, totals.attempts_deferred,
                           view.connections_open});
  if (events != nullptr) {
    ShapingEventLog::Kept kept = events->kept();
    r.events = std::move(kept.events);
    r.events_dropped = kept.events_dropped;
    r.held = held_destinations(view.shaping, kept.causes,
                               static_cast<std::int64_t>(r.updated_unix_s * 1000));
  }
  estimate(reader, elapsed_s);
}

// The rates, the expected total and the time left.
void StatusWriter::estimate(const ReaderProgress& reader, double now_s) {
  RunRecord& r = record_;
  const std::uint64_t outcomes = r.delivered + r.bounced;
  recent_.emplace_back(now_s, outcomes);
  while (recent_.size() > 2 && now_s - recent_.front().first > rate_window_s) recent_.pop_front();
  const double window_s = now_s - recent_.front().first;
  r.current_per_second =
      window_s > 0 ? static_cast<double>(outcomes - recent_.front().second) / window_s : 0;
  r.messages_per_second = now_s > 0 ? static_cast<double>(outcomes) / now_s : 0;
  // Rows of the file: exact once it was read; before, from the share of its bytes read.
  const std::uint64_t bytes = reader.bytes.load(std::memory_order_relaxed);
  r.total_is_estimate = !reader.done.load(std::memory_order_relaxed);
  if (!r.total_is_estimate) {
    r.total_rows = r.rows;
  } else if (bytes > 0 && bytes_total_ > 0) {
    r.total_rows = std::max<std::uint64_t>(
        r.rows,
        static_cast<std::uint64_t>(static_cast<double>(r.rows) * static_cast<double>(bytes_total_) /
                                   static_cast<double>(bytes)));
  }
  // Left: rows not yet read, and recipients read without a final outcome yet (deferred ones
  // wait for their retries, which the rate does not tell).
  const std::uint64_t skipped = reader.skipped.load(std::memory_order_relaxed);
  const std::uint64_t finished = r.final_outcomes() + skipped;
  const std::uint64_t left = r.total_rows > finished ? r.total_rows - finished : 0;
  const double rate = r.current_per_second > 0 ? r.current_per_second : r.messages_per_second;
  r.eta_s = left == 0 ? 0 : rate > 0 ? static_cast<double>(left) / rate : -1;
}

void StatusWriter::update(const LiveView& view, const ReaderProgress& reader,
                          const ShapingEventLog* events, double elapsed_s) {
  std::lock_guard<std::mutex> lock(mutex_);
  fill(view, reader, events, elapsed_s);
  RunRecord& r = record_;
  r.deferred = view.waiting;  // deferred and waiting for a retry (summary.json's sense at the end)
  r.pending = view.pending;
  if (stop_cause_ != StopCause::none) {
    r.state = "draining";
    r.state_detail = stop_detail_;
  } else if (reader.done.load(std::memory_order_relaxed) && view.connections_open == 0 &&
             view.waiting > 0 && view.waiting == view.pending &&
             view.next_retry_unix_ms > static_cast<std::int64_t>(r.updated_unix_s * 1000)) {
    r.state = "waiting";
    r.state_detail = "every recipient read; the rest wait for their retries";
  } else {
    r.state = "running";
    r.state_detail.clear();
  }
  const absl::Status status =
      out_.replace_file(status_file_name, render_run_record(r, true), private_file_mode);
  if (!status.ok() && !write_failed_said_) {
    write_failed_said_ = true;  // once: the run goes on without its status
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
  }
}

bool StatusWriter::finish(const LiveView& view, const ReaderProgress& reader,
                          const ShapingEventLog* events, const RunEnding& ending) {
  std::lock_guard<std::mutex> lock(mutex_);
  fill(view, reader, events, ending.duration_s);
  RunRecord& r = record_;
  // The final counts are the run's own, not the last board's.
  r.delivered = ending.totals.delivered;
  r.bounced = ending.totals.bounced;
  r.deferred = ending.totals.deferred;
  r.pending = 0;
  r.attempts_deferred = ending.totals.attempts_deferred;
  r.not_attempted = ending.totals.not_attempted;
  r.connections = ending.totals.connections_opened;
  r.connections_failed = ending.totals.connections_failed;
  r.connections_open = 0;
  r.servers_greeted = ending.totals.servers_greeted;
  r.tls_handshakes = ending.totals.tls_handshakes;
  r.message_bytes = ending.totals.message_bytes;
  r.rows = ending.rows;
  r.recipients = ending.recipients;
  r.rejected = ending.rejected;
  r.suppressed = ending.suppressed;
  r.messages_per_second =
      ending.duration_s > 0 ? static_cast<double>(r.delivered + r.bounced) / ending.duration_s : 0;
  r.current_per_second = 0;
  r.eta_s = ending.exit_code == exit_code::ok ? 0 : -1;
  r.series.add(SeriesPoint{ending.duration_s, r.delivered, r.bounced, r.attempts_deferred, 0});
  r.exit_code = ending.exit_code;
  r.ended_unix_s = now_unix_s();
  r.state_detail = ending.cause_detail;
  if (ending.exit_code == exit_code::ok) {
    r.state = "done";
  } else if (ending.cause == StopCause::window && ending.exit_code == exit_code::config) {
    r.state = "over";
    r.state_detail = cat("stop_at has passed: the campaign is over; ", r.not_attempted,
                         " recipients never attempted");
  } else if (ending.cause == StopCause::window) {
    r.state = "outside_window";
  } else if (ending.cause == StopCause::signal) {
    r.state = "stopped";
  } else if (ending.exit_code == exit_code::temporary && r.deferred > 0) {
    r.state = "retrying";
    r.state_detail = "deferred recipients wait for the next run";
  } else {
    r.state = "failed";
    if (r.state_detail.empty()) r.state_detail = cat("exit code ", ending.exit_code);
  }
  bool ok = true;
  const auto say = [&ok](const absl::Status& status) {
    if (status.ok()) return;
    ok = false;
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
  };
  say(out_.replace_file(status_file_name, render_run_record(r, true), private_file_mode));
  absl::StatusOr<UniqueFd> runs =
      out_.open_file(runs_file_name, O_WRONLY | O_CREAT | O_APPEND, private_file_mode);
  if (runs.ok()) {
    const std::string line = render_run_record(r, false);
    if (!write_fully(runs->get(), line)) {
      say(absl::InternalError(cat(out_.path_of(runs_file_name), ": ", std::strerror(errno))));
    }
  } else {
    say(runs.status());
  }
  std::vector<std::string> notes;
  absl::StatusOr<std::vector<RunRecord>> all = read_run_records(out_, notes);
  for (const std::string& note : notes) std::fprintf(stderr, "hayate: %s\n", note.c_str());
  if (all.ok()) {
    say(write_report(out_, *all));
  } else {
    say(all.status());
  }
  return ok;
}

absl::StatusOr<std::vector<RunRecord>> read_run_records(const Directory& out,
                                                        std::vector<std::string>& notes) {
  std::vector<RunRecord> runs;
  struct stat info {};
  if (out.stat_file(runs_file_name, info)) {
    absl::StatusOr<std::string> text = read_in(out, runs_file_name, runs_bytes_max);
    if (!text.ok()) return text.status();
    std::size_t line_number = 0;
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      ++line_number;
      if (line.empty()) continue;
      absl::StatusOr<RunRecord> record =
          parse_run_record(std::string_view(line.data(), line.size()));
      if (!record.ok()) {
        notes.push_back(cat(out.path_of(runs_file_name), ":", line_number,
                            ": skipped: ", record.status().message()));
        continue;
      }
      runs.push_back(std::move(*record));
    }
  }
  if (out.stat_file(status_file_name, info)) {
    absl::StatusOr<std::string> text = read_in(out, status_file_name, status_bytes_max);
    if (!text.ok()) return text.status();
    absl::StatusOr<RunRecord> record = parse_run_record(*text);
    if (!record.ok()) {
      notes.push_back(cat(out.path_of(status_file_name), ": skipped: ", record.status().message()));
    } else if (std::none_of(runs.begin(), runs.end(), [&](const RunRecord& run) {
                 return run.run == record->run && run.started_unix_s == record->started_unix_s;
               })) {
      runs.push_back(std::move(*record));
    }
  }
  std::stable_sort(runs.begin(), runs.end(), [](const RunRecord& a, const RunRecord& b) {
    return a.started_unix_s < b.started_unix_s;
  });
  return runs;
}

absl::Status write_report(const Directory& out, const std::vector<RunRecord>& runs,
                          std::string_view name) {
  ReportOptions options;
  options.campaign = runs.empty() ? std::string() : runs.back().campaign;
  options.generated_unix_s = now_unix_s();
  return out.replace_file(name, render_report_html(runs, options), private_file_mode);
}

}  // namespace hayate::campaign::run

namespace hayate::campaign::inline run {

namespace {

std::string clock_time(double unix_s) {
  const auto seconds = static_cast<time_t>(unix_s);
  tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &parts);
  return text;
}

std::string span(double seconds) {
  const auto whole = static_cast<std::int64_t>(seconds < 0 ? 0 : seconds + 0.5);
  if (whole < 60) return cat(whole, " s");
  if (whole < 3600) return cat(whole / 60, " min ", whole % 60, " s");
  return cat(whole / 3600, " h ", (whole % 3600) / 60, " min");
}

// A peer's text for a terminal: control characters (an escape sequence in a reply) become '?'.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

std::string reasons_line(const ReasonCounts& reasons) {
  std::string line;
  for (std::size_t i = 0; i < reasons.size() && i < 5; ++i) {
    append(line, i == 0 ? "" : ", ", reasons[i].first, " ", reasons[i].second);
  }
  return line;
}

}  // namespace

StatusJudgement judge_status(const RunRecord& record, double now_unix_s, bool alive) {
  const bool live_state =
      record.state == "running" || record.state == "draining" || record.state == "waiting";
  if (live_state) {
    if (!alive || now_unix_s - record.updated_unix_s > status_stale_s) {
      return {"gone", status_exit::failed};
    }
    return {record.state, status_exit::running};
  }
  if (record.state == "done") return {record.state, status_exit::done};
  // Over: stop_at ended it with recipients never attempted; no later run sends them.
  if (record.state == "failed" || record.state == "over") {
    return {record.state, status_exit::failed};
  }
  return {record.state, status_exit::pending};  // retrying, outside_window, stopped
}

std::string render_status_text(const RunRecord& r, const StatusJudgement& judgement,
                               double now_unix_s) {
  std::string out = cat("campaign ", printable(r.campaign), ": ", judgement.state);
  if (judgement.state == "gone") {
    append(out, " (the run, process ", r.pid, ", stopped updating ",
           span(now_unix_s - r.updated_unix_s),
           " ago without finishing: killed or crashed; run it again to resume)");
  } else if (!r.state_detail.empty()) {
    append(out, " (", printable(r.state_detail), ")");
  }
  append(out, "\n  run ", r.run, ", started ", clock_time(r.started_unix_s));
  if (r.ended_unix_s > 0) {
    append(out, ", ended ", clock_time(r.ended_unix_s), " after ", span(r.duration_s),
           ", exit code ", r.exit_code);
  } else {
    append(out, ", ", span(now_unix_s - r.started_unix_s), " ago, process ", r.pid);
  }
  const std::uint64_t decided = r.final_outcomes();
  append(out, "\n  ", decided, " of ", r.total_rows, r.total_is_estimate ? " (estimated)" : "",
         " rows decided: ", r.delivered, " delivered, ", r.bounced, " bounced, ", r.rejected,
         " rejected, ", r.suppressed, " suppressed; ", r.deferred, " deferred");
  append(out, "\n  rate: ", absl::StrFormat("%.0f", r.current_per_second), " msgs/s now, ",
         absl::StrFormat("%.0f", r.messages_per_second), " on average");
  if (judgement.exit_code == status_exit::running) {
    append(out, r.eta_s < 0
                    ? "; ETA unknown"
                    : cat("; ETA ", span(r.eta_s), " (", clock_time(now_unix_s + r.eta_s), ")"));
  }
  if (!r.bounce_reasons.empty()) append(out, "\n  bounces: ", reasons_line(r.bounce_reasons));
  if (!r.deferral_reasons.empty()) {
    append(out, "\n  deferrals: ", reasons_line(r.deferral_reasons));
  }
  for (const HeldDestination& held : r.held) {
    append(out, "\n  held back: ", printable(held.destination), " ", held.state);
    if (held.until_unix_ms > 0) {
      append(out, " until ", clock_time(static_cast<double>(held.until_unix_ms) / 1000));
    }
    if (!held.cause.empty()) append(out, ": ", printable(held.cause));
  }
  if (r.next_retry_unix_ms > 0 && r.deferred > 0) {
    append(out, "\n  next retry: ", clock_time(static_cast<double>(r.next_retry_unix_ms) / 1000));
  }
  out += '\n';
  return out;
}

}  // namespace hayate::campaign::run
