// Accounting CSV rows (see accounting.h for the columns and their conventions).
#include "campaign/output/accounting.h"

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "engine/assert.h"
#include "engine/strings.h"
#include "engine/utf8.h"

namespace hayate::campaign::inline output {

namespace {

// Appends a text field: invalid UTF-8 and NUL become U+FFFD, then RFC 4180 quoting and the
// formula guard.
void append_text_field(std::string_view value, std::string& out) {
  bool clean = true;
  for (std::size_t i = 0; i < value.size() && clean; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c == 0) {
      clean = false;
    } else if (c >= 0x80) {
      const std::size_t length = hayate::utf8_sequence_length(value, i);
      clean = length > 0;
      if (clean) i += length - 1;
    }
  }
  if (clean) {
    append_spreadsheet_field(value, out);
    return;
  }
  std::string repaired;
  repaired.reserve(value.size() + 8);
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c != 0 && c < 0x80) {
      repaired += value[i];
    } else if (const std::size_t length = c == 0 ? 0 : hayate::utf8_sequence_length(value, i);
               length > 0) {
      repaired.append(value.substr(i, length));
      i += length - 1;
    } else {
      repaired += "\xEF\xBF\xBD";  // U+FFFD
    }
  }
  append_spreadsheet_field(repaired, out);
}

char type_letter(OutcomeType type) {
  switch (type) {
    case OutcomeType::delivered:
      return 'd';
    case OutcomeType::bounced:
      return 'b';
    case OutcomeType::deferred:
      return 't';
    case OutcomeType::rejected:
      return 'x';
    case OutcomeType::suppressed:
      return 's';
  }
  HAYATE_ASSERT(false && "unknown outcome type");
  return '?';
}

// RFC 3464 2.3.3 action-value.
std::string_view dsn_action(OutcomeType type) {
  switch (type) {
    case OutcomeType::delivered:
      return "delivered";
    case OutcomeType::deferred:
      return "delayed";
    case OutcomeType::bounced:
    case OutcomeType::rejected:
    case OutcomeType::suppressed:
      return "failed";
  }
  HAYATE_ASSERT(false && "unknown outcome type");
  return {};
}

std::string_view strip_port(std::string_view address) {
  if (!address.empty() && address.front() == '[') {
    const std::size_t close = address.find(']');
    return close == std::string_view::npos ? address.substr(1) : address.substr(1, close - 1);
  }
  const std::size_t colon = address.find(':');
  if (colon != std::string_view::npos && address.find(':', colon + 1) == std::string_view::npos) {
    return address.substr(0, colon);
  }
  return address;  // no port, or a bare IPv6 address
}

// PowerMTA's category of each bounce reason (bounce/reason.h), in the order of the enum.
struct CategoryEntry {
  bounce::Reason reason;
  std::string_view category;
};
constexpr CategoryEntry bounce_categories[] = {
    {bounce::Reason::undefined, "other"},
    {bounce::Reason::userunknown, "bad-mailbox"},
    {bounce::Reason::mailboxfull, "quota-issues"},
    {bounce::Reason::hostunknown, "bad-domain"},
    {bounce::Reason::hasmoved, "bad-mailbox"},  // 5.1.6: no longer valid here
    {bounce::Reason::notaccept, "bad-domain"},  // a null MX: the domain takes no mail
    {bounce::Reason::blocked, "spam-related"},  // PowerMTA's /blocked/, blacklists
    {bounce::Reason::spamdetected, "spam-related"},
    {bounce::Reason::virusdetected, "virus-related"},
    {bounce::Reason::policyviolation, "policy-related"},
    {bounce::Reason::rejected, "invalid-sender"},  // the envelope sender was refused
    {bounce::Reason::securityerror, "policy-related"},
    {bounce::Reason::failedstarttls, "policy-related"},  // TLS required and not had
    {bounce::Reason::authfailure, "policy-related"},
    {bounce::Reason::requireptr, "policy-related"},
    {bounce::Reason::badreputation, "spam-related"},
    {bounce::Reason::toomanyconn, "policy-related"},
    {bounce::Reason::speeding, "policy-related"},
    {bounce::Reason::ratelimited, "policy-related"},
    {bounce::Reason::mesgtoobig, "content-related"},
    {bounce::Reason::contenterror, "content-related"},
    {bounce::Reason::notcompliantrfc, "content-related"},
    {bounce::Reason::systemerror, "bad-configuration"},
    {bounce::Reason::systemfull, "quota-issues"},
    {bounce::Reason::networkerror, "bad-connection"},  // refined by the enhanced code
    {bounce::Reason::expired, "message-expired"},
    {bounce::Reason::suspend, "inactive-mailbox"},
    {bounce::Reason::norelaying, "relaying-issues"},
    {bounce::Reason::syntaxerror, "protocol-errors"},
    {bounce::Reason::mailererror, "bad-configuration"},
    {bounce::Reason::onhold, "other"},
    {bounce::Reason::filtered, "policy-related"},  // the recipient's own rules refused it
    {bounce::Reason::suppressed, "bad-mailbox"},   // an ESP's list of addresses that bounced
    {bounce::Reason::feedback, "other"},           // not failures: never on a failed row
    {bounce::Reason::vacation, "other"},
    {bounce::Reason::delivered, "other"},
};
static_assert(std::size(bounce_categories) == bounce::reason_count);
constexpr bool categories_in_enum_order() {
  for (std::size_t i = 0; i < std::size(bounce_categories); ++i) {
    if (static_cast<std::size_t>(bounce_categories[i].reason) != i) return false;
  }
  return true;
}
static_assert(categories_in_enum_order());

}  // namespace

