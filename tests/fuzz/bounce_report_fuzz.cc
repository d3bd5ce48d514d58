// libFuzzer target for campaign/bounce/report_parser: parse_report on any bytes, with and
// without a VERP decoder. Must not crash; every finding must have a reason that is named, a
// status of class 2, 4, 5 or none, and at most limits::bounce_findings_max of them.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "campaign/bounce/report_parser.h"
#include "campaign/limits.h"
#include "engine/assert.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hayate::campaign::bounce;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  ParseOptions with_verp;
  with_verp.verp_decoder = [](std::string_view address) -> std::optional<std::string> {
    if (address.substr(0, 8) == "bounces+") return std::string("verp@example.org");
    return std::nullopt;
  };
  const ParseOptions without_verp;
  const ParseOptions* const all_options[] = {&with_verp, &without_verp};
  for (const ParseOptions* options : all_options) {
    const auto findings = parse_report(input, *options);
    HAYATE_ASSERT(findings.size() <= hayate::campaign::limits::bounce_findings_max);
    for (const Finding& finding : findings) {
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
