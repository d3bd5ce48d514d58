// A recipient on its way through the engine: the normalized address and its CSV fields in one
// allocation, small enough that hundreds of thousands can wait in queues. The message itself
// is rendered only when a connection is ready to send it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hayate::campaign::inline input {

struct Recipient {
  std::uint64_t line = 0;           // CSV line where the row starts
  std::uint64_t sequence = 0;       // 1-based record number (Message-ID, preview --row)
  std::string data;                 // address, then every field, back to back
  std::vector<std::uint32_t> ends;  // ends[0]: end of the address; ends[i+1]: end of field i
  std::uint32_t domain_offset = 0;  // start of the domain within the address
  std::uint32_t attempts = 0;
  std::uint32_t retry_delay_ms = 0;  // the last backoff delay (decorrelated jitter grows it)
  bool needs_smtputf8 = false;
  std::int64_t not_before_ms = 0;  // retry time (shard clock)

  std::string_view address() const { return std::string_view(data).substr(0, ends[0]); }
  std::string_view domain() const { return address().substr(domain_offset); }
  std::size_t field_count() const { return ends.size() - 1; }
  std::string_view field(std::size_t i) const {
    return std::string_view(data).substr(ends[i], ends[i + 1] - ends[i]);
  }
};

struct RecipientBatch {
  std::vector<Recipient> recipients;
  bool end_of_input = false;
};

using BatchPointer = std::unique_ptr<RecipientBatch>;

}  // namespace hayate::campaign::input
