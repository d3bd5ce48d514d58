// Tests of campaign/domain_report: what each outcome counts (final and retried deferrals,
// rejected rows, outcomes without an attempt), merging shard reports, the order of domains,
// domains.csv byte for byte and read back by the CSV reader, and the stderr table: exact text,
// the "more domains" line, cut names, control bytes, and the 100-column limit.
#include "campaign/output/domain_report.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/input/csv_reader.h"
#include "engine/strings.h"

namespace hayate::campaign {
namespace {

void add_many(DomainReport& report, std::string_view domain, OutcomeType type, int count,
              std::int64_t latency_ms = -1) {
  for (int i = 0; i < count; ++i) report.add(domain, type, true, true, latency_ms);
}

TEST(DomainReport, WhatEachOutcomeCounts) {
  DomainReport report;
  report.add("example.com", OutcomeType::delivered, true, true, 120);
  report.add("example.com", OutcomeType::deferred, false, true, 30);  // retried later
  report.add("example.com", OutcomeType::deferred, false, true, -1);  // connect failed
  report.add("example.com", OutcomeType::bounced, true, true, 10);
  report.add("example.com", OutcomeType::deferred, true, true, 20);   // last attempt: 4xx
  report.add("example.com", OutcomeType::deferred, true, false, -1);  // deadline while waiting
  report.add("example.com", OutcomeType::rejected, true, true, 5);    // never an attempt
  const DomainCounts* counts = report.find("example.com");
  ASSERT_NE(counts, nullptr);
  EXPECT_EQ(counts->delivered, 1u);
  EXPECT_EQ(counts->bounced, 1u);
  EXPECT_EQ(counts->deferred, 2u);
  EXPECT_EQ(counts->rejected, 1u);
  EXPECT_EQ(counts->attempts, 5u);
  EXPECT_EQ(counts->recipients(), 5u);
  EXPECT_EQ(counts->latency_samples, 4u);
  EXPECT_EQ(counts->latency_sum_ms, 180u);
  EXPECT_DOUBLE_EQ(counts->mean_latency_ms(), 45.0);
  EXPECT_EQ(report.find("example.org"), nullptr);
  EXPECT_EQ(report.domain_count(), 1u);
  EXPECT_EQ(DomainCounts{}.mean_latency_ms(), -1);
}

TEST(DomainReport, FromOutcomeRecords) {
  DomainReport report;
  OutcomeRecord record;
  record.domain = "example.net";
  record.type = OutcomeType::delivered;
  record.stage = Stage::body;
  record.latency_ms = 8;
  report.add(record);
  record.type = OutcomeType::deferred;
  record.stage = Stage::rcpt;
  record.final = false;
  record.latency_ms = 2;
  report.add(record);
  record.stage = Stage::retry;  // DomainQueue::expire_waiting
  record.final = true;
  record.latency_ms = -1;
  report.add(record);
  record.stage = Stage::aborted;  // DomainQueue::abandon
  report.add(record);
  record.type = OutcomeType::rejected;
  record.stage = Stage::input;
  record.domain = "";
  report.add(record);
  const DomainCounts* net = report.find("example.net");
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(net->delivered, 1u);
  EXPECT_EQ(net->deferred, 2u);
  EXPECT_EQ(net->attempts, 2u);
  EXPECT_EQ(net->latency_samples, 2u);
  EXPECT_EQ(net->latency_sum_ms, 10u);
  const DomainCounts* none = report.find("");
  ASSERT_NE(none, nullptr);
  EXPECT_EQ(none->rejected, 1u);
  EXPECT_EQ(none->attempts, 0u);
}

TEST(DomainReport, MergeAddsShardReports) {
  DomainReport first;
  DomainReport second;
  add_many(first, "a.example", OutcomeType::delivered, 3, 10);
  add_many(first, "b.example", OutcomeType::bounced, 1, 40);
  add_many(second, "b.example", OutcomeType::delivered, 2, 10);
  add_many(second, "c.example", OutcomeType::deferred, 4);
  first.merge(second);
  EXPECT_EQ(first.domain_count(), 3u);
  const DomainCounts* b = first.find("b.example");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->bounced, 1u);
  EXPECT_EQ(b->delivered, 2u);
  EXPECT_EQ(b->attempts, 3u);
  EXPECT_DOUBLE_EQ(b->mean_latency_ms(), 20.0);
  const DomainCounts totals = first.totals();
  EXPECT_EQ(totals.recipients(), 10u);
  EXPECT_EQ(totals.delivered, 5u);
  EXPECT_EQ(totals.deferred, 4u);
  EXPECT_EQ(totals.attempts, 10u);
  EXPECT_EQ(second.domain_count(), 2u);  // the source is left as it was
}

TEST(DomainReport, SortedByRecipientsThenName) {
  DomainReport report;
  add_many(report, "zeta.example", OutcomeType::delivered, 2);
  add_many(report, "alpha.example", OutcomeType::delivered, 2);
  add_many(report, "big.example", OutcomeType::bounced, 5);
  report.add("retry.example", OutcomeType::deferred, false, true, -1);  // no recipient yet
  const auto rows = report.sorted();
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].first, "big.example");
  EXPECT_EQ(rows[1].first, "alpha.example");
  EXPECT_EQ(rows[2].first, "zeta.example");
  EXPECT_EQ(rows[3].first, "retry.example");
}

