// libFuzzer target for campaign/bounce_recording's parse_delivery_line, which reads
// deliveries.jsonl back after a killed run: any bytes must not crash it, and any ASCII
// recipient escaped as DeliveryLog escapes it (append_json_escaped) must come back unchanged.
#include <cstdint>
#include <string>
#include <string_view>

#include "campaign/bounce/recording.h"
#include "campaign/output/delivery_log.h"
#include "engine/assert.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  hayate::campaign::DeliveryLine line;
  if (hayate::campaign::parse_delivery_line(input, line)) {
    HAYATE_ASSERT(!line.type.empty() || input.find("\"type\"") != std::string_view::npos);
  }

  std::string written = R"({"time":"2026-11-03T14:05:09.123Z","type":"bounced","recipient":")";
  hayate::campaign::append_json_escaped(input, written);
  written += R"(","reason":"userunknown","hard":true,"final":true})";
  HAYATE_ASSERT(hayate::campaign::parse_delivery_line(written, line));
  HAYATE_ASSERT(line.type == "bounced" && line.hard && line.final);
  HAYATE_ASSERT(line.bounce_reason == "userunknown");
  bool ascii = true;
  for (const char c : input) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (ascii) HAYATE_ASSERT(line.recipient == input);
  return 0;
}
