// SPF evaluation (RFC 7208 4 to 6): a record is parsed whole first (a syntax error anywhere is
// a permerror, 4.6), then its mechanisms are tried left to right against the address.
// When an answer is missing the evaluation goes on past that mechanism as if it did not match,
// so that one round of lookups gathers the questions of every mechanism it can already see.
#include "campaign/run/spf.h"

#include <netinet/in.h>

#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign::inline run {
namespace {

enum class TermKind : std::uint8_t { all, include, a, mx, ptr, ip4, ip6, exists };

struct Term {
  char qualifier = '+';
  TermKind kind = TermKind::all;
  std::string text;    // as written, qualifier included: for reasons
  std::string domain;  // include, a, mx, ptr, exists: the target; empty: the current domain
  bool macro = false;  // `domain` holds a macro (RFC 7208 7): not evaluated
  std::uint32_t cidr4_bits = 32;
  std::uint32_t cidr6_bits = 128;
  dns::SocketAddress network;  // ip4, ip6
};

struct Record {
  std::vector<Term> terms;
  std::string redirect;  // empty: none
  bool redirect_macro = false;
};

SpfResult result_of(char qualifier) {
  switch (qualifier) {
    case '-':
      return SpfResult::fail;
    case '~':
      return SpfResult::softfail;
    case '?':
      return SpfResult::neutral;
    default:
      return SpfResult::pass;
  }
}

// RFC 7208 4.6.1 ip4-cidr-length / ip6-cidr-length: digits without a leading zero.
bool parse_cidr_bits(std::string_view digits, std::uint32_t max_bits, std::uint32_t& bits) {
  if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits.front() == '0')) {
    return false;
  }
  std::uint32_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value > max_bits) return false;
  bits = value;
  return true;
}

// RFC 7208 5.6 dual-cidr-length: "", "/N", "//M" or "/N//M".
bool parse_dual_cidr(std::string_view text, Term& term) {
  if (text.empty()) return true;
  const std::size_t v6 = text.find("//");
  if (v6 != std::string_view::npos) {
    if (!parse_cidr_bits(text.substr(v6 + 2), 128, term.cidr6_bits)) return false;
    text = text.substr(0, v6);
    if (text.empty()) return true;
  }
  return text.front() == '/' && parse_cidr_bits(text.substr(1), 32, term.cidr4_bits);
}

// RFC 7208 7.1 domain-spec: visible ASCII; '%' starts a macro, which is kept, not expanded.
bool parse_domain_spec(std::string_view text, std::string& domain, bool& macro) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c <= ' ' || c > '~') return false;
  }
  macro = text.find('%') != std::string_view::npos;
  domain = macro ? std::string(text) : dns_question_name(text);
  return !domain.empty();
}

// Where a domain-spec ends and a dual-cidr-length starts: the first '/' outside "%{...}".
std::size_t domain_spec_end(std::string_view text) {
  bool in_macro = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '{' && i > 0 && text[i - 1] == '%') in_macro = true;
    if (text[i] == '}') in_macro = false;
    if (text[i] == '/' && !in_macro) return i;
  }
  return text.size();
}

bool parse_network(std::string_view args, bool ipv6, Term& term) {
  if (args.empty() || args.front() != ':') return false;
  args.remove_prefix(1);
  const std::size_t slash = args.find('/');
  const std::string_view ip = args.substr(0, slash);
  if (ip.empty() || !dns::SocketAddress::parse(ip, 0, term.network)) return false;
  if (term.network.storage.ss_family != (ipv6 ? AF_INET6 : AF_INET)) return false;
  if (ipv6 && ip.front() == '[') return false;  // SocketAddress takes "[v6]"; SPF does not
  if (slash == std::string_view::npos) return true;
  return parse_cidr_bits(args.substr(slash + 1), ipv6 ? 128 : 32,
                         ipv6 ? term.cidr6_bits : term.cidr4_bits);
}

