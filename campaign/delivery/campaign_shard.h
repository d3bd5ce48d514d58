// The campaign's work on one shard: the destination domains this shard owns (by hash), their
// queues and connections, DNS, retries and the shard's share of deliveries.jsonl. Recipients
// arrive in batches from the reader thread through a bounded queue.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "campaign/output/accounting.h"
#include "campaign/bounce/recording.h"
#include "campaign/output/delivery_log.h"
#include "campaign/output/domain_report.h"
#include "campaign/message/dkim.h"
#include "campaign/config/job.h"
#include "campaign/output/journal.h"
#include "campaign/message/message.h"
#include "campaign/input/recipient.h"
#include "campaign/delivery/shaping_rules.h"
#include "campaign/delivery/throttle.h"
#include "campaign/message/verp.h"
#include "engine/shaping/circuit_breaker.h"
#include "engine/dns/resolver.h"
#include "engine/dns/ring_socket_watcher.h"
#include "engine/net/tls.h"
#include "engine/shard.h"
#include "engine/spsc_queue.h"

namespace hayate::campaign::inline delivery {

class DomainQueue;
class Site;
struct SiteSecurity;
struct Target;

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
  std::string name;             // empty when the job names none
  dns::SocketAddress address;   // length 0: the kernel picks (no [[sources]])
  std::string helo;
  std::string pool = "default";
  bool warmup = false;          // capped daily per provider by its warm-up schedule
};

// Throttle state changes of every shard, to OUT/shaping.jsonl and (unless quiet) stderr. Rare
// (a few per destination and minute at most), so one mutex is fine.
class ShapingEventLog {
 public:
  ShapingEventLog(int fd, bool echo) : fd_(fd), echo_(echo) {}
  void write(std::string_view json_line, std::string_view human_line);

 private:
  std::mutex mutex_;
  int fd_;
  bool echo_;
};

// Read-only state shared by every shard of a run.
struct CampaignContext {
  const JobConfig* job = nullptr;
  MessageInputs message_inputs;           // templates are immutable and shared
  int deliveries_fd = -1;
  int accounting_fd = -1;                 // accounting.csv, O_APPEND, header written
  AccountingContext accounting;
  std::atomic<std::int64_t>* recipients_pending = nullptr;  // inside shards; the reader waits
  std::int64_t deadline_ms = 0;           // monotonic; retries end here
  // The campaign's first run began then (wall clock; this run's start on a first run): a
  // recipient's age, for max_age, counts from it.
  std::int64_t campaign_started_unix_ms = 0;
  std::uint32_t connections_per_shard = 1;
  std::uint32_t connections_per_site = 1;  // connections_per_domain, shared out among shards
  RunAbort* abort = nullptr;
  RunStop* stop = nullptr;
  JournalWriter* journal = nullptr;       // outcomes recorded for crash-safe resume
  const VerpKey* verp = nullptr;          // per-recipient envelope senders, when configured
  const ShapingRules* rules = nullptr;    // destinations and reply rules; never null in a run
  std::vector<SendingSource> sources;     // at least one
  std::uint32_t shard_count = 1;          // each shard holds 1/shard_count of every limit
  // What the shards may send today per source × destination under warm-up (indexes: source,
  // destination), all together; nullopt: no cap. Each shard takes its share_of it.
  std::vector<std::vector<std::optional<std::uint64_t>>> warmup_remaining;
  ShapingEventLog* shaping_log = nullptr;
  std::vector<std::shared_ptr<const DkimSigner>> dkim_signers;  // shared, read-only
  CampaignTag verp_tag{};
  bool keep_bounce_events = false;        // for the suppression list ([suppression] enabled)
};

struct ShardCounters {
  std::uint64_t delivered = 0;
  std::uint64_t bounced = 0;
  std::uint64_t deferred = 0;            // still deferred when the run ended
  std::uint64_t attempts_deferred = 0;   // temporary failures that were retried
  std::uint64_t connections_opened = 0;
  std::uint64_t connections_failed = 0;  // ended before a positive greeting
  std::uint64_t servers_greeted = 0;     // connections that got a positive greeting
  std::uint64_t message_bytes = 0;
  std::uint32_t domains = 0;
  std::uint64_t tls_handshakes = 0;
  std::uint64_t tls_resumptions = 0;
  std::uint64_t tls_failures = 0;
  std::uint64_t not_attempted = 0;       // left waiting when a signal stopped the run
  void add(const ShardCounters& other);
};

// A shard's counters as other threads may read them while it runs (progress, metrics):
// published with relaxed stores once per loop turn.
struct LiveCounters {
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> bounced{0};
  std::atomic<std::uint64_t> deferred{0};
  std::atomic<std::uint64_t> attempts_deferred{0};
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> recipients_held{0};
};

