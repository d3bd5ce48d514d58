// The host's state store (see state_dir.h).
#include "campaign/config/state_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/status/statusor.h"
#include "campaign/config/job.h"
#include "engine/files.h"
#include "engine/strings.h"
#include "engine/write_fully.h"

namespace hayate::campaign::inline config {

namespace {

const char* variable(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] != '\0' ? value : nullptr;
}

}  // namespace

absl::StatusOr<StateDir> resolve_state_dir() {
  if (const char* dir = variable("HAYATE_STATE_DIR")) return StateDir{dir, "HAYATE_STATE_DIR"};
  if (geteuid() == 0) return StateDir{"/var/lib/hayate", "root"};
  // XDG: a relative XDG_STATE_HOME is invalid and must be ignored.
  if (const char* xdg = variable("XDG_STATE_HOME"); xdg != nullptr && xdg[0] == '/') {
    return StateDir{cat(xdg, "/hayate"), "XDG_STATE_HOME"};
  }
  if (const char* home = variable("HOME"))
    return StateDir{cat(home, "/.local/state/hayate"), "HOME"};
  return absl::FailedPreconditionError(
      "no state directory: set HAYATE_STATE_DIR (or HOME, or XDG_STATE_HOME)");
}

absl::StatusOr<std::string> host_suppression_path(bool create) {
  absl::StatusOr<StateDir> state = resolve_state_dir();
  if (!state.ok()) return state.status();
  if (create) {
    if (absl::Status status = ensure_state_dir(state->path); !status.ok()) return status;
  }
  return cat(state->path, "/", suppression_file_name);
}

absl::Status ensure_state_dir(const std::string& path) {
  std::error_code error;
  const std::filesystem::path dir(path);
  if (std::filesystem::is_directory(dir, error)) return absl::OkStatus();
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        cat("cannot create the state directory ", path, ": ", error.message()));
  }
  if (chmod(path.c_str(), 0700) != 0) {
    return absl::PermissionDeniedError(
        cat("cannot make the state directory ", path, " private: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

bool first_notice(const std::string& state_dir, std::string_view key) {
  const std::string path = cat(state_dir, "/notices");
  absl::StatusOr<std::string> seen = read_regular_file(path, 1 << 20, "the notices file");
  if (seen.ok()) {
    std::string_view rest = *seen;
    while (!rest.empty()) {
      const std::size_t end = rest.find('\n');
      if (rest.substr(0, end) == key) return false;
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
  }
  if (!ensure_state_dir(state_dir).ok()) return true;
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return true;
  (void)write_fully(fd, cat(key, "\n"));
  close(fd);
  return true;
}

absl::Status prepare_state_stores(const JobConfig& job, std::vector<std::string>& notices) {
  const auto in_state_dir = [&job](const std::string& path) {
    return std::filesystem::path(path).parent_path() == std::filesystem::path(job.state_dir);
  };
  const bool warmup = std::any_of(job.sources.begin(), job.sources.end(),
                                  [](const JobConfig::Source& source) { return source.warmup; });
  if ((job.suppression.enabled && in_state_dir(job.suppression.path)) ||
      (warmup && in_state_dir(job.warmup_state_path))) {
    if (absl::Status status = ensure_state_dir(job.state_dir); !status.ok()) return status;
  }
  for (const std::string& path : job.stores_beside_job) {
    if (!first_notice(job.state_dir, path)) continue;
    const std::string name = std::filesystem::path(path).filename().string();
    notices.push_back(
        cat("notice: ", path, " beside the job is used (from before the host's ",
            "state store); the default is now ", job.state_dir, "/",
            name == "hayate-warmup.state" ? warmup_file_name : suppression_file_name,
            ", shared by every campaign: move the file there, or name it in the ", "job (",
            name == "hayate-warmup.state" ? "[shaping] warmup_state" : "[suppression] path",
            ") to keep it apart. Said once."));
  }
  return absl::OkStatus();
}

}  // namespace hayate::campaign::config
