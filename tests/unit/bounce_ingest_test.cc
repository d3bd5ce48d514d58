// Tests of campaign/bounce_ingest: what each kind of finding does to the suppression list, a
// job's VERP tokens mapped back to its recipients (rejected rows, other campaigns, forged,
// out-of-range and version 1 tokens, rows swapped or a file replaced since the mailing),
// reports to a bad token recorded never, a dry run that touches nothing, and the real-world
// corpus of tests/data/bounces ingested into a list whose entries match the decisions one for
// one.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "campaign/bounce/ingest.h"
#include "campaign/bounce/mailbox.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign {
namespace {

using bounce::FindingKind;
using bounce::Reason;

bounce::Finding finding(FindingKind kind, std::string recipient, Reason reason, bool hard) {
  bounce::Finding f;
  f.kind = kind;
  f.recipient = std::move(recipient);
  f.classification.reason = reason;
  f.classification.hard = hard;
  return f;
}

TEST(DecideFinding, EachKind) {
  IngestDecision d =
      decide_finding(finding(FindingKind::bounce, "a@b.test", Reason::userunknown, true));
  EXPECT_EQ(d.effect, IngestEffect::suppress);
  EXPECT_EQ(d.source, SuppressionSource::bounce);
  EXPECT_EQ(d.reason, "userunknown");
  EXPECT_TRUE(d.hard);

  d = decide_finding(finding(FindingKind::bounce, "a@b.test", Reason::mailboxfull, false));
  EXPECT_EQ(d.effect, IngestEffect::count_soft);
  EXPECT_FALSE(d.hard);
  d = decide_finding(finding(FindingKind::bounce, "a@b.test", Reason::blocked, false));
  EXPECT_EQ(d.effect, IngestEffect::not_recipient);
  d = decide_finding(finding(FindingKind::bounce, "", Reason::userunknown, true));
  EXPECT_EQ(d.effect, IngestEffect::no_recipient);

  bounce::Finding complaint = finding(FindingKind::complaint, "c@b.test", Reason::feedback, false);
  complaint.feedback_type = "abuse";
  d = decide_finding(complaint);
  EXPECT_EQ(d.effect, IngestEffect::suppress);
  EXPECT_EQ(d.source, SuppressionSource::complaint);
  EXPECT_EQ(d.reason, "abuse");
  complaint.feedback_type.clear();
  EXPECT_EQ(decide_finding(complaint).reason, "feedback");

  EXPECT_EQ(
      decide_finding(finding(FindingKind::autoreply, "v@b.test", Reason::vacation, false)).effect,
      IngestEffect::not_failure);
  EXPECT_EQ(decide_finding(finding(FindingKind::delay, "d@b.test", Reason::expired, false)).effect,
            IngestEffect::not_failure);
}

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "hayate_bounce_ingest_XXXXXX").string();
    HAYATE_ASSERT(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(std::string_view name) const { return cat(path_, "/", name); }
  std::string write(std::string_view name, std::string_view content) const {
    std::ofstream out(file(name), std::ios::binary);
    out << content;
    return file(name);
  }

 private:
  std::string path_;
};

constexpr std::string_view kSecret = "a-verp-secret-of-32-bytes-at-least";

constexpr std::string_view kRecipients =
    "email,name\nann@a.test,Ann\nnot an address,X\nbob@b.test,Bob\nCid@C.test,Cid\n";

// A job "spring" with [verp]; row 2 is not an address (rejected), row 4 has the
// case-preserved local part.
std::string write_job(const TempDir& dir, bool with_verp = true,
                      std::string_view recipients = kRecipients) {
  dir.write("recipients.csv", recipients);
  dir.write("body.txt", "Hello {{name}}\n");
  dir.write("verp.key", cat(kSecret, "\n"));
  return dir.write("job.toml", cat(R"([campaign]
id = "spring"
recipients = "recipients.csv"
from = "News <news@example.com>"
subject = "Hi"
text = "body.txt"
)",
                                   with_verp ? R"([verp]
prefix = "bounces"
domain = "bounces.example.com"
secret_file = "verp.key"
)"
                                             : ""));
}

