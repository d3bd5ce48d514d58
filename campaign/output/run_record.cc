// The run record as JSON (see run_record.h), through nlohmann's JSON: written once a second and
// read back by `hayate status` and `hayate report`, never on the sending path.
#include "campaign/output/run_record.h"

#include <algorithm>
#include <exception>

#include "nlohmann/json.hpp"

namespace hayate::campaign::inline output {

namespace {

using Json = nlohmann::ordered_json;

Json reasons_json(const ReasonCounts& counts) {
  Json out = Json::object();
  for (const auto& [reason, count] : counts) out[reason] = count;
  return out;
}

Json outcomes_json(const std::vector<NamedOutcomes>& outcomes) {
  Json out = Json::array();
  for (const NamedOutcomes& entry : outcomes) {
    out.push_back(Json{{"name", entry.name},
                       {"delivered", entry.delivered},
                       {"bounced", entry.bounced},
                       {"deferred", entry.deferred}});
  }
  return out;
}

Json series_json(const RunSeries& series) {
  // Columns, not objects: 600 points stay a few kilobytes.
  Json points = Json::array();
  for (const SeriesPoint& point : series.points()) {
    points.push_back(Json::array({point.t_s, point.delivered, point.bounced,
                                  point.attempts_deferred, point.connections_open}));
  }
  return Json{{"interval_s", series.interval_s()},
              {"columns", {"t_s", "delivered", "bounced", "attempts_deferred", "connections_open"}},
              {"points", std::move(points)}};
}

Json events_json(const std::vector<ShapingEvent>& events) {
  Json out = Json::array();
  for (const ShapingEvent& event : events) {
    Json entry{{"time_unix_ms", event.time_unix_ms},
               {"event", event.event},
               {"destination", event.destination}};
    if (!event.source.empty()) entry["source"] = event.source;
    if (event.code != 0) entry["code"] = event.code;
    if (!event.enhanced.empty()) entry["enhanced"] = event.enhanced;
    if (!event.reply.empty()) entry["reply"] = event.reply;
    if (event.until_unix_ms != 0) entry["until_unix_ms"] = event.until_unix_ms;
    out.push_back(std::move(entry));
  }
  return out;
}

Json held_json(const std::vector<HeldDestination>& held) {
  Json out = Json::array();
  for (const HeldDestination& entry : held) {
    Json item{{"destination", entry.destination}, {"state", entry.state}, {"cause", entry.cause}};
    if (entry.until_unix_ms != 0) item["until_unix_ms"] = entry.until_unix_ms;
    out.push_back(std::move(item));
  }
  return out;
}

Json latency_json(const LatencyHistogram& latency) {
  Json bounds = Json::array();
  for (double bound : LatencyHistogram::bounds_ms) bounds.push_back(bound);
  Json counts = Json::array();
  for (std::uint64_t count : latency.counts) counts.push_back(count);
  return Json{{"bounds_ms", std::move(bounds)},
              {"counts", std::move(counts)},
              {"count", latency.count},
              {"sum_ms", latency.sum_ms}};
}

// Reads `key` of `object` into `value` when present (a wrong type throws: the caller turns
// it into an error naming the key).
template <typename T>
void read(const Json& object, const char* key, T& value) {
  const auto found = object.find(key);
  if (found != object.end() && !found->is_null()) value = found->get<T>();
}

ReasonCounts reasons_from(const Json& object) {
  ReasonCounts counts;
  for (const auto& [reason, count] : object.items()) {
    counts.emplace_back(reason, count.get<std::uint64_t>());
  }
  return counts;
}

std::vector<NamedOutcomes> outcomes_from(const Json& array) {
  std::vector<NamedOutcomes> outcomes;
  for (const Json& item : array) {
    NamedOutcomes entry;
    read(item, "name", entry.name);
    read(item, "delivered", entry.delivered);
    read(item, "bounced", entry.bounced);
    read(item, "deferred", entry.deferred);
    outcomes.push_back(std::move(entry));
  }
  return outcomes;
}

void series_from(const Json& object, RunSeries& series) {
  double interval_s = 1;
  read(object, "interval_s", interval_s);
  std::vector<SeriesPoint> points;
  const auto found = object.find("points");
  if (found != object.end()) {
    for (const Json& row : *found) {
      if (!row.is_array() || row.size() < 5) throw std::invalid_argument("a series point");
      points.push_back(SeriesPoint{row[0].get<double>(), row[1].get<std::uint64_t>(),
                                   row[2].get<std::uint64_t>(), row[3].get<std::uint64_t>(),
                                   row[4].get<std::uint64_t>()});
    }
  }
  series.assign(std::move(points), interval_s);
}

std::vector<ShapingEvent> events_from(const Json& array) {
  std::vector<ShapingEvent> events;
  for (const Json& item : array) {
    ShapingEvent event;
    read(item, "time_unix_ms", event.time_unix_ms);
    read(item, "event", event.event);
    read(item, "destination", event.destination);
    read(item, "source", event.source);
    read(item, "code", event.code);
    read(item, "enhanced", event.enhanced);
    read(item, "reply", event.reply);
    read(item, "until_unix_ms", event.until_unix_ms);
    events.push_back(std::move(event));
  }
  return events;
}

std::vector<HeldDestination> held_from(const Json& array) {
  std::vector<HeldDestination> held;
  for (const Json& item : array) {
    HeldDestination entry;
    read(item, "destination", entry.destination);
    read(item, "state", entry.state);
    read(item, "cause", entry.cause);
    read(item, "until_unix_ms", entry.until_unix_ms);
    held.push_back(std::move(entry));
  }
  return held;
}

void latency_from(const Json& object, LatencyHistogram& latency) {
  // Bounds written by another version may differ: counts are read only when they match.
  std::vector<double> bounds;
  read(object, "bounds_ms", bounds);
  std::vector<std::uint64_t> counts;
  read(object, "counts", counts);
  if (counts.size() != LatencyHistogram::bucket_count ||
      !std::equal(bounds.begin(), bounds.end(), LatencyHistogram::bounds_ms.begin(),
                  LatencyHistogram::bounds_ms.end())) {
    return;
  }
  std::copy(counts.begin(), counts.end(), latency.counts.begin());
  read(object, "count", latency.count);
  read(object, "sum_ms", latency.sum_ms);
}

Json counts_json(const RunRecord& record) {
  return Json{{"total_rows", record.total_rows},
              {"total_is_estimate", record.total_is_estimate},
              {"rows", record.rows},
              {"recipients", record.recipients},
              {"delivered", record.delivered},
              {"bounced", record.bounced},
              {"deferred", record.deferred},
              {"pending", record.pending},
              {"attempts_deferred", record.attempts_deferred},
              {"rejected", record.rejected},
              {"suppressed", record.suppressed},
              {"not_attempted", record.not_attempted},
              {"connections", record.connections},
              {"connections_failed", record.connections_failed},
              {"connections_open", record.connections_open},
              {"servers_greeted", record.servers_greeted},
              {"tls_handshakes", record.tls_handshakes},
              {"message_bytes", record.message_bytes},
              {"possible_duplicates", record.possible_duplicates},
              {"duration_s", record.duration_s},
              {"messages_per_second", record.messages_per_second},
              {"current_per_second", record.current_per_second},
              {"eta_s", record.eta_s},
              {"next_retry_unix_ms", record.next_retry_unix_ms}};
}

void counts_from(const Json& json, RunRecord& record) {
  read(json, "total_rows", record.total_rows);
  read(json, "total_is_estimate", record.total_is_estimate);
  read(json, "rows", record.rows);
  read(json, "recipients", record.recipients);
  read(json, "delivered", record.delivered);
  read(json, "bounced", record.bounced);
  read(json, "deferred", record.deferred);
  read(json, "pending", record.pending);
  read(json, "attempts_deferred", record.attempts_deferred);
  read(json, "rejected", record.rejected);
  read(json, "suppressed", record.suppressed);
  read(json, "not_attempted", record.not_attempted);
  read(json, "connections", record.connections);
  read(json, "connections_failed", record.connections_failed);
  read(json, "connections_open", record.connections_open);
  read(json, "servers_greeted", record.servers_greeted);
  read(json, "tls_handshakes", record.tls_handshakes);
  read(json, "message_bytes", record.message_bytes);
  read(json, "possible_duplicates", record.possible_duplicates);
  read(json, "duration_s", record.duration_s);
  read(json, "messages_per_second", record.messages_per_second);
  read(json, "current_per_second", record.current_per_second);
  read(json, "eta_s", record.eta_s);
  read(json, "next_retry_unix_ms", record.next_retry_unix_ms);
}

}  // namespace

void RunSeries::add(const SeriesPoint& point) {
  if (tail_is_extra_) {
    points_.pop_back();
    tail_is_extra_ = false;
  }
  if (!points_.empty() && point.t_s - points_.back().t_s < interval_s_) {
    points_.push_back(point);  // the latest state, until a sample on the interval replaces it
    tail_is_extra_ = true;
    return;
  }
  points_.push_back(point);
  if (points_.size() < run_series_points_max) return;
  // Full: keep every second point (the first stays), and sample half as often from now on.
  std::size_t kept = 0;
  for (std::size_t i = 0; i < points_.size(); i += 2) points_[kept++] = points_[i];
  points_.resize(kept);
  interval_s_ *= 2;
}

void RunSeries::assign(std::vector<SeriesPoint> points, double interval_s) {
  points_ = std::move(points);
  interval_s_ = interval_s > 0 ? interval_s : 1;
  tail_is_extra_ = false;
}

std::string render_run_record(const RunRecord& record, bool indent) {
  Json json{{"campaign", record.campaign},
            {"run", record.run},
            {"state", record.state},
            {"state_detail", record.state_detail},
            {"pid", record.pid},
            {"started_unix_s", record.started_unix_s},
            {"updated_unix_s", record.updated_unix_s},
            {"ended_unix_s", record.ended_unix_s},
            {"exit_code", record.exit_code}};
  json.update(counts_json(record));
  json["bounce_reasons"] = reasons_json(record.bounce_reasons);
  json["deferral_reasons"] = reasons_json(record.deferral_reasons);
  json["destinations"] = outcomes_json(record.destinations);
  json["providers"] = outcomes_json(record.providers);
  json["held"] = held_json(record.held);
  json["latency"] = latency_json(record.latency);
  json["series"] = series_json(record.series);
  json["events"] = events_json(record.events);
  json["events_dropped"] = record.events_dropped;
  // Invalid UTF-8 in a reply becomes U+FFFD rather than an exception.
  std::string out = json.dump(indent ? 2 : -1, ' ', false, Json::error_handler_t::replace);
  out += '\n';
  return out;
}

absl::StatusOr<RunRecord> parse_run_record(std::string_view text) {
  const Json json = Json::parse(text.begin(), text.end(), nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InvalidArgumentError("not a JSON object");
  }
  RunRecord record;
  try {
    read(json, "campaign", record.campaign);
    read(json, "run", record.run);
    read(json, "state", record.state);
    read(json, "state_detail", record.state_detail);
    read(json, "pid", record.pid);
    read(json, "started_unix_s", record.started_unix_s);
    read(json, "updated_unix_s", record.updated_unix_s);
    read(json, "ended_unix_s", record.ended_unix_s);
    read(json, "exit_code", record.exit_code);
    counts_from(json, record);
    if (json.contains("bounce_reasons"))
      record.bounce_reasons = reasons_from(json["bounce_reasons"]);
    if (json.contains("deferral_reasons")) {
      record.deferral_reasons = reasons_from(json["deferral_reasons"]);
    }
    if (json.contains("destinations")) record.destinations = outcomes_from(json["destinations"]);
    if (json.contains("providers")) record.providers = outcomes_from(json["providers"]);
    if (json.contains("held")) record.held = held_from(json["held"]);
    if (json.contains("latency")) latency_from(json["latency"], record.latency);
    if (json.contains("series")) series_from(json["series"], record.series);
    if (json.contains("events")) record.events = events_from(json["events"]);
    read(json, "events_dropped", record.events_dropped);
  } catch (const std::exception& error) {
    return absl::InvalidArgumentError(std::string("a value of the wrong type: ") + error.what());
  }
  return record;
}

void keep_top(ReasonCounts& counts, std::size_t count_max) {
  std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (counts.size() > count_max) counts.resize(count_max);
}

void keep_top(std::vector<NamedOutcomes>& outcomes, std::size_t count_max) {
  std::sort(outcomes.begin(), outcomes.end(), [](const NamedOutcomes& a, const NamedOutcomes& b) {
    return a.total() != b.total() ? a.total() > b.total() : a.name < b.name;
  });
  if (outcomes.size() > count_max) outcomes.resize(count_max);
}

}  // namespace hayate::campaign::output
