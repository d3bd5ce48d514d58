// Tests of campaign/delivery/verdict: the one judgement of an attempt. The reason and
// hard/soft of failures (replies of real servers, hayate's own DNS and expiry results, the
// operator's route mistakes), the reply rules a verdict names (the shipped rules: Gmail's
// throttling, greylisting's "try again in N seconds"), disposition by code, and the next try
// on the backoff or an explicit schedule, bounded by max_age and the run's deadline.
#include "campaign/delivery/verdict.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "campaign/bounce/classify.h"

namespace hayate::campaign {
namespace {

using bounce::Reason;

Stage stage_named(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(Stage::aborted); ++i) {
    if (stage_name(static_cast<Stage>(i)) == name) return static_cast<Stage>(i);
  }
  ADD_FAILURE() << "no stage " << name;
  return Stage::rcpt;
}

// classify_failure as the old tests called it: the outcome type, and the attempt in words.
FailureClass failure(OutcomeType type, std::uint16_t code, std::string_view enhanced,
                     std::string_view reply, std::string_view stage) {
  Attempt attempt{stage_named(stage), code, {}, reply, "", -1};
  if (!smtp::parse_enhanced_code(enhanced, attempt.enhanced)) attempt.enhanced = {};
  return classify_failure(
      type == OutcomeType::bounced ? Disposition::bounced : Disposition::deferred, attempt);
}

struct OutcomeCase {
  OutcomeType type;
  std::uint16_t code;
  std::string_view enhanced;
  std::string_view reply;
  std::string_view stage;
  Reason reason;
  bool hard;
};

TEST(ClassifyFailure, RepliesAndOwnResults) {
  const OutcomeCase cases[] = {
      // hayate-sink's bounce… recipients, and the large providers' words.
      {OutcomeType::bounced, 550, "5.1.1", "User unknown", "rcpt", Reason::userunknown, true},
      {OutcomeType::bounced, 550, "5.1.1",
       "The email account that you tried to reach does not exist. Please try double-checking "
       "the recipient's email address for typos or unnecessary spaces.",
       "rcpt", Reason::userunknown, true},
      {OutcomeType::bounced, 552, "5.2.2", "Mailbox full", "rcpt", Reason::mailboxfull, false},
      {OutcomeType::bounced, 554, "5.6.0", "Message rejected", "body", Reason::contenterror, false},
      // A temporary failure never condemns an address, whatever its words (RFC 5321 4.2.1).
      {OutcomeType::deferred, 450, "4.1.1", "User unknown", "rcpt", Reason::userunknown, false},
      {OutcomeType::deferred, 451, "4.3.0", "Try again later", "rcpt", Reason::systemerror, false},
      {OutcomeType::deferred, 421, "4.7.0",
       "[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user "
       "complaints",
       "connect", Reason::blocked, false},
      // Expired: the last error does not decide (DomainQueue::expire writes it in the text).
      {OutcomeType::bounced, 0, "4.4.7",
       "expired: no delivery within max_age; last error: 550 5.1.1 User unknown", "expired",
       Reason::expired, false},
      {OutcomeType::bounced, 0, "4.4.7",
       "expired: no delivery within max_age; last error: connection refused", "expired",
       Reason::expired, false},
      // Hayate's own DNS answers about the recipient's domain.
      {OutcomeType::bounced, 0, "5.1.2", "no mail host for nx.example: Domain name not found",
       "dns", Reason::hostunknown, true},
      {OutcomeType::bounced, 556, "5.1.10", "nullmx.example accepts no mail (null MX)", "dns",
       Reason::notaccept, true},
  };
  for (const OutcomeCase& c : cases) {
    const FailureClass got = failure(c.type, c.code, c.enhanced, c.reply, c.stage);
    EXPECT_EQ(bounce::to_string(got.reason), bounce::to_string(c.reason)) << c.reply;
    EXPECT_EQ(got.hard, c.hard) << c.reply;
  }
}

TEST(ClassifyFailure, TheOperatorsMistakesNeverCondemnRecipients) {
  // A route host that does not resolve (DomainQueue::on_route_answer): permanent, but ours.
  const FailureClass route = failure(OutcomeType::bounced, 0, "5.4.4",
                                     "route host relay.invalid: Domain name not found", "dns");
  EXPECT_FALSE(route.hard);
  // Our own words that look like a user-unknown text, without a server's reply code.
  bounce::Failure words;
  words.status = smtp::EnhancedCode{5, 0, 0};
  words.text = "no such user here";
  words.command = bounce::SmtpCommand::rcpt;
  ASSERT_TRUE(bounce::classify(words).hard);  // the rule is needed
  const FailureClass own =
      failure(OutcomeType::bounced, 0, "5.0.0", "no such user here", "connect");
  EXPECT_FALSE(own.hard);
  // A server that says 5.1.1 at the greeting (Site::fail_unreachable) is a server's reply.
  const FailureClass greeting = failure(
      OutcomeType::bounced, 554, "5.0.0",
      "no server accepted a session; last error: 554 5.7.1 Service unavailable; client host "
      "[192.0.2.1] blocked using zen.spamhaus.org",
      "connect");
  EXPECT_EQ(greeting.reason, Reason::blocked);
  EXPECT_FALSE(greeting.hard);
}

TEST(ClassifyFailure, ASuccessCodeInAFailureBecomesUndefined) {
  // A broken server: 550 with a 2.x.x enhanced code, which alone reads as "delivered".
  ASSERT_EQ(bounce::classify(550, "2.0.0", "Ok").reason, Reason::delivered);
  const FailureClass got = failure(OutcomeType::bounced, 550, "2.0.0", "Ok", "rcpt");
  EXPECT_EQ(got.reason, Reason::undefined);
  EXPECT_FALSE(got.hard);
}

// The shipped rules, loaded once: what a run uses when the job names no rules file.
const ShapingRules& shipped_rules() {
  static const ShapingRules rules = [] {
    absl::StatusOr<ShapingRules> loaded =
        load_rules_text(shipped_shaping_rules(), "", "rules.toml", RulesOptions{});
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return std::move(*loaded);
  }();
  return rules;
}

JobConfig backoff_job() {
  JobConfig job;
  job.retry_backoff =
      shaping::BackoffConfig{60'000, 2, 3'600'000, 86'400'000LL, shaping::Jitter::none};
  return job;
}

Attempt reply(std::uint16_t code, smtp::EnhancedCode enhanced, std::string_view text,
              Stage stage = Stage::rcpt) {
  return Attempt{stage, code, enhanced, text, "mx.test (192.0.2.1:25)", 12};
}

TEST(Judge, DispositionFollowsTheCode) {
  const JobConfig job = backoff_job();
  const Judge judge(&shipped_rules(), &job, 1'000'000'000);
  const Destination& other = shipped_rules().destinations[0];
  EXPECT_EQ(judge.judge(reply(250, {2, 0, 0}, "Ok"), &other, 0).disposition,
            Disposition::delivered);
  const Verdict unknown = judge.judge(reply(550, {5, 1, 1}, "User unknown"), &other, 0);
  EXPECT_EQ(unknown.disposition, Disposition::bounced);
  EXPECT_EQ(unknown.reason, Reason::userunknown);
  EXPECT_TRUE(unknown.hard);
  EXPECT_EQ(unknown.outcome_type(), OutcomeType::bounced);
  const Verdict busy = judge.judge(reply(451, {4, 3, 0}, "Try again later"), &other, 0);
  EXPECT_EQ(busy.disposition, Disposition::deferred);
  EXPECT_FALSE(busy.hard);
  // No reply: only a class 5 code of our own (DNS said the domain has no mail host) bounces.
  const Attempt refused{Stage::connect, 0, {4, 4, 1}, "connection refused", "", -1};
  EXPECT_EQ(judge.judge(refused, nullptr, 0).disposition, Disposition::deferred);
  const Attempt no_host{Stage::dns, 0, {5, 1, 2}, "no mail host for nx.test", "", -1};
  const Verdict gone = judge.judge(no_host, nullptr, 0);
  EXPECT_EQ(gone.disposition, Disposition::bounced);
  EXPECT_TRUE(gone.hard);
}

TEST(Judge, ReplyRulesNameTheShapingActionAndTheWait) {
  const JobConfig job = backoff_job();
  const Judge judge(&shipped_rules(), &job, 1'000'000'000);
  const Destination& gmail = shipped_rules().match_destination("gmail.com", {});
  ASSERT_NE(gmail.index, 0u);
  // Gmail's 421 4.7.28 "unusual rate": a throttle rule.
  const Verdict rate = judge.judge(
      reply(421, {4, 7, 28},
            "4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from "
            "your IP address."),
      &gmail, 5'000);
  ASSERT_NE(rate.rule, nullptr);
  EXPECT_EQ(rate.rule->action, ReplyAction::throttle);
  EXPECT_FALSE(rate.about_connections);
  EXPECT_EQ(rate.disposition, Disposition::deferred);
  // The same reply at the greeting is about connections, not pace.
  const Verdict greeting = judge.judge(
      reply(421, {4, 7, 28}, "4.7.28 Gmail has detected an unusual rate of unsolicited mail",
            Stage::connect),
      &gmail, 5'000);
  ASSERT_NE(greeting.rule, nullptr);
  EXPECT_TRUE(greeting.about_connections);
  // Greylisting that says how long: the retry waits what the server asked.
  const Destination& other = shipped_rules().destinations[0];
  const Verdict grey = judge.judge(
      reply(450, {4, 2, 0}, "4.2.0 Greylisted, please try again in 45 seconds"), &other, 5'000);
  ASSERT_NE(grey.rule, nullptr);
  EXPECT_EQ(grey.rule->action, ReplyAction::retry);
  EXPECT_EQ(grey.retry_not_before_ms, 5'000 + 45'000);
  // A user unknown says nothing about pace: no rule.
  EXPECT_EQ(judge.judge(reply(550, {5, 1, 1}, "User unknown"), &gmail, 0).rule, nullptr);
  // Without a destination (our own reasons) no rule applies.
  EXPECT_EQ(judge.judge(reply(421, {4, 7, 28}, "4.7.28 unusual rate"), nullptr, 0).rule, nullptr);
}

TEST(Judge, NextTryOnTheBackoffUntilMaxAge) {
  const JobConfig job = backoff_job();  // 60 s, doubling, no jitter, max_age 1 day
  const Judge judge(&shipped_rules(), &job, 1'000'000'000);
  Verdict deferred;
  const auto random = [] { return 0.5; };
  NextTry next = judge.next_try(deferred, RetryHistory{1, 0, 0}, 0, random);
  EXPECT_EQ(next.kind, NextTry::Kind::retry);
  EXPECT_EQ(next.at_ms, 60'000);
  next = judge.next_try(deferred, RetryHistory{2, next.delay_ms, 0}, 60'000, random);
  EXPECT_EQ(next.kind, NextTry::Kind::retry);
  EXPECT_EQ(next.at_ms, 60'000 + 120'000);
  // A rule's wait (a suspension's end) is never cut short by the backoff.
  deferred.retry_not_before_ms = 900'000;
  next = judge.next_try(deferred, RetryHistory{1, 0, 0}, 0, random);
  EXPECT_EQ(next.at_ms, 900'000);
  // Past max_age: expired.
  next = judge.next_try(Verdict{}, RetryHistory{9, 3'600'000, 0}, 86'400'000, random);
  EXPECT_EQ(next.kind, NextTry::Kind::expired);
  // A retry after the run's deadline: final for this run.
  const Judge short_run(&shipped_rules(), &job, 30'000);
  EXPECT_EQ(short_run.next_try(Verdict{}, RetryHistory{1, 0, 0}, 0, random).kind,
            NextTry::Kind::final);
}

TEST(Judge, NextTryOnAnExplicitSchedule) {
  JobConfig job = backoff_job();
  job.retry_schedule_given = true;
  job.retry_schedule_ms = {1'000, 5'000};
  const Judge judge(&shipped_rules(), &job, 1'000'000'000);
  const auto random = [] { return 0.0; };
  EXPECT_EQ(judge.next_try(Verdict{}, RetryHistory{1, 0, 0}, 100, random).at_ms, 1'100);
  EXPECT_EQ(judge.next_try(Verdict{}, RetryHistory{2, 0, 0}, 100, random).at_ms, 5'100);
  EXPECT_EQ(judge.next_try(Verdict{}, RetryHistory{3, 0, 0}, 100, random).kind,
            NextTry::Kind::final);
}

TEST(Judge, ExpiryIsASoftBounceThatKeepsTheLastError) {
  const JobConfig job = backoff_job();
  const Judge judge(&shipped_rules(), &job, 1'000'000'000);
  std::string text;
  const Attempt expired = Judge::expired_attempt(reply(451, {4, 3, 0}, "Try later"), text);
  EXPECT_EQ(expired.stage, Stage::expired);
  EXPECT_EQ(expired.enhanced, (smtp::EnhancedCode{4, 4, 7}));
  EXPECT_EQ(text, "expired: no delivery within max_age; last error: 451 Try later");
  const Verdict verdict = judge.judge(expired, nullptr, 0);
  EXPECT_EQ(verdict.disposition, Disposition::bounced);  // ends the recipient, though 4.x.x
  EXPECT_EQ(verdict.reason, Reason::expired);
  EXPECT_FALSE(verdict.hard);
}

TEST(Judge, ARefusedSessionIsDeferredWithTheServersWords) {
  const JobConfig job = backoff_job();
  const Judge judge(&shipped_rules(), &job, 1'000'000'000);
  const Destination& other = shipped_rules().destinations[0];
  // A 554 greeting is about us or the server, never about an address (smtp_skip_5xx_greeting).
  const Verdict greeting = judge.judge(
      reply(554, {5, 7, 1}, "greeting: 554 5.7.1 Transaction failed", Stage::greeting), &other, 0);
  EXPECT_EQ(greeting.disposition, Disposition::deferred);
  EXPECT_FALSE(greeting.hard);
  EXPECT_NE(greeting.reason, Reason::userunknown);
  // A 421 at the greeting keeps the server's 4.3.2: not "expired" on the first attempt.
  const Verdict busy =
      judge.judge(reply(421, {4, 3, 2}, "greeting: 421 4.3.2 System not accepting network messages",
                        Stage::greeting),
                  &other, 0);
  EXPECT_EQ(busy.disposition, Disposition::deferred);
  EXPECT_NE(busy.reason, Reason::expired);
  EXPECT_NE(busy.reason, Reason::undefined);
  // No reply at all: a network error, named, whatever the stage.
  for (const Stage stage : {Stage::connect, Stage::greeting, Stage::data, Stage::body}) {
    const Attempt lost{stage, 0, connection_failure_code(stage), "timed out", "", -1};
    const Verdict verdict = judge.judge(lost, nullptr, 0);
    EXPECT_EQ(verdict.disposition, Disposition::deferred);
    EXPECT_EQ(verdict.reason, Reason::networkerror) << stage_name(stage);
  }
  EXPECT_EQ(connection_failure_code(Stage::greeting), (smtp::EnhancedCode{4, 4, 1}));
  EXPECT_EQ(connection_failure_code(Stage::body), (smtp::EnhancedCode{4, 4, 2}));
}

TEST(DelayAsked, SecondsAndMinutesInTheServersWords) {
  EXPECT_EQ(delay_asked_ms("Greylisted, please try again in 45 seconds"), 45'000);
  EXPECT_EQ(delay_asked_ms("retry in 5 minutes"), 300'000);
  EXPECT_EQ(delay_asked_ms("try again in 30s"), 30'000);
  EXPECT_EQ(delay_asked_ms("Service unavailable"), 0);
  EXPECT_EQ(delay_asked_ms("retry in 2000 minutes"), 86'400'000);  // a day at most
}

}  // namespace
}  // namespace hayate::campaign
