// Per-domain recipients, routing and outcomes.
#include "campaign/delivery/domain_queue.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "campaign/bounce/recording.h"
#include "campaign/delivery/campaign_shard.h"
#include "campaign/output/journal.h"
#include "campaign/delivery/shaping_rules.h"
#include "campaign/delivery/site.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign::inline delivery {

DomainQueue::DomainQueue(CampaignShard& shard, std::string domain)
    : shard_(shard), domain_(std::move(domain)) {}

void DomainQueue::add(Recipient&& recipient) {
  if (recipient.not_before_ms > shard_.now_ms()) {
    // Resumed in the middle of its retry schedule: it waits for its time, as before the stop.
    if (earliest_wakeup_ms_ == 0 || recipient.not_before_ms < earliest_wakeup_ms_) {
      earliest_wakeup_ms_ = recipient.not_before_ms;
      shard_.wake_at(earliest_wakeup_ms_, this);
    }
    waiting_.push_back(std::move(recipient));
    return;
  }
  ready_.push_back(std::move(recipient));
  shard_.mark_dirty(this);
}

Recipient DomainQueue::take() {
  HAYATE_ASSERT(!ready_.empty());
  Recipient recipient = std::move(ready_.front());
  ready_.pop_front();
  return recipient;
}

void DomainQueue::schedule() {
  if (shard_.aborted()) {
    abandon();
    return;
  }
  if (ready_.empty() || shard_.stop_level() > 0) return;
  switch (resolution_) {
    case Resolution::unresolved:
      resolve();
      return;
    case Resolution::resolving:
      return;
    case Resolution::failed:  // a permanent answer, kept for the rest of the run
      fail_ready(AttemptResult{failure_code_, failure_enhanced_, failure_, "dns", "", -1});
      return;
    case Resolution::ready:
      HAYATE_ASSERT(site_ != nullptr);
      site_->add_ready_domain(this);
      return;
  }
}

TlsMode DomainQueue::mx_tls_mode(const Destination& destination) const {
  const JobConfig& job = *shard_.context().job;
  // A [domains] entry is the operator's word for this domain: it wins.
  const auto policy = std::find_if(job.domains.begin(), job.domains.end(),
                                   [this](const DomainPolicy& p) { return p.domain == domain_; });
  if (policy != job.domains.end() && policy->tls) return *policy->tls;
  // Else the stricter of [delivery] tls and the destination's (Gmail's rules require TLS).
  const auto strictness = [](TlsMode mode) {
    return mode == TlsMode::required ? 2 : mode == TlsMode::opportunistic ? 1 : 0;
  };
  return strictness(destination.tls) > strictness(job.tls) ? destination.tls : job.tls;
}

const Destination& DomainQueue::route_destination() const {
  return shard_.context().rules->match_destination(domain_, {});
}

std::string DomainQueue::route_site_key(const Route& route) const {
  // Domains of a named destination get their own connections to the relay: its limits and
  // the replies that move them are theirs alone.
  const Destination& destination = route_destination();
  std::string key = absl::StrCat("route ", route.endpoint.host, ":", route.endpoint.port);
  if (destination.index != 0) append(key, " [", destination.name, "]");
  return key;
}

SiteSecurity DomainQueue::route_security(const Route& route) const {
  const JobConfig& job = *shard_.context().job;
  return SiteSecurity{tls_mode_for(job, domain_, &route), route.implicit_tls, &route};
}

