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
  std::string campaign_id;            // [A-Za-z0-9._-]{1,64}, as load_job checks
  std::string from_header;            // e.g. "Example News <news@example.com>"
  std::string from_domain;            // right side of Message-ID (an A-label domain)
  std::string reply_to;               // optional
  const Template* subject = nullptr;  // required
  const Template* text = nullptr;     // at least one of text / html
  const Template* html = nullptr;
  std::vector<std::pair<std::string, const Template*>> headers;  // extra headers, templated
  // Seeds the random parts (Message-ID suffix, MIME boundary). 0: seeded once from
  // std::random_device, so that two runs of one campaign never repeat a Message-ID. Tests and
  // golden outputs set it.
  std::uint64_t random_seed = 0;
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
  std::uint64_t next_random();
  void new_boundary();

  MessageInputs inputs_;
  std::string message_id_prefix_;  // "<" campaign id "." (the id made a dot-atom)
  std::string boundary_;
  std::string scratch_;         // rendered text part before transfer encoding
  std::string html_scratch_;    // rendered html part before transfer encoding
  std::string header_scratch_;  // rendered header value (subject, extra headers)
  std::uint64_t random_state_ = 0;
};

// Building blocks of compose(), exposed for tests and for other MIME writers (DSN, ARF).

// RFC 5322 3.3 date-time in UTC, e.g. "Mon, 23 Nov 2026 15:08:01 +0000".
void append_rfc5322_date(std::int64_t unix_time_s, std::string& out);

// "Name: value" CRLF for an unstructured field (RFC 5322 3.2.5). Printable ASCII is folded at
// whitespace before 78 columns (RFC 5322 2.1.1); anything else (non-ASCII, control
// characters, words too long to fold, text that looks like an encoded-word) becomes RFC 2047
// "=?UTF-8?B?...?=" encoded-words of at most 75 characters, one UTF-8 character never split
// between two words, on folded lines of at most 78 characters. `value` has no CR or LF.
void append_unstructured_header(std::string_view name, std::string_view value, std::string& out);

// "Name: mailbox" CRLF for From / Reply-To: as given when ASCII; otherwise the display name
// of "Display Name <address>" becomes encoded-words (RFC 2047 5(3)), the address unchanged.
void append_mailbox_header(std::string_view name, std::string_view mailbox, std::string& out);

// RFC 2045 6.7 quoted-printable: soft line breaks keep encoded lines at 76 characters; '=',
// bytes outside printable ASCII and whitespace before a line break are encoded. Line breaks
// (CRLF, bare LF, bare CR) become CRLF hard breaks; non-empty output ends with CRLF.
void append_quoted_printable(std::string_view text, std::string& out);

// Appends `message` to `out` with dot-stuffing (a line starting with '.' gets another '.'),
// bare LF turned into CRLF, followed by the terminating ".\r\n".
void append_dot_stuffed(std::string_view message, std::string& out);

}  // namespace hayate::campaign
