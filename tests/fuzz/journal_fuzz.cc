// libFuzzer target for campaign/journal: replays any bytes as journal.bin. Must not crash; the
// valid part must replay again to the same state without damage; every record decoded must
// re-encode to its own bytes; and records built from the input with correct CRCs must leave the
// same recipient states and counts as a plain std::map model of the replay rules.
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>

#include "campaign/output/journal.h"
#include "engine/assert.h"

namespace {

using hayate::campaign::JournalCounts;
using hayate::campaign::JournalDamage;
using hayate::campaign::JournalHeader;
using hayate::campaign::JournalIdentity;
using hayate::campaign::JournalRecord;
using hayate::campaign::JournalRecordType;
using hayate::campaign::JournalState;
using hayate::campaign::RecipientStatus;
using hayate::campaign::RecordDecode;

const JournalHeader& fixed_header(std::string* bytes = nullptr) {
  static std::string encoded;
  static const JournalHeader header = [] {
    JournalHeader made;
    made.created_unix_ms = 1'767'225'600'000;
    made.identity.campaign_id = "fuzz-campaign";
    for (std::size_t i = 0; i < made.identity.fingerprint.size(); ++i) {
      made.identity.fingerprint[i] = static_cast<std::uint8_t>(i * 7);
    }
    encoded = hayate::campaign::encode_journal_header(made);
    return made;
  }();
  if (bytes != nullptr) *bytes = encoded;
  return header;
}

// Checks what must hold for any replay, and returns the state.
void check_replay(std::string_view bytes) {
  absl::StatusOr<JournalState> state = hayate::campaign::parse_journal(bytes, nullptr, false);
  if (!state.ok()) {
    HAYATE_ASSERT(!state.status().message().empty());
    return;
  }
  HAYATE_ASSERT(state->valid_bytes + state->dropped_bytes == bytes.size());
  HAYATE_ASSERT(state->valid_bytes >= hayate::campaign::journal_header_bytes);
  HAYATE_ASSERT((state->damage == JournalDamage::none) == (state->dropped_bytes == 0));
  HAYATE_ASSERT((state->damage == JournalDamage::none) == state->damage_message.empty());
  const JournalCounts& counts = state->counts;
  HAYATE_ASSERT(counts.delivered + counts.bounced + counts.rejected + counts.deferred +
                    counts.duplicates <=
                state->records);
  HAYATE_ASSERT(state->retries().size() <= counts.attempts_deferred);
  HAYATE_ASSERT(state->runs_ended <= state->records && state->runs_started <= state->records);

  // The valid part alone: the same state, and no damage.
  absl::StatusOr<JournalState> again =
      hayate::campaign::parse_journal(bytes.substr(0, state->valid_bytes), nullptr, false);
  HAYATE_ASSERT(again.ok() && again->damage == JournalDamage::none);
  HAYATE_ASSERT(again->records == state->records && again->counts == state->counts);
  HAYATE_ASSERT(again->retries() == state->retries());

  // Its own identity is accepted, forced or not.
  const JournalIdentity identity = state->header.identity;
  HAYATE_ASSERT(hayate::campaign::parse_journal(bytes, &identity, false).ok());

  // Each valid record re-encodes to exactly its bytes.
  std::size_t offset = hayate::campaign::journal_header_bytes;
  while (offset < state->valid_bytes) {
    JournalRecord record;
    std::size_t consumed = 0;
    HAYATE_ASSERT(hayate::campaign::decode_journal_record(bytes.substr(offset), state->header.salt,
                                                          record, consumed) == RecordDecode::ok);
    std::uint8_t encoded[hayate::campaign::journal_record_bytes_max];
    HAYATE_ASSERT(hayate::campaign::encode_journal_record(record, state->header.salt, encoded) ==
                      consumed &&
                  std::memcmp(encoded, bytes.data() + offset, consumed) == 0);
    offset += consumed;
  }
  HAYATE_ASSERT(offset == state->valid_bytes);
}

// The replay rules, written plainly, for records that all decode.
struct Model {
  std::map<std::uint64_t, RecipientStatus> status;
  std::map<std::uint64_t, std::pair<std::uint32_t, std::int64_t>> retries;
  JournalCounts counts;
  void apply(const JournalRecord& r) {
    if (!hayate::campaign::journal_record_is_recipient(r.type)) return;
    RecipientStatus& s = status[r.sequence];
    if (s == RecipientStatus::finished || s == RecipientStatus::rejected) {
      ++counts.duplicates;
      return;
    }
    const bool was_deferred = s == RecipientStatus::deferred;
    if (r.type == JournalRecordType::attempt_deferred) {
      if (was_deferred) --counts.deferred;
      s = RecipientStatus::open;
      retries[r.sequence] = {r.attempts, r.time_unix_ms};
      ++counts.attempts_deferred;
      return;
    }
    retries.erase(r.sequence);
    if (r.type == JournalRecordType::final_deferred) {
      if (!was_deferred) ++counts.deferred;
      s = RecipientStatus::deferred;
      return;
    }
    if (was_deferred) --counts.deferred;
    if (r.type == JournalRecordType::final_rejected) {
      s = RecipientStatus::rejected;
      ++counts.rejected;
    } else if (r.type == JournalRecordType::final_suppressed) {
      s = RecipientStatus::finished;
      ++counts.suppressed;
    } else {
      s = RecipientStatus::finished;
      ++(r.type == JournalRecordType::final_delivered ? counts.delivered : counts.bounced);
    }
  }
};

std::uint64_t take(const std::uint8_t*& data, std::size_t& size, std::size_t bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < bytes && size > 0; ++i, --size)
    value |= std::uint64_t{*data++} << (8 * i);
  return value;
}

