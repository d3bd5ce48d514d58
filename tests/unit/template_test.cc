// Tests for campaign/template: rendering (literals, escaping, raw, sections, UTF-8) and every
// compile error with its exact message and line, since users fix templates from these lines.
#include "campaign/message/template.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "campaign/limits.h"

namespace hayate::campaign {
namespace {

const std::vector<std::string> kColumns = {"email", "first_name", "city"};

// Compiles against kColumns (or `columns`) and renders one row; fails the test on an error.
std::string render(std::string_view source, const std::vector<std::string_view>& fields,
                   Escape escape = Escape::html,
                   const std::vector<std::string>& columns = kColumns) {
  absl::StatusOr<Template> compiled = Template::compile(source, "body.html", columns, escape);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  if (!compiled.ok()) return "<compile error>";
  std::string out;
  compiled->render(fields, out);
  return out;
}

// The error message of a compile that must fail.
std::string compile_error(std::string_view source, std::uint32_t first_line = 1,
                          const std::vector<std::string>& columns = kColumns,
                          std::string_view source_name = "body.html") {
  absl::StatusOr<Template> compiled =
      Template::compile(source, source_name, columns, Escape::html, first_line);
  EXPECT_FALSE(compiled.ok()) << "compiled: " << source;
  if (compiled.ok()) return "<compiled>";
  EXPECT_EQ(compiled.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(compiled.status().message());
}

const std::vector<std::string_view> kRow = {"ann@example.com", "Ann", "Kyoto"};

TEST(TemplateRender, EmptyTemplateRendersNothing) {
  EXPECT_EQ(render("", kRow), "");
  absl::StatusOr<Template> compiled = Template::compile("", "s", kColumns, Escape::none);
  ASSERT_TRUE(compiled.ok());
  EXPECT_TRUE(compiled->fields_used().empty());
  std::string out = "kept";
  compiled->render(kRow, out);
  EXPECT_EQ(out, "kept");
}

TEST(TemplateRender, DefaultConstructedRendersNothing) {
  Template empty;
  std::string out = "x";
  empty.render({}, out);
  EXPECT_EQ(out, "x");
}

TEST(TemplateRender, PlainLiteralIsCopiedByteForByte) {
  const std::string source = "Hello,\r\n\tworld! <b>&amp;</b> \"q\" 'a'\n\n";
  EXPECT_EQ(render(source, kRow), source);
  const std::string with_nul("a\0b\xff\xfe", 5);  // not UTF-8: still passes through
  EXPECT_EQ(render(with_nul, kRow), with_nul);
}

TEST(TemplateRender, AppendsToTheCallersBuffer) {
  absl::StatusOr<Template> compiled =
      Template::compile("Hi {{first_name}}\n", "s", kColumns, Escape::none);
  ASSERT_TRUE(compiled.ok());
  std::string out = "Subject: x\n";
  compiled->render(kRow, out);
  compiled->render(std::vector<std::string_view>{"b@example.com", "Bo", ""}, out);
  EXPECT_EQ(out, "Subject: x\nHi Ann\nHi Bo\n");
}

TEST(TemplateRender, FieldsAreInserted) {
  EXPECT_EQ(render("{{first_name}} <{{email}}> from {{city}}", kRow),
            "Ann <ann@example.com> from Kyoto");
  EXPECT_EQ(render("{{city}}{{city}}", kRow), "KyotoKyoto");
}

TEST(TemplateRender, HtmlEscapesTheFiveSpecialCharacters) {
  const std::vector<std::string_view> row = {"", "<script>alert(\"x&y\")</script>'", ""};
  EXPECT_EQ(render("[{{first_name}}]", row),
            "[&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;]");
  const std::vector<std::string_view> only_specials = {"", "&&<>", ""};
  EXPECT_EQ(render("{{first_name}}", only_specials), "&amp;&amp;&lt;&gt;");
  // An already-escaped value is escaped again: the data is text, not HTML.
  const std::vector<std::string_view> entity = {"", "&amp;", ""};
  EXPECT_EQ(render("{{first_name}}", entity), "&amp;amp;");
}

TEST(TemplateRender, NoEscapingInAPlainTextTemplate) {
  const std::vector<std::string_view> row = {"", "<b>Tom & \"Jerry\"</b>'", ""};
  EXPECT_EQ(render("{{first_name}}", row, Escape::none), "<b>Tom & \"Jerry\"</b>'");
}

TEST(TemplateRender, TripleBracesAndAmpersandAreRawEvenInHtml) {
  const std::vector<std::string_view> row = {"", "<i>x</i> & y", ""};
  EXPECT_EQ(render("{{{first_name}}}|{{&first_name}}|{{first_name}}", row),
            "<i>x</i> & y|<i>x</i> & y|&lt;i&gt;x&lt;/i&gt; &amp; y");
  EXPECT_EQ(render("{{{ first_name }}}{{& first_name}}", row, Escape::none),
            "<i>x</i> & y<i>x</i> & y");
}

TEST(TemplateRender, SectionShownWhenFieldNonEmpty) {
  const std::string source = "A{{#city}}[in {{city}}]{{/city}}B";
  EXPECT_EQ(render(source, kRow), "A[in Kyoto]B");
  EXPECT_EQ(render(source, {"e", "n", ""}), "AB");
}

TEST(TemplateRender, InvertedSectionShownWhenFieldEmpty) {
  const std::string source = "A{{^city}}[no city]{{/city}}B";
  EXPECT_EQ(render(source, kRow), "AB");
  EXPECT_EQ(render(source, {"e", "n", ""}), "A[no city]B");
  // A single space is not empty.
  EXPECT_EQ(render(source, {"e", "n", " "}), "AB");
}

TEST(TemplateRender, SectionAndInvertedTogether) {
  const std::string source =
      "Dear {{#first_name}}{{first_name}}{{/first_name}}"
      "{{^first_name}}customer{{/first_name}},";
  EXPECT_EQ(render(source, kRow), "Dear Ann,");
  EXPECT_EQ(render(source, {"e", "", "c"}), "Dear customer,");
}

TEST(TemplateRender, NestedSections) {
  const std::string source =
      "<{{#email}}e{{#first_name}}n{{^city}}-nocity{{/city}}{{#city}}+{{city}}{{/city}}"
      "{{/first_name}}/e{{/email}}>";
  EXPECT_EQ(render(source, {"x", "y", "Oslo"}), "<en+Oslo/e>");
  EXPECT_EQ(render(source, {"x", "y", ""}), "<en-nocity/e>");
  EXPECT_EQ(render(source, {"x", "", "Oslo"}), "<e/e>");
  EXPECT_EQ(render(source, {"", "y", "Oslo"}), "<>");
}

TEST(TemplateRender, SameFieldNestedInItself) {
  const std::string source = "{{#city}}a{{#city}}b{{/city}}c{{/city}}d";
  EXPECT_EQ(render(source, kRow), "abcd");
  EXPECT_EQ(render(source, {"", "", ""}), "d");
}

TEST(TemplateRender, LiteralAfterSectionIsNotJoinedIntoIt) {
  // The text after {{/city}} must render even when the section is skipped.
  EXPECT_EQ(render("{{#city}}in{{/city}}after", {"", "", ""}), "after");
  EXPECT_EQ(render("{{^city}}none{{/city}}after", kRow), "after");
  EXPECT_EQ(render("{{#city}}{{/city}}", kRow), "");
}

TEST(TemplateRender, EmptySectionsAtTheEnd) {
  EXPECT_EQ(render("x{{#city}}{{#email}}{{/email}}{{/city}}", kRow), "x");
  EXPECT_EQ(render("x{{#city}}{{#email}}{{/email}}{{/city}}", {"", "", ""}), "x");
}

TEST(TemplateRender, WhitespaceInsideTags) {
  EXPECT_EQ(render("{{ first_name }}|{{\tcity\t}}|{{\n email \r\n}}", kRow),
            "Ann|Kyoto|ann@example.com");
  EXPECT_EQ(render("{{# city }}yes{{/ city }}{{ ^ city }}no{{ / city }}", kRow), "yes");
  EXPECT_EQ(render("{{#city}}yes{{/city  }}", {"", "", ""}), "");
}

TEST(TemplateRender, AdjacentTags) {
  EXPECT_EQ(render("{{first_name}}{{city}}{{{email}}}{{first_name}}", kRow),
            "AnnKyotoann@example.comAnn");
}

TEST(TemplateRender, CommentsAreDropped) {
  EXPECT_EQ(render("a{{! a note }}b", kRow), "ab");
  EXPECT_EQ(render("a{{!}}b{{!\nmulti\nline\n}}c", kRow), "abc");
  EXPECT_EQ(render("{{ ! spaced }}x", kRow), "x");
  // A comment does not check field names.
  EXPECT_EQ(render("{{! {unknown_field }}ok", kRow), "ok");
}

TEST(TemplateRender, LoneBracesAreLiteral) {
  EXPECT_EQ(render("a { b } c", kRow), "a { b } c");
  EXPECT_EQ(render("body { color: red; } }}", kRow), "body { color: red; } }}");
  EXPECT_EQ(render("{x}", kRow), "{x}");
  EXPECT_EQ(render("{ {{city}} }", kRow), "{ Kyoto }");
  EXPECT_EQ(render("{{city}}}", kRow), "Kyoto}");
  EXPECT_EQ(render("{{{city}}}}", kRow), "Kyoto}");
  EXPECT_EQ(render("}{{city}}{", kRow), "}Kyoto{");
}

TEST(TemplateRender, JapaneseTextAndValues) {
  const std::vector<std::string> columns = {"メール", "名前", "市"};
  const std::vector<std::string_view> row = {"taro@example.jp", "山田 太郎", "東京都"};
  const std::string source =
      "{{名前}} 様\n"
      "いつもご利用ありがとうございます。"
      "{{#市}}（{{市}}）{{/市}}";
  EXPECT_EQ(render(source, row, Escape::html, columns),
            "山田 太郎 様\nいつもご利用ありがとうございます。（東京都）");
  // Escaping leaves multibyte characters alone, even next to specials.
  const std::vector<std::string_view> mixed = {"", "<山田>&「太郎」", ""};
  EXPECT_EQ(render("{{名前}}", mixed, Escape::html, columns), "&lt;山田&gt;&amp;「太郎」");
  // Emoji (4-byte UTF-8) in literals and values.
  const std::vector<std::string_view> emoji = {"", "🎉", ""};
  EXPECT_EQ(render("🎁{{ 名前 }}🎁", emoji, Escape::html, columns), "🎁🎉🎁");
}

TEST(TemplateRender, ColumnNamesWithSpacesAndCase) {
  const std::vector<std::string> columns = {"First Name", "first name"};
  EXPECT_EQ(render("{{First Name}}/{{ first name }}", {"A", "b"}, Escape::html, columns), "A/b");
}

TEST(TemplateRender, DuplicateColumnUsesTheFirst) {
  const std::vector<std::string> columns = {"x", "x"};
  EXPECT_EQ(render("{{x}}", {"first", "second"}, Escape::html, columns), "first");
}

TEST(TemplateRender, RealisticNewsletterFragment) {
  const std::vector<std::string> columns = {"email", "first_name", "coupon", "unsubscribe_url"};
  const std::string source =
      "<p>Hi {{first_name}},</p>\n"
      "{{#coupon}}<p>Your code: <strong>{{coupon}}</strong></p>\n{{/coupon}}"
      "<a href=\"{{unsubscribe_url}}\">Unsubscribe</a>\n";
  EXPECT_EQ(render(source,
                   {"a@example.com", "Zoë \"Z\"", "SAVE10",
                    "https://example.com/u?e=a%40example.com&t=abc"},
                   Escape::html, columns),
            "<p>Hi Zoë &quot;Z&quot;,</p>\n"
            "<p>Your code: <strong>SAVE10</strong></p>\n"
            "<a href=\"https://example.com/u?e=a%40example.com&amp;t=abc\">Unsubscribe</a>\n");
}

// Escape::url (List-Unsubscribe URLs): {{field}} keeps only unreserved characters;
// {{{field}}} keeps reserved characters and valid "%XX" too; no field can add a byte outside
// the URI character set (RFC 3986 2), so a rendering cannot break out of "<...>" in a header.
TEST(TemplateRender, UrlEscapesFields) {
  const std::vector<std::string_view> row = {"ann+news@example.com", "Ann Lee", "Kyoto/Fushimi"};
  EXPECT_EQ(
      render("https://example.com/u?e={{email}}&n={{first_name}}&c={{city}}", row, Escape::url),
      "https://example.com/u?e=ann%2Bnews%40example.com&n=Ann%20Lee&c=Kyoto%2FFushimi");
  // Unreserved characters pass; every other printable ASCII character is encoded.
  const std::vector<std::string_view> ascii = {"", "AZaz09-._~", " !\"#$%&'()*+,/:;<=>?@[\\]^`{|}"};
  EXPECT_EQ(render("{{first_name}}|{{city}}", ascii, Escape::url),
            "AZaz09-._~|%20%21%22%23%24%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D"
            "%5E%60%7B%7C%7D");
  // Raw: reserved characters stay, what a URI never holds is encoded.
  EXPECT_EQ(render("{{{first_name}}}|{{{city}}}", ascii, Escape::url),
            "AZaz09-._~|%20!%22#$%25&'()*+,/:;%3C=%3E?@[%5C]%5E%60%7B%7C%7D");
  // UTF-8, controls, DEL and NUL are encoded byte by byte, upper-case hex (RFC 3986 2.1).
  const std::vector<std::string_view> bytes = {"", "\xe5\xb1\xb1\xe7\x94\xb0",
                                               std::string_view("\t\r\n\x7f\0\xff", 6)};
  EXPECT_EQ(render("{{first_name}}{{{first_name}}}", bytes, Escape::url),
            "%E5%B1%B1%E7%94%B0%E5%B1%B1%E7%94%B0");
  EXPECT_EQ(render("{{city}}|{{{city}}}", bytes, Escape::url),
            "%09%0D%0A%7F%00%FF|%09%0D%0A%7F%00%FF");
  // A raw '%' survives only as the start of a whole "%XX" triplet.
  const std::vector<std::string_view> percents = {"", "a%41b%4", "%zz%a%%2f%"};
  EXPECT_EQ(render("{{{first_name}}}|{{{city}}}", percents, Escape::url),
            "a%41b%254|%25zz%25a%25%2f%25");
  EXPECT_EQ(render("{{first_name}}", percents, Escape::url), "a%2541b%254");
  // {{&field}} is raw too; literals are copied as they are; sections work as elsewhere.
  const std::vector<std::string_view> mixed = {"", "a b", ""};
  EXPECT_EQ(render("<lit {{&first_name}}>{{#city}}x{{/city}}{{^city}}?empty{{/city}}", mixed,
                   Escape::url),
            "<lit a%20b>?empty");
}

TEST(TemplateRender, UrlEscapingNeverLeavesTheUriCharacterSet) {
  std::string every_byte;
  for (int c = 0; c < 256; ++c) every_byte.push_back(static_cast<char>(c));
  every_byte += "%4";  // a truncated triplet at the end
  const std::vector<std::string_view> row = {"", every_byte, every_byte};
  const std::string uri_characters =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%";
  for (std::string_view source : {"{{first_name}}", "{{{city}}}"}) {
    const std::string out = render(source, row, Escape::url);
    EXPECT_EQ(out.find_first_not_of(uri_characters), std::string::npos) << source;
    for (std::size_t i = out.find('%'); i != std::string::npos; i = out.find('%', i + 1)) {
      ASSERT_LT(i + 2, out.size()) << source;
      const std::string_view hex = "0123456789ABCDEFabcdef";
      EXPECT_NE(hex.find(out[i + 1]), std::string_view::npos) << source << " at " << i;
      EXPECT_NE(hex.find(out[i + 2]), std::string_view::npos) << source << " at " << i;
    }
  }
  // {{field}}: the 66 unreserved bytes and the '4' pass, the other 190 and the '%' become
  // triplets.
  EXPECT_EQ(render("{{first_name}}", row, Escape::url).size(), 67u + 3 * 191u);
}

TEST(TemplateFieldsUsed, SortedUniqueIncludingSections) {
  const std::vector<std::string> columns = {"a", "b", "c", "d", "e"};
  absl::StatusOr<Template> compiled = Template::compile(
      "{{e}}{{#c}}{{a}}{{/c}}{{e}}{{^a}}x{{/a}}{{! b }}", "s", columns, Escape::html);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(compiled->fields_used(), (std::vector<std::uint32_t>{0, 2, 4}));
}

TEST(TemplateErrors, UnknownFieldSuggestsNearest) {
  EXPECT_EQ(compile_error("a\nb\n{{frist_name}}"),
            "body.html:3: unknown field 'frist_name' (columns: email, first_name, city); "
            "did you mean 'first_name'?");
  EXPECT_EQ(compile_error("{{emial}}"),
            "body.html:1: unknown field 'emial' (columns: email, first_name, city); "
            "did you mean 'email'?");
  EXPECT_EQ(compile_error("{{First_Name}}"),
            "body.html:1: unknown field 'First_Name' (columns: email, first_name, city); "
            "did you mean 'first_name'?");
  EXPECT_EQ(compile_error("{{ citi }}"),
            "body.html:1: unknown field 'citi' (columns: email, first_name, city); "
            "did you mean 'city'?");
}

TEST(TemplateErrors, UnknownFieldWithoutCloseMatch) {
  EXPECT_EQ(compile_error("{{phone_number}}"),
            "body.html:1: unknown field 'phone_number' (columns: email, first_name, city)");
  EXPECT_EQ(compile_error("{{x}}"),
            "body.html:1: unknown field 'x' (columns: email, first_name, city)");
}

TEST(TemplateErrors, UnknownFieldInSectionsAndRawTags) {
  EXPECT_EQ(compile_error("\n{{#cty}}x{{/cty}}"),
            "body.html:2: unknown field 'cty' (columns: email, first_name, city); "
            "did you mean 'city'?");
  EXPECT_EQ(compile_error("{{^ nope }}x{{/nope}}"),
            "body.html:1: unknown field 'nope' (columns: email, first_name, city)");
  EXPECT_EQ(compile_error("{{{emails}}}"),
            "body.html:1: unknown field 'emails' (columns: email, first_name, city); "
            "did you mean 'email'?");
  EXPECT_EQ(compile_error("{{&mail}}"),
            "body.html:1: unknown field 'mail' (columns: email, first_name, city); "
            "did you mean 'email'?");
}

TEST(TemplateErrors, UnknownJapaneseFieldSuggestsByCharacters) {
  const std::vector<std::string> columns = {"メール", "お名前", "住所"};
  EXPECT_EQ(compile_error("{{名前}}", 1, columns),
            "body.html:1: unknown field '名前' (columns: メール, お名前, 住所); "
            "did you mean 'お名前'?");
}

TEST(TemplateErrors, UnknownFieldWithNoColumns) {
  EXPECT_EQ(compile_error("{{email}}", 1, {}),
            "body.html:1: unknown field 'email' (the CSV header has no columns)");
}

TEST(TemplateErrors, UnknownFieldListsAtMost32Columns) {
  std::vector<std::string> columns;
  for (int i = 0; i < 40; ++i) columns.push_back("c" + std::to_string(i));
  const std::string message = compile_error("{{zzzzzz}}", 1, columns);
  EXPECT_TRUE(message.ends_with(", c30, c31, ... (8 more))")) << message;
}

TEST(TemplateErrors, LongOrControlCharacterNamesAreQuotedSafely) {
  EXPECT_EQ(compile_error("{{first\nname}}"),
            "body.html:1: unknown field 'first\\nname' (columns: email, first_name, city); "
            "did you mean 'first_name'?");
  EXPECT_EQ(compile_error("{{" + std::string(100, 'a') + "}}"),
            "body.html:1: unknown field '" + std::string(40, 'a') +
                "...' (columns: email, first_name, city)");
  // Cut at a character boundary: 13 three-byte characters fit in 40 bytes, not 14.
  std::string japanese;
  for (int i = 0; i < 20; ++i) japanese += "あ";
  std::string expected_quote;
  for (int i = 0; i < 13; ++i) expected_quote += "あ";
  EXPECT_EQ(compile_error("{{" + japanese + "}}"), "body.html:1: unknown field '" + expected_quote +
                                                       "...' (columns: email, first_name, city)");
}

TEST(TemplateErrors, UnclosedTag) {
  EXPECT_EQ(compile_error("Hello\n{{first_name"),
            "body.html:2: unclosed tag '{{first_name': expected '}}'");
  EXPECT_EQ(compile_error("Hello {{first_name\nand more text"),
            "body.html:1: unclosed tag '{{first_name': expected '}}'");
  EXPECT_EQ(compile_error("{{"), "body.html:1: unclosed tag '{{': expected '}}'");
  EXPECT_EQ(compile_error("x {{{"), "body.html:1: unclosed tag '{{{': expected '}}}'");
}

TEST(TemplateErrors, UnclosedTagBeforeTheNextTag) {
  // Without this check the "}}" of {{city}} would close the first tag and the error would be an
  // unknown field named after half the text.
  EXPECT_EQ(compile_error("Hi {{first_name,\nyou live in\n{{city}}."),
            "body.html:1: unclosed tag '{{first_name,': expected '}}' before the next '{{' on "
            "line 3");
  EXPECT_EQ(compile_error("{{a{{city}}"),
            "body.html:1: unclosed tag '{{a': expected '}}' before the next '{{' on line 1");
  EXPECT_EQ(compile_error("{{! note {{city}} }}"),
            "body.html:1: unclosed tag '{{! note ': expected '}}' before the next '{{' on "
            "line 1");
}

TEST(TemplateErrors, MalformedTripleBrace) {
  EXPECT_EQ(compile_error("a {{{first_name}} b"),
            "body.html:1: unclosed tag '{{{first_name}}': a tag opened with '{{{' ends with "
            "'}}}'");
  EXPECT_EQ(compile_error("{{{x}}"),
            "body.html:1: unclosed tag '{{{x}}': a tag opened with '{{{' ends with '}}}'");
}

TEST(TemplateErrors, EmptyTag) {
  EXPECT_EQ(compile_error("{{}}"), "body.html:1: empty tag '{{}}'");
  EXPECT_EQ(compile_error("\n\n{{  }}"), "body.html:3: empty tag '{{  }}'");
  EXPECT_EQ(compile_error("{{{ }}}"), "body.html:1: empty tag '{{{ }}}'");
  EXPECT_EQ(compile_error("{{#}}x{{/}}"), "body.html:1: empty tag '{{#}}'");
  EXPECT_EQ(compile_error("{{#city}}x{{/ }}"), "body.html:1: empty tag '{{/ }}'");
  EXPECT_EQ(compile_error("{{&}}"), "body.html:1: empty tag '{{&}}'");
  EXPECT_EQ(compile_error("{{\n}}"), "body.html:1: empty tag '{{\\n}}'");
}

TEST(TemplateErrors, CloseWithoutOpen) {
  EXPECT_EQ(compile_error("text\n{{/city}}"), "body.html:2: '{{/city}}' without an open section");
  EXPECT_EQ(compile_error("{{#city}}a{{/city}}{{/city}}"),
            "body.html:1: '{{/city}}' without an open section");
}

TEST(TemplateErrors, MismatchedSection) {
  EXPECT_EQ(compile_error("{{#city}}\n{{#email}}\n{{/city}}\n{{/email}}"),
            "body.html:3: '{{/city}}' does not match the open section '{{#email}}' from line 2");
  EXPECT_EQ(compile_error("{{^city}}{{/ first_name }}"),
            "body.html:1: '{{/ first_name }}' does not match the open section '{{^city}}' from "
            "line 1");
  // Matching is exact: case matters.
  EXPECT_EQ(compile_error("{{#city}}{{/City}}"),
            "body.html:1: '{{/City}}' does not match the open section '{{#city}}' from line 1");
}

TEST(TemplateErrors, UnclosedSectionReportsWhereItOpened) {
  EXPECT_EQ(compile_error("a\n{{#city}}\nb\n{{first_name}}\n"),
            "body.html:2: unclosed section '{{#city}}': expected '{{/city}}'");
  EXPECT_EQ(compile_error("{{#email}}{{^city}}x{{/city}}\n"),
            "body.html:1: unclosed section '{{#email}}': expected '{{/email}}'");
  // The innermost open section is reported.
  EXPECT_EQ(compile_error("{{#email}}\n{{^city}}\n"),
            "body.html:2: unclosed section '{{^city}}': expected '{{/city}}'");
}

TEST(TemplateErrors, PartialsAndDelimitersAreNotSupported) {
  EXPECT_EQ(compile_error("\n{{> footer}}"),
            "body.html:2: partials are not supported: '{{> footer}}'");
  EXPECT_EQ(compile_error("{{=<% %>=}}"),
            "body.html:1: changing delimiters is not supported: '{{=<% %>=}}'");
}

TEST(TemplateErrors, FirstLineOffsetsEveryLine) {
  // A subject in job.toml at line 12: errors point into the job file.
  EXPECT_EQ(compile_error("Hi {{frist_name}}", 12, kColumns, "job.toml [campaign] subject"),
            "job.toml [campaign] subject:12: unknown field 'frist_name' (columns: email, "
            "first_name, city); did you mean 'first_name'?");
  EXPECT_EQ(compile_error("a\nb\n{{#city}}", 40),
            "body.html:42: unclosed section '{{#city}}': expected '{{/city}}'");
  EXPECT_EQ(compile_error("a\n{{x\n\n{{city}}", 7),
            "body.html:8: unclosed tag '{{x': expected '}}' before the next '{{' on line 10");
  EXPECT_EQ(
      compile_error("{{#city}}\n\n{{/email}}", 100),
      "body.html:102: '{{/email}}' does not match the open section '{{#city}}' from line 100");
}

TEST(TemplateErrors, LineCountsNewlinesInsideEarlierTagsAndComments) {
  EXPECT_EQ(compile_error("{{!\none\ntwo\n}}\n{{\ncity\n}}\n{{bad}}"),
            "body.html:8: unknown field 'bad' (columns: email, first_name, city)");
  EXPECT_EQ(compile_error("\r\n\r\n{{bad}}"),
            "body.html:3: unknown field 'bad' (columns: email, first_name, city)");
}

TEST(TemplateErrors, SourceOverTheLimit) {
  const std::string big(limits::template_bytes_max + 1, 'x');
  EXPECT_EQ(compile_error(big, 5),
            "body.html:5: template is 16777217 bytes; the limit is 16777216 bytes");
  const std::string at_limit(limits::template_bytes_max, 'x');
  absl::StatusOr<Template> compiled = Template::compile(at_limit, "s", kColumns, Escape::html);
  ASSERT_TRUE(compiled.ok());
  std::string out;
  compiled->render(kRow, out);
  EXPECT_EQ(out.size(), limits::template_bytes_max);
}

TEST(TemplateErrors, FirstErrorWins) {
  EXPECT_EQ(compile_error("{{nope}}\n{{"),
            "body.html:1: unknown field 'nope' (columns: email, first_name, city)");
}

TEST(TemplateHostile, ManyTagsAndDeepNesting) {
  std::string source;
  const int depth = 10'000;
  for (int i = 0; i < depth; ++i) source += "{{#city}}(";
  source += "{{city}}";
  for (int i = 0; i < depth; ++i) source += "){{/city}}";
  absl::StatusOr<Template> compiled = Template::compile(source, "s", kColumns, Escape::html);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  std::string out;
  compiled->render(kRow, out);
  EXPECT_EQ(out, std::string(depth, '(') + "Kyoto" + std::string(depth, ')'));
  out.clear();
  compiled->render(std::vector<std::string_view>{"", "", ""}, out);
  EXPECT_EQ(out, "");
}

TEST(TemplateHostile, BracesEverywhere) {
  EXPECT_EQ(compile_error("{{{{city}}}}"),
            "body.html:1: unknown field '{city' (columns: email, first_name, city); "
            "did you mean 'city'?");
  EXPECT_EQ(compile_error("{{}}}"), "body.html:1: empty tag '{{}}'");
  EXPECT_EQ(render("}}}}{}{}", kRow), "}}}}{}{}");
}

}  // namespace
}  // namespace hayate::campaign
