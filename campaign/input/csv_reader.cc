// Streaming RFC 4180 reader: one block buffer refilled with read(2), records parsed in place
// with a table-driven scan for the four special bytes, fields as views (into the block, or
// into a side buffer for quoted fields with "" escapes). A record cut by the end of the block
// is parsed again once the tail has been moved to the front and the block refilled.
#include "campaign/input/csv_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "campaign/limits.h"
#include "engine/assert.h"
#include "engine/files.h"
#include "engine/strings.h"

namespace hayate::campaign::inline input {
namespace {

// The buffer starts at this size; one read(2) fills what is free of it, so syscalls cost
// nothing per row.
constexpr std::size_t block_bytes = 256 * 1024;
// The buffer grows (once, for a long record) up to the longest record allowed; a record
// still incomplete when it fills that much is over the limit.
constexpr std::size_t buffer_bytes_max =
    std::max<std::size_t>(block_bytes, limits::csv_row_bytes_max);
constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";
// Bytes read at a time from a file that is decoded; decoding writes up to 3 bytes each.
constexpr std::size_t raw_block_bytes = 64 * 1024;
// Room a decoder needs to make progress: the longest UTF-8 character.
constexpr std::size_t decoded_room_min = 4;

constexpr std::array<bool, 256> make_special_table() {
  std::array<bool, 256> table{};
  table[static_cast<unsigned char>(',')] = true;
  table[static_cast<unsigned char>('"')] = true;
  table[static_cast<unsigned char>('\n')] = true;
  table[static_cast<unsigned char>('\r')] = true;
  return table;
}
constexpr std::array<bool, 256> special_table = make_special_table();

std::string errno_text(int error_number) {
  return std::error_code(error_number, std::generic_category()).message();
}

absl::Status errno_status(int error_number, std::string message) {
  switch (error_number) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(std::move(message));
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(std::move(message));
    default:
      return absl::UnavailableError(std::move(message));
  }
}

std::uint64_t count_line_feeds(const char* begin, const char* end) {
  std::uint64_t count = 0;
  while (begin < end) {
    const void* found = std::memchr(begin, '\n', static_cast<std::size_t>(end - begin));
    if (found == nullptr) break;
    ++count;
    begin = static_cast<const char*>(found) + 1;
  }
  return count;
}

}  // namespace

CsvReader::~CsvReader() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::unique_ptr<CsvReader>> CsvReader::open(const std::string& path, Source source,
                                                           TextEncoding encoding) {
  return open(path, block_bytes, source, encoding);
}

