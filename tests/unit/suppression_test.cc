// Tests of campaign/suppression: key normalization, the policy with explicit times (hard
// bounces, complaints and unsubscribes at once; soft bounces N within M days, at the window's
// edges), domain entries, merging, batches, CSV import errors with their line numbers, export
// and re-import, schema checks, two processes writing one WAL database, and the Bloom filter.
#include "campaign/bounce/suppression.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign {
namespace {

constexpr std::int64_t day_s = 86'400;
constexpr std::int64_t t0 = 1'790'000'000;  // 2026-09-21T14:13:20Z

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "hayate_suppression_XXXXXX").string();
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

std::unique_ptr<SuppressionStore> open_store(const std::string& path,
                                             SuppressionPolicy policy = {}) {
  absl::StatusOr<std::unique_ptr<SuppressionStore>> store = SuppressionStore::open(path, policy);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

EventOutcome record(SuppressionStore& store, std::string_view address, SuppressionSource source,
                    bool hard, std::int64_t time_s, std::string_view reason = "userunknown") {
  absl::StatusOr<EventOutcome> outcome =
      store.record_event(SuppressionEvent{address, reason, source, hard, time_s});
  EXPECT_TRUE(outcome.ok()) << outcome.status();
  return outcome.ok() ? *outcome : EventOutcome::soft_counted;
}

std::optional<SuppressionEntry> check(SuppressionStore& store, std::string_view address) {
  SuppressionEntry entry;
  absl::StatusOr<bool> found = store.is_suppressed(address, entry);
  EXPECT_TRUE(found.ok()) << found.status();
  if (!found.ok() || !*found) return std::nullopt;
  return entry;
}

TEST(SuppressionKey, Normalization) {
  std::string key, error;
  ASSERT_TRUE(normalize_suppression_key("John.Smith@Example.COM", key, error)) << error;
  EXPECT_EQ(key, "John.Smith@example.com");  // local part as given, domain lower-cased
  ASSERT_TRUE(normalize_suppression_key("  user@bücher.example ", key, error)) << error;
  EXPECT_EQ(key, "user@xn--bcher-kva.example");
  ASSERT_TRUE(normalize_suppression_key("@Example.ORG", key, error)) << error;
  EXPECT_EQ(key, "@example.org");
  ASSERT_TRUE(normalize_suppression_key("@BÜCHER.example", key, error)) << error;
  EXPECT_EQ(key, "@xn--bcher-kva.example");
  ASSERT_TRUE(normalize_suppression_key("\"john\"@x.example", key, error)) << error;
  EXPECT_EQ(key, "john@x.example");

  for (std::string_view bad : std::initializer_list<std::string_view>{
           "", "@", "no-at-sign", "@nodot", "a@b@c.example", "@@x.example", "a b@x.example",
           "a@exa_mple.com", std::string_view("a\0@x.example", 12), "a\r\n@x.example",
           "@x.example\n"}) {
    error.clear();
    EXPECT_FALSE(normalize_suppression_key(bad, key, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  error.clear();
  EXPECT_FALSE(normalize_suppression_key("@exa_mple.com", key, error));
  EXPECT_EQ(error.rfind("invalid domain: ", 0), 0u) << error;
}

TEST(SuppressionSourceNames, RoundTrip) {
  for (SuppressionSource source :
       {SuppressionSource::bounce, SuppressionSource::complaint, SuppressionSource::unsubscribe,
        SuppressionSource::import, SuppressionSource::manual}) {
    SuppressionSource parsed = SuppressionSource::manual;
    ASSERT_TRUE(parse_suppression_source(suppression_source_name(source), parsed));
    EXPECT_EQ(parsed, source);
  }
  SuppressionSource parsed;
  EXPECT_TRUE(parse_suppression_source("Complaint", parsed));
  EXPECT_EQ(parsed, SuppressionSource::complaint);
  EXPECT_FALSE(parse_suppression_source("spam", parsed));
  EXPECT_FALSE(parse_suppression_source("", parsed));
}

TEST(SuppressionPolicyTest, HardBounceComplaintUnsubscribeSuppressAtOnce) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(record(*store, "hard@example.com", SuppressionSource::bounce, true, t0),
            EventOutcome::suppressed);
  EXPECT_EQ(record(*store, "fbl@example.com", SuppressionSource::complaint, false, t0, "abuse"),
            EventOutcome::suppressed);  // `hard` is only read for bounces
  EXPECT_EQ(record(*store, "bye@example.com", SuppressionSource::unsubscribe, false, t0, "list"),
            EventOutcome::suppressed);

  std::optional<SuppressionEntry> entry = check(*store, "hard@example.com");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->address, "hard@example.com");
  EXPECT_EQ(entry->reason, "userunknown");
  EXPECT_EQ(entry->source, SuppressionSource::bounce);
  EXPECT_EQ(entry->first_seen_unix_s, t0);
  EXPECT_EQ(entry->last_seen_unix_s, t0);
  EXPECT_EQ(entry->count, 1u);
  entry = check(*store, "fbl@example.com");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->source, SuppressionSource::complaint);
  EXPECT_EQ(entry->reason, "abuse");
  EXPECT_FALSE(check(*store, "other@example.com").has_value());
  EXPECT_FALSE(check(*store, "Hard@example.com").has_value());  // another mailbox
  EXPECT_EQ(*store->count(), 3u);
  EXPECT_EQ(*store->soft_bounce_rows(), 0u);
}

TEST(SuppressionPolicyTest, SoftBouncesSuppressAfterThreeWithinSevenDays) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));  // defaults: 3 within 7 days
  ASSERT_NE(store, nullptr);
  const std::string_view who = "full@example.com";
  EXPECT_EQ(record(*store, who, SuppressionSource::bounce, false, t0, "mailboxfull"),
            EventOutcome::soft_counted);
  EXPECT_EQ(record(*store, who, SuppressionSource::bounce, false, t0 + day_s, "mailboxfull"),
            EventOutcome::soft_counted);
  EXPECT_FALSE(check(*store, who).has_value());
  EXPECT_EQ(*store->soft_bounce_rows(), 2u);
  EXPECT_EQ(record(*store, who, SuppressionSource::bounce, false, t0 + 2 * day_s, "systemfull"),
            EventOutcome::suppressed);
  std::optional<SuppressionEntry> entry = check(*store, who);
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->reason, "systemfull");  // the event that decided it
  EXPECT_EQ(entry->source, SuppressionSource::bounce);
  EXPECT_EQ(entry->first_seen_unix_s, t0);
  EXPECT_EQ(entry->last_seen_unix_s, t0 + 2 * day_s);
  EXPECT_EQ(entry->count, 3u);
  EXPECT_EQ(*store->soft_bounce_rows(), 0u);  // history no longer needed

  // Once suppressed, a soft bounce counts but keeps the reason; a later hard one replaces it.
  EXPECT_EQ(record(*store, who, SuppressionSource::bounce, false, t0 + 3 * day_s, "mailboxfull"),
            EventOutcome::already_suppressed);
  entry = check(*store, who);
  EXPECT_EQ(entry->reason, "systemfull");
  EXPECT_EQ(entry->count, 4u);
  EXPECT_EQ(entry->last_seen_unix_s, t0 + 3 * day_s);
  EXPECT_EQ(record(*store, who, SuppressionSource::bounce, true, t0 + 4 * day_s, "userunknown"),
            EventOutcome::already_suppressed);
  entry = check(*store, who);
  EXPECT_EQ(entry->reason, "userunknown");
  EXPECT_EQ(entry->count, 5u);
  EXPECT_EQ(entry->first_seen_unix_s, t0);
  EXPECT_EQ(*store->soft_bounce_rows(), 0u);
}

