// Tests for ISO-2022-JP messages (campaign/message/iso_2022_jp, MessageComposer with
// MessageCharset::iso_2022_jp): headers as =?ISO-2022-JP?B?...?= words, each decoded alone
// with iconv back to the original text; the text part 7bit; refusal of what JIS X 0208 lacks.
#include "campaign/message/iso_2022_jp.h"

#include <gtest/gtest.h>
#include <iconv.h>

#include <string>
#include <string_view>
#include <vector>

#include "campaign/message/message.h"

namespace hayate::campaign {
namespace {

std::string from_jis(std::string_view jis) {
  iconv_t handle = iconv_open("UTF-8", "ISO-2022-JP");
  std::string out(jis.size() * 3 + 8, '\0');
  char* in = const_cast<char*>(jis.data());
  std::size_t in_left = jis.size();
  char* write = out.data();
  std::size_t out_left = out.size();
  const std::size_t converted = iconv(handle, &in, &in_left, &write, &out_left);
  iconv_close(handle);
  EXPECT_NE(converted, static_cast<std::size_t>(-1));
  out.resize(out.size() - out_left);
  return out;
}

std::string from_base64(std::string_view text) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') break;
    bits = bits << 6 | static_cast<std::uint32_t>(alphabet.find(c));
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  return out;
}

// Decodes every encoded-word of a header field on its own (as RFC 2047 readers do) and joins
// them; also checks the RFC 1468 and RFC 2047 rules on each.
std::string decode_field(const std::string& field) {
  constexpr std::string_view open = "=?ISO-2022-JP?B?";
  std::string text;
  std::size_t pos = 0;
  for (std::size_t line_start = 0; line_start < field.size();) {
    const std::size_t line_end = field.find("\r\n", line_start);
    EXPECT_LE(line_end - line_start, 78u) << field;
    line_start = line_end + 2;
  }
  while ((pos = field.find(open, pos)) != std::string::npos) {
    const std::size_t close = field.find("?=", pos + open.size());
    EXPECT_LE(close + 2 - pos, 75u);
    const std::string jis = from_base64(field.substr(pos + open.size(), close - pos - open.size()));
    if (const std::size_t last_escape = jis.rfind('\x1B'); last_escape != std::string::npos) {
      EXPECT_EQ(jis.substr(last_escape, 3), "\x1B(B") << "a word must end in ASCII";
    }
    text += from_jis(jis);
    pos = close + 2;
  }
  return text;
}

TEST(Iso2022JpTest, SubjectRoundTripsThroughEveryWord) {
  Iso2022JpEncoder encoder;
  const std::vector<std::string> subjects = {
      "お知らせ",
      "【重要】山田 太郎 様へ、十一月のキャンペーンのご案内 (限定 50% OFF) です。"
      "お見逃しなく！ ご不明な点はサポートまで",
      "ABC 日本語 ¥100 def",
  };
  for (const std::string& subject : subjects) {
    std::string out;
    append_unstructured_header("Subject", subject, out, &encoder);
    EXPECT_EQ(decode_field(out), subject) << out;
  }
  std::string from;
  append_mailbox_header("From", "ニュース編集部 <news@example.com>", from, &encoder);
  EXPECT_EQ(from.rfind("From: =?ISO-2022-JP?B?", 0), 0u) << from;
  EXPECT_NE(from.find("<news@example.com>"), std::string::npos);
  EXPECT_EQ(decode_field(from), "ニュース編集部");
}

TEST(Iso2022JpTest, RefusesWhatJisX0208Lacks) {
  Iso2022JpEncoder encoder;
  std::string scratch;
  EXPECT_EQ(iso_2022_jp_problem(encoder, "山田 太郎", scratch), "");
  EXPECT_EQ(iso_2022_jp_problem(encoder, "plain", scratch), "");
  const std::string circled = iso_2022_jp_problem(encoder, "会員番号①", scratch);
  EXPECT_NE(circled.find("U+2460"), std::string::npos) << circled;
  EXPECT_NE(iso_2022_jp_problem(encoder, "㈱山田", scratch).find("U+3231"), std::string::npos);
  EXPECT_NE(iso_2022_jp_problem(encoder, "ok 🎉", scratch).find("U+1F389"), std::string::npos);
  EXPECT_NE(iso_2022_jp_problem(encoder, "ﾊﾅｺ", scratch).find("half-width"), std::string::npos);
  std::string out = "keep";
  std::size_t bad_offset = 0;
  EXPECT_FALSE(encoder.encode("ab①", out, bad_offset));
  EXPECT_EQ(out, "keep");
  EXPECT_EQ(bad_offset, 2u);
}

TEST(Iso2022JpTest, TextPartIsSevenBitIso2022Jp) {
  std::vector<std::string> columns = {"email", "name"};
  auto subject = Template::compile("ご案内 {{name}} 様", "job.toml", columns, Escape::none);
  auto text = Template::compile("{{name}} 様\nこんにちは。\n", "body.txt", columns, Escape::none);
  auto html = Template::compile("<p>{{name}} 様</p>\n", "body.html", columns, Escape::html);
  ASSERT_TRUE(subject.ok() && text.ok() && html.ok());
  MessageInputs inputs;
  inputs.campaign_id = "jp";
  inputs.from_header = "News <news@example.com>";
  inputs.from_domain = "example.com";
  inputs.subject = &*subject;
  inputs.text = &*text;
  inputs.html = &*html;
  inputs.charset = MessageCharset::iso_2022_jp;
  inputs.random_seed = 1;
  MessageComposer composer(inputs);
  const std::vector<std::string_view> fields = {"a@example.jp", "山田"};
  std::string message;
  composer.compose(fields, "a@example.jp", 1, 1'700'000'000, message, true);
  const std::string part =
      "Content-Type: text/plain; charset=ISO-2022-JP\r\n"
      "Content-Transfer-Encoding: 7bit\r\n\r\n";
  const std::size_t at = message.find(part);
  ASSERT_NE(at, std::string::npos) << message;
  const std::size_t body = at + part.size();
  const std::size_t end = message.find("\r\n--", body);
  std::string jis = message.substr(body, end - body);
  EXPECT_EQ(from_jis(jis), "山田 様\r\nこんにちは。\r\n");
  for (char c : jis) EXPECT_LT(static_cast<unsigned char>(c), 0x80);
  EXPECT_NE(message.find("Content-Type: text/html; charset=utf-8"), std::string::npos);
  const std::size_t subject_at = message.find("Subject:");
  const std::string subject_field =
      message.substr(subject_at, message.find("\r\nMessage-ID") + 2 - subject_at);
  EXPECT_EQ(decode_field(subject_field), "ご案内 山田 様");
}

}  // namespace
}  // namespace hayate::campaign
