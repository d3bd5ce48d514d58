// Synchronous bounce classification and per-reason counts (see bounce_recording.h).
#include "campaign/bounce_recording.h"

#include <algorithm>

#include "campaign/bounce/classify.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign {

using bounce::Reason;

OutcomeClassification classify_outcome(OutcomeType type, std::uint16_t code,
                                       std::string_view enhanced, std::string_view reply,
                                       std::string_view stage) {
  HAYATE_ASSERT(type == OutcomeType::bounced || type == OutcomeType::deferred);
  // RFC 3463 4.4.7: the delivery time expired; the text holds the last error, which would
  // otherwise decide the reason.
  if (stage == "expired") return {Reason::expired, false};
  const bounce::Classification found = bounce::classify(code, enhanced, reply);
  OutcomeClassification result{found.reason, found.hard};
  if (!bounce::is_failure(result.reason)) result = {Reason::undefined, false};
  if (type != OutcomeType::bounced) result.hard = false;
  if (code == 0 && result.hard) {
    result.hard = enhanced == "5.1.2" || enhanced == "5.1.10";
  }
  return result;
}

void BounceReasonCounts::merge(const BounceReasonCounts& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
}

std::uint64_t BounceReasonCounts::total() const {
  std::uint64_t total = 0;
  for (const std::uint64_t count : counts_) total += count;
  return total;
}

std::array<Reason, bounce::reason_count> BounceReasonCounts::ranked(std::size_t& size) const {
  std::array<Reason, bounce::reason_count> reasons{};
  size = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] > 0) reasons[size++] = static_cast<Reason>(i);
  }
  std::sort(reasons.begin(), reasons.begin() + static_cast<std::ptrdiff_t>(size),
            [this](Reason a, Reason b) {
              if (count(a) != count(b)) return count(a) > count(b);
              return bounce::to_string(a) < bounce::to_string(b);
            });
  return reasons;
}

std::string BounceReasonCounts::render_json() const {
  std::size_t size = 0;
  const auto reasons = ranked(size);
  std::string out = "{";
  for (std::size_t i = 0; i < size; ++i) {
    append(out, i == 0 ? "\"" : ", \"", bounce::to_string(reasons[i]), "\": ", count(reasons[i]));
  }
  out += '}';
  return out;
}

std::string BounceReasonCounts::render_line(std::size_t shown_max) const {
  std::size_t size = 0;
  const auto reasons = ranked(size);
  std::string out;
  const std::size_t shown = std::min(size, shown_max);
  for (std::size_t i = 0; i < shown; ++i) {
    append(out, i == 0 ? "" : ", ", bounce::to_string(reasons[i]), " ", count(reasons[i]));
  }
  if (size > shown) append(out, ", +", size - shown, " more");
  return out;
}

std::string BounceReasonCounts::render_cell() const {
  std::size_t size = 0;
  const auto reasons = ranked(size);
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    append(out, i == 0 ? "" : " ", bounce::to_string(reasons[i]), ":", count(reasons[i]));
  }
  return out;
}

}  // namespace hayate::campaign
