// The hayate command: one function per command parses its arguments with the shared option
// walker (command_line.h) and hands them to the runner; bounces and suppress have files of
// their own.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "campaign/cli/bounces_command.h"
#include "campaign/cli/command_line.h"
#include "campaign/cli/status_command.h"
#include "campaign/cli/suppress_command.h"
#include "campaign/message/dkim.h"
#include "campaign/run/exit_codes.h"
#include "campaign/run/runner.h"
#include "engine/metrics_server.h"
#include "engine/strings.h"
#include "engine/version.h"

namespace {

using hayate::cat;
using hayate::campaign::exit_code::usage;

constexpr char kUsage[] = R"(hayate - bulk mail sending engine

Usage:
  hayate run JOB.toml [--out DIR] [--quiet] [--progress]   send a campaign
  hayate check JOB.toml [--strict]            validate the job and every row, send nothing
  hayate preview JOB.toml --row N             print the message for CSV row N (1-based)
  hayate dkim keygen --domain D --selector S [--algo rsa|ed25519] [--bits N] [--key FILE]
  hayate bounces classify PATH...             JSON line per bounced recipient (Maildir, mbox, .eml)
  hayate bounces ingest PATH... [--job JOB]   bounces and complaints into the suppression list
  hayate suppress add|remove|list|import|export ...   the list of addresses never mailed
  hayate status OUT_DIR [--json]              how a campaign stands, running or finished
  hayate report OUT_DIR [--to FILE]           draw report.html for every run of a campaign
  hayate --version
  hayate COMMAND --help
run, preview and dkim keygen take an option's value as --out DIR or --out=DIR.

Example:
  hayate-sink --listen 127.0.0.1:2525 &
  hayate run examples/demo/job.toml --out /tmp/demo.out

Outputs (in --out DIR, default ./<campaign id>.out/): deliveries.jsonl, rejects.csv,
summary.json, status.json (once a second), runs.jsonl, report.html. Exit codes: 0 done, 64 usage, 65 bad job or data (nothing sent),
69 nothing reachable, 73 cannot write output, 75 some recipients still deferred (run again),
78 stopped by a setting no retry fixes (a relay refused the login; stop_at has passed).
)";

constexpr char kRunHelp[] = R"(hayate run JOB.toml [--out DIR] [--quiet]

Sends the campaign: streams the recipients, renders each message, delivers it over pooled,
pipelined SMTP connections, retries temporary failures until the job's deadline.

  --out DIR   where deliveries.jsonl, rejects.csv, summary.json and the journal go
              (default ./<campaign id>.out); running again into it resumes the campaign
  --quiet     print nothing on success (for cron); errors still go to stderr
  --force     resume a campaign although its job file, recipients or templates changed
  --no-journal  for benchmarks: record nothing, so a crash cannot be resumed
  --metrics-listen 127.0.0.1:PORT   Prometheus /metrics while the run goes on
  --metrics-file PATH.prom          the same, written at the end (node_exporter textfile)
  --progress  a live progress line on stderr even when it is not a terminal
              (--no-progress: never; by default only on a terminal)
  --test-to ADDR[,ADDR]   test sends: the rendered messages of some rows go to these seed
              addresses instead of the recipients, from a new folder of their own (in --out
              DIR when given, else the temporary directory), whatever the send window says;
              the campaign's journal, outputs, suppression list and warm-up counts are not
              touched
  --rows N[,N]      with --test-to: the rows to send (record numbers, counted as preview does);
              default the first
  --mark-subject    with --test-to: "[test] " before the subject (by default the subject is
              the recipients' own)

Example:
  hayate run examples/demo/job.toml --out /tmp/demo.out
)";

constexpr char kCheckHelp[] = R"(hayate check JOB.toml [--strict] [--no-preflight]

Loads the job file, compiles the templates, loads the shaping rules and the secrets, reads
every recipient row and reports what would be rejected. Sends nothing. Exit 0 when all is
well, 65 when the job, its rules or any row is bad. A password, VERP or DKIM key file that
group or others can read or write is a warning on stderr.

Then checks forward-confirmed reverse DNS with the job's [dns] servers (5 s at most): the
ehlo name of each [[sources]] entry must resolve to its address and the address's PTR must be
that name (without [[sources]]: that [delivery] helo resolves). Then the deliverability
pre-flight, with the same servers (5 s at most): each [[dkim]] key as published, the From
domain's DMARC policy and alignment, the SPF of the envelope domain for each [[sources]]
address, an MX for bounces, one-click List-Unsubscribe. Passing checks print a line on
stdout; mismatches are warnings on stderr and leave the exit code alone. A [relay] with a
username is reached as a run would reach it (TLS, then EHLO; nothing is sent, not even the
credentials): one that cannot take them (no AUTH PLAIN or LOGIN, or no TLS) fails the check
(65); one that cannot be reached is a warning (75 with --strict). It also prints the host's
state store the job uses.

  --strict        a mismatch or a secret file open to others fails the check (65); a DNS
                  server that did not answer, 75
  --no-preflight  skip the deliverability pre-flight (FCrDNS is still checked)

