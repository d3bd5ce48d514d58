// The campaign's work on one shard: batches in, domain queues and sites scheduled, outcomes
// counted and written.
#include "campaign/delivery/campaign_shard.h"

#include <time.h>

#include <algorithm>
#include <cstdio>

#include "campaign/delivery/domain_queue.h"
#include "campaign/delivery/site.h"
#include "campaign/limits.h"
#include "campaign/output/journal.h"
#include "campaign/output/metrics.h"
#include "engine/assert.h"
#include "engine/strings.h"
#include "engine/write_fully.h"

namespace hayate::campaign::inline delivery {

namespace {

OutcomeWriter::Options outcome_options(const CampaignContext& context, JournalProducer* journal) {
  OutcomeWriter::Options options;
  options.deliveries_fd = context.deliveries_fd;
  options.accounting_fd = context.accounting_fd;
  options.accounting = context.accounting;
  options.journal = journal;
  options.keep_bounce_events = context.keep_bounce_events;
  return options;
}

}  // namespace

void ShardCounters::add(const ShardCounters& other) {
  delivered += other.delivered;
  bounced += other.bounced;
  deferred += other.deferred;
  attempts_deferred += other.attempts_deferred;
  connections_opened += other.connections_opened;
  connections_failed += other.connections_failed;
  servers_greeted += other.servers_greeted;
  message_bytes += other.message_bytes;
  domains += other.domains;
  tls_handshakes += other.tls_handshakes;
  tls_resumptions += other.tls_resumptions;
  tls_failures += other.tls_failures;
  not_attempted += other.not_attempted;
  possible_duplicates += other.possible_duplicates;
}

void ShapingEventLog::write(const ShapingEvent& event, std::string_view json_line,
                            std::string_view human_line) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ >= 0) (void)write_fully(fd_, json_line);
  if (echo_) std::fwrite(human_line.data(), 1, human_line.size(), stderr);
  if (kept_.events.size() < run_events_max) {
    kept_.events.push_back(event);
  } else {
    ++kept_.events_dropped;
  }
  if (event.event != "throttled" && event.event != "suspended") return;
  for (ShapingEvent& cause : kept_.causes) {
    if (cause.destination == event.destination) {
      cause = event;
      return;
    }
  }
  kept_.causes.push_back(event);
}

ShapingEventLog::Kept ShapingEventLog::kept() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return kept_;
}

CampaignShard::CampaignShard(const CampaignContext& context, std::uint32_t index)
    : context_(context),
      shard_(index),
      inbox_(limits::batches_per_shard_queue),
      socket_watcher_(shard_),
      composer_(context.message_inputs),
      journal_(context.journal != nullptr ? &context.journal->add_producer() : nullptr),
      outcomes_(outcome_options(context, journal_)),
      judge_(context.rules, context.job, context.deadline_ms),
      throttles_(context, index) {}

CampaignShard::~CampaignShard() {
  outcomes_.flush();
  sites_.clear();
  domains_.clear();
}

std::int64_t CampaignShard::unix_time_ms() const { return output::unix_time_ms(); }

void CampaignShard::on_start(Shard&) {
  dns::ResolverOptions options;
  for (const Endpoint& server : context_.job->dns_servers) {
    dns::SocketAddress address;
    if (dns::SocketAddress::parse(server.host, server.port, address)) {
      options.servers.push_back(address);
    }
  }
  resolver_ = dns::Resolver::create(options, socket_watcher_, resolver_error_);
  // The runner loaded the same CA file before starting: it cannot fail here.
  absl::StatusOr<std::unique_ptr<net::TlsContext>> tls =
      net::TlsContext::create(context_.job->ca_file);
  HAYATE_ASSERT(tls.ok());
  tls_context_ = std::move(*tls);
  // A resolver that cannot start is reported per domain (as a temporary DNS failure) below.
  socket_watcher_.set_resolver(resolver_.get());
  unix_time_s_ = time(nullptr);
}

void CampaignShard::on_wake(Shard&) {
  BatchPointer batch;
  while (inbox_.pop(batch)) take_batch(*batch);
}

