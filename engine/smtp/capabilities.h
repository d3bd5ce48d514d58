// ESMTP capabilities announced in an EHLO reply (RFC 5321 4.1.1.1), parsed once per session.
#pragma once

#include <cstdint>
#include <string>

#include "engine/smtp/reply_parser.h"

namespace hayate::smtp {

struct Capabilities {
  bool pipelining = false;           // RFC 2920
  bool size = false;                 // RFC 1870
  std::uint64_t size_max_bytes = 0;  // 0: no limit announced
  bool eightbitmime = false;         // RFC 6152
  bool smtputf8 = false;             // RFC 6531
  bool enhancedstatuscodes = false;  // RFC 2034
  bool starttls = false;             // RFC 3207
  bool chunking = false;             // RFC 3030
  bool dsn = false;                  // RFC 3461
  bool auth_plain = false;           // RFC 4954
  bool auth_login = false;
  std::string auth_mechanisms;  // the AUTH line's mechanisms, upper case, space separated
};

// Reads the keyword lines of a positive EHLO reply (the first line is the greeting and is
// skipped). Keywords are case-insensitive; unknown ones are ignored.
Capabilities parse_capabilities(const Reply& ehlo_reply);

}  // namespace hayate::smtp
