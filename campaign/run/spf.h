// SPF (RFC 7208) evaluation for the pre-flight of `hayate check`: does the envelope domain's
// record authorize a sending address? Pure over DnsLookups, so that it runs on answers looked
// up elsewhere (the pre-flight's shard, or a test's table). Evaluated: ip4, ip6, a, mx,
// include, all with their qualifiers, redirect, the 10-lookup and 2-void-lookup limits.
// Not evaluated (reported as such, taken as no match): exists, ptr, and any macro (RFC 7208 7).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/run/dns_facts.h"
#include "engine/dns/resolver.h"

namespace hayate::campaign::inline run {

// RFC 7208 2.6.
enum class SpfResult : std::uint8_t { none, neutral, pass, fail, softfail, temperror, permerror };
std::string_view spf_result_name(SpfResult result);  // "pass", "softfail"...

// RFC 7208 4.6.4: mechanisms and modifiers that look up DNS, per evaluation; past it, permerror.
inline constexpr std::uint32_t spf_dns_lookups_max = 10;
// RFC 7208 4.6.4: lookups of a, mx that find nothing (NXDOMAIN or no record); past it, permerror.
inline constexpr std::uint32_t spf_void_lookups_max = 2;
// RFC 7208 4.6.4: MX names one mx mechanism may look up.
inline constexpr std::uint32_t spf_mx_names_max = 10;

struct SpfVerdict {
  SpfResult result = SpfResult::none;
  // What decided it: "ip4:192.0.2.0/24 in example.com", "~all in example.com",
  // "example.com has no SPF record", "more than 10 DNS lookups"...
  std::string reason;
  // Terms skipped as not evaluated, each "exists:%{i}.spf.example.com in example.com".
  std::vector<std::string> not_evaluated;
  std::uint32_t dns_lookups = 0;  // counted as RFC 7208 4.6.4 counts them
  // False when an answer was missing (DnsLookups gave nullptr): then result and reason are
  // meaningless, and the lookups have noted what to look up before evaluating again.
  bool complete = true;
};

// RFC 7208 4.5: the one record among a name's TXT records that starts with "v=spf1" (case
// aside) followed by a space or nothing. Sets `record` and returns 1 when there is exactly one;
// returns how many there are otherwise (0: none; 2 or more: permerror).
std::size_t select_spf_record(const std::vector<std::string>& txt_records, std::string& record);

// RFC 7208 4 check_host(ip, domain, sender): the result for mail from `ip` whose envelope
// domain (MAIL FROM, or HELO without one) is `domain`. Never fails; see SpfVerdict::complete.
SpfVerdict check_spf_host(const dns::SocketAddress& ip, std::string_view domain,
                          DnsLookups& lookups);

}  // namespace hayate::campaign::run
