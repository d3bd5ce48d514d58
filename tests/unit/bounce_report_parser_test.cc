// Unit tests for the bounce-message parser and the mailbox readers: DSN, ARF, auto-replies,
// text bounces, the VERP hook, and hostile input (broken MIME, huge headers, deep nesting).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "campaign/bounce/mailbox.h"
#include "campaign/bounce/report_parser.h"
#include "gtest/gtest.h"

namespace hayate::campaign::bounce {
namespace {

constexpr char kDsn[] =
    "From: MAILER-DAEMON@mx.example.com\r\n"
    "To: bounces+tok@bounce.example.com\r\n"
    "Subject: Undelivered Mail Returned to Sender\r\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n"
    "\r\n"
    "--b1\r\nContent-Type: text/plain\r\n\r\n<a@example.net>: host said: 550 5.1.1 no\r\n"
    "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
    "Reporting-MTA: dns; mx.example.com\r\n\r\n"
    "Final-Recipient: rfc822; a@example.net\r\nOriginal-Recipient: rfc822;A@Example.net\r\n"
    "Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.example.net\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <a@example.net>: Recipient address rejected:\r\n"
    "    User unknown in virtual mailbox table\r\n\r\n"
    "Final-Recipient: rfc822; b@example.net\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n"
    "Final-Recipient: rfc822; c@example.net\r\nAction: delivered\r\nStatus: 2.0.0\r\n"
    "--b1--\r\n";

TEST(BounceReportParser, DeliveryStatusNotification) {
  const auto findings = parse_report(kDsn);
  ASSERT_EQ(findings.size(), 2u);  // the delivered recipient is not reported
  const Finding& a = findings[0];
  EXPECT_EQ(a.kind, FindingKind::bounce);
  EXPECT_EQ(a.recipient, "a@example.net");
  EXPECT_EQ(a.original_recipient, "A@Example.net");
  EXPECT_EQ(a.status, "5.1.1");
  EXPECT_EQ(a.reply_code, 550);
  EXPECT_EQ(a.remote_mta, "mx.example.net");
  EXPECT_EQ(a.action, "failed");
  EXPECT_EQ(a.command, "RCPT");
  EXPECT_EQ(a.recipient_source, RecipientSource::dsn);
  EXPECT_EQ(a.diagnostic,
            "550 5.1.1 <a@example.net>: Recipient address rejected: User unknown in virtual "
            "mailbox table");
  EXPECT_EQ(a.classification.reason, Reason::userunknown);
  EXPECT_TRUE(a.classification.hard);
  const Finding& b = findings[1];
  EXPECT_EQ(b.kind, FindingKind::delay);
  EXPECT_EQ(b.recipient, "b@example.net");
  EXPECT_EQ(b.classification.status.to_string(), "4.4.1");
  EXPECT_EQ(b.classification.reason, Reason::expired);
  EXPECT_FALSE(b.classification.hard);
}

using Reported = std::vector<std::string>;  // what the report names, for the decoder

TokenAnswer answer(TokenCheck check, std::string recipient = {}) {
  return TokenAnswer{check, std::move(recipient)};
}

// Amazon SES notifications mailed by SNS: the JSON in the Message string, folds ("!\n ") and
// all; bounces (SES's own suppression list a reason of its own), complaints, deliveries.
TEST(BounceReportParser, AmazonSesNotifications) {
  const std::string head =
      "From: no-reply@sns.amazonaws.com\nSubject: AWS Notification Message\n"
      "Content-Type: text/plain; charset=UTF-8\n\n{\n  \"Type\" : \"Notification\",\n"
      "  \"Message\" : \"";
  const std::string tail = "\",\n  \"Timestamp\" : \"2026-12-08T00:00:00.000Z\"\n}\n";
  const std::string bounce =
      head +
      R"({\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\",)"
      R"(\"bounceSubType\":\"General\",\"bouncedRecipients\":[{\"emailAddress\":\"gone@ex)"
      "!\n "
      R"(ample.net\",\"action\":\"failed\",\"status\":\"5.1.1\",\"diagnosticCode\":\"smtp; 550 5.1.1 user unknown\"},)"
      R"({\"emailAddress\":\"listed@example.net\"}],\"reportingMTA\":\"dsn; a1.amazonses.com\"}})" +
      tail;
  std::vector<Finding> findings = parse_report(bounce);
  ASSERT_EQ(findings.size(), 2u);
  EXPECT_EQ(findings[0].recipient, "gone@example.net");
  EXPECT_EQ(findings[0].kind, FindingKind::bounce);
  EXPECT_EQ(findings[0].classification.reason, Reason::userunknown);
  EXPECT_TRUE(findings[0].classification.hard);
  EXPECT_EQ(findings[0].diagnostic, "550 5.1.1 user unknown");
  EXPECT_EQ(findings[1].recipient, "listed@example.net");

  std::string suppressed = bounce;
  suppressed.replace(suppressed.find("General"), 7, "Suppressed");
  findings = parse_report(suppressed);
  ASSERT_EQ(findings.size(), 2u);
  EXPECT_EQ(findings[1].classification.reason, Reason::suppressed);
  EXPECT_FALSE(findings[1].classification.hard);

  findings = parse_report(
      head +
      R"({\"notificationType\":\"Complaint\",\"complaint\":{\"complaintFeedbackType\":\"abuse\",)"
      R"(\"complainedRecipients\":[{\"emailAddress\":\"angry@example.net\"}]}})" +
      tail);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].kind, FindingKind::complaint);
  EXPECT_EQ(findings[0].feedback_type, "abuse");

