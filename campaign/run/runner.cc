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
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "campaign/bounce/recording.h"
#include "campaign/input/campaign_input.h"
#include "campaign/delivery/campaign_shard.h"
#include "campaign/output/delivery_log.h"
#include "campaign/output/accounting.h"
#include "campaign/output/domain_report.h"
#include "campaign/run/fcrdns.h"
#include "campaign/run/exit_codes.h"
#include "campaign/output/journal.h"
#include "campaign/delivery/shaping_rules.h"
#include "campaign/delivery/warmup.h"
#include "engine/strings.h"
#include "campaign/output/metrics.h"
#include "engine/metrics_server.h"
#include "campaign/config/schedule.h"
#include "campaign/bounce/suppression.h"
#include "campaign/limits.h"
#include "engine/net/tls.h"

namespace hayate::campaign::inline run {

namespace {

double monotonic_seconds() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

std::int64_t monotonic_ms() { return static_cast<std::int64_t>(monotonic_seconds() * 1000); }

bool make_directories(const std::string& path, std::string& error) {
  std::string partial;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      partial = path.substr(0, i);
      if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
        error = absl::StrCat("cannot create ", partial, ": ", std::strerror(errno));
        return false;
      }
    }
  }
  struct stat info{};
  if (stat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    error = absl::StrCat(path, " is not a directory");
    return false;
  }
  return true;
}

bool write_file(const std::string& path, std::string_view content, std::string& error) {
  const std::string temporary = path + ".tmp";
  FILE* file = std::fopen(temporary.c_str(), "w");
  if (file == nullptr) {
    error = absl::StrCat("cannot write ", temporary, ": ", std::strerror(errno));
    return false;
  }
  const bool written = std::fwrite(content.data(), 1, content.size(), file) == content.size();
  const bool closed = std::fclose(file) == 0;
  if (!written || !closed || std::rename(temporary.c_str(), path.c_str()) != 0) {
    error = absl::StrCat("cannot write ", path, ": ", std::strerror(errno));
    return false;
  }
  return true;
}

// The rows the reader refuses: rejects.csv for people, deliveries.jsonl for machines.
class RejectWriter {
 public:
  RejectWriter(int rejects_fd, int deliveries_fd, int accounting_fd,
               const AccountingContext& accounting, std::string source)
      : rejects_fd_(rejects_fd),
        log_(deliveries_fd),
        accounting_(accounting_fd, accounting),
        source_(std::move(source)) {
    buffer_ = "file,line,email,reason\n";
  }
  void reject(std::uint64_t line, std::string_view email, std::string_view reason,
              bool first_time = true) {
    append_csv_field(source_, buffer_);
    absl::StrAppend(&buffer_, ",", line, ",");
    append_csv_field(email, buffer_);
    buffer_.push_back(',');
    append_csv_field(reason, buffer_);
    buffer_.push_back('\n');
    ++count_;
    if (!first_time) return;  // logged by an earlier run of the campaign
    DeliveryRecord record;
    record.type = OutcomeType::rejected;
    record.recipient = email;
    record.reply = reason;
    record.stage = "input";
    record.line = line;
    log_.append(record);
    report_.add(record);
    AccountingRecord row;
    row.type = OutcomeType::rejected;
    row.recipient = email;
    row.reply = reason;
    row.line = line;
    accounting_.append(row);
    if (buffer_.size() > 64 * 1024) flush();
  }
  bool flush() {
    if (!buffer_.empty() && write(rejects_fd_, buffer_.data(), buffer_.size()) !=
                                static_cast<ssize_t>(buffer_.size())) {
      failed_ = true;
    }
    buffer_.clear();
    return log_.flush() && accounting_.flush() && !failed_;
  }
  // A recipient on the suppression list: logged and counted, never sent (not in rejects.csv:
  // the row itself is fine).
  void suppress(const Recipient& recipient, const SuppressionEntry& entry) {
    scratch_ = absl::StrCat("on the suppression list: ", entry.address, " (",
                            suppression_source_name(entry.source), ": ", entry.reason, ", since ",
                            format_suppression_time(entry.first_seen_unix_s), ")");
    DeliveryRecord record;
    record.type = OutcomeType::suppressed;
    record.recipient = recipient.address();
    record.domain = recipient.domain();
    record.reply = scratch_;
    record.stage = "suppression";
    record.line = recipient.line;
    log_.append(record);
    report_.add(record);
    AccountingRecord row;
    row.type = OutcomeType::suppressed;
    row.recipient = recipient.address();
    row.reply = scratch_;
    row.line = recipient.line;
    accounting_.append(row);
  }
  std::uint64_t count() const { return count_; }
  const DomainReport& report() const { return report_; }