absl::StatusOr<std::unique_ptr<CsvReader>> CsvReader::open(const std::string& path,
                                                           std::size_t buffer_bytes, Source source,
                                                           TextEncoding encoding) {
  std::unique_ptr<CsvReader> reader(new CsvReader());
  reader->path_ = path;
  if (encoding != TextEncoding::utf8) {
    absl::StatusOr<std::unique_ptr<TextDecoder>> decoder = TextDecoder::create(encoding);
    if (!decoder.ok()) return decoder.status();
    reader->decoder_ = std::move(*decoder);
    reader->raw_.resize(std::min(raw_block_bytes, std::max<std::size_t>(buffer_bytes, 1)) +
                        decoded_room_min);
  }
  const bool regular_only = source == Source::regular_file;
  // O_NONBLOCK while opening a regular file only: a FIFO would block the open until a writer
  // comes. (A pipe, where one is welcome, is opened as usual: waiting for its writer.)
  reader->fd_ =
      ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | (regular_only ? O_NONBLOCK : 0));
  if (reader->fd_ < 0) {
    const int error_number = errno;
    return errno_status(error_number, absl::StrFormat("cannot open CSV file '%s': %s", path,
                                                      errno_text(error_number)));
  }
  struct stat file_status {};
  if (::fstat(reader->fd_, &file_status) != 0) {
    const int error_number = errno;
    return errno_status(error_number, absl::StrFormat("cannot read CSV file '%s': %s", path,
                                                      errno_text(error_number)));
  }
  if (S_ISDIR(file_status.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cannot read CSV file '%s': it is a directory", path));
  }
  if (regular_only && !S_ISREG(file_status.st_mode)) {
    const std::string_view type = file_type_name(file_status.st_mode);
    return absl::InvalidArgumentError(
        absl::StrFormat("cannot read CSV file '%s': it is %s, not a regular file", path,
                        absl::string_view(type.data(), type.size())));
  }
  const int flags = ::fcntl(reader->fd_, F_GETFL);
  if (flags < 0 || ::fcntl(reader->fd_, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    const int error_number = errno;
    return errno_status(error_number, absl::StrFormat("cannot read CSV file '%s': %s", path,
                                                      errno_text(error_number)));
  }
  ::posix_fadvise(reader->fd_, 0, 0, POSIX_FADV_SEQUENTIAL);  // a hint; failure is harmless

  reader->capacity_ = std::clamp<std::size_t>(buffer_bytes, 1, buffer_bytes_max);
  reader->buffer_.resize(reader->capacity_ + 1);
  reader->unquoted_.resize(reader->capacity_);
  reader->buffer_[0] = '\n';  // sentinel

  // Skip a UTF-8 byte order mark (spreadsheets write one); short reads are possible on pipes.
  while (reader->filled_ < utf8_bom.size() && !reader->eof_ && !reader->failed_) reader->fill();
  if (reader->failed_) return reader->status_;
  if (std::string_view(reader->buffer_.data(), reader->filled_).starts_with(utf8_bom)) {
    reader->position_ = utf8_bom.size();
  }

  CsvRow row;
  std::string error;
  reader->fields_kept_max_ = limits::csv_columns_max + 1;
  const Next first = reader->read_record(row, error);
  if (reader->failed_) return reader->status_;
  if (first == Next::end) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: the file is empty (expected a header row of column names)", path));
  }
  if (first == Next::bad_row) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s:%d: malformed header: %s", path, row.line, error));
  }
  if (row.fields.size() > limits::csv_columns_max) {
    return absl::InvalidArgumentError(absl::StrFormat("%s:%d: the header has more than %u columns",
                                                      path, row.line, limits::csv_columns_max));
  }

  absl::flat_hash_map<std::string_view, std::size_t> seen;
  reader->header_.reserve(row.fields.size());
  for (std::size_t i = 0; i < row.fields.size(); ++i) {
    const std::string_view name = trim(row.fields[i]);
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s:%d: column %d of the header has no name", path, row.line, i + 1));
    }
    for (char c : name) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte == 0x7F) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s:%d: column %d of the header has a control character in its name",
                            path, row.line, i + 1));
      }
    }
    const auto [it, inserted] = seen.emplace(name, i);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s:%d: duplicate column name '%s' (columns %d and %d)", path, row.line,
                          name, it->second + 1, i + 1));
    }
    reader->header_.emplace_back(name);
  }
  reader->fields_kept_max_ = reader->header_.size();
  return reader;
}

std::string CsvReader::column_name(std::size_t index) const {
  if (index < header_.size()) return absl::StrFormat("column %d '%s'", index + 1, header_[index]);
  return absl::StrFormat("column %d", index + 1);
}

CsvReader::Next CsvReader::next(CsvRow& row, std::string& error) {
  const Next result = read_record(row, error);
  if (result != Next::row) return result;
  if (row.fields.size() != header_.size() || record_fields_ != header_.size()) {
    error = absl::StrFormat("expected %d fields, found %d", header_.size(), record_fields_);
    row.fields.clear();
    return Next::bad_row;
  }
  return Next::row;
}

CsvReader::Next CsvReader::read_record(CsvRow& row, std::string& error) {
  // Each pass either returns, consumes bytes, or reads more (fill() sets eof_ or failed_ when
  // it cannot), so the loop ends.
  for (;;) {
    bytes_read_ = buffer_offset_ + position_;
    if (failed_) return Next::end;
    if (resync_) {
      skip_to_next_line();
      continue;
    }
    if (!skip_blank_lines()) {
      fill();
      continue;
    }
    if (position_ == filled_) {
      if (eof_) {
        bytes_read_ = buffer_offset_ + position_;
        return Next::end;
      }
      fill();
      continue;
    }
    std::size_t fields_found = 0;
    const Parse parsed = parse_record(row.fields, fields_found, error);
    row.line = line_;
    if (parsed == Parse::need_more) {
      HAYATE_ASSERT(!eof_);
      // need_more: the record is longer than what is buffered, line break included.
      if (filled_ - position_ >= limits::csv_row_bytes_max) {
        error = absl::StrFormat("row over %u bytes", limits::csv_row_bytes_max);
        if (open_quote_column_ != 0) {
          absl::StrAppend(&error, " (the quoted field in ", column_name(open_quote_column_ - 1),
                          " is never closed)");
        }
        row.fields.clear();
        resync_ = true;
        return Next::bad_row;
      }
      fill();
      continue;
    }
    if (parsed == Parse::malformed) {
      row.fields.clear();
      resync_ = true;
      return Next::bad_row;
    }
    const std::size_t record_bytes = record_end_ - position_;
    record_fields_ = fields_found;
    position_ = record_end_;
    line_ += record_lines_;
    bytes_read_ = buffer_offset_ + position_;
    HAYATE_ASSERT(position_ <= filled_);
    if (record_bytes > limits::csv_row_bytes_max) {  // only when the block outgrows the limit
      error = absl::StrFormat("row over %u bytes", limits::csv_row_bytes_max);
      row.fields.clear();
      return Next::bad_row;
    }
    return Next::row;
  }
}

