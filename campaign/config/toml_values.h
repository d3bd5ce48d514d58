// Values read the same way from every TOML configuration file (the job file and the shaping
// rules): bounded integers and durations. One copy, so that both files accept the same
// spellings and explain a mistake in the same words.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hayate::campaign::inline config {

// Each reader returns the value or an InvalidArgument status whose message starts with `label`
// ("[delivery] deadline") and carries no location: each file's reader puts its own
// "file:line:column: " in front, at `node`.

// An integer from `min` to `max`.
absl::StatusOr<std::int64_t> read_toml_integer(const toml::node& node, std::string_view label,
                                               std::int64_t min, std::int64_t max);

// A duration: "250ms", "30s", "5m", "2h", "1d" (parse_duration_ms in job.h) or an integer of
// seconds; more than 0 and at most `max_ms`.
absl::StatusOr<std::uint64_t> read_toml_duration_ms(const toml::node& node, std::string_view label,
                                                    std::uint64_t max_ms);

// "1d", "30s", "250ms": the largest unit that divides the duration, for messages.
std::string format_duration(std::uint64_t duration_ms);

}  // namespace hayate::campaign::config
