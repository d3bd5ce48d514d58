// Counters of hayate-sink, in the order of its stats file. The SMTP server counts sessions,
// messages, recipients and protocol errors (engine/smtp/server/stats.h); the sink's fault
// modes count the rest in one SinkStats per thread, written by that thread only. A relaxed
// load and store per event (no locked instruction, no shared cache line) keeps counting off
// the profile.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "engine/assert.h"
#include "engine/smtp/server/stats.h"

namespace hayate::sink {

enum class Counter : std::uint8_t {
  // The summary every test reads.
  sessions,       // connections accepted
  messages,       // messages answered 250 at the end of DATA
  recipients,     // RCPTs answered 250 (including those of transactions rejected later)
  rcpt_rejected,  // RCPTs not accepted: 4xx, 5xx, garbage or disconnect
  bytes,          // RFC 1870 size of the accepted messages, summed
  data_rejected,  // messages answered 4xx or 5xx at the end of DATA
  // Details, per outcome.
  recipients_delivered,  // accepted recipients of accepted messages
  rcpt_tempfail,         // 451 by the tempfail mode
  rcpt_bounce,           // 550 by the bounce mode
  rcpt_flaky,            // 451 by the flaky mode (first attempt of an address)
  rcpt_flaky_untracked,  // flaky address accepted at once because the address set was full
  rcpt_slow,             // replies delayed by the slow mode
  rcpt_disconnect,       // connections closed by the disconnect mode
  rcpt_garbage,          // RCPTs answered with garbage
  rcpt_too_many,         // 452 beyond recipients_per_transaction_max
  rcpt_syntax,           // 501 / 555: bad path or parameters
  data_fail,             // 554 by the datafail mode
  data_tempfail,         // 451 by the datatempfail mode
  data_too_big,          // 552: larger than --max-message-bytes
  data_store_failed,     // 451: the Maildir write failed
  data_dotdrop,          // connections closed after the final dot by the dotdrop mode
  // Counted by the server, the rest by the fault modes (is_server_counter).
  commands_unknown,  // 500 5.5.2
  lines_too_long,    // 500 5.5.0
  count_,
};

inline constexpr std::size_t counters_count = std::size_t(Counter::count_);

std::string_view counter_name(Counter counter);

// Whether the SMTP server counts `counter` (then SinkStats never does).
bool is_server_counter(Counter counter);

struct StatsSnapshot {
  std::array<std::uint64_t, counters_count> values{};
  std::uint64_t operator[](Counter counter) const { return values[std::size_t(counter)]; }
  void add(const StatsSnapshot& other);
};

class alignas(64) SinkStats {
 public:
  // Only the owning thread calls add().
  void add(Counter counter, std::uint64_t amount = 1) {
    HAYATE_ASSERT(!is_server_counter(counter));
    std::atomic<std::uint64_t>& value = values_[std::size_t(counter)];
    value.store(value.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }
  std::uint64_t get(Counter counter) const {
    return values_[std::size_t(counter)].load(std::memory_order_relaxed);
  }
  StatsSnapshot snapshot() const;

 private:
  std::array<std::atomic<std::uint64_t>, counters_count> values_{};
};

// The sink's view of everything counted: the server's counters and the fault modes' own.
StatsSnapshot combine_stats(const smtp::server::ServerStatsSnapshot& server,
                            const StatsSnapshot& faults);

// One JSON object on one line, summary keys first: {"sessions":1,"messages":2,...}.
std::string stats_to_json(const StatsSnapshot& stats);
// "sessions=1 messages=2 ..." for the line printed on stderr at exit.
std::string stats_to_text(const StatsSnapshot& stats);

// Writes `stats` as one JSON line to PATH.tmp, then renames it to PATH (readers never see a
// partial file).
absl::Status write_stats_file(const std::string& path, const StatsSnapshot& stats);

}  // namespace hayate::sink
