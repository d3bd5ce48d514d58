// Connections to one site and the rotation of its domains' recipients over them.
#include "campaign/delivery/site.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

#include "campaign/delivery/domain_queue.h"
#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/strings.h"

namespace hayate::campaign::inline delivery {

namespace {
// A connection is worth opening for this many ready recipients (up to the site's cap):
// fewer connections each carrying more messages save handshakes.
constexpr std::size_t recipients_per_new_connection = 16;
// Replies slower than this on average make the pool grow with the latency (Site::note_latency).
constexpr double slow_reply_ms = 250;
}  // namespace

Site::Site(SiteServices services, std::string key, std::vector<Target> targets,
           std::uint32_t connections_max, SiteSecurity security, const Destination& destination,
           std::vector<Lane> lanes)
    : run_(services.run),
      opener_(services.connections),
      messages_(services.messages),
      throttles_(services.throttles),
      judge_(services.judge),
      job_(services.job),
      key_(std::move(key)),
      targets_(std::move(targets)),
      connections_max_(connections_max),
      security_(security),
      target_down_(targets_.size(), 0),
      destination_(destination),
      lanes_(std::move(lanes)) {
  HAYATE_ASSERT(!targets_.empty());
  HAYATE_ASSERT(connections_max_ > 0);
  HAYATE_ASSERT(!lanes_.empty());
}

Site::~Site() { HAYATE_ASSERT(connections_.empty() && in_flight_.empty()); }

void Site::wake(std::int64_t now_ms) {
  if (wake_at_ms_ != 0 && wake_at_ms_ <= now_ms) wake_at_ms_ = 0;
  run_.mark_dirty(this);
}

void Site::wake_at(std::int64_t time_ms) {
  if (time_ms == std::numeric_limits<std::int64_t>::max()) return;  // warm-up spent: no wake
  if (wake_at_ms_ != 0 && wake_at_ms_ <= time_ms) return;
  wake_at_ms_ = time_ms;
  run_.wake_at(time_ms, this);
}

Lane& Site::lane_of(const smtp::Connection& connection) {
  auto found = connection_lanes_.find(&connection);
  HAYATE_ASSERT(found != connection_lanes_.end());
  return lanes_[found->second];
}

bool Site::lane_ready(const smtp::Connection& connection, std::int64_t now_ms) {
  const std::int64_t at = lane_of(connection).next_send_ms(now_ms);
  if (at <= now_ms) return true;
  wake_at(at);
  return false;
}

void Site::park(smtp::Connection& connection) {
  if (std::find(idle_.begin(), idle_.end(), &connection) == idle_.end()) {
    idle_.push_back(&connection);
  }
}

std::size_t Site::pick_lane(std::int64_t now_ms) {
  for (std::size_t i = 0; i < lanes_.size(); ++i) {
    const std::size_t lane = (next_lane_ + i) % lanes_.size();
    const Lane& candidate = lanes_[lane];
    // Not for a pace interval more than a second away: the connection would sit idle.
    if (candidate.may_open_connection(now_ms) && candidate.next_send_ms(now_ms) <= now_ms + 1000) {
      next_lane_ = lane + 1;
      return lane;
    }
  }
  std::int64_t earliest = std::numeric_limits<std::int64_t>::max();
  for (const Lane& lane : lanes_) earliest = std::min(earliest, lane.next_send_ms(now_ms));
  if (earliest > now_ms) wake_at(earliest);
  return lanes_.size();
}

std::size_t Site::pick_target(std::int64_t now_ms) {
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (target_down_[i]) continue;
    if (opener_.breaker(targets_[i].label).allow_attempt(now_ms)) return i;
    // Its breaker is open: down for this round, as if it had just failed.
    target_down_[i] = 1;
    ++targets_down_;
  }
  return targets_.size();
}

void Site::add_ready_domain(DomainQueue* domain) {
  if (!domain->queued_at_site) {
    domain->queued_at_site = true;
    ready_domains_.push_back(domain);
  }
  run_.mark_dirty(this);
}

