// The campaign journal: record encoding, replay into a JournalState, the input fingerprint, and
// the group-commit writer (producers' buffers swapped out by one thread that writes, then
// fdatasyncs). The format and the reasons for it are in journal.h.
#include "campaign/output/journal.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <utility>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign::inline output {

namespace {

constexpr char journal_magic[8] = {'H', 'A', 'Y', 'A', 'T', 'E', 'J', '1'};
constexpr std::size_t header_crc_offset = 124;
constexpr std::size_t varint_bytes_max = 10;

// ---- CRC-32C ---------------------------------------------------------------------------------

// The reflected Castagnoli polynomial (RFC 3720 B.4).
constexpr std::uint32_t crc32c_polynomial = 0x82f63b78;

constexpr std::array<std::uint32_t, 256> make_crc32c_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? crc32c_polynomial : 0);
    table[i] = crc;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> crc32c_table = make_crc32c_table();

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::uint32_t crc,
                                                             const std::uint8_t* data,
                                                             std::size_t size) {
  std::uint64_t state = ~crc;
  while (size >= 8) {
    std::uint64_t word;
    std::memcpy(&word, data, 8);
    state = _mm_crc32_u64(state, word);
    data += 8;
    size -= 8;
  }
  std::uint32_t state32 = static_cast<std::uint32_t>(state);
  while (size > 0) {
    state32 = _mm_crc32_u8(state32, *data++);
    --size;
  }
  return ~state32;
}

bool cpu_has_sse42() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}
#endif

// ---- Little-endian fields and varints ----------------------------------------------------------

void put_u16(std::uint8_t* out, std::uint16_t value) {
  out[0] = static_cast<std::uint8_t>(value);
  out[1] = static_cast<std::uint8_t>(value >> 8);
}
void put_u32(std::uint8_t* out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(value >> (8 * i));
}
void put_u64(std::uint8_t* out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(value >> (8 * i));
}
std::uint16_t get_u16(const std::uint8_t* in) {
  return static_cast<std::uint16_t>(in[0] | (in[1] << 8));
}
std::uint32_t get_u32(const std::uint8_t* in) {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | in[i];
  return value;
}
std::uint64_t get_u64(const std::uint8_t* in) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | in[i];
  return value;
}

std::size_t put_varint(std::uint8_t* out, std::uint64_t value) {
  std::size_t size = 0;
  while (value >= 0x80) {
    out[size++] = static_cast<std::uint8_t>(value | 0x80);
    value >>= 7;
  }
  out[size++] = static_cast<std::uint8_t>(value);
  return size;
}

enum class VarintResult : std::uint8_t { ok, truncated, invalid };

// LEB128, shortest form only (what put_varint writes), so that one record has one encoding.
VarintResult get_varint(const std::uint8_t* data, std::size_t size, std::size_t& offset,
                        std::uint64_t& value) {
  value = 0;
  for (std::size_t i = 0; i < varint_bytes_max; ++i) {
    if (offset + i >= size) return VarintResult::truncated;
    const std::uint8_t byte = data[offset + i];
    if (i == varint_bytes_max - 1 && byte > 1) return VarintResult::invalid;  // over 64 bits
    value |= static_cast<std::uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (byte == 0 && i > 0) return VarintResult::invalid;  // a longer form than needed
      offset += i + 1;
      return VarintResult::ok;
    }
  }
  return VarintResult::invalid;
}

std::uint64_t zigzag(std::int64_t value) {
  return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}
std::int64_t unzigzag(std::uint64_t value) {
  return static_cast<std::int64_t>(value >> 1) ^ -static_cast<std::int64_t>(value & 1);
}

std::string hex_prefix(const JournalFingerprint& fingerprint) {
  return fingerprint_hex(fingerprint).substr(0, 16);
}

std::int64_t steady_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

std::string errno_text(int error) { return std::strerror(error); }

// The file, read-only, for replay: memory-mapped so a journal of any size costs page cache,
// not heap.
class MappedFile {
 public:
  ~MappedFile() {
    if (data_ != nullptr) munmap(data_, size_);
  }
  absl::Status map(int fd, std::size_t size) {
    size_ = size;
    if (size == 0) return absl::OkStatus();
    void* data = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) return absl::InternalError(hayate::cat("mmap: ", errno_text(errno)));
    data_ = data;
    madvise(data_, size_, MADV_SEQUENTIAL);
    return absl::OkStatus();
  }
  std::string_view bytes() const {
    return data_ == nullptr ? std::string_view()
                            : std::string_view(static_cast<const char*>(data_), size_);
  }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

absl::Status with_path(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(), hayate::cat(path, ": ", status.message()));
}

}  // namespace

