// Pure parsing of SMTP server commands (see command.h). Verbs are matched as one 32-bit
// word so that a pipelined burst of commands costs a few instructions each.
#include "engine/smtp/server/command.h"

#include <array>
#include <cstring>

#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/strings.h"

namespace hayate::smtp::server {
namespace {

constexpr std::uint32_t pack_verb(const char (&text)[5]) {
  return std::uint32_t(std::uint8_t(text[0])) | std::uint32_t(std::uint8_t(text[1])) << 8 |
         std::uint32_t(std::uint8_t(text[2])) << 16 | std::uint32_t(std::uint8_t(text[3])) << 24;
}

struct VerbEntry {
  std::uint32_t packed;
  Verb verb;
};

constexpr std::array<VerbEntry, 9> kVerbs = {{
    {pack_verb("mail"), Verb::mail},
    {pack_verb("rcpt"), Verb::rcpt},
    {pack_verb("data"), Verb::data},
    {pack_verb("ehlo"), Verb::ehlo},
    {pack_verb("helo"), Verb::helo},
    {pack_verb("rset"), Verb::rset},
    {pack_verb("noop"), Verb::noop},
    {pack_verb("quit"), Verb::quit},
    {pack_verb("vrfy"), Verb::vrfy},
}};

bool is_space(char c) { return c == ' ' || c == '\t'; }

// RFC 5321 4.1.2: a path holds no control characters; a NUL or a bare CR inside a path is the
// kind of byte a smuggling or injection attempt uses, so it is a syntax error here.
bool has_control_bytes(std::string_view text) {
  for (char c : text) {
    if (std::uint8_t(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool parse_decimal(std::string_view digits, std::uint64_t& value) {
  if (digits.empty() || digits.size() > 19) return false;  // 19 digits cannot overflow 64 bits
  std::uint64_t result = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    result = result * 10 + std::uint64_t(c - '0');
  }
  value = result;
  return true;
}

}  // namespace

Command parse_command(std::string_view line) {
  Command command;
  if (line.size() < 4 || (line.size() > 4 && line[4] != ' ')) return command;
  std::uint32_t packed = 0;
  for (int i = 0; i < 4; ++i) {
    packed |= std::uint32_t(std::uint8_t(lower(line[i]))) << (8 * i);
  }
  for (const VerbEntry& entry : kVerbs) {
    if (entry.packed == packed) {
      command.verb = entry.verb;
      command.argument = trim(line.substr(4));
      break;
    }
  }
  return command;
}

PathStatus parse_path_argument(std::string_view argument, std::string_view keyword,
                               PathArgument& result) {
  if (!starts_with_ignoring_case(argument, keyword)) return PathStatus::syntax_error;
  const std::string_view rest = trim_front(argument.substr(keyword.size()));
  if (rest.empty()) return PathStatus::syntax_error;

  std::string_view path;
  std::string_view after;
  if (rest.front() == '<') {
    std::size_t end = std::string_view::npos;
    bool quoted = false;
    for (std::size_t i = 1; i < rest.size(); ++i) {
      const char c = rest[i];
      if (quoted && c == '\\') {
        ++i;  // RFC 5321 4.1.2 quoted-pairSMTP: the next byte is literal
      } else if (c == '"') {
        quoted = !quoted;
      } else if (c == '>' && !quoted) {
        end = i;
        break;
      }
    }
    if (end == std::string_view::npos) return PathStatus::syntax_error;
    path = rest.substr(1, end - 1);
    after = rest.substr(end + 1);
    if (!after.empty() && !is_space(after.front())) return PathStatus::syntax_error;
  } else {
    std::size_t end = 0;
    while (end < rest.size() && !is_space(rest[end])) ++end;
    path = rest.substr(0, end);
    after = rest.substr(end);
  }
  if (!path.empty() && path.front() == '@') {
    const std::size_t colon = path.find(':');
    if (colon == std::string_view::npos) return PathStatus::syntax_error;
    path.remove_prefix(colon + 1);
  }
  if (has_control_bytes(path)) return PathStatus::syntax_error;
  if (path.size() > limits::address_bytes_max) return PathStatus::too_long;
  result.path = path;
  result.parameters = trim(after);
  return PathStatus::ok;
}

ParameterStatus parse_mail_parameters(std::string_view parameters, MailParameters& result) {
  result = MailParameters{};
  bool body_given = false;
  const std::size_t parameters_bytes = parameters.size();
  std::size_t tokens = 0;
  while (true) {
    parameters = trim_front(parameters);
    if (parameters.empty()) break;
    ++tokens;
    HAYATE_ASSERT(tokens <= parameters_bytes);  // each pass consumes at least one byte
    std::size_t end = 0;
    while (end < parameters.size() && !is_space(parameters[end])) ++end;
    const std::string_view token = parameters.substr(0, end);
    parameters.remove_prefix(end);

    const std::size_t equals = token.find('=');
    const std::string_view keyword = token.substr(0, equals);
    const bool has_value = equals != std::string_view::npos;
    const std::string_view value = has_value ? token.substr(equals + 1) : std::string_view();
    if (keyword.empty()) return ParameterStatus::syntax_error;
    if (equals_ignoring_case(keyword, "SIZE")) {
      if (result.size_given || !parse_decimal(value, result.size_bytes)) {
        return ParameterStatus::syntax_error;
      }
      result.size_given = true;
    } else if (equals_ignoring_case(keyword, "BODY")) {
      if (body_given) return ParameterStatus::syntax_error;
      body_given = true;
      if (equals_ignoring_case(value, "8BITMIME")) {
        result.body_8bitmime = true;
      } else if (!equals_ignoring_case(value, "7BIT")) {
        return ParameterStatus::syntax_error;
      }
    } else if (equals_ignoring_case(keyword, "SMTPUTF8")) {
      if (has_value || result.smtputf8) return ParameterStatus::syntax_error;
      result.smtputf8 = true;
    } else {
      return ParameterStatus::unsupported;
    }
  }
  return ParameterStatus::ok;
}

}  // namespace hayate::smtp::server