std::size_t Site::ready_recipients() const {
  // Only an estimate is needed to size the pool: count a few domains, not all of them.
  std::size_t count = 0;
  const std::size_t sampled = std::min<std::size_t>(ready_domains_.size(), 8);
  for (std::size_t i = 0; i < sampled; ++i) count += ready_domains_[i]->ready_count();
  return count + (ready_domains_.size() - sampled) * recipients_per_new_connection;
}

std::size_t Site::connections_wanted() const {
  const std::size_t ready = ready_recipients();
  // Enough connections for the ready recipients at a few per connection; and, when the server
  // is slow to answer (latency alone, no refusal), enough to send what is ready within about
  // a second: a connection carries about one transaction per round of replies.
  std::size_t wanted = (ready + recipients_per_new_connection - 1) / recipients_per_new_connection;
  if (latency_ms_ > slow_reply_ms) {
    wanted = std::max<std::size_t>(
        wanted, static_cast<std::size_t>(static_cast<double>(ready) * latency_ms_ / 1000.0) + 1);
  }
  return std::min<std::size_t>(connections_max_, wanted);
}

void Site::schedule() {
  if (run_.stop_level() > 0) return;  // a signal asked the run to stop: nothing new
  if (ready_domains_.empty()) {
    if (in_flight_.empty() && run_.input_ended()) release_idle_connections();
    return;
  }
  const std::int64_t now = run_.now_ms();
  // Idle connections take work first, those whose lane may send now.
  std::vector<smtp::Connection*> idle;
  idle.swap(idle_);
  for (smtp::Connection* connection : idle) {
    if (ready_domains_.empty() || !lane_ready(*connection, now)) {
      idle_.push_back(connection);
    } else {
      connection->poke();
    }
  }
  const std::size_t wanted = connections_wanted();
  while (connections_.size() < wanted && !ready_domains_.empty()) {
    if (!opener_.may_open_connection()) {
      opener_.wait_for_connection_slot(this);
      return;
    }
    const std::size_t lane = pick_lane(now);
    if (lane == lanes_.size()) {
      // Every source is at its limits. A pace or a suspension set a wake-up; connections held
      // by other sites of the same destination free up when one closes: wait for that as for
      // a slot of the shard.
      if (wake_at_ms_ == 0 || wake_at_ms_ <= now) opener_.wait_for_connection_slot(this);
      return;
    }
    const std::size_t target = pick_target(now);
    if (target == targets_.size()) {
      // Every address is down or resting: wait for the connections still trying, or end
      // this attempt for the ready recipients as a failed connection would.
      if (connections_.empty()) {
        smtp::CloseReport resting;
        resting.reason = "every address of this site is resting after failed connections";
        fail_unreachable(resting);
      }
      return;
    }
    // The target chosen here: asking its breaker again would spend a half-open probe twice.
    open_connection(static_cast<std::uint32_t>(lane), target);
  }
}

smtp::ConnectionOptions Site::connection_options(const Lane& lane, const Target& target) const {
  smtp::ConnectionOptions options;
  options.helo_name = lane.source->helo.empty() ? job_.helo : lane.source->helo;
  options.source = lane.source->address;
  options.messages_max = lane.throttle->messages_per_connection();
  options.connect_timeout_ms = job_.connect_timeout_ms;
  options.greeting_timeout_ms = job_.command_timeout_ms;
  options.command_timeout_ms = job_.command_timeout_ms;
  options.data_timeout_ms = job_.data_timeout_ms;
  if (destination_.index != 0) {  // a named destination's own timeouts
    options.connect_timeout_ms = destination_.connect_timeout_ms;
    options.greeting_timeout_ms = destination_.greeting_timeout_ms;
    options.command_timeout_ms = destination_.command_timeout_ms;
    options.data_timeout_ms = destination_.data_timeout_ms;
  }
  options.idle_timeout_ms = limits::idle_timeout_ms;
  using Policy = smtp::ClientSession::TlsPolicy;
  const bool tls_off =
      security_.tls == TlsMode::disabled || (tls_fallback_ && !security_.implicit_tls);
  options.tls = tls_off                              ? Policy::disabled
                : security_.tls == TlsMode::required ? Policy::required
                                                     : Policy::opportunistic;
  options.implicit_tls = security_.implicit_tls && security_.tls != TlsMode::disabled;
  options.verify_certificate = security_.tls == TlsMode::required;
  options.server_name = target.host;
  options.tls_session_key = target.label;
  if (security_.route != nullptr && !security_.route->username.empty()) {
    options.auth_username = security_.route->username;
    options.auth_password = security_.route->password;
    options.allow_plaintext_auth = security_.route->allow_plaintext_auth;
  }
  return options;
}

