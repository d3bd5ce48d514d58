// A site: where mail for one or more domains goes on this shard — a route's endpoint, or a
// domain's MX hosts — with the connections to it. Connections belong to the site, not to a
// domain, so one pooled connection carries the mail of every domain that shares the site
// (all domains routed to one relay, for instance) and connections_per_domain caps the site.
// Domains with recipients ready take turns, so no domain starves another. Each reply is
// judged once (verdict.h); the site applies the verdict's reply rule to its throttles and
// hands recipient and verdict back to the recipient's domain queue.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "campaign/config/job.h"
#include "campaign/delivery/delivery_services.h"
#include "campaign/delivery/throttle_table.h"
#include "campaign/delivery/verdict.h"
#include "campaign/input/recipient.h"
#include "engine/dns/resolver.h"
#include "engine/smtp/client_connection.h"

namespace hayate::campaign::inline delivery {

class DomainQueue;

struct Target {
  dns::SocketAddress address;
  std::string label;  // "mx1.example.com (192.0.2.1:25)" or "route 127.0.0.1:2525"
  std::string host;   // the name we connect to: for SNI and the certificate check
};

// How a site's connections speak: TLS policy and, for a relay, credentials.
struct SiteSecurity {
  TlsMode tls = TlsMode::opportunistic;
  bool implicit_tls = false;     // port 465 (RFC 8314)
  const Route* route = nullptr;  // credentials, when it is a relay
};

// What a site uses of its shard.
struct SiteServices {
  RunControl& run;
  ConnectionOpener& connections;
  MessageSource& messages;
  ThrottleTable& throttles;
  const Judge& judge;
  const JobConfig& job;
};

class Site final : public smtp::ConnectionOwner {
 public:
  Site(SiteServices services, std::string key, std::vector<Target> targets,
       std::uint32_t connections_max, SiteSecurity security, const Destination& destination,
       std::vector<Lane> lanes);
  ~Site() override;

  // A domain of this site has recipients ready (it takes its turn in the rotation).
  void add_ready_domain(DomainQueue* domain);
  // Opens connections or hands work to idle ones, as the ready recipients need.
  void schedule();
  // No more work will come: idle connections QUIT.
  void release_idle_connections();
  // A signal stops the run: no new transaction; with `now`, connections close at once.
  void stop(bool now);
  // Connect, reply and idle deadlines (RFC 5321 4.5.3.2); called about once a second.
  void check_timeouts(std::int64_t now_ms);
  bool has_ready() const { return !ready_domains_.empty(); }
  // A wake-up it asked for came (a pace interval or a suspension ended).
  void wake(std::int64_t now_ms);
  const std::string& key() const { return key_; }
  // The shaping destination (provider) it belongs to: "gmail", "default".
  const std::string& destination_name() const { return destination_.name; }
  std::size_t connection_count() const { return connections_.size(); }

  // smtp::ConnectionOwner
  bool next_transaction(smtp::Connection& connection, smtp::Transaction& transaction) override;
  void append_message(smtp::Connection& connection, const smtp::Transaction& transaction,
                      std::string& out) override;
  void on_recipient_outcome(smtp::Connection& connection, const smtp::Transaction& transaction,
                            std::size_t index, const smtp::Outcome& outcome) override;
  void on_idle(smtp::Connection& connection) override;
  void on_closed(smtp::Connection& connection, const smtp::CloseReport& report) override;

 private:
  struct InFlight {
    Recipient recipient;
    DomainQueue* domain = nullptr;
    std::int64_t started_ms = 0;
    std::uint32_t target = 0;             // index into targets_
    std::uint32_t lane = 0;               // index into lanes_
    std::string message;                  // rendered, signed and dot-stuffed; empty once sent
    std::uint64_t message_id_random = 0;  // its Message-ID, for the logs (append_message_id)
  };

  void open_connection(std::uint32_t lane, std::size_t target);
  smtp::ConnectionOptions connection_options(const Lane& lane, const Target& target) const;
  std::size_t ready_recipients() const;
  // How many connections the ready recipients and the server's reply latency call for.
  std::size_t connections_wanted() const;
  void note_latency(std::int64_t latency_ms);
  std::uint32_t target_of(const smtp::Connection& connection) const;
  // The first target (MX preference order) not down in this round and allowed by its breaker;
  // targets_.size() when none is.
  std::size_t pick_target(std::int64_t now_ms);
  // A lane that may open a connection now, round robin; lanes_.size() when none may.
  std::size_t pick_lane(std::int64_t now_ms);
  Lane& lane_of(const smtp::Connection& connection);
  // May this connection's lane start a transaction now? Else a wake-up is set for when it may.
  bool lane_ready(const smtp::Connection& connection, std::int64_t now_ms);
  void wake_at(std::int64_t time_ms);
  void park(smtp::Connection& connection);  // idle, to be poked when its lane may send
  // What a verdict's reply rule does to the throttles: throttle, suspend, or nothing; a clean
  // reply lets a throttled lane recover. Raises the verdict's retry time to a suspension's end.
  void apply_shaping(Lane& lane, const Attempt& attempt, Verdict& verdict);
  // A connection that ended before it could carry mail: the target is down for this round.
  void target_failed(std::uint32_t target, const smtp::CloseReport& report);
  // Every ready recipient ends this attempt, deferred with the last failure's reply or cause.
  void fail_unreachable(const smtp::CloseReport& last);

  RunControl& run_;
  ConnectionOpener& opener_;
  MessageSource& messages_;
  ThrottleTable& throttles_;
  const Judge& judge_;
  const JobConfig& job_;
  std::string key_;
  std::vector<Target> targets_;
  std::uint32_t connections_max_;
  SiteSecurity security_;
  bool tls_fallback_ = false;  // opportunistic TLS failed here: plaintext from now on
  // Targets whose last connection failed before a greeting: new connections go to the first
  // target (in MX preference order) that is not down. All down: this attempt is over.
  std::vector<std::uint8_t> target_down_;
  std::size_t targets_down_ = 0;
  std::deque<DomainQueue*> ready_domains_;
  absl::flat_hash_map<std::uint64_t, InFlight> in_flight_;
  std::vector<smtp::Connection*> connections_;
  std::vector<smtp::Connection*> idle_;
  const Destination& destination_;
  std::vector<Lane> lanes_;
  std::size_t next_lane_ = 0;
  absl::flat_hash_map<const smtp::Connection*, std::uint32_t> connection_lanes_;
  std::int64_t wake_at_ms_ = 0;     // a wake-up is pending for then; 0: none
  std::uint32_t opening_lane_ = 0;  // the lane of the connection open() is making
  std::string text_;                // scratch: the text of an attempt we compose
  std::string message_id_;          // scratch: the Message-ID of an attempt, for the logs
  double latency_ms_ = -1;          // mean reply latency (EWMA); -1: none seen yet
  // Message buffers of sent transactions, reused (at most two per connection).
  std::vector<std::string> spare_messages_;
};

// What changed in a loop turn, scheduled: domains first (they resolve and join their sites'
// rotations), then the sites (they open connections or hand work to idle ones), a few rounds
// while either asks for more. Each list is emptied; an entry may appear more than once.
void schedule_dirty(std::vector<DomainQueue*>& domains, std::vector<Site*>& sites);

}  // namespace hayate::campaign::delivery
