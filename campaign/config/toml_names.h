// Words for TOML configuration errors, shared by the job file and the shaping rules: what type
// a value has ("an integer"), and which known key a misspelled one most likely meant.
#pragma once

#include <toml++/toml.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace hayate::campaign::inline config {

// "a table", "an integer", "a date-time"... for "must be X, got Y" messages.
std::string_view toml_type_name(toml::node_type type);

// The known name nearest to `name`, when it is close enough to be a typo: at most two edits
// (optimal string alignment, ASCII case-insensitive) and fewer edits than half the name, so
// "to" does not suggest "id".
std::optional<std::string_view> nearest_known_name(std::string_view name,
                                                   std::span<const std::string_view> known);

// Text from a configuration file quoted in an error: control bytes become \xHH, a backslash
// doubles, and past 200 bytes "..." ends it, so that a message stays one short printable line
// whatever the file held. UTF-8 stays as it is.
std::string escape_for_message(std::string_view text);

}  // namespace hayate::campaign::config
