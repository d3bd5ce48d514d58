// The suppression list in SQLite: schema, the bounce policy, CSV import and export, and the
// Bloom filter a run puts in front of it (see suppression.h).
#include "campaign/bounce/suppression.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/hash/hash.h"
#include "absl/time/time.h"
#include "campaign/input/address.h"
#include "campaign/input/csv_reader.h"
#include "campaign/output/accounting.h"
#include "engine/assert.h"
#include "engine/files.h"
#include "engine/strings.h"
#include "engine/write_fully.h"

namespace hayate::campaign::inline bounce {

namespace {

constexpr std::int64_t seconds_per_day = 86'400;

// Version 1. `address` holds "local@domain" or "@domain"; soft_bounce keeps, per key, the soft
// bounces within soft_bounce_days of its latest one (the history the policy needs, no more).
constexpr char kSchema[] = R"sql(
CREATE TABLE suppression (
  address TEXT PRIMARY KEY NOT NULL,
  reason TEXT NOT NULL,
  source TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  count INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE soft_bounce (
  address TEXT NOT NULL,
  time INTEGER NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX soft_bounce_address_time ON soft_bounce(address, time);
)sql";

constexpr char kColumns[] = "address, reason, source, first_seen, last_seen, count";

// Reasons come from bounce texts: bounded, one line, no control bytes (they reach terminals
// and CSV cells). A cut never splits a UTF-8 sequence.
std::string clean_reason(std::string_view reason) {
  if (reason.size() > suppression_reason_bytes_max) {
    std::size_t end = suppression_reason_bytes_max;
    while (end > 0 && (static_cast<unsigned char>(reason[end]) & 0xC0) == 0x80) --end;
    reason = reason.substr(0, end);
  }
  std::string text(reason);
  for (char& c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) c = ' ';
  }
  return text;
}

bool parse_time(std::string_view text, std::int64_t& unix_s) {
  if (text.empty()) return false;
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (text.size() > 12) return false;  // beyond year 33658: a mistake
    unix_s = 0;
    for (char c : text) unix_s = unix_s * 10 + (c - '0');
    return true;
  }
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &time, &error)) return false;
  unix_s = absl::ToUnixSeconds(time);
  return true;
}

class Statement {
 public:
  Statement() = default;
  ~Statement() { sqlite3_finalize(statement_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  int prepare(sqlite3* db, const char* sql) {
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement_, nullptr);
  }
  // Resets and clears bindings: a statement is always bound from scratch.
  sqlite3_stmt* get() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
    return statement_;
  }

 private:
  sqlite3_stmt* statement_ = nullptr;
};

void bind_text(sqlite3_stmt* statement, int index, std::string_view text) {
  sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

std::string_view column_text(sqlite3_stmt* statement, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, column));
  return text == nullptr
             ? std::string_view()
             : std::string_view(text,
                                static_cast<std::size_t>(sqlite3_column_bytes(statement, column)));
}

// Reads the six columns of kColumns into `entry`, reusing its strings.
void read_entry(sqlite3_stmt* statement, SuppressionEntry& entry) {
  entry.address.assign(column_text(statement, 0));
  entry.reason.assign(column_text(statement, 1));
  if (!parse_suppression_source(column_text(statement, 2), entry.source)) {
    entry.source = SuppressionSource::manual;  // written by another tool: shown as manual
  }
  entry.first_seen_unix_s = sqlite3_column_int64(statement, 3);
  entry.last_seen_unix_s = sqlite3_column_int64(statement, 4);
  entry.count =
      static_cast<std::uint64_t>(std::max<sqlite3_int64>(0, sqlite3_column_int64(statement, 5)));
}

}  // namespace

std::string format_suppression_time(std::int64_t unix_s) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_s), absl::UTCTimeZone());
}

const char* suppression_source_name(SuppressionSource source) {
  switch (source) {
    case SuppressionSource::bounce:
      return "bounce";
    case SuppressionSource::complaint:
      return "complaint";
    case SuppressionSource::unsubscribe:
      return "unsubscribe";
    case SuppressionSource::import:
      return "import";
    case SuppressionSource::manual:
      return "manual";
  }
  return "manual";
}

