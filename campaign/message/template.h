// Mustache-like templates for subjects and bodies: {{field}} (HTML-escaped in an html
// template), {{{field}}} (raw), {{#field}}...{{/field}} (shown when the field is non-empty),
// {{^field}}...{{/field}} (shown when it is empty), {{! comment }} (dropped); {{&field}} is
// Mustache's other spelling of raw. Text outside tags is copied byte for byte (no standalone-
// line trimming). A url template (Escape::url, for List-Unsubscribe) percent-encodes what a field
// brings (RFC 3986 2.1), even in {{{field}}}: see Escape. Compiled once against the CSV header;
// rendering is a loop over precompiled pieces appending to a reused buffer.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hayate::campaign::inline message {

// How a field's value is written. `url` (RFC 3986): {{field}} percent-encodes every byte but the
// unreserved characters (ALPHA DIGIT - . _ ~, 2.3), as a query value or path segment needs;
// {{{field}}} keeps reserved characters too (: / ? # [ ] @ ! $ & ' ( ) * + , ; =, 2.2) and a '%'
// that opens a valid "%XX", so a column can hold a whole path or query, and encodes the rest
// (space, controls, " < > \ ^ ` { | }, non-ASCII bytes, a stray '%'). Either way no field can
// put a byte outside the URI character set into the rendering.
enum class Escape : std::uint8_t { none, html, url };

class Template {
 public:
  // `source_name` names the source in errors ("body.html", or "job.toml [campaign] subject").
  // `first_line` is the line of the source's first line in that file (1 for a file).
  // Errors say "source_name:line: what", e.g. an unknown field (naming the known columns),
  // an unclosed tag or section, a mismatched {{/x}}.
  static absl::StatusOr<Template> compile(std::string_view source, std::string_view source_name,
                                          const std::vector<std::string>& columns, Escape escape,
                                          std::uint32_t first_line = 1);

  // Appends the rendering to `out`. fields[i] is the value of columns[i] given to compile;
  // fields.size() must equal columns.size().
  void render(std::span<const std::string_view> fields, std::string& out) const;

  // Column indexes this template reads (sorted, unique), e.g. to check what a row needs.
  const std::vector<std::uint32_t>& fields_used() const { return fields_used_; }

  Template() = default;

 private:
  struct Piece {
    enum class Kind : std::uint8_t {
      literal,
      field,          // HTML-escaped
      field_raw,      // as is
      field_url,      // percent-encoded but unreserved characters
      field_url_raw,  // percent-encoded but URI characters
      section_open,
      inverted_open
    };
    Kind kind;
    std::uint32_t column_or_offset;  // literal: offset into literals_; else: column index
    std::uint32_t length_or_skip;    // literal: length; sections: index of the piece after end
  };
  std::string literals_;
  std::vector<Piece> pieces_;
  std::vector<std::uint32_t> fields_used_;
  Escape escape_ = Escape::none;
  std::uint32_t column_count_ = 0;
};

}  // namespace hayate::campaign::message