TEST(SuppressionPolicyTest, SoftBounceWindowEdges) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  ASSERT_NE(store, nullptr);
  // Exactly seven days apart is outside the window: last - first must be under 7 days.
  const std::string_view a = "a@example.com";
  EXPECT_EQ(record(*store, a, SuppressionSource::bounce, false, t0), EventOutcome::soft_counted);
  EXPECT_EQ(record(*store, a, SuppressionSource::bounce, false, t0 + 3 * day_s),
            EventOutcome::soft_counted);
  EXPECT_EQ(record(*store, a, SuppressionSource::bounce, false, t0 + 7 * day_s),
            EventOutcome::soft_counted);  // t0 dropped: two left
  EXPECT_EQ(*store->soft_bounce_rows(), 2u);
  EXPECT_EQ(record(*store, a, SuppressionSource::bounce, false, t0 + 7 * day_s + 1),
            EventOutcome::suppressed);
  EXPECT_EQ(check(*store, a)->first_seen_unix_s, t0 + 3 * day_s);

  // One second under seven days: inside.
  const std::string_view b = "b@example.com";
  EXPECT_EQ(record(*store, b, SuppressionSource::bounce, false, t0), EventOutcome::soft_counted);
  EXPECT_EQ(record(*store, b, SuppressionSource::bounce, false, t0 + 1),
            EventOutcome::soft_counted);
  EXPECT_EQ(record(*store, b, SuppressionSource::bounce, false, t0 + 7 * day_s - 1),
            EventOutcome::suppressed);

  // Spread out forever: never suppressed, and the history stays small.
  const std::string_view c = "c@example.com";
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(record(*store, c, SuppressionSource::bounce, false, t0 + i * 4 * day_s),
              EventOutcome::soft_counted);
  }
  EXPECT_FALSE(check(*store, c).has_value());
  EXPECT_EQ(*store->soft_bounce_rows(), 2u);  // c's last two (4 days apart)

  // Out of order (an old mailbox ingested late): counted when inside the latest's window.
  const std::string_view d = "d@example.com";
  EXPECT_EQ(record(*store, d, SuppressionSource::bounce, false, t0 + 5 * day_s),
            EventOutcome::soft_counted);
  EXPECT_EQ(record(*store, d, SuppressionSource::bounce, false, t0 - 30 * day_s),
            EventOutcome::soft_counted);  // dropped at once
  EXPECT_EQ(record(*store, d, SuppressionSource::bounce, false, t0 + day_s),
            EventOutcome::soft_counted);
  EXPECT_EQ(record(*store, d, SuppressionSource::bounce, false, t0 + 2 * day_s),
            EventOutcome::suppressed);
  EXPECT_EQ(check(*store, d)->first_seen_unix_s, t0 + day_s);
  EXPECT_EQ(check(*store, d)->last_seen_unix_s, t0 + 5 * day_s);
}