bool parse_suppression_source(std::string_view text, SuppressionSource& source) {
  for (SuppressionSource candidate :
       {SuppressionSource::bounce, SuppressionSource::complaint, SuppressionSource::unsubscribe,
        SuppressionSource::import, SuppressionSource::manual}) {
    if (equals_ignoring_case(text, suppression_source_name(candidate))) {
      source = candidate;
      return true;
    }
  }
  return false;
}

bool normalize_suppression_key(std::string_view input, std::string& key, std::string& error) {
  input = trim(input);
  Address address;
  if (!input.empty() && input.front() == '@') {
    // A whole domain: checked as the domain of an address would be.
    if (!parse_address(cat("x", input), address, error)) {
      error = cat("invalid domain: ", error);
      return false;
    }
    key = cat("@", address.domain());
    return true;
  }
  if (!parse_address(input, address, error)) return false;
  key = std::move(address.text);
  return true;
}

struct SuppressionStore::Statements {
  Statement find;
  Statement upsert;  // add(): merge by times
  Statement insert;  // record_event(): a new entry
  Statement touch;   // record_event(): an existing entry hit again
  Statement remove;
  Statement soft_clear;
  Statement soft_insert;
  Statement soft_prune;
  Statement soft_count;
};

absl::StatusOr<std::unique_ptr<SuppressionStore>> SuppressionStore::open(const std::string& path,
                                                                         SuppressionPolicy policy,
                                                                         bool create) {
  HAYATE_ASSERT(policy.soft_bounce_count >= 1 && policy.soft_bounce_days >= 1);
  std::unique_ptr<SuppressionStore> store(new SuppressionStore());
  store->path_ = path;
  store->policy_ = policy;
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) |
                    SQLITE_OPEN_NOMUTEX;  // one connection per thread
  if (!create && access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    return absl::NotFoundError(cat(path, ": no suppression list here (add or import makes one)"));
  }
  // SQLite would open a FIFO and wait on its first read for ever (a run blocks SIGTERM while
  // it opens the list), and a device is no database.
  if (struct stat info{}; stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
    return absl::FailedPreconditionError(cat(path, ": the suppression list is ",
                                             file_type_name(info.st_mode), ", not a regular file"));
  }
  if (sqlite3_open_v2(path.c_str(), &store->db_, flags, nullptr) != SQLITE_OK) {
    return absl::InternalError(
        cat(path, ": cannot open the suppression list: ",
            store->db_ != nullptr ? sqlite3_errmsg(store->db_) : "out of memory"));
  }
  sqlite3_extended_result_codes(store->db_, 1);
  sqlite3_busy_timeout(store->db_, suppression_busy_timeout_ms);
  // WAL: readers (a run) never wait for a writer (`suppress add`, bounce ingest), and a writer
  // waits for another up to the busy timeout. FULL: a committed "never mail again" survives a
  // power cut; batches keep that to one fsync per batch.
  if (absl::Status status = store->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
      !status.ok()) {
    return status;
  }
  // Read without locking: an existing list opens while another process writes it. Only a new
  // file takes the write lock, and looks again under it, so two first opens do not race.
  absl::Status schema = store->check_schema(/*locked=*/false);
  if (schema.code() == absl::StatusCode::kNotFound) {
    if (absl::Status status = store->begin_immediate(); !status.ok()) return status;
    schema = store->check_schema(/*locked=*/true);
    if (absl::Status ended = store->end_transaction(schema.ok()); schema.ok()) schema = ended;
  }
  if (!schema.ok()) return schema;
  if (absl::Status status = store->prepare_all(); !status.ok()) return status;
  return store;
}

