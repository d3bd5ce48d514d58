// Decoding to UTF-8: glibc iconv for CP932, EUC-JP, ISO-2022-JP and UTF-16; a table for
// windows-1252 (glibc's CP1252 refuses the five bytes WHATWG maps to C1 controls); a check
// and a copy for UTF-8. iconv stops before a character cut by the end of its input (EINVAL),
// which is how a block's last character is carried over to the next.
#include "campaign/input/encoding.h"

#include <fcntl.h>
#include <iconv.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/assert.h"
#include "engine/strings.h"
#include "engine/utf8.h"

namespace hayate::campaign::inline input {
namespace {

constexpr std::size_t utf8_character_bytes_max = 4;
constexpr std::size_t check_block_bytes = 1 << 20;
const iconv_t no_iconv = reinterpret_cast<iconv_t>(-1);

struct EncodingName {
  std::string_view name;
  TextEncoding encoding;
};
constexpr std::array<EncodingName, 15> encoding_names = {{
    {"utf-8", TextEncoding::utf8},
    {"utf8", TextEncoding::utf8},
    {"cp932", TextEncoding::cp932},
    {"shift_jis", TextEncoding::cp932},
    {"shift-jis", TextEncoding::cp932},
    {"sjis", TextEncoding::cp932},
    {"windows-31j", TextEncoding::cp932},
    {"euc-jp", TextEncoding::euc_jp},
    {"iso-2022-jp", TextEncoding::iso_2022_jp},
    {"utf-16", TextEncoding::utf16},
    {"windows-1252", TextEncoding::windows_1252},
    {"cp1252", TextEncoding::windows_1252},
    {"latin1", TextEncoding::windows_1252},
    {"iso-8859-1", TextEncoding::windows_1252},
    {"utf16", TextEncoding::utf16},
}};

// What error messages call an encoding.
std::string_view display_name(TextEncoding encoding) {
  switch (encoding) {
    case TextEncoding::utf8:
      return "UTF-8";
    case TextEncoding::cp932:
      return "CP932 (Shift_JIS)";
    case TextEncoding::euc_jp:
      return "EUC-JP";
    case TextEncoding::iso_2022_jp:
      return "ISO-2022-JP";
    case TextEncoding::utf16:
      return "UTF-16";
    case TextEncoding::windows_1252:
      return "windows-1252";
  }
  HAYATE_ASSERT(false);
  return "";
}

const char* iconv_name(TextEncoding encoding) {
  switch (encoding) {
    case TextEncoding::cp932:
      return "CP932";
    case TextEncoding::euc_jp:
      return "EUC-JP";
    case TextEncoding::iso_2022_jp:
      return "ISO-2022-JP";
    default:
      return nullptr;  // utf16 opens once its byte order mark is read
  }
}

// WHATWG Encoding Standard, index windows-1252: 0x80-0x9F; every other byte is its own code
// point (ISO-8859-1).
constexpr std::array<char16_t, 32> windows_1252_high = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

std::size_t append_utf8(char32_t code_point, char* out) {
  if (code_point < 0x80) {
    out[0] = static_cast<char>(code_point);
    return 1;
  }
  if (code_point < 0x800) {
    out[0] = static_cast<char>(0xC0 | (code_point >> 6));
    out[1] = static_cast<char>(0x80 | (code_point & 0x3F));
    return 2;
  }
  HAYATE_ASSERT(code_point < 0x10000);
  out[0] = static_cast<char>(0xE0 | (code_point >> 12));
  out[1] = static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
  out[2] = static_cast<char>(0x80 | (code_point & 0x3F));
  return 3;
}

std::uint64_t count_line_feeds(std::string_view text) {
  std::uint64_t count = 0;
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    const void* found = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
    if (found == nullptr) break;
    ++count;
    p = static_cast<const char*>(found) + 1;
  }
  return count;
}

std::string errno_text(int error_number) {
  return std::error_code(error_number, std::generic_category()).message();
}

// Reads into buffer[0, size); 0 at the end, -1 with errno on an error.
ssize_t read_some(int fd, char* buffer, std::size_t size) {
  ssize_t got = 0;
  do {
    got = ::read(fd, buffer, size);
  } while (got < 0 && errno == EINTR);
  return got;
}

// The hint after an error: which key to set.
std::string encoding_hint(TextEncoding encoding, bool reads_as_cp932, std::string_view key) {
  if (encoding == TextEncoding::utf8 && reads_as_cp932) {
    return hayate::cat(" (the file reads as CP932, as Excel saves it: set ", key,
                       " = \"cp932\" in [campaign])");
  }
  return hayate::cat(" (save it as ", display_name(encoding), ", or set [campaign] ", key,
                     " to the encoding it is in: ", text_encoding_choices, ")");
}

struct FileScan {
  absl::Status status;       // reading failed
  bool clean = true;         // decoded to the end
  std::uint64_t line = 1;    // line of the first bad bytes
  std::uint64_t offset = 0;  // file offset of the first bad bytes (utf8 mode)
  std::string error;         // what they are
};

// The pre-pass in utf8 mode: validation only, no copy; the line of a bad byte is counted
// afterwards, on the error path alone.
FileScan scan_utf8_file(int fd, const std::string& path) {
  FileScan scan;
  std::string buffer(check_block_bytes + utf8_character_bytes_max, '\0');
  std::size_t carry = 0;
  std::uint64_t offset = 0;  // file offset of buffer[0]
  for (;;) {
    const ssize_t got = read_some(fd, buffer.data() + carry, check_block_bytes);
    if (got < 0) {
      scan.status =
          absl::UnavailableError(absl::StrFormat("cannot read '%s': %s", path, errno_text(errno)));
      return scan;
    }
    const bool end = got == 0;
    const std::string_view data(buffer.data(), carry + static_cast<std::size_t>(got));
    const std::size_t valid = utf8_valid_prefix_bytes(data);
    if (valid == data.size()) {
      if (end) return scan;
      offset += data.size();
      carry = 0;
      continue;
    }
    if (!end && data.size() - valid < utf8_character_bytes_max) {  // cut by the block's end
      std::memmove(buffer.data(), data.data() + valid, data.size() - valid);
      carry = data.size() - valid;
      offset += valid;
      continue;
    }
    scan.clean = false;
    scan.offset = offset + valid;
    scan.error =
        absl::StrFormat("byte 0x%02X is not valid UTF-8", static_cast<unsigned char>(data[valid]));
    return scan;
  }
}

// The line of file offset `offset`: 1 + the line feeds before it.
absl::StatusOr<std::uint64_t> line_at_offset(int fd, const std::string& path,
                                             std::uint64_t offset) {
  std::string buffer(check_block_bytes, '\0');
  std::uint64_t line = 1;
  std::uint64_t position = 0;
  while (position < offset) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(check_block_bytes, offset - position));
    const ssize_t got = ::pread(fd, buffer.data(), want, static_cast<off_t>(position));
    if (got <= 0) {
      return absl::UnavailableError(
          absl::StrFormat("cannot read '%s': %s", path, errno_text(got < 0 ? errno : EIO)));
    }
    line += count_line_feeds(std::string_view(buffer.data(), static_cast<std::size_t>(got)));
    position += static_cast<std::uint64_t>(got);
  }
  return line;
}

