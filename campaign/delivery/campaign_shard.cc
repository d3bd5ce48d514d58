// The shard side of a campaign run: batches in, domain queues scheduled, DNS driven, retries
// woken, outcomes logged, and the end of the run recognised.
#include "campaign/delivery/campaign_shard.h"

#include <time.h>

#include <cstdio>

#include <algorithm>

#include "campaign/delivery/domain_queue.h"
#include "campaign/output/metrics.h"
#include "campaign/delivery/site.h"
#include "engine/assert.h"
#include "campaign/limits.h"
#include "engine/strings.h"
#include "engine/write_fully.h"
#include "absl/strings/str_format.h"
#include "campaign/output/journal.h"

namespace hayate::campaign::inline delivery {

namespace {

void append_json_string(std::string_view text, std::string& out) {
  out += '"';
  append_json_escaped(text, out);
  out += '"';
}

std::string format_pace(double per_second) {
  if (per_second <= 0) return "unpaced";
  if (per_second >= 1) return absl::StrFormat("%.1f/s", per_second);
  return absl::StrFormat("%.1f/min", per_second * 60);
}

}  // namespace

int shaping_state_rank(std::string_view state) {
  if (state == "suspended") return 3;
  if (state == "throttled") return 2;
  if (state == "recovering") return 1;
  return 0;
}

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
}

CampaignShard::CampaignShard(const CampaignContext& context, std::uint32_t index)
    : context_(context),
      shard_(index),
      inbox_(limits::batches_per_shard_queue),
      socket_watcher_(shard_),
      composer_(context.message_inputs),
      log_(context.deliveries_fd),
      accounting_(context.accounting_fd, context.accounting),
      journal_(context.journal != nullptr ? &context.journal->add_producer() : nullptr) {}

CampaignShard::~CampaignShard() {
  log_.flush();
  accounting_.flush();
  sites_.clear();
  domains_.clear();
}

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
  absl::StatusOr<std::unique_ptr<net::TlsContext>> tls = net::TlsContext::create(context_.job->ca_file);
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
      found = domains_.emplace(std::string(domain),
                               std::make_unique<DomainQueue>(*this, std::string(domain)))
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
  const JobConfig& job = *context_.job;
  const std::uint32_t shards = std::max(1u, context_.shard_count);
  // The default destination's limits are per site (each small domain its own); a named
  // destination's are shared by every site of it on this shard (MX rollup).
  const bool named = destination.index != 0;
  std::vector<Site::Lane> lanes;
  for (std::uint32_t i = 0; i < context_.sources.size(); ++i) {
    const SendingSource& source = context_.sources[i];
    // A destination's pool; the default pool is every source.
    if (!destination.pool.empty() && destination.pool != "default" &&
        source.pool != destination.pool) {
      continue;
    }
    const std::string throttle_key =
        cat(named ? destination.name : key, "|", source.name);
    auto found = throttles_.find(throttle_key);
    if (found == throttles_.end()) {
      ThrottleLimits limits;
      // A named destination's throttles, and a route's, exist on every shard: each holds its
      // share. A domain's own site (the default destination over MX) lives on one shard only.
      const std::uint32_t share = named || route ? shards : 1;
      limits.connections_max = std::max<std::uint32_t>(
          1, std::min(destination.connections_max, job.connections_per_domain) / share);
      limits.messages_per_connection =
          named ? destination.messages_per_connection : job.messages_per_connection;
      if (!(route && !named) && !destination.rate.unlimited()) {
        limits.rate = destination.rate;
        limits.rate.period_ms *= share;  // this shard's share
      }
      limits.rate_min = destination.rate_min;
      limits.throttle_factor = destination.throttle_factor;
      limits.throttle_cooldown_ms = destination.throttle_cooldown_ms;
      limits.recovery_interval_ms = destination.recovery_interval_ms;
      // Warm-up caps are per provider: a named destination's (the default destination's
      // throttles are per site, and a cap copied to each would not be one).
      if (named && i < context_.warmup_remaining.size() &&
          destination.index < context_.warmup_remaining[i].size()) {
        if (const std::optional<std::uint64_t>& remaining =
                context_.warmup_remaining[i][destination.index]) {
          limits.warmup_remaining = share_of(*remaining, shards, shard_.index());
        }
      }
      auto throttle = std::make_unique<Throttle>(named ? destination.name : key, source.name,
                                                 limits, now_ms());
      if (limits.warmup_remaining) warmup_throttles_.emplace_back(throttle.get(), i);
      found = throttles_.emplace(throttle_key, std::move(throttle)).first;
    }
    lanes.push_back(Site::Lane{found->second.get(), &source, nullptr});
  }
  if (named && (destination.destination_connections_max > 0 ||
                !destination.destination_rate.unlimited())) {
    // Caps for all sources together: one more throttle, shared by every lane.
    const std::string shared_key = cat(destination.name, "|*");
    auto found = throttles_.find(shared_key);
    if (found == throttles_.end()) {
      ThrottleLimits limits;
      limits.connections_max =
          destination.destination_connections_max > 0
              ? std::max<std::uint32_t>(1, destination.destination_connections_max / shards)
              : UINT32_MAX / 2;
      if (!destination.destination_rate.unlimited()) {
        limits.rate = destination.destination_rate;
        limits.rate.period_ms *= shards;
      }
      limits.rate_min = destination.rate_min;
      found = throttles_
                  .emplace(shared_key, std::make_unique<Throttle>(destination.name, "*", limits,
                                                                  now_ms()))
                  .first;
    }
    for (Site::Lane& lane : lanes) lane.shared = found->second.get();
  }
  if (lanes.empty()) {  // the destination's pool has no source: send from any
    return make_site(key, std::move(targets), security, context_.rules->destinations[0], route);
  }
  auto site = std::make_unique<Site>(*this, key, std::move(targets), context_.connections_per_site,
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
    found = breakers_.emplace(target_label, std::make_unique<shaping::CircuitBreaker>(config)).first;
  }
  return *found->second;
}

