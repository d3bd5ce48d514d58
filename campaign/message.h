// Message assembly (RFC 5322, MIME RFC 2045-2049): builds each recipient's message from the
// campaign's compiled templates into a reused buffer, and dot-stuffs it for DATA
// (RFC 5321 4.5.2). Headers never carry CR or LF from data: rows with them are refused earlier,
// and compose() asserts it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "campaign/template.h"

namespace hayate::campaign {

struct MessageInputs {
  std::string campaign_id;
  std::string from_header;                 // e.g. "Example News <news@example.com>"
  std::string from_domain;                 // right side of Message-ID
  std::string reply_to;                    // optional
  const Template* subject = nullptr;       // required
  const Template* text = nullptr;          // at least one of text / html
  const Template* html = nullptr;
  std::vector<std::pair<std::string, const Template*>> headers;  // extra headers, templated
};

class MessageComposer {
 public:
  explicit MessageComposer(MessageInputs inputs);

  // Appends the full RFC 5322 message (CRLF line endings, ends with CRLF) for one recipient.
  // `sequence` makes the Message-ID unique within the campaign (the recipient's row number);
  // `unix_time_s` is the Date (time is passed in: no clock here).
  void compose(std::span<const std::string_view> fields, std::string_view to_address,
               std::uint64_t sequence, std::int64_t unix_time_s, std::string& out);

 private:
  MessageInputs inputs_;
  std::string boundary_;
  std::string scratch_;  // rendered part before transfer encoding
};

// Appends `message` to `out` with dot-stuffing (a line starting with '.' gets another '.'),
// bare LF turned into CRLF, followed by the terminating ".\r\n".
void append_dot_stuffed(std::string_view message, std::string& out);

}  // namespace hayate::campaign