// One mechanism from its name and what follows it; the error names the term.
bool parse_mechanism(std::string_view name, std::string_view args, Term& term) {
  static constexpr struct {
    std::string_view name;
    TermKind kind;
  } kinds[] = {{"all", TermKind::all}, {"include", TermKind::include}, {"a", TermKind::a},
               {"mx", TermKind::mx},   {"ptr", TermKind::ptr},         {"ip4", TermKind::ip4},
               {"ip6", TermKind::ip6}, {"exists", TermKind::exists}};
  const auto* kind = std::find_if(std::begin(kinds), std::end(kinds), [&](const auto& k) {
    return equals_ignoring_case(k.name, name);
  });
  if (kind == std::end(kinds)) return false;
  term.kind = kind->kind;
  switch (term.kind) {
    case TermKind::all:
      return args.empty();
    case TermKind::ip4:
    case TermKind::ip6:
      return parse_network(args, term.kind == TermKind::ip6, term);
    case TermKind::include:
    case TermKind::exists:
      return !args.empty() && args.front() == ':' &&
             parse_domain_spec(args.substr(1), term.domain, term.macro);
    case TermKind::ptr:
      return args.empty() ||
             (args.front() == ':' && parse_domain_spec(args.substr(1), term.domain, term.macro));
    case TermKind::a:
    case TermKind::mx:
      if (!args.empty() && args.front() == ':') {
        args.remove_prefix(1);
        const std::size_t end = domain_spec_end(args);
        if (!parse_domain_spec(args.substr(0, end), term.domain, term.macro)) return false;
        args.remove_prefix(end);
      }
      return parse_dual_cidr(args, term);
  }
  return false;
}

// RFC 7208 4.6 and 12: the terms of `record` (which starts with "v=spf1"). False with
// `error` set on any syntax error.
bool parse_record(std::string_view record, Record& out, std::string& error) {
  record.remove_prefix(6);  // "v=spf1"
  bool redirect_seen = false;
  bool exp_seen = false;
  while (true) {
    record = trim_front(record, " ");
    if (record.empty()) return true;
    const std::size_t end = record.find(' ');
    const std::string_view text = record.substr(0, end);
    record.remove_prefix(text.size());
    Term term;
    term.text = std::string(text);
    std::string_view rest = text;
    const bool qualified =
        rest.front() == '+' || rest.front() == '-' || rest.front() == '~' || rest.front() == '?';
    if (qualified) {
      term.qualifier = rest.front();
      rest.remove_prefix(1);
    }
    std::size_t name_bytes = 0;
    while (name_bytes < rest.size() &&
           (absl::ascii_isalnum(static_cast<unsigned char>(rest[name_bytes])) ||
            rest[name_bytes] == '-' || rest[name_bytes] == '_' || rest[name_bytes] == '.')) {
      ++name_bytes;
    }
    const std::string_view name = rest.substr(0, name_bytes);
    const std::string_view args = rest.substr(name_bytes);
    if (!qualified && !name.empty() && absl::ascii_isalpha(static_cast<unsigned char>(name[0])) &&
        !args.empty() && args.front() == '=') {
      // RFC 7208 6: modifiers; unknown ones are ignored (6, last paragraph).
      const bool is_redirect = equals_ignoring_case(name, "redirect");
      const bool is_exp = equals_ignoring_case(name, "exp");
      if ((is_redirect && redirect_seen) || (is_exp && exp_seen)) {
        error = cat("more than one ", lower(name), "= modifier");
        return false;
      }
      redirect_seen = redirect_seen || is_redirect;
      exp_seen = exp_seen || is_exp;
      if (is_redirect && !parse_domain_spec(args.substr(1), out.redirect, out.redirect_macro)) {
        error = cat("malformed term ", text);
        return false;
      }
      continue;
    }
    if (!parse_mechanism(name, args, term)) {
      error = cat("malformed or unknown term ", text);
      return false;
    }
    out.terms.push_back(std::move(term));
  }
}

