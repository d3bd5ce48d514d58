// libFuzzer target for campaign/bounce/report_parser: parse_report on any bytes, with and
// without a VERP decoder. Must not crash; every finding must have a reason that is named, a
// status of class 2, 4, 5 or none, and at most limits::bounce_findings_max of them; one token
// answer marks every finding of a message, and a valid one leaves a single finding about it.
#include <cstdint>
#include <string>
#include <string_view>

#include "campaign/bounce/report_parser.h"
#include "campaign/limits.h"
#include "engine/assert.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hayate::campaign::bounce;
  using Reported = std::vector<std::string>;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // A token that is valid when the local part after "bounces+" starts with 'v', forged
  // otherwise: with a valid one the message is about that address alone.
  ParseOptions with_verp;
  with_verp.verp_decoder = [](std::string_view address, const Reported&) {
    if (address.substr(0, 8) != "bounces+") return TokenAnswer{};
    if (address.substr(8, 1) == "v") return TokenAnswer{TokenCheck::valid, "verp@example.org"};
    return TokenAnswer{TokenCheck::forged, {}};
  };
  const ParseOptions without_verp;
  const ParseOptions* const all_options[] = {&with_verp, &without_verp};
  for (const ParseOptions* options : all_options) {
    const auto findings = parse_report(input, *options);
    HAYATE_ASSERT(findings.size() <= hayate::campaign::limits::bounce_findings_max);
    const bool valid = !findings.empty() && findings.front().token == TokenCheck::valid;
    HAYATE_ASSERT(!valid || findings.size() == 1);
    for (const Finding& finding : findings) {
      HAYATE_ASSERT(finding.token == findings.front().token);
      HAYATE_ASSERT(!valid || finding.recipient == "verp@example.org");
      HAYATE_ASSERT(options == &with_verp || finding.token == TokenCheck::absent);
      HAYATE_ASSERT(!to_string(finding.classification.reason).empty());
      const int klass = finding.classification.status.klass;
      HAYATE_ASSERT(klass == 0 || klass == 2 || klass == 4 || klass == 5);
      HAYATE_ASSERT(!finding.classification.hard || is_failure(finding.classification.reason));
    }
  }
  // The classifier alone, on the same bytes as a diagnostic.
  const Classification c = classify(550, input.substr(0, 12), input);
  HAYATE_ASSERT(c.status.klass == 4 || c.status.klass == 5 || c.status.klass == 2);
  return 0;
}
