// Text encodings of recipient files and templates, as spreadsheets and editors save them,
// decoded to UTF-8 as a stream: a block at a time, a character cut by the end of a block
// carried over to the next. Also the pre-pass that reads a whole file once and says where the
// first undecodable bytes are, so that a run can refuse the file before anything is sent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hayate::campaign::inline input {

// Shift_JIS is read as CP932 (what Excel writes: Shift_JIS with NEC and IBM extensions such as
// ① and ㈱); latin1 as windows-1252 (what browsers do: 0x80-0x9F are € ‚ ƒ ... not controls).
// utf16 needs a byte order mark, which says little or big endian.
enum class TextEncoding : std::uint8_t { utf8, cp932, euc_jp, iso_2022_jp, utf16, windows_1252 };

// Job file names, case-insensitive: "utf-8" ("utf8"), "cp932" ("shift_jis", "sjis",
// "windows-31j"), "euc-jp", "iso-2022-jp", "utf-16", "windows-1252" ("latin1", "iso-8859-1").
bool parse_text_encoding(std::string_view name, TextEncoding& encoding);
std::string_view text_encoding_name(TextEncoding encoding);  // "cp932"
inline constexpr std::string_view text_encoding_choices =
    "\"utf-8\", \"cp932\" (or \"shift_jis\"), \"euc-jp\", \"iso-2022-jp\", \"utf-16\", "
    "\"windows-1252\" (or \"latin1\")";

// Length of the longest prefix of `text` that is well-formed UTF-8 (RFC 3629); text.size()
// when all of it is. A sequence cut short by the end of `text` is not part of the prefix.
std::size_t utf8_valid_prefix_bytes(std::string_view text);

// One stream's decoder (it keeps the shift state of ISO-2022-JP and the byte order of UTF-16
// between calls). Not shared between threads.
class TextDecoder {
 public:
  static absl::StatusOr<std::unique_ptr<TextDecoder>> create(TextEncoding encoding);
  ~TextDecoder();
  TextDecoder(const TextDecoder&) = delete;
  TextDecoder& operator=(const TextDecoder&) = delete;

  enum class Result : std::uint8_t { ok, invalid };
  // Decodes `input` into out[0, out_bytes) and says how much of each it used. ok: it stopped at
  // the end of the input or when `out` had no room for the next character (at least 4 bytes
  // of room always take one); a character cut short by the end of the input is left
  // unconsumed for the next call, unless `end_of_input`. invalid: input[consumed] starts bytes
  // that are not a character of the encoding (or a UTF-16 file has no byte order mark);
  // everything before them is decoded, and error() says what they are.
  Result decode(std::string_view input, bool end_of_input, char* out, std::size_t out_bytes,
                std::size_t& consumed, std::size_t& written);
  const std::string& error() const { return error_; }
  TextEncoding encoding() const { return encoding_; }

 private:
  explicit TextDecoder(TextEncoding encoding) : encoding_(encoding) {}
  Result decode_iconv(std::string_view input, bool end_of_input, char* out, std::size_t out_bytes,
                      std::size_t& consumed, std::size_t& written);
  static std::string bytes_at(std::string_view input, std::size_t at);
  Result fail(std::string message);

  TextEncoding encoding_;
  void* iconv_ = nullptr;  // iconv_t; none for utf8 and windows-1252, nor before a UTF-16 BOM
  bool bom_seen_ = false;  // utf16: the byte order mark was read
  std::string error_;
};

// Decodes a whole text held in memory (a template) to UTF-8. Errors read
// "NAME:LINE: bytes 0x82 0xFF are not valid CP932 (...)", the hint naming the job file's `key`.
absl::StatusOr<std::string> decode_text(std::string_view bytes, TextEncoding encoding,
                                        std::string_view name, std::string_view key);

// Reads the file at `path` once, in blocks, and checks that all of it decodes (the pre-pass
// before a run or a check: a file that cannot be read to its end must not start sending).
// Errors read "PATH:LINE: ..." with the line of the first bad bytes; in utf8 mode, when the
// file reads cleanly as CP932, the message says to set encoding = "cp932".
absl::Status check_file_encoding(const std::string& path, TextEncoding encoding,
                                 std::string_view key);

}  // namespace hayate::campaign::input
