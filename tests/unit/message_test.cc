// Tests of message composition: golden messages (text, html, both, base64, 8bit), transfer
// encoding choice, header encoding and folding (Japanese and long ASCII subjects, decoded back),
// List-Unsubscribe and one-click, quoted-printable, base64, UTF-8 validation, line endings,
// Message-ID uniqueness, dot-stuffing, line lengths under hostile field values, and a strict
// parse of composed messages by Python's email package (message_strict_parse.py).
#include "campaign/message/message.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "campaign/message/template.h"
#include "engine/limits.h"
#include "engine/strings.h"

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
  std::optional<Template> unsubscribe_url;
  std::optional<Template> unsubscribe_mailto;
  std::optional<Template> feedback_id;
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
    inputs.list_unsubscribe_url = unsubscribe_url ? &*unsubscribe_url : nullptr;
    inputs.list_unsubscribe_mailto = unsubscribe_mailto ? &*unsubscribe_mailto : nullptr;
    inputs.feedback_id = feedback_id ? &*feedback_id : nullptr;
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
                    std::uint64_t sequence = 7, bool eightbit_allowed = false,
                    ComposeResult* result = nullptr) {
  MessageComposer composer(campaign.inputs());
  std::string out;
  ComposeResult composed =
      composer.compose(fields, fields[0], sequence, november_23_2026, out, eightbit_allowed);
  if (result != nullptr) *result = composed;
  return out;
}

