// Maildir writer of hayate-sink (see maildir.h): tmp/ then rename into new/, so a reader of
// new/ never sees half a message.
#include "tools/sink/maildir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "tools/sink/absl_views.h"

namespace hayate::sink {
namespace {

absl::Status make_directory(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) {
    struct stat info;
    if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(path, ": exists and is not a directory"));
  }
  return absl::PermissionDeniedError(
      absl::StrCat("cannot create directory ", path, ": ", std::strerror(errno)));
}

absl::Status write_all(int fd, std::string_view first, std::string_view second,
                       const std::string& path) {
  struct iovec parts[2] = {{const_cast<char*>(first.data()), first.size()},
                           {const_cast<char*>(second.data()), second.size()}};
  int part = 0;
  while (part < 2) {
    const ssize_t written = ::writev(fd, parts + part, 2 - part);
    if (written < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("write ", path, ": ", std::strerror(errno)));
    }
    std::size_t left = std::size_t(written);
    while (part < 2 && left >= parts[part].iov_len) {
      left -= parts[part].iov_len;
      ++part;
    }
    if (part < 2) {
      parts[part].iov_base = static_cast<char*>(parts[part].iov_base) + left;
      parts[part].iov_len -= left;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status create_maildir(const std::string& directory) {
  for (const char* sub : {"", "/tmp", "/new", "/cur"}) {
    if (absl::Status status = make_directory(directory + sub); !status.ok()) return status;
  }
  return absl::OkStatus();
}

MaildirStore::MaildirStore(std::string directory, std::string_view hostname,
                           std::uint32_t thread_index)
    : directory_(std::move(directory)), hostname_(hostname), thread_index_(thread_index) {
  for (char& c : hostname_) {
    if (c == '/' || c == ':') c = '_';
  }
}

absl::Status MaildirStore::keep(const smtp::server::ReceivedMessage& message) {
  HAYATE_ASSERT(!message.recipients.empty());
  struct timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  // time.M<usec>P<pid>T<thread>Q<sequence>.host: unique per process, thread and message.
  const std::string name =
      absl::StrCat(now.tv_sec, ".M", now.tv_nsec / 1000, "P", ::getpid(), "T", thread_index_, "Q",
                   messages_stored_, "_", to_absl(message.queue_id), ".", hostname_);
  tmp_path_ = absl::StrCat(directory_, "/tmp/", name);
  new_path_ = absl::StrCat(directory_, "/new/", name);

  header_.clear();
  absl::StrAppend(&header_, "Return-Path: <", to_absl(message.sender), ">\n");
  for (const std::string& recipient : message.recipients) {
    absl::StrAppend(&header_, "Delivered-To: ", recipient, "\n");
  }

  const int fd = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("open ", tmp_path_, ": ", std::strerror(errno)));
  }
  absl::Status status = write_all(fd, header_, message.content, tmp_path_);
  if (::close(fd) != 0 && status.ok()) {
    status = absl::UnavailableError(absl::StrCat("close ", tmp_path_, ": ", std::strerror(errno)));
  }
  if (status.ok() && ::rename(tmp_path_.c_str(), new_path_.c_str()) != 0) {
    status = absl::UnavailableError(
        absl::StrCat("rename ", tmp_path_, " to ", new_path_, ": ", std::strerror(errno)));
  }
  if (!status.ok()) {
    ::unlink(tmp_path_.c_str());
    // The client only sees 451; say why on stderr, a few times, not once per message.
    if (++failures_logged_ <= failures_logged_max) {
      std::fprintf(stderr, "hayate-sink: maildir: %s\n", std::string(status.message()).c_str());
    }
    return status;
  }
  ++messages_stored_;
  return absl::OkStatus();
}

}  // namespace hayate::sink
