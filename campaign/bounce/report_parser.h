// Pure bounce-message parser: the bytes of one message in, one finding per failed recipient
// out. Reads RFC 3464 delivery status notifications, RFC 5965 ARF complaints, RFC 3834
// auto-replies and the plain-text bounces of common MTAs and providers. No I/O, no clock.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/bounce/classify.h"

namespace hayate::campaign::inline bounce {

enum class FindingKind : std::uint8_t {
  bounce,     // delivery failed (RFC 3464 Action: failed, or an MTA's failure text)
  complaint,  // an ARF feedback report (RFC 5965): the recipient marked us as spam
  autoreply,  // an auto-reply or vacation notice (RFC 3834): not a failure
  delay,      // a warning that delivery is still being retried (Action: delayed)
  delivered,  // a report that the message was delivered (an ESP's delivery notification)
};
std::string_view to_string(FindingKind kind);

// Where Finding::recipient came from, strongest first.
enum class RecipientSource : std::uint8_t {
  verp,              // our own signed return-path token (ParseOptions::verp_decoder)
  dsn,               // RFC 3464 Final-Recipient / Original-Recipient, ARF Original-Rcpt-To
  failed_header,     // X-Failed-Recipients (Exim and others)
  text,              // the MTA's human-readable report
  original_headers,  // the To of the returned original message
  sender,            // the From of an auto-reply
};

// What a VERP decoder says of an address a bounce was delivered to (ParseOptions::verp_decoder).
enum class TokenCheck : std::uint8_t {
  absent,          // not one of our VERP addresses: it proves nothing either way
  valid,           // our token, verified: it names the address we mailed
  forged,          // our VERP address, but its token is malformed or verifies for no address
                   // at hand (its row's, the report's)
  stale,           // authentic, made for an address the report names that its row no longer
                   // holds: the recipients file changed since the mailing
  other_campaign,  // a token of another campaign: we cannot tell whom it names
  old_version,     // an authentic token of a format that named a row, not an address
  unchecked,       // the recipients a token is checked against could not be read
};
std::string_view to_string(TokenCheck check);
// Our VERP address with a token that names nobody we can vouch for: the message it came to
// proves nothing about any address.
constexpr bool is_refused(TokenCheck check) {
  return check != TokenCheck::absent && check != TokenCheck::valid;
}

struct TokenAnswer {
  TokenCheck check = TokenCheck::absent;
  std::string recipient;  // valid only: the address the token was made for
};

struct Finding {
  FindingKind kind = FindingKind::bounce;
  std::string recipient;           // addr-spec, no brackets: the address the report is about
  std::string reported_recipient;  // what the report itself named, when VERP said otherwise
  std::string original_recipient;  // RFC 3464 2.3.1 Original-Recipient, when given
  RecipientSource recipient_source = RecipientSource::dsn;
  std::string status;            // the status as reported ("5.1.1"), or empty
  std::uint16_t reply_code = 0;  // from the diagnostic, 0 when none
  std::string diagnostic;        // Diagnostic-Code (type stripped) or the MTA's text
  std::string command;           // the SMTP command refused: "RCPT", "DATA", "MAIL" or ""
  std::string action;            // RFC 3464 2.3.3, lower case, or empty
  std::string remote_mta;        // RFC 3464 2.3.5, type stripped, or empty
  std::string feedback_type;     // RFC 5965 3.1 (abuse, fraud...), complaints only
  std::string_view format;       // which MTA or provider wrote it (formats.h), or ""
  Reason format_reason = Reason::undefined;  // what the report's format states outright
                                             // (PowerMTA's bounce category), if anything
  Classification classification;             // reason, hard/soft, normalized status (classify.h)
  TokenCheck token = TokenCheck::absent;     // what our VERP address the message came to said
};

struct ParseOptions {
  // Given an address the bounce was delivered to (Delivered-To, X-Original-To, To..., then
  // the original's envelope sender the report quotes: ARF Original-Mail-From, the returned
  // Return-Path) and the addresses the report itself names (to tell a stale token from a
  // forged one), says whether it is one of our VERP addresses and, when its token verifies,
  // the recipient it stands for (see message/verp.h; the caller maps token to recipient). The
  // first of our addresses decides. Valid: the message is about that recipient alone,
  // whatever the report names (a forward, an alias). Refused: the findings keep what the
  // report says, marked with the answer (Finding::token), so that they are counted and never
  // recorded. No address of ours: the report's own recipients stand. Unset: recipients come
  // from the report and the returned original headers only.
  std::function<TokenAnswer(std::string_view address, const std::vector<std::string>& reported)>
      verp_decoder;
  // Set for a report read from inside another (a bounce forwarded as text): not unwrapped
  // again.
  bool nested = false;
  // Tell Finding::format (formats.h). Off where nobody reads it (ingest): it costs a few
  // microseconds a message.
  bool detect_format = true;
};

// Every failed, delayed, complained-about or auto-replying recipient the message reports, in
// the order the message gives them. Empty for a message that is none of those (an ordinary
// mail, a success DSN). Never fails: broken MIME, wrong charsets, nested message/rfc822,
// huge headers are read as far as they make sense, within the limits::bounce_* caps.
std::vector<Finding> parse_report(std::string_view message, const ParseOptions& options = {});

}  // namespace hayate::campaign::bounce