// kNotFound: an empty database and !locked (the caller locks and asks again).
absl::Status SuppressionStore::check_schema(bool locked) {
  std::int64_t version = -1, application_id = -1, tables = -1;
  for (auto [sql, out] : {std::pair{"PRAGMA user_version", &version},
                          std::pair{"PRAGMA application_id", &application_id},
                          std::pair{"SELECT count(*) FROM sqlite_schema", &tables}}) {
    sqlite3_stmt* raw = nullptr;
    const bool read = sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr) == SQLITE_OK &&
                      sqlite3_step(raw) == SQLITE_ROW;
    if (read) *out = sqlite3_column_int64(raw, 0);
    sqlite3_finalize(raw);
    if (!read) return error("cannot read the schema");
  }
  if (version == 0 && application_id == 0 && tables == 0) {
    if (!locked) return absl::NotFoundError("empty");
    if (absl::Status status = exec(kSchema); !status.ok()) return status;
    return exec(cat("PRAGMA application_id=", suppression_application_id,
                    "; PRAGMA user_version=", suppression_schema_version, ";")
                    .c_str());
  }
  if (application_id != suppression_application_id) {
    return absl::FailedPreconditionError(
        cat(path_, ": not a hayate suppression list (an SQLite database of something else)"));
  }
  if (version > suppression_schema_version) {
    return absl::FailedPreconditionError(cat(path_, ": suppression list schema version ", version,
                                             " is newer than this hayate's (",
                                             suppression_schema_version, "); use a newer hayate"));
  }
  if (version != suppression_schema_version) {
    return absl::FailedPreconditionError(
        cat(path_, ": suppression list schema version ", version, " is unknown"));
  }
  return absl::OkStatus();
}

SuppressionStore::~SuppressionStore() {
  statements_.reset();  // finalized before the connection closes
  sqlite3_close_v2(db_);
}

absl::Status SuppressionStore::error(std::string_view what) const {
  const int code = sqlite3_extended_errcode(db_);
  const std::string message = cat(path_, ": ", what, ": ", sqlite3_errmsg(db_));
  if ((code & 0xff) == SQLITE_NOTADB) {
    return absl::FailedPreconditionError(
        cat(path_, ": not a hayate suppression list (", what, ": ", sqlite3_errmsg(db_), ")"));
  }
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED) {
    return absl::UnavailableError(cat(message, " (another process held the list for ",
                                      suppression_busy_timeout_ms / 1000, " s)"));
  }
  return absl::InternalError(message);
}

absl::Status SuppressionStore::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    sqlite3_free(message);
    return error("cannot update the suppression list");
  }
  return absl::OkStatus();
}

absl::Status SuppressionStore::prepare_all() {
  statements_ = std::make_unique<Statements>();
  Statements& s = *statements_;
  const std::string find = cat("SELECT ", kColumns, " FROM suppression WHERE address = ?1");
  const std::string insert =
      cat("INSERT INTO suppression (", kColumns, ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  // Merging: every expression reads the old row, so the CASEs compare with the old last_seen.
  const std::string upsert = cat(insert,
                                 " ON CONFLICT (address) DO UPDATE SET"
                                 " reason = CASE WHEN excluded.last_seen >= last_seen"
                                 "   THEN excluded.reason ELSE reason END,"
                                 " source = CASE WHEN excluded.last_seen >= last_seen"
                                 "   THEN excluded.source ELSE source END,"
                                 " first_seen = min(first_seen, excluded.first_seen),"
                                 " last_seen = max(last_seen, excluded.last_seen),"
                                 " count = max(count, excluded.count)");
  const struct {
    Statement* statement;
    const char* sql;
  } all[] = {
      {&s.find, find.c_str()},
      {&s.insert, insert.c_str()},
      {&s.upsert, upsert.c_str()},
      // ?5: whether the event may replace reason and source (it suppresses on its own).
      {&s.touch,
       "UPDATE suppression SET"
       " reason = CASE WHEN ?5 AND ?2 >= last_seen THEN ?3 ELSE reason END,"
       " source = CASE WHEN ?5 AND ?2 >= last_seen THEN ?4 ELSE source END,"
       " first_seen = min(first_seen, ?2), last_seen = max(last_seen, ?2), count = count + 1"
       " WHERE address = ?1"},
      {&s.remove, "DELETE FROM suppression WHERE address = ?1"},
      {&s.soft_clear, "DELETE FROM soft_bounce WHERE address = ?1"},
      {&s.soft_insert, "INSERT INTO soft_bounce (address, time, reason) VALUES (?1, ?2, ?3)"},
      {&s.soft_prune,
       "DELETE FROM soft_bounce WHERE address = ?1 AND"
       " time <= (SELECT max(time) FROM soft_bounce WHERE address = ?1) - ?2"},
      {&s.soft_count, "SELECT count(*), min(time), max(time) FROM soft_bounce WHERE address = ?1"},
  };
  for (const auto& [statement, sql] : all) {
    if (statement->prepare(db_, sql) != SQLITE_OK) return error("cannot prepare a statement");
  }
  return absl::OkStatus();
}

absl::Status SuppressionStore::begin_immediate() {
  // IMMEDIATE takes the write lock now, where the busy timeout applies; a deferred transaction
  // upgrading later could fail at once with SQLITE_BUSY.
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return error("cannot lock the suppression list for writing");
  }
  return absl::OkStatus();
}

