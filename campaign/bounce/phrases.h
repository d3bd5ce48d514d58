// What receiving servers write when they refuse mail, sorted by reason: the phrase tables
// classify.cc matches a diagnostic against. Two kinds: the wording any MTA may use (one group
// per reason, after Sisimai 5's reason lists), and the wording of one provider, trusted only
// when the reply came from that provider's hosts (Sisimai's "Rhost" rules: Google, Microsoft,
// Yahoo, Apple, Cox, GoDaddy, Spectrum, docomo, KDDI, Tencent, Mimecast, MessageLabs...).
// All patterns are RE2 over lower-cased text with whitespace folded to single spaces.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "campaign/bounce/reason.h"

namespace hayate::campaign::inline bounce {

enum class Provider : std::uint8_t {
  none,
  mta,  // not a provider: an MTA's own fixed wording, which settles the reason wherever seen
  google,
  microsoft,
  yahoo,
  aol,
  apple,
  cox,
  godaddy,
  spectrum,
  docomo,
  kddi,
  tencent,
  mimecast,
  messagelabs,
  iua,
  franceptt,
  zoho,  // the last: classify.cc keeps one phrase set per provider
};

// The provider a server belongs to, by the end of its name (".prod.outlook.com"); none when
// unknown.
Provider provider_of_host(std::string_view host);
// The provider whose servers a recipient's domain is served by, when the domain is the end of
// one of those names ("laposte.net" of ".laposte.net", "cox.net"); none when unknown.
Provider provider_of_domain(std::string_view domain);

struct Phrase {
  Provider provider;  // none: any server's wording
  Reason reason;
  const char* pattern;
};

// The generic groups first (one per reason, in no particular order), then each provider's
// rules in the order they are tried: within one provider the first match wins.
std::span<const Phrase> phrase_table();

}  // namespace hayate::campaign::bounce