// The body: everything after the blank line that ends the headers.
std::string body_of(std::string_view message) {
  return std::string(message.substr(message.find("\r\n\r\n") + 4));
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
  campaign.unsubscribe_url =
      compile("https://example.com/u?c={{code}}&n={{first_name}}", Escape::url);
  campaign.unsubscribe_mailto = compile("unsubscribe+{{code}}@example.com", Escape::url);
  campaign.feedback_id = compile("{{code}}:spring:newsletter:example");
  campaign.headers.emplace_back("X-Campaign", compile("spring"));
  EXPECT_EQ(compose(campaign, row()),
            "Date: Mon, 23 Nov 2026 15:10:01 +0000\r\n"
            "From: Example News <news@example.com>\r\n"
            "To: hanako@example.jp\r\n"
            "Subject: Hello Hanako\r\n"
            "Message-ID: <spring-2026.7.f893a2eefb32555e@example.com>\r\n"
            "MIME-Version: 1.0\r\n"
            "List-Unsubscribe: <https://example.com/u?c=A-42&n=Hanako>,\r\n"
            " <mailto:unsubscribe+A-42@example.com>\r\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            "Feedback-ID: A-42:spring:newsletter:example\r\n"
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

// Japanese text is mostly non-ASCII: base64 of the CRLF form, 76 characters a line (the body
// below is Python's base64.encodebytes of the text). Subject and From become encoded-words.
TEST(MessageComposer, GoldenJapaneseBase64) {
  Campaign campaign;
  campaign.from = "山田商店 <news@example.com>";
  campaign.subject = compile("{{last_name}}様、春のセールのお知らせ");
  campaign.text = compile(
      "{{last_name}} 様\nいつもご利用ありがとうございます。\n春のセールは{{city}}で開催します。\n");
  ComposeResult result;
  EXPECT_EQ(compose(campaign, row("花子", "山田", "大阪"), 7, false, &result),
            "Date: Mon, 23 Nov 2026 15:10:01 +0000\r\n"
            "From: =?UTF-8?B?5bGx55Sw5ZWG5bqX?= <news@example.com>\r\n"
            "To: hanako@example.jp\r\n"
            "Subject: =?UTF-8?B?5bGx55Sw5qeY44CB5pil44Gu44K744O844Or44Gu44GK55+l44KJ44Gb?=\r\n"
            "Message-ID: <spring-2026.7.f893a2eefb32555e@example.com>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "\r\n"
            "5bGx55SwIOanmA0K44GE44Gk44KC44GU5Yip55So44GC44KK44GM44Go44GG44GU44GW44GE44G+\r\n"
            "44GZ44CCDQrmmKXjga7jgrvjg7zjg6vjga/lpKfpmKrjgafplovlgqzjgZfjgb7jgZnjgIINCg==\r\n");
  EXPECT_FALSE(result.eight_bit);
}

// With 8BITMIME, UTF-8 parts go as they are, and the multipart says 8bit too (RFC 2045 6.4).
TEST(MessageComposer, Golden8bit) {
  Campaign campaign;
  campaign.subject = compile("Hello");
  campaign.text = compile("{{last_name}} 様\nお知らせ\n");
  campaign.html = compile(
      "<p>{{last_name}} 様</p>\n<p>Caf\xc3\xa9 au lait, every morning from 7 to 11 in our "
      "shop.</p>\n",
      Escape::html);
  ComposeResult result;
  EXPECT_EQ(compose(campaign, row("花子", "山田"), 7, true, &result),
            "Date: Mon, 23 Nov 2026 15:10:01 +0000\r\n"
            "From: Example News <news@example.com>\r\n"
            "To: hanako@example.jp\r\n"
            "Subject: Hello\r\n"
            "Message-ID: <spring-2026.7.f893a2eefb32555e@example.com>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/alternative;\r\n"
            " boundary=\"=_hayate_910a2dec89025cc1beeb8da1658eec67\"\r\n"
            "Content-Transfer-Encoding: 8bit\r\n"
            "\r\n"
            "--=_hayate_910a2dec89025cc1beeb8da1658eec67\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n"
            "\r\n"
            "山田 様\r\n"
            "お知らせ\r\n"
            "\r\n"
            "--=_hayate_910a2dec89025cc1beeb8da1658eec67\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n"
            "\r\n"
            "<p>山田 様</p>\r\n"
            "<p>Caf\xc3\xa9 au lait, every morning from 7 to 11 in our shop.</p>\r\n"
            "\r\n"
            "--=_hayate_910a2dec89025cc1beeb8da1658eec67--\r\n");
  EXPECT_TRUE(result.eight_bit);
  // The same without 8BITMIME: base64 for the Japanese text, quoted-printable for the html
  // (11 non-ASCII bytes in 80), no 8bit anywhere.
  std::string seven_bit = compose(campaign, row("花子", "山田"), 7, false, &result);
  EXPECT_FALSE(result.eight_bit);
  EXPECT_EQ(seven_bit.find("8bit"), std::string::npos);
  EXPECT_NE(seven_bit.find("Content-Type: text/plain; charset=utf-8\r\n"
                           "Content-Transfer-Encoding: base64\r\n"),
            std::string::npos);
  EXPECT_NE(seven_bit.find("Content-Type: text/html; charset=utf-8\r\n"
                           "Content-Transfer-Encoding: quoted-printable\r\n"),
            std::string::npos);
  // An ASCII message stays 7bit even when 8bit is allowed: no BODY=8BITMIME needed.
  Campaign ascii;
  ascii.subject = compile("s");
  ascii.text = compile("plain\n");
  ascii.html = compile("<p>plain</p>\n");
  std::string message = compose(ascii, row(), 7, true, &result);
  EXPECT_FALSE(result.eight_bit);
  EXPECT_EQ(message.find("8bit"), std::string::npos);
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

TEST(MessageComposer, BlankDisplayNameTooLongForOneLineLeavesTheAddress) {
  // Found by the header_encoding fuzz target: a thousand tabs before the address made a
  // 1,030-octet line (RFC 5322 2.1.1: 998 at most).
  std::string out;
  append_mailbox_header("From", std::string(1000, '\t') + " <news@example.com>", out);
  EXPECT_EQ(out, "From: <news@example.com>\r\n");
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

  // An ASCII display name with a word too long to fold under 998 octets is encoded too.
  out.clear();
  const std::string huge_name = "Example " + std::string(1100, 'N');
  append_mailbox_header("From", huge_name + " <news@example.com>", out);
  expect_lines_at_most(out, 78);
  value = headers_of(out + "\r\n")[0].second;
  EXPECT_EQ(decode_encoded_words(value.substr(0, value.find(" <"))), huge_name);
  EXPECT_EQ(value.substr(value.find(" <")), " <news@example.com>");

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

// --- List-Unsubscribe ---------------------------------------------------------------------------

Campaign unsubscribe_campaign(std::optional<std::string_view> url,
                              std::optional<std::string_view> mailto) {
  Campaign campaign;
  campaign.subject = compile("s");
  campaign.text = compile("t\n");
  if (url) campaign.unsubscribe_url = compile(*url, Escape::url);
  if (mailto) campaign.unsubscribe_mailto = compile(*mailto, Escape::url);
  return campaign;
}

// The List-Unsubscribe lines of a message, folded as written, and whether Post follows.
std::string unsubscribe_lines(std::string_view message) {
  std::string lines;
  bool inside = false;
  for (std::string_view line : lines_of(message.substr(0, message.find("\r\n\r\n") + 2))) {
    const bool continuation = !line.empty() && line[0] == ' ';
    if (!continuation) inside = line.substr(0, 16) == "List-Unsubscribe";
    if (inside) hayate::append(lines, line, "\n");
  }
  return lines;
}

TEST(ListUnsubscribe, UrlAndMailto) {
  ComposeResult result;
  // Short URIs share a line; the URL makes it one-click (RFC 8058 3.1).
  std::string message =
      compose(unsubscribe_campaign("https://ex.com/u/{{code}}", "u+{{code}}@ex.com"), row(), 7,
              false, &result);
  EXPECT_EQ(unsubscribe_lines(message),
            "List-Unsubscribe: <https://ex.com/u/A-42>, <mailto:u+A-42@ex.com>\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n");
  EXPECT_FALSE(result.list_unsubscribe_incomplete);
  // URL only.
  message = compose(unsubscribe_campaign("https://example.com/u?c={{code}}", std::nullopt), row());
  EXPECT_EQ(unsubscribe_lines(message),
            "List-Unsubscribe: <https://example.com/u?c=A-42>\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n");
  // mailto only: no one-click. "mailto:" in the template is not doubled; a query stays.
  message = compose(unsubscribe_campaign(std::nullopt, "unsubscribe@example.com"), row());
  EXPECT_EQ(unsubscribe_lines(message), "List-Unsubscribe: <mailto:unsubscribe@example.com>\n");
  message = compose(
      unsubscribe_campaign(std::nullopt, "MAILTO:list@example.com?subject=unsubscribe%20{{code}}"),
      row());
  EXPECT_EQ(unsubscribe_lines(message),
            "List-Unsubscribe: <mailto:list@example.com?subject=unsubscribe%20A-42>\n");
  // Neither: no header at all.
  message = compose(unsubscribe_campaign(std::nullopt, std::nullopt), row());
  EXPECT_EQ(unsubscribe_lines(message), "");
  EXPECT_EQ(header(message, "List-Unsubscribe-Post"), "<missing>");
}

// Fields are percent-encoded, so that no value can close the brackets or add a URI.
TEST(ListUnsubscribe, FieldsArePercentEncoded) {
  Campaign campaign = unsubscribe_campaign(
      "https://example.com/u?e={{email}}&n={{first_name}}&p={{{last_name}}}", "u+{{code}}@ex.com");
  std::string message =
      compose(campaign, {"hanako+news@example.jp", "Hanako> <https://evil.example/", "a/b?c=d e>f",
                         "Osaka", "A 42", "1"});
  EXPECT_EQ(unsubscribe_lines(message),
            "List-Unsubscribe: "
            "<https://example.com/u?e=hanako%2Bnews%40example.jp&n=Hanako%3E%20%3Chttps%3A%2F%2Fe"
            "vil.example%2F&p=a/b?c=d%20e%3Ef>,\n"
            " <mailto:u+A%2042@ex.com>\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n");
}

// No whitespace goes inside the brackets (RFC 2369 2): a long URL makes a long line, up to 998.
TEST(ListUnsubscribe, LongUrisAndTheLineLimit) {
  Campaign campaign = unsubscribe_campaign("https://example.com/{{{first_name}}}",
                                           "unsubscribe+{{{last_name}}}@example.com");
  // The longest URL: "List-Unsubscribe: <" URL ">," is exactly 998 octets.
  const std::size_t path_bytes = list_unsubscribe_uri_bytes_max - 20;  // "https://example.com/"
  const std::string longest_path(path_bytes, 'p');
  ComposeResult result;
  std::string message = compose(campaign, row(longest_path, "x"), 7, false, &result);
  EXPECT_FALSE(result.list_unsubscribe_incomplete);
  std::vector<std::string_view> lines = lines_of(message);
  ASSERT_EQ(lines[6].substr(0, 19), "List-Unsubscribe: <");
  EXPECT_EQ(lines[6].size(), 998u);
  EXPECT_EQ(lines[7], " <mailto:unsubscribe+x@example.com>");
  EXPECT_EQ(lines[8], "List-Unsubscribe-Post: List-Unsubscribe=One-Click");
  expect_lines_at_most(message, limits::message_line_bytes_max);
  std::string reason;
  std::string scratch;
  std::vector<std::string_view> fields = row(longest_path, "x");
  EXPECT_TRUE(check_list_unsubscribe(campaign.inputs(), fields, scratch, reason)) << reason;

  // One octet more: the URL is left out, and one-click with it; the mailto stays.
  const std::string too_long = longest_path + "p";
  message = compose(campaign, row(too_long, "x"), 7, false, &result);
  EXPECT_TRUE(result.list_unsubscribe_incomplete);
  EXPECT_EQ(unsubscribe_lines(message), "List-Unsubscribe: <mailto:unsubscribe+x@example.com>\n");
  fields = row(too_long, "x");
  EXPECT_FALSE(check_list_unsubscribe(campaign.inputs(), fields, scratch, reason));
  EXPECT_EQ(reason, "List-Unsubscribe URL 'https://example.com/" + std::string(40, 'p') +
                        "...' is too long for a header line");
  // Both too long: no List-Unsubscribe at all.
  const std::string long_local(list_unsubscribe_uri_bytes_max, 'u');
  message = compose(campaign, row(too_long, long_local), 7, false, &result);
  EXPECT_TRUE(result.list_unsubscribe_incomplete);
  EXPECT_EQ(unsubscribe_lines(message), "");
  expect_lines_at_most(message, limits::message_line_bytes_max);
  // The longest mailto alone fits too.
  const std::string longest_local(list_unsubscribe_uri_bytes_max - 31, 'u');
  message = compose(campaign, row(too_long, longest_local), 7, false, &result);
  EXPECT_EQ(lines_of(message)[6].size(), 998u - 1);  // no ',' after the only URI
  fields = row("ok", long_local);
  EXPECT_FALSE(check_list_unsubscribe(campaign.inputs(), fields, scratch, reason));
  EXPECT_EQ(reason.substr(0, 38), "List-Unsubscribe mailto 'unsubscribe+u");
}

// Renderings that the source check would have refused are left out rather than written.
TEST(ListUnsubscribe, UnusableRenderingsAreLeftOut) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"http://example.com/u", "does not start with https://"},
      {"https:///u", "has no host"},
      {"{{{first_name}}}", "does not start with https://"},  // made by the row
      {"https://example.com/u?x=a b", "has a space"},
      {"https://example.com/<u>", "has '<' or '>'"},
      {"https://example.com/\xc3\xa9", "has a non-ASCII byte (percent-encode it)"},
      {"https://example.com/%zz", "has a '%' not followed by two hex digits"},
  };
  for (const auto& [url, problem] : cases) {
    Campaign campaign = unsubscribe_campaign(url, "u@example.com");
    ComposeResult result;
    std::string message = compose(campaign, row("http://example.com/u"), 7, false, &result);
    EXPECT_TRUE(result.list_unsubscribe_incomplete) << url;
    EXPECT_EQ(unsubscribe_lines(message), "List-Unsubscribe: <mailto:u@example.com>\n") << url;
    std::string reason;
    std::string scratch;
    std::vector<std::string_view> fields = row("http://example.com/u");
    EXPECT_FALSE(check_list_unsubscribe(campaign.inputs(), fields, scratch, reason));
    EXPECT_NE(reason.find(problem), std::string::npos) << url << ": " << reason;
  }
  Campaign no_at = unsubscribe_campaign(std::nullopt, "{{{first_name}}}");
  ComposeResult result;
  EXPECT_EQ(unsubscribe_lines(compose(no_at, row("nobody"), 7, false, &result)), "");
  EXPECT_TRUE(result.list_unsubscribe_incomplete);
}

TEST(ListUnsubscribe, SourceCheck) {
  auto error = [](std::string_view source, UnsubscribeUri kind) {
    absl::Status status = check_list_unsubscribe_source(source, kind);
    return status.ok() ? std::string("ok") : std::string(status.message());
  };
  const UnsubscribeUri url = UnsubscribeUri::https_url;
  const UnsubscribeUri mailto = UnsubscribeUri::mailto;
  EXPECT_EQ(error("https://example.com/u?t={{token}}&e={{{email}}}", url), "ok");
  EXPECT_EQ(error("HTTPS://Example.COM", url), "ok");
  EXPECT_EQ(error("https://example.com?{{#a}}x={{a}}{{/a}}", url), "ok");
  EXPECT_EQ(error("https://example.com/%E3%81%82/{{ token }}", url), "ok");
  EXPECT_EQ(error("unsubscribe+{{code}}@example.com", mailto), "ok");
  EXPECT_EQ(error("mailto:list@example.com?subject=unsubscribe", mailto), "ok");
  EXPECT_EQ(error("http://example.com/u", url),
            "List-Unsubscribe URL 'http://example.com/u' must start with https:// (RFC 8058 "
            "one-click unsubscribe needs HTTPS)");
  EXPECT_EQ(error("{{url}}", url),
            "List-Unsubscribe URL '{{url}}' must start with https:// (RFC 8058 one-click "
            "unsubscribe needs HTTPS)");
  EXPECT_EQ(error("https://{{host}}/u", url),
            "List-Unsubscribe URL 'https://{{host}}/u' must name its host before any {{field}}, "
            "e.g. https://example.com/u?t={{token}}");
  EXPECT_EQ(error("https://example.com{{path}}", url),
            "List-Unsubscribe URL 'https://example.com{{path}}' must name its host before any "
            "{{field}}, e.g. https://example.com/u?t={{token}}");
  EXPECT_EQ(error("https://", url).substr(0, 40), "List-Unsubscribe URL 'https://' must nam");
  EXPECT_EQ(error("https://example.com/u?t={{token}} ", url),
            "List-Unsubscribe URL 'https://example.com/u?t={{token}} ' has a space outside "
            "{{fields}}");
  EXPECT_EQ(error("<https://example.com/u>", url),
            "List-Unsubscribe URL '<https://example.com/u>' has '<' or '>' outside {{fields}}");
  EXPECT_EQ(error("https://example.com/\xc3\xa9", url),
            "List-Unsubscribe URL 'https://example.com/\xc3\xa9' has a non-ASCII byte "
            "(percent-encode it) outside {{fields}}");
  EXPECT_EQ(error("https://example.com/\"x\"", url),
            "List-Unsubscribe URL 'https://example.com/\"x\"' has a character a URI cannot hold "
            "(percent-encode it) outside {{fields}}");
  EXPECT_EQ(error("https://example.com/50%", url),
            "List-Unsubscribe URL 'https://example.com/50%' has a '%' not followed by two hex "
            "digits outside {{fields}}");
  EXPECT_EQ(error("https://example.com/u{{x", url),
            "List-Unsubscribe URL 'https://example.com/u{{x' has an unclosed tag");
  EXPECT_EQ(error("{{{address}}}", mailto),
            "List-Unsubscribe mailto '{{{address}}}' must be an address with a literal '@', e.g. "
            "unsubscribe+{{code}}@example.com");
  EXPECT_EQ(error("mailto:<u@example.com>", mailto),
            "List-Unsubscribe mailto '<u@example.com>' has '<' or '>' outside {{fields}}");
  // Tags with spaces in column names are not literal text.
  EXPECT_EQ(error("https://example.com/u?t={{ Member Token }}", url), "ok");
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
std::string encoding_for(std::string_view body, bool eightbit_allowed = false) {
  Campaign campaign;
  campaign.subject = compile("s");
  campaign.text = compile("{{{city}}}");
  ComposeResult result;
  const std::string message = compose(campaign, row("a", "b", body), 7, eightbit_allowed, &result);
  const std::string encoding = header(message, "Content-Transfer-Encoding");
  EXPECT_EQ(result.eight_bit, encoding == "8bit") << encoding;
  return encoding;
}

TEST(MessageComposer, TransferEncodingChoice) {
  EXPECT_EQ(encoding_for("ascii\r\nonly"), "7bit");
  EXPECT_EQ(encoding_for(""), "7bit");
  EXPECT_EQ(encoding_for(std::string(998, 'a') + "\nb"), "7bit");
  EXPECT_EQ(encoding_for(std::string(999, 'a') + "\nb"), "quoted-printable");
  EXPECT_EQ(encoding_for("b\r" + std::string(999, 'a')), "quoted-printable");
  EXPECT_EQ(encoding_for(std::string_view("nul\0byte", 8)), "quoted-printable");
  EXPECT_EQ(encoding_for("\x7f and controls \x01 are 7bit"), "7bit");
  // Under 1/6 non-ASCII bytes: quoted-printable; from 1/6: base64. "café" is 2 in 5.
  EXPECT_EQ(encoding_for("caf\xc3\xa9"), "base64");
  EXPECT_EQ(encoding_for("caf\xc3\xa9 au lai"), "base64");             // 2 in 12: 1/6
  EXPECT_EQ(encoding_for("caf\xc3\xa9 au lait"), "quoted-printable");  // 2 in 13
  EXPECT_EQ(encoding_for("\xe5\xb1\xb1\xe7\x94\xb0\xe6\xa7\x98 <b>sale</b>"), "base64");
  std::string english_with_names = "Dear Zo\xc3\xab, your order from M\xc3\xbcnchen has shipped.";
  EXPECT_EQ(encoding_for(english_with_names), "quoted-printable");
  EXPECT_EQ(encoding_for(english_with_names, true), "8bit");
  // The exact count on long parts: 2100 non-ASCII bytes in a row, then ASCII lines; base64
  // up to 6 * 2100 = 12600 bytes, quoted-printable from 12601.
  std::string cafe_run;
  for (int i = 0; i < 1050; ++i) cafe_run += "\xc3\xa9";
  auto padded_to = [&](std::size_t size) {
    std::string text = cafe_run + "\n";
    while (text.size() < size) text += text.size() % 100 == 99 ? '\n' : 'a';
    return text;
  };
  EXPECT_EQ(encoding_for(padded_to(12600)), "base64");
  EXPECT_EQ(encoding_for(padded_to(12601)), "quoted-printable");
  // 8bit needs 8BITMIME, valid UTF-8, no NUL and short lines; otherwise the same choice.
  EXPECT_EQ(encoding_for("caf\xc3\xa9", true), "8bit");
  EXPECT_EQ(encoding_for("ascii only", true), "7bit");
  EXPECT_EQ(encoding_for("caf\xe9 au lait, Latin-1 is not UTF-8", true), "quoted-printable");
  EXPECT_EQ(encoding_for("\xff\xfe", true), "base64");
  EXPECT_EQ(encoding_for("caf\xc3\xa9 \xed\xa0\x80", true), "base64");  // a surrogate
  EXPECT_EQ(encoding_for(std::string_view("caf\xc3\xa9\0", 6), true), "base64");
  std::string long_line;
  for (int i = 0; i < 400; ++i) long_line += "\xe6\x97\xa5";  // 1200 octets on one line
  EXPECT_EQ(encoding_for(long_line, true), "base64");
  EXPECT_EQ(encoding_for(long_line.substr(0, 996) + "\n" + long_line.substr(0, 996), true), "8bit");
  EXPECT_EQ(encoding_for(long_line.substr(0, 999) + "\n", true), "base64");
}

TEST(MessageComposer, Base64Lines) {
  auto base64_lines = [](std::string_view bytes) {
    std::string out = "kept";
    append_base64_lines(bytes, out);
    EXPECT_EQ(out.substr(0, 4), "kept");
    return out.substr(4);
  };
  // RFC 4648 10 test vectors.
  EXPECT_EQ(base64_lines(""), "");
  EXPECT_EQ(base64_lines("f"), "Zg==\r\n");
  EXPECT_EQ(base64_lines("fo"), "Zm8=\r\n");
  EXPECT_EQ(base64_lines("foo"), "Zm9v\r\n");
  EXPECT_EQ(base64_lines("foob"), "Zm9vYg==\r\n");
  EXPECT_EQ(base64_lines("fooba"), "Zm9vYmE=\r\n");
  EXPECT_EQ(base64_lines("foobar"), "Zm9vYmFy\r\n");
  // 57 bytes make one full line of 76 characters; the 58th starts a second.
  EXPECT_EQ(base64_lines(std::string(57, '\0')), std::string(76, 'A') + "\r\n");
  EXPECT_EQ(base64_lines(std::string(58, '\0')), std::string(76, 'A') + "\r\nAA==\r\n");
  EXPECT_EQ(base64_lines(std::string(114, '\xff')),
            std::string(76, '/') + "\r\n" + std::string(76, '/') + "\r\n");
  std::mt19937 random(3);
  for (int i = 0; i < 200; ++i) {
    std::string bytes;
    for (std::size_t k = random() % 500; k > 0; --k) bytes.push_back(static_cast<char>(random()));
    const std::string encoded = base64_lines(bytes);
    std::string joined;
    for (std::string_view line : lines_of(encoded)) {
      EXPECT_LE(line.size(), 76u);
      EXPECT_EQ(line.size() % 4, 0u);
      joined += line;
    }
    EXPECT_EQ(decode_base64(joined), bytes);
  }
}

TEST(MessageComposer, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ASCII, long enough for the word-at-a-time path"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe5\xb1\xb1\xe7\x94\xb0 \xf0\x9f\x93\xa7"));
  EXPECT_TRUE(is_valid_utf8("\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xef\xbf\xbf"));  // range ends
  EXPECT_TRUE(is_valid_utf8("\xed\x9f\xbf \xee\x80\x80"));          // around the surrogates
  EXPECT_TRUE(is_valid_utf8("\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf"));  // U+10000, U+10FFFF
  EXPECT_TRUE(is_valid_utf8(std::string_view("nul \0 is UTF-8", 14)));
  for (std::string_view bad :
       {"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xc2", "\xc2\x41", "\xe0\x80\x80", "\xe0\x9f\xbf",
        "\xed\xa0\x80", "\xed\xbf\xbf", "\xe5\xb1", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf",
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xfe", "\xff",
        "\xf0\x9f\x93"}) {
    EXPECT_FALSE(is_valid_utf8(bad)) << testing::PrintToString(bad);
    // Also behind a long ASCII run and before one.
    EXPECT_FALSE(is_valid_utf8("0123456789abcdef" + std::string(bad) + "0123456789"))
        << testing::PrintToString(bad);
  }
}

