// hayate-sink: a fast SMTP sink for tests, demos and benchmarks, with fault modes chosen by
// recipient address. Command line, start-up, the hooks it gives the engine's SMTP server
// (engine/smtp/server) and shutdown. Exit codes follow sysexits(3).
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/files.h"
#include "engine/limits.h"
#include "engine/smtp/server/listen_address.h"
#include "engine/smtp/server/server.h"
#include "engine/version.h"
#include "tools/sink/absl_views.h"
#include "tools/sink/fault.h"
#include "tools/sink/flaky_set.h"
#include "tools/sink/maildir.h"
#include "tools/sink/stats.h"

namespace hayate::sink {
namespace {

using smtp::server::ListenAddress;
using smtp::server::parse_listen_address;
using smtp::server::ServerConfig;

constexpr std::uint32_t sink_threads_max = limits::server_threads_max;
constexpr std::uint32_t stats_interval_ms = 1000;

constexpr int exit_ok = 0;
constexpr int exit_usage = 64;        // EX_USAGE
constexpr int exit_unavailable = 69;  // EX_UNAVAILABLE
constexpr int exit_cant_create = 73;  // EX_CANTCREAT

constexpr char kHelp[] =
    R"(hayate-sink: a fast SMTP sink (io_uring) for tests, demos and benchmarks.

Usage: hayate-sink [options]

