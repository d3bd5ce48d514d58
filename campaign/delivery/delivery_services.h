// What a domain queue and a site need from their shard, as small interfaces: the run's clock
// and state (RunControl), connections (ConnectionOpener), messages (MessageSource), routing
// (Router) and where outcomes go (OutcomeSink). CampaignShard implements them on a real ring;
// tests implement them with a fake clock and scripted connections (tests/unit/site_test.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "campaign/input/recipient.h"
#include "campaign/output/outcome.h"
#include "engine/dns/resolver.h"
#include "engine/shaping/circuit_breaker.h"
#include "engine/smtp/client_connection.h"

namespace hayate::campaign::inline delivery {

class DomainQueue;
class Site;
struct Destination;
struct SiteSecurity;
struct Target;

// Time, randomness, the run's stop and abort, and when to look at a queue or a site again.
class RunControl {
 public:
  virtual std::int64_t now_ms() const = 0;        // monotonic, the shard's clock
  virtual std::int64_t unix_time_ms() const = 0;  // wall clock
  virtual double uniform_random() = 0;            // in [0, 1): retry jitter
  virtual bool input_ended() const = 0;           // no more recipients will arrive
  // A stop asked by a signal: 0 none, 1 drain (no new transaction), 2 now.
  virtual int stop_level() const = 0;
  virtual bool aborted() const = 0;
  virtual const std::string& abort_reason() const = 0;
  // Stops the whole run (every shard): what waits ends deferred with `reason`.
  virtual void abort_run(std::string reason) = 0;
  virtual void mark_dirty(DomainQueue* domain) = 0;  // looked at again in this loop turn
  virtual void mark_dirty(Site* site) = 0;
  virtual void wake_at(std::int64_t time_ms, DomainQueue* domain) = 0;
  virtual void wake_at(std::int64_t time_ms, Site* site) = 0;
  // Recipients waiting for a retry changed by `delta` (status.json's "deferred" while a run
  // goes on). Counting only: a run that does not show it may ignore it.
  virtual void waiting_changed(std::int64_t delta) { (void)delta; }

 protected:
  ~RunControl() = default;
};

// Connections: the shard's cap, opening one, and the circuit breaker of each MX address.
class ConnectionOpener {
 public:
  virtual bool may_open_connection() const = 0;
  // The shard is at its connection cap: `site` is scheduled again when a connection closes.
  virtual void wait_for_connection_slot(Site* site) = 0;
  virtual bool sites_waiting_for_slots() const = 0;
  // Opens a connection (counted at once; the shard's TLS context is filled in). Null when the
  // socket could not even be made: `owner` then heard on_closed already.
  virtual smtp::Connection* open(const dns::SocketAddress& address,
                                 smtp::ConnectionOptions& options,
                                 smtp::ConnectionOwner& owner) = 0;
  // A connection ended; `failed`: before it could carry mail.
  virtual void connection_closed(const smtp::CloseReport& report, bool failed) = 0;
  // The circuit breaker of one MX host address, shared by every site on the shard.
  virtual shaping::CircuitBreaker& breaker(const std::string& target_label) = 0;

 protected:
  ~ConnectionOpener() = default;
};

// Envelopes and messages.
class MessageSource {
 public:
  virtual std::uint64_t next_transaction_id() = 0;
  // The envelope sender of a recipient's message (its VERP address when VERP is on).
  virtual void envelope_from(const Recipient& recipient, std::string& out) = 0;
  // The recipient's message, signed, dot-stuffed, terminated for DATA, appended to `out`.
  // Returns the random part of its Message-ID, for append_message_id.
  virtual std::uint64_t append_message(const Recipient& recipient, bool eightbit_allowed,
                                       std::string& out) = 0;
  // The Message-ID ("<...>") of the message append_message made for `recipient` when it
  // returned `message_id_random`: the logs name it without the message being kept.
  virtual void append_message_id(const Recipient& recipient, std::uint64_t message_id_random,
                                 std::string& out) = 0;

 protected:
  ~MessageSource() = default;
};

// Where a domain's mail goes: sites by key, and DNS.
class Router {
 public:
  virtual Site* find_site(const std::string& key) = 0;
  // A site for `destination`; `route`: the operator's relay, which the default destination's
  // pace does not apply to (named destinations still do).
  virtual Site* make_site(const std::string& key, std::vector<Target> targets,
                          SiteSecurity security, const Destination& destination, bool route) = 0;
  virtual dns::Resolver* resolver() = 0;  // null when it could not start
  virtual const std::string& resolver_error() const = 0;
  // A DNS lookup may start for `domain`; false: it waits its turn and is scheduled again when
  // one ends. end_lookup: one ended.
  virtual bool begin_lookup(DomainQueue* domain) = 0;
  virtual void end_lookup() = 0;

 protected:
  ~Router() = default;
};

// Where outcomes go: the outputs (OutcomeWriter) and the shard's counters. `record.final`
// with a delivered, bounced or deferred type ends the recipient in this run.
class OutcomeSink {
 public:
  virtual void record(OutcomeRecord& record, const Recipient& recipient) = 0;

 protected:
  ~OutcomeSink() = default;
};

}  // namespace hayate::campaign::delivery
