// Tests of message composition: golden messages (text, html, both), header encoding and
// folding (Japanese and long ASCII subjects, decoded back), quoted-printable, line endings,
// Message-ID uniqueness, dot-stuffing, and line lengths under hostile field values.
#include "campaign/message.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/template.h"
#include "engine/limits.h"

namespace hayate::campaign {
namespace {

const std::vector<std::string> columns = {"email", "first_name", "last_name",
                                          "city",  "code",       "amount"};

Template compile(std::string_view source, Escape escape = Escape::none) {
  absl::StatusOr<Template> compiled = Template::compile(source, "test", columns, escape);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  return compiled.ok() ? *std::move(compiled) : Template();
}

// Holds the templates a MessageInputs points to.
struct Campaign {
  Template subject;
  std::optional<Template> text;
  std::optional<Template> html;
  std::vector<std::pair<std::string, Template>> headers;
  std::string reply_to;
  std::string from = "Example News <news@example.com>";
  std::uint64_t seed = 1;

  MessageInputs inputs() const {
    MessageInputs inputs;
    inputs.campaign_id = "spring-2026";
    inputs.from_header = from;
    inputs.from_domain = "example.com";
    inputs.reply_to = reply_to;
    inputs.subject = &subject;
    inputs.text = text ? &*text : nullptr;
    inputs.html = html ? &*html : nullptr;
    for (const auto& [name, value] : headers) inputs.headers.emplace_back(name, &value);
    inputs.random_seed = seed;
    return inputs;
  }
};

constexpr std::int64_t november_23_2026 = 1795446601;  // Mon, 23 Nov 2026 15:10:01 +0000

std::vector<std::string_view> row(std::string_view first_name = "Hanako",
                                  std::string_view last_name = "Yamada",
                                  std::string_view city = "Osaka") {
  return {"hanako@example.jp", first_name, last_name, city, "A-42", "1,200"};
}

std::string compose(const Campaign& campaign, const std::vector<std::string_view>& fields,
                    std::uint64_t sequence = 7) {
  MessageComposer composer(campaign.inputs());
  std::string out;
  composer.compose(fields, fields[0], sequence, november_23_2026, out);
  return out;
}

std::vector<std::string_view> lines_of(std::string_view message) {
  std::vector<std::string_view> lines;
  while (!message.empty()) {
    std::size_t end = message.find("\r\n");
    EXPECT_NE(end, std::string_view::npos) << "message does not end with CRLF";
    if (end == std::string_view::npos) break;
    lines.push_back(message.substr(0, end));
    message.remove_prefix(end + 2);
  }
  return lines;
}

// Every line ends with CRLF (no bare CR or LF) and is at most `max` octets.
void expect_lines_at_most(std::string_view message, std::size_t max) {
  ASSERT_GE(message.size(), 2u);
  EXPECT_EQ(message.substr(message.size() - 2), "\r\n");
  for (std::string_view line : lines_of(message)) {
    EXPECT_LE(line.size(), max) << line;
    EXPECT_EQ(line.find_first_of("\r\n"), std::string_view::npos) << line;
  }
}

// The header block, unfolded (RFC 5322 2.2.3): name -> value.
std::vector<std::pair<std::string, std::string>> headers_of(std::string_view message) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (std::string_view line : lines_of(message.substr(0, message.find("\r\n\r\n") + 2))) {
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      headers.back().second += line;
      continue;
    }
    std::size_t colon = line.find(':');
    headers.emplace_back(
        std::string(line.substr(0, colon)),
        std::string(line.substr(colon + 2 <= line.size() ? colon + 2 : colon + 1)));
  }
  return headers;
}

std::string header(std::string_view message, std::string_view name) {
  for (const auto& [key, value] : headers_of(message)) {
    if (key == name) return value;
  }
  return "<missing>";
}

std::string decode_base64(std::string_view text) {
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    int value = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '+'             ? 62
                : c == '/'             ? 63
                                       : -1;
    if (value < 0) continue;  // '=' padding
    bits = bits << 6 | static_cast<std::uint32_t>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  return out;
}

// Decodes an unfolded header value made only of "=?UTF-8?B?...?=" words separated by spaces;
// checks each word's length (RFC 2047 2: at most 75).
std::string decode_encoded_words(std::string_view value) {
  std::string decoded;
  while (!value.empty()) {
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (value.empty()) break;
    std::size_t end = value.find(' ');
    std::string_view word = value.substr(0, end);
    EXPECT_LE(word.size(), 75u) << word;
    EXPECT_EQ(word.substr(0, 10), "=?UTF-8?B?") << word;
    EXPECT_EQ(word.substr(word.size() - 2), "?=") << word;
    std::string_view payload = word.substr(10, word.size() - 12);
    EXPECT_EQ(payload.size() % 4, 0u) << word;
    decoded += decode_base64(payload);
    value.remove_prefix(word.size());
  }
  return decoded;
}