  --listen ADDR:PORT        127.0.0.1:2525 (default), [::1]:2525; port 0 picks a free port
                            (the chosen one is printed on stderr: "listening on ...")
  --allow-non-loopback      allow a non-loopback --listen address
  --threads N               threads, one io_uring and SO_REUSEPORT socket each (default 1,
                            at most 64)
  --hostname NAME           name in the greeting and EHLO reply (default hayate-sink)
  --max-message-bytes N     SIZE announced; larger messages get 552 (default 52428800)
  --no-pipelining           do not announce PIPELINING; reply lock-step
  --greeting-delay-ms N     wait before the 220 greeting (default 0)
  --slow-ms N               delay of the slow... fault mode (default 2000)
  --maildir DIR             keep accepted messages in DIR/new/ (Maildir), with Return-Path
                            and Delivered-To headers; otherwise bodies are only counted
  --stats-file PATH         write counters as one JSON object at exit: sessions, messages,
                            recipients, rcpt_rejected, bytes, data_rejected, then one key
                            per outcome (rcpt_tempfail, data_fail, ...)
  --stats-interval          also write --stats-file every second
  --exit-after-messages N   stop after N accepted messages
  --pid-file PATH           write the process id, removed at exit
  --version                 print the version and exit
  --help                    this text

Fault modes, by the recipient's local part prefix (case-insensitive):
  tempfail...@      451 4.3.0 at RCPT         bounce...@      550 5.1.1 at RCPT
  datafail...@      554 5.6.0 after DATA      datatempfail...@ 451 4.3.0 after DATA
  slow...@          RCPT reply delayed        disconnect...@  connection closed at RCPT
  garbage...@       "HELLO THIS IS NOT SMTP"  flaky...@       451 first time, then 250
  dotdrop...@       connection closed after the final dot, without a reply

SIGTERM or SIGINT stops it: replies in flight go out, counters are written, exit 0.

Example:
  hayate-sink --listen 127.0.0.1:2525 --threads 2 --stats-file /tmp/sink.json &
  smtp-source -d -s 32 -m 100000 -l 2000 127.0.0.1:2525
  kill %1; cat /tmp/sink.json
)";

struct Options {
  ServerConfig server;
  SinkConfig sink;
  std::uint64_t exit_after_messages = 0;
  std::string stats_file;  // empty: none
  bool stats_interval = false;
  std::string maildir;  // empty: bodies are counted, not kept
  std::string listen_text = "127.0.0.1:2525";
  bool allow_non_loopback = false;
  std::string pid_file;
};

int usage_error(std::string_view message) {
  std::fprintf(stderr, "hayate-sink: %.*s (see --help)\n", int(message.size()), message.data());
  return exit_usage;
}

template <typename Number>
bool parse_number(std::string_view text, Number& value, Number minimum, Number maximum) {
  std::uint64_t parsed = 0;
  if (!absl::SimpleAtoi(to_absl(text), &parsed) || parsed < std::uint64_t(minimum) ||
      parsed > std::uint64_t(maximum)) {
    return false;
  }
  value = Number(parsed);
  return true;
}

// Returns -1 when the options are good, else the exit code.
int parse_options(int argc, char** argv, Options& options) {
  ServerConfig& server = options.server;
  SinkConfig& sink = options.sink;
  for (int i = 1; i < argc; ++i) {
    std::string_view name = argv[i];
    std::string_view value;
    bool value_inline = false;
    if (const std::size_t equals = name.find('='); equals != std::string_view::npos) {
      value = name.substr(equals + 1);
      name = name.substr(0, equals);
      value_inline = true;
    }
    const auto flag = [&](std::string_view flag_name) {
      return name == flag_name && !value_inline;
    };
    const auto option = [&](std::string_view option_name) {
      if (name != option_name) return false;
      if (!value_inline) {
        if (i + 1 >= argc) return false;
        value = argv[++i];
      }
      return true;
    };
    const auto bad = [&](std::string_view why) {
      return usage_error(absl::StrCat(to_absl(name), " ", to_absl(value), ": ", to_absl(why)));
    };
    if (flag("--help") || flag("-h")) {
      std::fputs(kHelp, stdout);
      return exit_ok;
    } else if (flag("--version")) {
      std::printf("hayate-sink %.*s\n", static_cast<int>(version.size()), version.data());
      return exit_ok;
    } else if (flag("--allow-non-loopback")) {
      options.allow_non_loopback = true;
    } else if (flag("--no-pipelining")) {
      sink.pipelining = false;
    } else if (flag("--stats-interval")) {
      options.stats_interval = true;
    } else if (option("--listen")) {
      options.listen_text = std::string(value);
    } else if (option("--threads")) {
      if (!parse_number(value, server.threads, 1u, sink_threads_max)) {
        return bad(absl::StrCat("expected 1 to ", sink_threads_max));
      }
    } else if (option("--hostname")) {
      if (value.empty() || value.find_first_of(" \t\r\n") != std::string_view::npos) {
        return bad("expected a name without spaces");
      }
      sink.hostname = std::string(value);
    } else if (option("--max-message-bytes")) {
      if (!parse_number(value, sink.message_bytes_max, std::uint64_t(1), std::uint64_t(1) << 40)) {
        return bad("expected a positive number");
      }
    } else if (option("--greeting-delay-ms")) {
      if (!parse_number(value, sink.greeting_delay_ms, 0u, 3'600'000u)) {
        return bad("expected 0 to 3600000");
      }
    } else if (option("--slow-ms")) {
      if (!parse_number(value, sink.slow_ms, 0u, 3'600'000u)) {
        return bad("expected 0 to 3600000");
      }
    } else if (option("--exit-after-messages")) {
      if (!parse_number(value, options.exit_after_messages, std::uint64_t(1), ~std::uint64_t(0))) {
        return bad("expected a positive number");
      }
    } else if (option("--stats-file")) {
      options.stats_file = std::string(value);
    } else if (option("--maildir")) {
      options.maildir = std::string(value);
    } else if (option("--pid-file")) {
      options.pid_file = std::string(value);
    } else {
      return usage_error(absl::StrCat("unknown or incomplete option ", argv[i]));
    }
  }
  absl::StatusOr<ListenAddress> address =
      parse_listen_address(options.listen_text, options.allow_non_loopback);
  if (!address.ok()) return usage_error(to_std(address.status().message()));
  server.listen = *address;
  if (options.stats_interval && options.stats_file.empty()) {
    return usage_error("--stats-interval needs --stats-file");
  }
  server.session = sink;  // the server's part of the sink's settings
  server.exit_after_messages = options.exit_after_messages;
  server.stop_on_signals = true;
  server.idle_timeout_ms = 0;  // a test may hold a connection open as long as it likes
  server.tick_interval_ms = options.stats_interval ? stats_interval_ms : 0;
  server.log_name = "hayate-sink";
  return -1;
}

// Thousands of connections need thousands of descriptors: take the hard limit.
void raise_descriptor_limit() {
  struct rlimit limit;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// Through a rename, never by opening PATH: a link planted there is not written through.
absl::Status write_pid_file(const std::string& path) {
  std::string name;
  absl::StatusOr<Directory> directory = Directory::open_parent(path, name);
  if (!directory.ok()) return directory.status();
  return directory->replace_file(name, absl::StrCat(::getpid(), "\n"), 0644);
}

// What the sink gives the server: per thread its fault modes, counters and Maildir writer;
// on thread 0, every second with --stats-interval, the stats file.
class SinkHooks final : public smtp::server::ServerHooks {
 public:
  SinkHooks(const Options& options, const smtp::server::Server& server)
      : options_(options),
        server_(server),
        threads_(options.server.threads),
        stats_(std::make_unique<SinkStats[]>(threads_.size())) {}

  absl::StatusOr<ThreadHooks> start_thread(std::uint32_t index) override {
    HAYATE_ASSERT(index < threads_.size());
    Thread& thread = threads_[index];  // only this thread touches its slot
    if (!options_.maildir.empty()) {
      thread.maildir =
          std::make_unique<MaildirStore>(options_.maildir, options_.sink.hostname, index);
    }
    thread.policy = std::make_unique<FaultPolicy>(options_.sink, stats_[index], flaky_);
    thread.store = std::make_unique<FaultStore>(stats_[index], thread.maildir.get());
    return ThreadHooks{thread.policy.get(), thread.store.get()};
  }

  void tick() override {
    if (absl::Status status = write_stats_file(options_.stats_file, totals());
        !status.ok() && errors_logged_++ < 10) {
      std::fprintf(stderr, "hayate-sink: %s\n", std::string(status.message()).c_str());
    }
  }

  StatsSnapshot totals() const {
    StatsSnapshot faults;
    for (std::size_t i = 0; i < threads_.size(); ++i) faults.add(stats_[i].snapshot());
    return combine_stats(server_.stats(), faults);
  }

 private:
  struct Thread {
    std::unique_ptr<MaildirStore> maildir;
    std::unique_ptr<FaultPolicy> policy;
    std::unique_ptr<FaultStore> store;
  };
  const Options& options_;
  const smtp::server::Server& server_;
  std::vector<Thread> threads_;
  std::unique_ptr<SinkStats[]> stats_;
  FlakySet flaky_;  // shared: SO_REUSEPORT may send a client's retry to another thread
  std::uint32_t errors_logged_ = 0;
};

int run(int argc, char** argv) {
  Options options;
  if (const int code = parse_options(argc, argv, options); code >= 0) return code;
  const ServerConfig& config = options.server;
  raise_descriptor_limit();
  smtp::server::block_stop_signals();

  absl::StatusOr<std::unique_ptr<smtp::server::Server>> server = smtp::server::Server::open(config);
  if (!server.ok()) {
    std::fprintf(stderr, "hayate-sink: %s\n", std::string(server.status().message()).c_str());
    return exit_unavailable;
  }
  std::fprintf(stderr, "hayate-sink: listening on %s (%u thread%s, pipelining %s%s%s)\n",
               (*server)->address().to_string().c_str(), config.threads,
               config.threads == 1 ? "" : "s", config.session.pipelining ? "on" : "off",
               options.maildir.empty() ? "" : ", maildir ", options.maildir.c_str());
  if (!options.pid_file.empty()) {
    if (absl::Status written = write_pid_file(options.pid_file); !written.ok()) {
      std::fprintf(stderr, "hayate-sink: cannot write pid file %s: %s\n", options.pid_file.c_str(),
                   std::string(written.message()).c_str());
      return exit_cant_create;
    }
  }

  SinkHooks hooks(options, **server);
  absl::Status status = absl::OkStatus();
  if (!options.maildir.empty()) status = create_maildir(options.maildir);
  if (status.ok()) status = (*server)->run(hooks);
  if (!options.pid_file.empty()) ::unlink(options.pid_file.c_str());
  if (!status.ok()) {
    std::fprintf(stderr, "hayate-sink: %s\n", std::string(status.message()).c_str());
    return status.code() == absl::StatusCode::kPermissionDenied ||
                   status.code() == absl::StatusCode::kFailedPrecondition
               ? exit_cant_create
               : exit_unavailable;
  }
  const StatsSnapshot totals = hooks.totals();
  int code = exit_ok;
  if (!options.stats_file.empty()) {
    if (absl::Status written = write_stats_file(options.stats_file, totals); !written.ok()) {
      std::fprintf(stderr, "hayate-sink: %s\n", std::string(written.message()).c_str());
      code = exit_cant_create;
    }
  }
  std::fprintf(stderr, "hayate-sink: stats %s\n", stats_to_text(totals).c_str());
  return code;
}

}  // namespace
}  // namespace hayate::sink

int main(int argc, char** argv) { return hayate::sink::run(argc, argv); }
