// Reads messages from where bounces pile up: Maildir folders (cur/ and new/), mbox files
// (From_ lines, ">From " unescaped) and single .eml files. Streams: one message in memory
// at a time, handed to a callback; the parsing is report_parser.h's.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace hayate::campaign::inline bounce {

struct MailboxMessage {
  std::string source;      // "path" for a file, "path:N" for the Nth message of an mbox
  std::string_view bytes;  // valid during the callback only
};

// Calls `each` for every message under `path`: a Maildir (a directory with cur/ or new/:
// new/ then cur/, names sorted in each), an mbox (a file whose first line starts with "From "), any
// other file (one message), or a plain directory (each regular file in it, sorted, one message
// each). Messages over limits::bounce_message_bytes_max are cut there. NotFound for a missing
// path, PermissionDenied or DataLoss for one that cannot be read, each naming the path.
// `each` returning false stops the walk.
absl::Status read_mailbox(const std::string& path,
                          const std::function<bool(const MailboxMessage&)>& each);

}  // namespace hayate::campaign::bounce
