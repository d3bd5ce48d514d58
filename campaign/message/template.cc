// Template compiler and renderer: compile() parses the Mustache-like source once into a flat
// list of pieces (literal runs, field inserts, section jumps); render() walks that list and
// appends to the caller's buffer, so rendering a row allocates nothing beyond buffer growth.
#include "campaign/message/template.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "campaign/limits.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign::inline message {
namespace {

// Error messages quote user text: keep a quote short and on one line.
constexpr std::size_t quote_bytes_max = 40;
// Columns listed in an unknown-field error before "... (N more)".
constexpr std::size_t columns_listed_max = 32;
// Longer names are not typos: no "did you mean" for them (and the distance stays cheap).
constexpr std::size_t suggestion_code_points_max = 256;

// HTML escaping: the five characters that can open a tag, an entity or end an attribute value
// (quoted either way). &#39; rather than &apos;, which HTML 4 lacks.
constexpr std::array<std::string_view, 256> make_html_replacements() {
  std::array<std::string_view, 256> replacements{};
  replacements['&'] = "&amp;";
  replacements['<'] = "&lt;";
  replacements['>'] = "&gt;";
  replacements['"'] = "&quot;";
  replacements['\''] = "&#39;";
  return replacements;
}
constexpr std::array<std::string_view, 256> html_replacements = make_html_replacements();

// Each byte's output padded to 8 bytes, so the copy loop writes a fixed 8-byte word and moves
// by the real length: no branch per character, which matters when specials are dense.
struct HtmlOutputs {
  std::array<std::array<char, 8>, 256> bytes{};
  std::array<std::uint8_t, 256> lengths{};
};
constexpr HtmlOutputs make_html_outputs() {
  HtmlOutputs outputs;
  for (std::size_t c = 0; c < 256; ++c) {
    if (html_replacements[c].empty()) {
      outputs.bytes[c][0] = static_cast<char>(c);
      outputs.lengths[c] = 1;
    } else {
      for (std::size_t k = 0; k < html_replacements[c].size(); ++k) {
        outputs.bytes[c][k] = html_replacements[c][k];
      }
      outputs.lengths[c] = static_cast<std::uint8_t>(html_replacements[c].size());
    }
  }
  return outputs;
}
constexpr HtmlOutputs html_outputs = make_html_outputs();
constexpr std::size_t html_output_word_bytes = 8;

// Two passes: a branch-free count of the growth, then (only when something needs escaping) one
// resize and a fixed-width copy loop straight into the buffer. Most values (names, cities,
// codes) contain nothing to escape and become one append.
void append_html_escaped(std::string_view value, std::string& out) {
  std::size_t escaped_bytes = 0;
  for (const char c : value) escaped_bytes += html_outputs.lengths[static_cast<unsigned char>(c)];
  if (escaped_bytes == value.size()) {
    out.append(value);
    return;
  }
  const std::size_t old_size = out.size();
  // Room for the last 8-byte write; trimmed after.
  out.resize(old_size + escaped_bytes + html_output_word_bytes);
  char* destination = out.data() + old_size;
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    std::memcpy(destination, html_outputs.bytes[byte].data(), html_output_word_bytes);
    destination += html_outputs.lengths[byte];
  }
  HAYATE_ASSERT(destination == out.data() + old_size + escaped_bytes);
  out.resize(old_size + escaped_bytes);
}

// URL escaping (Escape::url). The class of each byte: `unreserved` passes in every field,
// `reserved` only in a raw one, `percent` only in a raw one and before two hex digits; the rest
// is always encoded (RFC 3986 2.1, upper-case hex digits as 2.1 advises).
enum class UrlClass : std::uint8_t { encoded, unreserved, reserved, percent };
constexpr std::array<UrlClass, 256> make_url_classes() {
  std::array<UrlClass, 256> classes{};
  for (int c = 'A'; c <= 'Z'; ++c) classes[c] = UrlClass::unreserved;
  for (int c = 'a'; c <= 'z'; ++c) classes[c] = UrlClass::unreserved;
  for (int c = '0'; c <= '9'; ++c) classes[c] = UrlClass::unreserved;
  for (char c : std::string_view("-._~")) {
    classes[static_cast<unsigned char>(c)] = UrlClass::unreserved;
  }
  for (char c : std::string_view(":/?#[]@!$&'()*+,;=")) {
    classes[static_cast<unsigned char>(c)] = UrlClass::reserved;
  }
  classes['%'] = UrlClass::percent;
  return classes;
}
constexpr std::array<UrlClass, 256> url_classes = make_url_classes();

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

