// Tests for campaign/csv_reader: real exports (Excel, Mailchimp), RFC 4180 quoting, exact line
// numbers after multi-line records, resync after every kind of bad row, header errors, files
// larger than the read buffer, the row size limit, and short reads from a pipe.
#include "campaign/input/csv_reader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "campaign/limits.h"

namespace hayate::campaign {
namespace {

using Next = CsvReader::Next;

std::string data_path(std::string_view name) {
  return absl::StrCat(HAYATE_TEST_DATA_DIR, "/csv/", std::string(name));
}

// A file in the test's temporary directory, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(std::string_view contents) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = absl::StrCat(::testing::TempDir(), "csv_reader_test_", info->name(), "_", ::getpid(),
                         "_", counter_++, ".csv");
    std::ofstream out(path_, std::ios::binary);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

// One result of next(), with copies of the fields (the views die at the next call).
struct Record {
  Next kind = Next::end;
  std::uint64_t line = 0;
  std::vector<std::string> fields;
  std::string error;
};

std::string describe(const Record& record) {
  std::string text =
      absl::StrCat(record.kind == Next::row ? "row" : "bad_row", " line ", record.line, ":");
  for (const auto& field : record.fields) absl::StrAppend(&text, " [", field, "]");
  if (!record.error.empty()) absl::StrAppend(&text, " error: ", record.error);
  return text;
}

std::vector<Record> read_all(CsvReader& reader) {
  std::vector<Record> records;
  CsvRow row;
  std::string error;
  for (int guard = 0; guard < 10'000'000; ++guard) {
    error.clear();
    const Next next = reader.next(row, error);
    if (next == Next::end) return records;
    Record record{next, row.line, {}, next == Next::bad_row ? error : ""};
    for (std::string_view field : row.fields) record.fields.emplace_back(field);
    if (next == Next::row) {
      EXPECT_EQ(row.fields.size(), reader.header().size());
    } else {
      EXPECT_FALSE(error.empty());
    }
    records.push_back(std::move(record));
  }
  ADD_FAILURE() << "the reader does not end";
  return records;
}

std::unique_ptr<CsvReader> open_or_die(const std::string& path) {
  absl::StatusOr<std::unique_ptr<CsvReader>> reader = CsvReader::open(path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return nullptr;
  return std::move(reader).value();
}

Record row(std::uint64_t line, std::vector<std::string> fields) {
  return {Next::row, line, std::move(fields), ""};
}
Record bad(std::uint64_t line, std::string error) { return {Next::bad_row, line, {}, error}; }

void expect_records(const std::vector<Record>& actual, const std::vector<Record>& expected) {
  std::string actual_text;
  std::string expected_text;
  for (const auto& record : actual) absl::StrAppend(&actual_text, describe(record), "\n");
  for (const auto& record : expected) absl::StrAppend(&expected_text, describe(record), "\n");
  EXPECT_EQ(actual_text, expected_text);
}

std::vector<Record> read_file(const std::string& path, std::vector<std::string>* header = nullptr) {
  std::unique_ptr<CsvReader> reader = open_or_die(path);
  if (reader == nullptr) return {};
  if (header != nullptr) *header = reader->header();
  std::vector<Record> records = read_all(*reader);
  EXPECT_TRUE(reader->status().ok()) << reader->status();
  struct stat file_status {};
  EXPECT_EQ(::stat(path.c_str(), &file_status), 0);
  EXPECT_EQ(reader->bytes_read(), static_cast<std::uint64_t>(file_status.st_size));
  return records;
}

std::vector<Record> read_text(std::string_view contents) {
  TempFile file(contents);
  return read_file(file.path());
}

// Real-world files ----------------------------------------------------------------------------

TEST(CsvReader, PlainLfFile) {
  std::vector<std::string> header;
  expect_records(read_file(data_path("recipients_lf.csv"), &header),
                 {row(2, {"alice@example.com", "Alice", "Smith", "pro"}),
                  row(3, {"bob@example.org", "Bob", "Jones", "free"}),
                  row(4, {"carol@example.net", "Carol", "", "pro"})});
  EXPECT_EQ(header, (std::vector<std::string>{"email", "first_name", "last_name", "plan"}));
}

TEST(CsvReader, ExcelUtf8ExportWithBomAndCrlf) {
  std::vector<std::string> header;
  expect_records(read_file(data_path("excel_utf8_bom_crlf.csv"), &header),
                 {row(2, {"zoe@example.com", "Zoë, Ådne", "Oslo"}),
                  row(3, {"jp@example.jp", "日本 太郎", "東京"}),
                  row(4, {"max@example.de", "Max \"Mad\" Mustermann", "München"})});
  // The BOM is not part of the first column name.
  EXPECT_EQ(header, (std::vector<std::string>{"email", "name", "city"}));
}

TEST(CsvReader, MailchimpExportAllQuoted) {
  std::vector<std::string> header;
  expect_records(
      read_file(data_path("mailchimp_export.csv"), &header),
      {row(2, {"ann@example.com", "Ann", "Lee", "2", "2023-01-05 10:11:12", "\"vip\",\"2023\""}),
       row(3, {"ben@example.com", "Ben", "", "1", "2023-02-01 08:00:00", ""})});
  EXPECT_EQ(header, (std::vector<std::string>{"Email Address", "First Name", "Last Name",
                                              "MEMBER_RATING", "OPTIN_TIME", "TAGS"}));
}

// Quoting -------------------------------------------------------------------------------------

TEST(CsvReader, QuotedCommasEscapesAndMultiLineFields) {
  expect_records(read_file(data_path("quoted.csv")),
                 {row(2, {"a@example.com", "hello, world", "1"}),
                  row(3, {"b@example.com", "she said \"hi\"", "2"}),
                  row(4, {"c@example.com", "line one\nline two\nline three", "3"}),
                  // Lines 5 and 6 belong to the record of line 4.
                  row(7, {"d@example.com", "", "4"}), row(8, {"e@example.com", "plain", "5"})});
}

TEST(CsvReader, MultiLineFieldsWithCrlfKeepTheirBytesAndLineNumbers) {
  expect_records(read_text("a,b\r\n\"x\r\ny\",\"1\r\n\r\n2\"\r\nlast,row\r\n"),
                 {row(2, {"x\r\ny", "1\r\n\r\n2"}), row(6, {"last", "row"})});
}

TEST(CsvReader, EscapedQuotesEverywhere) {
  expect_records(read_text("a,b\n\"\"\"\",\"\"\"x\"\"\"\n\"a\"\"\",\"\"\"b\"\n\"\"\"\"\"\",\"\"\n"),
                 {row(2, {"\"", "\"x\""}), row(3, {"a\"", "\"b"}), row(4, {"\"\"", ""})});
}

TEST(CsvReader, FieldContentsAreNotJudged) {
  // CR, LF and NUL inside quoted fields come back as they are: the campaign rejects them.
  constexpr char contents_bytes[] = "email,name\n\"a@x.com\r\nRCPT TO:<b@y.com>\",\"n\0l\"\n";
  const std::string contents(contents_bytes, sizeof(contents_bytes) - 1);
  expect_records(read_text(contents),
                 {row(2, {"a@x.com\r\nRCPT TO:<b@y.com>", std::string("n\0l", 3)})});
}

TEST(CsvReader, EmptyFieldsAndTrailingComma) {
  expect_records(
      read_text("a,b,c\n,,\nx,,\n,,z\n\"\",\"\",\"\"\n"),
      {row(2, {"", "", ""}), row(3, {"x", "", ""}), row(4, {"", "", "z"}), row(5, {"", "", ""})});
}

TEST(CsvReader, SpacesAreKeptInFields) {
  expect_records(read_text("a,b\n  x , y \n"), {row(2, {"  x ", " y "})});
}

TEST(CsvReader, LastRecordWithoutNewline) {
  expect_records(read_text("a,b\nx,y"), {row(2, {"x", "y"})});
  expect_records(read_text("a,b\nx,\"y\""), {row(2, {"x", "y"})});
  expect_records(read_text("a,b\nx,y\r"), {row(2, {"x", "y"})});
  expect_records(read_text("a,b\nx,"), {row(2, {"x", ""})});
}

TEST(CsvReader, SingleColumn) {
  expect_records(read_text("email\na@example.com\n\"\"\nb@example.com\n"),
                 {row(2, {"a@example.com"}), row(3, {""}), row(4, {"b@example.com"})});
}

// Blank lines and BOM -------------------------------------------------------------------------

TEST(CsvReader, BlankLinesAreSkippedAndCounted) {
  std::vector<std::string> header;
  expect_records(read_file(data_path("blank_lines.csv"), &header),
                 {row(5, {"a@example.com", "A"}), row(8, {"b@example.com", "B"})});
  EXPECT_EQ(header, (std::vector<std::string>{"email", "name"}));
}

TEST(CsvReader, BomIsOnlySkippedAtTheStart) {
  expect_records(read_text("\xEF\xBB\xBF"
                           "a,b\n\xEF\xBB\xBFx,y\n"),
                 {row(2, {"\xEF\xBB\xBFx", "y"})});
}

// Bad rows and resync -------------------------------------------------------------------------

TEST(CsvReader, BadRowsInTheMiddleDoNotHideGoodRows) {
  expect_records(
      read_file(data_path("bad_rows.csv")),
      {row(2, {"good1@example.com", "One"}), bad(3, "expected 2 fields, found 3"),
       row(4, {"good2@example.com", "Two"}),
       bad(5,
           "quote inside the unquoted column 1 'email' (quote the whole field and double the "
           "quotes inside: \"a \"\"b\"\"\")"),
       row(6, {"good3@example.com", "Four"}),
       bad(7, "unexpected text after the closing quote of column 1 'email'"),
       row(8, {"good4@example.com", "Six"}), bad(9, "expected 2 fields, found 1"),
       row(10, {"good5@example.com", "Seven"})});
}

TEST(CsvReader, UnterminatedQuoteAtEndOfFileKeepsTheRowsAfterIt) {
  expect_records(
      read_file(data_path("unterminated.csv")),
      {row(2, {"a@example.com", "Alice"}), bad(3, "unterminated quoted field in column 1 'email'"),
       row(4, {"c@example.com", "Carol"}), row(5, {"d@example.com", "Dan"})});
}

TEST(CsvReader, UnterminatedQuoteOnTheLastLine) {
  expect_records(read_text("a,b\nx,y\nz,\"open"),
                 {row(2, {"x", "y"}), bad(3, "unterminated quoted field in column 2 'b'")});
}

TEST(CsvReader, StrayQuoteThatClosesOnALaterLine) {
  // The quote opened on line 2 is "closed" by the one starting line 3; the text after it is
  // an error, and reading resumes at line 3, which is itself a good record.
  expect_records(read_text("a,b\n\"x,y\n\"z\",w\nlast,row\n"),
                 {bad(2, "unexpected text after the closing quote of column 1 'a'"),
                  row(3, {"z", "w"}), row(4, {"last", "row"})});
}

TEST(CsvReader, BrokenMultiLineRecordIsReportedNotSwallowed) {
  expect_records(read_text("a,b\n1,\"multi\nline\"x\n2,ok\n"),
                 {bad(2, "unexpected text after the closing quote of column 2 'b'"),
                  bad(3,
                      "quote inside the unquoted column 1 'a' (quote the whole field and double "
                      "the quotes inside: \"a \"\"b\"\"\")"),
                  row(4, {"2", "ok"})});
}

TEST(CsvReader, WellQuotedRecordWithWrongCountIsSkippedWhole) {
  expect_records(read_text("a,b\n\"1\n2\",\"3\n4\",5\nx,y\n"),
                 {bad(2, "expected 2 fields, found 3"), row(5, {"x", "y"})});
}

TEST(CsvReader, BareCarriageReturn) {
  expect_records(read_text("a,b\nx,y\rz,w\nok,1\n"),
                 {bad(2,
                      "carriage return without line feed after column 2 'b' (records end with "
                      "CRLF or LF; a CR inside a field needs quotes)"),
                  row(3, {"ok", "1"})});
}

TEST(CsvReader, TooManyFieldsAreCountedNotStored) {
  std::string contents = "a,b\n";
  for (int i = 0; i < 5000; ++i) contents += "x,";
  contents += "x\nok,1\n";
  expect_records(read_text(contents),
                 {bad(2, "expected 2 fields, found 5001"), row(3, {"ok", "1"})});
}

// Header --------------------------------------------------------------------------------------

std::string open_error(const std::string& path,
                       absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  absl::StatusOr<std::unique_ptr<CsvReader>> reader = CsvReader::open(path);
  EXPECT_FALSE(reader.ok());
  if (reader.ok()) return "<opened>";
  EXPECT_EQ(reader.status().code(), code);
  return std::string(reader.status().message());
}

TEST(CsvReader, HeaderIsTrimmed) {
  std::vector<std::string> header;
  expect_records(read_file(data_path("header_spaces.csv"), &header),
                 {row(2, {"a@example.com", "A", "B"})});
  EXPECT_EQ(header, (std::vector<std::string>{"email", "first name", "city"}));
}

TEST(CsvReader, HeaderErrors) {
  const std::string empty_name = data_path("header_empty_name.csv");
  EXPECT_EQ(open_error(empty_name), empty_name + ":1: column 2 of the header has no name");
  const std::string duplicate = data_path("header_duplicate.csv");
  EXPECT_EQ(open_error(duplicate),
            duplicate + ":1: duplicate column name 'email' (columns 1 and 3)");
  const std::string empty = data_path("empty.csv");
  EXPECT_EQ(open_error(empty), empty +
                                   ": the file is empty (expected a header row of column "
                                   "names)");
  const std::string bom_only = data_path("bom_only.csv");
  EXPECT_EQ(open_error(bom_only), bom_only +
                                      ": the file is empty (expected a header row of "
                                      "column names)");

  TempFile unterminated("email,\"name\n");
  EXPECT_EQ(open_error(unterminated.path()),
            unterminated.path() + ":1: malformed header: unterminated quoted field in column 2");
  TempFile spaces_only("email,  \n");
  EXPECT_EQ(open_error(spaces_only.path()),
            spaces_only.path() + ":1: column 2 of the header has no name");
  TempFile control("email,\"na\nme\"\n");
  EXPECT_EQ(open_error(control.path()),
            control.path() + ":1: column 2 of the header has a control character in its name");
  TempFile late("\n\nemail,email\n");
  EXPECT_EQ(open_error(late.path()),
            late.path() + ":3: duplicate column name 'email' (columns 1 and 2)");
  std::string wide;
  for (std::uint32_t i = 0; i <= limits::csv_columns_max; ++i) absl::StrAppend(&wide, "c", i, ",");
  wide.back() = '\n';
  TempFile too_wide(wide);
  EXPECT_EQ(open_error(too_wide.path()),
            too_wide.path() + ":1: the header has more than 1024 columns");
}

TEST(CsvReader, OpenErrors) {
  const std::string missing = data_path("does_not_exist.csv");
  EXPECT_EQ(open_error(missing, absl::StatusCode::kNotFound),
            "cannot open CSV file '" + missing + "': No such file or directory");
  EXPECT_EQ(open_error(HAYATE_TEST_DATA_DIR),
            absl::StrCat("cannot read CSV file '", HAYATE_TEST_DATA_DIR, "': it is a directory"));
}

// Large inputs --------------------------------------------------------------------------------

// A file several times the read buffer, mixing record shapes (quoted, multi-line, CRLF, empty
// fields, bad rows) so that records straddle block boundaries; every record is checked.
TEST(CsvReader, FileLargerThanTheBuffer) {
  std::string contents = "email,name,id,note\n";
  std::vector<Record> expected;
  std::uint64_t line = 2;
  for (int i = 0; contents.size() < 5'000'000; ++i) {
    const std::string id = std::to_string(i);
    const std::string email = "user" + id + "@example.com";
    if (i % 997 == 0) {
      contents += email + ",too,many,fields,here\n";
      expected.push_back(bad(line, "expected 4 fields, found 5"));
      line += 1;
      continue;
    }
    if (i % 1009 == 0) {
      contents += email + ",bad\"quote," + id + ",x\n";
      expected.push_back(bad(line,
                             "quote inside the unquoted column 2 'name' (quote the whole field "
                             "and double the quotes inside: \"a \"\"b\"\"\")"));
      line += 1;
      continue;
    }
    switch (i % 4) {
      case 0:
        contents += email + ",Name " + id + "," + id + ",plain\n";
        expected.push_back(row(line, {email, "Name " + id, id, "plain"}));
        line += 1;
        break;
      case 1:
        contents += "\"" + email + "\",\"Last, First " + id + "\"," + id + ",\"say \"\"" + id +
                    "\"\"\"\r\n";
        expected.push_back(row(line, {email, "Last, First " + id, id, "say \"" + id + "\""}));
        line += 1;
        break;
      case 2:
        contents += email + ",\"multi\nline " + id + "\nend\"," + id + ",x\n";
        expected.push_back(row(line, {email, "multi\nline " + id + "\nend", id, "x"}));
        line += 3;
        break;
      default:
        contents += email + ",," + id + ",\n\n";
        expected.push_back(row(line, {email, "", id, ""}));
        line += 2;
        break;
    }
  }
  TempFile file(contents);
  const std::vector<Record> actual = read_file(file.path());
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    ASSERT_EQ(describe(actual[i]), describe(expected[i])) << "record " << i;
  }
}

TEST(CsvReader, RowAtTheSizeLimitIsReadOneByteMoreIsNot) {
  // The limit counts the record with its line break.
  const std::size_t max_bytes = limits::csv_row_bytes_max;
  const std::string at_limit = std::string(max_bytes - 3, 'x') + ",y\n";
  const std::string over_limit = std::string(max_bytes - 2, 'z') + ",y\n";
  ASSERT_EQ(at_limit.size(), max_bytes);
  expect_records(read_text("a,b\n" + at_limit + over_limit + "ok,1\n"),
                 {row(2, {std::string(max_bytes - 3, 'x'), "y"}), bad(3, "row over 1048576 bytes"),
                  row(4, {"ok", "1"})});
}

TEST(CsvReader, VeryLongLineIsSkippedWithoutHoldingIt) {
  const std::string long_line(3 * limits::csv_row_bytes_max + 12345, 'q');
  expect_records(
      read_text("a,b\nfirst,1\n" + long_line + "\nafter,2\n"),
      {row(2, {"first", "1"}), bad(3, "row over 1048576 bytes"), row(4, {"after", "2"})});
}

TEST(CsvReader, QuoteNeverClosedInALargeFile) {
  std::string contents = "email,note\nx@example.com,\"open\n";
  std::vector<Record> expected = {
      bad(2, "row over 1048576 bytes (the quoted field in column 2 'note' is never closed)")};
  for (int i = 0; i < 60'000; ++i) {
    const std::string email = "u" + std::to_string(i) + "@example.com";
    contents += email + ",n" + std::to_string(i) + "\n";
    expected.push_back(row(3 + i, {email, "n" + std::to_string(i)}));
  }
  ASSERT_GT(contents.size(), limits::csv_row_bytes_max);
  const std::vector<Record> actual = read_text(contents);
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    ASSERT_EQ(describe(actual[i]), describe(expected[i])) << "record " << i;
  }
}