  findings = parse_report(
      head +
      R"({\"notificationType\":\"Delivery\",\"delivery\":{\"recipients\":[\"ok@example.net\"],)"
      R"(\"smtpResponse\":\"250 2.6.0 Message received\"}})" +
      tail);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].kind, FindingKind::delivered);
  EXPECT_EQ(findings[0].classification.status.to_string(), "2.6.0");
  EXPECT_EQ(to_string(findings[0].kind), "delivered");

  // Not JSON, or JSON of something else: nothing.
  EXPECT_TRUE(parse_report(head + "{\\\"notificationType\\\": broken" + tail).empty());
}

TEST(BounceReportParser, VerpDecoderNamesTheRecipient) {
  ParseOptions options;
  std::vector<std::string> asked;
  options.verp_decoder = [&](std::string_view address, const Reported&) {
    asked.emplace_back(address);
    if (address == "bounces+tok@bounce.example.com") {
      return answer(TokenCheck::valid, "real@example.org");
    }
    return answer(TokenCheck::absent);
  };
  // A text bounce that names nobody: only VERP can tell.
  const std::string message =
      "From: MAILER-DAEMON@mx.example.com\nTo: bounces+tok@bounce.example.com\n"
      "Subject: failure notice\n\nYour message could not be delivered: mailbox full.\n";
  const auto findings = parse_report(message, options);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].recipient, "real@example.org");
  EXPECT_EQ(findings[0].recipient_source, RecipientSource::verp);
  EXPECT_EQ(findings[0].token, TokenCheck::valid);
  EXPECT_EQ(findings[0].classification.reason, Reason::mailboxfull);
  EXPECT_EQ(asked, std::vector<std::string>{"bounces+tok@bounce.example.com"});
  // Without an address of ours the recipient-less finding is dropped.
  options.verp_decoder = [](std::string_view, const Reported&) {
    return answer(TokenCheck::absent);
  };
  EXPECT_TRUE(parse_report(message, options).empty());
  // A DSN naming another address (a forward): VERP wins, the report's name is kept.
  options.verp_decoder = [](std::string_view, const Reported&) {
    return answer(TokenCheck::valid, "real@example.org");
  };
  const std::string one_recipient =
      std::string(kDsn).substr(0, std::string(kDsn).find("Final-Recipient: rfc822; b@")) +
      "--b1--\r\n";
  const auto forwarded = parse_report(one_recipient, options);
  ASSERT_EQ(forwarded.size(), 1u);
  EXPECT_EQ(forwarded[0].recipient, "real@example.org");
  EXPECT_EQ(forwarded[0].reported_recipient, "a@example.net");
}

