// libFuzzer target for the SMTP reply parser: parses replies back to back from any bytes and
// checks the parser's promises (consumed bytes, limits, prefixes need more), then runs the
// line walker, the log text and the EHLO capability parser on every complete reply.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/smtp/capabilities.h"
#include "engine/smtp/reply_parser.h"

namespace {

using hayate::smtp::ParseResult;
using hayate::smtp::Reply;

void check_log_text(const Reply& reply, std::size_t max_bytes) {
  std::string text = hayate::smtp::reply_text_for_log(reply, max_bytes);
  HAYATE_ASSERT(text.size() <= max_bytes);
  for (unsigned char c : text) HAYATE_ASSERT(c >= 0x20 && c != 0x7F);
}

void check_complete(std::string_view input, const Reply& reply, std::size_t consumed) {
  HAYATE_ASSERT(consumed > 0 && consumed <= input.size());
  HAYATE_ASSERT(consumed <= hayate::limits::reply_bytes_max);
  HAYATE_ASSERT(reply.raw.data() == input.data() && reply.raw.size() == consumed);
  HAYATE_ASSERT(reply.raw.back() == '\n');
  HAYATE_ASSERT(reply.code >= 200 && reply.code <= 559);
  HAYATE_ASSERT(reply.lines >= 1 && reply.lines <= hayate::limits::reply_lines_max);
  HAYATE_ASSERT(std::memchr(reply.raw.data(), '\0', reply.raw.size()) == nullptr);
  HAYATE_ASSERT(reply.text.empty() ||
                (reply.text.data() >= reply.raw.data() &&
                 reply.text.data() + reply.text.size() <= reply.raw.data() + reply.raw.size()));
  if (reply.enhanced.present()) {
    HAYATE_ASSERT(reply.enhanced.klass == reply.code / 100);
    HAYATE_ASSERT(reply.enhanced.subject <= 999 && reply.enhanced.detail <= 999);
  }
  std::uint32_t lines = 0;
  hayate::smtp::for_each_reply_line(reply.raw, [&](std::string_view text) {
    HAYATE_ASSERT(text.size() < hayate::limits::reply_line_bytes_max);
    ++lines;
  });
  HAYATE_ASSERT(lines == reply.lines);
  check_log_text(reply, 512);
  check_log_text(reply, consumed % 97);
  hayate::smtp::Capabilities capabilities = hayate::smtp::parse_capabilities(reply);
  HAYATE_ASSERT(capabilities.auth_mechanisms.size() <= consumed);

  // Every proper prefix of a complete reply needs more bytes (a reply never completes early),
  // and the reply alone parses to the same result.
  Reply again;
  std::size_t again_consumed = 0;
  HAYATE_ASSERT(hayate::smtp::parse_reply(input.substr(0, consumed - 1), again, again_consumed) ==
                ParseResult::need_more);
  HAYATE_ASSERT(again_consumed == 0);
  HAYATE_ASSERT(hayate::smtp::parse_reply(input.substr(0, consumed), again, again_consumed) ==
                ParseResult::complete);
  HAYATE_ASSERT(again_consumed == consumed && again.code == reply.code &&
                again.text == reply.text && again.enhanced == reply.enhanced);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  for (;;) {
    Reply reply;
    std::size_t consumed = 0;
    ParseResult result = hayate::smtp::parse_reply(input, reply, consumed);
    if (result != ParseResult::complete) {
      HAYATE_ASSERT(consumed == 0);
      // Nothing is buffered past the limits while waiting for more.
      if (result == ParseResult::need_more) {
        HAYATE_ASSERT(input.size() < hayate::limits::reply_bytes_max);
      }
      break;
    }
    check_complete(input, reply, consumed);
    input.remove_prefix(consumed);
  }
  return 0;
}
