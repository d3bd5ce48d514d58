// Tests of campaign/bounce/recording: the "reason"/"hard" fields of deliveries.jsonl lines, the
// per-reason counts of the summary, domains.csv and the stderr line; which bounces reach the
// suppression list, deliveries.jsonl read back (escapes, torn and foreign lines), and a run's
// recorder across a kill and a rotated log.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/bounce/classify.h"
#include "campaign/bounce/recording.h"
#include "campaign/output/delivery_log.h"
#include "campaign/output/domain_report.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign {
namespace {

using bounce::Reason;

// Lines DeliveryLog writes, read back from a temporary file.
std::string logged_lines(const OutcomeRecord* records, std::size_t count) {
  std::string path =
      (std::filesystem::temp_directory_path() / "bounce_recording_test.XXXXXX").string();
  const int fd = mkstemp(path.data());
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
  unlink(path.c_str());
  return text;
}

// The envelope sender, Message-ID, size, source address and TLS of an attempt, each only when
// known: a plaintext attempt has no tls_ keys, a refused input row none of them.
TEST(DeliveryLogFields, ConnectionAndMessageKeysOnlyWhenKnown) {
  OutcomeRecord records[3];
  records[0].type = OutcomeType::delivered;
  records[0].recipient = "alice@d.test";
  records[0].domain = "d.test";
  records[0].envelope_from = "bounces+aaaq@bounces.test";
  records[0].message_id = "<news.1.00000000deadbeef@example.com>";
  records[0].size_bytes = 1834;
  records[0].mx = "mx.d.test (192.0.2.25:25)";
  records[0].source_ip = "192.0.2.10";
  records[0].tls_version = "TLSv1.3";
  records[0].tls_cipher = "TLS_AES_256_GCM_SHA384";
  records[0].code = 250;
  records[0].stage = Stage::body;
  records[0].attempt = 1;
  records[0].latency_ms = 12;
  records[0].line = 2;
  records[1] = records[0];
  records[1].tls_version = records[1].tls_cipher = "";
  records[2].type = OutcomeType::rejected;
  records[2].recipient = "bad";
  records[2].reply = "invalid address";
  records[2].stage = Stage::input;
  records[2].line = 3;
  const std::string text = logged_lines(records, 3);
  std::vector<std::string_view> lines;
  for (std::string_view rest = text; !rest.empty();) {
    const std::size_t end = rest.find('\n');
    ASSERT_NE(end, std::string_view::npos);
    const std::string_view line = rest.substr(0, end);
    lines.push_back(line.substr(line.find(",\"type\"")));  // the time varies
    rest.remove_prefix(end + 1);
  }
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(
      lines[0],
      R"(,"type":"delivered","recipient":"alice@d.test","domain":"d.test",)"
      R"("envelope_from":"bounces+aaaq@bounces.test",)"
      R"("message_id":"<news.1.00000000deadbeef@example.com>","size":1834,)"
      R"j("mx":"mx.d.test (192.0.2.25:25)","source_ip":"192.0.2.10","tls_version":"TLSv1.3",)j"
      R"("tls_cipher":"TLS_AES_256_GCM_SHA384","code":250,"enhanced":"","reply":"",)"
      R"("stage":"body","attempt":1,"latency_ms":12,"line":2,"final":true})");
  EXPECT_EQ(lines[1].find("tls_"), std::string_view::npos);
  EXPECT_NE(lines[1].find(R"("source_ip":"192.0.2.10","code":250)"), std::string_view::npos);
  EXPECT_EQ(lines[2],
            R"(,"type":"rejected","recipient":"bad","domain":"","mx":"","code":0,"enhanced":"",)"
            R"("reply":"invalid address","stage":"input","attempt":0,"latency_ms":null,)"
            R"("line":3,"final":true})");
}

TEST(DeliveryLogFields, ReasonAndHardOnFailuresOnly) {
  OutcomeRecord records[3];
  records[0].type = OutcomeType::bounced;
  records[0].recipient = "bounce1@d.test";
  records[0].code = 550;
  records[0].enhanced = smtp::EnhancedCode{5, 1, 1};
  records[0].reply = "User unknown";
  records[0].stage = Stage::rcpt;
  records[0].classified = true;
  records[0].reason = Reason::userunknown;
  records[0].hard = true;
  records[0].attempt = 1;
  records[1] = records[0];
  records[1].type = OutcomeType::deferred;
  records[1].classified = true;
  records[1].reason = Reason::mailboxfull;
  records[1].hard = false;
  records[1].final = false;
  records[2].type = OutcomeType::delivered;
  records[2].recipient = "ok@d.test";
  records[2].code = 250;
  records[2].stage = Stage::body;
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

OutcomeRecord bounced(std::string_view domain, std::string_view reason) {
  OutcomeRecord record;
  record.type = OutcomeType::bounced;
  record.domain = domain;
  record.stage = Stage::rcpt;
  // A word that is no reason: a bounce without one (counted, no reason).
  const std::optional<Reason> parsed = bounce::parse_reason(reason);
  record.classified = parsed.has_value();
  record.reason = parsed.value_or(Reason::undefined);
  return record;
}

TEST(DomainReportReasons, PerDomainTotalsMergeAndCsv) {
  DomainReport shard_one;
  shard_one.add(bounced("a.test", "userunknown"));
  shard_one.add(bounced("a.test", "userunknown"));
  shard_one.add(bounced("a.test", "mailboxfull"));
  OutcomeRecord deferred = bounced("a.test", "mailboxfull");
  deferred.type = OutcomeType::deferred;  // a retry: not a bounce
  deferred.final = false;
  shard_one.add(deferred);
  OutcomeRecord delivered;
  delivered.domain = "c.test";
  delivered.stage = Stage::body;
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

TEST(SuppressionEvents, WhichBouncesCount) {
  EXPECT_TRUE(is_suppression_event(OutcomeType::bounced, Reason::userunknown, true));
  EXPECT_TRUE(is_suppression_event(OutcomeType::bounced, Reason::mailboxfull, false));
  EXPECT_TRUE(is_suppression_event(OutcomeType::bounced, Reason::expired, false));
  EXPECT_TRUE(is_suppression_event(OutcomeType::bounced, Reason::suspend, false));
  // About us or the message: never against the address.
  EXPECT_FALSE(is_suppression_event(OutcomeType::bounced, Reason::blocked, false));
  EXPECT_FALSE(is_suppression_event(OutcomeType::bounced, Reason::contenterror, false));
  EXPECT_FALSE(is_suppression_event(OutcomeType::bounced, Reason::badreputation, false));
  EXPECT_FALSE(is_suppression_event(OutcomeType::bounced, Reason::ratelimited, false));
  // A hard verdict decides alone; a deferral never counts.
  EXPECT_TRUE(is_suppression_event(OutcomeType::bounced, Reason::blocked, true));
  EXPECT_FALSE(is_suppression_event(OutcomeType::deferred, Reason::userunknown, true));
  EXPECT_FALSE(is_suppression_event(OutcomeType::delivered, Reason::userunknown, true));
  // Every failure reason is decided one way or the other; the others are never events.
  std::size_t counted = 0;
  for (std::size_t i = 0; i < bounce::reason_count; ++i) {
    const auto reason = static_cast<Reason>(i);
    if (counts_against_recipient(reason)) {
      ++counted;
      EXPECT_TRUE(bounce::is_failure(reason)) << bounce::to_string(reason);
    }
  }
  EXPECT_EQ(counted, 15u);
}

TEST(DeliveryLine, ReadsWhatDeliveryLogWrites) {
  OutcomeRecord record;
  record.type = OutcomeType::bounced;
  record.recipient = "b\"o\\u\xC3\xA9@d.test";  // a quote, a backslash, UTF-8
  record.domain = "d.test";
  record.code = 550;
  record.enhanced = smtp::EnhancedCode{5, 1, 1};
  record.reply = "User unknown\r\n\x01}{,";
  record.stage = Stage::rcpt;
  record.classified = true;
  record.reason = Reason::userunknown;
  record.hard = true;
  record.attempt = 2;
  const std::string text = logged_lines(&record, 1);
  ASSERT_FALSE(text.empty());
  DeliveryLine line;
  ASSERT_TRUE(parse_delivery_line(std::string_view(text).substr(0, text.size() - 1), line)) << text;
  EXPECT_EQ(line.type, "bounced");
  EXPECT_EQ(line.recipient, "b\"o\\u\xC3\xA9@d.test");
  EXPECT_EQ(line.bounce_reason, "userunknown");
  EXPECT_TRUE(line.hard);
  EXPECT_TRUE(line.final);
  EXPECT_NEAR(static_cast<double>(line.time_unix_s), static_cast<double>(time(nullptr)), 5);

  ASSERT_TRUE(parse_delivery_line(
      R"({"time":"2026-11-03T14:05:09.123Z","type":"deferred","recipient":"a\u00e9\/b@x",)"
      R"("code":451,"latency_ms":null,"final":false})",
      line));
  EXPECT_EQ(line.recipient, "a\xC3\xA9/b@x");
  EXPECT_EQ(line.time_unix_s, 1'793'714'709);
  EXPECT_FALSE(line.final);
  EXPECT_FALSE(line.hard);
  EXPECT_TRUE(line.bounce_reason.empty());

  for (const std::string_view bad : {
           R"({"time":"2026-11-03T14:05:09.123Z","type":"bounced","recip)",  // torn by a kill
           R"({"type":"bounced"})",                                          // no recipient
           R"({"type":"bounced","recipient":"a@b"} trailing)",
           R"({"type":"bounced","recipient":"a@b","x":{"nested":1}})",
           R"({"type":"bounced","recipient":"a\q@b"})",  // not a JSON escape
           R"({"type":"bounced","recipient":"a\u12"})",
           R"({"type":"bounced","recipient":"a@b","time":"yesterday"})",
           "",
           "not json",
           "[1,2]",
           "{",
       }) {
    EXPECT_FALSE(parse_delivery_line(bad, line)) << bad;
  }
}

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "hayate_bounce_recording_XXXXXX").string();
    HAYATE_ASSERT(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  // The directory, opened as a run opens its output directory.
  Directory opened() const {
    absl::StatusOr<Directory> directory = Directory::open(path_);
    HAYATE_ASSERT(directory.ok());
    return std::move(*directory);
  }
  std::string file(std::string_view name) const { return cat(path_, "/", name); }
  void append(std::string_view name, std::string_view content) const {
    std::ofstream out(file(name), std::ios::binary | std::ios::app);
    out << content;
  }
  bool exists(std::string_view name) const { return std::filesystem::exists(file(name)); }

 private:
  std::string path_;
};

std::string bounce_line(std::string_view recipient, std::string_view reason, bool hard,
                        std::string_view time = "2026-11-03T14:05:09.000Z") {
  return cat(R"({"time":")", time, R"(","type":"bounced","recipient":")", recipient,
             R"(","domain":"d.test","mx":"","code":550,"enhanced":"","reply":"x","stage":"rcpt",)",
             R"("reason":")", reason, R"(","hard":)", hard ? "true" : "false",
             R"(,"attempt":1,"latency_ms":3,"line":2,"final":true})", "\n");
}