// Decodes quoted-printable (RFC 2045 6.7), checking the encoder's rules on the way: lines of
// at most 76 characters, no trailing whitespace, only literal printable ASCII.
std::string decode_quoted_printable(std::string_view encoded) {
  std::string decoded;
  for (std::string_view line : lines_of(encoded)) {
    EXPECT_LE(line.size(), 76u) << line;
    if (!line.empty()) {
      EXPECT_NE(line.back(), ' ') << line;
      EXPECT_NE(line.back(), '\t') << line;
    }
    bool soft_break = !line.empty() && line.back() == '=';
    if (soft_break) line.remove_suffix(1);
    for (std::size_t i = 0; i < line.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(line[i]);
      EXPECT_TRUE((c >= 33 && c <= 126) || c == ' ' || c == '\t') << line;
      if (c == '=') {
        EXPECT_LE(i + 2, line.size() - 1) << line;
        std::string hex(line.substr(i + 1, 2));
        EXPECT_EQ(hex.find_first_not_of("0123456789ABCDEF"), std::string::npos) << line;
        decoded.push_back(static_cast<char>(std::stoi(hex, nullptr, 16)));
        i += 2;
      } else {
        decoded.push_back(static_cast<char>(c));
      }
    }
    if (!soft_break) decoded += "\r\n";
  }
  return decoded;
}

std::string quoted_printable(std::string_view text) {
  std::string out;
  append_quoted_printable(text, out);
  return out;
}

std::string dot_stuffed(std::string_view text) {
  std::string out = "prefix";
  append_dot_stuffed(text, out);
  EXPECT_EQ(out.substr(0, 6), "prefix");
  return out.substr(6);
}

// --- Golden messages -------------------------------------------------------------------------

TEST(MessageComposer, GoldenTextOnly) {
  Campaign campaign;
  campaign.subject = compile("Spring sale in {{city}}, {{first_name}}");
  campaign.text = compile("Dear {{first_name}} {{last_name}},\n\nYour code: {{code}}\n");
  EXPECT_EQ(compose(campaign, row()),
            "Date: Mon, 23 Nov 2026 15:10:01 +0000\r\n"
            "From: Example News <news@example.com>\r\n"
            "To: hanako@example.jp\r\n"
            "Subject: Spring sale in Osaka, Hanako\r\n"
            "Message-ID: <spring-2026.7.f893a2eefb32555e@example.com>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 7bit\r\n"
            "\r\n"
            "Dear Hanako Yamada,\r\n"
            "\r\n"
            "Your code: A-42\r\n");
}

// The html part has non-ASCII and a long line: quoted-printable; the MIME headers follow.
TEST(MessageComposer, GoldenHtmlOnly) {
  Campaign campaign;
  campaign.subject = compile("Your receipt");
  campaign.html = compile(
      "<p>Caf\xc3\xa9 for {{first_name}} &amp; friends: {{amount}} yen</p>\n"
      "<p>This line is deliberately long so that quoted-printable has to break it with a soft "
      "line break.</p>\n",
      Escape::html);
  campaign.reply_to = "Support <support@example.com>";
  EXPECT_EQ(compose(campaign, row()),
            "Date: Mon, 23 Nov 2026 15:10:01 +0000\r\n"
            "From: Example News <news@example.com>\r\n"
            "To: hanako@example.jp\r\n"
            "Subject: Your receipt\r\n"
            "Message-ID: <spring-2026.7.f893a2eefb32555e@example.com>\r\n"
            "MIME-Version: 1.0\r\n"
            "Reply-To: Support <support@example.com>\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "\r\n"
            "<p>Caf=C3=A9 for Hanako &amp; friends: 1,200 yen</p>\r\n"
            "<p>This line is deliberately long so that quoted-printable has to break it =\r\n"
            "with a soft line break.</p>\r\n");
}

