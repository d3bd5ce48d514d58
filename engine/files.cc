// Files opened without surprises (see files.h): outputs by openat with O_NOFOLLOW under a held
// directory descriptor, inputs as regular files read with a bound.
#include "engine/files.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/assert.h"
#include "engine/strings.h"
#include "engine/write_fully.h"

namespace hayate {

namespace {

// Errors from opening a file: what hayate refuses is PermissionDenied, a missing file NotFound.
// Never Unavailable: callers read that as "another run holds it".
absl::Status open_error(int error, const std::string& message) {
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
    case ELOOP:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

std::string errno_text(int error) { return std::strerror(error); }

// A file name inside the directory: no slash, not "." or "..". The callers pass fixed names
// or the last component of a path they split.
bool is_plain_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos;
}

// The checks every output file passes once open: a regular file with no other name.
absl::Status check_output_file(int fd, const std::string& path) {
  struct stat info {};
  if (fstat(fd, &info) != 0) {
    return absl::InternalError(cat("cannot stat ", path, ": ", errno_text(errno)));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::PermissionDeniedError(cat(path, " is ", file_type_name(info.st_mode),
                                           ", not a regular file: refusing to write "
                                           "to it (remove it, or write elsewhere)"));
  }
  if (info.st_nlink > 1) {
    return absl::PermissionDeniedError(
        cat(path, " has ", static_cast<std::uint64_t>(info.st_nlink),
            " hard links: refusing to write to a file that also lives under another name "
            "(remove it, or write elsewhere)"));
  }
  return absl::OkStatus();
}

absl::Status clear_nonblocking(int fd, const std::string& path) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return absl::InternalError(cat("cannot set up ", path, ": ", errno_text(errno)));
  }
  return absl::OkStatus();
}

std::string link_refused(const std::string& path) {
  return cat(path, " is a symbolic link: refusing to follow it (remove it, or write elsewhere)");
}

// ".NAME.0123456789abcdef.tmp": hidden, unique, and never ending in the name's own suffix (a
// collector reading *.prom must not read a half-written file).
std::string temporary_name(std::string_view name) {
  std::uint64_t random = 0;
  if (getrandom(&random, sizeof random, GRND_NONBLOCK) != sizeof random) {
    static std::uint64_t counter = 0;
    random = (static_cast<std::uint64_t>(getpid()) << 32) ^ ++counter ^
             static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&random));
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::string suffix(16, '0');
  for (std::size_t i = 0; i < suffix.size(); ++i) suffix[i] = digits[(random >> (4 * i)) & 15];
  return cat(".", name, ".", suffix, ".tmp");
}

// `path` with trailing slashes removed ("out/" would follow a link named out).
std::string without_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

}  // namespace

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::string_view file_type_name(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "a special file";
}

// ---- Directory -------------------------------------------------------------------------------

absl::StatusOr<Directory> Directory::open(const std::string& given) {
  const std::string path = without_trailing_slashes(given);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    const int error = errno;
    struct stat info {};
    if (error == ELOOP ||
        (error == ENOTDIR && lstat(path.c_str(), &info) == 0 && S_ISLNK(info.st_mode))) {
      return absl::PermissionDeniedError(
          cat(path, " is a symbolic link: give the directory it points to, or another one"));
    }
    if (error == ENOTDIR) {
      return absl::PermissionDeniedError(cat(path, " is not a directory"));
    }
    return open_error(error, cat("cannot open the directory ", path, ": ", errno_text(error)));
  }
  return Directory(std::move(fd), path);
}

absl::StatusOr<Directory> Directory::create(const std::string& given, mode_t mode) {
  const std::string path = without_trailing_slashes(given);
  HAYATE_ASSERT(!path.empty());
  for (std::size_t i = 1; i <= path.size(); ++i) {
    if (i < path.size() && path[i] != '/') continue;
    const std::string partial = path.substr(0, i);
    if (mkdir(partial.c_str(), mode) != 0 && errno != EEXIST) {
      const int error = errno;
      return open_error(error, cat("cannot create ", partial, ": ", errno_text(error)));
    }
  }
  return open(path);
}

absl::StatusOr<Directory> Directory::open_parent(const std::string& file_path, std::string& name) {
  const std::size_t slash = file_path.rfind('/');
  name = slash == std::string::npos ? file_path : file_path.substr(slash + 1);
  if (!is_plain_name(name)) {
    return absl::InvalidArgumentError(cat(file_path, " does not name a file"));
  }
  const std::string parent =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : file_path.substr(0, slash));
  // The operator named this directory and may reach it through links: follow them here.
  UniqueFd fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    const int error = errno;
    return open_error(error, cat("cannot open the directory ", parent, ": ", errno_text(error)));
  }
  return Directory(std::move(fd), parent);
}