TEST(SuppressionPolicyTest, ConfigurableThreshold) {
  TempDir dir;
  {
    auto store = open_store(dir.file("one.db"), SuppressionPolicy{1, 1});
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(record(*store, "x@example.com", SuppressionSource::bounce, false, t0),
              EventOutcome::suppressed);
  }
  auto store = open_store(dir.file("five.db"), SuppressionPolicy{5, 30});
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(record(*store, "y@example.com", SuppressionSource::bounce, false, t0 + i * 6 * day_s),
              EventOutcome::soft_counted);
  }
  EXPECT_EQ(record(*store, "y@example.com", SuppressionSource::bounce, false, t0 + 29 * day_s),
            EventOutcome::suppressed);
  EXPECT_EQ(check(*store, "y@example.com")->count, 5u);
}

TEST(SuppressionPolicyTest, EventsNormalizeAndRefuseBadAddresses) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(record(*store, "Mixed@BÜCHER.Example", SuppressionSource::bounce, true, t0),
            EventOutcome::suppressed);
  EXPECT_TRUE(check(*store, "Mixed@xn--bcher-kva.example").has_value());
  absl::StatusOr<EventOutcome> bad = store->record_event(
      SuppressionEvent{"not an address", "x", SuppressionSource::bounce, true, t0});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("not an address"), std::string_view::npos);
  // Hostile reasons: control bytes become spaces, and they are cut at 1000 bytes on a
  // character boundary.
  std::string reason = "line1\r\nline2\x1b[31m";
  for (int i = 0; i < 600; ++i) reason += "é";
  ASSERT_TRUE(store
                  ->record_event(SuppressionEvent{"r@example.com", reason,
                                                  SuppressionSource::bounce, true, t0})
                  .ok());
  const std::string stored = check(*store, "r@example.com")->reason;
  EXPECT_EQ(stored.substr(0, 17), "line1  line2 [31m");
  EXPECT_LE(stored.size(), suppression_reason_bytes_max);
  EXPECT_GE(stored.size(), suppression_reason_bytes_max - 1);
  EXPECT_EQ(stored.substr(stored.size() - 2), "é");
}

