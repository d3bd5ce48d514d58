// The suppression list: addresses and whole domains that must never be mailed again, in one
// SQLite file (WAL, so a cron run and `hayate suppress add` share it), with the policy that
// turns bounces and complaints into entries. `hayate run` checks every recipient against it
// before any connection is made; SuppressionFilter keeps that check off the disk.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hayate::campaign::inline bounce {

inline constexpr std::uint32_t suppression_schema_version = 1;
// PRAGMA application_id: "HYSP", so `file` and hayate both tell this database from others.
inline constexpr std::int32_t suppression_application_id = 0x48595350;
// How long a connection waits for another process's write transaction before giving up.
inline constexpr int suppression_busy_timeout_ms = 10'000;
inline constexpr std::size_t suppression_reason_bytes_max = 1000;

enum class SuppressionSource : std::uint8_t { bounce, complaint, unsubscribe, import, manual };
const char* suppression_source_name(SuppressionSource source);
bool parse_suppression_source(std::string_view text, SuppressionSource& source);

// Keys: a normalized address "local@domain", or "@domain" for every address of a domain.
// The domain is lower-cased and IDNA A-labels (campaign/address.h); the local part is kept as
// given, as hayate sends it: RFC 5321 2.4 leaves its case to the receiving server, and a
// bounce, a complaint or a VERP token names the exact address mailed, so an entry matches that
// recipient byte for byte and never a different mailbox on a server that tells case apart.
// Accepts "user@Example.COM", "@Example.COM", "@bücher.example"; errors say what is wrong.
bool normalize_suppression_key(std::string_view input, std::string& key, std::string& error);

// "2026-11-03T14:05:09Z": how exports and listings write times (RFC 3339, UTC).
std::string format_suppression_time(std::int64_t unix_s);

struct SuppressionEntry {
  std::string address;  // the key: "local@domain" or "@domain"
  std::string reason;   // a bounce reason ("userunknown", "mailboxfull"...) or free text
  SuppressionSource source = SuppressionSource::manual;
  std::int64_t first_seen_unix_s = 0;
  std::int64_t last_seen_unix_s = 0;
  std::uint64_t count = 1;  // events that hit this entry (for soft bounces: those in the window)
};

// Soft bounces suppress once `soft_bounce_count` of them fall within `soft_bounce_days`
// (last - first < days * 86400 s). Hard bounces, complaints, unsubscribes, imports and manual
// entries suppress at once.
struct SuppressionPolicy {
  std::uint32_t soft_bounce_count = 3;
  std::uint32_t soft_bounce_days = 7;
};
inline constexpr std::uint32_t soft_bounce_count_max = 1000;
inline constexpr std::uint32_t soft_bounce_days_max = 3650;

struct SuppressionEvent {
  std::string_view address;  // an address or "@domain"; normalized by the store
  std::string_view reason;   // at most suppression_reason_bytes_max bytes are kept
  SuppressionSource source = SuppressionSource::bounce;
  bool hard = true;              // only read for bounces
  std::int64_t time_unix_s = 0;  // when it happened (the caller's clock: the policy is pure)
};

enum class EventOutcome : std::uint8_t {
  suppressed,          // a new entry
  already_suppressed,  // the entry (the address's own) was updated: last_seen, count
  soft_counted,        // a soft bounce below the threshold: kept in the history
};

struct ImportReport {
  std::uint64_t rows = 0;           // data rows read
  std::uint64_t imported = 0;       // rows added or merged
  std::vector<std::string> errors;  // "file:line: what", the first import_errors_listed_max
  std::uint64_t error_count = 0;    // all of them
};
inline constexpr std::size_t import_errors_listed_max = 100;

class SuppressionStore {
 public:
  // Opens (creating when missing, unless `create` is false) the database at `path`: WAL mode,
  // a busy timeout, the schema checked against PRAGMA user_version. Errors name the path: not
  // a hayate suppression list, made by a newer hayate, cannot be opened or created.
  static absl::StatusOr<std::unique_ptr<SuppressionStore>> open(const std::string& path,
                                                                SuppressionPolicy policy = {},
                                                                bool create = true);
  ~SuppressionStore();
  SuppressionStore(const SuppressionStore&) = delete;
  SuppressionStore& operator=(const SuppressionStore&) = delete;

  const std::string& path() const { return path_; }
  const SuppressionPolicy& policy() const { return policy_; }

  // Applies the policy to one event. In its own transaction unless a Batch is open.
  absl::StatusOr<EventOutcome> record_event(const SuppressionEvent& event);

  // Many events in one transaction (one fsync): ingesting a mailbox of bounces. Holds the
  // write lock until commit() or destruction (which rolls back). One batch at a time.
  class Batch {
   public:
    ~Batch();
    Batch(Batch&& other) noexcept : store_(other.store_) { other.store_ = nullptr; }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    Batch& operator=(Batch&&) = delete;
    absl::StatusOr<EventOutcome> record_event(const SuppressionEvent& event);
    absl::Status add(const SuppressionEntry& entry);
    absl::Status commit();

   private:
    friend class SuppressionStore;
    explicit Batch(SuppressionStore* store) : store_(store) {}
    SuppressionStore* store_;
  };
  absl::StatusOr<Batch> begin_batch();