std::string Directory::path_of(std::string_view name) const {
  return path_ == "." ? std::string(name) : cat(path_, path_.back() == '/' ? "" : "/", name);
}

absl::StatusOr<Directory> Directory::duplicate() const {
  UniqueFd fd(fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!fd) return absl::InternalError(cat("cannot duplicate ", path_, ": ", errno_text(errno)));
  return Directory(std::move(fd), path_);
}

absl::StatusOr<UniqueFd> Directory::open_file(std::string_view name, int flags, mode_t mode) const {
  HAYATE_ASSERT(is_plain_name(name) && (flags & (O_WRONLY | O_RDWR)) != 0);
  const std::string path = path_of(name);
  const std::string name_text(name);
  // O_NONBLOCK: opening a FIFO for writing would wait for a reader; O_TRUNC waits until the
  // file is known to be ours.
  const int open_flags = (flags & ~O_TRUNC) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  UniqueFd fd(::openat(fd_.get(), name_text.c_str(), open_flags, mode));
  if (!fd) {
    const int error = errno;
    if (error == ELOOP) return absl::PermissionDeniedError(link_refused(path));
    if (error == ENXIO) {  // a FIFO without a reader
      return absl::PermissionDeniedError(
          cat(path, " is a FIFO, not a regular file: refusing to write to it"));
    }
    return open_error(error, cat("cannot open ", path, ": ", errno_text(error)));
  }
  if (absl::Status status = check_output_file(fd.get(), path); !status.ok()) return status;
  if (absl::Status status = clear_nonblocking(fd.get(), path); !status.ok()) return status;
  if ((flags & O_TRUNC) != 0 && ftruncate(fd.get(), 0) != 0) {
    return absl::InternalError(cat("cannot truncate ", path, ": ", errno_text(errno)));
  }
  return fd;
}

