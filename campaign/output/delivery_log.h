// deliveries.jsonl: one JSON line per attempt outcome. Every shard (and the reader, for
// rejected rows) keeps its own buffer and appends whole lines to the shared file opened with
// O_APPEND, so lines never interleave and no lock is taken.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "campaign/output/outcome.h"
#include "engine/line_writer.h"

namespace hayate::campaign::inline output {

class DeliveryLog {
 public:
  explicit DeliveryLog(int fd) : writer_(fd) {}

  void append(const OutcomeRecord& record);
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