absl::Status SuppressionStore::end_transaction(bool commit) {
  if (sqlite3_exec(db_, commit ? "COMMIT" : "ROLLBACK", nullptr, nullptr, nullptr) != SQLITE_OK) {
    absl::Status status = error(commit ? "cannot commit" : "cannot roll back");
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return status;
  }
  return absl::OkStatus();
}

template <typename Body>
auto SuppressionStore::in_transaction(Body body) -> decltype(body()) {
  if (batch_open_) return body();
  if (absl::Status status = begin_immediate(); !status.ok()) return status;
  auto result = body();
  if (absl::Status ended = end_transaction(result.ok()); !ended.ok() && result.ok()) {
    return ended;
  }
  return result;
}

absl::StatusOr<EventOutcome> SuppressionStore::record_event(const SuppressionEvent& event) {
  return in_transaction([&] { return record_event_locked(event); });
}

absl::StatusOr<EventOutcome> SuppressionStore::record_event_locked(const SuppressionEvent& event) {
  std::string key, reason_error;
  if (!normalize_suppression_key(event.address, key, reason_error)) {
    return absl::InvalidArgumentError(cat("'", clean_reason(event.address), "': ", reason_error));
  }
  const std::string reason = clean_reason(event.reason);
  const bool soft = event.source == SuppressionSource::bounce && !event.hard;
  SuppressionEntry existing;
  absl::StatusOr<bool> found = find_locked(key, existing);
  if (!found.ok()) return found.status();
  if (*found) {
    sqlite3_stmt* touch = statements_->touch.get();
    bind_text(touch, 1, key);
    sqlite3_bind_int64(touch, 2, event.time_unix_s);
    bind_text(touch, 3, reason);
    bind_text(touch, 4, suppression_source_name(event.source));
    sqlite3_bind_int(touch, 5, soft ? 0 : 1);
    if (sqlite3_step(touch) != SQLITE_DONE) return error("cannot update an entry");
    return EventOutcome::already_suppressed;
  }
  if (soft) return record_soft_bounce(key, event, reason);
  SuppressionEntry entry;
  entry.address = key;
  entry.reason = reason;
  entry.source = event.source;
  entry.first_seen_unix_s = entry.last_seen_unix_s = event.time_unix_s;
  entry.count = 1;
  if (absl::Status status = add_locked(entry); !status.ok()) return status;
  return EventOutcome::suppressed;
}

// The history holds the key's soft bounces after (latest - days); the event suppresses when it
// makes that count reach soft_bounce_count. Older ones cannot join a window with the latest.
absl::StatusOr<EventOutcome> SuppressionStore::record_soft_bounce(const std::string& key,
                                                                  const SuppressionEvent& event,
                                                                  std::string_view reason) {
  Statements& s = *statements_;
  sqlite3_stmt* insert = s.soft_insert.get();
  bind_text(insert, 1, key);
  sqlite3_bind_int64(insert, 2, event.time_unix_s);
  bind_text(insert, 3, reason);
  if (sqlite3_step(insert) != SQLITE_DONE) return error("cannot record a soft bounce");
  sqlite3_stmt* prune = s.soft_prune.get();
  bind_text(prune, 1, key);
  sqlite3_bind_int64(prune, 2,
                     static_cast<std::int64_t>(policy_.soft_bounce_days) * seconds_per_day);
  if (sqlite3_step(prune) != SQLITE_DONE) return error("cannot prune soft bounces");
  sqlite3_stmt* count = s.soft_count.get();
  bind_text(count, 1, key);
  if (sqlite3_step(count) != SQLITE_ROW) return error("cannot count soft bounces");
  const std::int64_t bounces = sqlite3_column_int64(count, 0);
  const std::int64_t first = sqlite3_column_int64(count, 1);
  const std::int64_t last = sqlite3_column_int64(count, 2);
  sqlite3_reset(count);
  HAYATE_ASSERT(bounces >= 1);
  if (bounces < static_cast<std::int64_t>(policy_.soft_bounce_count)) {
    return EventOutcome::soft_counted;
  }
  SuppressionEntry entry;
  entry.address = key;
  entry.reason = std::string(reason);
  entry.source = SuppressionSource::bounce;
  entry.first_seen_unix_s = first;
  entry.last_seen_unix_s = last;
  entry.count = static_cast<std::uint64_t>(bounces);
  if (absl::Status status = add_locked(entry); !status.ok()) return status;  // clears history
  return EventOutcome::suppressed;
}

