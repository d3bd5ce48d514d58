// `hayate bounces listen ADDRESS --job JOB.toml`: an inbound SMTP server (the engine's, on
// io_uring) that takes mail only for the job's VERP addresses and records each bounce or
// complaint in the job's suppression list before it answers 250.
#include "campaign/cli/bounces_listen.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "campaign/bounce/ingest.h"
#include "campaign/cli/command_line.h"
#include "campaign/config/job.h"
#include "campaign/run/exit_codes.h"
#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/smtp/server/server.h"
#include "engine/strings.h"

namespace hayate::campaign::cli {

namespace {

constexpr char kListenHelp[] = R"(hayate bounces listen ADDRESS --job JOB.toml [options]

Receives bounces and complaints by SMTP: mail for the job's VERP addresses ([verp] prefix and
domain) whose token verifies is accepted, one address a message (a second gets 452 4.5.3),
parsed (DSN, ARF, the text bounces of common MTAs) and recorded in the job's suppression list
before the 250 is given (a list that cannot be written gets 451, so the sender tries again);
mail for any other address, a forged or stale token included, is refused with 550 5.1.1. Runs
until SIGTERM or SIGINT, then prints what it recorded.
  ADDRESS              where to listen: 127.0.0.1:2526, [::1]:2526 (loopback unless
                       --allow-non-loopback; the MX of the VERP domain points here)
  --job JOB.toml       the campaign: its [verp] secret, domain and recipients, its list
  --domain DOMAIN      the VERP domain (default: the job's [verp] domain)
  --allow-non-loopback listen on a public address
  --exit-after N       stop after N messages were accepted (tests)

Limits (anyone may connect, and bounces are small): beyond a connection cap a client gets 421
and is closed; past a deadline, 421 4.4.2 and closed, however many bytes it trickles.
  --message-bytes-max N       the largest message, announced in SIZE (default 4194304);
                              larger: 552
  --connections-max N         connections at once (default 128)
  --connections-per-ip-max N  connections at once from one address (default 16)
  --session-timeout DURATION  from connect to close (default 10m)
  --command-timeout DURATION  for each command, from the end of the one before (default 1m)
  --data-timeout DURATION     for a message, from 354 to the final dot (default 5m)
DURATION is "500ms", "30s", "5m" or a number of seconds.

Example:
  hayate bounces listen 127.0.0.1:2526 --job campaigns/nov/job.toml
)";

struct ListenOptions {
  std::string address;
  std::string job_path;
  std::string domain;
  bool allow_non_loopback = false;
  std::uint64_t exit_after = 0;
  std::uint64_t message_bytes_max = limits::bounce_listen_message_bytes_max;
  std::uint64_t connections_max = limits::bounce_listen_connections_max;
  std::uint64_t connections_per_ip_max = limits::bounce_listen_connections_per_ip_max;
  std::uint64_t session_timeout_ms = limits::bounce_listen_session_timeout_ms;
  std::uint64_t command_timeout_ms = limits::bounce_listen_command_timeout_ms;
  std::uint64_t data_timeout_ms = limits::bounce_listen_data_timeout_ms;
};

// A number from 1 to `max`, or why not.
std::string parse_count(std::string_view option, std::string_view text, std::uint64_t max,
                        std::uint64_t& out) {
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || value > max) {
      return cat(option, " takes a number from 1 to ", max, ", not '", text, "'");
    }
    value = value * 10 + std::uint64_t(c - '0');
  }
  if (text.empty() || value == 0 || value > max) {
    return cat(option, " takes a number from 1 to ", max, ", not '", text, "'");
  }
  out = value;
  return {};
}

// A duration from 1 ms to a day (timers count milliseconds in 32 bits), or why not.
std::string parse_timeout(std::string_view option, std::string_view text, std::uint64_t& out) {
  std::uint64_t value_ms = 0;
  if (!parse_duration_ms(text, value_ms) || value_ms == 0 || value_ms > 86'400'000) {
    return cat(option, " takes a duration from 1ms to 1d (\"30s\", \"5m\"), not '", text, "'");
  }
  out = value_ms;
  return {};
}