// RFC 7208 4.3: a domain check_host can start from: labels of 1 to 63 octets, at least two.
bool valid_domain(std::string_view domain) {
  if (domain.empty() || domain.size() > 253 || domain.find('.') == std::string_view::npos) {
    return false;
  }
  std::size_t label_bytes = 0;
  for (char c : domain) {
    if (c == '.') {
      if (label_bytes == 0) return false;
      label_bytes = 0;
    } else if (++label_bytes > 63) {
      return false;
    }
  }
  return label_bytes > 0;
}

const std::uint8_t* ip_bytes(const dns::SocketAddress& address) {
  if (address.storage.ss_family == AF_INET) {
    return reinterpret_cast<const std::uint8_t*>(
        &reinterpret_cast<const sockaddr_in&>(address.storage).sin_addr);
  }
  return reinterpret_cast<const std::uint8_t*>(
      &reinterpret_cast<const sockaddr_in6&>(address.storage).sin6_addr);
}

// Whether `ip` lies in `network`/`prefix_bits` (same family only).
bool in_network(const dns::SocketAddress& ip, const dns::SocketAddress& network,
                std::uint32_t prefix_bits) {
  if (ip.storage.ss_family != network.storage.ss_family) return false;
  HAYATE_ASSERT(prefix_bits <= (ip.storage.ss_family == AF_INET ? 32u : 128u));
  const std::uint8_t* a = ip_bytes(ip);
  const std::uint8_t* b = ip_bytes(network);
  const std::uint32_t whole_bytes = prefix_bits / 8;
  if (std::memcmp(a, b, whole_bytes) != 0) return false;
  const std::uint32_t rest_bits = prefix_bits % 8;
  if (rest_bits == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest_bits));
  return (a[whole_bytes] & mask) == (b[whole_bytes] & mask);
}

// One check_host() run with its counters.
class Evaluation {
 public:
  Evaluation(const dns::SocketAddress& ip, DnsLookups& lookups, SpfVerdict& verdict)
      : ip_(ip), lookups_(lookups), verdict_(verdict) {}

  // RFC 7208 4: the result for `domain`, with its reason.
  void check_host(const std::string& domain, std::uint32_t depth, SpfResult& result,
                  std::string& reason);

 private:
  enum class Match : std::uint8_t { no, yes, error };  // error: result and reason are set

  Match evaluate(const Term& term, const std::string& domain, std::uint32_t depth,
                 SpfResult& result, std::string& reason);
  Match match_hosts(const Term& term, const std::string& target, SpfResult& result,
                    std::string& reason);
  bool matches_any(const std::vector<dns::SocketAddress>& addresses, const Term& term) const;
  bool count_lookup(SpfResult& result, std::string& reason);
  bool count_void(const std::string& target, SpfResult& result, std::string& reason);

  const dns::SocketAddress& ip_;
  DnsLookups& lookups_;
  SpfVerdict& verdict_;
  std::uint32_t void_lookups_ = 0;
};

