// Warm-up state: for each source IP × provider, the first day that source sent to it and how
// much it sent today, so that a new IP's daily cap rises on the schedule of its destination
// (Destination::warmup_daily) across runs. Kept in a small SQLite file: two campaigns sending
// from the same sources at once add their counts instead of overwriting each other's, and a
// crash never leaves a half-written file. Days are UTC days; time is passed in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

struct sqlite3;

namespace hayate::campaign::inline delivery {

class WarmupState {
 public:
  // Opens (creating when missing) the state file at `path`.
  static absl::StatusOr<WarmupState> open(const std::string& path);
  WarmupState(WarmupState&& other) noexcept;
  WarmupState& operator=(WarmupState&& other) noexcept;
  ~WarmupState();

  // Today's cap for `source` to `provider` under `schedule` (cap on day 1, 2, ...): day 1 is
  // the first day the source sent there, or today if it never did. nullopt: no cap (past the
  // schedule's end, or an empty schedule).
  std::optional<std::uint32_t> cap_today(std::string_view source, std::string_view provider,
                                         absl::Span<const std::uint32_t> schedule,
                                         std::int64_t now_ms) const;
  // Messages sent today from `source` to `provider` (this process's and, as of the last
  // open or save, other processes').
  std::uint64_t sent_today(std::string_view source, std::string_view provider,
                           std::int64_t now_ms) const;
  // Cap minus sent, or nullopt for no cap.
  std::optional<std::uint64_t> remaining_today(std::string_view source, std::string_view provider,
                                               absl::Span<const std::uint32_t> schedule,
                                               std::int64_t now_ms) const;
  void record_sent(std::string_view source, std::string_view provider, std::int64_t now_ms,
                   std::uint32_t messages = 1);
  // Adds this process's counts since the last save to the file (one transaction) and reads
  // back what other processes added.
  absl::Status save();

  static std::int64_t day_of(std::int64_t now_ms);  // UTC day number since the epoch

 private:
  struct Entry {
    std::int64_t first_day = 0;
    std::int64_t day = 0;  // the day `sent` counts
    std::uint64_t sent = 0;
    std::uint64_t unsaved = 0;  // part of `sent` not yet in the file
  };
  using Key = std::pair<std::string, std::string>;  // source, provider

  WarmupState(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  absl::Status load();
  const Entry* find(std::string_view source, std::string_view provider) const;

  std::string path_;
  sqlite3* db_ = nullptr;
  absl::flat_hash_map<Key, Entry> entries_;
};

}  // namespace hayate::campaign::delivery