// A report that came to our VERP address with a token that does not verify proves nothing:
// its findings keep what the report says, marked, and the placeholder of a text bounce stays
// so that the message is counted.
TEST(BounceReportParser, ARefusedTokenMarksEveryFinding) {
  for (TokenCheck refused : {TokenCheck::forged, TokenCheck::stale, TokenCheck::other_campaign,
                             TokenCheck::old_version, TokenCheck::unchecked}) {
    ParseOptions options;
    options.verp_decoder = [&](std::string_view, const Reported&) { return answer(refused); };
    const auto dsn = parse_report(kDsn, options);
    ASSERT_EQ(dsn.size(), 2u);
    EXPECT_EQ(dsn[0].recipient, "a@example.net");  // as reported, not a VERP mapping
    EXPECT_EQ(dsn[0].recipient_source, RecipientSource::dsn);
    for (const Finding& finding : dsn) EXPECT_EQ(finding.token, refused);
    const auto text = parse_report(
        "From: MAILER-DAEMON@mx.example.com\nTo: bounces+bad@bounce.example.com\n"
        "Subject: failure notice\n\nYour message could not be delivered: mailbox full.\n",
        options);
    ASSERT_EQ(text.size(), 1u);
    EXPECT_EQ(text[0].recipient, "");
    EXPECT_EQ(text[0].token, refused);
    EXPECT_TRUE(is_refused(refused));
  }
  EXPECT_FALSE(is_refused(TokenCheck::absent));
  EXPECT_FALSE(is_refused(TokenCheck::valid));
}

// The decoder hears the addresses the report names (Final- and Original-Recipient), so that
// it can tell a token made for one of them from a forged one.
TEST(BounceReportParser, TheDecoderHearsWhatTheReportNames) {
  ParseOptions options;
  Reported heard;
  options.verp_decoder = [&](std::string_view, const Reported& reported) {
    heard = reported;
    return answer(TokenCheck::stale);
  };
  ASSERT_EQ(parse_report(kDsn, options).size(), 2u);
  EXPECT_EQ(heard, (Reported{"a@example.net", "A@Example.net", "b@example.net"}));
}

// The first of our addresses decides, in the order Delivered-To, X-Original-To, Envelope-To,
// To...: a forged token in the envelope is not rescued by a valid one in the headers, and
// addresses that are not ours are passed over.
TEST(BounceReportParser, TheFirstAddressOfOursDecides) {
  ParseOptions options;
  options.verp_decoder = [](std::string_view address, const Reported&) {
    if (address == "bounces+good@b.example") return answer(TokenCheck::valid, "a@example.net");
    if (address == "bounces+bad@b.example") return answer(TokenCheck::forged);
    return answer(TokenCheck::absent);
  };
  const std::string body = std::string(kDsn).substr(std::string(kDsn).find("Subject:"));
  const auto forged_first = parse_report(
      "Delivered-To: bounces+bad@b.example\r\nTo: bounces+good@b.example\r\n" + body, options);
  ASSERT_EQ(forged_first.size(), 2u);
  EXPECT_EQ(forged_first[0].token, TokenCheck::forged);
  const auto valid_first = parse_report(
      "Delivered-To: postmaster@b.example\r\nTo: bounces+good@b.example, bounces+bad@b.example"
      "\r\n" +
          body,
      options);
  ASSERT_EQ(valid_first.size(), 1u);
  EXPECT_EQ(valid_first[0].token, TokenCheck::valid);
}

