// The campaign journal: journal.bin in the run's output directory, an append-only record of
// every recipient's outcome, checksummed and fsynced in group commits, so that a crash, kill -9,
// reboot or full disk never loses an outcome reported as recorded, and a rerun resumes.
//
// File format (little-endian). A 128-byte header:
//     0  8  magic "HAYATEJ1"
//     8  2  format version (1)
//    10  2  header size in bytes (128)
//    12  4  flags (0)
//    16  8  creation time, unix ms (i64)
//    24 32  fingerprint: SHA-256 of the inputs (journal_fingerprint)
//    56  1  campaign id length, 1..64
//    57 64  campaign id, zero padded
//   121  3  zero
//   124  4  CRC-32C of bytes 0..123; it also seeds every record's CRC ("salt")
// then records back to back, 4 to 30 bytes each:
//   type u8 | sequence varint | attempts varint | [time: zigzag varint] | CRC-32C u32
// Varints are LEB128 in their shortest form; only attempt_deferred, run_started, run_ended
// and batch_end carry a time. The CRC covers type..time and is seeded with the header's CRC,
// so a record spliced from another journal fails it. A final outcome for a recipient in the
// ten millions takes 10 bytes (a fixed 32-byte record would take 32); a retry takes 16.
//
// Group commit: each producer (a shard, the reader) appends encoded records to its own buffer
// under its own mutex, which only the writer thread ever contends for, once per commit. The
// writer thread swaps the buffers out every commit_interval_ms (or at once when one holds
// commit_bytes), writes them with one writev followed by a batch_end record, and fdatasyncs.
// Only then do the producers' durable() counts move: an outcome counts as recorded after that.
// The batch_end records say how far committed data goes: replay that meets a damaged record
// looks for a later batch_end; none means a torn tail (an unfinished write, cut off and
// resumed), one means damage inside committed data (refused unless forced).
//
// A run: open_journal() first (earlier runs come back as OpenedJournal::state), one producer
// per shard and one for the reader, an append wherever deliveries.jsonl gets an outcome, and
// close(exit code) once the shards have joined. A rerun skips recipients whose status() is
// finished or rejected, continues retry() schedules, and sends the others. Outcomes not yet
// committed when the process dies (at most commit_interval_ms plus one fsync's worth) are
// sent again: SMTP cannot make delivery exactly-once, the journal keeps the window small.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "campaign/output/outcome.h"
#include "engine/files.h"

namespace hayate::campaign::inline output {

inline constexpr char journal_file_name[] = "journal.bin";
inline constexpr std::uint16_t journal_format_version = 1;
inline constexpr std::size_t journal_header_bytes = 128;
inline constexpr std::size_t journal_record_bytes_max = 30;  // 1 + 10 + 5 + 10 + 4
inline constexpr std::size_t journal_campaign_id_bytes_max = 64;
inline constexpr std::size_t journal_fingerprint_bytes = 32;

// Group commit defaults. 10 ms bounds the outcomes a power cut can take back (they will be
// sent again) while keeping fsyncs near 100/s whatever the sending rate.
inline constexpr std::uint32_t journal_commit_interval_ms = 10;
inline constexpr std::size_t journal_commit_bytes = 1 << 20;  // a producer this full: commit now
// A producer this full waits for the writer (a stalled disk): memory stays bounded.
inline constexpr std::size_t journal_producer_bytes_max = 8 << 20;
static_assert(journal_commit_bytes < journal_producer_bytes_max);

enum class JournalRecordType : std::uint8_t {
  // 0 is never written: a zero-filled tail (a file system's unwritten blocks) reads as damage.
  final_delivered = 1,   // 2xx after the final dot
  final_bounced = 2,     // 5xx, or a permanent DNS answer
  final_deferred = 3,    // still deferred when its schedule, the deadline or the run ended
  final_rejected = 4,    // the row was refused on input (appended by the reader)
  attempt_deferred = 5,  // a temporary failure; time_unix_ms is the next retry
  run_started = 6,       // written by the writer: sequence = run number (1-based)
  run_ended = 7,         // written by close(): sequence = run number, attempts = exit code
  batch_end = 8,         // written by the writer after each commit: sequence = batch number
  final_suppressed = 9,  // on the suppression list when read (appended by the reader)
};
inline constexpr std::uint8_t journal_record_type_max = 9;

struct JournalRecord {
  JournalRecordType type = JournalRecordType::final_delivered;
  std::uint64_t sequence = 0;     // recipients: CSV record number (Recipient::sequence)
  std::uint32_t attempts = 0;     // recipients: attempts made so far (Recipient::attempts)
  std::int64_t time_unix_ms = 0;  // attempt_deferred: next retry, wall clock; runs: when

