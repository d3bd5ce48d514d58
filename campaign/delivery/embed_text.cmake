# Writes OUTPUT, a C++ file defining hayate::campaign::delivery::shipped_shaping_rules(), holding the
# bytes of INPUT (default_rules.toml). Bytes rather than a raw string literal: no delimiter the
# file could contain, and the text reaches the parser exactly as it is on disk.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],)(0x[0-9a-f][0-9a-f],))" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
"// Generated from campaign/delivery/default_rules.toml by campaign/delivery/embed_text.cmake.
#include <string_view>

namespace hayate::campaign::inline delivery {
namespace {
constexpr unsigned char shipped_rules_bytes[${size} + 1] = {
${bytes}0};
}  // namespace

std::string_view shipped_shaping_rules() {
  return std::string_view(reinterpret_cast<const char*>(shipped_rules_bytes), ${size});
}
}  // namespace hayate::campaign::delivery
")
execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${OUTPUT}.tmp" "${OUTPUT}")
file(REMOVE "${OUTPUT}.tmp")