std::string_view bounce_category(bounce::Reason reason, const smtp::EnhancedCode& enhanced) {
  const auto index = static_cast<std::size_t>(reason);
  HAYATE_ASSERT(index < std::size(bounce_categories));
  if (reason == bounce::Reason::networkerror && enhanced.present() && enhanced.subject == 4) {
    // RFC 3463 3.5: PowerMTA's own reading of the network status codes.
    if (enhanced.detail == 1) return "no-answer-from-host";
    if (enhanced.detail == 4 || enhanced.detail == 6) return "routing-errors";
  }
  return bounce_categories[index].category;
}

std::string_view enhanced_status_description(int subject, int detail) {
  // IANA "SMTP Enhanced Status Codes" (RFC 3463, RFC 5248 and the RFCs they list), in lower
  // case as PowerMTA prints them.
  struct Entry {
    int subject;
    int detail;
    std::string_view text;
  };
  static constexpr Entry entries[] = {
      {0, 0, "undefined status"},
      {1, 0, "other address status"},
      {1, 1, "bad destination mailbox address"},
      {1, 2, "bad destination system address"},
      {1, 3, "bad destination mailbox address syntax"},
      {1, 4, "destination mailbox address ambiguous"},
      {1, 5, "destination address valid"},
      {1, 6, "destination mailbox has moved, no forwarding address"},
      {1, 7, "bad sender's mailbox address syntax"},
      {1, 8, "bad sender's system address"},
      {1, 9, "message relayed to non-compliant mailer"},
      {1, 10, "recipient address has null MX"},
      {2, 0, "other or undefined mailbox status"},
      {2, 1, "mailbox disabled, not accepting messages"},
      {2, 2, "mailbox full"},
      {2, 3, "message length exceeds administrative limit"},
      {2, 4, "mailing list expansion problem"},
      {3, 0, "other or undefined mail system status"},
      {3, 1, "mail system full"},
      {3, 2, "system not accepting network messages"},
      {3, 3, "system not capable of selected features"},
      {3, 4, "message too big for system"},
      {3, 5, "system incorrectly configured"},
      {3, 6, "requested priority was changed"},
      {4, 0, "other or undefined network or routing status"},
      {4, 1, "no answer from host"},
      {4, 2, "bad connection"},
      {4, 3, "directory server failure"},
      {4, 4, "unable to route"},
      {4, 5, "mail system congestion"},
      {4, 6, "routing loop detected"},
      {4, 7, "delivery time expired"},
      {5, 0, "other or undefined protocol status"},
      {5, 1, "invalid command"},
      {5, 2, "syntax error"},
      {5, 3, "too many recipients"},
      {5, 4, "invalid command arguments"},
      {5, 5, "wrong protocol version"},
      {5, 6, "authentication exchange line is too long"},
      {6, 0, "other or undefined media error"},
      {6, 1, "media not supported"},
      {6, 2, "conversion required and prohibited"},
      {6, 3, "conversion required but not supported"},
      {6, 4, "conversion with loss performed"},
      {6, 5, "conversion failed"},
      {6, 6, "message content not available"},
      {6, 7, "non-ASCII addresses not permitted for that sender/recipient"},
      {6, 8, "UTF-8 string reply is required, but not permitted by the SMTP client"},
      {6, 9, "UTF-8 header message cannot be transferred to one or more recipients"},
      {7, 0, "other or undefined security status"},
      {7, 1, "delivery not authorized, message refused"},
      {7, 2, "mailing list expansion prohibited"},
      {7, 3, "security conversion required but not possible"},
      {7, 4, "security features not supported"},
      {7, 5, "cryptographic failure"},
      {7, 6, "cryptographic algorithm not supported"},
      {7, 7, "message integrity failure"},
      {7, 8, "authentication credentials invalid"},
      {7, 9, "authentication mechanism is too weak"},
      {7, 10, "encryption needed"},
      {7, 11, "encryption required for requested authentication mechanism"},
      {7, 12, "a password transition is needed"},
      {7, 13, "user account disabled"},
      {7, 14, "trust relationship required"},
      {7, 15, "priority level is too low"},
      {7, 16, "message is too big for the specified priority"},
      {7, 17, "mailbox owner has changed"},
      {7, 18, "domain owner has changed"},
      {7, 19, "RRVS test cannot be completed"},
      {7, 20, "no passing DKIM signature found"},
      {7, 21, "no acceptable DKIM signature found"},
      {7, 22, "no valid author-matched DKIM signature found"},
      {7, 23, "SPF validation failed"},
      {7, 24, "SPF validation error"},
      {7, 25, "reverse DNS validation failed"},
      {7, 26, "multiple authentication checks failed"},
      {7, 27, "sender address has null MX"},
      {7, 28, "mail flood detected"},
      {7, 29, "ARC validation failure"},
      {7, 30, "REQUIRETLS support required"},
  };
  std::string_view subject_text = "undefined status";
  for (const Entry& entry : entries) {
    if (entry.subject != subject) continue;
    if (entry.detail == detail) return entry.text;
    if (entry.detail == 0) subject_text = entry.text;
  }
  // RFC 3463 2: an unknown detail is reported as its subject's general status.
  return subject_text;
}

