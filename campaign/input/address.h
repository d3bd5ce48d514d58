// Recipient and sender address checks: RFC 5321 4.1.2 Mailbox syntax, domain lower-cased and
// converted to A-labels (IDNA 2008 via libidn2), so that equal addresses compare equal.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hayate::campaign::inline input {

struct Address {
  std::string text;             // normalized "local@domain": local part as given, domain A-label
  std::uint32_t at = 0;         // index of '@' in text
  bool needs_smtputf8 = false;  // the local part has non-ASCII (RFC 6531)
  std::string_view local() const { return std::string_view(text).substr(0, at); }
  std::string_view domain() const { return std::string_view(text).substr(at + 1); }
};

// Parses and normalizes one address (no display name, no angle brackets; surrounding spaces
// are trimmed). On failure returns false and sets `error` to a short reason a user can act
// on: "missing '@'", "empty local part", "local part over 64 octets", "invalid character ' '
// in local part", "domain 'exa_mple.com' is not a valid host name", "address literals are not
// supported", "invalid IDN domain 'xn--...': <libidn2 reason>"...
// Accepts dot-atom and quoted-string local parts; the domain needs at least one dot.
//
// Normalization, which duplicate detection relies on (it compares `text` byte for byte):
// - the domain is lower-cased; a non-ASCII domain becomes A-labels (UTS 46 non-transitional,
//   NFC), so "Ü.example" and "xn--tda.example" are one domain;
// - the local part keeps its case (RFC 5321 2.4: local parts are case-sensitive), so
//   "John@x.com" and "john@x.com" are two recipients;
// - a quoted local part is written in its shortest form (RFC 5322 3.4.1: quoting does not
//   change the address): "\"john\"@x.com" becomes "john@x.com", "\"j\\ d\"@x.com" becomes
//   "\"j d\"@x.com"; only '"' and '\\' stay escaped. Non-ASCII local parts are not
//   Unicode-normalized.
// Never accepted: CR, LF or NUL anywhere, control characters, malformed UTF-8, an empty quoted
// local part, address literals, a domain without a dot or with an all-numeric last label.
bool parse_address(std::string_view input, Address& address, std::string& error);

// Parses a header mailbox "Display Name <local@domain>" or a bare address (for `from`).
// `display_name` gets the name without quotes (may be empty).
// Forms: `Name <a@b.c>`, `"Quoted, Name" <a@b.c>`, `<a@b.c>`, `a@b.c`. Quoted parts of the
// name are unquoted (quoted-pairs resolved); outside quotes the name may hold atext, spaces,
// '.' (RFC 5322 4.1 obs-phrase) and UTF-8 (RFC 6532), so `Smith, John <a@b.c>` is rejected
// with advice to quote it. CR, LF, NUL and control characters are rejected everywhere.
bool parse_mailbox(std::string_view input, std::string& display_name, Address& address,
                   std::string& error);

}  // namespace hayate::campaign::input