// A feedback loop sends its report to its own address; the original's envelope sender,
// quoted as Original-Mail-From (RFC 5965 3.2) or in the returned headers' Return-Path, is
// where our token is then. Valid: it names the recipient, also when the ISP redacted
// Original-Rcpt-To. Refused: the complaint proves nothing about the address it names.
TEST(BounceReportParser, TheOriginalEnvelopeSenderCarriesTheToken) {
  const auto arf = [](std::string_view mail_from, std::string_view rcpt_to,
                      std::string_view return_path) {
    return std::string(
               "From: fbl@isp.example\nTo: fbl@example.com\nSubject: abuse\n"
               "Content-Type: multipart/report; report-type=feedback-report; boundary=x\n\n"
               "--x\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n"
               "Version: 1\nOriginal-Mail-From: <") +
           std::string(mail_from) + ">\nOriginal-Rcpt-To: <" + std::string(rcpt_to) +
           ">\n\n--x\nContent-Type: message/rfc822\n\nReturn-Path: <" + std::string(return_path) +
           ">\nFrom: news@example.com\nTo: redacted@isp.example\nSubject: hi\n\nbody\n--x--\n";
  };
  ParseOptions options;
  options.verp_decoder = [](std::string_view address, const Reported&) {
    if (address == "bounces+good@b.example") return answer(TokenCheck::valid, "reader@isp.example");
    if (address == "bounces+bad@b.example") return answer(TokenCheck::forged);
    return answer(TokenCheck::absent);
  };
  auto findings = parse_report(arf("bounces+good@b.example", "", "news@example.com"), options);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].kind, FindingKind::complaint);
  EXPECT_EQ(findings[0].recipient, "reader@isp.example");
  EXPECT_EQ(findings[0].token, TokenCheck::valid);
  findings = parse_report(arf("bounces+bad@b.example", "victim@isp.example", ""), options);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].recipient, "victim@isp.example");
  EXPECT_EQ(findings[0].token, TokenCheck::forged);
  findings = parse_report(arf("", "victim@isp.example", "bounces+bad@b.example"), options);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].token, TokenCheck::forged);
  findings = parse_report(arf("news@example.com", "reader@isp.example", ""), options);
  ASSERT_EQ(findings.size(), 1u);  // no token of ours anywhere: the report stands
  EXPECT_EQ(findings[0].recipient, "reader@isp.example");
  EXPECT_EQ(findings[0].token, TokenCheck::absent);
}

// VERP mail goes one recipient per transaction: a report returned to a valid token is about
// the address it was made for. Of several findings, the one naming it stays; the others name
// addresses we never mailed and are dropped. When none names it (an alias expanded it), the
// first failure stands for it, the address the report gave kept beside it.
TEST(BounceReportParser, AValidTokenKeepsOneFindingAboutItsAddress) {
  ParseOptions options;
  options.verp_decoder = [](std::string_view, const Reported&) {
    return answer(TokenCheck::valid, "B@example.net");
  };
  const auto named = parse_report(kDsn, options);  // a@ failed, b@ delayed
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0].recipient, "B@example.net");
  EXPECT_EQ(named[0].kind, FindingKind::delay);
  EXPECT_EQ(named[0].reported_recipient, "");  // the same address, in another case
  EXPECT_EQ(named[0].recipient_source, RecipientSource::verp);

  options.verp_decoder = [](std::string_view, const Reported&) {
    return answer(TokenCheck::valid, "mailed@example.org");
  };
  const auto expanded = parse_report(kDsn, options);
  ASSERT_EQ(expanded.size(), 1u);
  EXPECT_EQ(expanded[0].recipient, "mailed@example.org");
  EXPECT_EQ(expanded[0].reported_recipient, "a@example.net");
  EXPECT_EQ(expanded[0].kind, FindingKind::bounce);
  EXPECT_EQ(expanded[0].classification.reason, Reason::userunknown);
}

