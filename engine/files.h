// Files opened without surprises. Outputs live in a directory held open by descriptor and are
// never written through a symbolic link, a FIFO or a second hard link: a run often runs as root
// from cron, and a link planted in its output directory must not make it truncate, append to
// or create a file elsewhere. Inputs are opened as regular files only (a FIFO would hang the
// open or the read, a device never ends) and read with a bound.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hayate {

// Owns a file descriptor and closes it.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A directory opened once, with O_DIRECTORY | O_NOFOLLOW: every file in it is opened relative
// to the descriptor (openat), so the directory cannot be swapped for a link to somewhere else
// between two opens. Error messages name the file by path() + "/" + name. Errors from opening
// a file are PermissionDenied when hayate refuses it (a link, not a regular file, several hard
// links), NotFound when it is missing, and Internal for any other errno.
class Directory {
 public:
  // Creates `path` and its missing parents (with `mode`), then opens it. A symbolic link as
  // the last component is refused: the run's files must land where the operator said.
  static absl::StatusOr<Directory> create(const std::string& path, mode_t mode);
  // Opens an existing directory, refusing a symbolic link as the last component.
  static absl::StatusOr<Directory> open(const std::string& path);
  // The directory that holds `file_path` ("." for a bare name), and the file's name in it.
  // The directory may be reached through links (the operator named it); the file itself is
  // then handled by the calls below, which never follow one.
  static absl::StatusOr<Directory> open_parent(const std::string& file_path, std::string& name);

  Directory(Directory&&) noexcept = default;
  Directory& operator=(Directory&&) noexcept = default;

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  std::string path_of(std::string_view name) const;
  // Another descriptor for the same directory, for an owner that lives apart.
  absl::StatusOr<Directory> duplicate() const;

  // Opens `name` for writing (`flags`: O_WRONLY or O_RDWR, with O_CREAT, O_APPEND, O_TRUNC as
  // needed; new files get `mode`). Never through a symbolic link (a dangling one included);
  // refuses anything but a regular file, and a file with other hard links (writing would
  // change the other names too). O_TRUNC is applied after those checks.
  absl::StatusOr<UniqueFd> open_file(std::string_view name, int flags, mode_t mode) const;
  // Opens `name` for reading: a regular file, not through a symbolic link.
  absl::StatusOr<UniqueFd> open_for_reading(std::string_view name) const;
  // fstatat without following a link: false when `name` does not exist.
  bool stat_file(std::string_view name, struct stat& info) const;

  // Replaces `name` at once: `fill` writes the content into a new temporary file (a fresh
  // name beside it, created with O_EXCL and `mode`), which is then renamed over `name`, so a
  // reader sees the old file or the new one, never half of one. With `durable`, the file and
  // the directory are fsynced. A symbolic link or a directory at `name` is refused.
  absl::Status replace_file(std::string_view name, mode_t mode,
                            const std::function<absl::Status(int fd)>& fill,
                            bool durable = false) const;
  absl::Status replace_file(std::string_view name, std::string_view content, mode_t mode,
                            bool durable = false) const;
  // What replace_file would refuse at `name` now: a run checks before it sends anything.
  absl::Status check_replaceable(std::string_view name) const;
  // replace_file in steps, for a writer that fills the file piece by piece: a new file under
  // a fresh temporary name (in `temporary`), then commit_temporary renames it over `name`
  // (removing it if that fails) or discard_temporary removes it.
  absl::StatusOr<UniqueFd> create_temporary(std::string_view name, mode_t mode,
                                            std::string& temporary) const;
  absl::Status commit_temporary(const std::string& temporary, std::string_view name) const;
  void discard_temporary(const std::string& temporary) const;
  // Removes `name` (the link itself, never what it points to). A missing file is no error.
  absl::Status remove_file(std::string_view name) const;
  // Makes the directory's entries durable (new and renamed files).
  absl::Status sync() const;

 private:
  Directory(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  UniqueFd fd_;
  std::string path_;
};

// Mode of the files that hold recipients' addresses (logs, reports, journal, exports): the
// owner's only, as the personal data they are.
inline constexpr mode_t private_file_mode = 0600;

// Opens `path` for reading as a regular file. O_NONBLOCK while opening, so that a FIFO cannot
// hang the open; then fstat refuses anything but a regular file (InvalidArgument, the message
// naming `what`, the path and what it is instead). Missing: NotFound.
absl::StatusOr<UniqueFd> open_regular_file(const std::string& path, std::string_view what);

// Reads all of the regular file `path`, refusing it (InvalidArgument) when it holds more than
// `bytes_max` bytes: at most bytes_max + 1 bytes are ever read, whatever its size says.
absl::StatusOr<std::string> read_regular_file(const std::string& path, std::uint64_t bytes_max,
                                              std::string_view what);

// "a FIFO", "a directory", "a character device"...: what a stat mode is, for messages.
std::string_view file_type_name(mode_t mode);

}  // namespace hayate
