// Tests for campaign/config/secret_files: a job's password, VERP and DKIM key files that group
// or others can read or write are each named with their mode; private ones say nothing.
#include "campaign/config/secret_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "campaign/config/job.h"

namespace hayate::campaign {
namespace {

class SecretFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "secret_files_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    write("recipients.csv", "email\nalice@example.org\n", 0644);
    write("body.txt", "Hello\n", 0644);
    write("job.toml",
          "[campaign]\nid = \"c1\"\nrecipients = \"recipients.csv\"\n"
          "from = \"News <news@example.com>\"\nsubject = \"Hi\"\ntext = \"body.txt\"\n"
          "[relay]\nhost = \"smtp.example.net\"\nport = 587\nusername = \"news\"\n"
          "password_file = \"relay-password\"\n"
          "[verp]\ndomain = \"bounces.example.com\"\nsecret_file = \"verp.key\"\n"
          "[[dkim]]\ndomain = \"example.com\"\nselector = \"s1\"\nkey = \"s1.pem\"\n",
          0644);
    write("relay-password", "secret\n", 0600);
    write("verp.key", "a-secret-of-at-least-16-bytes\n", 0600);
    write("s1.pem", "-----BEGIN PRIVATE KEY-----\n", 0600);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write(const std::string& name, const std::string& contents, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
    ASSERT_EQ(chmod(path.c_str(), mode), 0) << path;
  }

  std::vector<std::string> warnings() {
    absl::StatusOr<JobConfig> job = load_job(dir_ + "/job.toml");
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? loose_secret_files(*job) : std::vector<std::string>{};
  }

  std::string dir_;
};

TEST_F(SecretFilesTest, PrivateFilesSayNothing) { EXPECT_TRUE(warnings().empty()); }

TEST_F(SecretFilesTest, EachOpenFileIsNamedWithItsMode) {
  ASSERT_EQ(chmod((dir_ + "/relay-password").c_str(), 0644), 0);
  ASSERT_EQ(chmod((dir_ + "/verp.key").c_str(), 0620), 0);
  ASSERT_EQ(chmod((dir_ + "/s1.pem").c_str(), 0666), 0);
  const auto warning = [&](const std::string& label, const std::string& file,
                           const std::string& access, const std::string& mode) {
    const std::string path = dir_ + "/" + file;
    return label + " " + path + " is " + access + " by group or others (mode " + mode +
           "); chmod 600 " + path;
  };
  const std::vector<std::string> expected = {
      warning("[relay] password_file", "relay-password", "readable", "0644"),
      warning("[verp] secret_file", "verp.key", "writable", "0620"),
      warning(dir_ + "/job.toml:15: [[dkim]] key", "s1.pem", "readable and writable", "0666"),
  };
  EXPECT_EQ(warnings(), expected);
}

TEST_F(SecretFilesTest, OwnerOnlyModesAndGroupExecuteAreFine) {
  ASSERT_EQ(chmod((dir_ + "/relay-password").c_str(), 0400), 0);
  ASSERT_EQ(chmod((dir_ + "/verp.key").c_str(), 0710), 0);
  EXPECT_TRUE(warnings().empty());
}

}  // namespace
}  // namespace hayate::campaign
