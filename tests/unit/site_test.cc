// Tests of the delivery core without a ring: campaign/delivery/site and domain_queue driven by
// a fake shard (a clock the test moves, the services of delivery_services.h) and scripted
// connections (smtp::Connection) whose server answers each transaction as the test says.
// What they show: the pool refills idle connections from the ready domains (pipelining
// refill), messages_per_connection rotates connections, a 421 mid-session defers only the
// recipient it answered and the rest go on another connection, a throttle reply cuts the
// connections a destination may open, a dead first MX opens its breaker and the second MX
// takes the mail, and deferred recipients come back at the time their retry says.
#include "campaign/delivery/site.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "campaign/delivery/domain_queue.h"
#include "campaign/delivery/throttle_table.h"
#include "campaign/delivery/verdict.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign {
namespace {

// What the scripted server does with one transaction.
struct ServerReply {
  smtp::Outcome outcome;
  bool close_after = false;   // the server drops the session after this reply (a 421)
  std::int64_t delay_ms = 0;  // the reply comes this long after the transaction was sent
};

class FakeShard;

// A connection whose "server" is a function of the test. Nothing happens inside the site's
// calls: poke() and quit() only set flags, and FakeShard::run() acts on them, as a ring would
// on its next completion.
class FakeConnection final : public smtp::Connection {
 public:
  FakeConnection(FakeShard& shard, const dns::SocketAddress& address,
                 const smtp::ConnectionOptions& options, smtp::ConnectionOwner& owner)
      : shard_(shard), address_(address), options_(options), owner_(owner) {
    capabilities_.pipelining = true;
  }
  void poke() override { poked_ = true; }
  void quit() override { quit_ = true; }
  void abort(std::string_view reason) override {
    abort_reason_ = std::string(reason);
    quit_ = true;
  }
  void check_timeout(std::int64_t) override {}
  const dns::SocketAddress& address() const override { return address_; }
  const smtp::Capabilities& capabilities() const override { return capabilities_; }
  std::string_view local_ip() const override { return "192.0.2.10"; }
  std::string_view tls_version() const override { return {}; }
  std::string_view tls_cipher() const override { return {}; }

  // One step of the session; false when it has nothing to do until poked. Deletes itself (and
  // returns true) when it closes.
  bool step(bool& closed);
  const smtp::ConnectionOptions& options() const { return options_; }
  // When an idle session QUITs on its own; INT64_MAX while it works.
  std::int64_t idle_deadline_ms() const {
    if (pending_) return reply_due_ms_;
    return idle_reported_ && !poked_ ? idle_since_ms_ + options_.idle_timeout_ms : INT64_MAX;
  }

 private:
  void close(const smtp::CloseReport& report, bool& closed);
  bool answer(const smtp::Transaction& transaction, const ServerReply& reply, bool& closed);

