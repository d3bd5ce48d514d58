// A campaign run: the calling thread streams the recipients to the shards that own their
// domains (bounded, so memory stays flat), the shards deliver, and the run ends with
// summary.json, a line on stderr and an exit code.
#include "campaign/run/runner.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "campaign/bounce/classify.h"
#include "campaign/bounce/recording.h"
#include "campaign/bounce/suppression.h"
#include "campaign/config/schedule.h"
#include "campaign/config/secret_files.h"
#include "campaign/delivery/campaign_shard.h"
#include "campaign/delivery/shaping_rules.h"
#include "campaign/delivery/warmup.h"
#include "campaign/input/address.h"
#include "campaign/input/campaign_input.h"
#include "campaign/limits.h"
#include "campaign/output/accounting.h"
#include "campaign/output/delivery_log.h"
#include "campaign/output/domain_report.h"
#include "campaign/output/journal.h"
#include "campaign/output/metrics.h"
#include "campaign/output/reject_writer.h"
#include "campaign/output/summary.h"
#include "campaign/run/exit_codes.h"
#include "campaign/run/fcrdns.h"
#include "campaign/run/preflight.h"
#include "campaign/run/relay_probe.h"
#include "campaign/run/run_exit_code.h"
#include "campaign/run/run_status.h"
#include "engine/files.h"
#include "engine/metrics_server.h"
#include "engine/net/tls.h"
#include "engine/strings.h"

namespace hayate::campaign::inline run {

namespace {

double monotonic_seconds() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

std::int64_t monotonic_ms() { return static_cast<std::int64_t>(monotonic_seconds() * 1000); }

double wall_seconds() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// fdatasync per commit: the journal's cost in time. Nothing before the first commit.
void add_journal_latency(const JournalStats& stats, MetricsSnapshot& snapshot) {
  if (stats.commits == 0) return;
  LatencySummary& latency = snapshot.journal_write_latency.emplace();
  latency.count = stats.commits;
  latency.sum_ms = static_cast<double>(stats.sync_ns_total) / 1e6;
  latency.max_ms = static_cast<double>(stats.sync_ns_max) / 1e6;
}

MetricsSnapshot snapshot_from(const JobConfig& job, const ShardCounters& totals,
                              std::uint64_t rejected, std::uint64_t recipients_read,
                              double started_wall_s, double elapsed_s,
                              std::uint64_t connections_open, std::uint64_t pending) {
  MetricsSnapshot snapshot;
  snapshot.campaign = job.id;
  snapshot.delivered = totals.delivered;
  snapshot.bounced = totals.bounced;
  snapshot.deferred = totals.deferred;
  snapshot.attempts_deferred = totals.attempts_deferred;
  snapshot.rejected = rejected;
  snapshot.not_attempted = totals.not_attempted;
  snapshot.recipients_read = recipients_read;
  snapshot.connections_opened = totals.connections_opened;
  snapshot.connections_failed = totals.connections_failed;
  snapshot.tls_handshakes = totals.tls_handshakes;
  snapshot.tls_resumptions = totals.tls_resumptions;
  snapshot.tls_failures = totals.tls_failures;
  snapshot.message_bytes = totals.message_bytes;
  snapshot.connections_open = connections_open;
  snapshot.recipients_pending = pending;
  snapshot.start_time_unix_s = started_wall_s;
  snapshot.elapsed_s = elapsed_s;
  return snapshot;
}

// Merges per-destination views of several shards: counts add up, the worst state shows.
std::vector<ShapingCounts> shaping_counts(const std::vector<ShapingView>& views) {
  std::vector<ShapingCounts> counts;
  for (const ShapingView& view : views) {
    counts.push_back(ShapingCounts{view.destination, shaping_state_name(view.state), view.throttles,
                                   view.suspensions, view.recoveries});
  }
  return counts;
}

// Watches a run from a thread of its own. Signals: SIGINT and SIGTERM are blocked in every
// other thread; the first asks the shards to drain, the second (or a drain longer than
// drain_timeout_s) to stop at once; SIGHUP reopens the logs. Progress: a line on stderr,
// redrawn five times a second, when asked for (by default when stderr is a terminal).
class RunMonitor {
 public:
  struct Progress {
    bool enabled = false;
    MetricsBoard* metrics = nullptr;         // refreshed once a second when given
    const JournalWriter* journal = nullptr;  // its write latency goes into the metrics
    const JobConfig* job = nullptr;
    double started_wall_s = 0;
    const Directory* out_dir = nullptr;
    std::vector<std::pair<int, std::string>> logs;  // descriptor and name, reopened on SIGHUP
    const ReaderProgress* reader = nullptr;
    StatusWriter* status = nullptr;                // status.json, once a second
    const ShapingEventLog* shaping_log = nullptr;  // its events go into status.json
    std::uint64_t bytes_total = 0;
    double started_s = 0;
  };

  RunMonitor(RunStop& stop, std::vector<std::unique_ptr<CampaignShard>>& shards, bool quiet,
             Progress progress, const Schedule& schedule)
      : stop_(stop), shards_(shards), quiet_(quiet), progress_(progress), schedule_(schedule) {
    window_closes_ = decide(schedule_, absl::Now()).next_change;
    thread_ = std::thread([this] { watch(); });
  }
  ~RunMonitor() {
    done_.store(true);
    thread_.join();
    if (progress_.enabled) std::fputs("\r\033[K", stderr);  // the summary line takes its place
  }
  // Blocks the signals in the calling thread and in every thread it creates from now on.
  static void block_signals() {
    sigset_t set = signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }

 private:
  static sigset_t signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return set;
  }
  // SIGHUP (logrotate): deliveries.jsonl and accounting.csv are opened again by name in the
  // output directory (never through a link) and the new descriptors take the old numbers
  // (dup3), so every writer goes on into the new files.
  void reopen_logs() {
    for (const auto& [fd, name] : progress_.logs) {
      absl::StatusOr<UniqueFd> fresh =
          progress_.out_dir->open_file(name, O_WRONLY | O_CREAT | O_APPEND, private_file_mode);
      if (!fresh.ok()) {
        std::fprintf(stderr, "hayate: cannot reopen: %s\n",
                     std::string(fresh.status().message()).c_str());
        continue;
      }
      // A new accounting.csv starts with its header, as the first one did; written before the
      // file takes the old descriptor, so that no row comes first.
      struct stat info {};
      if (name == "accounting.csv" && fstat(fresh->get(), &info) == 0 && info.st_size == 0) {
        if (absl::Status status = write_accounting_header(fresh->get()); !status.ok()) {
          std::fprintf(stderr, "hayate: %s: %s\n", progress_.out_dir->path_of(name).c_str(),
                       std::string(status.message()).c_str());
        }
      }
      if (dup3(fresh->get(), fd, O_CLOEXEC) < 0) {
        std::fprintf(stderr, "hayate: cannot reopen %s: %s\n",
                     progress_.out_dir->path_of(name).c_str(), std::strerror(errno));
      }
    }
  }

  // Once a second: the shards' boards added up, for the live metrics and status.json.
  void publish_live() {
    LiveView view = collect_live_view(shards_);
    const double elapsed_s = monotonic_seconds() - progress_.started_s;
    if (progress_.status != nullptr) {
      progress_.status->update(view, *progress_.reader, progress_.shaping_log, elapsed_s);
    }
    if (progress_.metrics == nullptr) return;
    MetricsSnapshot snapshot = snapshot_from(
        *progress_.job, view.totals, progress_.reader->rejected.load(std::memory_order_relaxed),
        progress_.reader->recipients.load(std::memory_order_relaxed), progress_.started_wall_s,
        elapsed_s, view.connections_open, view.pending);
    for (const auto& [name, counts] : view.destinations) {
      snapshot.destinations.push_back(
          DestinationCounts{name, counts.delivered, counts.bounced, counts.deferred});
    }
    keep_top_destinations(snapshot.destinations);
    snapshot.shaping = shaping_counts(view.shaping);
    snapshot.suppressed = progress_.reader->suppressed.load(std::memory_order_relaxed);
    snapshot.delivery_latency = view.tally.delivery_latency;
    if (progress_.journal != nullptr) {
      add_journal_latency(progress_.journal->stats(), snapshot);
    }
    progress_.metrics->publish(std::move(snapshot));
  }

