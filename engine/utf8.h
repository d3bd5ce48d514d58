// UTF-8 validation for text that goes into logs, JSON, CSV and metrics: one well-formed
// sequence at a time, so that invalid bytes can be replaced (U+FFFD) and valid ones kept.
#pragma once

#include <cstddef>
#include <string_view>

namespace hayate {

// Length of the well-formed UTF-8 sequence (RFC 3629 4) at text[pos]: 1 for ASCII, 2..4 for
// the others, 0 when the bytes there are not one (overlong forms, surrogates, code points over
// U+10FFFF, a stray continuation byte, a sequence cut short). Precondition: pos < size.
inline std::size_t utf8_sequence_length(std::string_view text, std::size_t pos) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  std::size_t length = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xBF;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;  // overlong
    if (lead == 0xED) second_max = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;  // overlong
    if (lead == 0xF4) second_max = 0x8F;  // over U+10FFFF
  } else {
    return 0;
  }
  if (pos + length > text.size()) return 0;
  if (byte(pos + 1) < second_min || byte(pos + 1) > second_max) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(pos + i) < 0x80 || byte(pos + i) > 0xBF) return 0;
  }
  return length;
}

}  // namespace hayate