absl::StatusOr<SuppressionStore::Batch> SuppressionStore::begin_batch() {
  HAYATE_ASSERT(!batch_open_);
  if (absl::Status status = begin_immediate(); !status.ok()) return status;
  batch_open_ = true;
  return Batch(this);
}

SuppressionStore::Batch::~Batch() {
  if (store_ == nullptr) return;
  (void)store_->end_transaction(false);
  store_->batch_open_ = false;
}

absl::StatusOr<EventOutcome> SuppressionStore::Batch::record_event(const SuppressionEvent& event) {
  HAYATE_ASSERT(store_ != nullptr && store_->batch_open_);
  return store_->record_event_locked(event);
}

absl::Status SuppressionStore::Batch::add(const SuppressionEntry& entry) {
  HAYATE_ASSERT(store_ != nullptr && store_->batch_open_);
  return store_->add_locked(entry);
}

absl::Status SuppressionStore::Batch::commit() {
  HAYATE_ASSERT(store_ != nullptr && store_->batch_open_);
  SuppressionStore* store = store_;
  store_ = nullptr;
  store->batch_open_ = false;
  return store->end_transaction(true);
}

absl::Status SuppressionStore::add(const SuppressionEntry& entry) {
  return in_transaction([&] { return add_locked(entry); });
}

absl::Status SuppressionStore::add_locked(const SuppressionEntry& entry) {
  HAYATE_ASSERT(!entry.address.empty());
  Statements& s = *statements_;
  const std::string reason = clean_reason(entry.reason);
  sqlite3_stmt* upsert = s.upsert.get();
  bind_text(upsert, 1, entry.address);
  bind_text(upsert, 2, reason);
  bind_text(upsert, 3, suppression_source_name(entry.source));
  sqlite3_bind_int64(upsert, 4, std::min(entry.first_seen_unix_s, entry.last_seen_unix_s));
  sqlite3_bind_int64(upsert, 5, entry.last_seen_unix_s);
  sqlite3_bind_int64(upsert, 6,
                     static_cast<sqlite3_int64>(std::max<std::uint64_t>(1, entry.count)));
  if (sqlite3_step(upsert) != SQLITE_DONE) return error("cannot add an entry");
  sqlite3_stmt* clear = s.soft_clear.get();
  bind_text(clear, 1, entry.address);
  if (sqlite3_step(clear) != SQLITE_DONE) return error("cannot clear soft bounces");
  return absl::OkStatus();
}

absl::StatusOr<bool> SuppressionStore::remove(std::string_view key) {
  return in_transaction([&]() -> absl::StatusOr<bool> {
    sqlite3_stmt* remove = statements_->remove.get();
    bind_text(remove, 1, key);
    if (sqlite3_step(remove) != SQLITE_DONE) return error("cannot remove an entry");
    const bool removed = sqlite3_changes(db_) > 0;
    sqlite3_stmt* clear = statements_->soft_clear.get();
    bind_text(clear, 1, key);
    if (sqlite3_step(clear) != SQLITE_DONE) return error("cannot clear soft bounces");
    return removed || sqlite3_changes(db_) > 0;
  });
}

absl::StatusOr<bool> SuppressionStore::find_locked(std::string_view key, SuppressionEntry& entry) {
  sqlite3_stmt* find = statements_->find.get();
  bind_text(find, 1, key);
  const int result = sqlite3_step(find);
  if (result == SQLITE_DONE) return false;
  if (result != SQLITE_ROW) return error("cannot look up an entry");
  read_entry(find, entry);
  sqlite3_reset(find);  // ends the read: no snapshot held between lookups
  return true;
}

absl::StatusOr<std::optional<SuppressionEntry>> SuppressionStore::find(std::string_view key) {
  SuppressionEntry entry;
  absl::StatusOr<bool> found = find_locked(key, entry);
  if (!found.ok()) return found.status();
  if (!*found) return std::nullopt;
  return entry;
}

