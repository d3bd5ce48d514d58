// rejects.csv, and the reader's outcomes through the fan-out.
#include "campaign/output/reject_writer.h"

#include <time.h>

#include "absl/strings/str_cat.h"

namespace hayate::campaign::inline output {

namespace {

OutcomeWriter::Options reader_options(int deliveries_fd, int accounting_fd,
                                      const AccountingContext& accounting,
                                      JournalProducer* journal) {
  OutcomeWriter::Options options;
  options.deliveries_fd = deliveries_fd;
  options.accounting_fd = accounting_fd;
  options.accounting = accounting;
  options.journal = journal;
  return options;
}

}  // namespace

RejectWriter::RejectWriter(int rejects_fd, int deliveries_fd, int accounting_fd,
                           const AccountingContext& accounting, JournalProducer* journal,
                           std::string source)
    : rejects_(rejects_fd),
      outcomes_(reader_options(deliveries_fd, accounting_fd, accounting, journal)),
      source_(std::move(source)) {
  rejects_.buffer() = "file,line,email,reason\n";
}

void RejectWriter::reject(std::uint64_t sequence, std::uint64_t line, std::string_view email,
                          std::string_view reason, bool first_time) {
  // The row's address as the file had it, and a reason that may quote it: kept from running
  // as formulas when the file is opened in a spreadsheet.
  std::string& out = rejects_.buffer();
  append_spreadsheet_field(source_, out);
  absl::StrAppend(&out, ",", line, ",");
  append_spreadsheet_field(email, out);
  out.push_back(',');
  append_spreadsheet_field(reason, out);
  out.push_back('\n');
  ++count_;
  rejects_.flush_if_full();
  if (!first_time) return;  // logged by an earlier run of the campaign
  OutcomeRecord record;
  record.type = OutcomeType::rejected;
  record.recipient = email;
  record.reply = reason;
  record.stage = Stage::input;
  record.line = line;
  record.sequence = sequence;
  outcomes_.write(record, time(nullptr));
}

void RejectWriter::suppress(const Recipient& recipient, const SuppressionEntry& entry) {
  scratch_ = absl::StrCat("on the suppression list: ", entry.address, " (",
                          suppression_source_name(entry.source), ": ", entry.reason, ", since ",
                          format_suppression_time(entry.first_seen_unix_s), ")");
  OutcomeRecord record;
  record.type = OutcomeType::suppressed;
  record.recipient = recipient.address();
  record.domain = recipient.domain();
  record.reply = scratch_;
  record.stage = Stage::suppression;
  record.line = recipient.line;
  record.sequence = recipient.sequence;
  outcomes_.write(record, time(nullptr));
}

bool RejectWriter::flush() {
  const bool rejects_ok = rejects_.flush();
  return outcomes_.flush() && rejects_ok;
}

}  // namespace hayate::campaign::output