std::string dsn_status(OutcomeType type, const smtp::EnhancedCode& enhanced) {
  if (type == OutcomeType::rejected || type == OutcomeType::suppressed) return {};
  const int status_class = type == OutcomeType::delivered ? 2
                           : type == OutcomeType::bounced ? 5
                                                          : 4;
  const int subject = enhanced.subject;
  const int detail = enhanced.detail;
  const std::string_view description =
      status_class == 2 ? "success" : enhanced_status_description(subject, detail);
  return cat(status_class, ".", subject, ".", detail, " (", description, ")");
}

std::string dsn_diagnostic(std::uint16_t code, std::string_view reply) {
  if (code == 0) return cat("x-hayate;", reply);
  return reply.empty() ? cat("smtp;", code) : cat("smtp;", code, " ", reply);
}

TargetParts split_target_label(std::string_view label) {
  if (label.substr(0, 6) == "route ") label.remove_prefix(6);
  const std::size_t open = label.find(" (");
  if (open != std::string_view::npos && label.back() == ')') {
    return TargetParts{label.substr(0, open),
                       strip_port(label.substr(open + 2, label.size() - open - 3))};
  }
  const std::string_view address = strip_port(label);
  return TargetParts{address, address};
}

std::string accounting_time(std::int64_t unix_s) {
  const time_t seconds = static_cast<time_t>(unix_s);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char text[48];
  std::snprintf(text, sizeof text, "%04d-%02d-%02d %02d:%02d:%02d+0000", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
  return text;
}

void append_csv_field(std::string_view value, std::string& out) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(value);
    return;
  }
  out += '"';
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

bool starts_like_formula(std::string_view value) {
  const std::size_t first = value.find_first_not_of('\'');
  if (first == std::string_view::npos) return false;
  const char c = value[first];
  return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

void append_spreadsheet_field(std::string_view value, std::string& out) {
  if (!starts_like_formula(value)) {
    append_csv_field(value, out);
    return;
  }
  out += "\"'";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

std::string_view strip_spreadsheet_guard(std::string_view field) {
  if (field.starts_with('\'') && starts_like_formula(field.substr(1))) field.remove_prefix(1);
  return field;
}

void format_accounting_row(const OutcomeRecord& record, const AccountingContext& context,
                           std::int64_t logged_unix_s, std::string& out) {
  const std::size_t start_size = out.size();
  const TargetParts target = split_target_label(record.mx);
  append(out, type_letter(record.type), ",", accounting_time(logged_unix_s), ",",
         accounting_time(context.queued_unix_s), ",");
  append_text_field(record.envelope_from, out);
  out += ',';
  append_text_field(record.recipient, out);
  append(out, ",", dsn_action(record.type), ",", dsn_status(record.type, record.enhanced), ",");
  append_text_field(dsn_diagnostic(record.code, record.reply), out);
  out += ',';
  append_text_field(target.host, out);
  out += ',';
  if (record.classified) out.append(bounce_category(record.reason, record.enhanced));
  out += ',';
  append_text_field(context.source_mta, out);
  out += ',';
  append_text_field(record.source_ip, out);
  out += ',';
  append_text_field(target.address, out);
  out += ',';
  if (record.size_bytes > 0) append(out, record.size_bytes);
  out += ',';
  append_text_field(context.campaign, out);
  append(out, ",", record.attempt, ",", record.line, "\n");
  HAYATE_ASSERT(out.size() > start_size && out.back() == '\n');
}

absl::Status write_accounting_header(int fd) {
  std::size_t written = 0;
  while (written < accounting_header.size()) {
    const ssize_t result =
        write(fd, accounting_header.data() + written, accounting_header.size() - written);
    if (result < 0 && errno == EINTR) continue;
    if (result <= 0) {
      return absl::UnavailableError(cat("cannot write the accounting file: ",
                                        result < 0 ? std::strerror(errno) : "no space"));
    }
    written += static_cast<std::size_t>(result);
  }
  return absl::OkStatus();
}

void AccountingWriter::append(const OutcomeRecord& record) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME_COARSE, &now);
  append(record, now.tv_sec);
}

void AccountingWriter::append(const OutcomeRecord& record, std::int64_t logged_unix_s) {
  format_accounting_row(record, context_, logged_unix_s, writer_.buffer());
  writer_.flush_if_full();
}

}  // namespace hayate::campaign::output