// ---- Small public helpers ----------------------------------------------------------------------

std::uint32_t crc32c_portable(std::uint32_t crc, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  std::uint32_t state = ~crc;
  for (std::size_t i = 0; i < size; ++i) {
    state = crc32c_table[(state ^ bytes[i]) & 0xff] ^ (state >> 8);
  }
  return ~state;
}

std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t size) {
#if defined(__x86_64__)
  if (cpu_has_sse42()) return crc32c_sse42(crc, static_cast<const std::uint8_t*>(data), size);
#endif
  return crc32c_portable(crc, data, size);
}

std::int64_t unix_time_ms() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
}

JournalRecordType journal_record_type(OutcomeType type, bool final) {
  switch (type) {
    case OutcomeType::delivered:
      return JournalRecordType::final_delivered;
    case OutcomeType::bounced:
      return JournalRecordType::final_bounced;
    case OutcomeType::rejected:
      return JournalRecordType::final_rejected;
    case OutcomeType::suppressed:
      return JournalRecordType::final_suppressed;
    case OutcomeType::deferred:
      return final ? JournalRecordType::final_deferred : JournalRecordType::attempt_deferred;
  }
  HAYATE_ASSERT(false);
}

bool journal_record_is_recipient(JournalRecordType type) {
  const auto value = static_cast<std::uint8_t>(type);
  return (value >= 1 && value <= static_cast<std::uint8_t>(JournalRecordType::attempt_deferred)) ||
         type == JournalRecordType::final_suppressed;
}

bool journal_record_has_time(JournalRecordType type) {
  return type == JournalRecordType::attempt_deferred || type == JournalRecordType::run_started ||
         type == JournalRecordType::run_ended || type == JournalRecordType::batch_end;
}

const char* record_decode_name(RecordDecode result) {
  switch (result) {
    case RecordDecode::ok:
      return "ok";
    case RecordDecode::truncated:
      return "the file ends inside it";
    case RecordDecode::bad_type:
      return "unknown record type";
    case RecordDecode::bad_field:
      return "malformed field";
    case RecordDecode::bad_checksum:
      return "checksum mismatch";
  }
  return "unknown";
}

// ---- Header and records ------------------------------------------------------------------------

std::string encode_journal_header(JournalHeader& header) {
  const std::string& id = header.identity.campaign_id;
  HAYATE_ASSERT(!id.empty() && id.size() <= journal_campaign_id_bytes_max);
  std::uint8_t bytes[journal_header_bytes] = {};
  std::memcpy(bytes, journal_magic, sizeof(journal_magic));
  put_u16(bytes + 8, header.version);
  put_u16(bytes + 10, static_cast<std::uint16_t>(journal_header_bytes));
  put_u32(bytes + 12, 0);
  put_u64(bytes + 16, static_cast<std::uint64_t>(header.created_unix_ms));
  std::memcpy(bytes + 24, header.identity.fingerprint.data(), journal_fingerprint_bytes);
  bytes[56] = static_cast<std::uint8_t>(id.size());
  std::memcpy(bytes + 57, id.data(), id.size());
  header.salt = crc32c(0, bytes, header_crc_offset);
  put_u32(bytes + header_crc_offset, header.salt);
  return std::string(reinterpret_cast<const char*>(bytes), journal_header_bytes);
}

std::size_t encode_journal_record(const JournalRecord& record, std::uint32_t salt,
                                  std::uint8_t* out) {
  std::size_t size = 0;
  out[size++] = static_cast<std::uint8_t>(record.type);
  size += put_varint(out + size, record.sequence);
  size += put_varint(out + size, record.attempts);
  if (journal_record_has_time(record.type))
    size += put_varint(out + size, zigzag(record.time_unix_ms));
  put_u32(out + size, crc32c(salt, out, size));
  size += 4;
  HAYATE_ASSERT(size <= journal_record_bytes_max);
  return size;
}

