// Benchmarks for the campaign journal: the producer's append (one thread and several, with the
// writer thread committing to a real file), what one commit (write + fdatasync) costs on this
// disk by batch size, replay speed, record encoding, CRC-32C and the input fingerprint.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "campaign/output/journal.h"
#include "engine/assert.h"

namespace hayate::campaign {
namespace {

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string("hayate_bench_") + name + "_" + std::to_string(::getpid())))
      .string();
}

JournalIdentity bench_identity() {
  JournalIdentity identity;
  identity.campaign_id = "bench";
  identity.fingerprint.fill(7);
  return identity;
}

// A fresh journal file for one benchmark run, removed afterwards.
class BenchJournal {
 public:
  explicit BenchJournal(const char* name, JournalOptions options = {}) : path_(temp_path(name)) {
    std::filesystem::remove(path_);
    absl::StatusOr<OpenedJournal> opened = open_journal(path_, bench_identity(), options);
    HAYATE_ASSERT(opened.ok());
    writer_ = std::move(opened->writer);
  }
  ~BenchJournal() {
    writer_.reset();
    std::filesystem::remove(path_);
  }
  JournalWriter& writer() { return *writer_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::unique_ptr<JournalWriter> writer_;
};

JournalRecord outcome(std::uint64_t sequence) {
  if (sequence % 20 == 0) {
    return JournalRecord{JournalRecordType::attempt_deferred, sequence, 1,
                         1'767'225'600'000 + static_cast<std::int64_t>(sequence)};
  }
  return JournalRecord{JournalRecordType::final_delivered, sequence, 1, 0};
}

void report_journal(benchmark::State& state, JournalWriter& writer, double seconds) {
  const JournalStats stats = writer.stats();
  state.counters["commits_per_s"] = static_cast<double>(stats.commits) / seconds;
  state.counters["records_per_commit"] =
      stats.commits == 0 ? 0 : static_cast<double>(stats.records) / stats.commits;
  state.counters["bytes_per_record"] =
      stats.records == 0 ? 0 : static_cast<double>(stats.bytes) / stats.records;
  state.counters["fdatasync_ms"] =
      stats.commits == 0 ? 0 : static_cast<double>(stats.sync_ns_total) / 1e6 / stats.commits;
}

// The hot path a shard pays per outcome: encode, lock its own buffer, append. The writer thread
// commits every 10 ms meanwhile.
void BM_JournalAppend(benchmark::State& state) {
  BenchJournal journal("append");
  JournalProducer& producer = journal.writer().add_producer();
  std::uint64_t sequence = 0;
  const auto started = std::chrono::steady_clock::now();
  for (auto _ : state) {
    benchmark::DoNotOptimize(producer.append(outcome(++sequence)));
  }
  journal.writer().sync();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  state.SetItemsProcessed(state.iterations());
  report_journal(state, journal.writer(), seconds);
}
BENCHMARK(BM_JournalAppend);

// N producer threads appending flat out, until every record is on disk: records/s including
// the fsyncs, the commits per second and the batch sizes group commit reaches.
void BM_JournalAppendThreads(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  constexpr std::uint64_t per_thread = 250'000;
  BenchJournal journal("threads");
  std::vector<JournalProducer*> producers;
  for (int t = 0; t < threads; ++t) producers.push_back(&journal.writer().add_producer());
  std::uint64_t base = 0;
  double seconds = 0;
  for (auto _ : state) {
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        const std::uint64_t first = base + static_cast<std::uint64_t>(t) * per_thread + 1;
        for (std::uint64_t s = first; s < first + per_thread; ++s) producers[t]->append(outcome(s));
      });
    }
    for (auto& worker : workers) worker.join();
    journal.writer().sync();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    base += threads * per_thread;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * threads * per_thread);
  report_journal(state, journal.writer(), seconds);
}
BENCHMARK(BM_JournalAppendThreads)->Arg(1)->Arg(4)->UseRealTime()->Unit(benchmark::kMillisecond);