absl::StatusOr<UniqueFd> Directory::open_for_reading(std::string_view name) const {
  HAYATE_ASSERT(is_plain_name(name));
  const std::string path = path_of(name);
  const std::string name_text(name);
  UniqueFd fd(::openat(fd_.get(), name_text.c_str(),
                       O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    const int error = errno;
    if (error == ELOOP) return absl::PermissionDeniedError(link_refused(path));
    return open_error(error, cat("cannot open ", path, ": ", errno_text(error)));
  }
  struct stat info {};
  if (fstat(fd.get(), &info) != 0) {
    return absl::InternalError(cat("cannot stat ", path, ": ", errno_text(errno)));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::PermissionDeniedError(cat(path, " is ", file_type_name(info.st_mode),
                                           ", not a regular file: refusing to read it"));
  }
  if (absl::Status status = clear_nonblocking(fd.get(), path); !status.ok()) return status;
  return fd;
}

bool Directory::stat_file(std::string_view name, struct stat& info) const {
  const std::string name_text(name);
  return fstatat(fd_.get(), name_text.c_str(), &info, AT_SYMLINK_NOFOLLOW) == 0;
}

absl::StatusOr<UniqueFd> Directory::create_temporary(std::string_view name, mode_t mode,
                                                     std::string& temporary) const {
  HAYATE_ASSERT(is_plain_name(name));
  if (absl::Status status = check_replaceable(name); !status.ok()) return status;
  UniqueFd fd;
  for (int attempt = 0; attempt < 16 && !fd; ++attempt) {
    temporary = temporary_name(name);
    fd.reset(::openat(fd_.get(), temporary.c_str(),
                      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode));
    if (!fd && errno != EEXIST) break;
  }
  if (!fd) {
    const int error = errno;
    return open_error(error, cat("cannot create a temporary file in ", path_, " for ",
                                 path_of(name), ": ", errno_text(error)));
  }
  return fd;
}

absl::Status Directory::commit_temporary(const std::string& temporary,
                                         std::string_view name) const {
  const std::string name_text(name);
  if (renameat(fd_.get(), temporary.c_str(), fd_.get(), name_text.c_str()) != 0) {
    const int error = errno;
    discard_temporary(temporary);
    return open_error(error, cat("cannot write ", path_of(name), ": ", errno_text(error)));
  }
  return absl::OkStatus();
}

void Directory::discard_temporary(const std::string& temporary) const {
  unlinkat(fd_.get(), temporary.c_str(), 0);
}

absl::Status Directory::replace_file(std::string_view name, mode_t mode,
                                     const std::function<absl::Status(int fd)>& fill,
                                     bool durable) const {
  const std::string path = path_of(name);
  std::string temporary;
  absl::StatusOr<UniqueFd> fd = create_temporary(name, mode, temporary);
  if (!fd.ok()) return fd.status();
  absl::Status status = fill(fd->get());
  if (status.ok() && durable && fdatasync(fd->get()) != 0) {
    status = absl::InternalError(cat("cannot write ", path, ": ", errno_text(errno)));
  }
  if (status.ok() && ::close(fd->release()) != 0) {
    status = absl::InternalError(cat("cannot write ", path, ": ", errno_text(errno)));
  }
  fd->reset();
  if (!status.ok()) {
    discard_temporary(temporary);
    return status;
  }
  if (absl::Status renamed = commit_temporary(temporary, name); !renamed.ok()) return renamed;
  return durable ? sync() : absl::OkStatus();
}

absl::Status Directory::check_replaceable(std::string_view name) const {
  // rename(2) replaces a link rather than writing through it, but a link where an output
  // belongs is someone's plan: say so instead of quietly removing it.
  struct stat existing {};
  if (!stat_file(name, existing) || S_ISREG(existing.st_mode)) return absl::OkStatus();
  const std::string path = path_of(name);
  if (S_ISLNK(existing.st_mode)) return absl::PermissionDeniedError(link_refused(path));
  return absl::PermissionDeniedError(cat(path, " is ", file_type_name(existing.st_mode),
                                         ", not a regular file: refusing to replace it"));
}

absl::Status Directory::replace_file(std::string_view name, std::string_view content, mode_t mode,
                                     bool durable) const {
  return replace_file(
      name, mode,
      [&](int fd) {
        if (write_fully(fd, content)) return absl::OkStatus();
        return absl::InternalError(
            cat("cannot write ", path_of(name), ": ", errno_text(errno == 0 ? EIO : errno)));
      },
      durable);
}

absl::Status Directory::remove_file(std::string_view name) const {
  HAYATE_ASSERT(is_plain_name(name));
  const std::string name_text(name);
  if (unlinkat(fd_.get(), name_text.c_str(), 0) != 0 && errno != ENOENT) {
    const int error = errno;
    return open_error(error, cat("cannot remove ", path_of(name), ": ", errno_text(error)));
  }
  return absl::OkStatus();
}

absl::Status Directory::sync() const {
  if (fsync(fd_.get()) != 0) {
    return absl::InternalError(cat("cannot sync the directory ", path_, ": ", errno_text(errno)));
  }
  return absl::OkStatus();
}

// ---- Inputs ----------------------------------------------------------------------------------

absl::StatusOr<UniqueFd> open_regular_file(const std::string& path, std::string_view what) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    const int error = errno;
    const std::string message = cat(path, ": cannot open ", what, ": ", errno_text(error));
    return error == ENOENT || error == ENOTDIR ? absl::NotFoundError(message)
                                               : absl::InvalidArgumentError(message);
  }
  struct stat info {};
  if (fstat(fd.get(), &info) != 0) {
    return absl::InvalidArgumentError(cat(path, ": cannot read ", what, ": ", errno_text(errno)));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        cat(path, ": ", what, " is ", file_type_name(info.st_mode), ", not a regular file"));
  }
  const int flags = fcntl(fd.get(), F_GETFL);
  if (flags < 0 || fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return absl::InvalidArgumentError(cat(path, ": cannot read ", what, ": ", errno_text(errno)));
  }
  return fd;
}

absl::StatusOr<std::string> read_regular_file(const std::string& path, std::uint64_t bytes_max,
                                              std::string_view what) {
  absl::StatusOr<UniqueFd> fd = open_regular_file(path, what);
  if (!fd.ok()) return fd.status();
  struct stat info {};
  std::string content;
  if (fstat(fd->get(), &info) == 0 && info.st_size > 0) {
    // The size is a hint only (the file may grow while read): never more than the limit.
    content.reserve(static_cast<std::size_t>(
        std::min<std::uint64_t>(static_cast<std::uint64_t>(info.st_size), bytes_max) + 1));
  }
  char buffer[64 * 1024];
  while (content.size() <= bytes_max) {
    const std::size_t wanted =
        std::min<std::uint64_t>(sizeof buffer, bytes_max + 1 - content.size());
    const ssize_t got = ::read(fd->get(), buffer, wanted);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      return absl::InvalidArgumentError(cat(path, ": cannot read ", what, ": ", errno_text(errno)));
    }
    if (got == 0) return content;
    content.append(buffer, static_cast<std::size_t>(got));
  }
  return absl::InvalidArgumentError(cat(path, ": ", what, " is over ", bytes_max, " bytes"));
}

}  // namespace hayate
