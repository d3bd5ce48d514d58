// Shaping rules: per-destination limits (who is Gmail, how many connections, how fast, which
// TLS, which warm-up) and reply rules (which 4xx/5xx means "slow down", "stop for a while",
// "retry" or "bounce"). Loaded from the rules file shipped inside hayate
// (campaign/delivery/default_rules.toml) overlaid by the job's own; README.md "Shaping rules".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "campaign/config/job.h"
#include "engine/limits.h"
#include "engine/shaping/gcra.h"

namespace re2 {
class RE2;
}

namespace hayate::smtp {
struct Reply;
}

namespace hayate::campaign::inline delivery {

// The text of default_rules.toml, compiled into the binary at build time.
std::string_view shipped_shaping_rules();

// A mailbox provider (or "default", everything else). The limits apply to each source IP ×
// destination; the destination_* caps, when set, to all sources together.
struct Destination {
  std::string name;                      // "gmail"; "default" for everything else
  std::uint32_t index = 0;               // in ShapingRules::destinations; 0 is "default"
  std::string defined_at;                // "default_rules.toml:41" (the last file to set it)
  std::vector<std::string> domains;      // "gmail.com", "*.example.com", "hotmail.*"
  std::vector<std::string> mx_suffixes;  // "google.com": matches aspmx.l.google.com

  std::uint32_t connections_max = 10;
  std::uint32_t messages_per_connection = 100;
  std::uint32_t recipients_per_transaction = 100;
  shaping::Rate rate;                             // unlimited when count == 0
  std::uint32_t destination_connections_max = 0;  // 0: no cap across sources
  shaping::Rate destination_rate;                 // unlimited: no cap across sources

  std::uint32_t connect_timeout_ms = limits::connect_timeout_ms;
  std::uint32_t greeting_timeout_ms = limits::greeting_timeout_ms;
  std::uint32_t command_timeout_ms = limits::command_timeout_ms;
  std::uint32_t data_timeout_ms = limits::data_timeout_ms;
  TlsMode tls = TlsMode::opportunistic;

  // Reaction to throttle replies (engine/shaping/aimd.h): rate and connections are multiplied
  // by throttle_factor, at most once per throttle_cooldown, never below rate_min or one
  // connection; past the cool-down each recovery_interval of clean replies gives back one
  // connection and a tenth of the configured rate.
  double throttle_factor = 0.5;
  std::int64_t throttle_cooldown_ms = 600'000;
  std::int64_t recovery_interval_ms = 60'000;
  shaping::Rate rate_min{1, 60'000};

  std::string pool;                         // source pool; empty: every source ("default" pool)
  std::string warmup;                       // schedule name, "none" for no warm-up cap
  std::vector<std::uint32_t> warmup_daily;  // cap on day 1, 2, ...; past the end: none

  std::vector<std::uint32_t> reply_rules;  // indexes of the rules that apply here, in order
};

// What a matched reply does. Every action but bounce defers the recipient (retried later).
enum class ReplyAction : std::uint8_t {
  throttle,             // cut rate and connections (AIMD); `duration`: pause that long first
  suspend_destination,  // no mail to the destination from any source for `duration`
  suspend_source,       // no mail from this source IP to the destination for `duration`
  retry,                // a normal deferral; `duration`: retry no sooner than that
  bounce,               // the recipient fails now, whatever the code said
};

struct ReplyRule {
  ReplyRule();
  ~ReplyRule();
  ReplyRule(ReplyRule&&) noexcept;
  ReplyRule& operator=(ReplyRule&&) noexcept;

  std::string name;        // for logs: "gmail-unusual-rate"
  std::string defined_at;  // "rules.toml:12"
  struct CodeRange {
    std::uint16_t min;
    std::uint16_t max;
  };
  std::vector<CodeRange> codes;             // any of them; empty: any code
  std::string enhanced_prefix;              // "4.7" matches 4.7.28, not 4.70.1; empty: any
  std::unique_ptr<re2::RE2> text;           // case-insensitive search; null: any text
  std::vector<std::uint32_t> destinations;  // indexes; empty: every destination
  ReplyAction action = ReplyAction::retry;
  std::int64_t duration_ms = 0;  // see ReplyAction