  void draw_progress() {
    std::uint64_t delivered = 0, bounced = 0, deferred = 0, retrying = 0, connections = 0;
    for (auto& shard : shards_) {
      const LiveCounters& live = shard->live();
      delivered += live.delivered.load(std::memory_order_relaxed);
      bounced += live.bounced.load(std::memory_order_relaxed);
      deferred += live.deferred.load(std::memory_order_relaxed);
      retrying += live.attempts_deferred.load(std::memory_order_relaxed);
      connections += live.connections_open.load(std::memory_order_relaxed);
    }
    const std::uint64_t read = progress_.reader->recipients.load(std::memory_order_relaxed);
    const double elapsed_s = monotonic_seconds() - progress_.started_s;
    const double rate = elapsed_s > 0 ? static_cast<double>(delivered) / elapsed_s : 0;
    const double fraction =
        progress_.bytes_total > 0
            ? static_cast<double>(progress_.reader->bytes.load(std::memory_order_relaxed)) /
                  static_cast<double>(progress_.bytes_total)
            : 0;
    std::string eta = "--:--";
    const std::uint64_t done = delivered + bounced + deferred;
    if (fraction > 0.01 && rate > 0 && read > 0) {
      const double total_estimate = static_cast<double>(read) / fraction;
      const double left_s = (total_estimate - static_cast<double>(done)) / rate;
      if (left_s >= 0 && left_s < 360000) {
        eta = absl::StrFormat("%d:%02d", static_cast<int>(left_s) / 60,
                              static_cast<int>(left_s) % 60);
      }
    }
    // The most throttled destinations, refreshed with the shards' boards (once a second).
    std::vector<ShapingView> shaping;
    for (auto& shard : shards_) {
      for (ShapingView& view : shard->board().read().shaping) shaping.push_back(std::move(view));
    }
    std::string throttled;
    for (const ShapingView& view : merge_shaping(std::move(shaping))) {
      if (view.state == ShapingState::normal || throttled.size() > 60) continue;
      append(throttled, throttled.empty() ? " | " : ", ", view.destination, " ",
             shaping_state_name(view.state));
    }
    std::fprintf(stderr,
                 "\r\033[K%llu/%llu sent (%.0f%% read) | %.0f msgs/s | %llu bounced | "
                 "%llu deferred, %llu retrying | %llu connections | ETA %s%s",
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(read),
                 fraction * 100, rate, static_cast<unsigned long long>(bounced),
                 static_cast<unsigned long long>(deferred),
                 static_cast<unsigned long long>(retrying),
                 static_cast<unsigned long long>(connections), eta.c_str(), throttled.c_str());
  }

  void watch() {
    const sigset_t set = signals();
    double drain_started_s = 0;
    while (!done_.load()) {
      timespec timeout{0, 200'000'000};
      const int signal = sigtimedwait(&set, nullptr, &timeout);
      if (progress_.enabled && signal < 0) draw_progress();
      if ((progress_.metrics != nullptr || progress_.status != nullptr) && signal < 0 &&
          monotonic_seconds() - metrics_published_s_ >= 1) {
        metrics_published_s_ = monotonic_seconds();
        publish_live();
      }
      if (signal < 0 && stop_.level.load() == 0 && absl::Now() >= window_closes_) {
        // The send window closed (or stop_at came): drain as for SIGTERM, exit 75 (78 after
        // stop_at: the campaign is over).
        const ScheduleDecision decision = decide(schedule_, absl::Now());
        if (!decision.can_send) {
          if (progress_.status != nullptr)
            progress_.status->note_stop(StopCause::window, decision.reason);
          stop_.level.store(1);
          drain_started_s = monotonic_seconds();
          if (progress_.enabled) std::fputs("\r\033[K", stderr);
          std::fprintf(stderr, "hayate: %s; finishing the transactions in flight\n",
                       decision.reason.c_str());
          for (auto& shard : shards_) shard->shard().wake();
        } else {
          window_closes_ = decision.next_change;
        }
        continue;
      }
      if (signal == SIGHUP) {
        reopen_logs();
        continue;
      }
      if (signal == SIGINT || signal == SIGTERM) {
        const int level = std::min(stop_.level.load() + 1, 2);
        if (progress_.status != nullptr)
          progress_.status->note_stop(StopCause::signal, strsignal(signal));
        stop_.level.store(level);
        if (level == 1) drain_started_s = monotonic_seconds();
        if (progress_.enabled) std::fputs("\r\033[K", stderr);
        std::fprintf(stderr,
                     level == 1 ? "hayate: %s: finishing the transactions in flight; "
                                  "signal again to stop at once\n"
                                : "hayate: %s: stopping now\n",
                     strsignal(signal));
      } else if (stop_.level.load() == 1 &&
                 monotonic_seconds() - drain_started_s > drain_timeout_s) {
        stop_.level.store(2);
        if (!quiet_) std::fprintf(stderr, "hayate: the drain took too long; stopping now\n");
      } else {
        continue;
      }
      for (auto& shard : shards_) shard->shard().wake();
    }
  }

  static constexpr double drain_timeout_s = 60;
  RunStop& stop_;
  std::vector<std::unique_ptr<CampaignShard>>& shards_;
  bool quiet_;
  Progress progress_;
  const Schedule& schedule_;
  absl::Time window_closes_;
  double metrics_published_s_ = 0;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// Loads what a run needs beside the job's own files: the CA file and the VERP secret.
absl::Status load_secrets(const JobConfig& job, std::optional<VerpKey>* verp = nullptr) {
  if (absl::StatusOr<std::unique_ptr<net::TlsContext>> tls = net::TlsContext::create(job.ca_file);
      !tls.ok()) {
    return tls.status();
  }
  if (job.verp) {
    absl::StatusOr<VerpKey> key =
        VerpKey::load(job.verp->secret_file, job.verp->prefix, job.verp->domain);
    if (!key.ok()) return key.status();
    if (verp != nullptr) *verp = std::move(*key);
  }
  return absl::OkStatus();
}

// The campaign's inputs, or nullptr after saying on stderr what is wrong with them.
// The code when it is nullptr: 66 (EX_NOINPUT) for a job or input file that does not exist,
// else 65.
std::unique_ptr<CampaignInput> open_input(const std::string& job_path, int& code) {
  absl::StatusOr<std::unique_ptr<CampaignInput>> opened = CampaignInput::open(job_path);
  if (!opened.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(opened.status().message()).c_str());
    code = opened.status().code() == absl::StatusCode::kNotFound ? exit_code::no_input
                                                                 : exit_code::data_error;
    return nullptr;
  }
  return std::move(*opened);
}

// One run per campaign output at a time: two cron ticks must never send the same campaign.
// The lock lives as long as this process (the descriptor is never closed before exit).
int lock_output_directory(const Directory& out_dir) {
  const std::string lock_path = out_dir.path_of(".lock");
  absl::StatusOr<UniqueFd> opened = out_dir.open_file(".lock", O_RDWR | O_CREAT, 0644);
  if (!opened.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(opened.status().message()).c_str());
    return exit_code::cannot_create;
  }
  const int lock_fd = opened->release();
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    char holder[32] = {};
    (void)pread(lock_fd, holder, sizeof(holder) - 1, 0);
    std::fprintf(stderr,
                 "hayate: another run of this campaign is going on (process %s holds %s); "
                 "this one sends nothing\n",
                 holder[0] != '\0' ? holder : "?", lock_path.c_str());
    close(lock_fd);
    return exit_code::locked;
  }
  const std::string pid_text = std::to_string(getpid()) + "\n";
  if (ftruncate(lock_fd, 0) == 0) (void)pwrite(lock_fd, pid_text.data(), pid_text.size(), 0);
  return exit_code::ok;
}

// The journal of earlier runs (created when there is none), or an exit code after saying why.
int open_campaign_journal(const JobConfig& job, const Directory& out_dir, const RunOptions& options,
                          RunStop& stop, std::optional<OpenedJournal>& opened) {
  std::vector<std::string> inputs = {job.job_path, job.recipients_path};
  if (!job.text_path.empty()) inputs.push_back(job.text_path);
  if (!job.html_path.empty()) inputs.push_back(job.html_path);
  absl::StatusOr<JournalFingerprint> fingerprint = journal_fingerprint(inputs);
  if (!fingerprint.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(fingerprint.status().message()).c_str());
    return exit_code::data_error;
  }
  JournalOptions journal_options;
  journal_options.force = options.force;
  journal_options.on_failure = [&stop](const std::string& error) {
    // A run that cannot record outcomes must not send more: drain, exit 75 (resumable).
    std::fprintf(stderr, "hayate: the journal failed (%s); finishing what is in flight\n",
                 error.c_str());
    int level = 0;
    stop.level.compare_exchange_strong(level, 1);
  };
  absl::StatusOr<OpenedJournal> journal = open_journal(
      out_dir, journal_file_name, JournalIdentity{job.id, *fingerprint}, journal_options);
  if (!journal.ok()) {
    const absl::Status& status = journal.status();
    const bool changed = status.code() == absl::StatusCode::kFailedPrecondition;
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    return status.code() == absl::StatusCode::kUnavailable ? exit_code::locked
           : changed                                       ? exit_code::data_error
                                                           : exit_code::cannot_create;
  }
  opened.emplace(std::move(*journal));
  const JournalState& earlier = opened->state;
  if (!opened->created && !options.quiet) {
    std::fprintf(stderr,
                 "hayate: %s: resuming (run %u): %llu delivered, %llu bounced, %llu rejected "
                 "before%s%s\n",
                 job.id.c_str(), opened->writer->run(),
                 static_cast<unsigned long long>(earlier.counts.delivered),
                 static_cast<unsigned long long>(earlier.counts.bounced),
                 static_cast<unsigned long long>(earlier.counts.rejected),
                 earlier.damage_message.empty() ? "" : "; ", earlier.damage_message.c_str());
  }
  return exit_code::ok;
}

