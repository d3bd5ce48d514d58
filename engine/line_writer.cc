// See line_writer.h.
#include "engine/line_writer.h"

#include "engine/write_fully.h"

namespace hayate {

bool LineWriter::flush() {
  if (!failed_ && !buffer_.empty() && !write_fully(fd_, buffer_)) failed_ = true;
  buffer_.clear();
  return !failed_;
}

}  // namespace hayate
