// A buffered, append-only writer of whole lines to a file descriptor: deliveries.jsonl and the
// accounting file format their lines into its buffer, and it writes them in large blocks. On an
// O_APPEND descriptor shared by several writers (one per shard), each block lands whole, so
// lines never interleave and no lock is taken.
#pragma once

#include <string>

#include "engine/limits.h"

namespace hayate {

class LineWriter {
 public:
  explicit LineWriter(int fd) : fd_(fd) { buffer_.reserve(limits::line_writer_flush_bytes + 4096); }
  ~LineWriter() { flush(); }
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // Where the caller appends whole lines, line feeds included; flush_if_full() after each.
  std::string& buffer() { return buffer_; }
  void flush_if_full() {
    if (buffer_.size() >= limits::line_writer_flush_bytes) flush();
  }
  // Writes the buffered lines. Returns false, and keeps failing, once a write has failed (disk
  // full, I/O error: errno says why); lines given after that are dropped.
  bool flush();
  bool failed() const { return failed_; }

 private:
  int fd_;
  std::string buffer_;
  bool failed_ = false;
};

}  // namespace hayate
