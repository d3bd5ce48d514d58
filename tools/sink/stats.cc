// Counter names and renderings of hayate-sink's statistics (see stats.h).
#include "tools/sink/stats.h"

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "tools/sink/absl_views.h"

namespace hayate::sink {
namespace {

constexpr std::array<std::string_view, counters_count> kCounterNames = {
    "sessions",
    "messages",
    "recipients",
    "rcpt_rejected",
    "bytes",
    "data_rejected",
    "recipients_delivered",
    "rcpt_tempfail",
    "rcpt_bounce",
    "rcpt_flaky",
    "rcpt_flaky_untracked",
    "rcpt_slow",
    "rcpt_disconnect",
    "rcpt_garbage",
    "rcpt_too_many",
    "rcpt_syntax",
    "data_fail",
    "data_tempfail",
    "data_too_big",
    "data_store_failed",
    "commands_unknown",
    "lines_too_long",
};

}  // namespace

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

}  // namespace hayate::sink