void Evaluation::check_host(const std::string& domain, std::uint32_t depth, SpfResult& result,
                            std::string& reason) {
  // Each nesting costs a counted lookup (include, redirect), so the limit bounds the depth.
  HAYATE_ASSERT(depth <= spf_dns_lookups_max + 1);
  if (!valid_domain(domain)) {
    result = SpfResult::none;
    reason = cat(domain, " is not a valid domain name");
    return;
  }
  const dns::TxtAnswer* txt = lookups_.txt(domain);
  if (txt == nullptr) {
    verdict_.complete = false;
    result = SpfResult::temperror;
    reason = cat("the TXT records of ", domain, " are not known yet");
    return;
  }
  if (txt->outcome == dns::Outcome::temporary) {
    result = SpfResult::temperror;
    reason = cat("could not look up the TXT records of ", domain, ": ", txt->error);
    return;
  }
  std::string text;
  const std::size_t records =
      txt->outcome == dns::Outcome::ok ? select_spf_record(txt->records, text) : 0;
  if (records != 1) {
    result = records == 0 ? SpfResult::none : SpfResult::permerror;
    reason = records == 0 ? cat(domain, " has no SPF record")
                          : cat(domain, " has ", records, " SPF records (RFC 7208 4.5: one)");
    return;
  }
  Record record;
  std::string error;
  if (!parse_record(text, record, error)) {
    result = SpfResult::permerror;
    reason = cat("the SPF record of ", domain, " has a ", error);
    return;
  }
  for (const Term& term : record.terms) {
    const Match match = evaluate(term, domain, depth, result, reason);
    if (match == Match::error) return;
    if (match == Match::yes) {
      result = result_of(term.qualifier);
      reason = cat(term.text, " in ", domain);
      return;
    }
  }
  if (record.redirect.empty()) {
    // RFC 7208 4.7: no match and no redirect: neutral.
    result = SpfResult::neutral;
    reason = cat("no mechanism of ", domain, " matched (the default is neutral)");
    return;
  }
  if (!count_lookup(result, reason)) return;
  if (record.redirect_macro) {
    verdict_.not_evaluated.push_back(cat("redirect=", record.redirect, " in ", domain));
    result = SpfResult::neutral;
    reason = cat("redirect=", record.redirect, " in ", domain, " has a macro, not evaluated");
    return;
  }
  check_host(record.redirect, depth + 1, result, reason);
  // RFC 7208 6.1: a redirect to a domain without a record is a permerror.
  if (result == SpfResult::none) result = SpfResult::permerror;
  reason = cat("redirect=", record.redirect, " in ", domain, ": ", reason);
}

Evaluation::Match Evaluation::evaluate(const Term& term, const std::string& domain,
                                       std::uint32_t depth, SpfResult& result,
                                       std::string& reason) {
  const std::string& target = term.domain.empty() ? domain : term.domain;
  switch (term.kind) {
    case TermKind::all:
      return Match::yes;
    case TermKind::ip4:
      return in_network(ip_, term.network, term.cidr4_bits) ? Match::yes : Match::no;
    case TermKind::ip6:
      return in_network(ip_, term.network, term.cidr6_bits) ? Match::yes : Match::no;
    default:
      break;
  }
  if (!count_lookup(result, reason)) return Match::error;
  if (term.macro || term.kind == TermKind::ptr || term.kind == TermKind::exists) {
    verdict_.not_evaluated.push_back(cat(term.text, " in ", domain));
    return Match::no;
  }
  if (term.kind == TermKind::a || term.kind == TermKind::mx) {
    return match_hosts(term, target, result, reason);
  }
  HAYATE_ASSERT(term.kind == TermKind::include);
  SpfResult included = SpfResult::none;
  std::string included_reason;
  check_host(target, depth + 1, included, included_reason);
  switch (included) {  // RFC 7208 5.2
    case SpfResult::pass:
      return Match::yes;
    case SpfResult::fail:
    case SpfResult::softfail:
    case SpfResult::neutral:
      return Match::no;
    case SpfResult::temperror:
      if (!verdict_.complete) return Match::no;  // an answer is missing: go on gathering
      result = SpfResult::temperror;
      break;
    case SpfResult::none:
    case SpfResult::permerror:
      result = SpfResult::permerror;
      break;
  }
  reason = cat(term.text, " in ", domain, ": ", included_reason);
  return Match::error;
}