absl::StatusOr<bool> SuppressionStore::is_suppressed(std::string_view address,
                                                     SuppressionEntry& entry) {
  const std::size_t at = address.rfind('@');
  HAYATE_ASSERT(at != std::string_view::npos && at > 0);
  absl::StatusOr<bool> found = find_locked(address, entry);
  if (!found.ok() || *found) return found;
  return find_locked(address.substr(at), entry);  // "@domain"
}

absl::Status SuppressionStore::list(const std::function<bool(const SuppressionEntry&)>& visit) {
  sqlite3_stmt* raw = nullptr;
  const std::string sql = cat("SELECT ", kColumns, " FROM suppression ORDER BY address");
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    return error("cannot list the entries");
  }
  SuppressionEntry entry;
  int result;
  while ((result = sqlite3_step(raw)) == SQLITE_ROW) {
    read_entry(raw, entry);
    if (!visit(entry)) {
      result = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(raw);
  return result == SQLITE_DONE ? absl::OkStatus() : error("cannot list the entries");
}

absl::Status SuppressionStore::list_keys(const std::function<void(std::string_view key)>& visit) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT address FROM suppression", -1, &raw, nullptr) != SQLITE_OK) {
    return error("cannot read the entries");
  }
  int result;
  while ((result = sqlite3_step(raw)) == SQLITE_ROW) visit(column_text(raw, 0));
  sqlite3_finalize(raw);
  return result == SQLITE_DONE ? absl::OkStatus() : error("cannot read the entries");
}

namespace {
absl::StatusOr<std::uint64_t> count_rows(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  std::int64_t rows = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) == SQLITE_OK &&
      sqlite3_step(raw) == SQLITE_ROW) {
    rows = sqlite3_column_int64(raw, 0);
  }
  sqlite3_finalize(raw);
  if (rows < 0) return absl::InternalError(cat("cannot count: ", sqlite3_errmsg(db)));
  return static_cast<std::uint64_t>(rows);
}
}  // namespace

absl::StatusOr<std::uint64_t> SuppressionStore::count() {
  return count_rows(db_, "SELECT count(*) FROM suppression");
}

absl::StatusOr<std::uint64_t> SuppressionStore::soft_bounce_rows() {
  return count_rows(db_, "SELECT count(*) FROM soft_bounce");
}

