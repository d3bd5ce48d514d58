// Tests for campaign/output/summary: summary.json is valid JSON, has every key README.md lists
// and puts each count under its own key. A tiny JSON reader below flattens the document into
// "path = value" pairs ("all_runs.rejected", "shaping[0].destination"), so that a misplaced
// comma or a value under the wrong key fails the test.
#include "campaign/output/summary.h"

#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <string>
#include <string_view>

namespace hayate::campaign {
namespace {

// A strict reader for what render_summary writes: objects, arrays, strings (escapes kept as
// the byte they escape), numbers, true, false and null. Fails on anything else or on trailing
// bytes.
class FlatJson {
 public:
  static bool parse(std::string_view text, std::map<std::string, std::string>& values) {
    FlatJson reader(text, values);
    return reader.value("") && (reader.skip_space(), reader.at_ == text.size());
  }

 private:
  FlatJson(std::string_view text, std::map<std::string, std::string>& values)
      : text_(text), values_(values) {}

  void skip_space() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
  }
  bool take(char c) {
    skip_space();
    if (at_ >= text_.size() || text_[at_] != c) return false;
    ++at_;
    return true;
  }
  bool string(std::string& out) {
    if (!take('"')) return false;
    while (at_ < text_.size() && text_[at_] != '"') {
      if (static_cast<unsigned char>(text_[at_]) < 0x20) return false;
      if (text_[at_] == '\\' && ++at_ >= text_.size()) return false;
      out += text_[at_++];
    }
    return take('"');
  }
  bool value(const std::string& path) {
    skip_space();
    if (at_ >= text_.size()) return false;
    const char c = text_[at_];
    if (c == '{') return object(path);
    if (c == '[') return array(path);
    std::string scalar;
    if (c == '"') {
      if (!string(scalar)) return false;
    } else {
      const std::size_t start = at_;
      while (at_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[at_])) ||
                                    text_[at_] == '.' || text_[at_] == '-')) {
        ++at_;
      }
      scalar = text_.substr(start, at_ - start);
      const bool number = !scalar.empty() &&
                          (std::isdigit(static_cast<unsigned char>(scalar[0])) || scalar[0] == '-');
      if (!number && scalar != "true" && scalar != "false" && scalar != "null") return false;
    }
    return values_.emplace(path, scalar).second;  // a key twice is an error too
  }
  bool object(const std::string& path) {
    take('{');
    values_[path] = "{}";
    if (take('}')) return true;
    do {
      std::string key;
      if (!string(key) || !take(':')) return false;
      if (!value(path.empty() ? key : path + "." + key)) return false;
    } while (take(','));
    return take('}');
  }
  bool array(const std::string& path) {
    take('[');
    values_[path] = "[]";
    if (take(']')) return true;
    int index = 0;
    do {
      if (!value(path + "[" + std::to_string(index++) + "]")) return false;
    } while (take(','));
    return take(']');
  }

  std::string_view text_;
  std::map<std::string, std::string>& values_;
  std::size_t at_ = 0;
};

RunSummary distinct_summary() {
  RunSummary summary;
  summary.campaign = "nl-2026.11";
  summary.rows = 101;
  summary.recipients = 102;
  summary.delivered = 103;
  summary.bounced = 104;
  summary.bounce_reasons.add(bounce::Reason::userunknown, 3);
  summary.bounce_reasons.add(bounce::Reason::mailboxfull, 1);
  summary.deferred = 105;
  summary.rejected = 106;
  summary.suppressed = 107;
  summary.attempts_deferred = 108;
  summary.domains = 109;
  summary.connections = 110;
  summary.connections_failed = 111;
  summary.message_bytes = 5'000'000'000;  // past 32 bits
  summary.shards = 4;
  summary.tls_handshakes = 112;
  summary.tls_resumptions = 113;
  summary.tls_failures = 114;
  summary.not_attempted = 115;
  summary.possible_duplicates = 116;
  summary.stopped_by_signal = true;
  summary.resumed = false;
  summary.skipped_as_final_before = 116;
  summary.all_runs.delivered = 201;
  summary.all_runs.bounced = 202;
  summary.all_runs.deferred = 203;
  summary.all_runs.rejected = 204;
  summary.all_runs.suppressed = 205;
  summary.all_runs.attempts_deferred = 999;  // not a key of all_runs
  summary.suppression_recorded.suppressed = 301;
  summary.suppression_recorded.soft_counted = 302;
  summary.suppression_recorded.already_suppressed = 303;
  summary.shaping.push_back(ShapingCounts{"gmail", "throttled", 5, 0, 1});
  summary.shaping.push_back(ShapingCounts{"odd \"name\"", "suspended", 0, 2, 0});
  summary.duration_s = 12.34567;
  summary.messages_per_second = 8.345;
  summary.exit_code = 75;
  summary.suppression_list = "/var/lib/hayate/suppression.db";
  return summary;
}

