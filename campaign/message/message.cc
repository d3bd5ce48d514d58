// Message composer: renders a recipient's templates into RFC 5322 headers and a MIME body
// (each part 7bit, 8bit, quoted-printable or base64 by its bytes; multipart/alternative when
// there are both parts), writes List-Unsubscribe, and dot-stuffs messages for DATA.
// Everything appends to reused buffers; no clock, no I/O.
#include "campaign/message/message.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "campaign/limits.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign::inline message {
namespace {

constexpr std::size_t header_line_bytes_max = 78;            // RFC 5322 2.1.1: SHOULD be at most 78
constexpr std::size_t encoded_word_bytes_max = 75;           // RFC 2047 2
constexpr std::size_t quoted_printable_line_bytes_max = 76;  // RFC 2045 6.7 rule 5
constexpr std::size_t message_line_bytes_max = limits::message_line_bytes_max;
constexpr std::string_view encoded_word_open = "=?UTF-8?B?";
constexpr std::string_view encoded_word_close = "?=";
constexpr std::size_t encoded_word_overhead_bytes =
    encoded_word_open.size() + encoded_word_close.size();
constexpr std::string_view crlf = "\r\n";
constexpr char hex_upper[] = "0123456789ABCDEF";
constexpr char hex_lower[] = "0123456789abcdef";
constexpr std::size_t boundary_attempts_max = 16;

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

bool has_line_break(std::string_view text) {
  return text.find_first_of(crlf) != std::string_view::npos;
}

bool is_printable_ascii_or_wsp(std::string_view text) {
  for (char c : text) {
    unsigned char byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 || byte > 0x7E) && byte != '\t') return false;
  }
  return true;
}

// Bytes of the UTF-8 character at text[pos]; a byte that does not start a whole, well-formed
// sequence counts alone (the data is wrong, but an encoded-word must still end somewhere).
std::size_t utf8_character_bytes(std::string_view text, std::size_t pos) {
  unsigned char lead = static_cast<unsigned char>(text[pos]);
  std::size_t length = lead < 0x80           ? 1
                       : (lead >> 5) == 0x06 ? 2
                       : (lead >> 4) == 0x0E ? 3
                       : (lead >> 3) == 0x1E ? 4
                                             : 1;
  if (pos + length > text.size()) return 1;
  for (std::size_t i = 1; i < length; ++i) {
    if ((static_cast<unsigned char>(text[pos + i]) & 0xC0) != 0x80) return 1;
  }
  return length;
}

constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::size_t base64_bytes(std::size_t input_bytes) { return (input_bytes + 2) / 3 * 4; }

// Writes the base64 of `size` bytes at `in` (RFC 4648 4, padded) and returns the end.
char* write_base64(const unsigned char* in, std::size_t size, char* write) {
  std::size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const std::uint32_t group =
        std::uint32_t{in[i]} << 16 | std::uint32_t{in[i + 1]} << 8 | in[i + 2];
    write[0] = base64_alphabet[group >> 18];
    write[1] = base64_alphabet[(group >> 12) & 63];
    write[2] = base64_alphabet[(group >> 6) & 63];
    write[3] = base64_alphabet[group & 63];
    write += 4;
  }
  const std::size_t rest = size - i;
  if (rest == 0) return write;
  const std::uint32_t group =
      std::uint32_t{in[i]} << 16 | (rest == 2 ? std::uint32_t{in[i + 1]} << 8 : 0);
  write[0] = base64_alphabet[group >> 18];
  write[1] = base64_alphabet[(group >> 12) & 63];
  write[2] = rest == 2 ? base64_alphabet[(group >> 6) & 63] : '=';
  write[3] = '=';
  return write + 4;
}

void append_base64(std::string_view bytes, std::string& out) {
  const std::size_t old_size = out.size();
  out.resize(old_size + base64_bytes(bytes.size()));
  char* end = write_base64(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                           out.data() + old_size);
  HAYATE_ASSERT(end == out.data() + out.size());
}

// Appends `text` as encoded-words, each after a space or a fold (CRLF SP), so that no line
// passes 78 characters. `line_bytes`: length of the output's current line. RFC 2047 6.2: the
// whitespace between adjacent encoded-words is not displayed, so splitting is invisible.
void append_encoded_words(std::string_view text, std::string& out, std::size_t& line_bytes) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t room =
        line_bytes + 1 < header_line_bytes_max ? header_line_bytes_max - line_bytes - 1 : 0;
    std::size_t word_max = room < encoded_word_bytes_max ? room : encoded_word_bytes_max;
    std::size_t first_character_bytes = utf8_character_bytes(text, pos);
    auto payload_max = [](std::size_t word_bytes) -> std::size_t {
      if (word_bytes < encoded_word_overhead_bytes) return 0;
      return (word_bytes - encoded_word_overhead_bytes) / 4 * 3;  // whole base64 quanta
    };
    std::size_t bytes_max = payload_max(word_max);
    if (bytes_max < first_character_bytes) {
      out.append(crlf);
      line_bytes = 0;
      bytes_max = payload_max(encoded_word_bytes_max);
    }
    out.push_back(' ');
    ++line_bytes;
    std::size_t end = pos;
    while (end < text.size()) {
      std::size_t character_bytes = utf8_character_bytes(text, end);
      if (end + character_bytes - pos > bytes_max) break;
      end += character_bytes;
    }
    HAYATE_ASSERT(end > pos);
    std::size_t word_start = out.size();
    out.append(encoded_word_open);
    append_base64(text.substr(pos, end - pos), out);
    out.append(encoded_word_close);
    std::size_t word_bytes = out.size() - word_start;
    line_bytes += word_bytes;
    HAYATE_ASSERT(word_bytes <= encoded_word_bytes_max && line_bytes <= header_line_bytes_max);
    pos = end;
  }
}

// ISO-2022-JP (RFC 1468) escape sequences: ESC ( B ASCII, ESC ( J JIS X 0201 Roman, ESC $ @
// and ESC $ B JIS X 0208 (two bytes a character).
constexpr char escape_byte = '\x1B';
constexpr std::size_t escape_bytes = 3;
constexpr std::string_view to_ascii = "\x1B(B";
constexpr std::string_view jis_word_open = "=?ISO-2022-JP?B?";