Example:
  hayate check examples/demo/job.toml
)";

constexpr char kPreviewHelp[] = R"(hayate preview JOB.toml --row N

Prints the message hayate would send for CSV record N (1 = the first row after the header),
exactly as it goes on the wire before dot-stuffing. The envelope goes to stderr.

Example:
  hayate preview examples/demo/job.toml --row 3
)";

constexpr char kKeygenHelp[] = R"(hayate dkim keygen --domain D --selector S [--algo rsa|ed25519]
                   [--bits N] [--key FILE]

Writes a new DKIM private key (PEM, mode 0600; never overwrites a file) and prints the DNS TXT
record to publish for it. RSA keys are 2048 bits unless --bits says 1024..4096; Ed25519
(RFC 8463) keys are small, but some receivers only check RSA: sign with both.

  --key FILE   where the key goes (default: SELECTOR.DOMAIN.pem here)

Example:
  hayate dkim keygen --domain example.com --selector s2026 --algo ed25519
  # then in the job file:  [[dkim]]  domain = "example.com"  selector = "s2026"
  #                        key = "s2026.example.com.pem"
)";

// The message, and where the help for it is: the command's own when there is one.
int usage_error(const std::string& message, std::string_view command = {}) {
  std::fprintf(stderr, "hayate: %s\nTry 'hayate %.*s%s--help'.\n", message.c_str(),
               static_cast<int>(command.size()), command.data(), command.empty() ? "" : " ");
  return usage;
}

using hayate::campaign::cli::ArgumentResult;
using hayate::campaign::cli::Option;
using hayate::campaign::cli::walk_arguments;
using hayate::campaign::cli::wants_help;
using Arguments = std::span<const std::string_view>;

// An Option's apply that sets `field` to `value` (for flags).
template <typename T>
std::function<ArgumentResult(std::string_view)> set_to(T& field, T value) {
  return [&field, value](std::string_view) {
    field = value;
    return ArgumentResult();
  };
}

// An Option's apply that keeps the option's value in `field`.
std::function<ArgumentResult(std::string_view)> set_text(std::string& field) {
  return [&field](std::string_view value) {
    field = std::string(value);
    return ArgumentResult();
  };
}

// `hayate run JOB.toml [options]`
int run_command(Arguments args) {
  if (wants_help(args)) {
    std::fputs(kRunHelp, stdout);
    return 0;
  }
  using Progress = hayate::campaign::RunOptions::Progress;
  hayate::campaign::RunOptions options;
  const Option known[] = {
      {"--out", "--out needs a directory", set_text(options.out_dir)},
      {"--quiet", {}, set_to(options.quiet, true)},
      {"-q", {}, set_to(options.quiet, true)},
      {"--metrics-listen", "--metrics-listen needs a value",
       [&](std::string_view value) -> ArgumentResult {
         // Checked now, so that a typo is a usage error before anything starts.
         const absl::Status status = hayate::check_metrics_listen_address(value, false);
         if (!status.ok()) return cat("--metrics-listen: ", status.message());
         options.metrics_listen = std::string(value);
         return {};
       }},
      {"--metrics-file", "--metrics-file needs a value", set_text(options.metrics_file)},
      {"--force", {}, set_to(options.force, true)},
      {"--no-journal", {}, set_to(options.no_journal, true)},
      {"--progress", {}, set_to(options.progress, Progress::always)},
      {"--no-progress", {}, set_to(options.progress, Progress::never)},
      {"--test-to", "--test-to needs an address (or several, comma-separated)",
       [&](std::string_view value) -> ArgumentResult {
         for (absl::string_view address :
              absl::StrSplit(absl::string_view(value.data(), value.size()), ',')) {
           if (address.empty()) return "--test-to: an empty address";
           options.test_to.emplace_back(address.data(), address.size());
         }
         return {};
       }},
      {"--rows", "--rows needs row numbers (1,5,9)",
       [&](std::string_view value) -> ArgumentResult {
         for (absl::string_view text :
              absl::StrSplit(absl::string_view(value.data(), value.size()), ',')) {
           std::uint64_t row = 0;
           if (!absl::SimpleAtoi(text, &row) || row == 0) {
             return cat("--rows: '", std::string_view(text.data(), text.size()),
                        "' is not a row number (from 1)");
           }
           options.test_rows.push_back(row);
         }
         return {};
       }},
      {"--mark-subject", {}, set_to(options.test_mark, true)},
  };
  const ArgumentResult error =
      walk_arguments("run", args, known, [&](std::string_view operand) -> ArgumentResult {
        if (!options.job_path.empty()) return "run takes one job file";
        options.job_path = std::string(operand);
        return {};
      });
  if (!error.empty()) return usage_error(error, "run");
  if (options.job_path.empty()) return usage_error("run needs a job file", "run");
  if (options.test_to.empty() && (!options.test_rows.empty() || options.test_mark)) {
    return usage_error("--rows and --mark-subject go with --test-to", "run");
  }
  return hayate::campaign::run_campaign(options);
}

