// `hayate bounces listen ADDRESS --job JOB.toml`: an inbound SMTP server (the engine's, on
// io_uring) that takes mail only for the job's VERP addresses and records each bounce or
// complaint in the job's suppression list before it answers 250.
#include "campaign/cli/bounces_listen.h"

#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "campaign/bounce/ingest.h"
#include "campaign/config/job.h"
#include "campaign/run/exit_codes.h"
#include "engine/assert.h"
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

Example:
  hayate bounces listen 127.0.0.1:2526 --job campaigns/nov/job.toml
)";

struct ListenOptions {
  std::string address;
  std::string job_path;
  std::string domain;
  bool allow_non_loopback = false;
  std::uint64_t exit_after = 0;
};

std::string parse_listen(const std::vector<std::string_view>& args, ListenOptions& options) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--job" || arg == "--domain" || arg == "--exit-after") {
      if (i + 1 == args.size()) return cat(arg, " needs a value");
      const std::string_view value = args[++i];
      if (arg == "--job") {
        options.job_path = std::string(value);
      } else if (arg == "--domain") {
        options.domain = std::string(value);
      } else {
        try {
          options.exit_after = std::stoull(std::string(value));
        } catch (...) {
          return cat("--exit-after takes a number, not '", value, "'");
        }
      }
    } else if (arg == "--allow-non-loopback") {
      options.allow_non_loopback = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return cat("unknown option ", arg);
    } else if (options.address.empty()) {
      options.address = std::string(arg);
    } else {
      return cat("one ADDRESS only ('", arg, "' is a second)");
    }
  }
  if (options.address.empty()) return "no ADDRESS given";
  if (options.job_path.empty()) return "--job is needed (its VERP secret tells our addresses)";
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
    if (arg == "--help" || arg == "-h") {
      std::fputs(kListenHelp, stdout);
      return exit_code::ok;
    }
  }
  ListenOptions options;
  if (const std::string error = parse_listen(args, options); !error.empty()) {
    std::fprintf(stderr, "hayate bounces listen: %s\nTry 'hayate bounces listen --help'.\n",
                 error.c_str());
    return exit_code::usage;
  }
  absl::StatusOr<JobConfig> job = load_job(options.job_path);
  if (!job.ok()) {
    std::fprintf(stderr, "hayate bounces listen: %s\n", std::string(job.status().message()).c_str());
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
    std::fprintf(stderr, "hayate bounces listen: %s\n", std::string(verp.status().message()).c_str());
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
  smtp::server::block_stop_signals();
  absl::StatusOr<std::unique_ptr<smtp::server::Server>> server =
      smtp::server::Server::open(config);
  if (!server.ok()) {
    std::fprintf(stderr, "hayate bounces listen: %s\n",
                 std::string(server.status().message()).c_str());
    return exit_code::cannot_create;
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