// The address a campaign's message to `recipient` on row `sequence` went out with.
std::string token_address(std::string_view campaign, std::uint64_t sequence,
                          std::string_view recipient) {
  absl::StatusOr<VerpKey> key = VerpKey::create(kSecret, "bounces", "bounces.example.com");
  HAYATE_ASSERT(key.ok());
  return verp_address(*key, campaign, sequence, recipient);
}

std::optional<std::string> mapped(VerpRecipients& verp, std::string_view address) {
  const bounce::TokenAnswer answer = verp.check(address);
  EXPECT_EQ(answer.check == bounce::TokenCheck::valid, !answer.recipient.empty()) << address;
  if (answer.check != bounce::TokenCheck::valid) return std::nullopt;
  return answer.recipient;
}

TEST(VerpRecipients, TokensOfTheJobNameItsRows) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<VerpRecipients>> verp = VerpRecipients::open(write_job(dir));
  ASSERT_TRUE(verp.ok()) << verp.status();
  VerpRecipients& v = **verp;
  EXPECT_EQ(mapped(v, token_address("spring", 1, "ann@a.test")), "ann@a.test");
  EXPECT_EQ(mapped(v, token_address("spring", 3, "bob@b.test")), "bob@b.test");
  // As hayate sends it: the domain normalized, the local part as written.
  EXPECT_EQ(mapped(v, cat("<", token_address("spring", 4, "Cid@c.test"), ">")), "Cid@c.test");
  EXPECT_EQ(mapped(v, token_address("spring", 4, "cid@c.test")), std::nullopt);
  EXPECT_EQ(mapped(v, token_address("spring", 2, "x@x.test")), std::nullopt);  // rejected row
  EXPECT_EQ(mapped(v, token_address("spring", 5, "x@x.test")), std::nullopt);  // past the end
  EXPECT_EQ(mapped(v, token_address("spring", 0, "x@x.test")), std::nullopt);
  EXPECT_EQ(mapped(v, token_address("autumn", 1, "ann@a.test")), std::nullopt);  // another
  std::string forged = token_address("spring", 1, "ann@a.test");
  forged[20] = forged[20] == 'a' ? 'b' : 'a';  // a MAC character
  EXPECT_EQ(mapped(v, forged), std::nullopt);
  EXPECT_EQ(mapped(v, "ann@a.test"), std::nullopt);
  EXPECT_EQ(mapped(v, ""), std::nullopt);
  EXPECT_EQ(v.decoded(), 3u);
  EXPECT_TRUE(v.status().ok());
}

// Why an address is refused: not ours at all (absent: the report stands), or ours with a
// token that names nobody (refused: the message proves nothing).
TEST(VerpRecipients, WhyATokenIsRefused) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<VerpRecipients>> verp = VerpRecipients::open(write_job(dir));
  ASSERT_TRUE(verp.ok()) << verp.status();
  VerpRecipients& v = **verp;
  using bounce::TokenCheck;
  std::string forged = token_address("spring", 1, "ann@a.test");
  forged[20] = forged[20] == 'a' ? 'b' : 'a';  // a MAC character
  EXPECT_EQ(v.check(forged).check, TokenCheck::forged);
  EXPECT_EQ(v.check("bounces+abc@bounces.example.com").check, TokenCheck::forged);
  EXPECT_EQ(v.check("BOUNCES+@bounces.example.com").check, TokenCheck::forged);
  EXPECT_EQ(v.check(token_address("spring", 2, "x@x.test")).check, TokenCheck::forged);
  EXPECT_EQ(v.check(token_address("spring", 5, "x@x.test")).check, TokenCheck::forged);
  EXPECT_EQ(v.check(token_address("autumn", 1, "ann@a.test")).check, TokenCheck::other_campaign);
  // The tag is read before the MAC can be checked (it says whose recipients to check against):
  // a token whose tag was altered reads as another campaign's; refused all the same.
  std::string retagged = token_address("spring", 1, "ann@a.test");
  retagged[10] = retagged[10] == 'a' ? 'b' : 'a';
  EXPECT_EQ(v.check(retagged).check, TokenCheck::other_campaign);
  // Version 1 (Python: base32(sha256("spring")[:5] + leb128(1) + HMAC of those[:10])).
  EXPECT_EQ(v.check("bounces+mivestj6af4eikjly5azehvy5i@bounces.example.com").check,
            TokenCheck::old_version);
  EXPECT_EQ(v.check("ann@a.test").check, TokenCheck::absent);
  EXPECT_EQ(v.check("news+abc@bounces.example.com").check, TokenCheck::absent);
  EXPECT_EQ(v.check("").check, TokenCheck::absent);
  EXPECT_EQ(v.check(token_address("spring", 1, "ann@a.test")).check, TokenCheck::valid);
}

