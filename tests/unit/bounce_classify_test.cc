// Unit tests for bounce classification (campaign/bounce/classify.h): RFC 3463 codes, reply
// codes and the wording of real providers and MTAs, taken from bounces they sent.
#include <string>

#include "campaign/bounce/classify.h"
#include "gtest/gtest.h"

namespace hayate::campaign::bounce {
namespace {

struct Expected {
  Reason reason;
  bool hard;
  const char* status;
};

// A reply to `command` (RCPT TO unless said), as the sending path meets them.
void expect_classified(std::uint16_t code, std::string_view status, std::string_view text,
                       const Expected& expected, SmtpCommand command = SmtpCommand::rcpt) {
  Failure failure;
  failure.reply_code = code;
  if (!smtp::parse_enhanced_code(status, failure.status)) failure.status = {};
  failure.text = text;
  failure.command = command;
  const Classification got = classify(failure);
  EXPECT_EQ(to_string(got.reason), to_string(expected.reason)) << text;
  EXPECT_EQ(got.hard, expected.hard) << text;
  EXPECT_EQ(got.status.to_string(), expected.status) << text;
}

TEST(BounceReason, NamesRoundTripAndDefaults) {
  for (std::size_t i = 0; i < reason_count; ++i) {
    const auto reason = static_cast<Reason>(i);
    ASSERT_EQ(parse_reason(to_string(reason)), reason);
  }
  EXPECT_FALSE(parse_reason("UserUnknown").has_value());
  EXPECT_FALSE(parse_reason("").has_value());
  EXPECT_TRUE(hard_by_default(Reason::userunknown));
  EXPECT_TRUE(hard_by_default(Reason::hostunknown));
  EXPECT_TRUE(hard_by_default(Reason::hasmoved));
  EXPECT_FALSE(hard_by_default(Reason::mailboxfull));
  EXPECT_FALSE(hard_by_default(Reason::blocked));
  EXPECT_FALSE(is_failure(Reason::feedback));
  EXPECT_TRUE(is_failure(Reason::suspend));
}

TEST(BounceClassify, EnhancedStatusParsing) {
  smtp::EnhancedCode code;
  EXPECT_TRUE(smtp::parse_enhanced_code("5.1.1", code));
  EXPECT_EQ(code.to_string(), "5.1.1");
  EXPECT_TRUE(smtp::parse_enhanced_code("4.7.650", code));
  EXPECT_EQ(code.to_string(), "4.7.650");
  EXPECT_FALSE(smtp::parse_enhanced_code("3.1.1", code));
  EXPECT_FALSE(smtp::parse_enhanced_code("5.1", code));
  EXPECT_FALSE(smtp::parse_enhanced_code("5.1.1.1", code));
  EXPECT_FALSE(smtp::parse_enhanced_code("5.1.1000", code));
  EXPECT_FALSE(smtp::parse_enhanced_code("5..1", code));
  EXPECT_FALSE(smtp::parse_enhanced_code("", code));

  EXPECT_TRUE(
      smtp::find_enhanced_code("host mx [192.0.2.5]: 550 5.2.1 <a@b>... User Unknown", code));
  EXPECT_EQ(code.to_string(), "5.2.1");
  EXPECT_FALSE(smtp::find_enhanced_code("connect to 5.1.1.3 failed", code));
  EXPECT_FALSE(smtp::find_enhanced_code("Exim 4.72 said nothing", code));
  EXPECT_TRUE(smtp::find_enhanced_code("(#5.1.1)", code));
  EXPECT_EQ(code.to_string(), "5.1.1");

  EXPECT_EQ(find_reply_code("host mx.example.jp [192.0.2.153]: 550 5.1.1 <k@example.jp>"), 550);
  EXPECT_EQ(find_reply_code("said: 452-4.2.2 The email account"), 452);
  EXPECT_EQ(find_reply_code("user550@example.com 2014 12:550"), 0);
  EXPECT_EQ(find_reply_code("no code here"), 0);
}

TEST(BounceClassify, DecisiveEnhancedStatusWins) {
  expect_classified(550, "5.1.1", "Recipient address rejected: spam",
                    {Reason::userunknown, true, "5.1.1"});
  expect_classified(552, "5.2.2", "", {Reason::mailboxfull, false, "5.2.2"});
  expect_classified(550, "5.1.2", "", {Reason::hostunknown, true, "5.1.2"});
  expect_classified(550, "5.1.6", "", {Reason::hasmoved, true, "5.1.6"});
  expect_classified(554, "5.3.4", "", {Reason::mesgtoobig, false, "5.3.4"});
  expect_classified(550, "5.7.26", "", {Reason::authfailure, false, "5.7.26"});
  expect_classified(550, "5.7.25", "", {Reason::requireptr, false, "5.7.25"});
  expect_classified(556, "5.1.10", "", {Reason::notaccept, true, "5.1.10"});
  expect_classified(450, "4.4.7", "", {Reason::expired, false, "4.4.7"});
  expect_classified(450, "4.1.1", "", {Reason::userunknown, true, "4.1.1"});
  expect_classified(250, "2.1.5", "ok", {Reason::delivered, false, "2.1.5"});
}

TEST(BounceClassify, GenericStatusIsRefinedByText) {
  // Gmail
  expect_classified(550, "5.1.1",
                    "The email account that you tried to reach does not exist. Please try "
                    "double-checking the recipient's email address for typos",
                    {Reason::userunknown, true, "5.1.1"});
  expect_classified(452, "4.2.2", "The email account that you tried to reach is over quota.",
                    {Reason::mailboxfull, false, "4.2.2"});
  expect_classified(550, "5.2.1", "The email account that you tried to reach is disabled.",
                    {Reason::suspend, false, "5.2.1"});
  expect_classified(550, "5.7.1",
                    "Our system has detected that this message is likely unsolicited mail. To "
                    "reduce the amount of spam sent to Gmail, this message has been blocked.",
                    {Reason::spamdetected, false, "5.7.1"}, SmtpCommand::data);
  expect_classified(550, "5.7.1",
                    "This message does not meet IPv6 sending guidelines regarding PTR records "
                    "and authentication.",
                    {Reason::requireptr, false, "5.7.1"});
  expect_classified(421, "4.7.0",
                    "Our system has detected an unusual rate of unsolicited mail originating "
                    "from your IP address.",
                    {Reason::ratelimited, false, "4.7.0"});
  // Outlook.com / Exchange Online
  expect_classified(550, "5.5.0", "Requested action not taken: mailbox unavailable (S2017062302)",
                    {Reason::userunknown, true, "5.5.0"});
  expect_classified(550, "5.7.1",
                    "Service unavailable, Client host [192.0.2.1] blocked using Spamhaus. To "
                    "request removal from this list see https://www.spamhaus.org/query/ip/",
                    {Reason::blocked, false, "5.7.1"});
  expect_classified(550, "5.4.1",
                    "Recipient address rejected: Access denied. AS(201806281) [BN8NAM11FT.eop]",
                    {Reason::userunknown, true, "5.4.1"});
  // Yahoo
  expect_classified(554, "", "delivery error: dd This user doesn't have a yahoo.com account",
                    {Reason::userunknown, true, "5.1.1"});
  expect_classified(421, "4.7.0",
                    "[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume "
                    "or user complaints",
                    {Reason::blocked, false, "4.7.0"});
  expect_classified(554, "",
                    "delivery error: dd Sorry your message to a@yahoo.com cannot be "
                    "delivered. This mailbox is disabled (554.30).",
                    {Reason::suspend, false, "5.2.1"});
  // Postfix
  expect_classified(550, "5.1.1",
                    "<a@example.org>: Recipient address rejected: User unknown in local recipient "
                    "table",
                    {Reason::userunknown, true, "5.1.1"});
  expect_classified(554, "5.7.1", "<a@example.org>: Relay access denied",
                    {Reason::norelaying, false, "5.7.1"});
  expect_classified(450, "4.7.1",
                    "Client host rejected: cannot find your reverse hostname, [192.0.2.9]",
                    {Reason::requireptr, false, "4.7.1"});
  expect_classified(550, "5.1.8", "<s@example.net>: Sender address rejected: Domain not found",
                    {Reason::rejected, false, "5.1.8"});
  expect_classified(450, "4.1.8", "<s@example.net>: Sender address rejected: Domain not found",
                    {Reason::rejected, false, "4.1.8"});
  expect_classified(0, "",
                    "Host or domain name not found. Name service error for name=example.invalid "
                    "type=A: Host not found",
                    {Reason::hostunknown, true, "5.1.2"});
  // Exim
  expect_classified(0, "", "retry timeout exceeded", {Reason::expired, false, "5.4.7"});
  expect_classified(0, "", "all relevant MX records point to non-existent hosts",
                    {Reason::hostunknown, true, "5.1.2"});
  expect_classified(0, "", "Unrouteable address", {Reason::hostunknown, true, "5.1.2"});
  // qmail
  expect_classified(0, "", "Sorry, no mailbox here by that name. (#5.1.1)",
                    {Reason::userunknown, true, "5.1.1"});
  expect_classified(0, "",
                    "I'm not going to try again; this message has been in the queue too long.",
                    {Reason::expired, false, "5.4.7"});
  expect_classified(0, "", "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)",
                    {Reason::networkerror, false, "4.4.1"});
  // Sendmail
  expect_classified(0, "", "550 5.7.1 <a@example.jp>... Relaying denied",
                    {Reason::norelaying, false, "5.7.1"});
  expect_classified(0, "", "Message could not be delivered for 5 days",
                    {Reason::expired, false, "5.4.7"});
  // Amazon SES
  expect_classified(550, "5.1.1",
                    "Amazon SES has suppressed sending to this address because it has a recent "
                    "history of bouncing as an invalid address.",
                    {Reason::userunknown, true, "5.1.1"});
  // Japanese carriers
  expect_classified(550, "", "Unknown user a@docomo.ne.jp", {Reason::userunknown, true, "5.1.1"});
  expect_classified(550, "", "Invalid recipient: <a@softbank.ne.jp>",
                    {Reason::userunknown, true, "5.1.1"});
  expect_classified(0, "", "The user(s) account is disabled.", {Reason::suspend, false, "5.2.1"});
  expect_classified(550, "", "このメールは受信拒否設定により配信されませんでした",
                    {Reason::filtered, false, "5.0.0"});
  // Content and policy
  expect_classified(552, "5.3.4", "Message size exceeds fixed limit",
                    {Reason::mesgtoobig, false, "5.3.4"});
  expect_classified(550, "5.7.1", "Message rejected: virus found in attachment",
                    {Reason::virusdetected, false, "5.7.1"}, SmtpCommand::data);
  // Before DATA no content was seen: the same words are not about this message.
  expect_classified(550, "5.7.1", "Message rejected: virus found in attachment",
                    {Reason::securityerror, false, "5.7.1"});
  expect_classified(550, "5.7.1", "Message rejected due to DMARC policy",
                    {Reason::authfailure, false, "5.7.1"});
  expect_classified(550, "5.7.1",
                    "This message is not RFC 5322 compliant. There are multiple From headers.",
                    {Reason::notcompliantrfc, false, "5.7.1"});
}

TEST(BounceClassify, ReplyCodeWhenNothingElse) {
  expect_classified(552, "", "", {Reason::mailboxfull, false, "5.2.2"});
  expect_classified(551, "", "", {Reason::hasmoved, true, "5.1.6"});
  expect_classified(421, "", "", {Reason::systemerror, false, "4.0.0"});
  expect_classified(500, "", "", {Reason::syntaxerror, false, "5.0.0"});
  expect_classified(550, "", "", {Reason::undefined, false, "5.0.0"});
  expect_classified(0, "", "", {Reason::undefined, false, "5.0.0"});
  // Words that name no reason: held (Sisimai's onhold), whatever the class.
  expect_classified(0, "", "temporary failure, will retry", {Reason::onhold, false, "4.0.0"});
  // A 4xx notaccept is soft; 5xx hard.
  expect_classified(450, "", "Host does not accept mail", {Reason::notaccept, false, "4.1.10"});
  expect_classified(550, "", "Host does not accept mail", {Reason::notaccept, true, "5.1.10"});
}

TEST(BounceClassify, HostileText) {
  std::string huge(1 << 20, 'x');
  huge += " user unknown";  // beyond the read window: not seen
  expect_classified(550, "", huge, {Reason::onhold, false, "5.0.0"});
  std::string binary("\0\xff\xfe 550 5.1.1 \x80\x81", 15);
  EXPECT_EQ(classify(0, "", binary).status.to_string(), "5.1.1");
  EXPECT_EQ(classify(999, "9.9.9", "").status.to_string(), "5.0.0");
  EXPECT_EQ(classify(0, "5.1.1junk", "").reason, Reason::undefined);
}

}  // namespace
}  // namespace hayate::campaign::bounce