void Site::open_connection(std::uint32_t lane_index, std::size_t index) {
  HAYATE_ASSERT(index < targets_.size() && !target_down_[index]);
  const Target& target = targets_[index];
  Lane& lane = lanes_[lane_index];
  smtp::ConnectionOptions options = connection_options(lane, target);
  lane.connection_opened();
  opening_lane_ = lane_index;  // for on_closed, should the connection fail inside open()
  smtp::Connection* connection = opener_.open(target.address, options, *this);
  if (connection != nullptr) {
    connections_.push_back(connection);
    connection_lanes_[connection] = lane_index;
  }
}

std::uint32_t Site::target_of(const smtp::Connection& connection) const {
  const dns::SocketAddress& address = connection.address();
  for (std::uint32_t i = 0; i < targets_.size(); ++i) {
    if (targets_[i].address.length == address.length &&
        std::memcmp(&targets_[i].address.storage, &address.storage, address.length) == 0) {
      return i;
    }
  }
  HAYATE_ASSERT(false);
  return 0;
}

bool Site::next_transaction(smtp::Connection& connection, smtp::Transaction& transaction) {
  if (ready_domains_.empty() || run_.stop_level() > 0) return false;
  const std::uint32_t lane = connection_lanes_.at(&connection);
  if (!lanes_[lane].try_send(run_.now_ms())) {
    // Paced, suspended or capped: this connection waits, poked again when its lane may send.
    lane_ready(connection, run_.now_ms());
    park(connection);
    return false;
  }
  DomainQueue* domain = ready_domains_.front();
  ready_domains_.pop_front();
  Recipient recipient = domain->take();
  if (domain->has_ready()) {
    ready_domains_.push_back(domain);  // its next recipient waits for the other domains' turn
  } else {
    domain->queued_at_site = false;
  }
  ++recipient.attempts;
  transaction.id = messages_.next_transaction_id();
  transaction.mail_from.clear();
  messages_.envelope_from(recipient, transaction.mail_from);
  // RFC 6152: declaring 8BITMIME for a body that turns out 7bit is allowed; the message is
  // rendered only after MAIL went out, so declare whenever the server offers it.
  transaction.body_8bitmime = connection.capabilities().eightbitmime;
  transaction.recipients.emplace_back(recipient.address());
  transaction.needs_smtputf8 = recipient.needs_smtputf8 || job_.envelope_from.needs_smtputf8;
  // Rendered now, before MAIL: its size goes in MAIL FROM (RFC 1870), and a message over the
  // server's SIZE is refused before it is sent.
  // Buffers come back from append_message with their capacity: no allocation per message.
  std::string message;
  if (!spare_messages_.empty()) {
    message = std::move(spare_messages_.back());
    spare_messages_.pop_back();
  }
  const std::uint64_t message_id_random =
      messages_.append_message(recipient, transaction.body_8bitmime, message);
  HAYATE_ASSERT(message.size() >= 3);
  transaction.size_bytes = message.size() - 3;  // the final ".\r\n" is not the message's
  in_flight_.emplace(transaction.id,
                     InFlight{std::move(recipient), domain, run_.now_ms(), target_of(connection),
                              lane, std::move(message), message_id_random});
  return true;
}