// A token names a row, and its MAC the address that row held when it was mailed. After the
// rows were swapped or the file replaced it maps to nobody: stale when an address the report
// names is the one it was made for (the file changed), forged when nothing at hand verifies.
TEST(VerpRecipients, SwappedRowsOrAReplacedFileMapToNobody) {
  using bounce::TokenCheck;
  const std::string ann_token = token_address("spring", 1, "ann@a.test");
  const std::string bob_token = token_address("spring", 3, "bob@b.test");
  const std::string cid_token = token_address("spring", 4, "Cid@c.test");
  TempDir swapped_dir;
  absl::StatusOr<std::unique_ptr<VerpRecipients>> swapped = VerpRecipients::open(
      write_job(swapped_dir, true,
                "email,name\nbob@b.test,Bob\nnot an address,X\nann@a.test,Ann\nCid@C.test,Cid\n"));
  ASSERT_TRUE(swapped.ok()) << swapped.status();
  VerpRecipients& v = **swapped;
  EXPECT_EQ(v.check(ann_token).check, TokenCheck::forged);
  EXPECT_EQ(v.check(ann_token, {"ann@a.test"}).check, TokenCheck::stale);
  EXPECT_EQ(v.check(ann_token, {"someone@else.test", "ann@A.TEST"}).check, TokenCheck::stale);
  EXPECT_EQ(v.check(ann_token, {"bob@b.test"}).check, TokenCheck::forged);  // the row's now
  EXPECT_EQ(v.check(bob_token, {"bob@b.test"}).check, TokenCheck::stale);
  EXPECT_EQ(mapped(v, cid_token), "Cid@c.test");  // a row that kept its recipient still maps
  EXPECT_EQ(v.decoded(), 1u);

  TempDir replaced_dir;
  absl::StatusOr<std::unique_ptr<VerpRecipients>> replaced =
      VerpRecipients::open(write_job(replaced_dir, true, "email,name\nzoe@z.test,Zoe\n"));
  ASSERT_TRUE(replaced.ok());
  EXPECT_EQ((*replaced)->check(ann_token).check, TokenCheck::forged);
  EXPECT_EQ((*replaced)->check(cid_token, {"Cid@c.test"}).check, TokenCheck::stale);  // gone
  EXPECT_EQ((*replaced)->decoded(), 0u);
}

TEST(VerpRecipients, AJobWithoutVerpOrAMissingList) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<VerpRecipients>> verp =
      VerpRecipients::open(write_job(dir, false));
  ASSERT_FALSE(verp.ok());
  EXPECT_EQ(verp.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(verp.status().message().find("has no [verp] table"), absl::string_view::npos);

  TempDir other;
  const std::string job = write_job(other);
  verp = VerpRecipients::open(job);
  ASSERT_TRUE(verp.ok());
  std::filesystem::remove(other.file("recipients.csv"));  // gone before the first token
  EXPECT_EQ((*verp)->check(token_address("spring", 1, "ann@a.test")).check,
            bounce::TokenCheck::unchecked);
  EXPECT_FALSE((*verp)->status().ok());
}

std::string dsn(std::string_view to, std::string_view final_recipient, std::string_view status,
                std::string_view diagnostic) {
  return cat("From: MAILER-DAEMON@mx.example.net\nTo: <", to,
             ">\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
             "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
             "--b\nContent-Type: text/plain\n\nFailed.\n--b\n"
             "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
             "Final-Recipient: rfc822; ",
             final_recipient, "\nAction: failed\nStatus: ", status, "\nDiagnostic-Code: smtp; ",
             diagnostic, "\n--b--\n");
}