void CampaignShard::take_batch(RecipientBatch& batch) {
  for (Recipient& recipient : batch.recipients) {
    std::string_view domain = recipient.domain();
    auto found = domains_.find(absl::string_view(domain.data(), domain.size()));
    if (found == domains_.end()) {
      const DomainQueueServices services{*this,
                                         *this,
                                         *this,
                                         judge_,
                                         *context_.job,
                                         *context_.rules,
                                         context_.campaign_started_unix_ms};
      found = domains_
                  .emplace(std::string(domain),
                           std::make_unique<DomainQueue>(services, std::string(domain)))
                  .first;
      ++counters_.domains;
    }
    ++recipients_held_;
    found->second->add(std::move(recipient));
  }
  if (batch.end_of_input) {
    input_ended_ = true;
    for (auto& [key, site] : sites_) mark_dirty(site.get());
  }
}

ShardCounters CampaignShard::final_counters() const {
  ShardCounters counters = counters_;
  if (tls_context_ != nullptr) {
    counters.tls_handshakes = tls_context_->counters().handshakes;
    counters.tls_resumptions = tls_context_->counters().resumptions;
    counters.tls_failures = tls_context_->counters().failures;
  }
  return counters;
}

Site* CampaignShard::find_site(const std::string& key) {
  auto found = sites_.find(key);
  return found == sites_.end() ? nullptr : found->second.get();
}

Site* CampaignShard::make_site(const std::string& key, std::vector<Target> targets,
                               SiteSecurity security, const Destination& destination, bool route) {
  std::vector<Lane> lanes = throttles_.lanes_for(key, destination, route, now_ms());
  if (lanes.empty()) {  // the destination's pool has no source: send from any
    return make_site(key, std::move(targets), security, context_.rules->destinations[0], route);
  }
  const SiteServices services{*this, *this, *this, throttles_, judge_, *context_.job};
  auto site =
      std::make_unique<Site>(services, key, std::move(targets), context_.connections_per_site,
                             security, destination, std::move(lanes));
  Site* pointer = site.get();
  HAYATE_ASSERT(sites_.emplace(key, std::move(site)).second);
  return pointer;
}

shaping::CircuitBreaker& CampaignShard::breaker(const std::string& target_label) {
  auto found = breakers_.find(target_label);
  if (found == breakers_.end()) {
    shaping::BreakerConfig config;
    config.failures_to_open = 3;
    found =
        breakers_.emplace(target_label, std::make_unique<shaping::CircuitBreaker>(config)).first;
  }
  return *found->second;
}

void CampaignShard::wake_at(std::int64_t time_ms, DomainQueue* domain) {
  wakeups_.emplace(time_ms, domain);
}

bool CampaignShard::may_open_connection() const {
  return connections_open_ < context_.connections_per_shard;
}

smtp::Connection* CampaignShard::open(const dns::SocketAddress& address,
                                      smtp::ConnectionOptions& options,
                                      smtp::ConnectionOwner& owner) {
  ++connections_open_;
  ++counters_.connections_opened;
  options.tls_context = tls_context_.get();
  return smtp::ClientConnection::open(shard_, address, options, owner);
}

void CampaignShard::connection_closed(const smtp::CloseReport& report, bool failed) {
  HAYATE_ASSERT(connections_open_ > 0);
  --connections_open_;
  if (report.greeted) ++counters_.servers_greeted;
  if (failed) ++counters_.connections_failed;
  // A slot is free: a domain that waited for one may open now.
  if (!starved_.empty()) {
    for (Site* site : starved_) dirty_sites_.push_back(site);
    starved_.clear();
  }
}

void CampaignShard::envelope_from(const Recipient& recipient, std::string& out) {
  if (const VerpKey* verp = context_.verp; verp != nullptr) {
    append_verp_address(*verp, context_.verp_tag, recipient.sequence, recipient.address(), out);
  } else {
    out.append(context_.job->envelope_from.text);
  }
}

