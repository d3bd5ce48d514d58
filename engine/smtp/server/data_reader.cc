// DATA body reader of the SMTP server (see data_reader.h). The common case, the middle of a line,
// is one memchr for the next CR; only bytes around line ends go through the state machine.
#include "engine/smtp/server/data_reader.h"

#include <cstring>

#include "engine/assert.h"

namespace hayate::smtp::server {

void DataReader::reset() {
  state_ = State::line_start;
  content_bytes_ = 0;
}

DataReader::Result DataReader::feed(std::string_view input, std::string* content) {
  const char* const data = input.data();
  const std::size_t size = input.size();
  std::size_t i = 0;
  while (i < size) {
    switch (state_) {
      case State::middle: {
        const void* found = std::memchr(data + i, '\r', size - i);
        const std::size_t end = found ? std::size_t(static_cast<const char*>(found) - data) : size;
        if (content) content->append(data + i, end - i);
        content_bytes_ += end - i;
        i = end;
        if (found) {
          ++i;  // the CR is held back until we know whether a LF follows
          state_ = State::cr;
        }
        break;
      }
      case State::cr:
        if (data[i] == '\n') {
          if (content) content->push_back('\n');
          content_bytes_ += 2;
          ++i;
          state_ = State::line_start;
        } else {
          if (content) content->push_back('\r');  // a bare CR is content; reread this byte
          content_bytes_ += 1;
          state_ = State::middle;
        }
        break;
      case State::line_start:
        if (data[i] == '.') {
          ++i;
          state_ = State::dot;
        } else {
          state_ = State::middle;
        }
        break;
      case State::dot:
        if (data[i] == '\r') {
          ++i;
          state_ = State::dot_cr;
        } else {
          state_ = State::middle;  // RFC 5321 4.5.2: a leading dot is removed
        }
        break;
      case State::dot_cr:
        if (data[i] == '\n') {
          state_ = State::line_start;
          return Result{i + 1, true};
        }
        // ".\r" and not LF: the dot was stuffing, the CR is a bare CR. Reread this byte.
        if (content) content->push_back('\r');
        content_bytes_ += 1;
        state_ = State::middle;
        break;
    }
  }
  HAYATE_ASSERT(i == size);
  return Result{size, false};
}

}  // namespace hayate::smtp::server