  bool matches(std::uint16_t code, std::string_view enhanced, std::string_view text) const;
};

struct RulesOptions {
  // MX rollup: a domain whose MX hosts end with a destination's mx suffix belongs to that
  // destination (one set of limits for every domain Google hosts). Off: domains only.
  bool rollup = true;
  // Pools named by the job's [[sources]]; a destination's `pool` must be one of them.
  std::vector<std::string> pools;
};

class ShapingRules {
 public:
  std::vector<Destination> destinations;  // [0] is "default"
  std::vector<ReplyRule> reply_rules;     // job rules first, then shipped, in file order
  bool rollup = true;

  // The destination of a recipient domain: an exact domain, then "*.suffix" (longest first),
  // then "label.*", then (with rollup) the first MX host, in the order given (most preferred
  // first), under an mx suffix (longest first); else "default". Case and a trailing dot are
  // ignored. No allocation.
  const Destination& match_destination(std::string_view recipient_domain,
                                       absl::Span<const std::string> mx_hosts) const;
  const Destination* find_destination(std::string_view name) const;

  // The first rule, in order, that applies to `destination` and matches the reply; nullptr
  // when none does (the code decides: 4xx deferred, 5xx bounced). `enhanced` is "4.7.28" or
  // empty; `text` the reply text as reply_text_for_rules gives it.
  const ReplyRule* match_reply(const Destination& destination, std::uint16_t code,
                               std::string_view enhanced, std::string_view text) const;

 private:
  friend class RulesBuilder;
  // Lower-case keys → destination index.
  absl::flat_hash_map<std::string, std::uint32_t> exact_domains_;
  absl::flat_hash_map<std::string, std::uint32_t> subdomain_suffixes_;  // "*.example.com"
  absl::flat_hash_map<std::string, std::uint32_t> first_labels_;        // "hotmail.*"
  absl::flat_hash_map<std::string, std::uint32_t> mx_suffixes_;
};

// Loads the shipped rules and, when `job_rules_path` is given, overlays the job's file: a
// destination of the same name changes only the keys it sets (its domains and mx lists
// replace the shipped ones, and a domain it claims leaves the destination that had it); new
// destinations are added; its reply rules come first, and one named like a shipped rule
// replaces it. Errors read "rules.toml:12:5: what is wrong".
absl::StatusOr<ShapingRules> load_rules(std::string_view shipped_toml,
                                        const std::string* job_rules_path,
                                        const RulesOptions& options = {});
// The same from text (the job's rules given as text; for tests and the fuzz target).
absl::StatusOr<ShapingRules> load_rules_text(std::string_view shipped_toml,
                                             std::string_view job_toml, std::string_view job_label,
                                             const RulesOptions& options = {});

// The reply's lines joined by a space, with the enhanced code that repeats at the start of
// each line removed ("421-4.7.28 unusual rate of\r\n421-4.7.28 unsolicited" → "unusual rate
// of unsolicited"), so that a pattern can span a line break. At most 2048 bytes.
std::string reply_text_for_rules(const smtp::Reply& reply);

// The shard that owns a recipient. A domain of a named destination (gmail.com, outlook.com...:
// the big providers of a list) is spread over every shard by address, so that one provider has
// the whole machine; its limits are already each shard's share (throttle.h share_of), so
// together they hold. Any other domain lives on one shard (its MX lookup and connections once),
// chosen by the domain. Named by its domain only: a domain that reaches a provider through MX
// rollup alone stays on one shard.
std::uint32_t shard_of(std::string_view address, std::string_view domain, const ShapingRules& rules,
                       std::uint32_t shard_count);

}  // namespace hayate::campaign::delivery
