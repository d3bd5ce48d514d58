// The throttles of one shard: one per destination × source (a named destination's shared by
// every site of it; the default destination's one per site), with the destination-wide caps
// across sources, built when a site is made; and the shaping events they raise, written to
// OUT/shaping.jsonl and stderr.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "campaign/delivery/campaign_context.h"
#include "campaign/delivery/shaping_rules.h"
#include "campaign/delivery/throttle.h"
#include "campaign/delivery/verdict.h"

namespace hayate::campaign::inline delivery {

// A source IP a site may send from, with its throttle for the site's destination.
struct Lane {
  Throttle* throttle = nullptr;
  const SendingSource* source = nullptr;
  // The destination's caps for all sources together (destination_connections_max,
  // destination_rate), shared by every lane of it on the shard; null when none is set.
  Throttle* shared = nullptr;
  bool may_open_connection(std::int64_t now_ms) const;
  std::int64_t next_send_ms(std::int64_t now_ms) const;
  bool try_send(std::int64_t now_ms);
  void connection_opened();
  void connection_closed();
};

// One destination's shaping on one shard (its sources together), for metrics and progress.
struct ShapingView {
  std::string destination;
  ShapingState state = ShapingState::normal;  // the worst of its sources'
  std::uint64_t throttles = 0;
  std::uint64_t suspensions = 0;
  std::uint64_t recoveries = 0;
};

class ThrottleTable {
 public:
  ThrottleTable(const CampaignContext& context, std::uint32_t shard_index)
      : context_(context), shard_index_(shard_index) {}

  // The lanes of a site for `destination` (its pool's sources, each with its throttle, made
  // on first use with this shard's share of the limits). Empty when the pool has no source.
  // `site_key`: the default destination's throttles are the site's own; `route`: a relay,
  // which the default destination's pace does not apply to.
  std::vector<Lane> lanes_for(const std::string& site_key, const Destination& destination,
                              bool route, std::int64_t now_ms);
  // A throttle changed state: logged with the reply and the rule that caused it.
  void report(const Throttle& throttle, const ThrottleEvent& event, const ReplyRule* rule,
              const Attempt* cause, std::int64_t now_ms) const;
  // Suspensions that ended are reported; about once a second.
  void poll(std::int64_t now_ms);
  // Destinations that were ever throttled or suspended, their sources together.
  std::vector<ShapingView> views(std::int64_t now_ms) const;
  // Messages sent per source × destination name under a warm-up cap, for the warm-up state.
  std::vector<std::tuple<std::string, std::string, std::uint64_t>> warmup_sent() const;

 private:
  Throttle* source_throttle(const std::string& key, const std::string& name,
                            const Destination& destination, std::uint32_t source, bool route,
                            std::int64_t now_ms);
  Throttle* shared_throttle(const Destination& destination, std::int64_t now_ms);

  const CampaignContext& context_;
  std::uint32_t shard_index_;
  // By "destination|source" (named destinations) or "site key|source" (default); node-stable:
  // sites keep pointers.
  absl::flat_hash_map<std::string, std::unique_ptr<Throttle>> throttles_;
  std::vector<std::pair<Throttle*, std::uint32_t>> warmup_throttles_;  // with source index
};

}  // namespace hayate::campaign::delivery
