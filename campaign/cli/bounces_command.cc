// `hayate bounces classify|ingest PATH...` (see bounces_command.h): mailbox.h reads,
// report_parser.h parses and classifies; classify prints JSON Lines on stdout, ingest records
// what it finds in the suppression list (bounce/ingest.h).
#include "campaign/cli/bounces_command.h"

#include <time.h>

#include <cstdio>
#include <memory>
#include <string>

#include "campaign/bounce/ingest.h"
#include "campaign/bounce/mailbox.h"
#include "campaign/bounce/report_parser.h"
#include "campaign/cli/bounces_listen.h"
#include "campaign/cli/command_line.h"
#include "campaign/config/job.h"
#include "campaign/config/state_dir.h"
#include "campaign/output/delivery_log.h"
#include "campaign/run/exit_codes.h"
#include "engine/strings.h"

namespace hayate::campaign::cli {
namespace {

constexpr char kBouncesHelp[] = R"(hayate bounces classify PATH...
hayate bounces ingest PATH... [--job JOB.toml | --db PATH] [--dry-run]
hayate bounces listen ADDRESS --job JOB.toml   (see hayate bounces listen --help)

classify reads bounce messages and prints, for each recipient a message reports, one JSON line:
  {"file":"new/1.eml","recipient":"a@example.net","status":"5.1.1","reason":"userunknown",
   "hard":true,"kind":"bounce","format":"Postfix",
   "diagnostic":"550 5.1.1 <a@example.net>: user unknown"}
kind is bounce, complaint (ARF), autoreply (vacation), delay (still being retried) or
delivered (an ESP's delivery notification, Amazon SES's); reason
is one of the words of the README's "Bounces" section; hard means suppress at once;
format is the MTA or provider that wrote the bounce (Postfix, Exim, Sendmail, qmail,
Exchange2007, Gmail, AmazonSES...; Sisimai's names), "" when not known; diagnostic is the
server's words the verdict was drawn from (its first 300 bytes). PATH is a
Maildir (cur/ and new/), an mbox file, a message file or a folder of message files; a message
of an mbox is named "FILE:N". Messages that report nothing print nothing. Words after -- are
PATHs even when they start with '-'.

ingest records the same findings in the suppression list: a hard bounce or a complaint
suppresses the address, a soft bounce about the recipient (mailboxfull, suspend...) counts
toward the job's soft_bounce_count; soft failures about the sender or the message (blocked,
spamdetected...), auto-replies and delays are counted, not recorded. It ends with one line:
messages read, findings by kind, what the list gained. Messages are not moved or deleted:
ingesting one twice counts its soft bounce twice.
  --job JOB.toml the list that job uses; with its [verp], tokens of that campaign name the
                 recipient (its row in the job's recipients file as it is now, when the
                 token was made for that row's address); a message to a VERP address whose
                 token is forged, stale (its row changed), another campaign's or of the old
                 format records nothing and is counted as "with a bad VERP token"
  --db PATH      the list (default: the host's state directory's suppression.db, the one
                 `hayate run` and `hayate suppress` use; created when needed)
  --dry-run      record nothing: print each event that would be recorded as a JSON line
                 {"file","recipient","source","reason","hard","status","effect"}, with
                 "reported_recipient" when the VERP token named another address than the
                 report; and each finding refused for its token: effect "bad_token", "token"
                 forged, stale, other_campaign, old_version or unchecked

Exit codes: 0 (also when nothing was found), 64 usage, 65 a bad job file, 66 a PATH cannot be
read (the others are still read), 73 the list cannot be opened or written, 75 another process
held the list too long (try again).

Examples:
  hayate bounces classify ~/Maildir/.bounces
  hayate bounces ingest ~/Maildir/.bounces /var/mail/bounces --job campaigns/nov/job.toml
)";

void print_finding(const std::string& source, const bounce::Finding& finding, std::string& line) {
  line.clear();
  line += R"({"file":")";
  append_json_escaped(source, line);
  line += R"(","recipient":")";
  append_json_escaped(finding.recipient, line);
  line += R"(","status":")";
  line += finding.classification.status.to_string();
  hayate::append(line, R"(","reason":")", bounce::to_string(finding.classification.reason),
                 R"(","hard":)", finding.classification.hard ? "true" : "false", R"(,"kind":")",
                 bounce::to_string(finding.kind), R"(","format":")", finding.format,
                 R"(","diagnostic":")");
  append_json_escaped(finding.diagnostic.substr(0, 300), line);
  line += "\"}\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
}

int classify_command(const std::vector<std::string_view>& paths) {
  int exit_code = exit_code::ok;
  std::string line;
  for (std::string_view path : paths) {
    const absl::Status status =
        bounce::read_mailbox(std::string(path), [&](const bounce::MailboxMessage& message) {
          for (const bounce::Finding& finding : bounce::parse_report(message.bytes)) {
            print_finding(message.source, finding, line);
          }
          return true;
        });
    if (!status.ok()) {
      const std::string_view text(status.message().data(), status.message().size());
      std::fprintf(stderr, "hayate bounces classify: %.*s\n", static_cast<int>(text.size()),
                   text.data());
      exit_code = exit_code::no_input;
    }
  }
  std::fflush(stdout);
  return exit_code;
}

// "12 messages: 9 bounces, 1 complaint, 1 autoreply, 1 delay; 7 suppressed, 1 soft bounce
// counted, 1 already suppressed, 1 not about the recipient, 0 without a recipient"
std::string ingest_summary(const IngestTally& tally, bool dry_run) {
  const auto count = [](std::uint64_t n, std::string_view one, std::string_view many) {
    return cat(n, " ", n == 1 ? one : many);
  };
  std::string line = cat(count(tally.messages, "message", "messages"), ": ",
                         count(tally.bounces, "bounce", "bounces"), ", ",
                         count(tally.complaints, "complaint", "complaints"), ", ",
                         count(tally.autoreplies, "autoreply", "autoreplies"), ", ",
                         count(tally.delays, "delay", "delays"), "; ", tally.suppressed,
                         dry_run ? " would be suppressed, " : " suppressed, ",
                         count(tally.soft_counted, "soft bounce", "soft bounces"),
                         dry_run ? " would be counted, " : " counted, ");
  if (!dry_run) append(line, tally.already_suppressed, " already suppressed, ");
  append(line, tally.not_recipient, " not about the recipient, ", tally.no_recipient,
         " without a recipient");
  if (tally.invalid > 0) append(line, ", ", tally.invalid, " not an address");
  if (const BadTokenCounts& bad = tally.bad_tokens; bad.total() > 0) {
    append(line, ", ", bad.total(), " with a bad VERP token (");
    std::string_view separator;
    for (const auto& [n, what] :
         {std::pair{bad.forged, "forged"}, std::pair{bad.stale, "stale"},
          std::pair{bad.other_campaign, "another campaign's"},
          std::pair{bad.old_version, "old format"}, std::pair{bad.unchecked, "unchecked"}}) {
      if (n == 0) continue;
      append(line, separator, n, " ", what);
      separator = ", ";
    }
    line += ')';
  }
  return line;
}

void print_event(std::string_view source, const bounce::Finding& finding,
                 const IngestDecision& decision, std::string& line) {
  line.clear();
  line += R"({"file":")";
  append_json_escaped(source, line);
  line += R"(","recipient":")";
  append_json_escaped(finding.recipient, line);
  append(line, R"(","source":")", suppression_source_name(decision.source), R"(","reason":")");
  append_json_escaped(decision.reason, line);
  append(line, R"(","hard":)", decision.hard ? "true" : "false", R"(,"status":")",
         finding.classification.status.to_string(), R"(","effect":")", to_string(decision.effect),
         '"');
  if (!finding.reported_recipient.empty()) {
    line += R"(,"reported_recipient":")";
    append_json_escaped(finding.reported_recipient, line);
    line += '"';
  }
  if (bounce::is_refused(finding.token)) {
    append(line, R"(,"token":")", to_string(finding.token), '"');
  }
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
}