std::string parse_listen(const std::vector<std::string_view>& args, ListenOptions& options) {
  struct Counted {
    std::string_view option;
    std::uint64_t max;
    std::uint64_t* out;
  };
  const Counted counts[] = {
      {"--exit-after", std::numeric_limits<std::uint32_t>::max(), &options.exit_after},
      {"--message-bytes-max", 1ull << 30, &options.message_bytes_max},
      {"--connections-max", limits::server_connections_per_thread_max, &options.connections_max},
      {"--connections-per-ip-max", limits::server_connections_per_thread_max,
       &options.connections_per_ip_max},
  };
  const std::pair<std::string_view, std::uint64_t*> timeouts[] = {
      {"--session-timeout", &options.session_timeout_ms},
      {"--command-timeout", &options.command_timeout_ms},
      {"--data-timeout", &options.data_timeout_ms},
  };
  bool operands_only = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    const auto count = std::find_if(std::begin(counts), std::end(counts),
                                    [&](const Counted& known) { return known.option == arg; });
    const auto timeout = std::find_if(std::begin(timeouts), std::end(timeouts),
                                      [&](const auto& known) { return known.first == arg; });
    const bool takes_value = arg == "--job" || arg == "--domain" || count != std::end(counts) ||
                             timeout != std::end(timeouts);
    if (!operands_only && takes_value) {
      if (i + 1 == args.size()) return cat(arg, " needs a value");
      const std::string_view value = args[++i];
      std::string error;
      if (arg == "--job") {
        options.job_path = std::string(value);
      } else if (arg == "--domain") {
        options.domain = std::string(value);
      } else if (count != std::end(counts)) {
        error = parse_count(arg, value, count->max, *count->out);
      } else {
        error = parse_timeout(arg, value, *timeout->second);
      }
      if (!error.empty()) return error;
    } else if (!operands_only && arg == "--allow-non-loopback") {
      options.allow_non_loopback = true;
    } else if (!operands_only && arg == "--") {
      operands_only = true;
    } else if (!operands_only && arg.size() > 1 && arg[0] == '-') {
      return cat("unknown option ", arg, " (an ADDRESS that starts with '-' goes after '--')");
    } else if (options.address.empty()) {
      options.address = std::string(arg);
    } else {
      return cat("one ADDRESS only ('", arg, "' is a second)");
    }
  }
  if (options.address.empty()) return "no ADDRESS given";
  if (options.job_path.empty()) return "--job is needed (its VERP secret tells our addresses)";
  if (options.connections_per_ip_max > options.connections_max) {
    return "--connections-per-ip-max cannot be above --connections-max";
  }
  return {};
}

// RCPT: only this campaign's VERP addresses, at the VERP domain, whose token verifies (the
// check `bounces ingest` makes too): a forged or foreign token is refused before any data.
// One such address a transaction: a message is about the one address its token names, so a
// second is deferred (RFC 5321 4.5.3.1.10: 452, the client sends it in another transaction)
// rather than have one report stand for two recipients.
class VerpPolicy final : public smtp::server::Policy {
 public:
  VerpPolicy(std::string domain, VerpRecipients& verp) : domain_(std::move(domain)), verp_(verp) {}

  smtp::server::Verdict check_recipient(const smtp::server::Envelope& envelope,
                                        std::string_view recipient) override {
    const std::size_t at = recipient.rfind('@');
    if (at == std::string_view::npos || !equals_ignoring_case(recipient.substr(at + 1), domain_) ||
        verp_.check(recipient).check != bounce::TokenCheck::valid) {
      return smtp::server::Verdict::reject(550, "5.1.1", "no such bounce address here");
    }
    if (!envelope.recipients.empty()) {
      return smtp::server::Verdict::reject(452, "4.5.3",
                                           "one bounce address per message; send it again");
    }
    return smtp::server::Verdict::accept();
  }

 private:
  std::string domain_;
  VerpRecipients& verp_;
};

// DATA: parsed and recorded (committed) before the 250.
class IngestStore final : public smtp::server::MessageStore {
 public:
  explicit IngestStore(BounceIngester& ingester) : ingester_(ingester) {}

  smtp::server::Verdict store(const smtp::server::ReceivedMessage& message) override {
    // The envelope recipient (our VERP address) as an MDA would add it: the parser finds the
    // token there even when the bounce's own headers name another address.
    HAYATE_ASSERT(message.recipients.size() == 1);  // VerpPolicy takes one a transaction
    message_.clear();
    append(message_, "Delivered-To: ", message.recipients.front(), "\n", message.content);
    absl::Status status =
        ingester_.ingest(cat("smtp:", message.queue_id), message_, std::time(nullptr));
    if (status.ok()) status = ingester_.finish();
    if (!status.ok()) {
      std::fprintf(stderr, "hayate bounces listen: %s\n", std::string(status.message()).c_str());
      return smtp::server::Verdict::reject(451, "4.3.0",
                                           "cannot record the message now; try again later");
    }
    return smtp::server::Verdict::accept();
  }

 private:
  BounceIngester& ingester_;
  std::string message_;
};

class ListenHooks final : public smtp::server::ServerHooks {
 public:
  ListenHooks(VerpPolicy& policy, IngestStore& store) : policy_(policy), store_(store) {}
  absl::StatusOr<ThreadHooks> start_thread(std::uint32_t) override {
    return ThreadHooks{&policy_, &store_};
  }

 private:
  VerpPolicy& policy_;
  IngestStore& store_;
};

}  // namespace