void DomainQueue::resolve() {
  HAYATE_ASSERT(resolution_ == Resolution::unresolved);
  const JobConfig& job = *shard_.context().job;
  const Route* route = find_route(job, domain_);
  if (route != nullptr) {
    const std::string key = route_site_key(*route);
    if (Site* site = shard_.find_site(key); site != nullptr) {
      site_ = site;
      resolution_ = Resolution::ready;
      shard_.mark_dirty(this);
      return;
    }
    dns::SocketAddress literal;
    if (dns::SocketAddress::parse(route->endpoint.host, route->endpoint.port, literal)) {
      site_ = shard_.make_site(
          key, {Target{literal, absl::StrCat("route ", literal.to_string()), route->endpoint.host}},
          route_security(*route), route_destination(), true);
      resolution_ = Resolution::ready;
      shard_.mark_dirty(this);
      return;
    }
  }
  if (shard_.resolver() == nullptr) {
    fail_ready(AttemptResult{0, "4.4.3",
                             absl::StrCat("DNS resolver unavailable: ", shard_.resolver_error()),
                             "dns", "", -1});
    return;
  }
  if (!shard_.begin_lookup(this)) return;  // scheduled again when a lookup slot frees
  resolution_ = Resolution::resolving;
  if (route != nullptr) {
    shard_.resolver()->resolve_host(route->endpoint.host, route->endpoint.port,
                                    [this](const dns::HostAnswer& answer) {
                                      on_route_answer(answer);
                                    });
  } else {
    shard_.resolver()->resolve_mx(domain_, job.port,
                                  [this](const dns::MxAnswer& answer) { on_mx_answer(answer); });
  }
}

void DomainQueue::on_route_answer(const dns::HostAnswer& answer) {
  shard_.end_lookup();
  const Route* route = find_route(*shard_.context().job, domain_);
  HAYATE_ASSERT(route != nullptr);
  std::vector<Target> targets;
  for (const dns::SocketAddress& address : answer.addresses) {
    targets.push_back(Target{address,
                             absl::StrCat("route ", route->endpoint.host, " (",
                                          address.to_string(), ")"),
                             route->endpoint.host});
  }
  if (answer.outcome == dns::Outcome::ok && !targets.empty()) {
    const std::string key = route_site_key(*route);
    site_ = shard_.find_site(key);
    if (site_ == nullptr) {
      site_ = shard_.make_site(key, std::move(targets), route_security(*route),
                               route_destination(), true);
    }
    resolution_ = Resolution::ready;
  } else {
    resolution_ = Resolution::unresolved;  // looked up again at the next attempt
    const bool permanent = answer.outcome == dns::Outcome::no_domain;
    const std::string reason = absl::StrCat("route host ", route->endpoint.host, ": ", answer.error);
    fail_ready(AttemptResult{0, permanent ? "5.4.4" : "4.4.3", reason, "dns", "", -1});
  }
  shard_.mark_dirty(this);
}

void DomainQueue::on_mx_answer(const dns::MxAnswer& answer) {
  shard_.end_lookup();
  std::vector<Target> targets;
  for (const dns::MxHost& host : answer.hosts) {
    for (const dns::SocketAddress& address : host.addresses) {
      targets.push_back(
          Target{address, absl::StrCat(host.name, " (", address.to_string(), ")"), host.name});
    }
  }
  switch (answer.outcome) {
    case dns::Outcome::ok:
      if (!targets.empty()) {
        const std::string key = absl::StrCat("mx ", domain_);
        site_ = shard_.find_site(key);
        if (site_ == nullptr) {
          std::vector<std::string> mx_names;
          for (const dns::MxHost& host : answer.hosts) mx_names.push_back(host.name);
          const Destination& destination =
              shard_.context().rules->match_destination(domain_, mx_names);
          site_ = shard_.make_site(key, std::move(targets),
                                   SiteSecurity{mx_tls_mode(destination), false, nullptr},
                                   destination, false);
        }
        resolution_ = Resolution::ready;
        break;
      }
      [[fallthrough]];
    case dns::Outcome::temporary: {
      resolution_ = Resolution::unresolved;
      const std::string reason = absl::StrCat("DNS lookup of ", domain_, " failed: ", answer.error);
      fail_ready(AttemptResult{0, "4.4.3", reason, "dns", "", -1});
      break;
    }
    case dns::Outcome::no_domain:
      resolution_ = Resolution::failed;
      failure_code_ = 0;
      failure_enhanced_ = "5.1.2";  // RFC 3463: bad destination system address
      failure_ = absl::StrCat("no mail host for ", domain_, ": ", answer.error);
      break;
    case dns::Outcome::null_mx:  // RFC 7505 3: 556 5.1.10
      resolution_ = Resolution::failed;
      failure_code_ = 556;
      failure_enhanced_ = "5.1.10";
      failure_ = absl::StrCat(domain_, " accepts no mail (null MX)");
      break;
  }
  shard_.mark_dirty(this);
}