// a and mx (RFC 7208 5.3, 5.4): the addresses of the target, or of its MX hosts (no implicit
// MX: a domain without MX records matches nothing).
Evaluation::Match Evaluation::match_hosts(const Term& term, const std::string& target,
                                          SpfResult& result, std::string& reason) {
  if (term.kind == TermKind::a) {
    const dns::HostAnswer* answer = lookups_.host(target);
    if (answer == nullptr) {
      verdict_.complete = false;
      return Match::no;
    }
    if (answer->outcome == dns::Outcome::temporary) {
      result = SpfResult::temperror;
      reason =
          cat("could not look up the addresses of ", target, " (", term.text, "): ", answer->error);
      return Match::error;
    }
    if (answer->outcome != dns::Outcome::ok || answer->addresses.empty()) {
      return count_void(target, result, reason) ? Match::no : Match::error;
    }
    return matches_any(answer->addresses, term) ? Match::yes : Match::no;
  }
  const dns::MxAnswer* answer = lookups_.mx(target);
  if (answer == nullptr) {
    verdict_.complete = false;
    return Match::no;
  }
  if (answer->outcome == dns::Outcome::temporary) {
    result = SpfResult::temperror;
    reason = cat("could not look up the MX of ", target, " (", term.text, "): ", answer->error);
    return Match::error;
  }
  if (answer->outcome != dns::Outcome::ok || answer->implicit) {
    return count_void(target, result, reason) ? Match::no : Match::error;
  }
  if (answer->hosts.size() > spf_mx_names_max) {
    result = SpfResult::permerror;
    reason = cat(target, " has more than ", spf_mx_names_max, " MX hosts (", term.text, ")");
    return Match::error;
  }
  for (const dns::MxHost& host : answer->hosts) {
    if (matches_any(host.addresses, term)) return Match::yes;
  }
  return Match::no;
}

bool Evaluation::matches_any(const std::vector<dns::SocketAddress>& addresses,
                             const Term& term) const {
  const std::uint32_t bits = ip_.storage.ss_family == AF_INET ? term.cidr4_bits : term.cidr6_bits;
  for (const dns::SocketAddress& address : addresses) {
    if (in_network(ip_, address, bits)) return true;
  }
  return false;
}

bool Evaluation::count_lookup(SpfResult& result, std::string& reason) {
  if (++verdict_.dns_lookups <= spf_dns_lookups_max) return true;
  result = SpfResult::permerror;
  reason = cat("more than ", spf_dns_lookups_max, " DNS lookups (RFC 7208 4.6.4)");
  return false;
}

bool Evaluation::count_void(const std::string& target, SpfResult& result, std::string& reason) {
  if (++void_lookups_ <= spf_void_lookups_max) return true;
  result = SpfResult::permerror;
  reason = cat("more than ", spf_void_lookups_max, " lookups found nothing, the last for ", target,
               " (RFC 7208 4.6.4)");
  return false;
}

}  // namespace

std::string_view spf_result_name(SpfResult result) {
  switch (result) {
    case SpfResult::none:
      return "none";
    case SpfResult::neutral:
      return "neutral";
    case SpfResult::pass:
      return "pass";
    case SpfResult::fail:
      return "fail";
    case SpfResult::softfail:
      return "softfail";
    case SpfResult::temperror:
      return "temperror";
    case SpfResult::permerror:
      return "permerror";
  }
  return "?";
}

std::size_t select_spf_record(const std::vector<std::string>& txt_records, std::string& record) {
  std::size_t count = 0;
  for (const std::string& text : txt_records) {
    if (!starts_with_ignoring_case(text, "v=spf1")) continue;
    if (text.size() > 6 && text[6] != ' ') continue;
    if (++count == 1) record = text;
  }
  if (count != 1) record.clear();
  return count;
}

SpfVerdict check_spf_host(const dns::SocketAddress& ip, std::string_view domain,
                          DnsLookups& lookups) {
  SpfVerdict verdict;
  Evaluation evaluation(ip, lookups, verdict);
  evaluation.check_host(dns_question_name(domain), 0, verdict.result, verdict.reason);
  HAYATE_ASSERT(verdict.dns_lookups <= spf_dns_lookups_max + 1);
  return verdict;
}

}  // namespace hayate::campaign::run