int store_exit_code(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable          ? exit_code::temporary
         : status.code() == absl::StatusCode::kFailedPrecondition ? exit_code::data_error
                                                                  : exit_code::cannot_create;
}

struct IngestOptions {
  std::vector<std::string> paths;
  std::string job_path;
  std::string db_path;
  bool dry_run = false;
};

int ingest_command(const IngestOptions& options) {
  std::string store_path = options.db_path;
  if (store_path.empty() && options.job_path.empty()) {
    absl::StatusOr<std::string> host = host_suppression_path(!options.dry_run);
    if (!host.ok()) {
      std::fprintf(stderr, "hayate bounces ingest: %s\n",
                   std::string(host.status().message()).c_str());
      return exit_code::cannot_create;
    }
    store_path = *host;
  }
  SuppressionPolicy policy;
  std::unique_ptr<VerpRecipients> verp;
  if (!options.job_path.empty()) {
    absl::StatusOr<JobConfig> job = load_job(options.job_path);
    if (!job.ok()) {
      std::fprintf(stderr, "hayate bounces ingest: %s\n",
                   std::string(job.status().message()).c_str());
      return exit_code::data_error;
    }
    store_path = job->suppression.path;
    std::vector<std::string> notices;
    if (absl::Status status = prepare_state_stores(*job, notices); !status.ok()) {
      std::fprintf(stderr, "hayate bounces ingest: %s\n", std::string(status.message()).c_str());
      return exit_code::cannot_create;
    }
    for (const std::string& notice : notices) {
      std::fprintf(stderr, "hayate bounces ingest: %s\n", notice.c_str());
    }
    policy =
        SuppressionPolicy{job->suppression.soft_bounce_count, job->suppression.soft_bounce_days};
    if (job->verp) {
      absl::StatusOr<std::unique_ptr<VerpRecipients>> opened =
          VerpRecipients::open(options.job_path);
      if (!opened.ok()) {
        std::fprintf(stderr, "hayate bounces ingest: %s\n",
                     std::string(opened.status().message()).c_str());
        return exit_code::data_error;
      }
      verp = std::move(*opened);
    }
  }
  std::string line;
  BounceIngester::Printer printer;
  if (options.dry_run) {
    printer = [&line](std::string_view source, const bounce::Finding& finding,
                      const IngestDecision& decision) {
      print_event(source, finding, decision, line);
    };
  }
  BounceIngester ingester(store_path, policy, verp.get(), printer);
  int code = exit_code::ok;
  absl::Status store_status;
  for (const std::string& path : options.paths) {
    const absl::Status status =
        bounce::read_mailbox(path, [&](const bounce::MailboxMessage& message) {
          store_status = ingester.ingest(message.source, message.bytes, time(nullptr));
          return store_status.ok();
        });
    if (!store_status.ok()) break;
    if (!status.ok()) {
      std::fprintf(stderr, "hayate bounces ingest: %s\n", std::string(status.message()).c_str());
      code = exit_code::no_input;
    }
  }
  if (store_status.ok()) store_status = ingester.finish();
  if (!store_status.ok()) {
    std::fprintf(stderr,
                 "hayate bounces ingest: %s; what was read after the last commit is not "
                 "recorded: run it again\n",
                 std::string(store_status.message()).c_str());
    return store_exit_code(store_status);
  }
  if (verp && !verp->status().ok()) {
    std::fprintf(stderr,
                 "hayate bounces ingest: VERP tokens could not be mapped to recipients: %s\n",
                 std::string(verp->status().message()).c_str());
    code = exit_code::no_input;
  }
  std::fflush(stdout);
  const std::string summary =
      cat("hayate bounces ingest: ", ingest_summary(ingester.tally(), options.dry_run),
          options.dry_run ? "" : cat(" (", store_path, ")"), "\n");
  std::fputs(summary.c_str(), options.dry_run ? stderr : stdout);
  return code;
}

