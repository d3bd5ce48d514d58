// Message composer: renders a recipient's templates into RFC 5322 headers and a MIME body
// (7bit or quoted-printable, multipart/alternative when there are both parts), and dot-stuffs
// messages for DATA. Everything appends to reused buffers; no clock, no I/O.
#include "campaign/message.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include "engine/assert.h"
#include "engine/limits.h"

namespace hayate::campaign {
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

void append_base64(std::string_view bytes, std::string& out) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  auto byte = [&](std::size_t index) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[index]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t group = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out.push_back(alphabet[group >> 18]);
    out.push_back(alphabet[(group >> 12) & 63]);
    out.push_back(alphabet[(group >> 6) & 63]);
    out.push_back(alphabet[group & 63]);
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 0) return;
  std::uint32_t group = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
  out.push_back(alphabet[group >> 18]);
  out.push_back(alphabet[(group >> 12) & 63]);
  out.push_back(rest == 2 ? alphabet[(group >> 6) & 63] : '=');
  out.push_back('=');
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

std::string_view trim_wsp(std::string_view text) {
  while (!text.empty() && is_wsp(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_wsp(text.back())) text.remove_suffix(1);
  return text;
}

// A part's bytes decide its Content-Transfer-Encoding (RFC 2045 2.7: 7bit data is short lines
// of US-ASCII without NUL, CR and LF only as CRLF).
struct PartShape {
  bool seven_bit = true;  // no byte over 127, no NUL, no line over 998 octets
  bool canonical = true;  // CRLF line endings only, and ends with one (or is empty)
};

bool has_8bit_or_nul(std::string_view text) {
  constexpr std::uint64_t high_bits = 0x8080808080808080ULL;
  constexpr std::uint64_t low_bits = 0x0101010101010101ULL;
  std::size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, text.data() + i, 8);
    if ((word & high_bits) != 0) return true;
    if (((word - low_bits) & ~word & high_bits) != 0) return true;  // a zero byte
  }
  for (; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0 || c >= 0x80) return true;
  }
  return false;
}

PartShape shape_of(std::string_view text) {
  PartShape shape;
  if (has_8bit_or_nul(text)) return PartShape{false, false};
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
      if (static_cast<std::size_t>(cr - line) > message_line_bytes_max) shape.seven_bit = false;
      line = cr + 1;
    }
    if (static_cast<std::size_t>(content_end - line) > message_line_bytes_max) {
      shape.seven_bit = false;
      return shape;
    }
    if (lf == nullptr) break;
    p = lf + 1;
  }
  return shape;
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

void append_part_body(std::string_view rendered, const PartShape& shape, std::string& out) {
  if (!shape.seven_bit) {
    append_quoted_printable(rendered, out);
  } else if (shape.canonical) {
    out.append(rendered);
  } else {
    append_crlf_lines<false>(rendered, out);
  }
}

void append_part_headers(std::string_view media_type, const PartShape& shape, std::string& out) {
  out.append("Content-Type: ");
  out.append(media_type);
  out.append("; charset=utf-8\r\n");
  out.append(shape.seven_bit ? "Content-Transfer-Encoding: 7bit\r\n"
                             : "Content-Transfer-Encoding: quoted-printable\r\n");
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

void append_unstructured_header(std::string_view name, std::string_view value, std::string& out) {
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
    append_encoded_words(value, out, line_bytes);
  }
  out.append(crlf);
}

