// The suppress subcommands: argument parsing, then one call into SuppressionStore each.
#include "campaign/cli/suppress_command.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "campaign/bounce/suppression.h"
#include "campaign/cli/command_line.h"
#include "campaign/config/job.h"
#include "campaign/config/state_dir.h"
#include "campaign/output/delivery_log.h"
#include "campaign/run/exit_codes.h"
#include "engine/files.h"
#include "engine/strings.h"
#include "engine/write_fully.h"

namespace hayate::campaign::cli {

namespace {

constexpr char kSuppressHelp[] = R"(hayate suppress COMMAND [--db PATH | --job JOB.toml]

The suppression list: addresses and whole domains hayate never sends to. `hayate run` skips
them before any connection is made (logged as "suppressed" in deliveries.jsonl). Hard bounces
and complaints land here at once, soft bounces after N within M days (the job's
[suppression] table).

  add ADDRESS|@DOMAIN... [--reason TEXT] [--source S]
                        suppress addresses, or every address of a domain (@example.com);
                        S is manual (default), bounce, complaint, unsubscribe or import.
                        Words after -- are addresses even when they start with '-'
  remove ADDRESS|@DOMAIN...   take them off the list (and forget their soft bounces)
  list [--json]         every entry, sorted; --json: one JSON object a line
  import FILE.csv [--source S]
                        add a CSV: a header with an `address` (or `email`) column and any of
                        reason, source, first_seen, last_seen, count; or one address a line.
                        Bad rows are reported as FILE:LINE and skipped (exit 65), the rest added
  export FILE.csv|-     write every entry as CSV:
                        address,reason,source,first_seen,last_seen,count

  --db PATH      the list (default: the host's state directory's suppression.db, created
                 when missing: $HAYATE_STATE_DIR, /var/lib/hayate as root, else
                 $XDG_STATE_HOME/hayate or ~/.local/state/hayate; the one `hayate run` uses)
  --job JOB.toml the list that job uses ([suppression] path, default the same)

Addresses are stored as hayate sends them: the domain lower-cased and in A-labels, the local
part as written (RFC 5321 2.4: only the receiving server may fold its case).

Examples:
  hayate suppress add alice@example.com --reason "asked by phone"
  hayate suppress add @defunct-company.example --job campaigns/nov/job.toml
  hayate suppress add --reason "asked by mail" -- -dash@example.com
  hayate suppress import unsubscribes.csv --source unsubscribe
  hayate suppress list --json | jq -r 'select(.source == "complaint") | .address'
  hayate suppress export - > suppression-backup.csv

Exit codes: 0 done, 64 usage, 65 a bad address or CSV row, 73 the list cannot be opened or
written, 75 another process held the list too long (try again).
)";

int usage_error(const std::string& message) {
  std::fprintf(stderr, "hayate suppress: %s\nTry 'hayate suppress --help'.\n", message.c_str());
  return exit_code::usage;
}

int status_exit_code(const absl::Status& status) {
  std::fprintf(stderr, "hayate suppress: %s\n", std::string(status.message()).c_str());
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      return exit_code::temporary;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
      return exit_code::data_error;
    case absl::StatusCode::kNotFound:
      return exit_code::data_error;  // an input file
    default:
      return exit_code::cannot_create;
  }
}

struct Options {
  std::string subcommand;
  std::vector<std::string> operands;
  std::string db_path;
  std::string job_path;
  std::string reason;
  std::optional<SuppressionSource> source;
  bool json = false;
};

// A word that starts with '-' but is no option: an address such as -2@example.com is legal
// (RFC 5321 4.1.2: a local part may start with '-'), so say how to give it.
std::string unknown_option(std::string_view arg, const Options& options) {
  const std::string command = options.subcommand.empty() ? "add" : options.subcommand;
  if (arg.find('@') != std::string_view::npos) {
    return cat("'", arg, "' starts with '-', so it reads as an option; give addresses after '--': ",
               "hayate suppress ", command, " -- ", arg);
  }
  return cat("unknown option: ", arg, " (an operand that starts with '-' goes after '--')");
}

