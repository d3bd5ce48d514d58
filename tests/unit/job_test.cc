// Tests for campaign/job: the sample jobs in tests/data/jobs load with every field as written,
// defaults apply, and each mistake a user can make fails with its exact "file:line:col:" message.
#include "campaign/config/job.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "campaign/config/schedule.h"
#include "campaign/input/address.h"
#include "engine/limits.h"

namespace hayate::campaign {
namespace {

const std::string kJobsDir = std::string(HAYATE_TEST_DATA_DIR) + "/jobs";

std::string host_name() {
  char name[256] = {};
  EXPECT_EQ(gethostname(name, sizeof(name) - 1), 0);
  return name;
}

void write_file(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  ASSERT_TRUE(out.good()) << path;
}

// A valid [campaign] table; error tests append to it. Lines 1 to 6.
constexpr std::string_view kBase =
    "[campaign]\n"
    "id = \"c1\"\n"
    "recipients = \"recipients.csv\"\n"
    "from = \"News <news@example.com>\"\n"
    "subject = \"Hi\"\n"
    "text = \"body.txt\"\n";

// Each test gets a directory holding the files kBase names, and writes its job.toml there.
class JobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "job_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    job_path_ = dir_ + "/job.toml";
    write_file(dir_ + "/recipients.csv", "email\nalice@example.org\n");
    write_file(dir_ + "/body.txt", "Hello\n");
    write_file(dir_ + "/body.html", "<p>Hello</p>\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<JobConfig> load(std::string_view text) {
    write_file(job_path_, text);
    return load_job(job_path_);
  }

  JobConfig load_ok(std::string_view text) {
    absl::StatusOr<JobConfig> job = load(text);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *std::move(job) : JobConfig{};
  }

  // The message of a load that must fail with `code`, with the job path shown as "job.toml"
  // and the test directory as "DIR".
  std::string error(std::string_view text,
                    absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
    absl::StatusOr<JobConfig> job = load(text);
    EXPECT_FALSE(job.ok()) << "loaded:\n" << text;
    if (job.ok()) return "<loaded>";
    EXPECT_EQ(job.status().code(), code) << job.status();
    std::string message(job.status().message());
    if (message.starts_with(job_path_)) message.replace(0, job_path_.size(), "job.toml");
    for (std::size_t at = message.find(dir_); at != std::string::npos; at = message.find(dir_)) {
      message.replace(at, dir_.size(), "DIR");
    }
    return message;
  }

  std::string dir_;
  std::string job_path_;
};

TEST(JobSampleTest, FullJobLoadsEveryField) {
  const std::string path = kJobsDir + "/full.toml";
  absl::StatusOr<JobConfig> loaded = load_job(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const JobConfig& job = *loaded;

  EXPECT_EQ(job.job_path, path);
  EXPECT_EQ(job.base_dir, kJobsDir);
  EXPECT_EQ(job.id, "newsletter-2026-11");
  EXPECT_EQ(job.recipients_path, kJobsDir + "/recipients.csv");
  EXPECT_EQ(job.from, "Example News <news@example.com>");
  EXPECT_EQ(job.from_display_name, "Example News");
  EXPECT_EQ(job.from_address.text, "news@example.com");
  EXPECT_EQ(job.from_address.domain(), "example.com");
  EXPECT_EQ(job.envelope_from.text, "bounces@example.com");
  EXPECT_EQ(job.reply_to, "Support <support@example.com>");
  EXPECT_EQ(job.subject, "Hello {{first_name}}");
  EXPECT_EQ(job.subject_line, 8u);
  EXPECT_EQ(job.text_path, kJobsDir + "/body.txt");
  EXPECT_EQ(job.html_path, kJobsDir + "/body.html");
  // In the order of the file, not toml++'s sorted order.
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"X-Campaign", "nl {{city}}"},
      {"List-Unsubscribe", "<mailto:unsubscribe@example.com?subject=unsubscribe>"},
      {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}};
  EXPECT_EQ(job.headers, headers);

  EXPECT_EQ(job.helo, "mta.example.com");
  EXPECT_EQ(job.connections_max, 1500u);
  EXPECT_EQ(job.connections_per_domain, 15u);
  EXPECT_EQ(job.messages_per_connection, 500u);
  EXPECT_EQ(job.shards, 4u);
  EXPECT_EQ(job.port, 2525);
  EXPECT_EQ(job.connect_timeout_ms, 10'000u);
  EXPECT_EQ(job.command_timeout_ms, 120'000u);
  EXPECT_EQ(job.data_timeout_ms, 900'000u);
  EXPECT_EQ(job.retry_schedule_ms,
            (std::vector<std::uint32_t>{30'000, 120'000, 600'000, 3'600'000}));
  EXPECT_EQ(job.deadline_ms, 86'400'000u);

  // Exact domains sorted (lower case, IDN as A-label), then "*".
  ASSERT_EQ(job.routes.size(), 4u);
  EXPECT_EQ(job.routes[0].domain, "example.net");
  EXPECT_EQ(job.routes[0].endpoint.host, "::1");
  EXPECT_EQ(job.routes[0].endpoint.port, 2527);
  EXPECT_EQ(job.routes[1].domain, "example.org");
  EXPECT_EQ(job.routes[1].endpoint.host, "127.0.0.1");
  EXPECT_EQ(job.routes[1].endpoint.port, 2526);
  EXPECT_EQ(job.routes[2].domain, "xn--bcher-kva.example");
  EXPECT_EQ(job.routes[2].endpoint.host, "mx.test.example");
  EXPECT_EQ(job.routes[2].endpoint.port, 25);
  EXPECT_EQ(job.routes[3].domain, "*");
  EXPECT_EQ(job.routes[3].endpoint.host, "127.0.0.1");
  EXPECT_EQ(job.routes[3].endpoint.port, 2525);

  ASSERT_EQ(job.dns_servers.size(), 3u);
  EXPECT_EQ(job.dns_servers[0].host, "127.0.0.1");
  EXPECT_EQ(job.dns_servers[0].port, 5353);
  EXPECT_EQ(job.dns_servers[1].host, "::1");
  EXPECT_EQ(job.dns_servers[1].port, 5354);
  EXPECT_EQ(job.dns_servers[2].host, "127.0.0.2");
  EXPECT_EQ(job.dns_servers[2].port, 53);
}

TEST(JobSampleTest, MinimalJobGetsDefaults) {
  absl::StatusOr<JobConfig> loaded = load_job(kJobsDir + "/minimal.toml");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const JobConfig& job = *loaded;
  EXPECT_EQ(job.id, "minimal");
  EXPECT_EQ(job.from, "news@example.com");
  EXPECT_EQ(job.from_display_name, "");
  EXPECT_EQ(job.from_address.text, "news@example.com");
  EXPECT_EQ(job.envelope_from.text, "news@example.com");  // defaults to the From address
  EXPECT_EQ(job.reply_to, "");
  EXPECT_EQ(job.subject_line, 6u);
  EXPECT_EQ(job.text_path, "");
  EXPECT_EQ(job.html_path, kJobsDir + "/body.html");
  EXPECT_TRUE(job.headers.empty());

  EXPECT_EQ(job.helo, host_name());
  EXPECT_EQ(job.connections_max, 2000u);
  EXPECT_EQ(job.connections_per_domain, 20u);
  EXPECT_EQ(job.messages_per_connection, 1000u);
  EXPECT_EQ(job.shards, 0u);
  EXPECT_EQ(job.port, 25);
  EXPECT_EQ(job.connect_timeout_ms, limits::connect_timeout_ms);
  EXPECT_EQ(job.command_timeout_ms, limits::command_timeout_ms);
  EXPECT_EQ(job.data_timeout_ms, limits::data_timeout_ms);
  EXPECT_FALSE(job.retry_schedule_given);  // exponential backoff with jitter
  EXPECT_EQ(job.retry_backoff.first_delay_ms, 300'000);
  EXPECT_EQ(job.retry_backoff.factor, 2.0);
  EXPECT_EQ(job.retry_backoff.max_delay_ms, 3'600'000);
  EXPECT_EQ(job.retry_backoff.max_age_ms, 3 * 86'400'000LL);
  EXPECT_EQ(job.retry_backoff.jitter, shaping::Jitter::full);
  EXPECT_EQ(job.deadline_ms, 3'600'000u);
  EXPECT_TRUE(job.routes.empty());
  EXPECT_TRUE(job.dns_servers.empty());
  EXPECT_EQ(find_route(job, "example.org"), nullptr);
}

TEST(JobSampleTest, PathsAreRelativeToTheJobFile) {
  absl::StatusOr<JobConfig> job = load_job(kJobsDir + "/nested/job.toml");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->base_dir, kJobsDir + "/nested");
  EXPECT_EQ(job->recipients_path, kJobsDir + "/nested/../recipients.csv");
  EXPECT_EQ(job->text_path, kJobsDir + "/nested/text/body.txt");
}

TEST(JobSampleTest, MisspeltKeyNamesTheNearestKey) {
  const std::string path = kJobsDir + "/typo.toml";
  absl::StatusOr<JobConfig> job = load_job(path);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(job.status().message()),
            path +
                ":10:1: unknown key 'conections_max' in [delivery]; did you mean "
                "'connections_max'?");
}

TEST(JobSampleTest, SyntaxErrorGivesLineAndColumn) {
  const std::string path = kJobsDir + "/syntax_error.toml";
  absl::StatusOr<JobConfig> job = load_job(path);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(job.status().message()),
            path +
                ":3:29: invalid TOML: Error while parsing string: unescaped control "
                "characters other than TAB (U+0009) are explicitly prohibited (is the closing "
                "quote missing?)");
}

TEST_F(JobTest, RelativeJobPathResolvesAgainstTheWorkingDirectory) {
  write_file(job_path_, kBase);
  const std::filesystem::path previous = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  absl::StatusOr<JobConfig> job = load_job("job.toml");
  std::filesystem::current_path(previous);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->job_path, "job.toml");
  EXPECT_EQ(job->base_dir, ".");
  EXPECT_EQ(job->recipients_path, "./recipients.csv");
}

TEST_F(JobTest, AbsolutePathsAreKept) {
  const JobConfig job = load_ok(std::string(kBase) + "html = \"" + dir_ + "/body.html\"\n");
  EXPECT_EQ(job.html_path, dir_ + "/body.html");
}

TEST_F(JobTest, InlineTablesAreTables) {
  const JobConfig job = load_ok(
      "campaign = { id = \"c\", recipients = \"recipients.csv\", from = \"a@example.com\", "
      "subject = \"s\", text = \"body.txt\" }\n"
      "delivery = { port = 587 }\n");
  EXPECT_EQ(job.id, "c");
  EXPECT_EQ(job.port, 587);
}

// --- The job file itself ---

TEST_F(JobTest, MissingJobFileIsNotFound) {
  const std::string path = dir_ + "/absent.toml";
  absl::StatusOr<JobConfig> job = load_job(path);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(std::string(job.status().message()),
            path + ": cannot open the job file: No such file or directory");
}

TEST_F(JobTest, DirectoryAsJobFile) {
  absl::StatusOr<JobConfig> job = load_job(dir_);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(job.status().message()), dir_ + ": the job file is not a regular file");
}

TEST_F(JobTest, EmptyJobPath) {
  absl::StatusOr<JobConfig> job = load_job("");
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(std::string(job.status().message()), "the job file path is empty");
}

TEST_F(JobTest, UnreadableJobFile) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  write_file(job_path_, kBase);
  ASSERT_EQ(chmod(job_path_.c_str(), 0), 0);
  absl::StatusOr<JobConfig> job = load_job(job_path_);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(job.status().message()),
            job_path_ + ": cannot open the job file: Permission denied");
}