TEST(SummaryTest, RendersEveryKeyWithItsValue) {
  const std::string json = render_summary(distinct_summary());
  std::map<std::string, std::string> values;
  ASSERT_TRUE(FlatJson::parse(json, values)) << json;
  const std::map<std::string, std::string> expected = {
      {"", "{}"},
      {"campaign", "nl-2026.11"},
      {"rows", "101"},
      {"recipients", "102"},
      {"delivered", "103"},
      {"bounced", "104"},
      {"bounce_reasons", "{}"},
      {"bounce_reasons.userunknown", "3"},
      {"bounce_reasons.mailboxfull", "1"},
      {"deferred", "105"},
      {"rejected", "106"},
      {"suppressed", "107"},
      {"attempts_deferred", "108"},
      {"domains", "109"},
      {"connections", "110"},
      {"connections_failed", "111"},
      {"message_bytes", "5000000000"},
      {"shards", "4"},
      {"tls_handshakes", "112"},
      {"tls_resumptions", "113"},
      {"tls_failures", "114"},
      {"not_attempted", "115"},
      {"possible_duplicates", "116"},
      {"stopped_by_signal", "true"},
      {"resumed", "false"},
      {"skipped_as_final_before", "116"},
      {"all_runs", "{}"},
      {"all_runs.delivered", "201"},
      {"all_runs.bounced", "202"},
      {"all_runs.deferred", "203"},
      {"all_runs.rejected", "204"},
      {"all_runs.suppressed", "205"},
      {"suppression_recorded", "{}"},
      {"suppression_recorded.suppressed", "301"},
      {"suppression_recorded.soft_counted", "302"},
      {"suppression_recorded.already_suppressed", "303"},
      {"suppression_list", "/var/lib/hayate/suppression.db"},
      {"shaping", "[]"},
      {"shaping[0]", "{}"},
      {"shaping[0].destination", "gmail"},
      {"shaping[0].state", "throttled"},
      {"shaping[0].throttles", "5"},
      {"shaping[0].suspensions", "0"},
      {"shaping[0].recoveries", "1"},
      {"shaping[1]", "{}"},
      {"shaping[1].destination", "odd \"name\""},
      {"shaping[1].state", "suspended"},
      {"shaping[1].throttles", "0"},
      {"shaping[1].suspensions", "2"},
      {"shaping[1].recoveries", "0"},
      {"duration_s", "12.346"},
      {"messages_per_second", "8.3"},
      {"exit_code", "75"},
  };
  EXPECT_EQ(values, expected);
}

TEST(SummaryTest, EmptyListsAndTheLayoutScriptsGrep) {
  RunSummary summary;
  summary.campaign = "c";
  const std::string json = render_summary(summary);
  std::map<std::string, std::string> values;
  ASSERT_TRUE(FlatJson::parse(json, values)) << json;
  EXPECT_EQ(values.at("bounce_reasons"), "{}");
  EXPECT_EQ(values.at("shaping"), "[]");
  EXPECT_EQ(values.count("shaping[0]"), 0u);
  EXPECT_EQ(values.at("suppression_list"), "null");  // [suppression] enabled = false
  // One key a line, two spaces in, the object closed on its own line: shell tests grep it.
  EXPECT_TRUE(json.starts_with("{\n  \"campaign\": \"c\",\n  \"rows\": 0,\n")) << json;
  EXPECT_NE(json.find("\n  \"delivered\": 0,\n"), std::string::npos) << json;
  EXPECT_NE(json.find("\n  \"shaping\": [],\n"), std::string::npos) << json;
  EXPECT_TRUE(json.ends_with("\n  \"exit_code\": 0\n}\n")) << json;
}

}  // namespace
}  // namespace hayate::campaign
