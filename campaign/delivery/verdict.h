// One verdict per attempt. An Attempt is what happened to one recipient in one attempt, told
// once by the place that saw it end (the site from the session's outcome or the connection's
// close, the domain queue from DNS); judge() turns it into a Verdict: delivered, deferred or
// bounced, the bounce reason and hard/soft, the reply rule that moves the throttles, and when
// to try again. Every consumer (domain queue, site, outcome writers, throttles) reads that
// verdict; nothing else parses a reply or classifies a failure (STYLE.md 4).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "campaign/bounce/reason.h"
#include "campaign/config/job.h"
#include "campaign/delivery/shaping_rules.h"
#include "campaign/output/outcome.h"
#include "engine/shaping/backoff.h"
#include "engine/smtp/reply_parser.h"

namespace hayate::campaign::inline delivery {

struct Attempt {
  Stage stage = Stage::connect;
  std::uint16_t code = 0;        // the server's reply code; 0: no reply
  smtp::EnhancedCode enhanced;   // the server's (parsed once), or ours when there was no reply
  std::string_view text;         // the server's text, or what failed, named
  std::string_view mx;           // the target label; empty before one was chosen
  std::int64_t latency_ms = -1;  // -1: not measured
  // The message and its final dot had gone out when the connection was lost (RFC 1047): the
  // server may have accepted it, so the retry may deliver it twice.
  bool possible_duplicate = false;
  // The connection and the message of an attempt that got a transaction going (empty and 0
  // when none did: DNS, a refused connection). Views into the site's or OpenSSL's storage,
  // valid for the call that records the attempt. (Initialised, so that the brace lists that
  // name the fields above may leave these out.)
  std::string_view source_ip = {};    // our end of the connection
  std::string_view tls_version = {};  // "TLSv1.3"; empty in plaintext
  std::string_view tls_cipher = {};   // "TLS_AES_256_GCM_SHA384"
  std::string_view message_id = {};   // "<...>", the Message-ID of the message made for it
  std::uint64_t size_bytes = 0;       // that message's size as declared in SIZE= (RFC 1870)
};

// A failure without a reply carries a named cause in its text; its enhanced code says what
// kind (RFC 3463): before the session could carry mail, 4.4.1 (no answer from host); later,
// 4.4.2 (bad connection).
smtp::EnhancedCode connection_failure_code(Stage stage);

enum class Disposition : std::uint8_t { delivered, deferred, bounced };

struct Verdict {
  Disposition disposition = Disposition::deferred;
  // Deferred and bounced: why, and whether the address is condemned (only a bounce can be).
  bounce::Reason reason = bounce::Reason::undefined;
  bool hard = false;
  // The reply rule a 4xx/5xx matched (its action moves the throttles); null: none did.
  const ReplyRule* rule = nullptr;
  // A throttle rule met before the session was ready (greeting, EHLO): the server refuses
  // connections, not pace, so only the connection count is cut.
  bool about_connections = false;
  // No retry before then (shard clock): the rule's delay, or the server's own words for a
  // retry rule; the site raises it to the end of a suspension it put in force. 0: the backoff
  // alone decides.
  std::int64_t retry_not_before_ms = 0;

  OutcomeType outcome_type() const;
};

// When a deferred recipient is tried again.
struct NextTry {
  enum class Kind : std::uint8_t { retry, final, expired } kind = Kind::retry;
  std::int64_t at_ms = 0;      // retry: shard clock
  std::uint32_t delay_ms = 0;  // retry: the backoff's delay, its next call's previous delay
};

// Where a recipient stands in its retry schedule.
struct RetryHistory {
  std::uint32_t attempts = 0;  // made so far, this one included
  std::uint32_t previous_delay_ms = 0;
  std::int64_t first_attempt_ms = 0;  // shard clock (may be before the run began)
};

// The verdicts of one shard: the job's retry policy and the shaping rules, read-only.
class Judge {
 public:
  Judge(const ShapingRules* rules, const JobConfig* job, std::int64_t deadline_ms)
      : rules_(rules), job_(job), deadline_ms_(deadline_ms) {}

  // The verdict on `attempt`. `destination`: where the reply came from, for the reply rules
  // (null: none apply, as for DNS answers and our own reasons).
  Verdict judge(const Attempt& attempt, const Destination* destination, std::int64_t now_ms) const;

  // After a deferral: retry at a time (the backoff or retry_schedule, never before
  // verdict.retry_not_before_ms), or final (no retry left, or none before the run's deadline),
  // or expired (past max_age: the recipient then ends as a bounce, see expire()).
  NextTry next_try(const Verdict& verdict, const RetryHistory& history, std::int64_t now_ms,
                   shaping::UniformRandom random) const;

  // The attempt that ends a recipient past max_age: 4.4.7 (RFC 3463), stage expired, with
  // the last error in `text_storage`; judge() calls it a soft bounce, reason expired.
  static Attempt expired_attempt(const Attempt& last, std::string& text_storage);

 private:
  const ShapingRules* rules_;
  const JobConfig* job_;
  std::int64_t deadline_ms_;
  mutable std::string enhanced_text_;  // scratch for the rules (shard-local, no lock)
  mutable std::string rules_text_;
};

// The reason and hard/soft of a failed attempt (bounced or deferred), from the reply or from
// hayate's own reason when there was no reply (code 0). Always a failure reason:
// `feedback`, `vacation` and `delivered` read in a reply's words become `undefined`.
//  - stage expired (4.4.7) is `expired`, soft, whatever the last error;
//  - only a bounce can be hard: a 4xx is transient (RFC 5321 4.2.1), as Sisimai reads a
//    4.x.x userunknown as soft;
//  - without a reply, only what DNS said about the recipient's own domain condemns it: no mail
//    host (5.1.2) or a null MX (RFC 7505, 556 5.1.10). A route host that does not resolve
//    (5.4.4) is the operator's mistake, never the recipients'.
struct FailureClass {
  bounce::Reason reason = bounce::Reason::undefined;
  bool hard = false;
};
FailureClass classify_failure(Disposition disposition, const Attempt& attempt);

// The delay a server asks for in its words ("please try again in 45 seconds", "retry in 5
// minutes"), in ms; 0 when it names none. Greylisting servers say how long they wait.
std::int64_t delay_asked_ms(std::string_view text);

// An OutcomeRecord's attempt fields from an attempt and its verdict.
void fill_outcome(const Attempt& attempt, const Verdict& verdict, OutcomeRecord& record);

}  // namespace hayate::campaign::delivery
