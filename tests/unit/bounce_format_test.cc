// Which MTA wrote a bounce (campaign/bounce/formats.h), over Sisimai's samples in
// tests/data/bounces/sisimai5/: each file's name says its format ("lhost-postfix-74.eml" is
// Postfix's). Samples of the tuning part print every miss; the held-back part only its total.
// The Rhost samples (any MTA relaying a provider's reply), ARF and RFC 3834 have no format.
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "campaign/bounce/report_parser.h"
#include "engine/strings.h"
#include "gtest/gtest.h"

namespace hayate::campaign::bounce {
namespace {

const std::string kDir = std::string(HAYATE_TEST_DATA_DIR) + "/bounces/sisimai5/";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// "email-google-02.eml" -> "gmail": the file's format in Sisimai 5's words, lower case; ""
// for the samples that have none.
std::string expected_format(const std::string& file) {
  std::string name = file.substr(0, file.rfind('-'));
  if (name.rfind("rhost-", 0) == 0 || name == "arf" || name.rfind("rfc", 0) == 0 ||
      name.rfind("ced-", 0) == 0) {
    return "";
  }
  if (name.rfind("email-", 0) == 0 || name.rfind("lhost-", 0) == 0) name = name.substr(6);
  static const std::map<std::string, std::string> kRenamed = {
      {"google", "gmail"},
      {"gsuite", "googleworkspace"},
      {"interscanmss", "trendmicro"},
      {"mailmarshalsmtp", "mailmarshal"},
  };
  const auto it = kRenamed.find(name);
  return it == kRenamed.end() ? name : it->second;
}

TEST(BounceFormat, SisimaiSamplesByName) {
  std::istringstream split(read_file(kDir + "split.tsv"));
  std::string line;
  std::size_t tuning = 0, tuning_ok = 0, held = 0, held_ok = 0;
  while (std::getline(split, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::string file = line.substr(0, line.find('\t'));
    const bool held_back = line.substr(line.find('\t') + 1) == "held-back";
    const std::string want = expected_format(file);
    if (want.empty()) continue;
    const std::vector<Finding> findings = parse_report(read_file(kDir + file));
    const std::string got = findings.empty() ? "-" : lower(findings.front().format);
    const bool ok = got == want;
    (held_back ? held : tuning) += 1;
    (held_back ? held_ok : tuning_ok) += ok ? 1 : 0;
    if (!ok && !held_back) std::printf("  format   %s: %s\n", file.c_str(), got.c_str());
  }
  std::printf("formats recognized: tuning part %zu of %zu, held-back part %zu of %zu\n", tuning_ok,
              tuning, held_ok, held);
  ASSERT_GT(tuning, 100u);
  EXPECT_GE(100.0 * tuning_ok / tuning, 98.0);
  EXPECT_GE(100.0 * held_ok / held, 90.0);
}

}  // namespace
}  // namespace hayate::campaign::bounce
