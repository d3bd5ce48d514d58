// Connections to one site and the rotation of its domains' recipients over them.
#include "campaign/site.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "campaign/campaign_shard.h"
#include "campaign/domain_queue.h"
#include "campaign/message.h"
#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/strings.h"

namespace hayate::campaign {

namespace {
// A connection is worth opening for this many ready recipients (up to the site's cap):
// fewer connections each carrying more messages save handshakes.
constexpr std::size_t recipients_per_new_connection = 16;
}  // namespace

Site::Site(CampaignShard& shard, std::string key, std::vector<Target> targets,
           std::uint32_t connections_max, SiteSecurity security)
    : shard_(shard),
      key_(std::move(key)),
      targets_(std::move(targets)),
      connections_max_(connections_max),
      security_(security),
      target_down_(targets_.size(), 0) {
  HAYATE_ASSERT(!targets_.empty());
  HAYATE_ASSERT(connections_max_ > 0);
}

Site::~Site() { HAYATE_ASSERT(connections_.empty() && in_flight_.empty()); }

void Site::add_ready_domain(DomainQueue* domain) {
  if (!domain->queued_at_site) {
    domain->queued_at_site = true;
    ready_domains_.push_back(domain);
  }
  shard_.mark_dirty(this);
}

std::size_t Site::ready_recipients() const {
  // Only an estimate is needed to size the pool: count a few domains, not all of them.
  std::size_t count = 0;
  const std::size_t sampled = std::min<std::size_t>(ready_domains_.size(), 8);
  for (std::size_t i = 0; i < sampled; ++i) count += ready_domains_[i]->ready_count();
  return count + (ready_domains_.size() - sampled) * recipients_per_new_connection;
}

void Site::schedule() {
  if (shard_.stop_level() > 0) return;  // a signal asked the run to stop: nothing new
  if (ready_domains_.empty()) {
    if (in_flight_.empty() && shard_.input_ended()) release_idle_connections();
    return;
  }
  while (!idle_.empty() && !ready_domains_.empty()) {  // idle connections take work first
    smtp::ClientConnection* connection = idle_.back();
    idle_.pop_back();
    connection->poke();
  }
  const std::size_t wanted = std::min<std::size_t>(
      connections_max_,
      (ready_recipients() + recipients_per_new_connection - 1) / recipients_per_new_connection);
  while (connections_.size() < wanted && !ready_domains_.empty()) {
    // Every address is down: wait for the connections still trying.
    if (targets_down_ == targets_.size()) return;
    if (!shard_.may_open_connection()) {
      shard_.wait_for_connection_slot(this);
      return;
    }
    open_connection();
  }
}

void Site::open_connection() {
  std::size_t index = 0;
  while (target_down_[index]) ++index;  // the caller checked that one is up
  const Target& target = targets_[index];
  const JobConfig& job = *shard_.context().job;
  smtp::ConnectionOptions options;
  options.helo_name = job.helo;
  options.messages_max = job.messages_per_connection;
  options.connect_timeout_ms = job.connect_timeout_ms;
  options.command_timeout_ms = job.command_timeout_ms;
  options.data_timeout_ms = job.data_timeout_ms;
  options.idle_timeout_ms = limits::idle_timeout_ms;
  using Policy = smtp::ClientSession::TlsPolicy;
  const bool tls_off = security_.tls == TlsMode::disabled || (tls_fallback_ && !security_.implicit_tls);
  options.tls = tls_off ? Policy::disabled
                        : security_.tls == TlsMode::required ? Policy::required
                                                             : Policy::opportunistic;
  options.implicit_tls = security_.implicit_tls && security_.tls != TlsMode::disabled;
  options.verify_certificate = security_.tls == TlsMode::required;
  options.tls_context = shard_.tls_context();
  options.server_name = target.host;
  options.tls_session_key = target.label;
  if (security_.route != nullptr && !security_.route->username.empty()) {
    options.auth_username = security_.route->username;
    options.auth_password = security_.route->password;
    options.allow_plaintext_auth = security_.route->allow_plaintext_auth;
  }
  shard_.connection_opened();
  smtp::ClientConnection* connection =
      smtp::ClientConnection::open(shard_.shard(), target.address, options, *this);
  if (connection != nullptr) connections_.push_back(connection);
}

std::uint32_t Site::target_of(const smtp::ClientConnection& connection) const {
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

bool Site::next_transaction(smtp::ClientConnection& connection, smtp::Transaction& transaction) {
  if (ready_domains_.empty() || shard_.stop_level() > 0) return false;
  DomainQueue* domain = ready_domains_.front();
  ready_domains_.pop_front();
  Recipient recipient = domain->take();
  if (domain->has_ready()) {
    ready_domains_.push_back(domain);  // its next recipient waits for the other domains' turn
  } else {
    domain->queued_at_site = false;
  }
  ++recipient.attempts;
  const JobConfig& job = *shard_.context().job;
  transaction.id = shard_.next_transaction_id();
  if (const VerpKey* verp = shard_.context().verp; verp != nullptr) {
    transaction.mail_from.clear();
    append_verp_address(*verp, shard_.context().verp_tag, recipient.sequence,
                        transaction.mail_from);
  } else {
    transaction.mail_from = job.envelope_from.text;
  }
  // RFC 6152: declaring 8BITMIME for a body that turns out 7bit is allowed; the message is
  // rendered only after MAIL went out, so declare whenever the server offers it.
  transaction.body_8bitmime = connection.capabilities().eightbitmime;
  transaction.recipients.emplace_back(recipient.address());
  transaction.needs_smtputf8 = recipient.needs_smtputf8 || job.envelope_from.needs_smtputf8;
  in_flight_.emplace(transaction.id,
                     InFlight{std::move(recipient), domain, shard_.now_ms(), target_of(connection),
                              transaction.body_8bitmime});
  return true;
}

void Site::append_message(smtp::ClientConnection&, const smtp::Transaction& transaction,
                          std::string& out) {
  auto found = in_flight_.find(transaction.id);
  HAYATE_ASSERT(found != in_flight_.end());
  const Recipient& recipient = found->second.recipient;
  fields_.clear();
  for (std::size_t i = 0; i < recipient.field_count(); ++i) fields_.push_back(recipient.field(i));
  std::string& message = shard_.scratch();
  message.clear();
  shard_.composer().compose(fields_, recipient.address(), recipient.sequence,
                            shard_.unix_time_s(), message, found->second.eightbit_allowed);
  const auto& signers = shard_.context().dkim_signers;
  if (!signers.empty()) {  // signed once, on the shard that sends, just before it goes
    std::string& signatures = shard_.signature_scratch();
    signatures.clear();
    shard_.dkim().sign(signers, message, shard_.unix_time_s(), signatures);
    out.append(signatures);  // header lines: nothing there starts with a dot
    shard_.counters().message_bytes += signatures.size();
  }
  shard_.counters().message_bytes += message.size();
  append_dot_stuffed(message, out);
}

void Site::on_recipient_outcome(smtp::ClientConnection&, const smtp::Transaction& transaction,
                                std::size_t index, const smtp::Outcome& outcome) {
  HAYATE_ASSERT(index == 0);  // one recipient per transaction: every message is personal
  auto found = in_flight_.find(transaction.id);
  HAYATE_ASSERT(found != in_flight_.end());
  InFlight in_flight = std::move(found->second);
  in_flight_.erase(found);
  const std::string enhanced = outcome.enhanced.to_string();
  AttemptResult result{outcome.code, enhanced, outcome.text, smtp::stage_name(outcome.stage),
                       targets_[in_flight.target].label, shard_.now_ms() - in_flight.started_ms};
  in_flight.domain->record(std::move(in_flight.recipient), result);
}

void Site::on_idle(smtp::ClientConnection& connection) {
  if (shard_.stop_level() > 0) {
    connection.quit();
    return;
  }
  if (!ready_domains_.empty()) {
    connection.poke();
    return;
  }
  // Free the slot when the run is ending or another site is waiting for one.
  if (shard_.input_ended() && in_flight_.empty()) {
    // The site's work is done (retries aside): this and every other idle connection QUIT.
    connection.quit();
    release_idle_connections();
    return;
  }
  if (shard_.sites_waiting_for_slots()) {
    connection.quit();
    return;
  }
  idle_.push_back(&connection);
}

void Site::release_idle_connections() {
  std::vector<smtp::ClientConnection*> idle;
  idle.swap(idle_);
  for (smtp::ClientConnection* connection : idle) connection->quit();
}

void Site::stop(bool now) {
  release_idle_connections();
  if (!now) return;
  const std::vector<smtp::ClientConnection*> snapshot = connections_;
  for (smtp::ClientConnection* connection : snapshot) {
    if (std::find(connections_.begin(), connections_.end(), connection) != connections_.end()) {
      connection->abort("stopped by a signal");
    }
  }
}

void Site::check_timeouts(std::int64_t now_ms) {
  // A timeout closes its connection, and closing one may end others (idle ones told to QUIT
  // before they connected): walk a copy and skip what is gone.
  const std::vector<smtp::ClientConnection*> snapshot = connections_;
  for (smtp::ClientConnection* connection : snapshot) {
    if (std::find(connections_.begin(), connections_.end(), connection) != connections_.end()) {
      connection->check_timeout(now_ms);
    }
  }
}

void Site::on_closed(smtp::ClientConnection& connection, const smtp::CloseReport& report) {
  connections_.erase(std::remove(connections_.begin(), connections_.end(), &connection),
                     connections_.end());
  idle_.erase(std::remove(idle_.begin(), idle_.end(), &connection), idle_.end());
  shard_.connection_closed();
  const std::uint32_t target = target_of(connection);
  if (report.auth_rejected) {
    // RFC 4954 6: the credentials are wrong; no connection anywhere will do better.
    shard_.abort_run(cat("the relay ", targets_[target].label, " refused the credentials: ",
                         report.reason));
    shard_.mark_dirty(this);  // what waits here is abandoned by its domains, not retried
    return;
  }
  bool fell_back = false;
  if (report.tls_failed && security_.tls == TlsMode::opportunistic && !security_.implicit_tls &&
      !tls_fallback_) {
    // Opportunistic TLS: a broken handshake must not stop the mail; say so once.
    tls_fallback_ = fell_back = true;
    std::fprintf(stderr, "hayate: %s; sending to %s without TLS\n", report.reason.c_str(),
                 key_.c_str());
  }
  if (report.greeted) ++shard_.counters().servers_greeted;
  if (report.ready || fell_back) {
    if (target_down_[target]) {
      target_down_[target] = 0;
      --targets_down_;
    }
  } else if (!report.clean) {
    // It ended before it could carry mail (refused, silent, TLS or AUTH failed): this address
    // is down for now, and the next connection goes to the next MX address (RFC 5321 5.1).
    ++shard_.counters().connections_failed;
    if (!target_down_[target]) {
      target_down_[target] = 1;
      ++targets_down_;
    }
    if (targets_down_ == targets_.size() && connections_.empty()) {
      // Every address failed: this attempt is over for every ready recipient.
      std::fill(target_down_.begin(), target_down_.end(), 0);
      targets_down_ = 0;
      // Only a 5xx greeting says "no mail here"; anything later (EHLO, TLS, AUTH) is deferred.
      const bool permanent = report.failure_code >= 500 && !report.greeted;
      const std::string reason =
          absl::StrCat("no server accepted a session; last error: ", report.reason);
      // A temporary failure keeps the server's words in the reason, not its 5xx as the code.
      const AttemptResult result{permanent ? report.failure_code : std::uint16_t{0},
                                 permanent ? "5.0.0" : "4.4.1", reason,
                                 "connect", targets_[target].label, -1};
      std::deque<DomainQueue*> domains;
      domains.swap(ready_domains_);
      for (DomainQueue* domain : domains) {
        domain->queued_at_site = false;
        domain->fail_ready(result);
        domain->forget_site();  // look the route or MX up again before the retry
      }
    }
  }
  shard_.mark_dirty(this);
}

}  // namespace hayate::campaign
