// Tests of campaign/accounting: exact rows for real replies (Gmail, Microsoft, Postfix via the
// sink), RFC 3463 status texts and their fallbacks, target labels, RFC 4180 quoting of hostile
// fields read back by the project's own CSV reader, and the writer shared by threads on one
// O_APPEND file, whose rows must come out whole.
#include "campaign/output/accounting.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "campaign/input/csv_reader.h"
#include "engine/strings.h"

namespace hayate::campaign {
namespace {

using namespace std::string_view_literals;

// An enhanced code as the reply parser gives it; absent when `text` is not one.
smtp::EnhancedCode enhanced(std::string_view text) {
  smtp::EnhancedCode code;
  if (!smtp::parse_enhanced_code(text, code)) code = smtp::EnhancedCode{};
  return code;
}

const AccountingContext context{"newsletter-2026-11", "mta.example.com", 1763911351};
constexpr std::int64_t logged_s = 1763911352;

std::string row_of(const OutcomeRecord& record) {
  std::string out;
  format_accounting_row(record, context, logged_s, out);
  return out;
}

OutcomeRecord delivered_record() {
  OutcomeRecord record;  // as the demo campaign logs it, through hayate-sink
  record.type = OutcomeType::delivered;
  record.envelope_from = "bounces@example.com";
  record.recipient = "bob@example.net";
  record.mx = "route 127.0.0.1:2525";
  record.code = 250;
  record.enhanced = enhanced("2.0.0");
  record.reply = "2.0.0 Ok: queued as 000000000000";
  record.source_ip = "127.0.0.1";
  record.size_bytes = 1834;
  record.attempt = 1;
  record.line = 3;
  return record;
}

constexpr std::string_view gmail_reply =
    "5.1.1 The email account that you tried to reach does not exist. Please try "
    "double-checking the recipient's email address for typos or unnecessary spaces. For more "
    "information, go to https://support.google.com/mail/?p=NoSuchUser a640c23a62f3a-a9 - gsmtp";

OutcomeRecord gmail_bounce_record() {
  OutcomeRecord record;
  record.type = OutcomeType::bounced;
  record.envelope_from = "bounces+AAAAAQ5Y0xN@bounces.example.com";
  record.recipient = "nobody.here@gmail.com";
  record.mx = "gmail-smtp-in.l.google.com (142.250.102.27:25)";
  record.source_ip = "192.0.2.10";
  record.code = 550;
  record.enhanced = enhanced("5.1.1");
  record.reply = gmail_reply;
  record.classified = true;
  record.reason = bounce::Reason::userunknown;
  record.hard = true;
  record.size_bytes = 20480;
  record.attempt = 1;
  record.line = 17;
  return record;
}

TEST(AccountingRow, DeliveredThroughARoute) {
  EXPECT_EQ(row_of(delivered_record()),
            "d,2025-11-23 15:22:32+0000,2025-11-23 15:22:31+0000,bounces@example.com,"
            "bob@example.net,delivered,2.0.0 (success),smtp;250 2.0.0 Ok: queued as "
            "000000000000,127.0.0.1,,mta.example.com,127.0.0.1,127.0.0.1,1834,newsletter-2026-11,"
            "1,3\n");
}

TEST(AccountingRow, GmailBounceIsQuotedForItsCommas) {
  EXPECT_EQ(row_of(gmail_bounce_record()),
            cat("b,2025-11-23 15:22:32+0000,2025-11-23 15:22:31+0000,"
                "bounces+AAAAAQ5Y0xN@bounces.example.com,nobody.here@gmail.com,failed,"
                "5.1.1 (bad destination mailbox address),\"smtp;550 ",
                gmail_reply,
                "\",gmail-smtp-in.l.google.com,bad-mailbox,mta.example.com,192.0.2.10,"
                "142.250.102.27,20480,newsletter-2026-11,1,17\n"));
}

TEST(AccountingRow, DeferralsWithAndWithoutAServerReply) {
  OutcomeRecord refused;
  refused.type = OutcomeType::deferred;
  refused.envelope_from = "bounces@example.com";
  refused.recipient = "carol@example.org";
  refused.mx = "mx2.example.org ([2001:db8::25]:25)";
  refused.enhanced = enhanced("4.4.1");
  refused.reply = "no server accepted a session; last error: connect: Connection refused";
  refused.classified = true;
  refused.reason = bounce::Reason::networkerror;
  refused.attempt = 2;
  refused.line = 9;
  EXPECT_EQ(row_of(refused),
            "t,2025-11-23 15:22:32+0000,2025-11-23 15:22:31+0000,bounces@example.com,"
            "carol@example.org,delayed,4.4.1 (no answer from host),x-hayate;no server accepted "
            "a session; last error: connect: Connection refused,mx2.example.org,"
            "no-answer-from-host,mta.example.com,,2001:db8::25,,newsletter-2026-11,2,9\n");

  OutcomeRecord busy;  // Microsoft's throttling reply
  busy.type = OutcomeType::deferred;
  busy.envelope_from = "bounces@example.com";
  busy.recipient = "dave@outlook.com";
  busy.mx = "outlook-com.olc.protection.outlook.com (52.101.42.0:25)";
  busy.code = 451;
  busy.enhanced = enhanced("4.7.500");
  busy.reply =
      "4.7.500 Server busy. Please try again later from [192.0.2.10]. (S77714) "
      "[BN8NAM11FT066.eop-nam11.prod.protection.outlook.com]";
  busy.source_ip = "192.0.2.10";
  busy.size_bytes = 20480;
  busy.classified = true;
  busy.reason = bounce::Reason::toomanyconn;
  busy.attempt = 1;
  busy.line = 12;
  EXPECT_EQ(row_of(busy),
            "t,2025-11-23 15:22:32+0000,2025-11-23 15:22:31+0000,bounces@example.com,"
            "dave@outlook.com,delayed,4.7.500 (other or undefined security status),smtp;451 "
            "4.7.500 Server busy. Please try again later from [192.0.2.10]. (S77714) "
            "[BN8NAM11FT066.eop-nam11.prod.protection.outlook.com],"
            "outlook-com.olc.protection.outlook.com,policy-related,mta.example.com,192.0.2.10,"
            "52.101.42.0,20480,newsletter-2026-11,1,12\n");
}

TEST(AccountingRow, RejectedRowWithHostileFields) {
  OutcomeRecord rejected;
  rejected.type = OutcomeType::rejected;
  rejected.envelope_from = "bounces@example.com";
  rejected.recipient = "he said \"hi\", then\r\nleft";
  rejected.reply = "a CR, LF or NUL in a field";
  rejected.line = 21;
  EXPECT_EQ(row_of(rejected),
            "x,2025-11-23 15:22:32+0000,2025-11-23 15:22:31+0000,bounces@example.com,"
            "\"he said \"\"hi\"\", then\r\nleft\",failed,,\"x-hayate;a CR, LF or NUL in a "
            "field\",,,mta.example.com,,,,newsletter-2026-11,0,21\n");
}

// Addresses come from the recipients file and host names from DNS: one that starts like a
// formula is written as text for spreadsheets. hayate's own fields (dsnDiag's "smtp;" and
// "x-hayate;", times, codes) never start so.
TEST(AccountingRow, FormulaLikeFieldsAreGuarded) {
  OutcomeRecord record = gmail_bounce_record();
  record.recipient = "=1+2@example.com";
  record.envelope_from = "-bounces@example.com";
  const std::string row = row_of(record);
  EXPECT_NE(row.find(",\"'-bounces@example.com\",\"'=1+2@example.com\",failed,"), std::string::npos)
      << row;
  EXPECT_NE(row.find(",\"smtp;550 5.1.1 "), std::string::npos) << row;  // quoted for its commas
}

TEST(AccountingRow, InvalidUtf8AndNulBecomeReplacementCharacters) {
  OutcomeRecord record = gmail_bounce_record();
  record.code = 550;
  record.enhanced = enhanced("5.7.1");
  record.reply =
      "5.7.1 bad\xFF"
      "byte\0here"sv;
  record.recipient = "caf\xC3\xA9@example.com";  // valid UTF-8 stays
  const std::string row = row_of(record);
  EXPECT_NE(row.find(",caf\xC3\xA9@example.com,"), std::string::npos) << row;
  EXPECT_NE(row.find(",smtp;550 5.7.1 bad\xEF\xBF\xBD"
                     "byte\xEF\xBF\xBDhere,"),
            std::string::npos)
      << row;
  EXPECT_EQ(row.find('\0'), std::string::npos);
}

TEST(DsnStatus, ClassFollowsTheOutcome) {
  EXPECT_EQ(dsn_status(OutcomeType::delivered, enhanced("2.0.0")), "2.0.0 (success)");
  EXPECT_EQ(dsn_status(OutcomeType::delivered, enhanced("2.6.0")), "2.6.0 (success)");  // Microsoft
  EXPECT_EQ(dsn_status(OutcomeType::delivered, enhanced("")), "2.0.0 (success)");
  EXPECT_EQ(dsn_status(OutcomeType::bounced, enhanced("5.1.1")),
            "5.1.1 (bad destination mailbox address)");
  EXPECT_EQ(dsn_status(OutcomeType::bounced, enhanced("5.1.10")),
            "5.1.10 (recipient address has null MX)");
  EXPECT_EQ(dsn_status(OutcomeType::bounced, enhanced("5.2.2")), "5.2.2 (mailbox full)");
  EXPECT_EQ(dsn_status(OutcomeType::bounced, enhanced("5.7.26")),
            "5.7.26 (multiple authentication checks failed)");
  EXPECT_EQ(dsn_status(OutcomeType::bounced, enhanced("5.6.7")),
            "5.6.7 (non-ASCII addresses not permitted for that sender/recipient)");
  EXPECT_EQ(dsn_status(OutcomeType::bounced, enhanced("")), "5.0.0 (undefined status)");
  EXPECT_EQ(dsn_status(OutcomeType::deferred, enhanced("4.4.1")), "4.4.1 (no answer from host)");
  EXPECT_EQ(dsn_status(OutcomeType::deferred, enhanced("4.4.3")),
            "4.4.3 (directory server failure)");
  EXPECT_EQ(dsn_status(OutcomeType::deferred, enhanced("")), "4.0.0 (undefined status)");
  // A deferral stays 4.x.x whatever the server's class (the diagnostic keeps its words).
  EXPECT_EQ(dsn_status(OutcomeType::deferred, enhanced("5.7.1")),
            "4.7.1 (delivery not authorized, message refused)");
  EXPECT_EQ(dsn_status(OutcomeType::bounced, enhanced("4.2.2")), "5.2.2 (mailbox full)");
  EXPECT_EQ(dsn_status(OutcomeType::rejected, enhanced("5.1.3")), "");
}

TEST(DsnStatus, UnknownDetailsFallBackToTheirSubject) {
  EXPECT_EQ(dsn_status(OutcomeType::bounced, enhanced("5.1.99")), "5.1.99 (other address status)");
  EXPECT_EQ(dsn_status(OutcomeType::bounced, enhanced("5.7.999")),
            "5.7.999 (other or undefined security status)");
  EXPECT_EQ(dsn_status(OutcomeType::bounced, enhanced("5.9.9")), "5.9.9 (undefined status)");
  EXPECT_EQ(dsn_status(OutcomeType::bounced, enhanced("5.0.1")), "5.0.1 (undefined status)");
  EXPECT_EQ(enhanced_status_description(4, 7), "delivery time expired");
  EXPECT_EQ(enhanced_status_description(3, 42), "other or undefined mail system status");
}

TEST(DsnStatus, MalformedEnhancedCodesCountAsNone) {
  // The record holds a code parsed once (smtp::parse_enhanced_code); what does not parse is
  // absent, and the row says class.0.0.
  for (std::string_view bad : {"5.1", "5.1.", "5..1", "5.1.1000", "x.1.1", "3.1.1", "5,1,1",
                               "5.1.1 ", " 5.1.1", "55.1.1", "5.1.a"}) {
    EXPECT_EQ(dsn_status(OutcomeType::bounced, enhanced(bad)), "5.0.0 (undefined status)") << bad;
  }
}

TEST(DsnDiagnostic, ServerRepliesAndOurOwnReasons) {
  EXPECT_EQ(dsn_diagnostic(250, "2.0.0 Ok"), "smtp;250 2.0.0 Ok");
  EXPECT_EQ(dsn_diagnostic(421, ""), "smtp;421");
  EXPECT_EQ(dsn_diagnostic(0, "connect: Connection refused"),
            "x-hayate;connect: Connection refused");
  EXPECT_EQ(dsn_diagnostic(0, ""), "x-hayate;");
}

// PowerMTA's bounce categories, from the reason the verdict gave: every reason has one, and
// a network error is told apart by its enhanced code as PowerMTA does (4.4.1, 4.4.4, 4.4.6).
TEST(BounceCategory, EveryReasonMapsToAPowerMtaCategory) {
  const smtp::EnhancedCode none;
  EXPECT_EQ(bounce_category(bounce::Reason::userunknown, enhanced("5.1.1")), "bad-mailbox");
  EXPECT_EQ(bounce_category(bounce::Reason::hasmoved, enhanced("5.1.6")), "bad-mailbox");
  EXPECT_EQ(bounce_category(bounce::Reason::hostunknown, enhanced("5.1.2")), "bad-domain");
  EXPECT_EQ(bounce_category(bounce::Reason::notaccept, enhanced("5.1.10")), "bad-domain");
  EXPECT_EQ(bounce_category(bounce::Reason::suspend, enhanced("5.2.1")), "inactive-mailbox");
  EXPECT_EQ(bounce_category(bounce::Reason::mailboxfull, enhanced("4.2.2")), "quota-issues");
  EXPECT_EQ(bounce_category(bounce::Reason::blocked, enhanced("5.7.1")), "spam-related");
  EXPECT_EQ(bounce_category(bounce::Reason::spamdetected, none), "spam-related");
  EXPECT_EQ(bounce_category(bounce::Reason::virusdetected, none), "virus-related");
  EXPECT_EQ(bounce_category(bounce::Reason::policyviolation, none), "policy-related");
  EXPECT_EQ(bounce_category(bounce::Reason::rejected, enhanced("5.1.8")), "invalid-sender");
  EXPECT_EQ(bounce_category(bounce::Reason::norelaying, enhanced("5.7.1")), "relaying-issues");
  EXPECT_EQ(bounce_category(bounce::Reason::syntaxerror, enhanced("5.5.2")), "protocol-errors");
  EXPECT_EQ(bounce_category(bounce::Reason::mesgtoobig, enhanced("5.3.4")), "content-related");
  EXPECT_EQ(bounce_category(bounce::Reason::expired, enhanced("4.4.7")), "message-expired");
  EXPECT_EQ(bounce_category(bounce::Reason::systemerror, none), "bad-configuration");
  EXPECT_EQ(bounce_category(bounce::Reason::undefined, none), "other");
  EXPECT_EQ(bounce_category(bounce::Reason::networkerror, enhanced("4.4.1")),
            "no-answer-from-host");
  EXPECT_EQ(bounce_category(bounce::Reason::networkerror, enhanced("4.4.2")), "bad-connection");
  EXPECT_EQ(bounce_category(bounce::Reason::networkerror, enhanced("5.4.4")), "routing-errors");
  EXPECT_EQ(bounce_category(bounce::Reason::networkerror, enhanced("4.4.6")), "routing-errors");
  EXPECT_EQ(bounce_category(bounce::Reason::networkerror, none), "bad-connection");
  const std::vector<std::string_view> known = {
      "bad-mailbox",       "bad-domain",     "inactive-mailbox",
      "quota-issues",      "spam-related",   "virus-related",
      "content-related",   "policy-related", "invalid-sender",
      "relaying-issues",   "routing-errors", "protocol-errors",
      "bad-configuration", "bad-connection", "no-answer-from-host",
      "message-expired",   "other"};
  for (std::size_t i = 0; i < bounce::reason_count; ++i) {
    const auto reason = static_cast<bounce::Reason>(i);
    EXPECT_NE(std::find(known.begin(), known.end(), bounce_category(reason, none)), known.end())
        << bounce::to_string(reason);
  }
}

// Only failed rows carry a category (DeliveredThroughARoute: none for a delivery), and a row
// without a message (a listed address, never attempted) has no size.
TEST(BounceCategory, NotOnSuppressedRows) {
  OutcomeRecord suppressed;
  suppressed.type = OutcomeType::suppressed;
  suppressed.envelope_from = "bounces@example.com";
  suppressed.recipient = "gone@example.net";
  suppressed.reply = "on the suppression list: userunknown";
  suppressed.line = 5;
  EXPECT_EQ(row_of(suppressed),
            "s,2025-11-23 15:22:32+0000,2025-11-23 15:22:31+0000,bounces@example.com,"
            "gone@example.net,failed,,x-hayate;on the suppression list: userunknown,,,"
            "mta.example.com,,,,newsletter-2026-11,0,5\n");
}

TEST(TargetLabel, HostAndAddress) {
  struct Case {
    std::string_view label;
    std::string_view host;
    std::string_view address;
  };
  const Case cases[] = {
      {"mx1.example.com (192.0.2.1:25)", "mx1.example.com", "192.0.2.1"},
      {"route 127.0.0.1:2525", "127.0.0.1", "127.0.0.1"},
      {"route relay.example.net (198.51.100.7:587)", "relay.example.net", "198.51.100.7"},
      {"mx.example.org ([2001:db8::1]:25)", "mx.example.org", "2001:db8::1"},
      {"route [::1]:2525", "::1", "::1"},
      {"2001:db8::2", "2001:db8::2", "2001:db8::2"},
      {"", "", ""},
      {"host (unclosed", "host (unclosed", "host (unclosed"},
  };
  for (const Case& c : cases) {
    const TargetParts parts = split_target_label(c.label);
    EXPECT_EQ(parts.host, c.host) << c.label;
    EXPECT_EQ(parts.address, c.address) << c.label;
  }
}

TEST(AccountingTime, PowerMtaFormInUtc) {
  EXPECT_EQ(accounting_time(0), "1970-01-01 00:00:00+0000");
  EXPECT_EQ(accounting_time(1762178709), "2025-11-03 14:05:09+0000");
  EXPECT_EQ(accounting_time(951782400), "2000-02-29 00:00:00+0000");
  EXPECT_EQ(accounting_time(4102444799), "2099-12-31 23:59:59+0000");
}

TEST(CsvField, Rfc4180Quoting) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"plain", "plain"},
      {"", ""},
      {" spaced ", " spaced "},
      {"a,b", "\"a,b\""},
      {"say \"x\"", "\"say \"\"x\"\"\""},
      {"\"", "\"\"\"\""},
      {"cr\rhere", "\"cr\rhere\""},
      {"lf\nhere", "\"lf\nhere\""},
      {"crlf\r\n", "\"crlf\r\n\""},
      {"=HYPERLINK(\"x\")", "\"=HYPERLINK(\"\"x\"\")\""},
  };
  for (const auto& [value, quoted] : cases) {
    std::string out;
    append_csv_field(value, out);
    EXPECT_EQ(out, quoted) << value;
  }
}