TEST(ReadBounceEvents, FromAnOffsetSkippingWhatIsNotABounce) {
  TempDir dir;
  const std::string first = bounce_line("early@d.test", "userunknown", true);
  dir.append("deliveries.jsonl", first);
  dir.append("deliveries.jsonl", bounce_line("hard@d.test", "userunknown", true));
  dir.append("deliveries.jsonl", bounce_line("full@d.test", "mailboxfull", false));
  dir.append("deliveries.jsonl", bounce_line("blocked@d.test", "blocked", false));
  dir.append("deliveries.jsonl", bounce_line("odd@d.test", "no-such-reason", true));
  dir.append("deliveries.jsonl",
             R"({"time":"2026-11-03T14:05:09.000Z","type":"deferred","recipient":"t@d.test",)"
             R"("reason":"mailboxfull","hard":false,"final":true})"
             "\n");
  dir.append("deliveries.jsonl", "garbage from another tool\n");
  // A long line straddles the 1 MiB reads.
  dir.append("deliveries.jsonl",
             bounce_line(cat(std::string(1 << 20, 'x'), "@d.test"), "userunknown", true));
  dir.append("deliveries.jsonl", bounce_line("torn@d.test", "userunknown", true).substr(0, 60));
  std::vector<BounceEvent> events;
  ASSERT_TRUE(read_bounce_events(dir.file("deliveries.jsonl"), first.size(), events).ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].address, "hard@d.test");
  EXPECT_EQ(events[0].reason, Reason::userunknown);
  EXPECT_TRUE(events[0].hard);
  EXPECT_EQ(events[0].time_unix_s, 1'793'714'709);
  EXPECT_EQ(events[1].address, "full@d.test");
  EXPECT_EQ(events[1].reason, Reason::mailboxfull);
  EXPECT_FALSE(events[1].hard);
  EXPECT_EQ(events[2].address.size(), (1u << 20) + 7);

  events.clear();
  EXPECT_TRUE(read_bounce_events(dir.file("missing.jsonl"), 0, events).ok());
  EXPECT_TRUE(events.empty());
}

