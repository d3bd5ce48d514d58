// The accounting file: one CSV row per attempt outcome, with the columns of PowerMTA's
// accounting files, which mail operators already load into their tools. Like deliveries.jsonl,
// every shard keeps its own buffer and appends whole lines to one O_APPEND file.
//
// Conventions:
//   type       d delivered, b bounced, t transient (deferred), as PowerMTA writes them; and two
//              of hayate's own: x refused on input, s suppressed (on the suppression list,
//              never attempted). PowerMTA's types are d, b, t, tq, r (received), f, rb and rs:
//              ours share no first letter with them, so no tool takes a refused row for a
//              received message.
//   timeLogged when the row was written; timeQueued when the run began. Both UTC, PowerMTA's
//              form "2026-11-03 14:05:09+0000"
//   orig, rcpt the envelope sender (MAIL FROM) and recipient
//   dsnAction  delivered | failed | delayed (RFC 3464 2.3.3); rejected and suppressed rows are
//              failed
//   dsnStatus  "class.subject.detail (description)", RFC 3463 / IANA descriptions in lower
//              case, as PowerMTA writes them: "5.1.1 (bad destination mailbox address)".
//              Every 2.x.x reads "(success)". The class always follows the outcome (a
//              deferral is 4.x.x even when the server said 5.x.x: the diagnostic keeps its
//              words). Without an enhanced code: class.0.0. Empty for rejected and
//              suppressed rows, which never reached delivery.
//   dsnDiag    "smtp;550 5.1.1 User unknown" for a server's reply (RFC 3464 2.3.6),
//              "x-hayate;connection refused" for hayate's own reasons
//   dsnMta     the server's host name (MX or route), dlvDestinationIp its address
//   bounceCat  bounced and deferred rows: PowerMTA's bounce category of the reason the verdict
//              gave (bad-mailbox, quota-issues, spam-related...: bounce_category)
//   srcMta     our HELO name; dlvSourceIp the connection's local address when known
//   dlvSize    the message's size in octets (as declared in SIZE=, RFC 1870); empty when the
//              attempt made no message (DNS, a refused connection)
//   jobId      the job's id (the campaign)
//   attempt, line: the attempt number (1 = first), the CSV line
// Fields are quoted per RFC 4180 when they hold a comma, a quote, CR or LF; invalid UTF-8 and
// NUL become U+FFFD. Addresses, replies and host names come from the recipients file and from
// servers: a text field that a spreadsheet would take for a formula is written with a leading
// single quote (append_spreadsheet_field).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "campaign/output/outcome.h"
#include "engine/line_writer.h"

namespace hayate::campaign::inline output {

inline constexpr std::string_view accounting_header =
    "type,timeLogged,timeQueued,orig,rcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,srcMta,"
    "dlvSourceIp,dlvDestinationIp,dlvSize,jobId,attempt,line\n";

// What every row of one run shares.
struct AccountingContext {
  std::string campaign;
  std::string source_mta;          // the HELO name
  std::int64_t queued_unix_s = 0;  // when the run began
};

// "2.0.0 (success)", "5.1.1 (bad destination mailbox address)", "4.0.0 (undefined status)";
// "" for rejected rows. See the conventions above.
std::string dsn_status(OutcomeType type, const smtp::EnhancedCode& enhanced);

// PowerMTA's bounce category for a failure: `reason` as the verdict gave it, and for
// networkerror the enhanced code (x.4.1 no-answer-from-host, x.4.4 and x.4.6 routing-errors,
// else bad-connection). The categories are PowerMTA's: bad-mailbox, bad-domain,
// inactive-mailbox, quota-issues, spam-related, virus-related, content-related,
// policy-related, invalid-sender, relaying-issues, routing-errors, protocol-errors,
// bad-configuration, bad-connection, no-answer-from-host, message-expired, other.
std::string_view bounce_category(bounce::Reason reason, const smtp::EnhancedCode& enhanced);

// "smtp;550 5.1.1 User unknown" when `code` is a server's, "x-hayate;REASON" when it is 0.
std::string dsn_diagnostic(std::uint16_t code, std::string_view reply);

// The description of an enhanced status code's subject and detail ("1.1" → "bad destination
// mailbox address"); the subject's "other or undefined ... status" for an unknown detail.
std::string_view enhanced_status_description(int subject, int detail);

// The host and address of a target label: "mx1.example.com (192.0.2.1:25)" →
// {"mx1.example.com", "192.0.2.1"}; "route 127.0.0.1:2525" → {"127.0.0.1", "127.0.0.1"};
// "route [2001:db8::1]:25" → {"2001:db8::1", "2001:db8::1"}.
struct TargetParts {
  std::string_view host;
  std::string_view address;
};
TargetParts split_target_label(std::string_view label);

// "2026-11-03 14:05:09+0000" (UTC).
std::string accounting_time(std::int64_t unix_s);

// Appends `value` as one CSV field (RFC 4180 2.6, 2.7): quoted when it holds a comma, a
// double quote, CR or LF, with quotes doubled. Bytes are kept as they are.
void append_csv_field(std::string_view value, std::string& out);

// True when a spreadsheet would read `value` as a formula: it starts with = + - @, a tab or a
// CR (OWASP, "CSV Injection"), after any number of single quotes. (The quotes count too, so
// that strip_spreadsheet_guard gives back exactly what was written, quotes and all.)
bool starts_like_formula(std::string_view value);

// Appends `value` as one CSV field for a spreadsheet: as append_csv_field, but a value that
// starts_like_formula is written quoted with one more single quote in front ("'=1+2"), which
// spreadsheets show as text. Data that hayate did not write itself (addresses, reasons,
// replies) goes through here.
void append_spreadsheet_field(std::string_view value, std::string& out);

// The value a field written by append_spreadsheet_field held: its leading single quote
// removed when what follows starts_like_formula, anything else as it is.
std::string_view strip_spreadsheet_guard(std::string_view field);

// Appends one row, line feed included.
void format_accounting_row(const OutcomeRecord& record, const AccountingContext& context,
                           std::int64_t logged_unix_s, std::string& out);

// Writes the header row. Call once, on a new file, before any writer appends.
absl::Status write_accounting_header(int fd);

class AccountingWriter {
 public:
  AccountingWriter(int fd, AccountingContext context) : writer_(fd), context_(std::move(context)) {}

  void append(const OutcomeRecord& record);  // timeLogged: now
  void append(const OutcomeRecord& record, std::int64_t logged_unix_s);
  // Writes buffered rows. Returns false (and remembers it) when the write failed.
  bool flush() { return writer_.flush(); }
  bool failed() const { return writer_.failed(); }

 private:
  LineWriter writer_;
  const AccountingContext context_;
};

}  // namespace hayate::campaign::output
