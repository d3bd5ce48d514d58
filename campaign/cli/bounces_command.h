// `hayate bounces ...`: commands over bounce messages. `classify` reads Maildirs, mboxes and
// message files and prints what each message reports, one JSON line per recipient; `ingest`
// records the same findings in the suppression list.
#pragma once

#include <string_view>
#include <vector>

namespace hayate::campaign::cli {

// `args` are the words after "bounces". Returns the process exit code.
int bounces_command(const std::vector<std::string_view>& args);

}  // namespace hayate::campaign::cli