std::uint64_t CampaignShard::append_message(const Recipient& recipient, bool eightbit_allowed,
                                            std::string& out) {
  fields_.clear();
  for (std::size_t i = 0; i < recipient.field_count(); ++i) fields_.push_back(recipient.field(i));
  message_.clear();
  const ComposeResult composed = composer_.compose(fields_, recipient.address(), recipient.sequence,
                                                   unix_time_s_, message_, eightbit_allowed);
  if (!context_.dkim_signers.empty()) {  // signed once, on the shard that sends, just before
    signatures_.clear();
    dkim_.sign(context_.dkim_signers, message_, unix_time_s_, signatures_);
    out.append(signatures_);  // header lines: nothing there starts with a dot
    counters_.message_bytes += signatures_.size();
  }
  counters_.message_bytes += message_.size();
  append_dot_stuffed(message_, out);
  return composed.message_id_random;
}

void CampaignShard::append_message_id(const Recipient& recipient, std::uint64_t message_id_random,
                                      std::string& out) {
  composer_.append_message_id(recipient.sequence, message_id_random, out);
}

void CampaignShard::record(OutcomeRecord& record, const Recipient& recipient) {
  sender_.clear();
  envelope_from(recipient, sender_);  // the sender this recipient's attempt used
  record.envelope_from = sender_;
  outcomes_.write(record, unix_time_s_);
  if (record.possible_duplicate) ++counters_.possible_duplicates;
  switch (record.type) {
    case OutcomeType::delivered:
      ++counters_.delivered;
      break;
    case OutcomeType::bounced:
      ++counters_.bounced;
      break;
    case OutcomeType::deferred:
      ++(record.final ? counters_.deferred : counters_.attempts_deferred);
      break;
    case OutcomeType::rejected:
    case OutcomeType::suppressed:
      HAYATE_ASSERT(false);  // the reader's, never a shard's
  }
  if (record.final) recipient_finished();
}

bool CampaignShard::begin_lookup(DomainQueue* domain) {
  if (lookups_in_flight_ < limits::dns_lookups_in_flight_max) {
    ++lookups_in_flight_;
    return true;
  }
  if (!domain->lookup_queued) {
    domain->lookup_queued = true;
    lookups_waiting_.push_back(domain);
  }
  return false;
}

void CampaignShard::end_lookup() {
  HAYATE_ASSERT(lookups_in_flight_ > 0);
  --lookups_in_flight_;
  if (!lookups_waiting_.empty()) {
    DomainQueue* next = lookups_waiting_.front();
    lookups_waiting_.pop_front();
    next->lookup_queued = false;
    mark_dirty(next);  // its schedule() starts the lookup
  }
}

void CampaignShard::recipient_finished() {
  HAYATE_ASSERT(recipients_held_ > 0);
  --recipients_held_;
  ++finished_unreported_;
}

void CampaignShard::sweep(std::int64_t now_ms) {
  last_sweep_ms_ = now_ms;
  unix_time_s_ = time(nullptr);
  for (auto& [key, site] : sites_) site->check_timeouts(now_ms);
  throttles_.poll(now_ms);
  // A domain's wake-up is the retry of its earliest waiting recipient (DomainQueue::defer).
  const std::int64_t next_retry_unix_ms =
      wakeups_.empty() ? 0
                       : unix_time_ms() + std::max<std::int64_t>(0, wakeups_.top().first - now_ms);
  board_.publish(ShardSnapshot{final_counters(), outcomes_.report().top(metrics_destinations_max),
                               throttles_.views(now_ms), outcomes_.tally(), next_retry_unix_ms});
}

void CampaignShard::on_tick(Shard& shard) {
  const std::int64_t now = shard.now_ms();
  if (now - last_sweep_ms_ >= 1000) sweep(now);
  while (!site_wakeups_.empty() && site_wakeups_.top().first <= now) {
    Site* site = site_wakeups_.top().second;
    site_wakeups_.pop();
    site->wake(now);
  }
  // next_timeout_ms() never reads 0 for a query whose time is up (it rounds up to 1 ms so that
  // owners do not spin), so asking it would leave retries and timeouts undone: a silent DNS
  // server held the run forever. on_tick is cheap when nothing is due.
  if (resolver_ != nullptr && !resolver_->idle()) resolver_->on_tick();
  while (!wakeups_.empty() && wakeups_.top().first <= now) {
    DomainQueue* domain = wakeups_.top().second;
    wakeups_.pop();
    domain->wake();
  }
  handle_run_events(now);
  schedule_dirty();
  publish_live();
}

