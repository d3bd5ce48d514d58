// Per-domain delivery: route or MX, connection count, transactions, outcomes and retries.
#include "campaign/domain_queue.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "campaign/campaign_shard.h"
#include "engine/assert.h"
#include "engine/limits.h"

namespace hayate::campaign {

namespace {
// A connection is worth opening for this many queued recipients (up to the domain's cap):
// fewer connections each carrying more messages save handshakes.
constexpr std::size_t recipients_per_new_connection = 16;
}  // namespace

DomainQueue::DomainQueue(CampaignShard& shard, std::string domain)
    : shard_(shard), domain_(std::move(domain)) {}

DomainQueue::~DomainQueue() { HAYATE_ASSERT(connections_.empty()); }

void DomainQueue::add(Recipient&& recipient) {
  ready_.push_back(std::move(recipient));
  shard_.mark_dirty(this);
}

void DomainQueue::resolve() {
  HAYATE_ASSERT(resolution_ == Resolution::unresolved);
  resolution_ = Resolution::resolving;
  const JobConfig& job = *shard_.context().job;
  if (const Route* route = find_route(job, domain_); route != nullptr) {
    const std::uint16_t port = route->endpoint.port;
    dns::SocketAddress literal;
    if (dns::SocketAddress::parse(route->endpoint.host, port, literal)) {
      targets_ = {Target{literal, absl::StrCat("route ", literal.to_string())}};
      resolution_ = Resolution::ready;
      shard_.mark_dirty(this);
      return;
    }
    if (shard_.resolver() == nullptr) {
      resolution_ = Resolution::unresolved;
      fail_ready(0, "4.4.3", absl::StrCat("DNS resolver unavailable: ", shard_.resolver_error()),
                 "dns", false);
      return;
    }
    shard_.resolver()->resolve_host(route->endpoint.host, port,
                                    [this, port](const dns::HostAnswer& answer) {
                                      on_route_answer(answer, port);
                                    });
    return;
  }
  if (shard_.resolver() == nullptr) {
    resolution_ = Resolution::unresolved;
    fail_ready(0, "4.4.3", absl::StrCat("DNS resolver unavailable: ", shard_.resolver_error()),
               "dns", false);
    return;
  }
  shard_.resolver()->resolve_mx(domain_, job.port,
                                [this](const dns::MxAnswer& answer) { on_mx_answer(answer); });
}

void DomainQueue::on_route_answer(const dns::HostAnswer& answer, std::uint16_t port) {
  (void)port;
  targets_.clear();
  const Route* route = find_route(*shard_.context().job, domain_);
  for (const dns::SocketAddress& address : answer.addresses) {
    targets_.push_back(
        Target{address, absl::StrCat("route ", route->endpoint.host, " (", address.to_string(),
                                     ")")});
  }
  if (answer.outcome == dns::Outcome::ok && !targets_.empty()) {
    resolution_ = Resolution::ready;
  } else {
    resolution_ = Resolution::unresolved;  // look it up again at the next attempt
    const bool permanent = answer.outcome == dns::Outcome::no_domain;
    fail_ready(0, permanent ? "5.4.4" : "4.4.3",
               absl::StrCat("route host ", route->endpoint.host, ": ", answer.error), "dns",
               permanent);
  }
  shard_.mark_dirty(this);
}

void DomainQueue::on_mx_answer(const dns::MxAnswer& answer) {
  targets_.clear();
  for (const dns::MxHost& host : answer.hosts) {
    for (const dns::SocketAddress& address : host.addresses) {
      targets_.push_back(Target{address, absl::StrCat(host.name, " (", address.to_string(), ")")});
    }
  }
  target_cursor_ = 0;
  consecutive_connect_failures_ = 0;
  switch (answer.outcome) {
    case dns::Outcome::ok:
      if (!targets_.empty()) {
        resolution_ = Resolution::ready;
        break;
      }
      [[fallthrough]];
    case dns::Outcome::temporary:
      resolution_ = Resolution::unresolved;
      fail_ready(0, "4.4.3", absl::StrCat("DNS lookup of ", domain_, " failed: ", answer.error),
                 "dns", false);
      break;
    case dns::Outcome::no_domain:
      resolution_ = Resolution::failed;
      fail_ready(0, "5.1.2", absl::StrCat("no mail host for ", domain_, ": ", answer.error), "dns",
                 true);
      break;
    case dns::Outcome::null_mx:  // RFC 7505 3: 556 5.1.10
      resolution_ = Resolution::failed;
      fail_ready(556, "5.1.10", absl::StrCat(domain_, " accepts no mail (null MX)"), "dns", true);
      break;
  }
  shard_.mark_dirty(this);
}

void DomainQueue::fail_ready(std::uint16_t code, std::string_view enhanced,
                             std::string_view reason, std::string_view stage, bool permanent) {
  std::deque<Recipient> failed;
  failed.swap(ready_);
  for (Recipient& recipient : failed) {
    ++recipient.attempts;
    if (permanent) {
      log_outcome(recipient, OutcomeType::bounced, code, enhanced, reason, stage, "", -1, true);
      ++shard_.counters().bounced;
      finish(recipient);
    } else {
      defer_or_finish(std::move(recipient), code, enhanced, reason, stage, "", -1);
    }
  }
}

void DomainQueue::schedule() {
  if (ready_.empty()) {
    if (in_flight_.empty() && shard_.input_ended()) release_idle_connections();
    return;
  }
  if (resolution_ == Resolution::unresolved) {
    resolve();
    return;
  }
  if (resolution_ == Resolution::failed) {  // a permanent DNS answer, still cached for this run
    fail_ready(0, "5.1.2", absl::StrCat("no mail host for ", domain_), "dns", true);
    return;
  }
  if (resolution_ != Resolution::ready) return;
  // Idle connections take work first.
  while (!idle_.empty() && !ready_.empty()) {
    smtp::ClientConnection* connection = idle_.back();
    idle_.pop_back();
    connection->poke();
  }
  const JobConfig& job = *shard_.context().job;
  const std::size_t wanted = std::min<std::size_t>(
      job.connections_per_domain,
      (ready_.size() + recipients_per_new_connection - 1) / recipients_per_new_connection);
  while (connections_.size() < wanted && !ready_.empty()) {
    if (!shard_.may_open_connection()) {
      shard_.mark_dirty(this);  // kept as starved by the shard until a slot frees
      return;
    }
    if (consecutive_connect_failures_ >= targets_.size() && !connections_.empty()) return;
    open_connection();
  }
}

void DomainQueue::open_connection() {
  HAYATE_ASSERT(!targets_.empty());
  const Target& target = targets_[target_cursor_ % targets_.size()];
  const JobConfig& job = *shard_.context().job;
  smtp::ConnectionOptions options;
  options.helo_name = job.helo;
  options.messages_max = job.messages_per_connection;
  options.connect_timeout_ms = job.connect_timeout_ms;
  options.command_timeout_ms = job.command_timeout_ms;
  options.data_timeout_ms = job.data_timeout_ms;
  options.idle_timeout_ms = limits::idle_timeout_ms;
  shard_.connection_opened();
  smtp::ClientConnection* connection =
      smtp::ClientConnection::open(shard_.shard(), target.address, options, *this);
  if (connection != nullptr) connections_.push_back(connection);
}

bool DomainQueue::next_transaction(smtp::ClientConnection& connection,
                                   smtp::Transaction& transaction) {
  if (ready_.empty()) return false;
  Recipient recipient = std::move(ready_.front());
  ready_.pop_front();
  ++recipient.attempts;
  transaction.id = shard_.next_transaction_id();
  transaction.mail_from = shard_.context().job->envelope_from.text;
  transaction.recipients.emplace_back(recipient.address());
  transaction.needs_smtputf8 = recipient.needs_smtputf8 ||
                               shard_.context().job->envelope_from.needs_smtputf8;
  std::string label;
  for (const Target& target : targets_) {
    if (target.address.length == connection.address().length &&
        std::memcmp(&target.address.storage, &connection.address().storage,
                    target.address.length) == 0) {
      label = target.label;
      break;
    }
  }
  in_flight_.emplace(transaction.id,
                     InFlight{std::move(recipient), shard_.now_ms(), std::move(label)});
  return true;
}

void DomainQueue::append_message(smtp::ClientConnection&, const smtp::Transaction& transaction,
                                 std::string& out) {
  auto found = in_flight_.find(transaction.id);
  HAYATE_ASSERT(found != in_flight_.end());
  const Recipient& recipient = found->second.recipient;
  // Fields as views for the templates; the vector is reused from message to message.
  std::vector<std::string_view> fields;
  fields.reserve(recipient.field_count());
  for (std::size_t i = 0; i < recipient.field_count(); ++i) fields.push_back(recipient.field(i));
  std::string& message = shard_.scratch();
  message.clear();
  shard_.composer().compose(fields, recipient.address(), recipient.sequence, shard_.unix_time_s(),
                            message);
  shard_.counters().message_bytes += message.size();
  append_dot_stuffed(message, out);
}

void DomainQueue::on_recipient_outcome(smtp::ClientConnection&,
                                       const smtp::Transaction& transaction, std::size_t index,
                                       const smtp::Outcome& outcome) {
  HAYATE_ASSERT(index == 0);
  auto found = in_flight_.find(transaction.id);
  HAYATE_ASSERT(found != in_flight_.end());
  InFlight in_flight = std::move(found->second);
  in_flight_.erase(found);
  const std::string enhanced = outcome.enhanced.to_string();
  const std::int64_t latency_ms = shard_.now_ms() - in_flight.started_ms;
  const std::string_view stage = smtp::stage_name(outcome.stage);
  if (outcome.code >= 200 && outcome.code < 300) {
    log_outcome(in_flight.recipient, OutcomeType::delivered, outcome.code, enhanced, outcome.text,
                stage, in_flight.target_label, latency_ms, true);
    ++shard_.counters().delivered;
    finish(in_flight.recipient);
  } else if (outcome.code >= 500) {
    log_outcome(in_flight.recipient, OutcomeType::bounced, outcome.code, enhanced, outcome.text,
                stage, in_flight.target_label, latency_ms, true);
    ++shard_.counters().bounced;
    finish(in_flight.recipient);
  } else {  // 4xx, or no reply at all (code 0)
    defer_or_finish(std::move(in_flight.recipient), outcome.code, enhanced, outcome.text, stage,
                    in_flight.target_label, latency_ms);
  }
}

void DomainQueue::defer_or_finish(Recipient&& recipient, std::uint16_t code,
                                  std::string_view enhanced, std::string_view reason,
                                  std::string_view stage, std::string_view mx,
                                  std::int64_t latency_ms) {
  const JobConfig& job = *shard_.context().job;
  const std::size_t retry = recipient.attempts - 1;  // attempts so far, minus the first
  bool final = retry >= job.retry_schedule_ms.size();
  if (!final) {
    recipient.not_before_ms = shard_.now_ms() + job.retry_schedule_ms[retry];
    final = recipient.not_before_ms > shard_.context().deadline_ms;
  }
  log_outcome(recipient, OutcomeType::deferred, code, enhanced, reason, stage, mx, latency_ms,
              final);
  if (final) {
    ++shard_.counters().deferred;
    finish(recipient);
    return;
  }
  ++shard_.counters().attempts_deferred;
  if (earliest_wakeup_ms_ == 0 || recipient.not_before_ms < earliest_wakeup_ms_) {
    earliest_wakeup_ms_ = recipient.not_before_ms;
    shard_.wake_at(earliest_wakeup_ms_, this);
  }
  waiting_.push_back(std::move(recipient));
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
      *keep++ = std::move(*it);
    }
  }
  waiting_.erase(keep, waiting_.end());
  if (earliest != 0) {
    earliest_wakeup_ms_ = earliest;
    shard_.wake_at(earliest, this);
  }
  shard_.mark_dirty(this);
}