RecordDecode decode_journal_record(std::string_view bytes, std::uint32_t salt,
                                   JournalRecord& record, std::size_t& consumed_bytes) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const std::size_t size = bytes.size();
  if (size == 0) return RecordDecode::truncated;
  if (data[0] == 0 || data[0] > journal_record_type_max) return RecordDecode::bad_type;
  record = JournalRecord{};
  record.type = static_cast<JournalRecordType>(data[0]);
  std::size_t offset = 1;
  std::uint64_t attempts = 0;
  std::uint64_t time = 0;
  for (std::uint64_t* field : {&record.sequence, &attempts, &time}) {
    if (field == &time && !journal_record_has_time(record.type)) break;
    const VarintResult result = get_varint(data, size, offset, *field);
    if (result == VarintResult::truncated) return RecordDecode::truncated;
    if (result == VarintResult::invalid) return RecordDecode::bad_field;
  }
  if (offset + 4 > size) return RecordDecode::truncated;
  // Every record names something: recipients and runs count from 1, and so do batches.
  if (record.sequence == 0 || attempts > UINT32_MAX) return RecordDecode::bad_field;
  record.attempts = static_cast<std::uint32_t>(attempts);
  record.time_unix_ms = unzigzag(time);
  if (get_u32(data + offset) != crc32c(salt, data, offset)) return RecordDecode::bad_checksum;
  consumed_bytes = offset + 4;
  return RecordDecode::ok;
}

// ---- State -------------------------------------------------------------------------------------

RecipientStatus SequenceStates::get(std::uint64_t sequence) const {
  const auto found = blocks_.find(sequence / sequences_per_block);
  if (found == blocks_.end()) return RecipientStatus::open;
  const std::uint64_t index = sequence % sequences_per_block;
  const std::uint64_t word = (*found->second)[index / 32];
  return static_cast<RecipientStatus>((word >> (2 * (index % 32))) & 3);
}

std::uint64_t* SequenceStates::block_for(std::uint64_t sequence) {
  const std::uint64_t block_index = sequence / sequences_per_block;
  if (block_index != cached_index_) {
    std::unique_ptr<Block>& block = blocks_[block_index];
    if (block == nullptr) block = std::make_unique<Block>(Block{});
    cached_index_ = block_index;
    cached_ = block.get();
  }
  return cached_->data();
}

void SequenceStates::set(std::uint64_t sequence, RecipientStatus status) {
  std::uint64_t* words = block_for(sequence);
  const std::uint64_t index = sequence % sequences_per_block;
  const unsigned shift = static_cast<unsigned>(2 * (index % 32));
  std::uint64_t& word = words[index / 32];
  word = (word & ~(std::uint64_t{3} << shift)) | (static_cast<std::uint64_t>(status) << shift);
}

std::size_t SequenceStates::memory_bytes() const {
  return blocks_.size() * (sizeof(Block) + 2 * sizeof(void*)) + blocks_.capacity() * 16;
}

const RetryState* JournalState::retry(std::uint64_t sequence) const {
  const auto found = retries_.find(sequence);
  return found == retries_.end() ? nullptr : &found->second;
}

std::size_t JournalState::memory_bytes() const {
  return states_.memory_bytes() +
         retries_.capacity() * (sizeof(std::uint64_t) + sizeof(RetryState) + 1);
}

void JournalState::apply(const JournalRecord& record) {
  ++records;
  switch (record.type) {
    case JournalRecordType::run_started:
      ++runs_started;
      if (first_run_started_unix_ms == 0) first_run_started_unix_ms = record.time_unix_ms;
      return;
    case JournalRecordType::run_ended:
      ++runs_ended;
      last_exit_code = static_cast<int>(record.attempts);
      return;
    case JournalRecordType::batch_end:
      last_batch = record.sequence;
      last_commit_unix_ms = record.time_unix_ms;
      return;
    default:
      break;
  }
  const std::uint64_t sequence = record.sequence;
  const RecipientStatus current = states_.get(sequence);
  if (current == RecipientStatus::finished || current == RecipientStatus::rejected) {
    ++counts.duplicates;  // a final outcome is final: the first one stands
    return;
  }
  switch (record.type) {
    case JournalRecordType::attempt_deferred:
      // A recipient that ended deferred in an earlier run is being tried again.
      if (current == RecipientStatus::deferred) {
        --counts.deferred;
        states_.set(sequence, RecipientStatus::open);
      }
      retries_[sequence] = RetryState{record.attempts, record.time_unix_ms};
      ++counts.attempts_deferred;
      return;
    case JournalRecordType::final_deferred:
      retries_.erase(sequence);
      if (current == RecipientStatus::deferred) return;  // deferred again in a later run
      states_.set(sequence, RecipientStatus::deferred);
      ++counts.deferred;
      return;
    case JournalRecordType::final_delivered:
    case JournalRecordType::final_bounced:
    case JournalRecordType::final_rejected:
    case JournalRecordType::final_suppressed:
      retries_.erase(sequence);
      if (current == RecipientStatus::deferred) --counts.deferred;
      if (record.type == JournalRecordType::final_rejected) {
        states_.set(sequence, RecipientStatus::rejected);
        ++counts.rejected;
      } else if (record.type == JournalRecordType::final_suppressed) {
        states_.set(sequence, RecipientStatus::finished);
        ++counts.suppressed;
      } else {
        states_.set(sequence, RecipientStatus::finished);
        ++(record.type == JournalRecordType::final_delivered ? counts.delivered : counts.bounced);
      }
      return;
    default:
      HAYATE_ASSERT(false);
  }
}

