// The fan-out of outcome records to every output.
#include "campaign/output/outcome_writer.h"

#include "campaign/limits.h"
#include "engine/assert.h"

namespace hayate::campaign::inline output {

OutcomeWriter::OutcomeWriter(Options options)
    : log_(options.deliveries_fd),
      accounting_(options.accounting_fd, std::move(options.accounting)),
      journal_(options.journal),
      keep_bounce_events_(options.keep_bounce_events) {}

void OutcomeWriter::write(const OutcomeRecord& record, std::int64_t now_unix_s) {
  HAYATE_ASSERT(record.type != OutcomeType::deferred || record.final ||
                record.next_try_unix_ms != 0);
  log_.append(record);
  if (keep_bounce_events_ && is_suppression_event(record.type, record.reason, record.hard)) {
    keep_bounce_event(record, now_unix_s);
  }
  report_.add(record);
  tally_.add(record);
  if (journal_ != nullptr && record.sequence != 0) {
    JournalRecord entry{journal_record_type(record.type, record.final), record.sequence,
                        record.attempt, 0};
    if (entry.type == JournalRecordType::attempt_deferred)
      entry.time_unix_ms = record.next_try_unix_ms;
    journal_->append(entry);  // false once the journal failed: the run is draining then
  }
  accounting_.append(record);
}

void OutcomeWriter::keep_bounce_event(const OutcomeRecord& record, std::int64_t now_unix_s) {
  log_.flush();
  if (!bounce_events_complete_) return;
  if (bounce_events_.size() >= limits::bounce_events_held_max) {
    bounce_events_complete_ = false;  // the runner reads deliveries.jsonl back instead
    bounce_events_.clear();
    bounce_events_.shrink_to_fit();
    return;
  }
  bounce_events_.push_back(
      BounceEvent{std::string(record.recipient), record.reason, record.hard, now_unix_s});
}

}  // namespace hayate::campaign::output