// The suppression list the job names ([suppression]; a missing file is an empty list), or
// nullptr when the job turns it off. Read before any connection: a list that cannot be read
// stops the run.
int open_suppression(const JobConfig& job, std::unique_ptr<SuppressionChecker>& checker) {
  if (!job.suppression.enabled) return exit_code::ok;
  // Rows of the recipients file, overestimated (32 bytes a row): the checker's filter is
  // worth building only for many recipients.
  struct stat recipients_file {};
  const std::uint64_t rows_expected = stat(job.recipients_path.c_str(), &recipients_file) == 0
                                          ? static_cast<std::uint64_t>(recipients_file.st_size) / 32
                                          : 0;
  absl::StatusOr<std::unique_ptr<SuppressionChecker>> opened = SuppressionChecker::open(
      job.suppression.path,
      SuppressionPolicy{job.suppression.soft_bounce_count, job.suppression.soft_bounce_days},
      rows_expected);
  if (!opened.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(opened.status().message()).c_str());
    const absl::StatusCode code = opened.status().code();
    return code == absl::StatusCode::kUnavailable          ? exit_code::temporary
           : code == absl::StatusCode::kFailedPrecondition ? exit_code::data_error
                                                           : exit_code::cannot_create;
  }
  checker = std::move(*opened);
  return exit_code::ok;
}

struct OutputFiles {
  int deliveries = -1;  // O_APPEND: a resumed run adds to it
  int rejects = -1;     // rewritten: every run lists every refused row
  int accounting = -1;  // O_APPEND, header once
};

// The logs hold recipients' addresses: new ones are the owner's only (private_file_mode).
bool open_output_files(const Directory& out_dir, OutputFiles& files) {
  // Written at the end, by rename: refused now, before anything is sent, if they cannot be.
  for (std::string_view name : {"summary.json", "domains.csv", "status.json", "report.html"}) {
    if (absl::Status status = out_dir.check_replaceable(name); !status.ok()) {
      std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
      return false;
    }
  }
  const struct {
    std::string_view name;
    int flags;
    int* fd;
  } wanted[] = {
      {"deliveries.jsonl", O_WRONLY | O_CREAT | O_APPEND, &files.deliveries},
      {"rejects.csv", O_WRONLY | O_CREAT | O_TRUNC, &files.rejects},
      {"accounting.csv", O_WRONLY | O_CREAT | O_APPEND, &files.accounting},
  };
  for (const auto& file : wanted) {
    absl::StatusOr<UniqueFd> opened = out_dir.open_file(file.name, file.flags, private_file_mode);
    if (!opened.ok()) {
      std::fprintf(stderr, "hayate: %s\n", std::string(opened.status().message()).c_str());
      return false;
    }
    *file.fd = opened->release();
  }
  struct stat accounting {};
  const bool accounting_new = fstat(files.accounting, &accounting) == 0 && accounting.st_size == 0;
  if (accounting_new && !write_accounting_header(files.accounting).ok()) {
    std::fprintf(stderr, "hayate: cannot write %s: %s\n", out_dir.path_of("accounting.csv").c_str(),
                 std::strerror(errno));
    return false;
  }
  return true;
}

struct StreamTotals {
  std::uint64_t recipients = 0;   // handed to the shards
  std::uint64_t skipped = 0;      // final in an earlier run of the campaign
  std::uint64_t suppressed = 0;   // on the suppression list: never sent
  std::string suppression_error;  // the list could not be read: the rest was not sent
};

// The reader's loop: every CSV row becomes a recipient for the shard that owns it (shard_of; in
// batches, bounded by recipients_pending_max), a refused row, or, on a resumed run, nothing
// (final before), or a suppressed recipient (checked here, before any shard sees it). Ends at
// the end of the file or when the run is asked to stop.
std::uint32_t shard_of(const Recipient& recipient, const ShapingRules& rules,
                       std::uint32_t shard_count) {
  return shard_of(recipient.address(), recipient.domain(), rules, shard_count);
}