TEST(RecordBounceEvents, HardAtOnceSoftByPolicyInvalidCounted) {
  TempDir dir;
  const std::string db = dir.file("list.db");
  absl::StatusOr<RecordTally> tally = record_bounce_events(db, {}, {});
  ASSERT_TRUE(tally.ok());
  EXPECT_FALSE(dir.exists("list.db")) << "nothing to record: no list is created";
  constexpr std::int64_t t0 = 1'790'000'000;
  const std::vector<BounceEvent> events = {
      {"gone@d.test", Reason::userunknown, true, t0},
      {"full@d.test", Reason::mailboxfull, false, t0},
      {"full@d.test", Reason::mailboxfull, false, t0 + 3600},
      {"gone@d.test", Reason::userunknown, true, t0 + 60},
      {"not an address", Reason::userunknown, true, t0},
  };
  tally = record_bounce_events(db, SuppressionPolicy{2, 7}, events);
  ASSERT_TRUE(tally.ok()) << tally.status();
  EXPECT_EQ(tally->events, 5u);
  EXPECT_EQ(tally->suppressed, 2u);  // gone at once, full at its second soft bounce
  EXPECT_EQ(tally->soft_counted, 1u);
  EXPECT_EQ(tally->already_suppressed, 1u);
  EXPECT_EQ(tally->invalid, 1u);
  absl::StatusOr<std::unique_ptr<SuppressionStore>> store = SuppressionStore::open(db, {}, false);
  ASSERT_TRUE(store.ok());
  absl::StatusOr<std::optional<SuppressionEntry>> gone = (*store)->find("gone@d.test");
  ASSERT_TRUE(gone.ok() && gone->has_value());
  EXPECT_EQ((*gone)->reason, "userunknown");
  EXPECT_EQ((*gone)->source, SuppressionSource::bounce);
  EXPECT_EQ((*gone)->count, 2u);
  absl::StatusOr<std::optional<SuppressionEntry>> full = (*store)->find("full@d.test");
  ASSERT_TRUE(full.ok() && full->has_value());
  EXPECT_EQ((*full)->reason, "mailboxfull");
  EXPECT_EQ(*(*store)->count(), 2u);
}