TEST_F(JobTest, HugeJobFile) {
  std::string text(kBase);
  text += "# " + std::string(1 << 20, 'x') + "\n";
  EXPECT_EQ(error(text), "job.toml: the job file is " + std::to_string(text.size()) +
                             " bytes; at most 1048576 are allowed");
}

TEST_F(JobTest, EmptyJobFile) { EXPECT_EQ(error(""), "job.toml: missing table [campaign]"); }

// --- TOML syntax ---

TEST_F(JobTest, SyntaxErrors) {
  EXPECT_EQ(error("[campaign]\nid = \n"),
            "job.toml:2:6: invalid TOML: Error while parsing key-value pair: expected value, "
            "saw '\\n'");
  EXPECT_EQ(error(std::string(kBase) + "id = \"again\"\n"),
            "job.toml:7:6: invalid TOML: Error while parsing key-value pair: cannot redefine "
            "existing string 'id'");
  EXPECT_EQ(error(std::string(kBase) + "[campaign]\n"),
            "job.toml:7:1: invalid TOML: Error while parsing table header: cannot redefine "
            "existing table 'campaign'");
  EXPECT_EQ(error("[campaign]\nid = \"\xff\"\n"),
            "job.toml:2:6: invalid TOML: Encountered invalid utf-8 sequence");
  // toml++ 3.3 asserts on these in a header-only debug build (marzer/tomlplusplus#301); the
  // installed release library must report them as errors.
  EXPECT_EQ(error("[\x1f"
                  "campaign]\n"),
            "job.toml:1:2: invalid TOML: Error while parsing key: expected bare key starting "
            "character or string delimiter, saw '\\u001F'");
  EXPECT_EQ(error("[[[1]]]\n"),
            "job.toml:1:3: invalid TOML: Error while parsing key: expected bare key starting "
            "character or string delimiter, saw '['");
  // Columns count code points; the hint appears only when the string runs into the line end.
  EXPECT_EQ(error("[campaign]\nid = \"\xc3\xa9\xc3\xa9\n"),
            "job.toml:2:9: invalid TOML: Error while parsing string: unescaped control "
            "characters other than TAB (U+0009) are explicitly prohibited (is the closing quote "
            "missing?)");
  EXPECT_EQ(error("[campaign]\nid = \"\xc3\xa9\x01\"\n"),
            "job.toml:2:8: invalid TOML: Error while parsing string: unescaped control "
            "characters other than TAB (U+0009) are explicitly prohibited");
  EXPECT_EQ(error("[campaign]\r\nid = \"x\r\n"),
            "job.toml:2:8: invalid TOML: Error while parsing string: unescaped control "
            "characters other than TAB (U+0009) are explicitly prohibited (is the closing quote "
            "missing?)");
}

// --- Unknown tables and keys ---

TEST_F(JobTest, UnknownKeys) {
  EXPECT_EQ(error(std::string(kBase) + "subjet = \"x\"\n"),
            "job.toml:7:1: unknown key 'subjet' in [campaign]; did you mean 'subject'?");
  EXPECT_EQ(error(std::string(kBase) + "Reply_To = \"a@example.com\"\n"),
            "job.toml:7:1: unknown key 'Reply_To' in [campaign]; did you mean 'reply_to'?");
  EXPECT_EQ(error(std::string(kBase) + "helo = \"mx.example.com\"\n"),
            "job.toml:7:1: unknown key 'helo' in [campaign]; it belongs in [delivery]");
  EXPECT_EQ(error(std::string(kBase) + "zzz = 1\n"),
            "job.toml:7:1: unknown key 'zzz' in [campaign]");
  EXPECT_EQ(error(std::string(kBase) + "[delivery]\nretry = [\"1m\"]\n"),
            "job.toml:8:1: unknown key 'retry' in [delivery]");
  EXPECT_EQ(error(std::string(kBase) + "[delivery]\nhelo_name = \"a.example\"\n"),
            "job.toml:8:1: unknown key 'helo_name' in [delivery]");
  EXPECT_EQ(error(std::string(kBase) + "[delivery]\nconnections_per_domian = 1\n"),
            "job.toml:8:1: unknown key 'connections_per_domian' in [delivery]; did you mean "
            "'connections_per_domain'?");
  EXPECT_EQ(error(std::string(kBase) + "[delivery]\nid = \"x\"\n"),
            "job.toml:8:1: unknown key 'id' in [delivery]; it belongs in [campaign]");
  EXPECT_EQ(error(std::string(kBase) + "[delivery.limits]\nx = 1\n"),
            "job.toml:7:11: unknown key 'limits' in [delivery]");
  EXPECT_EQ(error(std::string(kBase) + "[dns]\nserver = [\"127.0.0.1\"]\n"),
            "job.toml:8:1: unknown key 'server' in [dns]; did you mean 'servers'?");
  // Of several unknown keys, the first in the file (toml++ iterates in sorted order).
  EXPECT_EQ(error(std::string(kBase) + "[delivery]\nzeta = 1\nalpha = 2\n"),
            "job.toml:8:1: unknown key 'zeta' in [delivery]");
  // Quoted keys with control characters stay on one line.
  EXPECT_EQ(error(std::string(kBase) + "\"a\\nb\" = 1\n"),
            "job.toml:7:1: unknown key 'a\\x0ab' in [campaign]");
}

TEST_F(JobTest, UnknownTables) {
  EXPECT_EQ(error(std::string(kBase) + "[delivry]\nport = 25\n"),
            "job.toml:7:2: unknown table [delivry]; did you mean [delivery]?");
  EXPECT_EQ(error(std::string(kBase) + "[Routes]\n"),
            "job.toml:7:2: unknown table [Routes]; did you mean [routes]?");
  EXPECT_EQ(error(std::string(kBase) + "[smtp]\n"),
            "job.toml:7:2: unknown table [smtp]; the tables are [campaign], [delivery], "
            "[routes] and [dns]");
  EXPECT_EQ(error("id = \"c1\"\n" + std::string(kBase)),
            "job.toml:1:1: unknown key 'id' at top level; it belongs in [campaign]");
  EXPECT_EQ(error("port = 25\n" + std::string(kBase)),
            "job.toml:1:1: unknown key 'port' at top level; it belongs in [delivery]");
  EXPECT_EQ(error("servers = []\n" + std::string(kBase)),
            "job.toml:1:1: unknown key 'servers' at top level; it belongs in [dns]");
  EXPECT_EQ(error("version = 2\n" + std::string(kBase)),
            "job.toml:1:1: unknown key 'version' at top level");
}

// --- Types ---

