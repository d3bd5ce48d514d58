// Streaming RFC 4180 CSV reader for recipient lists: reads the file in large blocks, never
// the whole file; a row's fields are views valid until the next call to next(). Bad rows are
// reported with their line number and skipped, so one broken row never stops a campaign.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "campaign/input/encoding.h"

namespace hayate::campaign::inline input {

struct CsvRow {
  std::uint64_t line = 0;                // 1-based line where the record starts
  std::vector<std::string_view> fields;  // unquoted values; as many as header columns
};

class CsvReader {
 public:
  enum class Next : std::uint8_t { row, bad_row, end };

  // What may be read. A campaign's recipients must be a regular file: they are read twice
  // (the journal's fingerprint), which a FIFO cannot give, a FIFO with no writer would hang
  // the start, and a device never ends. A list to import may come through a pipe.
  enum class Source : std::uint8_t { any, regular_file };

  // Opens `path` and reads the header row. A UTF-8 BOM before it is skipped. Errors: the file
  // cannot be opened (the errno text), it is a directory (or, for Source::regular_file, not a
  // regular file: refused without waiting on a FIFO), it is empty, the header is malformed,
  // has an empty or duplicate column name. Column names are trimmed of surrounding spaces.
  // A file in another `encoding` is decoded to UTF-8 as it is read (encoding.h); the rows and
  // their line numbers are those of the decoded text. Bytes that do not decode end the
  // stream like a read error: status() says "path:line: bytes ... are not valid CP932".
  // (UTF-8 is not checked here: a campaign checks the whole file first, check_file_encoding.)
  static absl::StatusOr<std::unique_ptr<CsvReader>> open(
      const std::string& path, Source source = Source::any,
      TextEncoding encoding = TextEncoding::utf8);
  // The same with the first buffer of `buffer_bytes` (at least 1) instead of 256 KiB, which
  // grows as usual for long records. For tests and fuzzing: tiny buffers cut every record.
  static absl::StatusOr<std::unique_ptr<CsvReader>> open(
      const std::string& path, std::size_t buffer_bytes, Source source = Source::any,
      TextEncoding encoding = TextEncoding::utf8);

  const std::vector<std::string>& header() const { return header_; }
  const std::string& path() const { return path_; }

  // Reads the next record. row: `row` is filled. bad_row: `error` says why (wrong field count
  // "expected 3 fields, found 4", bad quoting, a record over limits::csv_row_bytes_max with
  // its line break) and `row.line` where; the reader has skipped to the start of the next
  // record. end: no more records (a read error ends the stream too and is kept in status()).
  // Blank lines are skipped.
  // Resync: a well-quoted record with the wrong field count is skipped whole. After bad quoting
  // (a quote inside an unquoted field, text after a closing quote, a quote never closed, a
  // bare CR) or an over-long row, reading resumes at the line after the record's first line,
  // so a stray quote costs its own row and never silently swallows the rows after it (the
  // other lines of a broken multi-line record are read again and usually reported too).
  // Field contents are not judged: CR, LF and NUL inside quoted fields are returned as is.
  Next next(CsvRow& row, std::string& error);

  // ok() unless reading failed part way (then the error with the errno text).
  const absl::Status& status() const { return status_; }

  // Bytes consumed so far, for progress (of the decoded text, when the file is decoded).
  std::uint64_t bytes_read() const { return bytes_read_; }

  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

 private:
  enum class Parse : std::uint8_t { complete, need_more, malformed };

  CsvReader() = default;
  // One record without the field-count check (shared by the header and the rows).
  Next read_record(CsvRow& row, std::string& error);
  // Parses the record at position_; on complete sets record_end_ and record_lines_.
  Parse parse_record(std::vector<std::string_view>& fields, std::size_t& fields_found,
                     std::string& error);
  bool skip_blank_lines();   // false: more bytes are needed to decide
  void fill();               // compacts, grows for a long record, reads; sets eof_ or status_
  void fill_decoded();       // fill() for a file in another encoding: reads raw_, decodes
  bool read_raw();           // more bytes into raw_; false after setting failed_ and status_
  void skip_to_next_line();  // resync after a bad record: past the first LF at position_
  std::string column_name(std::size_t index) const;

  int fd_ = -1;
  std::string path_;
  std::vector<std::string> header_;
  std::string buffer_;               // raw bytes read from the file, plus a sentinel byte
  std::size_t capacity_ = 0;         // usable bytes of buffer_ (the sentinel sits after them)
  std::size_t position_ = 0;         // parse position in buffer_
  std::size_t filled_ = 0;           // bytes valid in buffer_
  std::uint64_t buffer_offset_ = 0;  // file offset of buffer_[0]
  bool eof_ = false;
  bool failed_ = false;     // a read failed; status_ says why
  bool resync_ = false;     // the last record was malformed: skip its first line
  std::uint64_t line_ = 1;  // line of buffer_[position_]
  std::uint64_t bytes_read_ = 0;
  std::size_t fields_kept_max_ = 0;    // fields stored per record; more are only counted
  std::size_t record_end_ = 0;         // set by parse_record
  std::size_t record_fields_ = 0;      // fields of the last record, kept or not
  std::uint64_t record_lines_ = 0;     // line breaks the record spans, its own included
  std::size_t open_quote_column_ = 0;  // 1-based column of a quoted field still open
  std::string unquoted_;               // storage for fields that needed unquoting
  absl::Status status_;
  // Decoding (TextEncoding other than utf8): bytes as read, before decoding into buffer_.
  std::unique_ptr<TextDecoder> decoder_;
  std::string raw_;
  std::size_t raw_begin_ = 0;  // first byte not yet decoded
  std::size_t raw_end_ = 0;    // bytes valid in raw_
  bool raw_eof_ = false;
};

}  // namespace hayate::campaign::input
