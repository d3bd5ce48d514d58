// Tests for campaign/input/encoding and the CSV reader's decoding: Japanese and Western sample
// text made with iconv in each encoding, decoded in chunks of every small size (so that every
// character is cut by a chunk's end somewhere), through CsvReader with tiny buffers, UTF-16's
// byte order mark, and the pre-pass: file:line of the first bad bytes, and the cp932 hint.
#include "campaign/input/encoding.h"

#include <gtest/gtest.h>
#include <iconv.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/input/csv_reader.h"
#include "engine/strings.h"

namespace hayate::campaign {
namespace {

// `utf8` converted with glibc iconv to `to` (as the test's own reference, independent of the
// decoder under test, which goes the other way).
std::string convert(std::string_view utf8, const char* to) {
  iconv_t handle = iconv_open(to, "UTF-8");
  EXPECT_NE(handle, reinterpret_cast<iconv_t>(-1)) << to;
  std::string out(utf8.size() * 4 + 16, '\0');
  char* in = const_cast<char*>(utf8.data());
  std::size_t in_left = utf8.size();
  char* write = out.data();
  std::size_t out_left = out.size();
  EXPECT_NE(iconv(handle, &in, &in_left, &write, &out_left), static_cast<std::size_t>(-1)) << to;
  iconv(handle, nullptr, nullptr, &write, &out_left);
  iconv_close(handle);
  out.resize(out.size() - out_left);
  return out;
}

class TempFile {
 public:
  explicit TempFile(std::string_view contents) {
    path_ =
        hayate::cat(::testing::TempDir(), "encoding_test_", ::getpid(), "_", counter_++, ".csv");
    std::ofstream out(path_, std::ios::binary);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

// Decodes `input` fed in chunks of `chunk_bytes`, into an output of `out_bytes` a call.
std::string decode_in_chunks(TextEncoding encoding, std::string_view input, std::size_t chunk_bytes,
                             std::size_t out_bytes) {
  auto decoder = TextDecoder::create(encoding);
  EXPECT_TRUE(decoder.ok());
  std::string result;
  std::string pending;
  std::string out(out_bytes, '\0');
  std::size_t offset = 0;
  while (true) {
    const bool end = offset >= input.size();
    if (!end) pending.append(input.substr(offset, chunk_bytes));
    offset += chunk_bytes;
    for (;;) {
      std::size_t consumed = 0;
      std::size_t written = 0;
      const auto result_code = (*decoder)->decode(pending, end || offset >= input.size(),
                                                  out.data(), out.size(), consumed, written);
      EXPECT_EQ(result_code, TextDecoder::Result::ok) << (*decoder)->error();
      if (result_code != TextDecoder::Result::ok) return result;
      pending.erase(0, consumed);
      result.append(out.data(), written);
      if (consumed == 0 && written == 0) break;
    }
    if (end) break;
  }
  EXPECT_TRUE(pending.empty());
  return result;
}

const std::string japanese =
    "email,name,city\n"
    "yamada@example.jp,山田 太郎,東京都千代田区\n"
    "sato@example.jp,佐藤 花子 ﾊﾅｺ,大阪\n"  // half-width katakana: CP932 and EUC-JP only
    "kudo@example.jp,工藤 髙橋 ①,札幌\n";   // CP932 extensions
const std::string jis_safe =
    "email,name,city\n"
    "yamada@example.jp,山田 太郎,東京都千代田区\n"
    "suzuki@example.jp,鈴木「一郎」,名古屋\n";
const std::string western = "email,name\nzoe@example.com,Zoë “Quotes” – 5 €\nx@example.com,Ærø ‰\n";

struct Sample {
  TextEncoding encoding;
  const char* iconv_name;
  const std::string* text;
};

TEST(TextDecoderTest, DecodesEveryEncodingAcrossEveryChunkBoundary) {
  const Sample samples[] = {
      {TextEncoding::cp932, "CP932", &japanese},
      {TextEncoding::euc_jp, "EUC-JP", &jis_safe},
      {TextEncoding::iso_2022_jp, "ISO-2022-JP", &jis_safe},
      {TextEncoding::utf16, "UTF-16", &japanese},  // glibc writes a BOM
      {TextEncoding::windows_1252, "CP1252", &western},
      {TextEncoding::utf8, "UTF-8", &japanese},
  };
  for (const Sample& sample : samples) {
    const std::string encoded = convert(*sample.text, sample.iconv_name);
    ASSERT_FALSE(encoded.empty());
    for (std::size_t chunk = 1; chunk <= 9; ++chunk) {
      for (std::size_t out_bytes : {4, 7, 4096}) {
        EXPECT_EQ(decode_in_chunks(sample.encoding, encoded, chunk, out_bytes), *sample.text)
            << text_encoding_name(sample.encoding) << " chunk " << chunk << " out " << out_bytes;
      }
    }
  }
}

TEST(TextDecoderTest, Utf16NeedsAByteOrderMarkAndFollowsIt) {
  const std::string text = "email,name\na@example.jp,日本\n";
  for (const char* order : {"UTF-16LE", "UTF-16BE"}) {
    const std::string bom = std::string(order) == "UTF-16LE" ? "\xFF\xFE" : "\xFE\xFF";
    EXPECT_EQ(decode_in_chunks(TextEncoding::utf16, bom + convert(text, order), 3, 64), text);
  }
  auto decoder = TextDecoder::create(TextEncoding::utf16);
  ASSERT_TRUE(decoder.ok());
  const std::string no_bom = convert(text, "UTF-16LE");
  char out[64];
  std::size_t consumed = 0;
  std::size_t written = 0;
  EXPECT_EQ((*decoder)->decode(no_bom, true, out, sizeof(out), consumed, written),
            TextDecoder::Result::invalid);
  EXPECT_NE((*decoder)->error().find("byte order mark"), std::string::npos);
}

TEST(TextDecoderTest, Windows1252IsReadAsBrowsersDo) {
  EXPECT_EQ(decode_in_chunks(TextEncoding::windows_1252, "\x80\x81\x9F\xE9\xFF", 1, 8),
            "€\xC2\x81Ÿéÿ");
  TextEncoding encoding = TextEncoding::utf8;
  ASSERT_TRUE(parse_text_encoding("latin1", encoding));
  EXPECT_EQ(encoding, TextEncoding::windows_1252);
  ASSERT_TRUE(parse_text_encoding("Shift_JIS", encoding));
  EXPECT_EQ(encoding, TextEncoding::cp932);
  EXPECT_FALSE(parse_text_encoding("klingon", encoding));
}

TEST(TextDecoderTest, InvalidBytesStopWhereTheyAre) {
  auto decoder = TextDecoder::create(TextEncoding::cp932);
  ASSERT_TRUE(decoder.ok());
  const std::string input = convert("ab日", "CP932") + "\xFF" + "cd";
  char out[64];
  std::size_t consumed = 0;
  std::size_t written = 0;
  EXPECT_EQ((*decoder)->decode(input, false, out, sizeof(out), consumed, written),
            TextDecoder::Result::invalid);
  EXPECT_EQ(consumed, 4u);
  EXPECT_EQ(std::string(out, written), "ab日");
  EXPECT_NE((*decoder)->error().find("0xFF"), std::string::npos) << (*decoder)->error();
  // A lead byte alone at the very end: cut short.
  auto again = TextDecoder::create(TextEncoding::cp932);
  EXPECT_EQ((*again)->decode("a\x93", true, out, sizeof(out), consumed, written),
            TextDecoder::Result::invalid);
  EXPECT_EQ((*again)->decode("a\x93", false, out, sizeof(out), consumed, written),
            TextDecoder::Result::ok);
  EXPECT_EQ(consumed, 1u);
}

TEST(Utf8ValidPrefixTest, FindsTheFirstBadByte) {
  EXPECT_EQ(utf8_valid_prefix_bytes("plain ascii text that is longer than sixteen"), 44u);
  EXPECT_EQ(utf8_valid_prefix_bytes("日本語"), 9u);
  EXPECT_EQ(utf8_valid_prefix_bytes("0123456789abcdef\x80"), 16u);
  EXPECT_EQ(utf8_valid_prefix_bytes("ab\xE6\x97"), 2u);      // cut short
  EXPECT_EQ(utf8_valid_prefix_bytes("ab\xC0\xAF"), 2u);      // overlong
  EXPECT_EQ(utf8_valid_prefix_bytes("ab\xED\xA0\x80"), 2u);  // surrogate
}

TEST(CheckFileEncodingTest, NamesTheLineAndSuggestsCp932) {
  const TempFile cp932(convert("email,name\na@example.jp,A\nb@example.jp,山田\n", "CP932"));
  const absl::Status status = check_file_encoding(cp932.path(), TextEncoding::utf8, "encoding");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(cp932.path() + ":3: byte 0x8E is not valid UTF-8"),
            std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("encoding = \"cp932\""), std::string::npos) << status.message();
  EXPECT_TRUE(check_file_encoding(cp932.path(), TextEncoding::cp932, "encoding").ok());

  // Not CP932 either: no such hint.
  const TempFile broken("email,name\na@example.jp,A\xFF\xFF\n");
  const absl::Status other = check_file_encoding(broken.path(), TextEncoding::utf8, "encoding");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.message().find(":2: byte 0xFF"), std::string::npos) << other.message();
  EXPECT_EQ(other.message().find("\"cp932\" in"), std::string::npos) << other.message();