  bool operator==(const JournalRecord&) const = default;
};

// The record type for an outcome as deliveries.jsonl states it: a deferral that is not final
// is attempt_deferred.
JournalRecordType journal_record_type(OutcomeType type, bool final);
bool journal_record_is_recipient(JournalRecordType type);
bool journal_record_has_time(JournalRecordType type);

// Wall-clock time in unix ms (CLOCK_REALTIME): retry times survive a reboot only in this clock.
std::int64_t unix_time_ms();

// CRC-32C (Castagnoli, as iSCSI and ext4 use), SSE4.2 when the CPU has it, a table if not.
// crc32c(crc32c(0, a), b) == crc32c(0, a + b); crc32c(0, "123456789") == 0xe3069283.
std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t size);
std::uint32_t crc32c_portable(std::uint32_t crc, const void* data, std::size_t size);

using JournalFingerprint = std::array<std::uint8_t, journal_fingerprint_bytes>;

// SHA-256 over the files in order, each streamed in 64 KB reads (a recipients file of any size
// is never held in memory): for each file its bytes, then its length as a u64. The lead passes
// the job file, the recipients file and the template files; renaming or moving them keeps the
// fingerprint, changing one byte changes it. Errors name the file.
absl::StatusOr<JournalFingerprint> journal_fingerprint(const std::vector<std::string>& paths);
std::string fingerprint_hex(const JournalFingerprint& fingerprint);

// Which campaign and inputs a journal belongs to.
struct JournalIdentity {
  std::string campaign_id;
  JournalFingerprint fingerprint{};
};

struct JournalHeader {
  std::uint16_t version = journal_format_version;
  std::int64_t created_unix_ms = 0;
  JournalIdentity identity;
  std::uint32_t salt = 0;  // the header's CRC: seeds every record's CRC
};

// Encodes the header (computes header.salt). Precondition: a campaign id of 1..64 bytes.
std::string encode_journal_header(JournalHeader& header);
// Encodes one record into `out` (journal_record_bytes_max bytes); returns its size.
std::size_t encode_journal_record(const JournalRecord& record, std::uint32_t salt,
                                  std::uint8_t* out);

enum class RecordDecode : std::uint8_t {
  ok,
  truncated,  // the bytes end inside the record
  bad_type,   // 0 or an unknown type
  bad_field,  // a varint too long or not in its shortest form, a value out of range
  bad_checksum,
};
const char* record_decode_name(RecordDecode result);
// Decodes the record at the start of `bytes`. Pure: no I/O, any bytes accepted.
RecordDecode decode_journal_record(std::string_view bytes, std::uint32_t salt,
                                   JournalRecord& record, std::size_t& consumed_bytes);

// What replay found past the last valid record.
enum class JournalDamage : std::uint8_t {
  none,
  torn_tail,  // an unfinished write: no committed batch follows. Cut off and resumed.
  corrupt,    // a damaged record with committed batches after it: resuming loses them
};

// A recipient as the journal leaves it.
enum class RecipientStatus : std::uint8_t {
  open = 0,      // no final outcome: send it (continuing its schedule if retry() has one)
  finished = 1,  // delivered, bounced or suppressed: never again
  rejected = 2,  // refused on input
  deferred = 3,  // ended deferred in an earlier run: schedule, deadline or abort (see report)
};

struct RetryState {
  std::uint32_t attempts = 0;
  std::int64_t next_retry_unix_ms = 0;
  bool operator==(const RetryState&) const = default;
};

// Totals over every run, the way an uninterrupted run would count them.
struct JournalCounts {
  std::uint64_t delivered = 0;
  std::uint64_t bounced = 0;
  std::uint64_t rejected = 0;
  std::uint64_t deferred = 0;           // ended deferred, not finished since
  std::uint64_t attempts_deferred = 0;  // attempt_deferred records: retries scheduled
  std::uint64_t duplicates = 0;         // outcomes after a final one: ignored
  std::uint64_t suppressed = 0;         // skipped as on the suppression list
  bool operator==(const JournalCounts&) const = default;
};

// Two bits per sequence in blocks of 32768 sequences (8 KB), allocated as sequences appear:
// 10 million recipients take 2.5 MB, and a stray huge sequence one block, not gigabytes.
class SequenceStates {
 public:
  RecipientStatus get(std::uint64_t sequence) const;
  void set(std::uint64_t sequence, RecipientStatus status);
  std::size_t memory_bytes() const;

 private:
  static constexpr std::uint64_t sequences_per_block = 32768;
  using Block = std::array<std::uint64_t, sequences_per_block / 32>;
  std::uint64_t* block_for(std::uint64_t sequence);
  absl::flat_hash_map<std::uint64_t, std::unique_ptr<Block>> blocks_;
  std::uint64_t cached_index_ = ~std::uint64_t{0};
  Block* cached_ = nullptr;
};