 private:
  int rejects_fd_;
  DeliveryLog log_;
  AccountingWriter accounting_;
  DomainReport report_;
  std::string source_;
  std::string buffer_;
  std::string scratch_;
  std::uint64_t count_ = 0;
  bool failed_ = false;
};

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
    if (shaping_state_rank(view.state) > shaping_state_rank(into.state)) into.state = view.state;
  }
  std::sort(merged.begin(), merged.end(), [](const ShapingView& a, const ShapingView& b) {
    const int a_rank = shaping_state_rank(a.state), b_rank = shaping_state_rank(b.state);
    if (a_rank != b_rank) return a_rank > b_rank;
    if (a.throttles + a.suspensions != b.throttles + b.suspensions) {
      return a.throttles + a.suspensions > b.throttles + b.suspensions;
    }
    return a.destination < b.destination;
  });
  return merged;
}

std::vector<ShapingCounts> shaping_counts(const std::vector<ShapingView>& views) {
  std::vector<ShapingCounts> counts;
  for (const ShapingView& view : views) {
    counts.push_back(ShapingCounts{view.destination, view.state, view.throttles,
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
    MetricsBoard* metrics = nullptr;  // refreshed once a second when given
    const JournalWriter* journal = nullptr;  // its write latency goes into the metrics
    const JobConfig* job = nullptr;
    double started_wall_s = 0;
    std::vector<std::pair<int, std::string>> logs;  // reopened on SIGHUP
    std::atomic<std::uint64_t>* recipients_read = nullptr;
    std::atomic<std::uint64_t>* bytes_read = nullptr;
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
  // SIGHUP (logrotate): deliveries.jsonl and accounting.csv are opened again by path and the
  // new descriptors take the old numbers (dup2), so every writer goes on into the new files.
  void reopen_logs() {
    for (const auto& [fd, path] : progress_.logs) {
      const int fresh = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fresh < 0 || dup3(fresh, fd, O_CLOEXEC) < 0) {
        std::fprintf(stderr, "hayate: cannot reopen %s: %s\n", path.c_str(), std::strerror(errno));
      }
      if (fresh >= 0) close(fresh);
    }
  }

  void publish_metrics() {
    ShardCounters totals;
    std::vector<DestinationCounts> destinations;
    std::vector<ShapingView> shaping;
    std::uint64_t connections = 0, pending = 0;
    for (auto& shard : shards_) {
      ShardSnapshot board = shard->board().read();
      totals.add(board.counters);
      // Domains live in one shard each: the shards' lists do not overlap.
      for (const auto& [name, counts] : board.destinations) {
        destinations.push_back(
            DestinationCounts{name, counts.delivered, counts.bounced, counts.deferred});
      }
      for (ShapingView& view : board.shaping) shaping.push_back(std::move(view));
      const LiveCounters& live = shard->live();
      connections += live.connections_open.load(std::memory_order_relaxed);
      pending += live.recipients_held.load(std::memory_order_relaxed);
    }
    MetricsSnapshot snapshot = snapshot_from(
        *progress_.job, totals, 0, progress_.recipients_read->load(std::memory_order_relaxed),
        progress_.started_wall_s, monotonic_seconds() - progress_.started_s, connections,
        pending);
    snapshot.destinations = std::move(destinations);
    keep_top_destinations(snapshot.destinations);
    snapshot.shaping = shaping_counts(merge_shaping(std::move(shaping)));
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
    const std::uint64_t read = progress_.recipients_read->load(std::memory_order_relaxed);
    const double elapsed_s = monotonic_seconds() - progress_.started_s;
    const double rate = elapsed_s > 0 ? static_cast<double>(delivered) / elapsed_s : 0;
    const double fraction =
        progress_.bytes_total > 0
            ? static_cast<double>(progress_.bytes_read->load(std::memory_order_relaxed)) /
                  static_cast<double>(progress_.bytes_total)
            : 0;
    std::string eta = "--:--";
    const std::uint64_t done = delivered + bounced + deferred;
    if (fraction > 0.01 && rate > 0 && read > 0) {
      const double total_estimate = static_cast<double>(read) / fraction;
      const double left_s = (total_estimate - static_cast<double>(done)) / rate;
      if (left_s >= 0 && left_s < 360000) {
        eta = absl::StrFormat("%d:%02d", static_cast<int>(left_s) / 60, static_cast<int>(left_s) % 60);
      }
    }
    // The most throttled destinations, refreshed with the shards' boards (once a second).
    std::vector<ShapingView> shaping;
    for (auto& shard : shards_) {
      for (ShapingView& view : shard->board().read().shaping) shaping.push_back(std::move(view));
    }
    std::string throttled;
    for (const ShapingView& view : merge_shaping(std::move(shaping))) {
      if (view.state == "normal" || throttled.size() > 60) continue;
      append(throttled, throttled.empty() ? " | " : ", ", view.destination, " ", view.state);
    }
    std::fprintf(stderr,
                 "\r\033[K%llu/%llu sent (%.0f%% read) | %.0f msgs/s | %llu bounced | "
                 "%llu deferred, %llu retrying | %llu connections | ETA %s%s",
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(read),
                 fraction * 100, rate, static_cast<unsigned long long>(bounced),
                 static_cast<unsigned long long>(deferred), static_cast<unsigned long long>(retrying),
                 static_cast<unsigned long long>(connections), eta.c_str(), throttled.c_str());
  }

  void watch() {
    const sigset_t set = signals();
    double drain_started_s = 0;
    while (!done_.load()) {
      timespec timeout{0, 200'000'000};
      const int signal = sigtimedwait(&set, nullptr, &timeout);
      if (progress_.enabled && signal < 0) draw_progress();
      if (progress_.metrics != nullptr && signal < 0 &&
          monotonic_seconds() - metrics_published_s_ >= 1) {
        metrics_published_s_ = monotonic_seconds();
        publish_metrics();
      }
      if (signal < 0 && stop_.level.load() == 0 && absl::Now() >= window_closes_) {
        // The send window closed (or stop_at came): drain as for SIGTERM, exit 75.
        const ScheduleDecision decision = decide(schedule_, absl::Now());
        if (!decision.can_send) {
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
        stop_.level.store(level);
        if (level == 1) drain_started_s = monotonic_seconds();
        if (progress_.enabled) std::fputs("\r\033[K", stderr);
        std::fprintf(stderr, level == 1 ? "hayate: %s: finishing the transactions in flight; "
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
std::unique_ptr<CampaignInput> open_input(const std::string& job_path) {
  absl::StatusOr<std::unique_ptr<CampaignInput>> opened = CampaignInput::open(job_path);
  if (!opened.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(opened.status().message()).c_str());
    return nullptr;
  }
  return std::move(*opened);
}

// One run per campaign output at a time: two cron ticks must never send the same campaign.
// The lock lives as long as this process (the descriptor is never closed before exit).
int lock_output_directory(const std::string& out_dir) {
  const std::string lock_path = out_dir + "/.lock";
  const int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) {
    std::fprintf(stderr, "hayate: cannot create %s: %s\n", lock_path.c_str(), std::strerror(errno));
    return exit_code::cannot_create;
  }
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
int open_campaign_journal(const JobConfig& job, const std::string& out_dir,
                          const RunOptions& options, RunStop& stop,
                          std::optional<OpenedJournal>& opened) {
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
  absl::StatusOr<OpenedJournal> journal =
      open_journal(out_dir + "/" + journal_file_name, JournalIdentity{job.id, *fingerprint},
                   journal_options);
  if (!journal.ok()) {
    const absl::Status& status = journal.status();
    const bool changed = status.code() == absl::StatusCode::kFailedPrecondition;
    std::fprintf(stderr, "hayate: %s%s\n", std::string(status.message()).c_str(),
                 changed ? " (run with --force to resume anyway, or use a new --out directory)"
                         : "");
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
  struct stat recipients_file{};
  const std::uint64_t rows_expected =
      stat(job.recipients_path.c_str(), &recipients_file) == 0
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

bool open_output_files(const std::string& out_dir, OutputFiles& files) {
  files.deliveries = open((out_dir + "/deliveries.jsonl").c_str(),
                          O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  files.rejects =
      open((out_dir + "/rejects.csv").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  files.accounting = open((out_dir + "/accounting.csv").c_str(),
                          O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  struct stat accounting{};
  const bool accounting_new =
      files.accounting >= 0 && fstat(files.accounting, &accounting) == 0 && accounting.st_size == 0;
  if (files.deliveries < 0 || files.rejects < 0 || files.accounting < 0 ||
      (accounting_new && !write_accounting_header(files.accounting).ok())) {
    std::fprintf(stderr, "hayate: cannot create files in %s: %s\n", out_dir.c_str(),
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

// The reader's loop: every CSV row becomes a recipient for the shard that owns its domain (in
// batches, bounded by recipients_pending_max), a refused row, or, on a resumed run, nothing
// (final before), or a suppressed recipient (checked here, before any shard sees it). Ends at
// the end of the file or when the run is asked to stop.
StreamTotals stream_recipients(CampaignInput& input, const JournalState& earlier,
                               JournalProducer* journal, RejectWriter& rejects,
                               SuppressionChecker* suppression,
                               std::vector<std::unique_ptr<CampaignShard>>& shards,
                               const RunStop& stop, std::atomic<std::int64_t>& pending,
                               std::atomic<std::uint64_t>& recipients_read,
                               std::atomic<std::uint64_t>& bytes_read) {
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
    if (row == CampaignInput::Row::end) break;
    const std::uint64_t sequence = input.rows_read();
    const RecipientStatus status = earlier.status(sequence);
    if (row == CampaignInput::Row::rejected) {
      // Logged and journaled once; rejects.csv lists every refused row on every run.
      const bool first_time = status != RecipientStatus::rejected;
      rejects.reject(input.line(), raw_email, reason, first_time);
      if (first_time && journal != nullptr) {
        journal->append({JournalRecordType::final_rejected, sequence, 0, 0});
      }
      continue;
    }
    if (status == RecipientStatus::finished) {
      ++totals.skipped;
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
        if (journal != nullptr) {
          journal->append({JournalRecordType::final_suppressed, sequence, 0, 0});
        }
        ++totals.suppressed;
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
    recipients_read.store(totals.recipients, std::memory_order_relaxed);
    bytes_read.store(input.csv().bytes_read(), std::memory_order_relaxed);
    // Back-pressure: wait while the shards hold as many recipients as allowed.
    std::int64_t held = pending.fetch_add(1) + 1;
    while (held > static_cast<std::int64_t>(limits::recipients_pending_max) &&
           stop.level.load(std::memory_order_relaxed) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a signal ends the wait
      held = pending.load();
    }
    const auto index = static_cast<std::uint32_t>(
        std::hash<std::string_view>{}(recipient.domain()) % shard_count);
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

struct SummaryFacts {
  const std::string& campaign;
  std::uint64_t rows;
  std::uint64_t recipients;
  std::uint64_t rejected;
  std::uint64_t suppressed;
  std::uint32_t shards;
  bool stopped_by_signal;
  bool resumed;
  std::uint64_t skipped;
  double duration_s;
  double rate;
  int exit_code;
  std::vector<ShapingView> shaping;
  BounceReasonCounts bounce_reasons;  // this run's bounced recipients
  RecordTally suppression_recorded;   // what those bounces did to the suppression list
};

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
      return absl::InvalidArgumentError(
          cat(job.job_path, ": [[sources]] ", source.name, ": '", source.address,
              "' is not an IP address"));
    }
    sending.helo = source.ehlo;
    sending.pool = source.pool;
    sending.warmup = source.warmup;
    sources.push_back(std::move(sending));
  }
  if (sources.empty()) sources.emplace_back();
  return absl::OkStatus();
}

// "shaping": one object per destination that was throttled or suspended during the run.
std::string render_shaping(const std::vector<ShapingView>& views) {
  std::string out = "[";
  for (std::size_t i = 0; i < views.size(); ++i) {
    const ShapingView& view = views[i];
    append(out, i == 0 ? "\n    " : ",\n    ", "{\"destination\": \"");
    append_json_escaped(view.destination, out);
    append(out, "\", \"state\": \"", view.state, "\", \"throttles\": ", view.throttles,
           ", \"suspensions\": ", view.suspensions, ", \"recoveries\": ", view.recoveries, "}");
  }
  append(out, views.empty() ? "]" : "\n  ]");
  return out;
}

// summary.json: this run's counts, and (all_runs) the campaign's over every run so far.

std::string render_summary(const SummaryFacts& facts, const ShardCounters& totals,
                           const JournalCounts& all_runs) {
  return absl::StrFormat(
      "{\n  \"campaign\": \"%s\",\n  \"rows\": %d,\n  \"recipients\": %d,\n"
      "  \"delivered\": %d,\n  \"bounced\": %d,\n  \"bounce_reasons\": %s,\n"
      "  \"deferred\": %d,\n  \"rejected\": %d,\n"
      "  \"suppressed\": %d,\n"
      "  \"attempts_deferred\": %d,\n  \"domains\": %d,\n  \"connections\": %d,\n"
      "  \"connections_failed\": %d,\n  \"message_bytes\": %d,\n  \"shards\": %d,\n"
      "  \"tls_handshakes\": %d,\n  \"tls_resumptions\": %d,\n  \"tls_failures\": %d,\n"
      "  \"not_attempted\": %d,\n  \"stopped_by_signal\": %s,\n"
      "  \"resumed\": %s,\n  \"skipped_as_final_before\": %d,\n"
      "  \"all_runs\": {\"delivered\": %d, \"bounced\": %d, \"deferred\": %d, "
      "\"rejected\": %d, \"suppressed\": %d},\n"
      "  \"suppression_recorded\": {\"suppressed\": %d, \"soft_counted\": %d, "
      "\"already_suppressed\": %d},\n"
      "  \"shaping\": %s,\n"
      "  \"duration_s\": %.3f,\n  \"messages_per_second\": %.1f,\n  \"exit_code\": %d\n}\n",
      facts.campaign, facts.rows, facts.recipients, totals.delivered, totals.bounced,
      facts.bounce_reasons.render_json(), totals.deferred, facts.rejected, facts.suppressed,
      totals.attempts_deferred, totals.domains,
      totals.connections_opened, totals.connections_failed, totals.message_bytes, facts.shards,
      totals.tls_handshakes, totals.tls_resumptions, totals.tls_failures, totals.not_attempted,
      facts.stopped_by_signal ? "true" : "false", facts.resumed ? "true" : "false",
      facts.skipped, all_runs.delivered, all_runs.bounced, all_runs.deferred, all_runs.rejected,
      all_runs.suppressed, facts.suppression_recorded.suppressed,
      facts.suppression_recorded.soft_counted, facts.suppression_recorded.already_suppressed,
      render_shaping(facts.shaping), facts.duration_s, facts.rate,
      facts.exit_code);
}

}  // namespace

int run_campaign(const RunOptions& options) {
  const double started_s = monotonic_seconds();
  const double started_wall_s = wall_seconds();
  std::unique_ptr<CampaignInput> opened = open_input(options.job_path);
  if (opened == nullptr) return exit_code::data_error;
  CampaignInput& input = *opened;
  const JobConfig& job = input.job();

  // [schedule]: outside start_at/stop_at or the send windows, exit at once for the next tick.
  const ScheduleDecision decision = decide(job.schedule, absl::Now());
  if (!decision.can_send) {
    std::fprintf(stderr, "hayate: %s: %s; nothing sent, ready for the next cron tick\n",
                 job.id.c_str(), decision.reason.c_str());
    return exit_code::temporary;
  }

  const std::string out_dir = options.out_dir.empty() ? absl::StrCat(job.id, ".out")
                                                      : options.out_dir;
  std::string error;
  if (!make_directories(out_dir, error)) {
    std::fprintf(stderr, "hayate: %s\n", error.c_str());
    return exit_code::cannot_create;
  }
  if (const int code = lock_output_directory(out_dir); code != exit_code::ok) return code;

  // The CA file and the VERP secret are read before anything is sent: a bad one is a job error.
  std::optional<VerpKey> verp;
  if (absl::Status status = load_secrets(job, &verp); !status.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    return exit_code::data_error;
  }
  // The shaping rules (shipped, and the job's), the source addresses and their warm-up state.
  absl::StatusOr<ShapingRules> rules = load_job_rules(job);
  if (!rules.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(rules.status().message()).c_str());
    return exit_code::data_error;
  }
  std::vector<SendingSource> sources;
  if (absl::Status status = sending_sources(job, sources); !status.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    return exit_code::data_error;
  }
  std::optional<WarmupState> warmup;
  if (std::any_of(sources.begin(), sources.end(), [](const auto& s) { return s.warmup; })) {
    absl::StatusOr<WarmupState> opened_warmup = WarmupState::open(job.warmup_state_path);
    if (!opened_warmup.ok()) {
      std::fprintf(stderr, "hayate: %s\n", std::string(opened_warmup.status().message()).c_str());
      return exit_code::cannot_create;
    }
    warmup.emplace(std::move(*opened_warmup));
  }
  // Before any thread starts (the journal's, the shards'): they inherit the blocked mask, so
  // SIGTERM and SIGINT reach only the run monitor.
  RunMonitor::block_signals();
  RunStop stop;
  // The journal: what earlier runs of this campaign recorded. A rerun resumes from it:
  // recipients with a final outcome are skipped, deferred ones keep their retry schedule.
  // --no-journal (benchmarks only) runs without: nothing is recorded, nothing can resume.
  std::optional<OpenedJournal> opened_journal;
  if (!options.no_journal) {
    if (const int code = open_campaign_journal(job, out_dir, options, stop, opened_journal);
        code != exit_code::ok) {
      return code;
    }
  }
  JournalWriter* journal = opened_journal ? opened_journal->writer.get() : nullptr;
  // Bounces an earlier run of this output left unrecorded go on the list before it is read.
  RunBounceRecorder bounce_recorder(job, out_dir);
  for (const std::string& note : bounce_recorder.begin()) {
    std::fprintf(stderr, "hayate: %s\n", note.c_str());
  }
  std::unique_ptr<SuppressionChecker> suppression;
  if (const int code = open_suppression(job, suppression); code != exit_code::ok) return code;
  const JournalState no_earlier_runs;
  const JournalState& earlier = opened_journal ? opened_journal->state : no_earlier_runs;
  const bool resuming = opened_journal && !opened_journal->created;

  OutputFiles files;
  if (!open_output_files(out_dir, files)) return exit_code::cannot_create;
  const int deliveries_fd = files.deliveries;
  const int rejects_fd = files.rejects;
  const int accounting_fd = files.accounting;

  std::uint32_t shard_count = job.shards;
  if (shard_count == 0) shard_count = std::max(1u, std::thread::hardware_concurrency());
  shard_count = std::min(shard_count, limits::shards_max);

  std::atomic<std::int64_t> pending{0};
  RunAbort abort;
  CampaignContext context;
  context.abort = &abort;
  context.stop = &stop;
  context.journal = journal;
  if (verp) {
    context.verp = &*verp;
    context.verp_tag = campaign_tag(job.id);
  }
  context.job = &job;
  context.keep_bounce_events = bounce_recorder.enabled();
  context.message_inputs = input.message_inputs();
  context.dkim_signers = input.dkim_signers();
  context.deliveries_fd = deliveries_fd;
  context.accounting_fd = accounting_fd;
  context.accounting = AccountingContext{job.id, job.helo, static_cast<std::int64_t>(time(nullptr))};
  context.recipients_pending = &pending;
  context.deadline_ms = monotonic_ms() + static_cast<std::int64_t>(job.deadline_ms);
  context.campaign_started_unix_ms = earlier.first_run_started_unix_ms > 0
                                         ? earlier.first_run_started_unix_ms
                                         : static_cast<std::int64_t>(started_wall_s * 1000);
  context.connections_per_shard = std::max(1u, job.connections_max / shard_count);
  // A site (route or domain) may appear on every shard: each gets its share of the cap.
  context.connections_per_site =
      std::max(1u, (job.connections_per_domain + shard_count - 1) / shard_count);

  context.rules = &*rules;
  context.sources = std::move(sources);
  context.shard_count = shard_count;
  if (warmup) {
    const std::int64_t now_unix_ms = unix_time_ms();
    context.warmup_remaining.resize(context.sources.size());
    for (std::size_t i = 0; i < context.sources.size(); ++i) {
      const SendingSource& source = context.sources[i];
      context.warmup_remaining[i].resize(rules->destinations.size());
      if (!source.warmup) continue;
      for (const Destination& destination : rules->destinations) {
        const std::optional<std::uint64_t> remaining = warmup->remaining_today(
            source.name, destination.name, destination.warmup_daily, now_unix_ms);
        // Each shard takes its share (throttle.h share_of): together exactly the cap.
        if (remaining) context.warmup_remaining[i][destination.index] = *remaining;
      }
    }
  }
  const int shaping_fd = open((out_dir + "/shaping.jsonl").c_str(),
                              O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (shaping_fd < 0) {
    std::fprintf(stderr, "hayate: cannot create %s/shaping.jsonl: %s\n", out_dir.c_str(),
                 std::strerror(errno));
    return exit_code::cannot_create;
  }
  ShapingEventLog shaping_log(shaping_fd, !options.quiet);
  context.shaping_log = &shaping_log;

  std::vector<std::unique_ptr<CampaignShard>> shards;
  for (std::uint32_t i = 0; i < shard_count; ++i) {
    shards.push_back(std::make_unique<CampaignShard>(context, i));
    if (absl::Status status = shards.back()->shard().init(); !status.ok()) {
      std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
      return exit_code::software;
    }
  }
  for (auto& shard : shards) shard->shard().start(*shard);
  std::atomic<std::uint64_t> recipients_read{0};
  std::atomic<std::uint64_t> bytes_read{0};
  RunMonitor::Progress progress;
  progress.enabled = !options.quiet &&
                     (options.progress == RunOptions::Progress::always ||
                      (options.progress == RunOptions::Progress::automatic && isatty(2)));
  progress.recipients_read = &recipients_read;
  progress.bytes_read = &bytes_read;
  struct stat recipients_file{};
  if (stat(job.recipients_path.c_str(), &recipients_file) == 0) {
    progress.bytes_total = static_cast<std::uint64_t>(recipients_file.st_size);
  }
  progress.started_s = started_s;
  progress.started_wall_s = started_wall_s;
  progress.job = &job;
  progress.journal = journal;
  MetricsBoard metrics_board;
  std::unique_ptr<MetricsServer> metrics_server;
  if (!options.metrics_listen.empty()) {
    metrics_board.publish(snapshot_from(job, ShardCounters{}, 0, 0, started_wall_s, 0, 0, 0));
    absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::start(
        options.metrics_listen, [&metrics_board] { return metrics_board.render(); });
    if (!server.ok()) {
      std::fprintf(stderr, "hayate: %s\n", std::string(server.status().message()).c_str());
      stop.level.store(2);  // nothing has been sent yet: end before anything is
    } else {
      metrics_server = std::move(*server);
      progress.metrics = &metrics_board;
    }
  }
  std::optional<RunMonitor> monitor;
  progress.logs = {{deliveries_fd, out_dir + "/deliveries.jsonl"},
                   {accounting_fd, out_dir + "/accounting.csv"}};
  monitor.emplace(stop, shards, options.quiet, progress, job.schedule);

  // Stream the recipients to the shard that owns each domain.
  RejectWriter rejects(rejects_fd, deliveries_fd, accounting_fd, context.accounting,
                       job.recipients_path);
  const StreamTotals streamed =
      stream_recipients(input, earlier, journal ? &journal->add_producer() : nullptr, rejects,
                        suppression.get(), shards, stop, pending,
                        recipients_read, bytes_read);
  const std::uint64_t recipients = streamed.recipients;
  const std::uint64_t skipped = streamed.skipped;
  if (!streamed.suppression_error.empty()) {
    std::fprintf(stderr,
                 "hayate: reading the suppression list failed (%s); rows after line %llu were "
                 "not sent: run again to resume\n",
                 streamed.suppression_error.c_str(), static_cast<unsigned long long>(input.line()));
  }
  bool output_ok = rejects.flush();
  const absl::Status read_status = input.csv().status();

  ShardCounters totals;
  for (auto& shard : shards) {
    shard->shard().join();
    totals.add(shard->final_counters());
    bounce_recorder.add(shard->take_bounce_events(), shard->bounce_events_complete());
  }
  monitor.reset();  // clears the progress line before the summary is printed
  for (auto& shard : shards) output_ok = !shard->log_failed() && output_ok;
  DomainReport domains = rejects.report();
  for (auto& shard : shards) domains.merge(shard->report());
  std::vector<ShapingView> shaping_views;
  for (auto& shard : shards) {
    for (ShapingView& view : shard->shaping_views()) shaping_views.push_back(std::move(view));
  }
  shaping_views = merge_shaping(std::move(shaping_views));
  if (warmup) {
    const std::int64_t now_unix_ms = unix_time_ms();
    for (auto& shard : shards) {
      for (const auto& [source, destination, sent] : shard->warmup_sent()) {
        if (sent > 0) warmup->record_sent(source, destination, now_unix_ms, sent);
      }
    }
    if (absl::Status status = warmup->save(); !status.ok()) {
      std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
      output_ok = false;
    }
  }
  shards.clear();  // flushes the shards' logs
  close(shaping_fd);
  if (absl::Status status = domains.write_csv(out_dir + "/domains.csv"); !status.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    output_ok = false;
  }
  output_ok = fsync(deliveries_fd) == 0 && output_ok;
  output_ok = fsync(accounting_fd) == 0 && output_ok;
  // Every line is in deliveries.jsonl now: the run's bounces go on the suppression list.
  std::vector<std::string> bounce_notes;
  absl::StatusOr<RecordTally> recorded = bounce_recorder.finish(bounce_notes);
  if (!recorded.ok()) {
    bounce_notes.push_back(cat("this run's bounces are not on the suppression list (",
                               recorded.status().message(), "); the next run with --out ",
                               out_dir, " records them"));
    recorded = RecordTally{};
  }
  close(deliveries_fd);
  close(rejects_fd);
  close(accounting_fd);

  const double duration_s = monotonic_seconds() - started_s;
  const double rate = duration_s > 0 ? static_cast<double>(totals.delivered) / duration_s : 0;
  // Every outcome on disk before the summary says so; then the totals over every run.
  const bool journal_ok = journal == nullptr || (journal->sync() && !journal->failed());
  int code = exit_code::ok;
  if (!read_status.ok()) {
    code = exit_code::data_error;
  } else if (!output_ok) {
    code = exit_code::cannot_create;
  } else if (stop.level.load() > 0 || !streamed.suppression_error.empty()) {
    code = exit_code::temporary;  // stopped: the rest waits for the next run
  } else if (abort.requested.load()) {
    code = exit_code::config;
    std::fprintf(stderr, "hayate: the run was stopped: %s\n", abort.reason.c_str());
  } else if (totals.deferred > 0) {
    const bool nothing_reached = totals.servers_greeted == 0 && totals.delivered == 0 &&
                                 totals.bounced == 0;
    code = nothing_reached ? exit_code::unavailable : exit_code::temporary;
  }
  if (!journal_ok) code = exit_code::temporary;  // outcomes may be missing: resume later
  JournalCounts all_runs{totals.delivered, totals.bounced, rejects.count(), totals.deferred,
                         totals.attempts_deferred, 0, streamed.suppressed};
  JournalStats journal_stats;
  if (journal != nullptr) {
    journal_stats = journal->stats();
    const std::string journal_path = journal->path();
    if (absl::Status closed = journal->close(code); !closed.ok() && code == exit_code::ok) {
      code = exit_code::cannot_create;
    }
    if (absl::StatusOr<JournalState> final_state = replay_journal(journal_path, nullptr, true);
        final_state.ok()) {
      all_runs = final_state->counts;
    }
  }
  if (code == exit_code::ok && all_runs.deferred > 0) code = exit_code::temporary;
  const std::string summary = render_summary(
      SummaryFacts{job.id, input.rows_read(), recipients, rejects.count(), streamed.suppressed,
                   shard_count, stop.level.load() > 0, resuming, skipped, duration_s, rate, code,
                   shaping_views, domains.bounce_reason_totals(), *recorded},
      totals, all_runs);
  if (!write_file(out_dir + "/summary.json", summary, error)) {
    std::fprintf(stderr, "hayate: %s\n", error.c_str());
    code = exit_code::cannot_create;
  }
  if (!read_status.ok()) {
    std::fprintf(stderr, "hayate: reading recipients stopped: %s\n",
                 std::string(read_status.message()).c_str());
  }
  if (!options.quiet) {
    std::fputs(domains.render_table().c_str(), stderr);
    if (const BounceReasonCounts reasons = domains.bounce_reason_totals(); reasons.total() > 0) {
      std::fprintf(stderr, "bounce reasons: %s\n", reasons.render_line().c_str());
    }
    if (recorded->events > 0) {
      std::fprintf(stderr, "suppression list: %llu suppressed, %llu soft bounces counted (%s)\n",
                   static_cast<unsigned long long>(recorded->suppressed),
                   static_cast<unsigned long long>(recorded->soft_counted),
                   job.suppression.path.c_str());
    }
  }
  for (const std::string& note : bounce_notes) std::fprintf(stderr, "hayate: %s\n", note.c_str());
  if (!options.metrics_file.empty()) {
    MetricsSnapshot snapshot = snapshot_from(job, totals, rejects.count(), recipients,
                                             started_wall_s, duration_s, 0, 0);
    for (const auto& [name, counts] : domains.sorted()) {
      snapshot.destinations.push_back(
          DestinationCounts{name, counts.delivered, counts.bounced, counts.deferred});
    }
    keep_top_destinations(snapshot.destinations);
    snapshot.shaping = shaping_counts(shaping_views);
    add_journal_latency(journal_stats, snapshot);
    if (absl::Status status = write_metrics_file(options.metrics_file, snapshot); !status.ok()) {
      std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
      code = exit_code::cannot_create;
    }
  }
  if (!options.quiet || code != exit_code::ok) {
    std::fprintf(stderr,
                 "hayate: %s: %llu recipients: %llu delivered, %llu bounced, %llu deferred, "
                 "%llu rejected, %llu suppressed in %.2f s (%.0f msgs/s); details in %s/\n",
                 job.id.c_str(), static_cast<unsigned long long>(recipients),
                 static_cast<unsigned long long>(totals.delivered),
                 static_cast<unsigned long long>(totals.bounced),
                 static_cast<unsigned long long>(totals.deferred),
                 static_cast<unsigned long long>(rejects.count()),
                 static_cast<unsigned long long>(streamed.suppressed), duration_s, rate,
                 out_dir.c_str());
  }
  return code;
}

int check_campaign(const std::string& job_path, bool strict) {
  std::unique_ptr<CampaignInput> opened = open_input(job_path);
  if (opened == nullptr) return exit_code::data_error;
  CampaignInput& input = *opened;
  // The secrets a run would load: the CA file and the VERP key.
  if (absl::Status status = load_secrets(input.job()); !status.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    return exit_code::data_error;
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
  std::printf("%s: %llu recipients in %zu domains, %llu rows rejected\n",
              input.job().id.c_str(), static_cast<unsigned long long>(recipients), domains.size(),
              static_cast<unsigned long long>(rejected));
  const int dns_code = check_fcrdns(input.job(), strict);  // warnings; errors when strict
  return rejected > 0 ? exit_code::data_error : dns_code;
}

int preview_campaign(const std::string& job_path, std::uint64_t row) {
  std::unique_ptr<CampaignInput> opened = open_input(job_path);
  if (opened == nullptr) return exit_code::data_error;
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