absl::StatusOr<ImportReport> SuppressionStore::import_csv(const std::string& csv_path,
                                                          SuppressionSource default_source,
                                                          std::int64_t now_unix_s) {
  absl::StatusOr<std::unique_ptr<CsvReader>> opened = CsvReader::open(csv_path);
  if (!opened.ok()) return opened.status();
  CsvReader& csv = **opened;
  const std::vector<std::string>& header = csv.header();
  enum Column { address, reason, source, first_seen, last_seen, count, columns };
  int index[columns] = {-1, -1, -1, -1, -1, -1};
  static constexpr std::string_view names[columns] = {"address",    "reason",    "source",
                                                      "first_seen", "last_seen", "count"};
  for (std::size_t i = 0; i < header.size(); ++i) {
    for (int c = 0; c < columns; ++c) {
      if (index[c] < 0 && equals_ignoring_case(header[i], names[c])) index[c] = static_cast<int>(i);
    }
    if (index[address] < 0 && equals_ignoring_case(header[i], "email")) {
      index[address] = static_cast<int>(i);
    }
  }
  ImportReport report;
  const auto fail_row = [&](std::uint64_t line, std::string_view why) {
    if (report.errors.size() < import_errors_listed_max) {
      report.errors.push_back(cat(csv_path, ":", line, ": ", why));
    }
    ++report.error_count;
  };
  std::string key, why;
  const bool headerless = index[address] < 0 && header.size() == 1 &&
                          normalize_suppression_key(strip_spreadsheet_guard(header[0]), key, why);
  if (index[address] < 0 && !headerless) {
    std::string columns_found;
    for (const std::string& name : header)
      append(columns_found, columns_found.empty() ? "" : ", ", name);
    return absl::InvalidArgumentError(
        cat(csv_path, ":1: no 'address' column (columns: ", columns_found,
            "); give a header with 'address', or one address per line"));
  }
  absl::StatusOr<Batch> batch = begin_batch();
  if (!batch.ok()) return batch.status();
  const auto import_row = [&](std::uint64_t line,
                              const std::vector<std::string_view>& fields) -> absl::Status {
    ++report.rows;
    // An export (or a spreadsheet) guards formula-like fields with a leading quote: undone.
    const auto field = [&](Column c) -> std::string_view {
      return index[c] < 0 ? std::string_view()
                          : strip_spreadsheet_guard(fields[static_cast<std::size_t>(index[c])]);
    };
    const std::string_view address_field =
        headerless ? strip_spreadsheet_guard(fields[0]) : field(address);
    SuppressionEntry entry;
    if (!normalize_suppression_key(address_field, entry.address, why)) {
      fail_row(line, cat("address '", clean_reason(address_field), "': ", why));
      return absl::OkStatus();
    }
    entry.reason = field(reason).empty() ? std::string("imported") : std::string(field(reason));
    entry.source = default_source;
    if (!field(source).empty() && !parse_suppression_source(field(source), entry.source)) {
      fail_row(line, cat("source '", clean_reason(field(source)),
                         "' is not one of bounce, complaint, unsubscribe, import, manual"));
      return absl::OkStatus();
    }
    entry.first_seen_unix_s = entry.last_seen_unix_s = now_unix_s;
    for (auto [column, out] : {std::pair{first_seen, &entry.first_seen_unix_s},
                               std::pair{last_seen, &entry.last_seen_unix_s}}) {
      if (!field(column).empty() && !parse_time(field(column), *out)) {
        fail_row(line, cat(names[column], " '", clean_reason(field(column)),
                           "' is not a time; write 2026-11-03T14:05:09Z or unix seconds"));
        return absl::OkStatus();
      }
    }
    if (field(first_seen).empty()) entry.first_seen_unix_s = entry.last_seen_unix_s;
    if (field(last_seen).empty()) entry.last_seen_unix_s = entry.first_seen_unix_s;
    if (entry.first_seen_unix_s > entry.last_seen_unix_s) {
      fail_row(line, "first_seen is after last_seen");
      return absl::OkStatus();
    }
    if (const std::string_view text = field(count); !text.empty()) {
      std::uint64_t value = 0;
      const bool digits = text.size() <= 12 && std::all_of(text.begin(), text.end(), [](char c) {
                            return c >= '0' && c <= '9';
                          });
      for (char c : text) value = digits ? value * 10 + static_cast<std::uint64_t>(c - '0') : 0;
      if (!digits || value == 0) {
        fail_row(line, cat("count '", clean_reason(text), "' is not a number from 1"));
        return absl::OkStatus();
      }
      entry.count = value;
    }
    if (absl::Status status = batch->add(entry); !status.ok()) return status;
    ++report.imported;
    return absl::OkStatus();
  };
  if (headerless) {
    const std::vector<std::string_view> first = {header[0]};
    if (absl::Status status = import_row(1, first); !status.ok()) return status;
  }
  CsvRow row;
  std::string error_text;
  while (true) {
    const CsvReader::Next next = csv.next(row, error_text);
    if (next == CsvReader::Next::end) break;
    if (next == CsvReader::Next::bad_row) {
      ++report.rows;
      fail_row(row.line, error_text);
      continue;
    }
    if (absl::Status status = import_row(row.line, row.fields); !status.ok()) return status;
  }
  if (!csv.status().ok()) return csv.status();  // the batch rolls back: nothing half-imported
  if (absl::Status status = batch->commit(); !status.ok()) return status;
  return report;
}

absl::StatusOr<std::uint64_t> SuppressionStore::export_csv(int fd) {
  std::string out = "address,reason,source,first_seen,last_seen,count\n";
  std::uint64_t entries = 0;
  bool write_failed = false;
  absl::Status listed = list([&](const SuppressionEntry& entry) {
    // "@domain" entries and free-text reasons: written so that a spreadsheet shows them as
    // text, never runs them; import_csv strips the guard again.
    append_spreadsheet_field(entry.address, out);
    out.push_back(',');
    append_spreadsheet_field(entry.reason, out);
    append(out, ",", suppression_source_name(entry.source), ",",
           format_suppression_time(entry.first_seen_unix_s), ",",
           format_suppression_time(entry.last_seen_unix_s), ",", entry.count, "\n");
    ++entries;
    if (out.size() >= (1 << 16)) {
      write_failed = !write_fully(fd, out);
      out.clear();
    }
    return !write_failed;
  });
  if (!listed.ok()) return listed;
  if (write_failed || !write_fully(fd, out)) {
    return absl::InternalError(cat("cannot write the export: ", std::strerror(errno)));
  }
  return entries;
}