JobConfig job_with_list(const TempDir& dir, bool enabled = true) {
  JobConfig job;
  job.suppression.enabled = enabled;
  job.suppression.path = dir.file("suppression.db");
  return job;
}

std::uint64_t entries(const TempDir& dir) {
  absl::StatusOr<std::unique_ptr<SuppressionStore>> store =
      SuppressionStore::open(dir.file("suppression.db"), {}, false);
  if (!store.ok()) return 0;
  return *(*store)->count();
}

TEST(RunBounceRecorder, KeptEventsRecordedAndTheMarkerRemoved) {
  TempDir dir;
  dir.append("deliveries.jsonl", bounce_line("earlier@d.test", "userunknown", true));
  RunBounceRecorder recorder(job_with_list(dir), dir.opened());
  EXPECT_TRUE(recorder.begin().empty());
  ASSERT_TRUE(dir.exists("bounces.pending"));
  std::ifstream marker(dir.file("bounces.pending"));
  std::uint64_t offset = 0, inode = 0;
  marker >> offset >> inode;
  struct stat info {};
  ASSERT_EQ(stat(dir.file("deliveries.jsonl").c_str(), &info), 0);
  EXPECT_EQ(offset, static_cast<std::uint64_t>(info.st_size));  // this run's lines start here
  EXPECT_EQ(inode, static_cast<std::uint64_t>(info.st_ino));
  recorder.add({{"a@d.test", Reason::userunknown, true, 100}}, true);
  recorder.add({{"b@d.test", Reason::hostunknown, true, 100}}, true);
  std::vector<std::string> warnings;
  absl::StatusOr<RecordTally> tally = recorder.finish(warnings);
  ASSERT_TRUE(tally.ok()) << tally.status();
  EXPECT_EQ(tally->suppressed, 2u);
  EXPECT_TRUE(warnings.empty());
  EXPECT_FALSE(dir.exists("bounces.pending"));
  EXPECT_EQ(entries(dir), 2u);  // never the earlier run's line: that run recorded it
}

