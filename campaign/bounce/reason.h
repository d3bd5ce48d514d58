// The vocabulary of bounce reasons: why a recipient was not reached, one word each, the same
// words as Sisimai (the reference open classifier), so that reports and tools line up. Each
// reason has a default hard/soft verdict; classify.h decides the reason for one failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hayate::campaign::inline bounce {

// A hard bounce says the address will never work again: suppress it at once. A soft one may
// clear by itself (a full mailbox, a block on our IP, a timeout): suppress only after several.
enum class Reason : std::uint8_t {
  undefined,        // soft: a failure no rule recognised
  userunknown,      // hard: the mailbox does not exist (5.1.1, "user unknown")
  mailboxfull,      // soft: the mailbox is over its quota (5.2.2)
  hostunknown,      // hard: the domain does not exist or has no mail host (5.1.2, NXDOMAIN)
  hasmoved,         // hard: the mailbox has moved and no forwarding is given (5.1.6, 551)
  notaccept,        // hard when permanent: the host accepts no mail (null MX, RFC 7505, 5.1.10)
  blocked,          // soft: our IP or host is refused (a DNSBL listing, a provider's block)
  spamdetected,     // soft: this message's content was judged spam
  virusdetected,    // soft: a virus or dangerous attachment was found
  policyviolation,  // soft: the receiving site's policy refuses the message (e.g. attachments)
  rejected,         // soft: the envelope sender (MAIL FROM) or its domain was refused
  securityerror,    // soft: authentication required but missing or failed
  failedstarttls,   // soft: TLS was required (STARTTLS, MTA-STS, DANE, REQUIRETLS) and failed
  authfailure,      // soft: SPF, DKIM or DMARC failed (5.7.23 to 5.7.26)
  requireptr,       // soft: the sending IP has no (matching) reverse DNS (5.7.25)
  badreputation,    // soft: the sending IP or domain has a low reputation at the receiver
  toomanyconn,      // soft: too many connections or recipients at once (5.5.3, 421, 452)
  speeding,         // soft: we send faster than the receiver accepts; slow down
  ratelimited,      // soft: the receiver's rate limit for us was reached; wait
  mesgtoobig,       // soft: the message exceeds a size limit (5.3.4, 552)
  contenterror,     // soft: the content is malformed or not convertible (5.6.x)
  notcompliantrfc,  // soft: the message breaks RFC 5322 (duplicate headers, bad From...)
  systemerror,      // soft: the receiving system failed (configuration, loop, internal error)
  systemfull,       // soft: the receiving system is out of disk (5.3.1)
  networkerror,     // soft: DNS or connection failure, routing loop, too many hops
  expired,          // soft: the sending MTA gave up after retrying until its deadline (4.4.7)
  suspend,          // soft: the mailbox exists but is disabled or suspended
  norelaying,       // soft: the host refused to relay (a misrouted domain or a bad MX)
  syntaxerror,      // soft: the receiver did not understand a command (500-504)
  mailererror,      // soft: local delivery failed (a pipe or program exited with an error)
  onhold,           // soft: a bounce whose reason cannot be told from the message yet
  filtered,         // soft: the recipient's own settings refused the message
  suppressed,       // soft: the relay (an ESP) keeps the address on its own suppression list
  feedback,         // neither: a complaint (ARF, RFC 5965); suppress as a complaint
  vacation,         // neither: an auto-reply (RFC 3834), not a failure
  delivered,        // neither: a DSN that reports a successful delivery
};

inline constexpr std::size_t reason_count = static_cast<std::size_t>(Reason::delivered) + 1;

// "userunknown"..., the word above.
std::string_view to_string(Reason reason);
// The reason named by `word` (exact, lower case), or nothing.
std::optional<Reason> parse_reason(std::string_view word);

// True for the reasons that condemn the address on their own (userunknown, hostunknown,
// hasmoved, notaccept): the default when nothing else is known. classify.h makes notaccept
// soft when the failure was temporary.
bool hard_by_default(Reason reason);

// False for feedback, vacation and delivered, which are not delivery failures.
bool is_failure(Reason reason);

}  // namespace hayate::campaign::bounce
