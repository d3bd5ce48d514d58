// Tests for engine/shaping: GCRA admits exactly the events its rate allows at the given times,
// AIMD cuts once per cool-down and recovers step by step, the circuit breaker walks its state
// machine, and the retry schedule stays within its bounds and expires on time.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/shaping/aimd.h"
#include "engine/shaping/backoff.h"
#include "engine/shaping/circuit_breaker.h"
#include "engine/shaping/gcra.h"

namespace hayate::shaping {
namespace {

Rate rate_of(std::string_view text) {
  Rate rate;
  std::string error;
  EXPECT_TRUE(parse_rate(text, rate, error)) << error;
  return rate;
}

// ---- rates ----

TEST(RateTest, ParsesUnits) {
  EXPECT_EQ(rate_of("600/min"), (Rate{600, 60'000}));
  EXPECT_EQ(rate_of("10/s"), (Rate{10, 1'000}));
  EXPECT_EQ(rate_of("10/second"), (Rate{10, 1'000}));
  EXPECT_EQ(rate_of("20000/h"), (Rate{20000, 3'600'000}));
  EXPECT_EQ(rate_of("5/hour"), (Rate{5, 3'600'000}));
  EXPECT_EQ(rate_of("50000/d"), (Rate{50000, 86'400'000}));
  EXPECT_DOUBLE_EQ(rate_of("600/min").per_second(), 10.0);
  EXPECT_EQ(rate_of("600/minute"), (Rate{600, 60'000}));
}

TEST(RateTest, RejectsMalformed) {
  for (std::string_view text : {"", "600", "/min", "0/min", "-1/s", "1.5/s", "10/week", "10 /s",
                                "10/", "99999999999/s", "10/S", "abc/s"}) {
    Rate rate;
    std::string error;
    EXPECT_FALSE(parse_rate(text, rate, error)) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
}

// ---- GCRA ----

// Which of the attempts at the given times are admitted.
std::string admitted(Gcra& gcra, const std::vector<std::int64_t>& times_ms) {
  std::string out;
  for (std::int64_t t : times_ms) out += gcra.try_acquire(t) ? 'Y' : 'n';
  return out;
}

TEST(GcraTest, SmoothAtTenPerSecond) {
  Gcra gcra(rate_of("600/min"));  // one every 100 ms, no burst
  // The event at 350 ms was late; the next is due 100 ms after it, not at 400 ms.
  EXPECT_EQ(admitted(gcra, {0, 0, 50, 99, 100, 100, 199, 200, 350, 400, 450, 500}), "YnnnYnnYYnYn");
  EXPECT_EQ(gcra.next_allowed(500), 550);
  EXPECT_EQ(gcra.next_allowed(550), 550);
}

TEST(GcraTest, DoesNotBankIdleTimeWithoutBurst) {
  Gcra gcra(rate_of("1/s"));
  EXPECT_TRUE(gcra.try_acquire(0));
  // Ten idle seconds do not buy ten events at once: still one per second.
  EXPECT_EQ(admitted(gcra, {10'000, 10'000, 10'500, 11'000}), "YnnY");
}

TEST(GcraTest, BurstToleranceAdmitsBackToBack) {
  Gcra gcra(rate_of("1/s"), 3);
  EXPECT_EQ(admitted(gcra, {0, 0, 0, 0}), "YYYn");
  EXPECT_EQ(gcra.next_allowed(0), 1'000);
  EXPECT_EQ(admitted(gcra, {999, 1'000, 1'000, 2'000}), "nYnY");
  // After a long pause the burst is available again, but not more than it.
  EXPECT_EQ(admitted(gcra, {60'000, 60'000, 60'000, 60'000}), "YYYn");
}

TEST(GcraTest, NeverFasterThanAnUnevenRate) {
  Gcra gcra(rate_of("7/s"));  // 142.857... ms: rounded up, never an eighth event in a second
  int admitted_count = 0;
  for (std::int64_t t = 0; t < 1'000; ++t) admitted_count += gcra.try_acquire(t) ? 1 : 0;
  EXPECT_EQ(admitted_count, 7);
  // Seven intervals of 142,857,143 ns end 1 ns past the second: the next is due at 1001 ms.
  EXPECT_EQ(gcra.next_allowed(999), 1'001);
}

TEST(GcraTest, HourlyRateOverADay) {
  Gcra gcra(rate_of("100/h"));
  int count = 0;
  for (std::int64_t t = 0; t < 86'400'000; t += 1'000) count += gcra.try_acquire(t) ? 1 : 0;
  EXPECT_EQ(count, 2400);
}

TEST(GcraTest, UnlimitedAdmitsEverything) {
  Gcra gcra(Rate{});
  EXPECT_EQ(admitted(gcra, {0, 0, 0, 0}), "YYYY");
  EXPECT_EQ(gcra.next_allowed(5), 5);
}

TEST(GcraTest, WorksWithEpochMilliseconds) {
  const std::int64_t now = 1'795'446'601'000;  // 2026-11-23
  Gcra gcra(rate_of("2/s"));
  EXPECT_EQ(admitted(gcra, {now, now + 1, now + 499, now + 500}), "YnnY");
  EXPECT_EQ(gcra.next_allowed(now + 500), now + 1'000);
}

TEST(GcraTest, CutRescalesTheBacklog) {
  Gcra gcra(rate_of("10/s"), 5);  // 100 ms interval, 5 back to back
  EXPECT_EQ(admitted(gcra, {0, 0, 0, 0, 0, 0}), "YYYYYn");
  // Five cells owed (TAT = 500 ms). At 1/s they are owed at 1 s each: TAT = 5 s, tolerance 4 s.
  gcra.set_rate(rate_of("1/s"), 0);
  EXPECT_EQ(gcra.next_allowed(0), 1'000);
  EXPECT_EQ(admitted(gcra, {999, 1'000, 1'001, 2'000}), "nYnY");
}

TEST(GcraTest, RaiseKeepsStateAndAppliesAtOnce) {
  Gcra gcra(rate_of("1/s"));
  EXPECT_TRUE(gcra.try_acquire(0));
  EXPECT_EQ(gcra.next_allowed(0), 1'000);
  // One cell owed, worth 1 s at the old rate and 100 ms at the new one.
  gcra.set_rate(rate_of("10/s"), 0);
  EXPECT_EQ(gcra.next_allowed(0), 100);
  EXPECT_EQ(admitted(gcra, {99, 100, 150, 200}), "nYnY");
}

TEST(GcraTest, SetRateAfterIdleForgetsNothingOwed) {
  Gcra gcra(rate_of("1/min"));
  EXPECT_TRUE(gcra.try_acquire(0));
  gcra.set_rate(rate_of("1/s"), 120'000);  // long idle: nothing owed
  EXPECT_EQ(admitted(gcra, {120'000, 120'000, 121'000}), "YnY");
}

// ---- AIMD ----

AimdConfig aimd_config() {
  AimdConfig config;
  config.ceiling = 20;
  config.floor = 2;
  config.decrease_factor = 0.5;
  config.increase_step = 4;
  config.cooldown_ms = 600'000;          // 10 min
  config.increase_interval_ms = 60'000;  // 1 min
  return config;
}

TEST(AimdTest, CutOncePerCooldown) {
  Aimd aimd(aimd_config());
  EXPECT_EQ(aimd.state(), AimdState::normal);
  std::optional<AimdChange> change = aimd.on_throttle(1'000);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->from, AimdState::normal);
  EXPECT_EQ(change->to, AimdState::throttled);
  EXPECT_DOUBLE_EQ(change->limit_before, 20);
  EXPECT_DOUBLE_EQ(change->limit_after, 10);
  // A burst of twenty 421s within the cool-down is one signal.
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(aimd.on_throttle(1'000 + i * 1'000).has_value());
  EXPECT_DOUBLE_EQ(aimd.limit(), 10);
  EXPECT_EQ(aimd.cuts(), 1u);
  // After the cool-down a new signal cuts again.
  change = aimd.on_throttle(601'000);
  ASSERT_TRUE(change.has_value());
  EXPECT_DOUBLE_EQ(aimd.limit(), 5);
}

TEST(AimdTest, FloorHolds) {
  Aimd aimd(aimd_config());
  std::int64_t t = 0;
  for (int i = 0; i < 10; ++i, t += 600'000) aimd.on_throttle(t);
  EXPECT_DOUBLE_EQ(aimd.limit(), 2);
  const std::optional<AimdChange> change = aimd.on_throttle(t);
  ASSERT_TRUE(change.has_value());  // a new episode at the floor is still reported
  EXPECT_DOUBLE_EQ(change->limit_after, 2);
}

TEST(AimdTest, NoRecoveryDuringCooldownThenAdditive) {
  Aimd aimd(aimd_config());
  aimd.on_throttle(0);  // 20 -> 10
  EXPECT_FALSE(aimd.on_success(1'000).has_value());
  EXPECT_FALSE(aimd.on_success(599'999).has_value());
  EXPECT_EQ(aimd.state(), AimdState::throttled);
  // The cool-down ends at 600 s: recovering, first step one interval later.
  std::optional<AimdChange> change = aimd.on_success(600'000);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->to, AimdState::recovering);
  EXPECT_DOUBLE_EQ(aimd.limit(), 10);
  EXPECT_FALSE(aimd.on_success(659'999).has_value());
  change = aimd.on_success(660'000);
  ASSERT_TRUE(change.has_value());
  EXPECT_DOUBLE_EQ(change->limit_after, 14);
  EXPECT_FALSE(aimd.on_success(700'000).has_value());  // one step per interval
  EXPECT_DOUBLE_EQ(aimd.on_success(720'000)->limit_after, 18);
  change = aimd.on_success(780'000);
  ASSERT_TRUE(change.has_value());
  EXPECT_DOUBLE_EQ(change->limit_after, 20);  // capped at the ceiling
  EXPECT_EQ(change->to, AimdState::normal);
  EXPECT_FALSE(aimd.on_success(900'000).has_value());
}

TEST(AimdTest, ThrottleDuringRecoveryCutsFromCurrent) {
  Aimd aimd(aimd_config());
  aimd.on_throttle(0);       // 10
  aimd.on_success(600'000);  // recovering
  aimd.on_success(660'000);  // 14
  const std::optional<AimdChange> change = aimd.on_throttle(661'000);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->from, AimdState::recovering);
  EXPECT_EQ(change->to, AimdState::throttled);
  EXPECT_DOUBLE_EQ(change->limit_after, 7);
}

TEST(AimdTest, LateSuccessSkipsStraightToAStep) {
  Aimd aimd(aimd_config());
  aimd.on_throttle(0);
  // The first clean reply comes long after the cool-down: one step, not one per missed minute.
  const std::optional<AimdChange> change = aimd.on_success(3'600'000);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->from, AimdState::throttled);
  EXPECT_EQ(change->to, AimdState::recovering);
  EXPECT_DOUBLE_EQ(change->limit_after, 14);
}

// ---- circuit breaker ----

BreakerConfig breaker_config() {
  BreakerConfig config;
  config.failures_to_open = 3;
  config.open_ms = 10'000;
  config.open_growth = 2;
  config.open_max_ms = 35'000;
  config.probe_timeout_ms = 60'000;
  return config;
}

TEST(CircuitBreakerTest, OpensAfterConsecutiveFailures) {
  CircuitBreaker breaker(breaker_config());
  EXPECT_TRUE(breaker.allow_attempt(0));
  EXPECT_FALSE(breaker.on_failure(0).has_value());
  EXPECT_FALSE(breaker.on_failure(1).has_value());
  EXPECT_FALSE(breaker.on_success(2).has_value());  // a success resets the count
  EXPECT_FALSE(breaker.on_failure(3).has_value());
  EXPECT_FALSE(breaker.on_failure(4).has_value());
  const std::optional<BreakerChange> change = breaker.on_failure(5);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->from, BreakerState::closed);
  EXPECT_EQ(change->to, BreakerState::open);
  EXPECT_EQ(change->open_until_ms, 10'005);
  EXPECT_FALSE(breaker.allow_attempt(10'004));
  EXPECT_EQ(breaker.state(10'004), BreakerState::open);
  EXPECT_EQ(breaker.state(10'005), BreakerState::half_open);
}

TEST(CircuitBreakerTest, HalfOpenAllowsOneProbeAndSuccessCloses) {
  CircuitBreaker breaker(breaker_config());
  for (int i = 0; i < 3; ++i) breaker.on_failure(0);
  std::optional<BreakerChange> change;
  EXPECT_TRUE(breaker.allow_attempt(10'000, &change));  // the probe
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->to, BreakerState::half_open);
  EXPECT_FALSE(breaker.allow_attempt(10'001, &change));
  EXPECT_FALSE(change.has_value());
  change = breaker.on_success(12'000);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->from, BreakerState::half_open);
  EXPECT_EQ(change->to, BreakerState::closed);
  EXPECT_TRUE(breaker.allow_attempt(12'001));
  EXPECT_TRUE(breaker.allow_attempt(12'001));
  EXPECT_EQ(breaker.trips(), 0u);
}

TEST(CircuitBreakerTest, FailedProbesGrowTheCooldownUpToTheMax) {
  CircuitBreaker breaker(breaker_config());
  for (int i = 0; i < 3; ++i) breaker.on_failure(0);
  EXPECT_EQ(breaker.open_until_ms(), 10'000);
  std::int64_t t = 10'000;
  const std::int64_t expected_ms[] = {20'000, 35'000, 35'000};  // 10 s × 2, × 4 capped at 35 s
  for (std::int64_t duration_ms : expected_ms) {
    ASSERT_TRUE(breaker.allow_attempt(t));
    const std::optional<BreakerChange> change = breaker.on_failure(t);  // the probe fails
    ASSERT_TRUE(change.has_value());
    EXPECT_EQ(change->from, BreakerState::half_open);
    EXPECT_EQ(change->open_until_ms, t + duration_ms);
    t += duration_ms;
  }
  EXPECT_EQ(breaker.trips(), 4u);
}

TEST(CircuitBreakerTest, LateFailuresWhileOpenDoNotExtend) {
  CircuitBreaker breaker(breaker_config());
  for (int i = 0; i < 3; ++i) breaker.on_failure(0);
  EXPECT_FALSE(breaker.on_failure(5'000).has_value());
  EXPECT_EQ(breaker.open_until_ms(), 10'000);
}

TEST(CircuitBreakerTest, LostProbeIsReplacedAfterTimeout) {
  CircuitBreaker breaker(breaker_config());
  for (int i = 0; i < 3; ++i) breaker.on_failure(0);
  EXPECT_TRUE(breaker.allow_attempt(10'000));
  EXPECT_FALSE(breaker.allow_attempt(69'999));
  EXPECT_TRUE(breaker.allow_attempt(70'000));
}

// ---- backoff ----

TEST(BackoffTest, ExponentialWithoutJitter) {
  BackoffConfig config{60'000, 2, 3'600'000, 86'400'000, Jitter::none};
  const auto never = [] { return 0.99; };
  std::vector<std::int64_t> delays;
  for (std::uint32_t attempt = 1; attempt <= 8; ++attempt) {
    delays.push_back(next_retry(config, attempt, 0, 0, 0, never).delay_ms);
  }
  EXPECT_EQ(delays, (std::vector<std::int64_t>{60'000, 120'000, 240'000, 480'000, 960'000,
                                               1'920'000, 3'600'000, 3'600'000}));
  // A huge attempt count saturates at the maximum instead of overflowing.
  EXPECT_EQ(next_retry(config, 4'000'000'000u, 0, 0, 0, never).delay_ms, 3'600'000);
}

TEST(BackoffTest, FullJitterStaysWithinBounds) {
  BackoffConfig config{60'000, 2, 3'600'000, 86'400'000, Jitter::full};
  const auto low = [] { return 0.0; };
  const auto middle = [] { return 0.5; };
  const auto high = [] { return 0.999999; };
  EXPECT_EQ(next_retry(config, 1, 0, 0, 0, middle).delay_ms, 60'000);  // no span yet
  EXPECT_EQ(next_retry(config, 3, 0, 0, 0, low).delay_ms, 60'000);
  EXPECT_EQ(next_retry(config, 3, 0, 0, 0, middle).delay_ms, 150'000);  // 60 s + 0.5 × 180 s
  EXPECT_EQ(next_retry(config, 3, 0, 0, 0, high).delay_ms, 239'999);
  EXPECT_EQ(next_retry(config, 30, 0, 0, 0, middle).delay_ms, 1'830'000);
}

TEST(BackoffTest, DecorrelatedJitterGrowsFromThePreviousDelay) {
  BackoffConfig config{60'000, 3, 600'000, 86'400'000, Jitter::decorrelated};
  const auto middle = [] { return 0.5; };
  // [60 s, 3 × 60 s] → 120 s; [60 s, 360 s] → 210 s; [60 s, min(630 s, 600 s)] → 330 s.
  RetryDecision first = next_retry(config, 1, 0, 0, 0, middle);
  EXPECT_EQ(first.delay_ms, 120'000);
  RetryDecision second = next_retry(config, 2, 0, 0, first.delay_ms, middle);
  EXPECT_EQ(second.delay_ms, 210'000);
  RetryDecision third = next_retry(config, 3, 0, 0, second.delay_ms, middle);
  EXPECT_EQ(third.delay_ms, 330'000);
  const auto high = [] { return 0.999999; };
  EXPECT_LE(next_retry(config, 9, 0, 0, 10'000'000, high).delay_ms, 600'000);
}

TEST(BackoffTest, LastRetryLandsOnMaxAgeThenExpires) {
  BackoffConfig config{60'000, 2, 3'600'000, 3 * 86'400'000LL, Jitter::none};
  const auto fixed = [] { return 0.5; };
  const std::int64_t first = 1'795'446'601'000;
  const std::int64_t max_age = 3 * 86'400'000LL;
  // Half an hour before the age limit, a one-hour delay is pulled in to the limit.
  RetryDecision decision = next_retry(config, 20, first, first + max_age - 1'800'000, 0, fixed);
  EXPECT_FALSE(decision.expired);
  EXPECT_EQ(decision.retry_at_ms, first + max_age);
  EXPECT_EQ(decision.delay_ms, 1'800'000);
  // That last attempt fails too: expired.
  decision = next_retry(config, 21, first, first + max_age, 0, fixed);
  EXPECT_TRUE(decision.expired);
  decision = next_retry(config, 2, first, first + max_age + 5, 0, fixed);
  EXPECT_TRUE(decision.expired);
}

TEST(BackoffTest, ScheduleOverThreeDaysWithFixedRandom) {
  // The default schedule as the campaign uses it: how many attempts fit in max_age.
  BackoffConfig config;  // 1 min, ×2, max 1 h, 3 days, full jitter
  const auto fixed = [] { return 0.5; };
  std::int64_t now = 0;
  std::int64_t previous = 0;
  std::uint32_t attempts = 1;
  while (true) {
    const RetryDecision decision = next_retry(config, attempts, 0, now, previous, fixed);
    if (decision.expired) break;
    EXPECT_GE(decision.delay_ms, 1);
    EXPECT_LE(decision.delay_ms, config.max_delay_ms);
    now = decision.retry_at_ms;
    previous = decision.delay_ms;
    ++attempts;
  }
  EXPECT_EQ(now, config.max_age_ms);
  // Delays of 60, 90, 150, 270, 510, 990 s (2070 s in all), then 1830 s each (60 s plus half
  // of 59 min): 140 of them, one pulled in to land at 72 h, and the attempt there fails.
  EXPECT_EQ(attempts, 148u);
}

}  // namespace
}  // namespace hayate::shaping
