// Warm-up state in SQLite: one row per source × provider; saves are additive upserts.
#include "campaign/delivery/warmup.h"

#include <sqlite3.h>

#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign::inline delivery {
namespace {

constexpr std::int64_t day_ms = 86'400'000;
constexpr int busy_timeout_ms = 5'000;

constexpr const char* schema_sql =
    "CREATE TABLE IF NOT EXISTS warmup ("
    " source TEXT NOT NULL, provider TEXT NOT NULL,"
    " first_day INTEGER NOT NULL, day INTEGER NOT NULL, sent INTEGER NOT NULL,"
    " PRIMARY KEY (source, provider))";

// Adds a delta for `day`: a newer day restarts the count, an older one is history.
constexpr const char* upsert_sql =
    "INSERT INTO warmup (source, provider, first_day, day, sent) VALUES (?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT (source, provider) DO UPDATE SET"
    " first_day = MIN(first_day, excluded.first_day),"
    " sent = CASE WHEN day = excluded.day THEN sent + excluded.sent"
    "             WHEN day > excluded.day THEN sent ELSE excluded.sent END,"
    " day = MAX(day, excluded.day)";

}  // namespace

std::int64_t WarmupState::day_of(std::int64_t now_ms) {
  return now_ms >= 0 ? now_ms / day_ms : -((-now_ms + day_ms - 1) / day_ms);
}

absl::StatusOr<WarmupState> WarmupState::open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = cat(path, ": cannot open the warm-up state: ",
                              db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return absl::UnavailableError(message);
  }
  sqlite3_busy_timeout(db, busy_timeout_ms);
  WarmupState state(path, db);
  char* error = nullptr;
  if (sqlite3_exec(db, schema_sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = cat(path, ": not a warm-up state file: ", error != nullptr ? error : "");
    sqlite3_free(error);
    return absl::InvalidArgumentError(message);
  }
  if (absl::Status status = state.load(); !status.ok()) return status;
  return state;
}

WarmupState::WarmupState(WarmupState&& other) noexcept
    : path_(std::move(other.path_)), db_(other.db_), entries_(std::move(other.entries_)) {
  other.db_ = nullptr;
}

WarmupState& WarmupState::operator=(WarmupState&& other) noexcept {
  if (this != &other) {
    sqlite3_close(db_);
    path_ = std::move(other.path_);
    db_ = other.db_;
    entries_ = std::move(other.entries_);
    other.db_ = nullptr;
  }
  return *this;
}

WarmupState::~WarmupState() { sqlite3_close(db_); }

// Reads every row; entries with unsaved counts keep them on top of the file's.
absl::Status WarmupState::load() {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT source, provider, first_day, day, sent FROM warmup", -1,
                         &statement, nullptr) != SQLITE_OK) {
    return absl::InvalidArgumentError(
        cat(path_, ": cannot read the warm-up state: ", sqlite3_errmsg(db_)));
  }
  int rc;
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
    const auto* source = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    const auto* provider = reinterpret_cast<const char*>(sqlite3_column_text(statement, 1));
    if (source == nullptr || provider == nullptr) continue;
    auto [it, inserted] = entries_.try_emplace(Key(source, provider));
    Entry& entry = it->second;
    const std::int64_t first_day = sqlite3_column_int64(statement, 2);
    const std::int64_t day = sqlite3_column_int64(statement, 3);
    const auto sent =
        static_cast<std::uint64_t>(std::max<sqlite3_int64>(0, sqlite3_column_int64(statement, 4)));
    entry.first_day = inserted ? first_day : std::min(entry.first_day, first_day);
    if (inserted || entry.unsaved == 0 || day > entry.day) {
      entry.day = day;
      entry.sent = sent;
      entry.unsaved = 0;
    } else if (day == entry.day) {
      entry.sent = sent + entry.unsaved;  // others' counts, plus ours not yet saved
    }
  }
  sqlite3_finalize(statement);
  if (rc != SQLITE_DONE) {
    return absl::InvalidArgumentError(
        cat(path_, ": cannot read the warm-up state: ", sqlite3_errmsg(db_)));
  }
  return absl::OkStatus();
}

