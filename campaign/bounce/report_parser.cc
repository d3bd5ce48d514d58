// Bounce-message parser (see report_parser.h). A small tolerant MIME reader flattens the
// message into parts; then, in order: an RFC 3464 delivery-status part, an RFC 5965 feedback
// report, the text of a non-standard bounce, an RFC 3834 auto-reply.
#include "campaign/bounce/report_parser.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include "campaign/bounce/formats.h"
#include "campaign/bounce/ses_notification.h"
#include "campaign/limits.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign::inline bounce {
namespace {

using limits::bounce_decoded_bytes_max;
using limits::bounce_findings_max;
using limits::bounce_header_bytes_max;
using limits::bounce_header_fields_max;
using limits::bounce_mime_depth_max;
using limits::bounce_mime_parts_max;

// ---------------------------------------------------------------------------------------------
// Small text helpers.

// `needle` must be lower case.
bool contains_lowered(std::string_view lowered_text, std::string_view needle) {
  return lowered_text.find(needle) != std::string_view::npos;
}

template <std::size_t N>
bool contains_any(std::string_view lowered_text, const std::array<std::string_view, N>& needles) {
  for (std::string_view needle : needles) {
    if (contains_lowered(lowered_text, needle)) return true;
  }
  return false;
}

// The next line of `text` from `pos` (without its line ending); advances `pos`.
bool next_line(std::string_view text, std::size_t& pos, std::string_view& line) {
  if (pos >= text.size()) return false;
  const std::size_t end = text.find('\n', pos);
  const std::size_t stop = end == std::string_view::npos ? text.size() : end;
  line = text.substr(pos, stop - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  pos = end == std::string_view::npos ? text.size() : end + 1;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Header fields (RFC 5322 2.2), unfolded. Tolerant: a line that is neither a field nor a
// continuation is skipped; the block ends at the first empty line or at the caps.

struct Field {
  std::string name;  // lower case
  std::string value;
};

struct Headers {
  std::vector<Field> fields;
  const std::string* find(std::string_view lowered_name) const {
    for (const Field& field : fields) {
      if (field.name == lowered_name) return &field.value;
    }
    return nullptr;
  }
  std::string_view get(std::string_view lowered_name) const {
    const std::string* value = find(lowered_name);
    return value == nullptr ? std::string_view() : std::string_view(*value);
  }
};

bool is_field_name_char(char c) { return c > ' ' && c < 127 && c != ':'; }

// Parses the header block at the start of `text`; returns the offset of the body. A text that
// does not start with a field has no headers (body offset 0), unless `require` is false.
std::size_t parse_headers(std::string_view text, Headers& headers) {
  std::size_t pos = 0;
  std::string_view line;
  // An mbox "From " separator line before the headers.
  if (text.substr(0, 5) == "From ") next_line(text, pos, line);
  const std::size_t start = pos;
  bool any = false;
  while (pos < text.size()) {
    const std::size_t line_start = pos;
    next_line(text, pos, line);
    if (line.empty()) return pos;  // the blank line that ends the block
    if (line_start - start > bounce_header_bytes_max) return line_start;
    if (line.front() == ' ' || line.front() == '\t') {
      if (!headers.fields.empty()) {
        std::string& value = headers.fields.back().value;
        if (value.size() < bounce_header_bytes_max) {
          value += ' ';
          value += trim(line, whitespace_characters);
        }
      }
      continue;
    }
    const std::size_t colon = line.find(':');
    bool field = colon != std::string_view::npos && colon > 0;
    for (std::size_t i = 0; field && i < colon; ++i) field = is_field_name_char(line[i]);
    if (!field) {
      if (!any) return start;  // not a header block at all: everything is body
      continue;                // a broken line inside the block
    }
    any = true;
    if (headers.fields.size() < bounce_header_fields_max) {
      headers.fields.push_back(
          Field{lower(line.substr(0, colon)),
                std::string(trim(line.substr(colon + 1), whitespace_characters))});
    }
  }
  return text.size();
}

// ---------------------------------------------------------------------------------------------
// Content-Type (RFC 2045 5.1), transfer decodings (RFC 2045 6.7, 6.8), encoded words (RFC 2047).

struct ContentType {
  std::string type = "text/plain";  // lower case
  std::string boundary;
  std::string report_type;  // RFC 6522 3: multipart/report's report-type, lower case
};

ContentType parse_content_type(std::string_view value) {
  ContentType result;
  value = trim(value, whitespace_characters);
  if (value.empty()) return result;
  std::size_t semicolon = value.find(';');
  std::string type = lower(trim(value.substr(0, semicolon), whitespace_characters));
  if (type.find('/') != std::string::npos) result.type = std::move(type);
  while (semicolon != std::string_view::npos) {
    value.remove_prefix(semicolon + 1);
    std::size_t equals = value.find('=');
    if (equals == std::string_view::npos) break;
    const std::string name = lower(trim(value.substr(0, equals), whitespace_characters));
    std::string_view rest = trim(value.substr(equals + 1), whitespace_characters);
    std::string parameter;
    if (!rest.empty() && rest.front() == '"') {
      std::size_t end = 1;
      while (end < rest.size() && rest[end] != '"') {
        if (rest[end] == '\\' && end + 1 < rest.size()) ++end;
        parameter += rest[end++];
      }
      rest.remove_prefix(std::min(end + 1, rest.size()));
      semicolon = rest.find(';');
    } else {
      semicolon = rest.find(';');
      parameter = std::string(trim(rest.substr(0, semicolon), whitespace_characters));
    }
    value = rest;
    if (name == "boundary") result.boundary = parameter;
    if (name == "report-type") result.report_type = lower(parameter);
  }
  return result;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;  // '-' and '_': the URL alphabet some senders use
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Characters outside the alphabet (line breaks, junk) are skipped; '=' ends the data.
void decode_base64(std::string_view text, std::string& out, std::size_t bytes_max) {
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') break;
    const int value = base64_value(c);
    if (value < 0) continue;
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    if (++count == 4) {
      if (out.size() + 3 > bytes_max) return;
      out += static_cast<char>((bits >> 16) & 0xff);
      out += static_cast<char>((bits >> 8) & 0xff);
      out += static_cast<char>(bits & 0xff);
      bits = 0;
      count = 0;
    }
  }
  if (count == 3 && out.size() + 2 <= bytes_max) {
    out += static_cast<char>((bits >> 10) & 0xff);
    out += static_cast<char>((bits >> 2) & 0xff);
  } else if (count == 2 && out.size() + 1 <= bytes_max) {
    out += static_cast<char>((bits >> 4) & 0xff);
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// `header`: RFC 2047 4.2 "Q", where '_' is a space and there are no soft line breaks.
void decode_quoted_printable(std::string_view text, std::string& out, std::size_t bytes_max,
                             bool header = false) {
  for (std::size_t i = 0; i < text.size() && out.size() < bytes_max; ++i) {
    const char c = text[i];
    if (c == '=' && i + 1 < text.size()) {
      if (text[i + 1] == '\n') {
        ++i;  // soft line break
        continue;
      }
      if (text[i + 1] == '\r' && i + 2 < text.size() && text[i + 2] == '\n') {
        i += 2;
        continue;
      }
      if (i + 2 < text.size()) {
        const int high = hex_value(text[i + 1]);
        const int low = hex_value(text[i + 2]);
        if (high >= 0 && low >= 0) {
          out += static_cast<char>(high * 16 + low);
          i += 2;
          continue;
        }
      }
    }
    out += (header && c == '_') ? ' ' : c;
  }
}

// RFC 2047 encoded words to their bytes (the charset is not converted: the heuristics look
// for ASCII words and UTF-8 phrases).
std::string decode_encoded_words(std::string_view value) {
  std::string out;
  std::size_t pos = 0;
  while (pos < value.size()) {
    const std::size_t start = value.find("=?", pos);
    if (start == std::string_view::npos) break;
    const std::size_t q1 = value.find('?', start + 2);
    if (q1 == std::string_view::npos || q1 + 2 >= value.size() || value[q1 + 2] != '?') break;
    const std::size_t end = value.find("?=", q1 + 3);
    if (end == std::string_view::npos) break;
    std::string_view between = value.substr(pos, start - pos);
    // RFC 2047 6.2: the space between two encoded words is dropped.
    if (!trim(between, whitespace_characters).empty() || pos == 0) out += between;
    const char encoding = lower(value[q1 + 1]);
    const std::string_view encoded = value.substr(q1 + 3, end - q1 - 3);
    if (encoding == 'b') {
      decode_base64(encoded, out, bounce_header_bytes_max);
    } else {
      decode_quoted_printable(encoded, out, bounce_header_bytes_max, true);
    }
    pos = end + 2;
  }
  out += value.substr(std::min(pos, value.size()));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The MIME tree, flattened.

struct Part {
  std::string type;  // lower case
  std::string body;  // decoded content (leaves), or empty
  Headers headers;   // the part's own header fields; for a returned message: its headers
  std::uint32_t depth = 0;
  bool attached = false;          // inside a returned original message (message/rfc822...)
  bool returned_headers = false;  // a message/rfc822 or text/rfc822-headers: `headers` are the
                                  // returned original's
};

struct Walker {
  std::vector<Part> parts;
  std::size_t decoded_bytes = 0;

  void decode_body(std::string_view body, std::string_view encoding, std::string& out) {
    const std::size_t room =
        bounce_decoded_bytes_max > decoded_bytes ? bounce_decoded_bytes_max - decoded_bytes : 0;
    const std::string lowered_encoding = lower(trim(encoding, whitespace_characters));
    if (lowered_encoding == "base64") {
      decode_base64(body, out, room);
    } else if (lowered_encoding == "quoted-printable") {
      decode_quoted_printable(body, out, room);
    } else {
      out.assign(body.substr(0, room));
    }
    decoded_bytes += out.size();
  }

  // One entity (headers and body). `headers` were parsed by the caller.
  void walk(const Headers& headers, std::string_view body, std::uint32_t depth, bool attached) {
    if (parts.size() >= bounce_mime_parts_max) return;
    ContentType content_type = parse_content_type(headers.get("content-type"));
    const std::string_view encoding = headers.get("content-transfer-encoding");
    if (content_type.type.compare(0, 10, "multipart/") == 0 && !content_type.boundary.empty() &&
        depth < bounce_mime_depth_max &&
        split_multipart(content_type.boundary, body, depth, attached)) {
      return;
    }
    if (content_type.type.compare(0, 10, "multipart/") == 0) content_type.type = "text/plain";
    Part part;
    part.type = content_type.type;
    part.depth = depth;
    part.attached = attached;
    if ((part.type == "message/rfc822" || part.type == "message/global" ||
         part.type == "message/rfc822-headers" || part.type == "text/rfc822-headers") &&
        depth < bounce_mime_depth_max) {
      std::string decoded;
      decode_body(body, encoding, decoded);
      Headers inner;
      const std::size_t inner_body = parse_headers(decoded, inner);
      part.headers = inner;
      part.returned_headers = true;
      parts.push_back(std::move(part));
      if (parts.back().type.find("headers") == std::string::npos) {
        walk(inner, std::string_view(decoded).substr(inner_body), depth + 1, true);
      }
      return;
    }
    part.headers = headers;
    decode_body(body, encoding, part.body);
    parts.push_back(std::move(part));
  }

  // RFC 2046 5.1.1: body parts between "--boundary" lines; the close delimiter may be missing.
  bool split_multipart(const std::string& boundary, std::string_view body, std::uint32_t depth,
                       bool attached) {
    const std::string delimiter = "--" + boundary;
    std::vector<std::size_t> starts;  // offsets of delimiter lines
    std::size_t pos = 0;
    std::size_t close = std::string_view::npos;
    while (pos < body.size()) {
      const std::size_t found = body.find(delimiter, pos);
      if (found == std::string_view::npos) break;
      if (found == 0 || body[found - 1] == '\n') {
        const std::size_t after = found + delimiter.size();
        if (body.substr(after, 2) == "--") {
          close = found;
          break;
        }
        starts.push_back(found);
        if (starts.size() > bounce_mime_parts_max) break;
      }
      pos = found + delimiter.size();
    }
    if (starts.empty()) return false;
    for (std::size_t i = 0; i < starts.size(); ++i) {
      std::size_t begin = body.find('\n', starts[i]);
      if (begin == std::string_view::npos) break;
      ++begin;
      std::size_t end = i + 1 < starts.size()             ? starts[i + 1]
                        : close != std::string_view::npos ? close
                                                          : body.size();
      // The line break before a delimiter belongs to it (RFC 2046 5.1.1).
      if (end > begin && body[end - 1] == '\n') --end;
      if (end > begin && body[end - 1] == '\r') --end;
      const std::string_view entity = body.substr(begin, end > begin ? end - begin : 0);
      Headers headers;
      const std::size_t entity_body = parse_headers(entity, headers);
      walk(headers, entity.substr(entity_body), depth + 1, attached);
    }
    return true;
  }
};

// ---------------------------------------------------------------------------------------------
// Addresses.

bool is_local_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr(".!#$%&'*+-/=?^_`{|}~", c) != nullptr;
}
bool is_domain_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.';
}

// Every addr-spec-looking token in `text`, in order: local@domain.tld.
template <typename Visit>
void for_each_address(std::string_view text, Visit&& visit) {
  std::size_t pos = 0;
  while (true) {
    const std::size_t at = text.find('@', pos);
    if (at == std::string_view::npos) return;
    pos = at + 1;
    std::size_t begin = at;
    while (begin > 0 && is_local_char(text[begin - 1]) && at - begin < 64) --begin;
    std::size_t end = at + 1;
    while (end < text.size() && is_domain_char(text[end]) && end - at < 254) ++end;
    std::string_view local = text.substr(begin, at - begin);
    std::string_view domain = text.substr(at + 1, end - at - 1);
    // Quoting and prefixes around an address: "'a@b'", "SMTP=a@b" (Exchange), "=a@b".
    const std::size_t equals = local.rfind('=');
    if (equals != std::string_view::npos && equals <= 4) local.remove_prefix(equals + 1);
    while (!local.empty() && std::strchr(".=/'`|{", local.front()) != nullptr) {
      local.remove_prefix(1);
    }
    while (!domain.empty() && (domain.back() == '.' || domain.back() == '-'))
      domain.remove_suffix(1);
    if (local.empty() || domain.find('.') == std::string_view::npos || domain.front() == '.' ||
        domain.front() == '-') {
      continue;
    }
    visit(text.substr(local.data() - text.data(), domain.data() + domain.size() - local.data()));
    pos = end;
  }
}

// Lines of a report that quote the original's header fields ("To: a@b, c@d"): their
// addresses are the original's parties, not failed recipients.
bool is_quoted_header_line(std::string_view line) {
  line = trim(line, whitespace_characters);
  static constexpr std::array<std::string_view, 12> kNames = {
      "to:",      "cc:",          "from:",     "reply-to:",   "sender:",      "message-id:",
      "subject:", "return-path:", "received:", "references:", "in-reply-to:", "errors-to:"};
  for (std::string_view name : kNames) {
    if (line.size() >= name.size() && equals_ignoring_case(line.substr(0, name.size()), name)) {
      return true;
    }
  }
  return false;
}

template <typename Visit>
void for_each_address_outside_headers(std::string_view text, Visit&& visit) {
  std::size_t pos = 0;
  std::string_view line;
  while (next_line(text, pos, line)) {
    if (!is_quoted_header_line(line)) for_each_address(line, visit);
  }
}

// The address in a header or field value ("Name <a@b>", "rfc822; a@b", "<a@b>"), or empty.
std::string first_address(std::string_view value) {
  std::string found;
  for_each_address(value, [&](std::string_view address) {
    if (found.empty()) found = address;
  });
  return found;
}

std::vector<std::string> all_addresses(std::string_view value) {
  std::vector<std::string> found;
  for_each_address(value, [&](std::string_view address) { found.emplace_back(address); });
  return found;
}

bool same_address(std::string_view a, std::string_view b) { return equals_ignoring_case(a, b); }

// Addresses that speak for a mail system, never a recipient that bounced.
bool is_system_address(std::string_view address) {
  const std::string lowered_address = lower(address);
  const std::string_view local =
      std::string_view(lowered_address).substr(0, lowered_address.find('@'));
  static constexpr std::array<std::string_view, 8> kSystem = {
      "mailer-daemon", "postmaster", "mail-daemon", "maildaemon",
      "mailerdaemon",  "noreply",    "no-reply",    "double-bounce"};
  for (std::string_view name : kSystem) {
    if (local == name) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Recognising what a message is.

struct Message {
  Headers top;
  std::vector<Part> parts;
  std::string subject;  // decoded, lower case
  std::string from;     // decoded, lower case
};

bool is_bounce_sender(const Message& message) {
  static constexpr std::array<std::string_view, 10> kSenders = {
      "mailer-daemon",      "postmaster",      "mail delivery", "mail-daemon",   "maildaemon",
      "mail administrator", "delivery system", "mail-delivery", "double-bounce", "post_master"};
  return contains_any(message.from, kSenders);
}

bool has_bounce_subject(const Message& message) {
  static constexpr std::array<std::string_view, 37> kSubjects = {"undeliver",
                                                                 "non-delivery",
                                                                 "user unknown",
                                                                 "undelivered",
                                                                 "delivery status notification",
                                                                 "returned mail",
                                                                 "return mail",
                                                                 "delivery failure",
                                                                 "failure notice",
                                                                 "mail delivery failed",
                                                                 "delivery failed",
                                                                 "could not be delivered",
                                                                 "not delivered",
                                                                 "delivery problem",
                                                                 "nondeliverable",
                                                                 "non-deliverable",
                                                                 "non remis",
                                                                 "non recapitable",
                                                                 "unzustellbar",
                                                                 "nicht zustellbar",
                                                                 "mail system error",
                                                                 "delivery notification",
                                                                 "delivery report",
                                                                 "failed delivery",
                                                                 "message delivery has failed",
                                                                 "warning: could not send",
                                                                 "delayed mail",
                                                                 "delivery delayed",
                                                                 "mail failure",
                                                                 "rejected:",
                                                                 "bounce",
                                                                 "unable to deliver",
                                                                 "error sending message",
                                                                 "permanent error",
                                                                 "no se puede entregar",
                                                                 "メール送信エラー",
                                                                 "メールエラー通知"};
  return contains_any(message.subject, kSubjects);
}

bool is_delay_text(std::string_view lowered_text) {
  static constexpr std::array<std::string_view, 10> kDelay = {"will continue to try",
                                                              "will be retried",
                                                              "still being retried",
                                                              "this is a warning message only",
                                                              "delivery attempts will continue",
                                                              "will keep trying",
                                                              "message will be retried",
                                                              "has been delayed",
                                                              "delivery delayed",
                                                              "you do not need to resend"};
  return contains_any(lowered_text, kDelay);
}

// RFC 3834 and the habits of vacation programs and Exchange.
bool is_autoreply(const Message& message) {
  const std::string auto_submitted = lower(message.top.get("auto-submitted"));
  if (auto_submitted.compare(0, 12, "auto-replied") == 0) return true;
  if (message.top.find("x-autoreply") != nullptr || message.top.find("x-autorespond") != nullptr ||
      message.top.find("x-autoresponder") != nullptr) {
    return true;
  }
  const std::string precedence = lower(message.top.get("precedence"));
  if (precedence == "auto_reply") return true;
  static constexpr std::array<std::string_view, 16> kSubjects = {"auto:",
                                                                 "automatic reply",
                                                                 "auto reply",
                                                                 "autoreply",
                                                                 "auto-reply",
                                                                 "out of office",
                                                                 "out of the office",
                                                                 "vacation",
                                                                 "away from my mail",
                                                                 "abwesenheit",
                                                                 "réponse automatique",
                                                                 "risposta automatica",
                                                                 "respuesta automática",
                                                                 "自動応答",
                                                                 "自動返信",
                                                                 "不在"};
  return contains_any(message.subject, kSubjects);
}

// Where a non-standard bounce stops describing failures and starts returning the original.
std::size_t report_text_end(std::string_view lowered_text) {
  static constexpr std::array<std::string_view, 17> kMarkers = {
      "------ this is a copy of the message",
      "--- below this line is a copy of the message",
      "----- original message -----",
      "original message follows",
      "------- returned message --------",
      "----- unsent message follows -----",
      "--- original message follows",
      "----- transcript of session follows -----",
      "--- the header of the original message is following",
      "------ original message ------",
      "content-type: message/rfc822",
      "----- message header follows -----",
      "--- returned message ---",
      "----- the following is a copy of the message",
      "-----original message-----",
      "this is a copy of the headers",
      "---------- forwarded message ----------"};
  std::size_t end = lowered_text.size();
  for (std::string_view marker : kMarkers) {
    const std::size_t found = lowered_text.find(marker);
    // The transcript says why (Sendmail): keep it, but not the copy that follows it.
    if (marker == "----- transcript of session follows -----") continue;
    if (found != std::string_view::npos && found < end) end = found;
  }
  return end;
}

// ---------------------------------------------------------------------------------------------
// RFC 3464 delivery-status fields.

// "rfc822; a@b" -> "a@b"; "smtp; 550 ..." -> "550 ..."; "dns; mx.example" -> "mx.example".
// PowerMTA's bounce category (X-PowerMTA-BounceCategory in its DSNs): its own verdict.
Reason powermta_category(std::string_view category) {
  static constexpr std::pair<std::string_view, Reason> kCategories[] = {
      {"bad-mailbox", Reason::userunknown},     {"bad-domain", Reason::hostunknown},
      {"inactive-mailbox", Reason::suspend},    {"quota-issues", Reason::mailboxfull},
      {"message-expired", Reason::expired},     {"no-answer-from-host", Reason::networkerror},
      {"bad-connection", Reason::networkerror}, {"routing-errors", Reason::networkerror},
      {"relaying-issues", Reason::norelaying},  {"spam-related", Reason::spamdetected},
      {"virus-related", Reason::virusdetected}, {"content-related", Reason::contenterror},
      {"invalid-sender", Reason::rejected},     {"policy-related", Reason::policyviolation},
      {"protocol-errors", Reason::syntaxerror}, {"bad-configuration", Reason::systemerror},
  };
  category = trim(category, whitespace_characters);
  for (const auto& [name, reason] : kCategories) {
    if (equals_ignoring_case(category, name)) return reason;
  }
  return Reason::undefined;
}

// A reply a DSN folds over several lines, each after the code again ("550-5.2.1 The user ...
// 550-5.2.1 prevents ..."): one line, the repeated codes gone.
std::string unfold_reply(std::string text) {
  if (text.size() < 8 || !std::isdigit(static_cast<unsigned char>(text[0]))) return text;
  const std::string code = text.substr(0, 3);
  std::size_t at = 4;
  while ((at = text.find(code, at)) != std::string::npos) {
    const std::size_t end = at + 3;
    const bool alone =
        text[at - 1] == ' ' && end < text.size() && (text[end] == '-' || text[end] == ' ');
    if (!alone) {
      at = end;
      continue;
    }
    std::size_t cut = end + 1;
    smtp::EnhancedCode ignored;
    const std::size_t space = text.find(' ', cut);
    if (space != std::string::npos &&
        smtp::parse_enhanced_code(std::string_view(text).substr(cut, space - cut), ignored)) {
      cut = space + 1;
    }
    text.erase(at, cut - at);
  }
  return text;
}

// A multi-line reply that a DSN quotes by its first line only ("550-5.7.1 Unauthenticated
// email ... due to domain's"): the rest from the session transcript in the report's text
// ("<<< 550-5.7.1 DMARC policy. ..."), joined into one line as servers mean it.
std::string whole_reply(std::string_view text, std::string_view first_line) {
  std::string reply(first_line);
  if (first_line.size() < 8 || first_line[3] != '-') return reply;
  const std::string_view code = first_line.substr(0, 3);
  const std::string_view start = first_line.substr(0, std::min<std::size_t>(first_line.size(), 60));
  std::size_t found = std::string_view::npos;
  for (std::size_t at = text.find(start);
       at != std::string_view::npos && found == std::string_view::npos;
       at = text.find(start, at + 1)) {
    if (at >= 4 && text.substr(at - 4, 4) == "<<< ") found = at;  // the transcript's copy
  }
  if (found == std::string_view::npos) found = text.find(start);
  if (found == std::string_view::npos) return reply;
  std::size_t at = text.find('\n', found);
  for (int lines = 0; at != std::string_view::npos && lines < 30; ++lines) {
    const std::size_t end = text.find('\n', at + 1);
    std::string_view line =
        text.substr(at + 1, end == std::string_view::npos ? std::string_view::npos : end - at - 1);
    line = trim(line, whitespace_characters);
    if (line.substr(0, 4) == "<<< ") line.remove_prefix(4);
    if (line.size() < 4 || line.substr(0, 3) != code || (line[3] != '-' && line[3] != ' ')) break;
    const bool last = line[3] == ' ';
    line.remove_prefix(4);
    smtp::EnhancedCode ignored;
    const std::size_t space = line.find(' ');
    if (space != std::string_view::npos &&
        smtp::parse_enhanced_code(line.substr(0, space), ignored)) {
      line.remove_prefix(space + 1);
    }
    hayate::append(reply, " ", trim(line, whitespace_characters));
    if (last) break;
    at = end;
  }
  return reply;
}

std::string_view strip_type(std::string_view value) {
  const std::size_t semicolon = value.find(';');
  if (semicolon != std::string_view::npos && semicolon < 16) {
    bool type = semicolon > 0;
    for (std::size_t i = 0; i < semicolon && type; ++i) {
      const char c = value[i];
      type = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == ' ';
    }
    if (type) value.remove_prefix(semicolon + 1);
  }
  return trim(value, whitespace_characters);
}

// Field blocks of a delivery-status body, split at blank lines (RFC 3464 2.1).
std::vector<Headers> field_groups(std::string_view text) {
  std::vector<Headers> groups;
  std::size_t pos = 0;
  while (pos < text.size() && groups.size() < bounce_findings_max + 1) {
    // Skip blank lines between groups.
    std::size_t probe = pos;
    std::string_view line;
    while (probe < text.size()) {
      const std::size_t before = probe;
      next_line(text, probe, line);
      if (!trim(line, whitespace_characters).empty()) {
        probe = before;
        break;
      }
    }
    if (probe >= text.size()) break;
    Headers group;
    std::size_t used = parse_headers(text.substr(probe), group);
    if (used == 0) {  // a line that is not a field: skip it
      next_line(text, probe, line);
      pos = probe;
      continue;
    }
    pos = probe + used;
    if (!group.fields.empty()) groups.push_back(std::move(group));
  }
  return groups;
}

// ---------------------------------------------------------------------------------------------

// The SMTP stage a failure was reported at, from the MTA's words ("in reply to RCPT TO
// command", "after RCPT TO:<a@b>", "<<< 550" after ">>> RCPT TO:").
bool replied_to_rcpt(std::string_view lowered_text) {
  // Exchange's "recipient name is not recognized", qmail's "does not like recipient", Domino's
  // "not listed in Domino Directory" and IMail's "invalid final delivery userid" come from a
  // directory lookup of the recipient, which is the RCPT stage whatever the report says.
  static constexpr std::array<std::string_view, 12> kRcpt = {"rcpt to",
                                                             "[rcpt_to]",
                                                             "in reply to rcpt",
                                                             "after rcpt",
                                                             "rcpt command",
                                                             "recipient address rejected",
                                                             "smtp:rcpt",
                                                             "does not like recipient",
                                                             "recipient name is not recognized",
                                                             "not listed in domino directory",
                                                             "invalid final delivery userid",
                                                             "rcpt:"};
  return contains_any(lowered_text, kRcpt);
}

// "RCPT", "DATA", "MAIL", "HELO" or "": the command a failure answered, as the MTA's words
// tell. Postfix's "(in reply to X command)" and Gmail's "(state N)" say it outright; in a
// session transcript (">>> RCPT TO:... <<< 250 ... >>> DATA <<< 554"), the last command sent
// before the first refusal is the one refused.
std::string command_in(std::string_view lowered_text) {
  struct Marker {
    std::string_view words;
    std::string_view command;
  };
  static constexpr Marker kExplicit[] = {
      {"in reply to rcpt", "RCPT"},
      {"in reply to end of data", "DATA"},
      {"in reply to data", "DATA"},
      {"in reply to mail from", "MAIL"},
      {"in reply to helo", "HELO"},
      {"in reply to ehlo", "HELO"},
      {"(state 14)", "RCPT"},
      {"(state 15)", "DATA"},
      {"(state 17)", "DATA"},
      {"(state 18)", "DATA"},
      {"(state 13)", "HELO"},
      {"(state 6)", "MAIL"},
      {"after end of data", "DATA"},
      {"after rcpt to", "RCPT"},
      {"after mail from", "MAIL"},
      {"but sender was rejected", "MAIL"},
      {"but my name was rejected", "HELO"},
      {"failed on data command", "DATA"},
      {"failed after i sent the message", "DATA"},
  };
  for (const Marker& marker : kExplicit) {
    if (contains_lowered(lowered_text, marker.words)) return std::string(marker.command);
  }
  static constexpr Marker kSent[] = {
      {">>> rcpt to", "RCPT"}, {">>> data", "DATA"}, {">>> mail from", "MAIL"},
      {">>> ehlo", "HELO"},    {">>> helo", "HELO"},
  };
  std::size_t refusal = lowered_text.find("<<< 5");
  refusal = std::min(refusal, lowered_text.find("<<< 4"));
  std::size_t last = std::string_view::npos;
  std::string_view command;
  for (const Marker& marker : kSent) {
    for (std::size_t at = lowered_text.find(marker.words);
         at != std::string_view::npos && at < refusal;
         at = lowered_text.find(marker.words, at + 1)) {
      if (last == std::string_view::npos || at > last) {
        last = at;
        command = marker.command;
      }
    }
  }
  if (!command.empty()) return std::string(command);
  if (replied_to_rcpt(lowered_text)) return "RCPT";
  static constexpr std::array<std::string_view, 2> kData = {"end of data", "after data"};
  if (contains_any(lowered_text, kData)) return "DATA";
  return std::string();
}

SmtpCommand command_of(std::string_view command) {
  if (command == "RCPT") return SmtpCommand::rcpt;
  if (command == "MAIL") return SmtpCommand::mail;
  if (command == "DATA") return SmtpCommand::data;
  if (command == "HELO" || command == "EHLO") return SmtpCommand::helo;
  if (command == "STARTTLS") return SmtpCommand::starttls;
  return SmtpCommand::unknown;
}

void finish_classification(Finding& finding) {
  switch (finding.kind) {
    case FindingKind::complaint:
      finding.classification = Classification{Reason::feedback, false, {}};
      return;
    case FindingKind::autoreply:
      finding.classification = Classification{Reason::vacation, false, {}};
      return;
    case FindingKind::delivered: {
      // "250 2.6.0 Message received": the code after the reply code, else 2.0.0.
      smtp::EnhancedCode status{2, 0, 0};
      std::string_view words = trim(finding.diagnostic, whitespace_characters);
      if (words.size() > 4 && words[0] == '2') words.remove_prefix(4);
      smtp::EnhancedCode given;
      if (smtp::parse_enhanced_code(words.substr(0, words.find(' ')), given) && given.klass == 2) {
        status = given;
      }
      finding.status = status.to_string();
      finding.reply_code = find_reply_code(finding.diagnostic);
      finding.classification = Classification{Reason::delivered, false, status};
      return;
    }
    default:
      break;
  }
  Failure failure;
  failure.reply_code = finding.reply_code;
  if (!smtp::parse_enhanced_code(finding.status, failure.status)) failure.status = {};
  finding.diagnostic = unfold_reply(std::move(finding.diagnostic));
  failure.text = finding.diagnostic;
  failure.command = command_of(finding.command);
  failure.given = finding.format_reason;
  failure.remote_host = finding.remote_mta;
  const std::size_t at = finding.recipient.rfind('@');
  if (at != std::string::npos)
    failure.recipient_domain = std::string_view(finding.recipient).substr(at + 1);
  finding.classification = classify(failure);
  Classification& result = finding.classification;
  if (finding.kind == FindingKind::delay) {
    // Still being retried: temporary whatever words it used.
    result.hard = false;
    if (result.status.klass == 5 && !smtp::parse_enhanced_code(finding.status, result.status)) {
      result.status.klass = 4;
    }
    if (is_unknown(result.reason)) result.reason = Reason::expired;
  }
}

std::string command_in(std::string_view lowered_text);

// The enhanced code the remote server gave after its reply code ("550-'5.2.2 ...", "550 5.1.1"),
// which says more than a relay's own code before it ("5.1.0 - Unknown address error 550-...").
bool find_remote_status(std::string_view text, smtp::EnhancedCode& code) {
  for (std::size_t i = 0; i + 9 <= text.size(); ++i) {
    if ((text[i] != '4' && text[i] != '5') || (i > 0 && text[i - 1] >= '0' && text[i - 1] <= '9')) {
      continue;
    }
    const std::uint16_t reply = find_reply_code(text.substr(i, 4));
    if (reply == 0) continue;
    std::size_t j = i + 3;
    while (
        j < text.size() && j < i + 6 &&
        (text[j] == ' ' || text[j] == '-' || text[j] == '\'' || text[j] == '"' || text[j] == '#')) {
      ++j;
    }
    if (j < text.size() && text[j] == text[i] &&
        smtp::find_enhanced_code(text.substr(j, 12), code) && code.klass == reply / 100) {
      return true;
    }
  }
  return false;
}

// A DSN's status is often generic ("5.0.0") while its diagnostic names the exact code.
void refine_status(Finding& finding) {
  smtp::EnhancedCode reported;
  const bool has_reported = smtp::parse_enhanced_code(finding.status, reported);
  smtp::EnhancedCode in_text;
  if (find_remote_status(finding.diagnostic.substr(0, 2048), in_text) ||
      smtp::find_enhanced_code(finding.diagnostic.substr(0, 2048), in_text)) {
    // The remote server's own code, when specific and of the same class, over the one the
    // reporting MTA put in Status: (which often guesses: 5.1.1 for any RCPT refusal).
    // A class the reply code confirms ("550 5.5.0" under Status: 4.5.0) wins too.
    const bool specific = in_text.subject != 0 || in_text.detail != 0;
    const std::uint16_t reply = find_reply_code(finding.diagnostic.substr(0, 2048));
    const bool same_class = in_text.klass == reported.klass || reply / 100 == in_text.klass;
    if (!has_reported ||
        (same_class && ((reported.subject == 0 && reported.detail == 0) || specific))) {
      finding.status = in_text.to_string();
    }
  }
  if (finding.reply_code == 0)
    finding.reply_code = find_reply_code(finding.diagnostic.substr(0, 2048));
  if (finding.command.empty())
    finding.command = command_in(lower(finding.diagnostic.substr(0, 2048)));
}

class Parser {
 public:
  Parser(std::string_view bytes, const ParseOptions& options) : options_(options) {
    if (bytes.size() > limits::bounce_message_bytes_max) {
      bytes = bytes.substr(0, limits::bounce_message_bytes_max);
    }
    const std::size_t body = parse_headers(bytes, message_.top);
    Walker walker;
    walker.walk(message_.top, bytes.substr(body), 0, false);
    message_.parts = std::move(walker.parts);
    message_.subject = lower(decode_encoded_words(message_.top.get("subject")));
    message_.from = lower(decode_encoded_words(message_.top.get("from")));
  }

  std::vector<Finding> run() {
    if (forwarded_report(findings_)) return std::move(findings_);
    if (!parse_delivery_status() && !parse_feedback_report() &&
        !parse_ses_notification(all_text(), findings_)) {
      if (looks_like_bounce()) {
        parse_text_bounce();
      } else if (is_autoreply(message_)) {
        add_autoreply();
      }
    }
    apply_verp();
    const std::string_view format =
        findings_.empty() || !options_.detect_format ? std::string_view() : detect();
    for (Finding& finding : findings_) {
      if (finding.format.empty()) finding.format = format;
      finish_classification(finding);
    }
    HAYATE_ASSERT(findings_.size() <= bounce_findings_max);
    return std::move(findings_);
  }

 private:
  // The human-readable text of the report: leaf text parts outside the returned original,
  // cut where the original starts. HTML-only reports lose their tags.
  std::string report_text() const {
    std::string text;
    for (const Part& part : message_.parts) {
      if (part.attached || part.returned_headers) continue;
      if (part.type != "text/plain" && part.type != "text/html" && part.type != "text/enriched" &&
          part.type.compare(0, 5, "text/") == 0) {
        continue;
      }
      if (part.type.compare(0, 5, "text/") != 0 && part.type != "message/delivery-status") {
        continue;
      }
      if (part.type == "text/html") {
        append_without_tags(part.body, text);
      } else {
        text += part.body;
      }
      text += '\n';
      if (text.size() >= limits::bounce_text_bytes_max) break;
    }
    if (text.size() > limits::bounce_text_bytes_max) text.resize(limits::bounce_text_bytes_max);
    text.resize(report_text_end(lower(text)));
    return text;
  }

  static void append_without_tags(std::string_view html, std::string& out) {
    bool in_tag = false;
    for (char c : html) {
      if (c == '<') {
        in_tag = true;
      } else if (c == '>') {
        in_tag = false;
        out += ' ';
      } else if (!in_tag) {
        out += c;
      }
    }
  }

  const Part* first_returned_message() const {
    for (const Part& part : message_.parts) {
      if (part.returned_headers) return &part;
    }
    return nullptr;
  }

  // RFC 3464: message/delivery-status (RFC 6533: message/global-delivery-status).
  bool parse_delivery_status() {
    const Part* status_part = nullptr;
    for (const Part& part : message_.parts) {
      if (part.type == "message/delivery-status" || part.type == "message/global-delivery-status") {
        status_part = &part;
        break;
      }
    }
    if (status_part == nullptr) return false;
    const std::vector<Headers> groups = field_groups(status_part->body);
    std::string text;  // read only when a recipient has no diagnostic
    bool text_read = false;
    bool any_recipient = false;
    for (const Headers& group : groups) {
      const std::string_view final_recipient = group.get("final-recipient");
      const std::string_view original = group.get("original-recipient");
      std::string recipient = first_address(final_recipient);
      // "rfc822;userx@sims-ms-daemon": a final recipient without a domain; the original says.
      if (recipient.empty()) recipient = first_address(original);
      if (recipient.empty()) continue;
      any_recipient = true;
      const std::string action = lower(trim(group.get("action"), whitespace_characters));
      // "4.4.1 (Persistent transient failure...)": the code is the first word.
      const std::string_view status_field = trim(group.get("status"), whitespace_characters);
      const std::string_view status = status_field.substr(0, status_field.find_first_of(" \t("));
      FindingKind kind = FindingKind::bounce;
      if (action.compare(0, 5, "delay") == 0) {
        kind = FindingKind::delay;
      } else if (action.compare(0, 4, "fail") != 0 && action.compare(0, 5, "error") != 0 &&
                 action.compare(0, 7, "expired") != 0 && action.compare(0, 6, "bounce") != 0 &&
                 action.compare(0, 6, "reject") != 0) {
        // delivered, relayed, expanded: not a failure. Without an Action, the status says.
        if (!action.empty() || status.empty() || status.front() == '2') continue;
        if (status.front() == '4') kind = FindingKind::delay;
      }
      if (findings_.size() >= bounce_findings_max) break;
      Finding finding;
      finding.kind = kind;
      finding.recipient = recipient;
      finding.original_recipient = first_address(original);
      finding.recipient_source = RecipientSource::dsn;
      finding.status = std::string(status.substr(0, 16));
      finding.action = action;
      finding.remote_mta = std::string(strip_type(group.get("remote-mta")));
      finding.diagnostic = std::string(strip_type(group.get("diagnostic-code")));
      finding.format_reason = powermta_category(group.get("x-powermta-bouncecategory"));
      if (finding.diagnostic.size() > 4 && finding.diagnostic[3] == '-') {
        if (!text_read) {
          text = report_text();
          text_read = true;
        }
        finding.diagnostic = whole_reply(text, finding.diagnostic);
      }
      smtp::EnhancedCode code;
      if (!status.empty() && !smtp::parse_enhanced_code(status, code)) {
        // "Status: 553 Exceeded maximum inbound message size": words, not a code.
        finding.status.clear();
        hayate::append(finding.diagnostic, finding.diagnostic.empty() ? "" : " ", status_field);
      }
      if (finding.diagnostic.empty()) {
        if (!text_read) {
          text = report_text();
          text_read = true;
        }
        finding.diagnostic = diagnostic_near(text, recipient);
      }
      if (is_unknown(classify(0, finding.status, finding.diagnostic).reason)) {
        // "Reason 1 (Unable-To-Transfer)": the DSN fields say nothing; its text may.
        if (!text_read) {
          text = report_text();
          text_read = true;
        }
        hayate::append(finding.diagnostic, " ", diagnostic_near(text, recipient));
      }
      refine_status(finding);
      if (finding.command.empty()) {
        if (!text_read) {
          text = report_text();
          text_read = true;
        }
        finding.command = command_in(lower(diagnostic_near(text, recipient)));
      }
      findings_.push_back(std::move(finding));
    }
    if (!any_recipient) return false;  // a status part without recipients: read the text
    return true;
  }

  // RFC 5965: message/feedback-report.
  bool parse_feedback_report() {
    const Part* report = nullptr;
    for (const Part& part : message_.parts) {
      if (part.type == "message/feedback-report") {
        report = &part;
        break;
      }
    }
    if (report == nullptr) return parse_forwarded_complaint();
    Headers fields;
    parse_headers(report->body, fields);
    Finding finding;
    finding.kind = FindingKind::complaint;
    finding.feedback_type = lower(trim(fields.get("feedback-type"), whitespace_characters));
    finding.recipient_source = RecipientSource::dsn;
    // RFC 5965 3.2: Original-Rcpt-To may appear once per recipient of the original.
    std::vector<std::string> recipients;
    for (const Field& field : fields.fields) {
      if (field.name != "original-rcpt-to" || recipients.size() >= bounce_findings_max) continue;
      std::string address = first_address(field.value);
      if (!address.empty()) recipients.push_back(std::move(address));
    }
    if (recipients.empty()) finding.recipient = first_address(fields.get("removal-recipient"));
    if (recipients.empty() && finding.recipient.empty()) {
      if (const Part* original = first_returned_message()) {
        finding.recipient = first_address(original->headers.get("to"));
        finding.recipient_source = RecipientSource::original_headers;
      }
    }
    if (recipients.empty() && finding.recipient.empty()) {
      // Some reporters put the original headers in a text part.
      for (const Part& part : message_.parts) {
        if (part.type.compare(0, 5, "text/") != 0 || part.attached) continue;
        Headers headers;
        parse_headers(part.body, headers);
        finding.recipient = first_address(headers.get("to"));
        if (!finding.recipient.empty()) {
          finding.recipient_source = RecipientSource::original_headers;
          break;
        }
      }
    }
    if (recipients.empty()) {
      findings_.push_back(std::move(finding));
      return true;
    }
    for (std::string& recipient : recipients) {
      findings_.push_back(finding);
      findings_.back().recipient = std::move(recipient);
    }
    return true;
  }

  // Microsoft's junk-mail reports (JMRP): not ARF but a message from staff@hotmail.com with
  // the complained-about message attached, its recipient in X-HmXmrOriginalRecipient.
  bool parse_forwarded_complaint() {
    const std::string from = lower(first_address(message_.top.get("from")));
    const std::string subject = lower(message_.top.get("subject"));
    if (from != "staff@hotmail.com" &&
        subject.find("complaint about message from") == std::string::npos) {
      return false;
    }
    const Part* original = first_returned_message();
    if (original == nullptr) return false;
    Finding finding;
    finding.kind = FindingKind::complaint;
    finding.feedback_type = "abuse";
    finding.recipient = first_address(original->headers.get("x-hmxmroriginalrecipient"));
    finding.recipient_source = RecipientSource::dsn;
    if (finding.recipient.empty()) {
      finding.recipient = first_address(original->headers.get("to"));
      finding.recipient_source = RecipientSource::original_headers;
    }
    if (finding.recipient.empty()) return false;
    findings_.push_back(std::move(finding));
    return true;
  }

  // A bounce forwarded as the text of another message (a provider relaying its MTA's report
  // to a postmaster): its headers and MIME parts pasted in a text/plain body. The pasted
  // message is read as a message of its own, once.
  bool forwarded_report(std::vector<Finding>& findings) {
    if (options_.nested) return false;
    const ContentType type = parse_content_type(message_.top.get("content-type"));
    if (!type.type.empty() && type.type != "text/plain") return false;
    if (message_.parts.empty()) return false;
    const std::string& body = message_.parts.front().body;
    const std::string lowered =
        lower(std::string_view(body).substr(0, limits::bounce_text_bytes_max));
    const std::size_t report = lowered.find("\ncontent-type: multipart/report");
    if (report == std::string::npos) return false;
    // Back to the first line of the pasted header block.
    std::size_t start = report + 1;
    while (start > 0) {
      const std::size_t previous = lowered.rfind('\n', start - 2);
      const std::size_t line_start = previous == std::string::npos ? 0 : previous + 1;
      const std::string_view line =
          std::string_view(lowered).substr(line_start, start - 1 - line_start);
      const bool header =
          !line.empty() &&
          (line[0] == ' ' || line[0] == '\t' ||
           (line.find(':') != std::string_view::npos && line.find(':') < line.find(' ')));
      if (!header || line_start == start) break;
      start = line_start;
    }
    ParseOptions nested = options_;
    nested.nested = true;
    std::vector<Finding> inner = Parser(std::string_view(body).substr(start), nested).run();
    if (inner.empty()) return false;
    findings = std::move(inner);
    return true;
  }

  // The format of this bounce (formats.h), from its lowered headers and report text.
  std::string_view detect() const {
    // Every top header value, trimmed and lowered, in one buffer (Received ones joined apart);
    // the subject with its encoded-words decoded.
    constexpr std::size_t kFieldsMax = 48, kValueBytesMax = 256, kTextBytesMax = 1024;
    std::array<std::pair<std::string_view, std::string_view>, kFieldsMax> fields;
    std::array<std::size_t, kFieldsMax> offsets{};
    std::size_t count = 0;
    std::string values, received;
    values.reserve(kFieldsMax * kValueBytesMax / 4);
    const auto append_lowered = [](std::string_view from, std::string& into) {
      const std::size_t offset = into.size();
      into.resize(offset + from.size());
      std::transform(from.begin(), from.end(), into.begin() + static_cast<std::ptrdiff_t>(offset),
                     [](char c) { return hayate::lower(c); });
    };
    for (const Field& field : message_.top.fields) {
      std::string_view value = trim(field.value, whitespace_characters);
      if (field.name == "subject") value = trim(message_.subject, whitespace_characters);
      value = value.substr(0, kValueBytesMax);
      if (field.name == "received") {
        append_lowered(value, received);
        received.push_back('\n');
      } else if (count < kFieldsMax) {
        offsets[count] = values.size();
        append_lowered(value, values);
        fields[count++] = {field.name, value};  // the view is set below, once values is whole
      }
    }
    for (std::size_t i = 0; i < count; ++i) {
      fields[i].second = std::string_view(values).substr(offsets[i], fields[i].second.size());
    }
    // The opening words are enough: the first KiB of the report's own parts, lowered.
    std::string text;
    for (const Part& part : message_.parts) {
      if (part.attached || part.returned_headers) continue;
      if (part.type.compare(0, 5, "text/") != 0 && part.type != "message/delivery-status") continue;
      append_lowered(std::string_view(part.body).substr(0, kTextBytesMax - text.size()), text);
      if (text.size() >= kTextBytesMax) break;
      text.push_back('\n');
    }
    BounceMarks marks;
    marks.headers = std::span(fields.data(), count);
    marks.from = marks.header("from");
    marks.subject = marks.header("subject");
    marks.received = received;
    marks.text = text;
    return detect_format(marks);
  }

  bool looks_like_bounce() const {
    if (message_.top.find("x-failed-recipients") != nullptr) return true;
    const ContentType type = parse_content_type(message_.top.get("content-type"));
    if (type.type == "multipart/report") return true;
    if (is_bounce_sender(message_)) return true;
    if (has_bounce_subject(message_)) {
      return lower(message_.top.get("auto-submitted")) != "no";
    }
    return false;
  }

  // The lines that concern `recipient`: from its first mention to the next blank line after
  // some text, or to the next line naming another address, at most 1 KiB.
  static std::string diagnostic_near(std::string_view text, std::string_view recipient) {
    const std::string lowered_text = lower(text);
    const std::string needle = lower(recipient);
    // The first mention outside a quoted header line ("To: a@b" of the original).
    std::size_t pos = std::string_view::npos;
    for (std::size_t at = lowered_text.find(needle); at != std::string::npos;
         at = lowered_text.find(needle, at + needle.size())) {
      std::size_t line_start = text.rfind('\n', at);
      line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
      std::size_t line_end = text.find('\n', at);
      if (line_end == std::string_view::npos) line_end = text.size();
      if (!is_quoted_header_line(text.substr(line_start, line_end - line_start))) {
        pos = line_start;
        break;
      }
      if (pos == std::string_view::npos) pos = line_start;  // only quoted: better than nothing
    }
    if (pos == std::string_view::npos) return std::string();
    std::string out;
    std::string_view line;
    std::size_t lines = 0;
    while (next_line(text, pos, line) && out.size() < 1024 && lines < 12) {
      if (lines > 0) {
        bool other = false;
        for_each_address(line, [&](std::string_view address) {
          if (!same_address(address, recipient) && !is_system_address(address)) other = true;
        });
        if (other) break;
        if (trim(line, whitespace_characters).empty()) {
          if (lines > 1) break;
          continue;
        }
      }
      out += trim(line, whitespace_characters);
      out += ' ';
      ++lines;
    }
    return out;
  }

  // A bounce in an MTA's own words: Exim, qmail, Sendmail, Postfix without DSN, Exchange,
  // Yahoo, docomo... Recipients from X-Failed-Recipients, else the addresses of the text,
  // else the To of the returned original.
  void parse_text_bounce() {
    const std::string text = report_text();
    const std::string lowered_text = lower(text);
    const FindingKind kind = is_delay_text(lowered_text) ||
                                     contains_lowered(message_.subject, "delay") ||
                                     contains_lowered(message_.subject, "warning: could not send")
                                 ? FindingKind::delay
                                 : FindingKind::bounce;

    std::vector<std::string> recipients;
    RecipientSource source = RecipientSource::failed_header;
    const std::string_view failed = message_.top.get("x-failed-recipients");
    if (!failed.empty()) recipients = all_addresses(failed);
    if (recipients.empty()) {
      // A report that quotes the envelope ("RCPT TO: a@b" in its message details) names the
      // recipient there; the other addresses it quotes are the original's From and CC.
      source = RecipientSource::text;
      for (std::size_t at = lowered_text.find("rcpt to:"); at != std::string::npos;
           at = lowered_text.find("rcpt to:", at + 8)) {
        std::size_t line_start = lowered_text.rfind('\n', at);
        line_start = line_start == std::string::npos ? 0 : line_start + 1;
        if (!trim(std::string_view(lowered_text).substr(line_start, at - line_start),
                  whitespace_characters)
                 .empty()) {
          continue;  // ">>> RCPT TO:" in a transcript: one of several, maybe not the failed one
        }
        const std::size_t end = text.find('\n', at);
        std::string address = first_address(std::string_view(text).substr(
            at + 8, end == std::string::npos ? std::string::npos : end - at - 8));
        if (!address.empty() && recipients.size() < bounce_findings_max)
          recipients.push_back(std::move(address));
      }
    }
    if (recipients.empty()) {
      source = RecipientSource::text;
      const std::string to = first_address(message_.top.get("to"));
      const std::string from = first_address(message_.top.get("from"));
      std::string original_from;
      if (const Part* original = first_returned_message()) {
        original_from = first_address(original->headers.get("from"));
      }
      std::string own_line;  // "<a@b>:" alone on a line (qmail's form), though it is To's
      for_each_address_outside_headers(text, [&](std::string_view address) {
        if (recipients.size() >= bounce_findings_max) return;
        if (is_system_address(address)) return;
        if (same_address(address, to) || same_address(address, from) ||
            same_address(address, original_from)) {
          if (own_line.empty() &&
              text.find("\n<" + std::string(address) + ">:\n") != std::string::npos) {
            own_line = std::string(address);
          }
          return;
        }
        for (const std::string& known : recipients) {
          if (same_address(known, address)) return;
        }
        recipients.emplace_back(address);
      });
      if (recipients.empty() && !own_line.empty()) recipients.push_back(std::move(own_line));
    }
    if (recipients.empty()) {
      source = RecipientSource::original_headers;
      if (const Part* original = first_returned_message()) {
        recipients = all_addresses(original->headers.get("to"));
      } else {
        // The original pasted as text after the marker.
        const std::string whole = all_text();
        const std::size_t end = report_text_end(lower(whole));
        if (end < whole.size()) {
          const std::size_t headers_start = whole.find('\n', end);
          if (headers_start != std::string::npos) {
            Headers headers;
            std::string_view rest =
                trim(std::string_view(whole).substr(headers_start + 1), whitespace_characters);
            parse_headers(rest, headers);
            recipients = all_addresses(headers.get("to"));
          }
        }
      }
      if (recipients.size() > 1) recipients.clear();  // which of them failed is unknown
    }
    if (recipients.empty() && options_.verp_decoder) recipients.emplace_back();  // VERP fills it
    for (std::string& recipient : recipients) {
      if (findings_.size() >= bounce_findings_max) break;
      Finding finding;
      finding.kind = kind;
      finding.recipient = std::move(recipient);
      finding.recipient_source = source;
      std::string near =
          finding.recipient.empty() ? std::string() : diagnostic_near(text, finding.recipient);
      const Classification local = classify(0, "", near);
      if (is_unknown(local.reason)) {
        // The failure is said once for all recipients, before or after the list.
        finding.diagnostic =
            std::string(trim(std::string_view(text).substr(0, 2048), whitespace_characters));
        if (!near.empty()) finding.diagnostic = near + " " + finding.diagnostic;
      } else {
        finding.diagnostic = std::move(near);
      }
      refine_status(finding);
      findings_.push_back(std::move(finding));
    }
  }

  std::string all_text() const {
    std::string text;
    for (const Part& part : message_.parts) {
      if (part.type.compare(0, 5, "text/") == 0 && !part.attached) text += part.body;
      if (text.size() > limits::bounce_text_bytes_max) break;
    }
    return text;
  }

  void add_autoreply() {
    Finding finding;
    finding.kind = FindingKind::autoreply;
    // Apple Mail's one-click unsubscribe (X-Apple-Unsubscribe: true) comes as an auto-reply
    // from the recipient: it asks for no more mail, as a complaint does.
    if (equals_ignoring_case(trim(message_.top.get("x-apple-unsubscribe"), whitespace_characters),
                             "true")) {
      finding.kind = FindingKind::complaint;
      finding.feedback_type = "unsubscribe";
    }
    finding.recipient = first_address(message_.top.get("from"));
    finding.recipient_source = RecipientSource::sender;
    if (finding.recipient.empty() && !options_.verp_decoder) return;
    finding.diagnostic = std::string(trim(message_.top.get("subject"), whitespace_characters));
    findings_.push_back(std::move(finding));
  }

  // The first of our VERP addresses the bounce was delivered to decides; failing those, the
  // original message's envelope sender as the report quotes it (RFC 5965 3.2
  // Original-Mail-From, the returned headers' Return-Path): a feedback loop or a relay may
  // leave none on the report itself. Later ones are not asked: a message whose envelope and
  // headers disagree is refused on the first.
  TokenAnswer first_token() const {
    static constexpr std::array<std::string_view, 6> kFields = {
        "delivered-to", "x-original-to", "envelope-to", "to", "x-envelope-to", "return-path"};
    std::vector<std::string> reported;
    for (const Finding& finding : findings_) {
      if (!finding.recipient.empty()) reported.push_back(finding.recipient);
      if (!finding.original_recipient.empty()) reported.push_back(finding.original_recipient);
    }
    std::vector<std::string> addresses;
    for (std::string_view name : kFields) {
      for (const Field& field : message_.top.fields) {
        if (field.name == name) append_addresses(field.value, addresses);
      }
    }
    for (const Part& part : message_.parts) {
      if (part.type != "message/feedback-report") continue;
      Headers fields;
      parse_headers(part.body, fields);
      append_addresses(fields.get("original-mail-from"), addresses);
      break;
    }
    if (const Part* original = first_returned_message()) {
      append_addresses(original->headers.get("return-path"), addresses);
    }
    for (const std::string& address : addresses) {
      TokenAnswer answer = options_.verp_decoder(address, reported);
      if (answer.check != TokenCheck::absent) return answer;
    }
    return {};
  }

  static void append_addresses(std::string_view value, std::vector<std::string>& out) {
    for_each_address(value, [&](std::string_view address) {
      if (out.size() < bounce_findings_max) out.emplace_back(address);
    });
  }

  // A valid token names the address we mailed, with a signature: it outranks what a
  // forwarding or rewriting MTA reports. A refused one (forged, another campaign's...) makes
  // the message proof of nothing, not even of the addresses the report names: anyone can
  // write a report, and it came to an address we never gave out.
  void apply_verp() {
    if (!options_.verp_decoder) return;
    const TokenAnswer answer = first_token();
    if (answer.check == TokenCheck::absent) {
      // No token of ours: the report's own recipients stand; the placeholder goes.
      std::erase_if(findings_, [](const Finding& f) { return f.recipient.empty(); });
      return;
    }
    if (is_refused(answer.check)) {
      for (Finding& finding : findings_) finding.token = answer.check;  // counted, not recorded
      return;
    }
    HAYATE_ASSERT(answer.check == TokenCheck::valid && !answer.recipient.empty());
    keep_one_finding(answer.recipient);
  }

  // VERP messages go one recipient per transaction, so a report that came back to a token is
  // about the address that token was made for, and only that one: one finding stays, the one
  // naming that address, else the first failure (an alias or forward expanded it), else the
  // first; the others are about addresses we never mailed and are dropped.
  void keep_one_finding(const std::string& token_recipient) {
    if (findings_.empty()) return;  // an ordinary message to our address: nothing reported
    auto chosen = std::find_if(findings_.begin(), findings_.end(), [&](const Finding& f) {
      return same_address(f.recipient, token_recipient);
    });
    if (chosen == findings_.end()) {
      chosen = std::find_if(findings_.begin(), findings_.end(), [](const Finding& f) {
        return f.kind == FindingKind::bounce || f.kind == FindingKind::complaint;
      });
    }
    if (chosen == findings_.end()) chosen = findings_.begin();
    Finding finding = std::move(*chosen);
    findings_.clear();
    if (!finding.recipient.empty() && !same_address(finding.recipient, token_recipient)) {
      finding.reported_recipient = std::move(finding.recipient);
    }
    finding.recipient = token_recipient;
    finding.recipient_source = RecipientSource::verp;
    finding.token = TokenCheck::valid;
    findings_.push_back(std::move(finding));
  }

  const ParseOptions& options_;
  Message message_;
  std::vector<Finding> findings_;
};

}  // namespace

std::string_view to_string(FindingKind kind) {
  switch (kind) {
    case FindingKind::bounce:
      return "bounce";
    case FindingKind::complaint:
      return "complaint";
    case FindingKind::autoreply:
      return "autoreply";
    case FindingKind::delay:
      return "delay";
    case FindingKind::delivered:
      return "delivered";
  }
  return "bounce";
}

std::string_view to_string(TokenCheck check) {
  switch (check) {
    case TokenCheck::absent:
      return "absent";
    case TokenCheck::valid:
      return "valid";
    case TokenCheck::forged:
      return "forged";
    case TokenCheck::stale:
      return "stale";
    case TokenCheck::other_campaign:
      return "other_campaign";
    case TokenCheck::old_version:
      return "old_version";
    case TokenCheck::unchecked:
      return "unchecked";
  }
  return "absent";
}

std::vector<Finding> parse_report(std::string_view message, const ParseOptions& options) {
  Parser parser(message, options);
  return parser.run();
}

}  // namespace hayate::campaign::bounce