StreamTotals stream_recipients(CampaignInput& input, const JournalState& earlier,
                               RejectWriter& rejects, SuppressionChecker* suppression,
                               const ShapingRules& rules,
                               std::vector<std::unique_ptr<CampaignShard>>& shards,
                               const RunStop& stop, std::atomic<std::int64_t>& pending,
                               ReaderProgress& progress) {
  const auto shard_count = static_cast<std::uint32_t>(shards.size());
  std::vector<BatchPointer> batches(shard_count);
  auto deliver = [&](std::uint32_t index, bool end) {
    BatchPointer& batch = batches[index];
    if (!batch) batch = std::make_unique<RecipientBatch>();
    batch->end_of_input = end;
    while (!shards[index]->offer(batch)) {
      shards[index]->shard().wake();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    shards[index]->shard().wake();
    batch = nullptr;
  };
  StreamTotals totals;
  Recipient recipient;
  std::string reason;
  std::string raw_email;
  SuppressionEntry entry;
  while (stop.level.load(std::memory_order_relaxed) == 0) {
    const CampaignInput::Row row = input.next(recipient, reason, raw_email);
    if (row == CampaignInput::Row::end) {
      progress.done.store(input.csv().status().ok(), std::memory_order_relaxed);
      break;
    }
    const std::uint64_t sequence = input.rows_read();
    progress.rows.store(sequence, std::memory_order_relaxed);
    progress.bytes.store(input.csv().bytes_read(), std::memory_order_relaxed);
    const RecipientStatus status = earlier.status(sequence);
    if (row == CampaignInput::Row::rejected) {
      // Logged and journaled once; rejects.csv lists every refused row on every run.
      const bool first_time = status != RecipientStatus::rejected;
      rejects.reject(sequence, input.line(), raw_email, reason, first_time);
      progress.rejected.store(rejects.count(), std::memory_order_relaxed);
      continue;
    }
    if (status == RecipientStatus::finished) {
      progress.skipped.store(++totals.skipped, std::memory_order_relaxed);
      continue;
    }
    if (suppression != nullptr) {
      const absl::StatusOr<bool> suppressed =
          suppression->is_suppressed(recipient.address(), entry);
      if (!suppressed.ok()) {
        // Unchecked mail is never sent: stop reading; a later run resumes from here.
        totals.suppression_error = std::string(suppressed.status().message());
        break;
      }
      if (*suppressed) {
        rejects.suppress(recipient, entry);
        progress.suppressed.store(++totals.suppressed, std::memory_order_relaxed);
        continue;
      }
    }
    if (const RetryState* retry = earlier.retry(sequence);
        retry != nullptr && status == RecipientStatus::open) {
      // In the middle of its retry schedule when the last run stopped: carry on with it.
      recipient.attempts = retry->attempts;
      recipient.not_before_ms =
          monotonic_ms() + std::max<std::int64_t>(0, retry->next_retry_unix_ms - unix_time_ms());
    }
    ++totals.recipients;
    progress.recipients.store(totals.recipients, std::memory_order_relaxed);
    // Back-pressure: wait while the shards hold as many recipients as allowed.
    std::int64_t held = pending.fetch_add(1) + 1;
    while (held > static_cast<std::int64_t>(limits::recipients_pending_max) &&
           stop.level.load(std::memory_order_relaxed) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a signal ends the wait
      held = pending.load();
    }
    const std::uint32_t index = shard_of(recipient, rules, shard_count);
    BatchPointer& batch = batches[index];
    if (!batch) {
      batch = std::make_unique<RecipientBatch>();
      batch->recipients.reserve(limits::recipients_per_batch);
    }
    batch->recipients.push_back(std::move(recipient));
    if (batch->recipients.size() >= limits::recipients_per_batch) deliver(index, false);
  }
  for (std::uint32_t i = 0; i < shard_count; ++i) deliver(i, true);
  return totals;
}

// `recipient` (its row's fields) with `seed` as its address: a test send.
Recipient readdressed(const Recipient& recipient, const Address& seed) {
  Recipient copy;
  copy.line = recipient.line;
  copy.sequence = recipient.sequence;
  const std::size_t fields_at = recipient.ends[0];
  copy.data = seed.text;
  copy.data.append(recipient.data, fields_at, std::string::npos);
  const auto shift =
      static_cast<std::int64_t>(seed.text.size()) - static_cast<std::int64_t>(fields_at);
  for (std::uint32_t end : recipient.ends) {
    copy.ends.push_back(static_cast<std::uint32_t>(static_cast<std::int64_t>(end) + shift));
  }
  copy.domain_offset = seed.at + 1;
  copy.needs_smtputf8 = seed.needs_smtputf8;
  return copy;
}

// Hands `recipients` to the shards that own their domains, then tells every shard the input
// has ended. For test sends: a handful, no back-pressure needed.
void hand_to_shards(std::vector<Recipient> recipients, const ShapingRules& rules,
                    std::vector<std::unique_ptr<CampaignShard>>& shards,
                    std::atomic<std::int64_t>& pending) {
  const auto shard_count = static_cast<std::uint32_t>(shards.size());
  std::vector<BatchPointer> batches(shard_count);
  for (BatchPointer& batch : batches) batch = std::make_unique<RecipientBatch>();
  pending.fetch_add(static_cast<std::int64_t>(recipients.size()));
  for (Recipient& recipient : recipients) {
    batches[shard_of(recipient, rules, shard_count)]->recipients.push_back(std::move(recipient));
  }
  for (std::uint32_t i = 0; i < shard_count; ++i) {
    batches[i]->end_of_input = true;
    while (!shards[i]->offer(batches[i])) {
      shards[i]->shard().wake();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    shards[i]->shard().wake();
  }
}

// The valid rows from the reader's position on that have no final outcome in `earlier`: the
// recipients a campaign that ended at stop_at never attempted.
std::uint64_t count_never_attempted(CampaignInput& input, const JournalState& earlier) {
  Recipient recipient;
  std::string reason, raw_email;
  std::uint64_t left = 0;
  while (true) {
    const CampaignInput::Row row = input.next(recipient, reason, raw_email);
    if (row == CampaignInput::Row::end) break;
    if (row == CampaignInput::Row::rejected) continue;
    if (earlier.status(input.rows_read()) != RecipientStatus::finished) ++left;
  }
  return left;
}

// summary.json's counts that come from the shards.
RunSummary summarize_shards(const ShardCounters& totals) {
  RunSummary summary;
  summary.delivered = totals.delivered;
  summary.bounced = totals.bounced;
  summary.deferred = totals.deferred;
  summary.attempts_deferred = totals.attempts_deferred;
  summary.domains = totals.domains;
  summary.connections = totals.connections_opened;
  summary.connections_failed = totals.connections_failed;
  summary.message_bytes = totals.message_bytes;
  summary.tls_handshakes = totals.tls_handshakes;
  summary.tls_resumptions = totals.tls_resumptions;
  summary.tls_failures = totals.tls_failures;
  summary.not_attempted = totals.not_attempted;
  summary.possible_duplicates = totals.possible_duplicates;
  return summary;
}

// The shipped shaping rules overlaid by the job's rules file, with the job's source pools.
absl::StatusOr<ShapingRules> load_job_rules(const JobConfig& job) {
  RulesOptions options;
  options.rollup = job.shaping_rollup;
  options.pools.push_back("default");
  for (const JobConfig::Source& source : job.sources) {
    if (std::find(options.pools.begin(), options.pools.end(), source.pool) == options.pools.end()) {
      options.pools.push_back(source.pool);
    }
  }
  return load_rules(shipped_shaping_rules(),
                    job.shaping_rules_path.empty() ? nullptr : &job.shaping_rules_path, options);
}

// [[sources]] as addresses to bind; none: one source, the kernel's choice of address.
absl::Status sending_sources(const JobConfig& job, std::vector<SendingSource>& sources) {
  sources.clear();
  for (const JobConfig::Source& source : job.sources) {
    SendingSource sending;
    sending.name = source.name;
    if (!dns::SocketAddress::parse(source.address, 0, sending.address)) {
      return absl::InvalidArgumentError(cat(job.job_path, ": [[sources]] ", source.name, ": '",
                                            source.address, "' is not an IP address"));
    }
    sending.helo = source.ehlo;
    sending.pool = source.pool;
    sending.warmup = source.warmup;
    sources.push_back(std::move(sending));
  }
  if (sources.empty()) sources.emplace_back();
  return absl::OkStatus();
}

// One run of a campaign, phase by phase: open() reads what the run needs and takes the output
// directory (job, lock, secrets, rules, journal, suppression list, output files), start()
// starts the shards and the monitor, stream() hands the recipients to the shards, finish()
// joins them, writes the records and the summary and decides the exit code. open() and
// start() return an exit code; anything but ok ends the run there (the process exits soon
// after, and the lock goes with it). Members are declared in the order they come to life, so
// that they are destroyed in the reverse order (the shards before their context, the metrics
// server before its board).
class CampaignRun {
 public:
  explicit CampaignRun(const RunOptions& options) : options_(options) {}
  int open();
  int start();
  void stream();
  int finish();

 private:
  int open_job();
  bool test_send() const { return !options_.test_to.empty(); }
  int open_test_send();
  int pick_test_rows();
  int campaign_over_at_start(const ScheduleDecision& decision);
  int load_sending_setup();
  int open_records();
  void build_context();
  int start_shards();
  void start_monitor();
  void join_shards();
  void write_records();
  RunEnd run_end() const;
  void close_journal(RunEnd& end, int code);
  void write_summary(RunEnd& end, int code);
  void write_status(RunEnd& end, int code);
  void print_report() const;
  void write_final_metrics(RunEnd& end);
  void print_result_line(int code) const;

  const JobConfig& job() const { return input_->job(); }
  const JournalState& earlier() const {
    return opened_journal_ ? opened_journal_->state : no_earlier_runs_;
  }

  const RunOptions& options_;
  const double started_s_ = monotonic_seconds();
  const double started_wall_s_ = wall_seconds();
  // open()
  std::unique_ptr<CampaignInput> input_;
  std::string out_dir_;
  std::optional<Directory> out_;  // out_dir_, held open: every output is opened under it
  std::optional<VerpKey> verp_;
  std::optional<ShapingRules> rules_;
  std::vector<SendingSource> sources_;
  std::optional<WarmupState> warmup_;
  RunStop stop_;
  std::optional<OpenedJournal> opened_journal_;
  JournalWriter* journal_ = nullptr;  // null with --no-journal
  std::optional<RunBounceRecorder> bounce_recorder_;
  std::unique_ptr<SuppressionChecker> suppression_;
  const JournalState no_earlier_runs_;
  bool resuming_ = false;
  OutputFiles files_;
  // start()
  std::uint32_t shard_count_ = 1;
  std::atomic<std::int64_t> pending_{0};
  RunAbort abort_;
  CampaignContext context_;
  int shaping_fd_ = -1;
  std::optional<ShapingEventLog> shaping_log_;
  std::vector<std::unique_ptr<CampaignShard>> shards_;
  ReaderProgress reader_;
  std::optional<StatusWriter> status_;
  MetricsBoard metrics_board_;
  std::unique_ptr<MetricsServer> metrics_server_;
  std::optional<RunMonitor> monitor_;
  std::vector<Recipient> test_recipients_;  // --test-to: the rows' messages, to the seeds
  // stream()
  std::optional<RejectWriter> rejects_;
  StreamTotals streamed_;
  bool output_ok_ = true;
  absl::Status read_status_;
  // finish()
  ShardCounters totals_;
  LiveView final_view_;               // for the last status.json
  std::uint64_t unread_at_stop_ = 0;  // rows never read: the campaign ended at stop_at
  DomainReport domains_;
  std::vector<ShapingView> shaping_views_;
  std::vector<std::string> bounce_notes_;
  RecordTally recorded_;
  double duration_s_ = 0;
  double rate_ = 0;  // delivered per second
  JournalCounts all_runs_;
  JournalStats journal_stats_;
};

int CampaignRun::open() {
  if (const int code = open_job(); code != exit_code::ok) return code;
  if (const int code = load_sending_setup(); code != exit_code::ok) return code;
  return open_records();
}

// The job and its inputs, the send window, and the output directory, locked.
int CampaignRun::open_job() {
  if (test_send()) return open_test_send();
  int code = exit_code::ok;
  input_ = open_input(options_.job_path, code);
  if (input_ == nullptr) return code;
  // [schedule]: outside start_at/stop_at or the send windows, exit at once for the next tick.
  const ScheduleDecision decision = decide(job().schedule, absl::Now());
  out_dir_ = options_.out_dir.empty() ? absl::StrCat(job().id, ".out") : options_.out_dir;
  if (decision.state == ScheduleState::after_stop) return campaign_over_at_start(decision);
  if (!decision.can_send) {
    std::fprintf(stderr, "hayate: %s: %s; nothing sent, ready for the next cron tick\n",
                 job().id.c_str(), decision.reason.c_str());
    return exit_code::temporary;
  }
  absl::StatusOr<Directory> out = Directory::create(out_dir_, 0755);
  if (!out.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(out.status().message()).c_str());
    return exit_code::cannot_create;
  }
  out_.emplace(std::move(*out));
  out_dir_ = out_->path();
  // From here .lock names this run, and logrotate's postrotate may send it SIGHUP: blocked
  // before the lock is taken, the signal waits for the run monitor instead of ending the run.
  RunMonitor::block_signals();
  return lock_output_directory(*out_);
}

// --test-to: the job with the test-send changes (CampaignInput::open_for_test), the rows'
// recipients readdressed to the seeds, and a fresh output directory of their own, whatever the
// send window says: the campaign's outputs, journal and lists are not touched.
int CampaignRun::open_test_send() {
  absl::StatusOr<std::unique_ptr<CampaignInput>> opened =
      CampaignInput::open_for_test(options_.job_path, options_.test_mark ? "[test] " : "");
  if (!opened.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(opened.status().message()).c_str());
    return opened.status().code() == absl::StatusCode::kNotFound ? exit_code::no_input
                                                                 : exit_code::data_error;
  }
  input_ = std::move(*opened);
  if (const int code = pick_test_rows(); code != exit_code::ok) return code;
  if (!options_.out_dir.empty()) {  // the folder the test sends' own goes into
    if (absl::StatusOr<Directory> parent = Directory::create(options_.out_dir, 0755);
        !parent.ok()) {
      std::fprintf(stderr, "hayate: %s\n", std::string(parent.status().message()).c_str());
      return exit_code::cannot_create;
    }
  }
  const char* tmpdir = std::getenv("TMPDIR");
  const std::string parent = !options_.out_dir.empty()             ? options_.out_dir
                             : tmpdir != nullptr && tmpdir[0] != 0 ? std::string(tmpdir)
                                                                   : std::string("/tmp");
  std::string temporary = cat(parent, "/hayate-test-sends.XXXXXX");
  if (mkdtemp(temporary.data()) == nullptr) {
    std::fprintf(stderr, "hayate: cannot make %s: %s\n", temporary.c_str(), std::strerror(errno));
    return exit_code::cannot_create;
  }
  absl::StatusOr<Directory> out = Directory::open(temporary);
  if (!out.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(out.status().message()).c_str());
    return exit_code::cannot_create;
  }
  out_.emplace(std::move(*out));
  out_dir_ = out_->path();
  if (!options_.quiet) {
    std::fprintf(stderr, "hayate: %s: test sends: %s to %zu seed address%s; outputs in %s/\n",
                 job().id.c_str(), counted(test_recipients_.size(), "message", "messages").c_str(),
                 options_.test_to.size(), options_.test_to.size() == 1 ? "" : "es",
                 out_dir_.c_str());
  }
  RunMonitor::block_signals();
  return lock_output_directory(*out_);
}