// Parses the words after "suppress"; an error message when they make no sense. "--" ends the
// options: every word after it is a subcommand or an operand, whatever it starts with.
std::string parse_options(const std::vector<std::string_view>& args, Options& options) {
  bool operands_only = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (operands_only) {
      if (options.subcommand.empty()) {
        options.subcommand = std::string(arg);
      } else {
        options.operands.emplace_back(arg);
      }
      continue;
    }
    const auto value = [&](std::string& out) -> std::string {
      if (i + 1 == args.size()) return cat(arg, " needs a value");
      out = std::string(args[++i]);
      return {};
    };
    std::string error;
    if (arg == "--db") {
      error = value(options.db_path);
    } else if (arg == "--job") {
      error = value(options.job_path);
    } else if (arg == "--reason") {
      error = value(options.reason);
    } else if (arg == "--source") {
      std::string name;
      error = value(name);
      SuppressionSource source;
      if (error.empty() && !parse_suppression_source(name, source)) {
        error = cat("--source '", name,
                    "' is not one of manual, bounce, complaint, unsubscribe, import");
      }
      options.source = source;
    } else if (arg == "--json") {
      options.json = true;
    } else if (arg == "--") {
      operands_only = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      error = unknown_option(arg, options);
    } else if (options.subcommand.empty()) {
      options.subcommand = std::string(arg);
    } else {
      options.operands.emplace_back(arg);
    }
    if (!error.empty()) return error;
  }
  if (!options.db_path.empty() && !options.job_path.empty()) return "give --db or --job, not both";
  const std::string& command = options.subcommand;
  if (command.empty()) return "which command? add, remove, list, import or export";
  if (command != "add" && command != "remove" && command != "list" && command != "import" &&
      command != "export") {
    return cat("unknown command: ", command);
  }
  if ((command == "add" || command == "remove") && options.operands.empty()) {
    return cat(command, " needs at least one address or @domain");
  }
  if ((command == "import" || command == "export") && options.operands.size() != 1) {
    return cat(command, " takes one file");
  }
  if (command == "list" && !options.operands.empty()) return "list takes no operands";
  if (options.json && command != "list") return "--json is for list";
  if (!options.reason.empty() && command != "add") return "--reason is for add";
  if (options.source && command != "add" && command != "import") {
    return "--source is for add and import";
  }
  return {};
}

std::string json_entry(const SuppressionEntry& entry) {
  std::string line = "{\"address\":\"";
  append_json_escaped(entry.address, line);
  line.append("\",\"reason\":\"");
  append_json_escaped(entry.reason, line);
  append(line, "\",\"source\":\"", suppression_source_name(entry.source), "\",\"first_seen\":\"",
         format_suppression_time(entry.first_seen_unix_s), "\",\"last_seen\":\"",
         format_suppression_time(entry.last_seen_unix_s), "\",\"count\":", entry.count, "}\n");
  return line;
}

// add and import write the list (and may create it); the others only read it.
bool writes_list(const Options& options) {
  return options.subcommand == "add" || options.subcommand == "import";
}

int list_entries(SuppressionStore& store, bool json) {
  std::uint64_t count = 0;
  std::string out = json ? "" : "address\tsource\treason\tfirst_seen\tlast_seen\tcount\n";
  bool write_failed = false;
  const absl::Status status = store.list([&](const SuppressionEntry& entry) {
    ++count;
    if (json) {
      out += json_entry(entry);
    } else {
      // Reasons never hold control bytes (the store replaces them), so a tab-separated line
      // stays one line.
      append(out, entry.address, "\t", suppression_source_name(entry.source), "\t", entry.reason,
             "\t", format_suppression_time(entry.first_seen_unix_s), "\t",
             format_suppression_time(entry.last_seen_unix_s), "\t", entry.count, "\n");
    }
    if (out.size() >= (1 << 16)) {
      write_failed = !write_fully(STDOUT_FILENO, out);
      out.clear();
    }
    return !write_failed;
  });
  if (!status.ok()) return status_exit_code(status);
  if (write_failed || !write_fully(STDOUT_FILENO, out)) {
    if (errno == EPIPE) return exit_code::ok;  // `| head`: the reader has seen enough
    std::fprintf(stderr, "hayate suppress: cannot write the list: %s\n", std::strerror(errno));
    return exit_code::cannot_create;
  }
  std::fprintf(stderr, "hayate suppress: %s in %s\n", counted(count, "entry", "entries").c_str(),
               store.path().c_str());
  return exit_code::ok;
}

int export_entries(SuppressionStore& store, const std::string& target) {
  if (target == "-") {
    absl::StatusOr<std::uint64_t> written = store.export_csv(STDOUT_FILENO);
    return written.ok() ? exit_code::ok : status_exit_code(written.status());
  }
  // Written to a fresh temporary name beside the target and renamed over it: a reader never
  // sees half an export, and a link planted at either name is never written through. The
  // addresses are personal data: the owner's only.
  std::string name;
  absl::StatusOr<Directory> directory = Directory::open_parent(target, name);
  if (!directory.ok()) {
    std::fprintf(stderr, "hayate suppress: cannot write %s: %s\n", target.c_str(),
                 std::string(directory.status().message()).c_str());
    return exit_code::cannot_create;
  }
  absl::Status list_status;  // the list could not be read: its own exit code
  std::uint64_t entries = 0;
  const absl::Status status = directory->replace_file(name, private_file_mode, [&](int fd) {
    absl::StatusOr<std::uint64_t> written = store.export_csv(fd);
    if (!written.ok()) {
      list_status = written.status();
      return written.status();
    }
    entries = *written;
    return absl::OkStatus();
  });
  if (!list_status.ok()) return status_exit_code(list_status);
  if (!status.ok()) {
    std::fprintf(stderr, "hayate suppress: %s\n", std::string(status.message()).c_str());
    return exit_code::cannot_create;
  }
  std::fprintf(stderr, "hayate suppress: exported %llu entries of %s to %s\n",
               static_cast<unsigned long long>(entries), store.path().c_str(), target.c_str());
  return exit_code::ok;
}