// Appends `jis` (ISO-2022-JP from Iso2022JpEncoder) as encoded-words laid out as
// append_encoded_words() does; each word is a whole ISO-2022-JP text: it opens with the escape
// of the set its first character is in (unless ASCII) and ends in ASCII (RFC 1468), so that a
// reader decodes every word alone. `mode` is the escape in force ("" before any: ASCII).
void append_iso_2022_jp_encoded_words(std::string_view jis, std::string& out,
                                      std::size_t& line_bytes) {
  constexpr std::size_t overhead_bytes = jis_word_open.size() + encoded_word_close.size();
  // The most one character can add to a word: an escape into its set, itself (2 bytes), the
  // escape back to ASCII, and the escape of the set in force when the word opens with it.
  constexpr std::size_t character_bytes_max = 3 * escape_bytes + 2;
  auto payload_max = [](std::size_t word_bytes) -> std::size_t {
    if (word_bytes < overhead_bytes) return 0;
    return (word_bytes - overhead_bytes) / 4 * 3;
  };
  static_assert((encoded_word_bytes_max - overhead_bytes) / 4 * 3 >= character_bytes_max);
  std::string_view mode;  // escape in force at `pos`; empty: ASCII
  std::string word;
  std::size_t pos = 0;
  // The text ends with escapes alone (the one back to ASCII): nothing left to write.
  auto only_escapes_left = [&] {
    for (std::size_t i = pos; i < jis.size(); i += escape_bytes) {
      if (jis[i] != escape_byte) return false;
    }
    return true;
  };
  auto is_ascii_mode = [](std::string_view escape) { return escape.empty() || escape == to_ascii; };
  while (!only_escapes_left()) {
    const std::size_t room =
        line_bytes + 1 < header_line_bytes_max ? header_line_bytes_max - line_bytes - 1 : 0;
    std::size_t bytes_max = payload_max(std::min(room, encoded_word_bytes_max));
    if (bytes_max < character_bytes_max) {
      out.append(crlf);
      line_bytes = 0;
      bytes_max = payload_max(encoded_word_bytes_max);
    }
    word.clear();
    std::size_t characters = 0;
    while (!only_escapes_left()) {
      // One character: the escapes before it, then 1 byte (ASCII, Roman) or 2 (JIS X 0208).
      std::size_t end = pos;
      std::string_view next_mode = mode;
      while (end + escape_bytes <= jis.size() && jis[end] == escape_byte) {
        next_mode = jis.substr(end, escape_bytes);
        end += escape_bytes;
      }
      const bool double_byte = next_mode.size() == escape_bytes && next_mode[1] == '$';
      end = std::min(jis.size(), end + (double_byte ? 2 : 1));
      // A word opens in ASCII: a character in another set without an escape of its own
      // needs the escape in force.
      const bool needs_opening = characters == 0 && jis[pos] != escape_byte && !is_ascii_mode(mode);
      const std::size_t add = end - pos + (needs_opening ? escape_bytes : 0);
      const std::size_t closing = is_ascii_mode(next_mode) ? 0 : escape_bytes;
      if (characters > 0 && word.size() + add + closing > bytes_max) break;
      if (needs_opening) word.append(mode);
      word.append(jis.substr(pos, end - pos));
      mode = next_mode;
      pos = end;
      ++characters;
    }
    if (!is_ascii_mode(mode)) word.append(to_ascii);
    HAYATE_ASSERT(characters > 0 && word.size() <= bytes_max);
    out.push_back(' ');
    ++line_bytes;
    const std::size_t word_start = out.size();
    out.append(jis_word_open);
    append_base64(word, out);
    out.append(encoded_word_close);
    line_bytes += out.size() - word_start;
    HAYATE_ASSERT(out.size() - word_start <= encoded_word_bytes_max &&
                  line_bytes <= header_line_bytes_max);
  }
}

// Encoded-words for `text` in the charset asked for: ISO-2022-JP when `iso_2022_jp` is given,
// the text is not ASCII and converts; UTF-8 otherwise.
void append_words(std::string_view text, std::string& out, std::size_t& line_bytes,
                  Iso2022JpEncoder* iso_2022_jp) {
  if (iso_2022_jp != nullptr && !is_printable_ascii_or_wsp(text)) {
    std::string jis;
    if (iso_2022_jp->encode(text, jis)) {
      append_iso_2022_jp_encoded_words(jis, out, line_bytes);
      return;
    }
  }
  append_encoded_words(text, out, line_bytes);
}

// Appends `value` folding before whitespace (RFC 5322 2.2.3: unfolding removes the CRLF and
// restores the value exactly). A fold happens only before a run of whitespace followed by text,
// so no line is made of whitespace alone. `line_has_text`: something follows the field name.
// Returns the length of the longest line written (the first one counted from `line_bytes`).
std::size_t append_folded(std::string_view value, std::string& out, std::size_t& line_bytes,
                          bool line_has_text) {
  std::size_t longest_line_bytes = line_bytes;
  std::size_t pos = 0;
  while (pos < value.size()) {
    std::size_t end = pos;
    while (end < value.size() && is_wsp(value[end])) ++end;
    bool starts_with_wsp = end > pos;
    std::size_t text_start = end;
    while (end < value.size() && !is_wsp(value[end])) ++end;
    bool has_text = end > text_start;
    std::size_t chunk_bytes = end - pos;
    if (starts_with_wsp && has_text && line_has_text &&
        line_bytes + chunk_bytes > header_line_bytes_max) {
      out.append(crlf);
      line_bytes = 0;
    }
    out.append(value.substr(pos, chunk_bytes));
    line_bytes += chunk_bytes;
    if (line_bytes > longest_line_bytes) longest_line_bytes = line_bytes;
    line_has_text = true;
    pos = end;
  }
  return longest_line_bytes;
}

