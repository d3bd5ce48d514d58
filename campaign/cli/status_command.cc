// `hayate status` and `hayate report` (see status_command.h).
#include "campaign/cli/status_command.h"

#include <signal.h>
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "campaign/cli/command_line.h"
#include "campaign/output/run_record.h"
#include "campaign/run/exit_codes.h"
#include "campaign/run/run_status.h"
#include "engine/files.h"

namespace hayate::campaign::cli {

namespace {

constexpr char kStatusHelp[] = R"(hayate status OUT_DIR [--json]

How a campaign stands, from the status.json its run rewrites once a second in OUT_DIR: while
it runs (from another terminal, a script, a cron mail) or after it ended. Reads only; works
beside a running campaign.

States: running, draining (a stop was asked: finishing what is in flight), waiting (every
recipient read; the rest wait for their retries), done, retrying (the run ended with deferred
recipients: the next run retries them), outside_window, stopped (a signal), over (stop_at
ended the campaign with recipients never attempted), failed, gone (the run stopped updating
without finishing: killed or crashed; run it again to resume).

  --json   the record as JSON (summary.json's count names: delivered, bounced, deferred...)

Exit codes: 0 done, 1 failed, over or gone, 3 running (running, draining, waiting), 4 not
done and nothing running (retrying, outside_window, stopped), 64 usage, 65 a damaged
status.json, 66 no status.json in OUT_DIR (no run started there).
)";

constexpr char kReportHelp[] = R"(hayate report OUT_DIR [--to FILE]

Draws OUT_DIR/report.html (or FILE) for every run of the campaign so far, a running one
included: one self-contained page (no script, nothing loaded from the network) with the rate
over time and the shaping events, connections, outcomes per domain and provider, bounce and
deferral reasons, latency and TLS. Every run writes it when it ends; this command draws it
at any time. Exit codes: 0 written, 64 usage, 66 no run in OUT_DIR, 73 cannot write.
)";

double now_unix_s() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

bool process_alive(std::int64_t pid) {
  if (pid <= 0) return false;
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

int usage_error(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "hayate: %s\nTry 'hayate %s --help'.\n", message.c_str(), command.c_str());
  return exit_code::usage;
}

// The output directory named by the one operand, opened; or an exit code after saying why.
int open_out_dir(const std::string& path, std::optional<Directory>& out) {
  absl::StatusOr<Directory> opened = Directory::open(path);
  if (!opened.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(opened.status().message()).c_str());
    return exit_code::no_input;
  }
  out.emplace(std::move(*opened));
  return exit_code::ok;
}

}  // namespace

int status_command(std::vector<std::string_view> args) {
  if (wants_help(args)) {
    std::fputs(kStatusHelp, stdout);
    return exit_code::ok;
  }
  std::string out_path;
  bool json = false;
  const Option known[] = {{"--json", {}, [&](std::string_view) -> ArgumentResult {
                             json = true;
                             return {};
                           }}};
  const ArgumentResult error =
      walk_arguments("status", args, known, [&](std::string_view operand) -> ArgumentResult {
        if (!out_path.empty() || operand.empty()) return "status takes one output directory";
        out_path = std::string(operand);
        return {};
      });
  if (!error.empty()) return usage_error("status", error);
  if (out_path.empty())
    return usage_error("status", "status needs the campaign's output directory");
  std::optional<Directory> out;
  if (const int code = open_out_dir(out_path, out); code != exit_code::ok) return code;
  struct stat info {};
  if (!out->stat_file(status_file_name, info)) {
    std::fprintf(stderr, "hayate: %s: no run has started here (no %s)\n", out->path().c_str(),
                 std::string(status_file_name).c_str());
    return exit_code::no_input;
  }
  absl::StatusOr<std::string> text =
      read_regular_file(out->path_of(status_file_name), 4 << 20, "the status file");
  if (!text.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(text.status().message()).c_str());
    return exit_code::data_error;
  }
  absl::StatusOr<RunRecord> record = parse_run_record(*text);
  if (!record.ok()) {
    std::fprintf(stderr, "hayate: %s: %s\n", out->path_of(status_file_name).c_str(),
                 std::string(record.status().message()).c_str());
    return exit_code::data_error;
  }
  const double now = now_unix_s();
  const StatusJudgement judgement = judge_status(*record, now, process_alive(record->pid));
  if (json) {
    record->state = judgement.state;  // "gone" replaces a "running" that no process backs
    std::fputs(render_run_record(*record, true).c_str(), stdout);
  } else {
    std::fputs(render_status_text(*record, judgement, now).c_str(), stdout);
  }
  return judgement.exit_code;
}

int report_command(std::vector<std::string_view> args) {
  if (wants_help(args)) {
    std::fputs(kReportHelp, stdout);
    return exit_code::ok;
  }
  std::string out_path, to;
  const Option known[] = {
      {"--to", "--to needs a file", [&](std::string_view value) -> ArgumentResult {
         to = std::string(value);
         return {};
       }}};
  const ArgumentResult error =
      walk_arguments("report", args, known, [&](std::string_view operand) -> ArgumentResult {
        if (!out_path.empty() || operand.empty()) return "report takes one output directory";
        out_path = std::string(operand);
        return {};
      });
  if (!error.empty()) return usage_error("report", error);
  if (out_path.empty())
    return usage_error("report", "report needs the campaign's output directory");
  std::optional<Directory> out;
  if (const int code = open_out_dir(out_path, out); code != exit_code::ok) return code;
  std::vector<std::string> notes;
  absl::StatusOr<std::vector<RunRecord>> runs = read_run_records(*out, notes);
  for (const std::string& note : notes) std::fprintf(stderr, "hayate: %s\n", note.c_str());
  if (!runs.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(runs.status().message()).c_str());
    return exit_code::data_error;
  }
  if (runs->empty()) {
    std::fprintf(stderr, "hayate: %s: no run has started here (no %s, no %s)\n",
                 out->path().c_str(), std::string(status_file_name).c_str(),
                 std::string(runs_file_name).c_str());
    return exit_code::no_input;
  }
  std::string target = to.empty() ? out->path_of(report_file_name) : to;
  std::string name;
  absl::StatusOr<Directory> target_dir = Directory::open_parent(target, name);
  const absl::Status status =
      target_dir.ok() ? write_report(*target_dir, *runs, name) : target_dir.status();
  if (!status.ok()) {
    std::fprintf(stderr, "hayate: %s\n", std::string(status.message()).c_str());
    return exit_code::cannot_create;
  }
  std::printf("%s\n", target.c_str());
  return exit_code::ok;
}

}  // namespace hayate::campaign::cli
