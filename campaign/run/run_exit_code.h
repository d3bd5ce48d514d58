// The exit code of a run that got as far as sending: a pure decision over how the run ended,
// so that every combination is tested without a run. The codes are sysexits(3)
// (campaign/run/exit_codes.h) with the meanings of README.md "Exit codes". A run that stops
// before sending (bad job, locked output, closed send window) returns its code directly.
#pragma once

#include <cstdint>

namespace hayate::campaign::inline run {

// How a run ended. The fields after journal_failed are learnt one by one while the run
// writes its records; at their defaults they change nothing, so the code can be asked at each
// step: the journal records the code before it is closed, summary.json the code before
// summary.json is written.
struct RunEnd {
  bool input_failed = false;        // the recipients file could not be read to its end
  bool output_failed = false;       // a log, domains.csv or the warm-up state was not written
  bool stopped = false;             // a signal, the send window or a failed journal stopped it
  bool suppression_failed = false;  // the suppression list failed: later rows were not sent
  bool aborted = false;             // a setting no retry fixes (the relay refused our login)
  bool campaign_over = false;       // the job's stop_at has passed: nothing more will be sent
  std::uint64_t delivered = 0;      // this run's outcomes
  std::uint64_t bounced = 0;
  std::uint64_t deferred = 0;         // still deferred when the run ended (deadline, stop or abort)
  std::uint64_t servers_greeted = 0;  // connections that got a positive greeting
  bool journal_failed = false;        // outcomes may be missing from the journal

  bool journal_close_failed = false;    // the journal's closing record was not written
  std::uint64_t deferred_all_runs = 0;  // still deferred over every run of the campaign
  bool summary_failed = false;          // summary.json was not written
  bool metrics_failed = false;          // --metrics-file was not written
};

// In order, the first that applies: 65 when the recipients could not be read; 73 when an
// output failed; 78 when stop_at ended the campaign (no later run sends anything); 75 when the
// run was stopped or the suppression list failed (the rest waits
// for the next run); 78 when aborted; with recipients still deferred, 69 when no server ever
// greeted us and nothing was delivered or bounced, else 75; else 0. Then a failed journal
// makes it 75 whatever it was (outcomes may be missing: resume later); from 0, a journal that
// did not close makes it 73, and recipients deferred in an earlier run 75; a summary.json or
// metrics file not written makes it 73.
int run_exit_code(const RunEnd& end);

}  // namespace hayate::campaign::run