// The pre-pass in the other encodings: the file decoded block by block into a scratch buffer,
// lines counted in what came out.
FileScan scan_decoded_file(int fd, const std::string& path, TextEncoding encoding) {
  FileScan scan;
  absl::StatusOr<std::unique_ptr<TextDecoder>> decoder = TextDecoder::create(encoding);
  if (!decoder.ok()) {
    scan.status = decoder.status();
    return scan;
  }
  std::string input(check_block_bytes, '\0');
  std::string output(check_block_bytes * 2, '\0');
  std::size_t pending = 0;  // undecoded bytes at the front of `input`
  bool end = false;
  while (true) {
    if (!end) {
      const ssize_t got = read_some(fd, input.data() + pending, input.size() - pending);
      if (got < 0) {
        scan.status = absl::UnavailableError(
            absl::StrFormat("cannot read '%s': %s", path, errno_text(errno)));
        return scan;
      }
      end = got == 0;
      pending += static_cast<std::size_t>(got);
    }
    std::size_t used = 0;
    for (;;) {  // decode what was read; the output buffer may take several rounds
      std::size_t consumed = 0;
      std::size_t written = 0;
      const TextDecoder::Result result =
          (*decoder)->decode(std::string_view(input.data() + used, pending - used), end,
                             output.data(), output.size(), consumed, written);
      used += consumed;
      scan.line += count_line_feeds(std::string_view(output.data(), written));
      if (result == TextDecoder::Result::invalid) {
        scan.clean = false;
        scan.error = (*decoder)->error();
        return scan;
      }
      // No progress: the rest is a character cut short (more is read), or nothing.
      if ((consumed == 0 && written == 0) || used == pending) break;
    }
    std::memmove(input.data(), input.data() + used, pending - used);
    pending -= used;
    if (end) {
      HAYATE_ASSERT(pending == 0);  // decode() with end_of_input takes or refuses every byte
      return scan;
    }
  }
}

