// Per-domain recipients, routing and outcomes.
#include "campaign/delivery/domain_queue.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "campaign/delivery/shaping_rules.h"
#include "campaign/delivery/site.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign::inline delivery {

DomainQueue::DomainQueue(DomainQueueServices services, std::string domain)
    : run_(services.run),
      router_(services.router),
      outcomes_(services.outcomes),
      judge_(services.judge),
      job_(services.job),
      rules_(services.rules),
      campaign_started_unix_ms_(services.campaign_started_unix_ms),
      domain_(std::move(domain)) {}

void DomainQueue::add(Recipient&& recipient) {
  if (recipient.not_before_ms > run_.now_ms()) {
    // Resumed in the middle of its retry schedule: it waits for its time, as before the stop.
    if (earliest_wakeup_ms_ == 0 || recipient.not_before_ms < earliest_wakeup_ms_) {
      earliest_wakeup_ms_ = recipient.not_before_ms;
      run_.wake_at(earliest_wakeup_ms_, this);
    }
    waiting_.push_back(std::move(recipient));
    run_.waiting_changed(1);
    return;
  }
  ready_.push_back(std::move(recipient));
  run_.mark_dirty(this);
}

Recipient DomainQueue::take() {
  HAYATE_ASSERT(!ready_.empty());
  Recipient recipient = std::move(ready_.front());
  ready_.pop_front();
  return recipient;
}

void DomainQueue::requeue(Recipient&& recipient) {
  ready_.push_front(std::move(recipient));
  run_.mark_dirty(this);
}

void DomainQueue::schedule() {
  if (run_.aborted()) {
    abandon();
    return;
  }
  if (ready_.empty() || run_.stop_level() > 0) return;
  switch (resolution_) {
    case Resolution::unresolved:
      resolve();
      return;
    case Resolution::resolving:
      return;
    case Resolution::failed:  // a permanent answer, kept for the rest of the run
      fail_ready(Attempt{Stage::dns, failure_code_, failure_enhanced_, failure_, "", -1});
      return;
    case Resolution::ready:
      HAYATE_ASSERT(site_ != nullptr);
      site_->add_ready_domain(this);
      return;
  }
}

TlsMode DomainQueue::mx_tls_mode(const Destination& destination) const {
  // A [domains] entry is the operator's word for this domain: it wins.
  const auto policy = std::find_if(job_.domains.begin(), job_.domains.end(),
                                   [this](const DomainPolicy& p) { return p.domain == domain_; });
  if (policy != job_.domains.end() && policy->tls) return *policy->tls;
  // Else the stricter of [delivery] tls and the destination's (Gmail's rules require TLS).
  const auto strictness = [](TlsMode mode) {
    return mode == TlsMode::required ? 2 : mode == TlsMode::opportunistic ? 1 : 0;
  };
  return strictness(destination.tls) > strictness(job_.tls) ? destination.tls : job_.tls;
}

const Destination& DomainQueue::route_destination() const {
  return rules_.match_destination(domain_, {});
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
  return SiteSecurity{tls_mode_for(job_, domain_, &route), route.implicit_tls, &route};
}

void DomainQueue::resolve() {
  HAYATE_ASSERT(resolution_ == Resolution::unresolved);
  const Route* route = find_route(job_, domain_);
  if (route != nullptr) {
    const std::string key = route_site_key(*route);
    if (Site* site = router_.find_site(key); site != nullptr) {
      site_ = site;
      resolution_ = Resolution::ready;
      run_.mark_dirty(this);
      return;
    }
    dns::SocketAddress literal;
    if (dns::SocketAddress::parse(route->endpoint.host, route->endpoint.port, literal)) {
      Target target{literal, absl::StrCat("route ", literal.to_string()), route->endpoint.host};
      site_ = router_.make_site(key, {std::move(target)}, route_security(*route),
                                route_destination(), true);
      resolution_ = Resolution::ready;
      run_.mark_dirty(this);
      return;
    }
  }
  if (router_.resolver() == nullptr) {
    text_ = absl::StrCat("DNS resolver unavailable: ", router_.resolver_error());
    fail_ready(Attempt{Stage::dns, 0, smtp::EnhancedCode{4, 4, 3}, text_, "", -1});
    return;
  }
  if (!router_.begin_lookup(this)) return;  // scheduled again when a lookup slot frees
  resolution_ = Resolution::resolving;
  if (route != nullptr) {
    router_.resolver()->resolve_host(
        route->endpoint.host, route->endpoint.port,
        [this](const dns::HostAnswer& answer) { on_route_answer(answer); });
  } else {
    router_.resolver()->resolve_mx(domain_, job_.port,
                                   [this](const dns::MxAnswer& answer) { on_mx_answer(answer); });
  }
}

