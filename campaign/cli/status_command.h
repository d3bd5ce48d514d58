// `hayate status OUT_DIR [--json]` and `hayate report OUT_DIR [--to FILE]`: a campaign as the
// operator sees it, while it runs (from status.json, which the run rewrites once a second) or
// after (status.json and runs.jsonl). Neither takes the campaign's lock: both work beside a run.
#pragma once

#include <string_view>
#include <vector>

namespace hayate::campaign::cli {

// Exit codes: campaign/run/run_status.h status_exit, and 64 usage, 65 a damaged status.json,
// 66 no status.json (no run has started in that directory).
// `args` are the words after "status" / "report". Returns the exit code.
int status_command(std::vector<std::string_view> args);
int report_command(std::vector<std::string_view> args);

}  // namespace hayate::campaign::cli