void Site::append_message(smtp::Connection&, const smtp::Transaction& transaction,
                          std::string& out) {
  auto found = in_flight_.find(transaction.id);
  HAYATE_ASSERT(found != in_flight_.end());
  std::string& message = found->second.message;
  out.append(message);
  message.clear();  // sent: no need to hold it until the reply
  if (spare_messages_.size() < connections_max_ * 2) spare_messages_.push_back(std::move(message));
}

void Site::on_recipient_outcome(smtp::Connection& connection, const smtp::Transaction& transaction,
                                std::size_t index, const smtp::Outcome& outcome) {
  HAYATE_ASSERT(index == 0);  // one recipient per transaction: every message is personal
  auto found = in_flight_.find(transaction.id);
  HAYATE_ASSERT(found != in_flight_.end());
  InFlight in_flight = std::move(found->second);
  in_flight_.erase(found);
  if (outcome.untried) {
    // Pipelined behind a transaction the connection lost: the server answered none of its
    // commands. Not an attempt: back to the front of its domain, for another connection.
    HAYATE_ASSERT(outcome.code == 0 && in_flight.recipient.attempts > 0);
    --in_flight.recipient.attempts;
    in_flight.domain->requeue(std::move(in_flight.recipient));
    return;
  }
  Attempt attempt{stage_of(outcome.stage),
                  outcome.code,
                  outcome.enhanced,
                  outcome.text,
                  targets_[in_flight.target].label,
                  run_.now_ms() - in_flight.started_ms};
  if (attempt.code == 0 && !attempt.enhanced.present()) {
    attempt.enhanced = connection_failure_code(attempt.stage);
  }
  attempt.possible_duplicate = outcome.after_final_dot;
  // What the logs say of the connection and the message (no allocation: scratch and views).
  attempt.source_ip = connection.local_ip();
  attempt.tls_version = connection.tls_version();
  attempt.tls_cipher = connection.tls_cipher();
  message_id_.clear();
  messages_.append_message_id(in_flight.recipient, in_flight.message_id_random, message_id_);
  attempt.message_id = message_id_;
  attempt.size_bytes = transaction.size_bytes;
  if (attempt.code != 0) note_latency(attempt.latency_ms);
  Verdict verdict = judge_.judge(attempt, &destination_, run_.now_ms());
  apply_shaping(lanes_[in_flight.lane], attempt, verdict);
  in_flight.domain->record(std::move(in_flight.recipient), attempt, verdict);
}

void Site::note_latency(std::int64_t latency_ms) {
  // An exponentially weighted mean of reply latencies: slow servers get more connections.
  const double sample = static_cast<double>(std::max<std::int64_t>(0, latency_ms));
  latency_ms_ = latency_ms_ < 0 ? sample : latency_ms_ * 0.8 + sample * 0.2;
  if (latency_ms_ > slow_reply_ms && !ready_domains_.empty() &&
      connections_.size() < connections_max_ && connections_.size() < connections_wanted()) {
    run_.mark_dirty(this);  // schedule() opens what the latency now asks for
  }
}

void Site::apply_shaping(Lane& lane, const Attempt& attempt, Verdict& verdict) {
  const std::int64_t now = run_.now_ms();
  const ReplyRule* rule = verdict.rule;
  if (rule == nullptr) {
    // Delivered, or refused for the recipient's sake (a 550 user unknown): a clean reply as
    // far as pace goes. A failure without a reply (code 0) says nothing either way.
    if (attempt.code != 0) {
      // A suspension that ended since the last sweep: say so before the replies it let through.
      if (std::optional<ThrottleEvent> event = lane.throttle->poll(now)) {
        throttles_.report(*lane.throttle, *event, nullptr, nullptr, now);
      }
      if (std::optional<ThrottleEvent> event = lane.throttle->on_clean_reply(now)) {
        throttles_.report(*lane.throttle, *event, nullptr, nullptr, now);
      }
    }
    return;
  }
  std::optional<ThrottleEvent> event;
  switch (rule->action) {
    case ReplyAction::throttle:
      // Refused at the greeting: too many connections, not too fast.
      event = lane.throttle->on_throttle(now, rule->duration_ms, !verdict.about_connections);
      break;
    case ReplyAction::suspend_source:
      event = lane.throttle->suspend(now, rule->duration_ms);
      break;
    case ReplyAction::suspend_destination:
      // Every source of this destination on this shard (the other shards hear it from their
      // own connections, which get the same reply).
      for (Lane& other : lanes_) {
        if (std::optional<ThrottleEvent> suspended =
                other.throttle->suspend(now, rule->duration_ms)) {
          throttles_.report(*other.throttle, *suspended, rule, &attempt, now);
        }
      }
      break;
    case ReplyAction::retry:
    case ReplyAction::bounce:
      break;
  }
  if (event) throttles_.report(*lane.throttle, *event, rule, &attempt, now);
  if (rule->action != ReplyAction::bounce) {
    verdict.retry_not_before_ms =
        std::max(verdict.retry_not_before_ms, lane.throttle->suspended_until_ms());
  }
}