// RFC 2047 5(1): printable ASCII is written as is unless a word looks like an encoded-word
// (a reader would decode it).
bool needs_encoded_words(std::string_view value) {
  if (!is_printable_ascii_or_wsp(value)) return true;
  std::size_t pos = 0;
  while (pos < value.size()) {
    while (pos < value.size() && is_wsp(value[pos])) ++pos;
    std::size_t end = pos;
    while (end < value.size() && !is_wsp(value[end])) ++end;
    std::string_view word = value.substr(pos, end - pos);
    if (word.size() >= 4 && word.substr(0, 2) == "=?" && word.substr(word.size() - 2) == "?=") {
      return true;
    }
    pos = end;
  }
  return false;
}

// A part's bytes decide its Content-Transfer-Encoding (TransferEncoding in message.h).
struct PartShape {
  TransferEncoding encoding = TransferEncoding::seven_bit;
  bool canonical = true;  // CRLF line endings only, and ends with one (or is empty)
};

struct ByteCounts {
  std::size_t non_ascii = 0;  // bytes over 127
  bool has_nul = false;
};

ByteCounts count_bytes(std::string_view text) {
  constexpr std::uint64_t high_bits = 0x8080808080808080ULL;
  constexpr std::uint64_t low_bits = 0x0101010101010101ULL;
  constexpr std::uint64_t even_bytes = 0x00FF00FF00FF00FFULL;
  // Eight byte-wide counters, one per byte lane, summed before any can pass 255.
  constexpr std::size_t words_per_sum = 255;
  ByteCounts counts;
  std::uint64_t zero_seen = 0;
  std::uint64_t lanes = 0;
  std::size_t words = 0;
  auto sum_lanes = [&] {
    const std::uint64_t pairs = (lanes & even_bytes) + ((lanes >> 8) & even_bytes);  // 16-bit
    counts.non_ascii += static_cast<std::size_t>((pairs * 0x0001000100010001ULL) >> 48);
    lanes = 0;
    words = 0;
  };
  std::size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, text.data() + i, 8);
    lanes += (word & high_bits) >> 7;
    zero_seen |= (word - low_bits) & ~word & high_bits;  // non-zero iff a byte is zero
    if (++words == words_per_sum) sum_lanes();
  }
  sum_lanes();
  for (; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    counts.non_ascii += c >> 7;
    zero_seen |= c == 0;
  }
  counts.has_nul = zero_seen != 0;
  return counts;
}

struct LineShape {
  bool short_lines = true;  // no line over 998 octets (CRLF, LF and CR all end a line)
  bool canonical = true;
};

LineShape line_shape_of(std::string_view text) {
  LineShape shape;
  const char* p = text.data();
  const char* const end = p + text.size();
  // Templates from files usually have LF endings and no CR at all: one scan instead of one a line.
  const bool has_cr = std::memchr(p, '\r', text.size()) != nullptr;
  while (p < end) {
    const char* lf = static_cast<const char*>(std::memchr(p, '\n', end - p));
    const char* content_end = lf == nullptr ? end : (lf > p && lf[-1] == '\r' ? lf - 1 : lf);
    if (lf == nullptr || content_end == lf) shape.canonical = false;
    const char* line = p;
    while (has_cr) {
      const char* cr = static_cast<const char*>(std::memchr(line, '\r', content_end - line));
      if (cr == nullptr) break;
      shape.canonical = false;  // a bare CR ends a line too
      if (static_cast<std::size_t>(cr - line) > message_line_bytes_max) shape.short_lines = false;
      line = cr + 1;
    }
    if (static_cast<std::size_t>(content_end - line) > message_line_bytes_max) {
      shape.short_lines = false;
      return shape;
    }
    if (lf == nullptr) break;
    p = lf + 1;
  }
  return shape;
}

// 1/6: see TransferEncoding.
bool mostly_ascii(const ByteCounts& counts, std::size_t size) {
  return counts.non_ascii * 6 < size;
}

PartShape shape_of(std::string_view text, bool eightbit_allowed) {
  const ByteCounts counts = count_bytes(text);
  const bool ascii = counts.non_ascii == 0;
  if (!counts.has_nul && (ascii || eightbit_allowed)) {
    const LineShape lines = line_shape_of(text);
    if (lines.short_lines && ascii) return {TransferEncoding::seven_bit, lines.canonical};
    if (lines.short_lines && is_valid_utf8(text)) {
      return {TransferEncoding::eight_bit, lines.canonical};
    }
  }
  return {mostly_ascii(counts, text.size()) ? TransferEncoding::quoted_printable
                                            : TransferEncoding::base64,
          false};
}

// Copies `text` turning every line ending (CRLF, bare LF, bare CR) into CRLF, ending the last
// line with CRLF when it had none; with `dot_stuff`, doubles a '.' opening a line (RFC 5321
// 4.5.2). Bytes between edits are copied in runs found with memchr.
template <bool dot_stuff>
void append_crlf_lines(std::string_view text, std::string& out) {
  const char* p = text.data();
  const char* const end = p + text.size();
  const char* span = p;  // first byte not yet copied
  const bool has_cr = std::memchr(p, '\r', text.size()) != nullptr;
  auto flush = [&](const char* until) { out.append(span, static_cast<std::size_t>(until - span)); };
  while (p < end) {  // p is at the start of a line
    if constexpr (dot_stuff) {
      if (*p == '.') {
        flush(p);
        out.push_back('.');
        span = p;
      }
    }
    const char* lf = static_cast<const char*>(std::memchr(p, '\n', end - p));
    const char* content_end = lf == nullptr ? end : (lf > p && lf[-1] == '\r' ? lf - 1 : lf);
    const char* cr =
        has_cr ? static_cast<const char*>(std::memchr(p, '\r', content_end - p)) : nullptr;
    if (cr != nullptr) {  // bare CR
      flush(cr);
      out.append(crlf);
      p = span = cr + 1;
      continue;
    }
    if (lf == nullptr) {  // last line without a line ending
      flush(end);
      out.append(crlf);
      p = span = end;
      break;
    }
    if (content_end == lf) {  // bare LF
      flush(lf);
      out.append(crlf);
      span = lf + 1;
    }
    p = lf + 1;
  }
  flush(p);
}