void DomainQueue::expire_waiting() {
  for (Recipient& recipient : waiting_) {
    log_outcome(recipient, OutcomeType::deferred, 0, "", "the run's deadline passed", "retry", "",
                -1, true);
    ++shard_.counters().deferred;
    finish(recipient);
  }
  waiting_.clear();
  earliest_wakeup_ms_ = 0;
  shard_.mark_dirty(this);
}

void DomainQueue::log_outcome(const Recipient& recipient, OutcomeType type, std::uint16_t code,
                              std::string_view enhanced, std::string_view reason,
                              std::string_view stage, std::string_view mx,
                              std::int64_t latency_ms, bool final) {
  DeliveryRecord record;
  record.type = type;
  record.recipient = recipient.address();
  record.domain = domain_;
  record.mx = mx;
  record.code = code;
  record.enhanced = enhanced;
  record.reply = reason;
  record.stage = stage;
  record.attempt = recipient.attempts;
  record.latency_ms = latency_ms;
  record.line = recipient.line;
  record.final = final;
  shard_.log().append(record);
}

void DomainQueue::finish(const Recipient&) { shard_.recipient_finished(); }

void DomainQueue::on_idle(smtp::ClientConnection& connection) {
  if (!ready_.empty()) {
    connection.poke();
    return;
  }
  if (shard_.input_ended() && in_flight_.empty() && waiting_.empty()) {
    connection.quit();
    return;
  }
  idle_.push_back(&connection);
}