// What a shard shows of itself once a second to the run's monitor for the live metrics: its
// counters (TLS folded in) and its largest destinations. Copied under a mutex that only the
// shard and the monitor take, each once a second: never on the sending path.
// One destination's shaping on one shard (its sources together), for metrics and progress.
struct ShapingView {
  std::string destination;
  std::string state;  // the worst of its sources': suspended, throttled, recovering, normal
  std::uint64_t throttles = 0;
  std::uint64_t suspensions = 0;
  std::uint64_t recoveries = 0;
};

// suspended > throttled > recovering > normal: which state a group of throttles shows.
int shaping_state_rank(std::string_view state);

struct ShardSnapshot {
  ShardCounters counters;
  std::vector<std::pair<std::string, DomainCounts>> destinations;  // largest first
  std::vector<ShapingView> shaping;  // destinations that were ever throttled or suspended
};

class ShardBoard {
 public:
  void publish(ShardSnapshot snapshot) {
    std::lock_guard<std::mutex> lock(mutex_);
    snapshot_ = std::move(snapshot);
  }
  ShardSnapshot read() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return snapshot_;
  }

 private:
  mutable std::mutex mutex_;
  ShardSnapshot snapshot_;
};

struct AttemptResult;

class CampaignShard final : public ShardHandler {
 public:
  CampaignShard(const CampaignContext& context, std::uint32_t index);
  ~CampaignShard() override;

  // The reader's side: a batch for this shard. False when the queue is full (try later).
  bool offer(BatchPointer& batch) { return inbox_.push(std::move(batch)); }
  Shard& shard() { return shard_; }
  // The counters with the TLS ones folded in; read after the shard's thread ended.
  ShardCounters final_counters() const;
  const LiveCounters& live() const { return live_; }
  // Uniform in [0, 1): retry jitter. The shard's own generator (no lock).
  double uniform_random() { return absl::Uniform<double>(random_, 0.0, 1.0); }
  const ShardBoard& board() const { return board_; }
  bool log_failed() const { return log_.failed() || accounting_.failed(); }

  // ShardHandler
  void on_start(Shard& shard) override;
  void on_wake(Shard& shard) override;
  void on_tick(Shard& shard) override;
  std::int64_t next_wakeup_ms(Shard& shard) override;
  bool finished(Shard& shard) override;

  // For domain queues.
  const CampaignContext& context() const { return context_; }
  std::int64_t now_ms() const { return shard_.now_ms(); }
  std::int64_t unix_time_s() const { return unix_time_s_; }
  dns::Resolver* resolver() { return resolver_.get(); }
  const std::string& resolver_error() const { return resolver_error_; }
  MessageComposer& composer() { return composer_; }
  DkimContext& dkim() { return dkim_; }
  std::string& signature_scratch() { return signatures_; }
  DeliveryLog& log() { return log_; }
  AccountingWriter& accounting() { return accounting_; }
  JournalProducer* journal() { return journal_; }
  DomainReport& report() { return report_; }
  const DomainReport& report() const { return report_; }
  std::string& sender_scratch() { return sender_; }
  ShardCounters& counters() { return counters_; }
  bool input_ended() const { return input_ended_; }
  std::uint64_t next_transaction_id() { return ++transaction_ids_; }
  std::string& scratch() { return scratch_; }
  void mark_dirty(DomainQueue* domain) { dirty_domains_.push_back(domain); }
  void mark_dirty(Site* site) { dirty_sites_.push_back(site); }
  void wake_at(std::int64_t time_ms, DomainQueue* domain);
  void wake_at(std::int64_t time_ms, Site* site) { site_wakeups_.emplace(time_ms, site); }
  Site* find_site(const std::string& key);
  // A site for `destination`; `route`: the operator's relay, which the default destination's
  // pace does not apply to (named destinations still do).
  Site* make_site(const std::string& key, std::vector<Target> targets, SiteSecurity security,
                  const Destination& destination, bool route);
  // The circuit breaker of one MX host address, shared by every site on this shard.
  shaping::CircuitBreaker& breaker(const std::string& target_label);
  // A throttle changed state: logged with the reply and the rule that caused it.
  void report_throttle_event(const Throttle& throttle, const ThrottleEvent& event,
                             const ReplyRule* rule, const AttemptResult* cause);
  // The shaping view of this shard (every throttle), for the summary; after the run.
  std::vector<ShapingView> shaping_views() const;
  // Messages sent per source × destination name under a warm-up cap, for the warm-up state.
  std::vector<std::tuple<std::string, std::string, std::uint64_t>> warmup_sent() const;
  net::TlsContext* tls_context() { return tls_context_.get(); }
  // Stops the whole run (every shard): what waits ends deferred with `reason`.
  void abort_run(std::string reason) { context_.abort->request(std::move(reason)); }
  bool aborted() const { return context_.abort->requested.load(std::memory_order_relaxed); }
  int stop_level() const { return context_.stop->level.load(std::memory_order_relaxed); }
  const std::string& abort_reason() const { return context_.abort->reason; }
  bool may_open_connection() const;
  // A DNS lookup may start for `domain` (limits::dns_lookups_in_flight_max per shard); false:
  // it waits its turn and is scheduled again when one ends. end_lookup: one ended.
  bool begin_lookup(DomainQueue* domain);
  void end_lookup();
  // The shard is at its connection cap: `site` is scheduled again when a connection closes.
  void wait_for_connection_slot(Site* site) { starved_.push_back(site); }
  bool sites_waiting_for_slots() const { return !starved_.empty(); }
  void connection_opened() { ++connections_open_; ++counters_.connections_opened; }
  void connection_closed();
  void recipient_finished();  // a recipient reached its last outcome in this run
  // A bounce for the suppression list (is_suppression_event), kept until the run ends; past
  // limits::bounce_events_held_max the shard keeps none and says it is incomplete. Its
  // deliveries.jsonl line, just appended, is written through at once (one write a bounce,
  // which is rare), before the journal can make the outcome final: a run killed before it
  // records its events leaves every one of them in the file for the next run to read back.
  void keep_bounce_event(std::string_view address, const OutcomeClassification& why);
  // After the shard's thread ended.
  std::vector<BounceEvent> take_bounce_events() { return std::move(bounce_events_); }
  bool bounce_events_complete() const { return bounce_events_complete_; }

