// The outcome tally of a shard or a run (see run_tally.h).
#include "campaign/output/run_tally.h"

#include <algorithm>

#include "engine/strings.h"

namespace hayate::campaign::inline output {

namespace {

constexpr std::size_t sample_bytes_max = 160;

// "550 5.1.1 No such user" (the code and enhanced code when there were), cut; control bytes
// (from a peer) become '?'.
std::string sample_of(const OutcomeRecord& record) {
  std::string text;
  if (record.code != 0) append(text, record.code, " ");
  if (record.enhanced.present()) append(text, record.enhanced.to_string(), " ");
  text += record.reply.substr(0, sample_bytes_max);
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return text;
}

void append_causes(std::string_view kind,
                   const std::array<std::uint64_t, bounce::reason_count>& counts,
                   const std::array<std::string, bounce::reason_count>& samples,
                   std::size_t per_kind, std::string& out) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) order.push_back(i);
  }
  if (order.empty()) return;
  std::stable_sort(order.begin(), order.end(),
                   [&counts](std::size_t a, std::size_t b) { return counts[a] > counts[b]; });
  append(out, out.empty() ? "" : "; ", kind, ":");
  for (std::size_t n = 0; n < order.size() && n < per_kind; ++n) {
    const std::size_t i = order[n];
    append(out, n == 0 ? " " : ", ", bounce::to_string(static_cast<bounce::Reason>(i)), " ",
           counts[i]);
    if (!samples[i].empty()) append(out, " (\"", samples[i], "\")");
  }
}

}  // namespace

std::string RunTally::top_causes(std::size_t per_kind) const {
  std::string out;
  append_causes("deferred", deferred, deferred_sample, per_kind, out);
  append_causes("bounced", bounced, bounced_sample, per_kind, out);
  return out;
}

void RunTally::add(const OutcomeRecord& record) {
  const auto reason = static_cast<std::size_t>(record.reason);
  switch (record.type) {
    case OutcomeType::delivered:
      if (record.latency_ms >= 0) delivery_latency.add(static_cast<double>(record.latency_ms));
      ++provider(record.provider).delivered;
      break;
    case OutcomeType::bounced:
      if (bounced[reason]++ == 0) bounced_sample[reason] = sample_of(record);
      ++provider(record.provider).bounced;
      break;
    case OutcomeType::deferred:
      // A final deferral after the deadline or a stop is no attempt: counted once, where the
      // attempt was deferred.
      if (record.stage == Stage::retry || record.stage == Stage::aborted) break;
      if (deferred[reason]++ == 0) deferred_sample[reason] = sample_of(record);
      ++provider(record.provider).deferred;
      break;
    case OutcomeType::rejected:
    case OutcomeType::suppressed:
      break;
  }
}

void RunTally::merge(const RunTally& other) {
  delivery_latency.merge(other.delivery_latency);
  for (std::size_t i = 0; i < bounce::reason_count; ++i) {
    bounced[i] += other.bounced[i];
    deferred[i] += other.deferred[i];
    if (bounced_sample[i].empty()) bounced_sample[i] = other.bounced_sample[i];
    if (deferred_sample[i].empty()) deferred_sample[i] = other.deferred_sample[i];
  }
  for (const NamedOutcomes& entry : other.providers) {
    NamedOutcomes& mine = provider(entry.name);
    mine.delivered += entry.delivered;
    mine.bounced += entry.bounced;
    mine.deferred += entry.deferred;
  }
}

ReasonCounts RunTally::reasons(const std::array<std::uint64_t, bounce::reason_count>& counts) {
  ReasonCounts out;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) {
      out.emplace_back(std::string(bounce::to_string(static_cast<bounce::Reason>(i))), counts[i]);
    }
  }
  keep_top(out, out.size());
  return out;
}

NamedOutcomes& RunTally::provider(std::string_view name) {
  if (name.empty()) name = "none";
  for (NamedOutcomes& entry : providers) {
    if (entry.name == name) return entry;
  }
  providers.push_back(NamedOutcomes{std::string(name)});
  return providers.back();
}

}  // namespace hayate::campaign::output
