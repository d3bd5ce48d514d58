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

// Decides in this order (RFC 3463 first, as the issue and Sisimai do):
//  1. a specific enhanced status decides alone (5.1.1 userunknown, 5.2.2 mailboxfull, 5.7.25
//     requireptr...);
//  2. otherwise the diagnostic text, against the phrases of the large providers and MTAs
//     (Gmail, Outlook/Exchange, Yahoo/AOL, iCloud, Postfix, Exim, Sendmail, qmail, Amazon
//     SES, docomo, au, SoftBank...). Generic codes (5.0.0, 5.7.1, 4.7.0, 5.2.1...) are sent for
//     anything, so their text says more than they do;
//  3. otherwise the generic enhanced status, then the reply code (RFC 5321 4.2.3).
// `reply_code` 0 and an empty `enhanced_status` mean unknown: both are then looked for in the
// text ("550 5.1.1 <a@b>: user unknown"). Hard: userunknown, hostunknown, hasmoved, and
// notaccept when permanent. The status class is 4 or 5 (2 for delivered); when nothing gives
// one, a failure is taken as permanent. Cheap enough for every 4xx/5xx reply: no allocation
// beyond a small stack buffer, one pass of a precompiled RE2 set over at most 2 KiB of text.
Classification classify(std::uint16_t reply_code, std::string_view enhanced_status,
                        std::string_view diagnostic_text);
// The same, with the enhanced status already parsed (smtp::parse_enhanced_code); absent: it is
// looked for in the text.
Classification classify(std::uint16_t reply_code, smtp::EnhancedCode enhanced_status,
                        std::string_view diagnostic_text);

// The first SMTP reply code in free text: three digits 2xx/4xx/5xx standing alone, followed by
// a space, '-' or the end; 0 when there is none.
std::uint16_t find_reply_code(std::string_view text);

}  // namespace hayate::campaign::bounce
