// Tests for campaign/address: real-world valid and invalid addresses with their exact
// normalized text or error, IDN conversion, header injection attempts, and mailbox forms.
#include "campaign/input/address.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "engine/limits.h"

namespace hayate::campaign {
namespace {

// The normalized text of an address that must parse.
std::string normalized(std::string_view input, bool expect_smtputf8 = false) {
  Address address;
  std::string error;
  EXPECT_TRUE(parse_address(input, address, error)) << "input: " << input << " error: " << error;
  EXPECT_EQ(address.needs_smtputf8, expect_smtputf8) << input;
  if (!address.text.empty()) {
    EXPECT_EQ(address.text[address.at], '@');
    // Normalizing is idempotent: the normalized text parses to itself.
    Address again;
    std::string again_error;
    EXPECT_TRUE(parse_address(address.text, again, again_error)) << again_error;
    EXPECT_EQ(again.text, address.text);
    EXPECT_EQ(again.at, address.at);
    EXPECT_EQ(again.needs_smtputf8, address.needs_smtputf8);
  }
  return address.text;
}

// The error of an address that must be rejected.
std::string rejected(std::string_view input) {
  Address address;
  std::string error;
  EXPECT_FALSE(parse_address(input, address, error)) << "accepted: " << address.text;
  return error;
}

TEST(ParseAddress, PlainAddresses) {
  EXPECT_EQ(normalized("user@example.com"), "user@example.com");
  EXPECT_EQ(normalized("first.last@sub.example.co.uk"), "first.last@sub.example.co.uk");
  EXPECT_EQ(normalized("1234567890@example.com"), "1234567890@example.com");
  EXPECT_EQ(normalized("x@123.example"), "x@123.example");
  EXPECT_EQ(normalized("a@b.co"), "a@b.co");
  EXPECT_EQ(normalized("user-name_x@my-domain.example"), "user-name_x@my-domain.example");
  // Every atext special of RFC 5322 3.2.3.
  EXPECT_EQ(normalized("!#$%&'*+-/=?^_`{|}~@example.com"), "!#$%&'*+-/=?^_`{|}~@example.com");
}

TEST(ParseAddress, DomainIsLowerCasedLocalPartKeepsItsCase) {
  EXPECT_EQ(normalized("user+tag@Example.COM"), "user+tag@example.com");
  EXPECT_EQ(normalized("John.Doe@EXAMPLE.com"), "John.Doe@example.com");
  Address address;
  std::string error;
  ASSERT_TRUE(parse_address("Mixed.Case@Sub.Example.ORG", address, error));
  EXPECT_EQ(address.local(), "Mixed.Case");
  EXPECT_EQ(address.domain(), "sub.example.org");
  EXPECT_EQ(address.at, 10u);
}

TEST(ParseAddress, SurroundingSpacesAreTrimmed) {
  EXPECT_EQ(normalized("  user@example.com  "), "user@example.com");
  EXPECT_EQ(normalized("\tuser@example.com \t"), "user@example.com");
}

TEST(ParseAddress, QuotedLocalParts) {
  EXPECT_EQ(normalized("\"john doe\"@example.com"), "\"john doe\"@example.com");
  EXPECT_EQ(normalized("\"a@b\"@example.com"), "\"a@b\"@example.com");
  EXPECT_EQ(normalized("\"a..b\"@example.com"), "\"a..b\"@example.com");
  EXPECT_EQ(normalized("\"Doe, John\"@Example.com"), "\"Doe, John\"@example.com");
  // Quoting that changes nothing is dropped (RFC 5322 3.4.1), so duplicates are found.
  EXPECT_EQ(normalized("\"john\"@example.com"), "john@example.com");
  EXPECT_EQ(normalized("\"john.doe\"@example.com"), "john.doe@example.com");
  // Quoted pairs: only '"' and '\' keep their backslash.
  EXPECT_EQ(normalized(R"("a\"b"@example.com)"), R"("a\"b"@example.com)");
  EXPECT_EQ(normalized(R"("a\\b"@example.com)"), R"("a\\b"@example.com)");
  EXPECT_EQ(normalized(R"("a\ b"@example.com)"), R"("a b"@example.com)");
  EXPECT_EQ(normalized(R"("\j\o\e"@example.com)"), "joe@example.com");
  EXPECT_EQ(normalized("\"ü x\"@example.com", true), "\"ü x\"@example.com");
}

TEST(ParseAddress, InternationalizedAddresses) {
  // RFC 6531: UTF-8 local parts need SMTPUTF8; domains become A-labels.
  Address address;
  std::string error;
  ASSERT_TRUE(parse_address("δοκιμή@παράδειγμα.δοκιμή", address, error)) << error;
  EXPECT_EQ(address.text, "δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp");
  EXPECT_EQ(address.local(), "δοκιμή");
  EXPECT_EQ(address.domain(), "xn--hxajbheg2az3al.xn--jxalpdlp");
  EXPECT_TRUE(address.needs_smtputf8);

  EXPECT_EQ(normalized("日本語@例え.テスト", true), "日本語@xn--r8jz45g.xn--zckzah");
  // UTS 46 maps the ideographic full stop and upper case.
  EXPECT_EQ(normalized("user@例え。テスト"), "user@xn--r8jz45g.xn--zckzah");
  EXPECT_EQ(normalized("user@Ü.COM"), "user@xn--tda.com");
  // Non-transitional: 'ß' is kept (IDNA 2008), not mapped to "ss".
  EXPECT_EQ(normalized("user@straße.de"), "user@xn--strae-oqa.de");
  // An ASCII domain with A-labels is kept (and lower-cased), so both spellings are equal.
  EXPECT_EQ(normalized("user@XN--TDA.com"), "user@xn--tda.com");
  EXPECT_EQ(normalized("user@xn--hxajbheg2az3al.xn--jxalpdlp"),
            "user@xn--hxajbheg2az3al.xn--jxalpdlp");
  EXPECT_EQ(normalized("jörg@bücher.example", true), "jörg@xn--bcher-kva.example");
  // An ASCII local part on an IDN domain does not need SMTPUTF8.
  ASSERT_TRUE(parse_address("info@münchen.de", address, error));
  EXPECT_FALSE(address.needs_smtputf8);
  EXPECT_EQ(address.text, "info@xn--mnchen-3ya.de");
}

TEST(ParseAddress, LengthLimits) {
  const std::string local_64(64, 'a');
  EXPECT_EQ(normalized(local_64 + "@example.com"), local_64 + "@example.com");
  EXPECT_EQ(rejected(local_64 + "b@example.com"), "local part over 64 octets");
  // The limit is in octets: 32 two-octet letters fit, 33 do not.
  std::string greek_32;
  for (int i = 0; i < 32; ++i) greek_32 += "δ";
  EXPECT_EQ(normalized(greek_32 + "@example.com", true), greek_32 + "@example.com");
  EXPECT_EQ(rejected(greek_32 + "δ@example.com"), "local part over 64 octets");
  // The quoted form counts with its quotes.
  EXPECT_EQ(rejected("\"" + std::string(63, ' ') + "\"@example.com"), "local part over 64 octets");

  const std::string label_63(63, 'x');
  EXPECT_EQ(normalized("a@" + label_63 + ".com"), "a@" + label_63 + ".com");
  EXPECT_EQ(rejected("a@" + label_63 + "x.com"),
            "domain '" + label_63 + "x.com' has a label over 63 octets");

  // Domain of exactly 253 octets: 63 + 1 + 63 + 1 + 63 + 1 + 61.
  const std::string domain_253 =
      label_63 + "." + label_63 + "." + label_63 + "." + std::string(57, 'y') + ".com";
  ASSERT_EQ(domain_253.size(), 253u);
  EXPECT_EQ(rejected("a@" + domain_253 + "x"),
            "domain '" + domain_253.substr(0, 80) + "...' over 253 octets");
  // 1 + 1 + 253 = 255 octets: the domain fits but the path does not.
  EXPECT_EQ(rejected("a@" + domain_253), "address over 254 octets");
  const std::string domain_252 = domain_253.substr(1);
  EXPECT_EQ(normalized("a@" + domain_252), "a@" + domain_252);
  EXPECT_EQ(rejected(std::string(5000, 'a') + "@example.com"), "address over 254 octets");
}

TEST(ParseAddress, SyntaxErrors) {
  EXPECT_EQ(rejected(""), "empty address");
  EXPECT_EQ(rejected("   "), "empty address");
  EXPECT_EQ(rejected("plainaddress"), "missing '@'");
  EXPECT_EQ(rejected("@example.com"), "empty local part");
  EXPECT_EQ(rejected("user@"), "empty domain");
  EXPECT_EQ(rejected("a..b@x.com"), "local part has two dots in a row");
  EXPECT_EQ(rejected("john..doe@example.com"), "local part has two dots in a row");
  EXPECT_EQ(rejected(".a@x.com"), "local part starts with a dot");
  EXPECT_EQ(rejected("a.@x.com"), "local part ends with a dot");
  EXPECT_EQ(rejected("a b@x.com"),
            "invalid character ' ' in local part (a local part with such characters must be "
            "quoted)");
  EXPECT_EQ(rejected("a,b@x.com"),
            "invalid character ',' in local part (a local part with such characters must be "
            "quoted)");
  EXPECT_EQ(rejected("a<b@x.com"), "invalid character '<' in local part");
  EXPECT_EQ(rejected("a\\b@x.com"), "invalid character '\\' in local part");
  EXPECT_EQ(rejected("a@b@x.com"), "more than one '@' (quote the local part if it has one)");
  EXPECT_EQ(rejected("\"unterminated@x.com"),
            "unterminated quoted local part (missing closing '\"')");
  EXPECT_EQ(rejected("\"a\"b@x.com"), "unexpected text after the quoted local part");
  EXPECT_EQ(rejected("\"a\""), "missing '@'");
  EXPECT_EQ(rejected("\"\"@x.com"), "empty local part");
  EXPECT_EQ(rejected("\"a\tb\"@x.com"), "invalid character 0x09 in quoted local part");
  EXPECT_EQ(rejected("<user@example.com>"), "invalid character '<' in local part");
  EXPECT_EQ(rejected("Jane Doe <jane@example.com>"),
            "invalid character ' ' in local part (a local part with such characters must be "
            "quoted)");
}

TEST(ParseAddress, DomainErrors) {
  EXPECT_EQ(rejected("a@b"), "domain 'b' needs at least one dot (like example.com)");
  EXPECT_EQ(rejected("root@localhost"),
            "domain 'localhost' needs at least one dot (like "
            "example.com)");
  EXPECT_EQ(rejected("a@-x.com"),
            "domain '-x.com' is not a valid host name: a label starts or ends with '-'");
  EXPECT_EQ(rejected("a@x-.com"),
            "domain 'x-.com' is not a valid host name: a label starts or ends with '-'");
  EXPECT_EQ(rejected("a@x_y.com"),
            "domain 'x_y.com' is not a valid host name (invalid character '_')");
  EXPECT_EQ(rejected("a@exa mple.com"),
            "domain 'exa mple.com' is not a valid host name (invalid character ' ')");
  EXPECT_EQ(rejected("a@example.com>"),
            "domain 'example.com>' is not a valid host name (invalid character '>')");
  EXPECT_EQ(rejected("a@x..com"), "domain 'x..com' has an empty label");
  EXPECT_EQ(rejected("a@.x.com"), "domain '.x.com' has an empty label");
  EXPECT_EQ(rejected("a@x.com."), "domain 'x.com.' ends with a dot");
  EXPECT_EQ(rejected("a@1.2.3.4"),
            "domain '1.2.3.4' has an all-numeric last label (IP addresses are not supported)");
  EXPECT_EQ(rejected("a@[1.2.3.4]"), "address literals are not supported");
  EXPECT_EQ(rejected("a@[IPv6:2001:db8::1]"), "address literals are not supported");
  EXPECT_EQ(rejected("a@xn--zz.com"),
            "invalid IDN domain 'xn--zz.com': string contains invalid punycode data");
  EXPECT_EQ(rejected("a@⒈.com"),
            "invalid IDN domain '⒈.com': string contains a disallowed character");
  EXPECT_EQ(rejected("a@ü-.de"),
            "invalid IDN domain 'ü-.de': string start/ends with forbidden hyphen");
  // libidn2 lets '_' through in an ASCII label; the host-name check does not.
  EXPECT_EQ(rejected("a@a_b.ü.com"),
            "domain 'a_b.ü.com' is not a valid host name (invalid character '_')");
  EXPECT_EQ(rejected("a@x\xff.com"), "domain is not valid UTF-8");
}

TEST(ParseAddress, InjectionAndControlCharacters) {
  // RFC 5321 4.1.1: CR LF ends a command; an address must never smuggle in another one.
  EXPECT_EQ(rejected("a@x.com\r\nRCPT TO:<b@y.com>"), "address contains a line break (CR or LF)");
  EXPECT_EQ(rejected("a@x.com\nDATA"), "address contains a line break (CR or LF)");
  EXPECT_EQ(rejected("a@x.com\r"), "address contains a line break (CR or LF)");
  EXPECT_EQ(rejected("\"a\r\nb\"@x.com"), "address contains a line break (CR or LF)");
  EXPECT_EQ(rejected("\"a\\\nb\"@x.com"), "address contains a line break (CR or LF)");
  EXPECT_EQ(rejected(std::string_view("a\0b@x.com", 9)), "address contains a NUL byte");
  EXPECT_EQ(rejected(std::string_view("a@x.com\0", 8)), "address contains a NUL byte");
  EXPECT_EQ(rejected("a\x01"
                     "b@x.com"),
            "invalid character 0x01 in local part");
  EXPECT_EQ(rejected("a\x7f"
                     "b@x.com"),
            "invalid character 0x7F in local part");
  EXPECT_EQ(rejected("\"a\\\x01\"@x.com"),
            "invalid character 0x01 after '\\' in quoted local part");
  // C1 controls (U+0085 NEL) in UTF-8 are refused too.
  EXPECT_EQ(rejected("a\xC2\x85@x.com"), "invalid character U+0085 in local part");
}

TEST(ParseAddress, MalformedUtf8) {
  EXPECT_EQ(rejected("\xff@x.com"), "local part is not valid UTF-8");
  EXPECT_EQ(rejected("\xC0\xAF@x.com"), "local part is not valid UTF-8");          // overlong '/'
  EXPECT_EQ(rejected("\xED\xA0\x80@x.com"), "local part is not valid UTF-8");      // surrogate
  EXPECT_EQ(rejected("\xF4\x90\x80\x80@x.com"), "local part is not valid UTF-8");  // > U+10FFFF
  EXPECT_EQ(rejected("\xE6\x97@x.com"), "local part is not valid UTF-8");          // truncated
  EXPECT_EQ(rejected("\"\xE6\x97\"@x.com"), "quoted local part is not valid UTF-8");
  // Four-octet UTF-8 is fine.
  EXPECT_EQ(normalized("\xF0\x9F\x98\x80@x.com", true), "\xF0\x9F\x98\x80@x.com");
}

TEST(ParseAddress, ReusedAddressIsReset) {
  Address address;
  std::string error;
  ASSERT_TRUE(parse_address("δ@example.com", address, error));
  EXPECT_TRUE(address.needs_smtputf8);
  ASSERT_TRUE(parse_address("d@example.com", address, error));
  EXPECT_EQ(address.text, "d@example.com");
  EXPECT_FALSE(address.needs_smtputf8);
  EXPECT_FALSE(parse_address("bad", address, error));
  EXPECT_EQ(address.text, "");
}

// parse_mailbox -----------------------------------------------------------------------------

struct Mailbox {
  std::string display_name;
  std::string address;
};

Mailbox mailbox(std::string_view input) {
  Mailbox result;
  Address address;
  std::string error;
  EXPECT_TRUE(parse_mailbox(input, result.display_name, address, error))
      << "input: " << input << " error: " << error;
  result.address = address.text;
  return result;
}

std::string mailbox_error(std::string_view input) {
  std::string display_name;
  Address address;
  std::string error;
  EXPECT_FALSE(parse_mailbox(input, display_name, address, error)) << "accepted: " << input;
  return error;
}

TEST(ParseMailbox, Forms) {
  Mailbox m = mailbox("Jane Doe <jane@Example.com>");
  EXPECT_EQ(m.display_name, "Jane Doe");
  EXPECT_EQ(m.address, "jane@example.com");

  m = mailbox("\"Doe, Jane\" <jane@example.com>");
  EXPECT_EQ(m.display_name, "Doe, Jane");
  EXPECT_EQ(m.address, "jane@example.com");

  m = mailbox("<jane@example.com>");
  EXPECT_EQ(m.display_name, "");
  EXPECT_EQ(m.address, "jane@example.com");

  m = mailbox("jane@example.com");
  EXPECT_EQ(m.display_name, "");
  EXPECT_EQ(m.address, "jane@example.com");

  m = mailbox("  \"Quoted, Name\"   < jane@example.com >  ");
  EXPECT_EQ(m.display_name, "Quoted, Name");
  EXPECT_EQ(m.address, "jane@example.com");

  m = mailbox("Name<n@example.com>");
  EXPECT_EQ(m.display_name, "Name");

  m = mailbox("John Q. Public <john.q.public@example.com>");
  EXPECT_EQ(m.display_name, "John Q. Public");

  m = mailbox(R"("Jane \"JD\" Doe" <jd@example.com>)");
  EXPECT_EQ(m.display_name, "Jane \"JD\" Doe");

  m = mailbox("\"Joe\" Smith <joe@example.com>");
  EXPECT_EQ(m.display_name, "Joe Smith");

  m = mailbox("\"<Tricky> @ name\" <t@example.com>");
  EXPECT_EQ(m.display_name, "<Tricky> @ name");
  EXPECT_EQ(m.address, "t@example.com");

  m = mailbox("Zoë Ådne <zoe@bücher.example>");
  EXPECT_EQ(m.display_name, "Zoë Ådne");
  EXPECT_EQ(m.address, "zoe@xn--bcher-kva.example");

  m = mailbox("Newsletter <\"news letter\"@example.com>");
  EXPECT_EQ(m.address, "\"news letter\"@example.com");
}

TEST(ParseMailbox, Errors) {
  EXPECT_EQ(mailbox_error(""), "empty address");
  EXPECT_EQ(mailbox_error("Doe, Jane <jane@example.com>"),
            "invalid character ',' in display name (put the name in double quotes)");
  EXPECT_EQ(mailbox_error("Jane: <jane@example.com>"),
            "invalid character ':' in display name (put the name in double quotes)");
  EXPECT_EQ(mailbox_error("Jane <jane@example.com"), "missing '>' at the end of the address");
  EXPECT_EQ(mailbox_error("Jane <jane@example.com> x"), "missing '>' at the end of the address");
  EXPECT_EQ(mailbox_error("Jane jane@example.com>"), "missing '<' before the address");
  EXPECT_EQ(mailbox_error("\"Jane <jane@example.com>"),
            "unterminated quoted display name (missing closing '\"')");
  EXPECT_EQ(mailbox_error("Jane <<jane@example.com>>"),
            "unexpected '<' or '>' inside the angle brackets");
  EXPECT_EQ(mailbox_error("Jane <>"), "empty address");
  EXPECT_EQ(mailbox_error("Jane <jane@b>"), "domain 'b' needs at least one dot (like example.com)");
  EXPECT_EQ(mailbox_error("Jane\x01 <jane@example.com>"), "invalid character 0x01 in display name");
  EXPECT_EQ(mailbox_error("J\xff <jane@example.com>"), "display name is not valid UTF-8");
}

TEST(ParseMailbox, HeaderInjection) {
  EXPECT_EQ(mailbox_error("Jane <jane@example.com>\r\nBcc: victim@example.org"),
            "address contains a line break (CR or LF)");
  EXPECT_EQ(mailbox_error("\"Jane\r\nBcc: v@example.org\" <jane@example.com>"),
            "address contains a line break (CR or LF)");
  EXPECT_EQ(mailbox_error("jane@example.com\n"), "address contains a line break (CR or LF)");
  EXPECT_EQ(mailbox_error(std::string_view("Jane\0 <jane@example.com>", 24)),
            "address contains a NUL byte");
}

}  // namespace
}  // namespace hayate::campaign