// The rows --rows names (the first row without it), each once per seed, their address
// replaced by the seed's; a row that is not there or would be rejected ends the run before
// anything is sent.
int CampaignRun::pick_test_rows() {
  std::vector<Address> seeds;
  for (const std::string& text : options_.test_to) {
    Address seed;
    std::string error;
    if (!parse_address(text, seed, error)) {
      std::fprintf(stderr, "hayate: --test-to '%s': %s\n", text.c_str(), error.c_str());
      return exit_code::usage;
    }
    seeds.push_back(std::move(seed));
  }
  std::vector<std::uint64_t> wanted = options_.test_rows;
  if (wanted.empty()) wanted.push_back(1);
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  Recipient recipient;
  std::string reason, raw_email;
  std::size_t next = 0;
  while (next < wanted.size()) {
    const CampaignInput::Row row = input_->next(recipient, reason, raw_email);
    if (row == CampaignInput::Row::end) break;
    if (input_->rows_read() != wanted[next]) continue;
    if (row == CampaignInput::Row::rejected) {
      std::fprintf(stderr, "%s:%llu: row %llu would be rejected: %s\n",
                   job().recipients_path.c_str(), static_cast<unsigned long long>(input_->line()),
                   static_cast<unsigned long long>(wanted[next]), reason.c_str());
      return exit_code::data_error;
    }
    for (const Address& seed : seeds) test_recipients_.push_back(readdressed(recipient, seed));
    ++next;
  }
  if (next < wanted.size()) {
    std::fprintf(stderr, "hayate: %s has %llu rows; there is no row %llu\n",
                 job().recipients_path.c_str(),
                 static_cast<unsigned long long>(input_->rows_read()),
                 static_cast<unsigned long long>(wanted[next]));
    return exit_code::usage;
  }
  if (!input_->csv().status().ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(input_->csv().status().message()).c_str());
    return exit_code::data_error;
  }
  return exit_code::ok;
}

// After stop_at the campaign is over: nothing is sent, at this tick or a later one, and the
// code says so (78, not 75 "try again"). Unless --quiet, a line says how many recipients were
// never attempted: the rows without a final outcome in the campaign's journal (all of them
// when no run ever started). Reads only: the output directory is not created or locked.
int CampaignRun::campaign_over_at_start(const ScheduleDecision& decision) {
  if (options_.quiet) return exit_code::config;
  JournalState earlier;
  if (absl::StatusOr<Directory> out = Directory::open(out_dir_); out.ok()) {
    struct stat info {};
    if (out->stat_file(journal_file_name, info)) {
      absl::StatusOr<JournalState> replayed =
          replay_journal(*out, journal_file_name, nullptr, true);
      if (replayed.ok()) earlier = std::move(*replayed);
    }
  }
  const std::uint64_t left = count_never_attempted(*input_, earlier);
  std::fprintf(stderr, "hayate: %s: the campaign is over (%s): nothing sent; %s never attempted\n",
               job().id.c_str(), decision.reason.c_str(),
               counted(left, "recipient was", "recipients were").c_str());
  return exit_code::config;
}

// What sending needs beside the job: the CA file and the VERP secret (read before anything is
// sent: a bad one is a job error), the shaping rules (shipped, and the job's), the source
// addresses and their warm-up state.
int CampaignRun::load_sending_setup() {
  if (absl::Status status = load_secrets(job(), &verp_); !status.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    return exit_code::data_error;
  }
  for (const std::string& warning : loose_secret_files(job())) {
    std::fprintf(stderr, "hayate: warning: %s\n", warning.c_str());
  }
  absl::StatusOr<ShapingRules> rules = load_job_rules(job());
  if (!rules.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(rules.status().message()).c_str());
    return exit_code::data_error;
  }
  rules_.emplace(std::move(*rules));
  if (absl::Status status = sending_sources(job(), sources_); !status.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    return exit_code::data_error;
  }
  if (std::any_of(sources_.begin(), sources_.end(), [](const auto& s) { return s.warmup; })) {
    // SQLite would open a FIFO and wait on its first read for ever; a device is no database.
    const std::string& path = job().warmup_state_path;
    if (struct stat info{}; stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
      std::fprintf(stderr, "hayate: %s: the warm-up state is %s, not a regular file\n",
                   path.c_str(), std::string(file_type_name(info.st_mode)).c_str());
      return exit_code::cannot_create;
    }
    absl::StatusOr<WarmupState> opened_warmup = WarmupState::open(path);
    if (!opened_warmup.ok()) {
      std::fprintf(stderr, "hayate: %s\n", std::string(opened_warmup.status().message()).c_str());
      return exit_code::cannot_create;
    }
    warmup_.emplace(std::move(*opened_warmup));
  }
  return exit_code::ok;
}