// Short reads ---------------------------------------------------------------------------------

// Feeds `contents` through a FIFO one byte per write, so that every record (and every CRLF,
// quote pair and BOM) is cut by the end of a read; the result must equal reading a file.
std::vector<Record> read_through_pipe(const std::string& contents) {
  const std::string path = absl::StrCat(::testing::TempDir(), "csv_reader_test_fifo_", ::getpid());
  std::remove(path.c_str());
  EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0);
  std::thread writer([&] {
    std::FILE* out = std::fopen(path.c_str(), "wb");
    if (out == nullptr) return;
    std::setvbuf(out, nullptr, _IONBF, 0);
    for (char c : contents) std::fwrite(&c, 1, 1, out);
    std::fclose(out);
  });
  std::vector<Record> records;
  {
    std::unique_ptr<CsvReader> reader = open_or_die(path);
    if (reader != nullptr) {
      records = read_all(*reader);
      EXPECT_EQ(reader->bytes_read(), contents.size());
    }
  }
  writer.join();
  std::remove(path.c_str());
  return records;
}

TEST(CsvReader, ShortReadsGiveTheSameRecords) {
  for (const char* name : {"quoted.csv", "bad_rows.csv", "excel_utf8_bom_crlf.csv",
                           "blank_lines.csv", "unterminated.csv", "mailchimp_export.csv"}) {
    SCOPED_TRACE(name);
    std::ifstream in(data_path(name), std::ios::binary);
    const std::string contents((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    std::vector<Record> from_file = read_file(data_path(name));
    ASSERT_FALSE(from_file.empty());
    std::vector<Record> from_pipe = read_through_pipe(contents);
    expect_records(from_pipe, from_file);
  }
}

// A campaign's recipients must be a regular file: a FIFO without a writer is refused at once
// (the open never waits for one), and so is a device.
TEST(CsvReader, RegularFileOnlyRefusesFifosAndDevicesWithoutWaiting) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "csv_reader_test_lonely_fifo_", ::getpid());
  std::remove(path.c_str());
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  absl::StatusOr<std::unique_ptr<CsvReader>> fifo =
      CsvReader::open(path, CsvReader::Source::regular_file);
  std::remove(path.c_str());
  ASSERT_FALSE(fifo.ok());
  EXPECT_EQ(fifo.status().message(),
            absl::StrCat("cannot read CSV file '", path, "': it is a FIFO, not a regular file"));
  absl::StatusOr<std::unique_ptr<CsvReader>> device =
      CsvReader::open("/dev/zero", CsvReader::Source::regular_file);
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.status().message(),
            "cannot read CSV file '/dev/zero': it is a character device, not a regular file");
  EXPECT_TRUE(CsvReader::open(data_path("quoted.csv"), CsvReader::Source::regular_file).ok());
}