TEST(BounceReportParser, ComplaintAutoreplyAndOrdinaryMail) {
  const auto complaint = parse_report(
      "From: fbl@isp.example\nSubject: abuse\nContent-Type: multipart/report; "
      "report-type=feedback-report; boundary=x\n\n--x\nContent-Type: message/feedback-report\n\n"
      "Feedback-Type: abuse\nVersion: 1\n\n--x\nContent-Type: message/rfc822\n\n"
      "From: news@example.com\nTo: Reader <reader@isp.example>\nSubject: hi\n\nbody\n--x--\n");
  ASSERT_EQ(complaint.size(), 1u);
  EXPECT_EQ(complaint[0].kind, FindingKind::complaint);
  EXPECT_EQ(complaint[0].recipient, "reader@isp.example");
  EXPECT_EQ(complaint[0].recipient_source, RecipientSource::original_headers);
  EXPECT_EQ(complaint[0].feedback_type, "abuse");
  EXPECT_EQ(complaint[0].classification.reason, Reason::feedback);
  EXPECT_EQ(complaint[0].classification.status.to_string(), "");

  const auto vacation = parse_report(
      "From: Ken <ken@example.org>\nSubject: =?UTF-8?B?6Ieq5YuV6L+U5L+h?= Re: news\n"
      "Auto-Submitted: auto-replied\n\nI am away.\n");
  ASSERT_EQ(vacation.size(), 1u);
  EXPECT_EQ(vacation[0].kind, FindingKind::autoreply);
  EXPECT_EQ(vacation[0].recipient, "ken@example.org");
  EXPECT_EQ(vacation[0].classification.reason, Reason::vacation);

  EXPECT_TRUE(parse_report("From: a@example.org\nSubject: hello\n\nuser unknown? no.\n").empty());
  EXPECT_TRUE(parse_report("").empty());
}

TEST(BounceReportParser, HostileInputStaysWithinCaps) {
  // Huge header block, unterminated MIME, deep nesting, binary junk: no crash, sane output.
  std::string huge = "From: MAILER-DAEMON@x.example\nX-Junk: ";
  huge.append(2 << 20, 'a');
  huge += "\nSubject: Undelivered\n\n<z@example.net>: 550 5.1.1 user unknown\n";
  const auto a = parse_report(huge);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].recipient, "z@example.net");

  std::string nested = "From: MAILER-DAEMON@x.example\nSubject: Returned mail\n";
  for (int i = 0; i < 200; ++i) {
    nested += "Content-Type: multipart/mixed; boundary=\"n" + std::to_string(i) + "\"\n\n--n" +
              std::to_string(i) + "\n";
  }
  nested += "Content-Type: text/plain\n\n<deep@example.net>: 550 5.2.2 mailbox full\n";
  EXPECT_LE(parse_report(nested).size(), 1u);

  std::string junk;
  for (int i = 0; i < 100000; ++i) junk += static_cast<char>((i * 7919) & 0xff);
  parse_report(junk);
  parse_report("Content-Type: multipart/report; boundary=\"\"\n\n--\n--\n");
  parse_report("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n====\n");
}

TEST(BounceMailbox, MboxUnescapesAndMaildirReadsBoth) {
  char dir_template[] = "/tmp/hayate-test.bounce.XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  {
    std::ofstream mbox(dir + "/mbox", std::ios::binary);
    mbox << "From a@b Mon Nov  3 09:00:00 2025\nSubject: one\n\n>From here\n\n"
         << "From c@d Mon Nov  3 09:00:01 2025\nSubject: two\n\nbody\n";
  }
  std::vector<std::string> seen;
  ASSERT_TRUE(read_mailbox(dir + "/mbox", [&](const MailboxMessage& message) {
                seen.push_back(message.source + "|" + std::string(message.bytes));
                return true;
              }).ok());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], dir + "/mbox:1|Subject: one\n\nFrom here\n\n");
  EXPECT_EQ(seen[1], dir + "/mbox:2|Subject: two\n\nbody\n");

  ASSERT_EQ(::mkdir((dir + "/md").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((dir + "/md/cur").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((dir + "/md/new").c_str(), 0700), 0);
  std::ofstream(dir + "/md/cur/2:2,S") << "Subject: cur\n\n";
  std::ofstream(dir + "/md/new/1") << "Subject: new\n\n";
  std::ofstream(dir + "/md/new/.tmpfile") << "ignored";
  seen.clear();
  ASSERT_TRUE(read_mailbox(dir + "/md", [&](const MailboxMessage& message) {
                seen.push_back(std::string(message.bytes));
                return true;
              }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"Subject: new\n\n", "Subject: cur\n\n"}));

  const absl::Status missing =
      read_mailbox(dir + "/nothing", [](const MailboxMessage&) { return true; });
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(missing.message()).find(dir + "/nothing"), std::string::npos);
  std::system(("rm -rf '" + dir + "'").c_str());
}

}  // namespace
}  // namespace hayate::campaign::bounce
