// String concatenation over std::string_view. Debian's Abseil is built with its own
// string_view type, so absl::StrCat does not take std::string_view; these take anything a
// std::string_view can be made from, and integers.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace hayate {

namespace detail {
template <typename Part>
void append_part(std::string& text, const Part& part) {
  if constexpr (std::is_integral_v<Part> && !std::is_same_v<Part, char>) {
    text += std::to_string(part);
  } else if constexpr (std::is_same_v<Part, char>) {
    text += part;
  } else if constexpr (std::is_same_v<Part, absl::string_view>) {
    text.append(part.data(), part.size());  // Abseil's own string_view (see above)
  } else {
    text += std::string_view(part);
  }
}
}  // namespace detail

// Appends every part to `text`.
template <typename... Parts>
void append(std::string& text, const Parts&... parts) {
  (detail::append_part(text, parts), ...);
}

// ASCII case-insensitive equality (header names, keywords, domains in A-labels).
inline bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The parts, concatenated.
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::string text;
  (detail::append_part(text, parts), ...);
  return text;
}

}  // namespace hayate