// The journal, the suppression list and the output files.
int CampaignRun::open_records() {
  // Before any thread starts (the journal's, the shards'): they inherit the blocked mask, so
  // SIGTERM and SIGINT reach only the run monitor.
  RunMonitor::block_signals();
  // The journal: what earlier runs of this campaign recorded. A rerun resumes from it:
  // recipients with a final outcome are skipped, deferred ones keep their retry schedule.
  // --no-journal (benchmarks only) runs without: nothing is recorded, nothing can resume.
  if (!options_.no_journal && !test_send()) {
    if (const int code = open_campaign_journal(job(), *out_, options_, stop_, opened_journal_);
        code != exit_code::ok) {
      return code;
    }
  }
  journal_ = opened_journal_ ? opened_journal_->writer.get() : nullptr;
  resuming_ = opened_journal_ && !opened_journal_->created;
  // Bounces an earlier run of this output left unrecorded go on the list before it is read.
  absl::StatusOr<Directory> recorder_dir = out_->duplicate();
  if (!recorder_dir.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(recorder_dir.status().message()).c_str());
    return exit_code::cannot_create;
  }
  std::vector<std::string> notices;
  if (absl::Status status = prepare_state_stores(job(), notices); !status.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    return exit_code::cannot_create;
  }
  for (const std::string& notice : notices) std::fprintf(stderr, "hayate: %s\n", notice.c_str());
  bounce_recorder_.emplace(job(), std::move(*recorder_dir));
  for (const std::string& note : bounce_recorder_->begin()) {
    std::fprintf(stderr, "hayate: %s\n", note.c_str());
  }
  if (const int code = open_suppression(job(), suppression_); code != exit_code::ok) return code;
  if (!open_output_files(*out_, files_)) return exit_code::cannot_create;
  if (!options_.metrics_file.empty()) {  // written at the end: refused now if it cannot be
    std::string name;
    absl::StatusOr<Directory> metrics_dir = Directory::open_parent(options_.metrics_file, name);
    const absl::Status status =
        metrics_dir.ok() ? metrics_dir->check_replaceable(name) : metrics_dir.status();
    if (!status.ok()) {
      std::fprintf(stderr, "hayate: --metrics-file: %s\n", std::string(status.message()).c_str());
      return exit_code::cannot_create;
    }
  }
  return exit_code::ok;
}

int CampaignRun::start() {
  shard_count_ = job().shards;
  if (shard_count_ == 0) shard_count_ = std::max(1u, std::thread::hardware_concurrency());
  shard_count_ = std::min(shard_count_, limits::shards_max);
  bounce::prepare_classifier();  // its tables compile here, not on a shard at the first failure
  build_context();
  if (const int code = start_shards(); code != exit_code::ok) return code;
  start_monitor();
  return exit_code::ok;
}

// What every shard shares: the job, the outputs, the limits shared out among the shards.
void CampaignRun::build_context() {
  const JobConfig& job = this->job();
  context_.abort = &abort_;
  context_.stop = &stop_;
  context_.journal = journal_;
  if (verp_) {
    context_.verp = &*verp_;
    context_.verp_tag = campaign_tag(job.id);
  }
  context_.job = &job;
  context_.keep_bounce_events = bounce_recorder_->enabled();
  context_.message_inputs = input_->message_inputs();
  context_.dkim_signers = input_->dkim_signers();
  context_.deliveries_fd = files_.deliveries;
  context_.accounting_fd = files_.accounting;
  context_.accounting =
      AccountingContext{job.id, job.helo, static_cast<std::int64_t>(time(nullptr))};
  context_.recipients_pending = &pending_;
  context_.deadline_ms = monotonic_ms() + static_cast<std::int64_t>(job.deadline_ms);
  context_.campaign_started_unix_ms = earlier().first_run_started_unix_ms > 0
                                          ? earlier().first_run_started_unix_ms
                                          : static_cast<std::int64_t>(started_wall_s_ * 1000);
  context_.connections_per_shard = std::max(1u, job.connections_max / shard_count_);
  // A site (route or domain) may appear on every shard: each gets its share of the cap.
  context_.connections_per_site =
      std::max(1u, (job.connections_per_domain + shard_count_ - 1) / shard_count_);
  context_.rules = &*rules_;
  context_.sources = std::move(sources_);
  context_.shard_count = shard_count_;
  if (!warmup_) return;
  const std::int64_t now_unix_ms = unix_time_ms();
  context_.warmup_remaining.resize(context_.sources.size());
  for (std::size_t i = 0; i < context_.sources.size(); ++i) {
    const SendingSource& source = context_.sources[i];
    context_.warmup_remaining[i].resize(rules_->destinations.size());
    if (!source.warmup) continue;
    for (const Destination& destination : rules_->destinations) {
      const std::optional<std::uint64_t> remaining = warmup_->remaining_today(
          source.name, destination.name, destination.warmup_daily, now_unix_ms);
      // Each shard takes its share (throttle.h share_of): together exactly the cap.
      if (remaining) context_.warmup_remaining[i][destination.index] = *remaining;
    }
  }
}

int CampaignRun::start_shards() {
  // Replies quote recipients' addresses: the owner's only, as the other logs.
  absl::StatusOr<UniqueFd> shaping =
      out_->open_file("shaping.jsonl", O_WRONLY | O_CREAT | O_APPEND, private_file_mode);
  if (!shaping.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(shaping.status().message()).c_str());
    return exit_code::cannot_create;
  }
  shaping_fd_ = shaping->release();
  shaping_log_.emplace(shaping_fd_, !options_.quiet);
  context_.shaping_log = &*shaping_log_;
  for (std::uint32_t i = 0; i < shard_count_; ++i) {
    shards_.push_back(std::make_unique<CampaignShard>(context_, i));
    if (absl::Status status = shards_.back()->shard().init(); !status.ok()) {
      std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
      return exit_code::software;
    }
  }
  for (auto& shard : shards_) shard->shard().start(*shard);
  return exit_code::ok;
}

// The monitor (signals, progress line, live metrics) and the metrics server it feeds.
void CampaignRun::start_monitor() {
  const JobConfig& job = this->job();
  RunMonitor::Progress progress;
  progress.enabled =
      !options_.quiet && (options_.progress == RunOptions::Progress::always ||
                          (options_.progress == RunOptions::Progress::automatic && isatty(2)));
  progress.reader = &reader_;
  struct stat recipients_file {};
  if (stat(job.recipients_path.c_str(), &recipients_file) == 0) {
    progress.bytes_total = static_cast<std::uint64_t>(recipients_file.st_size);
  }
  progress.started_s = started_s_;
  progress.started_wall_s = started_wall_s_;
  progress.job = &job;
  progress.journal = journal_;
  status_.emplace(*out_, job.id, journal_ != nullptr ? journal_->run() : 1, started_wall_s_,
                  progress.bytes_total);
  progress.status = &*status_;
  progress.shaping_log = &*shaping_log_;
  if (!options_.metrics_listen.empty()) {
    metrics_board_.publish(snapshot_from(job, ShardCounters{}, 0, 0, started_wall_s_, 0, 0, 0));
    absl::StatusOr<std::unique_ptr<MetricsServer>> server =
        MetricsServer::start(options_.metrics_listen, [this] { return metrics_board_.render(); });
    if (!server.ok()) {
      std::fprintf(stderr, "hayate: %s\n", std::string(server.status().message()).c_str());
      stop_.level.store(2);  // nothing has been sent yet: end before anything is
    } else {
      metrics_server_ = std::move(*server);
      progress.metrics = &metrics_board_;
    }
  }
  progress.out_dir = &*out_;
  progress.logs = {{files_.deliveries, "deliveries.jsonl"}, {files_.accounting, "accounting.csv"}};
  monitor_.emplace(stop_, shards_, options_.quiet, progress, job.schedule);
}

// Streams the recipients to the shard that owns each domain.
void CampaignRun::stream() {
  JournalProducer* reader_journal = journal_ ? &journal_->add_producer() : nullptr;
  rejects_.emplace(files_.rejects, files_.deliveries, files_.accounting, context_.accounting,
                   reader_journal, job().recipients_path);
  if (test_send()) {
    streamed_.recipients = test_recipients_.size();
    reader_.recipients.store(streamed_.recipients);
    reader_.rows.store(streamed_.recipients);
    reader_.done.store(true);
    hand_to_shards(std::move(test_recipients_), *rules_, shards_, pending_);
    output_ok_ = rejects_->flush();
    return;
  }
  streamed_ = stream_recipients(*input_, earlier(), *rejects_, suppression_.get(), *rules_, shards_,
                                stop_, pending_, reader_);
  if (!streamed_.suppression_error.empty()) {
    std::fprintf(stderr,
                 "hayate: reading the suppression list failed (%s); rows after line %llu were "
                 "not sent: run again to resume\n",
                 streamed_.suppression_error.c_str(),
                 static_cast<unsigned long long>(input_->line()));
  }
  output_ok_ = rejects_->flush();
  read_status_ = input_->csv().status();
}