// ---- Replay ------------------------------------------------------------------------------------

namespace {

absl::StatusOr<JournalHeader> decode_header(std::string_view bytes) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const std::size_t magic_bytes = std::min(bytes.size(), sizeof(journal_magic));
  if (bytes.empty() || std::memcmp(data, journal_magic, magic_bytes) != 0) {
    return absl::InvalidArgumentError("not a hayate journal (it does not start with HAYATEJ1)");
  }
  if (bytes.size() < journal_header_bytes) {
    return absl::DataLossError(hayate::cat("the journal header is incomplete (", bytes.size(),
                                           " of ", journal_header_bytes, " bytes)"));
  }
  JournalHeader header;
  header.version = get_u16(data + 8);
  if (header.version != journal_format_version) {
    return absl::UnimplementedError(hayate::cat("journal format version ", header.version,
                                                "; this hayate reads version ",
                                                journal_format_version));
  }
  header.salt = get_u32(data + header_crc_offset);
  if (crc32c(0, data, header_crc_offset) != header.salt) {
    return absl::DataLossError("the journal header is damaged (checksum mismatch)");
  }
  const std::size_t id_bytes = data[56];
  const bool padding_zero = std::all_of(data + 57 + id_bytes, data + header_crc_offset,
                                        [](std::uint8_t byte) { return byte == 0; });
  if (get_u16(data + 10) != journal_header_bytes || get_u32(data + 12) != 0 || id_bytes == 0 ||
      id_bytes > journal_campaign_id_bytes_max || !padding_zero) {
    return absl::DataLossError("the journal header is damaged (invalid fields)");
  }
  header.created_unix_ms = static_cast<std::int64_t>(get_u64(data + 16));
  std::memcpy(header.identity.fingerprint.data(), data + 24, journal_fingerprint_bytes);
  header.identity.campaign_id.assign(reinterpret_cast<const char*>(data + 57), id_bytes);
  return header;
}

absl::Status check_identity(const JournalHeader& header, const JournalIdentity& expected,
                            bool force) {
  if (header.identity.campaign_id != expected.campaign_id) {
    return absl::FailedPreconditionError(
        hayate::cat("the journal belongs to campaign '", header.identity.campaign_id, "', not '",
                    expected.campaign_id, "'; use another output directory for this campaign"));
  }
  if (header.identity.fingerprint != expected.fingerprint && !force) {
    return absl::FailedPreconditionError(hayate::cat(
        "the journal was written for other inputs: the job file, the recipients or a template "
        "changed since the campaign's first run (fingerprint ",
        hex_prefix(header.identity.fingerprint), "…, now ", hex_prefix(expected.fingerprint),
        "…). Resuming would match CSV record numbers to other rows and could mail someone "
        "twice or never. Restore the original files, or use a new --out directory; resume "
        "with --force only if every row kept its place"));
  }
  return absl::OkStatus();
}

