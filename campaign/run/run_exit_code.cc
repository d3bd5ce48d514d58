// The exit code of a run (see run_exit_code.h).
#include "campaign/run/run_exit_code.h"

#include "campaign/run/exit_codes.h"

namespace hayate::campaign::inline run {

namespace {

// What the run itself did, before the records written at its end are considered.
int outcome_code(const RunEnd& end) {
  if (end.input_failed) return exit_code::data_error;
  if (end.output_failed) return exit_code::cannot_create;
  if (end.campaign_over) return exit_code::config;
  if (end.stopped || end.suppression_failed) return exit_code::temporary;
  if (end.aborted) return exit_code::config;
  if (end.deferred > 0) {
    const bool nothing_reached = end.servers_greeted == 0 && end.delivered == 0 && end.bounced == 0;
    return nothing_reached ? exit_code::unavailable : exit_code::temporary;
  }
  return exit_code::ok;
}

}  // namespace

int run_exit_code(const RunEnd& end) {
  int code = outcome_code(end);
  if (end.journal_failed) code = exit_code::temporary;
  if (code == exit_code::ok && end.journal_close_failed) code = exit_code::cannot_create;
  if (code == exit_code::ok && end.deferred_all_runs > 0) code = exit_code::temporary;
  if (end.summary_failed || end.metrics_failed) code = exit_code::cannot_create;
  return code;
}

}  // namespace hayate::campaign::run