TEST(RunBounceRecorder, AKilledRunsBouncesAreRecordedByTheNext) {
  TempDir dir;
  dir.append("deliveries.jsonl", bounce_line("before@d.test", "userunknown", true));
  {
    RunBounceRecorder killed(job_with_list(dir), dir.opened());
    EXPECT_TRUE(killed.begin().empty());
    dir.append("deliveries.jsonl", bounce_line("k1@d.test", "userunknown", true));
    dir.append("deliveries.jsonl", bounce_line("k2@d.test", "suspend", false));
    // Killed: finish() never runs.
  }
  ASSERT_TRUE(dir.exists("bounces.pending"));
  EXPECT_FALSE(dir.exists("suppression.db"));
  RunBounceRecorder next(job_with_list(dir), dir.opened());
  const std::vector<std::string> notes = next.begin();
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0],
            "recorded 2 bounces an earlier run left off the suppression list "
            "(1 suppressed)");
  EXPECT_EQ(entries(dir), 1u);  // k1; k2's soft bounce is counted, not yet suppressing
  absl::StatusOr<std::unique_ptr<SuppressionStore>> store =
      SuppressionStore::open(dir.file("suppression.db"), {}, false);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->soft_bounce_rows(), 1u);
  EXPECT_FALSE((*(*store)->find("before@d.test")).has_value());
  std::vector<std::string> warnings;
  ASSERT_TRUE(next.finish(warnings).ok());
  EXPECT_FALSE(dir.exists("bounces.pending"));
}