TEST_F(JobTest, WrongTypes) {
  EXPECT_EQ(error(std::string(kBase) + "[delivery]\nconnections_max = \"10\"\n"),
            "job.toml:8:19: [delivery] connections_max must be an integer, got a string");
  EXPECT_EQ(error(std::string(kBase) + "[delivery]\nport = 25.0\n"),
            "job.toml:8:8: [delivery] port must be an integer, got a floating-point number");
  EXPECT_EQ(error(std::string(kBase) + "[delivery]\nhelo = true\n"),
            "job.toml:8:8: [delivery] helo must be a string, got a boolean");
  EXPECT_EQ(error("[campaign]\nid = 5\n"),
            "job.toml:2:6: [campaign] id must be a string, got an integer");
  EXPECT_EQ(error(std::string(kBase) + "html = [\"body.html\"]\n"),
            "job.toml:7:8: [campaign] html must be a string, got an array");
  EXPECT_EQ(error(std::string(kBase) + "headers = \"X-A: b\"\n"),
            "job.toml:7:11: [campaign] headers must be a table, got a string");
  EXPECT_EQ(error("delivery = 3\n" + std::string(kBase)),
            "job.toml:1:12: [delivery] must be a table, got an integer");
  EXPECT_EQ(error("[[campaign]]\nid = \"c1\"\n"),
            "job.toml:1:1: [campaign] must be a table, got an array");
  EXPECT_EQ(error(std::string(kBase) + "[delivery]\ndeadline = 2026-01-01\n"),
            "job.toml:8:12: [delivery] deadline must be a duration (a string such as \"30s\" or "
            "an integer of seconds), got a date");
  EXPECT_EQ(error(std::string(kBase) + "[delivery]\nconnect_timeout = 00:00:30\n"),
            "job.toml:8:19: [delivery] connect_timeout must be a duration (a string such as "
            "\"30s\" or an integer of seconds), got a time");
  EXPECT_EQ(error(std::string(kBase) + "[delivery]\nretry_schedule = \"30s\"\n"),
            "job.toml:8:18: [delivery] retry_schedule must be an array of durations, got a "
            "string");
  EXPECT_EQ(error(std::string(kBase) + "[delivery]\nretry_schedule = [\"30s\", 1.5]\n"),
            "job.toml:8:26: [delivery] retry_schedule[1] must be a duration (a string such as "
            "\"30s\" or an integer of seconds), got a floating-point number");
  EXPECT_EQ(error(std::string(kBase) + "[dns]\nservers = \"127.0.0.1\"\n"),
            "job.toml:8:11: [dns] servers must be an array of strings, got a string");
  EXPECT_EQ(error(std::string(kBase) + "[dns]\nservers = [53]\n"),
            "job.toml:8:12: [dns] servers[0] must be a string, got an integer");
  EXPECT_EQ(error(std::string(kBase) + "[routes]\n\"*\" = 2525\n"),
            "job.toml:8:7: [routes] \"*\" must be a string such as \"127.0.0.1:2525\" or a table "
            "such as { host = \"127.0.0.1\", port = 465, tls = \"required\" }, got an integer");
  EXPECT_EQ(error(std::string(kBase) + "[campaign.headers]\nX-Flag = true\n"),
            "job.toml:8:10: [campaign.headers] X-Flag must be a string, got a boolean");
}

// --- Numbers out of range ---

TEST_F(JobTest, NumbersOutOfRange) {
  const std::string delivery = std::string(kBase) + "[delivery]\n";
  EXPECT_EQ(error(delivery + "connections_max = 0\n"),
            "job.toml:8:19: [delivery] connections_max must be between 1 and 1000000, got 0");
  EXPECT_EQ(error(delivery + "connections_max = 1_000_001\n"),
            "job.toml:8:19: [delivery] connections_max must be between 1 and 1000000, got "
            "1000001");
  EXPECT_EQ(error(delivery + "connections_per_domain = -1\n"),
            "job.toml:8:26: [delivery] connections_per_domain must be between 1 and 1000000, "
            "got -1");
  EXPECT_EQ(error(delivery + "messages_per_connection = 0\n"),
            "job.toml:8:27: [delivery] messages_per_connection must be between 1 and 1000000, "
            "got 0");
  EXPECT_EQ(error(delivery + "shards = 257\n"),
            "job.toml:8:10: [delivery] shards must be between 0 and 256, got 257");
  EXPECT_EQ(error(delivery + "shards = -9223372036854775808\n"),
            "job.toml:8:10: [delivery] shards must be between 0 and 256, got "
            "-9223372036854775808");
  EXPECT_EQ(error(delivery + "port = 0\n"),
            "job.toml:8:8: [delivery] port must be between 1 and 65535, got 0");
  EXPECT_EQ(error(delivery + "port = 65536\n"),
            "job.toml:8:8: [delivery] port must be between 1 and 65535, got 65536");
  EXPECT_EQ(error(delivery + "connections_max = 10\nconnections_per_domain = 11\n"),
            "job.toml:9:26: [delivery] connections_per_domain (11) is more than "
            "connections_max (10)");
}

TEST_F(JobTest, NumbersAtTheirLimits) {
  JobConfig job = load_ok(std::string(kBase) +
                          "[delivery]\nconnections_max = 1000000\nconnections_per_domain = "
                          "1000000\nmessages_per_connection = 1\nshards = 256\nport = 65535\n");
  EXPECT_EQ(job.connections_max, 1'000'000u);
  EXPECT_EQ(job.connections_per_domain, 1'000'000u);
  EXPECT_EQ(job.messages_per_connection, 1u);
  EXPECT_EQ(job.shards, limits::shards_max);
  EXPECT_EQ(job.port, 65535);
  // A small connections_max lowers the default per-domain limit with it.
  job = load_ok(std::string(kBase) + "[delivery]\nconnections_max = 8\n");
  EXPECT_EQ(job.connections_max, 8u);
  EXPECT_EQ(job.connections_per_domain, 8u);
}

// --- [campaign] ---

TEST_F(JobTest, CampaignIdPattern) {
  const std::string rest =
      "recipients = \"recipients.csv\"\nfrom = \"a@example.com\"\nsubject = \"s\"\n"
      "text = \"body.txt\"\n";
  EXPECT_EQ(load_ok("[campaign]\nid = \"A-z_0.9\"\n" + rest).id, "A-z_0.9");
  EXPECT_EQ(load_ok("[campaign]\nid = \"" + std::string(64, 'x') + "\"\n" + rest).id,
            std::string(64, 'x'));
  const std::string pattern =
      "' must be 1 to 64 characters from A-Z a-z 0-9 . _ - (and not '.' or '..')";
  EXPECT_EQ(error("[campaign]\nid = \"news letter\"\n" + rest),
            "job.toml:2:6: [campaign] id 'news letter" + pattern);
  EXPECT_EQ(error("[campaign]\nid = \"" + std::string(65, 'x') + "\"\n" + rest),
            "job.toml:2:6: [campaign] id '" + std::string(65, 'x') + pattern);
  EXPECT_EQ(error("[campaign]\nid = \"../etc\"\n" + rest),
            "job.toml:2:6: [campaign] id '../etc" + pattern);
  EXPECT_EQ(error("[campaign]\nid = \"..\"\n" + rest), "job.toml:2:6: [campaign] id '.." + pattern);
  EXPECT_EQ(error("[campaign]\nid = \"caf\xc3\xa9\"\n" + rest),
            "job.toml:2:6: [campaign] id 'caf\xc3\xa9" + pattern);
  EXPECT_EQ(error("[campaign]\nid = \"a\\tb\"\n" + rest),
            "job.toml:2:6: [campaign] id 'a\\x09b" + pattern);
  EXPECT_EQ(error("[campaign]\nid = \"\"\n" + rest),
            "job.toml:2:6: [campaign] id must not be empty");
}

TEST_F(JobTest, MissingRequiredKeys) {
  EXPECT_EQ(error("[delivery]\nport = 25\n"), "job.toml: missing table [campaign]");
  EXPECT_EQ(error("# job\n\n[campaign]\nrecipients = \"recipients.csv\"\n"),
            "job.toml:3:1: [campaign] is missing required key 'id'");
  EXPECT_EQ(error("[campaign]\nid = \"c\"\n"),
            "job.toml:1:1: [campaign] is missing required key 'recipients'");
  EXPECT_EQ(error("[campaign]\nid = \"c\"\nrecipients = \"recipients.csv\"\n"),
            "job.toml:1:1: [campaign] is missing required key 'from'");
  EXPECT_EQ(error("[campaign]\nid = \"c\"\nrecipients = \"recipients.csv\"\nfrom = "
                  "\"a@example.com\"\n"),
            "job.toml:1:1: [campaign] is missing required key 'subject'");
  EXPECT_EQ(error("[campaign]\nid = \"c\"\nrecipients = \"recipients.csv\"\nfrom = "
                  "\"a@example.com\"\nsubject = \"s\"\n"),
            "job.toml:1:1: [campaign] needs a body: set text, html or both (template file "
            "names)");
  // [campaign.headers] alone creates [campaign] implicitly; the error points at it.
  EXPECT_EQ(error("[campaign.headers]\nX-A = \"b\"\n"),
            "job.toml:1:1: [campaign] is missing required key 'id'");
}

TEST_F(JobTest, FromMustBeAMailbox) {
  std::string display_name;
  Address address;
  std::string reason;
  ASSERT_FALSE(parse_mailbox("News <news@>", display_name, address, reason));
  ASSERT_FALSE(reason.empty());
  EXPECT_EQ(error("[campaign]\nid = \"c\"\nrecipients = \"recipients.csv\"\n"
                  "from = \"News <news@>\"\nsubject = \"s\"\ntext = \"body.txt\"\n"),
            "job.toml:4:8: [campaign] from 'News <news@>' is not a valid mailbox: " + reason);
  EXPECT_EQ(error("[campaign]\nid = \"c\"\nrecipients = \"recipients.csv\"\n"
                  "from = \"a@example.com\\r\\nBcc: victim@example.org\"\nsubject = \"s\"\n"
                  "text = \"body.txt\"\n"),
            "job.toml:4:8: [campaign] from must not contain CR or LF");
  EXPECT_EQ(error("[campaign]\nid = \"c\"\nrecipients = \"recipients.csv\"\n"
                  "from = \"\"\nsubject = \"s\"\ntext = \"body.txt\"\n"),
            "job.toml:4:8: [campaign] from must not be empty");

  const JobConfig job = load_ok(
      "[campaign]\nid = \"c\"\nrecipients = \"recipients.csv\"\n"
      "from = '\"News, Weekly\" <News@EXAMPLE.com>'\nsubject = \"s\"\ntext = \"body.txt\"\n");
  EXPECT_EQ(job.from, "\"News, Weekly\" <News@EXAMPLE.com>");
  EXPECT_EQ(job.from_display_name, "News, Weekly");
  EXPECT_EQ(job.from_address.text, "News@example.com");
  EXPECT_EQ(job.envelope_from.text, "News@example.com");
}

