// Recipient fault modes of hayate-sink (see fault.h).
#include "tools/sink/fault.h"

#include <array>

#include "engine/smtp/server/command.h"

namespace hayate::sink {
namespace {

struct Prefix {
  std::string_view text;
  RcptFault fault;
};

// Longest first where one prefix starts another ("datatempfail" before "datafail").
constexpr std::array<Prefix, 8> kFaultPrefixes = {{
    {"datatempfail", RcptFault::datatempfail},
    {"datafail", RcptFault::datafail},
    {"tempfail", RcptFault::tempfail},
    {"bounce", RcptFault::bounce},
    {"slow", RcptFault::slow},
    {"disconnect", RcptFault::disconnect},
    {"garbage", RcptFault::garbage},
    {"flaky", RcptFault::flaky},
}};

}  // namespace

RcptFault classify_recipient(std::string_view path) {
  const std::size_t at = path.rfind('@');
  std::string_view local = path.substr(0, at);
  if (!local.empty() && local.front() == '"') local.remove_prefix(1);
  for (const Prefix& prefix : kFaultPrefixes) {
    if (smtp::server::starts_with_ignoring_case(local, prefix.text)) return prefix.fault;
  }
  return RcptFault::none;
}

std::string_view fault_name(RcptFault fault) {
  switch (fault) {
    case RcptFault::none:
      return "none";
    case RcptFault::tempfail:
      return "tempfail";
    case RcptFault::bounce:
      return "bounce";
    case RcptFault::datafail:
      return "datafail";
    case RcptFault::datatempfail:
      return "datatempfail";
    case RcptFault::slow:
      return "slow";
    case RcptFault::disconnect:
      return "disconnect";
    case RcptFault::garbage:
      return "garbage";
    case RcptFault::flaky:
      return "flaky";
  }
  return "unknown";
}

}  // namespace hayate::sink