// Appends `value` percent-encoded; `raw` keeps reserved characters and valid "%XX" triplets.
// Runs of bytes that pass are appended at once: most values (codes, ids) pass whole.
void append_url_escaped(std::string_view value, bool raw, std::string& out) {
  constexpr char hex[] = "0123456789ABCDEF";
  std::size_t run_start = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto byte = static_cast<unsigned char>(value[i]);
    const UrlClass url_class = url_classes[byte];
    const bool passes = url_class == UrlClass::unreserved ||
                        (raw && (url_class == UrlClass::reserved ||
                                 (url_class == UrlClass::percent && i + 2 < value.size() &&
                                  is_hex_digit(value[i + 1]) && is_hex_digit(value[i + 2]))));
    if (passes) continue;
    out.append(value.data() + run_start, i - run_start);
    const char escaped[3] = {'%', hex[byte >> 4], hex[byte & 0xF]};
    out.append(escaped, 3);
    run_start = i + 1;
  }
  out.append(value.data() + run_start, value.size() - run_start);
}

using hayate::append;
using hayate::cat;

// User text for an error message: control characters made visible, cut at `quote_bytes_max`
// on a UTF-8 character boundary so Japanese names are not split into invalid bytes.
std::string quote(std::string_view text) {
  bool cut = false;
  if (text.size() > quote_bytes_max) {
    std::size_t size = quote_bytes_max;
    while (size > 0 && (static_cast<unsigned char>(text[size]) & 0xC0) == 0x80) --size;
    text = text.substr(0, size);
    cut = true;
  }
  std::string quoted;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      quoted += "\\n";
    } else if (c == '\r') {
      quoted += "\\r";
    } else if (c == '\t') {
      quoted += "\\t";
    } else if (byte < 0x20 || byte == 0x7F) {
      constexpr char hex[] = "0123456789abcdef";
      quoted += "\\x";
      quoted += hex[byte >> 4];
      quoted += hex[byte & 0xF];
    } else {
      quoted += c;
    }
  }
  if (cut) quoted += "...";
  return quoted;
}

