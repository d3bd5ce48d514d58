// Tests of the campaign journal: CRC-32C vectors (RFC 3720 B.4), record and header encoding,
// replay semantics, group commit from many threads, torn tails at every offset, damage inside
// committed data, identity checks, a full disk (injected, and a real tmpfs when root), kill -9
// of a writing process, and the replay time of a million records.
#include "campaign/output/journal.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign {
namespace {

using Type = JournalRecordType;

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "hayate_journal_XXXXXX").string();
    HAYATE_ASSERT(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

JournalIdentity identity(std::string campaign = "spring-2026", std::uint8_t seed = 1) {
  JournalIdentity id;
  id.campaign_id = std::move(campaign);
  for (std::size_t i = 0; i < id.fingerprint.size(); ++i) {
    id.fingerprint[i] = static_cast<std::uint8_t>(seed + i);
  }
  return id;
}

JournalOptions fast_options() {
  JournalOptions options;
  options.commit_interval_ms = 2;
  return options;
}

JournalRecord rec(Type type, std::uint64_t sequence, std::uint32_t attempts = 1,
                  std::int64_t time_unix_ms = 0) {
  return JournalRecord{type, sequence, attempts, time_unix_ms};
}

// A journal built byte by byte, remembering where each record starts.
struct Built {
  std::string bytes;
  std::vector<std::size_t> starts;
  std::uint32_t salt = 0;
  void add(const JournalRecord& record) {
    std::uint8_t buffer[journal_record_bytes_max];
    starts.push_back(bytes.size());
    bytes.append(reinterpret_cast<const char*>(buffer),
                 encode_journal_record(record, salt, buffer));
  }
};

Built build_header(const JournalIdentity& id = identity()) {
  Built built;
  JournalHeader header;
  header.created_unix_ms = 1'767'225'600'000;  // 2026-01-01
  header.identity = id;
  built.bytes = encode_journal_header(header);
  built.salt = header.salt;
  return built;
}

JournalState parse_ok(std::string_view bytes, const JournalIdentity* expected = nullptr) {
  absl::StatusOr<JournalState> state = parse_journal(bytes, expected, false);
  EXPECT_TRUE(state.ok()) << state.status();
  return state.ok() ? *std::move(state) : JournalState{};
}

std::string parse_error(std::string_view bytes, const JournalIdentity* expected = nullptr,
                        bool force = false) {
  absl::StatusOr<JournalState> state = parse_journal(bytes, expected, force);
  EXPECT_FALSE(state.ok());
  return state.ok() ? "<ok>" : std::string(state.status().message());
}

// ---- CRC-32C -----------------------------------------------------------------------------------

TEST(Crc32c, Rfc3720Vectors) {
  for (auto* function : {&crc32c, &crc32c_portable}) {
    EXPECT_EQ(function(0, "123456789", 9), 0xe3069283u);
    std::uint8_t bytes[32];
    std::memset(bytes, 0, sizeof(bytes));
    EXPECT_EQ(function(0, bytes, 32), 0x8a9136aau);
    std::memset(bytes, 0xff, sizeof(bytes));
    EXPECT_EQ(function(0, bytes, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; ++i) bytes[i] = static_cast<std::uint8_t>(i);
    EXPECT_EQ(function(0, bytes, 32), 0x46dd794eu);
    for (int i = 0; i < 32; ++i) bytes[i] = static_cast<std::uint8_t>(31 - i);
    EXPECT_EQ(function(0, bytes, 32), 0x113fdb5cu);
    EXPECT_EQ(function(0, "", 0), 0u);
  }
}

TEST(Crc32c, HardwareAndTableAgreeAndExtend) {
  std::mt19937_64 random(7);
  std::vector<std::uint8_t> data(600);
  for (auto& byte : data) byte = static_cast<std::uint8_t>(random());
  for (std::size_t offset = 0; offset < 9; ++offset) {
    for (std::size_t size = 0; size + offset <= 300; ++size) {
      const std::uint8_t* start = data.data() + offset;
      const std::uint32_t whole = crc32c(0, start, size);
      ASSERT_EQ(whole, crc32c_portable(0, start, size)) << offset << " " << size;
      const std::size_t half = size / 3;
      ASSERT_EQ(whole, crc32c(crc32c(0, start, half), start + half, size - half));
    }
  }
}

// ---- Records -----------------------------------------------------------------------------------

TEST(JournalRecordCoding, RoundTripsEveryTypeAndEdgeValue) {
  const std::uint32_t salt = 0x12345678;
  const std::uint64_t sequences[] = {1, 127, 128, 16383, 16384, 10'000'000, 1ull << 63, UINT64_MAX};
  const std::uint32_t attempts_list[] = {0, 1, 127, 65535, UINT32_MAX};
  const std::int64_t times[] = {0, -1, 1, 1'767'225'600'000, INT64_MIN, INT64_MAX};
  int checked = 0;
  for (std::uint8_t t = 1; t <= journal_record_type_max; ++t) {
    const auto type = static_cast<Type>(t);
    for (std::uint64_t sequence : sequences) {
      for (std::uint32_t attempts : attempts_list) {
        for (std::int64_t time : times) {
          const JournalRecord record{type, sequence, attempts,
                                     journal_record_has_time(type) ? time : 0};
          std::uint8_t bytes[journal_record_bytes_max + 8];
          const std::size_t size = encode_journal_record(record, salt, bytes);
          ASSERT_LE(size, journal_record_bytes_max);
          // Trailing bytes belong to the next record.
          std::memset(bytes + size, 0xab, 8);
          JournalRecord decoded;
          std::size_t consumed = 0;
          ASSERT_EQ(
              decode_journal_record(std::string_view(reinterpret_cast<char*>(bytes), size + 8),
                                    salt, decoded, consumed),
              RecordDecode::ok);
          ASSERT_EQ(consumed, size);
          ASSERT_EQ(decoded, record);
          // Every strict prefix is a torn record, never a different valid one.
          for (std::size_t cut = 0; cut < size; ++cut) {
            ASSERT_EQ(decode_journal_record(std::string_view(reinterpret_cast<char*>(bytes), cut),
                                            salt, decoded, consumed),
                      RecordDecode::truncated)
                << cut;
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 9 * 8 * 5 * 6);
}

TEST(JournalRecordCoding, SizesAreCompact) {
  std::uint8_t bytes[journal_record_bytes_max];
  // A final outcome for a recipient in the ten millions: 10 bytes.
  EXPECT_EQ(encode_journal_record(rec(Type::final_delivered, 10'000'000, 1), 0, bytes), 10u);
  EXPECT_EQ(encode_journal_record(rec(Type::final_bounced, 100, 1), 0, bytes), 7u);
  // A retry with a wall-clock time in 2026: 16 bytes.
  EXPECT_EQ(encode_journal_record(rec(Type::attempt_deferred, 10'000'000, 2, 1'767'225'600'000), 0,
                                  bytes),
            16u);
  // The longest possible record.
  EXPECT_EQ(encode_journal_record(
                JournalRecord{Type::attempt_deferred, UINT64_MAX, UINT32_MAX, INT64_MIN}, 0, bytes),
            journal_record_bytes_max);
}

// Builds a record by hand: type byte, raw field bytes, then a correct CRC.
std::string raw_record(std::uint8_t type, std::string_view fields, std::uint32_t salt) {
  std::string bytes(1, static_cast<char>(type));
  bytes.append(fields);
  const std::uint32_t crc = crc32c(salt, bytes.data(), bytes.size());
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>(crc >> (8 * i)));
  return bytes;
}

TEST(JournalRecordCoding, RejectsMalformedRecords) {
  JournalRecord record;
  std::size_t consumed = 0;
  auto decode = [&](std::string_view bytes, std::uint32_t salt = 5) {
    return decode_journal_record(bytes, salt, record, consumed);
  };
  EXPECT_EQ(decode(raw_record(1, std::string("\x05\x01", 2), 5)), RecordDecode::ok);
  EXPECT_EQ(record, rec(Type::final_delivered, 5, 1));
  EXPECT_EQ(decode(raw_record(1, std::string("\x05\x01", 2), 5), 6), RecordDecode::bad_checksum);
  EXPECT_EQ(decode(raw_record(0, std::string("\x05\x01", 2), 5)), RecordDecode::bad_type);
  EXPECT_EQ(decode(raw_record(10, std::string("\x05\x01", 2), 5)), RecordDecode::bad_type);
  EXPECT_EQ(decode(raw_record(0xff, std::string("\x05\x01", 2), 5)), RecordDecode::bad_type);
  // Sequence 0 names no one.
  EXPECT_EQ(decode(raw_record(1, std::string("\x00\x01", 2), 5)), RecordDecode::bad_field);
  // 5 written in two bytes: not the shortest form.
  EXPECT_EQ(decode(raw_record(1, std::string("\x85\x00\x01", 3), 5)), RecordDecode::bad_field);
  // Eleven varint bytes, and a tenth byte above 1 (over 64 bits).
  EXPECT_EQ(decode(raw_record(1, std::string(10, '\xff') + "\x01\x01", 5)),
            RecordDecode::bad_field);
  EXPECT_EQ(decode(raw_record(1, std::string(9, '\xff') + "\x02\x01", 5)), RecordDecode::bad_field);
  // Attempts above 32 bits.
  EXPECT_EQ(decode(raw_record(1, std::string("\x05\x80\x80\x80\x80\x10", 6), 5)),
            RecordDecode::bad_field);
  EXPECT_EQ(decode(""), RecordDecode::truncated);

  // Any single flipped bit is caught.
  std::uint8_t bytes[journal_record_bytes_max];
  const std::size_t size =
      encode_journal_record(rec(Type::attempt_deferred, 1'234'567, 3, 1'767'225'600'000), 5, bytes);
  for (std::size_t bit = 0; bit < size * 8; ++bit) {
    bytes[bit / 8] ^= static_cast<std::uint8_t>(1 << (bit % 8));
    EXPECT_NE(decode(std::string_view(reinterpret_cast<char*>(bytes), size)), RecordDecode::ok)
        << bit;
    bytes[bit / 8] ^= static_cast<std::uint8_t>(1 << (bit % 8));
  }
  EXPECT_EQ(decode(std::string_view(reinterpret_cast<char*>(bytes), size)), RecordDecode::ok);
}

TEST(JournalRecordCoding, OutcomeMapping) {
  EXPECT_EQ(journal_record_type(OutcomeType::delivered, true), Type::final_delivered);
  EXPECT_EQ(journal_record_type(OutcomeType::bounced, true), Type::final_bounced);
  EXPECT_EQ(journal_record_type(OutcomeType::rejected, true), Type::final_rejected);
  EXPECT_EQ(journal_record_type(OutcomeType::suppressed, true), Type::final_suppressed);
  EXPECT_TRUE(journal_record_is_recipient(Type::final_suppressed));
  EXPECT_FALSE(journal_record_has_time(Type::final_suppressed));
  EXPECT_EQ(journal_record_type(OutcomeType::deferred, true), Type::final_deferred);
  EXPECT_EQ(journal_record_type(OutcomeType::deferred, false), Type::attempt_deferred);
  EXPECT_TRUE(journal_record_is_recipient(Type::attempt_deferred));
  EXPECT_FALSE(journal_record_is_recipient(Type::run_started));
  EXPECT_FALSE(journal_record_is_recipient(Type::batch_end));
}

// ---- Header and identity -----------------------------------------------------------------------

TEST(JournalHeader, RoundTripAndLayout) {
  const Built built = build_header();
  ASSERT_EQ(built.bytes.size(), journal_header_bytes);
  EXPECT_EQ(built.bytes.substr(0, 8), "HAYATEJ1");
  EXPECT_EQ(built.bytes[8], 1);  // version, little-endian
  EXPECT_EQ(built.bytes[10], static_cast<char>(128));
  EXPECT_EQ(built.bytes[56], 11);  // strlen("spring-2026")
  EXPECT_EQ(built.bytes.substr(57, 11), "spring-2026");
  const JournalIdentity id = identity();
  const JournalState state = parse_ok(built.bytes, &id);
  EXPECT_EQ(state.header.identity.campaign_id, "spring-2026");
  EXPECT_EQ(state.header.identity.fingerprint, id.fingerprint);
  EXPECT_EQ(state.header.created_unix_ms, 1'767'225'600'000);
  EXPECT_EQ(state.header.salt, built.salt);
  EXPECT_EQ(state.damage, JournalDamage::none);
  EXPECT_EQ(state.valid_bytes, 128u);
  EXPECT_EQ(state.records, 0u);
}

TEST(JournalHeader, ErrorsSayWhatIsWrong) {
  const Built built = build_header();
  EXPECT_EQ(parse_error(""), "not a hayate journal (it does not start with HAYATEJ1)");
  EXPECT_EQ(parse_error("hello, world"), "not a hayate journal (it does not start with HAYATEJ1)");
  EXPECT_EQ(parse_error(built.bytes.substr(0, 7)),
            "the journal header is incomplete (7 of 128 bytes)");
  EXPECT_EQ(parse_error(built.bytes.substr(0, 127)),
            "the journal header is incomplete (127 of 128 bytes)");

  std::string other_version = built.bytes;
  other_version[8] = 2;
  EXPECT_EQ(parse_error(other_version), "journal format version 2; this hayate reads version 1");

  std::string damaged = built.bytes;
  damaged[60] ^= 0x20;  // a letter of the campaign id
  EXPECT_EQ(parse_error(damaged), "the journal header is damaged (checksum mismatch)");

  // A valid checksum over invalid fields: campaign id length 0.
  std::string empty_id = built.bytes;
  std::memset(empty_id.data() + 56, 0, 68);
  const std::uint32_t crc = crc32c(0, empty_id.data(), 124);
  for (int i = 0; i < 4; ++i) empty_id[124 + i] = static_cast<char>(crc >> (8 * i));
  EXPECT_EQ(parse_error(empty_id), "the journal header is damaged (invalid fields)");
}

TEST(JournalHeader, IdentityMismatches) {
  const Built built = build_header();
  const JournalIdentity other_campaign = identity("autumn-2026");
  EXPECT_EQ(parse_error(built.bytes, &other_campaign),
            "the journal belongs to campaign 'spring-2026', not 'autumn-2026'; use another "
            "output directory for this campaign");
  // Forcing does not make another campaign's journal ours.
  EXPECT_EQ(parse_error(built.bytes, &other_campaign, true).substr(0, 33),
            "the journal belongs to campaign '");

  const JournalIdentity changed = identity("spring-2026", 0xa0);
  EXPECT_EQ(parse_error(built.bytes, &changed),
            "the journal was written for other inputs: the job file, the recipients or a template "
            "changed since the campaign's first run (fingerprint 0102030405060708…, now "
            "a0a1a2a3a4a5a6a7…). Resuming would match CSV record numbers to other rows and "
            "could mail someone twice or never. Restore the original files, or use a new --out "
            "directory; resume with --force only if every row kept its place");
  absl::StatusOr<JournalState> forced = parse_journal(built.bytes, &changed, true);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ(forced->header.identity.fingerprint, identity().fingerprint);
}

// ---- Replay semantics --------------------------------------------------------------------------

TEST(JournalState, OutcomesFoldIntoStatusCountsAndRetries) {
  JournalState state;
  state.apply(JournalRecord{Type::run_started, 1, 0, 1000});
  state.apply(rec(Type::final_delivered, 1));
  state.apply(rec(Type::final_bounced, 2));
  state.apply(rec(Type::final_rejected, 3, 0));
  state.apply(rec(Type::attempt_deferred, 4, 1, 5000));
  state.apply(rec(Type::attempt_deferred, 4, 2, 9000));  // the latest schedule wins
  state.apply(rec(Type::attempt_deferred, 5, 1, 6000));
  state.apply(rec(Type::final_delivered, 5, 2));  // delivered on its retry
  state.apply(rec(Type::final_deferred, 6, 4));
  state.apply(rec(Type::final_delivered, 1, 2));      // a second final outcome: ignored
  state.apply(rec(Type::attempt_deferred, 2, 2, 1));  // after a final one: ignored
  state.apply(JournalRecord{Type::batch_end, 1, 0, 2000});
  state.apply(JournalRecord{Type::run_ended, 1, 75, 3000});

  EXPECT_EQ(state.status(1), RecipientStatus::finished);
  EXPECT_EQ(state.status(2), RecipientStatus::finished);
  EXPECT_EQ(state.status(3), RecipientStatus::rejected);
  EXPECT_EQ(state.status(4), RecipientStatus::open);
  EXPECT_EQ(state.status(5), RecipientStatus::finished);
  EXPECT_EQ(state.status(6), RecipientStatus::deferred);
  EXPECT_EQ(state.status(7), RecipientStatus::open);
  ASSERT_NE(state.retry(4), nullptr);
  EXPECT_EQ(*state.retry(4), (RetryState{2, 9000}));
  EXPECT_EQ(state.retry(5), nullptr);
  EXPECT_EQ(state.retry(6), nullptr);
  EXPECT_EQ(state.retries().size(), 1u);
  EXPECT_EQ(state.counts, (JournalCounts{.delivered = 2,
                                         .bounced = 1,
                                         .rejected = 1,
                                         .deferred = 1,
                                         .attempts_deferred = 3,
                                         .duplicates = 2}));
  EXPECT_EQ(state.runs_started, 1u);
  EXPECT_EQ(state.runs_ended, 1u);
  EXPECT_EQ(state.last_exit_code, 75);
  EXPECT_EQ(state.first_run_started_unix_ms, 1000);
  EXPECT_EQ(state.last_batch, 1u);
  EXPECT_EQ(state.last_commit_unix_ms, 2000);
  EXPECT_EQ(state.records, 13u);

  // A second run retries the one that ended deferred, and it is delivered.
  state.apply(rec(Type::attempt_deferred, 6, 5, 7000));
  EXPECT_EQ(state.status(6), RecipientStatus::open);
  EXPECT_EQ(state.counts.deferred, 0u);
  state.apply(rec(Type::final_deferred, 6, 6));
  EXPECT_EQ(state.counts.deferred, 1u);
  state.apply(rec(Type::final_deferred, 6, 7));  // deferred again: still counted once
  EXPECT_EQ(state.counts.deferred, 1u);
  state.apply(rec(Type::final_delivered, 6, 8));
  EXPECT_EQ(state.counts.deferred, 0u);
  EXPECT_EQ(state.counts.delivered, 3u);
  EXPECT_EQ(state.status(6), RecipientStatus::finished);
}

TEST(JournalState, SuppressedIsFinalAndCountedApart) {
  JournalState state;
  state.apply(rec(Type::final_suppressed, 1, 0));
  state.apply(rec(Type::attempt_deferred, 2, 1, 5000));
  state.apply(rec(Type::final_deferred, 2, 1));
  state.apply(rec(Type::final_suppressed, 2, 1));  // suppressed between two runs
  state.apply(rec(Type::final_delivered, 1, 1));   // after a final one: ignored
  EXPECT_EQ(state.status(1), RecipientStatus::finished);
  EXPECT_EQ(state.status(2), RecipientStatus::finished);
  EXPECT_EQ(state.retry(2), nullptr);
  EXPECT_EQ(state.counts, (JournalCounts{.delivered = 0,
                                         .bounced = 0,
                                         .rejected = 0,
                                         .deferred = 0,
                                         .attempts_deferred = 1,
                                         .duplicates = 1,
                                         .suppressed = 2}));
}

TEST(JournalState, SparseSequencesStaySmall) {
  SequenceStates states;
  states.set(1, RecipientStatus::finished);
  states.set(UINT64_MAX, RecipientStatus::deferred);
  states.set(1ull << 40, RecipientStatus::rejected);
  states.set(2, RecipientStatus::deferred);
  states.set(2, RecipientStatus::open);
  EXPECT_EQ(states.get(1), RecipientStatus::finished);
  EXPECT_EQ(states.get(2), RecipientStatus::open);
  EXPECT_EQ(states.get(UINT64_MAX), RecipientStatus::deferred);
  EXPECT_EQ(states.get(UINT64_MAX - 1), RecipientStatus::open);
  EXPECT_EQ(states.get(1ull << 40), RecipientStatus::rejected);
  EXPECT_EQ(states.get((1ull << 40) + 1), RecipientStatus::open);
  EXPECT_EQ(states.get(0), RecipientStatus::open);
  EXPECT_LT(states.memory_bytes(), 3 * 8192 + 1024u);  // three blocks of 8 KB

  // Ten million recipients in 2.5 MB, every one of the four states kept apart.
  SequenceStates dense;
  for (std::uint64_t s = 1; s <= 10'000'000; ++s) dense.set(s, static_cast<RecipientStatus>(s % 4));
  for (std::uint64_t s = 1; s <= 10'000'000; s += 997) {
    ASSERT_EQ(dense.get(s), static_cast<RecipientStatus>(s % 4));
  }
  EXPECT_LT(dense.memory_bytes(), 2'700'000u);
}

// ---- Writer: round trip, resume, threads -------------------------------------------------------

TEST(JournalWriter, RoundTripAndResume) {
  TempDir dir;
  const std::string path = dir.file(journal_file_name);
  const JournalIdentity id = identity();
  {
    absl::StatusOr<OpenedJournal> opened = open_journal(path, id, fast_options());
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_TRUE(opened->created);
    EXPECT_EQ(opened->state.records, 0u);
    EXPECT_EQ(opened->writer->run(), 1u);
    JournalProducer& producer = opened->writer->add_producer();
    EXPECT_TRUE(producer.append(rec(Type::final_delivered, 1)));
    EXPECT_TRUE(producer.append(rec(Type::final_bounced, 2)));
    EXPECT_TRUE(producer.append(rec(Type::final_rejected, 3, 0)));
    EXPECT_TRUE(producer.append(rec(Type::attempt_deferred, 4, 1, 1'767'225'660'000)));
    EXPECT_TRUE(producer.append(rec(Type::final_deferred, 5, 3)));
    EXPECT_TRUE(producer.append(rec(Type::attempt_deferred, 6, 1, 1'767'225'630'000)));
    EXPECT_TRUE(producer.append(rec(Type::final_delivered, 6, 2)));
    EXPECT_EQ(producer.appended(), 7u);
    ASSERT_TRUE(opened->writer->sync());
    EXPECT_EQ(producer.durable(), 7u);
    EXPECT_TRUE(opened->writer->close(75).ok());
    EXPECT_FALSE(producer.append(rec(Type::final_delivered, 7)));  // closed
    EXPECT_TRUE(opened->writer->sync());
    EXPECT_EQ(opened->writer->stats().records, 9u);  // with run_started and run_ended
  }
  absl::StatusOr<JournalState> replayed = replay_journal(path, &id);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  const JournalState& state = *replayed;
  EXPECT_EQ(state.damage, JournalDamage::none);
  EXPECT_EQ(state.valid_bytes, std::filesystem::file_size(path));
  EXPECT_EQ(state.counts, (JournalCounts{.delivered = 2,
                                         .bounced = 1,
                                         .rejected = 1,
                                         .deferred = 1,
                                         .attempts_deferred = 2,
                                         .duplicates = 0}));
  EXPECT_EQ(state.status(1), RecipientStatus::finished);
  EXPECT_EQ(state.status(3), RecipientStatus::rejected);
  EXPECT_EQ(state.status(4), RecipientStatus::open);
  EXPECT_EQ(state.status(5), RecipientStatus::deferred);
  ASSERT_NE(state.retry(4), nullptr);
  EXPECT_EQ(*state.retry(4), (RetryState{1, 1'767'225'660'000}));
  EXPECT_EQ(state.retries().size(), 1u);
  EXPECT_EQ(state.runs_started, 1u);
  EXPECT_EQ(state.runs_ended, 1u);
  EXPECT_EQ(state.last_exit_code, 75);
  EXPECT_GE(state.last_batch, 1u);
  EXPECT_EQ(state.records, 9 + state.last_batch);

  // Run 2 resumes: the retry is delivered, the deferred one is tried again and delivered.
  {
    absl::StatusOr<OpenedJournal> opened = open_journal(path, id, fast_options());
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_FALSE(opened->created);
    EXPECT_EQ(opened->writer->run(), 2u);
    EXPECT_EQ(opened->state.counts, state.counts);
    JournalProducer& producer = opened->writer->add_producer();
    EXPECT_TRUE(producer.append(rec(Type::final_delivered, 4, 2)));
    EXPECT_TRUE(producer.append(rec(Type::attempt_deferred, 5, 4, 1'767'300'000'000)));
    EXPECT_TRUE(producer.append(rec(Type::final_delivered, 5, 5)));
    EXPECT_TRUE(opened->writer->close(0).ok());
  }
  replayed = replay_journal(path, &id);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(replayed->damage, JournalDamage::none);
  EXPECT_EQ(replayed->counts, (JournalCounts{.delivered = 4,
                                             .bounced = 1,
                                             .rejected = 1,
                                             .deferred = 0,
                                             .attempts_deferred = 3,
                                             .duplicates = 0}));
  EXPECT_TRUE(replayed->retries().empty());
  EXPECT_EQ(replayed->runs_started, 2u);
  EXPECT_EQ(replayed->runs_ended, 2u);
  EXPECT_EQ(replayed->last_exit_code, 0);
}

TEST(JournalWriter, GroupCommitFromFourThreads) {
  TempDir dir;
  const std::string path = dir.file(journal_file_name);
  const JournalIdentity id = identity();
  constexpr std::uint64_t per_thread = 50'000;
  std::atomic<std::uint64_t> commit_calls{0};
  JournalOptions options = fast_options();
  options.on_commit = [&] { ++commit_calls; };
  absl::StatusOr<OpenedJournal> opened = open_journal(path, id, options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  JournalWriter& writer = *opened->writer;
  std::vector<JournalProducer*> producers;
  for (int t = 0; t < 4; ++t) producers.push_back(&writer.add_producer());
  std::atomic<bool> durable_ahead{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      JournalProducer& producer = *producers[t];
      for (std::uint64_t i = 0; i < per_thread; ++i) {
        const std::uint64_t sequence = t * per_thread + i + 1;
        static constexpr Type types[] = {Type::final_delivered, Type::final_bounced,
                                         Type::attempt_deferred, Type::final_deferred};
        const Type type = types[i % 4];
        EXPECT_TRUE(
            producer.append(rec(type, sequence, 1, type == Type::attempt_deferred ? 1000 + i : 0)));
        if (producer.durable() > producer.appended()) durable_ahead = true;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(writer.sync());
  for (JournalProducer* producer : producers) {
    EXPECT_EQ(producer->appended(), per_thread);
    EXPECT_EQ(producer->durable(), per_thread);
  }
  EXPECT_FALSE(durable_ahead);
  const JournalStats stats = writer.stats();
  EXPECT_EQ(stats.records, 4 * per_thread + 1);  // and run_started
  EXPECT_GE(stats.commits, 1u);
  EXPECT_LT(stats.commits, 2000u);  // batched: 200,000 records never take 2,000 fsyncs
  std::printf(
      "4 threads x %llu records: %llu commits, %.1f records per commit, %.2f ms per "
      "fdatasync (max %.2f ms), %.2f bytes per record\n",
      static_cast<unsigned long long>(per_thread), static_cast<unsigned long long>(stats.commits),
      static_cast<double>(stats.records) / static_cast<double>(stats.commits),
      static_cast<double>(stats.sync_ns_total) / 1e6 / static_cast<double>(stats.commits),
      static_cast<double>(stats.sync_ns_max) / 1e6,
      static_cast<double>(stats.bytes) / static_cast<double>(stats.records));
  ASSERT_TRUE(writer.close(0).ok());
  EXPECT_EQ(commit_calls.load(), stats.commits + 1);  // and close()'s

  absl::StatusOr<JournalState> state = replay_journal(path, &id);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->damage, JournalDamage::none);
  EXPECT_EQ(state->counts, (JournalCounts{.delivered = per_thread,
                                          .bounced = per_thread,
                                          .rejected = 0,
                                          .deferred = per_thread,
                                          .attempts_deferred = per_thread,
                                          .duplicates = 0}));
  EXPECT_EQ(state->retries().size(), per_thread);
  for (std::uint64_t t = 0; t < 4; ++t) {
    for (std::uint64_t i = 0; i < per_thread; i += 97) {
      const std::uint64_t sequence = t * per_thread + i + 1;
      const RecipientStatus expected[] = {RecipientStatus::finished, RecipientStatus::finished,
                                          RecipientStatus::open, RecipientStatus::deferred};
      ASSERT_EQ(state->status(sequence), expected[i % 4]) << sequence;
      if (i % 4 == 2) {
        ASSERT_NE(state->retry(sequence), nullptr);
        EXPECT_EQ(state->retry(sequence)->next_retry_unix_ms, static_cast<std::int64_t>(1000 + i));
      }
    }
  }
  EXPECT_EQ(state->last_batch, stats.commits + 1);  // and close()'s commit
}

TEST(JournalWriter, FullProducerWaitsInsteadOfGrowing) {
  TempDir dir;
  const std::string path = dir.file(journal_file_name);
  JournalOptions options;
  options.commit_interval_ms = 60'000;  // only size triggers commits here
  options.commit_bytes = 64;
  options.producer_bytes_max = 256;
  absl::StatusOr<OpenedJournal> opened = open_journal(path, identity(), options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  JournalProducer& producer = opened->writer->add_producer();
  std::uint64_t outstanding_max = 0;
  for (std::uint64_t sequence = 1; sequence <= 2000; ++sequence) {
    ASSERT_TRUE(producer.append(rec(Type::final_delivered, sequence)));
    outstanding_max = std::max(outstanding_max, producer.appended() - producer.durable());
  }
  // At most one buffer in flight and one filling, each under 256 bytes of 7- or 8-byte records.
  EXPECT_LE(outstanding_max, 2 * (256 / 7 + 1));
  EXPECT_GT(outstanding_max, 5u);
  ASSERT_TRUE(opened->writer->close(0).ok());
  absl::StatusOr<JournalState> state = replay_journal(path);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->counts.delivered, 2000u);
}

TEST(JournalWriter, SecondOpenIsRefusedWhileLocked) {
  TempDir dir;
  const std::string path = dir.file(journal_file_name);
  absl::StatusOr<OpenedJournal> first = open_journal(path, identity(), fast_options());
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<OpenedJournal> second = open_journal(path, identity(), fast_options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(second.status().message(), path + " is in use by another hayate run of this campaign");
  ASSERT_TRUE(first->writer->close(0).ok());
  first->writer.reset();
  EXPECT_TRUE(open_journal(path, identity(), fast_options()).ok());
}

// journal.bin lists which recipients were mailed: the owner's alone. A link planted in its place
// is refused (with a code that reads neither "locked" nor "other inputs"), its target untouched.
TEST(JournalWriter, NewJournalIsPrivateAndALinkIsRefused) {
  TempDir dir;
  const mode_t old_mask = umask(022);
  absl::StatusOr<OpenedJournal> opened =
      open_journal(dir.file(journal_file_name), identity(), fast_options());
  umask(old_mask);
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_TRUE(opened->writer->close(0).ok());
  struct stat info {};
  ASSERT_EQ(stat(dir.file(journal_file_name).c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  TempDir planted;
  write_file(planted.file("precious"), "keep me\n");
  std::filesystem::create_symlink(planted.file("precious"), planted.file(journal_file_name));
  absl::StatusOr<OpenedJournal> refused =
      open_journal(planted.file(journal_file_name), identity(), fast_options());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(refused.status().message().find("is a symbolic link"), std::string::npos);
  EXPECT_EQ(read_file(planted.file("precious")), "keep me\n");
}

TEST(JournalWriter, OpenRefusesForeignFilesAndRedoesUnfinishedHeaders) {
  TempDir dir;
  const std::string path = dir.file(journal_file_name);
  write_file(path, "email,name\nann@example.com,Ann\n");
  absl::StatusOr<OpenedJournal> opened = open_journal(path, identity(), fast_options());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().message(),
            path + ": not a hayate journal (it does not start with HAYATEJ1)");
  EXPECT_EQ(read_file(path), "email,name\nann@example.com,Ann\n");  // untouched

  // Creation cut short after 6 bytes of the header: nothing was recorded, start again.
  write_file(path, "HAYATE");
  opened = open_journal(path, identity(), fast_options());
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(opened->created);
  ASSERT_TRUE(opened->writer->close(0).ok());
  absl::StatusOr<JournalState> state = replay_journal(path, nullptr);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->runs_started, 1u);

  const JournalIdentity other = identity("autumn-2026");
  opened = open_journal(path, other, fast_options());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(replay_journal(dir.file("missing.bin")).status().message(),
            dir.file("missing.bin") + ": cannot open the journal: No such file or directory");
}

// ---- Torn tails and damage ---------------------------------------------------------------------

// header, run 1, twenty outcomes, batch 1, then one outcome whose batch was never finished.
Built journal_with_unfinished_batch() {
  Built built = build_header();
  built.add(JournalRecord{Type::run_started, 1, 0, 1'767'225'600'000});
  for (std::uint64_t s = 1; s <= 20; ++s) built.add(rec(Type::final_delivered, s * 1000));
  built.add(JournalRecord{Type::batch_end, 1, 0, 1'767'225'600'010});
  built.add(rec(Type::attempt_deferred, 21'000, 1, 1'767'225'700'000));
  return built;
}

TEST(JournalReplay, EveryPrefixRecoversTheCompleteRecords) {
  const Built built = journal_with_unfinished_batch();
  std::vector<std::size_t> boundaries = built.starts;
  boundaries.push_back(built.bytes.size());
  for (std::size_t length = journal_header_bytes; length <= built.bytes.size(); ++length) {
    const JournalState state = parse_ok(std::string_view(built.bytes).substr(0, length));
    std::size_t complete = 0;  // records wholly inside the prefix
    while (complete < built.starts.size() && boundaries[complete + 1] <= length) ++complete;
    const std::size_t end = complete == 0 ? journal_header_bytes : boundaries[complete];
    ASSERT_EQ(state.valid_bytes, end) << length;
    ASSERT_EQ(state.dropped_bytes, length - end) << length;
    ASSERT_EQ(state.records, complete) << length;
    ASSERT_EQ(state.damage, length == end ? JournalDamage::none : JournalDamage::torn_tail)
        << length;
    if (state.damage == JournalDamage::torn_tail) {
      ASSERT_EQ(state.damage_message,
                hayate::cat("the last ", length - end, " bytes (from byte ", end,
                            ") are an unfinished write (the file ends inside it) and are "
                            "dropped"));
    }
  }
}

TEST(JournalReplay, TornLastRecordIsCutAndTheRunResumes) {
  const Built built = journal_with_unfinished_batch();
  const std::size_t last = built.starts.back();
  const JournalIdentity id = identity();
  TempDir dir;
  const std::string path = dir.file(journal_file_name);
  for (std::size_t cut = last + 1; cut < built.bytes.size(); ++cut) {
    write_file(path, std::string_view(built.bytes).substr(0, cut));
    absl::StatusOr<OpenedJournal> opened = open_journal(path, id, fast_options());
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(opened->state.damage, JournalDamage::torn_tail);
    EXPECT_EQ(opened->state.valid_bytes, last);
    EXPECT_EQ(opened->state.dropped_bytes, cut - last);
    EXPECT_EQ(opened->state.counts.delivered, 20u);
    EXPECT_EQ(opened->state.status(21'000), RecipientStatus::open);
    EXPECT_EQ(opened->state.retry(21'000), nullptr);
    EXPECT_EQ(opened->writer->run(), 2u);
    // The torn bytes are gone: what follows the valid records is this run's (the replay
    // below finds no damage).
    EXPECT_EQ(read_file(path).substr(0, last), built.bytes.substr(0, last));
    JournalProducer& producer = opened->writer->add_producer();
    ASSERT_TRUE(producer.append(rec(Type::final_delivered, 21'000, 2)));
    ASSERT_TRUE(opened->writer->close(0).ok());
    absl::StatusOr<JournalState> state = replay_journal(path, &id);
    ASSERT_TRUE(state.ok()) << state.status();
    ASSERT_EQ(state->damage, JournalDamage::none) << cut;
    EXPECT_EQ(state->counts.delivered, 21u);
    EXPECT_EQ(state->counts.attempts_deferred, 0u);
    EXPECT_EQ(state->runs_started, 2u);
    EXPECT_EQ(state->last_batch, 1 + opened->writer->stats().commits);
  }
  // The whole record is there: nothing is dropped.
  write_file(path, built.bytes);
  absl::StatusOr<OpenedJournal> opened = open_journal(path, id, fast_options());
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->state.damage, JournalDamage::none);
  ASSERT_NE(opened->state.retry(21'000), nullptr);
  EXPECT_EQ(*opened->state.retry(21'000), (RetryState{1, 1'767'225'700'000}));
}

// header, run 1, then three batches of ten outcomes each.
Built journal_with_three_batches() {
  Built built = build_header();
  built.add(JournalRecord{Type::run_started, 1, 0, 1'767'225'600'000});
  for (std::uint64_t batch = 1; batch <= 3; ++batch) {
    for (std::uint64_t i = 1; i <= 10; ++i) {
      built.add(rec(Type::final_delivered, (batch - 1) * 10 + i));
    }
    built.add(JournalRecord{Type::batch_end, batch, 0,
                            1'767'225'600'000 + 10 * static_cast<std::int64_t>(batch)});
  }
  return built;
}

TEST(JournalReplay, DamageInsideCommittedDataIsRefusedUnlessForced) {
  Built built = journal_with_three_batches();
  const std::size_t damaged_at = built.starts[1 + 4];  // the fifth outcome
  built.bytes[damaged_at + 3] ^= 0x01;                 // inside its CRC
  const JournalState state = parse_ok(built.bytes);
  EXPECT_EQ(state.damage, JournalDamage::corrupt);
  EXPECT_EQ(state.valid_bytes, damaged_at);
  EXPECT_EQ(state.counts.delivered, 4u);
  const std::size_t dropped = built.bytes.size() - damaged_at;
  EXPECT_EQ(
      state.damage_message,
      hayate::cat("the record at byte ", damaged_at,
                  " is damaged (checksum mismatch) and committed records follow it: ", dropped,
                  " bytes from there on cannot be read. Restore the journal from a "
                  "backup, or force the resume (recipients recorded after byte ",
                  damaged_at, " may be mailed again)"));

  TempDir dir;
  const std::string path = dir.file(journal_file_name);
  write_file(path, built.bytes);
  const JournalIdentity id = identity();
  absl::StatusOr<OpenedJournal> opened = open_journal(path, id, fast_options());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(opened.status().message(), path + ": " + state.damage_message);
  EXPECT_EQ(read_file(path), built.bytes);  // refused: nothing changed

  JournalOptions forced = fast_options();
  forced.force = true;
  opened = open_journal(path, id, forced);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->state.counts.delivered, 4u);
  EXPECT_EQ(read_file(path).substr(0, damaged_at), built.bytes.substr(0, damaged_at));
  JournalProducer& producer = opened->writer->add_producer();
  for (std::uint64_t s = 5; s <= 30; ++s)
    ASSERT_TRUE(producer.append(rec(Type::final_delivered, s)));
  ASSERT_TRUE(opened->writer->close(0).ok());
  absl::StatusOr<JournalState> resumed = replay_journal(path, &id);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->damage, JournalDamage::none);
  EXPECT_EQ(resumed->counts.delivered, 30u);
  // Batch 1 was lost with the damage: numbering starts again after the last valid batch.
  EXPECT_EQ(resumed->last_batch, opened->writer->stats().commits);
}

TEST(JournalReplay, DamageAfterTheLastCommitIsATornTail) {
  Built built = journal_with_three_batches();
  built.add(rec(Type::final_bounced, 31));
  built.add(rec(Type::final_bounced, 32));
  built.bytes[built.starts[built.starts.size() - 2] + 1] ^= 0x40;  // 31's sequence
  JournalState state = parse_ok(built.bytes);
  EXPECT_EQ(state.damage, JournalDamage::torn_tail);
  EXPECT_EQ(state.counts.delivered, 30u);
  EXPECT_EQ(state.counts.bounced, 0u);
  EXPECT_EQ(state.damage_message,
            hayate::cat("the last 14 bytes (from byte ", built.starts[built.starts.size() - 2],
                        ") are an unfinished write (checksum mismatch) and are dropped"));

  // Blocks the file system allocated but never wrote read as zeros.
  Built zeros = journal_with_three_batches();
  const std::size_t end = zeros.bytes.size();
  zeros.bytes.append(4096, '\0');
  state = parse_ok(zeros.bytes);
  EXPECT_EQ(state.damage, JournalDamage::torn_tail);
  EXPECT_EQ(state.valid_bytes, end);
  EXPECT_EQ(state.dropped_bytes, 4096u);
  EXPECT_EQ(state.counts.delivered, 30u);

  // A record from another journal (another salt) does not pass for one of ours.
  Built foreign = journal_with_three_batches();
  Built other = build_header(identity("autumn-2026"));
  other.add(rec(Type::final_delivered, 99));
  foreign.bytes += other.bytes.substr(journal_header_bytes);
  state = parse_ok(foreign.bytes);
  EXPECT_EQ(state.damage, JournalDamage::torn_tail);
  EXPECT_EQ(state.status(99), RecipientStatus::open);
}

TEST(JournalReplay, SplicedBatchesAreCaught) {
  // Batch 2 appears twice (a copy gone wrong): its second batch_end is out of order and
  // batch 3 follows, so this is damage inside committed data.
  const Built built = journal_with_three_batches();
  const std::size_t batch2_start = built.starts[1 + 11];
  const std::size_t batch3_start = built.starts[1 + 22];
  const std::string spliced = built.bytes.substr(0, batch3_start) +
                              built.bytes.substr(batch2_start, batch3_start - batch2_start) +
                              built.bytes.substr(batch3_start);
  const JournalState state = parse_ok(spliced);
  EXPECT_EQ(state.damage, JournalDamage::corrupt);
  EXPECT_EQ(state.last_batch, 2u);
  EXPECT_EQ(state.counts.delivered, 20u);
  EXPECT_EQ(state.counts.duplicates, 10u);  // the copies of batch 2's outcomes
  EXPECT_NE(state.damage_message.find("(batch 2 after batch 2)"), std::string::npos)
      << state.damage_message;
}

// ---- Full and failing disks --------------------------------------------------------------------

// Passes writes through while `budget_bytes` lasts; then writes what fits and fails with ENOSPC.
struct FillingDisk {
  std::atomic<std::int64_t> budget_bytes{INT64_MAX};
  std::atomic<int> sync_error{0};
  JournalIo io() {
    JournalIo io;
    io.writev = [this](int fd, const iovec* iov, int count) -> ssize_t {
      std::size_t total = 0;
      for (int i = 0; i < count; ++i) total += iov[i].iov_len;
      const std::int64_t budget = budget_bytes.load();
      if (budget <= 0) {
        errno = ENOSPC;
        return -1;
      }
      if (static_cast<std::int64_t>(total) <= budget) {
        budget_bytes -= static_cast<std::int64_t>(total);
        return ::writev(fd, iov, count);
      }
      // A short write, as the kernel does when the last blocks run out.
      std::string prefix;
      for (int i = 0; i < count && prefix.size() < static_cast<std::size_t>(budget); ++i) {
        prefix.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
      }
      prefix.resize(static_cast<std::size_t>(budget));
      budget_bytes = 0;
      return ::write(fd, prefix.data(), prefix.size());
    };
    io.datasync = [this](int fd) {
      if (const int error = sync_error.load(); error != 0) {
        errno = error;
        return -1;
      }
      return ::fdatasync(fd);
    };
    return io;
  }
};

TEST(JournalFailure, DiskFullStopsTheJournalAndKeepsWhatWasSynced) {
  TempDir dir;
  const std::string path = dir.file(journal_file_name);
  const JournalIdentity id = identity();
  FillingDisk disk;
  JournalOptions options = fast_options();
  options.commit_interval_ms = 60'000;  // commits only when sync() asks: batches are exact
  options.io = disk.io();
  std::vector<std::string> failures;
  options.on_failure = [&](const std::string& error) { failures.push_back(error); };
  absl::StatusOr<OpenedJournal> opened = open_journal(path, id, options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  JournalWriter& writer = *opened->writer;
  JournalProducer& producer = writer.add_producer();
  for (std::uint64_t s = 1; s <= 100; ++s)
    ASSERT_TRUE(producer.append(rec(Type::final_delivered, s)));
  ASSERT_TRUE(writer.sync());
  EXPECT_EQ(producer.durable(), 100u);

  // 25 bytes left: three 7-byte records fit, then 4 bytes of the fourth.
  disk.budget_bytes = 25;
  for (std::uint64_t s = 101; s <= 120; ++s)
    ASSERT_TRUE(producer.append(rec(Type::final_delivered, s)));
  EXPECT_FALSE(writer.sync());
  EXPECT_TRUE(writer.failed());
  const std::string expected =
      "cannot write " + path + ": No space left on device; outcomes from now on are not recorded";
  EXPECT_EQ(writer.error(), expected);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0], expected);
  EXPECT_EQ(producer.durable(), 100u);
  EXPECT_FALSE(producer.append(rec(Type::final_delivered, 121)));
  EXPECT_FALSE(writer.sync());
  const absl::Status closed = writer.close(0);
  EXPECT_EQ(closed.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(closed.message(), expected);
  EXPECT_EQ(failures.size(), 1u);
  opened->writer.reset();

  absl::StatusOr<JournalState> state = replay_journal(path, &id);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->damage, JournalDamage::torn_tail);
  EXPECT_EQ(state->counts.delivered, 103u);  // the synced 100 and three complete ones
  EXPECT_EQ(state->dropped_bytes, 4u);
  EXPECT_EQ(state->runs_ended, 0u);

  // Space again: the next run cuts the torn record off and carries on.
  opened = open_journal(path, id, fast_options());
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->state.counts.delivered, 103u);
  JournalProducer& next = opened->writer->add_producer();
  for (std::uint64_t s = 104; s <= 120; ++s)
    ASSERT_TRUE(next.append(rec(Type::final_delivered, s)));
  ASSERT_TRUE(opened->writer->close(0).ok());
  state = replay_journal(path, &id);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->damage, JournalDamage::none);
  EXPECT_EQ(state->counts.delivered, 120u);
  EXPECT_EQ(state->counts.duplicates, 0u);
}

TEST(JournalFailure, SyncErrorStopsTheJournal) {
  TempDir dir;
  const std::string path = dir.file(journal_file_name);
  FillingDisk disk;
  JournalOptions options = fast_options();
  options.io = disk.io();
  absl::StatusOr<OpenedJournal> opened = open_journal(path, identity(), options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  JournalProducer& producer = opened->writer->add_producer();
  ASSERT_TRUE(producer.append(rec(Type::final_delivered, 1)));
  ASSERT_TRUE(opened->writer->sync());
  disk.sync_error = EIO;
  ASSERT_TRUE(producer.append(rec(Type::final_delivered, 2)));
  EXPECT_FALSE(opened->writer->sync());
  EXPECT_EQ(opened->writer->error(),
            "cannot sync " + path + ": Input/output error; outcomes from now on are not recorded");
  EXPECT_EQ(producer.durable(), 1u);
}

TEST(JournalFailure, FullDiskAtCreation) {
  TempDir dir;
  const std::string path = dir.file(journal_file_name);
  FillingDisk disk;
  disk.budget_bytes = 50;
  JournalOptions options = fast_options();
  options.io = disk.io();
  absl::StatusOr<OpenedJournal> opened = open_journal(path, identity(), options);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().message(), "cannot write " + path + ": No space left on device");
  // 50 bytes of header: the next run starts the journal again.
  EXPECT_EQ(std::filesystem::file_size(path), 50u);
  opened = open_journal(path, identity(), fast_options());
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(opened->created);
}

// A real full file system: a 64 KB tmpfs. Needs root (CAP_SYS_ADMIN); skipped otherwise.
TEST(JournalFailure, RealTmpfsRunsOutOfSpace) {
  TempDir dir;
  const std::string mount_point = dir.file("tmpfs");
  std::filesystem::create_directory(mount_point);
  if (geteuid() != 0 || mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=64k") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                 << "); the injected ENOSPC tests cover the same paths";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};
  const std::string path = mount_point + "/" + journal_file_name;
  const JournalIdentity id = identity();
  std::string failure;
  JournalOptions options = fast_options();
  options.on_failure = [&](const std::string& error) { failure = error; };
  absl::StatusOr<OpenedJournal> opened = open_journal(path, id, options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  JournalProducer& producer = opened->writer->add_producer();
  std::uint64_t sequence = 0;
  std::uint64_t durable_seen = 0;
  while (sequence < 1'000'000 && producer.append(rec(Type::final_delivered, ++sequence))) {
    if (sequence % 500 == 0) {
      if (!opened->writer->sync()) break;
      durable_seen = producer.durable();
    }
  }
  EXPECT_TRUE(opened->writer->failed());
  EXPECT_EQ(opened->writer->error(), "cannot write " + path +
                                         ": No space left on device; outcomes from now on are not "
                                         "recorded");
  EXPECT_EQ(failure, opened->writer->error());
  const std::uint64_t durable = producer.durable();
  EXPECT_GE(durable, durable_seen);
  EXPECT_GT(durable, 4000u);  // 64 KB of 8-byte records, less the header
  opened->writer.reset();
  absl::StatusOr<JournalState> state = replay_journal(path, &id);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_GE(state->counts.delivered, durable);  // every synced outcome is there
  EXPECT_EQ(state->counts.duplicates, 0u);
  for (std::uint64_t s = 1; s <= durable; ++s) {
    ASSERT_EQ(state->status(s), RecipientStatus::finished) << s;
  }
  std::printf("tmpfs of 64 KB: %llu outcomes synced, %llu replayed, %s\n",
              static_cast<unsigned long long>(durable),
              static_cast<unsigned long long>(state->counts.delivered),
              state->damage == JournalDamage::none ? "no damage" : state->damage_message.c_str());
}

// kill -9 in the middle of a run: what was synced, and what was written, survives.
TEST(JournalFailure, KilledWriterLosesNothingSynced) {
  TempDir dir;
  const std::string path = dir.file(journal_file_name);
  const JournalIdentity id = identity();
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    absl::StatusOr<OpenedJournal> opened = open_journal(path, id, fast_options());
    if (!opened.ok()) _exit(2);
    JournalProducer& producer = opened->writer->add_producer();
    for (std::uint64_t s = 1; s <= 30'000; ++s) producer.append(rec(Type::final_delivered, s));
    if (!opened->writer->sync()) _exit(3);
    const std::uint64_t durable = producer.durable();
    (void)!write(pipe_fds[1], &durable, sizeof(durable));
    for (std::uint64_t s = 30'001;; ++s) producer.append(rec(Type::attempt_deferred, s, 1, 5));
  }
  close(pipe_fds[1]);
  struct Reap {  // the child never outlives the test, whatever fails
    pid_t pid;
    ~Reap() {
      if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  } reap{child};
  std::uint64_t durable = 0;
  ASSERT_EQ(read(pipe_fds[0], &durable, sizeof(durable)), static_cast<ssize_t>(sizeof(durable)));
  close(pipe_fds[0]);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // let commits run mid-stream
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  reap.pid = 0;
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(durable, 30'000u);

  absl::StatusOr<JournalState> state = replay_journal(path, &id);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_NE(state->damage, JournalDamage::corrupt);
  EXPECT_EQ(state->counts.delivered, 30'000u);
  EXPECT_EQ(state->runs_started, 1u);
  EXPECT_EQ(state->runs_ended, 0u);  // the run was cut short
  // Retries written after the sync, up to where the process died, are all intact.
  const std::uint64_t retries = state->retries().size();
  for (std::uint64_t s = 30'001; s <= 30'000 + retries; ++s) {
    ASSERT_NE(state->retry(s), nullptr) << s;
  }
  absl::StatusOr<OpenedJournal> resumed = open_journal(path, id, fast_options());
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->writer->run(), 2u);
}

// ---- Fingerprint -------------------------------------------------------------------------------

TEST(JournalFingerprint, StreamsFilesAndSeparatesThem) {
  TempDir dir;
  write_file(dir.file("a"), "abc");
  write_file(dir.file("empty"), "");
  absl::StatusOr<JournalFingerprint> fingerprint =
      journal_fingerprint({dir.file("a"), dir.file("empty")});
  ASSERT_TRUE(fingerprint.ok()) << fingerprint.status();
  // Python: sha256(b"abc" + (3).to_bytes(8, "little") + (0).to_bytes(8, "little"))
  EXPECT_EQ(fingerprint_hex(*fingerprint),
            "edf924a230005b1ac1320ca33f70fb797e71211db9d9e921ec44b18a822b8c22");
  EXPECT_EQ(fingerprint_hex(*journal_fingerprint({})),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  // The same bytes under another name: the same fingerprint.
  write_file(dir.file("moved"), "abc");
  EXPECT_EQ(*journal_fingerprint({dir.file("moved"), dir.file("empty")}), *fingerprint);
  // Order, boundaries and single bytes count.
  EXPECT_NE(*journal_fingerprint({dir.file("empty"), dir.file("a")}), *fingerprint);
  write_file(dir.file("ab"), "ab");
  write_file(dir.file("c"), "c");
  write_file(dir.file("a1"), "a");
  write_file(dir.file("bc"), "bc");
  EXPECT_NE(*journal_fingerprint({dir.file("ab"), dir.file("c")}),
            *journal_fingerprint({dir.file("a1"), dir.file("bc")}));
  write_file(dir.file("moved"), "abd");
  EXPECT_NE(*journal_fingerprint({dir.file("moved"), dir.file("empty")}), *fingerprint);

  absl::StatusOr<JournalFingerprint> missing = journal_fingerprint({dir.file("nope.csv")});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            dir.file("nope.csv") + ": cannot open an input: No such file or directory");
  // A FIFO in place of an input: refused at once, never waited on (a second open of a FIFO
  // blocks until a writer comes).
  ASSERT_EQ(mkfifo(dir.file("fifo.csv").c_str(), 0600), 0);
  absl::StatusOr<JournalFingerprint> fifo = journal_fingerprint({dir.file("fifo.csv")});
  ASSERT_FALSE(fifo.ok());
  EXPECT_EQ(fifo.status().message(),
            dir.file("fifo.csv") + ": an input is a FIFO, not a regular file");

  // A file bigger than the read buffer, against a one-shot hash of the same framing.
  std::string big(5'000'003, '\0');
  std::mt19937 random(3);
  for (char& c : big) c = static_cast<char>('a' + random() % 26);
  write_file(dir.file("big.csv"), big);
  std::string framed = big;
  const std::uint64_t length = big.size();
  for (int i = 0; i < 8; ++i) framed.push_back(static_cast<char>(length >> (8 * i)));
  JournalFingerprint expected{};
  SHA256(reinterpret_cast<const unsigned char*>(framed.data()), framed.size(), expected.data());
  EXPECT_EQ(*journal_fingerprint({dir.file("big.csv")}), expected);
}

// ---- Scale -------------------------------------------------------------------------------------

TEST(JournalScale, ReplaysAMillionRecords) {
  TempDir dir;
  const std::string path = dir.file(journal_file_name);
  const JournalIdentity id = identity();
  constexpr std::uint64_t recipients = 1'000'000;
  {
    absl::StatusOr<OpenedJournal> opened = open_journal(path, id);
    ASSERT_TRUE(opened.ok()) << opened.status();
    JournalProducer& producer = opened->writer->add_producer();
    for (std::uint64_t s = 1; s <= recipients; ++s) {
      if (s % 20 == 0) {  // one in twenty is retried once, then delivered
        ASSERT_TRUE(producer.append(rec(Type::attempt_deferred, s, 1, 1'767'225'600'000 + s)));
        ASSERT_TRUE(producer.append(rec(Type::final_delivered, s, 2)));
      } else if (s % 20 == 1) {
        ASSERT_TRUE(producer.append(rec(Type::final_bounced, s)));
      } else {
        ASSERT_TRUE(producer.append(rec(Type::final_delivered, s)));
      }
    }
    ASSERT_TRUE(opened->writer->close(0).ok());
  }
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<JournalState> state = replay_journal(path, &id);
  const double elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->damage, JournalDamage::none);
  EXPECT_EQ(state->counts, (JournalCounts{.delivered = recipients - recipients / 20,
                                          .bounced = recipients / 20,
                                          .rejected = 0,
                                          .deferred = 0,
                                          .attempts_deferred = recipients / 20,
                                          .duplicates = 0}));
  const std::uint64_t file_bytes = std::filesystem::file_size(path);
  std::printf(
      "replayed %llu records (%llu bytes, %.2f bytes per record) in %.1f ms: "
      "%.1f M records/s; state %zu KB\n",
      static_cast<unsigned long long>(state->records), static_cast<unsigned long long>(file_bytes),
      static_cast<double>(file_bytes) / static_cast<double>(state->records), elapsed_ms,
      static_cast<double>(state->records) / elapsed_ms / 1000.0, state->memory_bytes() / 1024);
}

}  // namespace
}  // namespace hayate::campaign
