// `hayate bounces classify PATH...` (see bounces_command.h): mailbox.h reads, report_parser.h
// parses and classifies, this prints JSON Lines on stdout.
#include "campaign/cli/bounces_command.h"

#include <cstdio>
#include <string>

#include "campaign/bounce/mailbox.h"
#include "campaign/bounce/report_parser.h"
#include "campaign/delivery_log.h"
#include "campaign/exit_codes.h"
#include "engine/strings.h"

namespace hayate::campaign::cli {
namespace {

constexpr char kBouncesHelp[] = R"(hayate bounces classify PATH...

Reads bounce messages and prints, for each recipient a message reports, one JSON line:
  {"file":"new/1.eml","recipient":"a@example.net","status":"5.1.1","reason":"userunknown",
   "hard":true,"kind":"bounce"}
kind is bounce, complaint (ARF), autoreply (vacation) or delay (still being retried); reason
is one of the words of the README's "Bounces" section; hard means suppress at once. PATH is a
Maildir (cur/ and new/), an mbox file, a message file or a folder of message files; a message
of an mbox is named "FILE:N". Messages that report nothing print nothing.

Exit codes: 0 (also when nothing was found), 64 usage, 66 a PATH cannot be read (the others
are still read).

Example:
  hayate bounces classify ~/Maildir/.bounces
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
                 bounce::to_string(finding.kind), "\"}\n");
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

}  // namespace

int bounces_command(const std::vector<std::string_view>& args) {
  for (std::string_view arg : args) {
    if (arg == "--help" || arg == "-h") {
      std::fputs(kBouncesHelp, stdout);
      return exit_code::ok;
    }
  }
  if (args.empty() || args[0] != "classify") {
    std::fputs("hayate bounces: expected 'classify PATH...'\nTry 'hayate bounces --help'.\n",
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
                   "hayate bounces classify: unknown option %.*s\nTry 'hayate bounces --help'.\n",
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