void append_mailbox_header(std::string_view name, std::string_view mailbox, std::string& out) {
  HAYATE_ASSERT(is_field_name(name));
  HAYATE_ASSERT(!has_line_break(mailbox));
  std::size_t line_bytes = name.size() + 2;
  std::string_view trimmed = trim_wsp(mailbox);
  std::size_t open = trimmed.rfind('<');
  std::string_view display =
      open == std::string_view::npos ? std::string_view() : trim_wsp(trimmed.substr(0, open));
  // Only a display name can be encoded (RFC 2047 5(3)); a non-ASCII address stays as it is
  // and needs SMTPUTF8.
  if (trimmed.empty() || trimmed.back() != '>' || is_printable_ascii_or_wsp(display)) {
    out.append(name);
    out.append(": ");
    append_folded(mailbox, out, line_bytes, false);
    out.append(crlf);
    return;
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
  append_encoded_words(display, out, line_bytes);
  if (line_bytes + 1 + address.size() > header_line_bytes_max) {
    out.append(crlf);
    line_bytes = 0;
  }
  out.push_back(' ');
  out.append(address);
  out.append(crlf);
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
  random_state_ = inputs_.random_seed;
  if (random_state_ == 0) {
    std::random_device device;
    random_state_ = static_cast<std::uint64_t>(device()) << 32 | device();
  }
  new_boundary();
}

// SplitMix64 (Steele, Lea, Flood 2014): not for secrets, only to make identifiers distinct.
std::uint64_t MessageComposer::next_random() {
  std::uint64_t z = (random_state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// "=_" cannot occur in quoted-printable output (RFC 2045 6.7: '=' is followed by hex digits or
// a line break), so only a 7bit part could ever contain the boundary; compose() checks those.
void MessageComposer::new_boundary() {
  boundary_.assign("=_hayate_");
  append_hex64(next_random(), boundary_);
  append_hex64(next_random(), boundary_);
}

void MessageComposer::compose(std::span<const std::string_view> fields, std::string_view to_address,
                              std::uint64_t sequence, std::int64_t unix_time_s, std::string& out) {
  HAYATE_ASSERT(!to_address.empty() && !has_line_break(to_address));
  const std::size_t start = out.size();

  // Bodies first: their transfer encodings and the boundary go in the headers.
  PartShape text_shape;
  PartShape html_shape;
  if (inputs_.text != nullptr) {
    scratch_.clear();
    inputs_.text->render(fields, scratch_);
    text_shape = shape_of(scratch_);
  }
  if (inputs_.html != nullptr) {
    html_scratch_.clear();
    inputs_.html->render(fields, html_scratch_);
    html_shape = shape_of(html_scratch_);
  }
  const bool multipart = inputs_.text != nullptr && inputs_.html != nullptr;
  if (multipart) {
    auto collides = [&](std::string_view part, const PartShape& shape) {
      return shape.seven_bit && part.find(boundary_) != std::string_view::npos;
    };
    std::size_t attempts = 0;
    while (collides(scratch_, text_shape) || collides(html_scratch_, html_shape)) {
      HAYATE_ASSERT(++attempts < boundary_attempts_max);
      new_boundary();
    }
  }

  // RFC 5322 3.6: origination date, originator, destination, then the rest.
  out.append("Date: ");
  append_rfc5322_date(unix_time_s, out);
  out.append(crlf);
  append_mailbox_header("From", inputs_.from_header, out);
  out.append("To: ");
  out.append(to_address);
  out.append(crlf);
  header_scratch_.clear();
  inputs_.subject->render(fields, header_scratch_);
  append_unstructured_header("Subject", header_scratch_, out);
  // RFC 5322 3.6.4: unique across campaigns (id), recipients (sequence) and runs (random).
  out.append("Message-ID: ");
  out.append(message_id_prefix_);
  append_decimal(sequence, out);
  out.push_back('.');
  append_hex64(next_random(), out);
  out.push_back('@');
  out.append(inputs_.from_domain);
  out.append(">\r\n");
  out.append("MIME-Version: 1.0\r\n");
  if (!inputs_.reply_to.empty()) append_mailbox_header("Reply-To", inputs_.reply_to, out);
  for (const auto& [name, value_template] : inputs_.headers) {
    header_scratch_.clear();
    value_template->render(fields, header_scratch_);
    append_unstructured_header(name, header_scratch_, out);
  }

  if (!multipart) {
    const bool text_only = inputs_.text != nullptr;
    const PartShape& shape = text_only ? text_shape : html_shape;
    append_part_headers(text_only ? "text/plain" : "text/html", shape, out);
    out.append(crlf);
    append_part_body(text_only ? scratch_ : html_scratch_, shape, out);
  } else {
    // RFC 2046 5.1.4: alternatives in increasing order of preference, plain text first.
    out.append("Content-Type: multipart/alternative;\r\n boundary=\"");
    out.append(boundary_);
    out.append("\"\r\n\r\n--");
    out.append(boundary_);
    out.append(crlf);
    append_part_headers("text/plain", text_shape, out);
    out.append(crlf);
    append_part_body(scratch_, text_shape, out);
    out.append("\r\n--");
    out.append(boundary_);
    out.append(crlf);
    append_part_headers("text/html", html_shape, out);
    out.append(crlf);
    append_part_body(html_scratch_, html_shape, out);
    out.append("\r\n--");
    out.append(boundary_);
    out.append("--\r\n");
  }
  HAYATE_ASSERT(out.size() >= start + 2 && out[out.size() - 2] == '\r' && out.back() == '\n');
}

}  // namespace hayate::campaign