void Site::on_idle(smtp::Connection& connection) {
  if (run_.stop_level() > 0) {
    connection.quit();
    return;
  }
  if (!ready_domains_.empty()) {
    if (lane_ready(connection, run_.now_ms())) {
      connection.poke();
    } else {
      park(connection);  // its lane may not send yet: a wake-up is set
    }
    return;
  }
  // Free the slot when the run is ending or another site is waiting for one.
  if (run_.input_ended() && in_flight_.empty()) {
    // The site's work is done (retries aside): this and every other idle connection QUIT.
    connection.quit();
    release_idle_connections();
    return;
  }
  if (opener_.sites_waiting_for_slots()) {
    connection.quit();
    return;
  }
  idle_.push_back(&connection);
}

void Site::release_idle_connections() {
  std::vector<smtp::Connection*> idle;
  idle.swap(idle_);
  for (smtp::Connection* connection : idle) connection->quit();
}

void Site::stop(bool now) {
  release_idle_connections();
  if (!now) return;
  const std::vector<smtp::Connection*> snapshot = connections_;
  for (smtp::Connection* connection : snapshot) {
    if (std::find(connections_.begin(), connections_.end(), connection) != connections_.end()) {
      connection->abort("stopped by a signal");
    }
  }
}

void Site::check_timeouts(std::int64_t now_ms) {
  // A timeout closes its connection, and closing one may end others (idle ones told to QUIT
  // before they connected): walk a copy and skip what is gone.
  const std::vector<smtp::Connection*> snapshot = connections_;
  for (smtp::Connection* connection : snapshot) {
    if (std::find(connections_.begin(), connections_.end(), connection) != connections_.end()) {
      connection->check_timeout(now_ms);
    }
  }
}

void Site::on_closed(smtp::Connection& connection, const smtp::CloseReport& report) {
  connections_.erase(std::remove(connections_.begin(), connections_.end(), &connection),
                     connections_.end());
  idle_.erase(std::remove(idle_.begin(), idle_.end(), &connection), idle_.end());
  std::uint32_t lane_index = opening_lane_;  // closed inside open(): not in the map yet
  if (auto found = connection_lanes_.find(&connection); found != connection_lanes_.end()) {
    lane_index = found->second;
    connection_lanes_.erase(found);
  }
  Lane& lane = lanes_[lane_index];
  lane.connection_closed();
  const std::uint32_t target = target_of(connection);
  if (report.auth_rejected) {
    opener_.connection_closed(report, true);
    // RFC 4954 6: the credentials are wrong; no connection anywhere will do better.
    run_.abort_run(cat("the relay ", targets_[target].label,
                       " did not take the credentials: ", report.reason));
    run_.mark_dirty(this);  // what waits here is abandoned by its domains, not retried
    return;
  }
  if (!report.ready && report.failure_code >= 400 && report.failure_code < 500) {
    // A 421 at the greeting or EHLO ("too many connections"): the reply rules decide whether
    // it is about concurrency. (Later replies reached them through the recipients' outcomes.)
    const Attempt attempt{Stage::connect, report.failure_code,    report.failure_enhanced,
                          report.reason,  targets_[target].label, -1};
    Verdict verdict = judge_.judge(attempt, &destination_, run_.now_ms());
    if (verdict.rule != nullptr) apply_shaping(lane, attempt, verdict);
  }
  bool fell_back = false;
  if (report.tls_failed && security_.tls == TlsMode::opportunistic && !security_.implicit_tls &&
      !tls_fallback_) {
    // Opportunistic TLS: a broken handshake must not stop the mail; say so once.
    tls_fallback_ = fell_back = true;
    std::fprintf(stderr, "hayate: %s; sending to %s without TLS\n", report.reason.c_str(),
                 key_.c_str());
  }
  const bool failed = !report.ready && !fell_back && !report.clean;
  opener_.connection_closed(report, failed);
  if (report.ready || fell_back) {
    opener_.breaker(targets_[target].label).on_success(run_.now_ms());
    if (target_down_[target]) {
      target_down_[target] = 0;
      --targets_down_;
    }
  } else if (failed) {
    target_failed(target, report);
  }
  run_.mark_dirty(this);
}

