// The job file (TOML, read with toml++): what a campaign sends, to whom, and how. Loading
// checks everything a user can get wrong and names file:line:column in each error; nothing is
// sent from a job that did not load. The reference is README.md "Job file".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "campaign/config/schedule.h"
#include "campaign/input/address.h"
#include "campaign/input/encoding.h"
#include "campaign/message/dkim.h"
#include "campaign/message/iso_2022_jp.h"
#include "engine/limits.h"
#include "engine/shaping/backoff.h"

namespace hayate::campaign::inline config {

struct Endpoint {
  std::string host;  // an IP literal or a host name (resolved with A/AAAA)
  std::uint16_t port = 25;
};

// STARTTLS policy (RFC 3207): opportunistic uses TLS when offered, without checking the
// certificate, and falls back to plaintext if the handshake fails; required checks the chain
// and the host name and defers when that fails; disabled never asks.
enum class TlsMode : std::uint8_t { opportunistic, required, disabled };

struct Route {
  std::string domain;  // lower case; "*" matches every domain
  Endpoint endpoint;
  bool implicit_tls = false;   // TLS from the first byte (RFC 8314); default on for port 465
  std::optional<TlsMode> tls;  // unset: the domain's or [delivery] policy
  // SMTP AUTH, for a relay ([relay], which becomes the "*" route).
  std::string username;
  std::string password;       // read from password_file; never logged
  std::string password_file;  // resolved; its permissions are checked (config/secret_files.h)
  bool allow_plaintext_auth = false;
  bool relay = false;
};

// [domains."example.com"]: settings for one destination domain.
struct DomainPolicy {
  std::string domain;  // lower-case A-label
  std::optional<TlsMode> tls;
};

struct JobConfig {
  std::string job_path;  // as given
  std::string base_dir;  // directory of the job file; relative paths resolve against it

  // [campaign]
  std::string id;               // [A-Za-z0-9._-]{1,64}
  std::string recipients_path;  // resolved against base_dir
  std::string from;             // header value as written
  std::string from_display_name;
  Address from_address;            // parsed from `from`
  Address envelope_from;           // `envelope_from`, default: from_address
  std::string subject;             // template source
  std::uint32_t subject_line = 0;  // line of `subject` in the job file
  std::string text_path;           // resolved; empty when absent
  std::string html_path;           // resolved; empty when absent
  std::string reply_to;            // optional header value
  std::vector<std::pair<std::string, std::string>> headers;  // [campaign.headers], templated
  // List-Unsubscribe (RFC 2369, RFC 8058) and Feedback-ID: template sources, may be empty.
  std::string list_unsubscribe;         // https URL; adds List-Unsubscribe-Post (one-click)
  std::string list_unsubscribe_mailto;  // an address, "mailto:" optional
  std::string feedback_id;
  // What the files are in, and what the messages go out in (README.md "Japanese and other
  // encodings"): `encoding` for the recipients, `template_encoding` for the text and html
  // templates, decoded to UTF-8 when read; `charset` for the text part and encoded-words.
  TextEncoding recipients_encoding = TextEncoding::utf8;
  TextEncoding template_encoding = TextEncoding::utf8;
  MessageCharset charset = MessageCharset::utf8;

  // [delivery]
  std::string helo;  // default: the host's name
  std::uint32_t connections_max = 2000;
  std::uint32_t connections_per_domain = 20;
  std::uint32_t messages_per_connection = 1000;
  std::uint32_t shards = 0;  // 0: one per core
  std::uint16_t port = 25;   // SMTP port of MX hosts (routes carry their own)
  std::uint32_t connect_timeout_ms = limits::connect_timeout_ms;
  std::uint32_t command_timeout_ms = limits::command_timeout_ms;  // greeting, EHLO, MAIL, RCPT
  std::uint32_t data_timeout_ms = limits::data_timeout_ms;        // DATA, body and final dot
  // Retries: an explicit list of delays (retry_schedule), or when it is not given exponential
  // backoff with jitter (retry_first_delay, retry_factor, retry_max_delay, retry_jitter).
  // Either way a recipient older than max_age (from the campaign's first run) expires: a
  // bounce with reason "expired".
  bool retry_schedule_given = false;             // false: backoff
  std::vector<std::uint32_t> retry_schedule_ms;  // given and empty: no retry at all
  shaping::BackoffConfig retry_backoff{300'000, 2, 3'600'000, 3 * 86'400'000LL,
                                       shaping::Jitter::full};
  std::uint64_t deadline_ms = 3'600'000;  // retries stop this long after the start
  TlsMode tls = TlsMode::opportunistic;
  std::string ca_file;  // extra trust anchors (PEM), resolved; empty: none