// Characters of a URI (RFC 3986 2: unreserved, reserved and '%').
constexpr std::array<bool, 256> make_uri_characters() {
  std::array<bool, 256> table{};
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (char c : std::string_view("-._~:/?#[]@!$&'()*+,;=%")) {
    table[static_cast<unsigned char>(c)] = true;
  }
  return table;
}
constexpr std::array<bool, 256> uri_characters = make_uri_characters();

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

// Why `text` (literal template text, or a rendering) cannot be part of a URI, or nullptr.
const char* uri_text_problem(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (!uri_characters[c]) {
      return c == ' '                ? "has a space"
             : c == '<' || c == '>'  ? "has '<' or '>'"
             : c < 0x20 || c == 0x7F ? "has a control character"
             : c >= 0x80             ? "has a non-ASCII byte (percent-encode it)"
                                     : "has a character a URI cannot hold (percent-encode it)";
    }
    if (c == '%' &&
        (i + 2 >= text.size() || !is_hex_digit(text[i + 1]) || !is_hex_digit(text[i + 2]))) {
      return "has a '%' not followed by two hex digits";
    }
  }
  return nullptr;
}

constexpr std::string_view https_scheme = "https://";
constexpr std::string_view mailto_scheme = "mailto:";

// The rendering without a "mailto:" the template may have written.
std::string_view mailto_address(std::string_view rendered) {
  if (starts_with_ignoring_case(rendered, mailto_scheme)) {
    rendered.remove_prefix(mailto_scheme.size());
  }
  return rendered;
}

// Why a rendered List-Unsubscribe URI cannot be written, or nullptr. For a mailto, `rendered`
// is the address (mailto_address()).
const char* rendered_uri_problem(std::string_view rendered, UnsubscribeUri kind) {
  const std::size_t uri_bytes =
      rendered.size() + (kind == UnsubscribeUri::mailto ? mailto_scheme.size() : 0);
  if (uri_bytes > list_unsubscribe_uri_bytes_max) return "is too long for a header line";
  if (kind == UnsubscribeUri::https_url) {
    if (!starts_with_ignoring_case(rendered, https_scheme)) return "does not start with https://";
    if (rendered.size() == https_scheme.size() ||
        std::string_view("/?#").find(rendered[https_scheme.size()]) != std::string_view::npos) {
      return "has no host";
    }
  } else {
    const std::size_t at = rendered.find('@');
    if (at == 0 || at == std::string_view::npos || at + 1 == rendered.size() ||
        rendered.find('?') < at) {
      return "is not an address";
    }
  }
  return uri_text_problem(rendered);
}

void append_hex64(std::uint64_t value, std::string& out) {
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(hex_lower[(value >> shift) & 15]);
}

void append_decimal(std::uint64_t value, std::string& out) {
  char digits[20];
  std::size_t count = 0;
  do {
    digits[count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (count > 0) out.push_back(digits[--count]);
}

void append_two_digits(std::uint32_t value, std::string& out) {
  out.push_back(static_cast<char>('0' + value / 10 % 10));
  out.push_back(static_cast<char>('0' + value % 10));
}

bool is_field_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c < 33 || c > 126 || c == ':') return false;  // RFC 5322 3.6.8 ftext
  }
  return true;
}

bool is_campaign_id(std::string_view id) {
  if (id.empty() || id.size() > limits::campaign_id_bytes_max) return false;
  for (char c : id) {
    bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '_' || c == '-';
    if (!allowed) return false;
  }
  return true;
}

}  // namespace

void append_rfc5322_date(std::int64_t unix_time_s, std::string& out) {
  // Years 1970 to 9999: RFC 5322 3.3 writes the year with 4 digits.
  HAYATE_ASSERT(unix_time_s >= 0 && unix_time_s < 253'402'300'800);
  static constexpr std::string_view weekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::uint64_t days = static_cast<std::uint64_t>(unix_time_s) / 86'400;
  const std::uint64_t seconds = static_cast<std::uint64_t>(unix_time_s) % 86'400;
  // Civil date from days since 1970-01-01 (H. Hinnant, "chrono-Compatible Low-Level Date
  // Algorithms"), eras of 400 years starting on March 1st.
  const std::uint64_t z = days + 719'468;
  const std::uint64_t era = z / 146'097;
  const std::uint64_t day_of_era = z - era * 146'097;
  const std::uint64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36'524 - day_of_era / 146'096) / 365;
  const std::uint64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const std::uint64_t month_from_march = (5 * day_of_year + 2) / 153;
  const std::uint64_t day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
  const std::uint64_t month = month_from_march < 10 ? month_from_march + 3 : month_from_march - 9;
  const std::uint64_t year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);
  HAYATE_ASSERT(month >= 1 && month <= 12 && day >= 1 && day <= 31 && year <= 9999);

  out.append(weekdays[(days + 4) % 7]);  // 1970-01-01 was a Thursday
  out.append(", ");
  append_two_digits(static_cast<std::uint32_t>(day), out);
  out.push_back(' ');
  out.append(months[month - 1]);
  out.push_back(' ');
  append_two_digits(static_cast<std::uint32_t>(year / 100), out);
  append_two_digits(static_cast<std::uint32_t>(year % 100), out);
  out.push_back(' ');
  append_two_digits(static_cast<std::uint32_t>(seconds / 3600), out);
  out.push_back(':');
  append_two_digits(static_cast<std::uint32_t>(seconds / 60 % 60), out);
  out.push_back(':');
  append_two_digits(static_cast<std::uint32_t>(seconds % 60), out);
  out.append(" +0000");
}