void DomainQueue::on_route_answer(const dns::HostAnswer& answer) {
  router_.end_lookup();
  const Route* route = find_route(job_, domain_);
  HAYATE_ASSERT(route != nullptr);
  std::vector<Target> targets;
  for (const dns::SocketAddress& address : answer.addresses) {
    targets.push_back(Target{
        address, absl::StrCat("route ", route->endpoint.host, " (", address.to_string(), ")"),
        route->endpoint.host});
  }
  if (answer.outcome == dns::Outcome::ok && !targets.empty()) {
    const std::string key = route_site_key(*route);
    site_ = router_.find_site(key);
    if (site_ == nullptr) {
      site_ = router_.make_site(key, std::move(targets), route_security(*route),
                                route_destination(), true);
    }
    resolution_ = Resolution::ready;
  } else {
    resolution_ = Resolution::unresolved;  // looked up again at the next attempt
    const bool permanent = answer.outcome == dns::Outcome::no_domain;
    text_ = absl::StrCat("route host ", route->endpoint.host, ": ", answer.error);
    const smtp::EnhancedCode code =
        permanent ? smtp::EnhancedCode{5, 4, 4} : smtp::EnhancedCode{4, 4, 3};
    fail_ready(Attempt{Stage::dns, 0, code, text_, "", -1});
  }
  run_.mark_dirty(this);
}

void DomainQueue::on_mx_answer(const dns::MxAnswer& answer) {
  router_.end_lookup();
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
        site_ = router_.find_site(key);
        if (site_ == nullptr) {
          std::vector<std::string> mx_names;
          for (const dns::MxHost& host : answer.hosts) mx_names.push_back(host.name);
          const Destination& destination = rules_.match_destination(domain_, mx_names);
          site_ = router_.make_site(key, std::move(targets),
                                    SiteSecurity{mx_tls_mode(destination), false, nullptr},
                                    destination, false);
        }
        resolution_ = Resolution::ready;
        break;
      }
      [[fallthrough]];
    case dns::Outcome::temporary:
      resolution_ = Resolution::unresolved;
      text_ = absl::StrCat("DNS lookup of ", domain_, " failed: ", answer.error);
      fail_ready(Attempt{Stage::dns, 0, smtp::EnhancedCode{4, 4, 3}, text_, "", -1});
      break;
    case dns::Outcome::no_domain:
      resolution_ = Resolution::failed;
      failure_code_ = 0;
      failure_enhanced_ = smtp::EnhancedCode{5, 1, 2};  // RFC 3463: bad destination system
      failure_ = absl::StrCat("no mail host for ", domain_, ": ", answer.error);
      break;
    case dns::Outcome::null_mx:  // RFC 7505 3: 556 5.1.10
      resolution_ = Resolution::failed;
      failure_code_ = 556;
      failure_enhanced_ = smtp::EnhancedCode{5, 1, 10};
      failure_ = absl::StrCat(domain_, " accepts no mail (null MX)");
      break;
  }
  run_.mark_dirty(this);
}

void DomainQueue::forget_site() {
  if (resolution_ == Resolution::ready) {
    resolution_ = Resolution::unresolved;
    site_ = nullptr;
  }
}

void DomainQueue::fail_ready(const Attempt& attempt) {
  // Our own reasons: no reply rule applies (no destination's server said them).
  const Verdict verdict = judge_.judge(attempt, nullptr, run_.now_ms());
  std::deque<Recipient> failed;
  failed.swap(ready_);
  for (Recipient& recipient : failed) {
    ++recipient.attempts;
    record(std::move(recipient), attempt, verdict);
  }
}

void DomainQueue::record(Recipient&& recipient, const Attempt& attempt, const Verdict& verdict) {
  if (verdict.disposition == Disposition::deferred) {
    defer(std::move(recipient), attempt, verdict);
  } else {
    write_outcome(recipient, attempt, verdict, true);
  }
}

