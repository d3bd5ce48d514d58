// A site: where mail for one or more domains goes on this shard — a route's endpoint, or a
// domain's MX hosts — with the connections to it. Connections belong to the site, not to a
// domain, so one pooled connection carries the mail of every domain that shares the site
// (all domains routed to one relay, for instance) and connections_per_domain caps the site.
// Domains with recipients ready take turns, so no domain starves another.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "campaign/config/job.h"
#include "campaign/delivery/domain_queue.h"
#include "campaign/input/recipient.h"
#include "engine/dns/resolver.h"
#include "engine/smtp/client_connection.h"

namespace hayate::campaign::inline delivery {

class CampaignShard;
class DomainQueue;

struct Target {
  dns::SocketAddress address;
  std::string label;  // "mx1.example.com (192.0.2.1:25)" or "route 127.0.0.1:2525"
  std::string host;   // the name we connect to: for SNI and the certificate check
};

// How a site's connections speak: TLS policy and, for a relay, credentials.
struct SiteSecurity {
  TlsMode tls = TlsMode::opportunistic;
  bool implicit_tls = false;  // port 465 (RFC 8314)
  const Route* route = nullptr;  // credentials, when it is a relay
};

struct SendingSource;
struct Destination;
class Throttle;

class Site final : public smtp::ConnectionOwner {
 public:
  // A source IP this site may send from, with its throttle for the site's destination.
  struct Lane {
    Throttle* throttle = nullptr;
    const SendingSource* source = nullptr;
    // The destination's caps for all sources together (destination_connections_max,
    // destination_rate), shared by every lane of it on the shard; null when none is set.
    Throttle* shared = nullptr;
    bool may_open_connection(std::int64_t now_ms) const;
    std::int64_t next_send_ms(std::int64_t now_ms) const;
    bool try_send(std::int64_t now_ms);
  };

  Site(CampaignShard& shard, std::string key, std::vector<Target> targets,
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

  // smtp::ConnectionOwner
  bool next_transaction(smtp::ClientConnection& connection,
                        smtp::Transaction& transaction) override;
  void append_message(smtp::ClientConnection& connection, const smtp::Transaction& transaction,
                      std::string& out) override;
  void on_recipient_outcome(smtp::ClientConnection& connection,
                            const smtp::Transaction& transaction, std::size_t index,
                            const smtp::Outcome& outcome) override;
  void on_idle(smtp::ClientConnection& connection) override;
  void on_closed(smtp::ClientConnection& connection, const smtp::CloseReport& report) override;

 private:
  struct InFlight {
    Recipient recipient;
    DomainQueue* domain = nullptr;
    std::int64_t started_ms = 0;
      std::uint32_t target = 0;  // index into targets_
    std::uint32_t lane = 0;    // index into lanes_
    bool eightbit_allowed = false;  // BODY=8BITMIME was declared: 8bit parts may go as they are
  };

  void open_connection(std::uint32_t lane, std::size_t target);
  std::size_t ready_recipients() const;
  std::uint32_t target_of(const smtp::ClientConnection& connection) const;
  // The first target (MX preference order) not down in this round and allowed by its breaker;
  // targets_.size() when none is.
  std::size_t pick_target(std::int64_t now_ms);
  // A lane that may open a connection now, round robin; lanes_.size() when none may.
  std::size_t pick_lane(std::int64_t now_ms);
  Lane& lane_of(const smtp::ClientConnection& connection);
  // May this connection's lane start a transaction now? Else a wake-up is set for when it may.
  bool lane_ready(const smtp::ClientConnection& connection, std::int64_t now_ms);
  void wake_at(std::int64_t time_ms);
  void park(smtp::ClientConnection& connection);  // idle, to be poked when its lane may send
  // A 4xx/5xx reply through the reply rules: throttle, suspend, retry later or bounce now.
  void apply_reply_rules(Lane& lane, AttemptResult& result, std::string_view enhanced);
  // Every ready recipient ends this attempt (deferred, or bounced with `permanent_code`).
  void fail_unreachable(const std::string& reason, std::uint16_t permanent_code);

  CampaignShard& shard_;
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
  std::vector<smtp::ClientConnection*> connections_;
  std::vector<smtp::ClientConnection*> idle_;
  std::vector<std::string_view> fields_;  // reused for every message
  const Destination& destination_;
  std::vector<Lane> lanes_;
  std::size_t next_lane_ = 0;
  absl::flat_hash_map<const smtp::ClientConnection*, std::uint32_t> connection_lanes_;
  std::int64_t wake_at_ms_ = 0;  // a wake-up is pending for then; 0: none
  std::uint32_t opening_lane_ = 0;  // the lane of the connection open() is making
  std::string rules_text_;       // scratch: a reply's text as the rules see it
};

}  // namespace hayate::campaign::delivery