DomainReport sample_report() {
  DomainReport report;
  add_many(report, "gmail.com", OutcomeType::delivered, 6, 120);
  report.add("gmail.com", OutcomeType::deferred, false, true, 300);
  report.add("gmail.com", OutcomeType::delivered, true, true, 91);
  add_many(report, "example.com", OutcomeType::delivered, 3, 1);
  add_many(report, "example.com", OutcomeType::bounced, 1, 3);
  add_many(report, "nxdomain.example", OutcomeType::bounced, 2);
  add_many(report, "", OutcomeType::rejected, 2);
  add_many(report, "a,\"quoted\"\ndomain", OutcomeType::rejected, 1);
  return report;
}

TEST(DomainCsv, ExactBytes) {
  EXPECT_EQ(sample_report().render_csv(),
            "domain,recipients,delivered,bounced,deferred,rejected,suppressed,attempts,"
            "mean_latency_ms,bounce_reasons\n"
            "gmail.com,7,7,0,0,0,0,8,138.9,\n"
            "example.com,4,3,1,0,0,0,4,1.5,\n"
            ",2,0,0,0,2,0,0,,\n"
            "nxdomain.example,2,0,2,0,0,0,2,,\n"
            "\"a,\"\"quoted\"\"\ndomain\",1,0,0,0,1,0,0,,\n");
  EXPECT_EQ(DomainReport().render_csv(),
            "domain,recipients,delivered,bounced,deferred,rejected,suppressed,attempts,"
            "mean_latency_ms,bounce_reasons\n");
}

TEST(DomainCsv, WrittenAtomicallyAndReadBack) {
  const std::string path = cat(::testing::TempDir(), "domain_report_test_", ::getpid(), ".csv");
  const DomainReport report = sample_report();
  ASSERT_TRUE(report.write_csv(path).ok());
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), report.render_csv());
  EXPECT_NE(access((path + ".tmp").c_str(), F_OK), 0);
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);  // recipients' domains: the owner's only

  absl::StatusOr<std::unique_ptr<CsvReader>> reader = CsvReader::open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->header().size(), 10u);
  CsvRow row;
  std::string error;
  std::vector<std::string> domains;
  while ((*reader)->next(row, error) == CsvReader::Next::row) {
    domains.emplace_back(row.fields[0]);
  }
  EXPECT_TRUE(error.empty()) << error;
  EXPECT_EQ(domains, (std::vector<std::string>{"gmail.com", "example.com", "", "nxdomain.example",
                                               "a,\"quoted\"\ndomain"}));
  std::remove(path.c_str());

  const absl::Status failed = report.write_csv("/nonexistent-directory-of-hayate/domains.csv");
  EXPECT_FALSE(failed.ok());
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

TEST(DomainTable, ExactText) {
  // Means: gmail.com (6 * 120 + 300 + 91) / 8 = 138.875, example.com 6 / 4, total 1117 / 12.
  EXPECT_EQ(
      sample_report().render_table(),
      "domain             recipients  delivered  bounced  deferred  rejected  attempts  mean ms\n"
      "gmail.com                   7          7        0         0         0         8    138.9\n"
      "example.com                 4          3        1         0         0         4      1.5\n"
      "(none)                      2          0        0         0         2         0        -\n"
      "nxdomain.example            2          0        2         0         0         2        -\n"
      "a,\"quoted\"?domain           1          0        0         0         1         0        -\n"
      "----------------------------------------------------------------------------------------\n"
      "total (5 domains)          16         10        3         0         3        14     93.1\n");
  EXPECT_EQ(DomainReport().render_table(), "");
}