// After damage at `offset`: is there a committed batch further on? A valid batch_end with a
// later number means the damage lies inside data that was once synced.
bool committed_batch_after(std::string_view bytes, std::size_t offset, std::uint32_t salt,
                           std::uint64_t last_batch) {
  const auto batch_type = static_cast<char>(JournalRecordType::batch_end);
  for (std::size_t at = bytes.find(batch_type, offset + 1); at != std::string_view::npos;
       at = bytes.find(batch_type, at + 1)) {
    JournalRecord record;
    std::size_t consumed = 0;
    if (decode_journal_record(bytes.substr(at), salt, record, consumed) == RecordDecode::ok &&
        record.sequence > last_batch) {
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<JournalState> parse_journal(std::string_view bytes, const JournalIdentity* expected,
                                           bool force) {
  absl::StatusOr<JournalHeader> header = decode_header(bytes);
  if (!header.ok()) return header.status();
  if (expected != nullptr) {
    if (absl::Status status = check_identity(*header, *expected, force); !status.ok()) {
      return status;
    }
  }
  JournalState state;
  state.header = *std::move(header);
  const std::uint32_t salt = state.header.salt;
  std::size_t offset = journal_header_bytes;
  const char* problem = nullptr;
  std::string batch_problem;
  while (offset < bytes.size()) {
    JournalRecord record;
    std::size_t consumed = 0;
    const RecordDecode result = decode_journal_record(bytes.substr(offset), salt, record, consumed);
    if (result != RecordDecode::ok) {
      problem = record_decode_name(result);
      break;
    }
    // Batches are numbered without gaps across runs: another number is misplaced data.
    if (record.type == JournalRecordType::batch_end && record.sequence != state.last_batch + 1) {
      batch_problem = hayate::cat("batch ", record.sequence, " after batch ", state.last_batch);
      problem = batch_problem.c_str();
      break;
    }
    state.apply(record);
    offset += consumed;
  }
  state.valid_bytes = offset;
  state.dropped_bytes = bytes.size() - offset;
  if (problem == nullptr) return state;
  if (committed_batch_after(bytes, offset, salt, state.last_batch)) {
    state.damage = JournalDamage::corrupt;
    state.damage_message =
        hayate::cat("the record at byte ", offset, " is damaged (", problem,
                    ") and committed records "
                    "follow it: ",
                    state.dropped_bytes,
                    " bytes from there on cannot be read. Restore the "
                    "journal from a backup, or force the resume (recipients recorded after byte ",
                    offset, " may be mailed again)");
  } else {
    state.damage = JournalDamage::torn_tail;
    state.damage_message =
        hayate::cat("the last ", state.dropped_bytes, " bytes (from byte ", offset,
                    ") are an unfinished write (", problem, ") and are dropped");
  }
  return state;
}

namespace {

absl::StatusOr<JournalState> replay_open_journal(const UniqueFd& fd, const std::string& path,
                                                 const JournalIdentity* expected, bool force) {
  struct stat info {};
  MappedFile file;
  absl::Status status = fstat(fd.get(), &info) == 0
                            ? file.map(fd.get(), static_cast<std::size_t>(info.st_size))
                            : absl::InternalError(hayate::cat("fstat: ", errno_text(errno)));
  if (!status.ok()) return with_path(path, status);
  absl::StatusOr<JournalState> state = parse_journal(file.bytes(), expected, force);
  if (!state.ok()) return with_path(path, state.status());
  return state;
}

}  // namespace

absl::StatusOr<JournalState> replay_journal(const std::string& path,
                                            const JournalIdentity* expected, bool force) {
  absl::StatusOr<UniqueFd> fd = open_regular_file(path, "the journal");
  if (!fd.ok()) return absl::NotFoundError(fd.status().message());
  return replay_open_journal(*fd, path, expected, force);
}

absl::StatusOr<JournalState> replay_journal(const Directory& directory, std::string_view name,
                                            const JournalIdentity* expected, bool force) {
  absl::StatusOr<UniqueFd> fd = directory.open_for_reading(name);
  if (!fd.ok()) return absl::NotFoundError(fd.status().message());
  return replay_open_journal(*fd, directory.path_of(name), expected, force);
}

// ---- Fingerprint -------------------------------------------------------------------------------

absl::StatusOr<JournalFingerprint> journal_fingerprint(const std::vector<std::string>& paths) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                  EVP_MD_CTX_free);
  HAYATE_ASSERT(context != nullptr && EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) == 1);
  std::vector<char> buffer(64 * 1024);
  for (const std::string& path : paths) {
    // A regular file only: a FIFO would block this second open of an input for ever.
    absl::StatusOr<UniqueFd> opened = open_regular_file(path, "an input");
    if (!opened.ok()) return absl::NotFoundError(opened.status().message());
    const int fd = opened->get();
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    std::uint64_t length = 0;
    while (true) {
      const ssize_t got = ::read(fd, buffer.data(), buffer.size());
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        return absl::InternalError(hayate::cat("cannot read ", path, ": ", errno_text(errno)));
      }
      if (got == 0) break;
      EVP_DigestUpdate(context.get(), buffer.data(), static_cast<std::size_t>(got));
      length += static_cast<std::uint64_t>(got);
    }
    std::uint8_t length_bytes[8];
    put_u64(length_bytes, length);  // after the bytes: no two lists of files hash alike
    EVP_DigestUpdate(context.get(), length_bytes, sizeof(length_bytes));
  }
  JournalFingerprint fingerprint{};
  unsigned int size = 0;
  HAYATE_ASSERT(EVP_DigestFinal_ex(context.get(), fingerprint.data(), &size) == 1 &&
                size == fingerprint.size());
  return fingerprint;
}

std::string fingerprint_hex(const JournalFingerprint& fingerprint) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text;
  text.reserve(fingerprint.size() * 2);
  for (std::uint8_t byte : fingerprint) {
    text.push_back(digits[byte >> 4]);
    text.push_back(digits[byte & 15]);
  }
  return text;
}

// ---- Producers ---------------------------------------------------------------------------------

