// Loads shaping rules: toml++ parses the syntax, then every table and key is checked here, and
// the shipped file and the job's are merged into one ShapingRules with its look-up tables.
// Matching (match_destination, match_reply) is on the sending path and allocates nothing.
#include "campaign/delivery/shaping_rules.h"

#include <re2/re2.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "campaign/config/toml_names.h"
#include "campaign/config/toml_values.h"
#include "campaign/input/address.h"
#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/smtp/reply_parser.h"
#include "engine/strings.h"

static_assert(TOML_EXCEPTIONS, "rules.cc expects toml++ with exceptions (toml::parse_error)");

namespace hayate::campaign::inline delivery {
namespace {

// Capacities of a rules file: they bound what a mistaken or hostile file can make us build.
constexpr std::size_t rules_file_bytes_max = 4 << 20;
constexpr std::size_t destinations_max = 1'000;
constexpr std::size_t domains_max = 200'000;  // in all destinations together
constexpr std::size_t reply_rules_max = 1'000;
constexpr std::size_t codes_per_rule_max = 16;
constexpr std::size_t warmup_schedules_max = 64;
constexpr std::size_t warmup_days_max = 366;
constexpr std::size_t name_bytes_max = 64;
constexpr std::size_t pattern_bytes_max = 4'096;
constexpr std::int64_t regex_memory_bytes_max = 1 << 20;  // per compiled pattern
constexpr std::uint64_t timeout_ms_max = 3'600'000;       // one hour per SMTP step
constexpr std::uint64_t action_duration_ms_max = 7 * 86'400'000ULL;
constexpr std::uint64_t throttle_window_ms_max = 86'400'000;
constexpr std::int64_t connections_limit = 100'000;
constexpr std::int64_t messages_per_connection_limit = 1'000'000;
constexpr std::size_t reply_text_bytes_max = 2'048;

constexpr std::array<std::string_view, 3> top_level_keys = {"destination", "warmup", "reply"};
constexpr std::array<std::string_view, 19> destination_keys = {"domains",
                                                               "mx",
                                                               "connections_max",
                                                               "messages_per_connection",
                                                               "recipients_per_transaction",
                                                               "rate",
                                                               "destination_connections_max",
                                                               "destination_rate",
                                                               "connect_timeout",
                                                               "greeting_timeout",
                                                               "command_timeout",
                                                               "data_timeout",
                                                               "tls",
                                                               "throttle_factor",
                                                               "throttle_cooldown",
                                                               "recovery_interval",
                                                               "rate_min",
                                                               "pool",
                                                               "warmup"};
constexpr std::array<std::string_view, 7> reply_keys = {
    "name", "destination", "code", "enhanced", "text", "action", "duration"};

struct ActionName {
  std::string_view name;
  ReplyAction action;
};
constexpr std::array<ActionName, 5> action_names = {{
    {"throttle", ReplyAction::throttle},
    {"suspend_destination", ReplyAction::suspend_destination},
    {"suspend_source", ReplyAction::suspend_source},
    {"retry", ReplyAction::retry},
    {"bounce", ReplyAction::bounce},
}};

bool is_before(const toml::source_position& a, const toml::source_position& b) {
  return a.line < b.line || (a.line == b.line && a.column < b.column);
}

// [a-z0-9_-]{1,64}: names of destinations, rules, schedules and pools appear in logs and
// metrics labels, so a closed alphabet.
bool is_name(std::string_view name) {
  return !name.empty() && name.size() <= name_bytes_max &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

// An LDH label of 1 to 63 octets, no hyphen at either end (RFC 1123 2.1), lower-cased.
bool is_label(std::string_view label) {
  if (label.empty() || label.size() > limits::label_bytes_max) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool is_host_suffix(std::string_view name) {
  if (name.empty() || name.size() > limits::domain_bytes_max) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    if (!is_label(name.substr(start, dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// Lower-cases `text` into `buffer` without a trailing dot; empty when it does not fit.
std::string_view lower_into(std::string_view text, std::array<char, 256>& buffer) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.size() > buffer.size()) return {};
  for (std::size_t i = 0; i < text.size(); ++i) buffer[i] = lower(text[i]);
  return std::string_view(buffer.data(), text.size());
}

template <typename Map>
const std::uint32_t* find_key(const Map& map, std::string_view key) {
  const auto found = map.find(absl::string_view(key.data(), key.size()));
  return found == map.end() ? nullptr : &found->second;
}

// One parsed rules file and where its errors point.
struct RulesFile {
  std::string label;  // "rules.toml", or "default_rules.toml (shipped)"
  toml::table root;
  bool is_job = false;
};

// Where a domain or mx suffix was claimed, to name both places when two destinations claim it.
struct Claim {
  std::uint32_t destination;
  const RulesFile* file;
  toml::source_position where;
};

}  // namespace

// Builds a ShapingRules from the parsed files; every method returns the first error found.
class RulesBuilder {
 public:
  RulesBuilder(std::vector<RulesFile>& files, const RulesOptions& options)
      : files_(files), options_(options) {}

  absl::StatusOr<ShapingRules> build();

 private:
  std::string located(const RulesFile& file, const toml::source_position& where,
                      std::string_view message) const {
    if (where.line == 0) return cat(file.label, ": ", message);
    return cat(file.label, ":", where.line, ":", where.column, ": ", message);
  }
  absl::Status error_at(const RulesFile& file, const toml::source_position& where,
                        std::string_view message) const {
    return absl::InvalidArgumentError(located(file, where, message));
  }
  absl::Status error_at(const RulesFile& file, const toml::node& node,
                        std::string_view message) const {
    return error_at(file, node.source().begin, message);
  }

  absl::Status check_keys(const RulesFile& file, const toml::table& table, std::string_view label,
                          std::span<const std::string_view> known) const;
  absl::Status read_warmup(const RulesFile& file);
  absl::Status read_destination_tables(const RulesFile& file);
  absl::Status apply(const RulesFile& file, const toml::table& table, Destination& destination);
  absl::Status note_domain_lists(const RulesFile& file, const toml::table& table,
                                 std::string_view label, const Destination& destination);
  absl::Status read_counts(const RulesFile& file, const toml::table& table, std::string_view label,
                           Destination& destination) const;
  absl::Status read_rates(const RulesFile& file, const toml::table& table, std::string_view label,
                          Destination& destination) const;
  absl::Status read_timeouts(const RulesFile& file, const toml::table& table,
                             std::string_view label, Destination& destination) const;
  absl::Status read_throttle_reaction(const RulesFile& file, const toml::table& table,
                                      std::string_view label, Destination& destination) const;
  absl::Status read_pool(const RulesFile& file, const toml::node& node, std::string_view label,
                         Destination& destination) const;
  absl::Status read_warmup_choice(const RulesFile& file, const toml::node& node,
                                  std::string_view label, Destination& destination) const;
  absl::Status read_count(const RulesFile& file, const toml::table& table, std::string_view label,
                          std::string_view key, std::int64_t min, std::int64_t max,
                          std::uint32_t& out) const;
  absl::Status read_duration(const RulesFile& file, const toml::node& node, std::string_view label,
                             std::uint64_t max_ms, std::uint64_t& out_ms) const;
  absl::Status read_rate(const RulesFile& file, const toml::node& node, std::string_view label,
                         shaping::Rate& rate) const;
  absl::Status read_names(const RulesFile& file, const toml::node& node, std::string_view label,
                          std::vector<std::pair<std::string, const toml::node*>>& names) const;
  absl::Status claim_domains();
  absl::Status read_reply_rules(const RulesFile& file, std::set<std::string>& names_taken);
  absl::Status read_reply_rule(const RulesFile& file, const toml::table& table, ReplyRule& rule);
  absl::Status read_codes(const RulesFile& file, const toml::node& node, ReplyRule& rule) const;
  absl::Status read_enhanced_prefix(const RulesFile& file, const toml::node& node,
                                    std::string_view label, ReplyRule& rule) const;
  absl::Status read_text_pattern(const RulesFile& file, const toml::node& node,
                                 std::string_view label, ReplyRule& rule) const;
  absl::Status read_action(const RulesFile& file, const toml::table& table, std::string_view label,
                           ReplyRule& rule) const;
  absl::Status read_rule_scope(const RulesFile& file, const toml::node& scope,
                               std::string_view label, ReplyRule& rule) const;

  std::vector<RulesFile>& files_;
  const RulesOptions& options_;
  ShapingRules rules_;
  // Warm-up schedules by name (the job's replace the shipped ones of the same name).
  std::vector<std::pair<std::string, std::vector<std::uint32_t>>> warmup_;
  // Per destination: the file and node that gave its domains and mx lists.
  struct ListSource {
    const RulesFile* file = nullptr;
    const toml::node* node = nullptr;
  };
  std::vector<ListSource> domains_from_;
  std::vector<ListSource> mx_from_;
};

absl::Status RulesBuilder::check_keys(const RulesFile& file, const toml::table& table,
                                      std::string_view label,
                                      std::span<const std::string_view> known) const {
  const toml::key* first_unknown = nullptr;
  for (auto&& [key, node] : table) {
    if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
    if (first_unknown == nullptr || is_before(key.source().begin, first_unknown->source().begin)) {
      first_unknown = &key;
    }
  }
  if (first_unknown == nullptr) return absl::OkStatus();
  std::string message =
      cat("unknown key '", escape_for_message(first_unknown->str()), "' in ", label);
  if (std::optional<std::string_view> suggestion =
          nearest_known_name(first_unknown->str(), known)) {
    append(message, "; did you mean '", *suggestion, "'?");
  }
  return error_at(file, first_unknown->source().begin, message);
}

absl::Status RulesBuilder::read_count(const RulesFile& file, const toml::table& table,
                                      std::string_view label, std::string_view key,
                                      std::int64_t min, std::int64_t max,
                                      std::uint32_t& out) const {
  HAYATE_ASSERT(min <= max && max <= std::numeric_limits<std::uint32_t>::max());
  const toml::node* node = table.get(key);
  if (node == nullptr) return absl::OkStatus();
  const absl::StatusOr<std::int64_t> value =
      read_toml_integer(*node, cat(label, " ", key), min, max);
  if (!value.ok()) return error_at(file, *node, std::string(value.status().message()));
  out = static_cast<std::uint32_t>(*value);
  return absl::OkStatus();
}

absl::Status RulesBuilder::read_duration(const RulesFile& file, const toml::node& node,
                                         std::string_view label, std::uint64_t max_ms,
                                         std::uint64_t& out_ms) const {
  const absl::StatusOr<std::uint64_t> duration_ms = read_toml_duration_ms(node, label, max_ms);
  if (!duration_ms.ok()) return error_at(file, node, std::string(duration_ms.status().message()));
  out_ms = *duration_ms;
  return absl::OkStatus();
}

absl::Status RulesBuilder::read_rate(const RulesFile& file, const toml::node& node,
                                     std::string_view label, shaping::Rate& rate) const {
  const toml::value<std::string>* text = node.as_string();
  if (text == nullptr) {
    return error_at(
        file, node,
        cat(label, " must be a string such as \"600/min\", got ", toml_type_name(node.type())));
  }
  std::string reason;
  if (!shaping::parse_rate(text->get(), rate, reason)) {
    return error_at(file, node, cat(label, ": ", escape_for_message(reason)));
  }
  return absl::OkStatus();
}

// A string or an array of strings.
absl::Status RulesBuilder::read_names(
    const RulesFile& file, const toml::node& node, std::string_view label,
    std::vector<std::pair<std::string, const toml::node*>>& names) const {
  names.clear();
  if (const toml::value<std::string>* one = node.as_string()) {
    names.emplace_back(one->get(), &node);
    return absl::OkStatus();
  }
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    return error_at(
        file, node,
        cat(label, " must be a string or an array of strings, got ", toml_type_name(node.type())));
  }
  if (array->empty()) return error_at(file, node, cat(label, " is empty"));
  for (const toml::node& element : *array) {
    const toml::value<std::string>* text = element.as_string();
    if (text == nullptr) {
      return error_at(file, element,
                      cat(label, " must hold strings, got ", toml_type_name(element.type())));
    }
    names.emplace_back(text->get(), &element);
  }
  return absl::OkStatus();
}

absl::Status RulesBuilder::read_warmup(const RulesFile& file) {
  const toml::node* node = file.root.get("warmup");
  if (node == nullptr) return absl::OkStatus();
  const toml::table* table = node->as_table();
  if (table == nullptr) {
    return error_at(file, *node,
                    "[warmup] must be a table of schedules: name = [day 1, day 2, ...]");
  }
  for (auto&& [key, value] : *table) {
    const std::string name(key.str());
    const std::string label = cat("[warmup] ", escape_for_message(name));
    if (!is_name(name) || name == "none") {
      return error_at(file, key.source().begin,
                      cat(label, ": a schedule name is 1 to 64 of a-z 0-9 _ - (and not \"none\")"));
    }
    const toml::array* days = value.as_array();
    if (days == nullptr || days->empty()) {
      return error_at(file, value, cat(label, " must be a non-empty array of daily caps"));
    }
    if (days->size() > warmup_days_max) {
      return error_at(
          file, value,
          cat(label, " has ", days->size(), " days; at most ", warmup_days_max, " are allowed"));
    }
    std::vector<std::uint32_t> caps;
    for (std::size_t i = 0; i < days->size(); ++i) {
      const toml::value<std::int64_t>* cap = days->get(i)->as_integer();
      if (cap == nullptr || cap->get() < 1 || cap->get() > 1'000'000'000) {
        return error_at(file, *days->get(i),
                        cat(label, "[", i,
                            "] must be a whole number of messages from 1 to "
                            "1000000000"));
      }
      if (!caps.empty() && static_cast<std::uint32_t>(cap->get()) < caps.back()) {
        return error_at(file, *days->get(i),
                        cat(label, "[", i, "] (", cap->get(), ") is less than the day before (",
                            caps.back(), "); a warm-up only rises"));
      }
      caps.push_back(static_cast<std::uint32_t>(cap->get()));
    }
    auto found = std::find_if(warmup_.begin(), warmup_.end(),
                              [&](const auto& entry) { return entry.first == name; });
    if (found != warmup_.end()) {
      found->second = std::move(caps);
    } else {
      if (warmup_.size() >= warmup_schedules_max) {
        return error_at(file, key.source().begin,
                        cat("at most ", warmup_schedules_max, " warm-up schedules are allowed"));
      }
      warmup_.emplace_back(name, std::move(caps));
    }
  }
  return absl::OkStatus();
}

// Applies the keys of one [destination.NAME] table over `destination`.
absl::Status RulesBuilder::apply(const RulesFile& file, const toml::table& table,
                                 Destination& destination) {
  const std::string label = cat("[destination.", destination.name, "]");
  if (absl::Status status = check_keys(file, table, label, destination_keys); !status.ok()) {
    return status;
  }
  destination.defined_at = cat(file.label, ":", table.source().begin.line);
  if (absl::Status s = note_domain_lists(file, table, label, destination); !s.ok()) return s;
  if (absl::Status s = read_counts(file, table, label, destination); !s.ok()) return s;
  if (absl::Status s = read_rates(file, table, label, destination); !s.ok()) return s;
  if (absl::Status s = read_timeouts(file, table, label, destination); !s.ok()) return s;
  if (absl::Status s = read_throttle_reaction(file, table, label, destination); !s.ok()) return s;
  if (const toml::node* node = table.get("tls")) {
    const toml::value<std::string>* text = node->as_string();
    const std::string_view mode = text != nullptr ? std::string_view(text->get()) : "";
    if (mode == "opportunistic") {
      destination.tls = TlsMode::opportunistic;
    } else if (mode == "required") {
      destination.tls = TlsMode::required;
    } else if (mode == "disabled") {
      destination.tls = TlsMode::disabled;
    } else {
      return error_at(file, *node,
                      cat(label, " tls must be \"opportunistic\", \"required\" or \"disabled\""));
    }
  }
  if (const toml::node* node = table.get("pool")) {
    if (absl::Status s = read_pool(file, *node, label, destination); !s.ok()) return s;
  }
  if (const toml::node* node = table.get("warmup")) {
    if (absl::Status s = read_warmup_choice(file, *node, label, destination); !s.ok()) return s;
  }
  if (destination.rate_min.per_second() > destination.rate.per_second() &&
      !destination.rate.unlimited()) {
    destination.rate_min = destination.rate;  // a floor above the ceiling would be no floor
  }
  return absl::OkStatus();
}

// domains and mx: only noted here (which file and node gave them); claim_domains reads them
// once every file is applied, so that the job's lists replace the shipped ones.
absl::Status RulesBuilder::note_domain_lists(const RulesFile& file, const toml::table& table,
                                             std::string_view label,
                                             const Destination& destination) {
  const bool is_default = destination.index == 0;
  for (std::string_view key : {"domains", "mx"}) {
    const toml::node* node = table.get(key);
    if (node == nullptr) continue;
    if (is_default) {
      return error_at(file, *node,
                      cat(label, " ", key,
                          ": the default destination takes every other domain; "
                          "give it no list"));
    }
    (key == "domains" ? domains_from_ : mx_from_)[destination.index] = {&file, node};
  }
  return absl::OkStatus();
}

// connections_max, messages_per_connection, recipients_per_transaction and
// destination_connections_max.
absl::Status RulesBuilder::read_counts(const RulesFile& file, const toml::table& table,
                                       std::string_view label, Destination& destination) const {
  if (absl::Status s = read_count(file, table, label, "connections_max", 1, connections_limit,
                                  destination.connections_max);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          read_count(file, table, label, "messages_per_connection", 1,
                     messages_per_connection_limit, destination.messages_per_connection);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = read_count(file, table, label, "recipients_per_transaction", 1,
                                  limits::recipients_per_transaction_max,
                                  destination.recipients_per_transaction);
      !s.ok()) {
    return s;
  }
  return read_count(file, table, label, "destination_connections_max", 1, connections_limit,
                    destination.destination_connections_max);
}

// rate, destination_rate and rate_min: "600/min" and the like.
absl::Status RulesBuilder::read_rates(const RulesFile& file, const toml::table& table,
                                      std::string_view label, Destination& destination) const {
  for (auto [key, out] : {std::pair{"rate", &destination.rate},
                          std::pair{"destination_rate", &destination.destination_rate},
                          std::pair{"rate_min", &destination.rate_min}}) {
    if (const toml::node* node = table.get(key)) {
      if (absl::Status s = read_rate(file, *node, cat(label, " ", key), *out); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// The SMTP timeouts: connect, greeting, command and data.
absl::Status RulesBuilder::read_timeouts(const RulesFile& file, const toml::table& table,
                                         std::string_view label, Destination& destination) const {
  for (auto [key, out] : {std::pair{"connect_timeout", &destination.connect_timeout_ms},
                          std::pair{"greeting_timeout", &destination.greeting_timeout_ms},
                          std::pair{"command_timeout", &destination.command_timeout_ms},
                          std::pair{"data_timeout", &destination.data_timeout_ms}}) {
    if (const toml::node* node = table.get(key)) {
      std::uint64_t duration_ms = 0;
      if (absl::Status s =
              read_duration(file, *node, cat(label, " ", key), timeout_ms_max, duration_ms);
          !s.ok()) {
        return s;
      }
      *out = static_cast<std::uint32_t>(duration_ms);
    }
  }
  return absl::OkStatus();
}

// throttle_cooldown, recovery_interval and throttle_factor (engine/shaping/aimd.h).
absl::Status RulesBuilder::read_throttle_reaction(const RulesFile& file, const toml::table& table,
                                                  std::string_view label,
                                                  Destination& destination) const {
  for (auto [key, out] : {std::pair{"throttle_cooldown", &destination.throttle_cooldown_ms},
                          std::pair{"recovery_interval", &destination.recovery_interval_ms}}) {
    if (const toml::node* node = table.get(key)) {
      std::uint64_t duration_ms = 0;
      if (absl::Status s =
              read_duration(file, *node, cat(label, " ", key), throttle_window_ms_max, duration_ms);
          !s.ok()) {
        return s;
      }
      *out = static_cast<std::int64_t>(duration_ms);
    }
  }
  if (const toml::node* node = table.get("throttle_factor")) {
    const std::optional<double> factor = node->value<double>();  // an integer reads as one too
    if (!factor || !(*factor > 0 && *factor < 1)) {
      return error_at(file, *node,
                      cat(label,
                          " throttle_factor must be a number between 0 and 1 "
                          "(exclusive), e.g. 0.5 to halve the rate on each throttle"));
    }
    destination.throttle_factor = *factor;
  }
  return absl::OkStatus();
}

// pool: one of the pools the job's [[sources]] name.
absl::Status RulesBuilder::read_pool(const RulesFile& file, const toml::node& node,
                                     std::string_view label, Destination& destination) const {
  const toml::value<std::string>* text = node.as_string();
  if (text == nullptr || !is_name(text->get())) {
    return error_at(file, node, cat(label, " pool must be a pool name (a-z 0-9 _ -)"));
  }
  if (std::find(options_.pools.begin(), options_.pools.end(), text->get()) ==
      options_.pools.end()) {
    std::string known;
    for (const std::string& pool : options_.pools) append(known, known.empty() ? "" : ", ", pool);
    return error_at(file, node,
                    cat(label, " pool \"", text->get(),
                        "\" is not a pool of the job's "
                        "[[sources]]",
                        known.empty() ? " (the job has none)" : cat(" (", known, ")")));
  }
  destination.pool = text->get();
  return absl::OkStatus();
}

// warmup: a schedule of [warmup] (read before any destination), or "none".
absl::Status RulesBuilder::read_warmup_choice(const RulesFile& file, const toml::node& node,
                                              std::string_view label,
                                              Destination& destination) const {
  const toml::value<std::string>* text = node.as_string();
  if (text == nullptr) {
    return error_at(file, node,
                    cat(label, " warmup must name a [warmup] schedule, or be \"none\""));
  }
  if (text->get() == "none") {
    destination.warmup = "none";
    destination.warmup_daily.clear();
    return absl::OkStatus();
  }
  auto found = std::find_if(warmup_.begin(), warmup_.end(),
                            [&](const auto& entry) { return entry.first == text->get(); });
  if (found == warmup_.end()) {
    return error_at(file, node,
                    cat(label, " warmup \"", escape_for_message(text->get()),
                        "\" is not a schedule in [warmup]"));
  }
  destination.warmup = found->first;
  destination.warmup_daily = found->second;
  return absl::OkStatus();
}

// Creates the destinations named in `file` (in file order) and applies its tables to them.
absl::Status RulesBuilder::read_destination_tables(const RulesFile& file) {
  const toml::node* node = file.root.get("destination");
  if (node == nullptr) return absl::OkStatus();
  const toml::table* tables = node->as_table();
  if (tables == nullptr) {
    return error_at(file, *node, "destination must be tables: [destination.NAME]");
  }
  std::vector<std::pair<const toml::key*, const toml::table*>> ordered;
  for (auto&& [key, value] : *tables) {
    const toml::table* table = value.as_table();
    if (table == nullptr) {
      return error_at(file, value,
                      cat("destination.", escape_for_message(key.str()),
                          " must be a table: [destination.", escape_for_message(key.str()), "]"));
    }
    if (!is_name(key.str())) {
      return error_at(file, key.source().begin,
                      cat("[destination.", escape_for_message(key.str()),
                          "]: a destination name is 1 to 64 of a-z 0-9 _ -"));
    }
    ordered.emplace_back(&key, table);
  }
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    return is_before(a.first->source().begin, b.first->source().begin);
  });
  for (const auto& [key, table] : ordered) {
    const std::string name(key->str());
    if (name == "default") continue;  // applied first, before any destination inherits it
    Destination* destination = nullptr;
    for (Destination& existing : rules_.destinations) {
      if (existing.name == name) destination = &existing;
    }
    if (destination == nullptr) {
      if (rules_.destinations.size() >= destinations_max) {
        return error_at(file, key->source().begin,
                        cat("at most ", destinations_max, " destinations are allowed"));
      }
      // A new destination starts from "default" as it stands, without its identity.
      Destination fresh = rules_.destinations.front();
      fresh.name = name;
      fresh.index = static_cast<std::uint32_t>(rules_.destinations.size());
      rules_.destinations.push_back(std::move(fresh));
      domains_from_.emplace_back();
      mx_from_.emplace_back();
      destination = &rules_.destinations.back();
    }
    if (absl::Status status = apply(file, *table, *destination); !status.ok()) return status;
  }
  return absl::OkStatus();
}

// Builds the look-up tables. A domain claimed twice in one file is an error; a domain the job
// claims leaves the shipped destination that had it.
absl::Status RulesBuilder::claim_domains() {
  struct Pending {
    std::string key;
    absl::flat_hash_map<std::string, std::uint32_t>* map;
    Claim claim;
  };
  std::vector<Pending> pending;
  std::size_t total = 0;
  for (const Destination& destination : rules_.destinations) {
    for (bool is_mx : {false, true}) {
      const ListSource& source = (is_mx ? mx_from_ : domains_from_)[destination.index];
      if (source.node == nullptr) continue;
      const RulesFile& file = *source.file;
      const std::string label =
          cat("[destination.", destination.name, "] ", is_mx ? "mx" : "domains");
      std::vector<std::pair<std::string, const toml::node*>> names;
      if (absl::Status status = read_names(file, *source.node, label, names); !status.ok()) {
        return status;
      }
      total += names.size();
      if (total > domains_max) {
        return error_at(file, *source.node,
                        cat("at most ", domains_max, " domains and mx suffixes are allowed"));
      }
      for (auto& [written, node] : names) {
        std::string key;
        absl::flat_hash_map<std::string, std::uint32_t>* map = nullptr;
        std::string name = written;
        for (char& c : name) c = lower(c);
        std::string reason;
        if (is_mx) {
          if (name.starts_with(".")) name.erase(0, 1);
          if (!is_host_suffix(name)) reason = "an mx suffix is a host name such as \"google.com\"";
          key = name;
          map = &rules_.mx_suffixes_;
        } else if (name.starts_with("*.")) {
          Address address;
          if (parse_address(cat("x@", name.substr(2)), address, reason)) {
            key = std::string(address.domain());
            map = &rules_.subdomain_suffixes_;
          }
        } else if (name.ends_with(".*")) {
          key = name.substr(0, name.size() - 2);
          if (!is_label(key)) reason = "\"label.*\" takes one label, e.g. \"hotmail.*\"";
          map = &rules_.first_labels_;
        } else if (name.find('*') != std::string::npos) {
          reason = "a wildcard is \"*.example.com\" (subdomains) or \"hotmail.*\" (any ending)";
        } else if (name.find('@') != std::string::npos) {
          reason = "give a domain, not an address";
        } else {
          Address address;
          if (parse_address(cat("x@", name), address, reason)) {
            key = std::string(address.domain());
            map = &rules_.exact_domains_;
          }
        }
        if (!reason.empty() || map == nullptr) {
          return error_at(
              file, *node,
              cat(label, ": \"", escape_for_message(written), "\" is not valid: ", reason));
        }
        pending.push_back({std::move(key), map, {destination.index, &file, node->source().begin}});
      }
    }
  }
  // Job claims first, so that they win over shipped ones; file order within each.
  std::stable_sort(pending.begin(), pending.end(), [](const Pending& a, const Pending& b) {
    return a.claim.file->is_job && !b.claim.file->is_job;
  });
  absl::flat_hash_map<std::pair<const void*, std::string>, Claim> seen;
  for (Pending& entry : pending) {
    auto [it, inserted] =
        seen.try_emplace(std::pair<const void*, std::string>(entry.map, entry.key), entry.claim);
    if (!inserted) {
      const Claim& first = it->second;
      if (first.file == entry.claim.file) {
        return error_at(
            *entry.claim.file, entry.claim.where,
            cat("\"", entry.key, "\" is already in [destination.",
                rules_.destinations[first.destination].name, "] (line ", first.where.line, ")"));
      }
      continue;  // the job took it from the shipped destination
    }
    (*entry.map)[entry.key] = entry.claim.destination;
    Destination& destination = rules_.destinations[entry.claim.destination];
    if (entry.map == &rules_.mx_suffixes_) {
      destination.mx_suffixes.push_back(entry.key);
    } else if (entry.map == &rules_.subdomain_suffixes_) {
      destination.domains.push_back(cat("*.", entry.key));
    } else if (entry.map == &rules_.first_labels_) {
      destination.domains.push_back(cat(entry.key, ".*"));
    } else {
      destination.domains.push_back(entry.key);
    }
  }
  return absl::OkStatus();
}

absl::Status RulesBuilder::read_codes(const RulesFile& file, const toml::node& node,
                                      ReplyRule& rule) const {
  std::vector<const toml::node*> items;
  if (const toml::array* array = node.as_array()) {
    if (array->empty() || array->size() > codes_per_rule_max) {
      return error_at(file, node,
                      cat("[[reply]] code must list 1 to ", codes_per_rule_max, " codes"));
    }
    for (const toml::node& element : *array) items.push_back(&element);
  } else {
    items.push_back(&node);
  }
  for (const toml::node* item : items) {
    std::string text;
    if (const toml::value<std::int64_t>* number = item->as_integer()) {
      text = std::to_string(number->get());
    } else if (const toml::value<std::string>* string = item->as_string()) {
      text = string->get();
    }
    // "421" exact; "4xx" or "45x" a class (RFC 5321 4.2.1: the first digits carry the meaning).
    bool ok = text.size() == 3 && text[0] >= '2' && text[0] <= '5';
    std::uint16_t min = 0;
    std::uint16_t max = 0;
    bool wild = false;
    for (std::size_t i = 0; ok && i < 3; ++i) {
      const char c = lower(text[i]);
      if (c == 'x' && i > 0) {
        wild = true;
        min = static_cast<std::uint16_t>(min * 10);
        max = static_cast<std::uint16_t>(max * 10 + 9);
      } else if (c >= '0' && c <= '9' && !wild) {
        min = static_cast<std::uint16_t>(min * 10 + (c - '0'));
        max = static_cast<std::uint16_t>(max * 10 + (c - '0'));
      } else {
        ok = false;
      }
    }
    if (!ok) {
      return error_at(file, *item,
                      cat("[[reply]] code \"", escape_for_message(text),
                          "\" is not a reply code: write 421, \"4xx\" or \"45x\""));
    }
    rule.codes.push_back({min, max});
  }
  return absl::OkStatus();
}

absl::Status RulesBuilder::read_reply_rule(const RulesFile& file, const toml::table& table,
                                           ReplyRule& rule) {
  if (absl::Status s = check_keys(file, table, "[[reply]]", reply_keys); !s.ok()) return s;
  rule.defined_at = cat(file.label, ":", table.source().begin.line);
  if (const toml::node* node = table.get("name")) {
    const toml::value<std::string>* name = node->as_string();
    if (name == nullptr || !is_name(name->get())) {
      return error_at(file, *node, "[[reply]] name must be 1 to 64 of a-z 0-9 _ -");
    }
    rule.name = name->get();
  } else {
    rule.name = rule.defined_at;
  }
  const std::string label = cat("[[reply]] ", rule.name);
  const toml::node* code = table.get("code");
  const toml::node* enhanced = table.get("enhanced");
  const toml::node* text = table.get("text");
  if (code == nullptr && enhanced == nullptr && text == nullptr) {
    return error_at(file, table.source().begin,
                    cat(label, " matches every reply: give code, enhanced or text"));
  }
  if (code != nullptr) {
    if (absl::Status s = read_codes(file, *code, rule); !s.ok()) return s;
  }
  if (enhanced != nullptr) {
    if (absl::Status s = read_enhanced_prefix(file, *enhanced, label, rule); !s.ok()) return s;
  }
  if (text != nullptr) {
    if (absl::Status s = read_text_pattern(file, *text, label, rule); !s.ok()) return s;
  }
  if (absl::Status s = read_action(file, table, label, rule); !s.ok()) return s;
  if (const toml::node* scope = table.get("destination")) {
    if (absl::Status s = read_rule_scope(file, *scope, label, rule); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// enhanced: an enhanced status code or its start, "4.7.28" or "5.7".
absl::Status RulesBuilder::read_enhanced_prefix(const RulesFile& file, const toml::node& node,
                                                std::string_view label, ReplyRule& rule) const {
  const toml::value<std::string>* value = node.as_string();
  // RFC 3463 2: class.subject.detail; a prefix stops at a dot ("4.7" or "4.7.28").
  const std::string_view prefix = value != nullptr ? std::string_view(value->get()) : "";
  bool ok = !prefix.empty() && (prefix[0] == '2' || prefix[0] == '4' || prefix[0] == '5') &&
            (prefix.size() == 1 || prefix[1] == '.');
  std::string_view rest = prefix.size() > 2 ? prefix.substr(2) : std::string_view();
  for (int part = 0; ok && !rest.empty(); ++part) {
    const std::size_t dot = rest.find('.');
    const std::string_view digits = rest.substr(0, dot);
    ok = part < 2 && !digits.empty() && digits.size() <= 3 &&
         std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    ok = ok && !(dot != std::string_view::npos && rest.empty());  // no trailing dot
  }
  if (!ok || prefix.size() == 2) {
    return error_at(file, node,
                    cat(label,
                        " enhanced must be an enhanced status code or its start, "
                        "e.g. \"4.7.28\" or \"5.7\" (RFC 3463)"));
  }
  rule.enhanced_prefix = value->get();
  return absl::OkStatus();
}

// text: an RE2 pattern searched in the reply text, case-insensitively.
absl::Status RulesBuilder::read_text_pattern(const RulesFile& file, const toml::node& node,
                                             std::string_view label, ReplyRule& rule) const {
  const toml::value<std::string>* pattern = node.as_string();
  if (pattern == nullptr || pattern->get().empty() || pattern->get().size() > pattern_bytes_max) {
    return error_at(file, node,
                    cat(label, " text must be a regular expression of 1 to ", pattern_bytes_max,
                        " bytes (RE2 syntax)"));
  }
  RE2::Options re2_options;
  re2_options.set_case_sensitive(false);
  re2_options.set_log_errors(false);
  re2_options.set_max_mem(regex_memory_bytes_max);
  re2_options.set_encoding(RE2::Options::EncodingLatin1);  // reply bytes as they came
  auto compiled = std::make_unique<RE2>(pattern->get(), re2_options);
  if (!compiled->ok()) {
    return error_at(
        file, node,
        cat(label, " text is not a valid RE2 expression: ", escape_for_message(compiled->error())));
  }
  rule.text = std::move(compiled);
  return absl::OkStatus();
}

// action (required) and duration (required by the suspensions, refused by bounce).
absl::Status RulesBuilder::read_action(const RulesFile& file, const toml::table& table,
                                       std::string_view label, ReplyRule& rule) const {
  const toml::node* action = table.get("action");
  if (action == nullptr) {
    return error_at(file, table.source().begin,
                    cat(label,
                        " needs an action: throttle, suspend_destination, suspend_source, "
                        "retry or bounce"));
  }
  const toml::value<std::string>* action_text = action->as_string();
  const auto found =
      std::find_if(action_names.begin(), action_names.end(), [&](const ActionName& entry) {
        return action_text != nullptr && entry.name == action_text->get();
      });
  if (found == action_names.end()) {
    std::string message = cat(label,
                              " action must be throttle, suspend_destination, "
                              "suspend_source, retry or bounce");
    if (action_text != nullptr) {
      std::array<std::string_view, action_names.size()> known;
      for (std::size_t i = 0; i < known.size(); ++i) known[i] = action_names[i].name;
      if (std::optional<std::string_view> suggestion =
              nearest_known_name(action_text->get(), known)) {
        append(message, "; did you mean \"", *suggestion, "\"?");
      }
    }
    return error_at(file, *action, message);
  }
  rule.action = found->action;
  const bool suspends =
      rule.action == ReplyAction::suspend_destination || rule.action == ReplyAction::suspend_source;
  if (const toml::node* duration = table.get("duration")) {
    if (rule.action == ReplyAction::bounce) {
      return error_at(file, *duration, cat(label, ": a bounce takes no duration"));
    }
    std::uint64_t duration_ms = 0;
    if (absl::Status s = read_duration(file, *duration, cat(label, " duration"),
                                       action_duration_ms_max, duration_ms);
        !s.ok()) {
      return s;
    }
    rule.duration_ms = static_cast<std::int64_t>(duration_ms);
  } else if (suspends) {
    return error_at(file, table.source().begin,
                    cat(label, ": ", found->name, " needs a duration, e.g. duration = \"1h\""));
  }
  return absl::OkStatus();
}

// destination: the destinations the rule applies to (every one when absent).
absl::Status RulesBuilder::read_rule_scope(const RulesFile& file, const toml::node& scope,
                                           std::string_view label, ReplyRule& rule) const {
  std::vector<std::pair<std::string, const toml::node*>> names;
  if (absl::Status s = read_names(file, scope, cat(label, " destination"), names); !s.ok()) {
    return s;
  }
  for (const auto& [name, node] : names) {
    const Destination* destination = rules_.find_destination(name);
    if (destination == nullptr) {
      return error_at(file, *node,
                      cat(label, " destination \"", escape_for_message(name),
                          "\" is not a [destination.NAME] table"));
    }
    rule.destinations.push_back(destination->index);
  }
  return absl::OkStatus();
}

absl::Status RulesBuilder::read_reply_rules(const RulesFile& file,
                                            std::set<std::string>& names_taken) {
  const toml::node* node = file.root.get("reply");
  if (node == nullptr) return absl::OkStatus();
  const toml::array* tables = node->as_array();
  if (tables == nullptr || !tables->is_array_of_tables()) {
    return error_at(file, *node, "reply rules must be written as [[reply]] tables");
  }
  std::set<std::string> names_here;
  for (const toml::node& element : *tables) {
    ReplyRule rule;
    if (absl::Status s = read_reply_rule(file, *element.as_table(), rule); !s.ok()) return s;
    if (!names_here.insert(rule.name).second) {
      return error_at(file, element,
                      cat("[[reply]] name \"", rule.name, "\" is used twice in this file"));
    }
    if (!file.is_job && names_taken.contains(rule.name)) continue;  // the job replaced it
    if (rules_.reply_rules.size() >= reply_rules_max) {
      return error_at(file, element, cat("at most ", reply_rules_max, " reply rules are allowed"));
    }
    rules_.reply_rules.push_back(std::move(rule));
  }
  if (file.is_job) names_taken = std::move(names_here);
  return absl::OkStatus();
}

absl::StatusOr<ShapingRules> RulesBuilder::build() {
  rules_.rollup = options_.rollup;
  Destination fallback;
  fallback.name = "default";
  fallback.index = 0;
  fallback.warmup = "none";
  fallback.defined_at = "built in";
  rules_.destinations.push_back(std::move(fallback));
  domains_from_.emplace_back();
  mx_from_.emplace_back();

  for (const RulesFile& file : files_) {
    const toml::key* first_unknown = nullptr;
    for (auto&& [key, node] : file.root) {
      if (std::find(top_level_keys.begin(), top_level_keys.end(), key.str()) !=
          top_level_keys.end()) {
        continue;
      }
      if (first_unknown == nullptr ||
          is_before(key.source().begin, first_unknown->source().begin)) {
        first_unknown = &key;
      }
    }
    if (first_unknown != nullptr) {
      std::string message = cat("unknown key '", escape_for_message(first_unknown->str()),
                                "'; a rules file holds [destination.NAME] tables, [warmup] and "
                                "[[reply]] rules");
      if (std::optional<std::string_view> suggestion =
              nearest_known_name(first_unknown->str(), top_level_keys)) {
        append(message, "; did you mean '", *suggestion, "'?");
      }
      return error_at(file, first_unknown->source().begin, message);
    }
    if (absl::Status s = read_warmup(file); !s.ok()) return s;
  }
  // "default" first in every file, so that the destinations created after it inherit it whole.
  for (const RulesFile& file : files_) {
    const toml::node* tables = file.root.get("destination");
    const toml::table* table = tables != nullptr && tables->is_table()
                                   ? tables->as_table()->get_as<toml::table>("default")
                                   : nullptr;
    if (table != nullptr) {
      if (absl::Status s = apply(file, *table, rules_.destinations.front()); !s.ok()) return s;
    }
  }
  // Destinations keep what they set in one file when another file sets other keys; keys set
  // in neither come from "default" as it stood after every file's default was applied.
  for (const RulesFile& file : files_) {
    if (absl::Status s = read_destination_tables(file); !s.ok()) return s;
  }
  if (absl::Status s = claim_domains(); !s.ok()) return s;

  std::set<std::string> job_rule_names;
  // Job rules come first (files_ holds the shipped file first).
  for (auto it = files_.rbegin(); it != files_.rend(); ++it) {
    if (absl::Status s = read_reply_rules(*it, job_rule_names); !s.ok()) return s;
  }
  for (std::uint32_t i = 0; i < rules_.reply_rules.size(); ++i) {
    const ReplyRule& rule = rules_.reply_rules[i];
    for (Destination& destination : rules_.destinations) {
      if (rule.destinations.empty() || std::find(rule.destinations.begin(), rule.destinations.end(),
                                                 destination.index) != rule.destinations.end()) {
        destination.reply_rules.push_back(i);
      }
    }
  }
  HAYATE_ASSERT(!rules_.destinations.empty() && rules_.destinations.front().name == "default");
  return std::move(rules_);
}

namespace {

absl::Status parse_file(std::string_view text, std::string label, bool is_job,
                        std::vector<RulesFile>& files) {
  if (text.size() > rules_file_bytes_max) {
    return absl::InvalidArgumentError(cat(label, ": the rules file is ", text.size(),
                                          " bytes; at most ", rules_file_bytes_max,
                                          " are allowed"));
  }
  RulesFile file;
  file.label = std::move(label);
  file.is_job = is_job;
  try {
    file.root = toml::parse(text, std::string_view(file.label));
  } catch (const toml::parse_error& error) {
    const toml::source_position& where = error.source().begin;
    return absl::InvalidArgumentError(cat(file.label, ":", where.line, ":", where.column,
                                          ": invalid TOML: ", error.description()));
  }
  files.push_back(std::move(file));
  return absl::OkStatus();
}

absl::StatusOr<ShapingRules> load(std::string_view shipped_toml,
                                  std::optional<std::string_view> job_toml,
                                  std::string_view job_label, const RulesOptions& options) {
  std::vector<RulesFile> files;
  files.reserve(2);
  if (absl::Status s = parse_file(shipped_toml, "default_rules.toml (shipped)", false, files);
      !s.ok()) {
    return s;
  }
  if (job_toml) {
    if (absl::Status s = parse_file(*job_toml, std::string(job_label), true, files); !s.ok()) {
      return s;
    }
  }
  RulesBuilder builder(files, options);
  return builder.build();
}

}  // namespace

ReplyRule::ReplyRule() = default;
ReplyRule::~ReplyRule() = default;
ReplyRule::ReplyRule(ReplyRule&&) noexcept = default;
ReplyRule& ReplyRule::operator=(ReplyRule&&) noexcept = default;

bool ReplyRule::matches(std::uint16_t code, std::string_view enhanced,
                        std::string_view reply_text) const {
  if (!codes.empty() && std::none_of(codes.begin(), codes.end(), [&](const CodeRange& range) {
        return code >= range.min && code <= range.max;
      })) {
    return false;
  }
  if (!enhanced_prefix.empty()) {
    if (!enhanced.starts_with(enhanced_prefix)) return false;
    if (enhanced.size() > enhanced_prefix.size() && enhanced[enhanced_prefix.size()] != '.') {
      return false;  // "4.7.2" is not a prefix of 4.7.28
    }
  }
  if (text != nullptr) {
    return RE2::PartialMatch(re2::StringPiece(reply_text.data(), reply_text.size()), *text);
  }
  return true;
}

const Destination& ShapingRules::match_destination(std::string_view recipient_domain,
                                                   absl::Span<const std::string> mx_hosts) const {
  HAYATE_ASSERT(!destinations.empty());
  std::array<char, 256> buffer;
  const std::string_view domain = lower_into(recipient_domain, buffer);
  if (!domain.empty()) {
    if (const std::uint32_t* index = find_key(exact_domains_, domain)) return destinations[*index];
    if (!subdomain_suffixes_.empty()) {
      for (std::size_t dot = domain.find('.'); dot != std::string_view::npos;
           dot = domain.find('.', dot + 1)) {
        if (const std::uint32_t* index = find_key(subdomain_suffixes_, domain.substr(dot + 1))) {
          return destinations[*index];
        }
      }
    }
    const std::size_t first_dot = domain.find('.');
    if (first_dot != std::string_view::npos && first_dot + 1 < domain.size()) {
      if (const std::uint32_t* index = find_key(first_labels_, domain.substr(0, first_dot))) {
        return destinations[*index];
      }
    }
  }
  if (rollup && !mx_suffixes_.empty()) {
    for (const std::string& mx_host : mx_hosts) {
      std::array<char, 256> host_buffer;
      std::string_view host = lower_into(mx_host, host_buffer);
      while (!host.empty()) {
        if (const std::uint32_t* index = find_key(mx_suffixes_, host)) {
          return destinations[*index];
        }
        const std::size_t dot = host.find('.');
        if (dot == std::string_view::npos) break;
        host.remove_prefix(dot + 1);
      }
    }
  }
  return destinations.front();
}

const Destination* ShapingRules::find_destination(std::string_view name) const {
  for (const Destination& destination : destinations) {
    if (destination.name == name) return &destination;
  }
  return nullptr;
}

const ReplyRule* ShapingRules::match_reply(const Destination& destination, std::uint16_t code,
                                           std::string_view enhanced, std::string_view text) const {
  HAYATE_ASSERT(destination.index < destinations.size());
  for (std::uint32_t index : destination.reply_rules) {
    HAYATE_ASSERT(index < reply_rules.size());
    if (reply_rules[index].matches(code, enhanced, text)) return &reply_rules[index];
  }
  return nullptr;
}

absl::StatusOr<ShapingRules> load_rules_text(std::string_view shipped_toml,
                                             std::string_view job_toml, std::string_view job_label,
                                             const RulesOptions& options) {
  return load(shipped_toml, job_toml, job_label, options);
}

absl::StatusOr<ShapingRules> load_rules(std::string_view shipped_toml,
                                        const std::string* job_rules_path,
                                        const RulesOptions& options) {
  if (job_rules_path == nullptr) return load(shipped_toml, std::nullopt, "", options);
  std::ifstream in(*job_rules_path, std::ios::binary);
  if (!in) {
    const std::string message =
        cat(*job_rules_path, ": cannot open the rules file: ", std::strerror(errno));
    return errno == ENOENT ? absl::NotFoundError(message) : absl::InvalidArgumentError(message);
  }
  std::string contents;
  char chunk[65536];
  while (in.read(chunk, sizeof(chunk)) || in.gcount() > 0) {
    contents.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (contents.size() > rules_file_bytes_max) {
      return absl::InvalidArgumentError(
          cat(*job_rules_path, ": the rules file is larger than ", rules_file_bytes_max, " bytes"));
    }
  }
  if (in.bad()) {
    return absl::InvalidArgumentError(cat(*job_rules_path, ": cannot read the rules file"));
  }
  return load(shipped_toml, std::string_view(contents), *job_rules_path, options);
}

std::string reply_text_for_rules(const smtp::Reply& reply) {
  const std::string enhanced = reply.enhanced.to_string();
  std::string out;
  smtp::for_each_reply_line(reply.raw, [&](std::string_view line) {
    if (!enhanced.empty() && line.starts_with(enhanced) &&
        (line.size() == enhanced.size() || line[enhanced.size()] == ' ')) {
      line.remove_prefix(enhanced.size());
    }
    line = trim_front(line, " ");
    if (line.empty()) return;
    if (!out.empty()) out += ' ';
    out.append(line.substr(0, reply_text_bytes_max));
  });
  if (out.size() > reply_text_bytes_max) out.resize(reply_text_bytes_max);
  return out;
}

std::uint32_t shard_of(std::string_view address, std::string_view domain, const ShapingRules& rules,
                       std::uint32_t shard_count) {
  const bool named = rules.match_destination(domain, {}).index != 0;
  const std::string_view key = named ? address : domain;
  return static_cast<std::uint32_t>(std::hash<std::string_view>{}(key) % shard_count);
}

}  // namespace hayate::campaign::delivery