TEST(SuppressionDomains, DomainEntriesCoverEveryAddressOfTheDomain) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(record(*store, "@Gone.Example", SuppressionSource::bounce, true, t0, "hostunknown"),
            EventOutcome::suppressed);
  std::optional<SuppressionEntry> entry = check(*store, "anyone@gone.example");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->address, "@gone.example");
  EXPECT_EQ(entry->reason, "hostunknown");
  EXPECT_FALSE(check(*store, "a@sub.gone.example").has_value());  // exact domain only
  EXPECT_FALSE(check(*store, "a@notgone.example").has_value());
  EXPECT_FALSE(check(*store, "gone.example@example.com").has_value());

  // The address's own entry wins over its domain's.
  ASSERT_TRUE(record(*store, "vip@gone.example", SuppressionSource::complaint, true, t0 + 5) ==
              EventOutcome::suppressed);
  entry = check(*store, "vip@gone.example");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->address, "vip@gone.example");
  EXPECT_EQ(entry->source, SuppressionSource::complaint);

  // Removing the domain leaves the address entry.
  EXPECT_TRUE(*store->remove("@gone.example"));
  EXPECT_FALSE(*store->remove("@gone.example"));
  EXPECT_FALSE(check(*store, "anyone@gone.example").has_value());
  EXPECT_TRUE(check(*store, "vip@gone.example").has_value());
}

TEST(SuppressionStoreTest, AddMergesAndRemoveForgetsHistory) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  ASSERT_NE(store, nullptr);
  SuppressionEntry entry{"m@example.com", "first", SuppressionSource::manual, t0, t0 + 10, 2};
  ASSERT_TRUE(store->add(entry).ok());
  // An older import: times widen, reason and source stay (they are the later ones).
  ASSERT_TRUE(store
                  ->add(SuppressionEntry{"m@example.com", "old", SuppressionSource::import,
                                         t0 - 100, t0 - 50, 7})
                  .ok());
  std::optional<SuppressionEntry> found = *store->find("m@example.com");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->reason, "first");
  EXPECT_EQ(found->source, SuppressionSource::manual);
  EXPECT_EQ(found->first_seen_unix_s, t0 - 100);
  EXPECT_EQ(found->last_seen_unix_s, t0 + 10);
  EXPECT_EQ(found->count, 7u);
  // The same entry again changes nothing.
  ASSERT_TRUE(store->add(*found).ok());
  EXPECT_EQ(store->find("m@example.com")->value().count, 7u);

  // Soft history is cleared by remove(): the address starts again from zero.
  record(*store, "s@example.com", SuppressionSource::bounce, false, t0);
  record(*store, "s@example.com", SuppressionSource::bounce, false, t0 + 1);
  EXPECT_EQ(*store->soft_bounce_rows(), 2u);
  EXPECT_TRUE(*store->remove("s@example.com"));  // history only: still "something removed"
  EXPECT_EQ(*store->soft_bounce_rows(), 0u);
  EXPECT_EQ(record(*store, "s@example.com", SuppressionSource::bounce, false, t0 + 2),
            EventOutcome::soft_counted);
  EXPECT_FALSE(*store->remove("never@example.com"));
}

TEST(SuppressionStoreTest, BatchCommitsOnceAndRollsBackWhenDropped) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  ASSERT_NE(store, nullptr);
  {
    absl::StatusOr<SuppressionStore::Batch> batch = store->begin_batch();
    ASSERT_TRUE(batch.ok()) << batch.status();
    for (int i = 0; i < 1000; ++i) {
      ASSERT_TRUE(batch
                      ->record_event(SuppressionEvent{cat("u", i, "@example.com"), "userunknown",
                                                      SuppressionSource::bounce, true, t0 + i})
                      .ok());
    }
    ASSERT_TRUE(batch->commit().ok());
  }
  EXPECT_EQ(*store->count(), 1000u);
  {
    absl::StatusOr<SuppressionStore::Batch> batch = store->begin_batch();
    ASSERT_TRUE(batch.ok());
    ASSERT_TRUE(batch
                    ->record_event(SuppressionEvent{"lost@example.com", "x",
                                                    SuppressionSource::bounce, true, t0})
                    .ok());
  }  // dropped without commit
  EXPECT_EQ(*store->count(), 1000u);
  EXPECT_FALSE(check(*store, "lost@example.com").has_value());
  // The store works on after both.
  EXPECT_EQ(record(*store, "after@example.com", SuppressionSource::manual, true, t0),
            EventOutcome::suppressed);
}