TEST(MessageComposer, GoldenTextAndHtml) {
  Campaign campaign;
  campaign.subject = compile("Hello {{first_name}}");
  campaign.text = compile("Hello {{first_name}}!\nCode: {{code}}");
  campaign.html =
      compile("<p>Hello {{first_name}}!</p>\n<p>Code: <b>{{code}}</b></p>\n", Escape::html);
  campaign.headers.emplace_back("List-Unsubscribe", compile("<https://example.com/u?c={{code}}>"));
  campaign.headers.emplace_back("X-Campaign", compile("spring"));
  EXPECT_EQ(compose(campaign, row()),
            "Date: Mon, 23 Nov 2026 15:10:01 +0000\r\n"
            "From: Example News <news@example.com>\r\n"
            "To: hanako@example.jp\r\n"
            "Subject: Hello Hanako\r\n"
            "Message-ID: <spring-2026.7.f893a2eefb32555e@example.com>\r\n"
            "MIME-Version: 1.0\r\n"
            "List-Unsubscribe: <https://example.com/u?c=A-42>\r\n"
            "X-Campaign: spring\r\n"
            "Content-Type: multipart/alternative;\r\n"
            " boundary=\"=_hayate_910a2dec89025cc1beeb8da1658eec67\"\r\n"
            "\r\n"
            "--=_hayate_910a2dec89025cc1beeb8da1658eec67\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 7bit\r\n"
            "\r\n"
            "Hello Hanako!\r\n"
            "Code: A-42\r\n"
            "\r\n"
            "--=_hayate_910a2dec89025cc1beeb8da1658eec67\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 7bit\r\n"
            "\r\n"
            "<p>Hello Hanako!</p>\r\n"
            "<p>Code: <b>A-42</b></p>\r\n"
            "\r\n"
            "--=_hayate_910a2dec89025cc1beeb8da1658eec67--\r\n");
}

TEST(MessageComposer, SameSeedSameMessageAndBuffersAreReused) {
  Campaign campaign;
  campaign.subject = compile("Hi {{first_name}}");
  campaign.text = compile("Text {{first_name}}\n");
  campaign.html = compile("<p>{{first_name}}</p>\n", Escape::html);
  MessageComposer first(campaign.inputs());
  MessageComposer second(campaign.inputs());
  std::vector<std::string_view> fields = row();
  std::string a = "kept:";
  std::string b;
  first.compose(fields, fields[0], 1, november_23_2026, a);
  second.compose(fields, fields[0], 1, november_23_2026, b);
  EXPECT_EQ(a, "kept:" + b);  // compose appends
  // A second message from the same composer differs only in its Message-ID.
  std::string c;
  first.compose(fields, fields[0], 1, november_23_2026, c);
  EXPECT_NE(header(c, "Message-ID"), header(b, "Message-ID"));
  EXPECT_EQ(c.size(), b.size());
}

// --- Dates -------------------------------------------------------------------------------------

TEST(MessageComposer, Rfc5322Dates) {
  const std::pair<std::int64_t, std::string_view> cases[] = {
      {0, "Thu, 01 Jan 1970 00:00:00 +0000"},
      {951782400, "Tue, 29 Feb 2000 00:00:00 +0000"},
      {1709164800, "Thu, 29 Feb 2024 00:00:00 +0000"},
      {1795446601, "Mon, 23 Nov 2026 15:10:01 +0000"},
      {253402300799, "Fri, 31 Dec 9999 23:59:59 +0000"},
  };
  for (const auto& [time_s, expected] : cases) {
    std::string out;
    append_rfc5322_date(time_s, out);
    EXPECT_EQ(out, expected);
  }
}

// --- Headers -----------------------------------------------------------------------------------

TEST(MessageComposer, JapaneseSubjectIsEncodedAndFolded) {
  const std::string subject = "【重要】11月のお知らせ — 山田様";
  Campaign campaign;
  campaign.subject = compile(subject);
  campaign.text = compile("x\n");
  std::string message = compose(campaign, row());
  expect_lines_at_most(message, 78);
  std::string value = header(message, "Subject");
  EXPECT_EQ(decode_encoded_words(value), subject);
  // 46 bytes do not fit in one word after "Subject: ": two words on two lines, each word
  // holding whole characters.
  std::vector<std::string_view> lines = lines_of(message);
  EXPECT_EQ(lines[3].substr(0, 19), "Subject: =?UTF-8?B?");
  EXPECT_EQ(lines[4].substr(0, 11), " =?UTF-8?B?");
  EXPECT_EQ(lines[5].substr(0, 12), "Message-ID: ");
  std::string first_word_bytes = decode_encoded_words(lines[3].substr(9));
  // The first word has room for 42 bytes (69 characters of base64 and "=?UTF-8?B?...?="):
  // 【重要】11月のお知らせ — 山 is 40 bytes, and 田 would need 43.
  EXPECT_EQ(first_word_bytes.size(), 40u);
  EXPECT_EQ(subject.substr(0, first_word_bytes.size()), first_word_bytes);

  // A subject many times longer, with a field: every word at most 75, every line at most 78.
  Campaign long_campaign;
  long_campaign.subject = compile(subject + " {{last_name}} " + subject + subject + subject);
  long_campaign.text = compile("x\n");
  std::vector<std::string_view> fields =
      row("\xe8\x8a\xb1\xe5\xad\x90", "\xe5\xb1\xb1\xe7\x94\xb0");
  std::string long_message = compose(long_campaign, fields);
  expect_lines_at_most(long_message, 78);
  EXPECT_EQ(decode_encoded_words(header(long_message, "Subject")),
            subject + " \xe5\xb1\xb1\xe7\x94\xb0 " + subject + subject + subject);
}

