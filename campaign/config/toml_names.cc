// Type names and typo suggestions for TOML configuration errors.
#include "campaign/config/toml_names.h"

#include <algorithm>
#include <array>
#include <cstddef>

#include "engine/strings.h"

namespace hayate::campaign::inline config {

namespace {

// Optimal string alignment distance (Levenshtein plus adjacent transpositions), ASCII
// case-insensitive. Keys are short, so the quadratic table is fine.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  if (a.size() > 64 || b.size() > 64) return std::max(a.size(), b.size());
  std::array<std::array<std::size_t, 65>, 65> d{};
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const bool same = lower(a[i - 1]) == lower(b[j - 1]);
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (same ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string_view toml_type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::optional<std::string_view> nearest_known_name(std::string_view name,
                                                   std::span<const std::string_view> known) {
  std::optional<std::string_view> best;
  std::size_t best_distance = 3;
  for (std::string_view candidate : known) {
    const std::size_t distance = edit_distance(name, candidate);
    if (distance < best_distance && distance * 2 < std::max(name.size(), candidate.size())) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string escape_for_message(std::string_view text) {
  static constexpr std::size_t quoted_bytes_max = 200;
  static constexpr char hex_digits[] = "0123456789abcdef";
  std::string result;
  result.reserve(std::min(text.size(), quoted_bytes_max));
  for (char c : text.substr(0, quoted_bytes_max)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || c == '\\') {
      result += c == '\\' ? std::string("\\\\")
                          : std::string{'\\', 'x', hex_digits[byte >> 4], hex_digits[byte & 15]};
    } else {
      result += c;
    }
  }
  if (text.size() > quoted_bytes_max) result += "...";
  return result;
}

}  // namespace hayate::campaign::config
