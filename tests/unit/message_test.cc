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
    headers.emplace_back(std::string(line.substr(0, colon)),
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
            "Message-ID: <spring-2026.7.GOLDEN@example.com>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 7bit\r\n"
            "\r\n"
            "Dear Hanako Yamada,\r\n"
            "\r\n"
            "Your code: A-42\r\n");
}

}  // namespace
}  // namespace hayate::campaign