int bounces_listen_command(const std::vector<std::string_view>& args) {
  for (std::string_view arg : args) {
    if (arg == "--") break;  // operands follow, whatever they look like
    if (arg == "--help" || arg == "-h") {
      std::fputs(kListenHelp, stdout);
      return exit_code::ok;
    }
  }
  ListenOptions options;
  // Every option of listen takes a value but this flag.
  const std::vector<std::string_view> words = split_option_values(
      args, [](std::string_view name) { return name != "--allow-non-loopback"; });
  if (const std::string error = parse_listen(words, options); !error.empty()) {
    std::fprintf(stderr, "hayate bounces listen: %s\nTry 'hayate bounces listen --help'.\n",
                 error.c_str());
    return exit_code::usage;
  }
  absl::StatusOr<JobConfig> job = load_job(options.job_path);
  if (!job.ok()) {
    std::fprintf(stderr, "hayate bounces listen: %s\n",
                 std::string(job.status().message()).c_str());
    return exit_code::data_error;
  }
  if (!job->verp) {
    std::fprintf(stderr,
                 "hayate bounces listen: %s has no [verp]: without VERP addresses there is "
                 "nothing to listen for\n",
                 options.job_path.c_str());
    return exit_code::data_error;
  }
  const std::string domain = options.domain.empty() ? job->verp->domain : options.domain;
  absl::StatusOr<std::unique_ptr<VerpRecipients>> verp = VerpRecipients::open(options.job_path);
  if (!verp.ok()) {
    std::fprintf(stderr, "hayate bounces listen: %s\n",
                 std::string(verp.status().message()).c_str());
    return exit_code::data_error;
  }
  absl::StatusOr<smtp::server::ListenAddress> address =
      smtp::server::parse_listen_address(options.address, options.allow_non_loopback);
  if (!address.ok()) {
    std::fprintf(stderr, "hayate bounces listen: %s\n",
                 std::string(address.status().message()).c_str());
    return exit_code::usage;
  }
  smtp::server::ServerConfig config;
  config.listen = *address;
  config.threads = 1;  // one SQLite writer
  config.stop_on_signals = true;
  config.exit_after_messages = options.exit_after;
  config.log_name = "hayate bounces listen";
  config.session.hostname = domain;
  config.session.message_bytes_max = options.message_bytes_max;
  // Room for the largest message twice over (a reservation runs a read ahead of the content).
  config.session.content_bytes_budget = std::max<std::uint64_t>(
      limits::bounce_listen_content_bytes_budget, 2 * options.message_bytes_max);
  config.connections_max = std::uint32_t(options.connections_max);
  config.connections_per_ip_max = std::uint32_t(options.connections_per_ip_max);
  config.session_timeout_ms = std::uint32_t(options.session_timeout_ms);
  config.command_timeout_ms = std::uint32_t(options.command_timeout_ms);
  config.data_timeout_ms = std::uint32_t(options.data_timeout_ms);
  config.output_bytes_max = limits::bounce_listen_output_bytes_max;
  smtp::server::block_stop_signals();
  absl::StatusOr<std::unique_ptr<smtp::server::Server>> server = smtp::server::Server::open(config);
  if (!server.ok()) {
    std::fprintf(stderr, "hayate bounces listen: %s\n",
                 std::string(server.status().message()).c_str());
    return exit_code::cannot_create;
  }
  std::vector<std::string> notices;
  if (absl::Status status = prepare_state_stores(*job, notices); !status.ok()) {
    std::fprintf(stderr, "hayate bounces listen: %s\n", std::string(status.message()).c_str());
    return exit_code::cannot_create;
  }
  for (const std::string& notice : notices) {
    std::fprintf(stderr, "hayate bounces listen: %s\n", notice.c_str());
  }
  BounceIngester ingester(
      job->suppression.path,
      SuppressionPolicy{job->suppression.soft_bounce_count, job->suppression.soft_bounce_days},
      verp->get());
  VerpPolicy policy(domain, **verp);
  IngestStore store(ingester);
  ListenHooks hooks(policy, store);
  std::fprintf(stderr, "hayate bounces listen: on %s for *@%s, recording in %s\n",
               (*server)->address().to_string().c_str(), domain.c_str(),
               job->suppression.path.c_str());
  const absl::Status status = (*server)->run(hooks);
  const IngestTally& tally = ingester.tally();
  std::printf(
      "hayate bounces listen: %llu messages: %llu bounces, %llu complaints, %llu autoreplies, "
      "%llu delays; %llu suppressed, %llu soft bounces counted\n",
      static_cast<unsigned long long>(tally.messages),
      static_cast<unsigned long long>(tally.bounces),
      static_cast<unsigned long long>(tally.complaints),
      static_cast<unsigned long long>(tally.autoreplies),
      static_cast<unsigned long long>(tally.delays),
      static_cast<unsigned long long>(tally.suppressed),
      static_cast<unsigned long long>(tally.soft_counted));
  if (!status.ok()) {
    std::fprintf(stderr, "hayate bounces listen: %s\n", std::string(status.message()).c_str());
    return exit_code::software;
  }
  return exit_code::ok;
}

}  // namespace hayate::campaign::cli
