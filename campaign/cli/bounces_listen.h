// `hayate bounces listen`: receives bounces and complaints by SMTP for a campaign's VERP
// addresses and records them in its suppression list as they arrive.
#pragma once

#include <string_view>
#include <vector>

namespace hayate::campaign::cli {

// `args` are the words after "listen". Returns the process exit code.
int bounces_listen_command(const std::vector<std::string_view>& args);

}  // namespace hayate::campaign::cli
