// What every shard of a run shares, read-only once the shards start: the job, the templates,
// the output files, the run's limits and deadline, the sending sources, the shaping rules,
// and the few things any thread may set (a stop asked by a signal, an abort).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/config/job.h"
#include "campaign/delivery/shaping_rules.h"
#include "campaign/message/dkim.h"
#include "campaign/message/message.h"
#include "campaign/message/verp.h"
#include "campaign/output/accounting.h"
#include "campaign/output/journal.h"
#include "campaign/output/run_record.h"
#include "engine/dns/resolver.h"

namespace hayate::campaign::inline delivery {

// A run stopped by something no retry can fix (a relay refusing our credentials): set once,
// seen by every shard and the reader.
struct RunAbort {
  std::atomic<bool> requested{false};
  std::mutex mutex;
  std::string reason;  // the first reason given
  void request(std::string text) {
    std::lock_guard<std::mutex> lock(mutex);
    if (requested.load()) return;
    reason = std::move(text);
    requested.store(true);
  }
};

// A stop asked by a signal: 1 = drain (no new transaction; those in flight finish, then QUIT),
// 2 = now (connections closed at once). What was not attempted stays for the next run.
struct RunStop {
  std::atomic<int> level{0};
};

// A local address mail may be sent from ([[sources]]), resolved once for every shard.
struct SendingSource {
  std::string name;            // empty when the job names none
  dns::SocketAddress address;  // length 0: the kernel picks (no [[sources]])
  std::string helo;
  std::string pool = "default";
  bool warmup = false;  // capped daily per provider by its warm-up schedule
};

// Throttle state changes of every shard, to OUT/shaping.jsonl and (unless quiet) stderr, and
// kept for status.json and the report: the first run_events_max events, and per destination
// the last one that held it back (its cause). Rare (a few per destination and minute at
// most), so one mutex is fine.
class ShapingEventLog {
 public:
  ShapingEventLog(int fd, bool echo) : fd_(fd), echo_(echo) {}
  void write(const ShapingEvent& event, std::string_view json_line, std::string_view human_line);

  struct Kept {
    std::vector<ShapingEvent> events;
    std::uint64_t events_dropped = 0;
    std::vector<ShapingEvent> causes;  // per destination, its last throttled or suspended event
  };
  Kept kept() const;

 private:
  mutable std::mutex mutex_;
  int fd_;
  bool echo_;
  Kept kept_;
};

// Read-only state shared by every shard of a run.
struct CampaignContext {
  const JobConfig* job = nullptr;
  MessageInputs message_inputs;  // templates are immutable and shared
  int deliveries_fd = -1;
  int accounting_fd = -1;  // accounting.csv, O_APPEND, header written
  AccountingContext accounting;
  std::atomic<std::int64_t>* recipients_pending = nullptr;  // inside shards; the reader waits
  std::int64_t deadline_ms = 0;                             // monotonic; retries end here
  // The campaign's first run began then (wall clock; this run's start on a first run): a
  // recipient's age, for max_age, counts from it.
  std::int64_t campaign_started_unix_ms = 0;
  std::uint32_t connections_per_shard = 1;
  std::uint32_t connections_per_site = 1;  // connections_per_domain, shared out among shards
  RunAbort* abort = nullptr;
  RunStop* stop = nullptr;
  JournalWriter* journal = nullptr;     // outcomes recorded for crash-safe resume
  const VerpKey* verp = nullptr;        // per-recipient envelope senders, when configured
  const ShapingRules* rules = nullptr;  // destinations and reply rules; never null in a run
  std::vector<SendingSource> sources;   // at least one
  std::uint32_t shard_count = 1;        // each shard holds 1/shard_count of every limit
  // What the shards may send today per source × destination under warm-up (indexes: source,
  // destination), all together; nullopt: no cap. Each shard takes its share_of it.
  std::vector<std::vector<std::optional<std::uint64_t>>> warmup_remaining;
  ShapingEventLog* shaping_log = nullptr;
  std::vector<std::shared_ptr<const DkimSigner>> dkim_signers;  // shared, read-only
  CampaignTag verp_tag{};
  bool keep_bounce_events = false;  // for the suppression list ([suppression] enabled)
};

}  // namespace hayate::campaign::delivery
