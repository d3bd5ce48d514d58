// The one fan-out of outcomes: each OutcomeRecord goes, in this order, to deliveries.jsonl,
// the suppression events (a bounce that counts against its recipient), the domain report and
// the run's tally, the journal and accounting.csv. Each shard has one for the recipients it owns;
// the reader has one for the rows it refuses or finds on the suppression list. No lock: a writer
// belongs to one thread, and the files are shared through O_APPEND whole-line writes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "campaign/bounce/recording.h"
#include "campaign/output/accounting.h"
#include "campaign/output/delivery_log.h"
#include "campaign/output/domain_report.h"
#include "campaign/output/journal.h"
#include "campaign/output/outcome.h"
#include "campaign/output/run_tally.h"

namespace hayate::campaign::inline output {

class OutcomeWriter {
 public:
  struct Options {
    int deliveries_fd = -1;
    int accounting_fd = -1;
    AccountingContext accounting;
    JournalProducer* journal = nullptr;  // null: outcomes are not journaled
    bool keep_bounce_events = false;     // for the suppression list ([suppression] enabled)
  };
  explicit OutcomeWriter(Options options);

  // Every output hears of `record`. A bounce for the suppression list is kept until the run
  // ends; its deliveries.jsonl line is written through at once (one write a bounce, which is
  // rare), before the journal can make the outcome final: a run killed before it records its
  // events leaves every one of them in the file for the next run to read back. Past
  // limits::bounce_events_held_max none is kept and the events are marked incomplete.
  void write(const OutcomeRecord& record, std::int64_t now_unix_s);

  // Writes what is buffered. False once a write failed.
  bool flush() { return log_.flush() && accounting_.flush(); }
  bool failed() const { return log_.failed() || accounting_.failed(); }
  const DomainReport& report() const { return report_; }
  DomainReport& report() { return report_; }
  const RunTally& tally() const { return tally_; }
  // After the writer's thread is done with it.
  std::vector<BounceEvent> take_bounce_events() { return std::move(bounce_events_); }
  bool bounce_events_complete() const { return bounce_events_complete_; }

 private:
  void keep_bounce_event(const OutcomeRecord& record, std::int64_t now_unix_s);

  DeliveryLog log_;
  AccountingWriter accounting_;
  DomainReport report_;
  RunTally tally_;
  JournalProducer* journal_;
  bool keep_bounce_events_;
  std::vector<BounceEvent> bounce_events_;
  bool bounce_events_complete_ = true;
};

}  // namespace hayate::campaign::output
