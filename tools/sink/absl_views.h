// Debian's Abseil 20220623 is built with its own absl::string_view class
// (ABSL_OPTION_USE_STD_STRING_VIEW 0), which does not convert to or from std::string_view.
// These two spell out the conversion where the sink hands views to Abseil.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace hayate::sink {

inline absl::string_view to_absl(std::string_view text) { return {text.data(), text.size()}; }
inline std::string_view to_std(absl::string_view text) { return {text.data(), text.size()}; }

}  // namespace hayate::sink
