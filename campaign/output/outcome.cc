// Names of outcome types and stages, as deliveries.jsonl writes them.
#include "campaign/output/outcome.h"

#include "engine/assert.h"
#include "engine/smtp/client_session.h"

namespace hayate::campaign::inline output {

const char* outcome_type_name(OutcomeType type) {
  switch (type) {
    case OutcomeType::delivered: return "delivered";
    case OutcomeType::deferred: return "deferred";
    case OutcomeType::bounced: return "bounced";
    case OutcomeType::rejected: return "rejected";
    case OutcomeType::suppressed: return "suppressed";
  }
  return "unknown";
}

std::string_view stage_name(Stage stage) {
  switch (stage) {
    case Stage::input: return "input";
    case Stage::suppression: return "suppression";
    case Stage::dns: return "dns";
    case Stage::connect: return "connect";
    case Stage::greeting: return "greeting";
    case Stage::ehlo: return "ehlo";
    case Stage::helo: return "helo";
    case Stage::starttls: return "starttls";
    case Stage::tls: return "tls";
    case Stage::auth: return "auth";
    case Stage::mail: return "mail";
    case Stage::rcpt: return "rcpt";
    case Stage::data: return "data";
    case Stage::body: return "body";
    case Stage::rset: return "rset";
    case Stage::quit: return "quit";
    case Stage::expired: return "expired";
    case Stage::retry: return "retry";
    case Stage::aborted: return "aborted";
  }
  return "unknown";
}

Stage stage_of(smtp::Stage stage) {
  switch (stage) {
    case smtp::Stage::connect: return Stage::connect;
    case smtp::Stage::greeting: return Stage::greeting;
    case smtp::Stage::ehlo: return Stage::ehlo;
    case smtp::Stage::helo: return Stage::helo;
    case smtp::Stage::starttls: return Stage::starttls;
    case smtp::Stage::tls: return Stage::tls;
    case smtp::Stage::auth: return Stage::auth;
    case smtp::Stage::mail: return Stage::mail;
    case smtp::Stage::rcpt: return Stage::rcpt;
    case smtp::Stage::data: return Stage::data;
    case smtp::Stage::body: return Stage::body;
    case smtp::Stage::rset: return Stage::rset;
    case smtp::Stage::quit: return Stage::quit;
  }
  HAYATE_ASSERT(false);
  return Stage::connect;
}

}  // namespace hayate::campaign::output
