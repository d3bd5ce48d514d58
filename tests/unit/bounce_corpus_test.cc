// Agreement with the reference classifier (Sisimai) over real bounces: tests/data/bounces/
// (see its README.md for the messages, their licences and how agreement is counted). Also
// checks the hand-written samples exactly.
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "campaign/bounce/report_parser.h"
#include "engine/strings.h"
#include "gtest/gtest.h"

namespace hayate::campaign::bounce {
namespace {

const std::string kDir = std::string(HAYATE_TEST_DATA_DIR) + "/bounces/";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<std::vector<std::string>> read_tsv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (;;) {
      const std::size_t tab = line.find('\t', start);
      fields.push_back(line.substr(start, tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    rows.push_back(std::move(fields));
  }
  return rows;
}

// Sisimai makes up X.0.9NN when a bounce gives no code: then the class is what can agree.
bool status_agrees(const std::string& reference, const std::string& ours) {
  if (reference == ours) return true;
  const bool made_up =
      reference.size() == 7 && reference.compare(1, 3, ".0.") == 0 && reference[4] == '9';
  return made_up && !ours.empty() && ours[0] == reference[0];
}

bool reason_agrees(const std::string& reference, const std::string& ours) {
  static const std::set<std::pair<std::string, std::string>> kSameVerdict = {
      {"onhold", "undefined"},       {"undefined", "onhold"},
      {"exceedlimit", "mesgtoobig"}, {"securityerror", "authfailure"},
      {"blocked", "requireptr"},     {"blocked", "badreputation"},
      {"toomanyconn", "speeding"},   {"toomanyconn", "ratelimited"},
  };
  return reference == ours || kSameVerdict.count({reference, ours}) > 0;
}

TEST(BounceCorpus, AgreementWithReferenceClassifier) {
  const auto expected = read_tsv(kDir + "expected.tsv");
  ASSERT_GT(expected.size(), 100u);
  std::map<std::string, std::vector<Finding>> parsed;
  std::size_t recipients = 0, found = 0, status_ok = 0, hard_ok = 0, reason_ok = 0;
  std::size_t quiet_messages = 0, quiet_agree = 0;
  for (const auto& row : expected) {
    ASSERT_EQ(row.size(), 5u) << row[0];
    auto it = parsed.find(row[0]);
    if (it == parsed.end()) {
      it = parsed.emplace(row[0], parse_report(read_file(kDir + row[0]))).first;
    }
    const std::vector<Finding>& findings = it->second;
    if (row[1] == "-") {
      ++quiet_messages;
      quiet_agree += findings.empty() ? 1 : 0;
      continue;
    }
    ++recipients;
    const Finding* match = nullptr;
    for (const Finding& finding : findings) {
      if (lower(finding.recipient) == lower(row[1])) match = &finding;
    }
    if (match == nullptr) {
      std::printf("  missed   %s %s (%s %s)\n", row[0].c_str(), row[1].c_str(), row[2].c_str(),
                  row[3].c_str());
      continue;
    }
    ++found;
    const std::string status = match->classification.status.to_string();
    const std::string reason(to_string(match->classification.reason));
    const bool hard = match->classification.hard;
    const bool s = status_agrees(row[2], status);
    const bool h = (row[4] == "1") == hard;
    const bool r = reason_agrees(row[3], reason);
    status_ok += s;
    hard_ok += h;
    reason_ok += r;
    if (!(s && h && r)) {
      std::printf("  differs  %s %s: reference %s %s %s, hayate %s %s %d\n", row[0].c_str(),
                  row[1].c_str(), row[2].c_str(), row[3].c_str(), row[4].c_str(), status.c_str(),
                  reason.c_str(), hard ? 1 : 0);
    }
  }
  const auto percent = [&](std::size_t n) { return 100.0 * static_cast<double>(n) / recipients; };
  std::printf(
      "Agreement with Sisimai over %zu messages, %zu failed recipients (%zu found): status "
      "%.1f%%, hard/soft %.1f%%, reason %.1f%%; messages without a bounce: %zu of %zu agree\n",
      parsed.size(), recipients, found, percent(status_ok), percent(hard_ok), percent(reason_ok),
      quiet_agree, quiet_messages);
  EXPECT_GE(percent(status_ok), 95.0);
  EXPECT_GE(percent(hard_ok), 95.0);
  EXPECT_GE(percent(reason_ok), 90.0);
}

TEST(BounceCorpus, OwnSamplesExactly) {
  const auto expected = read_tsv(kDir + "expected-own.tsv");
  ASSERT_GE(expected.size(), 10u);
  std::map<std::string, std::size_t> rows_per_file;
  for (const auto& row : expected) ++rows_per_file[row[0]];
  for (const auto& row : expected) {
    ASSERT_EQ(row.size(), 6u) << row[0];
    const std::vector<Finding> findings = parse_report(read_file(kDir + row[0]));
    if (row[1] == "-") {
      EXPECT_TRUE(findings.empty()) << row[0];
      continue;
    }
    ASSERT_EQ(findings.size(), rows_per_file[row[0]]) << row[0];
    const Finding* match = nullptr;
    for (const Finding& finding : findings) {
      if (finding.recipient == row[1]) match = &finding;
    }
    ASSERT_NE(match, nullptr) << row[0] << " " << row[1];
    EXPECT_EQ(match->classification.status.to_string(), row[2]) << row[0];
    EXPECT_EQ(to_string(match->classification.reason), row[3]) << row[0];
    EXPECT_EQ(match->classification.hard ? "1" : "0", row[4]) << row[0];
    EXPECT_EQ(to_string(match->kind), row[5]) << row[0];
  }
}

}  // namespace
}  // namespace hayate::campaign::bounce
