// deliveries.jsonl: one JSON line per attempt outcome. Every shard (and the reader, for
// rejected rows) keeps its own buffer and appends whole lines to the shared file opened with
// O_APPEND, so lines never interleave and no lock is taken.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/line_writer.h"

namespace hayate::campaign::inline output {

// suppressed: on the suppression list (campaign/bounce/suppression.h), never attempted.
enum class OutcomeType : std::uint8_t { delivered, deferred, bounced, rejected, suppressed };
const char* outcome_type_name(OutcomeType type);

struct DeliveryRecord {
  OutcomeType type = OutcomeType::delivered;
  std::string_view recipient;
  std::string_view domain;
  std::string_view mx;             // "host (ip:port)" or the route
  std::uint16_t code = 0;
  std::string_view enhanced;       // "5.1.1" or empty
  std::string_view reply;          // server text or our reason
  std::string_view stage;          // where it happened: connect, rcpt, body...
  // Bounced and deferred outcomes: why (a bounce/reason.h word) and whether the address is
  // condemned (campaign/bounce_recording.h classify_outcome). Empty: no "reason" in the line.
  std::string_view bounce_reason;
  bool hard = false;
  std::uint32_t attempt = 0;
  std::int64_t latency_ms = -1;    // -1: not measured
  std::uint64_t line = 0;          // CSV line
  bool final = true;               // no further attempt in this run
};

class DeliveryLog {
 public:
  explicit DeliveryLog(int fd) : writer_(fd) {}

  void append(const DeliveryRecord& record);
  // Writes buffered lines. Returns false (and remembers it) when the write failed.
  bool flush() { return writer_.flush(); }
  bool failed() const { return writer_.failed(); }

 private:
  LineWriter writer_;
};

// Appends `text` as a JSON string body (no quotes): escapes quotes, backslashes and control
// characters; invalid UTF-8 bytes become U+FFFD so every line stays valid JSON.
void append_json_escaped(std::string_view text, std::string& out);

}  // namespace hayate::campaign::output