TEST(CsvReader, TinyBuffersGiveTheSameRecords) {
  // Buffers from 1 byte up: every record, CRLF, "" pair and BOM is cut at every offset, and
  // the buffer is compacted and grown many times.
  for (const char* name :
       {"quoted.csv", "bad_rows.csv", "excel_utf8_bom_crlf.csv", "blank_lines.csv",
        "unterminated.csv", "mailchimp_export.csv", "recipients_lf.csv", "header_spaces.csv"}) {
    SCOPED_TRACE(name);
    const std::vector<Record> expected = read_file(data_path(name));
    ASSERT_FALSE(expected.empty());
    for (std::size_t buffer_bytes = 1; buffer_bytes <= 80; ++buffer_bytes) {
      SCOPED_TRACE(buffer_bytes);
      auto reader = CsvReader::open(data_path(name), buffer_bytes);
      ASSERT_TRUE(reader.ok()) << reader.status();
      expect_records(read_all(**reader), expected);
    }
  }
}

TEST(CsvReader, FieldsAreValidUntilTheNextCall) {
  TempFile file("a,b\n\"x\"\"1\",plain\n\"y\"\"2\",other\n");
  std::unique_ptr<CsvReader> reader = open_or_die(file.path());
  ASSERT_NE(reader, nullptr);
  CsvRow row;
  std::string error;
  ASSERT_EQ(reader->next(row, error), Next::row);
  EXPECT_EQ(row.fields[0], "x\"1");
  EXPECT_EQ(row.fields[1], "plain");
  const std::uint64_t after_first = reader->bytes_read();
  EXPECT_EQ(after_first, 4u + 13u);
  ASSERT_EQ(reader->next(row, error), Next::row);
  EXPECT_EQ(row.fields[0], "y\"2");
  EXPECT_EQ(row.fields[1], "other");
  EXPECT_EQ(row.line, 3u);
  EXPECT_EQ(reader->next(row, error), Next::end);
  EXPECT_EQ(reader->next(row, error), Next::end);  // end stays end
  EXPECT_TRUE(reader->status().ok());
}

}  // namespace
}  // namespace hayate::campaign
