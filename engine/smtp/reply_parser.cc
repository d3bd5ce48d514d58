// SMTP reply parser (RFC 5321 4.2): finds the lines of the first reply with memchr, checks
// each line's code, and reads the enhanced status code (RFC 3463) of the first line. Every
// limit is checked before the reply completes, so a hostile server cannot make us buffer more
// than limits::reply_bytes_max while it trickles bytes.
#include "engine/smtp/reply_parser.h"

#include <cstring>
#include <string>
#include <string_view>

#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/utf8.h"

namespace hayate::smtp {
namespace {

// A line is counted with its line ending (RFC 5321 4.5.3.1.5 counts the CRLF too).
constexpr std::size_t line_bytes_max = limits::reply_line_bytes_max;
constexpr std::size_t reply_bytes_max = limits::reply_bytes_max;
static_assert(reply_bytes_max >= line_bytes_max);

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39. `prefix` may be shorter than three
// bytes (an incomplete line): then only what is there is checked.
inline bool code_prefix_valid(const char* prefix, std::size_t size) {
  if (size >= 1 && (prefix[0] < '2' || prefix[0] > '5')) return false;
  if (size >= 2 && (prefix[1] < '0' || prefix[1] > '5')) return false;
  if (size >= 3 && !is_digit(prefix[2])) return false;
  return true;
}

inline std::uint16_t code_of(const char* line) {
  return static_cast<std::uint16_t>((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
}

// Reads 1 to 3 digits at text[pos]; advances pos. False when there is no digit or more than 3.
inline bool read_number(std::string_view text, std::size_t& pos, std::uint16_t& value) {
  std::size_t start = pos;
  value = 0;
  while (pos < text.size() && is_digit(text[pos])) {
    if (pos - start == 3) return false;
    value = static_cast<std::uint16_t>(value * 10 + (text[pos] - '0'));
    ++pos;
  }
  return pos > start;
}

// RFC 3463 2 / RFC 2034 4: the enhanced code opens the text of a reply line, followed by a
// space (or nothing), and its class repeats the reply's first digit. Anything else is text.
inline bool parse_enhanced(std::string_view text, char reply_class, EnhancedCode& enhanced,
                           std::size_t& text_start) {
  if (text.empty() || text[0] != reply_class) return false;
  const std::size_t space = text.find(' ');
  EnhancedCode code;
  if (!parse_enhanced_code(text.substr(0, space), code)) return false;
  enhanced = code;
  text_start = space == std::string_view::npos ? text.size() : space + 1;
  return true;
}

// An incomplete last line (no LF yet): malformed as soon as what we have can no longer become
// a valid line, so garbage (an HTTP server, a banner without a code) is refused at once.
// `first_line` is null while no line is complete, else the reply's first line (its code).
ParseResult check_incomplete_line(const char* line, std::size_t size, const char* first_line) {
  if (std::memchr(line, '\0', size) != nullptr) return ParseResult::malformed;
  if (!code_prefix_valid(line, size)) return ParseResult::malformed;
  if (first_line != nullptr && std::memcmp(line, first_line, size < 3 ? size : 3) != 0) {
    return ParseResult::malformed;  // RFC 5321 4.2.1: every line carries the same code
  }
  if (size >= 4) {
    char separator = line[3];
    bool separator_valid = separator == ' ' || separator == '-' || (separator == '\r' && size == 4);
    if (!separator_valid) return ParseResult::malformed;
  }
  return ParseResult::need_more;
}

}  // namespace

bool parse_enhanced_code(std::string_view text, EnhancedCode& code) {
  std::uint32_t parts[3] = {0, 0, 0};
  std::size_t part = 0;
  std::size_t digits = 0;
  for (const char c : text) {
    if (is_digit(c)) {
      if (++digits > 3) return false;
      parts[part] = parts[part] * 10 + static_cast<std::uint32_t>(c - '0');
    } else if (c == '.' && digits > 0 && part < 2) {
      ++part;
      digits = 0;
    } else {
      return false;
    }
  }
  if (part != 2 || digits == 0) return false;
  if (parts[0] != 2 && parts[0] != 4 && parts[0] != 5) return false;
  code = EnhancedCode{static_cast<std::uint8_t>(parts[0]), static_cast<std::uint16_t>(parts[1]),
                      static_cast<std::uint16_t>(parts[2])};
  return true;
}

bool find_enhanced_code(std::string_view text, EnhancedCode& code) {
  for (std::size_t i = 0; i + 5 <= text.size(); ++i) {
    const char c = text[i];
    if ((c != '4' && c != '5') || text[i + 1] != '.') continue;
    if (i > 0 && (is_digit(text[i - 1]) || text[i - 1] == '.')) continue;
    std::size_t end = i + 2;
    std::size_t digits = 0;
    while (end < text.size() && is_digit(text[end]) && digits < 4) ++end, ++digits;
    if (digits == 0 || digits > 3 || end >= text.size() || text[end] != '.') continue;
    ++end;
    digits = 0;
    while (end < text.size() && is_digit(text[end]) && digits < 4) ++end, ++digits;
    if (digits == 0 || digits > 3) continue;
    // Not part of an IP address or a version: "5.1.1.3" and "5.1.10a" are not codes.
    if (end < text.size() &&
        (is_digit(text[end]) || text[end] == '-' || (text[end] >= 'a' && text[end] <= 'z'))) {
      continue;
    }
    if (end + 1 < text.size() && text[end] == '.' && is_digit(text[end + 1])) continue;
    if (parse_enhanced_code(text.substr(i, end - i), code)) return true;
  }
  return false;
}

void append_enhanced_code(const EnhancedCode& code, std::string& out) {
  if (!code.present()) return;
  char buffer[16];
  std::size_t size = 0;
  const auto put = [&](std::uint32_t value) {
    char digits[4];
    std::size_t count = 0;
    do {
      digits[count++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0 && count < sizeof(digits));
    while (count > 0) buffer[size++] = digits[--count];
  };
  put(code.klass);
  buffer[size++] = '.';
  put(code.subject);
  buffer[size++] = '.';
  put(code.detail);
  out.append(buffer, size);
}

std::string EnhancedCode::to_string() const {
  std::string text;
  append_enhanced_code(*this, text);
  return text;
}

ParseResult parse_reply(std::string_view input, Reply& reply, std::size_t& consumed_bytes) {
  consumed_bytes = 0;
  const char* const begin = input.data();
  std::size_t pos = 0;
  std::uint32_t lines = 0;
  std::uint16_t code = 0;
  std::string_view first_text;
  for (;;) {
    HAYATE_ASSERT(pos <= input.size() && pos <= reply_bytes_max);
    const char* line = begin + pos;
    std::size_t available = input.size() - pos;
    std::size_t window = available < line_bytes_max ? available : line_bytes_max;
    const char* lf = static_cast<const char*>(std::memchr(line, '\n', window));
    if (lf == nullptr) {
      // Without an LF in line_bytes_max bytes, the line will be longer than the limit; and
      // the reply cannot complete within reply_bytes_max once the tail reaches it.
      if (available >= line_bytes_max || pos + available >= reply_bytes_max) {
        return ParseResult::malformed;
      }
      return check_incomplete_line(line, available, lines > 0 ? begin : nullptr);
    }
    std::size_t line_bytes = static_cast<std::size_t>(lf - line) + 1;
    std::size_t content_bytes = line_bytes - 1;
    if (content_bytes > 0 && line[content_bytes - 1] == '\r') --content_bytes;

    if (content_bytes < 3 || !code_prefix_valid(line, 3)) return ParseResult::malformed;
    if (std::memchr(line, '\0', content_bytes) != nullptr) return ParseResult::malformed;
    std::uint16_t line_code = code_of(line);
    char separator = content_bytes > 3 ? line[3] : ' ';
    if (separator != ' ' && separator != '-') return ParseResult::malformed;
    if (lines == 0) {
      code = line_code;
      if (content_bytes > 4) first_text = std::string_view(line + 4, content_bytes - 4);
    } else if (line_code != code) {
      return ParseResult::malformed;  // RFC 5321 4.2.1: every line carries the same code
    }
    ++lines;
    pos += line_bytes;
    if (pos > reply_bytes_max) return ParseResult::malformed;
    if (separator == ' ') break;
    // A continuation line promises one more line: that one would exceed the limit.
    if (lines == limits::reply_lines_max) return ParseResult::malformed;
  }
  HAYATE_ASSERT(lines >= 1 && lines <= limits::reply_lines_max);
  HAYATE_ASSERT(code >= 200 && code <= 559);

  reply.code = code;
  reply.enhanced = EnhancedCode();
  reply.lines = lines;
  reply.raw = std::string_view(begin, pos);
  std::size_t text_start = 0;
  if (parse_enhanced(first_text, begin[0], reply.enhanced, text_start)) {
    first_text.remove_prefix(text_start);
  }
  reply.text = first_text;
  consumed_bytes = pos;
  return ParseResult::complete;
}

std::string reply_text_for_log(const Reply& reply, std::size_t max_bytes) {
  std::string out;
  out.reserve(reply.raw.size() < max_bytes ? reply.raw.size() : max_bytes);
  bool full = false;
  bool first = true;
  for_each_reply_line(reply.raw, [&](std::string_view text) {
    if (full) return;
    if (!first) {
      if (out.size() + 1 > max_bytes) {
        full = true;
        return;
      }
      out.push_back(' ');
    }
    first = false;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t length = hayate::utf8_sequence_length(text, pos);
      if (out.size() + (length == 0 ? 1 : length) > max_bytes) {
        full = true;  // never cut a character in two
        return;
      }
      unsigned char c = static_cast<unsigned char>(text[pos]);
      if (length == 0) {
        out.push_back('?');  // invalid UTF-8: logs are JSON and must stay valid UTF-8
        ++pos;
      } else if (length == 1) {
        out.push_back(c < 0x20 || c == 0x7F ? '?' : static_cast<char>(c));
        ++pos;
      } else if (length == 2 && c == 0xC2 && static_cast<unsigned char>(text[pos + 1]) < 0xA0) {
        out.push_back('?');  // C1 control characters (U+0080..U+009F)
        pos += length;
      } else {
        out.append(text.substr(pos, length));
        pos += length;
      }
    }
  });
  HAYATE_ASSERT(out.size() <= max_bytes);
  return out;
}

}  // namespace hayate::smtp
