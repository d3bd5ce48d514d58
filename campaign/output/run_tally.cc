// The outcome tally of a shard or a run (see run_tally.h).
#include "campaign/output/run_tally.h"

namespace hayate::campaign::inline output {

void RunTally::add(const OutcomeRecord& record) {
  const auto reason = static_cast<std::size_t>(record.reason);
  switch (record.type) {
    case OutcomeType::delivered:
      if (record.latency_ms >= 0) delivery_latency.add(static_cast<double>(record.latency_ms));
      ++provider(record.provider).delivered;
      break;
    case OutcomeType::bounced:
      ++bounced[reason];
      ++provider(record.provider).bounced;
      break;
    case OutcomeType::deferred:
      // A final deferral after the deadline or a stop is no attempt: counted once, where the
      // attempt was deferred.
      if (record.stage == Stage::retry || record.stage == Stage::aborted) break;
      ++deferred[reason];
      ++provider(record.provider).deferred;
      break;
    case OutcomeType::rejected:
    case OutcomeType::suppressed:
      break;
  }
}

void RunTally::merge(const RunTally& other) {
  delivery_latency.merge(other.delivery_latency);
  for (std::size_t i = 0; i < bounce::reason_count; ++i) {
    bounced[i] += other.bounced[i];
    deferred[i] += other.deferred[i];
  }
  for (const NamedOutcomes& entry : other.providers) {
    NamedOutcomes& mine = provider(entry.name);
    mine.delivered += entry.delivered;
    mine.bounced += entry.bounced;
    mine.deferred += entry.deferred;
  }
}

ReasonCounts RunTally::reasons(const std::array<std::uint64_t, bounce::reason_count>& counts) {
  ReasonCounts out;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) {
      out.emplace_back(std::string(bounce::to_string(static_cast<bounce::Reason>(i))), counts[i]);
    }
  }
  keep_top(out, out.size());
  return out;
}

NamedOutcomes& RunTally::provider(std::string_view name) {
  if (name.empty()) name = "none";
  for (NamedOutcomes& entry : providers) {
    if (entry.name == name) return entry;
  }
  providers.push_back(NamedOutcomes{std::string(name)});
  return providers.back();
}

}  // namespace hayate::campaign::output