const WarmupState::Entry* WarmupState::find(std::string_view source,
                                            std::string_view provider) const {
  const auto found = entries_.find(Key(std::string(source), std::string(provider)));
  return found == entries_.end() ? nullptr : &found->second;
}

std::optional<std::uint32_t> WarmupState::cap_today(std::string_view source,
                                                    std::string_view provider,
                                                    absl::Span<const std::uint32_t> schedule,
                                                    std::int64_t now_ms) const {
  if (schedule.empty()) return std::nullopt;
  const std::int64_t today = day_of(now_ms);
  const Entry* entry = find(source, provider);
  const std::int64_t day_index =
      entry != nullptr ? std::max<std::int64_t>(0, today - entry->first_day) : 0;
  if (day_index >= static_cast<std::int64_t>(schedule.size())) return std::nullopt;
  return schedule[static_cast<std::size_t>(day_index)];
}

std::uint64_t WarmupState::sent_today(std::string_view source, std::string_view provider,
                                      std::int64_t now_ms) const {
  const Entry* entry = find(source, provider);
  return entry != nullptr && entry->day == day_of(now_ms) ? entry->sent : 0;
}

std::optional<std::uint64_t> WarmupState::remaining_today(std::string_view source,
                                                          std::string_view provider,
                                                          absl::Span<const std::uint32_t> schedule,
                                                          std::int64_t now_ms) const {
  const std::optional<std::uint32_t> cap = cap_today(source, provider, schedule, now_ms);
  if (!cap) return std::nullopt;
  const std::uint64_t sent = sent_today(source, provider, now_ms);
  return sent >= *cap ? 0 : *cap - sent;
}

void WarmupState::record_sent(std::string_view source, std::string_view provider,
                              std::int64_t now_ms, std::uint32_t messages) {
  const std::int64_t today = day_of(now_ms);
  auto [it, inserted] = entries_.try_emplace(Key(std::string(source), std::string(provider)));
  Entry& entry = it->second;
  if (inserted) {
    entry.first_day = today;
    entry.day = today;
  }
  if (entry.day < today) {
    // A new day: yesterday's unsaved count is history and no longer matters for a cap.
    entry.day = today;
    entry.sent = 0;
    entry.unsaved = 0;
  } else if (entry.day > today) {
    return;  // the clock went back: count nothing rather than yesterday's cap
  }
  entry.first_day = std::min(entry.first_day, today);
  entry.sent += messages;
  entry.unsaved += messages;
  HAYATE_ASSERT(entry.unsaved <= entry.sent);
}

absl::Status WarmupState::save() {
  const auto fail = [this](std::string_view what) {
    std::string message =
        cat(path_, ": cannot save the warm-up state (", what, "): ", sqlite3_errmsg(db_));
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return absl::UnavailableError(message);
  };
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("begin");
  }
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db_, upsert_sql, -1, &statement, nullptr) != SQLITE_OK) {
    return fail("prepare");
  }
  for (const auto& [key, entry] : entries_) {
    if (entry.unsaved == 0) continue;
    sqlite3_bind_text(statement, 1, key.first.data(), static_cast<int>(key.first.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(statement, 2, key.second.data(), static_cast<int>(key.second.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int64(statement, 3, entry.first_day);
    sqlite3_bind_int64(statement, 4, entry.day);
    sqlite3_bind_int64(statement, 5, static_cast<sqlite3_int64>(entry.unsaved));
    if (sqlite3_step(statement) != SQLITE_DONE) {
      sqlite3_finalize(statement);
      return fail("write");
    }
    sqlite3_reset(statement);
  }
  sqlite3_finalize(statement);
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return fail("commit");
  for (auto& [key, entry] : entries_) entry.unsaved = 0;
  return load();
}

}  // namespace hayate::campaign::delivery
