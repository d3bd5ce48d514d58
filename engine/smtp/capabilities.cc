// EHLO keyword parser (RFC 5321 4.1.1.1, ehlo-line = ehlo-keyword *( SP ehlo-param )). Runs
// once per session, so it favours clarity; it still reads only the reply's own bytes.
#include "engine/smtp/capabilities.h"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "engine/strings.h"

namespace hayate::smtp {
namespace {

char to_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

bool is_space(char c) { return c == ' ' || c == '\t'; }

// RFC 1870 4: "SIZE" [SP number]; a missing or unreadable number means no announced limit.
// A number too large for 64 bits saturates: it is a limit we will never reach.
std::uint64_t parse_size(std::string_view parameters) {
  std::uint64_t value = 0;
  if (parameters.empty()) return 0;
  for (char c : parameters) {
    if (c < '0' || c > '9') return 0;
    std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      return std::numeric_limits<std::uint64_t>::max();
    }
    value = value * 10 + digit;
  }
  return value;
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    std::size_t space = list.find(' ');
    if (list.substr(0, space) == token) return true;
    if (space == std::string_view::npos) break;
    list.remove_prefix(space + 1);
  }
  return false;
}

// RFC 4954 3: "AUTH" SP mechanism *(SP mechanism). Servers that also (or only) send the
// pre-standard "AUTH=LOGIN PLAIN" form list mechanisms the same way after the '='.
void add_auth_mechanisms(std::string_view parameters, Capabilities& capabilities) {
  while (!parameters.empty()) {
    std::size_t end = 0;
    while (end < parameters.size() && !is_space(parameters[end])) ++end;
    std::string mechanism(parameters.substr(0, end));
    for (char& c : mechanism) c = to_upper(c);
    if (!mechanism.empty() && !has_token(capabilities.auth_mechanisms, mechanism)) {
      if (!capabilities.auth_mechanisms.empty()) capabilities.auth_mechanisms.push_back(' ');
      capabilities.auth_mechanisms += mechanism;
      if (mechanism == "PLAIN") capabilities.auth_plain = true;
      if (mechanism == "LOGIN") capabilities.auth_login = true;
    }
    while (end < parameters.size() && is_space(parameters[end])) ++end;
    parameters.remove_prefix(end);
  }
}

void parse_keyword_line(std::string_view line, Capabilities& capabilities) {
  line = trim_back(trim_front(line), " \t\r");  // a stray CR before the line's end too
  std::size_t keyword_end = 0;
  while (keyword_end < line.size() && !is_space(line[keyword_end]) && line[keyword_end] != '=') {
    ++keyword_end;
  }
  std::string_view keyword = line.substr(0, keyword_end);
  std::string_view parameters = trim(line.substr(keyword_end));
  bool old_auth_form = keyword_end < line.size() && line[keyword_end] == '=';
  if (old_auth_form) {
    if (equals_ignoring_case(keyword, "AUTH")) {
      add_auth_mechanisms(trim(line.substr(keyword_end + 1)), capabilities);
    }
    return;  // no other keyword takes the '=' form
  }
  if (equals_ignoring_case(keyword, "PIPELINING")) {
    capabilities.pipelining = true;
  } else if (equals_ignoring_case(keyword, "SIZE")) {
    capabilities.size = true;
    capabilities.size_max_bytes = parse_size(parameters);
  } else if (equals_ignoring_case(keyword, "8BITMIME")) {
    capabilities.eightbitmime = true;
  } else if (equals_ignoring_case(keyword, "SMTPUTF8")) {
    capabilities.smtputf8 = true;
  } else if (equals_ignoring_case(keyword, "ENHANCEDSTATUSCODES")) {
    capabilities.enhancedstatuscodes = true;
  } else if (equals_ignoring_case(keyword, "STARTTLS")) {
    capabilities.starttls = true;
  } else if (equals_ignoring_case(keyword, "CHUNKING")) {
    capabilities.chunking = true;
  } else if (equals_ignoring_case(keyword, "DSN")) {
    capabilities.dsn = true;
  } else if (equals_ignoring_case(keyword, "AUTH")) {
    add_auth_mechanisms(parameters, capabilities);
  }
}

}  // namespace

Capabilities parse_capabilities(const Reply& ehlo_reply) {
  Capabilities capabilities;
  if (ehlo_reply.code < 200 || ehlo_reply.code >= 300) return capabilities;  // EHLO refused
  std::uint32_t line_index = 0;
  for_each_reply_line(ehlo_reply.raw, [&](std::string_view line) {
    // RFC 5321 4.1.1.1: the first line is the server's name and greeting, not a keyword.
    if (line_index++ > 0) parse_keyword_line(line, capabilities);
  });
  return capabilities;
}

}  // namespace hayate::smtp