 private:
  void take_batch(RecipientBatch& batch);

  const CampaignContext& context_;
  Shard shard_;
  SpscQueue<BatchPointer> inbox_;
  dns::RingSocketWatcher socket_watcher_;
  std::unique_ptr<net::TlsContext> tls_context_;
  std::unique_ptr<dns::Resolver> resolver_;
  std::string resolver_error_;
  MessageComposer composer_;
  DkimContext dkim_;        // per shard: hashing contexts and the body-hash cache
  std::string signatures_;
  DeliveryLog log_;
  AccountingWriter accounting_;
  JournalProducer* journal_ = nullptr;
  DomainReport report_;
  std::string sender_;
  ShardCounters counters_;
  LiveCounters live_;
  absl::BitGen random_;
  ShardBoard board_;
  absl::flat_hash_map<std::string, std::unique_ptr<DomainQueue>> domains_;
  absl::flat_hash_map<std::string, std::unique_ptr<Site>> sites_;
  std::vector<DomainQueue*> dirty_domains_;
  std::vector<Site*> dirty_sites_;
  std::vector<Site*> starved_;   // want a connection while the shard is at its cap
  std::uint32_t lookups_in_flight_ = 0;
  std::deque<DomainQueue*> lookups_waiting_;
  using Wakeup = std::pair<std::int64_t, DomainQueue*>;
  std::priority_queue<Wakeup, std::vector<Wakeup>, std::greater<Wakeup>> wakeups_;
  using SiteWakeup = std::pair<std::int64_t, Site*>;
  std::priority_queue<SiteWakeup, std::vector<SiteWakeup>, std::greater<SiteWakeup>>
      site_wakeups_;
  // Throttles by "destination|source" (named destinations) or "site key|source" (default);
  // node-stable: sites keep pointers.
  absl::flat_hash_map<std::string, std::unique_ptr<Throttle>> throttles_;
  absl::flat_hash_map<std::string, std::unique_ptr<shaping::CircuitBreaker>> breakers_;
  std::vector<std::pair<Throttle*, std::uint32_t>> warmup_throttles_;  // with source index
  std::uint64_t recipients_held_ = 0;
  std::int64_t finished_unreported_ = 0;
  std::uint32_t connections_open_ = 0;
  std::uint64_t transaction_ids_ = 0;
  std::int64_t unix_time_s_ = 0;
  std::int64_t last_sweep_ms_ = 0;
  bool input_ended_ = false;
  bool deadline_passed_ = false;
  bool abort_handled_ = false;
  int stop_handled_ = 0;
  std::string scratch_;
  std::vector<BounceEvent> bounce_events_;
  bool bounce_events_complete_ = true;
};

}  // namespace hayate::campaign::delivery
