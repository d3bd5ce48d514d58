// libFuzzer target for the header and body encoders of campaign/message: any value becomes a
// header of printable ASCII, folded with CRLF only where a fold is, no line over 998 octets
// (RFC 5322 2.1.1, 2.2.3; RFC 2047 encoded-words for the rest), and quoted-printable
// and base64 bodies keep their line limits (RFC 2045 6.7, 6.8). A CR or LF in a value can
// never make a new header line. Build with clang: scripts/build.sh -DHAYATE_FUZZ=ON (target
// header_encoding_fuzzer); CI replays the seed corpus (ctest fuzz_replay.header_encoding).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "campaign/message/message.h"
#include "engine/assert.h"

namespace {

// Lines of `text` (each ending in CRLF, nothing after the last): none longer than
// `columns_max` without its CRLF, no CR or LF elsewhere, only printable ASCII, space and tab.
// With `folded`, every line after the first starts with a space or a tab.
void check_lines(std::string_view text, std::size_t columns_max, bool folded) {
  const std::string_view whole = text;
  HAYATE_ASSERT(text.empty() || text.ends_with("\r\n"));
  bool first = true;
  while (!text.empty()) {
    const std::size_t end = text.find("\r\n");
    HAYATE_ASSERT(end != std::string_view::npos);
    const std::string_view line = text.substr(0, end);
    if (line.size() > columns_max) {  // say which encoder, before the assertion stops us
      std::fprintf(stderr, "line of %zu > %zu in:\n%.*s\n", line.size(), columns_max,
                   static_cast<int>(std::min<std::size_t>(whole.size(), 600)), whole.data());
    }
    HAYATE_ASSERT(line.size() <= columns_max);
    for (char c : line) {
      HAYATE_ASSERT(c == '\t' || (c >= ' ' && c <= '~'));
    }
    if (folded && !first) HAYATE_ASSERT(!line.empty() && (line[0] == ' ' || line[0] == '\t'));
    first = false;
    text.remove_prefix(end + 2);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The composer's precondition: a value has no CR or LF (rows with them are refused before).
  std::string value;
  for (char c : input) {
    if (c != '\r' && c != '\n') value += c;
  }
  std::string out;
  hayate::campaign::append_unstructured_header("Subject", value, out);
  HAYATE_ASSERT(out.starts_with("Subject:"));
  // Folded at 78 where it can be; a single word longer than that stays whole (RFC 5322 2.1.1:
  // 78 is a SHOULD, 998 the MUST).
  check_lines(out, 998, true);

  // From: any display name before a fixed address (the job's check of the address comes
  // before composing; the name is free text).
  std::string mailbox;
  for (char c : value) {
    if (c != '<' && c != '>') mailbox += c;
  }
  mailbox += " <news@example.com>";
  out.clear();
  hayate::campaign::append_mailbox_header("From", mailbox, out);
  HAYATE_ASSERT(out.starts_with("From:"));
  // An address is never folded inside, so a long one may pass 78 (998 is the hard limit).
  check_lines(out, 998, true);

  out.clear();
  hayate::campaign::append_quoted_printable(input, out);
  check_lines(out, 76, false);

  out.clear();
  hayate::campaign::append_base64_lines(input, out);
  check_lines(out, 76, false);
  return 0;
}