TEST(MessageComposer, BodyLineEndingsBecomeCrlf) {
  Campaign campaign;
  campaign.subject = compile("s");
  campaign.text = compile("a\nb\rc\r\nd{{{city}}}");
  std::string message = compose(campaign, row("x", "y", "\r\r\n"));
  EXPECT_EQ(body_of(message), "a\r\nb\r\nc\r\nd\r\n\r\n");
  // A body without a final line break gets one; the message ends with CRLF.
  std::string no_break = compose(campaign, row("x", "y", "end"));
  EXPECT_EQ(body_of(no_break), "a\r\nb\r\nc\r\ndend\r\n");
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
  EXPECT_EQ(decode_quoted_printable(body_of(message)),
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
  campaign.feedback_id = compile("{{last_name}}:spring:example");
  campaign.from = "Example " + std::string(1100, 'N') + " <news@example.com>";
  Campaign with_unsubscribe = campaign;
  with_unsubscribe.unsubscribe_url =
      compile("https://example.com/u?n={{{first_name}}}", Escape::url);
  with_unsubscribe.unsubscribe_mailto = compile("u+{{last_name}}@example.com", Escape::url);
  const std::string long_ascii(3000, 'q');
  const std::string long_spaces = "a" + std::string(2000, ' ') + "b";
  std::string long_utf8;
  for (int i = 0; i < 700; ++i) long_utf8 += "\xe6\x97\xa5";
  const std::string mixed = std::string(997, 'm') + "\r" + std::string(999, 'n') + "\n\x01";
  for (const Campaign* shape : {&campaign, &with_unsubscribe}) {
    for (bool eightbit_allowed : {false, true}) {
      for (const std::string& first : {long_ascii, long_spaces, long_utf8, mixed}) {
        for (const std::string& last : {long_ascii, long_utf8, std::string("ok")}) {
          std::string city = first + "\n" + last;
          std::string message = compose(
              *shape,
              row(first.find_first_of("\r\n") == std::string::npos ? first : "x", last, city), 7,
              eightbit_allowed);
          expect_lines_at_most(message, limits::message_line_bytes_max);
          // Headers stay under 78 where they can: all but a long List-Unsubscribe URI.
          const std::string headers = message.substr(0, message.find("\r\n\r\n") + 2);
          for (std::string_view line : lines_of(headers)) {
            if (line.substr(0, 18) == "List-Unsubscribe: " || line.substr(0, 2) == " <") continue;
            EXPECT_LE(line.size(), 78u) << line.substr(0, 40);
          }
        }
      }
    }
  }
}

// --- Strict parse by Python's email package -----------------------------------------------------

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      hayate::append(out, '\\', c);
    } else if (byte < 0x20) {
      constexpr char hex[] = "0123456789abcdef";
      hayate::append(out, "\\u00", hex[byte >> 4], hex[byte & 15]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

constexpr std::string_view absent = "<absent>";  // a header value the message must not have

// Writes composed messages and a manifest of what each must decode to, for
// message_strict_parse.py.
class StrictParseCases {
 public:
  explicit StrictParseCases(std::string directory) : directory_(std::move(directory)) {
    std::filesystem::remove_all(directory_);
    std::filesystem::create_directories(directory_);
  }

  // `encodings`: the expected Content-Transfer-Encoding of each part (text first).
  void add(std::string_view name, const Campaign& campaign,
           const std::vector<std::string_view>& fields, bool eightbit_allowed,
           std::string_view from_display_name, const std::vector<std::string>& encodings,
           const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    MessageComposer composer(campaign.inputs());
    std::string message;
    const ComposeResult result =
        composer.compose(fields, fields[0], 7, november_23_2026, message, eightbit_allowed);
    const std::string file = directory_ + "/" + std::string(name) + ".eml";
    std::ofstream(file, std::ios::binary) << message;
    std::string subject;
    campaign.subject.render(fields, subject);
    std::string parts;
    std::size_t index = 0;
    bool eight_bit = false;
    for (const std::optional<Template>* part : {&campaign.text, &campaign.html}) {
      if (!part->has_value()) continue;
      std::string content;
      (*part)->render(fields, content);
      EXPECT_LT(index, encodings.size()) << name;
      const std::string encoding = index < encodings.size() ? encodings[index] : "?";
      eight_bit = eight_bit || encoding == "8bit";
      hayate::append(
          parts, index == 0 ? "" : ", ",
          "{\"content_type\": ", json_string(part == &campaign.text ? "text/plain" : "text/html"),
          ", \"encoding\": ", json_string(encoding), ", \"content\": ", json_string(content), "}");
      ++index;
    }
    EXPECT_EQ(result.eight_bit, eight_bit) << name;
    std::string header_values;
    for (const auto& [header_name, value] : headers) {
      hayate::append(header_values, header_values.empty() ? "" : ", ", json_string(header_name),
                     ": ", value == absent ? "null" : json_string(value));
    }
    hayate::append(manifest_, manifest_.empty() ? "" : ",\n", "{\"name\": ", json_string(name),
                   ", \"file\": ", json_string(file), ", \"subject\": ", json_string(subject),
                   ", \"from_display_name\": ", json_string(from_display_name),
                   ", \"from_address\": \"news@example.com\", \"headers\": {", header_values,
                   "}, \"multipart_encoding\": ", json_string(eight_bit ? "8bit" : "7bit"),
                   ", \"parts\": [", parts, "]}");
  }

  std::string write_manifest() const {
    const std::string path = directory_ + "/manifest.json";
    std::ofstream(path, std::ios::binary) << "{\"messages\": [\n" << manifest_ << "\n]}\n";
    return path;
  }

 private:
  std::string directory_;
  std::string manifest_;
};

// Runs `command`, returns its exit status and appends its output (stdout and stderr) to `output`.
int run(const std::string& command, std::string& output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  std::size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, got);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(MessageStrictParse, PythonEmailReadsEveryMessageBack) {
  constexpr std::string_view python = "/usr/bin/python3";
  if (!std::filesystem::exists(python)) GTEST_SKIP() << python << " is not installed";
  const std::string script = HAYATE_TEST_DATA_DIR "/../unit/message_strict_parse.py";
  ASSERT_TRUE(std::filesystem::exists(script)) << script;
  StrictParseCases cases(testing::TempDir() + "message_strict_parse");
  const std::string shop = "山田商店";
  const std::string japanese_text =
      "{{last_name}} 様\n\nいつもご利用ありがとうございます。\n春のセールを{{city}}で開催します。"
      "\n\n-- \n山田商店\n";
  const std::string japanese_html =
      "<p>{{last_name}} 様</p>\n<p>いつもご利用ありがとうございます。</p>\n"
      "<p>春のセールを<b>{{city}}</b>で開催します。</p>\n";

  Campaign text_only;
  text_only.subject = compile(
      "Our biggest spring sale ever starts today in {{city}}: up to 70% off on every item, "
      "{{first_name}}");
  text_only.text = compile("Dear {{first_name}} {{last_name}},\n\nYour code: {{code}}\n.\n");
  text_only.unsubscribe_url =
      compile("https://example.com/u?c={{code}}&n={{first_name}}", Escape::url);
  text_only.unsubscribe_mailto = compile("unsubscribe+{{code}}@example.com", Escape::url);
  text_only.feedback_id = compile("{{code}}:spring:newsletter:example");
  cases.add("text-only", text_only, row(), false, "Example News", {"7bit"},
            {{"List-Unsubscribe",
              "<https://example.com/u?c=A-42&n=Hanako>, <mailto:unsubscribe+A-42@example.com>"},
             {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
             {"Feedback-ID", "A-42:spring:newsletter:example"}});

  Campaign html_only;
  html_only.subject = compile("Your receipt");
  html_only.html = compile(
      "<p>Caf\xc3\xa9 for {{first_name}} &amp; friends: {{amount}} yen</p>\n"
      "<p>This line is deliberately long so that quoted-printable has to break it with a soft "
      "line break, = signs and trailing spaces included.   </p>\n",
      Escape::html);
  html_only.reply_to = "Support <support@example.com>";
  html_only.unsubscribe_mailto =
      compile("mailto:list@example.com?subject=unsubscribe", Escape::url);
  cases.add("html-only", html_only, row("Zo\xc3\xab"), false, "Example News", {"quoted-printable"},
            {{"List-Unsubscribe", "<mailto:list@example.com?subject=unsubscribe>"},
             {"List-Unsubscribe-Post", std::string(absent)}});

  Campaign both;
  both.subject = compile("Hello {{first_name}}");
  both.text = compile("Hello {{first_name}}!\nCode: {{code}}");
  both.html = compile("<p>Hello {{first_name}}!</p>\n<p>Code: <b>{{code}}</b></p>\n", Escape::html);
  both.unsubscribe_url = compile("https://example.com/u/{{code}}", Escape::url);
  cases.add("text-and-html", both, row(), false, "Example News", {"7bit", "7bit"},
            {{"List-Unsubscribe", "<https://example.com/u/A-42>"},
             {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}});

  Campaign japanese;
  japanese.from = shop + " <news@example.com>";
  japanese.subject =
      compile("【重要】{{last_name}}様、{{city}}で春のセールを開催します — 最大70%オフ");
  japanese.text = compile(japanese_text);
  japanese.html = compile(japanese_html, Escape::html);
  cases.add("japanese", japanese, row("花子", "山田", "大阪"), false, shop, {"base64", "base64"});

  Campaign long_lines;
  long_lines.subject = compile("{{first_name}}");
  long_lines.text = compile("{{{city}}}\nshort line\n{{{city}}}");
  long_lines.html = compile("<p>{{city}}</p>\n", Escape::html);
  const std::string long_line = "start " + std::string(1500, 'x') + " = end  ";
  cases.add("long-lines", long_lines, row("Hanako", "Yamada", long_line), false, "Example News",
            {"quoted-printable", "quoted-printable"});

  Campaign eight_bit = japanese;
  cases.add("8bit", eight_bit, row("花子", "山田", "大阪"), true, shop, {"8bit", "8bit"});
  Campaign mixed = both;
  mixed.text = compile(japanese_text);
  cases.add("8bit-and-7bit", mixed, row("Hanako", "山田", "大阪"), true, "Example News",
            {"8bit", "7bit"});

  Campaign hostile;
  hostile.from = "\"Example, Inc.\" <news@example.com>";
  hostile.subject = compile("try =?UTF-8?B?SGk=?= {{first_name}} {{last_name}}");
  hostile.text = compile("{{{first_name}}}\n.\n..\n{{{last_name}}}\n");
  hostile.unsubscribe_url = compile("https://example.com/u?n={{first_name}}", Escape::url);
  hostile.headers.emplace_back("X-Name", compile("{{last_name}}"));
  const std::string long_word(1200, 'w');
  cases.add("hostile", hostile, row("<x> \"y\" =?a?=", long_word), false, "Example, Inc.",
            {"quoted-printable"},
            {{"List-Unsubscribe", "<https://example.com/u?n=%3Cx%3E%20%22y%22%20%3D%3Fa%3F%3D>"},
             {"X-Name", long_word}});

  std::string output;
  const int status = run(hayate::cat(python, " ", script, " ", cases.write_manifest()), output);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("8 of 8 messages parse strictly"), std::string::npos) << output;
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
  std::string body = body_of(stuffed);
  EXPECT_EQ(body, "..first line\r\n...\r\n..\r\nlast\r\n.\r\n");
}

}  // namespace
}  // namespace hayate::campaign