TEST(MessageComposer, FourByteCharactersAreNeverSplit) {
  // Emoji (4 bytes each): a word holds 45 bytes at most, so 11 of them, never 11.25.
  std::string emoji;
  for (int i = 0; i < 40; ++i) emoji += "\xf0\x9f\x93\xa7";
  std::string out;
  append_unstructured_header("Subject", emoji, out);
  expect_lines_at_most(out, 78);
  std::string value = headers_of(out + "\r\n")[0].second;
  std::string_view rest = value;
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    std::size_t end = rest.find(' ');
    std::string bytes = decode_encoded_words(rest.substr(0, end));
    EXPECT_EQ(bytes.size() % 4, 0u);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  }
  EXPECT_EQ(decode_encoded_words(value), emoji);
}

TEST(MessageComposer, LongAsciiSubjectIsFoldedAtWhitespace) {
  std::string out;
  append_unstructured_header(
      "Subject",
      "Our biggest spring sale ever starts today: up to 70% off on every item in the store, "
      "free shipping  on orders over 50 euros",
      out);
  EXPECT_EQ(out,
            "Subject: Our biggest spring sale ever starts today: up to 70% off on every\r\n"
            " item in the store, free shipping  on orders over 50 euros\r\n");
  // Short ones stay on one line; an empty one is allowed.
  out.clear();
  append_unstructured_header("Subject", "Short", out);
  EXPECT_EQ(out, "Subject: Short\r\n");
  out.clear();
  append_unstructured_header("Subject", "", out);
  EXPECT_EQ(out, "Subject: \r\n");
  // A word longer than a line stays whole on its own line (78 is a SHOULD, 998 a MUST).
  out.clear();
  std::string long_word(100, 'w');
  append_unstructured_header("Subject", "see " + long_word + " now", out);
  EXPECT_EQ(out, "Subject: see\r\n " + long_word + "\r\n now\r\n");
  // Trailing whitespace never makes a line of its own.
  out.clear();
  append_unstructured_header("Subject", std::string(70, 'a') + " bb" + std::string(20, ' '), out);
  EXPECT_EQ(out, "Subject: " + std::string(70, 'a') + "\r\n bb" + std::string(20, ' ') + "\r\n");
}

TEST(MessageComposer, AsciiThatCannotBePlainIsEncoded) {
  // Looks like an encoded-word: a reader would decode it.
  std::string out;
  append_unstructured_header("Subject", "try =?UTF-8?B?SGk=?= now", out);
  EXPECT_EQ(decode_encoded_words(headers_of(out + "\r\n")[0].second), "try =?UTF-8?B?SGk=?= now");
  // A word over 998 octets cannot be folded.
  out.clear();
  std::string huge(1500, 'x');
  append_unstructured_header("Subject", huge, out);
  expect_lines_at_most(out, 78);
  EXPECT_EQ(decode_encoded_words(headers_of(out + "\r\n")[0].second), huge);
  // Nor can 1200 spaces.
  out.clear();
  std::string spaces = "a" + std::string(1200, ' ') + "b";
  append_unstructured_header("Subject", spaces, out);
  expect_lines_at_most(out, 78);
  EXPECT_EQ(decode_encoded_words(headers_of(out + "\r\n")[0].second), spaces);
  // Control characters (here ESC) are encoded rather than sent raw.
  out.clear();
  append_unstructured_header("X-Tag", "a\x1b[0mb", out);
  EXPECT_EQ(out.substr(0, 17), "X-Tag: =?UTF-8?B?");
}

