// Synchronous bounces: the reason and hard/soft of each failed delivery outcome (what
// deliveries.jsonl carries, decided once on the sending shard by bounce/classify.h), and the
// per-reason counts a run reports in summary.json, domains.csv and on stderr.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "campaign/bounce/reason.h"
#include "campaign/delivery_log.h"

namespace hayate::campaign {

struct OutcomeClassification {
  bounce::Reason reason = bounce::Reason::undefined;
  bool hard = false;
};

// Why a bounced or deferred outcome failed, from the reply (code, enhanced status, text) or
// from hayate's own reason when there was no reply (code 0). Always a failure reason:
// `feedback`, `vacation` and `delivered` read in a reply's words become `undefined`.
//  - stage "expired" (DomainQueue::expire, 4.4.7) is `expired`, soft, whatever the last error;
//  - only a bounced outcome can be hard: a 4xx is transient (RFC 5321 4.2.1), as Sisimai
//    reads a 4.x.x userunknown as soft;
//  - without a reply, only what DNS said about the recipient's own domain condemns it: no mail
//    host (5.1.2) or a null MX (RFC 7505, 556 5.1.10). A route host that does not resolve
//    (5.4.4) is the operator's mistake, never the recipients'.
OutcomeClassification classify_outcome(OutcomeType type, std::uint16_t code,
                                       std::string_view enhanced, std::string_view reply,
                                       std::string_view stage);

// Counts of bounced recipients per reason.
class BounceReasonCounts {
 public:
  void add(bounce::Reason reason, std::uint64_t count = 1) {
    counts_[static_cast<std::size_t>(reason)] += count;
  }
  void merge(const BounceReasonCounts& other);
  std::uint64_t count(bounce::Reason reason) const {
    return counts_[static_cast<std::size_t>(reason)];
  }
  std::uint64_t total() const;
  // {"userunknown": 3, "mailboxfull": 1}: most first, then by name; "{}" when empty.
  std::string render_json() const;
  // "userunknown 3, mailboxfull 1, +2 more": the `shown_max` most frequent, for a human.
  std::string render_line(std::size_t shown_max = 4) const;
  // "userunknown:3 mailboxfull:1": a domains.csv cell (no comma, no quoting needed).
  std::string render_cell() const;

 private:
  // Reasons with a count, most first, then by name.
  std::array<bounce::Reason, bounce::reason_count> ranked(std::size_t& size) const;
  std::array<std::uint64_t, bounce::reason_count> counts_{};
};

}  // namespace hayate::campaign