void DomainQueue::forget_site() {
  if (resolution_ == Resolution::ready) {
    resolution_ = Resolution::unresolved;
    site_ = nullptr;
  }
}

void DomainQueue::fail_ready(const AttemptResult& result) {
  std::deque<Recipient> failed;
  failed.swap(ready_);
  for (Recipient& recipient : failed) {
    ++recipient.attempts;
    record(std::move(recipient), result);
  }
}

void DomainQueue::record(Recipient&& recipient, const AttemptResult& result) {
  ShardCounters& counters = shard_.counters();
  if (result.code >= 200 && result.code < 300) {
    log_outcome(recipient, OutcomeType::delivered, result, true);
    ++counters.delivered;
    shard_.recipient_finished();
    return;
  }
  // 5xx replies, and permanent failures we found ourselves (5.x.x without a reply).
  if (result.permanent || result.code >= 500 ||
      (result.code == 0 && !result.enhanced.empty() && result.enhanced[0] == '5')) {
    log_outcome(recipient, OutcomeType::bounced, result, true);
    ++counters.bounced;
    shard_.recipient_finished();
    return;
  }
  // 4xx, or no reply at all: retry on the schedule while the run's deadline allows, unless
  // the recipient is past its max_age (then it expires: a bounce, RFC 3463 4.4.7).
  const JobConfig& job = *shard_.context().job;
  const std::int64_t now = shard_.now_ms();
  const std::int64_t first_attempt_ms =
      now - (unix_time_ms() - shard_.context().campaign_started_unix_ms);
  bool final = false;
  if (!job.retry_schedule_given) {
    const shaping::RetryDecision retry =
        shaping::next_retry(job.retry_backoff, recipient.attempts, first_attempt_ms, now,
                            recipient.retry_delay_ms, [this] { return shard_.uniform_random(); });
    if (retry.expired) {
      expire(std::move(recipient), result);
      return;
    }
    recipient.not_before_ms = retry.retry_at_ms;
    recipient.retry_delay_ms =
        static_cast<std::uint32_t>(std::min<std::int64_t>(retry.delay_ms, UINT32_MAX));
  } else {
    const std::size_t retry = recipient.attempts - 1;
    final = retry >= job.retry_schedule_ms.size();
    if (!final) recipient.not_before_ms = now + job.retry_schedule_ms[retry];
  }
  if (!final && now - first_attempt_ms >= job.retry_backoff.max_age_ms) {
    expire(std::move(recipient), result);
    return;
  }
  if (!final && result.retry_not_before_ms > recipient.not_before_ms) {
    recipient.not_before_ms = result.retry_not_before_ms;  // a suspension or a rule's delay
  }
  if (!final) final = recipient.not_before_ms > shard_.context().deadline_ms;
  log_outcome(recipient, OutcomeType::deferred, result, final);
  if (final) {
    ++counters.deferred;
    shard_.recipient_finished();
    return;
  }
  ++counters.attempts_deferred;
  if (earliest_wakeup_ms_ == 0 || recipient.not_before_ms < earliest_wakeup_ms_) {
    earliest_wakeup_ms_ = recipient.not_before_ms;
    shard_.wake_at(earliest_wakeup_ms_, this);
  }
  waiting_.push_back(std::move(recipient));
}

void DomainQueue::expire(Recipient&& recipient, const AttemptResult& last) {
  std::string reason = "expired: no delivery within max_age; last error: ";
  if (last.code != 0) append(reason, last.code, " ");
  append(reason, last.reason);
  const AttemptResult result{0, "4.4.7", reason, "expired", last.mx, last.latency_ms};
  log_outcome(recipient, OutcomeType::bounced, result, true);
  ++shard_.counters().bounced;
  shard_.recipient_finished();
}

