// Tests for campaign/run/run_exit_code: each way a run can end gives the code README.md
// "Exit codes" promises, and when several apply, the one that tells the operator what to do
// first wins (bad input over a failed output over a stop over an abort over deferrals).
#include "campaign/run/run_exit_code.h"

#include <gtest/gtest.h>

#include "campaign/run/exit_codes.h"

namespace hayate::campaign {
namespace {

// A run that reached servers and left nothing to do.
RunEnd finished_run() {
  RunEnd end;
  end.delivered = 90;
  end.bounced = 10;
  end.servers_greeted = 12;
  return end;
}

TEST(RunExitCodeTest, EveryRecipientFinal) {
  EXPECT_EQ(run_exit_code(finished_run()), exit_code::ok);
  EXPECT_EQ(run_exit_code(RunEnd{}), exit_code::ok);  // an empty list is done too
  RunEnd bounced_only;
  bounced_only.bounced = 3;
  EXPECT_EQ(run_exit_code(bounced_only), exit_code::ok);
}

TEST(RunExitCodeTest, DeferredRecipientsWaitForTheNextRun) {
  RunEnd end = finished_run();
  end.deferred = 1;
  EXPECT_EQ(run_exit_code(end), exit_code::temporary);
}

TEST(RunExitCodeTest, StopAtEndsTheCampaignNotTryAgain) {
  // The window closed at stop_at: a stop with deferred recipients, but no later run sends.
  RunEnd end = finished_run();
  end.stopped = true;
  end.deferred = 4;
  end.deferred_all_runs = 4;
  end.campaign_over = true;
  EXPECT_EQ(run_exit_code(end), exit_code::config);
  end.input_failed = true;  // bad input still says so first
  EXPECT_EQ(run_exit_code(end), exit_code::data_error);
}

TEST(RunExitCodeTest, NothingReachableIsUnavailable) {
  RunEnd end;
  end.deferred = 5;
  EXPECT_EQ(run_exit_code(end), exit_code::unavailable);
  // Any sign of a server answering makes it an ordinary deferral.
  for (auto field : {&RunEnd::servers_greeted, &RunEnd::delivered, &RunEnd::bounced}) {
    RunEnd reached = end;
    reached.*field = 1;
    EXPECT_EQ(run_exit_code(reached), exit_code::temporary);
  }
}

TEST(RunExitCodeTest, EachFailureHasItsCode) {
  RunEnd end = finished_run();
  end.input_failed = true;
  EXPECT_EQ(run_exit_code(end), exit_code::data_error);
  end = finished_run();
  end.output_failed = true;
  EXPECT_EQ(run_exit_code(end), exit_code::cannot_create);
  end = finished_run();
  end.stopped = true;
  EXPECT_EQ(run_exit_code(end), exit_code::temporary);
  end = finished_run();
  end.suppression_failed = true;
  EXPECT_EQ(run_exit_code(end), exit_code::temporary);
  end = finished_run();
  end.aborted = true;
  EXPECT_EQ(run_exit_code(end), exit_code::config);
  end = finished_run();
  end.journal_failed = true;
  EXPECT_EQ(run_exit_code(end), exit_code::temporary);
}

TEST(RunExitCodeTest, TheFirstCauseInOrderWins) {
  RunEnd end;
  end.deferred = 4;  // nothing reached: 69 on its own
  end.aborted = true;
  EXPECT_EQ(run_exit_code(end), exit_code::config);  // the abort explains the deferrals
  end.stopped = true;
  EXPECT_EQ(run_exit_code(end), exit_code::temporary);
  end.output_failed = true;
  EXPECT_EQ(run_exit_code(end), exit_code::cannot_create);
  end.input_failed = true;
  EXPECT_EQ(run_exit_code(end), exit_code::data_error);
}

TEST(RunExitCodeTest, AFailedJournalAlwaysMeansResume) {
  RunEnd end;
  end.journal_failed = true;
  end.input_failed = true;
  EXPECT_EQ(run_exit_code(end), exit_code::temporary);
  end = finished_run();
  end.aborted = true;
  end.journal_failed = true;
  EXPECT_EQ(run_exit_code(end), exit_code::temporary);
}

TEST(RunExitCodeTest, TheJournalsEndMattersOnlyToAFinishedRun) {
  RunEnd end = finished_run();
  end.journal_close_failed = true;
  EXPECT_EQ(run_exit_code(end), exit_code::cannot_create);
  end.deferred_all_runs = 3;  // 73 already: a missing journal end is the news
  EXPECT_EQ(run_exit_code(end), exit_code::cannot_create);

  end = finished_run();
  end.deferred_all_runs = 3;  // this run finished, an earlier one left deferrals
  EXPECT_EQ(run_exit_code(end), exit_code::temporary);

  end = finished_run();
  end.aborted = true;
  end.journal_close_failed = true;
  end.deferred_all_runs = 3;
  EXPECT_EQ(run_exit_code(end), exit_code::config);
}

TEST(RunExitCodeTest, UnwrittenSummaryOrMetricsOverrideEverything) {
  for (auto field : {&RunEnd::summary_failed, &RunEnd::metrics_failed}) {
    RunEnd end = finished_run();
    end.*field = true;
    EXPECT_EQ(run_exit_code(end), exit_code::cannot_create);
    end.deferred = 2;
    end.stopped = true;
    end.journal_failed = true;
    EXPECT_EQ(run_exit_code(end), exit_code::cannot_create);
  }
}

TEST(RunExitCodeTest, CodesAreTheSysexitsOnes) {
  // README.md "Exit codes": the numbers operators and cron wrappers match on.
  EXPECT_EQ(exit_code::ok, 0);
  EXPECT_EQ(exit_code::data_error, 65);
  EXPECT_EQ(exit_code::unavailable, 69);
  EXPECT_EQ(exit_code::cannot_create, 73);
  EXPECT_EQ(exit_code::temporary, 75);
  EXPECT_EQ(exit_code::config, 78);
}

}  // namespace
}  // namespace hayate::campaign
