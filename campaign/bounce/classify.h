// One place that decides why a delivery failed: the SMTP reply code, the RFC 3463 enhanced
// status and the diagnostic text in, a reason (reason.h), hard or soft and a normalized status
// out. The same function serves replies met during delivery and bounce messages read later.
#pragma once

#include <cstdint>
#include <string_view>

#include "campaign/bounce/reason.h"
#include "engine/smtp/reply_parser.h"

namespace hayate::campaign::inline bounce {

struct Classification {
  Reason reason = Reason::undefined;
  bool hard = false;          // the address will not work again: suppress it at once
  smtp::EnhancedCode status;  // the given enhanced code, or one derived from the reason
};

// The SMTP command a server refused, when known: some words mean one thing after MAIL FROM
// and another after RCPT TO.
enum class SmtpCommand : std::uint8_t { unknown, connect, helo, starttls, auth, mail, rcpt, data };

// One failure as known: the reply (or a report's Diagnostic-Code and Status), and where it
// came from.
struct Failure {
  std::uint16_t reply_code = 0;  // 0: unknown, looked for in the text
  smtp::EnhancedCode status;     // absent: looked for in the text
  std::string_view text;         // the server's words (a reply's text, a Diagnostic-Code)
  SmtpCommand command = SmtpCommand::unknown;
  std::string_view remote_host;       // the server that said it (MX name, Remote-MTA), or ""
  std::string_view recipient_domain;  // the failed recipient's domain, or ""
  Reason given = Reason::undefined;   // what the report's own format already says, if anything
};

// Decides as Sisimai 5 does, in this order:
//  1. a reason the report's format gives outright (an ESP's "suppressed"), unless it is one
//     that a closer look may refine (undefined, onhold, the generic errors);
//  2. the provider's own rules, when the server (or the recipient's domain) is one of the
//     large providers' (phrases.h);
//  3. the reasons in Sisimai's first order (mailboxfull, mesgtoobig, suspend, hasmoved,
//     norelaying, authfailure, userunknown, filtered, requireptr, notcompliantrfc,
//     badreputation, contenterror, rejected, hostunknown, spamdetected, ratelimited,
//     toomanyconn, blocked): the first that the RFC 3463 status names or the text says wins;
//     userunknown only when the status says so (and the text does not say relaying, a block,
//     a full mailbox, a move or a refused sender) or the text says so of a recipient;
//  4. the status's own reason, refined by the text when that reason is a generic one;
//  5. the status class (X.6 content, X.7 security), the reply code, the command (HELO:
//     blocked); then onhold when there was text, undefined when none.
// Hard: userunknown, hostunknown, hasmoved, and notaccept when permanent. The status class is
// 4 or 5 (2 for delivered); when nothing gives one, a failure is taken as permanent. Cheap
// enough for every 4xx/5xx reply: no allocation, a pass of precompiled RE2 sets (the common
// one, and a provider's for its own replies) over at most 2 KiB of text.
Classification classify(const Failure& failure);
// The same with the reply alone: code, enhanced status ("" when none), text.
Classification classify(std::uint16_t reply_code, std::string_view enhanced_status,
                        std::string_view diagnostic_text);
Classification classify(std::uint16_t reply_code, smtp::EnhancedCode enhanced_status,
                        std::string_view diagnostic_text);

// Compiles the phrase tables now (some 20 ms) rather than at the first classification, so that
// a run does not stall a shard's event loop on its first failure. Thread-safe; idempotent.
void prepare_classifier();

// True for the reasons that say nothing about why: undefined and onhold.
constexpr bool is_unknown(Reason reason) {
  return reason == Reason::undefined || reason == Reason::onhold;
}

// The first SMTP reply code in free text: three digits 2xx/4xx/5xx standing alone, followed by
// a space, '-' or the end; 0 when there is none.
std::uint16_t find_reply_code(std::string_view text);

}  // namespace hayate::campaign::bounce