// One commit on this disk: `range(0)` records, then sync() (writev + fdatasync), in a loop.
void BM_JournalCommit(benchmark::State& state) {
  const std::uint64_t batch = static_cast<std::uint64_t>(state.range(0));
  JournalOptions options;
  options.commit_interval_ms = 60'000;  // only sync() commits
  BenchJournal journal("commit", options);
  JournalProducer& producer = journal.writer().add_producer();
  std::uint64_t sequence = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < batch; ++i) producer.append(outcome(++sequence));
    journal.writer().sync();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
  state.counters["commits_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_JournalCommit)
    ->Arg(1)
    ->Arg(100)
    ->Arg(10'000)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Replay of a million recipients (one in twenty retried once): what a resumed run waits for.
void BM_JournalReplay(benchmark::State& state) {
  const std::string path = temp_path("replay");
  {
    std::filesystem::remove(path);
    absl::StatusOr<OpenedJournal> opened = open_journal(path, bench_identity());
    HAYATE_ASSERT(opened.ok());
    JournalProducer& producer = opened->writer->add_producer();
    for (std::uint64_t s = 1; s <= 1'000'000; ++s) {
      producer.append(outcome(s));
      if (s % 20 == 0) producer.append(JournalRecord{JournalRecordType::final_delivered, s, 2, 0});
    }
    HAYATE_ASSERT(opened->writer->close(0).ok());
  }
  const JournalIdentity identity = bench_identity();
  std::uint64_t records = 0;
  for (auto _ : state) {
    absl::StatusOr<JournalState> replayed = replay_journal(path, &identity);
    HAYATE_ASSERT(replayed.ok() && replayed->counts.delivered == 1'000'000);
    records = replayed->records;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * records));
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * std::filesystem::file_size(path)));
  state.counters["bytes_per_record"] =
      static_cast<double>(std::filesystem::file_size(path)) / static_cast<double>(records);
  std::filesystem::remove(path);
}
BENCHMARK(BM_JournalReplay)->Unit(benchmark::kMillisecond);

void BM_JournalEncode(benchmark::State& state) {
  std::uint8_t bytes[journal_record_bytes_max];
  std::uint64_t sequence = 5'000'000;
  for (auto _ : state) {
    benchmark::DoNotOptimize(encode_journal_record(outcome(++sequence), 0x1234, bytes));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JournalEncode);

template <bool hardware>
void BM_Crc32c(benchmark::State& state) {
  std::vector<std::uint8_t> data(static_cast<std::size_t>(state.range(0)), 0x5a);
  std::uint32_t crc = 0;
  for (auto _ : state) {
    crc = hardware ? crc32c(crc, data.data(), data.size())
                   : crc32c_portable(crc, data.data(), data.size());
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_Crc32c<true>)->Arg(10)->Arg(4096);
BENCHMARK(BM_Crc32c<false>)->Arg(10)->Arg(4096);

// The fingerprint of a 64 MB recipients file from the page cache (SHA-256 through OpenSSL).
void BM_JournalFingerprint(benchmark::State& state) {
  const std::string path = temp_path("fingerprint.csv");
  {
    std::ofstream out(path, std::ios::binary);
    std::string line;
    for (int i = 0; i < 64 * 1024; ++i) {
      line = "user" + std::to_string(i) + "@example.com,First,Last,pro";
      line.resize(1023, ' ');
      line += '\n';
      out << line;
    }
  }
  for (auto _ : state) {
    absl::StatusOr<JournalFingerprint> fingerprint = journal_fingerprint({path});
    HAYATE_ASSERT(fingerprint.ok());
    benchmark::DoNotOptimize(fingerprint->data());
  }
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * std::filesystem::file_size(path)));
  std::filesystem::remove(path);
}
BENCHMARK(BM_JournalFingerprint)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hayate::campaign
