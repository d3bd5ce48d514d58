// The fault modes of hayate-sink: a recipient's local part picks what the sink does with it,
// so a test chooses each recipient's outcome by its address ("tempfail-1@x" is a tempfail,
// "Bounce.7@x" a bounce). Pure: no I/O.
#pragma once

#include <cstdint>
#include <string_view>

namespace hayate::sink {

// Fault mode chosen by the prefix of a recipient's local part (case-insensitive).
enum class RcptFault : std::uint8_t {
  none,
  tempfail,      // 451 4.3.0 at RCPT
  bounce,        // 550 5.1.1 at RCPT
  datafail,      // accepted; the transaction gets 554 5.6.0 at the end of DATA
  datatempfail,  // accepted; the transaction gets 451 4.3.0 at the end of DATA
  slow,          // the RCPT reply is delayed (later replies wait behind it)
  disconnect,    // the connection is closed after the RCPT is read, without a reply
  garbage,       // the RCPT is answered with "HELLO THIS IS NOT SMTP"
  flaky,         // the first RCPT for this address gets 451 4.3.0, later ones 250
};

RcptFault classify_recipient(std::string_view path);
std::string_view fault_name(RcptFault fault);

}  // namespace hayate::sink
