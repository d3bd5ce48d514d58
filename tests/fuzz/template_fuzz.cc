// libFuzzer target for campaign/template: compiles arbitrary source against a fixed header and,
// when it compiles, renders it with arbitrary field values, checking properties that hold for
// every template. Build with clang: scripts/build.sh -DHAYATE_FUZZ=ON (target template_fuzzer);
// CI replays the seed corpus (ctest fuzz_replay.template).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/message/template.h"

namespace {

using hayate::campaign::Escape;
using hayate::campaign::Template;

const std::vector<std::string> kColumns = {"email", "first_name",  "city",
                                           "名前",  "coupon code", "x"};

bool has_html_special(std::string_view text) {
  return text.find_first_of("&<>\"'") != std::string_view::npos;
}

}  // namespace

// Input: the source, then '\0'-separated field values (missing ones empty, extra ones ignored).

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t source_end = input.find('\0');
  const std::string_view source = input.substr(0, source_end);

  std::vector<std::string_view> fields(kColumns.size());
  if (source_end != std::string_view::npos) {
    std::string_view rest = input.substr(source_end + 1);
    for (std::size_t i = 0; i < fields.size() && !rest.empty(); ++i) {
      const std::size_t separator = rest.find('\0');
      fields[i] = rest.substr(0, separator);
      rest = separator == std::string_view::npos ? std::string_view() : rest.substr(separator + 1);
    }
  }

  const auto html = Template::compile(source, "fuzz.html", kColumns, Escape::html, 7);
  const auto plain = Template::compile(source, "fuzz.html", kColumns, Escape::none, 7);
  // Whether a source compiles does not depend on the escaping, nor does the error.
  if (html.ok() != plain.ok()) __builtin_trap();
  if (!html.ok()) {
    if (html.status().message() != plain.status().message()) __builtin_trap();
    if (html.status().message().substr(0, 10) != "fuzz.html:") __builtin_trap();
    return 0;
  }

  for (const std::uint32_t column : html->fields_used()) {
    if (column >= kColumns.size()) __builtin_trap();
  }

  std::string out_html = "prefix";
  html->render(fields, out_html);
  if (out_html.substr(0, 6) != "prefix") __builtin_trap();  // appends, never overwrites
  std::string out_plain;
  plain->render(fields, out_plain);
  // Escaping only ever lengthens; without a special character in any value it changes nothing.
  if (out_html.size() - 6 < out_plain.size()) __builtin_trap();
  bool any_special = false;
  for (const std::string_view field : fields) any_special = any_special || has_html_special(field);
  if (!any_special && std::string_view(out_html).substr(6) != out_plain) __builtin_trap();

  // With every field empty, the output is made of literals only: never longer than the source.
  const std::vector<std::string_view> empty_fields(kColumns.size());
  std::string out_empty;
  plain->render(empty_fields, out_empty);
  if (out_empty.size() > source.size()) __builtin_trap();
  return 0;
}
