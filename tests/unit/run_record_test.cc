// The run record (status.json, runs.jsonl): its JSON both ways, the thinned series, the tally
// the shards fill, and what `hayate status` makes of a record.
#include "campaign/output/run_record.h"

#include <gtest/gtest.h>

#include "campaign/output/run_tally.h"
#include "campaign/run/run_status.h"

namespace hayate::campaign {
namespace {

RunRecord sample_record() {
  RunRecord record;
  record.campaign = "spring-2026";
  record.run = 2;
  record.state = "running";
  record.pid = 4242;
  record.started_unix_s = 1'796'000'000.25;
  record.updated_unix_s = 1'796'000'060.5;
  record.total_rows = 1000;
  record.rows = 400;
  record.delivered = 300;
  record.bounced = 12;
  record.deferred = 7;
  record.attempts_deferred = 9;
  record.rejected = 3;
  record.suppressed = 2;
  record.eta_s = 61.5;
  record.bounce_reasons = {{"userunknown", 10}, {"mailboxfull", 2}};
  record.deferral_reasons = {{"toomanyconn", 9}};
  record.destinations = {{"gmail.com", 200, 5, 4}, {"example.org", 100, 7, 5}};
  record.providers = {{"gmail", 200, 5, 4}};
  record.held = {{"gmail", "suspended", "suspended after 421 4.7.28 slow down", 1'796'000'100'000}};
  record.latency.add(3);
  record.latency.add(120);
  record.latency.add(400'000);
  record.series.add({0, 0, 0, 0, 0});
  record.series.add({1, 50, 1, 0, 2});
  ShapingEvent event;
  event.time_unix_ms = 1'796'000'030'000;
  event.event = "suspended";
  event.destination = "gmail";
  event.code = 421;
  event.enhanced = "4.7.28";
  event.reply = "slow down \"now\"";
  event.until_unix_ms = 1'796'000'100'000;
  record.events = {event};
  return record;
}

TEST(RunRecordTest, RoundTripsThroughJson) {
  const RunRecord record = sample_record();
  for (bool indent : {true, false}) {
    const std::string json = render_run_record(record, indent);
    EXPECT_EQ(indent, json.find("\n  ") != std::string::npos);
    absl::StatusOr<RunRecord> back = parse_run_record(json);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->campaign, "spring-2026");
    EXPECT_EQ(back->run, 2u);
    EXPECT_EQ(back->started_unix_s, record.started_unix_s);
    EXPECT_EQ(back->delivered, 300u);
    EXPECT_EQ(back->suppressed, 2u);
    EXPECT_EQ(back->eta_s, 61.5);
    EXPECT_EQ(back->bounce_reasons, record.bounce_reasons);
    ASSERT_EQ(back->destinations.size(), 2u);
    EXPECT_EQ(back->destinations[1].name, "example.org");
    EXPECT_EQ(back->destinations[1].deferred, 5u);
    ASSERT_EQ(back->held.size(), 1u);
    EXPECT_EQ(back->held[0].until_unix_ms, 1'796'000'100'000);
    EXPECT_EQ(back->latency.counts, record.latency.counts);
    EXPECT_EQ(back->latency.count, 3u);
    ASSERT_EQ(back->series.points().size(), 2u);
    EXPECT_EQ(back->series.points()[1].delivered, 50u);
    ASSERT_EQ(back->events.size(), 1u);
    EXPECT_EQ(back->events[0].reply, "slow down \"now\"");
    EXPECT_EQ(back->events[0].code, 421);
  }
}

TEST(RunRecordTest, OneLineForRunsJsonl) {
  const std::string line = render_run_record(sample_record(), false);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(RunRecordTest, InvalidUtf8InARepliesIsReplacedNotThrown) {
  RunRecord record = sample_record();
  record.events[0].reply = "bad \xff byte";
  absl::StatusOr<RunRecord> back = parse_run_record(render_run_record(record, false));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->events[0].reply, "bad \xEF\xBF\xBD byte");
}

TEST(RunRecordTest, DamagedJsonIsAnError) {
  EXPECT_FALSE(parse_run_record("{\"delivered\": ").ok());
  EXPECT_FALSE(parse_run_record("[1, 2]").ok());
  const absl::StatusOr<RunRecord> wrong = parse_run_record("{\"delivered\": \"many\"}");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("wrong type"), std::string_view::npos);
  // Unknown keys are ignored, missing ones keep their defaults.
  absl::StatusOr<RunRecord> sparse = parse_run_record("{\"delivered\": 5, \"future\": [1]}");
  ASSERT_TRUE(sparse.ok());
  EXPECT_EQ(sparse->delivered, 5u);
  EXPECT_EQ(sparse->exit_code, -1);
}

TEST(RunSeriesTest, StaysWithinItsCapForAnyLength) {
  RunSeries series;
  // Ten hours of one sample a second.
  for (int t = 0; t <= 36'000; ++t) {
    series.add({static_cast<double>(t), static_cast<std::uint64_t>(t) * 10, 0, 0, 1});
    ASSERT_LE(series.points().size(), run_series_points_max);
  }
  EXPECT_GE(series.points().size(), run_series_points_max / 2);
  EXPECT_EQ(series.points().front().t_s, 0);
  EXPECT_EQ(series.points().back().t_s, 36'000);  // the latest sample is always kept
  for (std::size_t i = 1; i < series.points().size(); ++i) {
    EXPECT_LT(series.points()[i - 1].t_s, series.points()[i].t_s);
  }
  EXPECT_GE(series.interval_s(), 36'000.0 / run_series_points_max);
}

TEST(RunSeriesTest, KeepsTheLatestSampleBetweenIntervals) {
  RunSeries series;
  series.assign({{0, 0, 0, 0, 0}, {4, 40, 0, 0, 0}}, 4);
  series.add({5, 50, 0, 0, 0});  // before the next interval: kept as the tail
  series.add({6, 60, 0, 0, 0});  // replaces that tail
  ASSERT_EQ(series.points().size(), 3u);
  EXPECT_EQ(series.points().back().delivered, 60u);
  series.add({8, 80, 0, 0, 0});  // on the interval: a point of its own
  ASSERT_EQ(series.points().size(), 3u);
  EXPECT_EQ(series.points().back().t_s, 8);
}

TEST(RunTallyTest, CountsLatencyReasonsAndProviders) {
  RunTally shard_a, shard_b;
  OutcomeRecord delivered;
  delivered.type = OutcomeType::delivered;
  delivered.provider = "gmail";
  delivered.latency_ms = 40;
  shard_a.add(delivered);
  OutcomeRecord bounced;
  bounced.type = OutcomeType::bounced;
  bounced.reason = bounce::Reason::userunknown;
  bounced.provider = "gmail";
  shard_a.add(bounced);
  OutcomeRecord deferred;
  deferred.type = OutcomeType::deferred;
  deferred.final = false;
  deferred.reason = bounce::Reason::toomanyconn;
  shard_b.add(deferred);  // no site yet: provider "none"
  OutcomeRecord cut_off = deferred;
  cut_off.stage = Stage::retry;  // the deadline passed while it waited: no attempt
  cut_off.final = true;
  shard_b.add(cut_off);
  RunTally run;
  run.merge(shard_a);
  run.merge(shard_b);
  EXPECT_EQ(run.delivery_latency.count, 1u);
  EXPECT_EQ(run.bounce_reasons(), (ReasonCounts{{"userunknown", 1}}));
  EXPECT_EQ(run.deferral_reasons(), (ReasonCounts{{"toomanyconn", 1}}));
  ASSERT_EQ(run.providers.size(), 2u);
  EXPECT_EQ(run.providers[0].name, "gmail");
  EXPECT_EQ(run.providers[0].delivered, 1u);
  EXPECT_EQ(run.providers[0].bounced, 1u);
  EXPECT_EQ(run.providers[1].name, "none");
  EXPECT_EQ(run.providers[1].deferred, 1u);
}

TEST(LatencyHistogramTest, BucketsAndQuantiles) {
  LatencyHistogram histogram;
  for (int i = 0; i < 90; ++i) histogram.add(4);    // <= 5 ms
  for (int i = 0; i < 10; ++i) histogram.add(700);  // <= 1000 ms
  EXPECT_EQ(histogram.counts[0], 90u);
  EXPECT_EQ(histogram.counts[7], 10u);
  EXPECT_EQ(histogram.quantile_ms(0.5), 5);
  EXPECT_EQ(histogram.quantile_ms(0.99), 1000);
  histogram.add(1e9);  // past the last bound: the open bucket
  EXPECT_EQ(histogram.counts.back(), 1u);
}

TEST(StatusJudgementTest, StatesAndExitCodes) {
  RunRecord record = sample_record();
  const double now = record.updated_unix_s + 2;
  EXPECT_EQ(judge_status(record, now, true).state, "running");
  EXPECT_EQ(judge_status(record, now, true).exit_code, status_exit::running);
  // The process is gone, or stopped updating: gone, a failure.
  EXPECT_EQ(judge_status(record, now, false).state, "gone");
  EXPECT_EQ(judge_status(record, now + status_stale_s, true).exit_code, status_exit::failed);
  record.state = "done";
  EXPECT_EQ(judge_status(record, now, false).exit_code, status_exit::done);
  for (const char* state : {"retrying", "outside_window", "stopped"}) {
    record.state = state;
    EXPECT_EQ(judge_status(record, now, false).exit_code, status_exit::pending) << state;
  }
  record.state = "failed";
  EXPECT_EQ(judge_status(record, now, false).exit_code, status_exit::failed);
}

TEST(StatusJudgementTest, TextNamesTheFiguresAndCleansPeersText) {
  RunRecord record = sample_record();
  record.held[0].cause = "suspended after 421 \x1b[2Jcleared";
  const double now = record.updated_unix_s + 1;
  const std::string text = render_status_text(record, judge_status(record, now, true), now);
  EXPECT_NE(text.find("campaign spring-2026: running"), std::string::npos) << text;
  EXPECT_NE(text.find("317 of 1000 (estimated) rows decided"), std::string::npos) << text;
  EXPECT_NE(text.find("ETA 1 min 2 s"), std::string::npos) << text;
  EXPECT_NE(text.find("bounces: userunknown 10, mailboxfull 2"), std::string::npos) << text;
  EXPECT_NE(text.find("held back: gmail suspended until"), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << "an escape sequence reached the terminal";
}

}  // namespace
}  // namespace hayate::campaign
