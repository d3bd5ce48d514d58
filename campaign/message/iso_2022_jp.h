// ISO-2022-JP (RFC 1468), the charset Japanese mobile handsets read: text is converted from
// UTF-8 with glibc iconv's plain "ISO-2022-JP" (ASCII, JIS X 0201 Roman, JIS X 0208), never
// ISO-2022-JP-3 or CP50220, so what goes out is what every reader of RFC 1468 decodes.
// Characters outside that set (emoji, half-width katakana, CP932 extensions such as ① or ㈱)
// are refused, never replaced: a row with one is rejected before anything is sent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hayate::campaign::inline message {

// The charset of the text part and of encoded-words in headers ([campaign] charset). The html
// part stays UTF-8 either way.
enum class MessageCharset : std::uint8_t { utf8, iso_2022_jp };

class Iso2022JpEncoder {
 public:
  Iso2022JpEncoder();
  ~Iso2022JpEncoder();
  Iso2022JpEncoder(const Iso2022JpEncoder&) = delete;
  Iso2022JpEncoder& operator=(const Iso2022JpEncoder&) = delete;

  // Appends `utf8` converted to ISO-2022-JP, starting and ending in ASCII (RFC 1468: every line
  // ends in ASCII too, as the conversion switches back before a line feed). False when a
  // character cannot be converted (or the text is not UTF-8): `out` is then as it was, and
  // `bad_offset` is the offset in `utf8` of the first such character.
  bool encode(std::string_view utf8, std::string& out, std::size_t& bad_offset);
  bool encode(std::string_view utf8, std::string& out) {
    std::size_t bad_offset = 0;
    return encode(utf8, out, bad_offset);
  }

 private:
  void* iconv_;  // iconv_t, UTF-8 to ISO-2022-JP
};

// Says why `utf8` cannot be ISO-2022-JP, naming the first character that cannot, e.g.
// "'①' (U+2460) is not in JIS X 0208 (ISO-2022-JP, RFC 1468)"; empty when it can. ASCII text is
// answered without conversion.
std::string iso_2022_jp_problem(Iso2022JpEncoder& encoder, std::string_view utf8,
                                std::string& scratch);

}  // namespace hayate::campaign::message