  // [routes]: exact domains first, then "*"
  std::vector<Route> routes;

  // [[dkim]]: one signature each (several: e.g. RSA and Ed25519, or two domains).
  std::vector<DkimConfig> dkim;

  // [verp]: a per-recipient envelope sender PREFIX+TOKEN@DOMAIN that maps bounces back.
  struct Verp {
    std::string prefix = "bounces";
    std::string domain;       // lower-case A-label
    std::string secret_file;  // resolved
  };
  std::optional<Verp> verp;

  // [domains."example.com"], sorted by domain
  std::vector<DomainPolicy> domains;

  // [dns]
  std::vector<Endpoint> dns_servers;  // empty: /etc/resolv.conf

  // [schedule]: start_at, stop_at, daily send windows; the default sends at any time.
  Schedule schedule;

  // [shaping] and [[sources]] (README.md "Shaping rules"); the rules file itself is loaded by
  // campaign/delivery/shaping_rules.h, with the pools named here.
  struct Source {
    std::string name;     // [a-z0-9_-]{1,64}, for logs and the warm-up state
    std::string address;  // canonical IPv4 or IPv6 literal, bound before connect
    std::string ehlo;     // default: [delivery] helo
    std::string pool = "default";
    bool warmup = false;  // a new IP: capped daily per provider by the warm-up schedule
  };
  std::string shaping_rules_path;  // resolved; empty: the shipped rules alone
  bool shaping_rollup = true;      // MX rollup (campaign/delivery/shaping_rules.h RulesOptions)
  std::string warmup_state_path;   // resolved; default the state directory's warmup.state
  std::vector<Source> sources;     // empty: the system picks the address
  // [suppression]: the list a run checks every recipient against (campaign/bounce/suppression.h).
  struct Suppression {
    bool enabled = true;
    std::string path;                     // resolved; default the state directory's suppression.db
    std::uint32_t soft_bounce_count = 3;  // soft bounces that suppress...
    std::uint32_t soft_bounce_days = 7;   // ...when they fall within this many days
  };
  Suppression suppression;
  // The host's state store (config/state_dir.h) the defaults above come from, and why.
  std::string state_dir;
  std::string state_dir_why;
  // Stores found beside the job file (from before the state directory) and used in its place,
  // for a notice: "suppression.db" or "hayate-warmup.state" paths.
  std::vector<std::string> stores_beside_job;
};

// Before a command opens the job's stores: the state directory made when a store lives there,
// and, the first time (config/state_dir.h first_notice), a notice in `notices` for each store
// found beside the job file and used in place of the host's.
absl::Status prepare_state_stores(const JobConfig& job, std::vector<std::string>& notices);

// Reads and checks a job file. Errors read "job.toml:12:1: ..." and, for unknown keys, name
// the nearest known key ("unknown key 'conections_max' in [delivery]; did you mean
// 'connections_max'?"). Missing files are checked here too (recipients, text, html), but their
// contents are read by the campaign.
absl::StatusOr<JobConfig> load_job(const std::string& path);

// Durations in job files: "250ms", "30s", "5m", "2h", "1d", or an integer (seconds).
bool parse_duration_ms(std::string_view text, std::uint64_t& duration_ms);

// The route for a domain, or nullptr when its MX must be looked up.
const Route* find_route(const JobConfig& job, std::string_view domain);

// The TLS policy for a domain: its route's, else its [domains] entry's, else [delivery]'s.
TlsMode tls_mode_for(const JobConfig& job, std::string_view domain, const Route* route);

}  // namespace hayate::campaign::config