TEST(SuppressionImport, HeaderColumnsBadRowsWithLineNumbers) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  ASSERT_NE(store, nullptr);
  const std::string csv =
      dir.write("list.csv",
                "Email,name,reason,source,first_seen,last_seen,count\n"              // 1
                "ok1@Example.com,Ann,userunknown,bounce,2026-11-03T14:05:09Z,,\n"    // 2
                "not-an-address,Bob,,,,,\n"                                          // 3
                "ok2@example.com,\"Smith, \"\"J\"\"\nsecond line\",,complaint,,,\n"  // 4-5
                "ok3@example.com,Cy,x,spam,,,\n"                                     // 6
                "ok4@example.com,Di,x,,yesterday,,\n"                                // 7
                "ok5@example.com,Ed,x,,,,0\n"                                        // 8
                "ok6@example.com,Fa,x\n"                                             // 9
                "ok7@example.com,Gu,x,,1790000000,1790000100,4\n"                    // 10
                "bad\"quote@example.com,H,x,,,,\n"                                   // 11
                "\n"                                                                 // 12
                "@Domain.Example,,hostunknown,manual,,,\n"                           // 13
                "ok8@example.com,Ix,x,,1790000100,1790000000,\n");                   // 14
  absl::StatusOr<ImportReport> report = store->import_csv(csv, SuppressionSource::import, t0);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->rows, 11u);
  EXPECT_EQ(report->imported, 4u);
  EXPECT_EQ(report->error_count, 7u);
  ASSERT_EQ(report->errors.size(), 7u);
  EXPECT_EQ(report->errors[0], csv + ":3: address 'not-an-address': missing '@'");
  EXPECT_EQ(report->errors[1],
            csv + ":6: source 'spam' is not one of bounce, complaint, unsubscribe, import, manual");
  EXPECT_EQ(report->errors[2], csv +
                                   ":7: first_seen 'yesterday' is not a time; write "
                                   "2026-11-03T14:05:09Z or unix seconds");
  EXPECT_EQ(report->errors[3], csv + ":8: count '0' is not a number from 1");
  EXPECT_EQ(report->errors[4].rfind(csv + ":9: expected 7 fields, found 3", 0), 0u)
      << report->errors[4];
  EXPECT_EQ(report->errors[5].rfind(csv + ":11: ", 0), 0u) << report->errors[5];
  EXPECT_EQ(report->errors[6], csv + ":14: first_seen is after last_seen");

  std::optional<SuppressionEntry> one = *store->find("ok1@example.com");
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->reason, "userunknown");
  EXPECT_EQ(one->source, SuppressionSource::bounce);
  EXPECT_EQ(one->first_seen_unix_s, 1'793'714'709);
  EXPECT_EQ(one->last_seen_unix_s, 1'793'714'709);  // last_seen defaults to first_seen
  std::optional<SuppressionEntry> two = *store->find("ok2@example.com");
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(two->reason, "imported");
  EXPECT_EQ(two->source, SuppressionSource::complaint);
  EXPECT_EQ(two->first_seen_unix_s, t0);
  EXPECT_EQ(two->count, 1u);
  std::optional<SuppressionEntry> seven = *store->find("ok7@example.com");
  ASSERT_TRUE(seven.has_value());
  EXPECT_EQ(seven->first_seen_unix_s, 1'790'000'000);
  EXPECT_EQ(seven->last_seen_unix_s, 1'790'000'100);
  EXPECT_EQ(seven->count, 4u);
  EXPECT_EQ(seven->source, SuppressionSource::import);  // the default
  EXPECT_TRUE(check(*store, "x@domain.example").has_value());
  EXPECT_EQ(*store->count(), 4u);
}

TEST(SuppressionImport, BareAddressesAndMissingColumn) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  ASSERT_NE(store, nullptr);
  // No header: one address a line, the first one included.
  const std::string bare = dir.write("bare.csv",
                                     "\xEF\xBB\xBF"
                                     "a@example.com\r\nb@example.com\r\n"
                                     "oops\r\n@example.net\r\n");
  absl::StatusOr<ImportReport> report = store->import_csv(bare, SuppressionSource::unsubscribe, t0);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->rows, 4u);
  EXPECT_EQ(report->imported, 3u);
  ASSERT_EQ(report->errors.size(), 1u);
  EXPECT_EQ(report->errors[0], bare + ":3: address 'oops': missing '@'");
  EXPECT_EQ(store->find("a@example.com")->value().source, SuppressionSource::unsubscribe);
  EXPECT_TRUE(check(*store, "z@example.net").has_value());

  const std::string no_column = dir.write("names.csv", "name,city\nAnn,Oslo\n");
  absl::StatusOr<ImportReport> refused =
      store->import_csv(no_column, SuppressionSource::import, t0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(),
            no_column +
                ":1: no 'address' column (columns: name, city); give a header with "
                "'address', or one address per line");
  EXPECT_FALSE(store->import_csv(dir.file("missing.csv"), SuppressionSource::import, t0).ok());
  EXPECT_EQ(*store->count(), 3u);
}

TEST(SuppressionImport, ManyErrorsListedUpToTheLimit) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  ASSERT_NE(store, nullptr);
  std::string content = "address\n";
  for (int i = 0; i < 250; ++i) content += "bad\n";
  content += "good@example.com\n";
  absl::StatusOr<ImportReport> report =
      store->import_csv(dir.write("bad.csv", content), SuppressionSource::import, t0);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->error_count, 250u);
  EXPECT_EQ(report->errors.size(), import_errors_listed_max);
  EXPECT_EQ(report->imported, 1u);
  EXPECT_EQ(report->errors.back(), dir.file("bad.csv") + ":101: address 'bad': missing '@'");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(SuppressionExport, ExactCsvAndReimportChangesNothing) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store
          ->add(SuppressionEntry{"b@example.com", "said \"no\", twice",
                                 SuppressionSource::complaint, 1'793'714'709, 1'793'714'809, 2})
          .ok());
  ASSERT_TRUE(store
                  ->add(SuppressionEntry{"@a.example", "hostunknown", SuppressionSource::bounce, 0,
                                         86'400, 1})
                  .ok());
  const std::string path = dir.file("out.csv");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  absl::StatusOr<std::uint64_t> written = store->export_csv(fd);
  ::close(fd);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 2u);
  // A domain entry starts with '@', which a spreadsheet would take for a formula: guarded.
  const std::string expected =
      "address,reason,source,first_seen,last_seen,count\n"
      "\"'@a.example\",hostunknown,bounce,1970-01-01T00:00:00Z,1970-01-02T00:00:00Z,1\n"
      "b@example.com,\"said \"\"no\"\", twice\",complaint,2026-11-03T14:05:09Z,"
      "2026-11-03T14:06:49Z,2\n";
  EXPECT_EQ(read_file(path), expected);

  // Into a fresh list: the same export comes out; into the same list: nothing changes.
  auto copy = open_store(dir.file("copy.db"));
  ASSERT_NE(copy, nullptr);
  for (SuppressionStore* target : {copy.get(), store.get()}) {
    absl::StatusOr<ImportReport> report = target->import_csv(path, SuppressionSource::import, t0);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->imported, 2u);
    EXPECT_EQ(report->error_count, 0u);
    const std::string again = dir.file("again.csv");
    const int again_fd = ::open(again.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_TRUE(target->export_csv(again_fd).ok());
    ::close(again_fd);
    EXPECT_EQ(read_file(again), expected);
  }
}

