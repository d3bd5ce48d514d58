// Micro benchmarks of message composition: one recipient's 2 KB text + html message from six
// fields with List-Unsubscribe (ASCII; Japanese, so the parts go base64; Japanese to a server
// with 8BITMIME, so they go 8bit), dot-stuffing for DATA, and VERP envelope senders.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/message/message.h"
#include "campaign/message/template.h"
#include "campaign/message/verp.h"

namespace {

using hayate::campaign::Escape;
using hayate::campaign::MessageComposer;
using hayate::campaign::MessageInputs;
using hayate::campaign::Template;

const std::vector<std::string> columns = {"email", "first_name", "last_name",
                                          "city",  "code",       "amount"};

Template compile(const std::string& source, Escape escape) {
  return *Template::compile(source, "benchmark", columns, escape);
}

// About 1 KB each, LF line endings as template files have; `japanese` adds non-ASCII text.
std::string text_source(bool japanese) {
  std::string source = "Dear {{first_name}} {{last_name}},\n\n";
  for (int i = 0; i < 12; ++i) {
    source += japanese ? "\xe6\x98\xa5\xe3\x81\xae\xe3\x82\xbb\xe3\x83\xbc\xe3\x83\xab\xe3\x81"
                         "\xae\xe3\x81\x8a\xe7\x9f\xa5\xe3\x82\x89\xe3\x81\x9b in {{city}}: "
                       : "Our spring sale comes to {{city}} this week: ";
    source += "up to 40% off with your code {{code}}.\n";
  }
  source += "Your balance: {{amount}} yen.\n\n-- \nExample News, 1-2-3 Example, Osaka\n";
  return source;
}

std::string html_source(bool japanese) {
  std::string source =
      "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif\">\n"
      "<p>Dear {{first_name}} {{last_name}},</p>\n";
  for (int i = 0; i < 8; ++i) {
    source += japanese ? "<p>\xe6\x98\xa5\xe3\x81\xae\xe3\x82\xbb\xe3\x83\xbc\xe3\x83\xab {{city}}"
                       : "<p>Our spring sale comes to {{city}}";
    source += " <a href=\"https://example.com/s?c={{code}}\">shop now</a></p>\n";
  }
  source += "<p>Balance: <b>{{amount}}</b></p></body></html>\n";
  return source;
}

void BM_ComposeMessage(benchmark::State& state) {
  const bool japanese = state.range(0) != 0;
  const bool eightbit_allowed = state.range(1) != 0;
  Template subject = compile(japanese ? "{{last_name}}\xe6\xa7\x98\xe3\x80\x81\xe6\x98\xa5\xe3"
                                        "\x81\xae\xe3\x82\xbb\xe3\x83\xbc\xe3\x83\xab"
                                      : "{{first_name}}, our spring sale in {{city}}",
                             Escape::none);
  Template text = compile(text_source(japanese), Escape::none);
  Template html = compile(html_source(japanese), Escape::html);
  Template unsubscribe_url = compile("https://example.com/u?c={{code}}&e={{email}}", Escape::url);
  Template unsubscribe_mailto = compile("unsubscribe+{{code}}@example.com", Escape::url);
  Template feedback_id = compile("{{code}}:spring-2026:newsletter:example", Escape::none);
  MessageInputs inputs;
  inputs.campaign_id = "spring-2026";
  inputs.from_header = "Example News <news@example.com>";
  inputs.from_domain = "example.com";
  inputs.subject = &subject;
  inputs.text = &text;
  inputs.html = &html;
  inputs.list_unsubscribe_url = &unsubscribe_url;
  inputs.list_unsubscribe_mailto = &unsubscribe_mailto;
  inputs.feedback_id = &feedback_id;
  MessageComposer composer(inputs);
  const std::vector<std::string_view> fields = {
      "hanako@example.jp", "Hanako", japanese ? "\xe5\xb1\xb1\xe7\x94\xb0" : "Yamada", "Osaka",
      "A-42-7781",         "1,200"};
  std::string message;
  std::uint64_t sequence = 0;
  for (auto _ : state) {
    message.clear();
    composer.compose(fields, fields[0], ++sequence, 1795446601, message, eightbit_allowed);
    benchmark::DoNotOptimize(message.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(message.size()));
  state.counters["message_bytes"] = static_cast<double>(message.size());
}
BENCHMARK(BM_ComposeMessage)
    ->ArgNames({"japanese", "8bitmime"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({1, 1});

// A composed message (CRLF, quoted-printable lines of 76) with a few lines opening with '.'.
void BM_DotStuff(benchmark::State& state) {
  std::string message;
  for (int i = 0; i < 40; ++i) {
    message += i % 10 == 0 ? ".starts with a dot" : "Caf=C3=A9 for Hanako: the line is about 76 ";
    message += "characters long, as quoted-printable lines are=\r\n";
  }
  std::string out;
  for (auto _ : state) {
    out.clear();
    hayate::campaign::append_dot_stuffed(message, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(message.size()));
}
BENCHMARK(BM_DotStuff);

hayate::campaign::VerpKey verp_key() {
  return *hayate::campaign::VerpKey::create("a benchmark secret of 32 bytes..", "bounces",
                                            "bounce.example.com");
}

constexpr std::string_view verp_recipient = "firstname.lastname@recipient.example.net";

// One envelope sender, as the shard builds it: the campaign's tag computed once.
void BM_VerpAddress(benchmark::State& state) {
  const hayate::campaign::VerpKey key = verp_key();
  const hayate::campaign::CampaignTag tag = hayate::campaign::campaign_tag("spring-2026");
  std::string address;
  std::uint64_t sequence = 1'000'000;
  for (auto _ : state) {
    address.clear();
    hayate::campaign::append_verp_address(key, tag, ++sequence, verp_recipient, address);
    benchmark::DoNotOptimize(address.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerpAddress);

// The convenience form: SHA-256 of the campaign id and a new string each time.
void BM_VerpAddressFromId(benchmark::State& state) {
  const hayate::campaign::VerpKey key = verp_key();
  std::uint64_t sequence = 1'000'000;
  for (auto _ : state) {
    std::string address =
        hayate::campaign::verp_address(key, "spring-2026", ++sequence, verp_recipient);
    benchmark::DoNotOptimize(address.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerpAddressFromId);

// A bounce processor reading an upper-cased address back and checking it against the row's
// recipient: the version 1 check, then the MAC over the address.
void BM_VerpDecode(benchmark::State& state) {
  const hayate::campaign::VerpKey key = verp_key();
  std::string address =
      hayate::campaign::verp_address(key, "spring-2026", 1'234'567, verp_recipient);
  for (char& c : address) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  hayate::campaign::VerpToken token;
  std::string error;
  for (auto _ : state) {
    const bool ok = hayate::campaign::verp_decode(key, address, token, error) ==
                        hayate::campaign::VerpDecodeResult::token &&
                    hayate::campaign::verp_verify(key, token, verp_recipient);
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerpDecode);

}  // namespace
