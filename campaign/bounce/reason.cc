// The reason vocabulary's names and hard/soft defaults (see reason.h).
#include "campaign/bounce/reason.h"

#include <array>

#include "engine/assert.h"

namespace hayate::campaign::inline bounce {
namespace {

constexpr std::array<std::string_view, reason_count> kNames = {
    "undefined",     "userunknown",     "mailboxfull",    "hostunknown",   "hasmoved",
    "notaccept",     "blocked",         "spamdetected",   "virusdetected", "policyviolation",
    "rejected",      "securityerror",   "failedstarttls", "authfailure",   "requireptr",
    "badreputation", "toomanyconn",     "speeding",       "ratelimited",   "mesgtoobig",
    "contenterror",  "notcompliantrfc", "systemerror",    "systemfull",    "networkerror",
    "expired",       "suspend",         "norelaying",     "syntaxerror",   "mailererror",
    "onhold",        "filtered",        "suppressed",     "feedback",      "vacation",
    "delivered",
};

}  // namespace

std::string_view to_string(Reason reason) {
  const auto index = static_cast<std::size_t>(reason);
  HAYATE_ASSERT(index < kNames.size());
  return kNames[index];
}

std::optional<Reason> parse_reason(std::string_view word) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == word) return static_cast<Reason>(i);
  }
  return std::nullopt;
}

bool hard_by_default(Reason reason) {
  switch (reason) {
    case Reason::userunknown:
    case Reason::hostunknown:
    case Reason::hasmoved:
    case Reason::notaccept:
      return true;
    default:
      return false;
  }
}

bool is_failure(Reason reason) {
  return reason != Reason::feedback && reason != Reason::vacation && reason != Reason::delivered;
}

}  // namespace hayate::campaign::bounce