TEST_F(JobTest, EnvelopeFromMustBeAnAddress) {
  Address address;
  std::string reason;
  ASSERT_FALSE(parse_address("Bounces <bounces@example.com>", address, reason));
  ASSERT_FALSE(reason.empty());
  EXPECT_EQ(error(std::string(kBase) + "envelope_from = \"Bounces <bounces@example.com>\"\n"),
            "job.toml:7:17: [campaign] envelope_from 'Bounces <bounces@example.com>' is not a "
            "valid address: " +
                reason);
  ASSERT_FALSE(parse_address("", address, reason));
  EXPECT_EQ(error(std::string(kBase) + "envelope_from = \"\"\n"),
            "job.toml:7:17: [campaign] envelope_from '' is not a valid address: " + reason);
  EXPECT_EQ(error(std::string(kBase) + "envelope_from = \"b@example.com\\n\"\n"),
            "job.toml:7:17: [campaign] envelope_from must not contain CR or LF");
  EXPECT_EQ(load_ok(std::string(kBase) + "envelope_from = \"b@B\xc3\xbc"
                                         "cher.example\"\n")
                .envelope_from.text,
            "b@xn--bcher-kva.example");
}

TEST_F(JobTest, ReplyTo) {
  EXPECT_EQ(load_ok(std::string(kBase) + "reply_to = \"A <a@example.com>, \\\"B, C\\\" "
                                         "<b@example.com>, c@example.com\"\n")
                .reply_to,
            "A <a@example.com>, \"B, C\" <b@example.com>, c@example.com");
  std::string display_name;
  Address address;
  std::string reason;
  ASSERT_FALSE(parse_mailbox(" nobody", display_name, address, reason));
  EXPECT_EQ(error(std::string(kBase) + "reply_to = \"a@example.com, nobody\"\n"),
            "job.toml:7:12: [campaign] reply_to 'a@example.com, nobody' is not a valid "
            "mailbox list: " +
                reason);
  EXPECT_EQ(error(std::string(kBase) + "reply_to = \"a@example.com\\r\\nX: y\"\n"),
            "job.toml:7:12: [campaign] reply_to must not contain CR or LF");
}

TEST_F(JobTest, Subject) {
  EXPECT_EQ(load_ok(std::string(kBase) + "[delivery]\n").subject_line, 5u);
  EXPECT_EQ(load_ok(std::string(kBase) + "[campaign.headers]\n").subject, "Hi");
  const std::string head =
      "[campaign]\nid = \"c\"\nrecipients = \"recipients.csv\"\nfrom = \"a@example.com\"\n"
      "text = \"body.txt\"\n";
  EXPECT_EQ(load_ok(head + "subject = \"a\\tb \\u00e9\"\n").subject, "a\tb \xc3\xa9");
  EXPECT_EQ(error(head + "subject = \"Hi\\r\\nBcc: victim@example.org\"\n"),
            "job.toml:6:11: [campaign] subject must not contain CR or LF");
  EXPECT_EQ(error(head + "subject = \"\"\"Hi\nthere\"\"\"\n"),
            "job.toml:6:11: [campaign] subject must not contain CR or LF");
  EXPECT_EQ(error(head + "subject = \"a\\u0000b\"\n"),
            "job.toml:6:11: [campaign] subject must not contain control character \\x00");
  EXPECT_EQ(error(head + "subject = \"a\\u007f\"\n"),
            "job.toml:6:11: [campaign] subject must not contain control character \\x7f");
  EXPECT_EQ(error(head + "subject = \"\"\n"),
            "job.toml:6:11: [campaign] subject must not be empty");
  EXPECT_EQ(error(head + "subject = 1\n"),
            "job.toml:6:11: [campaign] subject must be a string, got an integer");
}

TEST_F(JobTest, MissingFiles) {
  const std::string head = "[campaign]\nid = \"c\"\nfrom = \"a@example.com\"\nsubject = \"s\"\n";
  EXPECT_EQ(
      error(head + "recipients = \"list.csv\"\ntext = \"body.txt\"\n", absl::StatusCode::kNotFound),
      "job.toml:5:14: [campaign] recipients file 'DIR/list.csv' not found (paths are "
      "relative to the job file)");
  EXPECT_EQ(error(head + "recipients = \"recipients.csv\"\ntext = \"missing/body.txt\"\n",
                  absl::StatusCode::kNotFound),
            "job.toml:6:8: [campaign] text file 'DIR/missing/body.txt' not found (paths are "
            "relative to the job file)");
  EXPECT_EQ(error(head + "recipients = \"recipients.csv\"\nhtml = \"body.htm\"\n",
                  absl::StatusCode::kNotFound),
            "job.toml:6:8: [campaign] html file 'DIR/body.htm' not found (paths are relative "
            "to the job file)");
  // A missing html is reported even when text is fine: both are checked.
  EXPECT_EQ(error(head + "recipients = \"recipients.csv\"\ntext = \"body.txt\"\nhtml = \"x\"\n",
                  absl::StatusCode::kNotFound),
            "job.toml:7:8: [campaign] html file 'DIR/x' not found (paths are relative to the "
            "job file)");
  EXPECT_EQ(error(head + "recipients = \"" + dir_ + "/nope.csv\"\ntext = \"body.txt\"\n",
                  absl::StatusCode::kNotFound),
            "job.toml:5:14: [campaign] recipients file 'DIR/nope.csv' not found");
  EXPECT_EQ(error(head + "recipients = \"recipients.csv/x\"\ntext = \"body.txt\"\n",
                  absl::StatusCode::kNotFound),
            "job.toml:5:14: [campaign] recipients file 'DIR/recipients.csv/x' not found (paths "
            "are relative to the job file)");
  EXPECT_EQ(error(head + "recipients = \".\"\ntext = \"body.txt\"\n"),
            "job.toml:5:14: [campaign] recipients 'DIR/.' is a directory, not a file");
  EXPECT_EQ(error(head + "recipients = \"recipients.csv\"\ntext = \"\"\n"),
            "job.toml:6:8: [campaign] text must not be empty");
  EXPECT_EQ(error(head + "recipients = \"recipients.csv\\u0000.txt\"\ntext = \"body.txt\"\n"),
            "job.toml:5:14: [campaign] recipients must not contain control character \\x00");
}

// A stat() failure other than "no such file" (here ENAMETOOLONG, which root gets too) is not
// reported as a missing file.
TEST_F(JobTest, RecipientsPathTooLong) {
  const std::string name(300, 'n');
  EXPECT_EQ(error("[campaign]\nid = \"c\"\nrecipients = \"" + name +
                  "\"\nfrom = \"a@example.com\"\nsubject = \"s\"\ntext = \"body.txt\"\n"),
            "job.toml:3:14: [campaign] recipients file 'DIR/" + name +
                "' cannot be read: File name too long");
}

TEST_F(JobTest, JobPathTooLong) {
  const std::string path = dir_ + "/" + std::string(300, 'j') + ".toml";
  absl::StatusOr<JobConfig> job = load_job(path);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(job.status().message()),
            path + ": cannot open the job file: File name too long");
}

// A FIFO or a device named where a file is meant: refused at load, naming key and file, without
// opening it (a FIFO would hang the open or the read; /dev/zero never ends).
TEST_F(JobTest, NonRegularFilesAreRefused) {
  ASSERT_EQ(mkfifo((dir_ + "/fifo").c_str(), 0600), 0);
  const std::string head = "[campaign]\nid = \"c\"\nfrom = \"a@example.com\"\nsubject = \"s\"\n";
  EXPECT_EQ(error(head + "recipients = \"fifo\"\ntext = \"body.txt\"\n"),
            "job.toml:5:14: [campaign] recipients 'DIR/fifo' is a FIFO, not a regular file");
  EXPECT_EQ(error(head + "recipients = \"recipients.csv\"\ntext = \"/dev/zero\"\n"),
            "job.toml:6:8: [campaign] text '/dev/zero' is a character device, not a regular file");
  EXPECT_EQ(error(std::string(kBase) + "[delivery]\nca_file = \"fifo\"\n"),
            "job.toml:8:11: [delivery] ca_file 'DIR/fifo' is a FIFO, not a regular file");
  EXPECT_EQ(error(std::string(kBase) + "[relay]\nhost = \"smtp.example.com\"\nusername = \"u\"\n"
                                       "password_file = \"fifo\"\n"),
            "job.toml:10:17: [relay] password_file 'DIR/fifo' is a FIFO, not a regular file");
}

// The password is the first line, read with a bound: a huge file is refused, not read whole.
TEST_F(JobTest, PasswordFileIsReadWithABound) {
  const std::string relay = std::string(kBase) +
                            "[relay]\nhost = \"smtp.example.com\"\nusername = \"u\"\n"
                            "password_file = \"password\"\n";
  write_file(dir_ + "/password", "right horse\r\nsecond line\n");
  const JobConfig job = load_ok(relay);
  ASSERT_FALSE(job.routes.empty());
  EXPECT_EQ(job.routes.back().password, "right horse");
  write_file(dir_ + "/password", std::string(64 * 1024, 'p') + "\n");
  EXPECT_EQ(error(relay),
            "job.toml:10:17: [relay] password_file DIR/password: the password "
            "file is over 65536 bytes");
}