// Records with correct CRCs from the input: type, sequence (small or any 64 bits), attempts,
// time. batch_end records get the next number unless the input asks otherwise.
void check_model(const std::uint8_t* data, std::size_t size) {
  std::string bytes;
  const JournalHeader& header = fixed_header(&bytes);
  Model model;
  std::uint64_t batch = 0;
  bool all_valid = true;
  while (size >= 4) {
    const std::uint8_t control = static_cast<std::uint8_t>(take(data, size, 1));
    JournalRecord record;
    record.type = static_cast<JournalRecordType>(control % 11);  // 0 and 10 are invalid types
    record.sequence = (control & 0x10) ? take(data, size, 8) : take(data, size, 1) % 64;
    record.attempts = static_cast<std::uint32_t>(take(data, size, 1));
    if (hayate::campaign::journal_record_has_time(record.type)) {
      record.time_unix_ms = static_cast<std::int64_t>(take(data, size, (control & 0x20) ? 8 : 2));
    }
    if (record.type == JournalRecordType::batch_end && (control & 0x40) == 0) {
      record.sequence = batch + 1;
    }
    std::uint8_t encoded[hayate::campaign::journal_record_bytes_max];
    bytes.append(reinterpret_cast<const char*>(encoded),
                 hayate::campaign::encode_journal_record(record, header.salt, encoded));
    const bool valid =
        record.type != JournalRecordType{0} &&
        static_cast<std::uint8_t>(record.type) <= hayate::campaign::journal_record_type_max &&
        record.sequence != 0 &&
        (record.type != JournalRecordType::batch_end || record.sequence == batch + 1);
    if (all_valid && valid) {
      model.apply(record);
      if (record.type == JournalRecordType::batch_end) batch = record.sequence;
    }
    all_valid = all_valid && valid;
  }
  check_replay(bytes);
  absl::StatusOr<JournalState> state = hayate::campaign::parse_journal(bytes, nullptr, false);
  HAYATE_ASSERT(state.ok());
  HAYATE_ASSERT(state->counts == model.counts);
  HAYATE_ASSERT(state->last_batch == batch);
  HAYATE_ASSERT(state->retries().size() == model.retries.size());
  for (const auto& [sequence, status] : model.status) {
    HAYATE_ASSERT(state->status(sequence) == status);
    const auto retry = model.retries.find(sequence);
    const auto* found = state->retry(sequence);
    HAYATE_ASSERT((retry == model.retries.end()) == (found == nullptr));
    if (found != nullptr) {
      HAYATE_ASSERT(found->attempts == retry->second.first &&
                    found->next_retry_unix_ms == retry->second.second);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The bytes as a whole file.
  check_replay(input);
  // The bytes as records after a valid header, so that mutations reach the record parser.
  std::string with_header;
  fixed_header(&with_header);
  with_header.append(input);
  check_replay(with_header);
  HAYATE_ASSERT(hayate::campaign::parse_journal(with_header, nullptr, false).ok());
  // The bytes as instructions for CRC-valid records, checked against the model.
  check_model(data, size);
  return 0;
}