void DomainQueue::wake() {
  const std::int64_t now = shard_.now_ms();
  earliest_wakeup_ms_ = 0;
  std::int64_t earliest = 0;
  auto keep = waiting_.begin();
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if (it->not_before_ms <= now) {
      ready_.push_back(std::move(*it));
    } else {
      if (earliest == 0 || it->not_before_ms < earliest) earliest = it->not_before_ms;
      // Never move onto itself: a self-moved vector comes out empty (libstdc++).
      if (keep != it) *keep = std::move(*it);
      ++keep;
    }
  }
  waiting_.erase(keep, waiting_.end());
  if (earliest != 0) {
    earliest_wakeup_ms_ = earliest;
    shard_.wake_at(earliest, this);
  }
  shard_.mark_dirty(this);
}

void DomainQueue::abandon() {
  const AttemptResult result{0, "", shard_.abort_reason(), "aborted", "", -1};
  for (Recipient& recipient : ready_) end_deferred(recipient, result);
  ready_.clear();
  for (Recipient& recipient : waiting_) end_deferred(recipient, result);
  waiting_.clear();
  earliest_wakeup_ms_ = 0;
}

void DomainQueue::expire_waiting() {
  const AttemptResult result{0, "", "the run's deadline passed before the next retry", "retry",
                             "", -1};
  for (Recipient& recipient : waiting_) end_deferred(recipient, result);
  waiting_.clear();
  earliest_wakeup_ms_ = 0;
}

void DomainQueue::end_deferred(const Recipient& recipient, const AttemptResult& result) {
  log_outcome(recipient, OutcomeType::deferred, result, true);
  ++shard_.counters().deferred;
  shard_.recipient_finished();
}

void DomainQueue::log_outcome(const Recipient& recipient, OutcomeType type,
                              const AttemptResult& result, bool final) {
  DeliveryRecord record;
  record.type = type;
  record.recipient = recipient.address();
  record.domain = domain_;
  record.mx = result.mx;
  record.code = result.code;
  record.enhanced = result.enhanced;
  record.reply = result.reason;
  record.stage = result.stage;
  record.attempt = recipient.attempts;
  record.latency_ms = result.latency_ms;
  record.line = recipient.line;
  record.final = final;
  OutcomeClassification why;
  if (type == OutcomeType::bounced || type == OutcomeType::deferred) {
    // Classified once, here, for the log, the report and the suppression list alike.
    why = classify_outcome(type, result.code, result.enhanced, result.reason, result.stage);
    record.bounce_reason = bounce::to_string(why.reason);
    record.hard = why.hard;
  }
  shard_.log().append(record);
  if (is_suppression_event(type, why.reason, why.hard)) {
    // Before the journal hears of it: see CampaignShard::keep_bounce_event.
    shard_.keep_bounce_event(recipient.address(), why);
  }
  shard_.report().add(record);
  if (JournalProducer* journal = shard_.journal(); journal != nullptr) {
    JournalRecord entry{journal_record_type(type, final), recipient.sequence, recipient.attempts,
                        0};
    if (entry.type == JournalRecordType::attempt_deferred) {  // the retry time, wall clock
      entry.time_unix_ms = unix_time_ms() + (recipient.not_before_ms - shard_.now_ms());
    }
    journal->append(entry);  // false once the journal failed: the run is draining then
  }

  AccountingRecord row;
  row.type = type;
  const CampaignContext& context = shard_.context();
  if (context.verp != nullptr) {  // the sender this recipient's attempt used
    std::string& sender = shard_.sender_scratch();
    sender.clear();
    append_verp_address(*context.verp, context.verp_tag, recipient.sequence, sender);
    row.envelope_from = sender;
  } else {
    row.envelope_from = context.job->envelope_from.text;
  }
  row.recipient = record.recipient;
  row.mx = record.mx;
  row.code = record.code;
  row.enhanced = record.enhanced;
  row.reply = record.reply;
  row.attempt = record.attempt;
  row.line = record.line;
  shard_.accounting().append(row);
}

}  // namespace hayate::campaign::delivery