TEST_F(JobTest, UnreadableRecipients) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  ASSERT_EQ(chmod((dir_ + "/recipients.csv").c_str(), 0), 0);
  EXPECT_EQ(error(kBase),
            "job.toml:3:14: [campaign] recipients file 'DIR/recipients.csv' cannot "
            "be read: Permission denied");
}

TEST_F(JobTest, Headers) {
  const JobConfig job = load_ok(std::string(kBase) +
                                "[campaign.headers]\n"
                                "X-Zeta = \"z {{city}}\"\n"
                                "\"Precedence\" = \"bulk\"\n"
                                "X-Alpha = \"a\\tb\"\n"
                                "Reply-To = \"r@example.com\"\n"
                                "X-Empty = \"\"\n");
  const std::vector<std::pair<std::string, std::string>> headers = {{"X-Zeta", "z {{city}}"},
                                                                    {"Precedence", "bulk"},
                                                                    {"X-Alpha", "a\tb"},
                                                                    {"Reply-To", "r@example.com"},
                                                                    {"X-Empty", ""}};
  EXPECT_EQ(job.headers, headers);

  const std::string headers_table = std::string(kBase) + "[campaign.headers]\n";
  EXPECT_EQ(error(headers_table + "\"X Campaign\" = \"a\"\n"),
            "job.toml:8:1: [campaign.headers] 'X Campaign' is not a valid header name (RFC 5322 "
            "3.6.8: printable ASCII except ':' and space)");
  EXPECT_EQ(error(headers_table + "\"X-A:\" = \"a\"\n"),
            "job.toml:8:1: [campaign.headers] 'X-A:' is not a valid header name (RFC 5322 "
            "3.6.8: printable ASCII except ':' and space)");
  EXPECT_EQ(error(headers_table + "\"X-\xc3\xa9\" = \"a\"\n"),
            "job.toml:8:1: [campaign.headers] 'X-\xc3\xa9' is not a valid header name (RFC 5322 "
            "3.6.8: printable ASCII except ':' and space)");
  EXPECT_EQ(error(headers_table + "\"\" = \"a\"\n"),
            "job.toml:8:1: [campaign.headers] '' is not a valid header name (RFC 5322 3.6.8: "
            "printable ASCII except ':' and space)");
  EXPECT_EQ(error(headers_table + "Subject = \"x\"\n"),
            "job.toml:8:1: [campaign.headers] 'Subject' would duplicate a header hayate writes; "
            "set it with [campaign] subject");
  EXPECT_EQ(error(headers_table + "message-id = \"<x@y>\"\n"),
            "job.toml:8:1: [campaign.headers] 'message-id' would duplicate a header hayate "
            "writes; hayate writes it");
  EXPECT_EQ(error(headers_table + "To = \"x@example.org\"\n"),
            "job.toml:8:1: [campaign.headers] 'To' would duplicate a header hayate writes; it is "
            "each recipient's address");
  EXPECT_EQ(error(headers_table + "FROM = \"x@example.org\"\n"),
            "job.toml:8:1: [campaign.headers] 'FROM' would duplicate a header hayate writes; set "
            "it with [campaign] from");
  for (std::string_view name :
       {"Date", "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Return-Path"}) {
    EXPECT_TRUE(error(headers_table + std::string(name) + " = \"x\"\n")
                    .starts_with("job.toml:8:1: [campaign.headers] '" + std::string(name) +
                                 "' would duplicate a header hayate writes; "))
        << name;
  }
  // Headers that would reach every recipient or fool the servers on the way.
  EXPECT_EQ(error(headers_table + "Bcc = \"audit@example.org\"\n"),
            "job.toml:8:1: [campaign.headers] 'Bcc' would go to every recipient with the message, "
            "showing them the addresses it names; hayate sends to the recipients file only");
  EXPECT_EQ(error(headers_table + "X-Tag = \"a\"\ncc = \"boss@example.org\"\n"),
            "job.toml:9:1: [campaign.headers] 'cc' would show every recipient addresses this "
            "message is not sent to; hayate sends to the recipients file only");
  EXPECT_EQ(error(headers_table + "Received = \"from x by y\"\n"),
            "job.toml:8:1: [campaign.headers] 'Received' is a trace header that each receiving "
            "server adds (RFC 5321 4.4)");
  EXPECT_EQ(error(headers_table + "DKIM-Signature = \"v=1; d=example.com\"\n"),
            "job.toml:8:1: [campaign.headers] 'DKIM-Signature' is written when the message is "
            "signed; sign with a [[dkim]] table");
  EXPECT_EQ(error(headers_table + "Content-Disposition = \"attachment\"\n"),
            "job.toml:8:1: [campaign.headers] 'Content-Disposition' would describe a MIME body "
            "hayate builds from text and html (RFC 2045 9)");
  for (std::string_view name : {"content-id", "CONTENT-LANGUAGE", "Delivered-To",
                                "Authentication-Results", "ARC-Seal", "arc-message-signature"}) {
    EXPECT_TRUE(error(headers_table + "\"" + std::string(name) + "\" = \"x\"\n")
                    .starts_with("job.toml:8:1: [campaign.headers] '" + std::string(name) + "' "))
        << name;
  }
  // Names that only look alike are the user's.
  EXPECT_EQ(load_ok(headers_table + "X-Content-Id = \"a\"\nContents = \"b\"\nX-Bcc = \"c\"\n"
                                    "Received-SPF-Note = \"d\"\n")
                .headers.size(),
            4u);
  EXPECT_EQ(error(std::string(kBase) + "reply_to = \"r@example.com\"\n[campaign.headers]\n"
                                       "reply-to = \"s@example.com\"\n"),
            "job.toml:9:1: [campaign.headers] 'Reply-To' duplicates [campaign] reply_to");
  EXPECT_EQ(error(headers_table + "X-Tag = \"a\"\nx-tag = \"b\"\n"),
            "job.toml:9:1: [campaign.headers] 'x-tag' duplicates 'X-Tag' (header names ignore "
            "case)");
  EXPECT_EQ(error(headers_table + "X-Tag = \"a\\r\\nBcc: victim@example.org\"\n"),
            "job.toml:8:9: [campaign.headers] X-Tag must not contain CR or LF");
  EXPECT_EQ(error(headers_table + "X-Tag = \"a\\nb\"\n"),
            "job.toml:8:9: [campaign.headers] X-Tag must not contain CR or LF");
  EXPECT_EQ(error(headers_table + "X-Tag = \"a\\u001bb\"\n"),
            "job.toml:8:9: [campaign.headers] X-Tag must not contain control character \\x1b");
  std::string many = headers_table;
  for (int i = 0; i < 65; ++i) many += "X-H" + std::to_string(i) + " = \"v\"\n";
  EXPECT_EQ(error(many), "job.toml:7:1: [campaign.headers] has 65 headers; at most 64 are allowed");
}

// --- [delivery] ---

TEST_F(JobTest, Helo) {
  const std::string delivery = std::string(kBase) + "[delivery]\n";
  EXPECT_EQ(load_ok(delivery + "helo = \"localhost\"\n").helo, "localhost");
  EXPECT_EQ(load_ok(delivery + "helo = \"Mta-1.Example.com\"\n").helo, "Mta-1.Example.com");
  EXPECT_EQ(load_ok(delivery + "helo = \"[192.0.2.1]\"\n").helo, "[192.0.2.1]");
  EXPECT_EQ(load_ok(delivery + "helo = \"[IPv6:2001:db8::1]\"\n").helo, "[IPv6:2001:db8::1]");
  const std::string suffix = "' is not a host name or address literal (RFC 5321 4.1.1.1)";
  for (std::string_view bad : {"mta_1.example.com", "-mta.example.com", "mta-.example.com",
                               "mta..example.com", "mta.example.com.", "1.2.3", "[2001:db8::1]",
                               "[IPv6:192.0.2.1]", "[300.1.1.1]", "mta example.com", ""}) {
    EXPECT_EQ(error(delivery + "helo = \"" + std::string(bad) + "\"\n"),
              "job.toml:8:8: [delivery] helo '" + std::string(bad) + suffix);
  }
  EXPECT_EQ(error(delivery + "helo = \"" + std::string(64, 'a') + ".example\"\n"),
            "job.toml:8:8: [delivery] helo '" + std::string(64, 'a') + ".example" + suffix);
  EXPECT_EQ(error(delivery + "helo = \"a\\r\\nMAIL FROM:<x@y>\"\n"),
            "job.toml:8:8: [delivery] helo 'a\\x0d\\x0aMAIL FROM:<x@y>" + suffix);
}

