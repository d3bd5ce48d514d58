// Message assembly (RFC 5322, MIME RFC 2045-2049): builds each recipient's message from the
// campaign's compiled templates into a reused buffer, and dot-stuffs it for DATA
// (RFC 5321 4.5.2). Each text part gets the transfer encoding its bytes call for (7bit, 8bit,
// quoted-printable or base64), and List-Unsubscribe (RFC 2369, RFC 8058 one-click) is written
// per recipient. Headers never carry CR or LF from data: rows with them are refused earlier,
// and compose() asserts it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "campaign/message/iso_2022_jp.h"
#include "campaign/message/template.h"
#include "engine/limits.h"

namespace hayate::campaign::inline message {

struct MessageInputs {
  std::string campaign_id;            // [A-Za-z0-9._-]{1,64}, as load_job checks
  std::string from_header;            // e.g. "Example News <news@example.com>"
  std::string from_domain;            // right side of Message-ID (an A-label domain)
  std::string reply_to;               // optional
  const Template* subject = nullptr;  // required
  const Template* text = nullptr;     // at least one of text / html
  const Template* html = nullptr;
  std::vector<std::pair<std::string, const Template*>> headers;  // extra headers, templated
  // List-Unsubscribe (RFC 2369 3.2) as "<https URL>, <mailto:address>", either one optional.
  // Both are compiled with Escape::url, so no field can put a byte outside the URI character
  // set into them, and their sources are checked once with check_list_unsubscribe_source().
  // With the URL, List-Unsubscribe-Post makes it one-click (RFC 8058 3.1); RFC 8058 4 then
  // wants a DKIM signature covering both fields.
  const Template* list_unsubscribe_url = nullptr;     // "https://example.com/u?t={{token}}"
  const Template* list_unsubscribe_mailto = nullptr;  // "unsubscribe+{{code}}@example.com"
  // Feedback-ID (Gmail's feedback loop: "a:b:c:SenderId"), Escape::none; optional.
  const Template* feedback_id = nullptr;
  // iso_2022_jp: the text part goes out in ISO-2022-JP (7bit) and non-ASCII header text in
  // "=?ISO-2022-JP?B?...?=" encoded-words (RFC 1468); the html part stays UTF-8. Text that
  // cannot be converted (rows are checked before, so only by mistake) goes out in UTF-8,
  // labelled so, never garbled.
  MessageCharset charset = MessageCharset::utf8;
  // Seeds the random parts (Message-ID suffix, MIME boundary). 0: seeded once from
  // std::random_device, so that two runs of one campaign never repeat a Message-ID. Tests and
  // golden outputs set it.
  std::uint64_t random_seed = 0;
};

// Content-Transfer-Encoding of a text part (RFC 2045 6), chosen from its rendered bytes:
// - 7bit: US-ASCII without NUL, lines of at most 998 octets (2.7);
// - 8bit: otherwise, when the server announced 8BITMIME and the part is valid UTF-8 without
//   NUL, lines of at most 998 octets (2.8; RFC 6152): sent as it is, read as it is;
// - quoted-printable: otherwise, when under 1/6 of the bytes are non-ASCII;
// - base64: otherwise (Japanese text, say), lines of 76 characters (6.8).
// Quoted-printable writes 3 octets for a non-ASCII byte and 1 for the others; base64 writes
// 4 for 3 (and a CRLF each 76): quoted-printable is the shorter while non-ASCII bytes are
// under about 1/6 of the part, and the readable one.
enum class TransferEncoding : std::uint8_t { seven_bit, eight_bit, quoted_printable, base64 };
const char* transfer_encoding_name(TransferEncoding encoding);  // "7bit", "base64"...

// What the caller must know about the message compose() appended.
struct ComposeResult {
  // A part went 8bit: MAIL FROM must carry BODY=8BITMIME (RFC 6152 2). Only when compose()
  // was told that the server announced 8BITMIME.
  bool eight_bit = false;
  // A List-Unsubscribe URI rendered unusable for this row and was left out of the header (with
  // List-Unsubscribe-Post when it was the URL): over list_unsubscribe_uri_bytes_max, or (had
  // the source check been skipped) not a URI. check_list_unsubscribe() finds such rows before
  // anything is sent, so that they can be rejected instead.
  bool list_unsubscribe_incomplete = false;
  // The random part of the Message-ID: with the sequence, append_message_id() writes the same
  // id again (for the logs) without keeping the text.
  std::uint64_t message_id_random = 0;
};

class MessageComposer {
 public:
  explicit MessageComposer(MessageInputs inputs);

  // Appends the full RFC 5322 message (CRLF line endings, ends with CRLF, no line over 998
  // octets) for one recipient. `sequence` makes the Message-ID unique within the campaign (the
  // recipient's row number); `unix_time_s` is the Date (time is passed in: no clock here).
  // `eightbit_allowed`: the server announced 8BITMIME (RFC 6152), so UTF-8 parts may go 8bit.
  ComposeResult compose(std::span<const std::string_view> fields, std::string_view to_address,
                        std::uint64_t sequence, std::int64_t unix_time_s, std::string& out,
                        bool eightbit_allowed = false);

  // Appends the Message-ID, angle brackets included, that compose() wrote for `sequence` when
  // its result's message_id_random was `random`: "<campaign.17.9f3c...@example.com>".
  void append_message_id(std::uint64_t sequence, std::uint64_t random, std::string& out) const;