bool CsvReader::skip_blank_lines() {
  const char* const data = buffer_.data();
  while (position_ < filled_) {
    const char c = data[position_];
    if (c == '\n') {
      ++position_;
      ++line_;
    } else if (c == '\r') {
      if (position_ + 1 == filled_) {
        if (!eof_) return false;
        ++position_;  // a lone CR ending the file
      } else if (data[position_ + 1] == '\n') {
        position_ += 2;
        ++line_;
      } else {
        return true;  // a bare CR: parse_record reports it
      }
    } else {
      return true;
    }
  }
  return true;
}

void CsvReader::skip_to_next_line() {
  HAYATE_ASSERT(resync_);
  const char* const data = buffer_.data();
  const void* found = std::memchr(data + position_, '\n', filled_ - position_);
  if (found != nullptr) {
    position_ = static_cast<std::size_t>(static_cast<const char*>(found) - data) + 1;
    ++line_;
    resync_ = false;
    return;
  }
  // The line goes on past the buffer (an over-long row): drop what we have and read on.
  position_ = filled_;
  if (eof_) {
    resync_ = false;
    return;
  }
  fill();
}

void CsvReader::fill() {
  HAYATE_ASSERT(!eof_ && !failed_);
  if (decoder_ != nullptr) {
    fill_decoded();
    return;
  }
  if (position_ > 0) {
    // Compact: the unparsed tail moves to the front, views into the old block die here.
    std::memmove(buffer_.data(), buffer_.data() + position_, filled_ - position_);
    buffer_offset_ += position_;
    filled_ -= position_;
    position_ = 0;
  }
  if (filled_ == capacity_) {
    // One record fills the whole block: grow, up to what the longest allowed record needs.
    HAYATE_ASSERT(capacity_ < buffer_bytes_max);
    capacity_ = std::min(buffer_bytes_max, capacity_ * 2);
    buffer_.resize(capacity_ + 1);
    unquoted_.resize(capacity_);
  }
  HAYATE_ASSERT(filled_ < capacity_);
  ssize_t got = 0;
  do {
    got = ::read(fd_, buffer_.data() + filled_, capacity_ - filled_);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    const int error_number = errno;
    failed_ = true;
    status_ = errno_status(error_number,
                           absl::StrFormat("cannot read CSV file '%s' at byte %d: %s", path_,
                                           buffer_offset_ + filled_, errno_text(error_number)));
    return;
  }
  if (got == 0) {
    eof_ = true;
  }
  filled_ += static_cast<std::size_t>(got);
  buffer_[filled_] = '\n';  // sentinel: the unquoted scan needs no bounds check
}

bool CsvReader::read_raw() {
  HAYATE_ASSERT(!raw_eof_);
  // The bytes left over (a character cut by the end of the last read) move to the front.
  std::memmove(raw_.data(), raw_.data() + raw_begin_, raw_end_ - raw_begin_);
  raw_end_ -= raw_begin_;
  raw_begin_ = 0;
  HAYATE_ASSERT(raw_end_ < raw_.size());
  ssize_t got = 0;
  do {
    got = ::read(fd_, raw_.data() + raw_end_, raw_.size() - raw_end_);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    const int error_number = errno;
    failed_ = true;
    status_ = errno_status(error_number, absl::StrFormat("cannot read CSV file '%s': %s", path_,
                                                         errno_text(error_number)));
    return false;
  }
  raw_eof_ = got == 0;
  raw_end_ += static_cast<std::size_t>(got);
  return true;
}

void CsvReader::fill_decoded() {
  if (position_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + position_, filled_ - position_);
    buffer_offset_ += position_;
    filled_ -= position_;
    position_ = 0;
  }
  // The longest record allowed, plus room for one more character, so that the row limit in
  // read_record() is reached before the buffer stops taking bytes.
  constexpr std::size_t capacity_max = buffer_bytes_max + decoded_room_min;
  while (capacity_ - filled_ < decoded_room_min) {
    HAYATE_ASSERT(capacity_ < capacity_max);
    capacity_ = std::min(capacity_max, capacity_ * 2);
    buffer_.resize(capacity_ + 1);
    unquoted_.resize(capacity_);
  }
  // Each pass decodes something, reads more, or ends: read() returns 0 at the end.
  for (;;) {
    std::size_t consumed = 0;
    std::size_t written = 0;
    const std::string_view raw(raw_.data() + raw_begin_, raw_end_ - raw_begin_);
    const TextDecoder::Result result = decoder_->decode(raw, raw_eof_, buffer_.data() + filled_,
                                                        capacity_ - filled_, consumed, written);
    raw_begin_ += consumed;
    filled_ += written;
    if (result == TextDecoder::Result::invalid) {
      const std::uint64_t line =
          line_ + count_line_feeds(buffer_.data() + position_, buffer_.data() + filled_);
      failed_ = true;
      status_ =
          absl::InvalidArgumentError(absl::StrFormat("%s:%d: %s", path_, line, decoder_->error()));
      break;
    }
    if (written > 0) break;
    if (raw_eof_ && raw_begin_ == raw_end_) {
      eof_ = true;
      break;
    }
    if (consumed == 0 && !read_raw()) break;
  }
  buffer_[filled_] = '\n';  // sentinel
}