TEST_F(JobTest, Durations) {
  const std::string delivery = std::string(kBase) + "[delivery]\n";
  JobConfig job = load_ok(delivery +
                          "connect_timeout = \"250ms\"\ncommand_timeout = 45\n"
                          "data_timeout = \"1d\"\nretry_schedule = [\"1s\", 90, \"2h\"]\n"
                          "deadline = \"30d\"\n");
  EXPECT_EQ(job.connect_timeout_ms, 250u);
  EXPECT_EQ(job.command_timeout_ms, 45'000u);
  EXPECT_EQ(job.data_timeout_ms, 86'400'000u);
  EXPECT_EQ(job.retry_schedule_ms, (std::vector<std::uint32_t>{1'000, 90'000, 7'200'000}));
  EXPECT_EQ(job.deadline_ms, 2'592'000'000u);

  job = load_ok(delivery +
                "retry_first_delay = \"10s\"\nretry_factor = 1.5\nretry_max_delay = \"20m\"\n"
                "retry_jitter = \"decorrelated\"\nmax_age = \"2d\"\n");
  EXPECT_FALSE(job.retry_schedule_given);
  EXPECT_EQ(job.retry_backoff.first_delay_ms, 10'000);
  EXPECT_EQ(job.retry_backoff.factor, 1.5);
  EXPECT_EQ(job.retry_backoff.max_delay_ms, 1'200'000);
  EXPECT_EQ(job.retry_backoff.jitter, shaping::Jitter::decorrelated);
  EXPECT_EQ(job.retry_backoff.max_age_ms, 2 * 86'400'000LL);
  EXPECT_EQ(error(delivery + "retry_factor = 0.5\n"),
            "job.toml:8:16: [delivery] retry_factor must be a number from 1 to 10 (2 doubles "
            "each delay)");
  EXPECT_EQ(error(delivery + "retry_jitter = \"some\"\n"),
            "job.toml:8:16: [delivery] retry_jitter must be \"none\", \"full\" or "
            "\"decorrelated\"");
  EXPECT_EQ(error(delivery + "retry_first_delay = \"2h\"\n"),
            "job.toml:8:21: [delivery] retry_max_delay (3600000 ms) is below retry_first_delay "
            "(7200000 ms)");
  EXPECT_EQ(error(delivery + "max_age = 0\n"),
            "job.toml:8:11: [delivery] max_age must be more than 0");

  job = load_ok(delivery + "retry_schedule = []\n");
  EXPECT_TRUE(job.retry_schedule_given);
  EXPECT_TRUE(job.retry_schedule_ms.empty());  // no retries: the first failure is final

  const std::string hint =
      "' is not a duration; write e.g. \"250ms\", \"30s\", \"5m\", \"2h\", \"1d\" or an "
      "integer of seconds";
  EXPECT_EQ(error(delivery + "connect_timeout = \"5 minutes\"\n"),
            "job.toml:8:19: [delivery] connect_timeout '5 minutes" + hint);
  EXPECT_EQ(error(delivery + "command_timeout = \"1h30m\"\n"),
            "job.toml:8:19: [delivery] command_timeout '1h30m" + hint);
  EXPECT_EQ(error(delivery + "deadline = \"-1h\"\n"),
            "job.toml:8:12: [delivery] deadline '-1h" + hint);
  EXPECT_EQ(error(delivery + "retry_schedule = [\"30s\", \"2x\"]\n"),
            "job.toml:8:26: [delivery] retry_schedule[1] '2x" + hint);
  EXPECT_EQ(error(delivery + "connect_timeout = 0\n"),
            "job.toml:8:19: [delivery] connect_timeout must be more than 0");
  EXPECT_EQ(error(delivery + "connect_timeout = \"0ms\"\n"),
            "job.toml:8:19: [delivery] connect_timeout must be more than 0");
  EXPECT_EQ(error(delivery + "data_timeout = -5\n"),
            "job.toml:8:16: [delivery] data_timeout must not be negative, got -5");
  EXPECT_EQ(error(delivery + "data_timeout = \"25h\"\n"),
            "job.toml:8:16: [delivery] data_timeout must be at most 1d");
  EXPECT_EQ(error(delivery + "data_timeout = 86401\n"),
            "job.toml:8:16: [delivery] data_timeout must be at most 1d");
  EXPECT_EQ(error(delivery + "deadline = 9223372036854775807\n"),
            "job.toml:8:12: [delivery] deadline must be at most 30d");
  EXPECT_EQ(error(delivery + "deadline = \"18446744073709551615ms\"\n"),
            "job.toml:8:12: [delivery] deadline must be at most 30d");
  EXPECT_EQ(error(delivery + "retry_schedule = [\"31d\"]\n"),
            "job.toml:8:19: [delivery] retry_schedule[0] must be at most 30d");
  std::string many = delivery + "retry_schedule = [";
  for (int i = 0; i < 65; ++i) many += "\"1m\", ";
  EXPECT_EQ(error(many + "]\n"),
            "job.toml:8:18: [delivery] retry_schedule has 65 entries; at most 64 are allowed");
}

TEST(ParseDurationTest, Units) {
  const std::vector<std::pair<std::string_view, std::uint64_t>> good = {
      {"250ms", 250},
      {"30s", 30'000},
      {"5m", 300'000},
      {"2h", 7'200'000},
      {"1d", 86'400'000},
      {"45", 45'000},
      {"0s", 0},
      {"0", 0},
      {"007s", 7'000},
      {"18446744073709551615ms", 18'446'744'073'709'551'615ULL},
      {"18446744073709551s", 18'446'744'073'709'551'000ULL}};
  for (const auto& [text, expected_ms] : good) {
    std::uint64_t duration_ms = 12345;
    EXPECT_TRUE(parse_duration_ms(text, duration_ms)) << text;
    EXPECT_EQ(duration_ms, expected_ms) << text;
  }
  for (std::string_view bad : {"",
                               "s",
                               "ms",
                               "-5s",
                               "+5s",
                               "5 s",
                               " 5s",
                               "5s ",
                               "5S",
                               "5M",
                               "5min",
                               "5sec",
                               "1.5s",
                               "1h30m",
                               "5ms5",
                               "5mss",
                               "0x10",
                               "1e3",
                               "18446744073709551616",
                               "18446744073709552s",
                               "213503982335d",
                               "\xef\xbc\x95s"}) {
    std::uint64_t duration_ms = 12345;
    EXPECT_FALSE(parse_duration_ms(bad, duration_ms)) << bad;
    EXPECT_EQ(duration_ms, 12345u) << bad;  // untouched on failure
  }
}

// --- [routes] ---

TEST_F(JobTest, RoutesAndFindRoute) {
  const JobConfig job = load_ok(std::string(kBase) +
                                "[routes]\n"
                                "\"*\" = \"127.0.0.1:2525\"\n"
                                "\"example.org\" = \"127.0.0.1:2526\"\n"
                                "\"a.example\" = \"[0:0::1]:2527\"\n"
                                "\"b.example\" = \"MX.Example.com:587\"\n"
                                "\"c.example\" = \"mx.example.com\"\n"
                                "\"d.example\" = \"192.0.2.1\"\n");
  ASSERT_EQ(job.routes.size(), 6u);
  EXPECT_EQ(job.routes.back().domain, "*");

  const Route* route = find_route(job, "example.org");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->domain, "example.org");
  EXPECT_EQ(route->endpoint.host, "127.0.0.1");
  EXPECT_EQ(route->endpoint.port, 2526);

  route = find_route(job, "a.example");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->endpoint.host, "::1");  // written back in canonical form
  EXPECT_EQ(route->endpoint.port, 2527);

  route = find_route(job, "b.example");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->endpoint.host, "mx.example.com");
  EXPECT_EQ(route->endpoint.port, 587);

  route = find_route(job, "c.example");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->endpoint.host, "mx.example.com");
  EXPECT_EQ(route->endpoint.port, 25);

  route = find_route(job, "d.example");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->endpoint.host, "192.0.2.1");
  EXPECT_EQ(route->endpoint.port, 25);

  // Exact match wins over "*"; no suffix matching; everything else goes to "*".
  for (std::string_view other : {"sub.example.org", "example.org.evil", "xample.org", "z.z", ""}) {
    route = find_route(job, other);
    ASSERT_NE(route, nullptr) << other;
    EXPECT_EQ(route->domain, "*") << other;
    EXPECT_EQ(route->endpoint.port, 2525) << other;
  }
  route = find_route(job, "EXAMPLE.org");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->domain, "example.org");
}

TEST_F(JobTest, RoutesWithoutWildcard) {
  const JobConfig job = load_ok(std::string(kBase) +
                                "[routes]\n\"b.example\" = \"127.0.0.1:2\"\n"
                                "\"a.example\" = \"127.0.0.1:1\"\n\"c.example\" = "
                                "\"127.0.0.1:3\"\n");
  ASSERT_EQ(job.routes.size(), 3u);
  EXPECT_EQ(job.routes[0].domain, "a.example");
  EXPECT_EQ(job.routes[1].domain, "b.example");
  EXPECT_EQ(job.routes[2].domain, "c.example");
  for (int i = 0; i < 3; ++i) {
    const std::string domain = std::string(1, static_cast<char>('a' + i)) + ".example";
    const Route* route = find_route(job, domain);
    ASSERT_NE(route, nullptr) << domain;
    EXPECT_EQ(route->endpoint.port, i + 1) << domain;
  }
  EXPECT_EQ(find_route(job, "d.example"), nullptr);
  EXPECT_EQ(find_route(job, "0.example"), nullptr);
  EXPECT_EQ(find_route(job, ""), nullptr);

  const JobConfig only_wildcard = load_ok(std::string(kBase) + "[routes]\n\"*\" = \"h.example\"\n");
  ASSERT_NE(find_route(only_wildcard, "x.example"), nullptr);
  EXPECT_EQ(find_route(only_wildcard, "x.example")->endpoint.host, "h.example");
}

TEST_F(JobTest, RouteKeysNormalize) {
  const JobConfig job = load_ok(std::string(kBase) +
                                "[routes]\n\"Example.ORG\" = \"127.0.0.1:1\"\n"
                                "\"B\xc3\xbc"
                                "cher.example\" = \"127.0.0.1:2\"\n");
  ASSERT_EQ(job.routes.size(), 2u);
  EXPECT_EQ(job.routes[0].domain, "example.org");
  EXPECT_EQ(job.routes[1].domain, "xn--bcher-kva.example");
  ASSERT_NE(find_route(job, "xn--bcher-kva.example"), nullptr);
  EXPECT_EQ(find_route(job, "xn--bcher-kva.example")->endpoint.port, 2);
}

TEST_F(JobTest, BadRouteKeys) {
  const std::string routes = std::string(kBase) + "[routes]\n";
  EXPECT_EQ(
      error(routes + "\"Example.org\" = \"127.0.0.1:1\"\n\"example.ORG\" = \"127.0.0.1:2\"\n"),
      "job.toml:9:1: [routes] \"example.ORG\" is the same domain as \"Example.org\" (line 8)");
  EXPECT_EQ(error(routes + "\"xn--bcher-kva.example\" = \"127.0.0.1:1\"\n"
                           "\"b\xc3\xbc"
                           "cher.example\" = \"127.0.0.1:2\"\n"),
            "job.toml:9:1: [routes] \"b\xc3\xbc"
            "cher.example\" is the same domain as "
            "\"xn--bcher-kva.example\" (line 8)");
  EXPECT_EQ(error(routes + "\"user@example.org\" = \"127.0.0.1\"\n"),
            "job.toml:8:1: [routes] key \"user@example.org\" is not a domain or \"*\": a route is "
            "keyed by a domain, not an address");
  EXPECT_EQ(error(routes + "\"*.example.org\" = \"127.0.0.1\"\n"),
            "job.toml:8:1: [routes] key \"*.example.org\" is not a domain or \"*\": wildcards "
            "other than \"*\" are not supported");
  for (std::string_view bad : {"exa_mple.com", "localhost", "example..org", "", "**"}) {
    Address address;
    std::string reason;
    ASSERT_FALSE(parse_address("x@" + std::string(bad), address, reason)) << bad;
    EXPECT_EQ(error(routes + "\"" + std::string(bad) + "\" = \"127.0.0.1\"\n"),
              "job.toml:8:1: [routes] key \"" + std::string(bad) +
                  "\" is not a domain or \"*\": " + reason);
  }
}

TEST_F(JobTest, BadRouteValues) {
  const std::string routes = std::string(kBase) + "[routes]\n";
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"", "it is empty"},
      {"127.0.0.1:0", "port '0' is not a number from 1 to 65535"},
      {"127.0.0.1:65536", "port '65536' is not a number from 1 to 65535"},
      {"127.0.0.1:", "port '' is not a number from 1 to 65535"},
      {"127.0.0.1:25x", "port '25x' is not a number from 1 to 65535"},
      {"127.0.0.1:-1", "port '-1' is not a number from 1 to 65535"},
      {"127.0.0.1:0000025", "port '0000025' is not a number from 1 to 65535"},
      {"::1", "write an IPv6 address in brackets, e.g. [::1]:25"},
      {"::1:2525", "write an IPv6 address in brackets, e.g. [::1]:25"},
      {"[::1", "missing ']' after the IPv6 address"},
      {"[::1]2525", "expected ':port' after ']'"},
      {"[::1]:", "port '' is not a number from 1 to 65535"},
      {"[127.0.0.1]:25", "'127.0.0.1' is not an IPv6 address"},
      {"[]:25", "'' is not an IPv6 address"},
      {"256.0.0.1", "'256.0.0.1' is not an IP address or a host name"},
      {"1.2.3", "'1.2.3' is not an IP address or a host name"},
      {"mx_1.example.com", "'mx_1.example.com' is not an IP address or a host name"},
      {"mx.example.com.", "'mx.example.com.' is not an IP address or a host name"},
      {"http://mx.example.com", "port '//mx.example.com' is not a number from 1 to 65535"},
      {":25", "'' is not an IP address or a host name"},
  };
  for (const auto& [value, reason] : cases) {
    EXPECT_EQ(error(routes + "\"*\" = \"" + std::string(value) + "\"\n"),
              "job.toml:8:7: [routes] \"*\" = \"" + std::string(value) +
                  "\" is not host[:port]: " + std::string(reason));
  }
}

