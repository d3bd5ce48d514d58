// Tests of campaign/bounce_recording: the reason and hard/soft of delivery outcomes (replies of
// real servers, hayate's own DNS and expiry results, the operator's route mistakes), the
// "reason"/"hard" fields of deliveries.jsonl lines, and the per-reason counts of the summary,
// domains.csv and the stderr line.
#include "campaign/bounce_recording.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "campaign/bounce/classify.h"
#include "campaign/domain_report.h"
#include "engine/strings.h"

namespace hayate::campaign {
namespace {

using bounce::Reason;

struct OutcomeCase {
  OutcomeType type;
  std::uint16_t code;
  std::string_view enhanced;
  std::string_view reply;
  std::string_view stage;
  Reason reason;
  bool hard;
};

TEST(ClassifyOutcome, RepliesAndOwnResults) {
  const OutcomeCase cases[] = {
      // hayate-sink's bounce… recipients, and the large providers' words.
      {OutcomeType::bounced, 550, "5.1.1", "User unknown", "rcpt", Reason::userunknown, true},
      {OutcomeType::bounced, 550, "5.1.1",
       "The email account that you tried to reach does not exist. Please try double-checking "
       "the recipient's email address for typos or unnecessary spaces.",
       "rcpt", Reason::userunknown, true},
      {OutcomeType::bounced, 552, "5.2.2", "Mailbox full", "rcpt", Reason::mailboxfull, false},
      {OutcomeType::bounced, 554, "5.6.0", "Message rejected", "body", Reason::contenterror, false},
      // A temporary failure never condemns an address, whatever its words (RFC 5321 4.2.1).
      {OutcomeType::deferred, 450, "4.1.1", "User unknown", "rcpt", Reason::userunknown, false},
      {OutcomeType::deferred, 451, "4.3.0", "Try again later", "rcpt", Reason::systemerror, false},
      {OutcomeType::deferred, 421, "4.7.0",
       "[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user "
       "complaints",
       "connect", Reason::toomanyconn, false},
      // Expired: the last error does not decide (DomainQueue::expire writes it in the text).
      {OutcomeType::bounced, 0, "4.4.7",
       "expired: no delivery within max_age; last error: 550 5.1.1 User unknown", "expired",
       Reason::expired, false},
      {OutcomeType::bounced, 0, "4.4.7",
       "expired: no delivery within max_age; last error: connection refused", "expired",
       Reason::expired, false},
      // Hayate's own DNS answers about the recipient's domain.
      {OutcomeType::bounced, 0, "5.1.2", "no mail host for nx.example: Domain name not found",
       "dns", Reason::hostunknown, true},
      {OutcomeType::bounced, 556, "5.1.10", "nullmx.example accepts no mail (null MX)", "dns",
       Reason::notaccept, true},
  };
  for (const OutcomeCase& c : cases) {
    const OutcomeClassification got =
        classify_outcome(c.type, c.code, c.enhanced, c.reply, c.stage);
    EXPECT_EQ(bounce::to_string(got.reason), bounce::to_string(c.reason)) << c.reply;
    EXPECT_EQ(got.hard, c.hard) << c.reply;
  }
}

TEST(ClassifyOutcome, TheOperatorsMistakesNeverCondemnRecipients) {
  // A route host that does not resolve (DomainQueue::on_route_answer): permanent, but ours.
  const OutcomeClassification route = classify_outcome(
      OutcomeType::bounced, 0, "5.4.4", "route host relay.invalid: Domain name not found", "dns");
  EXPECT_FALSE(route.hard);
  // Our own words that look like a user-unknown text, without a server's reply code.
  ASSERT_TRUE(bounce::classify(0, "5.0.0", "no such user here").hard);  // the rule is needed
  const OutcomeClassification own =
      classify_outcome(OutcomeType::bounced, 0, "5.0.0", "no such user here", "connect");
  EXPECT_FALSE(own.hard);
  // A server that says 5.1.1 at the greeting (Site::fail_unreachable) is a server's reply.
  const OutcomeClassification greeting = classify_outcome(
      OutcomeType::bounced, 554, "5.0.0",
      "no server accepted a session; last error: 554 5.7.1 Service unavailable; client host "
      "[192.0.2.1] blocked using zen.spamhaus.org",
      "connect");
  EXPECT_EQ(greeting.reason, Reason::blocked);
  EXPECT_FALSE(greeting.hard);
}

TEST(ClassifyOutcome, ASuccessCodeInAFailureBecomesUndefined) {
  // A broken server: 550 with a 2.x.x enhanced code, which alone reads as "delivered".
  ASSERT_EQ(bounce::classify(550, "2.0.0", "Ok").reason, Reason::delivered);
  const OutcomeClassification got =
      classify_outcome(OutcomeType::bounced, 550, "2.0.0", "Ok", "rcpt");
  EXPECT_EQ(got.reason, Reason::undefined);
  EXPECT_FALSE(got.hard);
}

// Lines DeliveryLog writes, read back from a temporary file.
std::string logged_lines(const DeliveryRecord* records, std::size_t count) {
  char path[] = "/tmp/bounce_recording_test.XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  {
    DeliveryLog log(fd);
    for (std::size_t i = 0; i < count; ++i) log.append(records[i]);
    EXPECT_TRUE(log.flush());
  }
  std::string text(1 << 16, '\0');
  const ssize_t size = pread(fd, text.data(), text.size(), 0);
  EXPECT_GT(size, 0);
  text.resize(static_cast<std::size_t>(size));
  close(fd);
  unlink(path);
  return text;
}

TEST(DeliveryLogFields, ReasonAndHardOnFailuresOnly) {
  DeliveryRecord records[3];
  records[0].type = OutcomeType::bounced;
  records[0].recipient = "bounce1@d.test";
  records[0].code = 550;
  records[0].enhanced = "5.1.1";
  records[0].reply = "User unknown";
  records[0].stage = "rcpt";
  records[0].bounce_reason = "userunknown";
  records[0].hard = true;
  records[0].attempt = 1;
  records[1] = records[0];
  records[1].type = OutcomeType::deferred;
  records[1].bounce_reason = "mailboxfull";
  records[1].hard = false;
  records[1].final = false;
  records[2].type = OutcomeType::delivered;
  records[2].recipient = "ok@d.test";
  records[2].code = 250;
  records[2].stage = "body";
  const std::string text = logged_lines(records, 3);
  const std::size_t first_end = text.find('\n');
  const std::size_t second_end = text.find('\n', first_end + 1);
  ASSERT_NE(second_end, std::string::npos);
  const std::string_view first = std::string_view(text).substr(0, first_end);
  const std::string_view second =
      std::string_view(text).substr(first_end + 1, second_end - first_end - 1);
  const std::string_view third = std::string_view(text).substr(second_end + 1);
  EXPECT_NE(first.find(R"("stage":"rcpt","reason":"userunknown","hard":true,"attempt":1,)"),
            std::string_view::npos)
      << first;
  EXPECT_NE(second.find(R"("reason":"mailboxfull","hard":false,"attempt":1,)"),
            std::string_view::npos)
      << second;
  EXPECT_NE(second.find(R"("final":false})"), std::string_view::npos) << second;
  EXPECT_EQ(third.find("\"reason\""), std::string_view::npos) << third;
  EXPECT_EQ(third.find("\"hard\""), std::string_view::npos) << third;
  EXPECT_NE(third.find(R"("stage":"body","attempt":0,)"), std::string_view::npos) << third;
}

TEST(BounceReasonCounts, Renderings) {
  BounceReasonCounts counts;
  EXPECT_EQ(counts.render_json(), "{}");
  EXPECT_EQ(counts.render_line(), "");
  EXPECT_EQ(counts.render_cell(), "");
  counts.add(Reason::mailboxfull);
  counts.add(Reason::userunknown, 3);
  counts.add(Reason::blocked);
  counts.add(Reason::expired, 2);
  counts.add(Reason::suspend);
  counts.add(Reason::filtered);
  EXPECT_EQ(counts.total(), 9u);
  EXPECT_EQ(counts.render_json(),
            R"({"userunknown": 3, "expired": 2, "blocked": 1, "filtered": 1, )"
            R"("mailboxfull": 1, "suspend": 1})");
  EXPECT_EQ(counts.render_line(), "userunknown 3, expired 2, blocked 1, filtered 1, +2 more");
  EXPECT_EQ(counts.render_line(10),
            "userunknown 3, expired 2, blocked 1, filtered 1, mailboxfull 1, suspend 1");
  EXPECT_EQ(counts.render_cell(),
            "userunknown:3 expired:2 blocked:1 filtered:1 mailboxfull:1 suspend:1");
  BounceReasonCounts more;
  more.add(Reason::blocked, 5);
  more.merge(counts);
  EXPECT_EQ(more.count(Reason::blocked), 6u);
  EXPECT_EQ(more.count(Reason::userunknown), 3u);
  EXPECT_EQ(more.count(Reason::hostunknown), 0u);
}

DeliveryRecord bounced(std::string_view domain, std::string_view reason) {
  DeliveryRecord record;
  record.type = OutcomeType::bounced;
  record.domain = domain;
  record.stage = "rcpt";
  record.bounce_reason = reason;
  return record;
}

TEST(DomainReportReasons, PerDomainTotalsMergeAndCsv) {
  DomainReport shard_one;
  shard_one.add(bounced("a.test", "userunknown"));
  shard_one.add(bounced("a.test", "userunknown"));
  shard_one.add(bounced("a.test", "mailboxfull"));
  DeliveryRecord deferred = bounced("a.test", "mailboxfull");
  deferred.type = OutcomeType::deferred;  // a retry: not a bounce
  deferred.final = false;
  shard_one.add(deferred);
  DeliveryRecord delivered;
  delivered.domain = "c.test";
  delivered.stage = "body";
  shard_one.add(delivered);
  DomainReport shard_two;
  shard_two.add(bounced("b.test", "hostunknown"));
  shard_two.add(bounced("b.test", "nonsense"));  // not a reason word: counted, no reason

  DomainReport all;
  all.merge(shard_one);
  all.merge(shard_two);
  ASSERT_NE(all.bounce_reasons("a.test"), nullptr);
  EXPECT_EQ(all.bounce_reasons("a.test")->render_cell(), "userunknown:2 mailboxfull:1");
  EXPECT_EQ(all.bounce_reasons("b.test")->render_cell(), "hostunknown:1");
  EXPECT_EQ(all.bounce_reasons("c.test"), nullptr);
  EXPECT_EQ(all.bounce_reason_totals().render_json(),
            R"({"userunknown": 2, "hostunknown": 1, "mailboxfull": 1})");
  EXPECT_EQ(all.find("b.test")->bounced, 2u);
  EXPECT_EQ(all.render_csv(),
            "domain,recipients,delivered,bounced,deferred,rejected,suppressed,attempts,"
            "mean_latency_ms,bounce_reasons\n"
            "a.test,3,0,3,0,0,0,4,,userunknown:2 mailboxfull:1\n"
            "b.test,2,0,2,0,0,0,2,,hostunknown:1\n"
            "c.test,1,1,0,0,0,0,1,,\n");
}

}  // namespace
}  // namespace hayate::campaign