FileScan scan_file(const std::string& path, TextEncoding encoding) {
  FileScan scan;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    scan.status =
        absl::UnavailableError(absl::StrFormat("cannot open '%s': %s", path, errno_text(errno)));
    return scan;
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  if (encoding == TextEncoding::utf8) {
    scan = scan_utf8_file(fd, path);
    if (scan.status.ok() && !scan.clean) {
      absl::StatusOr<std::uint64_t> line = line_at_offset(fd, path, scan.offset);
      if (line.ok()) {
        scan.line = *line;
      } else {
        scan.status = line.status();
      }
    }
  } else {
    scan = scan_decoded_file(fd, path, encoding);
  }
  ::close(fd);
  return scan;
}

}  // namespace

bool parse_text_encoding(std::string_view name, TextEncoding& encoding) {
  for (const EncodingName& entry : encoding_names) {
    if (hayate::equals_ignoring_case(name, entry.name)) {
      encoding = entry.encoding;
      return true;
    }
  }
  return false;
}

std::string_view text_encoding_name(TextEncoding encoding) {
  switch (encoding) {
    case TextEncoding::utf8:
      return "utf-8";
    case TextEncoding::cp932:
      return "cp932";
    case TextEncoding::euc_jp:
      return "euc-jp";
    case TextEncoding::iso_2022_jp:
      return "iso-2022-jp";
    case TextEncoding::utf16:
      return "utf-16";
    case TextEncoding::windows_1252:
      return "windows-1252";
  }
  HAYATE_ASSERT(false);
  return "";
}

