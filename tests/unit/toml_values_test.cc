// Tests for campaign/config/toml_values: the integer and duration readers that the job file
// and the shaping rules share accept the same spellings and explain mistakes in the same words.
#include "campaign/config/toml_values.h"

#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "campaign/config/toml_names.h"

namespace hayate::campaign {
namespace {

// The node of `key` in a one-line document "key = <value>".
class TomlValue {
 public:
  explicit TomlValue(std::string_view value) : root_(toml::parse(std::string("key = ") += value)) {}
  const toml::node& node() const { return *root_.get("key"); }

 private:
  toml::table root_;
};

std::string integer_error(std::string_view value, std::int64_t min, std::int64_t max) {
  const absl::StatusOr<std::int64_t> read =
      read_toml_integer(TomlValue(value).node(), "[t] key", min, max);
  return read.ok() ? "ok" : std::string(read.status().message());
}

std::string duration_error(std::string_view value, std::uint64_t max_ms) {
  const absl::StatusOr<std::uint64_t> read =
      read_toml_duration_ms(TomlValue(value).node(), "[t] key", max_ms);
  return read.ok() ? "ok" : std::string(read.status().message());
}

TEST(TomlIntegerTest, ReadsWithinBounds) {
  EXPECT_EQ(*read_toml_integer(TomlValue("7").node(), "[t] key", 1, 10), 7);
  EXPECT_EQ(*read_toml_integer(TomlValue("1").node(), "[t] key", 1, 10), 1);
  EXPECT_EQ(*read_toml_integer(TomlValue("10").node(), "[t] key", 1, 10), 10);
}

TEST(TomlIntegerTest, ExplainsMistakes) {
  EXPECT_EQ(integer_error("0", 1, 10), "[t] key must be between 1 and 10, got 0");
  EXPECT_EQ(integer_error("11", 1, 10), "[t] key must be between 1 and 10, got 11");
  EXPECT_EQ(integer_error("\"5\"", 1, 10), "[t] key must be an integer, got a string");
  EXPECT_EQ(integer_error("2.5", 1, 10), "[t] key must be an integer, got a floating-point number");
}

TEST(TomlDurationTest, ReadsStringsAndSeconds) {
  EXPECT_EQ(*read_toml_duration_ms(TomlValue("\"250ms\"").node(), "[t] key", 60'000), 250u);
  EXPECT_EQ(*read_toml_duration_ms(TomlValue("\"30s\"").node(), "[t] key", 60'000), 30'000u);
  EXPECT_EQ(*read_toml_duration_ms(TomlValue("\"1m\"").node(), "[t] key", 60'000), 60'000u);
  EXPECT_EQ(*read_toml_duration_ms(TomlValue("45").node(), "[t] key", 60'000), 45'000u);
}

TEST(TomlDurationTest, ExplainsMistakes) {
  EXPECT_EQ(duration_error("0", 60'000), "[t] key must be more than 0");
  EXPECT_EQ(duration_error("\"0s\"", 60'000), "[t] key must be more than 0");
  EXPECT_EQ(duration_error("-5", 60'000), "[t] key must not be negative, got -5");
  EXPECT_EQ(duration_error("61", 60'000), "[t] key must be at most 1m");
  EXPECT_EQ(duration_error("\"2h\"", 86'400'000), "ok");
  EXPECT_EQ(duration_error("\"2d\"", 86'400'000), "[t] key must be at most 1d");
  // An integer of seconds too large to turn into milliseconds is still "too long".
  EXPECT_EQ(duration_error("9223372036854775807", 60'000), "[t] key must be at most 1m");
  EXPECT_EQ(duration_error("\"soon\"", 60'000),
            "[t] key 'soon' is not a duration; write e.g. \"250ms\", \"30s\", \"5m\", \"2h\", "
            "\"1d\" or an integer of seconds");
  EXPECT_EQ(duration_error("true", 60'000),
            "[t] key must be a duration (a string such as \"30s\" or an integer of seconds), got "
            "a boolean");
}

TEST(TomlDurationTest, FormatsWithTheLargestUnit) {
  EXPECT_EQ(format_duration(86'400'000), "1d");
  EXPECT_EQ(format_duration(7'200'000), "2h");
  EXPECT_EQ(format_duration(90'000), "90s");
  EXPECT_EQ(format_duration(1'500), "1500ms");
}

TEST(EscapeForMessageTest, KeepsMessagesOnePrintableLine) {
  EXPECT_EQ(escape_for_message("plain é"), "plain é");
  EXPECT_EQ(escape_for_message("a\r\nb\\"), "a\\x0d\\x0ab\\\\");
  EXPECT_EQ(escape_for_message(std::string(300, 'x')), std::string(200, 'x') + "...");
}

}  // namespace
}  // namespace hayate::campaign