JournalIo JournalIo::system() {
  JournalIo io;
  io.writev = [](int fd, const iovec* iov, int count) { return ::writev(fd, iov, count); };
  io.datasync = [](int fd) { return ::fdatasync(fd); };
  return io;
}

bool JournalProducer::append(const JournalRecord& record) {
  HAYATE_ASSERT(journal_record_is_recipient(record.type) && record.sequence >= 1);
  return append_any(record);
}

bool JournalProducer::append_any(const JournalRecord& record) {
  if (!writer_.accepting_.load(std::memory_order_acquire)) return false;
  std::uint8_t bytes[journal_record_bytes_max];
  const std::size_t size = encode_journal_record(record, salt_, bytes);
  bool was_empty = false;
  std::size_t held_bytes = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    was_empty = buffer_.empty();
    buffer_.append(reinterpret_cast<const char*>(bytes), size);
    ++appended_;
    held_bytes = buffer_.size();
  }
  const JournalOptions& options = writer_.options_;
  if (was_empty) writer_.notify_pending();
  if (held_bytes >= options.producer_bytes_max) {
    writer_.request_commit(true);  // the disk is behind: wait rather than grow
  } else if (held_bytes >= options.commit_bytes && held_bytes - size < options.commit_bytes) {
    writer_.request_commit(false);
  }
  return true;
}

// ---- Writer ------------------------------------------------------------------------------------

JournalWriter::JournalWriter(std::string path, int fd, std::uint32_t salt, JournalOptions options,
                             std::uint32_t run, std::uint64_t last_batch)
    : path_(std::move(path)),
      fd_(fd),
      salt_(salt),
      options_(std::move(options)),
      run_(run),
      batch_(last_batch) {
  HAYATE_ASSERT(options_.io.writev && options_.io.datasync);
  HAYATE_ASSERT(options_.commit_bytes > 0 && options_.commit_bytes < options_.producer_bytes_max);
  own_ = &add_producer();
}

JournalWriter::~JournalWriter() {
  if (fd_ >= 0) {
    accepting_.store(false, std::memory_order_release);
    stop();
    ::close(fd_);
  }
}

JournalProducer& JournalWriter::add_producer() {
  std::lock_guard<std::mutex> lock(producers_mutex_);
  producers_.push_back(std::unique_ptr<JournalProducer>(new JournalProducer(*this, salt_)));
  return *producers_.back();
}

void JournalWriter::start() {
  thread_ = std::thread([this] { thread_main(); });
  own_->append_any(JournalRecord{JournalRecordType::run_started, run_, 0, unix_time_ms()});
}

void JournalWriter::stop() {
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void JournalWriter::notify_pending() {
  if (!pending_.exchange(true, std::memory_order_acq_rel)) {
    std::lock_guard<std::mutex> lock(wake_mutex_);  // no lost wake-up: the writer checks under it
    wake_.notify_one();
  }
}

void JournalWriter::request_commit(bool wait) {
  std::unique_lock<std::mutex> lock(wake_mutex_);
  if (thread_done_) return;
  // The next commit to start collects everything appended before this point.
  const std::uint64_t target = commits_started_ + 1;
  urgent_ = true;
  wake_.notify_one();
  if (!wait) return;
  committed_.wait(lock, [&] { return commits_completed_ >= target || thread_done_; });
}

bool JournalWriter::sync() {
  request_commit(true);
  return !failed();
}

void JournalWriter::thread_main() {
  const auto interval = std::chrono::milliseconds(options_.commit_interval_ms);
  auto last_start = std::chrono::steady_clock::now() - interval;
  std::unique_lock<std::mutex> lock(wake_mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stop_ || urgent_ || pending_.load(std::memory_order_acquire); });
    // Group commit: wait out the interval since the last commit began, gathering more records.
    if (!stop_ && !urgent_) {
      wake_.wait_until(lock, last_start + interval, [&] { return stop_ || urgent_; });
    }
    const bool stopping = stop_;
    urgent_ = false;
    pending_.store(false, std::memory_order_release);
    const std::uint64_t number = ++commits_started_;
    lock.unlock();
    last_start = std::chrono::steady_clock::now();
    const bool ok = commit();
    lock.lock();
    commits_completed_ = number;
    committed_.notify_all();
    if (stopping || !ok) break;
  }
  thread_done_ = true;
  committed_.notify_all();
}