TEST(DomainTable, TopRowsThenTheRestOnOneLine) {
  DomainReport report;
  for (int i = 0; i < 13; ++i)
    add_many(report, cat("d", 10 + i, ".example"), OutcomeType::delivered, 20 - i);
  const std::vector<std::string> lines = lines_of(report.render_table(3));
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[1].substr(0, 14), "d10.example   ");
  EXPECT_EQ(lines[3].substr(0, 11), "d12.example");
  // 10 more domains: 17 + 16 + ... + 8 = 125 recipients.
  EXPECT_EQ(
      lines[4],
      "(10 more domains)          125        125        0         0         0       125        -");
  EXPECT_EQ(lines[6].substr(0, 30), "total (13 domains)         182");
  const std::vector<std::string> one_more = lines_of(report.render_table(12));
  EXPECT_EQ(one_more[13].substr(0, 16), "(1 more domain) ");
  EXPECT_EQ(lines_of(report.render_table()).size(), 14u);  // 10 rows by default
}

TEST(DomainTable, FitsOneHundredColumnsAndCutsLongNames) {
  DomainReport report;
  const std::string long_name = std::string(60, 'a') + "." + std::string(60, 'b') + ".example";
  for (int i = 0; i < 3; ++i) {
    report.add(long_name, OutcomeType::delivered, true, true, 1'000'000'000);
  }
  for (int i = 0; i < 2; ++i)
    report.add("\x1b[2Jevil\r.example", OutcomeType::bounced, true, true, -1);
  const std::string table = report.render_table();
  for (const std::string& line : lines_of(table)) {
    EXPECT_LE(line.size(), domain_table_columns_max) << line;
    for (char c : line) EXPECT_TRUE(c >= 0x20 && c <= 0x7e) << line;
  }
  const std::vector<std::string> lines = lines_of(table);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0].size(), 100u);
  // The mean column is 12 wide (1000000000.0): 76 columns of numbers leave 24 for the name.
  EXPECT_EQ(lines[1].substr(0, 26), std::string(21, 'a') + "...  ");
  EXPECT_EQ(lines[2].substr(0, 16), "?[2Jevil?.exampl");
  EXPECT_NE(lines[1].find("1000000000.0"), std::string::npos) << lines[1];
}

TEST(DomainTable, SuppressedColumnOnlyWhenSomeoneWasSuppressed) {
  DomainReport report = sample_report();
  report.add("gone.example", OutcomeType::suppressed, true, false, -1);
  report.add("gone.example", OutcomeType::suppressed, true, false, -1);
  OutcomeRecord record;  // as the reader logs it
  record.type = OutcomeType::suppressed;
  record.domain = "gmail.com";
  record.stage = Stage::suppression;
  report.add(record);
  const DomainCounts* gone = report.find("gone.example");
  ASSERT_NE(gone, nullptr);
  EXPECT_EQ(gone->suppressed, 2u);
  EXPECT_EQ(gone->attempts, 0u);
  EXPECT_EQ(gone->recipients(), 2u);
  EXPECT_EQ(report.find("gmail.com")->suppressed, 1u);
  EXPECT_EQ(report.find("gmail.com")->attempts, 8u);
  EXPECT_EQ(
      report.render_table(),
      "domain             recipients  delivered  bounced  deferred  rejected  suppressed  attempts"
      "  mean ms\n"
      "gmail.com                   8          7        0         0         0           1         8"
      "    138.9\n"
      "example.com                 4          3        1         0         0           0         4"
      "      1.5\n"
      "(none)                      2          0        0         0         2           0         0"
      "        -\n"
      "gone.example                2          0        0         0         0           2         0"
      "        -\n"
      "nxdomain.example            2          0        2         0         0           0         2"
      "        -\n"
      "a,\"quoted\"?domain           1          0        0         0         1           0         "
      "0"
      "        -\n"
      "----------------------------------------------------------------------------------------"
      "------------\n"
      "total (6 domains)          19         10        3         0         3           3        14"
      "     93.1\n");
  EXPECT_NE(report.render_csv().find("\ngone.example,2,0,0,0,0,2,0,,\n"), std::string::npos);
}

}  // namespace
}  // namespace hayate::campaign