// Addresses and reasons a spreadsheet would run as formulas (= + - @, also after single
// quotes; a stored reason never holds a tab or CR) are exported with one more leading quote,
// inside a quoted field; import takes exactly that quote off, so the list comes back as it
// was, quotes and all.
TEST(SuppressionExport, FormulasAreNeutralisedAndComeBackOnImport) {
  TempDir dir;
  auto store = open_store(dir.file("s.db"));
  ASSERT_NE(store, nullptr);
  const std::vector<std::pair<std::string, std::string>> entries = {
      {"=1+2@example.com", "=HYPERLINK(\"http://evil.example/\",\"click\")"},
      {"+81@example.com", "+cmd"},
      {"-x@example.com", "-1"},
      {"'=q@example.com", "'already quoted"},
      {"plain@example.com", "@SUM(A1)"},
      {"tick'@example.com", "-"},
  };
  for (const auto& [address, reason] : entries) {
    ASSERT_TRUE(
        store->add(SuppressionEntry{address, reason, SuppressionSource::manual, 0, 0, 1}).ok())
        << address;
  }
  const std::string path = dir.file("out.csv");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(store->export_csv(fd).ok());
  ::close(fd);
  const std::string exported = read_file(path);
  const std::string tail = ",manual,1970-01-01T00:00:00Z,1970-01-01T00:00:00Z,1\n";
  for (const std::string& row : {
           "\"''=q@example.com\",'already quoted" + tail,
           "\"'+81@example.com\",\"'+cmd\"" + tail,
           "\"'-x@example.com\",\"'-1\"" + tail,
           "\"'=1+2@example.com\",\"'=HYPERLINK(\"\"http://evil.example/\"\",\"\"click\"\")\"" +
               tail,
           "plain@example.com,\"'@SUM(A1)\"" + tail,
           "tick'@example.com,\"'-\"" + tail,
       }) {
    EXPECT_NE(exported.find("\n" + row), std::string::npos) << row << "\nin:\n" << exported;
  }

  auto copy = open_store(dir.file("copy.db"));
  ASSERT_NE(copy, nullptr);
  absl::StatusOr<ImportReport> report = copy->import_csv(path, SuppressionSource::import, t0);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->imported, entries.size());
  EXPECT_EQ(report->error_count, 0u) << (report->errors.empty() ? "" : report->errors[0]);
  std::vector<std::pair<std::string, std::string>> imported;
  ASSERT_TRUE(copy->list([&](const SuppressionEntry& entry) {
                    imported.emplace_back(entry.address, entry.reason);
                    return true;
                  })
                  .ok());
  std::vector<std::pair<std::string, std::string>> want = entries;
  std::sort(want.begin(), want.end());
  std::sort(imported.begin(), imported.end());
  EXPECT_EQ(imported, want);
}

