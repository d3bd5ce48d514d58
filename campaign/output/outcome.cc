// Names of outcome types and stages, as deliveries.jsonl writes them.
#include "campaign/output/outcome.h"

#include "engine/assert.h"
#include "engine/smtp/client_session.h"

namespace hayate::campaign::inline output {

const char* outcome_type_name(OutcomeType type) {
  switch (type) {
    case OutcomeType::delivered:
      return "delivered";
    case OutcomeType::deferred:
      return "deferred";
    case OutcomeType::bounced:
      return "bounced";
    case OutcomeType::rejected:
      return "rejected";
    case OutcomeType::suppressed:
      return "suppressed";
  }
  return "unknown";
}

// The SMTP stages keep the client session's values, so that its names serve for both.
#define HAYATE_SAME_STAGE(name) \
  static_assert(static_cast<int>(Stage::name) == static_cast<int>(smtp::Stage::name))
HAYATE_SAME_STAGE(connect);
HAYATE_SAME_STAGE(greeting);
HAYATE_SAME_STAGE(ehlo);
HAYATE_SAME_STAGE(helo);
HAYATE_SAME_STAGE(starttls);
HAYATE_SAME_STAGE(tls);
HAYATE_SAME_STAGE(auth);
HAYATE_SAME_STAGE(mail);
HAYATE_SAME_STAGE(rcpt);
HAYATE_SAME_STAGE(data);
HAYATE_SAME_STAGE(body);
HAYATE_SAME_STAGE(rset);
HAYATE_SAME_STAGE(quit);
#undef HAYATE_SAME_STAGE

std::string_view stage_name(Stage stage) {
  switch (stage) {
    case Stage::input:
      return "input";
    case Stage::suppression:
      return "suppression";
    case Stage::dns:
      return "dns";
    case Stage::expired:
      return "expired";
    case Stage::retry:
      return "retry";
    case Stage::aborted:
      return "aborted";
    default:
      HAYATE_ASSERT(stage <= Stage::quit);
      return smtp::stage_name(static_cast<smtp::Stage>(stage));
  }
}

Stage stage_of(smtp::Stage stage) {
  HAYATE_ASSERT(stage <= smtp::Stage::quit);
  return static_cast<Stage>(stage);
}

}  // namespace hayate::campaign::output
