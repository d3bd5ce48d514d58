// Pure SMTP reply parser (RFC 5321 4.2): bytes in, one reply out. No I/O, no clock, no
// allocation; the reply's views point into the caller's buffer. Fuzzed in tests/fuzz/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hayate::smtp {

// RFC 3463 enhanced status code "class.subject.detail", e.g. 5.1.1. klass == 0: none given.
struct EnhancedCode {
  std::uint8_t klass = 0;     // 2, 4 or 5
  std::uint16_t subject = 0;  // 0..999
  std::uint16_t detail = 0;   // 0..999
  bool present() const { return klass != 0; }
  std::string to_string() const;  // "5.1.1", or "" when absent
  friend bool operator==(const EnhancedCode&, const EnhancedCode&) = default;
};

// RFC 3463 2: the one parser of enhanced codes. `text` is exactly "class.subject.detail"
// (class 2, 4 or 5; subject and detail of 1 to 3 digits); false for anything else.
bool parse_enhanced_code(std::string_view text, EnhancedCode& code);
// The first class 4 or 5 enhanced code standing alone in free text ("... 550 5.1.1 <a@b>
// User unknown"), not part of an IP address, a version or a longer number; false when none.
// Class 2 is left out: in free text "2.0.13" is a version number, not a success.
bool find_enhanced_code(std::string_view text, EnhancedCode& code);
// Appends "5.1.1" to `out` without allocating; nothing when the code is absent.
void append_enhanced_code(const EnhancedCode& code, std::string& out);

struct Reply {
  std::uint16_t code = 0;   // 200..599
  EnhancedCode enhanced;    // taken from the first line, when that line carries one
  std::string_view text;    // first line's text after the code (and after the enhanced code)
  std::string_view raw;     // every line of the reply, CRLFs included
  std::uint32_t lines = 0;  // number of lines
  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
};

enum class ParseResult : std::uint8_t { complete, need_more, malformed };

// Parses the first complete reply in `input`. On complete, fills `reply` and sets
// `consumed_bytes` to the length of that reply (all its lines). On need_more nothing is
// consumed. On malformed the input cannot be an SMTP reply (bad code, mixed codes in one
// multiline reply, a line over limits::reply_line_bytes_max, too many lines, NUL): the
// caller drops the connection. A bare LF ending a line is accepted, as real servers send it.
ParseResult parse_reply(std::string_view input, Reply& reply, std::size_t& consumed_bytes);

// Calls fn(text) for each line's text (after "NNN-"/"NNN "), without the line ending.
template <typename Fn>
void for_each_reply_line(std::string_view raw, Fn&& fn) {
  while (!raw.empty()) {
    std::size_t end = raw.find('\n');
    std::string_view line = raw.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(line.size() > 4 ? line.substr(4) : std::string_view());
    if (end == std::string_view::npos) break;
    raw.remove_prefix(end + 1);
  }
}

// The reply's text on one line, for logs: lines joined by a space, enhanced code of each line
// kept, control characters other than space replaced by '?', at most max_bytes long.
std::string reply_text_for_log(const Reply& reply, std::size_t max_bytes = 512);

}  // namespace hayate::smtp