bool JournalWriter::write_all(std::vector<iovec>& iov) {
  std::size_t index = 0;
  while (index < iov.size()) {
    const int count = static_cast<int>(std::min<std::size_t>(iov.size() - index, IOV_MAX));
    const ssize_t written = options_.io.writev(fd_, &iov[index], count);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      if (written == 0) errno = EIO;
      return false;
    }
    std::size_t left = static_cast<std::size_t>(written);
    while (left > 0) {
      if (left >= iov[index].iov_len) {
        left -= iov[index].iov_len;
        ++index;
      } else {
        iov[index].iov_base = static_cast<char*>(iov[index].iov_base) + left;
        iov[index].iov_len -= left;
        left = 0;
      }
    }
    while (index < iov.size() && iov[index].iov_len == 0) ++index;
  }
  return true;
}

bool JournalWriter::commit() {
  if (failed()) return false;
  std::vector<JournalProducer*> taken_from;
  {
    std::lock_guard<std::mutex> lock(producers_mutex_);
    if (taken_.size() < producers_.size()) taken_.resize(producers_.size());
    taken_from.reserve(producers_.size());
    for (std::size_t i = 0; i < producers_.size(); ++i) {
      JournalProducer& producer = *producers_[i];
      taken_from.push_back(&producer);
      std::lock_guard<std::mutex> producer_lock(producer.mutex_);
      if (producer.buffer_.empty()) continue;
      taken_[i].bytes.swap(producer.buffer_);  // the producer gets the emptied spare
      taken_[i].appended = producer.appended_;
    }
  }
  std::vector<iovec> iov;
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < taken_from.size(); ++i) {
    if (taken_[i].bytes.empty()) continue;
    iov.push_back(iovec{taken_[i].bytes.data(), taken_[i].bytes.size()});
    bytes += taken_[i].bytes.size();
  }
  if (iov.empty()) return true;
  std::uint8_t batch_end[journal_record_bytes_max];
  const std::size_t batch_end_bytes = encode_journal_record(
      JournalRecord{JournalRecordType::batch_end, batch_ + 1, 0, unix_time_ms()}, salt_, batch_end);
  iov.push_back(iovec{batch_end, batch_end_bytes});
  bytes += batch_end_bytes;
  if (!write_all(iov)) {
    const int error = errno;
    fail(hayate::cat("cannot write ", path_, ": ", errno_text(error),
                     "; outcomes from now on are not recorded"));
    return false;
  }
  const std::int64_t sync_started_ns = steady_ns();
  if (options_.io.datasync(fd_) != 0) {
    const int error = errno;
    // After a failed fsync the kernel may have dropped the dirty pages: never retry it.
    fail(hayate::cat("cannot sync ", path_, ": ", errno_text(error),
                     "; outcomes from now on are not recorded"));
    return false;
  }
  const auto sync_ns = static_cast<std::uint64_t>(steady_ns() - sync_started_ns);
  ++batch_;
  std::uint64_t records = 0;
  for (std::size_t i = 0; i < taken_from.size(); ++i) {
    Taken& taken = taken_[i];
    if (taken.bytes.empty()) continue;
    records += taken.appended - taken_from[i]->durable_.load(std::memory_order_relaxed);
    taken_from[i]->durable_.store(taken.appended, std::memory_order_release);
    if (taken.bytes.capacity() > 2 * options_.commit_bytes) {
      std::string().swap(taken.bytes);  // after a burst, give the memory back
    } else {
      taken.bytes.clear();
    }
  }
  stat_commits_.fetch_add(1, std::memory_order_relaxed);
  stat_records_.fetch_add(records, std::memory_order_relaxed);
  stat_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  stat_sync_ns_total_.fetch_add(sync_ns, std::memory_order_relaxed);
  if (sync_ns > stat_sync_ns_max_.load(std::memory_order_relaxed)) {
    stat_sync_ns_max_.store(sync_ns, std::memory_order_relaxed);
  }
  if (options_.on_commit) options_.on_commit();
  return true;
}

void JournalWriter::fail(std::string error) {
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    if (failed_.load()) return;
    error_ = std::move(error);
    accepting_.store(false, std::memory_order_release);
    failed_.store(true, std::memory_order_release);
  }
  if (options_.on_failure) options_.on_failure(this->error());
}

std::string JournalWriter::error() const {
  std::lock_guard<std::mutex> lock(error_mutex_);
  return error_;
}

JournalStats JournalWriter::stats() const {
  JournalStats stats;
  stats.commits = stat_commits_.load(std::memory_order_relaxed);
  stats.records = stat_records_.load(std::memory_order_relaxed);
  stats.bytes = stat_bytes_.load(std::memory_order_relaxed);
  stats.sync_ns_total = stat_sync_ns_total_.load(std::memory_order_relaxed);
  stats.sync_ns_max = stat_sync_ns_max_.load(std::memory_order_relaxed);
  return stats;
}