void CampaignShard::handle_run_events(std::int64_t now_ms) {
  if (!deadline_passed_ && now_ms >= context_.deadline_ms) {
    deadline_passed_ = true;
    for (auto& [name, domain] : domains_) domain->expire_waiting();
  }
  if (log_failed() && stop_level() == 0) {
    // An output cannot be written (disk full?): sending more would leave mail unaccounted.
    int none = 0;
    if (context_.stop->level.compare_exchange_strong(none, 1)) {
      std::fputs(
          "hayate: cannot write the delivery logs (disk full or an I/O error); finishing "
          "what is in flight\n",
          stderr);
    }
  }
  if (const int level = stop_level(); level > stop_handled_) {
    stop_handled_ = level;
    for (auto& [key, site] : sites_) site->stop(level >= 2);
  }
  if (aborted() && !abort_handled_) {
    abort_handled_ = true;
    for (auto& [name, domain] : domains_) mark_dirty(domain.get());  // they give up (schedule)
  }
  // Sites waiting for a connection slot: idle connections elsewhere give theirs up.
  if (!starved_.empty()) {
    for (auto& [key, site] : sites_) site->release_idle_connections();
  }
}

void CampaignShard::schedule_dirty() {
  // A site left without a connection slot waits in starved_ until a connection closes.
  delivery::schedule_dirty(dirty_domains_, dirty_sites_);
}

void CampaignShard::publish_live() {
  live_.delivered.store(counters_.delivered, std::memory_order_relaxed);
  live_.bounced.store(counters_.bounced, std::memory_order_relaxed);
  live_.deferred.store(counters_.deferred, std::memory_order_relaxed);
  live_.attempts_deferred.store(counters_.attempts_deferred, std::memory_order_relaxed);
  live_.connections_open.store(connections_open_, std::memory_order_relaxed);
  live_.recipients_held.store(recipients_held_, std::memory_order_relaxed);
  live_.recipients_waiting.store(
      static_cast<std::uint64_t>(std::max<std::int64_t>(0, recipients_waiting_)),
      std::memory_order_relaxed);
  if (finished_unreported_ > 0) {
    context_.recipients_pending->fetch_sub(finished_unreported_);
    context_.recipients_pending->notify_all();
    finished_unreported_ = 0;
  }
}

std::int64_t CampaignShard::next_wakeup_ms(Shard& shard) {
  std::int64_t wait_ms = -1;
  if (!dirty_domains_.empty() || !dirty_sites_.empty()) return 0;
  if (!wakeups_.empty()) wait_ms = std::max<std::int64_t>(0, wakeups_.top().first - shard.now_ms());
  if (!site_wakeups_.empty()) {
    const std::int64_t site_ms =
        std::max<std::int64_t>(0, site_wakeups_.top().first - shard.now_ms());
    if (wait_ms < 0 || site_ms < wait_ms) wait_ms = site_ms;
  }
  if (resolver_ != nullptr && !resolver_->idle()) {
    const std::int64_t dns_ms = resolver_->next_timeout_ms();
    if (dns_ms >= 0 && (wait_ms < 0 || dns_ms < wait_ms)) wait_ms = dns_ms;
  }
  if (wait_ms < 0 || wait_ms > 1000) outcomes_.flush();  // quiet moment: let the log reach the disk
  return wait_ms;
}

bool CampaignShard::finished(Shard&) {
  if (stop_handled_ > 0 && connections_open_ == 0 && input_ended_) {
    // Stopped by a signal: what is still queued stays for the next run.
    counters_.not_attempted = recipients_held_;
    return true;
  }
  return input_ended_ && recipients_held_ == 0 && connections_open_ == 0 &&
         (resolver_ == nullptr || resolver_->idle());
}

}  // namespace hayate::campaign::delivery