TEST(BounceIngester, VerpOutranksTheReportAndADryRunTouchesNothing) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<VerpRecipients>> verp = VerpRecipients::open(write_job(dir));
  ASSERT_TRUE(verp.ok());
  const std::string db = dir.file("list.db");
  const std::string moved = dsn(token_address("spring", 3, "bob@b.test"),
                                "bob.forwarded@elsewhere.test", "5.1.1", "550 5.1.1 no");
  const std::string full = dsn("news@example.com", "ann@a.test", "5.2.2", "552 5.2.2 Mailbox full");

  std::vector<std::string> printed;
  BounceIngester dry(
      db, {}, verp->get(),
      [&](std::string_view source, const bounce::Finding& f, const IngestDecision& d) {
        printed.push_back(cat(source, " ", f.recipient, " ", to_string(d.effect)));
      });
  ASSERT_TRUE(dry.ingest("m1", moved, 1000).ok());
  ASSERT_TRUE(dry.ingest("m2", full, 1000).ok());
  ASSERT_TRUE(dry.finish().ok());
  EXPECT_EQ(printed,
            (std::vector<std::string>{"m1 bob@b.test suppress", "m2 ann@a.test count_soft"}));
  EXPECT_EQ(dry.tally().suppressed, 1u);
  EXPECT_EQ(dry.tally().soft_counted, 1u);
  EXPECT_FALSE(std::filesystem::exists(db));

  BounceIngester ingester(db, SuppressionPolicy{2, 7}, verp->get());
  ASSERT_TRUE(ingester.ingest("m1", moved, 1000).ok());
  ASSERT_TRUE(ingester.ingest("m2", full, 1000).ok());
  ASSERT_TRUE(ingester.ingest("m3", full, 2000).ok());  // the second soft bounce suppresses
  ASSERT_TRUE(ingester.ingest("m4", "Subject: hello\n\nJust a message.\n", 2000).ok());
  ASSERT_TRUE(ingester.finish().ok());
  const IngestTally& tally = ingester.tally();
  EXPECT_EQ(tally.messages, 4u);
  EXPECT_EQ(tally.bounces, 3u);
  EXPECT_EQ(tally.suppressed, 2u);
  EXPECT_EQ(tally.soft_counted, 1u);
  absl::StatusOr<std::unique_ptr<SuppressionStore>> store = SuppressionStore::open(db, {}, false);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->count(), 2u);
  EXPECT_TRUE((*(*store)->find("bob@b.test")).has_value());
  EXPECT_FALSE((*(*store)->find("bob.forwarded@elsewhere.test")).has_value());
  absl::StatusOr<std::optional<SuppressionEntry>> ann = (*store)->find("ann@a.test");
  ASSERT_TRUE(ann.ok() && ann->has_value());
  EXPECT_EQ((*ann)->reason, "mailboxfull");
  EXPECT_EQ((*ann)->first_seen_unix_s, 1000);  // the soft history's first
  EXPECT_EQ((*ann)->last_seen_unix_s, 2000);
}