CsvReader::Parse CsvReader::parse_record(std::vector<std::string_view>& fields,
                                         std::size_t& fields_found, std::string& error) {
  const char* const begin = buffer_.data();
  const char* const end = begin + filled_;
  const char* p = begin + position_;
  HAYATE_ASSERT(p < end && *end == '\n');
  // Unescaped text of all fields together is never longer than the record, which fits in
  // the block, so unquoted_ (as large as the block) never reallocates under the views.
  char* const side = unquoted_.data();
  std::size_t side_used = 0;
  std::uint64_t quoted_line_feeds = 0;
  fields.clear();
  fields_found = 0;
  open_quote_column_ = 0;

  for (;;) {  // one field per pass
    std::string_view value;
    bool quoted = false;
    if (*p != '"') {
      const char* const start = p;
      while (!special_table[static_cast<unsigned char>(*p)]) ++p;
      value = std::string_view(start, static_cast<std::size_t>(p - start));
    } else {
      quoted = true;
      const char* const open = p;
      const char* segment = p + 1;
      const char* search = segment;
      char* out_start = nullptr;
      char* out = nullptr;
      for (;;) {
        const auto* quote = static_cast<const char*>(
            std::memchr(search, '"', static_cast<std::size_t>(end - search)));
        if (quote == nullptr || (quote + 1 == end && !eof_)) {
          if (quote == nullptr && eof_) {
            error = absl::StrCat("unterminated quoted field in ", column_name(fields_found));
            return Parse::malformed;
          }
          open_quote_column_ = quote == nullptr ? fields_found + 1 : 0;
          return Parse::need_more;
        }
        if (quote + 1 < end && quote[1] == '"') {  // RFC 4180 2.7: "" is one quote
          if (out == nullptr) out = out_start = side + side_used;
          const auto length = static_cast<std::size_t>(quote + 1 - segment);
          std::memcpy(out, segment, length);
          out += length;
          segment = search = quote + 2;
          continue;
        }
        if (out == nullptr) {
          value = std::string_view(segment, static_cast<std::size_t>(quote - segment));
        } else {
          const auto length = static_cast<std::size_t>(quote - segment);
          std::memcpy(out, segment, length);
          out += length;
          value = std::string_view(out_start, static_cast<std::size_t>(out - out_start));
          side_used += value.size();
          HAYATE_ASSERT(side_used <= unquoted_.size());
        }
        quoted_line_feeds += count_line_feeds(open, quote);
        p = quote + 1;
        break;
      }
    }
    if (fields_found < fields_kept_max_) fields.push_back(value);
    ++fields_found;

    // The byte after the field must end it.
    if (p == end) {
      if (!eof_) return Parse::need_more;
      record_end_ = filled_;
      break;
    }
    const char c = *p;
    if (c == ',') {
      ++p;
      continue;
    }
    if (c == '\n') {
      record_end_ = static_cast<std::size_t>(p + 1 - begin);
      break;
    }
    if (c == '\r') {
      if (p + 1 == end) {
        if (!eof_) return Parse::need_more;
        record_end_ = filled_;
        break;
      }
      if (p[1] == '\n') {
        record_end_ = static_cast<std::size_t>(p + 2 - begin);
        break;
      }
      error =
          absl::StrCat("carriage return without line feed after ", column_name(fields_found - 1),
                       " (records end with CRLF or LF; a CR inside a field needs quotes)");
      return Parse::malformed;
    }
    if (quoted) {
      error = absl::StrCat("unexpected text after the closing quote of ",
                           column_name(fields_found - 1));
    } else {
      error =
          absl::StrCat("quote inside the unquoted ", column_name(fields_found - 1),
                       " (quote the whole field and double the quotes inside: \"a \"\"b\"\"\")");
    }
    return Parse::malformed;
  }
  record_lines_ = quoted_line_feeds + 1;
  HAYATE_ASSERT(record_end_ > position_ && record_end_ <= filled_);
  return Parse::complete;
}

}  // namespace hayate::campaign::input
