// Counter names and renderings of hayate-sink's statistics (see stats.h).
#include "tools/sink/stats.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/files.h"
#include "tools/sink/absl_views.h"

namespace hayate::sink {
namespace {

constexpr std::array<std::string_view, counters_count> kCounterNames = {
    "sessions",        "messages",         "recipients",           "rcpt_rejected",
    "bytes",           "data_rejected",    "recipients_delivered", "rcpt_tempfail",
    "rcpt_bounce",     "rcpt_flaky",       "rcpt_flaky_untracked", "rcpt_slow",
    "rcpt_disconnect", "rcpt_garbage",     "rcpt_too_many",        "rcpt_syntax",
    "data_fail",       "data_tempfail",    "data_too_big",         "data_store_failed",
    "data_dotdrop",    "commands_unknown", "lines_too_long",
};

using smtp::server::ServerCounter;

// The server's counter behind each of the sink's, or count_ for the fault modes' own.
constexpr std::array<ServerCounter, counters_count> kServerCounters = {
    ServerCounter::sessions,
    ServerCounter::messages,
    ServerCounter::recipients,
    ServerCounter::rcpt_rejected,
    ServerCounter::bytes,
    ServerCounter::data_rejected,
    ServerCounter::recipients_delivered,
    ServerCounter::count_,  // rcpt_tempfail
    ServerCounter::count_,  // rcpt_bounce
    ServerCounter::count_,  // rcpt_flaky
    ServerCounter::count_,  // rcpt_flaky_untracked
    ServerCounter::count_,  // rcpt_slow
    ServerCounter::count_,  // rcpt_disconnect
    ServerCounter::count_,  // rcpt_garbage
    ServerCounter::rcpt_too_many,
    ServerCounter::rcpt_syntax,
    ServerCounter::count_,  // data_fail
    ServerCounter::count_,  // data_tempfail
    ServerCounter::data_too_big,
    ServerCounter::count_,  // data_store_failed
    ServerCounter::count_,  // data_dotdrop
    ServerCounter::commands_unknown,
    ServerCounter::lines_too_long,
};

}  // namespace

bool is_server_counter(Counter counter) {
  HAYATE_ASSERT(std::size_t(counter) < counters_count);
  return kServerCounters[std::size_t(counter)] != ServerCounter::count_;
}

StatsSnapshot combine_stats(const smtp::server::ServerStatsSnapshot& server,
                            const StatsSnapshot& faults) {
  StatsSnapshot result = faults;
  for (std::size_t i = 0; i < counters_count; ++i) {
    if (kServerCounters[i] != ServerCounter::count_) {
      HAYATE_ASSERT(faults.values[i] == 0);
      // Where the server counts, the name in the stats file is the server's.
      HAYATE_ASSERT(smtp::server::counter_name(kServerCounters[i]) == kCounterNames[i]);
      result.values[i] = server[kServerCounters[i]];
    }
  }
  return result;
}

std::string_view counter_name(Counter counter) {
  HAYATE_ASSERT(std::size_t(counter) < counters_count);
  return kCounterNames[std::size_t(counter)];
}

void StatsSnapshot::add(const StatsSnapshot& other) {
  for (std::size_t i = 0; i < counters_count; ++i) values[i] += other.values[i];
}

StatsSnapshot SinkStats::snapshot() const {
  StatsSnapshot result;
  for (std::size_t i = 0; i < counters_count; ++i) {
    result.values[i] = values_[i].load(std::memory_order_relaxed);
  }
  return result;
}

std::string stats_to_json(const StatsSnapshot& stats) {
  std::string json = "{";
  for (std::size_t i = 0; i < counters_count; ++i) {
    absl::StrAppend(&json, i == 0 ? "\"" : ",\"", to_absl(kCounterNames[i]),
                    "\":", stats.values[i]);
  }
  json += "}";
  return json;
}

std::string stats_to_text(const StatsSnapshot& stats) {
  std::string text;
  for (std::size_t i = 0; i < counters_count; ++i) {
    absl::StrAppend(&text, i == 0 ? "" : " ", to_absl(kCounterNames[i]), "=", stats.values[i]);
  }
  return text;
}

absl::Status write_stats_file(const std::string& path, const StatsSnapshot& stats) {
  // A fresh temporary name and a rename, never a fixed PATH.tmp that a link could take.
  std::string name;
  absl::StatusOr<Directory> directory = Directory::open_parent(path, name);
  absl::Status status = directory.ok()
                            ? directory->replace_file(name, stats_to_json(stats) + "\n", 0644)
                            : directory.status();
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("stats file ", path, ": ", status.message()));
  }
  return absl::OkStatus();
}

}  // namespace hayate::sink
