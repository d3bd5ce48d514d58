// Benchmarks for campaign/template: rendering a realistic HTML newsletter body per recipient
// into a reused buffer (the hot path of message assembly), plus escaping-heavy values and
// compiling, for scale.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "campaign/message/template.h"

namespace hayate::campaign {
namespace {

const std::vector<std::string> kColumns = {"email", "first_name", "last_name",
                                           "city",  "coupon",     "unsubscribe_url"};

// About 2 KB: a table-layout newsletter as mail builders emit it, six fields, one section.
constexpr std::string_view kNewsletter = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Spring news from Example Outfitters</title>
<style>body{margin:0;padding:0;background:#f4f4f4;font-family:Helvetica,Arial,sans-serif}
.wrap{max-width:600px;margin:0 auto;background:#ffffff}.btn{background:#0a7d4f;color:#fff}</style>
</head>
<body>
<table role="presentation" class="wrap" width="100%" cellpadding="0" cellspacing="0">
<tr><td style="padding:24px 32px;font-size:22px;font-weight:bold;color:#0a7d4f">
Example Outfitters</td></tr>
<tr><td style="padding:0 32px 16px 32px;font-size:16px;line-height:24px;color:#333333">
<p>Hi {{first_name}} {{last_name}},</p>
<p>Spring is here, and so is our new collection of trail shoes, rain shells and light packs.
Everything was tested on the ridges above {{city}} this winter, so you can trust it when the
weather turns. Our stores are open late on Fridays through the end of May.</p>
{{#coupon}}<table role="presentation" width="100%" cellpadding="0" cellspacing="0">
<tr><td style="padding:16px;border:2px dashed #0a7d4f;text-align:center;font-size:18px">
Your personal code <strong>{{coupon}}</strong> takes 15% off your next order.</td></tr>
</table>
{{/coupon}}<p>See what is new this week, read the trail reports from our staff, and find the
events near you: guided walks, repair workshops and the spring swap meet.</p>
<p style="text-align:center"><a class="btn"
href="https://shop.example.com/spring?utm_source=news&amp;utm_medium=email"
style="display:inline-block;padding:12px 24px;border-radius:4px;text-decoration:none">
Shop the collection</a></p>
</td></tr>
<tr><td style="padding:16px 32px;font-size:12px;line-height:18px;color:#888888">
You receive this message because {{email}} subscribed to news from Example Outfitters,
12 Harbour Road, Portsmouth. <a href="{{{unsubscribe_url}}}">Unsubscribe</a> at any time
with one click; we will not write again.</td></tr>
</table>
</body>
</html>
)";

Template compile_or_die(std::string_view source) {
  absl::StatusOr<Template> compiled =
      Template::compile(source, "newsletter.html", kColumns, Escape::html);
  if (!compiled.ok()) std::abort();
  return *std::move(compiled);
}

void BM_TemplateRender(benchmark::State& state) {
  const Template newsletter = compile_or_die(kNewsletter);
  const std::vector<std::string_view> fields = {
      "margaret.oconnor@example.org",
      "Margaret",
      "O'Connor",
      "Innsbruck",
      "SPRING-7Q4K",
      "https://example.com/u/7f3a9c2e1b?list=news&sig=Zm9vYmFy"};
  std::string out;
  std::int64_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    newsletter.render(fields, out);
    benchmark::DoNotOptimize(out.data());
    bytes += static_cast<std::int64_t>(out.size());
  }
  state.SetBytesProcessed(bytes);
  state.counters["output_bytes"] = static_cast<double>(out.size());
  state.counters["template_bytes"] = static_cast<double>(kNewsletter.size());
}
BENCHMARK(BM_TemplateRender);

// The section skipped (no coupon): one jump instead of three pieces.
void BM_TemplateRenderSectionSkipped(benchmark::State& state) {
  const Template newsletter = compile_or_die(kNewsletter);
  const std::vector<std::string_view> fields = {"ann@example.com",        "Ann", "Lee", "Oslo", "",
                                                "https://example.com/u/1"};
  std::string out;
  std::int64_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    newsletter.render(fields, out);
    benchmark::DoNotOptimize(out.data());
    bytes += static_cast<std::int64_t>(out.size());
  }
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_TemplateRenderSectionSkipped);

// Escaping throughput on a long value full of specials, argument = value bytes.
void BM_TemplateEscapeHeavyValue(benchmark::State& state) {
  const Template tag = compile_or_die("<p>{{first_name}}</p>");
  std::string value;
  while (value.size() < static_cast<std::size_t>(state.range(0))) {
    value += "Tom & Jerry's <b>\"great\"</b> chase; ";
  }
  value.resize(static_cast<std::size_t>(state.range(0)));
  const std::vector<std::string_view> fields = {"", value, "", "", "", ""};
  std::string out;
  for (auto _ : state) {
    out.clear();
    tag.render(fields, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_TemplateEscapeHeavyValue)->Arg(64)->Arg(4096);

void BM_TemplateCompile(benchmark::State& state) {
  for (auto _ : state) {
    Template compiled = compile_or_die(kNewsletter);
    benchmark::DoNotOptimize(&compiled);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kNewsletter.size()));
}
BENCHMARK(BM_TemplateCompile);

}  // namespace
}  // namespace hayate::campaign