int CampaignRun::finish() {
  join_shards();
  write_records();
  duration_s_ = monotonic_seconds() - started_s_;
  rate_ = duration_s_ > 0 ? static_cast<double>(totals_.delivered) / duration_s_ : 0;
  // Every outcome on disk before the summary says so; then the totals over every run. (A
  // journal that fails now stops the run too: before run_end reads the stop.)
  const bool journal_ok = journal_ == nullptr || (journal_->sync() && !journal_->failed());
  RunEnd end = run_end();
  // The send window closed at stop_at: the campaign is over. The rows never read count as
  // never attempted, with the recipients the shards still held.
  if (status_->stop_cause() == StopCause::window &&
      decide(job().schedule, absl::Now()).state == ScheduleState::after_stop) {
    end.campaign_over = true;
    unread_at_stop_ = count_never_attempted(*input_, earlier());
  }
  // The reason of an abort is news when the abort decides the code; an earlier cause (bad
  // input, a failed output, a stop) has its own message.
  if (end.aborted && run_exit_code(end) == exit_code::config) {
    std::fprintf(stderr, "hayate: the run was stopped: %s\n", abort_.reason.c_str());
  }
  end.journal_failed = !journal_ok;
  close_journal(end, run_exit_code(end));
  write_summary(end, run_exit_code(end));
  write_status(end, run_exit_code(end));
  if (!read_status_.ok()) {
    std::fprintf(stderr, "hayate: reading recipients stopped: %s\n",
                 std::string(read_status_.message()).c_str());
  }
  print_report();
  if (!options_.metrics_file.empty()) write_final_metrics(end);
  const int code = run_exit_code(end);
  print_result_line(code);
  if (end.campaign_over) {
    std::fprintf(
        stderr, "hayate: %s: the campaign is over (stop_at has passed): %s never attempted\n",
        job().id.c_str(),
        counted(totals_.not_attempted + unread_at_stop_, "recipient was", "recipients were")
            .c_str());
  }
  return code;
}

// Waits for the shards and merges what they counted, reported and sent under warm-up caps.
void CampaignRun::join_shards() {
  for (auto& shard : shards_) {
    shard->shard().join();
    totals_.add(shard->final_counters());
    bounce_recorder_->add(shard->take_bounce_events(), shard->bounce_events_complete());
  }
  monitor_.reset();  // clears the progress line before the summary is printed
  for (auto& shard : shards_) output_ok_ = !shard->log_failed() && output_ok_;
  // The domains mail went to: a named destination's domain is on every shard, counted once.
  for (auto& shard : shards_) domains_.merge(shard->report());
  totals_.domains = static_cast<std::uint32_t>(domains_.domain_count());
  domains_.merge(rejects_->report());
  for (auto& shard : shards_) {
    for (ShapingView& view : shard->shaping_views()) shaping_views_.push_back(std::move(view));
    final_view_.tally.merge(shard->tally());
  }
  shaping_views_ = merge_shaping(std::move(shaping_views_));
  final_view_.totals = totals_;
  final_view_.shaping = shaping_views_;
  final_view_.destinations = domains_.top(run_top_max);
  if (!warmup_) return;
  const std::int64_t now_unix_ms = unix_time_ms();
  for (auto& shard : shards_) {
    for (const auto& [source, destination, sent] : shard->warmup_sent()) {
      if (sent > 0) warmup_->record_sent(source, destination, now_unix_ms, sent);
    }
  }
  if (absl::Status status = warmup_->save(); !status.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    output_ok_ = false;
  }
}

// The shards' logs, domains.csv and the outputs on disk; then this run's bounces go on the
// suppression list.
void CampaignRun::write_records() {
  shards_.clear();  // flushes the shards' logs
  close(shaping_fd_);
  if (absl::Status status =
          out_->replace_file("domains.csv", domains_.render_csv(), private_file_mode);
      !status.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    output_ok_ = false;
  }
  output_ok_ = fsync(files_.deliveries) == 0 && output_ok_;
  output_ok_ = fsync(files_.accounting) == 0 && output_ok_;
  // Every line is in deliveries.jsonl now: the run's bounces go on the suppression list.
  absl::StatusOr<RecordTally> recorded = bounce_recorder_->finish(bounce_notes_);
  if (recorded.ok()) {
    recorded_ = *recorded;
  } else {
    bounce_notes_.push_back(cat("this run's bounces are not on the suppression list (",
                                recorded.status().message(), "); the next run with --out ",
                                out_dir_, " records them"));
  }
  close(files_.deliveries);
  close(files_.rejects);
  close(files_.accounting);
}

// How the run ended, as far as the shards and the reader know.
RunEnd CampaignRun::run_end() const {
  RunEnd end;
  end.input_failed = !read_status_.ok();
  end.output_failed = !output_ok_;
  end.stopped = stop_.level.load() > 0;
  end.suppression_failed = !streamed_.suppression_error.empty();
  end.aborted = abort_.requested.load();
  end.delivered = totals_.delivered;
  end.bounced = totals_.bounced;
  end.deferred = totals_.deferred;
  end.servers_greeted = totals_.servers_greeted;
  return end;
}

// Closes the journal with the code so far, then reads it back for the totals over every run
// (this run's counts without a journal).
void CampaignRun::close_journal(RunEnd& end, int code) {
  all_runs_ = JournalCounts{.delivered = totals_.delivered,
                            .bounced = totals_.bounced,
                            .rejected = rejects_->count(),
                            .deferred = totals_.deferred,
                            .attempts_deferred = totals_.attempts_deferred,
                            .suppressed = streamed_.suppressed};
  if (journal_ != nullptr) {
    journal_stats_ = journal_->stats();
    end.journal_close_failed = !journal_->close(code).ok();
    if (absl::StatusOr<JournalState> final_state =
            replay_journal(*out_, journal_file_name, nullptr, true);
        final_state.ok()) {
      all_runs_ = final_state->counts;
    }
  }
  end.deferred_all_runs = all_runs_.deferred;
}

void CampaignRun::write_summary(RunEnd& end, int code) {
  RunSummary summary = summarize_shards(totals_);
  summary.not_attempted += unread_at_stop_;
  summary.campaign = job().id;
  summary.rows = input_->rows_read();
  summary.recipients = streamed_.recipients;
  summary.rejected = rejects_->count();
  summary.suppressed = streamed_.suppressed;
  summary.bounce_reasons = domains_.bounce_reason_totals();
  summary.shards = shard_count_;
  summary.stopped_by_signal = stop_.level.load() > 0;
  summary.resumed = resuming_;
  summary.skipped_as_final_before = streamed_.skipped;
  summary.all_runs = all_runs_;
  summary.suppression_recorded = recorded_;
  if (job().suppression.enabled) summary.suppression_list = job().suppression.path;
  summary.shaping = shaping_counts(shaping_views_);
  summary.duration_s = duration_s_;
  summary.messages_per_second = rate_;
  summary.exit_code = code;
  if (absl::Status status =
          out_->replace_file("summary.json", render_summary(summary), private_file_mode);
      !status.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    end.summary_failed = true;
  }
}

// The last status.json, this run's line in runs.jsonl and report.html.
void CampaignRun::write_status(RunEnd& end, int code) {
  RunEnding ending;
  ending.exit_code = code;
  ending.cause = status_->stop_cause();
  ending.totals = totals_;
  ending.totals.not_attempted += unread_at_stop_;
  ending.rows = input_->rows_read();
  ending.recipients = streamed_.recipients;
  ending.rejected = rejects_->count();
  ending.suppressed = streamed_.suppressed;
  ending.duration_s = duration_s_;
  if (!status_->finish(final_view_, reader_, &*shaping_log_, ending)) end.summary_failed = true;
}

// The domain table, bounce reasons and suppression list changes (not with --quiet), and
// whatever the bounce recording has to say.
void CampaignRun::print_report() const {
  if (!options_.quiet) {
    std::fputs(domains_.render_table().c_str(), stderr);
    if (const BounceReasonCounts reasons = domains_.bounce_reason_totals(); reasons.total() > 0) {
      std::fprintf(stderr, "bounce reasons: %s\n", reasons.render_line().c_str());
    }
    if (recorded_.events > 0) {
      std::fprintf(stderr, "suppression list: %llu suppressed, %llu soft bounces counted (%s)\n",
                   static_cast<unsigned long long>(recorded_.suppressed),
                   static_cast<unsigned long long>(recorded_.soft_counted),
                   job().suppression.path.c_str());
    }
  }
  for (const std::string& note : bounce_notes_) {
    std::fprintf(stderr, "hayate: %s\n", note.c_str());
  }
}

