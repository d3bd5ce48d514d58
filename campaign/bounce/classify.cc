// Bounce classification (see classify.h): Sisimai 5's order of reasons over the phrases of
// phrases.h (RE2 sets compiled once: the common wording, and one per large provider), matched
// over the lowered diagnostic text, and RFC 3463's codes.
#include "campaign/bounce/classify.h"

#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "campaign/bounce/phrases.h"
#include "engine/assert.h"
#include "engine/strings.h"
#include "re2/re2.h"
#include "re2/set.h"

namespace hayate::campaign::inline bounce {
namespace {

// How much of a diagnostic is read: the reason is in the first lines; a bounce that pastes
// a whole transcript must not make classification slow.
constexpr std::size_t kTextBytesMax = 2048;

static_assert(reason_count <= 64, "a reason is one bit of a 64-bit mask");
using ReasonMask = std::uint64_t;
constexpr ReasonMask bit(Reason reason) { return ReasonMask{1} << static_cast<unsigned>(reason); }

// The phrase table as RE2 sets: one of the wording any server may use (Provider::none and
// ::mta), matched over every text, and one per provider, matched only over that provider's
// replies: most replies come from no large provider and pay for the common set alone.
struct PhraseSet {
  std::unique_ptr<re2::RE2::Set> set;
  std::vector<std::size_t> rows;  // the table row of each pattern, in the set's order
};

PhraseSet compile_phrases(Provider provider) {
  re2::RE2::Options options;
  options.set_encoding(re2::RE2::Options::EncodingLatin1);  // bytes: odd charsets never fail
  options.set_case_sensitive(true);                         // the text is lowered first
  options.set_log_errors(false);
  options.set_max_mem(256 << 20);
  PhraseSet compiled;
  compiled.set = std::make_unique<re2::RE2::Set>(options, re2::RE2::UNANCHORED);
  const std::span<const Phrase> table = phrase_table();
  for (std::size_t row = 0; row < table.size(); ++row) {
    const bool common =
        table[row].provider == Provider::none || table[row].provider == Provider::mta;
    if (provider == Provider::none ? !common : table[row].provider != provider) continue;
    std::string error;
    const int index = compiled.set->Add(table[row].pattern, &error);
    HAYATE_ASSERT(index >= 0);  // a pattern that does not compile is a bug in the table
    compiled.rows.push_back(row);
  }
  HAYATE_ASSERT(compiled.rows.empty() || compiled.set->Compile());
  return compiled;
}

constexpr std::size_t kProviders = static_cast<std::size_t>(Provider::zoho) + 1;

const std::array<PhraseSet, kProviders>& phrase_sets() {
  static const std::array<PhraseSet, kProviders> sets = [] {
    std::array<PhraseSet, kProviders> all;
    for (std::size_t i = 0; i < kProviders; ++i) {
      if (static_cast<Provider>(i) != Provider::mta)
        all[i] = compile_phrases(static_cast<Provider>(i));
    }
    return all;
  }();
  return sets;
}

// The rows of `compiled` that match `normalized`, as table rows.
void match_rows(const PhraseSet& compiled, std::string_view normalized,
                std::vector<std::size_t>& rows) {
  if (compiled.rows.empty()) return;
  thread_local std::vector<int> matches;
  matches.clear();
  if (!compiled.set->Match(normalized, &matches)) return;
  for (int index : matches) {
    HAYATE_ASSERT(index >= 0 && static_cast<std::size_t>(index) < compiled.rows.size());
    rows.push_back(compiled.rows[static_cast<std::size_t>(index)]);
  }
}

// What the text says: every reason some generic phrase names, and the first matching rule of
// `provider` (undefined when none).
struct TextSays {
  ReasonMask generic = 0;
  Reason provider = Reason::undefined;
  Reason mta = Reason::undefined;  // an MTA's own fixed wording (Provider::mta)
};

TextSays text_says(std::string_view normalized, Provider provider) {
  TextSays says;
  if (normalized.empty()) return says;
  thread_local std::vector<std::size_t> rows;
  rows.clear();
  const auto& sets = phrase_sets();
  match_rows(sets[0], normalized, rows);
  if (provider != Provider::none)
    match_rows(sets[static_cast<std::size_t>(provider)], normalized, rows);
  const std::span<const Phrase> table = phrase_table();
  std::size_t first_provider_rule = table.size();
  std::size_t first_mta_rule = table.size();
  for (std::size_t row : rows) {
    const Phrase& phrase = table[row];
    if (phrase.provider == Provider::none) {
      says.generic |= bit(phrase.reason);
    } else if (phrase.provider == Provider::mta) {
      first_mta_rule = std::min(first_mta_rule, row);
    } else if (phrase.provider == provider) {
      first_provider_rule = std::min(first_provider_rule, row);
    }
  }
  if (first_mta_rule < table.size()) says.mta = table[first_mta_rule].reason;
  if (first_provider_rule < table.size()) says.provider = table[first_provider_rule].reason;
  return says;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 3463 (and RFC 7372, 7505, 8689) codes: the reason each names, as Sisimai 5 reads them;
// undefined for the codes that name none ("other or undefined", X.4.0...).
Reason status_reason(const smtp::EnhancedCode& code) {
  const bool temporary = code.klass == 4;
  if (code.klass == 2) return Reason::delivered;
  switch (code.subject * 1000 + code.detail) {
    case 1000:
    case 1001:
    case 1003:
      return Reason::userunknown;
    case 1002:
      return Reason::hostunknown;
    case 1004:
      return temporary ? Reason::undefined : Reason::filtered;
    case 1006:
      return Reason::hasmoved;
    case 1007:
    case 1008:
      return Reason::rejected;
    case 1009:
      return Reason::systemerror;
    case 1010:
      return Reason::notaccept;
    case 2000:
      return temporary ? Reason::undefined : Reason::filtered;
    case 2001:
      return temporary ? Reason::blocked : Reason::filtered;
    case 2002:
      return Reason::mailboxfull;
    case 2003:
      return Reason::mesgtoobig;
    case 2004:
      return Reason::filtered;
    case 3000:
      return temporary ? Reason::undefined : Reason::systemerror;
    case 3001:
      return Reason::systemfull;
    case 3002:
      return Reason::notaccept;
    case 3003:
    case 3005:
      return Reason::systemerror;
    case 3004:
      return Reason::mesgtoobig;
    case 4000:
      return temporary ? Reason::undefined : Reason::networkerror;
    case 4001:
    case 4007:
      return temporary ? Reason::expired : Reason::undefined;
    case 4002:
    case 4006:
    case 4008:
      return Reason::networkerror;
    case 4004:
      return temporary ? Reason::networkerror : Reason::hostunknown;
    case 4003:
      return Reason::systemerror;
    case 4005:
      return Reason::systemfull;
    case 5002:
    case 5006:
      return Reason::syntaxerror;
    case 5003:
      return temporary ? Reason::systemerror : Reason::toomanyconn;
    case 5004:
    case 5005:
      return Reason::systemerror;
    case 7001:
    case 7002:
      return temporary ? Reason::blocked : Reason::securityerror;
    case 7013:
      return Reason::suspend;
    case 7016:
      return Reason::mesgtoobig;
    case 7017:
    case 7018:
      return Reason::hasmoved;
    case 7020:
    case 7021:
    case 7022:
    case 7023:
    case 7024:
    case 7026:
    case 7029:
      return Reason::authfailure;
    case 7025:
      return Reason::requireptr;
    case 7027:
      return Reason::notaccept;
    case 7028:
      return Reason::spamdetected;
    case 7030:
      return Reason::failedstarttls;
    default:
      break;
  }
  if (code.subject == 6 && code.detail != 4) return Reason::contenterror;
  if (code.subject == 7 && code.detail <= 19 && code.detail != 0 && !temporary) {
    return Reason::securityerror;
  }
  if (code.subject == 7 && (code.detail == 5 || code.detail == 6 || code.detail == 7 ||
                            code.detail == 12 || code.detail == 15)) {
    return Reason::securityerror;
  }
  return Reason::undefined;
}

// RFC 5321 4.2.3: what a bare reply code says.
Reason reply_code_reason(std::uint16_t code) {
  switch (code) {
    case 421:
      return Reason::systemerror;
    case 451:
      return Reason::systemerror;
    case 452:
      return Reason::systemfull;
    case 500:
    case 501:
    case 502:
    case 503:
    case 504:
      return Reason::syntaxerror;
    case 551:
      return Reason::hasmoved;
    case 552:
      return Reason::mailboxfull;
    case 523:  // some appliances for "message too big"
      return Reason::mesgtoobig;
    case 571:
      return Reason::blocked;
    default:
      return Reason::undefined;
  }
}

// The canonical subject.detail for a reason whose status was not given.
smtp::EnhancedCode derived_status(Reason reason, std::uint8_t klass) {
  auto code = [klass](std::uint16_t subject, std::uint16_t detail) {
    return smtp::EnhancedCode{klass, subject, detail};
  };
  switch (reason) {
    case Reason::userunknown:
      return code(1, 1);
    case Reason::hostunknown:
      return code(1, 2);
    case Reason::hasmoved:
      return code(1, 6);
    case Reason::notaccept:
      return code(1, 10);
    case Reason::mailboxfull:
      return code(2, 2);
    case Reason::suspend:
      return code(2, 1);
    case Reason::mesgtoobig:
      return code(3, 4);
    case Reason::systemfull:
      return code(3, 1);
    case Reason::expired:
      return code(4, 7);
    case Reason::networkerror:
      return code(4, 0);
    case Reason::norelaying:
      return code(7, 1);
    case Reason::delivered:
      return smtp::EnhancedCode{2, 0, 0};
    default:
      return code(0, 0);
  }
}

// Lower-cases ASCII and folds runs of whitespace into one space, at most kTextBytesMax bytes.
std::size_t normalize(std::string_view text, char* out) {
  std::size_t size = 0;
  bool space = true;  // drops leading whitespace
  for (char c : text) {
    if (size == kTextBytesMax) break;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (!space) out[size++] = ' ';
      space = true;
      continue;
    }
    space = false;
    out[size++] = lower(c);
  }
  HAYATE_ASSERT(size <= kTextBytesMax);
  return size;
}

// "temporar..."/"persistent" or "permanent" in the text: the class a bounce without codes has.
std::uint8_t class_from_text(std::string_view normalized) {
  if (normalized.find("temporar") != std::string_view::npos ||
      normalized.find("persistent") != std::string_view::npos) {
    return 4;
  }
  return 5;
}

// Reasons a format's own verdict or a status may name that a closer look at the text refines
// (Sisimai's "retry" set).
bool refinable(Reason reason) {
  switch (reason) {
    case Reason::undefined:
    case Reason::onhold:
    case Reason::systemerror:
    case Reason::securityerror:
    case Reason::expired:
    case Reason::networkerror:
    case Reason::hostunknown:
    case Reason::userunknown:
      return true;
    default:
      return false;
  }
}

// The commands before DATA: refusals there are not about the message's content.
bool before_data(SmtpCommand command) {
  return command == SmtpCommand::connect || command == SmtpCommand::helo ||
         command == SmtpCommand::mail || command == SmtpCommand::rcpt;
}

// "Sender rejected" words count when the refusal came at MAIL FROM, or after DATA for a
// recipient the status does not call unknown, or when the status names nothing specific.
bool says_rejected(const TextSays& says, Reason named, SmtpCommand command) {
  if ((says.generic & bit(Reason::rejected)) == 0) return false;
  if (command == SmtpCommand::mail) return true;
  if (command == SmtpCommand::data) return named != Reason::userunknown;
  return is_unknown(named) || named == Reason::securityerror || named == Reason::systemerror;
}

// Sisimai's first order: the first reason the status names or the text says.
constexpr Reason kFirstOrder[] = {
    Reason::mailboxfull, Reason::mesgtoobig,      Reason::suspend,       Reason::hasmoved,
    Reason::norelaying,  Reason::authfailure,     Reason::userunknown,   Reason::filtered,
    Reason::requireptr,  Reason::notcompliantrfc, Reason::badreputation, Reason::contenterror,
    Reason::rejected,    Reason::hostunknown,     Reason::spamdetected,  Reason::ratelimited,
    Reason::toomanyconn, Reason::blocked,
};
// The second: what the text alone says when the status names nothing specific.
constexpr Reason kSecondOrder[] = {
    Reason::mailboxfull,   Reason::authfailure,   Reason::badreputation,   Reason::ratelimited,
    Reason::spamdetected,  Reason::virusdetected, Reason::policyviolation, Reason::norelaying,
    Reason::systemerror,   Reason::networkerror,  Reason::suspend,         Reason::contenterror,
    Reason::systemfull,    Reason::notaccept,     Reason::expired,         Reason::failedstarttls,
    Reason::securityerror, Reason::suppressed,    Reason::mailererror,
};

// userunknown needs more than the words: a status that says so, unless the text says the
// refusal was about relaying, a block, a full mailbox, a move, the sender or a host that takes
// no mail; or the words said in reply to RCPT TO.
bool says_userunknown(const TextSays& says, Reason named, SmtpCommand command) {
  // Refused at MAIL FROM, before any recipient was named: about the sender, not a mailbox.
  if (named == Reason::suspend || command == SmtpCommand::mail) return false;
  constexpr ReasonMask kOverrides = bit(Reason::norelaying) | bit(Reason::blocked) |
                                    bit(Reason::mailboxfull) | bit(Reason::hasmoved) |
                                    bit(Reason::rejected) | bit(Reason::notaccept);
  if (named == Reason::userunknown) return (says.generic & kOverrides) == 0;
  return command == SmtpCommand::rcpt && (says.generic & bit(Reason::userunknown)) != 0;
}

// "User unknown" words not said in reply to RCPT TO (after DATA, or a report that does not
// say when) come from a filter that takes the recipient and refuses the message: filtered, as
// Sisimai has it, so that second-hand words never suppress an address for good.
bool says_filtered(const TextSays& says, Reason named, SmtpCommand command) {
  if (named == Reason::suspend) return false;
  constexpr ReasonMask kWords = bit(Reason::filtered) | bit(Reason::userunknown);
  if (named == Reason::filtered || (says.generic & bit(Reason::filtered)) != 0) {
    return (says.generic & kWords) != 0;
  }
  if (command == SmtpCommand::rcpt || command == SmtpCommand::mail) return false;
  if (named != Reason::undefined && named != Reason::userunknown) return false;
  return (says.generic & kWords) != 0;
}

// `hint`: what the report's format or an MTA's fixed wording says; a hint Sisimai lets a
// closer look refine (userunknown, expired...) counts as one more true reason in the first
// order, and stands when no other is; any other hint decides.
Reason decide(const TextSays& says, Reason named, SmtpCommand command, Reason hint) {
  // A provider's "unknown user" yields to a status that says the mailbox refused (docomo's
  // 5.2.0 for a recipient's filter).
  const bool status_refused = named == Reason::filtered || named == Reason::suspend;
  if (says.provider != Reason::undefined &&
      !(says.provider == Reason::userunknown && status_refused)) {
    return says.provider;
  }
  if (hint == Reason::undefined) hint = says.mta;
  if (hint != Reason::undefined && !refinable(hint)) return hint;
  for (Reason reason : kFirstOrder) {
    bool yes = named == reason || (says.generic & bit(reason)) != 0;
    if (reason == Reason::userunknown) yes = says_userunknown(says, named, command);
    if (reason == Reason::filtered) yes = says_filtered(says, named, command);
    if (reason == Reason::rejected) yes = named == reason || says_rejected(says, named, command);
    if (reason == Reason::spamdetected || reason == Reason::contenterror) {
      // Spam is judged on content: not before DATA. Content errors yield to spam.
      yes = yes && !before_data(command);
      if (reason == Reason::contenterror && (says.generic & bit(Reason::spamdetected)) != 0 &&
          named != Reason::contenterror) {
        yes = false;
      }
    }
    if (reason == Reason::hostunknown && named == Reason::hostunknown &&
        (says.generic & bit(Reason::networkerror)) != 0) {
      yes = false;  // "5.4.4 ... host not found, try again": DNS trouble, not a missing domain
    }
    // "Not permitted to relay without authentication": the MTA's own word for it stands.
    if (reason == Reason::norelaying &&
        (hint == Reason::securityerror || hint == Reason::systemerror)) {
      yes = false;
    }
    if (yes || reason == hint) return reason;
  }
  if (hint != Reason::undefined) return hint;
  if (!refinable(named)) return named;
  for (Reason reason : kSecondOrder) {
    if ((says.generic & bit(reason)) == 0) continue;
    if (reason == Reason::virusdetected && before_data(command)) continue;
    return reason;
  }
  // Refused at MAIL FROM and no word says why: the sender was refused.
  if (command == SmtpCommand::mail && is_unknown(named)) return Reason::rejected;
  return named;
}

// When no word helps: the status class, the reply code, the command.
Reason last_resort(const smtp::EnhancedCode& given, std::uint16_t reply_code,
                   const Failure& failure) {
  if (given.present() && given.subject == 6) return Reason::contenterror;
  if (given.present() && given.subject == 7) return Reason::securityerror;
  if (starts_with_ignoring_case(failure.text, "x-unix")) return Reason::mailererror;
  if (reply_code == 525) return Reason::suspend;  // RFC 7504: user account disabled
  if (reply_code == 521 || reply_code == 556) return Reason::notaccept;  // RFC 7504
  if ((reply_code > 500 && reply_code <= 507) || (reply_code > 400 && reply_code <= 407)) {
    return Reason::syntaxerror;
  }
  if (failure.command == SmtpCommand::helo) return Reason::blocked;
  return reply_code_reason(reply_code);
}

}  // namespace

void prepare_classifier() { phrase_sets(); }

std::uint16_t find_reply_code(std::string_view text) {
  for (std::size_t i = 0; i + 3 <= text.size(); ++i) {
    const char c = text[i];
    if (c != '2' && c != '4' && c != '5') continue;
    if (!is_digit(text[i + 1]) || !is_digit(text[i + 2])) continue;
    if (text[i + 1] > '5') continue;
    if (i > 0) {
      const char before = text[i - 1];
      if (is_digit(before) || before == '.' || before == '-' || before == ':' ||
          (before >= 'a' && before <= 'z') || (before >= 'A' && before <= 'Z')) {
        continue;
      }
    }
    const std::size_t end = i + 3;
    if (end < text.size() && text[end] != ' ' && text[end] != '-' && text[end] != '\r' &&
        text[end] != '\n' && text[end] != '\t') {
      continue;
    }
    return static_cast<std::uint16_t>((c - '0') * 100 + (text[i + 1] - '0') * 10 +
                                      (text[i + 2] - '0'));
  }
  return 0;
}

Classification classify(std::uint16_t reply_code, std::string_view enhanced_status,
                        std::string_view diagnostic_text) {
  while (!enhanced_status.empty() && enhanced_status.front() == ' ')
    enhanced_status.remove_prefix(1);
  while (!enhanced_status.empty() && enhanced_status.back() == ' ')
    enhanced_status.remove_suffix(1);
  smtp::EnhancedCode given;
  if (!smtp::parse_enhanced_code(enhanced_status, given)) given = smtp::EnhancedCode{};
  return classify(reply_code, given, diagnostic_text);
}

Classification classify(std::uint16_t reply_code, smtp::EnhancedCode given,
                        std::string_view diagnostic_text) {
  Failure failure;
  failure.reply_code = reply_code;
  failure.status = given;
  failure.text = diagnostic_text;
  return classify(failure);
}

Classification classify(const Failure& failure) {
  smtp::EnhancedCode given = failure.status;
  const std::string_view head = failure.text.substr(0, kTextBytesMax);
  if (!given.present()) smtp::find_enhanced_code(head, given);
  std::uint16_t reply_code = failure.reply_code;
  if (reply_code < 200 || reply_code > 599) reply_code = 0;
  if (reply_code == 0) reply_code = find_reply_code(head);

  char buffer[kTextBytesMax];
  const std::string_view normalized(buffer, normalize(failure.text, buffer));

  // The class: the enhanced code's, else the reply code's, else the text's.
  std::uint8_t klass = given.klass;
  if (klass == 0 && reply_code != 0) klass = static_cast<std::uint8_t>(reply_code / 100);
  if (klass == 0 || klass == 3) klass = class_from_text(normalized);

  Provider provider = provider_of_domain(failure.recipient_domain);
  if (provider == Provider::none) provider = provider_of_host(failure.remote_host);
  const Reason named = given.present() ? status_reason(given) : Reason::undefined;
  Classification result;
  if (named == Reason::delivered) {
    result.reason = Reason::delivered;
  } else if (!is_unknown(failure.given) && !refinable(failure.given)) {
    result.reason = failure.given;
  } else {
    const TextSays says = text_says(normalized, provider);
    const Reason hint = is_unknown(failure.given) ? Reason::undefined : failure.given;
    result.reason = decide(says, named, failure.command, hint);
    if (is_unknown(result.reason) && !is_unknown(failure.given)) result.reason = failure.given;
    if (is_unknown(result.reason)) result.reason = last_resort(given, reply_code, failure);
    if (result.reason == Reason::undefined && !normalized.empty()) result.reason = Reason::onhold;
  }
  if (klass == 2 && result.reason != Reason::delivered) klass = 5;  // 2xx cannot be a failure
  if (result.reason == Reason::delivered) klass = 2;
  result.status =
      given.present() && given.klass == klass ? given : derived_status(result.reason, klass);
  result.hard = hard_by_default(result.reason) &&
                !(result.reason == Reason::notaccept && result.status.klass == 4);
  HAYATE_ASSERT(result.status.klass == 2 || result.status.klass == 4 || result.status.klass == 5);
  return result;
}

}  // namespace hayate::campaign::bounce