// Code points for the edit distance, so that a typo in a Japanese name counts as one edit and
// not three. A byte that does not start a valid sequence stands for itself (offset past
// Unicode so it never equals a real code point).
std::vector<std::uint32_t> code_points(std::string_view text) {
  std::vector<std::uint32_t> points;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;  // 0: not the lead byte of a sequence
    std::uint32_t point = 0;
    if (lead < 0x80) {
      length = 1, point = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2, point = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, point = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, point = lead & 0x07;
    }
    for (std::size_t k = 1; k < length; ++k) {
      if (i + k >= text.size() || (static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) {
        length = 0;
        break;
      }
      point = (point << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    }
    if (length == 0) {
      points.push_back(0x110000u + lead);
      i += 1;
    } else {
      points.push_back(point);
      i += length;
    }
  }
  return points;
}

// Optimal string alignment distance: insertions, deletions, substitutions and adjacent
// transpositions ("frist" -> "first" is one edit), the typos people make in field names.
std::size_t edit_distance(const std::vector<std::uint32_t>& a,
                          const std::vector<std::uint32_t>& b) {
  std::vector<std::size_t> before_previous(b.size() + 1), previous(b.size() + 1),
      current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        current[j] = std::min(current[j], before_previous[j - 2] + 1);
      }
    }
    std::swap(before_previous, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

// The column a mistyped name most likely meant, or nullptr. A column equal but for case wins;
// otherwise the nearest within a third of the name's length (at least 1, at most 3 edits).
const std::string* nearest_column(std::string_view name, const std::vector<std::string>& columns) {
  for (const std::string& column : columns) {
    if (hayate::equals_ignoring_case(column, name)) return &column;
  }
  const std::vector<std::uint32_t> name_points = code_points(name);
  if (name_points.empty() || name_points.size() > suggestion_code_points_max) return nullptr;
  const std::size_t distance_max = std::clamp<std::size_t>(name_points.size() / 3, 1, 3);
  const std::string* best = nullptr;
  std::size_t best_distance = distance_max + 1;
  for (const std::string& column : columns) {
    if (column.size() > suggestion_code_points_max * 4) continue;
    const std::vector<std::uint32_t> column_points = code_points(column);
    const std::size_t length_difference = column_points.size() > name_points.size()
                                              ? column_points.size() - name_points.size()
                                              : name_points.size() - column_points.size();
    if (length_difference >= best_distance) continue;  // the distance is at least this
    const std::size_t distance = edit_distance(name_points, column_points);
    if (distance < best_distance) {
      best_distance = distance;
      best = &column;
    }
  }
  return best;
}

std::string describe_columns(const std::vector<std::string>& columns) {
  if (columns.empty()) return "the CSV header has no columns";
  std::string text = "columns: ";
  const std::size_t listed = std::min(columns.size(), columns_listed_max);
  for (std::size_t i = 0; i < listed; ++i) {
    if (i > 0) text += ", ";
    text += quote(columns[i]);
  }
  if (columns.size() > listed) text += cat(", ... (", columns.size() - listed, " more)");
  return text;
}

// One pass over the source; the state of a compile in progress.
class Compiler {
 public:
  Compiler(std::string_view source, std::string_view source_name,
           const std::vector<std::string>& columns, std::uint32_t first_line)
      : source_(source), source_name_(source_name), columns_(columns), line_(first_line) {
    column_indexes_.reserve(columns.size());
    for (std::size_t i = 0; i < columns.size(); ++i) {
      column_indexes_.try_emplace(columns[i], static_cast<std::uint32_t>(i));  // first wins
    }
  }

  struct Output {
    std::vector<std::uint32_t> fields_used;
  };

  // Appends pieces through the callbacks of the caller (Template's private Piece type stays in
  // Template); returns the first error.
  template <typename Sink>
  absl::Status run(Sink& sink, Output& output);

 private:
  struct OpenSection {
    std::string_view name;
    char sigil;  // '#' or '^'
    std::uint64_t line;
    std::size_t piece_index;  // of the section_open / inverted_open piece
  };

  std::uint64_t line_at(std::size_t position) {
    HAYATE_ASSERT(position >= counted_position_ && position <= source_.size());
    line_ += static_cast<std::uint64_t>(
        std::count(source_.begin() + counted_position_, source_.begin() + position, '\n'));
    counted_position_ = position;
    return line_;
  }

  absl::Status error(std::uint64_t line, std::string_view what) const {
    return absl::InvalidArgumentError(cat(source_name_, ":", line, ": ", what));
  }

  std::string_view source_;
  std::string_view source_name_;
  const std::vector<std::string>& columns_;
  absl::flat_hash_map<std::string_view, std::uint32_t> column_indexes_;
  std::uint64_t line_;
  std::size_t counted_position_ = 0;
};

template <typename Sink>
absl::Status Compiler::run(Sink& sink, Output& output) {
  std::vector<OpenSection> open_sections;
  std::vector<bool> used(columns_.size(), false);

  auto lookup = [&](std::string_view name, std::uint64_t line,
                    std::uint32_t& column) -> absl::Status {
    const auto found = column_indexes_.find(name);
    if (found == column_indexes_.end()) {
      std::string what =
          cat("unknown field '", quote(name), "' (", describe_columns(columns_), ")");
      if (const std::string* nearest = nearest_column(name, columns_)) {
        what += cat("; did you mean '", quote(*nearest), "'?");
      }
      return error(line, what);
    }
    column = found->second;
    used[column] = true;
    return absl::OkStatus();
  };

  std::size_t position = 0;
  while (true) {
    const std::size_t open = source_.find("{{", position);
    sink.literal(source_.substr(
        position, open == std::string_view::npos ? std::string_view::npos : open - position));
    if (open == std::string_view::npos) break;

    const std::uint64_t line = line_at(open);
    const bool triple = open + 2 < source_.size() && source_[open + 2] == '{';
    const std::size_t content_begin = open + (triple ? 3 : 2);
    const std::size_t close = source_.find("}}", content_begin);
    const std::size_t next_open = source_.find("{{", content_begin);
    // A "}}" after the next "{{" belongs to that tag: this one was never closed. Saying so here
    // beats an "unknown field" naming half a paragraph.
    if (close == std::string_view::npos || next_open < close) {
      std::string_view start = source_.substr(open);
      start = start.substr(0, std::min(start.find('\n'), next_open - open));
      std::string what =
          cat("unclosed tag '", quote(start), "': expected '", triple ? "}}}" : "}}", "'");
      if (next_open != std::string_view::npos) {
        const std::uint64_t next_line =
            line + static_cast<std::uint64_t>(
                       std::count(source_.begin() + open, source_.begin() + next_open, '\n'));
        what += cat(" before the next '{{' on line ", next_line);
      }
      return error(line, what);
    }
    std::size_t end = close + 2;
    if (triple) {
      if (end >= source_.size() || source_[end] != '}') {
        return error(line, cat("unclosed tag '", quote(source_.substr(open, end - open)),
                               "': a tag opened with '{{{' ends with '}}}'"));
      }
      ++end;
    }
    position = end;
    const std::string_view tag = source_.substr(open, end - open);
    std::string_view content =
        trim(source_.substr(content_begin, close - content_begin), whitespace_characters);

    char sigil = triple ? '{' : '\0';
    if (!triple && !content.empty() &&
        (content[0] == '!' || content[0] == '#' || content[0] == '^' || content[0] == '/' ||
         content[0] == '&' || content[0] == '>' || content[0] == '=')) {
      sigil = content[0];
      content = trim(content.substr(1), whitespace_characters);
    }
    if (sigil == '!') continue;  // a comment: dropped, literals on both sides join
    if (sigil == '>') {
      return error(line, cat("partials are not supported: '", quote(tag), "'"));
    }
    if (sigil == '=') {
      return error(line, cat("changing delimiters is not supported: '", quote(tag), "'"));
    }
    if (content.empty()) return error(line, cat("empty tag '", quote(tag), "'"));

    if (sigil == '/') {
      if (open_sections.empty()) {
        return error(line, cat("'", quote(tag), "' without an open section"));
      }
      const OpenSection& section = open_sections.back();
      if (section.name != content) {
        return error(line, cat("'", quote(tag), "' does not match the open section '{{",
                               std::string_view(&section.sigil, 1), quote(section.name),
                               "}}' from line ", section.line));
      }
      sink.close_section(section.piece_index);
      open_sections.pop_back();
      continue;
    }

    std::uint32_t column = 0;
    if (absl::Status status = lookup(content, line, column); !status.ok()) return status;
    if (sigil == '#' || sigil == '^') {
      open_sections.push_back({content, sigil, line, sink.open_section(sigil == '^', column)});
    } else {
      sink.field(sigil == '{' || sigil == '&', column);
    }
  }

  if (!open_sections.empty()) {
    const OpenSection& section = open_sections.back();
    return error(section.line,
                 cat("unclosed section '{{", std::string_view(&section.sigil, 1),
                     quote(section.name), "}}': expected '{{/", quote(section.name), "}}'"));
  }
  for (std::size_t i = 0; i < used.size(); ++i) {
    if (used[i]) output.fields_used.push_back(static_cast<std::uint32_t>(i));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Template> Template::compile(std::string_view source, std::string_view source_name,
                                           const std::vector<std::string>& columns, Escape escape,
                                           std::uint32_t first_line) {
  HAYATE_ASSERT(columns.size() <= std::numeric_limits<std::uint32_t>::max());
  if (source.size() > limits::template_bytes_max) {
    return absl::InvalidArgumentError(cat(source_name, ":", first_line, ": template is ",
                                          source.size(), " bytes; the limit is ",
                                          limits::template_bytes_max, " bytes"));
  }

  Template result;
  result.escape_ = escape;
  result.column_count_ = static_cast<std::uint32_t>(columns.size());

  // Receives what the compiler finds and lays out the pieces. Literals separated only by a
  // comment join into one piece; a section boundary ends a run, since the jump targets it.
  struct Sink {
    Template& target;
    bool literal_run_open = false;

    void literal(std::string_view text) {
      if (text.empty()) return;
      if (literal_run_open) {
        target.pieces_.back().length_or_skip += static_cast<std::uint32_t>(text.size());
      } else {
        target.pieces_.push_back({Piece::Kind::literal,
                                  static_cast<std::uint32_t>(target.literals_.size()),
                                  static_cast<std::uint32_t>(text.size())});
        literal_run_open = true;
      }
      target.literals_.append(text);
    }
    void field(bool raw, std::uint32_t column) {
      Piece::Kind kind = raw ? Piece::Kind::field_raw : Piece::Kind::field;
      if (target.escape_ == Escape::none) kind = Piece::Kind::field_raw;
      if (target.escape_ == Escape::url) {
        kind = raw ? Piece::Kind::field_url_raw : Piece::Kind::field_url;
      }
      target.pieces_.push_back({kind, column, 0});
      literal_run_open = false;
    }
    std::size_t open_section(bool inverted, std::uint32_t column) {
      target.pieces_.push_back(
          {inverted ? Piece::Kind::inverted_open : Piece::Kind::section_open, column, 0});
      literal_run_open = false;
      return target.pieces_.size() - 1;
    }
    void close_section(std::size_t piece_index) {
      target.pieces_[piece_index].length_or_skip =
          static_cast<std::uint32_t>(target.pieces_.size());
      literal_run_open = false;
    }
  } sink{result};

  Compiler compiler(source, source_name, columns, first_line);
  Compiler::Output output;
  if (absl::Status status = compiler.run(sink, output); !status.ok()) return status;
  result.fields_used_ = std::move(output.fields_used);
  result.literals_.shrink_to_fit();
  result.pieces_.shrink_to_fit();

  HAYATE_ASSERT(result.literals_.size() <= source.size());
  for (std::size_t i = 0; i < result.pieces_.size(); ++i) {
    const Piece& piece = result.pieces_[i];
    if (piece.kind == Piece::Kind::literal) {
      HAYATE_ASSERT(piece.column_or_offset + piece.length_or_skip <= result.literals_.size());
      continue;
    }
    HAYATE_ASSERT(piece.column_or_offset < result.column_count_);
    if (piece.kind == Piece::Kind::section_open || piece.kind == Piece::Kind::inverted_open) {
      // render() relies on this: a jump moves forward and stays within the pieces.
      HAYATE_ASSERT(piece.length_or_skip > i && piece.length_or_skip <= result.pieces_.size());
    }
  }
  return result;
}

void Template::render(std::span<const std::string_view> fields, std::string& out) const {
  HAYATE_ASSERT(fields.size() == column_count_);
  const Piece* const pieces = pieces_.data();
  const std::size_t piece_count = pieces_.size();
  const char* const literals = literals_.data();
  std::size_t i = 0;
  while (i < piece_count) {
    const Piece& piece = pieces[i];
    switch (piece.kind) {
      case Piece::Kind::literal:
        out.append(literals + piece.column_or_offset, piece.length_or_skip);
        ++i;
        break;
      case Piece::Kind::field:
        append_html_escaped(fields[piece.column_or_offset], out);
        ++i;
        break;
      case Piece::Kind::field_raw:
        out.append(fields[piece.column_or_offset]);
        ++i;
        break;
      case Piece::Kind::field_url:
      case Piece::Kind::field_url_raw:
        append_url_escaped(fields[piece.column_or_offset], piece.kind == Piece::Kind::field_url_raw,
                           out);
        ++i;
        break;
      case Piece::Kind::section_open:
        i = fields[piece.column_or_offset].empty() ? piece.length_or_skip : i + 1;
        break;
      case Piece::Kind::inverted_open:
        i = fields[piece.column_or_offset].empty() ? i + 1 : piece.length_or_skip;
        break;
    }
  }
  // Jumps only go forward to a section's end, so the walk lands exactly on the end.
  HAYATE_ASSERT(i == piece_count);
}

}  // namespace hayate::campaign::message
