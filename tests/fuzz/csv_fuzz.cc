// libFuzzer target for campaign/csv_reader: the input becomes a file, which is read to the
// end twice, with a large and a tiny buffer. Must not crash, hang or break its invariants
// (line numbers strictly increasing, rows with the header's width, every byte consumed, a
// bounded number of records, the same records whatever the buffer size).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/input/csv_reader.h"
#include "engine/assert.h"

namespace {

// An in-memory file (memfd), opened by the reader through /proc like any path: no disk I/O,
// so the fuzzer runs thousands of inputs a second.
int memory_file() {
  static const int fd = ::memfd_create("hayate_csv_fuzz", MFD_CLOEXEC);
  HAYATE_ASSERT(fd >= 0);
  return fd;
}

struct Outcome {
  bool opened = false;
  std::vector<std::string> header;
  std::string records;  // every record, its line, fields and error, in one text
  std::uint64_t bytes_read = 0;
};

Outcome read_all(const std::string& path, const uint8_t* data, size_t size, size_t buffer_bytes) {
  using hayate::campaign::CsvReader;
  Outcome outcome;
  auto reader = CsvReader::open(path, buffer_bytes);
  if (!reader.ok()) return outcome;
  outcome.opened = true;
  outcome.header = (*reader)->header();
  std::uint64_t line_feeds = 0;
  for (size_t i = 0; i < size; ++i) line_feeds += data[i] == '\n';

  hayate::campaign::CsvRow row;
  std::string error;
  std::uint64_t previous_line = 0;
  for (size_t records = 0;; ++records) {
    HAYATE_ASSERT(records <= size);  // each record consumes at least one byte
    error.clear();
    const CsvReader::Next next = (*reader)->next(row, error);
    if (next == CsvReader::Next::end) break;
    HAYATE_ASSERT(row.line > previous_line);
    HAYATE_ASSERT(row.line <= line_feeds + 1);
    previous_line = row.line;
    outcome.records += std::to_string(row.line);
    if (next == CsvReader::Next::row) {
      HAYATE_ASSERT(row.fields.size() == (*reader)->header().size());
      for (std::string_view field : row.fields) {
        outcome.records += std::to_string(field.size()) + ":";
        outcome.records += field;
      }
    } else {
      HAYATE_ASSERT(!error.empty());
      outcome.records += " error " + error;
    }
    outcome.records += "\n";
  }
  HAYATE_ASSERT((*reader)->status().ok());
  outcome.bytes_read = (*reader)->bytes_read();
  HAYATE_ASSERT(outcome.bytes_read == size);
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memory_file();
  HAYATE_ASSERT(::ftruncate(fd, 0) == 0);
  for (size_t written = 0; written < size;) {
    const ssize_t n = ::pwrite(fd, data + written, size - written, static_cast<off_t>(written));
    HAYATE_ASSERT(n > 0);
    written += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);

  // The records must not depend on where the buffer cuts them.
  const Outcome whole = read_all(path, data, size, 1 << 16);
  const Outcome cut = read_all(path, data, size, 1 + size % 13);
  HAYATE_ASSERT(whole.opened == cut.opened);
  HAYATE_ASSERT(whole.header == cut.header);
  HAYATE_ASSERT(whole.records == cut.records);
  return 0;
}
