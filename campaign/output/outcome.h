// The one outcome record: what became of one recipient in one attempt (or of one input row),
// as every output reads it. The delivery core fills it once from the attempt and its verdict
// (campaign/delivery/verdict.h); OutcomeWriter (outcome_writer.h) hands the same record to
// deliveries.jsonl, accounting.csv, the domain report, the journal and the suppression list.
#pragma once

#include <cstdint>
#include <string_view>

#include "campaign/bounce/reason.h"
#include "engine/smtp/reply_parser.h"

namespace hayate::smtp {
enum class Stage : std::uint8_t;
}

namespace hayate::campaign::inline output {

// suppressed: on the suppression list (campaign/bounce/suppression.h), never attempted.
enum class OutcomeType : std::uint8_t { delivered, deferred, bounced, rejected, suppressed };
const char* outcome_type_name(OutcomeType type);

// Where an attempt ended. The SMTP stages are the client session's (engine/smtp), with the
// same values; the others are the campaign's own: a bad input row, a listed address, DNS, a
// recipient past max_age, a retry the run's deadline cut off, a run aborted (a relay refused
// our credentials).
enum class Stage : std::uint8_t {
  connect,
  greeting,
  ehlo,
  helo,
  starttls,
  tls,
  auth,
  mail,
  rcpt,
  data,
  body,
  rset,
  quit,
  input,
  suppression,
  dns,
  expired,
  retry,
  aborted
};
// The word deliveries.jsonl and the tools use: "rcpt", "expired"...
std::string_view stage_name(Stage stage);
Stage stage_of(smtp::Stage stage);

struct OutcomeRecord {
  OutcomeType type = OutcomeType::delivered;
  std::string_view recipient;
  std::string_view domain;
  std::string_view provider;       // the shaping destination ("gmail"); empty before a site
  std::string_view mx;             // "host (ip:port)" or the route; empty before a target
  std::string_view envelope_from;  // MAIL FROM (the VERP address when VERP is on)
  std::string_view source_ip;      // the connection's local address; empty: unknown
  std::string_view tls_version;    // "TLSv1.3" when the connection used TLS; else empty
  std::string_view tls_cipher;     // "TLS_AES_256_GCM_SHA384"; empty without TLS
  std::string_view message_id;     // "<...>": the Message-ID of the attempt's message; empty: none
  std::uint64_t size_bytes = 0;    // that message's size (SIZE=, RFC 1870); 0: no message
  Stage stage = Stage::rcpt;
  std::uint16_t code = 0;       // the server's reply code; 0: no reply
  smtp::EnhancedCode enhanced;  // absent when neither the server nor we gave one
  std::string_view reply;       // the server's text, or our reason
  // Bounced and deferred outcomes: why (a bounce/reason.h word) and whether the address is
  // condemned; decided once by the verdict. classified false: no "reason" in the line.
  bool classified = false;
  bounce::Reason reason = bounce::Reason::undefined;
  bool hard = false;
  std::uint32_t attempt = 0;
  std::int64_t latency_ms = -1;  // -1: not measured
  std::uint64_t line = 0;        // CSV line
  std::uint64_t sequence = 0;    // CSV record number (the journal's key)
  bool final = true;             // no further attempt in this run
  // The connection was lost after the final dot went out (RFC 1047): the server may have the
  // message, and a retry may deliver it twice.
  bool possible_duplicate = false;
  std::int64_t next_try_unix_ms = 0;  // a deferral that is not final: when it is tried again
};

}  // namespace hayate::campaign::output