  // Adds or merges an entry whose address is normalize_suppression_key()'s form: first_seen
  // the earlier, last_seen the later, count the larger, reason and source those of the later
  // (so importing an export twice changes nothing). Clears the address's soft-bounce history.
  absl::Status add(const SuppressionEntry& entry);
  // Removes an entry (normalized key) and its soft-bounce history. False when there was none.
  absl::StatusOr<bool> remove(std::string_view key);
  // The entry with exactly this key, or nullopt.
  absl::StatusOr<std::optional<SuppressionEntry>> find(std::string_view key);
  // The hot path: whether the normalized `address` is suppressed, by its own entry or by its
  // domain's (the address's wins when both exist); `entry` gets the matching entry. Two
  // lookups with prepared statements on the primary key; no allocation once `entry` has grown.
  absl::StatusOr<bool> is_suppressed(std::string_view address, SuppressionEntry& entry);
  // Every entry in key order; `visit` returns false to stop.
  absl::Status list(const std::function<bool(const SuppressionEntry&)>& visit);
  // Every key in storage order (fast; for SuppressionFilter).
  absl::Status list_keys(const std::function<void(std::string_view key)>& visit);
  absl::StatusOr<std::uint64_t> count();
  // Soft-bounce history rows (tests and `suppress list --json` statistics).
  absl::StatusOr<std::uint64_t> soft_bounce_rows();

  // CSV with a header row; columns address (or email), reason, source, first_seen, last_seen,
  // count in any order, unknown ones ignored, only the address required. A file of bare
  // addresses without a header works too. Times are RFC 3339 ("2026-11-03T14:05:09Z") or
  // unix seconds; missing ones are `now_unix_s`, a missing source is `default_source`. Bad rows
  // are reported as "file:line: why" and skipped; the rest is imported in one transaction.
  absl::StatusOr<ImportReport> import_csv(const std::string& csv_path,
                                          SuppressionSource default_source,
                                          std::int64_t now_unix_s);
  // Writes every entry as CSV (header address,reason,source,first_seen,last_seen,count; RFC
  // 3339 UTC times) to `fd`. Returns the number of entries.
  absl::StatusOr<std::uint64_t> export_csv(int fd);

 private:
  SuppressionStore() = default;
  absl::Status exec(const char* sql);
  absl::Status error(std::string_view what) const;  // the connection's last error
  absl::Status prepare_all();
  absl::Status check_schema(bool locked);
  absl::Status begin_immediate();
  absl::Status end_transaction(bool commit);
  absl::StatusOr<EventOutcome> record_event_locked(const SuppressionEvent& event);
  absl::Status add_locked(const SuppressionEntry& entry);
  absl::StatusOr<bool> find_locked(std::string_view key, SuppressionEntry& entry);
  absl::StatusOr<EventOutcome> record_soft_bounce(const std::string& key,
                                                  const SuppressionEvent& event,
                                                  std::string_view reason);
  // Runs `body` in a transaction of its own, or in the open batch.
  template <typename Body>
  auto in_transaction(Body body) -> decltype(body());

  std::string path_;
  SuppressionPolicy policy_;
  sqlite3* db_ = nullptr;
  bool batch_open_ = false;
  struct Statements;
  std::unique_ptr<Statements> statements_;
};

// A run's in-memory view of the list's keys: a blocked Bloom filter (one 64-byte cache line
// per key, about 1% false positives at 10 bits a key: 12 MB for 10 million entries) built
// with one scan at start. A recipient that misses it is not suppressed, certainly; a hit is
// confirmed (and its entry read) with SuppressionStore::is_suppressed. Entries added after the
// scan are not seen by this run.
class SuppressionFilter {
 public:
  // Sized for `keys_expected` (at least 1024) keys.
  explicit SuppressionFilter(std::uint64_t keys_expected);
  static absl::StatusOr<SuppressionFilter> build(SuppressionStore& store);
  void add(std::string_view key);
  // False: `key` was never added. True: probably added.
  bool may_contain(std::string_view key) const;
  // May the normalized address, or its domain ("@" + domain), be in the list?
  bool may_contain_address(std::string_view address) const;
  std::size_t memory_bytes() const { return blocks_.size() * sizeof(Block); }

 private:
  struct alignas(64) Block {
    std::uint64_t words[8];
  };
  bool may_contain_hash(std::uint64_t hash) const;
  void add_hash(std::uint64_t hash);
  std::vector<Block> blocks_;
};

// What `hayate run` uses: the store's lookups, and the filter in front of them only when it
// saves time overall. Measured on 10 million entries (bench/suppression_benchmark.cc): a
// lookup costs about 3 us a recipient and 2 MB of page cache; the filter 0.2 us a recipient,
// but 0.3 us and 1.25 bytes an entry to build at start. So the filter is built only for lists
// of suppression_filter_rows_min or more and at least twice as many recipients as entries
// (a 10 million list with 10 million recipients stays on lookups: no start-up delay, and the
// run stays within its memory budget).
class SuppressionChecker {
 public:
  // A missing file is an empty list (nothing is created); any other failure is an error.
  // `recipients_expected`: an estimate, 0 when unknown.
  static absl::StatusOr<std::unique_ptr<SuppressionChecker>> open(
      const std::string& path, SuppressionPolicy policy, std::uint64_t recipients_expected = 0);
  // As SuppressionStore::is_suppressed.
  absl::StatusOr<bool> is_suppressed(std::string_view address, SuppressionEntry& entry);
  std::uint64_t entries() const { return entries_; }
  bool filtered() const { return filter_.has_value(); }

 private:
  std::unique_ptr<SuppressionStore> store_;
  std::optional<SuppressionFilter> filter_;
  std::uint64_t entries_ = 0;
};
// Below this many entries the store alone answers (its pages stay in SQLite's cache).
inline constexpr std::uint64_t suppression_filter_rows_min = 100'000;
inline constexpr std::uint64_t suppression_filter_recipients_per_entry_min = 2;

}  // namespace hayate::campaign::bounce
