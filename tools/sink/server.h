// The io_uring shell of hayate-sink: one thread per --threads, each with its own ring, its
// own SO_REUSEPORT listening socket and its own connections (shared nothing but the flaky set
// and the stop signal). Multishot accept, multishot recv into a provided-buffer ring, one send
// per batch of replies; the SMTP logic lives in the pure Session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/smtp/server/listen_address.h"
#include "tools/sink/session.h"
#include "tools/sink/stats.h"

namespace hayate::sink {

using smtp::server::ListenAddress;

// Per-thread capacities of the sink (its own: the engine's limits.h sizes the client side).
inline constexpr std::uint32_t sink_threads_max = 64;
inline constexpr std::uint32_t sink_connections_per_thread_max = 16384;  // beyond: 421, close
inline constexpr std::uint32_t sink_ring_entries = 4096;
inline constexpr std::uint32_t sink_completion_entries = 4 * sink_ring_entries;
inline constexpr std::uint32_t sink_recv_buffers = 1024;  // provided buffers per thread
inline constexpr std::uint32_t sink_recv_buffer_bytes = 16384;
inline constexpr std::uint32_t sink_listen_backlog = 4096;
inline constexpr std::uint32_t sink_drain_timeout_ms = 2000;  // stop: time to flush replies
inline constexpr std::uint32_t sink_stats_interval_ms = 1000;
// Replies waiting behind a send that cannot complete (a client that writes and never reads):
// beyond this the client is abusive and its connection is closed.
inline constexpr std::size_t sink_output_bytes_max = 4u << 20;
static_assert((sink_recv_buffers & (sink_recv_buffers - 1)) == 0, "buffer ring size: power of 2");
static_assert(sink_recv_buffers <= 32768, "buffer ids are 16 bits");

struct ServerConfig {
  ListenAddress listen;
  std::uint32_t threads = 1;
  SessionConfig session;
  std::uint64_t exit_after_messages = 0;  // 0: run until SIGTERM/SIGINT
  std::string stats_file;                 // empty: none
  bool stats_interval = false;            // also write stats_file every second
  std::string maildir;                    // empty: bodies are counted, not kept
};

// The listening sockets, one per thread, all bound to the same address and port (the port the
// kernel picked when port 0 was asked).
struct Listeners {
  std::vector<int> fds;
  ListenAddress address;
};

absl::StatusOr<Listeners> open_listeners(const ServerConfig& config);

// Runs the sink until SIGTERM or SIGINT (which the caller must have blocked in every thread,
// see block_stop_signals) or until exit_after_messages messages were accepted. Then stops
// accepting, lets the replies in flight go out (at most sink_drain_timeout_ms), closes every
// connection and returns the summed counters. Takes ownership of the listening sockets.
absl::StatusOr<StatsSnapshot> run_server(const ServerConfig& config, Listeners listeners);

// Blocks SIGTERM and SIGINT in the calling thread (and the threads it starts later), so they
// are only read through the signalfd of thread 0's ring; ignores SIGPIPE.
void block_stop_signals();

// Writes `stats` as one JSON line to PATH.tmp, then renames it to PATH (readers never see a
// partial file).
absl::Status write_stats_file(const std::string& path, const StatsSnapshot& stats);

}  // namespace hayate::sink
