// Benchmarks for the recipient-list path: CSV reading (bytes/s over a ~50 MB generated file,
// from the page cache) and address parsing (ASCII fast path, IDN through libidn2).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "campaign/input/address.h"
#include "campaign/input/csv_reader.h"

namespace hayate::campaign {
namespace {

// A generated CSV file, written once per process and removed at exit.
class GeneratedCsv {
 public:
  GeneratedCsv(const char* name, bool quoted) {
    path_ = (std::filesystem::temp_directory_path() /
             (std::string("hayate_bench_") + name + "_" + std::to_string(::getpid()) + ".csv"))
                .string();
    std::ofstream out(path_, std::ios::binary);
    std::string block = "email,first_name,last_name,plan\n";
    for (int i = 0; size_bytes_ < 50'000'000; ++i) {
      const std::string id = std::to_string(i);
      if (quoted) {
        block +=
            "\"user" + id + "@example.com\",\"Last, First\",\"O\"\"Brien " + id + "\",\"pro\"\n";
      } else {
        block += "user" + id + "@example.com,First" + id + ",Last" + id + ",pro\n";
      }
      ++rows_;
      if (block.size() > 1'000'000) {
        out << block;
        size_bytes_ += block.size();
        block.clear();
      }
    }
    out << block;
    size_bytes_ += block.size();
  }
  ~GeneratedCsv() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }
  std::int64_t size_bytes() const { return size_bytes_; }
  std::int64_t rows() const { return rows_; }

 private:
  std::string path_;
  std::int64_t size_bytes_ = 0;
  std::int64_t rows_ = 0;
};

void read_file(benchmark::State& state, const GeneratedCsv& file) {
  for (auto _ : state) {
    auto reader = CsvReader::open(file.path());
    if (!reader.ok()) {
      state.SkipWithError(std::string(reader.status().message()).c_str());
      return;
    }
    CsvRow row;
    std::string error;
    std::int64_t rows = 0;
    std::size_t field_bytes = 0;
    while ((*reader)->next(row, error) == CsvReader::Next::row) {
      field_bytes += row.fields[0].size();
      ++rows;
    }
    benchmark::DoNotOptimize(field_bytes);
    if (rows != file.rows()) state.SkipWithError("wrong row count");
  }
  state.SetBytesProcessed(state.iterations() * file.size_bytes());
  state.SetItemsProcessed(state.iterations() * file.rows());
}

void BM_CsvRead(benchmark::State& state) {
  static const GeneratedCsv file("plain", false);
  read_file(state, file);
}
BENCHMARK(BM_CsvRead)->Unit(benchmark::kMillisecond);

// Every field quoted, one with "" escapes (unescaped into the side buffer).
void BM_CsvReadQuoted(benchmark::State& state) {
  static const GeneratedCsv file("quoted", true);
  read_file(state, file);
}
BENCHMARK(BM_CsvReadQuoted)->Unit(benchmark::kMillisecond);

void parse_addresses(benchmark::State& state, const std::vector<std::string>& inputs) {
  Address address;
  std::string error;
  std::size_t i = 0;
  for (auto _ : state) {
    const bool ok = parse_address(inputs[i], address, error);
    if (!ok) state.SkipWithError(error.c_str());
    benchmark::DoNotOptimize(address.text.data());
    i = i + 1 == inputs.size() ? 0 : i + 1;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ParseAddress(benchmark::State& state) {
  parse_addresses(
      state, {"user+tag@Example.COM", "john.smith@gmail.com", "marie-claire.dupont@orange.fr",
              "x@mail.sub.example.co.uk", "info@company-name.example", "\"john doe\"@example.com"});
}
BENCHMARK(BM_ParseAddress);

void BM_ParseAddressIdn(benchmark::State& state) {
  parse_addresses(state, {"info@münchen.de", "δοκιμή@παράδειγμα.δοκιμή", "日本語@例え.テスト",
                          "jörg@bücher.example", "user@straße.de"});
}
BENCHMARK(BM_ParseAddressIdn);

}  // namespace
}  // namespace hayate::campaign
