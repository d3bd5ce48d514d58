// hayate-sink: a fast SMTP sink for tests, demos and benchmarks, with fault modes chosen by
// recipient address. Command line, start-up and shutdown; the loop is in server.cc and the
// SMTP logic in session.cc. Exit codes follow sysexits(3).
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tools/sink/absl_views.h"
#include "engine/smtp/server/listen_address.h"
#include "tools/sink/server.h"
#include "tools/sink/stats.h"

namespace hayate::sink {
namespace {

using smtp::server::parse_listen_address;

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
  --help                    this text

Fault modes, by the recipient's local part prefix (case-insensitive):
  tempfail...@      451 4.3.0 at RCPT         bounce...@      550 5.1.1 at RCPT
  datafail...@      554 5.6.0 after DATA      datatempfail...@ 451 4.3.0 after DATA
  slow...@          RCPT reply delayed        disconnect...@  connection closed at RCPT
  garbage...@       "HELLO THIS IS NOT SMTP"  flaky...@       451 first time, then 250

SIGTERM or SIGINT stops it: replies in flight go out, counters are written, exit 0.

Example:
  hayate-sink --listen 127.0.0.1:2525 --threads 2 --stats-file /tmp/sink.json &
  smtp-source -d -s 32 -m 100000 -l 2000 127.0.0.1:2525
  kill %1; cat /tmp/sink.json
)";

struct Options {
  ServerConfig server;
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
    } else if (flag("--allow-non-loopback")) {
      options.allow_non_loopback = true;
    } else if (flag("--no-pipelining")) {
      server.session.pipelining = false;
    } else if (flag("--stats-interval")) {
      server.stats_interval = true;
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
      server.session.hostname = std::string(value);
    } else if (option("--max-message-bytes")) {
      if (!parse_number(value, server.session.message_bytes_max, std::uint64_t(1),
                        std::uint64_t(1) << 40)) {
        return bad("expected a positive number");
      }
    } else if (option("--greeting-delay-ms")) {
      if (!parse_number(value, server.session.greeting_delay_ms, 0u, 3'600'000u)) {
        return bad("expected 0 to 3600000");
      }
    } else if (option("--slow-ms")) {
      if (!parse_number(value, server.session.slow_ms, 0u, 3'600'000u)) {
        return bad("expected 0 to 3600000");
      }
    } else if (option("--exit-after-messages")) {
      if (!parse_number(value, server.exit_after_messages, std::uint64_t(1), ~std::uint64_t(0))) {
        return bad("expected a positive number");
      }
    } else if (option("--stats-file")) {
      server.stats_file = std::string(value);
    } else if (option("--maildir")) {
      server.maildir = std::string(value);
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
  if (server.stats_interval && server.stats_file.empty()) {
    return usage_error("--stats-interval needs --stats-file");
  }
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

bool write_pid_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return false;
  const bool written = std::fprintf(file, "%d\n", int(::getpid())) > 0;
  return std::fclose(file) == 0 && written;
}

int run(int argc, char** argv) {
  Options options;
  if (const int code = parse_options(argc, argv, options); code >= 0) return code;
  const ServerConfig& config = options.server;
  raise_descriptor_limit();
  block_stop_signals();

  absl::StatusOr<Listeners> listeners = open_listeners(config);
  if (!listeners.ok()) {
    std::fprintf(stderr, "hayate-sink: %s\n", std::string(listeners.status().message()).c_str());
    return exit_unavailable;
  }
  std::fprintf(stderr, "hayate-sink: listening on %s (%u thread%s, pipelining %s%s%s)\n",
               listeners->address.to_string().c_str(), config.threads,
               config.threads == 1 ? "" : "s", config.session.pipelining ? "on" : "off",
               config.maildir.empty() ? "" : ", maildir ", config.maildir.c_str());
  if (!options.pid_file.empty() && !write_pid_file(options.pid_file)) {
    std::fprintf(stderr, "hayate-sink: cannot write pid file %s: %s\n", options.pid_file.c_str(),
                 std::strerror(errno));
    for (int fd : listeners->fds) ::close(fd);
    return exit_cant_create;
  }

  absl::StatusOr<StatsSnapshot> totals = run_server(config, *std::move(listeners));
  if (!options.pid_file.empty()) ::unlink(options.pid_file.c_str());
  if (!totals.ok()) {
    std::fprintf(stderr, "hayate-sink: %s\n", std::string(totals.status().message()).c_str());
    return totals.status().code() == absl::StatusCode::kPermissionDenied ||
                   totals.status().code() == absl::StatusCode::kFailedPrecondition
               ? exit_cant_create
               : exit_unavailable;
  }
  int code = exit_ok;
  if (!config.stats_file.empty()) {
    if (absl::Status status = write_stats_file(config.stats_file, *totals); !status.ok()) {
      std::fprintf(stderr, "hayate-sink: %s\n", std::string(status.message()).c_str());
      code = exit_cant_create;
    }
  }
  std::fprintf(stderr, "hayate-sink: stats %s\n", stats_to_text(*totals).c_str());
  return code;
}

}  // namespace
}  // namespace hayate::sink

int main(int argc, char** argv) { return hayate::sink::run(argc, argv); }