void DomainQueue::defer(Recipient&& recipient, const Attempt& attempt, const Verdict& verdict) {
  // Retry on the schedule while the run's deadline allows, unless the recipient is past its
  // max_age (then it expires: a bounce, RFC 3463 4.4.7).
  const std::int64_t now = run_.now_ms();
  const RetryHistory history{recipient.attempts, recipient.retry_delay_ms,
                             now - (run_.unix_time_ms() - campaign_started_unix_ms_)};
  const NextTry next =
      judge_.next_try(verdict, history, now, [this] { return run_.uniform_random(); });
  if (next.kind == NextTry::Kind::expired) {
    expire(std::move(recipient), attempt);
    return;
  }
  if (next.kind == NextTry::Kind::retry) {
    recipient.not_before_ms = next.at_ms;
    recipient.retry_delay_ms = next.delay_ms;
  }
  const bool final = next.kind == NextTry::Kind::final;
  write_outcome(recipient, attempt, verdict, final);
  if (final) return;
  if (earliest_wakeup_ms_ == 0 || recipient.not_before_ms < earliest_wakeup_ms_) {
    earliest_wakeup_ms_ = recipient.not_before_ms;
    run_.wake_at(earliest_wakeup_ms_, this);
  }
  waiting_.push_back(std::move(recipient));
  run_.waiting_changed(1);
}

void DomainQueue::expire(Recipient&& recipient, const Attempt& last) {
  std::string text;
  const Attempt attempt = Judge::expired_attempt(last, text);
  const Verdict verdict = judge_.judge(attempt, nullptr, run_.now_ms());
  HAYATE_ASSERT(verdict.disposition == Disposition::bounced);
  write_outcome(recipient, attempt, verdict, true);
}

void DomainQueue::wake() {
  const std::int64_t now = run_.now_ms();
  earliest_wakeup_ms_ = 0;
  std::int64_t earliest = 0;
  const std::size_t waited = waiting_.size();
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
  run_.waiting_changed(static_cast<std::int64_t>(waiting_.size()) -
                       static_cast<std::int64_t>(waited));
  if (earliest != 0) {
    earliest_wakeup_ms_ = earliest;
    run_.wake_at(earliest, this);
  }
  run_.mark_dirty(this);
}

void DomainQueue::abandon() {
  const Attempt attempt{Stage::aborted, 0, {}, run_.abort_reason(), "", -1};
  for (Recipient& recipient : ready_) end_deferred(recipient, attempt);
  ready_.clear();
  for (Recipient& recipient : waiting_) end_deferred(recipient, attempt);
  run_.waiting_changed(-static_cast<std::int64_t>(waiting_.size()));
  waiting_.clear();
  earliest_wakeup_ms_ = 0;
}

void DomainQueue::expire_waiting() {
  const Attempt attempt{Stage::retry, 0, {}, "the run's deadline passed before the next retry",
                        "",           -1};
  for (Recipient& recipient : waiting_) end_deferred(recipient, attempt);
  run_.waiting_changed(-static_cast<std::int64_t>(waiting_.size()));
  waiting_.clear();
  earliest_wakeup_ms_ = 0;
}

void DomainQueue::end_deferred(const Recipient& recipient, const Attempt& attempt) {
  const Verdict verdict = judge_.judge(attempt, nullptr, run_.now_ms());
  HAYATE_ASSERT(verdict.disposition == Disposition::deferred);
  write_outcome(recipient, attempt, verdict, true);
}

void DomainQueue::write_outcome(const Recipient& recipient, const Attempt& attempt,
                                const Verdict& verdict, bool final) {
  OutcomeRecord record;
  fill_outcome(attempt, verdict, record);
  record.recipient = recipient.address();
  record.domain = domain_;
  if (site_ != nullptr) record.provider = site_->destination_name();
  record.attempt = recipient.attempts;
  record.line = recipient.line;
  record.sequence = recipient.sequence;
  record.final = final;
  if (record.type == OutcomeType::deferred && !final) {  // the retry time, wall clock
    record.next_try_unix_ms = run_.unix_time_ms() + (recipient.not_before_ms - run_.now_ms());
  }
  outcomes_.record(record, recipient);
}

}  // namespace hayate::campaign::delivery
