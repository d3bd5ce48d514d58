// summary.json: what one run of a campaign did, and (all_runs) what every run of it so far did
// together. The runner fills a RunSummary when the run ends; rendering is pure, so the format
// is tested without a run. The keys are listed in README.md "Outputs"; scripts read them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "campaign/bounce/recording.h"
#include "campaign/output/journal.h"
#include "campaign/output/metrics.h"

namespace hayate::campaign::inline output {

// Each field is the JSON key of the same name; this run's counts unless said otherwise.
struct RunSummary {
  std::string campaign;          // [A-Za-z0-9._-]{1,64} (job.cc checks it): needs no JSON escaping
  std::uint64_t rows = 0;        // CSV rows read
  std::uint64_t recipients = 0;  // handed to the shards
  std::uint64_t delivered = 0;
  std::uint64_t bounced = 0;
  BounceReasonCounts bounce_reasons;  // the bounced recipients per reason
  std::uint64_t deferred = 0;         // still deferred when the run ended
  std::uint64_t rejected = 0;         // rows refused by the reader
  std::uint64_t suppressed = 0;       // on the suppression list: never sent
  std::uint64_t attempts_deferred = 0;
  std::uint64_t domains = 0;
  std::uint64_t connections = 0;
  std::uint64_t connections_failed = 0;
  std::uint64_t message_bytes = 0;
  std::uint32_t shards = 0;
  std::uint64_t tls_handshakes = 0;
  std::uint64_t tls_resumptions = 0;
  std::uint64_t tls_failures = 0;
  std::uint64_t not_attempted = 0;
  // Connections lost after the final dot went out (RFC 1047): deferred, perhaps delivered.
  std::uint64_t possible_duplicates = 0;
  bool stopped_by_signal = false;  // or by the send window, or a failed journal
  bool resumed = false;            // an earlier run of the campaign had a journal
  std::uint64_t skipped_as_final_before = 0;
  JournalCounts all_runs;              // delivered, bounced, deferred, rejected and suppressed
  RecordTally suppression_recorded;    // what this run's bounces did to the suppression list
  std::string suppression_list;        // the list's path (the host's state store by default);
                                       // empty: [suppression] enabled = false (JSON null)
  std::vector<ShapingCounts> shaping;  // the destinations throttled or suspended
  double duration_s = 0;
  double messages_per_second = 0;
  int exit_code = 0;
};

// The JSON object, two-space indented, one key a line, ending in a newline.
std::string render_summary(const RunSummary& summary);

}  // namespace hayate::campaign::output
