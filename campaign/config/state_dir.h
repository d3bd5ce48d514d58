// The host's state store: one directory for the suppression list and the warm-up counts, the
// same for every job and every command whatever the current directory, so that a bounce
// recorded by one campaign (or added by `hayate suppress`) holds for the next one.
//   HAYATE_STATE_DIR when set (tests and benchmarks set it: they never share a store);
//   /var/lib/hayate when run as root;
//   $XDG_STATE_HOME/hayate, else ~/.local/state/hayate (the XDG Base Directory default).
// A job's [suppression] path and [shaping] warmup_state override it file by file.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hayate::campaign::inline config {

inline constexpr std::string_view suppression_file_name = "suppression.db";
inline constexpr std::string_view warmup_file_name = "warmup.state";

struct StateDir {
  std::string path;  // absolute, or relative to the current directory when the variable is
  std::string why;   // "HAYATE_STATE_DIR", "root", "XDG_STATE_HOME", "HOME"
};

// From the environment (read once per call; nothing is created). An error when none of the
// variables it needs is set (no HOME).
absl::StatusOr<StateDir> resolve_state_dir();

// The host's suppression list: the state directory's suppression.db; the directory is made
// when `create` (a command that writes the list).
absl::StatusOr<std::string> host_suppression_path(bool create);

// Creates the directory (and its parents) owner-only when it is missing.
absl::Status ensure_state_dir(const std::string& path);

// "a store beside the job is in use" notices: true the first time `key` is asked for in this
// state directory (remembered in its file "notices"), false after. A store that cannot be
// written says true every time (better said twice than never).
bool first_notice(const std::string& state_dir, std::string_view key);

}  // namespace hayate::campaign::config