TEST(MessageComposer, LongHeaderNameStillFits) {
  std::string name = "X-" + std::string(70, 'N');
  std::string out;
  append_unstructured_header(name, "\xc3\xa9t\xc3\xa9", out);
  expect_lines_at_most(out, 78);
  EXPECT_EQ(out.substr(0, name.size() + 3), name + ":\r\n");
}

TEST(MessageComposer, NonAsciiDisplayNamesAreEncoded) {
  const std::string shop = "\xe5\xb1\xb1\xe7\x94\xb0\xe5\x95\x86\xe5\xba\x97";  // 山田商店
  std::string out;
  append_mailbox_header("From", shop + " <news@example.com>", out);
  EXPECT_EQ(out, "From: =?UTF-8?B?5bGx55Sw5ZWG5bqX?= <news@example.com>\r\n");
  out.clear();
  append_mailbox_header("From", "\"" + shop + " \\\"Osaka\\\"\" <news@example.com>", out);
  std::string value = headers_of(out + "\r\n")[0].second;
  ASSERT_EQ(value.substr(value.size() - 19), " <news@example.com>");
  EXPECT_EQ(decode_encoded_words(value.substr(0, value.size() - 19)), shop + " \"Osaka\"");
  // ASCII as given; a non-ASCII address (SMTPUTF8) is left alone.
  out.clear();
  append_mailbox_header("From", "\"Example, Inc.\" <news@example.com>", out);
  EXPECT_EQ(out, "From: \"Example, Inc.\" <news@example.com>\r\n");
  out.clear();
  append_mailbox_header("From", "Shop <\xe5\xb1\xb1@example.jp>", out);
  EXPECT_EQ(out, "From: Shop <\xe5\xb1\xb1@example.jp>\r\n");
  // A long display name: the address moves to its own line.
  out.clear();
  std::string long_name;
  for (int i = 0; i < 8; ++i) long_name += shop;
  append_mailbox_header("Reply-To", long_name + " <support-team@example.com>", out);
  expect_lines_at_most(out, 78);
  value = headers_of(out + "\r\n")[0].second;
  EXPECT_EQ(decode_encoded_words(value.substr(0, value.find(" <"))), long_name);
  EXPECT_EQ(value.substr(value.find(" <")), " <support-team@example.com>");

  Campaign campaign;
  campaign.from = shop + " <news@example.com>";
  campaign.subject = compile("s");
  campaign.text = compile("t\n");
  EXPECT_EQ(header(compose(campaign, row()), "From"),
            "=?UTF-8?B?5bGx55Sw5ZWG5bqX?= <news@example.com>");
}

TEST(MessageComposerDeathTest, LineBreakInHeaderValueIsABug) {
  Campaign campaign;
  campaign.subject = compile("Hi {{first_name}}");
  campaign.text = compile("t\n");
  EXPECT_DEATH(compose(campaign, row("Hanako\r\nBcc: victim@example.org")), "line_break");
  Campaign with_header;
  with_header.subject = compile("s");
  with_header.text = compile("t\n");
  with_header.headers.emplace_back("X-City", compile("{{city}}"));
  EXPECT_DEATH(compose(with_header, row("Hanako", "Yamada", "Osaka\n")), "line_break");
}

// --- Bodies ------------------------------------------------------------------------------------

TEST(MessageComposer, QuotedPrintable) {
  EXPECT_EQ(quoted_printable(""), "");
  EXPECT_EQ(quoted_printable("plain"), "plain\r\n");
  EXPECT_EQ(quoted_printable("a=b"), "a=3Db\r\n");
  EXPECT_EQ(quoted_printable("caf\xc3\xa9"), "caf=C3=A9\r\n");
  EXPECT_EQ(quoted_printable("nul\0x"), "nul\r\n");  // (a C string: stops at NUL)
  EXPECT_EQ(quoted_printable(std::string_view("nul\0x", 5)), "nul=00x\r\n");
  // Whitespace before a line break (and at the end) is encoded; inside a line it is not.
  EXPECT_EQ(quoted_printable("a b  \r\nc\t\nd \re "), "a b =20\r\nc=09\r\nd=20\r\ne=20\r\n");
  // Line breaks of every kind become CRLF.
  EXPECT_EQ(quoted_printable("1\n2\r3\r\n4\n\n5"), "1\r\n2\r\n3\r\n4\r\n\r\n5\r\n");
  // 76 characters fit on a line; 77 need a soft break after 75.
  EXPECT_EQ(quoted_printable(std::string(76, 'a')), std::string(76, 'a') + "\r\n");
  EXPECT_EQ(quoted_printable(std::string(77, 'a')), std::string(75, 'a') + "=\r\n" + "aa\r\n");
  EXPECT_EQ(quoted_printable(std::string(76, 'a') + "\n" + std::string(76, 'b')),
            std::string(76, 'a') + "\r\n" + std::string(76, 'b') + "\r\n");
  // An escape is never cut by a soft break.
  EXPECT_EQ(quoted_printable(std::string(74, 'a') + "==="),
            std::string(74, 'a') + "=\r\n=3D=3D=3D\r\n");
  EXPECT_EQ(quoted_printable(std::string(73, 'a') + "="), std::string(73, 'a') + "=3D\r\n");
  EXPECT_EQ(quoted_printable(std::string(74, 'a') + "="), std::string(74, 'a') + "=\r\n=3D\r\n");
  // Trailing space at a soft break stays literal: the '=' follows it.
  EXPECT_EQ(quoted_printable(std::string(74, 'a') + " bc"), std::string(74, 'a') + " =\r\nbc\r\n");
}

