// Throttles by destination × source, their shares of the limits, and their events.
#include "campaign/delivery/throttle_table.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_format.h"
#include "campaign/output/delivery_log.h"
#include "campaign/output/journal.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign::inline delivery {

namespace {

void append_json_string(std::string_view text, std::string& out) {
  out += '"';
  append_json_escaped(text, out);
  out += '"';
}

std::string format_pace(double per_second) {
  if (per_second <= 0) return "unpaced";
  if (per_second >= 1) return absl::StrFormat("%.1f/s", per_second);
  return absl::StrFormat("%.1f/min", per_second * 60);
}

}  // namespace

bool Lane::may_open_connection(std::int64_t now_ms) const {
  return throttle->may_open_connection(now_ms) &&
         (shared == nullptr || shared->may_open_connection(now_ms));
}

std::int64_t Lane::next_send_ms(std::int64_t now_ms) const {
  const std::int64_t at = throttle->next_send_ms(now_ms);
  return shared == nullptr ? at : std::max(at, shared->next_send_ms(now_ms));
}

bool Lane::try_send(std::int64_t now_ms) {
  // Both must agree before either counts the message.
  if (next_send_ms(now_ms) > now_ms) return false;
  const bool sent = throttle->try_send(now_ms);
  const bool shared_sent = shared == nullptr || shared->try_send(now_ms);
  HAYATE_ASSERT(sent && shared_sent);
  return true;
}

void Lane::connection_opened() {
  throttle->connection_opened();
  if (shared != nullptr) shared->connection_opened();
}

void Lane::connection_closed() {
  throttle->connection_closed();
  if (shared != nullptr) shared->connection_closed();
}

std::vector<Lane> ThrottleTable::lanes_for(const std::string& site_key,
                                           const Destination& destination, bool route,
                                           std::int64_t now_ms) {
  // The default destination's limits are per site (each small domain its own); a named
  // destination's are shared by every site of it on this shard (MX rollup).
  const bool named = destination.index != 0;
  std::vector<Lane> lanes;
  for (std::uint32_t i = 0; i < context_.sources.size(); ++i) {
    const SendingSource& source = context_.sources[i];
    // A destination's pool; the default pool is every source.
    if (!destination.pool.empty() && destination.pool != "default" &&
        source.pool != destination.pool) {
      continue;
    }
    const std::string& name = named ? destination.name : site_key;
    lanes.push_back(
        Lane{source_throttle(cat(name, "|", source.name), name, destination, i, route, now_ms),
             &source, nullptr});
  }
  if (Throttle* shared = shared_throttle(destination, now_ms); shared != nullptr) {
    for (Lane& lane : lanes) lane.shared = shared;
  }
  return lanes;
}

Throttle* ThrottleTable::source_throttle(const std::string& key, const std::string& name,
                                         const Destination& destination, std::uint32_t source,
                                         bool route, std::int64_t now_ms) {
  auto found = throttles_.find(key);
  if (found != throttles_.end()) return found->second.get();
  const JobConfig& job = *context_.job;
  const std::uint32_t shards = std::max(1u, context_.shard_count);
  const bool named = destination.index != 0;
  ThrottleLimits limits;
  // A named destination's throttles, and a route's, exist on every shard: each holds its
  // share. A domain's own site (the default destination over MX) lives on one shard only.
  const std::uint32_t share = named || route ? shards : 1;
  limits.connections_max = std::max<std::uint32_t>(
      1, std::min(destination.connections_max, job.connections_per_domain) / share);
  limits.messages_per_connection =
      named ? destination.messages_per_connection : job.messages_per_connection;
  if (!(route && !named) && !destination.rate.unlimited()) {
    limits.rate = destination.rate;
    limits.rate.period_ms *= share;  // this shard's share
  }
  limits.rate_min = destination.rate_min;
  limits.throttle_factor = destination.throttle_factor;
  limits.throttle_cooldown_ms = destination.throttle_cooldown_ms;
  limits.recovery_interval_ms = destination.recovery_interval_ms;
  // Warm-up caps are per provider: a named destination's (the default destination's
  // throttles are per site, and a cap copied to each would not be one).
  if (named && source < context_.warmup_remaining.size() &&
      destination.index < context_.warmup_remaining[source].size()) {
    if (const std::optional<std::uint64_t>& remaining =
            context_.warmup_remaining[source][destination.index]) {
      limits.warmup_remaining = share_of(*remaining, shards, shard_index_);
    }
  }
  auto throttle = std::make_unique<Throttle>(name, context_.sources[source].name, limits, now_ms);
  if (limits.warmup_remaining) warmup_throttles_.emplace_back(throttle.get(), source);
  return throttles_.emplace(key, std::move(throttle)).first->second.get();
}