// ---- The filter ------------------------------------------------------------------------------

namespace {
std::uint64_t hash_key(std::string_view key) {
  return absl::Hash<absl::string_view>{}(absl::string_view(key.data(), key.size()));
}
}  // namespace

SuppressionFilter::SuppressionFilter(std::uint64_t keys_expected) {
  // 10 bits a key; a 512-bit block each probe.
  const std::uint64_t keys = std::max<std::uint64_t>(keys_expected, 1024);
  blocks_.resize((keys * 10 + 511) / 512);
  for (Block& block : blocks_) std::fill(std::begin(block.words), std::end(block.words), 0);
}

// A split block Bloom filter (as in Parquet): the high 32 bits pick the block, eight 6-bit
// fields of a remixed hash pick one bit in each of the block's eight words.
void SuppressionFilter::add_hash(std::uint64_t hash) {
  Block& block = blocks_[((hash >> 32) * blocks_.size()) >> 32];
  const std::uint64_t bits = hash * 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < 8; ++i) block.words[i] |= std::uint64_t{1} << ((bits >> (6 * i + 16)) & 63);
}

bool SuppressionFilter::may_contain_hash(std::uint64_t hash) const {
  const Block& block = blocks_[((hash >> 32) * blocks_.size()) >> 32];
  const std::uint64_t bits = hash * 0x9E3779B97F4A7C15ULL;
  std::uint64_t missing = 0;
  for (int i = 0; i < 8; ++i) {
    missing |= ~block.words[i] & (std::uint64_t{1} << ((bits >> (6 * i + 16)) & 63));
  }
  return missing == 0;
}

void SuppressionFilter::add(std::string_view key) { add_hash(hash_key(key)); }

bool SuppressionFilter::may_contain(std::string_view key) const {
  return may_contain_hash(hash_key(key));
}

bool SuppressionFilter::may_contain_address(std::string_view address) const {
  const std::size_t at = address.rfind('@');
  HAYATE_ASSERT(at != std::string_view::npos);
  return may_contain(address) || may_contain(address.substr(at));
}

absl::StatusOr<SuppressionFilter> SuppressionFilter::build(SuppressionStore& store) {
  absl::StatusOr<std::uint64_t> rows = store.count();
  if (!rows.ok()) return rows.status();
  SuppressionFilter filter(*rows);
  if (absl::Status status = store.list_keys([&](std::string_view key) { filter.add(key); });
      !status.ok()) {
    return status;
  }
  return filter;
}

absl::StatusOr<std::unique_ptr<SuppressionChecker>> SuppressionChecker::open(
    const std::string& path, SuppressionPolicy policy, std::uint64_t recipients_expected) {
  auto checker = std::make_unique<SuppressionChecker>();
  absl::StatusOr<std::unique_ptr<SuppressionStore>> store =
      SuppressionStore::open(path, policy, /*create=*/false);
  if (store.status().code() == absl::StatusCode::kNotFound) return checker;  // no list: empty
  if (!store.ok()) return store.status();
  checker->store_ = std::move(*store);
  absl::StatusOr<std::uint64_t> rows = checker->store_->count();
  if (!rows.ok()) return rows.status();
  checker->entries_ = *rows;
  if (*rows >= suppression_filter_rows_min &&
      recipients_expected / suppression_filter_recipients_per_entry_min >= *rows) {
    absl::StatusOr<SuppressionFilter> filter = SuppressionFilter::build(*checker->store_);
    if (!filter.ok()) return filter.status();
    checker->filter_ = std::move(*filter);
  }
  return checker;
}

absl::StatusOr<bool> SuppressionChecker::is_suppressed(std::string_view address,
                                                       SuppressionEntry& entry) {
  if (entries_ == 0) return false;
  if (filter_ && !filter_->may_contain_address(address)) return false;
  return store_->is_suppressed(address, entry);
}

}  // namespace hayate::campaign::bounce
