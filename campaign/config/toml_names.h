// Words for TOML configuration errors, shared by the job file and the shaping rules: what type
// a value has ("an integer"), and which known key a misspelled one most likely meant.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include <toml++/toml.h>

namespace hayate::campaign::inline config {

// "a table", "an integer", "a date-time"... for "must be X, got Y" messages.
std::string_view toml_type_name(toml::node_type type);

// The known name nearest to `name`, when it is close enough to be a typo: at most two edits
// (optimal string alignment, ASCII case-insensitive) and fewer edits than half the name, so
// "to" does not suggest "id".
std::optional<std::string_view> nearest_known_name(std::string_view name,
                                                   std::span<const std::string_view> known);

}  // namespace hayate::campaign::config