// A report that came to our VERP address with a forged token, or another campaign's, names
// an address anyone could have written: nothing is recorded, it is counted by why.
TEST(BounceIngester, ABadTokenRecordsNothing) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<VerpRecipients>> verp = VerpRecipients::open(write_job(dir));
  ASSERT_TRUE(verp.ok());
  std::string forged = token_address("spring", 1, "ann@a.test");
  forged[20] = forged[20] == 'a' ? 'b' : 'a';  // a MAC character
  const std::string db = dir.file("list.db");
  const std::string victim_forged = dsn(forged, "ann@a.test", "5.1.1", "550 5.1.1 unknown");
  const std::string victim_other =
      dsn(token_address("autumn", 3, "bob@b.test"), "bob@b.test", "5.1.1", "550 5.1.1 unknown");
  std::vector<std::string> printed;
  BounceIngester dry(
      db, {}, verp->get(),
      [&](std::string_view source, const bounce::Finding& f, const IngestDecision& d) {
        printed.push_back(cat(source, " ", f.recipient, " ", to_string(d.effect), " ",
                              bounce::to_string(f.token)));
      });
  ASSERT_TRUE(dry.ingest("m1", victim_forged, 1000).ok());
  ASSERT_TRUE(dry.ingest("m2", victim_other, 1000).ok());
  ASSERT_TRUE(dry.finish().ok());
  EXPECT_EQ(printed, (std::vector<std::string>{"m1 ann@a.test bad_token forged",
                                               "m2 bob@b.test bad_token other_campaign"}));
  EXPECT_EQ(dry.tally().suppressed, 0u);

  BounceIngester ingester(db, {}, verp->get());
  ASSERT_TRUE(ingester.ingest("m1", victim_forged, 1000).ok());
  ASSERT_TRUE(ingester.ingest("m2", victim_other, 1000).ok());
  ASSERT_TRUE(ingester.finish().ok());
  const IngestTally& tally = ingester.tally();
  EXPECT_EQ(tally.bounces, 2u);
  EXPECT_EQ(tally.suppressed + tally.soft_counted + tally.already_suppressed, 0u);
  EXPECT_EQ(tally.bad_tokens.forged, 1u);
  EXPECT_EQ(tally.bad_tokens.other_campaign, 1u);
  EXPECT_EQ(tally.bad_tokens.total(), 2u);
  EXPECT_FALSE(std::filesystem::exists(db));  // not even opened
}

// A valid token whose report names another address: the token's address is the one we
// mailed, so it is the one recorded; the address the report names never is (a forward target,
// or anyone the sender of the report chose).
TEST(BounceIngester, AValidTokenRecordsItsAddressNotTheReports) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<VerpRecipients>> verp = VerpRecipients::open(write_job(dir));
  ASSERT_TRUE(verp.ok());
  const std::string db = dir.file("list.db");
  std::string two =
      dsn(token_address("spring", 3, "bob@b.test"), "bystander@x.test", "5.1.1", "550 unknown");
  two.insert(two.find("--b--"),
             "\nFinal-Recipient: rfc822; bob@b.test\nAction: failed\n"
             "Status: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2 full\n");
  BounceIngester ingester(db, SuppressionPolicy{3, 7}, verp->get());
  ASSERT_TRUE(ingester.ingest("m1", two, 1000).ok());
  ASSERT_TRUE(ingester.finish().ok());
  EXPECT_EQ(ingester.tally().bounces, 1u);  // the one about bob
  EXPECT_EQ(ingester.tally().soft_counted, 1u);
  EXPECT_EQ(ingester.tally().suppressed, 0u);
  absl::StatusOr<std::unique_ptr<SuppressionStore>> store = SuppressionStore::open(db, {}, false);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->count(), 0u);
  EXPECT_EQ(*(*store)->soft_bounce_rows(), 1u);
}

// The recipients file changed after the mailing (rows 1 and 3 swapped): a bounce for Ann's
// message must not suppress Bob, who holds her row now, nor Ann, whose row no longer vouches
// for her. It is counted stale.
TEST(BounceIngester, ASwappedRowSuppressesNobody) {
  TempDir dir;
  const std::string job =
      write_job(dir, true, "email,name\nbob@b.test,Bob\nnot an address,X\nann@a.test,Ann\n");
  absl::StatusOr<std::unique_ptr<VerpRecipients>> verp = VerpRecipients::open(job);
  ASSERT_TRUE(verp.ok());
  const std::string db = dir.file("list.db");
  BounceIngester ingester(db, {}, verp->get());
  const std::string ann_token = token_address("spring", 1, "ann@a.test");
  ASSERT_TRUE(ingester.ingest("m1", dsn(ann_token, "ann@a.test", "5.1.1", "550 no"), 9).ok());
  // Qmail-like text that names nobody: the token alone could have told.
  ASSERT_TRUE(ingester
                  .ingest("m2",
                          cat("From: MAILER-DAEMON@mx.a.test\nTo: ", ann_token,
                              "\nSubject: failure notice\n\nSorry, no mailbox here by that name. "
                              "(#5.1.1)\n"),
                          9)
                  .ok());
  ASSERT_TRUE(ingester.finish().ok());
  EXPECT_EQ(ingester.tally().bad_tokens.stale, 1u);
  EXPECT_EQ(ingester.tally().bad_tokens.forged, 1u);  // nothing at hand to tell
  EXPECT_EQ(ingester.tally().suppressed, 0u);
  EXPECT_FALSE(std::filesystem::exists(db));
}