// Parses the words after "ingest"; an error message when they make no sense.
std::string parse_ingest(const std::vector<std::string_view>& args, IngestOptions& options) {
  bool operands_only = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (!operands_only && (arg == "--job" || arg == "--db")) {
      if (i + 1 == args.size()) return cat(arg, " needs a value");
      (arg == "--job" ? options.job_path : options.db_path) = std::string(args[++i]);
    } else if (!operands_only && arg == "--dry-run") {
      options.dry_run = true;
    } else if (!operands_only && arg == "--") {
      operands_only = true;
    } else if (!operands_only && arg.size() > 1 && arg[0] == '-') {
      return cat("unknown option ", arg, " (a PATH that starts with '-' goes after '--')");
    } else {
      options.paths.emplace_back(arg);
    }
  }
  if (!options.job_path.empty() && !options.db_path.empty()) return "give --job or --db, not both";
  if (options.paths.empty()) return "no PATH given";
  return {};
}

}  // namespace

int bounces_command(const std::vector<std::string_view>& args) {
  for (std::string_view arg : args) {
    if (arg == "--") break;  // operands follow, whatever they look like
    if ((arg == "--help" || arg == "-h") && (args.empty() || args[0] != "listen")) {
      std::fputs(kBouncesHelp, stdout);
      return exit_code::ok;
    }
  }
  if (!args.empty() && args[0] == "listen") {
    return bounces_listen_command(std::vector<std::string_view>(args.begin() + 1, args.end()));
  }
  if (!args.empty() && args[0] == "ingest") {
    IngestOptions options;
    const std::string error =
        parse_ingest(split_option_values(
                         std::span<const std::string_view>(args).subspan(1),
                         [](std::string_view name) { return name == "--job" || name == "--db"; }),
                     options);
    if (!error.empty()) {
      std::fprintf(stderr, "hayate bounces ingest: %s\nTry 'hayate bounces --help'.\n",
                   error.c_str());
      return exit_code::usage;
    }
    return ingest_command(options);
  }
  if (args.empty() || args[0] != "classify") {
    std::fputs(
        "hayate bounces: expected 'classify PATH...', 'ingest PATH...' or 'listen ADDRESS'\n"
        "Try 'hayate bounces --help'.\n",
        stderr);
    return exit_code::usage;
  }
  std::vector<std::string_view> paths;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") {
      paths.insert(paths.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    if (!args[i].empty() && args[i][0] == '-') {
      std::fprintf(stderr,
                   "hayate bounces classify: unknown option %.*s (a PATH that starts with '-' "
                   "goes after '--')\nTry 'hayate bounces --help'.\n",
                   static_cast<int>(args[i].size()), args[i].data());
      return exit_code::usage;
    }
    paths.push_back(args[i]);
  }
  if (paths.empty()) {
    std::fputs("hayate bounces classify: no PATH given\nTry 'hayate bounces --help'.\n", stderr);
    return exit_code::usage;
  }
  return classify_command(paths);
}

}  // namespace hayate::campaign::cli