  // In another encoding, the line is the decoded text's.
  const TempFile bad_euc(convert("email,name\n\na@example.jp,東京\n", "EUC-JP") + "\x8E\xFF\n");
  const absl::Status euc = check_file_encoding(bad_euc.path(), TextEncoding::euc_jp, "encoding");
  ASSERT_FALSE(euc.ok());
  EXPECT_NE(euc.message().find(":4: bytes 0x8E 0xFF are not valid EUC-JP"), std::string::npos)
      << euc.message();
}

TEST(CheckFileEncodingTest, ALargeValidFileAcrossBlocks) {
  std::string text = "email,name\n";
  for (int i = 0; i < 200'000; ++i) text += hayate::cat("user", i, "@example.jp,山田 太郎\n");
  const TempFile file(text);
  EXPECT_TRUE(check_file_encoding(file.path(), TextEncoding::utf8, "encoding").ok());
  const TempFile cp932(convert(text, "CP932"));
  EXPECT_TRUE(check_file_encoding(cp932.path(), TextEncoding::cp932, "encoding").ok());
}

TEST(DecodeTextTest, TemplatesNameTheirLine) {
  const std::string cp932 = convert("こんにちは\n{{name}} 様\n", "CP932");
  auto decoded = decode_text(cp932, TextEncoding::cp932, "body.txt", "template_encoding");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, "こんにちは\n{{name}} 様\n");
  auto refused = decode_text(cp932, TextEncoding::utf8, "body.txt", "template_encoding");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("body.txt:1: "), std::string::npos);
  EXPECT_NE(refused.status().message().find("template_encoding = \"cp932\""), std::string::npos)
      << refused.status().message();
}

// The reader decodes as it goes: rows and line numbers are the decoded text's, whatever the
// buffer size.
TEST(CsvReaderDecodingTest, RowsAndLinesThroughTinyBuffers) {
  const std::string text =
      "email,name\n"
      "a@example.jp,\"山田\n太郎\"\n"
      "b@example.jp,佐藤,extra\n"
      "c@example.jp,鈴木\n";
  const Sample samples[] = {{TextEncoding::cp932, "CP932", nullptr},
                            {TextEncoding::euc_jp, "EUC-JP", nullptr},
                            {TextEncoding::iso_2022_jp, "ISO-2022-JP", nullptr},
                            {TextEncoding::utf16, "UTF-16", nullptr}};
  for (const Sample& sample : samples) {
    const TempFile file(convert(text, sample.iconv_name));
    for (std::size_t buffer_bytes : {1, 2, 5, 64, 256 * 1024}) {
      auto reader =
          CsvReader::open(file.path(), buffer_bytes, CsvReader::Source::any, sample.encoding);
      ASSERT_TRUE(reader.ok()) << reader.status().message();
      ASSERT_EQ((*reader)->header(), (std::vector<std::string>{"email", "name"}));
      CsvRow row;
      std::string error;
      ASSERT_EQ((*reader)->next(row, error), CsvReader::Next::row);
      EXPECT_EQ(row.line, 2u);
      EXPECT_EQ(row.fields[1], "山田\n太郎");
      ASSERT_EQ((*reader)->next(row, error), CsvReader::Next::bad_row);
      EXPECT_EQ(row.line, 4u);
      ASSERT_EQ((*reader)->next(row, error), CsvReader::Next::row);
      EXPECT_EQ(row.line, 5u);
      EXPECT_EQ(row.fields[1], "鈴木");
      EXPECT_EQ((*reader)->next(row, error), CsvReader::Next::end);
      EXPECT_TRUE((*reader)->status().ok());
    }
  }
}

TEST(CsvReaderDecodingTest, UndecodableBytesEndTheStreamWithFileAndLine) {
  const TempFile file(convert("email,name\na@example.jp,山田\n", "CP932") +
                      "b@example.jp,\x82\xFF\n");
  auto reader = CsvReader::open(file.path(), 8, CsvReader::Source::any, TextEncoding::cp932);
  ASSERT_TRUE(reader.ok());
  CsvRow row;
  std::string error;
  while ((*reader)->next(row, error) != CsvReader::Next::end) {
  }
  ASSERT_FALSE((*reader)->status().ok());
  EXPECT_NE((*reader)->status().message().find(file.path() + ":3: bytes 0x82 0xFF"),
            std::string::npos)
      << (*reader)->status().message();
}

}  // namespace
}  // namespace hayate::campaign