void CampaignShard::report_throttle_event(const Throttle& throttle, const ThrottleEvent& event,
                                          const ReplyRule* rule, const AttemptResult* cause) {
  if (context_.shaping_log == nullptr) return;
  const std::int64_t now = now_ms();
  std::string json = cat("{\"time_unix_ms\":", unix_time_ms(), ",\"event\":\"",
                         throttle_event_name(event.type), "\",\"destination\":");
  append_json_string(throttle.destination(), json);
  append(json, ",\"source\":");
  append_json_string(throttle.source(), json);
  std::string human = cat("hayate: shaping: ", throttle.destination(),
                          throttle.source().empty() ? "" : cat(" from ", throttle.source()), " ",
                          throttle_event_name(event.type));
  append(json, ",\"connections\":", event.connections_after,
         ",\"rate_per_second\":", absl::StrFormat("%.3f", event.rate_per_second_after));
  if (event.type == ThrottleEventType::throttled || event.type == ThrottleEventType::recovered) {
    append(human, ": connections ", event.connections_before, " -> ", event.connections_after,
           ", rate ", format_pace(event.rate_per_second_before), " -> ",
           format_pace(event.rate_per_second_after));
  }
  if (event.type == ThrottleEventType::suspended) {
    const std::int64_t seconds = (event.until_ms - now + 999) / 1000;
    append(json, ",\"suspended_s\":", seconds);
    append(human, " for ", seconds, " s");
  }
  if (rule != nullptr) {
    append(json, ",\"rule\":");
    append_json_string(rule->name, json);
    append(human, " (rule ", rule->name, ")");
  }
  if (cause != nullptr) {
    append(json, ",\"code\":", cause->code, ",\"enhanced\":");
    append_json_string(cause->enhanced, json);
    append(json, ",\"reply\":");
    append_json_string(cause->reason, json);
    append(human, " after \"", cause->code, " ", cause->reason.substr(0, 160), "\"");
  }
  append(json, "}\n");
  human += '\n';
  context_.shaping_log->write(json, human);
}

std::vector<ShapingView> CampaignShard::shaping_views() const {
  const std::int64_t now = now_ms();
  std::vector<ShapingView> views;
  absl::flat_hash_map<std::string_view, std::size_t> index;
  for (const auto& [key, throttle] : throttles_) {
    if (throttle->throttles() + throttle->suspensions() == 0) continue;
    auto [found, inserted] = index.emplace(throttle->destination(), views.size());
    if (inserted) views.push_back(ShapingView{throttle->destination(), "normal"});
    ShapingView& view = views[found->second];
    view.throttles += throttle->throttles();
    view.suspensions += throttle->suspensions();
    view.recoveries += throttle->recoveries();
    const std::string_view state = throttle->state_name(now);
    if (shaping_state_rank(state) > shaping_state_rank(view.state)) view.state = state;
  }
  return views;
}