TEST(MessageComposer, QuotedPrintableRoundTrip) {
  std::mt19937 random(42);
  for (int iteration = 0; iteration < 300; ++iteration) {
    std::string input;
    std::size_t size = random() % 600;
    for (std::size_t i = 0; i < size; ++i) {
      std::uint32_t pick = random() % 10;
      input.push_back(pick < 5   ? static_cast<char>('a' + random() % 26)
                      : pick < 7 ? " \t="[random() % 3]
                      : pick < 8 ? "\r\n"[random() % 2]
                                 : static_cast<char>(random() % 256));
    }
    std::string normalized;
    for (std::size_t i = 0; i < input.size(); ++i) {  // the line breaks the encoder writes
      if (input[i] == '\r' || input[i] == '\n') {
        normalized += "\r\n";
        if (input[i] == '\r' && i + 1 < input.size() && input[i + 1] == '\n') ++i;
      } else {
        normalized.push_back(input[i]);
      }
    }
    if (!normalized.empty() && normalized.back() != '\n') normalized += "\r\n";
    EXPECT_EQ(decode_quoted_printable(quoted_printable(input)), normalized);
  }
}

// Returns the Content-Transfer-Encoding chosen for a text body.
std::string encoding_for(std::string_view body) {
  Campaign campaign;
  campaign.subject = compile("s");
  campaign.text = compile("{{{city}}}");
  return header(compose(campaign, row("a", "b", body)), "Content-Transfer-Encoding");
}

TEST(MessageComposer, TransferEncodingChoice) {
  EXPECT_EQ(encoding_for("ascii\r\nonly"), "7bit");
  EXPECT_EQ(encoding_for(std::string(998, 'a') + "\nb"), "7bit");
  EXPECT_EQ(encoding_for(std::string(999, 'a') + "\nb"), "quoted-printable");
  EXPECT_EQ(encoding_for("b\r" + std::string(999, 'a')), "quoted-printable");
  EXPECT_EQ(encoding_for(std::string_view("nul\0byte", 8)), "quoted-printable");
  EXPECT_EQ(encoding_for("caf\xc3\xa9"), "quoted-printable");
  EXPECT_EQ(encoding_for("\x7f and controls \x01 are 7bit"), "7bit");
}

TEST(MessageComposer, BodyLineEndingsBecomeCrlf) {
  Campaign campaign;
  campaign.subject = compile("s");
  campaign.text = compile("a\nb\rc\r\nd{{{city}}}");
  std::string message = compose(campaign, row("x", "y", "\r\r\n"));
  EXPECT_EQ(message.substr(message.find("\r\n\r\n") + 4), "a\r\nb\r\nc\r\nd\r\n\r\n");
  // A body without a final line break gets one; the message ends with CRLF.
  std::string no_break = compose(campaign, row("x", "y", "end"));
  EXPECT_EQ(no_break.substr(no_break.find("\r\n\r\n") + 4), "a\r\nb\r\nc\r\ndend\r\n");
}

