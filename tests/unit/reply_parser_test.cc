// Tests of the SMTP reply parser: real server sessions from tests/data/replies (whole, split at
// every byte, CRLF and bare LF), enhanced status codes, hostile inputs, and the log text.
#include "engine/smtp/reply_parser.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/limits.h"

namespace hayate::smtp {
namespace {

struct Expected {
  std::uint16_t code;
  std::string_view enhanced;  // "" when none
  std::uint32_t lines;
  std::string_view text;  // first line's text after the codes
};

struct Sample {
  std::string_view file;
  std::vector<Expected> replies;
};

const std::vector<Sample>& samples() {
  static const std::vector<Sample> all = {
      {"postfix.txt",
       {{220, "", 1, "mail.example.com ESMTP Postfix (Debian/GNU)"},
        {250, "", 13, "mail.example.com"},
        {250, "2.1.0", 1, "Ok"},
        {250, "2.1.5", 1, "Ok"},
        {354, "", 1, "End data with <CR><LF>.<CR><LF>"},
        {250, "2.0.0", 1, "Ok: queued as 4Y7kLm2QzFz9vW3"},
        {550, "5.1.1", 1,
         "<nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox "
         "table"},
        {450, "4.2.0", 1,
         "<late@example.com>: Recipient address rejected: Greylisted, see "
         "http://postgrey.schweikert.ch/help/example.com.html"},
        {554, "5.7.1", 1,
         "Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org; "
         "https://www.spamhaus.org/query/ip/192.0.2.10"},
        {452, "4.5.3", 1, "Error: too many recipients"},
        {221, "2.0.0", 1, "Bye"}}},
      {"exim.txt",
       {{220, "", 1, "mx.example.org ESMTP Exim 4.96 Mon, 23 Nov 2026 15:10:00 +0000"},
        {250, "", 9, "mx.example.org Hello client.example.net [192.0.2.10]"},
        {250, "", 1, "OK"},
        {250, "", 1, "Accepted"},
        {354, "", 1, "Enter message, ending with \".\" on a line by itself"},
        {250, "", 1, "OK id=1tE9aB-000Abc-7Q"},
        {550, "", 5, "Verification failed for <bounce@example.net>"},
        {451, "", 1, "Temporary local problem - please try later"},
        {221, "", 1, "mx.example.org closing connection"}}},
      {"sendmail.txt",
       {{220, "", 1,
         "mail.example.edu ESMTP Sendmail 8.17.1/8.17.1; Mon, 23 Nov 2026 10:10:00 -0500"},
        {250, "", 11,
         "mail.example.edu Hello client.example.net [192.0.2.10], pleased to meet you"},
        {250, "2.1.0", 1, "<news@example.com>... Sender ok"},
        {250, "2.1.5", 1, "<student@example.edu>... Recipient ok"},
        {354, "", 1, "Enter mail, end with \".\" on a line by itself"},
        {250, "2.0.0", 1, "5ANFA0xK012345 Message accepted for delivery"},
        {550, "5.1.1", 1, "<nobody@example.edu>... User unknown"},
        {221, "2.0.0", 1, "mail.example.edu closing connection"}}},
      {"exchange_online.txt",
       {{220, "", 1,
         "BN8NAM12FT047.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at Mon, "
         "23 Nov 2026 15:10:00 +0000 [08DD0A1B2C3D4E5F]"},
        {250, "", 10, "BN8NAM12FT047.mail.protection.outlook.com Hello [192.0.2.10]"},
        {250, "2.1.0", 1, "Sender OK"},
        {250, "2.1.5", 1, "Recipient OK"},
        {354, "", 1, "Start mail input; end with <CRLF>.<CRLF>"},
        {250, "2.6.0", 1,
         "<20261123151000.1234@example.com> [InternalId=12345678901234, "
         "Hostname=BN8PR12MB1234.namprd12.prod.outlook.com] 10234 bytes in 0.123, 81.234 "
         "KB/sec Queued mail for delivery"},
        {550, "5.4.1", 1,
         "Recipient address rejected: Access denied. For more information see "
         "https://aka.ms/EXOSmtpErrors [BN8NAM12FT047.eop-nam12.prod.protection.outlook.com "
         "2026-11-23T15:10:01.123Z 08DD0A1B2C3D4E5F]"},
        {451, "4.7.500", 1,
         "Server busy. Please try again later from [192.0.2.10]. (S77719) "
         "[BN8NAM12FT047.eop-nam12.prod.protection.outlook.com]"},
        {550, "5.7.1", 1,
         "Unfortunately, messages from [192.0.2.10] weren't sent. Please contact your Internet "
         "service provider since part of their network is on our block list (S3140). You can "
         "also refer your provider to "
         "http://mail.live.com/mail/troubleshooting.aspx#errors. "
         "[AM1PEPF000252DA.eurprd07.prod.outlook.com 2026-11-23T15:10:02.456Z "
         "08DD0A1B2C3D4E60]"}}},
      {"exchange_onprem.txt",
       {{220, "", 1,
         "mail.contoso.example Microsoft ESMTP MAIL Service ready at Mon, 23 Nov 2026 16:10:00 "
         "+0100"},
        {250, "", 13, "mail.contoso.example Hello [192.0.2.10]"},
        {250, "2.1.0", 1, "Sender OK"},
        {550, "5.1.10", 1,
         "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"},
        {452, "4.3.1", 1, "Insufficient system resources"}}},
      {"gmail.txt",
       {{220, "", 1, "mx.google.com ESMTP d9443c01a7336-2a0e1234567si12345678ad.123 - gsmtp"},
        {250, "", 8, "mx.google.com at your service, [192.0.2.10]"},
        {250, "2.1.0", 1, "OK d9443c01a7336-2a0e1234567si12345678ad.123 - gsmtp"},
        {250, "2.1.5", 1, "OK d9443c01a7336-2a0e1234567si12345678ad.123 - gsmtp"},
        {354, "", 1, " Go ahead d9443c01a7336-2a0e1234567si12345678ad.123 - gsmtp"},
        {250, "2.0.0", 1, "OK  1795446601 d9443c01a7336-2a0e1234567si12345678ad.123 - gsmtp"},
        {421, "4.7.28", 6, "[192.0.2.10      15] Our system has detected an unusual rate of"},
        {550, "5.7.1", 4, "[192.0.2.10      12] Gmail has detected that this message is likely"},
        {550, "5.1.1", 4, "The email account that you tried to reach does not exist. Please try"},
        {550, "5.7.26", 9, "This mail has been blocked because the sender is unauthenticated."}}},
      {"yahoo.txt",
       {{220, "", 1, "mta7.am0.yahoodns.net ESMTP ready"},
        {250, "", 5, "mta7.am0.yahoodns.net"},
        {421, "4.7.0", 1,
         "[TSS04] Messages from 192.0.2.10 temporarily deferred due to unexpected volume or "
         "user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes"},
        {553, "5.7.2", 1,
         "[TSS09] All messages from 192.0.2.10 will be permanently deferred; Retrying will NOT "
         "succeed. See https://postmaster.yahooinc.com/error-codes"},
        {554, "", 1,
         "delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] "
         "- mta1234.mail.gq1.yahoo.com"}}},
      {"qmail.txt",
       {{220, "", 1, "mail.example.net ESMTP"},
        {250, "", 4, "mail.example.net"},
        {250, "", 1, "ok"},
        {250, "", 1, "ok"},
        {354, "", 1, "go ahead"},
        {250, "", 1, "ok 1795446601 qp 12345"},
        {553, "", 1, "sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"},
        {451, "", 1, "qq temporary problem (#4.3.0)"},
        {221, "", 1, "mail.example.net"}}},
      {"aiosmtpd.txt",
       {{220, "", 1, "sink.example.test Python SMTP 1.4.6"},
        {250, "", 5, "sink.example.test"},
        {250, "", 1, "OK"},
        {250, "", 1, "OK"},
        {354, "", 1, "End data with <CR><LF>.<CR><LF>"},
        {250, "", 1, "OK"},
        {503, "", 1, "Error: need RCPT command"},
        {500, "", 1, "Error: command \"XYZZY\" not recognized"},
        {221, "", 1, "Bye"}}},
  };
  return all;
}

// The sample as stored (LF line endings).
std::string read_sample(std::string_view file) {
  std::ifstream stream(std::string(HAYATE_TEST_DATA_DIR) + "/replies/" + std::string(file),
                       std::ios::binary);
  EXPECT_TRUE(stream.good()) << file;
  std::stringstream contents;
  contents << stream.rdbuf();
  return contents.str();
}

std::string with_crlf(std::string_view lf_text) {
  std::string out;
  for (char c : lf_text) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}

// Parses `input` as a sequence of replies; every byte must belong to a complete reply.
std::vector<Reply> parse_all(std::string_view input) {
  std::vector<Reply> replies;
  while (!input.empty()) {
    Reply reply;
    std::size_t consumed = 0;
    ParseResult result = parse_reply(input, reply, consumed);
    EXPECT_EQ(result, ParseResult::complete) << "at: " << input.substr(0, 40);
    if (result != ParseResult::complete) break;
    EXPECT_EQ(reply.raw.data(), input.data());
    EXPECT_EQ(reply.raw.size(), consumed);
    replies.push_back(reply);
    input.remove_prefix(consumed);
  }
  return replies;
}

ParseResult parse(std::string_view input, Reply& reply, std::size_t& consumed) {
  return parse_reply(input, reply, consumed);
}

ParseResult parse(std::string_view input) {
  Reply reply;
  std::size_t consumed = 0;
  ParseResult result = parse_reply(input, reply, consumed);
  if (result != ParseResult::complete) {
    EXPECT_EQ(consumed, 0u);
  }
  return result;
}

void check_sample(const Sample& sample, std::string_view input) {
  std::vector<Reply> replies = parse_all(input);
  ASSERT_EQ(replies.size(), sample.replies.size()) << sample.file;
  std::size_t total_bytes = 0;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    SCOPED_TRACE(std::string(sample.file) + " reply " + std::to_string(i));
    const Expected& expected = sample.replies[i];
    EXPECT_EQ(replies[i].code, expected.code);
    EXPECT_EQ(replies[i].enhanced.to_string(), expected.enhanced);
    EXPECT_EQ(replies[i].lines, expected.lines);
    EXPECT_EQ(replies[i].text, expected.text);
    total_bytes += replies[i].raw.size();
  }
  EXPECT_EQ(total_bytes, input.size());
}

TEST(ReplyParser, RealSessionsWithCrlf) {
  for (const Sample& sample : samples()) check_sample(sample, with_crlf(read_sample(sample.file)));
}

TEST(ReplyParser, RealSessionsWithBareLf) {
  for (const Sample& sample : samples()) check_sample(sample, read_sample(sample.file));
}

// Every proper prefix of a reply needs more; the whole reply completes, and bytes of the next
// reply after it do not change what is consumed.
TEST(ReplyParser, RealSessionsSplitAtEveryByte) {
  for (const Sample& sample : samples()) {
    for (const std::string& input :
         {with_crlf(read_sample(sample.file)), read_sample(sample.file)}) {
      std::string_view rest = input;
      for (std::size_t index = 0; !rest.empty(); ++index) {
        Reply whole;
        std::size_t whole_bytes = 0;
        ASSERT_EQ(parse(rest, whole, whole_bytes), ParseResult::complete);
        for (std::size_t split = 0; split < whole_bytes; ++split) {
          Reply reply;
          std::size_t consumed = 99;
          ASSERT_EQ(parse(rest.substr(0, split), reply, consumed), ParseResult::need_more)
              << sample.file << " reply " << index << " split at " << split;
          ASSERT_EQ(consumed, 0u);
        }
        Reply exact;
        std::size_t exact_bytes = 0;
        ASSERT_EQ(parse(rest.substr(0, whole_bytes), exact, exact_bytes), ParseResult::complete);
        EXPECT_EQ(exact_bytes, whole_bytes);
        EXPECT_EQ(exact.code, sample.replies[index].code);
        EXPECT_EQ(exact.text, whole.text);
        rest.remove_prefix(whole_bytes);
      }
    }
  }
}

// A receive loop fed one byte at a time sees exactly the replies of the session.
TEST(ReplyParser, ByteAtATimeStream) {
  const Sample& sample = samples()[5];  // gmail: long multiline replies
  std::string input = with_crlf(read_sample(sample.file));
  std::string buffer;
  std::vector<std::uint16_t> codes;
  for (char c : input) {
    buffer.push_back(c);
    Reply reply;
    std::size_t consumed = 0;
    ParseResult result = parse(buffer, reply, consumed);
    ASSERT_NE(result, ParseResult::malformed);
    if (result == ParseResult::complete) {
      codes.push_back(reply.code);
      buffer.erase(0, consumed);
    }
  }
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(codes, (std::vector<std::uint16_t>{220, 250, 250, 250, 354, 250, 421, 550, 550, 550}));
}

TEST(ReplyParser, PipelinedBurstConsumesExactly) {
  std::string_view burst =
      "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
      "250 2.0.0 Ok: queued as ABC\r\n";
  Reply reply;
  std::size_t consumed = 0;
  ASSERT_EQ(parse(burst, reply, consumed), ParseResult::complete);
  EXPECT_EQ(consumed, 14u);
  EXPECT_EQ(reply.enhanced, (EnhancedCode{2, 1, 0}));
  burst.remove_prefix(consumed);
  ASSERT_EQ(parse(burst, reply, consumed), ParseResult::complete);
  EXPECT_EQ(consumed, 14u);
  EXPECT_EQ(reply.enhanced, (EnhancedCode{2, 1, 5}));
  burst.remove_prefix(consumed);
  ASSERT_EQ(parse(burst, reply, consumed), ParseResult::complete);
  EXPECT_EQ(consumed, 37u);
  EXPECT_EQ(reply.code, 354);
  EXPECT_FALSE(reply.enhanced.present());
  EXPECT_EQ(reply.text, "End data with <CR><LF>.<CR><LF>");
  burst.remove_prefix(consumed);
  ASSERT_EQ(parse(burst, reply, consumed), ParseResult::complete);
  EXPECT_EQ(consumed, 29u);
  EXPECT_EQ(reply.text, "Ok: queued as ABC");
  EXPECT_EQ(consumed, burst.size());
}

TEST(ReplyParser, ReplyClasses) {
  Reply reply;
  std::size_t consumed = 0;
  ASSERT_EQ(parse("354 go\r\n", reply, consumed), ParseResult::complete);
  EXPECT_TRUE(reply.positive());
  ASSERT_EQ(parse("452 4.5.3 too many\r\n", reply, consumed), ParseResult::complete);
  EXPECT_TRUE(reply.transient());
  EXPECT_FALSE(reply.permanent());
  ASSERT_EQ(parse("554 no\r\n", reply, consumed), ParseResult::complete);
  EXPECT_TRUE(reply.permanent());
  EXPECT_FALSE(reply.positive());
}

TEST(ReplyParser, CodeOnlyAndEmptyText) {
  Reply reply;
  std::size_t consumed = 0;
  ASSERT_EQ(parse("250\r\n", reply, consumed), ParseResult::complete);
  EXPECT_EQ(reply.code, 250);
  EXPECT_EQ(reply.text, "");
  EXPECT_EQ(consumed, 5u);
  ASSERT_EQ(parse("250 \r\n", reply, consumed), ParseResult::complete);
  EXPECT_EQ(reply.text, "");
  ASSERT_EQ(parse("250-\r\n250-\n250\r\n", reply, consumed), ParseResult::complete);
  EXPECT_EQ(reply.lines, 3u);
  EXPECT_EQ(consumed, 16u);
  EXPECT_EQ(reply.text, "");
  // A CR inside the text is text (servers never send it; the log text masks it).
  ASSERT_EQ(parse("250 a\rb\r\n", reply, consumed), ParseResult::complete);
  EXPECT_EQ(reply.text, "a\rb");
}

struct EnhancedCase {
  std::string_view input;
  EnhancedCode enhanced;
  std::string_view text;
};

TEST(ReplyParser, EnhancedCodes) {
  const EnhancedCase cases[] = {
      {"250 2.1.5 Ok\r\n", {2, 1, 5}, "Ok"},
      {"550 5.1.10 RESOLVER.ADR.RecipientNotFound\r\n",
       {5, 1, 10},
       "RESOLVER.ADR.RecipientNotFound"},
      {"451 4.7.500 Server busy\r\n", {4, 7, 500}, "Server busy"},
      {"550 5.999.999 x\r\n", {5, 999, 999}, "x"},
      {"250 2.0.0\r\n", {2, 0, 0}, ""},
      {"250 2.0.0 \r\n", {2, 0, 0}, ""},
      {"550 5.1.1  two spaces\r\n", {5, 1, 1}, " two spaces"},
      {"550-5.1.1 first\r\n550 5.1.1 second\r\n", {5, 1, 1}, "first"},
      // Not an enhanced code: the text keeps it.
      {"250 5.1.1 class differs\r\n", {}, "5.1.1 class differs"},
      {"354 2.0.0 no class 3\r\n", {}, "2.0.0 no class 3"},
      {"250 2.1234.5 x\r\n", {}, "2.1234.5 x"},
      {"250 2.1.5000 x\r\n", {}, "2.1.5000 x"},
      {"250 2.1.5x\r\n", {}, "2.1.5x"},
      {"250 2..5 x\r\n", {}, "2..5 x"},
      {"250 2.1. x\r\n", {}, "2.1. x"},
      {"250 2.1\r\n", {}, "2.1"},
      {"550 5.1.1\tx\r\n", {}, "5.1.1\tx"},
      {"550 x 5.1.1\r\n", {}, "x 5.1.1"},
      {"550-first\r\n550 5.1.1 second\r\n", {}, "first"},  // only the first line counts
  };
  for (const EnhancedCase& test : cases) {
    Reply reply;
    std::size_t consumed = 0;
    ASSERT_EQ(parse(test.input, reply, consumed), ParseResult::complete) << test.input;
    EXPECT_EQ(reply.enhanced, test.enhanced) << test.input;
    EXPECT_EQ(reply.text, test.text) << test.input;
    EXPECT_EQ(consumed, test.input.size());
  }
  EXPECT_EQ((EnhancedCode{4, 7, 500}).to_string(), "4.7.500");
  EXPECT_EQ(EnhancedCode().to_string(), "");
}

TEST(ReplyParser, IncompleteNeedsMore) {
  for (std::string_view input :
       {"", "2", "25", "250", "250\r", "250 ", "250-", "250-\r\n", "250-a\r\n25", "250-a\r\n250",
        "250 2.1.5 Ok", "250 2.1.5 Ok\r", "250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITM"}) {
    EXPECT_EQ(parse(input), ParseResult::need_more) << input;
  }
}

TEST(ReplyParser, GarbageIsMalformed) {
  for (std::string_view input : {"HTTP/1.1 400 Bad Request\r\n",
                                 "HTTP/1.1 400",
                                 "H",
                                 "hello\r\n",
                                 "hello",
                                 "99 x\r\n",
                                 "2500 ok\r\n",
                                 "2500",
                                 "199 preliminary\r\n",
                                 "600 x\r\n",
                                 "6",
                                 "260 x\r\n",
                                 "26",
                                 "25a x\r\n",
                                 "250x\r\n",
                                 "250\tx\r\n",
                                 "25\r\n",
                                 "\r\n",
                                 "\n",
                                 " 250 x\r\n",
                                 "250\rx",
                                 "250\r\r\n",
                                 "SSH-2.0-OpenSSH_9.2\r\n",
                                 "* OK IMAP4rev1 ready\r\n",
                                 "+OK POP3 ready\r\n"}) {
    EXPECT_EQ(parse(input), ParseResult::malformed) << input;
  }
}

TEST(ReplyParser, MixedCodesAreMalformed) {
  EXPECT_EQ(parse("250-a\r\n251 b\r\n"), ParseResult::malformed);
  EXPECT_EQ(parse("250-a\r\n550 b\r\n"), ParseResult::malformed);
  EXPECT_EQ(parse("550-a\r\n550-b\r\n450 c\r\n"), ParseResult::malformed);
  // Detected before the line completes.
  EXPECT_EQ(parse("250-a\r\n251"), ParseResult::malformed);
  EXPECT_EQ(parse("250-a\r\n3"), ParseResult::malformed);
}

TEST(ReplyParser, NulIsMalformed) {
  using namespace std::string_view_literals;
  EXPECT_EQ(parse("250 a\0b\r\n"sv), ParseResult::malformed);
  EXPECT_EQ(parse("250 a\0"sv), ParseResult::malformed);  // before the line ends
  EXPECT_EQ(parse("250-a\r\n250 \0\r\n"sv), ParseResult::malformed);
  EXPECT_EQ(parse("\0"sv), ParseResult::malformed);
}

TEST(ReplyParser, LineLengthLimit) {
  constexpr std::size_t max = limits::reply_line_bytes_max;
  // The limit counts the whole line with its CRLF.
  std::string at_limit = "250 " + std::string(max - 6, 'a') + "\r\n";
  ASSERT_EQ(at_limit.size(), max);
  Reply reply;
  std::size_t consumed = 0;
  ASSERT_EQ(parse(at_limit, reply, consumed), ParseResult::complete);
  EXPECT_EQ(consumed, max);
  EXPECT_EQ(reply.text.size(), max - 6);

  std::string over = "250 " + std::string(max - 5, 'a') + "\r\n";
  EXPECT_EQ(parse(over), ParseResult::malformed);
  std::string over_lf = "250 " + std::string(max - 4, 'a') + "\n";
  EXPECT_EQ(parse(over_lf), ParseResult::malformed);
  std::string continuation_over = "250-x\r\n250-" + std::string(max, 'a') + "\r\n250 y\r\n";
  EXPECT_EQ(parse(continuation_over), ParseResult::malformed);
}

// A server that never sends LF must not make us wait (and buffer) forever.
TEST(ReplyParser, EndlessLineIsMalformedAtTheLimit) {
  constexpr std::size_t max = limits::reply_line_bytes_max;
  std::string endless = "250 ";
  while (endless.size() < max - 1) endless.push_back('a');
  EXPECT_EQ(parse(endless), ParseResult::need_more);  // may still end with its LF
  endless.push_back('a');
  EXPECT_EQ(parse(endless), ParseResult::malformed);
  endless.append(100000, 'a');
  EXPECT_EQ(parse(endless), ParseResult::malformed);
  // The same after complete continuation lines.
  std::string after_lines = "250-ok\r\n250-ok\r\n250 " + std::string(max, 'b');
  EXPECT_EQ(parse(after_lines), ParseResult::malformed);
}

TEST(ReplyParser, LineCountLimit) {
  constexpr std::uint32_t max = limits::reply_lines_max;
  std::string at_limit;
  for (std::uint32_t i = 0; i + 1 < max; ++i) at_limit += "250-line\r\n";
  at_limit += "250 last\r\n";
  Reply reply;
  std::size_t consumed = 0;
  ASSERT_EQ(parse(at_limit, reply, consumed), ParseResult::complete);
  EXPECT_EQ(reply.lines, max);
  EXPECT_EQ(consumed, at_limit.size());

  std::string continued;
  for (std::uint32_t i = 0; i < max; ++i) continued += "250-line\r\n";
  // The 64th line announces a 65th: refused without waiting for it.
  EXPECT_EQ(parse(continued), ParseResult::malformed);
  EXPECT_EQ(parse(continued + "250 last\r\n"), ParseResult::malformed);
  continued.erase(continued.size() - 10);
  EXPECT_EQ(parse(continued), ParseResult::need_more);
}

TEST(ReplyParser, ReplyByteLimit) {
  // Lines under the line limit that together exceed limits::reply_bytes_max.
  std::string line = "550-" + std::string(3000, 'x') + "\r\n";
  std::string input;
  while (input.size() + line.size() <= limits::reply_bytes_max) input += line;
  EXPECT_EQ(parse(input), ParseResult::need_more);
  EXPECT_EQ(parse(input + line), ParseResult::malformed);
  EXPECT_EQ(parse(input + "550 " + std::string(3000, 'y')), ParseResult::malformed);
}

TEST(ReplyParser, ContinuationThenEof) {
  EXPECT_EQ(parse("250-"), ParseResult::need_more);
  EXPECT_EQ(parse("250-mx.example.com\r\n"), ParseResult::need_more);
  EXPECT_EQ(parse("250-mx.example.com\r\n250-"), ParseResult::need_more);
}

TEST(ReplyParser, ForEachReplyLine) {
  std::string input = with_crlf(
      "421-4.7.28 first\n421-4.7.28  https://support.google.com/mail/?p=x to\n421-\n"
      "421 4.7.28 last\n");
  Reply reply;
  std::size_t consumed = 0;
  ASSERT_EQ(parse(input, reply, consumed), ParseResult::complete);
  std::vector<std::string> texts;
  for_each_reply_line(reply.raw, [&](std::string_view text) { texts.emplace_back(text); });
  EXPECT_EQ(texts, (std::vector<std::string>{"4.7.28 first",
                                             "4.7.28  https://support.google.com/mail/?p=x to", "",
                                             "4.7.28 last"}));
}

TEST(ReplyParser, TextForLogJoinsLines) {
  std::string input = with_crlf(read_sample("gmail.txt"));
  std::vector<Reply> replies = parse_all(input);
  ASSERT_EQ(replies.size(), 10u);
  EXPECT_EQ(reply_text_for_log(replies[6]),
            "4.7.28 [192.0.2.10      15] Our system has detected an unusual rate of "
            "4.7.28 unsolicited mail originating from your IP address. To protect our "
            "4.7.28 users from spam, mail sent from your IP address has been temporarily "
            "4.7.28 rate limited. Please visit "
            "4.7.28  https://support.google.com/mail/?p=UnsolicitedRateLimitError to "
            "4.7.28 review our Bulk Email Senders Guidelines. "
            "d9443c01a7336-2a0e1234567si12345678ad.123 - gsmtp");
  EXPECT_EQ(reply_text_for_log(replies[6], 30), "4.7.28 [192.0.2.10      15] Ou");
  EXPECT_EQ(reply_text_for_log(replies[2]),
            "2.1.0 OK d9443c01a7336-2a0e1234567si12345678ad.123 - gsmtp");
  EXPECT_EQ(reply_text_for_log(replies[6], 0), "");
  EXPECT_EQ(reply_text_for_log(Reply()), "");
}

std::string log_text(std::string_view input, std::size_t max_bytes = 512) {
  Reply reply;
  std::size_t consumed = 0;
  EXPECT_EQ(parse(input, reply, consumed), ParseResult::complete) << input;
  return reply_text_for_log(reply, max_bytes);
}

TEST(ReplyParser, TextForLogMasksControlsAndKeepsUtf8Whole) {
  EXPECT_EQ(log_text("550 a\tb\x01"
                     "c\x7f"
                     "d\x1b[31m\r\n"),
            "a?b?c?d?[31m");
  EXPECT_EQ(log_text("550 a\rb\r\n"), "a?b");
  EXPECT_EQ(log_text("550 \xc2\x85x\r\n"), "?x");  // U+0085 NEL, a C1 control
  // "ユーザー不明": 6 characters of 3 bytes.
  std::string_view japanese =
      "550 5.1.1 \xe3\x83\xa6\xe3\x83\xbc\xe3\x82\xb6\xe3\x83\xbc"
      "\xe4\xb8\x8d\xe6\x98\x8e\r\n";
  EXPECT_EQ(log_text(japanese),
            "5.1.1 \xe3\x83\xa6\xe3\x83\xbc\xe3\x82\xb6\xe3\x83\xbc"
            "\xe4\xb8\x8d\xe6\x98\x8e");
  for (std::size_t max = 6; max < 24; ++max) {
    std::string text = log_text(japanese, max);
    std::size_t whole = 6 + (max - 6) / 3 * 3;
    EXPECT_EQ(text.size(), whole) << max;
  }
  // Invalid UTF-8 (a lone continuation byte, a truncated sequence, an overlong '/') becomes '?'.
  EXPECT_EQ(log_text("550 a\x80"
                     "b\xe3\x83"
                     "c\xc0\xaf\r\n"),
            "a?b??c??");
  EXPECT_EQ(log_text("550 \xed\xa0\x80\r\n"), "???");  // a UTF-16 surrogate
  EXPECT_EQ(log_text("550 \xf0\x9f\x93\xa7 mail\r\n"), "\xf0\x9f\x93\xa7 mail");
}

}  // namespace
}  // namespace hayate::smtp