void append_unstructured_header(std::string_view name, std::string_view value, std::string& out,
                                Iso2022JpEncoder* iso_2022_jp) {
  HAYATE_ASSERT(is_field_name(name));
  HAYATE_ASSERT(!has_line_break(value));  // data with CR or LF is refused before composing
  const std::size_t start = out.size();
  out.append(name);
  out.append(": ");
  std::size_t line_bytes = name.size() + 2;
  // Plain text unless it must be encoded or cannot be folded under 998 octets (RFC 5322
  // 2.1.1: a word that long, or a long run of spaces); encoded-words can be cut anywhere.
  if (needs_encoded_words(value) ||
      append_folded(value, out, line_bytes, false) > message_line_bytes_max) {
    out.resize(start);
    out.append(name);
    out.push_back(':');
    line_bytes = name.size() + 1;
    append_words(value, out, line_bytes, iso_2022_jp);
  }
  out.append(crlf);
}

void append_mailbox_header(std::string_view name, std::string_view mailbox, std::string& out,
                           Iso2022JpEncoder* iso_2022_jp) {
  HAYATE_ASSERT(is_field_name(name));
  HAYATE_ASSERT(!has_line_break(mailbox));
  std::size_t line_bytes = name.size() + 2;
  std::string_view trimmed = trim(mailbox);
  std::size_t open = trimmed.rfind('<');
  std::string_view display =
      open == std::string_view::npos ? std::string_view() : trim(trimmed.substr(0, open));
  // Only a display name can be encoded (RFC 2047 5(3)); a non-ASCII address stays as it is
  // and needs SMTPUTF8.
  const bool has_angle_address = !trimmed.empty() && trimmed.back() == '>';
  if (!has_angle_address || is_printable_ascii_or_wsp(display)) {
    const std::size_t start = out.size();
    out.append(name);
    out.append(": ");
    // A display name with a word too long to fold under 998 octets (RFC 5322 2.1.1) is
    // encoded instead, like a non-ASCII one.
    if (append_folded(mailbox, out, line_bytes, false) <= message_line_bytes_max ||
        !has_angle_address) {
      out.append(crlf);
      return;
    }
    out.resize(start);
    if (display.empty()) {
      // Only blanks before the address, too many to fold: the address alone says it all.
      out.append(name);
      out.append(": ");
      out.append(trimmed.substr(open));
      out.append(crlf);
      return;
    }
  }
  std::string_view address = trimmed.substr(open);
  std::string unquoted;
  if (display.size() >= 2 && display.front() == '"' && display.back() == '"') {
    display = display.substr(1, display.size() - 2);
    for (std::size_t i = 0; i < display.size(); ++i) {
      if (display[i] == '\\' && i + 1 < display.size()) ++i;  // quoted-pair
      unquoted.push_back(display[i]);
    }
    display = unquoted;
  }
  out.append(name);
  out.push_back(':');
  line_bytes = name.size() + 1;
  append_words(display, out, line_bytes, iso_2022_jp);
  if (line_bytes + 1 + address.size() > header_line_bytes_max) {
    out.append(crlf);
    line_bytes = 0;
  }
  out.push_back(' ');
  out.append(address);
  out.append(crlf);
}

const char* transfer_encoding_name(TransferEncoding encoding) {
  switch (encoding) {
    case TransferEncoding::seven_bit:
      return "7bit";
    case TransferEncoding::eight_bit:
      return "8bit";
    case TransferEncoding::quoted_printable:
      return "quoted-printable";
    case TransferEncoding::base64:
      return "base64";
  }
  HAYATE_ASSERT(false);
  return "";
}

bool is_valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  auto continuation = [](unsigned char c) { return (c & 0xC0) == 0x80; };
  while (p < end) {
    if (end - p >= 8) {  // ASCII runs, a word at a time
      std::uint64_t word;
      std::memcpy(&word, p, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        p += 8;
        continue;
      }
    }
    const unsigned char lead = *p;
    if (lead < 0x80) {
      ++p;
      continue;
    }
    // RFC 3629 4: the second byte's range depends on the lead (no overlong forms, no
    // surrogates D800-DFFF, nothing over 10FFFF).
    std::size_t length;
    unsigned char second_min = 0x80;
    unsigned char second_max = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) second_min = 0xA0;
      if (lead == 0xED) second_max = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) second_min = 0x90;
      if (lead == 0xF4) second_max = 0x8F;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < length) return false;
    if (p[1] < second_min || p[1] > second_max) return false;
    for (std::size_t i = 2; i < length; ++i) {
      if (!continuation(p[i])) return false;
    }
    p += length;
  }
  return true;
}

void append_base64_lines(std::string_view bytes, std::string& out) {
  constexpr std::size_t line_characters = 76;  // RFC 2045 6.8: at most 76 characters a line
  constexpr std::size_t line_input_bytes = line_characters / 4 * 3;
  const std::size_t lines = (bytes.size() + line_input_bytes - 1) / line_input_bytes;
  const std::size_t old_size = out.size();
  out.resize(old_size + base64_bytes(bytes.size()) + 2 * lines);
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  char* write = out.data() + old_size;
  for (std::size_t offset = 0; offset < bytes.size(); offset += line_input_bytes) {
    const std::size_t chunk = std::min(line_input_bytes, bytes.size() - offset);
    write = write_base64(in + offset, chunk, write);
    *write++ = '\r';
    *write++ = '\n';
  }
  HAYATE_ASSERT(write == out.data() + out.size());
}

