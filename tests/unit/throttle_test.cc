// Throttle: one destination × source on a shard, driven with an explicit clock.
#include "campaign/delivery/throttle.h"

#include <gtest/gtest.h>

#include <limits>

namespace hayate::campaign {
namespace {

ThrottleLimits paced(std::uint32_t per_second, std::uint32_t connections) {
  ThrottleLimits limits;
  limits.connections_max = connections;
  limits.rate = shaping::Rate{per_second, 1000};
  limits.rate_min = shaping::Rate{1, 1000};
  limits.throttle_factor = 0.5;
  limits.throttle_cooldown_ms = 1000;
  limits.recovery_interval_ms = 1000;
  return limits;
}

TEST(ThrottleTest, PacesEvenlyAtTheConfiguredRate) {
  Throttle throttle("gmail", "ip1", paced(10, 4), 0);
  EXPECT_TRUE(throttle.try_send(0));
  EXPECT_FALSE(throttle.try_send(50));  // 10/s: one every 100 ms
  EXPECT_EQ(throttle.next_send_ms(50), 100);
  EXPECT_TRUE(throttle.try_send(100));
  EXPECT_EQ(throttle.sent(), 2u);
}

TEST(ThrottleTest, ThrottleCutsRateAndConnectionsOncePerCooldownThenRecovers) {
  Throttle throttle("gmail", "ip1", paced(10, 4), 0);
  std::optional<ThrottleEvent> event = throttle.on_throttle(1000, 0);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->type, ThrottleEventType::throttled);
  EXPECT_EQ(event->connections_before, 4u);
  EXPECT_EQ(event->connections_after, 2u);
  EXPECT_NEAR(event->rate_per_second_after, 5.0, 0.01);
  EXPECT_EQ(throttle.state(1000), ShapingState::throttled);
  // A burst of 421s within the cool-down is one signal.
  EXPECT_FALSE(throttle.on_throttle(1500, 0).has_value());
  EXPECT_EQ(throttle.connections_allowed(), 2u);
  EXPECT_EQ(throttle.throttles(), 1u);
  // Clean replies past the cool-down climb back: one connection and a tenth of the rate each
  // interval, and one "recovered" event when both are back.
  int recovered = 0;
  for (std::int64_t now = 2000; now <= 20000; now += 1000) {
    if (std::optional<ThrottleEvent> back = throttle.on_clean_reply(now)) {
      EXPECT_EQ(back->type, ThrottleEventType::recovered);
      EXPECT_EQ(back->connections_after, 4u);
      EXPECT_NEAR(back->rate_per_second_after, 10.0, 0.01);
      ++recovered;
    }
  }
  EXPECT_EQ(recovered, 1);
  EXPECT_EQ(throttle.state(20000), ShapingState::normal);
}

TEST(ThrottleTest, UnpacedThrottleCutsFromTheObservedPaceAndUnpacesWhenRecovered) {
  ThrottleLimits limits = paced(10, 2);
  limits.rate = shaping::Rate{};  // none configured
  Throttle throttle("default", "", limits, 0);
  EXPECT_EQ(throttle.rate_per_second(), 0);
  for (std::int64_t now = 0; now < 2000; now += 50) ASSERT_TRUE(throttle.try_send(now));  // 20/s
  ASSERT_TRUE(throttle.on_throttle(2000, 0).has_value());
  EXPECT_NEAR(throttle.rate_per_second(), 10.0, 0.5);  // half of the 20/s it was sending
  std::int64_t now = 3000;
  for (; now < 60000 && throttle.rate_per_second() != 0; now += 1000) throttle.on_clean_reply(now);
  EXPECT_EQ(throttle.rate_per_second(), 0);  // back to no pacing at all
}

TEST(ThrottleTest, GreetingRefusalCutsConnectionsOnly) {
  Throttle throttle("default", "", paced(10, 4), 0);
  std::optional<ThrottleEvent> event = throttle.on_throttle(1000, 0, /*cut_rate=*/false);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->connections_after, 2u);
  EXPECT_NEAR(event->rate_per_second_after, 10.0, 0.01);
}

TEST(ThrottleTest, SuspensionBlocksSendingAndConnectionsThenResumesOnce) {
  Throttle throttle("yahoo", "ip2", paced(100, 2), 0);
  std::optional<ThrottleEvent> event = throttle.suspend(1000, 5000);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->type, ThrottleEventType::suspended);
  EXPECT_EQ(event->until_ms, 6000);
  EXPECT_FALSE(throttle.suspend(2000, 1000).has_value());  // shorter: the longer one stands
  EXPECT_FALSE(throttle.try_send(3000));
  EXPECT_FALSE(throttle.may_open_connection(3000));
  EXPECT_EQ(throttle.next_send_ms(3000), 6000);
  EXPECT_FALSE(throttle.poll(5999).has_value());
  std::optional<ThrottleEvent> resumed = throttle.poll(6000);
  ASSERT_TRUE(resumed.has_value());
  EXPECT_EQ(resumed->type, ThrottleEventType::resumed);
  EXPECT_FALSE(throttle.poll(7000).has_value());
  EXPECT_TRUE(throttle.try_send(6000));
}

TEST(ThrottleTest, WarmupCapStopsSendingForTheDay) {
  ThrottleLimits limits = paced(1000, 2);
  limits.warmup_remaining = 3;
  Throttle throttle("gmail", "new-ip", limits, 0);
  EXPECT_TRUE(throttle.try_send(0));
  EXPECT_TRUE(throttle.try_send(10));
  EXPECT_TRUE(throttle.try_send(20));
  EXPECT_FALSE(throttle.try_send(30));
  EXPECT_TRUE(throttle.warmup_spent());
  EXPECT_FALSE(throttle.may_open_connection(30));
  EXPECT_EQ(throttle.next_send_ms(30), std::numeric_limits<std::int64_t>::max());
}

TEST(ThrottleTest, SharesAddUpToTheWhole) {
  EXPECT_EQ(share_of(5, 2, 0), 3u);
  EXPECT_EQ(share_of(5, 2, 1), 2u);
  EXPECT_EQ(share_of(3, 4, 3), 0u);
  std::uint64_t sum = 0;
  for (std::uint32_t i = 0; i < 7; ++i) sum += share_of(100, 7, i);
  EXPECT_EQ(sum, 100u);
}

TEST(ThrottleTest, ConnectionsCountAgainstTheAllowance) {
  Throttle throttle("default", "", paced(10, 2), 0);
  EXPECT_TRUE(throttle.may_open_connection(0));
  throttle.connection_opened();
  throttle.connection_opened();
  EXPECT_FALSE(throttle.may_open_connection(0));
  throttle.connection_closed();
  EXPECT_TRUE(throttle.may_open_connection(0));
}

}  // namespace
}  // namespace hayate::campaign
