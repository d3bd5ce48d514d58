// `hayate suppress add | remove | list | import | export`: the operator's hands on the
// suppression list (campaign/bounce/suppression.h) that `hayate run` checks before sending.
#pragma once

#include <string_view>
#include <vector>

namespace hayate::campaign::cli {

// `args` are the words after "suppress". Returns a sysexits code (campaign/run/exit_codes.h).
int suppress_command(std::vector<std::string_view> args);

}  // namespace hayate::campaign::cli
