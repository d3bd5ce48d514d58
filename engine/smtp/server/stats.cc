// Names of the SMTP server's counters (see stats.h), as stats files and metrics spell them.
#include "engine/smtp/server/stats.h"

#include "engine/assert.h"

namespace hayate::smtp::server {
namespace {

constexpr std::array<std::string_view, server_counters_count> kCounterNames = {
    "sessions",
    "messages",
    "recipients",
    "rcpt_rejected",
    "bytes",
    "data_rejected",
    "recipients_delivered",
    "mail_rejected",
    "rcpt_too_many",
    "rcpt_syntax",
    "data_too_big",
    "commands_unknown",
    "lines_too_long",
    "connections_refused",
    "sessions_timed_out",
    "sessions_too_slow",
    "data_over_budget",
};

}  // namespace

std::string_view counter_name(ServerCounter counter) {
  HAYATE_ASSERT(std::size_t(counter) < server_counters_count);
  return kCounterNames[std::size_t(counter)];
}

}  // namespace hayate::smtp::server
