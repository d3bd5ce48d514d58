// UTF-8 to ISO-2022-JP with glibc iconv, one conversion descriptor per encoder (a composer's,
// on its shard), reset before every text so that each starts in ASCII.
#include "campaign/message/iso_2022_jp.h"

#include <iconv.h>

#include <cerrno>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "engine/assert.h"
#include "engine/strings.h"
#include "engine/utf8.h"

namespace hayate::campaign::inline message {
namespace {

iconv_t handle(void* iconv) { return static_cast<iconv_t>(iconv); }

bool is_ascii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

char32_t decode_code_point(std::string_view text, std::size_t pos, std::size_t length) {
  const auto byte = [&](std::size_t i) {
    return static_cast<char32_t>(static_cast<unsigned char>(text[pos + i]));
  };
  switch (length) {
    case 1:
      return byte(0);
    case 2:
      return (byte(0) & 0x1F) << 6 | (byte(1) & 0x3F);
    case 3:
      return (byte(0) & 0x0F) << 12 | (byte(1) & 0x3F) << 6 | (byte(2) & 0x3F);
    default:
      return (byte(0) & 0x07) << 18 | (byte(1) & 0x3F) << 12 | (byte(2) & 0x3F) << 6 |
             (byte(3) & 0x3F);
  }
}

}  // namespace

Iso2022JpEncoder::Iso2022JpEncoder() {
  iconv_t opened = iconv_open("ISO-2022-JP", "UTF-8");
  // glibc always has it (gconv module ISO-2022-JP); without it nothing could be sent right.
  HAYATE_ASSERT(opened != reinterpret_cast<iconv_t>(-1));
  iconv_ = opened;
}

Iso2022JpEncoder::~Iso2022JpEncoder() { iconv_close(handle(iconv_)); }

bool Iso2022JpEncoder::encode(std::string_view utf8, std::string& out, std::size_t& bad_offset) {
  iconv(handle(iconv_), nullptr, nullptr, nullptr, nullptr);  // back to ASCII
  const std::size_t start = out.size();
  // Two bytes a character, plus an escape at each change of set: a UTF-8 text of N bytes
  // needs at most 4N + 3 (an ASCII byte between two kanji: 3 + 1).
  out.resize(start + utf8.size() * 4 + 8);
  char* in = const_cast<char*>(utf8.data());  // iconv's signature; it does not write there
  std::size_t in_left = utf8.size();
  char* write = out.data() + start;
  std::size_t out_left = out.size() - start;
  const std::size_t converted = iconv(handle(iconv_), &in, &in_left, &write, &out_left);
  if (converted == static_cast<std::size_t>(-1)) {
    HAYATE_ASSERT(errno != E2BIG);
    bad_offset = utf8.size() - in_left;
    out.resize(start);
    return false;
  }
  // glibc counts characters it converted "irreversibly" (approximated); ISO-2022-JP has none
  // it would approximate, but refuse rather than send a substitute if it ever does.
  if (converted != 0) {
    bad_offset = 0;
    out.resize(start);
    return false;
  }
  // The escape back to ASCII at the end (RFC 1468: the text ends in ASCII).
  const std::size_t flushed = iconv(handle(iconv_), nullptr, nullptr, &write, &out_left);
  HAYATE_ASSERT(flushed != static_cast<std::size_t>(-1));
  out.resize(static_cast<std::size_t>(write - out.data()));
  return true;
}

std::string iso_2022_jp_problem(Iso2022JpEncoder& encoder, std::string_view utf8,
                                std::string& scratch) {
  if (is_ascii(utf8)) return {};
  scratch.clear();
  std::size_t bad_offset = 0;
  if (encoder.encode(utf8, scratch, bad_offset)) return {};
  const std::size_t length = bad_offset < utf8.size() ? utf8_sequence_length(utf8, bad_offset) : 0;
  if (length == 0) return "has bytes that are not UTF-8";
  const char32_t code_point = decode_code_point(utf8, bad_offset, length);
  const std::string character(utf8.substr(bad_offset, length));
  if (code_point >= 0xFF61 && code_point <= 0xFF9F) {
    return absl::StrFormat(
        "'%s' (U+%04X) is half-width katakana, which ISO-2022-JP cannot carry (RFC 1468); "
        "write it full-width",
        character, static_cast<std::uint32_t>(code_point));
  }
  return absl::StrFormat(
      "'%s' (U+%04X) is not in JIS X 0208, so ISO-2022-JP (RFC 1468) cannot carry it", character,
      static_cast<std::uint32_t>(code_point));
}

}  // namespace hayate::campaign::message