TEST(SuppressionSchema, VersionAndForeignDatabasesAreRefused) {
  TempDir dir;
  const std::string path = dir.file("s.db");
  {
    auto store = open_store(path);
    ASSERT_NE(store, nullptr);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &statement, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)), "wal");
  sqlite3_finalize(statement);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=2", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  absl::StatusOr<std::unique_ptr<SuppressionStore>> newer = SuppressionStore::open(path);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().message(),
            path +
                ": suppression list schema version 2 is newer than this hayate's (1); use a "
                "newer hayate");

  const std::string other = dir.file("other.db");
  ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  absl::StatusOr<std::unique_ptr<SuppressionStore>> foreign = SuppressionStore::open(other);
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("not a hayate suppression list"), std::string::npos);

  const std::string text = dir.write("text.db", "this is not a database at all, just some text\n");
  EXPECT_FALSE(SuppressionStore::open(text).ok());
  EXPECT_FALSE(SuppressionStore::open(dir.file("none.db"), {}, /*create=*/false).ok());
  EXPECT_FALSE(SuppressionStore::open(dir.file("no/such/dir.db")).ok());
}

// Two processes, as a cron run and `hayate suppress add` would be: both write 150 events,
// each in its own transaction, interleaved; a batch held open for a while by one only makes
// the other wait. Nothing is lost.
TEST(SuppressionConcurrency, TwoProcessesShareTheWalDatabase) {
  TempDir dir;
  const std::string path = dir.file("shared.db");
  { ASSERT_NE(open_store(path), nullptr); }
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = SuppressionStore::open(path);
    if (!store.ok()) _exit(2);
    for (int i = 0; i < 150; ++i) {
      if (!(*store)
               ->record_event(SuppressionEvent{cat("child", i, "@example.com"), "x",
                                               SuppressionSource::bounce, true, t0})
               .ok()) {
        _exit(3);
      }
    }
    _exit(0);
  }
  auto store = open_store(path);
  ASSERT_NE(store, nullptr);
  {
    // Holds the write lock for 300 ms: the child waits (busy timeout), it does not fail.
    absl::StatusOr<SuppressionStore::Batch> batch = store->begin_batch();
    ASSERT_TRUE(batch.ok()) << batch.status();
    ASSERT_TRUE(batch
                    ->record_event(SuppressionEvent{"held@example.com", "x",
                                                    SuppressionSource::bounce, true, t0})
                    .ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE(batch->commit().ok());
  }
  for (int i = 0; i < 150; ++i) {
    ASSERT_EQ(record(*store, cat("parent", i, "@example.com"), SuppressionSource::bounce, true, t0),
              EventOutcome::suppressed);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(*store->count(), 301u);
  EXPECT_TRUE(check(*store, "child149@example.com").has_value());
}

// WAL: a reader is never blocked by another connection's open write transaction, and sees
// only committed entries.
TEST(SuppressionConcurrency, ReadersDoNotWaitForAWriter) {
  TempDir dir;
  const std::string path = dir.file("s.db");
  auto writer = open_store(path);
  auto reader = open_store(path);
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(reader, nullptr);
  record(*writer, "old@example.com", SuppressionSource::manual, true, t0);
  absl::StatusOr<SuppressionStore::Batch> batch = writer->begin_batch();
  ASSERT_TRUE(batch.ok());
  ASSERT_TRUE(batch
                  ->record_event(
                      SuppressionEvent{"new@example.com", "x", SuppressionSource::bounce, true, t0})
                  .ok());
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(check(*reader, "old@example.com").has_value());
  EXPECT_FALSE(check(*reader, "new@example.com").has_value());  // not committed yet
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
  ASSERT_TRUE(batch->commit().ok());
  EXPECT_TRUE(check(*reader, "new@example.com").has_value());
}

TEST(SuppressionFilterTest, NoFalseNegativesAndAboutOnePercentFalsePositives) {
  constexpr int keys = 200'000;
  SuppressionFilter filter(keys);
  EXPECT_EQ(filter.memory_bytes(), (keys * 10 + 511) / 512 * 64);
  for (int i = 0; i < keys; ++i) filter.add(cat("user", i, "@example.com"));
  filter.add("@gone.example");
  for (int i = 0; i < keys; ++i) ASSERT_TRUE(filter.may_contain(cat("user", i, "@example.com")));
  EXPECT_TRUE(filter.may_contain_address("anyone@gone.example"));
  int false_positives = 0;
  for (int i = 0; i < keys; ++i)
    false_positives += filter.may_contain(cat("other", i, "@x.example"));
  const double rate = static_cast<double>(false_positives) / keys;
  EXPECT_LT(rate, 0.02) << rate;
  EXPECT_GT(rate, 0.001) << rate;  // a filter that says "no" to everything would pass above
}

TEST(SuppressionCheckerTest, ChecksAddressesAndDomains) {
  TempDir dir;
  const std::string path = dir.file("s.db");
  {
    auto store = open_store(path);
    ASSERT_NE(store, nullptr);
    record(*store, "a@example.com", SuppressionSource::bounce, true, t0);
    record(*store, "@gone.example", SuppressionSource::manual, true, t0, "no such domain");
  }
  absl::StatusOr<std::unique_ptr<SuppressionChecker>> checker =
      SuppressionChecker::open(path, SuppressionPolicy{});
  ASSERT_TRUE(checker.ok()) << checker.status();
  EXPECT_EQ((*checker)->entries(), 2u);
  EXPECT_FALSE((*checker)->filtered());  // small: the store answers alone
  SuppressionEntry entry;
  EXPECT_TRUE(*(*checker)->is_suppressed("a@example.com", entry));
  EXPECT_EQ(entry.address, "a@example.com");
  EXPECT_TRUE(*(*checker)->is_suppressed("b@gone.example", entry));
  EXPECT_EQ(entry.address, "@gone.example");
  EXPECT_EQ(entry.reason, "no such domain");
  EXPECT_FALSE(*(*checker)->is_suppressed("b@example.com", entry));

  // No file: an empty list, and nothing created.
  absl::StatusOr<std::unique_ptr<SuppressionChecker>> none =
      SuppressionChecker::open(dir.file("none.db"), SuppressionPolicy{});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ((*none)->entries(), 0u);
  EXPECT_FALSE(*(*none)->is_suppressed("a@example.com", entry));
  EXPECT_FALSE(std::filesystem::exists(dir.file("none.db")));
  // Something else at the path: an error, not an empty list.
  EXPECT_FALSE(SuppressionChecker::open(dir.write("text.db", "not a database, some text here\n"),
                                        SuppressionPolicy{})
                   .ok());
}

}  // namespace
}  // namespace hayate::campaign
