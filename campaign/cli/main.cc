// The hayate command: run, check and preview a campaign described by a job file.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/cli/suppress_command.h"
#include "campaign/run/exit_codes.h"
#include "campaign/message/dkim.h"
#include "campaign/run/runner.h"
#include "campaign/cli/bounces_command.h"

namespace {

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
  hayate --version
  hayate COMMAND --help

Example:
  hayate-sink --listen 127.0.0.1:2525 &
  hayate run examples/demo/job.toml --out /tmp/demo.out

Outputs (in --out DIR, default ./<campaign id>.out/): deliveries.jsonl, rejects.csv,
summary.json. Exit codes: 0 done, 64 usage, 65 bad job or data (nothing sent),
69 nothing reachable, 73 cannot write output, 75 some recipients still deferred.
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

Example:
  hayate run examples/demo/job.toml --out /tmp/demo.out
)";

constexpr char kCheckHelp[] = R"(hayate check JOB.toml [--strict]

Loads the job file, compiles the templates, reads every recipient row and reports what would
be rejected. Sends nothing. Exit 0 when all is well, 65 when the job or any row is bad.

Then checks forward-confirmed reverse DNS with the job's [dns] servers (5 s at most): the
ehlo name of each [[sources]] entry must resolve to its address and the address's PTR must be
that name (without [[sources]]: that [delivery] helo resolves). Mismatches are warnings on
stderr and leave the exit code alone.

  --strict    a mismatch fails the check (65); a DNS server that did not answer, 75

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

int usage_error(const char* message) {
  std::fprintf(stderr, "hayate: %s\nTry 'hayate --help'.\n", message);
  return usage;
}

bool wants_help(const std::vector<std::string_view>& args) {
  for (std::string_view arg : args) {
    if (arg == "--help" || arg == "-h") return true;
  }
  return false;
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
    std::puts("hayate 0.1.0");
    return 0;
  }
  if (command == "run") {
    if (wants_help(args)) {
      std::fputs(kRunHelp, stdout);
      return 0;
    }
    hayate::campaign::RunOptions options;
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--out") {
        if (i + 1 == args.size()) return usage_error("--out needs a directory");
        options.out_dir = std::string(args[++i]);
      } else if (args[i] == "--quiet" || args[i] == "-q") {
        options.quiet = true;
      } else if (args[i] == "--metrics-listen" || args[i] == "--metrics-file") {
        if (i + 1 == args.size()) {
          return usage_error((std::string(args[i]) + " needs a value").c_str());
        }
        (args[i] == "--metrics-listen" ? options.metrics_listen : options.metrics_file) =
            std::string(args[i + 1]);
        ++i;
      } else if (args[i] == "--force") {
        options.force = true;
      } else if (args[i] == "--no-journal") {
        options.no_journal = true;
      } else if (args[i] == "--progress") {
        options.progress = hayate::campaign::RunOptions::Progress::always;
      } else if (args[i] == "--no-progress") {
        options.progress = hayate::campaign::RunOptions::Progress::never;
      } else if (!args[i].empty() && args[i][0] == '-') {
        return usage_error(("unknown option for run: " + std::string(args[i])).c_str());
      } else if (options.job_path.empty()) {
        options.job_path = std::string(args[i]);
      } else {
        return usage_error("run takes one job file");
      }
    }
    if (options.job_path.empty()) return usage_error("run needs a job file");
    return hayate::campaign::run_campaign(options);
  }
  if (command == "check") {
    if (wants_help(args)) {
      std::fputs(kCheckHelp, stdout);
      return 0;
    }
    std::string job_path;
    bool strict = false;
    for (std::string_view arg : args) {
      if (arg == "--strict") {
        strict = true;
      } else if (!arg.empty() && arg[0] == '-') {
        return usage_error(("unknown option for check: " + std::string(arg)).c_str());
      } else if (job_path.empty() && !arg.empty()) {
        job_path = std::string(arg);
      } else {
        return usage_error("check takes one job file");
      }
    }
    if (job_path.empty()) return usage_error("check takes one job file");
    return hayate::campaign::check_campaign(job_path, strict);
  }
  if (command == "preview") {
    if (wants_help(args)) {
      std::fputs(kPreviewHelp, stdout);
      return 0;
    }
    std::string job_path;
    std::uint64_t row = 0;
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--row") {
        if (i + 1 == args.size()) return usage_error("--row needs a row number");
        const std::string value(args[++i]);
        char* end = nullptr;
        row = std::strtoull(value.c_str(), &end, 10);
        if (end == value.c_str() || *end != '\0' || row == 0) {
          return usage_error("--row takes a row number from 1");
        }
      } else if (!args[i].empty() && args[i][0] == '-') {
        return usage_error(("unknown option for preview: " + std::string(args[i])).c_str());
      } else if (job_path.empty()) {
        job_path = std::string(args[i]);
      } else {
        return usage_error("preview takes one job file");
      }
    }
    if (job_path.empty()) return usage_error("preview needs a job file");
    if (row == 0) row = 1;
    return hayate::campaign::preview_campaign(job_path, row);
  }
  if (command == "bounces") return hayate::campaign::cli::bounces_command(args);
  if (command == "suppress") return hayate::campaign::cli::suppress_command(args);
  if (command == "dkim") {
    if (args.empty() || args[0] != "keygen") {
      if (wants_help(args)) {
        std::fputs(kKeygenHelp, stdout);
        return 0;
      }
      return usage_error("dkim takes a subcommand: keygen");
    }
    args.erase(args.begin());
    if (wants_help(args)) {
      std::fputs(kKeygenHelp, stdout);
      return 0;
    }
    std::string domain, selector, key_path, algorithm = "rsa";
    int bits = 2048;
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string_view option = args[i];
      if (i + 1 == args.size()) {
        return usage_error(("dkim keygen: " + std::string(option) + " needs a value").c_str());
      }
      const std::string value(args[++i]);
      if (option == "--domain") {
        domain = value;
      } else if (option == "--selector") {
        selector = value;
      } else if (option == "--key") {
        key_path = value;
      } else if (option == "--algo") {
        algorithm = value;
      } else if (option == "--bits") {
        char* end = nullptr;
        bits = static_cast<int>(std::strtol(value.c_str(), &end, 10));
        if (end == value.c_str() || *end != '\0') return usage_error("--bits takes a number");
      } else {
        return usage_error(("unknown option for dkim keygen: " + std::string(option)).c_str());
      }
    }
    if (domain.empty() || selector.empty()) {
      return usage_error("dkim keygen needs --domain and --selector");
    }
    if (algorithm != "rsa" && algorithm != "ed25519") {
      return usage_error("--algo is rsa or ed25519");
    }
    if (key_path.empty()) key_path = selector + "." + domain + ".pem";
    return hayate::campaign::generate_dkim_key_command(
        algorithm == "rsa" ? hayate::campaign::DkimAlgorithm::rsa_sha256
                           : hayate::campaign::DkimAlgorithm::ed25519_sha256,
        bits, domain, selector, key_path);
  }
  return usage_error(("unknown command: " + std::string(command)).c_str());
}
