// The io_uring shell of the SMTP server: N threads, each with its own ring, its own
// SO_REUSEPORT listening socket and its own connections (shared nothing but the stop signal
// and what the hooks share). Multishot accept, multishot recv into a provided-buffer ring, one
// send per batch of replies; the SMTP logic lives in the pure Session (session.h), and what is
// accepted in the hooks the program gives (a Policy and a MessageStore per thread).
//
// Usage (tools/sink/main.cc and tests/unit/smtp_server_test.cc are complete ones):
//
//   class Hooks final : public server::ServerHooks {
//    public:
//     absl::StatusOr<ThreadHooks> start_thread(std::uint32_t index) override {
//       return ThreadHooks{&policies_[index], &stores_[index]};  // made before run()
//     }
//     ...
//   };
//   server::ServerConfig config;
//   config.listen = *server::parse_listen_address("127.0.0.1:0", false);
//   config.stop_on_signals = true;  // after block_stop_signals() in main
//   absl::StatusOr<std::unique_ptr<server::Server>> server = server::Server::open(config);
//   // server->address() has the port the kernel chose
//   absl::Status status = (*server)->run(hooks);  // until SIGTERM/SIGINT or stop()
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/limits.h"
#include "engine/smtp/server/listen_address.h"
#include "engine/smtp/server/session.h"
#include "engine/smtp/server/stats.h"

namespace hayate::smtp::server {

struct ServerConfig {
  ListenAddress listen;
  std::uint32_t threads = 1;  // 1 to limits::server_threads_max
  SessionConfig session;
  std::uint64_t exit_after_messages = 0;  // > 0: stop once this many messages were accepted
  // Read SIGTERM and SIGINT through a signalfd on thread 0: the first stops the server (drain),
  // a second ends the drain at once. The caller must have called block_stop_signals() before
  // starting any thread.
  bool stop_on_signals = false;
  std::uint32_t tick_interval_ms = 0;  // > 0: ServerHooks::tick on thread 0 this often
  // A client silent this long (nothing read, nothing sent to it) gets 421 4.4.2 and is closed;
  // checked a few times per period. 0: never (a test sink waits for whatever the test does).
  std::uint32_t idle_timeout_ms = limits::server_idle_timeout_ms;
  // Limits against clients that hold the server's resources on purpose (engine/limits.h has
  // the strict values of the bounce listener). 0: none, as a benchmark sink wants. A client
  // past a deadline gets 421 4.4.2 and is closed, as a silent one; trickled bytes extend the
  // idle timeout but none of these.
  std::uint32_t session_timeout_ms = 0;  // from accept to close
  std::uint32_t command_timeout_ms = 0;  // from the end of one command line to the end of the next
  std::uint32_t data_timeout_ms = 0;     // from 354 to the final dot
  // Connections open at once, all threads together, and from one client address (an IPv6
  // address counts whole). A connection beyond either cap gets 421 and is closed at once.
  std::uint32_t connections_max = 0;
  std::uint32_t connections_per_ip_max = 0;
  // Replies waiting behind a send that cannot complete (a client that writes and never
  // reads): beyond this the connection is closed.
  std::uint32_t output_bytes_max = limits::server_output_bytes_max;
  std::string log_name = "hayate";  // prefix of the few lines written to stderr
};

// What a server asks of the program that runs it.
class ServerHooks {
 public:
  struct ThreadHooks {
    Policy* policy = nullptr;
    MessageStore* store = nullptr;
  };
  virtual ~ServerHooks() = default;
  // On each server thread (concurrently), before it accepts a connection. The objects are
  // used by that thread only and must live until run() returns. An error stops the server.
  virtual absl::StatusOr<ThreadHooks> start_thread(std::uint32_t thread_index) = 0;
  // On thread 0, every ServerConfig::tick_interval_ms (a stats file, a progress line).
  virtual void tick() {}
};

class Server {
 public:
  // Binds one listening socket per thread to config.listen (port 0: the kernel picks one,
  // then every thread joins it). A port already in use is an error, even though
  // SO_REUSEPORT would let two servers of one user share it.
  static absl::StatusOr<std::unique_ptr<Server>> open(const ServerConfig& config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound address, with the port the kernel chose for port 0.
  const ListenAddress& address() const { return address_; }

  // Serves on the calling thread (thread 0) and config.threads - 1 more, until stop(), a stop
  // signal or exit_after_messages. Then stops accepting, lets the replies in flight go out (at
  // most limits::server_drain_timeout_ms), closes every connection and returns. Call once.
  absl::Status run(ServerHooks& hooks);

  // Asks run() to stop. Any thread, any time (before run() too: it then returns at once).
  void stop();

  // The counters of every thread, summed. Any thread, any time.
  ServerStatsSnapshot stats() const;

  struct Shared;  // what the threads share (server.cc)

 private:
  Server(const ServerConfig& config, ListenAddress address, std::vector<int> listen_fds);
  const ServerConfig config_;
  ListenAddress address_;
  std::vector<int> listen_fds_;  // one per thread; closed by run() or the destructor
  std::unique_ptr<Shared> shared_;
  bool ran_ = false;
};

// Blocks SIGTERM and SIGINT in the calling thread (and the threads it starts later), so they
// are only read through the signalfd of thread 0's ring; ignores SIGPIPE.
void block_stop_signals();

}  // namespace hayate::smtp::server
