// The reader's outcomes: rows it refuses (rejects.csv for people, and the outcome fan-out for
// machines) and recipients it finds on the suppression list (the fan-out only: the row itself
// is fine). Both go through the same OutcomeWriter as the shards' outcomes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "campaign/bounce/suppression.h"
#include "campaign/input/recipient.h"
#include "campaign/output/outcome_writer.h"
#include "engine/line_writer.h"

namespace hayate::campaign::inline output {

class RejectWriter {
 public:
  // `source`: the recipients file, named in rejects.csv. `journal` may be null.
  RejectWriter(int rejects_fd, int deliveries_fd, int accounting_fd,
               const AccountingContext& accounting, JournalProducer* journal, std::string source);

  // Row `sequence` at `line` was refused for `reason`. rejects.csv lists every refused row on
  // every run; the outputs and the journal hear of it once (`first_time`).
  void reject(std::uint64_t sequence, std::uint64_t line, std::string_view email,
              std::string_view reason, bool first_time);
  // A recipient on the suppression list: logged, journaled and counted, never sent.
  void suppress(const Recipient& recipient, const SuppressionEntry& entry);
  // False once a write failed.
  bool flush();
  std::uint64_t count() const { return count_; }
  const DomainReport& report() const { return outcomes_.report(); }

 private:
  LineWriter rejects_;  // rejects.csv
  OutcomeWriter outcomes_;
  std::string source_;
  std::string scratch_;
  std::uint64_t count_ = 0;
};

}  // namespace hayate::campaign::output