TEST(BounceIngester, CommitsInBatchesSoOthersCanWrite) {
  TempDir dir;
  const std::string db = dir.file("list.db");
  BounceIngester ingester(db, {}, nullptr);
  for (std::size_t i = 0; i < ingest_batch_events_max + 5; ++i) {
    ASSERT_TRUE(
        ingester.ingest("m", dsn("x@y", cat("r", i, "@d.test"), "5.1.1", "550 5.1.1 x"), 100).ok());
  }
  // The first batch is committed: another connection writes while the ingest goes on.
  absl::StatusOr<std::unique_ptr<SuppressionStore>> other = SuppressionStore::open(db, {}, false);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*(*other)->count(), ingest_batch_events_max);
  ASSERT_TRUE(ingester.finish().ok());
  EXPECT_EQ(*(*other)->count(), ingest_batch_events_max + 5);
}

TEST(BounceIngester, TheRealWorldCorpusMatchesItsDecisions) {
  TempDir dir;
  const std::string db = dir.file("list.db");
  std::set<std::string> suppress_events;
  std::size_t soft_events = 0;
  BounceIngester dry(db, {}, nullptr,
                     [&](std::string_view, const bounce::Finding& f, const IngestDecision& d) {
                       if (d.effect == IngestEffect::suppress) {
                         suppress_events.insert(f.recipient);
                       } else {
                         ++soft_events;
                       }
                     });
  BounceIngester ingester(db, {}, nullptr);
  for (const char* folder : {"sisimai", "flufl", "own"}) {
    const std::string path = cat(HAYATE_TEST_DATA_DIR, "/bounces/", folder);
    ASSERT_TRUE(bounce::read_mailbox(path, [&](const bounce::MailboxMessage& message) {
                  EXPECT_TRUE(dry.ingest(message.source, message.bytes, 100).ok());
                  EXPECT_TRUE(ingester.ingest(message.source, message.bytes, 100).ok());
                  return true;
                }).ok());
  }
  ASSERT_TRUE(ingester.finish().ok());
  const IngestTally& tally = ingester.tally();
  EXPECT_GT(tally.messages, 100u);
  EXPECT_GT(tally.complaints, 0u);
  EXPECT_GT(tally.autoreplies, 0u);
  EXPECT_GT(suppress_events.size(), 30u);
  EXPECT_GT(soft_events, 0u);
  EXPECT_EQ(tally.messages, dry.tally().messages);
  EXPECT_EQ(tally.bounces, dry.tally().bounces);
  // Every suppressing finding of the dry run is an entry (or a repeat, or no address at all).
  absl::StatusOr<std::unique_ptr<SuppressionStore>> store = SuppressionStore::open(db, {}, false);
  ASSERT_TRUE(store.ok());
  std::uint64_t entries = 0;
  std::uint64_t soft_rows = *(*store)->soft_bounce_rows();
  ASSERT_TRUE((*store)
                  ->list([&](const SuppressionEntry&) {
                    ++entries;
                    return true;
                  })
                  .ok());
  EXPECT_EQ(entries, tally.suppressed);
  EXPECT_EQ(tally.suppressed + tally.already_suppressed + tally.soft_counted + tally.invalid,
            dry.tally().suppressed + dry.tally().soft_counted);
  EXPECT_LE(soft_rows, tally.soft_counted);
  for (const std::string& address : suppress_events) {
    std::string key, error;
    if (!normalize_suppression_key(address, key, error)) continue;  // counted as invalid
    EXPECT_TRUE((*(*store)->find(key)).has_value()) << address;
  }
}

}  // namespace
}  // namespace hayate::campaign
