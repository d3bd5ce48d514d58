// Benchmarks for bounce handling: classify() per SMTP reply (it runs on every 4xx/5xx during
// delivery), parse_report() + classification per DSN, and the ingest rate of a generated
// Maildir of 100,000 bounces through the mailbox reader, parser and classifier (messages/s).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "campaign/bounce/classify.h"
#include "campaign/bounce/mailbox.h"
#include "campaign/bounce/report_parser.h"

namespace hayate::campaign::bounce {
namespace {

constexpr const char* kReplies[] = {
    "The email account that you tried to reach does not exist. Please try double-checking the "
    "recipient's email address for typos or unnecessary spaces. https://support.google.com/mail/"
    "?p=NoSuchUser x1si - gsmtp",
    "Service unavailable, Client host [192.0.2.1] blocked using Spamhaus. To request removal "
    "from this list see https://www.spamhaus.org/query/ip/192.0.2.1 AS(1450) [BN8NAM11FT]",
    "[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user "
    "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    "<a@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
};

void BM_ClassifyReply(benchmark::State& state) {
  std::size_t i = 0;
  for (auto _ : state) {
    const char* text = kReplies[i++ % std::size(kReplies)];
    benchmark::DoNotOptimize(classify(550, "5.7.1", text));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClassifyReply);

std::string dsn(std::size_t n) {
  const std::string id = std::to_string(n);
  return "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\n"
         "To: bounces+" +
         id +
         "@bounce.example.com\n"
         "Subject: Undelivered Mail Returned to Sender\nAuto-Submitted: auto-replied\n"
         "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;\n"
         "\tboundary=\"B" +
         id + "\"\n\n--B" + id +
         "\nContent-Type: text/plain\n\nThis is the mail system at host mx.example.com.\n\n"
         "<user" +
         id +
         "@example.net>: host mx.example.net[192.0.2.9] said: 550 5.1.1\n"
         "    <user" +
         id +
         "@example.net>: Recipient address rejected: User unknown (in reply\n"
         "    to RCPT TO command)\n\n--B" +
         id +
         "\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
         "Final-Recipient: rfc822; user" +
         id +
         "@example.net\nAction: failed\nStatus: 5.1.1\n"
         "Remote-MTA: dns; mx.example.net\nDiagnostic-Code: smtp; 550 5.1.1 <user" +
         id + "@example.net>: Recipient address rejected: User unknown\n\n--B" + id +
         "\nContent-Type: text/rfc822-headers\n\nFrom: news@example.com\nTo: user" + id +
         "@example.net\nSubject: News\n\n--B" + id + "--\n";
}

void BM_ParseAndClassifyDsn(benchmark::State& state) {
  const std::string message = dsn(42);
  for (auto _ : state) benchmark::DoNotOptimize(parse_report(message));
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(message.size()));
}
BENCHMARK(BM_ParseAndClassifyDsn);

// 100,000 DSNs in new/ of a Maildir under the temp directory, written once, removed at exit.
class GeneratedMaildir {
 public:
  static constexpr std::size_t kMessages = 100'000;
  GeneratedMaildir() {
    root_ = std::filesystem::temp_directory_path() /
            ("hayate_bench_maildir_" + std::to_string(::getpid()));
    std::filesystem::create_directories(root_ / "new");
    std::filesystem::create_directories(root_ / "cur");
    for (std::size_t i = 0; i < kMessages; ++i) {
      std::ofstream(root_ / "new" / (std::to_string(i) + ".bench:2,")) << dsn(i);
    }
  }
  ~GeneratedMaildir() { std::filesystem::remove_all(root_); }
  std::string path() const { return root_.string(); }

 private:
  std::filesystem::path root_;
};

void BM_IngestMaildir100k(benchmark::State& state) {
  static const GeneratedMaildir maildir;
  std::size_t messages = 0;
  std::size_t hard = 0;
  for (auto _ : state) {
    const absl::Status status = read_mailbox(maildir.path(), [&](const MailboxMessage& message) {
      for (const Finding& finding : parse_report(message.bytes))
        hard += finding.classification.hard;
      ++messages;
      return true;
    });
    if (!status.ok()) state.SkipWithError("cannot read the generated Maildir");
  }
  state.counters["messages_per_s"] =
      benchmark::Counter(static_cast<double>(messages), benchmark::Counter::kIsRate);
  state.counters["hard"] = static_cast<double>(hard);
}
BENCHMARK(BM_IngestMaildir100k)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace hayate::campaign::bounce
