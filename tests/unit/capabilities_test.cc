// Tests of EHLO capability parsing on the EHLO replies of real servers (tests/data/replies)
// and on odd forms: lower case, the old "AUTH=" line, SIZE without or with a huge number.
#include "engine/smtp/capabilities.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>

#include "engine/smtp/reply_parser.h"

namespace hayate::smtp {
namespace {

std::string read_sample(std::string_view file) {
  std::ifstream stream(std::string(HAYATE_TEST_DATA_DIR) + "/replies/" + std::string(file),
                       std::ios::binary);
  EXPECT_TRUE(stream.good()) << file;
  std::stringstream contents;
  contents << stream.rdbuf();
  std::string crlf;
  for (char c : contents.str()) {
    if (c == '\n') crlf.push_back('\r');
    crlf.push_back(c);
  }
  return crlf;
}

// The sample's second reply is the EHLO reply (the first is the greeting).
Capabilities sample_capabilities(std::string_view file, std::string& storage) {
  storage = read_sample(file);
  std::string_view input = storage;
  Reply reply;
  std::size_t consumed = 0;
  EXPECT_EQ(parse_reply(input, reply, consumed), ParseResult::complete);
  input.remove_prefix(consumed);
  EXPECT_EQ(parse_reply(input, reply, consumed), ParseResult::complete);
  EXPECT_EQ(reply.code, 250);
  EXPECT_GT(reply.lines, 1u);
  return parse_capabilities(reply);
}

Capabilities capabilities_of(std::string_view ehlo_reply) {
  Reply reply;
  std::size_t consumed = 0;
  EXPECT_EQ(parse_reply(ehlo_reply, reply, consumed), ParseResult::complete) << ehlo_reply;
  EXPECT_EQ(consumed, ehlo_reply.size());
  return parse_capabilities(reply);
}

// Compares every field, so a keyword wrongly set is caught as well as one missed.
void expect_capabilities(const Capabilities& actual, const Capabilities& expected) {
  EXPECT_EQ(actual.pipelining, expected.pipelining);
  EXPECT_EQ(actual.size, expected.size);
  EXPECT_EQ(actual.size_max_bytes, expected.size_max_bytes);
  EXPECT_EQ(actual.eightbitmime, expected.eightbitmime);
  EXPECT_EQ(actual.smtputf8, expected.smtputf8);
  EXPECT_EQ(actual.enhancedstatuscodes, expected.enhancedstatuscodes);
  EXPECT_EQ(actual.starttls, expected.starttls);
  EXPECT_EQ(actual.chunking, expected.chunking);
  EXPECT_EQ(actual.dsn, expected.dsn);
  EXPECT_EQ(actual.auth_plain, expected.auth_plain);
  EXPECT_EQ(actual.auth_login, expected.auth_login);
  EXPECT_EQ(actual.auth_mechanisms, expected.auth_mechanisms);
}

TEST(Capabilities, Postfix) {
  std::string storage;
  Capabilities expected;
  expected.pipelining = true;
  expected.size = true;
  expected.size_max_bytes = 10240000;
  expected.starttls = true;
  expected.auth_plain = true;
  expected.auth_login = true;
  expected.auth_mechanisms = "PLAIN LOGIN";  // "AUTH" and "AUTH=" lines merged
  expected.enhancedstatuscodes = true;
  expected.eightbitmime = true;
  expected.dsn = true;
  expected.smtputf8 = true;
  expected.chunking = true;
  expect_capabilities(sample_capabilities("postfix.txt", storage), expected);
}

TEST(Capabilities, Exim) {
  std::string storage;
  Capabilities expected;
  expected.size = true;
  expected.size_max_bytes = 52428800;
  expected.eightbitmime = true;
  expected.pipelining = true;  // PIPE_CONNECT is another keyword and must not count
  expected.chunking = true;
  expected.starttls = true;
  expect_capabilities(sample_capabilities("exim.txt", storage), expected);
}

TEST(Capabilities, Sendmail) {
  std::string storage;
  Capabilities expected;
  expected.enhancedstatuscodes = true;
  expected.pipelining = true;
  expected.eightbitmime = true;
  expected.size = true;  // "SIZE" alone: no limit announced
  expected.size_max_bytes = 0;
  expected.dsn = true;
  expected.auth_mechanisms = "GSSAPI DIGEST-MD5 CRAM-MD5";
  expected.starttls = true;
  expect_capabilities(sample_capabilities("sendmail.txt", storage), expected);
}

TEST(Capabilities, ExchangeOnline) {
  std::string storage;
  Capabilities expected;
  expected.size = true;
  expected.size_max_bytes = 49283072;
  expected.pipelining = true;
  expected.dsn = true;
  expected.enhancedstatuscodes = true;
  expected.starttls = true;
  expected.eightbitmime = true;
  expected.chunking = true;
  expected.smtputf8 = true;
  expect_capabilities(sample_capabilities("exchange_online.txt", storage), expected);
}

TEST(Capabilities, ExchangeOnPremises) {
  std::string storage;
  Capabilities expected;
  expected.size = true;
  expected.size_max_bytes = 37748736;
  expected.pipelining = true;
  expected.dsn = true;
  expected.enhancedstatuscodes = true;
  expected.starttls = true;
  expected.auth_login = true;
  expected.auth_mechanisms = "NTLM LOGIN";  // X-EXPS lists mechanisms too, but is not AUTH
  expected.eightbitmime = true;
  expected.chunking = true;
  expect_capabilities(sample_capabilities("exchange_onprem.txt", storage), expected);
}

TEST(Capabilities, Gmail) {
  std::string storage;
  Capabilities expected;
  expected.size = true;
  expected.size_max_bytes = 157286400;
  expected.eightbitmime = true;
  expected.starttls = true;
  expected.enhancedstatuscodes = true;
  expected.pipelining = true;
  expected.chunking = true;
  expected.smtputf8 = true;
  expect_capabilities(sample_capabilities("gmail.txt", storage), expected);
}

TEST(Capabilities, Yahoo) {
  std::string storage;
  Capabilities expected;
  expected.pipelining = true;
  expected.size = true;
  expected.size_max_bytes = 41943040;
  expected.eightbitmime = true;
  expected.starttls = true;
  expect_capabilities(sample_capabilities("yahoo.txt", storage), expected);
}

TEST(Capabilities, QmailOldAuthForm) {
  std::string storage;
  Capabilities expected;
  expected.auth_login = true;
  expected.auth_plain = true;
  expected.auth_mechanisms = "LOGIN PLAIN";
  expected.pipelining = true;
  expected.eightbitmime = true;
  expect_capabilities(sample_capabilities("qmail.txt", storage), expected);
}

TEST(Capabilities, Aiosmtpd) {
  std::string storage;
  Capabilities expected;
  expected.size = true;
  expected.size_max_bytes = 33554432;
  expected.eightbitmime = true;
  expected.smtputf8 = true;
  expect_capabilities(sample_capabilities("aiosmtpd.txt", storage), expected);
}

TEST(Capabilities, CaseInsensitiveAndSpacing) {
  Capabilities expected;
  expected.pipelining = true;
  expected.size = true;
  expected.size_max_bytes = 1000;
  expected.starttls = true;
  expected.smtputf8 = true;
  expected.auth_plain = true;
  expected.auth_login = true;
  expected.auth_mechanisms = "LOGIN PLAIN XOAUTH2";
  expect_capabilities(capabilities_of("250-host\r\n250-pipelining\r\n250-Size   1000  \r\n"
                                      "250-StartTLS\r\n250-smtputf8\r\n"
                                      "250 auth=login  Plain\txoauth2\r\n"),
                      expected);
}

TEST(Capabilities, FirstLineIsNotAKeyword) {
  // A greeting line naming a keyword must not announce it.
  Capabilities expected;
  expected.dsn = true;
  expect_capabilities(capabilities_of("250-PIPELINING\r\n250 DSN\r\n"), expected);
  expect_capabilities(capabilities_of("250 PIPELINING\r\n"), Capabilities());
}

TEST(Capabilities, KeywordsMustMatchWhole) {
  expect_capabilities(capabilities_of("250-host\r\n250-PIPELININGX\r\n250-XPIPELINING\r\n"
                                      "250-SIZE=100\r\n250-8BITMIMEX\r\n250-STARTTLSS\r\n"
                                      "250-AUTHX PLAIN\r\n250-X-EXPS LOGIN\r\n250 DSNX\r\n"),
                      Capabilities());
}

TEST(Capabilities, SizeParameters) {
  EXPECT_EQ(capabilities_of("250-h\r\n250 SIZE 0\r\n").size_max_bytes, 0u);
  EXPECT_TRUE(capabilities_of("250-h\r\n250 SIZE 0\r\n").size);
  EXPECT_EQ(capabilities_of("250-h\r\n250 SIZE 18446744073709551615\r\n").size_max_bytes,
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(capabilities_of("250-h\r\n250 SIZE 99999999999999999999999\r\n").size_max_bytes,
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(capabilities_of("250-h\r\n250 SIZE 12ab\r\n").size_max_bytes, 0u);
  EXPECT_EQ(capabilities_of("250-h\r\n250 SIZE -5\r\n").size_max_bytes, 0u);
  EXPECT_TRUE(capabilities_of("250-h\r\n250 SIZE -5\r\n").size);
}

TEST(Capabilities, AuthMechanismsDeduplicated) {
  Capabilities capabilities = capabilities_of(
      "250-h\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=LOGIN PLAIN CRAM-MD5\r\n"
      "250 AUTH\r\n");
  EXPECT_EQ(capabilities.auth_mechanisms, "PLAIN LOGIN CRAM-MD5");
  EXPECT_TRUE(capabilities.auth_plain);
  EXPECT_TRUE(capabilities.auth_login);
}

TEST(Capabilities, RefusedEhloAnnouncesNothing) {
  expect_capabilities(capabilities_of("502-5.5.1 Unrecognized command\r\n502 PIPELINING\r\n"),
                      Capabilities());
  expect_capabilities(capabilities_of("421-h\r\n421 STARTTLS\r\n"), Capabilities());
  expect_capabilities(parse_capabilities(Reply()), Capabilities());
}

}  // namespace
}  // namespace hayate::smtp
