// Streaming RFC 4180 CSV reader for recipient lists: reads the file in large blocks, never
// the whole file; a row's fields are views valid until the next call to next(). Bad rows are
// reported with their line number and skipped, so one broken row never stops a campaign.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hayate::campaign {

struct CsvRow {
  std::uint64_t line = 0;                 // 1-based line where the record starts
  std::vector<std::string_view> fields;   // unquoted values; as many as header columns
};

class CsvReader {
 public:
  enum class Next : std::uint8_t { row, bad_row, end };

  // Opens `path` and reads the header row. A UTF-8 BOM before it is skipped. Errors: the file
  // cannot be opened (the errno text), it is empty, the header is malformed, has an empty or
  // duplicate column name. Column names are trimmed of surrounding spaces.
  static absl::StatusOr<std::unique_ptr<CsvReader>> open(const std::string& path);

  const std::vector<std::string>& header() const { return header_; }
  const std::string& path() const { return path_; }

  // Reads the next record. row: `row` is filled. bad_row: `error` says why (wrong field count
  // "expected 3 fields, found 4", bad quoting, a row over limits::csv_row_bytes_max) and
  // `row.line` where; the reader has skipped to the start of the next record. end: no more
  // records (a read error ends the stream too and is kept in status()). Blank lines are skipped.
  Next next(CsvRow& row, std::string& error);

  // ok() unless reading failed part way (then the error with the errno text).
  const absl::Status& status() const { return status_; }

  // Bytes consumed so far, for progress.
  std::uint64_t bytes_read() const { return bytes_read_; }

  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

 private:
  CsvReader() = default;
  int fd_ = -1;
  std::string path_;
  std::vector<std::string> header_;
  std::string buffer_;           // raw bytes read from the file
  std::size_t position_ = 0;     // parse position in buffer_
  std::size_t filled_ = 0;       // bytes valid in buffer_
  bool eof_ = false;
  std::uint64_t line_ = 1;       // line of buffer_[position_]
  std::uint64_t bytes_read_ = 0;
  std::string unquoted_;         // storage for fields that needed unquoting
  absl::Status status_;
};

}  // namespace hayate::campaign