void DomainQueue::release_idle_connections() {
  std::vector<smtp::ClientConnection*> idle;
  idle.swap(idle_);
  for (smtp::ClientConnection* connection : idle) connection->quit();
}

void DomainQueue::on_closed(smtp::ClientConnection& connection, const smtp::CloseReport& report) {
  connections_.erase(std::remove(connections_.begin(), connections_.end(), &connection),
                     connections_.end());
  idle_.erase(std::remove(idle_.begin(), idle_.end(), &connection), idle_.end());
  shard_.connection_closed();
  if (report.greeted) {
    ++shard_.counters().servers_greeted;
    consecutive_connect_failures_ = 0;
  } else {
    ++shard_.counters().connections_failed;
    ++consecutive_connect_failures_;
    ++target_cursor_;  // RFC 5321 5.1: try the next MX address
    last_connect_failure_ = report.reason;
    if (consecutive_connect_failures_ >= targets_.size() && connections_.empty()) {
      // Every address of the domain failed in a row: this attempt is over for what waits.
      consecutive_connect_failures_ = 0;
      const bool permanent = report.failure_code >= 500;
      fail_ready(report.failure_code, permanent ? "5.0.0" : "4.4.1",
                 absl::StrCat("no server of ", domain_, " accepted a session; last error: ",
                              report.reason),
                 "connect", permanent);
      resolution_ = Resolution::unresolved;  // look the domain up again before the retry
    }
  }
  shard_.mark_dirty(this);
}

}  // namespace hayate::campaign