  FakeShard& shard_;
  dns::SocketAddress address_;
  smtp::ConnectionOptions options_;
  smtp::ConnectionOwner& owner_;
  smtp::Capabilities capabilities_;
  bool started_ = false;
  bool poked_ = true;  // a new session asks for work once it is ready
  bool quit_ = false;
  bool idle_reported_ = false;
  std::int64_t idle_since_ms_ = 0;
  // A transaction whose reply is delayed (ServerReply::delay_ms), due at reply_due_ms_.
  std::optional<smtp::Transaction> pending_;
  ServerReply pending_reply_;
  std::int64_t reply_due_ms_ = 0;
  std::uint32_t transactions_ = 0;
  std::string abort_reason_;
};

class FakeShard final : public RunControl,
                        public ConnectionOpener,
                        public MessageSource,
                        public Router,
                        public OutcomeSink {
 public:
  explicit FakeShard(JobConfig job, ShapingRules rules)
      : job_(std::move(job)), rules_(std::move(rules)) {
    context_.job = &job_;
    context_.rules = &rules_;
    context_.sources.push_back(SendingSource{});
    context_.connections_per_shard = 100;
    context_.connections_per_site = job_.connections_per_domain;
    judge_.emplace(&rules_, &job_, deadline_ms);
    throttles_.emplace(context_, 0);
  }
  ~FakeShard() {
    sites_.clear();
    domains_.clear();
  }

  static constexpr std::int64_t deadline_ms = 1'000'000'000;
  // The wall clock is this plus the shard clock; the campaign began when the test did.
  static constexpr std::int64_t campaign_started_unix_ms = 1'800'000'000'000;

  // The scripted server: the reply to a transaction for `recipient` on a connection to
  // `address` ("127.0.0.1:25"); and which addresses refuse connections.
  std::function<ServerReply(std::string_view recipient, std::string_view address)> server =
      [](std::string_view, std::string_view) {
        return ServerReply{smtp::Outcome{250, {2, 0, 0}, "Ok", smtp::Stage::body}};
      };
  std::vector<std::string> refusing;      // "127.0.0.1:25" strings
  std::vector<std::string> greeting_554;  // addresses whose server greets 554 5.7.1

  DomainQueue& domain(const std::string& name) {
    auto found = domains_.find(name);
    if (found == domains_.end()) {
      const DomainQueueServices services{
          *this, *this, *this, *judge_, job_, rules_, campaign_started_unix_ms};
      found = domains_.emplace(name, std::make_unique<DomainQueue>(services, name)).first;
    }
    return *found->second;
  }
  void add(const std::string& address) {
    Recipient recipient;
    recipient.sequence = ++sequence_;
    recipient.line = sequence_ + 1;
    recipient.data = address;
    recipient.ends = {static_cast<std::uint32_t>(address.size())};
    recipient.domain_offset = static_cast<std::uint32_t>(address.find('@') + 1);
    domain(std::string(recipient.domain())).add(std::move(recipient));
  }
  // A site with several targets made before any domain resolves (find_site returns it).
  void preset_site(const std::string& key, std::vector<Target> targets) {
    make_site(key, std::move(targets), SiteSecurity{TlsMode::disabled, false, nullptr},
              rules_.destinations[0], true);
  }

  // Runs the loop until nothing moves (bounded): wake-ups that are due, scheduling, then one
  // step per connection. When nothing moves, the clock jumps to the next wake-up if it is
  // within `horizon_ms` from the start (pacing, suspensions, retries), else the run ends.
  void run(std::int64_t horizon_ms = 0, int steps_max = 100'000) {
    const std::int64_t until = now_ + horizon_ms;
    for (int step = 0; step < steps_max; ++step) {
      input_ended_ = true;
      while (!wakeups_.empty() && wakeups_.begin()->first <= now_) {
        DomainQueue* domain = wakeups_.begin()->second;
        wakeups_.erase(wakeups_.begin());
        domain->wake();
      }
      while (!site_wakeups_.empty() && site_wakeups_.begin()->first <= now_) {
        Site* site = site_wakeups_.begin()->second;
        site_wakeups_.erase(site_wakeups_.begin());
        site->wake(now_);
      }
      bool moved = !dirty_domains_.empty() || !dirty_sites_.empty();
      schedule_dirty();
      std::vector<FakeConnection*> open = connections_;
      for (FakeConnection* connection : open) {
        if (std::find(connections_.begin(), connections_.end(), connection) == connections_.end()) {
          continue;
        }
        bool closed = false;
        if (connection->step(closed)) moved = true;
      }
      if (moved) continue;
      std::int64_t next = INT64_MAX;
      for (const FakeConnection* connection : connections_) {
        next = std::min(next, connection->idle_deadline_ms());
      }
      if (!wakeups_.empty()) next = std::min(next, wakeups_.begin()->first);
      if (!site_wakeups_.empty()) next = std::min(next, site_wakeups_.begin()->first);
      if (next > until) return;
      now_ = std::max(now_, next);
    }
    ADD_FAILURE() << "the loop did not settle";
  }
  void advance(std::int64_t ms) { now_ += ms; }

  // RunControl
  std::int64_t now_ms() const override { return now_; }
  std::int64_t unix_time_ms() const override { return campaign_started_unix_ms + now_; }
  double uniform_random() override { return 0.5; }
  bool input_ended() const override { return input_ended_; }
  int stop_level() const override { return 0; }
  bool aborted() const override { return false; }
  const std::string& abort_reason() const override { return abort_reason_; }
  void abort_run(std::string reason) override { abort_reason_ = std::move(reason); }
  void mark_dirty(DomainQueue* domain) override { dirty_domains_.push_back(domain); }
  void mark_dirty(Site* site) override { dirty_sites_.push_back(site); }
  void wake_at(std::int64_t time_ms, DomainQueue* domain) override {
    wakeups_.emplace(time_ms, domain);
  }
  void wake_at(std::int64_t time_ms, Site* site) override { site_wakeups_.emplace(time_ms, site); }

  // ConnectionOpener
  bool may_open_connection() const override { return connections_.size() < 100; }
  void wait_for_connection_slot(Site*) override {}
  bool sites_waiting_for_slots() const override { return false; }
  smtp::Connection* open(const dns::SocketAddress& address, smtp::ConnectionOptions& options,
                         smtp::ConnectionOwner& owner) override {
    auto* connection = new FakeConnection(*this, address, options, owner);
    connections_.push_back(connection);
    ++opened;
    connections_max_seen = std::max<std::size_t>(connections_max_seen, connections_.size());
    return connection;
  }
  void connection_closed(const smtp::CloseReport&, bool failed) override {
    if (failed) ++failed_connections;
  }
  shaping::CircuitBreaker& breaker(const std::string& label) override {
    auto found = breakers_.find(label);
    if (found == breakers_.end()) {
      shaping::BreakerConfig config;
      config.failures_to_open = 3;
      found = breakers_.emplace(label, std::make_unique<shaping::CircuitBreaker>(config)).first;
    }
    return *found->second;
  }

  // MessageSource
  std::uint64_t next_transaction_id() override { return ++transaction_ids_; }
  void envelope_from(const Recipient&, std::string& out) override { out += "bounces@test"; }
  std::uint64_t append_message(const Recipient& recipient, bool, std::string& out) override {
    out += "Subject: hello ";
    out += recipient.address();
    out += "\r\n\r\nbody\r\n.\r\n";
    return recipient.sequence * 1000 + recipient.attempts;
  }
  void append_message_id(const Recipient&, std::uint64_t message_id_random,
                         std::string& out) override {
    out += cat("<", message_id_random, "@test>");
  }

  // Router
  Site* find_site(const std::string& key) override {
    auto found = sites_.find(key);
    return found == sites_.end() ? nullptr : found->second.get();
  }
  Site* make_site(const std::string& key, std::vector<Target> targets, SiteSecurity security,
                  const Destination& destination, bool route) override {
    std::vector<Lane> lanes = throttles_->lanes_for(key, destination, route, now_);
    const SiteServices services{*this, *this, *this, *throttles_, *judge_, job_};
    auto site =
        std::make_unique<Site>(services, key, std::move(targets), context_.connections_per_site,
                               security, destination, std::move(lanes));
    return sites_.emplace(key, std::move(site)).first->second.get();
  }
  dns::Resolver* resolver() override { return nullptr; }
  const std::string& resolver_error() const override { return resolver_error_; }
  bool begin_lookup(DomainQueue*) override { return true; }
  void end_lookup() override {}

  // OutcomeSink
  void record(OutcomeRecord& record, const Recipient&) override {
    outcomes.push_back(Logged{std::string(record.recipient), record.type, record.final, record.code,
                              record.attempt, std::string(record.mx), record.next_try_unix_ms,
                              std::string(record.message_id), record.size_bytes,
                              std::string(record.source_ip), std::string(record.tls_version)});
  }

  struct Logged {
    std::string recipient;
    OutcomeType type;
    bool final;
    std::uint16_t code;
    std::uint32_t attempt;
    std::string mx;
    std::int64_t next_try_unix_ms;
    std::string message_id;
    std::uint64_t size_bytes;
    std::string source_ip;
    std::string tls_version;
  };
  std::vector<Logged> outcomes;
  std::size_t count(OutcomeType type, bool final = true) const {
    return static_cast<std::size_t>(std::count_if(
        outcomes.begin(), outcomes.end(),
        [&](const Logged& logged) { return logged.type == type && logged.final == final; }));
  }
  std::size_t opened = 0;
  std::size_t connections_max_seen = 0;
  std::size_t failed_connections = 0;
  std::vector<FakeConnection*> connections_;
  const ShapingRules& rules() const { return rules_; }

 private:
  void schedule_dirty() { delivery::schedule_dirty(dirty_domains_, dirty_sites_); }

  JobConfig job_;
  ShapingRules rules_;
  CampaignContext context_;
  std::optional<Judge> judge_;
  std::optional<ThrottleTable> throttles_;
  std::int64_t now_ = 1'000;
  bool input_ended_ = false;
  std::string abort_reason_;
  std::string resolver_error_;
  std::uint64_t sequence_ = 0;
  std::uint64_t transaction_ids_ = 0;
  std::vector<DomainQueue*> dirty_domains_;
  std::vector<Site*> dirty_sites_;
  std::multimap<std::int64_t, DomainQueue*> wakeups_;
  std::multimap<std::int64_t, Site*> site_wakeups_;
  std::map<std::string, std::unique_ptr<DomainQueue>> domains_;
  std::map<std::string, std::unique_ptr<Site>> sites_;
  std::map<std::string, std::unique_ptr<shaping::CircuitBreaker>> breakers_;
};

void FakeConnection::close(const smtp::CloseReport& report, bool& closed) {
  auto& open = shard_.connections_;
  open.erase(std::remove(open.begin(), open.end(), this), open.end());
  closed = true;
  owner_.on_closed(*this, report);
  delete this;
}

bool FakeConnection::step(bool& closed) {
  if (!started_) {
    started_ = true;
    const std::string where = address_.to_string();
    if (std::find(shard_.refusing.begin(), shard_.refusing.end(), where) != shard_.refusing.end()) {
      smtp::CloseReport report;
      report.reason = "connect: connection refused";
      close(report, closed);
      return true;
    }
    if (std::find(shard_.greeting_554.begin(), shard_.greeting_554.end(), where) !=
        shard_.greeting_554.end()) {
      smtp::CloseReport report;
      report.connected = true;
      report.failure_code = 554;
      report.failure_enhanced = smtp::EnhancedCode{5, 7, 1};
      report.failure_stage = smtp::Stage::greeting;
      report.reason = "greeting: 554 5.7.1 Transaction failed";
      close(report, closed);
      return true;
    }
  }
  if (quit_) {
    smtp::CloseReport report;
    report.connected = report.greeted = report.ready = report.clean = true;
    report.transactions = transactions_;
    close(report, closed);
    return true;
  }
  if (pending_) {
    if (shard_.now_ms() < reply_due_ms_) return false;
    const smtp::Transaction transaction = std::move(*pending_);
    pending_.reset();
    return answer(transaction, pending_reply_, closed);
  }
  if (!poked_) {
    // An idle session QUITs after the idle timeout, as ClientConnection does.
    if (idle_reported_ && shard_.now_ms() - idle_since_ms_ >= options_.idle_timeout_ms) {
      quit_ = true;
      return true;
    }
    return false;
  }
  smtp::Transaction transaction;
  if (!owner_.next_transaction(*this, transaction)) {
    poked_ = false;
    if (!idle_reported_) {
      idle_reported_ = true;
      idle_since_ms_ = shard_.now_ms();
      owner_.on_idle(*this);  // may quit(), poke() or keep us
    }
    return true;
  }
  idle_reported_ = false;
  std::string message;
  owner_.append_message(*this, transaction, message);
  EXPECT_TRUE(message.ends_with("\r\n.\r\n"));
  const ServerReply reply = shard_.server(transaction.recipients[0], address_.to_string());
  if (reply.delay_ms > 0) {
    pending_ = transaction;
    pending_reply_ = reply;
    reply_due_ms_ = shard_.now_ms() + reply.delay_ms;
    return true;
  }
  return answer(transaction, reply, closed);
}

bool FakeConnection::answer(const smtp::Transaction& transaction, const ServerReply& reply,
                            bool& closed) {
  ++transactions_;
  owner_.on_recipient_outcome(*this, transaction, 0, reply.outcome);
  if (reply.close_after) {
    smtp::CloseReport report;
    report.connected = report.greeted = report.ready = true;
    report.failure_code = reply.outcome.code;
    report.failure_enhanced = reply.outcome.enhanced;
    report.failure_stage = reply.outcome.stage;
    report.reason = std::string(reply.outcome.text);
    report.transactions = transactions_;
    close(report, closed);
    return true;
  }
  if (transactions_ >= options_.messages_max) quit_ = true;  // the session's own limit
  return true;
}

ShapingRules shipped() {
  absl::StatusOr<ShapingRules> rules =
      load_rules_text(shipped_shaping_rules(), "", "rules.toml", RulesOptions{});
  EXPECT_TRUE(rules.ok()) << rules.status();
  return std::move(*rules);
}

JobConfig routed_job(std::uint32_t connections, std::uint32_t messages_per_connection) {
  JobConfig job;
  job.helo = "sender.test";
  job.envelope_from.text = "bounces@test";
  job.connections_per_domain = connections;
  job.messages_per_connection = messages_per_connection;
  job.tls = TlsMode::disabled;
  job.retry_backoff =
      shaping::BackoffConfig{60'000, 2, 3'600'000, 3 * 86'400'000LL, shaping::Jitter::none};
  Route route;
  route.domain = "*";
  route.endpoint = Endpoint{"127.0.0.1", 2525};
  job.routes.push_back(route);
  return job;
}

std::vector<Target> targets(std::initializer_list<const char*> addresses) {
  std::vector<Target> out;
  for (const char* text : addresses) {
    dns::SocketAddress address;
    EXPECT_TRUE(dns::SocketAddress::parse(text, 25, address));
    out.push_back(Target{address, std::string("mx ") + text, "mx.test"});
  }
  return out;
}

TEST(Site, IdleConnectionsAreRefilledFromEveryReadyDomain) {
  FakeShard shard(routed_job(2, 1000), shipped());
  for (int i = 0; i < 40; ++i)
    shard.add("user" + std::to_string(i) + "@d" + std::to_string(i % 4) + ".test");
  shard.run();
  EXPECT_EQ(shard.count(OutcomeType::delivered), 40u);
  // 40 ready recipients want ceil(40/16) = 3 connections; the site's cap is 2, and those two
  // carried everything (each was handed the next recipient as soon as it was free).
  EXPECT_EQ(shard.opened, 2u);
  EXPECT_EQ(shard.connections_max_seen, 2u);
  EXPECT_TRUE(shard.connections_.empty());  // QUIT once the work was done
}

TEST(Site, MessagesPerConnectionRotatesConnections) {
  FakeShard shard(routed_job(1, 5), shipped());
  for (int i = 0; i < 12; ++i) shard.add("user" + std::to_string(i) + "@d.test");
  shard.run();
  EXPECT_EQ(shard.count(OutcomeType::delivered), 12u);
  EXPECT_EQ(shard.opened, 3u);  // 5 + 5 + 2
}

TEST(Site, A421MidSessionDefersOnlyItsRecipientAndTheRestGoOn) {
  FakeShard shard(routed_job(1, 1000), shipped());
  shard.server = [](std::string_view recipient, std::string_view) {
    if (recipient == "user3@d.test") {
      return ServerReply{
          smtp::Outcome{421, {4, 3, 2}, "4.3.2 System shutting down", smtp::Stage::rcpt}, true};
    }
    return ServerReply{smtp::Outcome{250, {2, 0, 0}, "Ok", smtp::Stage::body}};
  };
  for (int i = 0; i < 8; ++i) shard.add("user" + std::to_string(i) + "@d.test");
  shard.run();
  EXPECT_EQ(shard.count(OutcomeType::delivered), 7u);
  ASSERT_EQ(shard.count(OutcomeType::deferred, false), 1u);
  const auto deferred = std::find_if(shard.outcomes.begin(), shard.outcomes.end(),
                                     [](const auto& logged) { return logged.code == 421; });
  ASSERT_NE(deferred, shard.outcomes.end());
  EXPECT_EQ(deferred->recipient, "user3@d.test");
  EXPECT_EQ(deferred->attempt, 1u);
  EXPECT_EQ(shard.opened, 2u);  // the rest went on a new connection
}

// Each attempt's record names its connection and its message: the source address, the
// Message-ID of the message made for that attempt (a retry makes a new one) and its size.
TEST(Site, EveryAttemptNamesItsSourceAddressMessageIdAndSize) {
  FakeShard shard(routed_job(1, 1000), shipped());
  shard.server = [](std::string_view recipient, std::string_view) {
    if (recipient == "later@d.test") {
      return ServerReply{smtp::Outcome{451, {4, 3, 0}, "4.3.0 Try again", smtp::Stage::rcpt}};
    }
    return ServerReply{smtp::Outcome{250, {2, 0, 0}, "Ok", smtp::Stage::body}};
  };
  shard.add("now@d.test");
  shard.add("later@d.test");
  shard.run();
  ASSERT_EQ(shard.outcomes.size(), 2u);
  const auto& delivered = shard.outcomes[0];
  EXPECT_EQ(delivered.recipient, "now@d.test");
  EXPECT_EQ(delivered.message_id, "<1001@test>");  // sequence 1, attempt 1 (FakeShard)
  // "Subject: hello now@d.test\r\n\r\nbody\r\n" without the final ".\r\n"
  EXPECT_EQ(delivered.size_bytes, 35u);
  EXPECT_EQ(delivered.source_ip, "192.0.2.10");
  EXPECT_EQ(delivered.tls_version, "");
  const auto& deferred = shard.outcomes[1];
  EXPECT_EQ(deferred.type, OutcomeType::deferred);
  EXPECT_EQ(deferred.message_id, "<2001@test>");  // the message made for it, never sent
  EXPECT_EQ(deferred.source_ip, "192.0.2.10");
}

TEST(Site, AThrottleReplyCutsTheConnectionsADestinationMayOpen) {
  // gmail.com routed to the sink: the shipped Gmail destination's limits (5 connections) and
  // reply rules apply.
  FakeShard shard(routed_job(8, 1000), shipped());
  for (int i = 0; i < 100; ++i) shard.add("a" + std::to_string(i) + "@gmail.com");
  shard.run(60'000);  // the destination's pace, if any, within a minute
  EXPECT_EQ(shard.count(OutcomeType::delivered), 100u);
  EXPECT_EQ(shard.connections_max_seen, 5u);  // the destination's cap, below the site's 8

  // Gmail's "unusual rate" (rule gmail-unusual-rate: throttle, pause 10 minutes).
  bool throttled = false;
  shard.server = [&](std::string_view, std::string_view) {
    if (!throttled) {
      throttled = true;
      return ServerReply{
          smtp::Outcome{421,
                        {4, 7, 28},
                        "4.7.28 Gmail has detected an unusual rate of unsolicited mail "
                        "originating from your IP address.",
                        smtp::Stage::rcpt}};
    }
    return ServerReply{smtp::Outcome{250, {2, 0, 0}, "Ok", smtp::Stage::body}};
  };
  shard.connections_max_seen = 0;
  for (int i = 0; i < 100; ++i) shard.add("b" + std::to_string(i) + "@gmail.com");
  shard.run(10'000);  // the connections left idle by the pause QUIT after the idle timeout
  EXPECT_TRUE(throttled);
  EXPECT_EQ(shard.count(OutcomeType::deferred, false), 1u);
  EXPECT_LT(shard.count(OutcomeType::delivered), 200u);  // paused for 10 minutes
  EXPECT_TRUE(shard.connections_.empty());
  shard.connections_max_seen = 0;
  shard.run(10 * 60'000 + 60'000);
  // After the pause the rest goes out on fewer connections than the cap: the cut holds until
  // clean replies let it recover.
  EXPECT_EQ(shard.count(OutcomeType::delivered), 200u);  // the deferred one too, after it
  EXPECT_GE(shard.connections_max_seen, 1u);
  EXPECT_LT(shard.connections_max_seen, 5u);
}

TEST(Site, ADeadFirstMxIsSkippedAndOpensItsBreakerTheSecondTakesTheMail) {
  // Four domains, each with its own site whose MX hosts are 127.0.0.10 (refuses) then
  // 127.0.0.11; breakers are per address and shared by every site of the shard.
  JobConfig job = routed_job(1, 1000);
  job.routes.clear();
  for (int i = 0; i < 4; ++i) {
    Route route;
    route.domain = "d" + std::to_string(i) + ".test";
    route.endpoint = Endpoint{"relay" + std::to_string(i) + ".test", 25};
    job.routes.push_back(route);
  }
  FakeShard shard(std::move(job), shipped());
  for (int i = 0; i < 4; ++i) {
    shard.preset_site("route relay" + std::to_string(i) + ".test:25",
                      targets({"127.0.0.10", "127.0.0.11"}));
  }
  shard.refusing = {"127.0.0.10:25"};
  for (int site = 0; site < 4; ++site) {
    for (int i = 0; i < 3; ++i) {
      shard.add("u" + std::to_string(i) + "@d" + std::to_string(site) + ".test");
    }
    shard.run();
    // A site that saw its first MX fail does not try it again: one refusal each.
    EXPECT_EQ(shard.failed_connections, static_cast<std::size_t>(std::min(site + 1, 3)));
  }
  EXPECT_EQ(shard.count(OutcomeType::delivered), 12u);
  EXPECT_EQ(shard.count(OutcomeType::deferred, false), 0u);
  for (const auto& logged : shard.outcomes) EXPECT_EQ(logged.mx, "mx 127.0.0.11");
  // Three refusals opened the first MX's breaker: the fourth site went to the second MX
  // without a connection to the first.
  EXPECT_FALSE(shard.breaker("mx 127.0.0.10").allow_attempt(shard.now_ms()));
  EXPECT_EQ(shard.opened, 3u + 4u);
}

TEST(Site, A554GreetingTriesTheNextMxThenDefersWithTheServersReply) {
  FakeShard shard(routed_job(1, 1000), shipped());
  shard.preset_site("route 127.0.0.1:2525", targets({"127.0.0.10", "127.0.0.11"}));
  shard.greeting_554 = {"127.0.0.10:25"};
  for (int i = 0; i < 3; ++i) shard.add("u" + std::to_string(i) + "@d.test");
  shard.run();
  EXPECT_EQ(shard.count(OutcomeType::delivered), 3u);  // the second MX took them
  for (const auto& logged : shard.outcomes) EXPECT_EQ(logged.mx, "mx 127.0.0.11");
  // Both MX refuse: deferred with the server's 554 (never a bounce about the addresses).
  shard.greeting_554 = {"127.0.0.10:25", "127.0.0.11:25"};
  shard.outcomes.clear();
  shard.add("late@d.test");
  shard.run();
  ASSERT_EQ(shard.outcomes.size(), 1u);
  EXPECT_EQ(shard.outcomes[0].type, OutcomeType::deferred);
  EXPECT_EQ(shard.outcomes[0].code, 554);
}

TEST(Site, ASlowServerGetsMoreConnectionsUpToTheCap) {
  // Every reply takes 3 s (no refusal): after the first replies the pool grows with the
  // latency, up to connections_per_domain, instead of two connections carrying 30 messages.
  FakeShard shard(routed_job(10, 1000), shipped());
  shard.server = [](std::string_view, std::string_view) {
    return ServerReply{smtp::Outcome{250, {2, 0, 0}, "Ok", smtp::Stage::body}, false, 3'000};
  };
  for (int i = 0; i < 30; ++i) shard.add("u" + std::to_string(i) + "@slow.test");
  const std::int64_t start = shard.now_ms();
  shard.run(120'000);
  EXPECT_EQ(shard.count(OutcomeType::delivered), 30u);
  EXPECT_GT(shard.connections_max_seen, 2u);
  EXPECT_LE(shard.connections_max_seen, 10u);
  // Two connections at 3 s a message would take 45 s.
  EXPECT_LT(shard.now_ms() - start, 20'000);
}

TEST(DomainQueue, ADeferredRecipientComesBackWhenItsRetryIsDue) {
  FakeShard shard(routed_job(1, 1000), shipped());
  int tries = 0;
  shard.server = [&](std::string_view, std::string_view) {
    if (++tries == 1) {
      return ServerReply{
          smtp::Outcome{451, {4, 3, 0}, "4.3.0 Temporary failure", smtp::Stage::rcpt}};
    }
    return ServerReply{smtp::Outcome{250, {2, 0, 0}, "Ok", smtp::Stage::body}};
  };
  shard.add("once@d.test");
  shard.run();
  ASSERT_EQ(shard.outcomes.size(), 1u);
  EXPECT_EQ(shard.outcomes[0].type, OutcomeType::deferred);
  EXPECT_FALSE(shard.outcomes[0].final);
  // First retry after retry_first_delay (60 s, no jitter), in wall-clock time for the journal.
  EXPECT_EQ(shard.outcomes[0].next_try_unix_ms, shard.unix_time_ms() + 60'000);
  shard.advance(59'000);
  shard.run();
  EXPECT_EQ(tries, 1);  // not yet
  shard.advance(1'000);
  shard.run();
  EXPECT_EQ(tries, 2);
  ASSERT_EQ(shard.outcomes.size(), 2u);
  EXPECT_EQ(shard.outcomes[1].type, OutcomeType::delivered);
  EXPECT_EQ(shard.outcomes[1].attempt, 2u);
}

TEST(DomainQueue, APermanentReplyBouncesAtOnceAndIsNeverRetried) {
  FakeShard shard(routed_job(1, 1000), shipped());
  shard.server = [](std::string_view, std::string_view) {
    return ServerReply{smtp::Outcome{550, {5, 1, 1}, "5.1.1 User unknown", smtp::Stage::rcpt}};
  };
  shard.add("gone@d.test");
  shard.run();
  shard.advance(86'400'000);
  shard.run();
  ASSERT_EQ(shard.outcomes.size(), 1u);
  EXPECT_EQ(shard.outcomes[0].type, OutcomeType::bounced);
  EXPECT_TRUE(shard.outcomes[0].final);
}

}  // namespace
}  // namespace hayate::campaign
