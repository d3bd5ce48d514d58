// One destination domain on its shard: its recipients (ready, or waiting for a retry), how
// its mail is routed (resolved once: a route, or its MX hosts, giving its Site), and what
// becomes of each attempt: delivered, bounced, deferred for a retry, or deferred for good.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/output/delivery_log.h"
#include "campaign/config/job.h"
#include "campaign/input/recipient.h"
#include "engine/dns/resolver.h"

namespace hayate::campaign::inline delivery {

class CampaignShard;
class Site;
struct SiteSecurity;
struct Destination;

// One attempt's result for one recipient, as the site saw it.
struct AttemptResult {
  std::uint16_t code = 0;        // 0: no reply (connection or DNS failure)
  std::string_view enhanced;     // "5.1.1" or empty
  std::string_view reason;       // server text or our own
  std::string_view stage;        // dns, connect, rcpt, body...
  std::string_view mx;           // target label, may be empty
  std::int64_t latency_ms = -1;
  // Set by the reply rules: the recipient fails now whatever the code (action bounce), or its
  // retry comes no sooner than this (shard clock; 0: the backoff alone decides).
  bool permanent = false;
  std::int64_t retry_not_before_ms = 0;
};

class DomainQueue {
 public:
  DomainQueue(CampaignShard& shard, std::string domain);

  void add(Recipient&& recipient);
  // Resolves the domain if needed and offers its ready recipients to its site.
  void schedule();
  // Retry times that have come: waiting recipients become ready.
  void wake();
  // The run's deadline passed: every waiting recipient ends as deferred.
  void expire_waiting();

  bool has_ready() const { return !ready_.empty(); }
  std::size_t ready_count() const { return ready_.size(); }
  Recipient take();  // precondition: has_ready()
  const std::string& domain() const { return domain_; }
  bool queued_at_site = false;  // in its site's rotation
  bool lookup_queued = false;   // waiting for a DNS lookup slot of its shard

  // Outcome of one attempt (the attempt was already counted in recipient.attempts).
  void record(Recipient&& recipient, const AttemptResult& result);
  // Every ready recipient ends this attempt with the same result (DNS, unreachable site).
  void fail_ready(const AttemptResult& result);
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
  // The recipient's last word in this run: deferred (retries exhausted, deadline, stop).
  void end_deferred(const Recipient& recipient, const AttemptResult& result);
  // Past max_age: the recipient ends as a bounce (reason "expired") with `last` as its cause.
  void expire(Recipient&& recipient, const AttemptResult& last);
  void log_outcome(const Recipient& recipient, OutcomeType type, const AttemptResult& result,
                   bool final);

  CampaignShard& shard_;
  std::string domain_;
  Resolution resolution_ = Resolution::unresolved;
  std::string failure_;            // why resolution failed for good
  std::string failure_enhanced_;
  std::uint16_t failure_code_ = 0;
  Site* site_ = nullptr;
  std::deque<Recipient> ready_;
  std::vector<Recipient> waiting_;
  std::int64_t earliest_wakeup_ms_ = 0;  // 0: none scheduled
};

}  // namespace hayate::campaign::delivery
