// libFuzzer target for campaign/delivery/shaping_rules: any bytes as a job's rules file (over the
// shipped one) must load or fail with a message, never crash; rules that load must hold their
// invariants and match without crashing. The first input byte, when odd, turns rollup off.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/delivery/shaping_rules.h"
#include "engine/assert.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  hayate::campaign::RulesOptions options;
  options.rollup = size == 0 || (data[0] & 1) == 0;
  options.pools = {"default", "warm"};
  absl::StatusOr<hayate::campaign::ShapingRules> rules = hayate::campaign::load_rules_text(
      hayate::campaign::shipped_shaping_rules(), input, "rules.toml", options);
  if (!rules.ok()) {
    HAYATE_ASSERT(!rules.status().message().empty());
    return 0;
  }
  HAYATE_ASSERT(!rules->destinations.empty() && rules->destinations[0].name == "default");
  for (std::size_t i = 0; i < rules->destinations.size(); ++i) {
    const hayate::campaign::Destination& destination = rules->destinations[i];
    HAYATE_ASSERT(destination.index == i);
    HAYATE_ASSERT(destination.connections_max >= 1 && destination.recipients_per_transaction >= 1);
    for (const std::string& domain : destination.domains) {
      if (domain.find('*') != std::string::npos) continue;
      HAYATE_ASSERT(&rules->match_destination(domain, {}) == &destination);
    }
    for (std::uint32_t rule : destination.reply_rules) {
      HAYATE_ASSERT(rule < rules->reply_rules.size());
    }
  }
  const std::vector<std::string> mx = {"aspmx.l.google.com", std::string(input.substr(0, 300))};
  const hayate::campaign::Destination& matched = rules->match_destination(input.substr(0, 300), mx);
  (void)rules->match_reply(matched, 421, "4.7.28", input);
  (void)rules->match_reply(rules->destinations[0], 550, "", "Service unavailable");
  return 0;
}