// `hayate check JOB.toml [--strict]`
int check_command(Arguments args) {
  if (wants_help(args)) {
    std::fputs(kCheckHelp, stdout);
    return 0;
  }
  std::string job_path;
  bool strict = false;
  bool preflight = true;
  const Option known[] = {
      {"--strict", {}, set_to(strict, true)},
      {"--no-preflight", {}, set_to(preflight, false)},
  };
  const ArgumentResult error =
      walk_arguments("check", args, known, [&](std::string_view operand) -> ArgumentResult {
        if (!job_path.empty() || operand.empty()) return "check takes one job file";
        job_path = std::string(operand);
        return {};
      });
  if (!error.empty()) return usage_error(error, "check");
  if (job_path.empty()) return usage_error("check takes one job file", "check");
  return hayate::campaign::check_campaign(job_path, strict, preflight);
}

// `hayate preview JOB.toml --row N`
int preview_command(Arguments args) {
  if (wants_help(args)) {
    std::fputs(kPreviewHelp, stdout);
    return 0;
  }
  std::string job_path;
  std::uint64_t row = 0;
  const Option known[] = {
      {"--row", "--row needs a row number",
       [&](std::string_view text) -> ArgumentResult {
         const std::string value(text);
         char* end = nullptr;
         row = std::strtoull(value.c_str(), &end, 10);
         if (end == value.c_str() || *end != '\0' || row == 0) {
           return "--row takes a row number from 1";
         }
         return {};
       }},
  };
  const ArgumentResult error =
      walk_arguments("preview", args, known, [&](std::string_view operand) -> ArgumentResult {
        if (!job_path.empty()) return "preview takes one job file";
        job_path = std::string(operand);
        return {};
      });
  if (!error.empty()) return usage_error(error, "preview");
  if (job_path.empty()) return usage_error("preview needs a job file", "preview");
  if (row == 0) {
    std::fputs("hayate: preview: row 1 (--row N for another)\n", stderr);
    row = 1;
  }
  return hayate::campaign::preview_campaign(job_path, row);
}

// `hayate dkim keygen --domain D --selector S [--algo rsa|ed25519] [--bits N] [--key FILE]`
int dkim_keygen_command(Arguments args) {
  std::string domain, selector, key_path, algorithm = "rsa";
  int bits = 2048;
  const Option known[] = {
      {"--domain", "dkim keygen: --domain needs a value", set_text(domain)},
      {"--selector", "dkim keygen: --selector needs a value", set_text(selector)},
      {"--key", "dkim keygen: --key needs a value", set_text(key_path)},
      {"--algo", "dkim keygen: --algo needs a value", set_text(algorithm)},
      {"--bits", "dkim keygen: --bits needs a value",
       [&](std::string_view text) -> ArgumentResult {
         const std::string value(text);
         char* end = nullptr;
         bits = static_cast<int>(std::strtol(value.c_str(), &end, 10));
         if (end == value.c_str() || *end != '\0') return "--bits takes a number";
         return {};
       }},
  };
  // keygen takes no operands: a stray word is reported as the options are.
  const ArgumentResult error = walk_arguments(
      "dkim keygen", args, known,
      [](std::string_view operand) { return cat("unknown option for dkim keygen: ", operand); });
  if (!error.empty()) return usage_error(error, "dkim keygen");
  if (domain.empty() || selector.empty()) {
    return usage_error("dkim keygen needs --domain and --selector", "dkim keygen");
  }
  if (algorithm != "rsa" && algorithm != "ed25519") {
    return usage_error("--algo is rsa or ed25519", "dkim keygen");
  }
  if (key_path.empty()) key_path = selector + "." + domain + ".pem";
  return hayate::campaign::generate_dkim_key_command(
      algorithm == "rsa" ? hayate::campaign::DkimAlgorithm::rsa_sha256
                         : hayate::campaign::DkimAlgorithm::ed25519_sha256,
      bits, domain, selector, key_path);
}

// `hayate dkim SUBCOMMAND ...`: keygen is the only one.
int dkim_command(Arguments args) {
  if (args.empty() || args[0] != "keygen") {
    if (wants_help(args)) {
      std::fputs(kKeygenHelp, stdout);
      return 0;
    }
    return usage_error("dkim takes a subcommand: keygen", "dkim");
  }
  args = args.subspan(1);
  if (wants_help(args)) {
    std::fputs(kKeygenHelp, stdout);
    return 0;
  }
  return dkim_keygen_command(args);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return usage;
  }
  const std::string_view command = args[0];
  args.erase(args.begin());
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "--version" || command == "version") {
    std::printf("hayate %.*s\n", static_cast<int>(hayate::version.size()), hayate::version.data());
    return 0;
  }
  if (command == "run") return run_command(args);
  if (command == "check") return check_command(args);
  if (command == "preview") return preview_command(args);
  if (command == "dkim") return dkim_command(args);
  if (command == "bounces") return hayate::campaign::cli::bounces_command(args);
  if (command == "suppress") return hayate::campaign::cli::suppress_command(args);
  if (command == "status") return hayate::campaign::cli::status_command(args);
  if (command == "report") return hayate::campaign::cli::report_command(args);
  return usage_error(cat("unknown command: ", command));
}
