// Counters of the SMTP server: one ServerStats per server thread, written by that thread only,
// read by any (a stats file, /metrics, the end-of-run summary). A relaxed load and store per
// event (no locked instruction, no shared cache line) keeps counting off the profile.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hayate::smtp::server {

enum class ServerCounter : std::uint8_t {
  sessions,              // connections accepted
  messages,              // messages answered 250 at the end of DATA
  recipients,            // RCPTs accepted (including those of transactions refused later)
  rcpt_rejected,         // RCPTs not accepted: 4xx, 5xx, raw reply or disconnect
  bytes,                 // RFC 1870 size of the accepted messages, summed
  data_rejected,         // messages not accepted at the end of DATA
  recipients_delivered,  // accepted recipients of accepted messages
  mail_rejected,         // MAIL commands not accepted (syntax, SIZE, policy)
  rcpt_too_many,         // 452 beyond limits::server_recipients_per_transaction_max
  rcpt_syntax,           // 501 / 555: bad path or parameters
  data_too_big,          // 552: larger than SessionConfig::message_bytes_max
  commands_unknown,      // 500 5.5.2
  lines_too_long,        // 500 5.5.0
  connections_refused,   // 421 at accept: no slot left, or a ServerConfig connection cap reached
  sessions_timed_out,    // 421 4.4.2: the client was silent longer than the idle timeout
  sessions_too_slow,     // 421 4.4.2: the session, a command or a message outlasted its deadline
  data_over_budget,      // 452 4.3.1: beyond SessionConfig::content_bytes_budget
  count_,
};

inline constexpr std::size_t server_counters_count = std::size_t(ServerCounter::count_);

std::string_view counter_name(ServerCounter counter);

struct ServerStatsSnapshot {
  std::array<std::uint64_t, server_counters_count> values{};
  std::uint64_t operator[](ServerCounter counter) const { return values[std::size_t(counter)]; }
  void add(const ServerStatsSnapshot& other) {
    for (std::size_t i = 0; i < server_counters_count; ++i) values[i] += other.values[i];
  }
};

class alignas(64) ServerStats {
 public:
  // Only the owning thread calls add().
  void add(ServerCounter counter, std::uint64_t amount = 1) {
    std::atomic<std::uint64_t>& value = values_[std::size_t(counter)];
    value.store(value.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }
  std::uint64_t get(ServerCounter counter) const {
    return values_[std::size_t(counter)].load(std::memory_order_relaxed);
  }
  ServerStatsSnapshot snapshot() const {
    ServerStatsSnapshot result;
    for (std::size_t i = 0; i < server_counters_count; ++i) {
      result.values[i] = values_[i].load(std::memory_order_relaxed);
    }
    return result;
  }

 private:
  std::array<std::atomic<std::uint64_t>, server_counters_count> values_{};
};

}  // namespace hayate::smtp::server