// OWASP's advice for CSV opened in spreadsheets: a field starting with = + - @, tab or CR
// gets a leading single quote inside a quoted field. Leading quotes count as part of the
// start, so that stripping one quote gives back any value exactly.
TEST(SpreadsheetField, FormulaStartsGetOneMoreQuote) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"plain", "plain"},
      {"", ""},
      {"a,b", "\"a,b\""},
      {"a=b", "a=b"},
      {"=1+2", "\"'=1+2\""},
      {"+81 3 1234", "\"'+81 3 1234\""},
      {"-1", "\"'-1\""},
      {"@SUM(A1)", "\"'@SUM(A1)\""},
      {"\tx", "\"'\tx\""},
      {"\rx", "\"'\rx\""},
      {"=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""},
      {"'=x", "\"''=x\""},
      {"''-x", "\"'''-x\""},
      {"'plain", "'plain"},
      {"'", "'"},
  };
  for (const auto& [value, written] : cases) {
    std::string out;
    append_spreadsheet_field(value, out);
    EXPECT_EQ(out, written) << value;
    // What a CSV reader hands back, then the guard taken off: the value again.
    std::string field = out;
    if (field.starts_with('"')) {
      field = field.substr(1, field.size() - 2);
      for (std::size_t at = field.find("\"\""); at != std::string::npos;
           at = field.find("\"\"", at + 1)) {
        field.erase(at, 1);
      }
    }
    EXPECT_EQ(strip_spreadsheet_guard(field), value) << value;
  }
  EXPECT_EQ(strip_spreadsheet_guard("'plain"), "'plain");  // not one of ours: kept
}