std::size_t utf8_valid_prefix_bytes(std::string_view text) {
  const char* const begin = text.data();
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    // ASCII runs, 16 bytes at a time: most of a recipients file.
    while (i + 16 <= size) {
      std::uint64_t words[2];
      std::memcpy(words, begin + i, 16);
      if (((words[0] | words[1]) & 0x8080808080808080ULL) != 0) break;
      i += 16;
    }
    if (i == size) break;
    if (static_cast<unsigned char>(begin[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) return i;
    i += length;
  }
  return size;
}

absl::StatusOr<std::unique_ptr<TextDecoder>> TextDecoder::create(TextEncoding encoding) {
  std::unique_ptr<TextDecoder> decoder(new TextDecoder(encoding));
  if (const char* name = iconv_name(encoding); name != nullptr) {
    iconv_t handle = iconv_open("UTF-8", name);
    if (handle == no_iconv) {
      return absl::UnavailableError(
          hayate::cat("this system's iconv cannot decode ", name, ": ", errno_text(errno)));
    }
    decoder->iconv_ = handle;
  }
  return decoder;
}

TextDecoder::~TextDecoder() {
  if (iconv_ != nullptr) iconv_close(static_cast<iconv_t>(iconv_));
}

// "byte 0xFF is" or "bytes 0x82 0xFF are": the bytes at input[at], two at most.
std::string TextDecoder::bytes_at(std::string_view input, std::size_t at) {
  HAYATE_ASSERT(at < input.size());
  const std::size_t shown = std::min<std::size_t>(input.size() - at, 2);
  std::string text = shown == 1 ? "byte" : "bytes";
  for (std::size_t i = 0; i < shown; ++i) {
    hayate::append(text, absl::StrFormat(" 0x%02X", static_cast<unsigned char>(input[at + i])));
  }
  hayate::append(text, shown == 1 ? " is" : " are");
  return text;
}

TextDecoder::Result TextDecoder::fail(std::string message) {
  error_ = std::move(message);
  return Result::invalid;
}

TextDecoder::Result TextDecoder::decode(std::string_view input, bool end_of_input, char* out,
                                        std::size_t out_bytes, std::size_t& consumed,
                                        std::size_t& written) {
  consumed = 0;
  written = 0;
  switch (encoding_) {
    case TextEncoding::utf8: {
      const std::size_t valid =
          utf8_valid_prefix_bytes(input.substr(0, std::min(input.size(), out_bytes)));
      std::memcpy(out, input.data(), valid);
      consumed = written = valid;
      if (valid == input.size() || utf8_sequence_length(input, valid) != 0) return Result::ok;
      if (!end_of_input && input.size() - valid < utf8_character_bytes_max) return Result::ok;
      return fail(hayate::cat(bytes_at(input, valid), " not valid UTF-8"));
    }
    case TextEncoding::windows_1252: {
      std::size_t i = 0;
      for (; i < input.size() && written + 3 <= out_bytes; ++i) {
        const auto byte = static_cast<unsigned char>(input[i]);
        const char32_t code_point =
            byte >= 0x80 && byte < 0xA0 ? windows_1252_high[byte - 0x80] : char32_t{byte};
        written += append_utf8(code_point, out + written);
      }
      consumed = i;
      return Result::ok;
    }
    case TextEncoding::utf16: {
      if (bom_seen_) return decode_iconv(input, end_of_input, out, out_bytes, consumed, written);
      if (input.size() < 2 && !end_of_input) return Result::ok;
      const bool little = input.starts_with("\xFF\xFE");
      if (!little && !input.starts_with("\xFE\xFF")) {
        return fail(
            "no byte order mark at the start of the file (encoding \"utf-16\" needs one: FF FE "
            "or FE FF, as spreadsheets write with \"Unicode text\")");
      }
      iconv_t handle = iconv_open("UTF-8", little ? "UTF-16LE" : "UTF-16BE");
      if (handle == no_iconv) return fail("this system's iconv cannot decode UTF-16");
      iconv_ = handle;
      bom_seen_ = true;
      const Result result =
          decode_iconv(input.substr(2), end_of_input, out, out_bytes, consumed, written);
      consumed += 2;
      return result;
    }
    case TextEncoding::cp932:
    case TextEncoding::euc_jp:
    case TextEncoding::iso_2022_jp:
      return decode_iconv(input, end_of_input, out, out_bytes, consumed, written);
  }
  HAYATE_ASSERT(false);
  return Result::invalid;
}

TextDecoder::Result TextDecoder::decode_iconv(std::string_view input, bool end_of_input, char* out,
                                              std::size_t out_bytes, std::size_t& consumed,
                                              std::size_t& written) {
  HAYATE_ASSERT(iconv_ != nullptr);
  char* in = const_cast<char*>(input.data());  // iconv's signature; it does not write there
  std::size_t in_left = input.size();
  char* write = out;
  std::size_t out_left = out_bytes;
  const std::size_t converted =
      iconv(static_cast<iconv_t>(iconv_), &in, &in_left, &write, &out_left);
  const int error_number = errno;
  consumed = input.size() - in_left;
  written = out_bytes - out_left;
  if (converted != static_cast<std::size_t>(-1) || error_number == E2BIG) return Result::ok;
  if (error_number == EINVAL) {  // a character cut short by the end of the input
    if (!end_of_input) return Result::ok;
    return fail(
        hayate::cat("the file ends in the middle of a ", display_name(encoding_), " character"));
  }
  return fail(hayate::cat(bytes_at(input, consumed), " not valid ", display_name(encoding_)));
}

absl::StatusOr<std::string> decode_text(std::string_view bytes, TextEncoding encoding,
                                        std::string_view name, std::string_view key) {
  absl::StatusOr<std::unique_ptr<TextDecoder>> decoder = TextDecoder::create(encoding);
  if (!decoder.ok()) return decoder.status();
  std::string text(bytes.size() * 3 + utf8_character_bytes_max, '\0');
  std::size_t used = 0;
  std::size_t filled = 0;
  for (;;) {
    if (text.size() - filled < utf8_character_bytes_max) text.resize(text.size() * 2);
    std::size_t consumed = 0;
    std::size_t written = 0;
    const TextDecoder::Result result = (*decoder)->decode(
        bytes.substr(used), true, text.data() + filled, text.size() - filled, consumed, written);
    HAYATE_ASSERT(consumed > 0 || written > 0 || result == TextDecoder::Result::invalid);
    used += consumed;
    filled += written;
    if (result == TextDecoder::Result::invalid) {
      const std::uint64_t line = 1 + count_line_feeds(std::string_view(text.data(), filled));
      bool reads_as_cp932 = false;
      if (encoding == TextEncoding::utf8) {
        reads_as_cp932 = decode_text(bytes, TextEncoding::cp932, name, key).ok();
      }
      return absl::InvalidArgumentError(hayate::cat(name, ":", line, ": ", (*decoder)->error(),
                                                    encoding_hint(encoding, reads_as_cp932, key)));
    }
    if (used == bytes.size()) break;
  }
  text.resize(filled);
  return text;
}

absl::Status check_file_encoding(const std::string& path, TextEncoding encoding,
                                 std::string_view key) {
  FileScan scan = scan_file(path, encoding);
  if (!scan.status.ok()) return scan.status;
  if (scan.clean) return absl::OkStatus();
  bool reads_as_cp932 = false;
  if (encoding == TextEncoding::utf8) {
    const FileScan as_cp932 = scan_file(path, TextEncoding::cp932);
    reads_as_cp932 = as_cp932.status.ok() && as_cp932.clean;
  }
  return absl::InvalidArgumentError(hayate::cat(path, ":", scan.line, ": ", scan.error,
                                                encoding_hint(encoding, reads_as_cp932, key)));
}

}  // namespace hayate::campaign::input
