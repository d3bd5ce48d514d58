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
#include "campaign/bounce/recording.h"
#include "campaign/config/job.h"
#include "campaign/delivery/campaign_context.h"
#include "campaign/delivery/delivery_services.h"
#include "campaign/delivery/shaping_rules.h"
#include "campaign/delivery/throttle_table.h"
#include "campaign/delivery/verdict.h"
#include "campaign/input/recipient.h"
#include "campaign/message/dkim.h"
#include "campaign/message/message.h"
#include "campaign/output/domain_report.h"
#include "campaign/output/outcome_writer.h"
#include "engine/dns/resolver.h"
#include "engine/dns/ring_socket_watcher.h"
#include "engine/net/tls.h"
#include "engine/shaping/circuit_breaker.h"
#include "engine/shard.h"
#include "engine/spsc_queue.h"

namespace hayate::campaign::inline delivery {

struct ShardCounters {
  std::uint64_t delivered = 0;
  std::uint64_t bounced = 0;
  std::uint64_t deferred = 0;           // still deferred when the run ended
  std::uint64_t attempts_deferred = 0;  // temporary failures that were retried
  std::uint64_t connections_opened = 0;
  std::uint64_t connections_failed = 0;  // ended before a positive greeting
  std::uint64_t servers_greeted = 0;     // connections that got a positive greeting
  std::uint64_t message_bytes = 0;
  std::uint32_t domains = 0;
  std::uint64_t tls_handshakes = 0;
  std::uint64_t tls_resumptions = 0;
  std::uint64_t tls_failures = 0;
  std::uint64_t not_attempted = 0;        // left waiting when a signal stopped the run
  std::uint64_t possible_duplicates = 0;  // lost after the final dot went out (RFC 1047)
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
  std::atomic<std::uint64_t> recipients_waiting{0};  // deferred, waiting for their retry
};

// What a shard shows of itself once a second to the run's monitor for the live metrics: its
// counters (TLS folded in), its largest destinations and its shaping. Copied under a mutex
// that only the shard and the monitor take, each once a second: never on the sending path.
struct ShardSnapshot {
  ShardCounters counters;
  std::vector<std::pair<std::string, DomainCounts>> destinations;  // largest first
  std::vector<ShapingView> shaping;  // destinations that were ever throttled or suspended
  RunTally tally;
  std::int64_t next_retry_unix_ms = 0;  // the earliest waiting recipient's retry; 0: none
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

// The campaign's side of one shard: the ShardHandler the engine drives, and the services
// (delivery_services.h) its domain queues and sites use.
class CampaignShard final : public ShardHandler,
                            public RunControl,
                            public ConnectionOpener,
                            public MessageSource,
                            public Router,
                            public OutcomeSink {
 public:
  CampaignShard(const CampaignContext& context, std::uint32_t index);
  ~CampaignShard() override;

  // The reader's side: a batch for this shard. False when the queue is full (try later).
  bool offer(BatchPointer& batch) { return inbox_.push(std::move(batch)); }
  Shard& shard() { return shard_; }
  // The counters with the TLS ones folded in; read after the shard's thread ended.
  ShardCounters final_counters() const;
  const LiveCounters& live() const { return live_; }
  const ShardBoard& board() const { return board_; }
  bool log_failed() const { return outcomes_.failed(); }
  const DomainReport& report() const { return outcomes_.report(); }
  // The shaping view of this shard (every throttle), for the summary; after the run.
  std::vector<ShapingView> shaping_views() const { return throttles_.views(shard_.now_ms()); }
  // The outcome tally; read after the shard's thread ended (the board has a copy meanwhile).
  const RunTally& tally() const { return outcomes_.tally(); }
  // Messages sent per source × destination name under a warm-up cap, for the warm-up state.
  std::vector<std::tuple<std::string, std::string, std::uint64_t>> warmup_sent() const {
    return throttles_.warmup_sent();
  }
  // After the shard's thread ended: bounces for the suppression list (see OutcomeWriter).
  std::vector<BounceEvent> take_bounce_events() { return outcomes_.take_bounce_events(); }
  bool bounce_events_complete() const { return outcomes_.bounce_events_complete(); }

  // ShardHandler
  void on_start(Shard& shard) override;
  void on_wake(Shard& shard) override;
  void on_tick(Shard& shard) override;
  std::int64_t next_wakeup_ms(Shard& shard) override;
  bool finished(Shard& shard) override;

  // RunControl
  std::int64_t now_ms() const override { return shard_.now_ms(); }
  std::int64_t unix_time_ms() const override;
  double uniform_random() override { return absl::Uniform<double>(random_, 0.0, 1.0); }
  bool input_ended() const override { return input_ended_; }
  int stop_level() const override { return context_.stop->level.load(std::memory_order_relaxed); }
  bool aborted() const override {
    return context_.abort->requested.load(std::memory_order_relaxed);
  }
  const std::string& abort_reason() const override { return context_.abort->reason; }
  void abort_run(std::string reason) override { context_.abort->request(std::move(reason)); }
  void mark_dirty(DomainQueue* domain) override { dirty_domains_.push_back(domain); }
  void mark_dirty(Site* site) override { dirty_sites_.push_back(site); }
  void wake_at(std::int64_t time_ms, DomainQueue* domain) override;
  void waiting_changed(std::int64_t delta) override { recipients_waiting_ += delta; }
  void wake_at(std::int64_t time_ms, Site* site) override { site_wakeups_.emplace(time_ms, site); }

  // ConnectionOpener
  bool may_open_connection() const override;
  void wait_for_connection_slot(Site* site) override { starved_.push_back(site); }
  bool sites_waiting_for_slots() const override { return !starved_.empty(); }
  smtp::Connection* open(const dns::SocketAddress& address, smtp::ConnectionOptions& options,
                         smtp::ConnectionOwner& owner) override;
  void connection_closed(const smtp::CloseReport& report, bool failed) override;
  shaping::CircuitBreaker& breaker(const std::string& target_label) override;

  // MessageSource
  std::uint64_t next_transaction_id() override { return ++transaction_ids_; }
  void envelope_from(const Recipient& recipient, std::string& out) override;
  std::uint64_t append_message(const Recipient& recipient, bool eightbit_allowed,
                               std::string& out) override;
  void append_message_id(const Recipient& recipient, std::uint64_t message_id_random,
                         std::string& out) override;

  // Router
  Site* find_site(const std::string& key) override;
  Site* make_site(const std::string& key, std::vector<Target> targets, SiteSecurity security,
                  const Destination& destination, bool route) override;
  dns::Resolver* resolver() override { return resolver_.get(); }
  const std::string& resolver_error() const override { return resolver_error_; }
  bool begin_lookup(DomainQueue* domain) override;
  void end_lookup() override;

  // OutcomeSink
  void record(OutcomeRecord& record, const Recipient& recipient) override;

 private:
  void take_batch(RecipientBatch& batch);
  void recipient_finished();  // a recipient reached its last outcome in this run
  // Once a second: timeouts, suspensions that ended, the board.
  void sweep(std::int64_t now_ms);
  // A signal, an abort, a full disk or the deadline: what each asks of domains and sites.
  void handle_run_events(std::int64_t now_ms);
  // Domains first (they resolve and join their sites' rotations), then the sites.
  void schedule_dirty();
  void publish_live();

  const CampaignContext& context_;
  Shard shard_;
  SpscQueue<BatchPointer> inbox_;
  dns::RingSocketWatcher socket_watcher_;
  std::unique_ptr<net::TlsContext> tls_context_;
  std::unique_ptr<dns::Resolver> resolver_;
  std::string resolver_error_;
  MessageComposer composer_;
  DkimContext dkim_;  // per shard: hashing contexts and the body-hash cache
  std::string signatures_;
  std::string message_;                   // the message being composed, before dot-stuffing
  std::vector<std::string_view> fields_;  // the recipient's fields, reused for every message
  JournalProducer* journal_ = nullptr;
  OutcomeWriter outcomes_;
  Judge judge_;
  ThrottleTable throttles_;
  std::string sender_;
  ShardCounters counters_;
  LiveCounters live_;
  absl::BitGen random_;
  ShardBoard board_;
  absl::flat_hash_map<std::string, std::unique_ptr<DomainQueue>> domains_;
  absl::flat_hash_map<std::string, std::unique_ptr<Site>> sites_;
  std::vector<DomainQueue*> dirty_domains_;
  std::vector<Site*> dirty_sites_;
  std::vector<Site*> starved_;  // want a connection while the shard is at its cap
  std::uint32_t lookups_in_flight_ = 0;
  std::deque<DomainQueue*> lookups_waiting_;
  using Wakeup = std::pair<std::int64_t, DomainQueue*>;
  std::priority_queue<Wakeup, std::vector<Wakeup>, std::greater<Wakeup>> wakeups_;
  using SiteWakeup = std::pair<std::int64_t, Site*>;
  std::priority_queue<SiteWakeup, std::vector<SiteWakeup>, std::greater<SiteWakeup>> site_wakeups_;
  absl::flat_hash_map<std::string, std::unique_ptr<shaping::CircuitBreaker>> breakers_;
  std::uint64_t recipients_held_ = 0;
  std::int64_t recipients_waiting_ = 0;  // in the domains' waiting lists
  std::int64_t finished_unreported_ = 0;
  std::uint32_t connections_open_ = 0;
  std::uint64_t transaction_ids_ = 0;
  std::int64_t unix_time_s_ = 0;
  std::int64_t last_sweep_ms_ = 0;
  bool input_ended_ = false;
  bool deadline_passed_ = false;
  bool abort_handled_ = false;
  int stop_handled_ = 0;
};

}  // namespace hayate::campaign::delivery
