// Pure parsing of the commands an SMTP server receives: a command line in, a verb, a path and
// parameters out (RFC 5321 4.1.1). No I/O, no allocation: every view points into the caller's
// line. Used by the server session (session.h).
#pragma once

#include <cstdint>
#include <string_view>

namespace hayate::smtp::server {

enum class Verb : std::uint8_t { helo, ehlo, mail, rcpt, data, rset, noop, quit, vrfy, unknown };

struct Command {
  Verb verb = Verb::unknown;
  std::string_view argument;  // after the verb and the spaces that follow it; trailing spaces cut
};

// `line` is one command line without its line ending. Verbs are case-insensitive
// (RFC 5321 2.4); a verb must be followed by a space or the end of the line ("MAILX" is
// unknown).
Command parse_command(std::string_view line);

// "FROM:<path> parameters" (MAIL) or "TO:<path> parameters" (RCPT).
struct PathArgument {
  std::string_view path;        // between the angle brackets, source route removed; may be empty
  std::string_view parameters;  // ESMTP parameters after the path, spaces trimmed
};

enum class PathStatus : std::uint8_t { ok, syntax_error, too_long };

// `keyword` is "FROM:" or "TO:", matched case-insensitively. Spaces after the colon and a path
// without angle brackets are tolerated (real clients send both). A quoted local part may hold
// '>' and spaces. A source route ("<@a,@b:user@c>", RFC 5321 4.1.2 and C.) is dropped.
// A path longer than limits::address_bytes_max is too_long.
PathStatus parse_path_argument(std::string_view argument, std::string_view keyword,
                               PathArgument& result);

// MAIL parameters the server understands (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8).
struct MailParameters {
  bool size_given = false;
  std::uint64_t size_bytes = 0;
  bool body_8bitmime = false;
  bool smtputf8 = false;
};

enum class ParameterStatus : std::uint8_t { ok, syntax_error, unsupported };

// Parses "SIZE=1234 BODY=8BITMIME SMTPUTF8". Keywords are case-insensitive. An unknown
// keyword (e.g. DSN's RET or ENVID, never announced) is unsupported: RFC 5321 4.1.1.11 says
// 555. A malformed value (SIZE=abc, BODY=9BIT, a repeated keyword) is a syntax_error.
ParameterStatus parse_mail_parameters(std::string_view parameters, MailParameters& result);

}  // namespace hayate::smtp::server