void append_quoted_printable(std::string_view text, std::string& out) {
  // How each byte is written: printable ASCII but '=' stands for itself (RFC 2045 6.7 rule 2);
  // space and tab too, except before a line break (rule 3); the rest is "=XX".
  enum Kind : std::uint8_t { escaped, literal, whitespace, line_break };
  static constexpr auto kinds = [] {
    std::array<Kind, 256> table{};
    for (int c = 33; c <= 126; ++c) table[c] = c == '=' ? escaped : literal;
    table[' '] = whitespace;
    table['\t'] = whitespace;
    table['\r'] = line_break;
    table['\n'] = line_break;
    return table;
  }();
  const std::size_t old_size = out.size();
  // Worst case per input byte: 3 characters, plus a soft break every 25 of them; 4 is enough.
  const std::size_t capacity = text.size() * 4 + 8;
  out.resize(old_size + capacity);
  char* const begin = out.data() + old_size;
  char* write = begin;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(text.data());
  const unsigned char* const end = p + text.size();
  std::size_t line_bytes = 0;
  auto write_escaped = [&](unsigned char c) {
    *write++ = '=';
    *write++ = hex_upper[c >> 4];
    *write++ = hex_upper[c & 15];
  };
  // Rule 5: at most 76 characters a line, the '=' of a soft break included.
  constexpr std::size_t soft_line_bytes_max = quoted_printable_line_bytes_max - 1;
  while (p < end) {
    // Fast path: while any token fits before a soft break would be due, a byte's encoding
    // depends on it alone (whitespace: on the next byte not being a line break).
    while (p < end && line_bytes + 3 <= soft_line_bytes_max) {
      const unsigned char c = *p;
      const Kind kind = kinds[c];
      if (kind == literal || (kind == whitespace && p + 1 < end && kinds[p[1]] != line_break)) {
        *write++ = static_cast<char>(c);
        ++line_bytes;
      } else if (kind == escaped) {
        write_escaped(c);
        line_bytes += 3;
      } else {
        break;
      }
      ++p;
    }
    if (p == end) break;
    const unsigned char c = *p;
    if (kinds[c] == line_break) {
      *write++ = '\r';
      *write++ = '\n';
      line_bytes = 0;
      p += (c == '\r' && p + 1 < end && p[1] == '\n') ? 2 : 1;
      continue;
    }
    const bool at_line_end = p + 1 == end || kinds[p[1]] == line_break;
    const bool is_literal = kinds[c] == literal || (kinds[c] == whitespace && !at_line_end);
    const std::size_t token_bytes = is_literal ? 1 : 3;
    // The last token before a hard break needs no soft break after it.
    const std::size_t limit = at_line_end ? quoted_printable_line_bytes_max : soft_line_bytes_max;
    if (line_bytes + token_bytes > limit) {
      *write++ = '=';
      *write++ = '\r';
      *write++ = '\n';
      line_bytes = 0;
    }
    if (is_literal) {
      *write++ = static_cast<char>(c);
    } else {
      write_escaped(c);
    }
    line_bytes += token_bytes;
    ++p;
  }
  if (!text.empty() && text.back() != '\n' && text.back() != '\r') {
    *write++ = '\r';
    *write++ = '\n';
  }
  const std::size_t written = static_cast<std::size_t>(write - begin);
  HAYATE_ASSERT(written <= capacity);
  out.resize(old_size + written);
}

void append_dot_stuffed(std::string_view message, std::string& out) {
  append_crlf_lines<true>(message, out);
  out.append(".\r\n");  // RFC 5321 4.1.1.4: the last line ended with CRLF above
}

MessageComposer::MessageComposer(MessageInputs inputs) : inputs_(std::move(inputs)) {
  HAYATE_ASSERT(inputs_.subject != nullptr);
  HAYATE_ASSERT(inputs_.text != nullptr || inputs_.html != nullptr);
  HAYATE_ASSERT(is_campaign_id(inputs_.campaign_id));
  HAYATE_ASSERT(!inputs_.from_domain.empty() &&
                inputs_.from_domain.find_first_of("\r\n <>@") == std::string::npos);
  HAYATE_ASSERT(!inputs_.from_header.empty() && !has_line_break(inputs_.from_header));
  HAYATE_ASSERT(!has_line_break(inputs_.reply_to));
  for (const auto& [name, value] : inputs_.headers) {
    HAYATE_ASSERT(is_field_name(name) && value != nullptr);
  }
  // RFC 5322 3.6.4: the id's left side is a dot-atom; a campaign id such as "a..b" or ".a"
  // would break it, so such dots become '_' (the random part keeps Message-IDs unique).
  message_id_prefix_ = "<";
  for (std::size_t i = 0; i < inputs_.campaign_id.size(); ++i) {
    const char c = inputs_.campaign_id[i];
    const bool bad_dot = c == '.' && (i == 0 || i + 1 == inputs_.campaign_id.size() ||
                                      inputs_.campaign_id[i + 1] == '.');
    message_id_prefix_.push_back(bad_dot ? '_' : c);
  }
  message_id_prefix_.push_back('.');
  if (inputs_.charset == MessageCharset::iso_2022_jp) {
    iso_2022_jp_ = std::make_unique<Iso2022JpEncoder>();
  }
  random_state_ = inputs_.random_seed;
  if (random_state_ == 0) {
    std::random_device device;
    random_state_ = static_cast<std::uint64_t>(device()) << 32 | device();
  }
  new_boundary();
}

void MessageComposer::append_message_id(std::uint64_t sequence, std::uint64_t random,
                                        std::string& out) const {
  out.append(message_id_prefix_);
  append_decimal(sequence, out);
  out.push_back('.');
  append_hex64(random, out);
  out.push_back('@');
  out.append(inputs_.from_domain);
  out.push_back('>');
}

