// The program's version and the compiler that built it: what `hayate --version` prints and
// the metrics' hayate_build_info carries. The version is the one of project() in CMakeLists.txt
// (engine/CMakeLists.txt passes it as HAYATE_VERSION).
#pragma once

#include <string_view>

namespace hayate {

inline constexpr std::string_view version = HAYATE_VERSION;

#define HAYATE_STRINGIFY_INNER(x) #x
#define HAYATE_STRINGIFY(x) HAYATE_STRINGIFY_INNER(x)

// "gcc 12.2.0" or "clang 14.0.6": from the compiler's own macros, so never empty.
#if defined(__clang__)
inline constexpr std::string_view compiler =
    "clang " HAYATE_STRINGIFY(__clang_major__) "." HAYATE_STRINGIFY(
        __clang_minor__) "." HAYATE_STRINGIFY(__clang_patchlevel__);
#elif defined(__GNUC__)
inline constexpr std::string_view compiler = "gcc " HAYATE_STRINGIFY(__GNUC__) "." HAYATE_STRINGIFY(
    __GNUC_MINOR__) "." HAYATE_STRINGIFY(__GNUC_PATCHLEVEL__);
#else
inline constexpr std::string_view compiler = "unknown";
#endif

#undef HAYATE_STRINGIFY
#undef HAYATE_STRINGIFY_INNER

}  // namespace hayate
