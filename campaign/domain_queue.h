// One destination domain on its shard: its recipients (ready, waiting for a retry, in
// flight), where its mail goes (a route or its MX hosts), and its connections. It decides
// how many connections to open, feeds them transactions and turns replies into outcomes.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "campaign/delivery_log.h"
#include "campaign/recipient.h"
#include "engine/dns/resolver.h"
#include "engine/smtp/client_connection.h"

namespace hayate::campaign {

class CampaignShard;

class DomainQueue final : public smtp::ConnectionOwner {
 public:
  DomainQueue(CampaignShard& shard, std::string domain);
  ~DomainQueue() override;

  void add(Recipient&& recipient);
  // Opens connections or hands work to idle ones, as the queue needs.
  void schedule();
  // Retry times that have come: waiting recipients become ready.
  void wake();
  // The run's deadline passed: every waiting recipient ends as deferred.
  void expire_waiting();
  // No more input and nothing queued: idle connections can QUIT.
  void release_idle_connections();
  bool has_ready() const { return !ready_.empty(); }
  const std::string& domain() const { return domain_; }

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
  enum class Resolution : std::uint8_t { unresolved, resolving, ready, failed };
  struct Target {
    dns::SocketAddress address;
    std::string label;  // "mx1.example.com (192.0.2.1:25)" or "route 127.0.0.1:2525"
  };
  struct InFlight {
    Recipient recipient;
    std::int64_t started_ms = 0;
    std::string target_label;
  };

  void resolve();
  void on_mx_answer(const dns::MxAnswer& answer);
  void on_route_answer(const dns::HostAnswer& answer, std::uint16_t port);
  // Ends every ready recipient with the same outcome (DNS failure, unreachable hosts).
  void fail_ready(std::uint16_t code, std::string_view enhanced, std::string_view reason,
                  std::string_view stage, bool permanent);
  void defer_or_finish(Recipient&& recipient, std::uint16_t code, std::string_view enhanced,
                       std::string_view reason, std::string_view stage, std::string_view mx,
                       std::int64_t latency_ms);
  void log_outcome(const Recipient& recipient, OutcomeType type, std::uint16_t code,
                   std::string_view enhanced, std::string_view reason, std::string_view stage,
                   std::string_view mx, std::int64_t latency_ms, bool final);
  void finish(const Recipient& recipient);
  void open_connection();

  CampaignShard& shard_;
  std::string domain_;
  Resolution resolution_ = Resolution::unresolved;
  std::vector<Target> targets_;
  std::size_t target_cursor_ = 0;
  std::uint32_t consecutive_connect_failures_ = 0;
  std::string last_connect_failure_;
  std::deque<Recipient> ready_;
  std::vector<Recipient> waiting_;
  absl::flat_hash_map<std::uint64_t, InFlight> in_flight_;
  std::vector<smtp::ClientConnection*> connections_;
  std::vector<smtp::ClientConnection*> idle_;
  std::int64_t earliest_wakeup_ms_ = 0;  // 0: none scheduled
};

}  // namespace hayate::campaign