void Site::target_failed(std::uint32_t target, const smtp::CloseReport& report) {
  // It ended before it could carry mail (refused, silent, TLS or AUTH failed): this address
  // is down for now, and the next connection goes to the next MX address (RFC 5321 5.1).
  // Repeated failures open its breaker: it rests, and later rounds skip it. Refused, silent,
  // cut off or a broken handshake count against the host; a server that answered 4xx ("too
  // many connections") is alive: the reply rules dealt with it.
  if (report.failure_code == 0 || report.tls_failed) {
    opener_.breaker(targets_[target].label).on_failure(run_.now_ms());
  }
  if (!target_down_[target]) {
    target_down_[target] = 1;
    ++targets_down_;
  }
  if (targets_down_ == targets_.size() && connections_.empty()) {
    // Only a 5xx greeting says "no mail here"; anything later (EHLO, TLS, AUTH) is deferred.
    fail_unreachable(report);
  }
}

void Site::fail_unreachable(const smtp::CloseReport& last) {
  // Every address failed: this attempt is over for every ready recipient, with what the last
  // server said (its code, enhanced code and words) or what failed, named. Never a bounce: a
  // refused session says nothing about an address (Judge::judge).
  std::fill(target_down_.begin(), target_down_.end(), 0);
  targets_down_ = 0;
  const Stage stage = last.failure_code != 0 ? stage_of(last.failure_stage) : Stage::connect;
  const smtp::EnhancedCode enhanced =
      last.failure_enhanced.present() ? last.failure_enhanced : connection_failure_code(stage);
  text_ = cat("no server accepted a session; last error: ", last.reason);
  const Attempt attempt{stage, last.failure_code, enhanced, text_, targets_.front().label, -1};
  std::deque<DomainQueue*> domains;
  domains.swap(ready_domains_);
  for (DomainQueue* domain : domains) {
    domain->queued_at_site = false;
    domain->fail_ready(attempt);
    domain->forget_site();  // look the route or MX up again before the retry
  }
}

void schedule_dirty(std::vector<DomainQueue*>& dirty_domains, std::vector<Site*>& dirty_sites) {
  for (std::size_t round = 0; round < 4 && (!dirty_domains.empty() || !dirty_sites.empty());
       ++round) {
    std::vector<DomainQueue*> domains;
    domains.swap(dirty_domains);
    std::sort(domains.begin(), domains.end());
    domains.erase(std::unique(domains.begin(), domains.end()), domains.end());
    for (DomainQueue* domain : domains) domain->schedule();
    std::vector<Site*> sites;
    sites.swap(dirty_sites);
    std::sort(sites.begin(), sites.end());
    sites.erase(std::unique(sites.begin(), sites.end()), sites.end());
    for (Site* site : sites) site->schedule();
  }
}

}  // namespace hayate::campaign::delivery
