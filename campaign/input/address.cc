// RFC 5321 4.1.2 Mailbox parsing and normalization. Pure: bytes in, an Address or a reason
// out. ASCII domains are checked and lower-cased here; only non-ASCII domains (and A-labels,
// to validate them) go through libidn2, which is the slow path.
#include "campaign/input/address.h"

#include <idn2.h>

#include <array>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/strings.h"

namespace hayate::campaign::inline input {
namespace {

// Longer inputs cannot normalize to a 254-octet path (a code point takes at most 4 UTF-8
// octets and at least one octet once converted); refusing them early bounds libidn2's work.
constexpr std::size_t input_bytes_max = 4 * limits::address_bytes_max;
// Error messages quote the user's text; keep them readable when the text is huge.
constexpr std::size_t quoted_text_bytes_max = 80;

// RFC 5322 3.2.3 atext (ASCII part): ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~".
constexpr std::array<bool, 256> make_atext_table() {
  std::array<bool, 256> table{};
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (char c : std::string_view("!#$%&'*+-/=?^_`{|}~"))
    table[static_cast<unsigned char>(c)] = true;
  return table;
}
constexpr std::array<bool, 256> atext_table = make_atext_table();

bool is_atext(unsigned char c) { return atext_table[c]; }

// RFC 5321 4.1.2 qtextSMTP: %d32-33 / %d35-91 / %d93-126 (no '"', no '\\', no controls).
bool is_qtext(unsigned char c) { return c >= 32 && c <= 126 && c != '"' && c != '\\'; }

bool is_space(char c) { return c == ' ' || c == '\t'; }

// Decodes one RFC 3629 UTF-8 sequence at text[i] (a non-ASCII lead byte). Returns its length,
// or 0 when malformed: bad continuation, overlong form, surrogate, beyond U+10FFFF.
std::size_t decode_utf8(std::string_view text, std::size_t i, char32_t& code_point) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  char32_t minimum = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, minimum = 0x80, code_point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, minimum = 0x800, code_point = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, minimum = 0x10000, code_point = lead & 0x07;
  } else {
    return 0;  // ASCII, a continuation byte, C0/C1 (overlong 2-byte), or F5..FF
  }
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(k) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(k) & 0x3F);
  }
  if (code_point < minimum || code_point > 0x10FFFF) return 0;
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return 0;
  return length;
}