Throttle* ThrottleTable::shared_throttle(const Destination& destination, std::int64_t now_ms) {
  const bool named = destination.index != 0;
  if (!named ||
      (destination.destination_connections_max == 0 && destination.destination_rate.unlimited())) {
    return nullptr;
  }
  // Caps for all sources together: one more throttle, shared by every lane.
  const std::string key = cat(destination.name, "|*");
  auto found = throttles_.find(key);
  if (found != throttles_.end()) return found->second.get();
  const std::uint32_t shards = std::max(1u, context_.shard_count);
  ThrottleLimits limits;
  limits.connections_max =
      destination.destination_connections_max > 0
          ? std::max<std::uint32_t>(1, destination.destination_connections_max / shards)
          : UINT32_MAX / 2;
  if (!destination.destination_rate.unlimited()) {
    limits.rate = destination.destination_rate;
    limits.rate.period_ms *= shards;
  }
  limits.rate_min = destination.rate_min;
  return throttles_.emplace(key, std::make_unique<Throttle>(destination.name, "*", limits, now_ms))
      .first->second.get();
}

void ThrottleTable::report(const Throttle& throttle, const ThrottleEvent& event,
                           const ReplyRule* rule, const Attempt* cause, std::int64_t now_ms) const {
  if (context_.shaping_log == nullptr) return;
  ShapingEvent kept;
  kept.time_unix_ms = unix_time_ms();
  kept.event = throttle_event_name(event.type);
  kept.destination = throttle.destination();
  kept.source = throttle.source();
  std::string json = cat("{\"time_unix_ms\":", kept.time_unix_ms, ",\"event\":\"",
                         throttle_event_name(event.type), "\",\"destination\":");
  append_json_string(throttle.destination(), json);
  append(json, ",\"source\":");
  append_json_string(throttle.source(), json);
  std::string human = cat("hayate: shaping: ", throttle.destination(),
                          throttle.source().empty() ? "" : cat(" from ", throttle.source()), " ",
                          throttle_event_name(event.type));
  append(json, ",\"connections\":", event.connections_after,
         ",\"rate_per_second\":", absl::StrFormat("%.3f", event.rate_per_second_after));
  if (event.type == ThrottleEventType::throttled || event.type == ThrottleEventType::recovered) {
    append(human, ": connections ", event.connections_before, " -> ", event.connections_after,
           ", rate ", format_pace(event.rate_per_second_before), " -> ",
           format_pace(event.rate_per_second_after));
  }
  if (event.type == ThrottleEventType::suspended) {
    const std::int64_t seconds = (event.until_ms - now_ms + 999) / 1000;
    append(json, ",\"suspended_s\":", seconds);
    kept.until_unix_ms = kept.time_unix_ms + (event.until_ms - now_ms);
    append(human, " for ", seconds, " s");
  }
  if (rule != nullptr) {
    append(json, ",\"rule\":");
    append_json_string(rule->name, json);
    append(human, " (rule ", rule->name, ")");
  }
  if (cause != nullptr) {
    append(json, ",\"code\":", cause->code, ",\"enhanced\":");
    append_json_string(cause->enhanced.to_string(), json);
    append(json, ",\"reply\":");
    append_json_string(cause->text, json);
    append(human, " after \"", cause->code, " ", cause->text.substr(0, 160), "\"");
    kept.code = cause->code;
    kept.enhanced = cause->enhanced.to_string();
    kept.reply = cause->text.substr(0, 200);
  }
  append(json, "}\n");
  human += '\n';
  context_.shaping_log->write(kept, json, human);
}

void ThrottleTable::poll(std::int64_t now_ms) {
  for (auto& [key, throttle] : throttles_) {
    if (std::optional<ThrottleEvent> event = throttle->poll(now_ms)) {
      report(*throttle, *event, nullptr, nullptr, now_ms);
    }
  }
}

std::vector<ShapingView> ThrottleTable::views(std::int64_t now_ms) const {
  std::vector<ShapingView> views;
  absl::flat_hash_map<std::string_view, std::size_t> index;
  for (const auto& [key, throttle] : throttles_) {
    if (throttle->throttles() + throttle->suspensions() == 0) continue;
    auto [found, inserted] = index.emplace(throttle->destination(), views.size());
    if (inserted) views.push_back(ShapingView{throttle->destination()});
    ShapingView& view = views[found->second];
    view.throttles += throttle->throttles();
    view.suspensions += throttle->suspensions();
    view.recoveries += throttle->recoveries();
    view.state = std::max(view.state, throttle->state(now_ms));
  }
  return views;
}

std::vector<std::tuple<std::string, std::string, std::uint64_t>> ThrottleTable::warmup_sent()
    const {
  std::vector<std::tuple<std::string, std::string, std::uint64_t>> sent;
  for (const auto& [throttle, source] : warmup_throttles_) {
    sent.emplace_back(context_.sources[source].name, throttle->destination(), throttle->sent());
  }
  return sent;
}

}  // namespace hayate::campaign::delivery