TEST(MessageComposer, QuotedPrintableBodyDecodesToTheRenderedText) {
  Campaign campaign;
  campaign.subject = compile("s");
  const std::string japanese = "\xe3\x81\x8a\xe7\x9f\xa5\xe3\x82\x89\xe3\x81\x9b";  // お知らせ
  campaign.html = compile("<p>{{last_name}}\xe6\xa7\x98</p>\n<p>" + japanese + " = " +
                          std::string(200, 'z') + " </p>\n");
  std::string message = compose(campaign, row("x", "\xe5\xb1\xb1\xe7\x94\xb0"));
  EXPECT_EQ(header(message, "Content-Transfer-Encoding"), "quoted-printable");
  expect_lines_at_most(message, 78);
  EXPECT_EQ(decode_quoted_printable(message.substr(message.find("\r\n\r\n") + 4)),
            "<p>\xe5\xb1\xb1\xe7\x94\xb0\xe6\xa7\x98</p>\r\n<p>" + japanese + " = " +
                std::string(200, 'z') + " </p>\r\n");
}

TEST(MessageComposer, BoundaryNeverAppearsInAPart) {
  Campaign campaign;
  campaign.subject = compile("s");
  campaign.text = compile("{{{city}}}\n");
  campaign.html = compile("<p>{{{city}}}</p>\n");
  // The boundary seed 1 would choose (see GoldenTextAndHtml), planted in both parts.
  const std::string planted = "--=_hayate_910a2dec89025cc1beeb8da1658eec67";
  std::string message = compose(campaign, row("a", "b", planted));
  std::string content_type = header(message, "Content-Type");
  std::size_t quote = content_type.find('"');
  ASSERT_NE(quote, std::string::npos);
  std::string boundary = content_type.substr(quote + 1, content_type.size() - quote - 2);
  EXPECT_EQ(boundary.substr(0, 9), "=_hayate_");
  EXPECT_NE(boundary, planted.substr(2));
  // Exactly three delimiter lines: two parts and the close.
  std::vector<std::string_view> lines = lines_of(message);
  std::size_t delimiters = 0;
  for (std::string_view line : lines) {
    if (line.find(boundary) != std::string_view::npos && line.substr(0, 2) == "--") ++delimiters;
  }
  EXPECT_EQ(delimiters, 3u);
  EXPECT_NE(message.find(planted + "\r\n"), std::string::npos);  // the text is intact
}

TEST(MessageComposer, MessageIdsAreUnique) {
  Campaign campaign;
  campaign.subject = compile("s");
  campaign.text = compile("t\n");
  campaign.seed = 0;  // from std::random_device, as in production
  std::set<std::string> ids;
  std::vector<std::string_view> fields = row();
  for (int composer_index = 0; composer_index < 4; ++composer_index) {
    MessageComposer composer(campaign.inputs());
    for (std::uint64_t sequence = 0; sequence < 500; ++sequence) {
      std::string message;
      // The same sequence in every composer: as when a campaign is run again.
      composer.compose(fields, fields[0], sequence, november_23_2026, message);
      std::string id = header(message, "Message-ID");
      EXPECT_EQ(id.substr(0, 13), "<spring-2026.");
      EXPECT_EQ(id.substr(id.size() - 13), "@example.com>");
      ids.insert(id);
    }
  }
  EXPECT_EQ(ids.size(), 2000u);
}

TEST(MessageComposer, MessageIdLeftSideIsADotAtom) {
  Campaign campaign;
  campaign.subject = compile("s");
  campaign.text = compile("t\n");
  MessageInputs inputs = campaign.inputs();
  inputs.campaign_id = ".a..b.";
  MessageComposer composer(inputs);
  std::string message;
  composer.compose(row(), "x@example.org", 3, november_23_2026, message);
  EXPECT_EQ(header(message, "Message-ID").substr(0, 10), "<_a_.b_.3.");
}

// Hostile field values (long, with spaces, non-ASCII, controls): no line over 998 octets,
// every line ends with CRLF, headers under 78 where they can be.
TEST(MessageComposer, NoLineOver998Anywhere) {
  Campaign campaign;
  campaign.subject = compile("{{first_name}} {{last_name}}");
  campaign.text = compile("{{{first_name}}}\n{{{city}}}");
  campaign.html = compile("<p>{{first_name}}</p>{{{city}}}", Escape::html);
  campaign.headers.emplace_back("X-Last", compile("{{last_name}}"));
  const std::string long_ascii(3000, 'q');
  const std::string long_spaces = "a" + std::string(2000, ' ') + "b";
  std::string long_utf8;
  for (int i = 0; i < 700; ++i) long_utf8 += "\xe6\x97\xa5";
  const std::string mixed = std::string(997, 'm') + "\r" + std::string(999, 'n') + "\n\x01";
  for (const std::string& first : {long_ascii, long_spaces, long_utf8, mixed}) {
    for (const std::string& last : {long_ascii, long_utf8, std::string("ok")}) {
      std::string city = first + "\n" + last;
      std::string message =
          compose(campaign,
                  row(first.find_first_of("\r\n") == std::string::npos ? first : "x", last, city));
      expect_lines_at_most(message, limits::message_line_bytes_max);
      std::string_view headers(message.data(), message.find("\r\n\r\n"));
      for (std::string_view line : lines_of(std::string(headers) + "\r\n")) {
        EXPECT_LE(line.size(), 78u) << line.substr(0, 40);
      }
    }
  }
}

