// Bounded integers and durations from TOML files, for the job file and the shaping rules.
#include "campaign/config/toml_values.h"

#include <array>
#include <utility>

#include "absl/status/status.h"
#include "campaign/config/job.h"
#include "campaign/config/toml_names.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign::inline config {

absl::StatusOr<std::int64_t> read_toml_integer(const toml::node& node, std::string_view label,
                                               std::int64_t min, std::int64_t max) {
  HAYATE_ASSERT(min <= max);
  const toml::value<std::int64_t>* value = node.as_integer();
  if (value == nullptr) {
    return absl::InvalidArgumentError(
        cat(label, " must be an integer, got ", toml_type_name(node.type())));
  }
  if (value->get() < min || value->get() > max) {
    return absl::InvalidArgumentError(
        cat(label, " must be between ", min, " and ", max, ", got ", value->get()));
  }
  return value->get();
}

absl::StatusOr<std::uint64_t> read_toml_duration_ms(const toml::node& node, std::string_view label,
                                                    std::uint64_t max_ms) {
  std::uint64_t duration_ms = 0;
  if (const toml::value<std::int64_t>* seconds = node.as_integer()) {
    if (seconds->get() < 0) {
      return absl::InvalidArgumentError(cat(label, " must not be negative, got ", seconds->get()));
    }
    // Above the maximum either way; the check below reports it without overflowing here.
    duration_ms = static_cast<std::uint64_t>(seconds->get()) > max_ms / 1000
                      ? max_ms + 1
                      : static_cast<std::uint64_t>(seconds->get()) * 1000;
  } else if (const toml::value<std::string>* text = node.as_string()) {
    if (!parse_duration_ms(text->get(), duration_ms)) {
      return absl::InvalidArgumentError(
          cat(label, " '", escape_for_message(text->get()),
              "' is not a duration; write e.g. \"250ms\", \"30s\", \"5m\", \"2h\", \"1d\" or an "
              "integer of seconds"));
    }
  } else {
    return absl::InvalidArgumentError(cat(label,
                                          " must be a duration (a string such as \"30s\" or an "
                                          "integer of seconds), got ",
                                          toml_type_name(node.type())));
  }
  if (duration_ms == 0) return absl::InvalidArgumentError(cat(label, " must be more than 0"));
  if (duration_ms > max_ms) {
    return absl::InvalidArgumentError(cat(label, " must be at most ", format_duration(max_ms)));
  }
  return duration_ms;
}

std::string format_duration(std::uint64_t duration_ms) {
  constexpr std::array<std::pair<std::uint64_t, std::string_view>, 4> units = {
      {{86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1'000, "s"}}};
  for (const auto& [unit_ms, suffix] : units) {
    if (duration_ms >= unit_ms && duration_ms % unit_ms == 0) {
      return cat(duration_ms / unit_ms, suffix);
    }
  }
  return cat(duration_ms, "ms");
}

}  // namespace hayate::campaign::config
