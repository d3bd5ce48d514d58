// write(2) until every byte is written: the logs append whole lines with one call on an
// O_APPEND descriptor, so lines of several writers never interleave.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <string_view>

namespace hayate {

// False when the file cannot take the bytes (disk full, I/O error): errno says why.
inline bool write_fully(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t written = write(fd, data.data(), data.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

}  // namespace hayate
