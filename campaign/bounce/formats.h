// Which MTA or provider wrote a bounce: Postfix, Exim, Sendmail, qmail, Exchange, Gmail,
// Amazon SES... (Sisimai's "Lhost" names), told by the marks each leaves in the headers it
// writes and the opening words of its report. `bounces classify` prints it; the parser reads
// a format's own wording only in its own bounces.
#pragma once

#include <span>
#include <string_view>
#include <utility>

namespace hayate::campaign::inline bounce {

// What a recognizer looks at, all lower-cased: a header's value ("" when absent), every
// Received field joined, and the report's text (the first few KiB are enough).
struct BounceMarks {
  // The top header fields: lowered name, lowered and trimmed value (the subject decoded).
  std::span<const std::pair<std::string_view, std::string_view>> headers;
  std::string_view from, subject;  // their values: asked for most
  // The value of header `lowered_name`, "" when absent.
  std::string_view header(std::string_view lowered_name) const {
    for (const auto& [name, value] : headers) {
      if (name == lowered_name) return value;
    }
    return {};
  }
  std::string_view received;
  std::string_view text;
};

// The format's name as Sisimai has it ("Postfix", "Exim", "qmail", "Exchange2007", "Gmail",
// "AmazonSES"...), or "" when no recognizer knows the bounce. RFC 3464, ARF and RFC 3834
// are not formats here: any MTA may send them.
std::string_view detect_format(const BounceMarks& marks);

}  // namespace hayate::campaign::bounce
