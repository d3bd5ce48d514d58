// Pure reader of an SMTP DATA body for the server session: finds the CRLF.CRLF terminator even when
// it is split across reads, undoes dot-stuffing (RFC 5321 4.5.2) and can hand the content on
// with LF line endings, as a Maildir file stores it. No I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hayate::smtp::server {

class DataReader {
 public:
  struct Result {
    std::size_t consumed_bytes = 0;  // input bytes used; the rest belongs to the next command
    bool complete = false;           // the terminating ".\r\n" was read
  };

  // Starts a new body: the reader sits at the start of a line, so an immediate ".\r\n" ends an
  // empty message.
  void reset();

  // Reads body bytes. When `content` is non-null, the decoded content is appended to it with
  // each CRLF turned into LF and each leading dot removed. Only CRLF ends a line: a bare LF is
  // content, so "\n.\n" or "\r\n.\n" never ends the body (the SMTP smuggling family of
  // CVE-2023-51764 relies on servers that think otherwise).
  Result feed(std::string_view input, std::string* content);

  // RFC 1870 size of the content read so far: bytes as sent, CRLF counted as two, stuffing
  // dots and the terminator not counted.
  std::uint64_t content_bytes() const { return content_bytes_; }

 private:
  enum class State : std::uint8_t {
    line_start,  // after CRLF (or at the start of the body)
    middle,      // inside a line
    cr,          // inside a line, after a CR that may start a CRLF (not yet counted)
    dot,         // a line starting with '.'
    dot_cr,      // a line starting with ".\r"
  };
  State state_ = State::line_start;
  std::uint64_t content_bytes_ = 0;
};

}  // namespace hayate::smtp::server