// --metrics-file: the run's final metrics for node_exporter's textfile collector.
void CampaignRun::write_final_metrics(RunEnd& end) {
  MetricsSnapshot snapshot = snapshot_from(job(), totals_, rejects_->count(), streamed_.recipients,
                                           started_wall_s_, duration_s_, 0, 0);
  for (const auto& [name, counts] : domains_.sorted()) {
    snapshot.destinations.push_back(
        DestinationCounts{name, counts.delivered, counts.bounced, counts.deferred});
  }
  keep_top_destinations(snapshot.destinations);
  snapshot.shaping = shaping_counts(shaping_views_);
  snapshot.suppressed = streamed_.suppressed;
  snapshot.delivery_latency = final_view_.tally.delivery_latency;
  add_journal_latency(journal_stats_, snapshot);
  if (absl::Status status = write_metrics_file(options_.metrics_file, snapshot); !status.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    end.metrics_failed = true;
  }
}

// The one line a run always ends with, unless --quiet and all went well.
void CampaignRun::print_result_line(int code) const {
  if (options_.quiet && code == exit_code::ok) return;
  std::fprintf(stderr,
               "hayate: %s: %s: %llu delivered, %llu bounced, %llu deferred, "
               "%llu rejected, %llu suppressed in %.2f s (%.0f msgs/s); details in %s/\n",
               job().id.c_str(), counted(streamed_.recipients, "recipient", "recipients").c_str(),
               static_cast<unsigned long long>(totals_.delivered),
               static_cast<unsigned long long>(totals_.bounced),
               static_cast<unsigned long long>(totals_.deferred),
               static_cast<unsigned long long>(rejects_->count()),
               static_cast<unsigned long long>(streamed_.suppressed), duration_s_, rate_,
               out_dir_.c_str());
  // Why mail failed, without opening deliveries.jsonl: the largest reasons and a reply each.
  if (const std::string causes = final_view_.tally.top_causes(3); !causes.empty()) {
    std::fprintf(stderr, "hayate: %s: %s\n", job().id.c_str(), causes.c_str());
  }
}

}  // namespace

int run_campaign(const RunOptions& options) {
  CampaignRun run(options);
  if (const int code = run.open(); code != exit_code::ok) return code;
  if (const int code = run.start(); code != exit_code::ok) return code;
  run.stream();
  return run.finish();
}

namespace {

// Where the job's suppression list and warm-up counts live (check says it before a run).
void print_state_stores(const JobConfig& job) {
  std::printf("state: %s (%s)\n", job.state_dir.c_str(),
              job.state_dir_why == "HAYATE_STATE_DIR" ? "from HAYATE_STATE_DIR"
              : job.state_dir_why == "root"           ? "run as root"
                                                      : "the user's XDG state directory");
  std::printf("  suppression list: %s%s\n", job.suppression.path.c_str(),
              job.suppression.enabled ? "" : " (off: [suppression] enabled = false)");
  std::printf("  warm-up counts: %s\n", job.warmup_state_path.c_str());
  for (const std::string& path : job.stores_beside_job) {
    std::printf("  note: %s beside the job is used in place of the host's store\n", path.c_str());
  }
}

}  // namespace

int check_campaign(const std::string& job_path, bool strict, bool preflight) {
  int code = exit_code::ok;
  std::unique_ptr<CampaignInput> opened = open_input(job_path, code);
  if (opened == nullptr) return code;
  CampaignInput& input = *opened;
  // What a run loads before it sends: the CA file, the VERP key and the shaping rules.
  if (absl::Status status = load_secrets(input.job()); !status.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    return exit_code::data_error;
  }
  if (absl::StatusOr<ShapingRules> rules = load_job_rules(input.job()); !rules.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(rules.status().message()).c_str());
    return exit_code::data_error;
  }
  const std::vector<std::string> loose_secrets = loose_secret_files(input.job());
  for (const std::string& warning : loose_secrets) {
    std::fprintf(stderr, "hayate: warning: %s\n", warning.c_str());
  }
  Recipient recipient;
  std::string reason;
  std::string raw_email;
  std::uint64_t recipients = 0;
  std::uint64_t rejected = 0;
  absl::flat_hash_map<std::string, std::uint64_t> domains;
  while (true) {
    const CampaignInput::Row row = input.next(recipient, reason, raw_email);
    if (row == CampaignInput::Row::end) break;
    if (row == CampaignInput::Row::rejected) {
      if (++rejected <= 20) {
        std::fprintf(stderr, "%s:%llu: %s\n", input.job().recipients_path.c_str(),
                     static_cast<unsigned long long>(input.line()), reason.c_str());
      }
      continue;
    }
    ++recipients;
    const std::string_view domain = recipient.domain();
    ++domains[absl::string_view(domain.data(), domain.size())];
  }
  if (!input.csv().status().ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(input.csv().status().message()).c_str());
    return exit_code::data_error;
  }
  if (rejected > 20) {
    std::fprintf(stderr, "... and %llu more rejected rows\n",
                 static_cast<unsigned long long>(rejected - 20));
  }
  std::printf("%s: %s in %s, %s rejected\n", input.job().id.c_str(),
              counted(recipients, "recipient", "recipients").c_str(),
              counted(domains.size(), "domain", "domains").c_str(),
              counted(rejected, "row", "rows").c_str());
  print_state_stores(input.job());
  const int dns_code = check_fcrdns(input.job(), strict);  // warnings; errors when strict
  const int preflight_code = preflight ? check_preflight(input.job(), strict) : exit_code::ok;
  // A relay with credentials: can it take them? (A run would stop at once, 78, if not.)
  const int relay_code = check_relay(input.job(), strict);
  if (rejected > 0 || (strict && !loose_secrets.empty())) return exit_code::data_error;
  return combine_check_codes(combine_check_codes(dns_code, preflight_code), relay_code);
}

int preview_campaign(const std::string& job_path, std::uint64_t row) {
  int code = exit_code::ok;
  std::unique_ptr<CampaignInput> opened = open_input(job_path, code);
  if (opened == nullptr) return code;
  CampaignInput& input = *opened;
  Recipient recipient;
  std::string reason;
  std::string raw_email;
  while (true) {
    const CampaignInput::Row result = input.next(recipient, reason, raw_email);
    if (result == CampaignInput::Row::end) {
      std::fprintf(stderr, "hayate: %s has %llu rows; there is no row %llu\n",
                   input.job().recipients_path.c_str(),
                   static_cast<unsigned long long>(input.rows_read()),
                   static_cast<unsigned long long>(row));
      return exit_code::usage;
    }
    if (input.rows_read() < row) continue;
    if (result == CampaignInput::Row::rejected) {
      std::fprintf(stderr, "%s:%llu: row %llu would be rejected: %s\n",
                   input.job().recipients_path.c_str(),
                   static_cast<unsigned long long>(input.line()),
                   static_cast<unsigned long long>(row), reason.c_str());
      return exit_code::data_error;
    }
    break;
  }
  MessageComposer composer(input.message_inputs());
  std::vector<std::string_view> fields;
  for (std::size_t i = 0; i < recipient.field_count(); ++i) fields.push_back(recipient.field(i));
  std::string message;
  const std::int64_t now_s = time(nullptr);
  composer.compose(fields, recipient.address(), recipient.sequence, now_s, message);
  if (!input.dkim_signers().empty()) {  // show the signatures as they would go out
    std::string signatures;
    DkimContext dkim;
    dkim.sign(input.dkim_signers(), message, now_s, signatures);
    message.insert(0, signatures);
  }
  // The envelope goes to stderr so that stdout holds exactly the message.
  std::fprintf(stderr, "envelope: MAIL FROM:<%s> RCPT TO:<%s> (line %llu)\n",
               input.job().envelope_from.text.c_str(), std::string(recipient.address()).c_str(),
               static_cast<unsigned long long>(recipient.line));
  std::fwrite(message.data(), 1, message.size(), stdout);
  return exit_code::ok;
}

int generate_dkim_key_command(DkimAlgorithm algorithm, int rsa_bits, const std::string& domain,
                              const std::string& selector, const std::string& key_path) {
  std::string record;
  if (absl::Status status =
          generate_dkim_key(algorithm, rsa_bits, domain, selector, key_path, record);
      !status.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    return status.code() == absl::StatusCode::kInvalidArgument ? exit_code::usage
                                                               : exit_code::cannot_create;
  }
  std::fprintf(stderr, "hayate: wrote the private key to %s; publish this record:\n",
               key_path.c_str());
  std::printf("%s\n", record.c_str());
  return exit_code::ok;
}

}  // namespace hayate::campaign::run
