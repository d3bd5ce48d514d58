// Maildir, mbox and single-file readers (see mailbox.h).
#include "campaign/bounce/mailbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "campaign/limits.h"
#include "engine/assert.h"
#include "engine/files.h"
#include "engine/strings.h"

namespace hayate::campaign::inline bounce {
namespace {

absl::Status io_error(const std::string& path, const char* doing, int error) {
  const std::string message = hayate::cat(path, ": cannot ", doing, ": ", std::strerror(error));
  if (error == ENOENT || error == ENOTDIR) return absl::NotFoundError(message);
  if (error == EACCES || error == EPERM) return absl::PermissionDeniedError(message);
  return absl::DataLossError(message);
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Opens a message file for reading, or -1 with `status` saying why. O_NONBLOCK while opening,
// so that a FIFO (put in a Maildir, or swapped in after the listing) cannot hang the open, and
// only a regular file: a FIFO or a device would hang or never end the read.
int open_message_file(const std::string& path, absl::Status& status) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    status = io_error(path, "open", errno);
    return -1;
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    status = io_error(path, "read", errno);
  } else if (!S_ISREG(info.st_mode)) {
    status = absl::InvalidArgumentError(
        hayate::cat(path, ": is ", file_type_name(info.st_mode), ", not a regular file"));
  } else if (const int flags = ::fcntl(fd, F_GETFL);
             flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    status = io_error(path, "read", errno);
  } else {
    return fd;
  }
  ::close(fd);
  return -1;
}

// Reads up to `bytes_max` bytes of the file into `out`.
absl::Status read_file(const std::string& path, std::size_t bytes_max, std::string& out) {
  absl::Status opened;
  FileDescriptor fd(open_message_file(path, opened));
  if (fd.get() < 0) return opened;
  out.clear();
  char buffer[65536];
  while (out.size() < bytes_max) {
    const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
    if (got < 0) {
      if (errno == EINTR) continue;
      return io_error(path, "read", errno);
    }
    if (got == 0) break;
    out.append(buffer,
               std::min<std::size_t>(static_cast<std::size_t>(got), bytes_max - out.size()));
  }
  return absl::OkStatus();
}

// Regular files in `directory`, names sorted; dot files (Maildir's tmp names) skipped.
absl::Status list_files(const std::string& directory, std::vector<std::string>& names) {
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return io_error(directory, "open the directory", errno);
  const std::size_t first = names.size();
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const std::string path = directory + "/" + entry->d_name;
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode)) names.push_back(path);
  }
  ::closedir(dir);
  std::sort(names.begin() + static_cast<std::ptrdiff_t>(first), names.end());
  return absl::OkStatus();
}

bool is_directory(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

// mbox (RFC 4155): messages start at lines "From "; in their bodies ">From " (and ">>From ",
// mboxrd) lines lose one '>'. Reads in blocks; holds one message at a time.
absl::Status read_mbox(const std::string& path, int fd,
                       const std::function<bool(const MailboxMessage&)>& each) {
  std::string pending;  // bytes read but not yet split into lines
  std::string message;
  std::size_t number = 0;
  bool in_message = false;
  bool truncated = false;
  bool stop = false;
  auto deliver = [&]() {
    if (!in_message) return;
    ++number;
    stop = !each(MailboxMessage{hayate::cat(path, ":", number), message});
    message.clear();
    truncated = false;
  };
  auto take_line = [&](std::string_view line) {
    if (line.substr(0, 5) == "From ") {
      deliver();
      in_message = true;
      return;
    }
    if (!in_message) in_message = true;  // no leading From_ line: the file is one message
    std::size_t quotes = 0;
    while (quotes < line.size() && line[quotes] == '>') ++quotes;
    if (quotes > 0 && line.substr(quotes, 5) == "From ") line.remove_prefix(1);
    if (message.size() + line.size() > limits::bounce_message_bytes_max) {
      truncated = true;
    }
    if (!truncated) message.append(line);
  };
  char buffer[65536];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0) {
      if (errno == EINTR) continue;
      return io_error(path, "read", errno);
    }
    if (got == 0) break;
    pending.append(buffer, static_cast<std::size_t>(got));
    std::size_t start = 0;
    for (std::size_t newline = pending.find('\n'); newline != std::string::npos;
         newline = pending.find('\n', start)) {
      take_line(std::string_view(pending).substr(start, newline + 1 - start));
      start = newline + 1;
      if (stop) return absl::OkStatus();
    }
    pending.erase(0, start);
    // A "line" without a newline longer than a message cannot be split: take it as is.
    if (pending.size() > limits::bounce_message_bytes_max) {
      take_line(pending);
      pending.clear();
    }
  }
  if (!pending.empty()) take_line(pending);
  deliver();
  return absl::OkStatus();
}

absl::Status read_files(const std::vector<std::string>& files,
                        const std::function<bool(const MailboxMessage&)>& each) {
  std::string bytes;
  for (const std::string& file : files) {
    if (absl::Status status = read_file(file, limits::bounce_message_bytes_max, bytes);
        !status.ok()) {
      return status;
    }
    if (!each(MailboxMessage{file, bytes})) break;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status read_mailbox(const std::string& path,
                          const std::function<bool(const MailboxMessage&)>& each) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return io_error(path, "read", errno);
  if (S_ISDIR(info.st_mode)) {
    std::vector<std::string> files;
    const bool maildir = is_directory(path + "/cur") || is_directory(path + "/new");
    if (maildir) {
      for (const char* sub : {"/new", "/cur"}) {
        if (!is_directory(path + sub)) continue;
        if (absl::Status status = list_files(path + sub, files); !status.ok()) return status;
      }
    } else if (absl::Status status = list_files(path, files); !status.ok()) {
      return status;
    }
    return read_files(files, each);
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(hayate::cat(path, ": not a file, mbox or Maildir"));
  }
  absl::Status opened;
  FileDescriptor fd(open_message_file(path, opened));
  if (fd.get() < 0) return opened;
  char head[5] = {};
  ssize_t got = 0;
  do {
    got = ::pread(fd.get(), head, sizeof head, 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return io_error(path, "read", errno);
  if (got == 5 && std::memcmp(head, "From ", 5) == 0) return read_mbox(path, fd.get(), each);
  return read_files({path}, each);
}

}  // namespace hayate::campaign::bounce
