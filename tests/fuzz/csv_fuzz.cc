// libFuzzer target for campaign/csv_reader: the input becomes a file, which is read to the
// end. Must not crash, hang or break its invariants (line numbers strictly increasing, rows
// with the header's width, every byte consumed, a bounded number of records).
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "campaign/csv_reader.h"
#include "engine/assert.h"

namespace {

const std::string& temp_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern = std::string(dir != nullptr ? dir : "/tmp") + "/hayate_csv_fuzz_XXXXXX";
    const int fd = ::mkstemp(pattern.data());
    HAYATE_ASSERT(fd >= 0);
    ::close(fd);
    std::atexit([] { ::unlink(temp_path().c_str()); });
    return pattern;
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using hayate::campaign::CsvReader;
  const std::string& path = temp_path();
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  HAYATE_ASSERT(fd >= 0);
  for (size_t written = 0; written < size;) {
    const ssize_t n = ::write(fd, data + written, size - written);
    HAYATE_ASSERT(n > 0);
    written += static_cast<size_t>(n);
  }
  ::close(fd);

  auto reader = CsvReader::open(path);
  if (!reader.ok()) return 0;
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
    if (next == CsvReader::Next::row) {
      HAYATE_ASSERT(row.fields.size() == (*reader)->header().size());
      size_t field_bytes = 0;
      for (std::string_view field : row.fields) field_bytes += field.size();
      HAYATE_ASSERT(field_bytes <= size);
    } else {
      HAYATE_ASSERT(!error.empty());
    }
  }
  HAYATE_ASSERT((*reader)->status().ok());
  HAYATE_ASSERT((*reader)->bytes_read() == size);
  return 0;
}
