// What the report and `hayate status` need of the outcomes beyond the counters: the delivery
// latency distribution, the bounces and deferrals per reason and the outcomes per provider.
// Each shard's OutcomeWriter fills its own (no lock) and shows a copy once a second; the run
// adds them up. Its size does not grow with the recipients.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "campaign/bounce/reason.h"
#include "campaign/output/latency_histogram.h"
#include "campaign/output/outcome.h"
#include "campaign/output/run_record.h"

namespace hayate::campaign::inline output {

struct RunTally {
  LatencyHistogram delivery_latency;  // delivered recipients' attempt latency
  std::array<std::uint64_t, bounce::reason_count> bounced{};   // per reason
  std::array<std::uint64_t, bounce::reason_count> deferred{};  // attempts deferred, per reason
  // Per shaping destination; a handful of names (the shaping rules' destinations), so a
  // linear search is the quickest. "none": no site was found (DNS failed first).
  std::vector<NamedOutcomes> providers;
  // The first reply seen for each reason ("550 5.1.1 No such user"), cut to 160 bytes: what
  // the end-of-run line quotes. Written once per reason: no cost on the sending path.
  std::array<std::string, bounce::reason_count> bounced_sample;
  std::array<std::string, bounce::reason_count> deferred_sample;

  void add(const OutcomeRecord& record);
  void merge(const RunTally& other);
  ReasonCounts bounce_reasons() const { return reasons(bounced); }
  ReasonCounts deferral_reasons() const { return reasons(deferred); }
  // "deferred: networkerror 12 (\"connect: Connection refused\"); bounced: userunknown 3
  // (\"550 5.1.1 ...\")": the `per_kind` largest reasons of each; empty when none failed.
  std::string top_causes(std::size_t per_kind) const;

 private:
  static ReasonCounts reasons(const std::array<std::uint64_t, bounce::reason_count>& counts);
  NamedOutcomes& provider(std::string_view name);
};

}  // namespace hayate::campaign::output