// A journal replayed: what each recipient's fate is, the totals, the runs, and any damage.
// Immutable once built: the reader and the shards may query it from any thread.
struct JournalState {
  JournalHeader header;
  JournalCounts counts;
  std::uint64_t records = 0;     // valid records, every type
  std::uint64_t last_batch = 0;  // number of the last batch_end seen
  std::uint32_t runs_started = 0;
  std::uint32_t runs_ended = 0;  // runs_ended < runs_started: the last run was cut short
  int last_exit_code = -1;       // of the last run_ended, -1 if none
  std::int64_t first_run_started_unix_ms = 0;
  std::int64_t last_commit_unix_ms = 0;  // time of the last batch_end

  JournalDamage damage = JournalDamage::none;
  std::uint64_t valid_bytes = 0;    // header and every valid record before the damage
  std::uint64_t dropped_bytes = 0;  // from the damage to the end of the file
  std::string damage_message;       // what and where, for people

  RecipientStatus status(std::uint64_t sequence) const { return states_.get(sequence); }
  // A recipient in its retry schedule (no final outcome yet), or nullptr.
  const RetryState* retry(std::uint64_t sequence) const;
  const absl::flat_hash_map<std::uint64_t, RetryState>& retries() const { return retries_; }
  std::size_t memory_bytes() const;

  // Folds one record into the state (replay's step; exposed for tests).
  void apply(const JournalRecord& record);

 private:
  SequenceStates states_;
  absl::flat_hash_map<std::uint64_t, RetryState> retries_;
};

// Replays journal bytes. Pure. Header problems are errors: not a journal, another version, a
// damaged header, another campaign, and (unless `force`) other inputs. Record damage is not an
// error: it is reported in the state (damage, valid_bytes, dropped_bytes, damage_message).
// `expected` may be null (no identity check: inspection tools, fuzzing).
absl::StatusOr<JournalState> parse_journal(std::string_view bytes, const JournalIdentity* expected,
                                           bool force);
// The same over a file, read-only (memory-mapped; nothing is changed or locked). Errors start
// with the path. Anything but a regular file is refused (a FIFO would block the open).
absl::StatusOr<JournalState> replay_journal(const std::string& path,
                                            const JournalIdentity* expected = nullptr,
                                            bool force = false);
// The same for `name` in `directory`, never through a symbolic link.
absl::StatusOr<JournalState> replay_journal(const Directory& directory, std::string_view name,
                                            const JournalIdentity* expected = nullptr,
                                            bool force = false);

// The two calls the writer makes on the file, replaceable to simulate a full or failing disk.
struct JournalIo {
  std::function<ssize_t(int fd, const iovec* iov, int count)> writev;
  std::function<int(int fd)> datasync;
  static JournalIo system();  // ::writev and ::fdatasync
};

struct JournalOptions {
  // Resume despite a fingerprint mismatch (the inputs changed: rows must keep their places),
  // or despite damage inside committed data (records after it are lost).
  bool force = false;
  std::uint32_t commit_interval_ms = journal_commit_interval_ms;
  std::size_t commit_bytes = journal_commit_bytes;
  std::size_t producer_bytes_max = journal_producer_bytes_max;
  JournalIo io = JournalIo::system();
  // Called once, on the writer thread, when the journal fails (the run must stop sending).
  // Must not call the writer's sync() or close().
  std::function<void(const std::string& error)> on_failure;
  // Called on the writer thread after each commit, when durable() counts have moved: a way to
  // wake shards that wait for their outcomes to be recorded. Keep it short.
  std::function<void()> on_commit;
};

struct JournalStats {
  std::uint64_t commits = 0;        // batches written and synced
  std::uint64_t records = 0;        // records in them, batch_end excluded
  std::uint64_t bytes = 0;          // bytes written, header excluded
  std::uint64_t sync_ns_total = 0;  // time in fdatasync
  std::uint64_t sync_ns_max = 0;
};

class JournalWriter;
struct OpenedJournal;

// One thread's way into the journal. append() is wait-free but for a mutex that only the
// writer thread takes, once per commit (about 20 ns uncontended). Not thread-safe itself:
// one producer per thread.
class JournalProducer {
 public:
  // Buffers a recipient's record. False when the journal failed or was closed: the outcome is
  // not recorded and the run must stop sending. Precondition: a recipient type, sequence >= 1.
  bool append(const JournalRecord& record);
  // Records this producer accepted so far (call from its thread).
  std::uint64_t appended() const { return appended_; }
  // How many of them are on disk (any thread): the first durable() appends are recorded.
  std::uint64_t durable() const { return durable_.load(std::memory_order_acquire); }