// --- [dns] ---

TEST_F(JobTest, DnsServers) {
  const std::string dns = std::string(kBase) + "[dns]\n";
  JobConfig job = load_ok(dns + "servers = []\n");
  EXPECT_TRUE(job.dns_servers.empty());
  job =
      load_ok(dns + "servers = [\"127.0.0.53\", \"[::1]\", \"[::1]:5300\", \"198.51.100.1:54\"]\n");
  ASSERT_EQ(job.dns_servers.size(), 4u);
  EXPECT_EQ(job.dns_servers[0].host, "127.0.0.53");
  EXPECT_EQ(job.dns_servers[0].port, 53);
  EXPECT_EQ(job.dns_servers[1].host, "::1");
  EXPECT_EQ(job.dns_servers[1].port, 53);
  EXPECT_EQ(job.dns_servers[2].host, "::1");
  EXPECT_EQ(job.dns_servers[2].port, 5300);
  EXPECT_EQ(job.dns_servers[3].host, "198.51.100.1");
  EXPECT_EQ(job.dns_servers[3].port, 54);

  EXPECT_EQ(error(dns + "servers = [\"127.0.0.1\", \"ns.example.com\"]\n"),
            "job.toml:8:25: [dns] servers[1] \"ns.example.com\" is not ip[:port]: "
            "'ns.example.com' is not an IP address");
  EXPECT_EQ(error(dns + "servers = [\"127.0.0.1:abc\"]\n"),
            "job.toml:8:12: [dns] servers[0] \"127.0.0.1:abc\" is not ip[:port]: port 'abc' is "
            "not a number from 1 to 65535");
  EXPECT_EQ(error(dns + "servers = [\"::1\"]\n"),
            "job.toml:8:12: [dns] servers[0] \"::1\" is not ip[:port]: write an IPv6 address in "
            "brackets, e.g. [::1]:25");
  std::string many = dns + "servers = [";
  for (int i = 0; i < 17; ++i) many += "\"127.0.0.1\", ";
  EXPECT_EQ(error(many + "]\n"),
            "job.toml:8:11: [dns] servers has 17 entries; at most 16 are allowed");
}

// --- [schedule] ---

TEST_F(JobTest, ScheduleDefaultsToAnyTime) {
  const JobConfig job = load_ok(kBase);
  EXPECT_EQ(job.schedule.start_at, absl::InfinitePast());
  EXPECT_EQ(job.schedule.stop_at, absl::InfiniteFuture());
  EXPECT_TRUE(job.schedule.windows.empty());
  EXPECT_EQ(job.schedule.days_mask, every_day_mask);
  EXPECT_EQ(job.schedule.time_zone_name, "UTC");
  EXPECT_EQ(job.schedule.time_zone, absl::UTCTimeZone());
}

TEST_F(JobTest, Schedule) {
  const std::string schedule = std::string(kBase) + "[schedule]\n";
  JobConfig job = load_ok(schedule +
                          "start_at = 2026-11-24T09:00:00+09:00\n"
                          "stop_at  = \"2026-11-24T21:00:00+09:00\"\n"
                          "windows  = [\"09:00-12:00\", \"13:00-18:00\", \"22:00-02:00\"]\n"
                          "days     = [\"mon\", \"Tue\", \"wednesday\", \"thu\", \"fri\"]\n"
                          "timezone = \"Asia/Tokyo\"\n");
  const absl::Time start =
      absl::FromCivil(absl::CivilSecond(2026, 11, 24, 0, 0, 0), absl::UTCTimeZone());
  EXPECT_EQ(job.schedule.start_at, start);
  EXPECT_EQ(job.schedule.stop_at, start + absl::Hours(12));
  EXPECT_EQ(job.schedule.windows, (std::vector<SendWindow>{{540, 720}, {780, 1080}, {1320, 120}}));
  EXPECT_EQ(job.schedule.days_mask, 0b0011111);
  EXPECT_EQ(job.schedule.time_zone_name, "Asia/Tokyo");
  EXPECT_EQ(job.schedule.time_zone.name(), "Asia/Tokyo");
  const ScheduleDecision decision = decide(job.schedule, start - absl::Seconds(1));
  EXPECT_EQ(decision.reason, "before start_at 2026-11-24 09:00 +09:00");

  // Local date-times are in `timezone`, whichever key comes first; fractions are kept.
  job = load_ok(schedule +
                "start_at = 2026-11-24T09:00:00.25\n"
                "stop_at = \"2026-11-25 09:00\"\n"
                "timezone = \"Europe/Berlin\"\n");
  const absl::Time berlin_start =
      absl::FromCivil(absl::CivilSecond(2026, 11, 24, 8, 0, 0), absl::UTCTimeZone());
  EXPECT_EQ(job.schedule.start_at, berlin_start + absl::Milliseconds(250));
  EXPECT_EQ(job.schedule.stop_at, berlin_start + absl::Hours(24));
  EXPECT_EQ(job.schedule.days_mask, every_day_mask);

  // Only stop_at; an empty table changes nothing.
  job = load_ok(schedule + "stop_at = 2026-11-24T12:00:00Z\n");
  EXPECT_EQ(job.schedule.start_at, absl::InfinitePast());
  EXPECT_EQ(job.schedule.stop_at, start + absl::Hours(12));
  job = load_ok(schedule);
  EXPECT_EQ(job.schedule.stop_at, absl::InfiniteFuture());
  EXPECT_EQ(job.schedule.time_zone_name, "UTC");
}