// --- Dot-stuffing ------------------------------------------------------------------------------

TEST(DotStuffing, Cases) {
  EXPECT_EQ(dot_stuffed(""), ".\r\n");
  EXPECT_EQ(dot_stuffed("a\r\n"), "a\r\n.\r\n");
  EXPECT_EQ(dot_stuffed("a"), "a\r\n.\r\n");  // the last line gets its CRLF
  EXPECT_EQ(dot_stuffed("."), "..\r\n.\r\n");
  EXPECT_EQ(dot_stuffed(".\r\n"), "..\r\n.\r\n");
  EXPECT_EQ(dot_stuffed(".."), "...\r\n.\r\n");
  EXPECT_EQ(dot_stuffed(".hidden\r\n"), "..hidden\r\n.\r\n");
  EXPECT_EQ(dot_stuffed("a\r\n.\r\nb\r\n"), "a\r\n..\r\nb\r\n.\r\n");
  EXPECT_EQ(dot_stuffed("a\r\n..b\r\n"), "a\r\n...b\r\n.\r\n");
  EXPECT_EQ(dot_stuffed("a\n.b\n"), "a\r\n..b\r\n.\r\n");     // after a bare LF
  EXPECT_EQ(dot_stuffed("a\r.b"), "a\r\n..b\r\n.\r\n");       // after a bare CR
  EXPECT_EQ(dot_stuffed("a.b\r\nc."), "a.b\r\nc.\r\n.\r\n");  // dots inside lines stay
  EXPECT_EQ(dot_stuffed("\r\n\r\n"), "\r\n\r\n.\r\n");
  EXPECT_EQ(dot_stuffed("\n\r"), "\r\n\r\n.\r\n");
  EXPECT_EQ(dot_stuffed("a\r\r\nb"), "a\r\n\r\nb\r\n.\r\n");
  EXPECT_EQ(dot_stuffed("\r\n.\r\n"), "\r\n..\r\n.\r\n");  // a would-be terminator
}

// Undoing the stuffing (RFC 5321 4.5.2, receiver side) gives back the CRLF-normalized message.
TEST(DotStuffing, RoundTrip) {
  std::mt19937 random(7);
  for (int iteration = 0; iteration < 500; ++iteration) {
    std::string input;
    std::size_t size = random() % 300;
    for (std::size_t i = 0; i < size; ++i) input.push_back(".\r\nab "[random() % 6]);
    std::string stuffed = dot_stuffed(input);
    ASSERT_GE(stuffed.size(), 3u);
    ASSERT_EQ(stuffed.substr(stuffed.size() - 3), ".\r\n");
    std::vector<std::string_view> lines = lines_of(stuffed);
    ASSERT_EQ(lines.back(), ".");
    std::string unstuffed;
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
      ASSERT_NE(lines[i], ".");  // no early terminator
      std::string_view line = lines[i];
      if (!line.empty() && line[0] == '.') line.remove_prefix(1);
      unstuffed += line;
      unstuffed += "\r\n";
    }
    std::string normalized;
    for (std::size_t i = 0; i < input.size(); ++i) {
      if (input[i] == '\r' || input[i] == '\n') {
        normalized += "\r\n";
        if (input[i] == '\r' && i + 1 < input.size() && input[i + 1] == '\n') ++i;
      } else {
        normalized.push_back(input[i]);
      }
    }
    if (!normalized.empty() && normalized.back() != '\n') normalized += "\r\n";
    EXPECT_EQ(unstuffed, normalized);
  }
}

TEST(DotStuffing, ComposedMessage) {
  Campaign campaign;
  campaign.subject = compile("s");
  campaign.text = compile(".first line\n..\n.\nlast");
  std::string message = compose(campaign, row());
  std::string stuffed;
  append_dot_stuffed(message, stuffed);
  std::string body = stuffed.substr(stuffed.find("\r\n\r\n") + 4);
  EXPECT_EQ(body, "..first line\r\n...\r\n..\r\nlast\r\n.\r\n");
}

}  // namespace
}  // namespace hayate::campaign