  JournalProducer(const JournalProducer&) = delete;
  JournalProducer& operator=(const JournalProducer&) = delete;

 private:
  friend class JournalWriter;
  JournalProducer(JournalWriter& writer, std::uint32_t salt) : writer_(writer), salt_(salt) {}
  bool append_any(const JournalRecord& record);

  JournalWriter& writer_;
  const std::uint32_t salt_;
  std::mutex mutex_;
  std::string buffer_;          // guarded by mutex_
  std::uint64_t appended_ = 0;  // written under mutex_, only by the producer's thread
  alignas(64) std::atomic<std::uint64_t> durable_{0};
};

class JournalWriter {
 public:
  ~JournalWriter();  // commits what was appended and stops, without a run_ended record
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // A producer for one thread; valid as long as the writer. May be called at any time.
  JournalProducer& add_producer();
  // Waits until everything appended (by any thread) before the call is on disk. False if the
  // journal failed.
  bool sync();
  // Appends run_ended with `exit_code`, commits, stops the writer thread and closes the file.
  // The error, if the journal failed at any point.
  absl::Status close(int exit_code);

  bool failed() const { return failed_.load(std::memory_order_acquire); }
  std::string error() const;  // empty unless failed(): what, which file, errno text
  JournalStats stats() const;
  std::uint32_t run() const { return run_; }  // this run's number, 1 for the first
  const std::string& path() const { return path_; }

 private:
  friend class JournalProducer;
  friend absl::StatusOr<OpenedJournal> open_journal(const Directory&, std::string_view,
                                                    const JournalIdentity&, const JournalOptions&);
  JournalWriter(std::string path, int fd, std::uint32_t salt, JournalOptions options,
                std::uint32_t run, std::uint64_t last_batch);
  void start();
  void stop();
  void thread_main();
  bool commit();
  bool write_all(std::vector<iovec>& iov);
  void fail(std::string error);
  void notify_pending();
  void request_commit(bool wait);

  const std::string path_;
  int fd_;
  const std::uint32_t salt_;
  const JournalOptions options_;
  const std::uint32_t run_;
  std::uint64_t batch_ = 0;  // last batch number written (writer thread)

  std::atomic<bool> accepting_{true};
  std::atomic<bool> failed_{false};
  mutable std::mutex error_mutex_;
  std::string error_;

  std::mutex producers_mutex_;
  std::vector<std::unique_ptr<JournalProducer>> producers_;
  JournalProducer* own_ = nullptr;  // run_started, run_ended

  // Writer thread state. wake_mutex_ guards the flags and counters below.
  std::mutex wake_mutex_;
  std::condition_variable wake_;       // the writer waits here
  std::condition_variable committed_;  // sync() and full producers wait here
  std::atomic<bool> pending_{false};   // some producer buffer went from empty to not empty
  bool urgent_ = false;
  bool stop_ = false;
  bool thread_done_ = false;
  std::uint64_t commits_started_ = 0;
  std::uint64_t commits_completed_ = 0;
  std::thread thread_;

  struct Taken {
    std::string bytes;
    std::uint64_t appended = 0;
  };
  std::vector<Taken> taken_;  // writer thread only

  std::atomic<std::uint64_t> stat_commits_{0};
  std::atomic<std::uint64_t> stat_records_{0};
  std::atomic<std::uint64_t> stat_bytes_{0};
  std::atomic<std::uint64_t> stat_sync_ns_total_{0};
  std::atomic<std::uint64_t> stat_sync_ns_max_{0};
};

struct OpenedJournal {
  std::unique_ptr<JournalWriter> writer;
  JournalState state;    // what earlier runs recorded (empty for a new journal)
  bool created = false;  // a new journal.bin
};

// Opens the journal at `path` for this run. A missing or empty file (or one cut short while
// its header was written) becomes a new journal for `identity`; an existing one is replayed
// (errors as parse_journal, plus: damage inside committed data unless options.force), a torn
// tail is cut off, and appends continue after the last valid record. The file is locked
// (flock) for the writer's life: a second run fails with kUnavailable. Writes run_started.
// The file is `name` in `directory` (Directory::open_file: never through a link, a new one
// private_file_mode, as it lists which recipients were mailed); a path opens its directory.
absl::StatusOr<OpenedJournal> open_journal(const Directory& directory, std::string_view name,
                                           const JournalIdentity& identity,
                                           const JournalOptions& options = {});
absl::StatusOr<OpenedJournal> open_journal(const std::string& path, const JournalIdentity& identity,
                                           const JournalOptions& options = {});

}  // namespace hayate::campaign::output