// SplitMix64 (Steele, Lea, Flood 2014): not for secrets, only to make identifiers distinct.
std::uint64_t MessageComposer::next_random() {
  std::uint64_t z = (random_state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// "=_" cannot occur in quoted-printable output (RFC 2045 6.7: '=' is followed by hex digits or
// a line break) nor in base64 ('_' is not in its alphabet), so only a 7bit or 8bit part could
// ever contain the boundary; compose() checks those.
void MessageComposer::new_boundary() {
  boundary_.assign("=_hayate_");
  append_hex64(next_random(), boundary_);
  append_hex64(next_random(), boundary_);
}

namespace {

// "Content-Type" and "Content-Transfer-Encoding" of a text part, a blank line, and its body in
// that encoding. `scratch` holds the part with CRLF line endings before base64 (RFC 2045 6.8:
// text is put in canonical form first, so that it decodes to CRLF lines as the other encodings
// do).
void append_part(std::string_view media_type, std::string_view charset, std::string_view rendered,
                 const PartShape& shape, std::string& scratch, std::string& out) {
  hayate::append(out, "Content-Type: ", media_type, "; charset=", charset,
                 "\r\nContent-Transfer-Encoding: ", transfer_encoding_name(shape.encoding),
                 "\r\n\r\n");
  switch (shape.encoding) {
    case TransferEncoding::seven_bit:
    case TransferEncoding::eight_bit:
      if (shape.canonical) {
        out.append(rendered);
      } else {
        append_crlf_lines<false>(rendered, out);
      }
      break;
    case TransferEncoding::quoted_printable:
      append_quoted_printable(rendered, out);
      break;
    case TransferEncoding::base64:
      scratch.clear();
      append_crlf_lines<false>(rendered, scratch);
      append_base64_lines(scratch, out);
      break;
  }
}

std::string quote_for_reason(std::string_view text) {
  constexpr std::size_t quoted_bytes_max = 60;
  if (text.size() <= quoted_bytes_max) return hayate::cat("'", text, "'");
  return hayate::cat("'", text.substr(0, quoted_bytes_max), "...'");
}

}  // namespace

absl::Status check_list_unsubscribe_source(std::string_view source, UnsubscribeUri kind) {
  const bool url = kind == UnsubscribeUri::https_url;
  const std::string_view what = url ? "List-Unsubscribe URL" : "List-Unsubscribe mailto";
  if (!url && starts_with_ignoring_case(source, mailto_scheme)) {
    source.remove_prefix(mailto_scheme.size());
  }
  std::string_view before_first_tag;
  bool has_tag = false;
  bool has_literal_at = false;
  std::size_t position = 0;
  while (true) {
    const std::size_t open = source.find("{{", position);
    const std::string_view literal = source.substr(
        position, open == std::string_view::npos ? std::string_view::npos : open - position);
    if (const char* problem = uri_text_problem(literal); problem != nullptr) {
      return absl::InvalidArgumentError(
          hayate::cat(what, " ", quote_for_reason(source), " ", problem, " outside {{fields}}"));
    }
    if (!has_tag) before_first_tag = literal;
    has_literal_at = has_literal_at || literal.find('@') != std::string_view::npos;
    if (open == std::string_view::npos) break;
    has_tag = true;
    const bool triple = source.substr(open, 3) == "{{{";
    const std::size_t close = source.find(triple ? "}}}" : "}}", open + (triple ? 3 : 2));
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(
          hayate::cat(what, " ", quote_for_reason(source), " has an unclosed tag"));
    }
    position = close + (triple ? 3 : 2);
  }
  if (url) {
    // RFC 8058 3.1: one-click needs an HTTPS URI. The host is literal, so that no row can
    // send the POST elsewhere.
    if (!starts_with_ignoring_case(before_first_tag, https_scheme)) {
      return absl::InvalidArgumentError(
          hayate::cat(what, " ", quote_for_reason(source),
                      " must start with https:// (RFC 8058 one-click unsubscribe needs HTTPS)"));
    }
    const std::size_t authority_end = before_first_tag.find_first_of("/?#", https_scheme.size());
    if (authority_end == https_scheme.size() ||
        (authority_end == std::string_view::npos && has_tag) ||
        before_first_tag.size() == https_scheme.size()) {
      return absl::InvalidArgumentError(hayate::cat(
          what, " ", quote_for_reason(source),
          " must name its host before any {{field}}, e.g. https://example.com/u?t={{token}}"));
    }
  } else if (!has_literal_at) {
    return absl::InvalidArgumentError(hayate::cat(
        what, " ", quote_for_reason(source),
        " must be an address with a literal '@', e.g. unsubscribe+{{code}}@example.com"));
  }
  return absl::OkStatus();
}

bool check_list_unsubscribe(const MessageInputs& inputs, std::span<const std::string_view> fields,
                            std::string& scratch, std::string& reason) {
  const std::pair<const Template*, UnsubscribeUri> uris[] = {
      {inputs.list_unsubscribe_url, UnsubscribeUri::https_url},
      {inputs.list_unsubscribe_mailto, UnsubscribeUri::mailto}};
  for (const auto& [uri_template, kind] : uris) {
    if (uri_template == nullptr) continue;
    scratch.clear();
    uri_template->render(fields, scratch);
    std::string_view rendered = scratch;
    if (kind == UnsubscribeUri::mailto) rendered = mailto_address(rendered);
    if (const char* problem = rendered_uri_problem(rendered, kind); problem != nullptr) {
      reason = hayate::cat(
          kind == UnsubscribeUri::https_url ? "List-Unsubscribe URL " : "List-Unsubscribe mailto ",
          quote_for_reason(rendered), " ", problem);
      return false;
    }
  }
  return true;
}

bool MessageComposer::append_list_unsubscribe(std::span<const std::string_view> fields,
                                              std::string& out) {
  bool complete = true;
  std::string_view url;
  std::string_view address;
  if (inputs_.list_unsubscribe_url != nullptr) {
    url_scratch_.clear();
    inputs_.list_unsubscribe_url->render(fields, url_scratch_);
    url = url_scratch_;
    if (rendered_uri_problem(url, UnsubscribeUri::https_url) != nullptr) {
      url = {};
      complete = false;
    }
  }
  if (inputs_.list_unsubscribe_mailto != nullptr) {
    mailto_scratch_.clear();
    inputs_.list_unsubscribe_mailto->render(fields, mailto_scratch_);
    address = mailto_address(mailto_scratch_);
    if (rendered_uri_problem(address, UnsubscribeUri::mailto) != nullptr) {
      address = {};
      complete = false;
    }
  }
  if (url.empty() && address.empty()) return complete;
  // RFC 2369 2: angle-bracketed URIs, comma-separated, in order of preference; no whitespace
  // inside the brackets, so folding happens only between URIs.
  constexpr std::string_view name = "List-Unsubscribe: ";
  out.append(name);
  std::size_t line_bytes = name.size();
  if (!url.empty()) {
    hayate::append(out, '<', url, '>');
    line_bytes += url.size() + 2;
  }
  if (!address.empty()) {
    const std::size_t uri_bytes = mailto_scheme.size() + address.size() + 2;
    if (!url.empty()) {
      out.push_back(',');
      ++line_bytes;
      if (line_bytes + 1 + uri_bytes > header_line_bytes_max) {
        out.append(crlf);
        line_bytes = 0;
      }
      out.push_back(' ');
      ++line_bytes;
    }
    hayate::append(out, "<", mailto_scheme, address, ">");
    line_bytes += uri_bytes;
  }
  out.append(crlf);
  // The bound on URIs keeps every line of the field under 998 octets.
  HAYATE_ASSERT(name.size() + url.size() + 3 <= message_line_bytes_max &&
                line_bytes <= message_line_bytes_max);
  // RFC 8058 3.1: the POST body a one-click client sends; only with the HTTPS URI.
  if (!url.empty()) out.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
  return complete;
}

ComposeResult MessageComposer::compose(std::span<const std::string_view> fields,
                                       std::string_view to_address, std::uint64_t sequence,
                                       std::int64_t unix_time_s, std::string& out,
                                       bool eightbit_allowed) {
  HAYATE_ASSERT(!to_address.empty() && !has_line_break(to_address));
  const std::size_t start = out.size();
  ComposeResult result;

  // Bodies first: their transfer encodings and the boundary go in the headers.
  PartShape text_shape;
  PartShape html_shape;
  std::string_view text = scratch_;
  std::string_view text_charset = "utf-8";
  if (inputs_.text != nullptr) {
    scratch_.clear();
    inputs_.text->render(fields, scratch_);
    text = scratch_;
    if (iso_2022_jp_ != nullptr) {
      jis_scratch_.clear();
      if (iso_2022_jp_->encode(scratch_, jis_scratch_)) {  // 7-bit bytes: never 8bit
        text = jis_scratch_;
        text_charset = "ISO-2022-JP";
      }
    }
    text_shape = shape_of(text, eightbit_allowed);
  }
  if (inputs_.html != nullptr) {
    html_scratch_.clear();
    inputs_.html->render(fields, html_scratch_);
    html_shape = shape_of(html_scratch_, eightbit_allowed);
  }
  const bool multipart = inputs_.text != nullptr && inputs_.html != nullptr;
  result.eight_bit =
      (inputs_.text != nullptr && text_shape.encoding == TransferEncoding::eight_bit) ||
      (inputs_.html != nullptr && html_shape.encoding == TransferEncoding::eight_bit);
  HAYATE_ASSERT(eightbit_allowed || !result.eight_bit);
  if (multipart) {
    // Only a part sent as it is (7bit, 8bit) can hold the boundary: see new_boundary().
    auto collides = [&](std::string_view part, const PartShape& shape) {
      return (shape.encoding == TransferEncoding::seven_bit ||
              shape.encoding == TransferEncoding::eight_bit) &&
             part.find(boundary_) != std::string_view::npos;
    };
    std::size_t attempts = 0;
    while (collides(text, text_shape) || collides(html_scratch_, html_shape)) {
      HAYATE_ASSERT(++attempts < boundary_attempts_max);
      new_boundary();
    }
  }

  // RFC 5322 3.6: origination date, originator, destination, then the rest.
  out.append("Date: ");
  append_rfc5322_date(unix_time_s, out);
  out.append(crlf);
  append_mailbox_header("From", inputs_.from_header, out, iso_2022_jp_.get());
  out.append("To: ");
  out.append(to_address);
  out.append(crlf);
  header_scratch_.clear();
  inputs_.subject->render(fields, header_scratch_);
  append_unstructured_header("Subject", header_scratch_, out, iso_2022_jp_.get());
  // RFC 5322 3.6.4: unique across campaigns (id), recipients (sequence) and runs (random).
  out.append("Message-ID: ");
  result.message_id_random = next_random();
  append_message_id(sequence, result.message_id_random, out);
  out.append(crlf);
  out.append("MIME-Version: 1.0\r\n");
  if (!inputs_.reply_to.empty()) {
    append_mailbox_header("Reply-To", inputs_.reply_to, out, iso_2022_jp_.get());
  }
  if (inputs_.list_unsubscribe_url != nullptr || inputs_.list_unsubscribe_mailto != nullptr) {
    result.list_unsubscribe_incomplete = !append_list_unsubscribe(fields, out);
  }
  if (inputs_.feedback_id != nullptr) {
    header_scratch_.clear();
    inputs_.feedback_id->render(fields, header_scratch_);
    append_unstructured_header("Feedback-ID", header_scratch_, out, iso_2022_jp_.get());
  }
  for (const auto& [name, value_template] : inputs_.headers) {
    header_scratch_.clear();
    value_template->render(fields, header_scratch_);
    append_unstructured_header(name, header_scratch_, out, iso_2022_jp_.get());
  }

  if (!multipart) {
    const bool text_only = inputs_.text != nullptr;
    append_part(text_only ? "text/plain" : "text/html", text_only ? text_charset : "utf-8",
                text_only ? text : html_scratch_, text_only ? text_shape : html_shape,
                encode_scratch_, out);
  } else {
    // RFC 2046 5.1.4: alternatives in increasing order of preference, plain text first.
    hayate::append(out, "Content-Type: multipart/alternative;\r\n boundary=\"", boundary_,
                   "\"\r\n");
    // RFC 2045 6.4: a multipart is 7bit or 8bit, as the widest of its parts.
    if (result.eight_bit) out.append("Content-Transfer-Encoding: 8bit\r\n");
    hayate::append(out, "\r\n--", boundary_, crlf);
    append_part("text/plain", text_charset, text, text_shape, encode_scratch_, out);
    hayate::append(out, "\r\n--", boundary_, crlf);
    append_part("text/html", "utf-8", html_scratch_, html_shape, encode_scratch_, out);
    hayate::append(out, "\r\n--", boundary_, "--\r\n");
  }
  HAYATE_ASSERT(out.size() >= start + 2 && out[out.size() - 2] == '\r' && out.back() == '\n');
  return result;
}

}  // namespace hayate::campaign::message