int import_entries(SuppressionStore& store, const std::string& csv_path, SuppressionSource source) {
  absl::StatusOr<ImportReport> report = store.import_csv(csv_path, source, time(nullptr));
  if (!report.ok()) return status_exit_code(report.status());
  for (const std::string& error : report->errors) std::fprintf(stderr, "%s\n", error.c_str());
  if (report->error_count > report->errors.size()) {
    std::fprintf(stderr, "... and %llu more bad rows\n",
                 static_cast<unsigned long long>(report->error_count - report->errors.size()));
  }
  std::fprintf(stderr, "hayate suppress: imported %llu of %llu rows into %s (%llu refused)\n",
               static_cast<unsigned long long>(report->imported),
               static_cast<unsigned long long>(report->rows), store.path().c_str(),
               static_cast<unsigned long long>(report->error_count));
  return report->error_count > 0 ? exit_code::data_error : exit_code::ok;
}

int add_or_remove(SuppressionStore& store, const Options& options) {
  // Every operand is checked before anything changes: a typo adds nothing.
  std::vector<std::string> keys;
  for (const std::string& operand : options.operands) {
    std::string key, error;
    if (!normalize_suppression_key(operand, key, error)) {
      std::fprintf(stderr, "hayate suppress: '%s' is not an address or @domain: %s\n",
                   operand.c_str(), error.c_str());
      return exit_code::data_error;
    }
    keys.push_back(std::move(key));
  }
  absl::StatusOr<SuppressionStore::Batch> batch = store.begin_batch();
  if (!batch.ok()) return status_exit_code(batch.status());
  std::vector<std::string> absent;
  const std::int64_t now_s = time(nullptr);
  for (const std::string& key : keys) {
    if (options.subcommand == "add") {
      absl::StatusOr<EventOutcome> outcome = batch->record_event(
          SuppressionEvent{key, options.reason.empty() ? "manual" : options.reason,
                           options.source.value_or(SuppressionSource::manual), true, now_s});
      if (!outcome.ok()) return status_exit_code(outcome.status());
    } else {
      absl::StatusOr<bool> removed = store.remove(key);  // inside the open batch
      if (!removed.ok()) return status_exit_code(removed.status());
      if (!*removed) absent.push_back(key);
    }
  }
  if (absl::Status status = batch->commit(); !status.ok()) return status_exit_code(status);
  for (const std::string& key : absent) {
    std::fprintf(stderr, "hayate suppress: %s was not on the list (%s)\n", key.c_str(),
                 store.path().c_str());
  }
  std::fprintf(stderr, "hayate suppress: %s %zu in %s\n",
               options.subcommand == "add" ? "added" : "removed", keys.size() - absent.size(),
               store.path().c_str());
  return exit_code::ok;
}

}  // namespace

int suppress_command(std::vector<std::string_view> args) {
  for (std::string_view arg : args) {
    if (arg == "--") break;  // operands follow, whatever they look like
    if (arg == "--help" || arg == "-h" || arg == "help") {
      std::fputs(kSuppressHelp, stdout);
      return exit_code::ok;
    }
  }
  Options options;
  const std::vector<std::string_view> words = split_option_values(args, [](std::string_view name) {
    return name == "--db" || name == "--job" || name == "--reason" || name == "--source";
  });
  if (std::string error = parse_options(words, options); !error.empty()) return usage_error(error);

  std::string path = options.db_path;
  SuppressionPolicy policy;
  if (path.empty() && options.job_path.empty()) {
    absl::StatusOr<std::string> host = host_suppression_path(writes_list(options));
    if (!host.ok()) return status_exit_code(host.status());
    path = *host;
  }
  if (!options.job_path.empty()) {
    absl::StatusOr<JobConfig> job = load_job(options.job_path);
    if (!job.ok()) {
      std::fprintf(stderr, "hayate suppress: %s\n", std::string(job.status().message()).c_str());
      return exit_code::data_error;
    }
    path = job->suppression.path;
    std::vector<std::string> notices;
    if (absl::Status status = prepare_state_stores(*job, notices); !status.ok()) {
      return status_exit_code(status);
    }
    for (const std::string& notice : notices) {
      std::fprintf(stderr, "hayate suppress: %s\n", notice.c_str());
    }
    policy =
        SuppressionPolicy{job->suppression.soft_bounce_count, job->suppression.soft_bounce_days};
  }
  // Reading needs an existing list; a typo in --db should not leave an empty one behind.
  absl::StatusOr<std::unique_ptr<SuppressionStore>> store =
      SuppressionStore::open(path, policy, /*create=*/writes_list(options));
  if (!store.ok()) return status_exit_code(store.status());

  const std::string& command = options.subcommand;
  if (command == "list") return list_entries(**store, options.json);
  if (command == "export") return export_entries(**store, options.operands[0]);
  if (command == "import") {
    return import_entries(**store, options.operands[0],
                          options.source.value_or(SuppressionSource::import));
  }
  return add_or_remove(**store, options);
}

}  // namespace hayate::campaign::cli