absl::Status JournalWriter::close(int exit_code) {
  if (fd_ < 0) return failed() ? absl::InternalError(error()) : absl::OkStatus();
  own_->append_any(JournalRecord{JournalRecordType::run_ended, run_,
                                 static_cast<std::uint32_t>(exit_code), unix_time_ms()});
  accepting_.store(false, std::memory_order_release);
  stop();  // the last commit takes run_ended and whatever the producers left
  if (::close(fd_) != 0 && !failed()) {
    fail(hayate::cat("cannot close ", path_, ": ", errno_text(errno)));
  }
  fd_ = -1;
  return failed() ? absl::InternalError(error()) : absl::OkStatus();
}

// ---- Opening -----------------------------------------------------------------------------------

namespace {

// Writes the whole buffer at the file's current position through the injectable I/O.
bool write_through(const JournalIo& io, int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
    const ssize_t written = io.writev(fd, &iov, 1);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      if (written == 0) errno = EIO;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

// The first bytes of a journal whose creation stopped before its header was complete.
bool is_unfinished_header(std::string_view bytes) {
  if (bytes.empty()) return true;
  return bytes.size() < journal_header_bytes &&
         std::memcmp(bytes.data(), journal_magic, std::min(bytes.size(), sizeof(journal_magic))) ==
             0;
}

}  // namespace

absl::StatusOr<OpenedJournal> open_journal(const std::string& path, const JournalIdentity& identity,
                                           const JournalOptions& options) {
  std::string name;
  absl::StatusOr<Directory> directory = Directory::open_parent(path, name);
  if (!directory.ok()) return absl::InternalError(directory.status().message());
  return open_journal(*directory, name, identity, options);
}

absl::StatusOr<OpenedJournal> open_journal(const Directory& directory, std::string_view name,
                                           const JournalIdentity& identity,
                                           const JournalOptions& options) {
  const std::string path = directory.path_of(name);
  absl::StatusOr<UniqueFd> file_fd = directory.open_file(name, O_RDWR | O_CREAT, private_file_mode);
  // Never kUnavailable or kFailedPrecondition here: those say "locked" and "other inputs".
  if (!file_fd.ok()) return absl::InternalError(file_fd.status().message());
  const int fd = file_fd->release();
  auto fail = [&](absl::Status status) {
    ::close(fd);
    return status;
  };
  auto io_error = [&](const char* what) {
    const int error = errno;
    return fail(
        absl::InternalError(hayate::cat("cannot ", what, " ", path, ": ", errno_text(error))));
  };
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return fail(absl::UnavailableError(
          hayate::cat(path, " is in use by another hayate run of this campaign")));
    }
    return io_error("lock");
  }
  struct stat info {};
  if (fstat(fd, &info) != 0) return io_error("stat");

  OpenedJournal opened;
  MappedFile file;
  if (absl::Status status = file.map(fd, static_cast<std::size_t>(info.st_size)); !status.ok()) {
    return fail(with_path(path, status));
  }
  if (is_unfinished_header(file.bytes())) {
    // New, or its creation was cut short: no outcome was ever recorded in it.
    opened.created = true;
    opened.state.header.created_unix_ms = unix_time_ms();
    opened.state.header.identity = identity;
    const std::string header = encode_journal_header(opened.state.header);
    opened.state.valid_bytes = header.size();
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) return io_error("truncate");
    if (!write_through(options.io, fd, header)) return io_error("write");
    if (options.io.datasync(fd) != 0) return io_error("sync");
    if (!directory.sync().ok()) return io_error("sync the directory of");
  } else {
    absl::StatusOr<JournalState> state = parse_journal(file.bytes(), &identity, options.force);
    if (!state.ok()) return fail(with_path(path, state.status()));
    opened.state = *std::move(state);
    if (opened.state.damage == JournalDamage::corrupt && !options.force) {
      return fail(absl::DataLossError(hayate::cat(path, ": ", opened.state.damage_message)));
    }
    if (opened.state.damage != JournalDamage::none) {
      // Cut the damage off so that new records follow valid ones.
      if (ftruncate(fd, static_cast<off_t>(opened.state.valid_bytes)) != 0) {
        return io_error("truncate");
      }
      if (options.io.datasync(fd) != 0) return io_error("sync");
    }
    if (lseek(fd, static_cast<off_t>(opened.state.valid_bytes), SEEK_SET) < 0) {
      return io_error("seek in");
    }
  }
  opened.writer.reset(new JournalWriter(path, fd, opened.state.header.salt, options,
                                        opened.state.runs_started + 1, opened.state.last_batch));
  opened.writer->start();
  return opened;
}

}  // namespace hayate::campaign::output
