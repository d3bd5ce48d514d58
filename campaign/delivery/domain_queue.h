// One destination domain on its shard: its recipients (ready, or waiting for a retry), how
// its mail is routed (resolved once: a route, or its MX hosts, giving its Site), and what
// becomes of each attempt, as its verdict says: delivered, bounced, deferred for a retry, or
// deferred for good.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/config/job.h"
#include "campaign/delivery/delivery_services.h"
#include "campaign/delivery/verdict.h"
#include "campaign/input/recipient.h"
#include "engine/dns/resolver.h"

namespace hayate::campaign::inline delivery {

// What a domain queue uses of its shard.
struct DomainQueueServices {
  RunControl& run;
  Router& router;
  OutcomeSink& outcomes;
  const Judge& judge;
  const JobConfig& job;
  const ShapingRules& rules;
  // The campaign's first run began then (wall clock): a recipient's age, for max_age.
  std::int64_t campaign_started_unix_ms = 0;
};

class DomainQueue {
 public:
  DomainQueue(DomainQueueServices services, std::string domain);

  void add(Recipient&& recipient);
  // Resolves the domain if needed and offers its ready recipients to its site.
  void schedule();
  // Retry times that have come: waiting recipients become ready.
  void wake();
  // The run's deadline passed: every waiting recipient ends as deferred.
  void expire_waiting();

  bool has_ready() const { return !ready_.empty(); }
  std::size_t ready_count() const { return ready_.size(); }
  std::size_t waiting_count() const { return waiting_.size(); }
  Recipient take();  // precondition: has_ready()
  // A recipient taken but never attempted (untried): first in line again.
  void requeue(Recipient&& recipient);
  const std::string& domain() const { return domain_; }
  bool queued_at_site = false;  // in its site's rotation
  bool lookup_queued = false;   // waiting for a DNS lookup slot of its shard

  // Outcome of one attempt (the attempt was already counted in recipient.attempts), as judged.
  void record(Recipient&& recipient, const Attempt& attempt, const Verdict& verdict);
  // Every ready recipient ends this attempt the same way (DNS, unreachable site).
  void fail_ready(const Attempt& attempt);
  // The run was stopped (abort_run): every recipient here ends deferred with the reason.
  void abandon();
  // The site could not be reached: its route or MX must be looked up again before a retry.
  void forget_site();

 private:
  enum class Resolution : std::uint8_t { unresolved, resolving, ready, failed };

  void resolve();
  SiteSecurity route_security(const Route& route) const;
  // The destination of this domain through a route (by its name: no MX is looked up).
  const Destination& route_destination() const;
  // The TLS policy for this domain's MX hosts: [domains], else the stricter of [delivery] and
  // the destination's.
  TlsMode mx_tls_mode(const Destination& destination) const;
  std::string route_site_key(const Route& route) const;
  void on_mx_answer(const dns::MxAnswer& answer);
  void on_route_answer(const dns::HostAnswer& answer);
  // A deferral: the next try on the schedule, or the end (final, or expired past max_age).
  void defer(Recipient&& recipient, const Attempt& attempt, const Verdict& verdict);
  // The recipient's last word in this run: deferred (retries exhausted, deadline, stop).
  void end_deferred(const Recipient& recipient, const Attempt& attempt);
  // Past max_age: the recipient ends as a bounce (reason "expired") with `last` as its cause.
  void expire(Recipient&& recipient, const Attempt& last);
  void write_outcome(const Recipient& recipient, const Attempt& attempt, const Verdict& verdict,
                     bool final);

  RunControl& run_;
  Router& router_;
  OutcomeSink& outcomes_;
  const Judge& judge_;
  const JobConfig& job_;
  const ShapingRules& rules_;
  std::int64_t campaign_started_unix_ms_;
  std::string domain_;
  Resolution resolution_ = Resolution::unresolved;
  std::string failure_;  // why resolution failed for good
  smtp::EnhancedCode failure_enhanced_;
  std::uint16_t failure_code_ = 0;
  Site* site_ = nullptr;
  std::deque<Recipient> ready_;
  std::vector<Recipient> waiting_;
  std::int64_t earliest_wakeup_ms_ = 0;  // 0: none scheduled
  std::string text_;                     // scratch: an attempt's text that we compose
};

}  // namespace hayate::campaign::delivery
