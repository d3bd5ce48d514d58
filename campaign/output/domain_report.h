// Per-domain outcome counts for one run: each shard fills its own DomainReport (no lock; a
// domain lives on one shard), the runner merges them at the end, writes domains.csv and
// prints the largest domains on stderr.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "campaign/bounce/recording.h"
#include "campaign/output/outcome.h"

namespace hayate::campaign::inline output {

inline constexpr std::size_t domain_table_rows_default = 10;
inline constexpr std::size_t domain_table_columns_max = 100;

struct DomainCounts {
  std::uint64_t delivered = 0;
  std::uint64_t bounced = 0;
  std::uint64_t deferred = 0;    // still deferred when the run ended
  std::uint64_t rejected = 0;    // rows refused on input
  std::uint64_t suppressed = 0;  // on the suppression list: never attempted
  std::uint64_t attempts = 0;    // delivery attempts, retries included
  std::uint64_t latency_samples = 0;
  std::uint64_t latency_sum_ms = 0;

  // Recipients with a last outcome: delivered + bounced + deferred + rejected + suppressed.
  std::uint64_t recipients() const {
    return delivered + bounced + deferred + rejected + suppressed;
  }
  // Mean attempt latency, or -1 when no attempt measured one.
  double mean_latency_ms() const;
  void add(const DomainCounts& other);
};

class DomainReport {
 public:
  // One outcome for `domain`. A rejected row (or a suppressed recipient) counts as such and
  // never as an attempt; a
  // deferral counts as deferred only when `final`. `attempted` is false for outcomes that
  // did not come from an attempt: the final deferral written for a recipient that was
  // waiting for its retry when the deadline passed or the run was aborted.
  // `latency_ms` < 0: not measured. No allocation once the domain is known.
  void add(std::string_view domain, OutcomeType type, bool final, bool attempted,
           std::int64_t latency_ms);
  // The same from a deliveries.jsonl record: `attempted` is false for the stages "retry"
  // and "aborted" (see DomainQueue::expire_waiting and abandon) and for "input". A bounced
  // record's bounce_reason is counted for its domain too.
  void add(const OutcomeRecord& record);
  void merge(const DomainReport& other);

  std::size_t domain_count() const { return domains_.size(); }
  const DomainCounts* find(std::string_view domain) const;
  // Bounced recipients of `domain` per reason, or nullptr when none bounced with a reason.
  const BounceReasonCounts* bounce_reasons(std::string_view domain) const;
  // Bounced recipients per reason over every domain (summary.json "bounce_reasons").
  BounceReasonCounts bounce_reason_totals() const;
  DomainCounts totals() const;
  // Domains by recipients descending, then by name.
  std::vector<std::pair<std::string, DomainCounts>> sorted() const;
  // The first `count_max` of sorted(), without sorting the rest (live metrics, every second).
  std::vector<std::pair<std::string, DomainCounts>> top(std::size_t count_max) const;

  // domains.csv: a header, then one row per domain in sorted() order:
  // domain,recipients,delivered,bounced,deferred,rejected,suppressed,attempts,mean_latency_ms,
  // bounce_reasons (mean_latency_ms with one decimal, empty when nothing was measured;
  // bounce_reasons "userunknown:3 mailboxfull:1", most first, empty when none bounced).
  std::string render_csv() const;
  absl::Status write_csv(const std::string& path) const;  // atomically (temp + rename)

  // A table for stderr: the `rows_max` largest domains, the rest on one line, then the
  // totals; columns aligned, lines at most domain_table_columns_max wide; names are cut with
  // "..." and bytes outside printable ASCII shown as '?'. Empty when there is no domain.
  std::string render_table(std::size_t rows_max = domain_table_rows_default) const;

 private:
  absl::flat_hash_map<std::string, DomainCounts> domains_;
  // Only domains with bounces (rare): DomainCounts stays small for the live metrics' copies.
  absl::flat_hash_map<std::string, BounceReasonCounts> bounce_reasons_;
};

}  // namespace hayate::campaign::output
