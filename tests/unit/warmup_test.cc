// Tests for campaign/delivery/warmup: daily caps follow the schedule from a source's first day
// with a provider, counts reset at UTC midnight, survive a reload, and two processes saving to
// one file add up rather than overwrite each other.
#include "campaign/delivery/warmup.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace hayate::campaign {
namespace {

constexpr std::int64_t day_ms = 86'400'000;
constexpr std::int64_t t0 = 1'795'392'000'000;  // 2026-11-23T00:00:00Z, a UTC midnight
const std::vector<std::uint32_t> schedule = {200, 500, 1000};

class WarmupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "warmup_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/hayate-warmup.state";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  WarmupState open_ok() {
    absl::StatusOr<WarmupState> state = WarmupState::open(path_);
    EXPECT_TRUE(state.ok()) << state.status();
    return std::move(*state);
  }
  std::string dir_;
  std::string path_;
};

TEST_F(WarmupTest, DayBoundaries) {
  EXPECT_EQ(WarmupState::day_of(t0), 20'780);
  EXPECT_EQ(WarmupState::day_of(t0 - 1), 20'779);
  EXPECT_EQ(WarmupState::day_of(t0 + day_ms - 1), 20'780);
  EXPECT_EQ(WarmupState::day_of(-1), -1);
}

TEST_F(WarmupTest, CapRisesDayByDayFromTheFirstSend) {
  WarmupState state = open_ok();
  // Never sent: day 1's cap.
  EXPECT_EQ(state.cap_today("ip1", "gmail", schedule, t0 + 5 * day_ms), 200u);
  const std::int64_t first = t0 + 10 * 3'600'000;  // 10:00 on day 1
  state.record_sent("ip1", "gmail", first, 150);
  EXPECT_EQ(state.sent_today("ip1", "gmail", first), 150u);
  EXPECT_EQ(state.remaining_today("ip1", "gmail", schedule, first), 50u);
  state.record_sent("ip1", "gmail", t0 + day_ms - 1, 60);  // 23:59:59.999, still day 1
  EXPECT_EQ(state.remaining_today("ip1", "gmail", schedule, t0 + day_ms - 1), 0u);
  // Midnight UTC: day 2, count restarts.
  EXPECT_EQ(state.cap_today("ip1", "gmail", schedule, t0 + day_ms), 500u);
  EXPECT_EQ(state.sent_today("ip1", "gmail", t0 + day_ms), 0u);
  EXPECT_EQ(state.cap_today("ip1", "gmail", schedule, t0 + 2 * day_ms), 1000u);
  // Past the schedule: no cap.
  EXPECT_EQ(state.cap_today("ip1", "gmail", schedule, t0 + 3 * day_ms), std::nullopt);
  EXPECT_EQ(state.remaining_today("ip1", "gmail", schedule, t0 + 3 * day_ms), std::nullopt);
  // Other providers and sources are counted apart.
  EXPECT_EQ(state.sent_today("ip1", "yahoo", first), 0u);
  EXPECT_EQ(state.sent_today("ip2", "gmail", first), 0u);
  EXPECT_EQ(state.cap_today("ip1", "gmail", {}, first), std::nullopt);
}

TEST_F(WarmupTest, SurvivesReload) {
  {
    WarmupState state = open_ok();
    state.record_sent("ip1", "gmail", t0 + 1'000, 120);
    state.record_sent("ip1", "yahoo", t0 + 2'000, 7);
    ASSERT_TRUE(state.save().ok());
    state.record_sent("ip1", "gmail", t0 + 3'000, 5);  // unsaved: lost with the process
  }
  WarmupState state = open_ok();
  EXPECT_EQ(state.sent_today("ip1", "gmail", t0 + 4'000), 120u);
  EXPECT_EQ(state.sent_today("ip1", "yahoo", t0 + 4'000), 7u);
  // The first day is remembered: the next day is day 2 of the schedule.
  EXPECT_EQ(state.cap_today("ip1", "gmail", schedule, t0 + day_ms + 1), 500u);
  state.record_sent("ip1", "gmail", t0 + day_ms + 1, 30);
  ASSERT_TRUE(state.save().ok());
  WarmupState again = open_ok();
  EXPECT_EQ(again.sent_today("ip1", "gmail", t0 + day_ms + 2), 30u);
  EXPECT_EQ(again.cap_today("ip1", "gmail", schedule, t0 + 2 * day_ms), 1000u);
}

TEST_F(WarmupTest, TwoWritersAddUp) {
  WarmupState a = open_ok();
  WarmupState b = open_ok();
  a.record_sent("ip1", "gmail", t0 + 1'000, 100);
  b.record_sent("ip1", "gmail", t0 + 2'000, 40);
  ASSERT_TRUE(a.save().ok());
  ASSERT_TRUE(b.save().ok());
  EXPECT_EQ(b.sent_today("ip1", "gmail", t0 + 3'000), 140u);
  a.record_sent("ip1", "gmail", t0 + 4'000, 1);
  EXPECT_EQ(a.sent_today("ip1", "gmail", t0 + 4'000), 101u);  // b's not seen until a saves
  ASSERT_TRUE(a.save().ok());
  EXPECT_EQ(a.sent_today("ip1", "gmail", t0 + 4'000), 141u);
  EXPECT_EQ(open_ok().sent_today("ip1", "gmail", t0 + 5'000), 141u);
}

TEST_F(WarmupTest, ClockGoingBackCountsNothing) {
  WarmupState state = open_ok();
  state.record_sent("ip1", "gmail", t0 + day_ms, 10);
  state.record_sent("ip1", "gmail", t0 + day_ms - 1, 10);
  EXPECT_EQ(state.sent_today("ip1", "gmail", t0 + day_ms), 10u);
}

TEST_F(WarmupTest, NotAStateFile) {
  std::ofstream(path_) << "this is not a database, just some text that is long enough to be "
                          "read as a header and rejected by SQLite for what it is.\n";
  absl::StatusOr<WarmupState> state = WarmupState::open(path_);
  ASSERT_FALSE(state.ok());
  EXPECT_TRUE(std::string(state.status().message()).starts_with(path_ + ": ")) << state.status();
  EXPECT_FALSE(WarmupState::open(dir_ + "/missing-dir/state").ok());
}

}  // namespace
}  // namespace hayate::campaign