TEST(RunBounceRecorder, AShardThatDroppedEventsMakesTheRunReadItsLinesBack) {
  TempDir dir;
  dir.append("deliveries.jsonl", bounce_line("before@d.test", "userunknown", true));
  RunBounceRecorder recorder(job_with_list(dir), dir.opened());
  recorder.begin();
  dir.append("deliveries.jsonl", bounce_line("r1@d.test", "userunknown", true));
  dir.append("deliveries.jsonl", bounce_line("r2@d.test", "hasmoved", true));
  recorder.add({{"r1@d.test", Reason::userunknown, true, 100}}, true);
  recorder.add({}, false);  // over limits::bounce_events_held_max
  std::vector<std::string> warnings;
  absl::StatusOr<RecordTally> tally = recorder.finish(warnings);
  ASSERT_TRUE(tally.ok());
  EXPECT_EQ(tally->events, 2u);
  EXPECT_EQ(tally->suppressed, 2u);
  EXPECT_EQ(entries(dir), 2u);
}

TEST(RunBounceRecorder, ARotatedLogIsReadFromItsStart) {
  TempDir dir;
  dir.append("deliveries.jsonl", bounce_line("old1@d.test", "userunknown", true));
  dir.append("deliveries.jsonl", bounce_line("old2@d.test", "userunknown", true));
  {
    RunBounceRecorder killed(job_with_list(dir), dir.opened());
    killed.begin();
  }
  // logrotate moved the file away; the run went on into a new one, then was killed.
  std::filesystem::rename(dir.file("deliveries.jsonl"), dir.file("deliveries.jsonl.1"));
  dir.append("deliveries.jsonl", bounce_line("new@d.test", "userunknown", true));
  RunBounceRecorder next(job_with_list(dir), dir.opened());
  const std::vector<std::string> notes = next.begin();
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_NE(notes[0].find("was rotated"), std::string::npos) << notes[0];
  EXPECT_EQ(entries(dir), 1u);
}

// A link planted as the marker is neither read nor written through: the run says so and goes
// on, and the file it points to keeps its bytes.
TEST(RunBounceRecorder, NeverFollowsALinkPlantedAsTheMarker) {
  TempDir dir;
  dir.append("precious", "keep me\n");
  std::filesystem::create_symlink(dir.file("precious"), dir.file("bounces.pending"));
  RunBounceRecorder recorder(job_with_list(dir), dir.opened());
  const std::vector<std::string> notes = recorder.begin();
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_NE(notes[0].find(dir.file("bounces.pending") + " is a symbolic link"), std::string::npos)
      << notes[0];
  EXPECT_NE(notes[1].find("if this run is killed, its bounces are lost"), std::string::npos)
      << notes[1];
  std::ifstream precious(dir.file("precious"));
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(precious), {}), "keep me\n");
  EXPECT_TRUE(std::filesystem::is_symlink(dir.file("bounces.pending")));
}

TEST(RunBounceRecorder, NothingWhenTheListIsOff) {
  TempDir dir;
  RunBounceRecorder recorder(job_with_list(dir, false), dir.opened());
  EXPECT_FALSE(recorder.enabled());
  EXPECT_TRUE(recorder.begin().empty());
  recorder.add({{"a@d.test", Reason::userunknown, true, 100}}, true);
  std::vector<std::string> warnings;
  ASSERT_TRUE(recorder.finish(warnings).ok());
  EXPECT_FALSE(dir.exists("bounces.pending"));
  EXPECT_FALSE(dir.exists("suppression.db"));
}

TEST(RunBounceRecorder, AListThatCannotBeWrittenKeepsTheMarker) {
  TempDir dir;
  JobConfig job = job_with_list(dir);
  dir.append("not-a-list.db", "this is not a database, and long enough to be read as one....\n");
  job.suppression.path = dir.file("not-a-list.db");
  RunBounceRecorder recorder(job, dir.opened());
  recorder.begin();
  recorder.add({{"a@d.test", Reason::userunknown, true, 100}}, true);
  std::vector<std::string> warnings;
  EXPECT_FALSE(recorder.finish(warnings).ok());
  EXPECT_TRUE(dir.exists("bounces.pending"));
}

}  // namespace
}  // namespace hayate::campaign
