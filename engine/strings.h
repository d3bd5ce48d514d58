// Small string helpers, one copy each: concatenation, ASCII case, trimming.
// Concatenation: Debian's Abseil is built with its own string_view type, so absl::StrCat does
// not take std::string_view; cat() and append() take anything a std::string_view can be made
// from, and integers.
#pragma once

#include <cstddef>
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

constexpr bool is_one_of(char c, std::string_view characters) {
  for (char candidate : characters) {
    if (c == candidate) return true;
  }
  return false;
}
}  // namespace detail

// Appends every part to `text`.
template <typename... Parts>
void append(std::string& text, const Parts&... parts) {
  (detail::append_part(text, parts), ...);
}

// ASCII lower case of one byte: 'A' to 'Z' become 'a' to 'z'; every other byte (UTF-8
// included) is left as it is.
constexpr char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

// `text` in ASCII lower case, byte by byte as above.
// "1 recipient", "2 recipients": a count and its noun, plural unless the count is one.
inline std::string counted(std::uint64_t count, std::string_view one, std::string_view many) {
  std::string out = std::to_string(count);
  out += ' ';
  out += count == 1 ? one : many;
  return out;
}

inline std::string lower(std::string_view text) {
  std::string result(text);
  for (char& c : result) c = lower(c);
  return result;
}

// ASCII case-insensitive equality (header names, keywords, domains in A-labels).
constexpr bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// ASCII case-insensitive prefix test (RFC 5321 2.4: verbs and keywords ignore case; so do URI
// schemes, RFC 3986 3.1).
constexpr bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         equals_ignoring_case(text.substr(0, prefix.size()), prefix);
}

// What the trims below strip. RFC 5234 B.1 WSP: space and horizontal tab.
inline constexpr std::string_view wsp_characters = " \t";
inline constexpr std::string_view whitespace_characters = " \t\r\n";  // WSP and line endings

// `text` without the `characters` at its start, at its end, at both ends.
constexpr std::string_view trim_front(std::string_view text,
                                      std::string_view characters = wsp_characters) {
  while (!text.empty() && detail::is_one_of(text.front(), characters)) text.remove_prefix(1);
  return text;
}
constexpr std::string_view trim_back(std::string_view text,
                                     std::string_view characters = wsp_characters) {
  while (!text.empty() && detail::is_one_of(text.back(), characters)) text.remove_suffix(1);
  return text;
}
constexpr std::string_view trim(std::string_view text,
                                std::string_view characters = wsp_characters) {
  return trim_back(trim_front(text, characters), characters);
}

// The parts, concatenated.
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::string text;
  (detail::append_part(text, parts), ...);
  return text;
}

}  // namespace hayate