// ---------------------------------------------------------------------------------------------
// Files.

class TempFile {
 public:
  TempFile() {
    path_ = cat(::testing::TempDir(), "accounting_test_", ::getpid(), "_", counter_++, ".csv");
    std::remove(path_.c_str());
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }
  int open_append() const {
    return ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::vector<std::string>> read_rows(const std::string& path, int& bad_rows) {
  absl::StatusOr<std::unique_ptr<CsvReader>> reader = CsvReader::open(path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  std::vector<std::vector<std::string>> rows;
  bad_rows = 0;
  if (!reader.ok()) return rows;
  std::vector<std::string> header((*reader)->header().begin(), (*reader)->header().end());
  rows.push_back(header);
  CsvRow row;
  std::string error;
  while (true) {
    const CsvReader::Next next = (*reader)->next(row, error);
    if (next == CsvReader::Next::end) break;
    if (next == CsvReader::Next::bad_row) {
      ++bad_rows;
      ADD_FAILURE() << "line " << row.line << ": " << error;
      continue;
    }
    rows.emplace_back(row.fields.begin(), row.fields.end());
  }
  return rows;
}

TEST(AccountingFile, HeaderAndRowsReadBackFieldByField) {
  TempFile file;
  const int fd = file.open_append();
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(write_accounting_header(fd).ok());
  OutcomeRecord hostile;
  hostile.type = OutcomeType::rejected;
  hostile.envelope_from = "bounces@example.com";
  hostile.recipient = "\"quoted, with comma\"\r\n\"and a line\"@example.com";
  hostile.reply = "invalid address: text after the closing quote";
  hostile.line = 4;
  {
    AccountingWriter writer(fd, context);
    writer.append(delivered_record(), logged_s);
    writer.append(gmail_bounce_record(), logged_s);
    writer.append(hostile, logged_s);
    EXPECT_TRUE(writer.flush());
    EXPECT_FALSE(writer.failed());
  }
  close(fd);
  EXPECT_EQ(read_whole_file(file.path()), cat(accounting_header, row_of(delivered_record()),
                                              row_of(gmail_bounce_record()), row_of(hostile)));
  int bad_rows = 0;
  const std::vector<std::vector<std::string>> rows = read_rows(file.path(), bad_rows);
  EXPECT_EQ(bad_rows, 0);
  ASSERT_EQ(rows.size(), 4u);
  const std::vector<std::string> header = {
      "type",      "timeLogged",  "timeQueued",       "orig",    "rcpt",
      "dsnAction", "dsnStatus",   "dsnDiag",          "dsnMta",  "bounceCat",
      "srcMta",    "dlvSourceIp", "dlvDestinationIp", "dlvSize", "jobId",
      "attempt",   "line"};
  EXPECT_EQ(rows[0], header);
  const std::vector<std::string> bounce = {"b",
                                           "2025-11-23 15:22:32+0000",
                                           "2025-11-23 15:22:31+0000",
                                           "bounces+AAAAAQ5Y0xN@bounces.example.com",
                                           "nobody.here@gmail.com",
                                           "failed",
                                           "5.1.1 (bad destination mailbox address)",
                                           cat("smtp;550 ", gmail_reply),
                                           "gmail-smtp-in.l.google.com",
                                           "bad-mailbox",
                                           "mta.example.com",
                                           "192.0.2.10",
                                           "142.250.102.27",
                                           "20480",
                                           "newsletter-2026-11",
                                           "1",
                                           "17"};
  EXPECT_EQ(rows[2], bounce);
  ASSERT_EQ(rows[3].size(), 17u);
  EXPECT_EQ(rows[3][0], "x");
  EXPECT_EQ(rows[3][4], hostile.recipient);  // CR, LF, quotes and comma all survive
  EXPECT_EQ(rows[3][6], "");
  EXPECT_EQ(rows[3][7], "x-hayate;invalid address: text after the closing quote");
}

TEST(AccountingFile, ThreadsSharingTheFileNeverSplitARow) {
  TempFile file;
  const int fd = file.open_append();
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(write_accounting_header(fd).ok());
  constexpr int kThreads = 4;
  constexpr int kRows = 6000;  // several flushes of 64 KiB per thread
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, fd] {
      AccountingWriter writer(fd, context);
      for (int i = 0; i < kRows; ++i) {
        const std::string recipient = cat("t", t, "-", i, "@example.com");
        const std::string reply = i % 3 == 0 ? cat("4.2.2 mailbox \"full\",\r\nretry ", i)
                                             : cat("2.0.0 Ok: queued as ", t, "-", i);
        OutcomeRecord record = delivered_record();
        record.recipient = recipient;
        record.reply = reply;
        record.line = static_cast<std::uint64_t>(i);
        writer.append(record, logged_s);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  close(fd);
  int bad_rows = 0;
  const std::vector<std::vector<std::string>> rows = read_rows(file.path(), bad_rows);
  EXPECT_EQ(bad_rows, 0);
  ASSERT_EQ(rows.size(), 1u + kThreads * kRows);
  std::map<int, int> next_of_thread;
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const std::vector<std::string>& row = rows[r];
    ASSERT_EQ(row.size(), 17u);
    const int t = row[4][1] - '0';
    const int i = std::atoi(row[16].c_str());
    // A thread's rows stay in its order, and every field is intact.
    ASSERT_EQ(i, next_of_thread[t]) << "thread " << t;
    ++next_of_thread[t];
    ASSERT_EQ(row[4], cat("t", t, "-", i, "@example.com"));
    ASSERT_EQ(row[7], i % 3 == 0 ? cat("smtp;250 4.2.2 mailbox \"full\",\r\nretry ", i)
                                 : cat("smtp;250 2.0.0 Ok: queued as ", t, "-", i));
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next_of_thread[t], kRows);
}

TEST(AccountingFile, TimeLoggedIsNowWhenNotGiven) {
  TempFile file;
  const int fd = file.open_append();
  ASSERT_GE(fd, 0);
  const std::int64_t before_s = time(nullptr);
  {
    AccountingWriter writer(fd, context);
    writer.append(delivered_record());
  }
  const std::int64_t after_s = time(nullptr);
  close(fd);
  const std::string text = read_whole_file(file.path());
  const std::string logged = text.substr(2, 24);
  // The coarse clock may lag the precise one by a tick.
  EXPECT_TRUE(logged == accounting_time(before_s) || logged == accounting_time(after_s) ||
              logged == accounting_time(before_s - 1))
      << logged;
}

TEST(AccountingFile, WriteFailuresAreReported) {
  TempFile file;
  { std::ofstream create(file.path()); }
  const int read_only = ::open(file.path().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(read_only, 0);
  const absl::Status header = write_accounting_header(read_only);
  EXPECT_FALSE(header.ok());
  EXPECT_EQ(std::string(header.message()), "cannot write the accounting file: Bad file descriptor");
  AccountingWriter writer(read_only, context);
  writer.append(delivered_record(), logged_s);
  EXPECT_FALSE(writer.failed());  // buffered so far
  EXPECT_FALSE(writer.flush());
  EXPECT_TRUE(writer.failed());
  writer.append(delivered_record(), logged_s);  // harmless after a failure
  EXPECT_FALSE(writer.flush());
  close(read_only);
  EXPECT_EQ(read_whole_file(file.path()), "");
}

}  // namespace
}  // namespace hayate::campaign
