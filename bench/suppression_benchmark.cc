// The suppression check `hayate run` makes for every recipient, against a list of 10 million
// entries (HAYATE_SUPPRESSION_ROWS=N for another size): SQLite primary-key lookups alone, the
// Bloom filter alone, and the two together as the run uses them, for recipients on the list and
// off it; plus the filter's build time and the process's RSS. The database is generated once
// into $TMPDIR/hayate_suppression_bench_N.db (about 70 bytes a row) and kept for later runs.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "campaign/bounce/suppression.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign {
namespace {

std::uint64_t rows_wanted() {
  const char* text = std::getenv("HAYATE_SUPPRESSION_ROWS");
  const std::uint64_t rows = text != nullptr ? std::strtoull(text, nullptr, 10) : 0;
  return rows > 0 ? rows : 10'000'000;
}

// Entry i: "user<i>@d<i % 5000>.example"; recipients off the list: "nobody<i>@...".
std::string listed(std::uint64_t i) { return cat("user", i, "@d", i % 5000, ".example"); }
std::string not_listed(std::uint64_t i) { return cat("nobody", i, "@d", i % 5000, ".example"); }

// Recipients arrive in no order the list knows: a full-period LCG over [0, rows).
class Scatter {
 public:
  explicit Scatter(std::uint64_t rows) : rows_(rows) {}
  std::uint64_t next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state_ >> 17) % rows_;
  }

 private:
  std::uint64_t rows_;
  std::uint64_t state_ = 42;
};

std::uint64_t rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

class BenchList {
 public:
  static BenchList& get() {
    static BenchList list;
    return list;
  }
  SuppressionStore& store() { return *store_; }
  std::uint64_t rows() const { return rows_; }

