// The fault modes of hayate-sink and the server hooks that carry them out (see fault.h).
#include "tools/sink/fault.h"

#include <array>
#include <string>

#include "engine/strings.h"

namespace hayate::sink {
namespace {

struct Prefix {
  std::string_view text;
  RcptFault fault;
};

// Longest first where one prefix starts another ("datatempfail" before "datafail").
constexpr std::array<Prefix, 9> kFaultPrefixes = {{
    {"datatempfail", RcptFault::datatempfail},
    {"datafail", RcptFault::datafail},
    {"tempfail", RcptFault::tempfail},
    {"bounce", RcptFault::bounce},
    {"slow", RcptFault::slow},
    {"disconnect", RcptFault::disconnect},
    {"garbage", RcptFault::garbage},
    {"flaky", RcptFault::flaky},
    {"dotdrop", RcptFault::dotdrop},
}};

}  // namespace

RcptFault classify_recipient(std::string_view path) {
  const std::size_t at = path.rfind('@');
  std::string_view local = path.substr(0, at);
  if (!local.empty() && local.front() == '"') local.remove_prefix(1);
  for (const Prefix& prefix : kFaultPrefixes) {
    if (starts_with_ignoring_case(local, prefix.text)) return prefix.fault;
  }
  return RcptFault::none;
}

using smtp::server::Verdict;

Verdict FaultPolicy::check_recipient(const smtp::server::Envelope&, std::string_view recipient) {
  switch (classify_recipient(recipient)) {
    case RcptFault::none:
    case RcptFault::datafail:  // decided at the end of DATA (FaultStore)
    case RcptFault::datatempfail:
    case RcptFault::dotdrop:
      return Verdict::accept();
    case RcptFault::tempfail:
      stats_.add(Counter::rcpt_tempfail);
      return Verdict::reject(451, "4.3.0", "Try again later");
    case RcptFault::bounce:
      stats_.add(Counter::rcpt_bounce);
      return Verdict::reject(550, "5.1.1", "User unknown");
    case RcptFault::garbage:
      stats_.add(Counter::rcpt_garbage);
      return Verdict::raw("HELLO THIS IS NOT SMTP\r\n");
    case RcptFault::disconnect:
      stats_.add(Counter::rcpt_disconnect);
      return Verdict::disconnect();
    case RcptFault::slow:
      // Accepted now; the 250 goes out after the delay, and every later reply waits behind it.
      stats_.add(Counter::rcpt_slow);
      return Verdict::accept().delayed(config_.slow_ms);
    case RcptFault::flaky:
      switch (flaky_.record(recipient)) {
        case FlakySet::Attempt::first:
          stats_.add(Counter::rcpt_flaky);
          return Verdict::reject(451, "4.3.0", "Try again later");
        case FlakySet::Attempt::untracked:
          stats_.add(Counter::rcpt_flaky_untracked);
          return Verdict::accept();
        case FlakySet::Attempt::repeated:
          return Verdict::accept();
      }
  }
  return Verdict::accept();
}

Verdict FaultStore::store(const smtp::server::ReceivedMessage& message) {
  bool fail = false;
  bool tempfail = false;
  bool drop = false;
  for (const std::string& recipient : message.recipients) {
    const RcptFault fault = classify_recipient(recipient);
    fail = fail || fault == RcptFault::datafail;
    tempfail = tempfail || fault == RcptFault::datatempfail;
    drop = drop || fault == RcptFault::dotdrop;
  }
  if (drop) {  // RFC 1047: the message arrived, its reply never will
    stats_.add(Counter::data_dotdrop);
    return Verdict::disconnect();
  }
  if (fail) {  // a permanent failure wins over a temporary one
    stats_.add(Counter::data_fail);
    return Verdict::reject(554, "5.6.0", "Message rejected");
  }
  if (tempfail) {
    stats_.add(Counter::data_tempfail);
    return Verdict::reject(451, "4.3.0", "Try again later");
  }
  if (keeper_ != nullptr && !keeper_->keep(message).ok()) {
    stats_.add(Counter::data_store_failed);
    return Verdict::reject(451, "4.3.0", "Local error writing message");
  }
  return Verdict::accept();
}

}  // namespace hayate::sink