 private:
  std::uint64_t next_random();
  void new_boundary();
  // Appends "List-Unsubscribe" and "List-Unsubscribe-Post" for this row; false when a URI was
  // left out.
  bool append_list_unsubscribe(std::span<const std::string_view> fields, std::string& out);

  MessageInputs inputs_;
  std::unique_ptr<Iso2022JpEncoder> iso_2022_jp_;  // with MessageCharset::iso_2022_jp only
  std::string jis_scratch_;                        // the text part in ISO-2022-JP
  std::string message_id_prefix_;                  // "<" campaign id "." (the id made a dot-atom)
  std::string boundary_;
  std::string scratch_;         // rendered text part before transfer encoding
  std::string html_scratch_;    // rendered html part before transfer encoding
  std::string header_scratch_;  // rendered header value (subject, extra headers)
  std::string url_scratch_;     // rendered List-Unsubscribe URL
  std::string mailto_scratch_;  // rendered List-Unsubscribe address
  std::string encode_scratch_;  // a part with CRLF line endings, before base64
  std::uint64_t random_state_ = 0;
};

// --- List-Unsubscribe --------------------------------------------------------------------------

enum class UnsubscribeUri : std::uint8_t { https_url, mailto };

// The longest List-Unsubscribe URI: "List-Unsubscribe: <" URI ">," must fit a line of 998
// octets (RFC 5322 2.1.1), and RFC 2369 2 forbids folding inside the brackets.
inline constexpr std::size_t list_unsubscribe_uri_bytes_max =
    limits::message_line_bytes_max - std::string_view("List-Unsubscribe: <").size() -
    std::string_view(">,").size();

// Load-time check of a List-Unsubscribe template source (the job loader calls it, and prefixes
// file:line): every literal byte (outside {{tags}}) is a URI character (RFC 3986 2: no space,
// '<', '>', '"', control or non-ASCII byte, a '%' only in "%XX"). The URL must open with
// "https://" and a literal host (so that data cannot change where one-click POSTs go); the
// mailto source is an address, optionally with "?subject=...", optionally after "mailto:",
// with a literal '@'. Together with Escape::url this guarantees the rendering of every row is
// a well-formed URI; only its length depends on the row (check_list_unsubscribe).
absl::Status check_list_unsubscribe_source(std::string_view source, UnsubscribeUri kind);

// Row check: renders the List-Unsubscribe templates of `inputs` for `fields` and says why a row
// would get an incomplete List-Unsubscribe (a URI over list_unsubscribe_uri_bytes_max, say),
// so that the row reader can reject it before sending. True when nothing is wrong (or there
// are no such templates). `scratch` is reused between calls.
bool check_list_unsubscribe(const MessageInputs& inputs, std::span<const std::string_view> fields,
                            std::string& scratch, std::string& reason);

// Building blocks of compose(), exposed for tests and for other MIME writers (DSN, ARF).

// RFC 5322 3.3 date-time in UTC, e.g. "Mon, 23 Nov 2026 15:08:01 +0000".
void append_rfc5322_date(std::int64_t unix_time_s, std::string& out);

// "Name: value" CRLF for an unstructured field (RFC 5322 3.2.5). Printable ASCII is folded at
// whitespace before 78 columns (RFC 5322 2.1.1); anything else (non-ASCII, control
// characters, a word that would pass 998 octets, text that looks like an encoded-word) becomes RFC
// 2047
// "=?UTF-8?B?...?=" encoded-words of at most 75 characters, one UTF-8 character never split
// between two words, on folded lines of at most 78 characters. `value` has no CR or LF.
// With `iso_2022_jp`, non-ASCII text becomes "=?ISO-2022-JP?B?...?=" words instead, each a
// complete ISO-2022-JP text ending in ASCII (RFC 1468), when it converts (else UTF-8 words).
void append_unstructured_header(std::string_view name, std::string_view value, std::string& out,
                                Iso2022JpEncoder* iso_2022_jp = nullptr);

// "Name: mailbox" CRLF for From / Reply-To: as given when ASCII; otherwise the display name
// of "Display Name <address>" becomes encoded-words (RFC 2047 5(3)), the address unchanged.
void append_mailbox_header(std::string_view name, std::string_view mailbox, std::string& out,
                           Iso2022JpEncoder* iso_2022_jp = nullptr);

// RFC 2045 6.8 base64 in lines of 76 characters, each ending with CRLF (none when empty).
void append_base64_lines(std::string_view bytes, std::string& out);

// Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing over U+10FFFF).
bool is_valid_utf8(std::string_view text);

// RFC 2045 6.7 quoted-printable: soft line breaks keep encoded lines at 76 characters; '=',
// bytes outside printable ASCII and whitespace before a line break are encoded. Line breaks
// (CRLF, bare LF, bare CR) become CRLF hard breaks; non-empty output ends with CRLF.
void append_quoted_printable(std::string_view text, std::string& out);

// Appends `message` to `out` with dot-stuffing (a line starting with '.' gets another '.'),
// bare LF turned into CRLF, followed by the terminating ".\r\n".
void append_dot_stuffed(std::string_view message, std::string& out);

}  // namespace hayate::campaign::message