bool is_ascii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// The text for an error message: control bytes escaped, long text cut.
std::string quote_text(std::string_view text) {
  std::string out;
  const std::size_t shown_bytes = std::min(text.size(), quoted_text_bytes_max);
  for (std::size_t i = 0; i < shown_bytes; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      absl::StrAppendFormat(&out, "\\x%02X", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (shown_bytes < text.size()) out += "...";
  return out;
}

std::string describe_byte(unsigned char c) {
  if (c >= 0x20 && c < 0x7F) return std::string{'\'', static_cast<char>(c), '\''};
  return absl::StrFormat("0x%02X", c);
}

// A non-ASCII code point is allowed in a local part (RFC 6531 3.3 UTF8-non-ascii) unless it is
// a C1 control, which no mail system wants in an address and logs should never carry.
bool is_allowed_non_ascii(char32_t code_point) { return code_point >= 0xA0; }

// Checks a non-ASCII sequence at text[i]; returns its length or 0 with `error` set.
std::size_t check_non_ascii(std::string_view text, std::size_t i, const char* where,
                            std::string& error) {
  char32_t code_point = 0;
  const std::size_t length = decode_utf8(text, i, code_point);
  if (length == 0) {
    error = absl::StrCat(where, " is not valid UTF-8");
    return 0;
  }
  if (!is_allowed_non_ascii(code_point)) {
    error = absl::StrFormat("invalid character U+%04X in %s",
                            static_cast<std::uint32_t>(code_point), where);
    return 0;
  }
  return length;
}

// RFC 5321 4.1.2 Dot-string = Atom *("." Atom), with RFC 6531 UTF-8 in atoms.
bool check_dot_string(std::string_view local, bool& non_ascii, std::string& error) {
  if (local.empty()) {
    error = "empty local part";
    return false;
  }
  if (local.front() == '.') {
    error = "local part starts with a dot";
    return false;
  }
  if (local.back() == '.') {
    error = "local part ends with a dot";
    return false;
  }
  for (std::size_t i = 0; i < local.size();) {
    const auto c = static_cast<unsigned char>(local[i]);
    if (is_atext(c)) {
      ++i;
    } else if (c == '.') {
      if (local[i + 1] == '.') {  // i + 1 < size: the part does not end with a dot
        error = "local part has two dots in a row";
        return false;
      }
      ++i;
    } else if (c >= 0x80) {
      const std::size_t length = check_non_ascii(local, i, "local part", error);
      if (length == 0) return false;
      non_ascii = true;
      i += length;
    } else {
      error = absl::StrCat("invalid character ", describe_byte(c), " in local part");
      if (c == ' ' || c == '"' || c == ',' || c == '(' || c == ')') {
        absl::StrAppend(&error, " (a local part with such characters must be quoted)");
      }
      return false;
    }
  }
  return true;
}

// Whether the unquoted content of a quoted local part can be written as a Dot-string.
bool is_dot_string(std::string_view content) {
  if (content.empty() || content.front() == '.' || content.back() == '.') return false;
  for (std::size_t i = 0; i < content.size(); ++i) {
    const auto c = static_cast<unsigned char>(content[i]);
    if (c == '.') {
      if (content[i + 1] == '.') return false;
    } else if (!is_atext(c) && c < 0x80) {
      return false;  // non-ASCII was validated already
    }
  }
  return true;
}

// RFC 5321 4.1.2 Quoted-string = DQUOTE *QcontentSMTP DQUOTE, starting at input[0].
// Sets `content` to the unquoted text and `end` just past the closing quote.
bool parse_quoted_local(std::string_view input, std::string& content, std::size_t& end,
                        bool& non_ascii, std::string& error) {
  HAYATE_ASSERT(!input.empty() && input.front() == '"');
  content.clear();
  for (std::size_t i = 1; i < input.size();) {
    const auto c = static_cast<unsigned char>(input[i]);
    if (c == '"') {
      end = i + 1;
      return true;
    }
    if (c == '\\') {
      // quoted-pairSMTP = %d92 %d32-126
      if (i + 1 == input.size()) break;
      const auto escaped = static_cast<unsigned char>(input[i + 1]);
      if (escaped < 32 || escaped > 126) {
        error = absl::StrCat("invalid character ", describe_byte(escaped),
                             " after '\\' in quoted local part");
        return false;
      }
      content.push_back(static_cast<char>(escaped));
      i += 2;
    } else if (is_qtext(c)) {
      content.push_back(static_cast<char>(c));
      ++i;
    } else if (c >= 0x80) {
      const std::size_t length = check_non_ascii(input, i, "quoted local part", error);
      if (length == 0) return false;
      non_ascii = true;
      content.append(input.substr(i, length));
      i += length;
    } else {
      error = absl::StrCat("invalid character ", describe_byte(c), " in quoted local part");
      return false;
    }
  }
  error = "unterminated quoted local part (missing closing '\"')";
  return false;
}

// Appends the shortest form of a local part whose unquoted content is `content`.
void append_canonical_local(std::string_view content, std::string& out) {
  if (is_dot_string(content)) {
    out.append(content);
    return;
  }
  out.push_back('"');
  for (char c : content) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

// RFC 1123 2.1 host name in lower case: LDH labels of 1..63 octets, no hyphen at either end,
// at least two labels (a bare "localhost" or TLD is never a recipient domain), total <= 253,
// and, as RFC 3696 2 asks, a last label that is not all digits (that is an IP address).
bool check_host_name(std::string_view name, std::string_view shown, std::string& error) {
  if (name.size() > limits::domain_bytes_max) {
    error =
        absl::StrFormat("domain '%s' over %u octets", quote_text(shown), limits::domain_bytes_max);
    return false;
  }
  if (name.back() == '.') {
    error = absl::StrFormat("domain '%s' ends with a dot", quote_text(shown));
    return false;
  }
  std::size_t labels = 0;
  std::size_t label_start = 0;
  bool label_all_digits = true;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    const char c = i < name.size() ? name[i] : '.';
    if (c == '.') {
      const std::size_t label_bytes = i - label_start;
      if (label_bytes == 0) {
        error = absl::StrFormat("domain '%s' has an empty label", quote_text(shown));
        return false;
      }
      if (label_bytes > limits::label_bytes_max) {
        error = absl::StrFormat("domain '%s' has a label over %u octets", quote_text(shown),
                                limits::label_bytes_max);
        return false;
      }
      if (name[label_start] == '-' || name[i - 1] == '-') {
        error =
            absl::StrFormat("domain '%s' is not a valid host name: a label starts or ends with '-'",
                            quote_text(shown));
        return false;
      }
      ++labels;
      label_start = i + 1;
      if (i < name.size()) label_all_digits = true;
    } else if ((c >= 'a' && c <= 'z') || c == '-') {
      label_all_digits = false;
    } else if (c >= '0' && c <= '9') {
      // keeps label_all_digits
    } else {
      error = absl::StrFormat("domain '%s' is not a valid host name (invalid character %s)",
                              quote_text(shown), describe_byte(static_cast<unsigned char>(c)));
      return false;
    }
  }
  if (labels < 2) {
    error =
        absl::StrFormat("domain '%s' needs at least one dot (like example.com)", quote_text(shown));
    return false;
  }
  if (label_all_digits) {
    error = absl::StrFormat(
        "domain '%s' has an all-numeric last label (IP addresses are not supported)",
        quote_text(shown));
    return false;
  }
  return true;
}

bool starts_with_ace_prefix(std::string_view lower_name) {
  for (std::size_t i = 0; i < lower_name.size();) {
    if (lower_name.substr(i, 4) == "xn--") return true;
    const std::size_t dot = lower_name.find('.', i);
    if (dot == std::string_view::npos) break;
    i = dot + 1;
  }
  return false;
}

// IDNA 2008 with UTS 46 mapping (non-transitional: 'ß' stays 'ß'), input NFC-normalized.
bool to_a_labels(std::string_view domain, std::string_view shown, std::string& out,
                 std::string& error) {
  const std::string input(domain);  // libidn2 wants a NUL-terminated string
  char* converted = nullptr;
  const int rc = idn2_to_ascii_8z(input.c_str(), &converted, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
  if (rc != IDN2_OK) {
    error = absl::StrFormat("invalid IDN domain '%s': %s", quote_text(shown), idn2_strerror(rc));
    return false;
  }
  out.append(converted);
  idn2_free(converted);
  return true;
}

// Appends the domain's normalized form (lower-case A-labels) to `text`.
bool append_domain(std::string_view domain, std::string& text, std::string& error) {
  if (domain.empty()) {
    error = "empty domain";
    return false;
  }
  if (domain.front() == '[') {
    error = "address literals are not supported";
    return false;
  }
  const std::size_t start = text.size();
  if (is_ascii(domain)) {
    for (char c : domain) text.push_back(lower(c));
    const std::string_view lower = std::string_view(text).substr(start);
    // An A-label must decode to a valid U-label: "xn--zz.com" is not a domain. Rare, so the
    // cost of asking libidn2 is only paid here.
    if (starts_with_ace_prefix(lower) && check_host_name(lower, domain, error)) {
      std::string checked;
      if (!to_a_labels(lower, domain, checked, error)) return false;
      text.resize(start);
      text += checked;
    }
  } else {
    for (std::size_t i = 0; i < domain.size(); ++i) {
      if (static_cast<unsigned char>(domain[i]) < 0x80) continue;
      char32_t code_point = 0;
      const std::size_t length = decode_utf8(domain, i, code_point);
      if (length == 0) {
        error = "domain is not valid UTF-8";
        return false;
      }
      i += length - 1;
    }
    if (!to_a_labels(domain, domain, text, error)) return false;
  }
  return check_host_name(std::string_view(text).substr(start), domain, error);
}

bool has_forbidden_byte(std::string_view input, std::string& error) {
  for (char c : input) {
    if (c == '\r' || c == '\n') {
      error = "address contains a line break (CR or LF)";
      return true;
    }
    if (c == '\0') {
      error = "address contains a NUL byte";
      return true;
    }
  }
  return false;
}

}  // namespace

bool parse_address(std::string_view input, Address& address, std::string& error) {
  address.text.clear();
  address.at = 0;
  address.needs_smtputf8 = false;
  // RFC 5321 4.1.1: CR and LF end an SMTP command; one inside an address is an injection.
  if (has_forbidden_byte(input, error)) return false;
  input = trim(input);
  if (input.empty()) {
    error = "empty address";
    return false;
  }
  if (input.size() > input_bytes_max) {
    error = absl::StrFormat("address over %u octets", limits::address_bytes_max);
    return false;
  }

  bool non_ascii = false;
  std::size_t domain_start = 0;
  if (input.front() == '"') {
    std::string content;
    std::size_t end = 0;
    if (!parse_quoted_local(input, content, end, non_ascii, error)) return false;
    if (end == input.size()) {
      error = "missing '@'";
      return false;
    }
    if (input[end] != '@') {
      error = "unexpected text after the quoted local part";
      return false;
    }
    if (content.empty()) {
      // RFC 5321 allows "", but no real mailbox has an empty name: it is a broken list.
      error = "empty local part";
      return false;
    }
    append_canonical_local(content, address.text);
    domain_start = end + 1;
  } else {
    const std::size_t at = input.find('@');
    if (at == std::string_view::npos) {
      error = "missing '@'";
      return false;
    }
    const std::string_view local = input.substr(0, at);
    if (!check_dot_string(local, non_ascii, error)) return false;
    address.text.append(local);
    domain_start = at + 1;
  }

  if (address.text.size() > limits::local_part_bytes_max) {
    error = absl::StrFormat("local part over %u octets", limits::local_part_bytes_max);
    return false;
  }
  const std::string_view domain = input.substr(domain_start);
  if (domain.find('@') != std::string_view::npos) {
    error = "more than one '@' (quote the local part if it has one)";
    return false;
  }
  address.at = static_cast<std::uint32_t>(address.text.size());
  address.text.push_back('@');
  if (!append_domain(domain, address.text, error)) return false;
  if (address.text.size() > limits::address_bytes_max) {
    error = absl::StrFormat("address over %u octets", limits::address_bytes_max);
    return false;
  }
  address.needs_smtputf8 = non_ascii;
  HAYATE_ASSERT(address.text[address.at] == '@');
  HAYATE_ASSERT(address.at > 0 && address.at + 1 < address.text.size());
  return true;
}

bool parse_mailbox(std::string_view input, std::string& display_name, Address& address,
                   std::string& error) {
  display_name.clear();
  if (has_forbidden_byte(input, error)) return false;
  input = trim(input);
  if (input.empty() || input.back() != '>') {
    // A bare address; a '<' here means the closing '>' is missing.
    bool in_quotes = false;
    for (std::size_t i = 0; i < input.size(); ++i) {
      if (input[i] == '\\' && in_quotes) {
        ++i;
      } else if (input[i] == '"') {
        in_quotes = !in_quotes;
      } else if (input[i] == '<' && !in_quotes) {
        error = "missing '>' at the end of the address";
        return false;
      }
    }
    return parse_address(input, address, error);
  }

  // RFC 5322 3.4 name-addr = [display-name] angle-addr; display-name = phrase.
  bool in_quotes = false;
  std::size_t less = std::string_view::npos;
  for (std::size_t i = 0; i < input.size() && less == std::string_view::npos;) {
    const auto c = static_cast<unsigned char>(input[i]);
    if (c >= 0x80) {
      const std::size_t length = check_non_ascii(input, i, "display name", error);
      if (length == 0) return false;
      display_name.append(input.substr(i, length));
      i += length;
      continue;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7F) {
      error = absl::StrCat("invalid character ", describe_byte(c), " in display name");
      return false;
    }
    if (in_quotes) {
      if (c == '"') {
        in_quotes = false;
      } else if (c == '\\' && i + 1 < input.size()) {
        ++i;
        const auto escaped = static_cast<unsigned char>(input[i]);
        if (escaped >= 0x80 || (escaped < 0x20 && escaped != '\t') || escaped == 0x7F) {
          error = absl::StrCat("invalid character ", describe_byte(escaped),
                               " after '\\' in display name");
          return false;
        }
        display_name.push_back(static_cast<char>(escaped));
      } else {
        display_name.push_back(static_cast<char>(c));
      }
    } else if (c == '"') {
      in_quotes = true;
    } else if (c == '<') {
      less = i;
    } else if (is_atext(c) || is_space(static_cast<char>(c)) || c == '.') {
      display_name.push_back(static_cast<char>(c));
    } else if (input.find('<', i) == std::string_view::npos) {
      error = "missing '<' before the address";
      return false;
    } else {
      error = absl::StrCat("invalid character ", describe_byte(c),
                           " in display name (put the name in double quotes)");
      return false;
    }
    if (less == std::string_view::npos) ++i;
  }
  if (in_quotes) {
    error = "unterminated quoted display name (missing closing '\"')";
    return false;
  }
  if (less == std::string_view::npos) {
    error = "missing '<' before the address";
    return false;
  }
  const std::string_view trimmed = trim(display_name);
  if (trimmed.size() != display_name.size()) {
    display_name = std::string(trimmed);
  }
  const std::string_view inner = input.substr(less + 1, input.size() - less - 2);
  if (inner.find_first_of("<>") != std::string_view::npos) {
    error = "unexpected '<' or '>' inside the angle brackets";
    return false;
  }
  if (!parse_address(inner, address, error)) {
    display_name.clear();
    return false;
  }
  return true;
}

}  // namespace hayate::campaign::input