std::vector<std::tuple<std::string, std::string, std::uint64_t>> CampaignShard::warmup_sent()
    const {
  std::vector<std::tuple<std::string, std::string, std::uint64_t>> sent;
  for (const auto& [throttle, source] : warmup_throttles_) {
    sent.emplace_back(context_.sources[source].name, throttle->destination(), throttle->sent());
  }
  return sent;
}

void ShapingEventLog::write(std::string_view json_line, std::string_view human_line) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ >= 0) (void)write_fully(fd_, json_line);
  if (echo_) std::fwrite(human_line.data(), 1, human_line.size(), stderr);
}

void CampaignShard::wake_at(std::int64_t time_ms, DomainQueue* domain) {
  wakeups_.emplace(time_ms, domain);
}

bool CampaignShard::may_open_connection() const {
  return connections_open_ < context_.connections_per_shard;
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

void CampaignShard::connection_closed() {
  HAYATE_ASSERT(connections_open_ > 0);
  --connections_open_;
  // A slot is free: a domain that waited for one may open now.
  if (!starved_.empty()) {
    for (Site* site : starved_) dirty_sites_.push_back(site);
    starved_.clear();
  }
}

void CampaignShard::keep_bounce_event(std::string_view address, const OutcomeClassification& why) {
  if (!context_.keep_bounce_events) return;
  log_.flush();
  if (!bounce_events_complete_) return;
  if (bounce_events_.size() >= limits::bounce_events_held_max) {
    bounce_events_complete_ = false;  // the runner reads deliveries.jsonl back instead
    bounce_events_.clear();
    bounce_events_.shrink_to_fit();
    return;
  }
  bounce_events_.push_back(BounceEvent{std::string(address), why.reason, why.hard, unix_time_s_});
}

void CampaignShard::recipient_finished() {
  HAYATE_ASSERT(recipients_held_ > 0);
  --recipients_held_;
  ++finished_unreported_;
}

void CampaignShard::on_tick(Shard& shard) {
  const std::int64_t now = shard.now_ms();
  if (now - last_sweep_ms_ >= 1000) {
    last_sweep_ms_ = now;
    unix_time_s_ = time(nullptr);
    for (auto& [key, site] : sites_) site->check_timeouts(now);
    for (auto& [key, throttle] : throttles_) {
      if (std::optional<ThrottleEvent> event = throttle->poll(now)) {
        report_throttle_event(*throttle, *event, nullptr, nullptr);
      }
    }
    board_.publish(ShardSnapshot{final_counters(), report_.top(metrics_destinations_max),
                                 shaping_views()});
  }
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
  if (!deadline_passed_ && now >= context_.deadline_ms) {
    deadline_passed_ = true;
    for (auto& [name, domain] : domains_) domain->expire_waiting();
  }
  if (log_failed() && stop_level() == 0) {
    // An output cannot be written (disk full?): sending more would leave mail unaccounted.
    int none = 0;
    if (context_.stop->level.compare_exchange_strong(none, 1)) {
      std::fputs("hayate: cannot write the delivery logs (disk full or an I/O error); finishing "
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
  // Domains first (they resolve and join their sites' rotations), then the sites (they open
  // connections or hand work to idle ones). A site left without a connection slot waits in
  // starved_ until a connection closes.
  for (std::size_t round = 0; round < 4 && (!dirty_domains_.empty() || !dirty_sites_.empty());
       ++round) {
    std::vector<DomainQueue*> domains;
    domains.swap(dirty_domains_);
    std::sort(domains.begin(), domains.end());
    domains.erase(std::unique(domains.begin(), domains.end()), domains.end());
    for (DomainQueue* domain : domains) domain->schedule();
    std::vector<Site*> sites;
    sites.swap(dirty_sites_);
    std::sort(sites.begin(), sites.end());
    sites.erase(std::unique(sites.begin(), sites.end()), sites.end());
    for (Site* site : sites) site->schedule();
  }
  live_.delivered.store(counters_.delivered, std::memory_order_relaxed);
  live_.bounced.store(counters_.bounced, std::memory_order_relaxed);
  live_.deferred.store(counters_.deferred, std::memory_order_relaxed);
  live_.attempts_deferred.store(counters_.attempts_deferred, std::memory_order_relaxed);
  live_.connections_open.store(connections_open_, std::memory_order_relaxed);
  live_.recipients_held.store(recipients_held_, std::memory_order_relaxed);
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
  if (wait_ms < 0 || wait_ms > 1000) log_.flush();  // quiet moment: let the log reach the disk
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