TEST_F(JobTest, BadSchedule) {
  const std::string schedule = std::string(kBase) + "[schedule]\n";
  EXPECT_EQ(error(schedule + "timezone = \"Asia/Tokio\"\n"),
            "job.toml:8:12: [schedule] timezone \"Asia/Tokio\": no such time zone in the "
            "system's tzdata; use an IANA name such as \"Asia/Tokyo\", \"Europe/Berlin\" or "
            "\"UTC\"");
  EXPECT_EQ(error(schedule + "timezone = \"../../etc/passwd\"\n"),
            "job.toml:8:12: [schedule] timezone \"../../etc/passwd\": a time zone is an IANA "
            "name such as \"Asia/Tokyo\", \"Europe/Berlin\" or \"UTC\"");
  EXPECT_EQ(error(schedule + "timezone = 9\n"),
            "job.toml:8:12: [schedule] timezone must be a string, got an integer");
  EXPECT_EQ(error(schedule + "time_zone = \"UTC\"\n"),
            "job.toml:8:1: unknown key 'time_zone' in [schedule]; did you mean 'timezone'?");
  EXPECT_EQ(error(std::string(kBase) + "[schedul]\n"),
            "job.toml:7:2: unknown table [schedul]; did you mean [schedule]?");
  EXPECT_EQ(error("schedule = 1\n" + std::string(kBase)),
            "job.toml:1:12: [schedule] must be a table, got an integer");

  // Windows.
  EXPECT_EQ(error(schedule + "windows = [\"09:00-12:00\", \"25:00-26:00\"]\n"),
            "job.toml:8:27: [schedule] windows[1] \"25:00-26:00\" is not a send window: hour 25 "
            "is not 00 to 23");
  EXPECT_EQ(error(schedule + "windows = [\"09:00-09:00\"]\n"),
            "job.toml:8:12: [schedule] windows[0] \"09:00-09:00\" is not a send window: the "
            "window is empty (it starts and ends at 09:00); write 00:00-24:00 for a whole day");
  EXPECT_EQ(error(schedule + "windows = [\"9am-5pm\"]\n"),
            "job.toml:8:12: [schedule] windows[0] \"9am-5pm\" is not a send window: its start is "
            "not a time HH:MM");
  EXPECT_EQ(error(schedule + "windows = [\"09:00\\n-12:00\"]\n"),
            "job.toml:8:12: [schedule] windows[0] \"09:00\\x0a-12:00\" is not a send window: its "
            "start is not a time HH:MM");
  EXPECT_EQ(error(schedule + "windows = []\n"),
            "job.toml:8:11: [schedule] windows is empty; leave it out to send at any time of day");
  EXPECT_EQ(error(schedule + "windows = \"09:00-12:00\"\n"),
            "job.toml:8:11: [schedule] windows must be an array of strings, got a string");
  EXPECT_EQ(error(schedule + "windows = [\"09:00-12:00\", 13]\n"),
            "job.toml:8:27: [schedule] windows[1] must be a string, got an integer");
  std::string many = schedule + "windows = [";
  for (int i = 0; i < 65; ++i) many += "\"09:00-10:00\", ";
  EXPECT_EQ(error(many + "]\n"),
            "job.toml:8:11: [schedule] windows has 65 entries; at most 64 are allowed");

  // Days.
  EXPECT_EQ(error(schedule + "days = [\"mon\", \"mo\"]\n"),
            "job.toml:8:16: [schedule] days[1] \"mo\" is not a day: days are mon, tue, wed, thu, "
            "fri, sat and sun (or the full English names)");
  EXPECT_EQ(error(schedule + "days = [\"mon\", \"Monday\"]\n"),
            "job.toml:8:16: [schedule] days[1] \"Monday\" names a day already listed");
  EXPECT_EQ(error(schedule + "days = []\n"),
            "job.toml:8:8: [schedule] days is empty; leave it out to send every day");
  EXPECT_EQ(error(schedule + "days = \"mon\"\n"),
            "job.toml:8:8: [schedule] days must be an array of strings, got a string");

  // start_at and stop_at.
  EXPECT_EQ(error(schedule + "start_at = 2026-11-24T21:00:00+09:00\n"
                             "stop_at = 2026-11-24T09:00:00+09:00\n"),
            "job.toml:9:11: [schedule] stop_at (2026-11-24 00:00 +00:00) is not after start_at "
            "(2026-11-24 12:00 +00:00)");
  EXPECT_EQ(error(schedule + "timezone = \"Asia/Tokyo\"\n"
                             "start_at = 2026-11-24T09:00:00+09:00\n"
                             "stop_at = \"2026-11-24T00:00:00Z\"\n"),
            "job.toml:10:11: [schedule] stop_at (2026-11-24 09:00 +09:00) is not after start_at "
            "(2026-11-24 09:00 +09:00)");
  EXPECT_EQ(error(schedule + "start_at = 2026-11-24\n"),
            "job.toml:8:12: [schedule] start_at: expected a date-time such as "
            "2026-11-24T09:00:00+09:00, got a date");
  EXPECT_EQ(error(schedule + "stop_at = 09:00:00\n"),
            "job.toml:8:11: [schedule] stop_at: expected a date-time such as "
            "2026-11-24T09:00:00+09:00, got a time");
  EXPECT_EQ(error(schedule + "start_at = 1732406400\n"),
            "job.toml:8:12: [schedule] start_at: expected a date-time such as "
            "2026-11-24T09:00:00+09:00, got an integer");
  EXPECT_EQ(error(schedule + "start_at = \"tomorrow 9am\"\n"),
            "job.toml:8:12: [schedule] start_at: write an RFC 3339 date-time such as "
            "2026-11-24T09:00:00+09:00");
  EXPECT_EQ(error(schedule + "start_at = \"2026-02-29T09:00:00Z\"\n"),
            "job.toml:8:12: [schedule] start_at: there is no date 2026-2-29");
}

TEST_F(JobTest, FromIsNotATemplate) {
  std::string job(kBase);
  const std::size_t from = job.find("from = ");
  ASSERT_NE(from, std::string::npos);
  job.replace(from, job.find('\n', from) - from, "from = \"{{first_name}} <news@example.com>\"");
  EXPECT_EQ(error(job),
            "job.toml:4:8: [campaign] from '{{first_name}} <news@example.com>' holds a template "
            "tag: from is not a template (it is the same for every recipient); write the name and "
            "address as they are");
}

TEST_F(JobTest, SuppressionDefaults) {
  setenv("HAYATE_STATE_DIR", "/srv/hayate-state", 1);
  JobConfig job = load_ok(kBase);
  EXPECT_TRUE(job.suppression.enabled);
  // The host's state store, whatever folder the job is in.
  EXPECT_EQ(job.suppression.path, "/srv/hayate-state/suppression.db");
  EXPECT_EQ(job.state_dir, "/srv/hayate-state");
  EXPECT_EQ(job.state_dir_why, "HAYATE_STATE_DIR");
  EXPECT_EQ(job.suppression.soft_bounce_count, 3u);
  EXPECT_EQ(job.suppression.soft_bounce_days, 7u);
  EXPECT_TRUE(job.stores_beside_job.empty());
  // A list left beside the job from before the state store is kept, and named for a notice.
  std::ofstream(dir_ + "/suppression.db") << "";
  job = load_ok(kBase);
  EXPECT_EQ(job.suppression.path, dir_ + "/suppression.db");
  EXPECT_EQ(job.stores_beside_job, std::vector<std::string>{dir_ + "/suppression.db"});
  std::remove((dir_ + "/suppression.db").c_str());
  unsetenv("HAYATE_STATE_DIR");
  if (geteuid() == 0) {
    EXPECT_EQ(load_ok(kBase).state_dir, "/var/lib/hayate");
  }
}

TEST_F(JobTest, Suppression) {
  const std::string base = std::string(kBase) + "[suppression]\n";
  JobConfig job = load_ok(base +
                          "path = \"lists/never.db\"\n"
                          "soft_bounce_count = 5\n"
                          "soft_bounce_days = 30\n"
                          "enabled = false\n");
  EXPECT_FALSE(job.suppression.enabled);
  EXPECT_EQ(job.suppression.path, dir_ + "/lists/never.db");  // need not exist yet
  EXPECT_EQ(job.suppression.soft_bounce_count, 5u);
  EXPECT_EQ(job.suppression.soft_bounce_days, 30u);
  job = load_ok(base + "path = \"/var/lib/hayate/suppression.db\"\n");
  EXPECT_EQ(job.suppression.path, "/var/lib/hayate/suppression.db");
  EXPECT_TRUE(job.suppression.enabled);

  EXPECT_EQ(error(base + "soft_bounce_cuont = 2\n"),
            "job.toml:8:1: unknown key 'soft_bounce_cuont' in [suppression]; did you mean "
            "'soft_bounce_count'?");
  EXPECT_EQ(error(base + "soft_bounce_count = 0\n"),
            "job.toml:8:21: [suppression] soft_bounce_count must be between 1 and 1000, got 0");
  EXPECT_EQ(error(base + "soft_bounce_days = 4000\n"),
            "job.toml:8:20: [suppression] soft_bounce_days must be between 1 and 3650, got 4000");
  EXPECT_EQ(error(base + "soft_bounce_days = \"7d\"\n"),
            "job.toml:8:20: [suppression] soft_bounce_days must be an integer, got a string");
  EXPECT_EQ(error(base + "enabled = \"yes\"\n"),
            "job.toml:8:11: [suppression] enabled must be true or false, got a string");
  EXPECT_EQ(error(base + "path = \"\"\n"), "job.toml:8:8: [suppression] path must not be empty");
  EXPECT_EQ(error(base + "path = 3\n"),
            "job.toml:8:8: [suppression] path must be a string, got an integer");
  EXPECT_EQ(error("suppression = true\n" + std::string(kBase)),
            "job.toml:1:15: [suppression] must be a table, got a boolean");
  EXPECT_EQ(error(std::string(kBase) + "[supression]\n"),
            "job.toml:7:2: unknown table [supression]; did you mean [suppression]?");
}

}  // namespace
}  // namespace hayate::campaign
