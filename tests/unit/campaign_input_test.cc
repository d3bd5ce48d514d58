// CampaignInput: which rows become recipients and why the others are refused, on a CSV with
// the mistakes real lists have. Also the JSON escaping of deliveries.jsonl.
#include "campaign/input/campaign_input.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "campaign/output/delivery_log.h"
#include "gtest/gtest.h"

namespace hayate::campaign {
namespace {

const std::string data_dir = HAYATE_TEST_DATA_DIR "/campaign_input";

struct RowSeen {
  CampaignInput::Row kind;
  std::uint64_t line;
  std::string address_or_reason;
};

std::vector<RowSeen> read_all(CampaignInput& input) {
  std::vector<RowSeen> rows;
  Recipient recipient;
  std::string reason;
  std::string raw_email;
  while (true) {
    const CampaignInput::Row kind = input.next(recipient, reason, raw_email);
    if (kind == CampaignInput::Row::end) break;
    rows.push_back(
        {kind, input.line(),
         kind == CampaignInput::Row::recipient ? std::string(recipient.address()) : reason});
  }
  return rows;
}

TEST(CampaignInputTest, AcceptsGoodRowsAndSaysWhyOthersAreRefused) {
  auto input = CampaignInput::open(data_dir + "/job.toml");
  ASSERT_TRUE(input.ok()) << input.status();
  const std::vector<RowSeen> rows = read_all(**input);
  using Row = CampaignInput::Row;
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[0].kind, Row::recipient);
  EXPECT_EQ(rows[0].line, 2u);
  EXPECT_EQ(rows[0].address_or_reason, "alice@example.org");  // domain lower-cased, BOM gone
  EXPECT_EQ(rows[1].kind, Row::rejected);
  EXPECT_EQ(rows[1].line, 3u);
  EXPECT_EQ(rows[1].address_or_reason, "field 'first_name' contains a line break or NUL byte");
  EXPECT_EQ(rows[2].kind, Row::rejected);
  EXPECT_EQ(rows[2].line, 5u);  // the quoted line break made line 3 two lines long
  EXPECT_EQ(rows[2].address_or_reason, "invalid address: missing '@'");
  // The local part keeps its case (RFC 5321 2.4): ALICE@ is another mailbox.
  EXPECT_EQ(rows[3].kind, Row::recipient);
  EXPECT_EQ(rows[3].address_or_reason, "ALICE@example.org");
  EXPECT_EQ(rows[4].kind, Row::rejected);
  EXPECT_EQ(rows[4].address_or_reason, "duplicate: the same address is on line 2");
  EXPECT_EQ(rows[5].kind, Row::recipient);
  EXPECT_EQ(rows[5].address_or_reason, "yamada@xn--r8jz45g.jp");  // 例え.jp as an A-label
  EXPECT_EQ(rows[6].kind, Row::rejected);
  EXPECT_EQ(rows[6].line, 9u);
  EXPECT_NE(rows[6].address_or_reason.find("expected 3 fields"), std::string::npos)
      << rows[6].address_or_reason;
}

TEST(CampaignInputTest, RecipientCarriesEveryFieldForTheTemplates) {
  auto input = CampaignInput::open(data_dir + "/job.toml");
  ASSERT_TRUE(input.ok()) << input.status();
  Recipient recipient;
  std::string reason;
  std::string raw_email;
  ASSERT_EQ((*input)->next(recipient, reason, raw_email), CampaignInput::Row::recipient);
  ASSERT_EQ(recipient.field_count(), 3u);
  EXPECT_EQ(recipient.field(0), "alice@Example.ORG");  // {{email}} is the value as written
  EXPECT_EQ(recipient.field(1), "Alice");
  EXPECT_EQ(recipient.field(2), "Lyon");
  EXPECT_EQ(recipient.domain(), "example.org");
  EXPECT_EQ(recipient.sequence, 1u);
}

TEST(CampaignInputTest, MissingEmailColumnNamesTheFileAndLine) {
  const std::string dir = testing::TempDir() + "/no_email";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/r.csv") << "mail,name\na@b.test,A\n";
  std::ofstream(dir + "/body.txt") << "hi\n";
  std::ofstream(dir + "/job.toml") << "[campaign]\nid = \"x\"\nrecipients = \"r.csv\"\n"
                                      "from = \"a@example.com\"\nsubject = \"s\"\n"
                                      "text = \"body.txt\"\n";
  auto missing = CampaignInput::open(dir + "/job.toml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            dir + "/r.csv:1: the header has no 'email' column (columns: mail, name)");
}

TEST(DeliveryLogTest, JsonEscapingKeepsEveryLineValid) {
  std::string out;
  append_json_escaped("a\"b\\c\r\n\t\x01 \xe6\x97\xa5 \xff end", out);
  EXPECT_EQ(out, "a\\\"b\\\\c\\u000d\\u000a\\u0009\\u0001 \xe6\x97\xa5 \xef\xbf\xbd end");
  out.clear();
  append_json_escaped("\xe6\x97", out);  // a character cut short
  EXPECT_EQ(out, "\xef\xbf\xbd\xef\xbf\xbd");
}

}  // namespace
}  // namespace hayate::campaign