 private:
  BenchList() : rows_(rows_wanted()) {
    const std::string path =
        (std::filesystem::temp_directory_path() / cat("hayate_suppression_bench_", rows_, ".db"))
            .string();
    absl::StatusOr<std::unique_ptr<SuppressionStore>> store = SuppressionStore::open(path);
    HAYATE_ASSERT(store.ok());
    store_ = std::move(*store);
    const std::uint64_t have = *store_->count();
    if (have == rows_) return;
    std::fprintf(stderr, "generating %s (%llu rows, once)...\n", path.c_str(),
                 static_cast<unsigned long long>(rows_));
    for (std::uint64_t start = have; start < rows_; start += 500'000) {
      absl::StatusOr<SuppressionStore::Batch> batch = store_->begin_batch();
      HAYATE_ASSERT(batch.ok());
      for (std::uint64_t i = start; i < std::min(rows_, start + 500'000); ++i) {
        const absl::Status added = batch->add(SuppressionEntry{
            listed(i), i % 3 == 0 ? "userunknown" : "mailboxfull", SuppressionSource::bounce,
            1'790'000'000, 1'790'000'000 + static_cast<std::int64_t>(i % 86400), 1});
        HAYATE_ASSERT(added.ok());
      }
      HAYATE_ASSERT(batch->commit().ok());
    }
  }
  std::uint64_t rows_;
  std::unique_ptr<SuppressionStore> store_;
};

// SQLite alone: two primary-key lookups (the address, then "@domain") for a recipient off the
// list, one for a recipient on it.
void BM_SuppressionStoreLookup(benchmark::State& state) {
  BenchList& list = BenchList::get();
  const bool hit = state.range(0) != 0;
  Scatter scatter(list.rows());
  SuppressionEntry entry;
  std::uint64_t found = 0;
  for (auto _ : state) {
    const std::uint64_t i = scatter.next();
    const std::string address = hit ? listed(i) : not_listed(i);
    found += *list.store().is_suppressed(address, entry) ? 1 : 0;
  }
  HAYATE_ASSERT(found == (hit ? static_cast<std::uint64_t>(state.iterations()) : 0));
  state.counters["rows"] = static_cast<double>(list.rows());
  state.counters["rss_MB"] = static_cast<double>(rss_bytes()) / 1e6;
  state.SetLabel(hit ? "on the list" : "not on the list");
}
BENCHMARK(BM_SuppressionStoreLookup)->Arg(0)->Arg(1);

std::unique_ptr<SuppressionFilter>& shared_filter() {
  static std::unique_ptr<SuppressionFilter> filter;
  return filter;
}

// One scan of the keys into the filter: what a run pays at start.
void BM_SuppressionFilterBuild(benchmark::State& state) {
  BenchList& list = BenchList::get();
  const std::uint64_t rss_before = rss_bytes();
  for (auto _ : state) {
    absl::StatusOr<SuppressionFilter> filter = SuppressionFilter::build(list.store());
    HAYATE_ASSERT(filter.ok());
    shared_filter() = std::make_unique<SuppressionFilter>(std::move(*filter));
  }
  state.counters["rows"] = static_cast<double>(list.rows());
  state.counters["filter_MB"] = static_cast<double>(shared_filter()->memory_bytes()) / 1e6;
  state.counters["rss_MB"] = static_cast<double>(rss_bytes()) / 1e6;
  state.counters["rss_growth_MB"] =
      (static_cast<double>(rss_bytes()) - static_cast<double>(rss_before)) / 1e6;
}
BENCHMARK(BM_SuppressionFilterBuild)->Iterations(1)->Unit(benchmark::kMillisecond);

// The filter alone for recipients off the list (address and domain probes), with the false
// positive rate it shows.
void BM_SuppressionFilterProbe(benchmark::State& state) {
  BenchList& list = BenchList::get();
  if (!shared_filter()) {
    shared_filter() = std::make_unique<SuppressionFilter>(*SuppressionFilter::build(list.store()));
  }
  const SuppressionFilter& filter = *shared_filter();
  Scatter scatter(list.rows());
  std::uint64_t positives = 0;
  for (auto _ : state) {
    const std::string address = not_listed(scatter.next());
    positives += filter.may_contain_address(address) ? 1 : 0;
  }
  state.counters["false_positive_pct"] =
      100.0 * static_cast<double>(positives) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_SuppressionFilterProbe);

// As `hayate run` checks: the filter, and the store for what the filter lets through.
void BM_SuppressionCheckerFiltered(benchmark::State& state) {
  BenchList& list = BenchList::get();
  static std::unique_ptr<SuppressionChecker> checker = [&] {
    absl::StatusOr<std::unique_ptr<SuppressionChecker>> opened =
        SuppressionChecker::open(list.store().path(), SuppressionPolicy{}, ~std::uint64_t{0});
    HAYATE_ASSERT(opened.ok() &&
                  (*opened)->filtered() == (list.rows() >= suppression_filter_rows_min));
    return std::move(*opened);
  }();
  const bool hit = state.range(0) != 0;
  Scatter scatter(list.rows());
  SuppressionEntry entry;
  std::uint64_t found = 0;
  for (auto _ : state) {
    const std::uint64_t i = scatter.next();
    const std::string address = hit ? listed(i) : not_listed(i);
    found += *checker->is_suppressed(address, entry) ? 1 : 0;
  }
  HAYATE_ASSERT(found == (hit ? static_cast<std::uint64_t>(state.iterations()) : 0));
  state.counters["rss_MB"] = static_cast<double>(rss_bytes()) / 1e6;
  state.SetLabel(hit ? "on the list" : "not on the list");
}
BENCHMARK(BM_SuppressionCheckerFiltered)->Arg(0)->Arg(1);

// The string a recipient's address costs to build here, to subtract from the figures above.
void BM_SuppressionAddressFormatting(benchmark::State& state) {
  Scatter scatter(10'000'000);
  for (auto _ : state) benchmark::DoNotOptimize(not_listed(scatter.next()));
}
BENCHMARK(BM_SuppressionAddressFormatting);

}  // namespace
}  // namespace hayate::campaign
