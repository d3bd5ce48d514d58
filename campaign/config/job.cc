// Loads a job file: toml++ parses the syntax, then every table and key is checked here so that
// a job either loads whole or fails with "file:line:column: what is wrong". Nothing else in
// hayate reads TOML; the rest of the campaign sees only the checked JobConfig.
#include "campaign/config/job.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "campaign/bounce/suppression.h"
#include "campaign/config/state_dir.h"
#include "campaign/config/toml_names.h"
#include "campaign/config/toml_values.h"
#include "campaign/limits.h"
#include "campaign/message/message.h"
#include "engine/assert.h"
#include "engine/files.h"
#include "engine/strings.h"

// The installed toml++ is a compiled library built with exceptions (its symbols live in
// toml::v3::ex), so parse errors arrive as toml::parse_error and must be caught.
static_assert(TOML_EXCEPTIONS, "job.cc expects toml++ with exceptions (toml::parse_error)");

namespace hayate::campaign::inline config {
namespace {

// Capacities of a job file. They bound what a hostile or mistaken file can make us allocate;
// real jobs are a few hundred bytes.
constexpr std::size_t job_file_bytes_max = 1 << 20;
constexpr std::size_t password_file_bytes_max = 64 * 1024;  // a password and a line break
constexpr std::int64_t connections_limit = 1'000'000;       // connections_max, per domain
constexpr std::int64_t messages_per_connection_limit = 1'000'000;
constexpr std::uint64_t timeout_ms_max = 86'400'000;              // 1 day, for each SMTP timeout
constexpr std::uint64_t retry_delay_ms_max = 30 * 86'400'000ULL;  // 30 days
constexpr std::uint64_t deadline_ms_max = 30 * 86'400'000ULL;     // 30 days
constexpr std::uint64_t max_age_ms_max = 30 * 86'400'000ULL;      // 30 days
constexpr std::size_t retry_schedule_entries_max = 64;
constexpr std::size_t headers_max = 64;
constexpr std::size_t routes_max = 10'000;
constexpr std::size_t dns_servers_max = 16;
constexpr std::uint16_t dns_port = 53;
constexpr std::uint16_t smtp_port = 25;
static_assert(retry_delay_ms_max <= std::numeric_limits<std::uint32_t>::max());
static_assert(timeout_ms_max <= std::numeric_limits<std::uint32_t>::max());

constexpr std::array<std::string_view, 12> table_names = {
    "campaign", "delivery", "routes",   "dns",     "domains", "relay",
    "verp",     "dkim",     "schedule", "shaping", "sources", "suppression"};
constexpr std::array<std::string_view, 7> dkim_keys = {
    "domain", "selector", "key", "algorithm", "canonicalization", "headers", "oversign"};
constexpr std::array<std::string_view, 3> verp_keys = {"prefix", "domain", "secret_file"};
constexpr std::array<std::string_view, 5> schedule_keys = {"start_at", "stop_at", "windows", "days",
                                                           "timezone"};
constexpr std::array<std::string_view, 15> campaign_keys = {"id",
                                                            "recipients",
                                                            "from",
                                                            "envelope_from",
                                                            "reply_to",
                                                            "subject",
                                                            "text",
                                                            "html",
                                                            "headers",
                                                            "list_unsubscribe",
                                                            "list_unsubscribe_mailto",
                                                            "feedback_id",
                                                            "encoding",
                                                            "template_encoding",
                                                            "charset"};
constexpr std::array<std::string_view, 18> delivery_keys = {"helo",
                                                            "tls",
                                                            "ca_file",
                                                            "connections_max",
                                                            "connections_per_domain",
                                                            "messages_per_connection",
                                                            "shards",
                                                            "port",
                                                            "connect_timeout",
                                                            "command_timeout",
                                                            "data_timeout",
                                                            "retry_schedule",
                                                            "retry_first_delay",
                                                            "retry_factor",
                                                            "retry_max_delay",
                                                            "retry_jitter",
                                                            "max_age",
                                                            "deadline"};
constexpr std::array<std::string_view, 1> dns_keys = {"servers"};
constexpr std::array<std::string_view, 4> route_keys = {"host", "port", "tls", "implicit_tls"};
constexpr std::array<std::string_view, 1> domain_keys = {"tls"};
constexpr std::array<std::string_view, 7> relay_keys = {
    "host", "port", "tls", "implicit_tls", "username", "password_file", "allow_plaintext_auth"};

// Headers [campaign.headers] may not set, and why (the error reads "[campaign.headers] 'NAME'
// WHY"). The message composer writes some itself (campaign/message/message.h), and a second
// copy would make the message ambiguous (RFC 5322 3.6: at most one of each); others would
// mislead every recipient or the servers on the way. A name ending in '-' covers every header
// that starts with it. The first match is the one reported.
struct ReservedHeader {
  std::string_view name;
  std::string_view why;
};
constexpr std::array<ReservedHeader, 17> reserved_headers = {{
    {"From", "would duplicate a header hayate writes; set it with [campaign] from"},
    {"To", "would duplicate a header hayate writes; it is each recipient's address"},
    {"Subject", "would duplicate a header hayate writes; set it with [campaign] subject"},
    {"Date", "would duplicate a header hayate writes; hayate writes it"},
    {"Message-ID", "would duplicate a header hayate writes; hayate writes it"},
    {"MIME-Version", "would duplicate a header hayate writes; hayate writes it"},
    {"Content-Type", "would duplicate a header hayate writes; hayate writes it from text and html"},
    {"Content-Transfer-Encoding", "would duplicate a header hayate writes; hayate writes it"},
    // RFC 2045 9: every Content-* header describes the MIME body, which the composer builds.
    {"Content-", "would describe a MIME body hayate builds from text and html (RFC 2045 9)"},
    // RFC 5321 4.4: Return-Path is added by the final delivery server, never by a sender.
    {"Return-Path",
     "would duplicate a header hayate writes; the receiving server adds it from envelope_from"},
    // RFC 5322 3.6.3: Bcc and Cc are shown to recipients; hayate sends each message to one row.
    {"Bcc",
     "would go to every recipient with the message, showing them the addresses it names; "
     "hayate sends to the recipients file only"},
    {"Cc",
     "would show every recipient addresses this message is not sent to; hayate sends to the "
     "recipients file only"},
    {"DKIM-Signature", "is written when the message is signed; sign with a [[dkim]] table"},
    // Trace and delivery headers: added by the servers a message passes, never by its sender.
    {"Received", "is a trace header that each receiving server adds (RFC 5321 4.4)"},
    {"Delivered-To", "is added at final delivery; a receiver would take the message for a loop"},
    {"Authentication-Results", "is the receiving server's verdict (RFC 8601), not the sender's"},
    {"ARC-", "is added by the servers that forward a message (RFC 8617)"},
}};

bool is_reserved(const ReservedHeader& reserved, std::string_view name) {
  if (!reserved.name.ends_with('-')) return hayate::equals_ignoring_case(name, reserved.name);
  return name.size() > reserved.name.size() &&
         hayate::equals_ignoring_case(name.substr(0, reserved.name.size()), reserved.name);
}

using hayate::append;
using hayate::cat;

bool contains(std::span<const std::string_view> names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_position_before(const toml::source_position& a, const toml::source_position& b) {
  return a.line < b.line || (a.line == b.line && a.column < b.column);
}

// Describes the first control character of `text` (CR and LF named), or "" when none. TAB is
// allowed: it is folding white space in headers (RFC 5322 3.2.2).
std::string control_character(std::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == '\r' || byte == '\n') return "CR or LF";
    if ((byte < 0x20 && byte != '\t') || byte == 0x7f) {
      return cat("control character ", escape_for_message(std::string_view(&c, 1)));
    }
  }
  return "";
}

// RFC 1123 2.1 host name: LDH labels of 1 to 63 octets, 253 in all, no hyphen at either end
// of a label. An all-numeric last label means a mistyped IPv4 address, not a name.
bool is_host_name(std::string_view name) {
  if (name.empty() || name.size() > limits::domain_bytes_max) return false;
  std::size_t label_start = 0;
  bool last_label_numeric = true;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      const std::string_view label = name.substr(label_start, i - label_start);
      if (label.empty() || label.size() > limits::label_bytes_max) return false;
      if (label.front() == '-' || label.back() == '-') return false;
      last_label_numeric =
          std::all_of(label.begin(), label.end(), [](char c) { return absl::ascii_isdigit(c); });
      label_start = i + 1;
      continue;
    }
    if (!absl::ascii_isalnum(static_cast<unsigned char>(name[i])) && name[i] != '-') {
      return false;
    }
  }
  return !last_label_numeric;
}

// The canonical text of an IPv4 or IPv6 address, or nullopt when `text` is neither.
std::optional<std::string> canonical_ip(std::string_view text, int family) {
  if (text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string input(text);
  unsigned char binary[sizeof(in6_addr)];
  if (inet_pton(family, input.c_str(), binary) != 1) return std::nullopt;
  char output[INET6_ADDRSTRLEN];
  HAYATE_ASSERT(inet_ntop(family, binary, output, sizeof(output)) != nullptr);
  return std::string(output);
}

bool parse_port(std::string_view text, std::uint16_t& port, std::string& error) {
  std::uint32_t value = 0;
  const bool digits =
      !text.empty() && text.size() <= 5 && std::all_of(text.begin(), text.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      });
  if (digits) {
    for (char c : text) value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (!digits || value == 0 || value > 65535) {
    error = cat("port '", text, "' is not a number from 1 to 65535");
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

// "ip", "ip:port", "[ipv6]", "[ipv6]:port", and with `allow_host_name` also "host[:port]".
bool parse_endpoint(std::string_view text, std::uint16_t default_port, bool allow_host_name,
                    Endpoint& endpoint, std::string& error) {
  endpoint.port = default_port;
  std::string_view host = text;
  if (text.empty()) {
    error = "it is empty";
    return false;
  }
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      error = "missing ']' after the IPv6 address";
      return false;
    }
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        error = "expected ':port' after ']'";
        return false;
      }
      if (!parse_port(rest.substr(1), endpoint.port, error)) return false;
    }
    std::optional<std::string> ip = canonical_ip(text.substr(1, close - 1), AF_INET6);
    if (!ip) {
      error = cat("'", text.substr(1, close - 1), "' is not an IPv6 address");
      return false;
    }
    endpoint.host = std::move(*ip);
    return true;
  }
  const std::size_t colon = text.find(':');
  if (colon != std::string_view::npos) {
    if (text.find(':', colon + 1) != std::string_view::npos) {
      error = "write an IPv6 address in brackets, e.g. [::1]:25";
      return false;
    }
    host = text.substr(0, colon);
    if (!parse_port(text.substr(colon + 1), endpoint.port, error)) return false;
  }
  if (std::optional<std::string> ip = canonical_ip(host, AF_INET)) {
    endpoint.host = std::move(*ip);
    return true;
  }
  if (allow_host_name && is_host_name(host)) {
    endpoint.host = lower(host);
    return true;
  }
  error = allow_host_name ? cat("'", host, "' is not an IP address or a host name")
                          : cat("'", host, "' is not an IP address");
  return false;
}

// RFC 5321 4.1.1.1: EHLO takes a domain or an address literal ("[192.0.2.1]",
// "[IPv6:2001:db8::1]", 4.1.3).
bool is_helo_name(std::string_view name) {
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
    std::string_view inner = name.substr(1, name.size() - 2);
    if (inner.size() >= 5 && hayate::equals_ignoring_case(inner.substr(0, 5), "IPv6:")) {
      return canonical_ip(inner.substr(5), AF_INET6).has_value();
    }
    return canonical_ip(inner, AF_INET).has_value();
  }
  return is_host_name(name);
}

// [[sources]] names and pools: [a-z0-9_-]{1,64}, as the shaping rules name pools.
bool is_source_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// RFC 5322 3.6.8: field-name = 1*ftext, printable US-ASCII except ':'.
bool is_field_name(std::string_view name) {
  if (name.empty() || name.size() > limits::message_line_bytes_max / 2) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 33 && byte <= 126 && byte != ':';
  });
}

// Splits an address-list on commas outside quoted strings and angle brackets (RFC 5322 3.4).
std::vector<std::string_view> split_address_list(std::string_view list) {
  std::vector<std::string_view> parts;
  bool quoted = false;
  bool escaped = false;
  int angle_depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const char c = list[i];
    if (escaped) {
      escaped = false;
    } else if (quoted) {
      if (c == '\\') escaped = true;
      if (c == '"') quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '<') {
      ++angle_depth;
    } else if (c == '>') {
      angle_depth = std::max(0, angle_depth - 1);
    } else if (c == ',' && angle_depth == 0) {
      parts.push_back(list.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(list.substr(start));
  return parts;
}

// Reads the checked fields out of a parsed document. Each method returns the first error
// found, located at the key or value it concerns.
class JobReader {
 public:
  JobReader(const std::string& path, JobConfig& job) : path_(path), job_(job) {}

  absl::Status read(const toml::table& root);

 private:
  // A store's default path: `beside` in the job's folder when such a file is there (a store
  // from before the state directory: kept, with a notice), else `name` in the state directory.
  std::string default_store(std::string_view beside, std::string_view name) {
    const std::filesystem::path old = std::filesystem::path(job_.base_dir) / beside;
    struct stat info {};
    if (lstat(old.c_str(), &info) == 0 && S_ISREG(info.st_mode)) {
      job_.stores_beside_job.push_back(old.string());
      return old.string();
    }
    return (std::filesystem::path(job_.state_dir) / name).string();
  }
  // "job.toml:12:5: message", or "job.toml: message" when there is no position.
  std::string located(const toml::source_position& where, std::string_view message) const {
    if (where.line == 0) return cat(path_, ": ", message);
    return cat(path_, ":", where.line, ":", where.column, ": ", message);
  }
  absl::Status error_at(const toml::source_position& where, std::string_view message) const {
    return absl::InvalidArgumentError(located(where, message));
  }
  absl::Status error_at(const toml::node& node, std::string_view message) const {
    return error_at(node.source().begin, message);
  }

  absl::Status check_top_level(const toml::table& root) const;
  absl::Status check_keys(const toml::table& table, std::string_view table_name,
                          std::span<const std::string_view> known) const;
  absl::Status find_table(const toml::table& root, std::string_view name,
                          const toml::table*& table) const;

  // Typed look-ups: a null result means the key is absent; a present key of another type is
  // an error.
  absl::Status find_string(const toml::table& table, std::string_view table_name,
                           std::string_view key, const toml::value<std::string>*& value) const;
  absl::Status require_string(const toml::table& table, std::string_view table_name,
                              std::string_view key, const toml::value<std::string>*& value) const;
  absl::Status read_integer(const toml::table& table, std::string_view table_name,
                            std::string_view key, std::int64_t min, std::int64_t max,
                            std::int64_t& out, bool* present = nullptr) const;
  absl::Status read_bool(const toml::table& table, std::string_view label, std::string_view key,
                         bool& out) const;
  absl::Status read_backoff(const toml::table& delivery);
  absl::Status read_duration(const toml::node& node, std::string_view label, std::uint64_t max_ms,
                             std::uint64_t& out_ms) const;
  absl::Status read_timeout(const toml::table& table, std::string_view key,
                            std::uint32_t& out_ms) const;
  absl::Status check_file(const toml::value<std::string>& value, std::string_view label,
                          std::string& resolved) const;
  absl::Status check_header_text(const toml::node& node, std::string_view label,
                                 std::string_view text) const;

  absl::Status read_campaign(const toml::table& table);
  absl::Status read_encodings(const toml::table& table);
  absl::Status read_from(const toml::table& table);
  absl::Status read_headers(const toml::table& table);
  absl::Status read_delivery(const toml::table* table);
  absl::Status read_helo(const toml::table& delivery);
  absl::Status read_connection_limits(const toml::table& delivery);
  absl::Status read_retry_schedule(const toml::table& delivery);
  absl::Status read_routes(const toml::table& table);
  absl::Status read_dns(const toml::table& table);
  absl::Status read_domains(const toml::table& table);
  absl::Status read_relay(const toml::table& table);
  absl::Status read_verp(const toml::table& table);
  absl::Status read_dkim(const toml::node& node);
  absl::Status read_schedule(const toml::node& node);
  absl::Status read_shaping(const toml::table& root);
  absl::Status read_shaping_table(const toml::table& shaping);
  absl::Status read_sources(const toml::node& sources);
  absl::Status read_source(const toml::table& table, JobConfig::Source& source) const;
  absl::Status read_suppression(const toml::node* node);
  absl::Status read_header_names(const toml::table& table, std::string_view label,
                                 std::string_view key, std::vector<std::string>& names) const;
  absl::Status read_unsubscribe(const toml::table& table);
  absl::Status read_tls_mode(const toml::node& node, std::string_view label, TlsMode& mode) const;
  absl::Status read_route_table(const toml::table& table, std::string_view label,
                                Route& route) const;
  absl::Status read_domain_key(const toml::key& key, std::string_view table_name,
                               std::string& domain) const;

  const std::string& path_;
  JobConfig& job_;
};

absl::Status JobReader::read(const toml::table& root) {
  if (absl::Status status = check_top_level(root); !status.ok()) return status;

  const toml::table* campaign = nullptr;
  const toml::table* delivery = nullptr;
  const toml::table* routes = nullptr;
  const toml::table* dns = nullptr;
  const toml::table* domains = nullptr;
  const toml::table* relay = nullptr;
  const toml::table* verp = nullptr;
  for (auto [name, table] :
       {std::pair{"campaign", &campaign}, std::pair{"delivery", &delivery},
        std::pair{"routes", &routes}, std::pair{"dns", &dns}, std::pair{"domains", &domains},
        std::pair{"relay", &relay}, std::pair{"verp", &verp}}) {
    if (absl::Status status = find_table(root, name, *table); !status.ok()) return status;
  }
  if (campaign == nullptr) {
    return error_at(toml::source_position{}, "missing table [campaign]");
  }
  if (absl::Status status = read_campaign(*campaign); !status.ok()) return status;
  if (absl::Status status = read_delivery(delivery); !status.ok()) return status;
  if (routes != nullptr) {
    if (absl::Status status = read_routes(*routes); !status.ok()) return status;
  }
  if (dns != nullptr) {
    if (absl::Status status = read_dns(*dns); !status.ok()) return status;
  }
  if (domains != nullptr) {
    if (absl::Status status = read_domains(*domains); !status.ok()) return status;
  }
  if (relay != nullptr) {
    if (absl::Status status = read_relay(*relay); !status.ok()) return status;
  }
  if (verp != nullptr) {
    if (absl::Status status = read_verp(*verp); !status.ok()) return status;
  }
  if (const toml::node* dkim = root.get("dkim")) {
    if (absl::Status status = read_dkim(*dkim); !status.ok()) return status;
  }
  if (const toml::node* schedule = root.get("schedule")) {
    if (absl::Status status = read_schedule(*schedule); !status.ok()) return status;
  }
  if (absl::Status status = read_suppression(root.get("suppression")); !status.ok()) {
    return status;
  }
  return read_shaping(root);
}

absl::Status JobReader::check_top_level(const toml::table& root) const {
  const toml::key* first_unknown = nullptr;
  for (auto&& [key, node] : root) {
    if (contains(table_names, key.str())) continue;
    if (first_unknown == nullptr ||
        is_position_before(key.source().begin, first_unknown->source().begin)) {
      first_unknown = &key;
    }
  }
  if (first_unknown == nullptr) return absl::OkStatus();

  const std::string_view name = first_unknown->str();
  const toml::node& node = *root.get(name);
  if (node.is_table()) {
    std::string message = cat("unknown table [", escape_for_message(name), "]");
    if (std::optional<std::string_view> suggestion = nearest_known_name(name, table_names)) {
      append(message, "; did you mean [", *suggestion, "]?");
    } else {
      append(message, "; the tables are [campaign], [delivery], [routes] and [dns]");
    }
    return error_at(first_unknown->source().begin, message);
  }
  // A key before any table header: usually a missing [table] line above it.
  std::string message = cat("unknown key '", escape_for_message(name), "' at top level");
  if (contains(campaign_keys, name)) {
    append(message, "; it belongs in [campaign]");
  } else if (contains(delivery_keys, name)) {
    append(message, "; it belongs in [delivery]");
  } else if (contains(dns_keys, name)) {
    append(message, "; it belongs in [dns]");
  } else if (std::optional<std::string_view> suggestion = nearest_known_name(name, table_names)) {
    append(message, "; did you mean [", *suggestion, "]?");
  }
  return error_at(first_unknown->source().begin, message);
}

absl::Status JobReader::check_keys(const toml::table& table, std::string_view table_name,
                                   std::span<const std::string_view> known) const {
  const toml::key* first_unknown = nullptr;
  for (auto&& [key, node] : table) {
    if (contains(known, key.str())) continue;
    if (first_unknown == nullptr ||
        is_position_before(key.source().begin, first_unknown->source().begin)) {
      first_unknown = &key;
    }
  }
  if (first_unknown == nullptr) return absl::OkStatus();

  const std::string_view name = first_unknown->str();
  std::string message = cat("unknown key '", escape_for_message(name), "' in [", table_name, "]");
  if (std::optional<std::string_view> suggestion = nearest_known_name(name, known)) {
    append(message, "; did you mean '", *suggestion, "'?");
  } else if (table_name != "campaign" && contains(campaign_keys, name)) {
    append(message, "; it belongs in [campaign]");
  } else if (table_name != "delivery" && contains(delivery_keys, name)) {
    append(message, "; it belongs in [delivery]");
  } else if (table_name != "dns" && contains(dns_keys, name)) {
    append(message, "; it belongs in [dns]");
  }
  return error_at(first_unknown->source().begin, message);
}

absl::Status JobReader::find_table(const toml::table& root, std::string_view name,
                                   const toml::table*& table) const {
  table = nullptr;
  const toml::node* node = root.get(name);
  if (node == nullptr) return absl::OkStatus();
  table = node->as_table();
  if (table == nullptr) {
    return error_at(*node, cat("[", name, "] must be a table, got ", toml_type_name(node->type())));
  }
  return absl::OkStatus();
}

absl::Status JobReader::find_string(const toml::table& table, std::string_view table_name,
                                    std::string_view key,
                                    const toml::value<std::string>*& value) const {
  value = nullptr;
  const toml::node* node = table.get(key);
  if (node == nullptr) return absl::OkStatus();
  value = node->as_string();
  if (value == nullptr) {
    return error_at(*node, cat("[", table_name, "] ", key, " must be a string, got ",
                               toml_type_name(node->type())));
  }
  return absl::OkStatus();
}

absl::Status JobReader::require_string(const toml::table& table, std::string_view table_name,
                                       std::string_view key,
                                       const toml::value<std::string>*& value) const {
  if (absl::Status status = find_string(table, table_name, key, value); !status.ok()) {
    return status;
  }
  if (value == nullptr) {
    return error_at(table.source().begin,
                    cat("[", table_name, "] is missing required key '", key, "'"));
  }
  if (value->get().empty()) {
    return error_at(*value, cat("[", table_name, "] ", key, " must not be empty"));
  }
  return absl::OkStatus();
}

// [delivery] retry_first_delay, retry_factor, retry_max_delay, retry_jitter, max_age.
absl::Status JobReader::read_backoff(const toml::table& delivery) {
  shaping::BackoffConfig& backoff = job_.retry_backoff;
  for (auto [key, out] : {std::pair{"retry_first_delay", &backoff.first_delay_ms},
                          std::pair{"retry_max_delay", &backoff.max_delay_ms},
                          std::pair{"max_age", &backoff.max_age_ms}}) {
    const toml::node* node = delivery.get(key);
    if (node == nullptr) continue;
    std::uint64_t duration_ms = 0;
    if (absl::Status status = read_duration(
            *node, cat("[delivery] ", key),
            std::string_view(key) == "max_age" ? max_age_ms_max : retry_delay_ms_max, duration_ms);
        !status.ok()) {
      return status;
    }
    *out = static_cast<std::int64_t>(duration_ms);
  }
  if (backoff.max_delay_ms < backoff.first_delay_ms) {
    return error_at(*delivery.get(delivery.contains("retry_max_delay") ? "retry_max_delay"
                                                                       : "retry_first_delay"),
                    cat("[delivery] retry_max_delay (", backoff.max_delay_ms,
                        " ms) is below retry_first_delay (", backoff.first_delay_ms, " ms)"));
  }
  if (const toml::node* node = delivery.get("retry_factor")) {
    const std::optional<double> factor = node->value<double>();
    if (!factor || !(*factor >= 1 && *factor <= 10)) {
      return error_at(*node,
                      "[delivery] retry_factor must be a number from 1 to 10 (2 doubles "
                      "each delay)");
    }
    backoff.factor = *factor;
  }
  if (const toml::node* node = delivery.get("retry_jitter")) {
    const std::optional<std::string_view> jitter = node->value<std::string_view>();
    if (jitter == "none") {
      backoff.jitter = shaping::Jitter::none;
    } else if (jitter == "full") {
      backoff.jitter = shaping::Jitter::full;
    } else if (jitter == "decorrelated") {
      backoff.jitter = shaping::Jitter::decorrelated;
    } else {
      return error_at(*node,
                      "[delivery] retry_jitter must be \"none\", \"full\" or "
                      "\"decorrelated\"");
    }
  }
  return absl::OkStatus();
}

absl::Status JobReader::read_integer(const toml::table& table, std::string_view table_name,
                                     std::string_view key, std::int64_t min, std::int64_t max,
                                     std::int64_t& out, bool* present) const {
  if (present != nullptr) *present = false;
  const toml::node* node = table.get(key);
  if (node == nullptr) return absl::OkStatus();
  const absl::StatusOr<std::int64_t> value =
      read_toml_integer(*node, cat("[", table_name, "] ", key), min, max);
  if (!value.ok()) return error_at(*node, std::string(value.status().message()));
  out = *value;
  if (present != nullptr) *present = true;
  return absl::OkStatus();
}

absl::Status JobReader::read_duration(const toml::node& node, std::string_view label,
                                      std::uint64_t max_ms, std::uint64_t& out_ms) const {
  const absl::StatusOr<std::uint64_t> duration_ms = read_toml_duration_ms(node, label, max_ms);
  if (!duration_ms.ok()) return error_at(node, std::string(duration_ms.status().message()));
  out_ms = *duration_ms;
  return absl::OkStatus();
}

absl::Status JobReader::read_timeout(const toml::table& table, std::string_view key,
                                     std::uint32_t& out_ms) const {
  const toml::node* node = table.get(key);
  if (node == nullptr) return absl::OkStatus();
  std::uint64_t duration_ms = 0;
  if (absl::Status status =
          read_duration(*node, cat("[delivery] ", key), timeout_ms_max, duration_ms);
      !status.ok()) {
    return status;
  }
  out_ms = static_cast<std::uint32_t>(duration_ms);
  return absl::OkStatus();
}

// "[campaign] recipients file", but "[relay] password_file" (the key already says it).
std::string file_label(std::string_view label) {
  return label.ends_with("_file") ? std::string(label) : cat(label, " file");
}

absl::Status JobReader::check_file(const toml::value<std::string>& value, std::string_view label,
                                   std::string& resolved) const {
  const std::string& text = value.get();
  if (std::string problem = control_character(text); !problem.empty()) {
    return error_at(value, cat(label, " must not contain ", problem));
  }
  const std::filesystem::path relative(text);
  resolved =
      relative.is_absolute() ? text : (std::filesystem::path(job_.base_dir) / relative).string();
  const std::string_view where =
      relative.is_absolute() ? "" : " (paths are relative to the job file)";
  struct stat info;
  if (stat(resolved.c_str(), &info) != 0) {
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) {
      return absl::NotFoundError(located(
          value.source().begin, cat(file_label(label), " '", resolved, "' not found", where)));
    }
    return error_at(
        value, cat(file_label(label), " '", resolved, "' cannot be read: ", std::strerror(error)));
  }
  if (S_ISDIR(info.st_mode)) {
    return error_at(value, cat(label, " '", resolved, "' is a directory, not a file"));
  }
  // A FIFO would hang the read (or, for the recipients, the second open the journal's
  // fingerprint makes); a device such as /dev/zero never ends.
  if (!S_ISREG(info.st_mode)) {
    return error_at(value, cat(label, " '", resolved, "' is ", file_type_name(info.st_mode),
                               ", not a regular file"));
  }
  if (access(resolved.c_str(), R_OK) != 0) {
    return error_at(
        value, cat(file_label(label), " '", resolved, "' cannot be read: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// Header text goes to the wire: a CR or LF would let a job (or, once templated, a CSV field)
// inject headers or end the header block (RFC 5322 2.2), so neither is ever accepted.
absl::Status JobReader::check_header_text(const toml::node& node, std::string_view label,
                                          std::string_view text) const {
  if (std::string problem = control_character(text); !problem.empty()) {
    return error_at(node, cat(label, " must not contain ", problem));
  }
  return absl::OkStatus();
}

absl::Status JobReader::read_campaign(const toml::table& table) {
  if (absl::Status status = check_keys(table, "campaign", campaign_keys); !status.ok()) {
    return status;
  }
  const toml::value<std::string>* value = nullptr;

  // id: becomes part of file names and Message-IDs, so a closed alphabet, and not "." or "..".
  if (absl::Status status = require_string(table, "campaign", "id", value); !status.ok()) {
    return status;
  }
  const std::string& id = value->get();
  const bool id_ok = id.size() <= limits::campaign_id_bytes_max && id != "." && id != ".." &&
                     std::all_of(id.begin(), id.end(), [](char c) {
                       return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                              c == '_' || c == '-';
                     });
  if (!id_ok) {
    return error_at(*value, cat("[campaign] id '", escape_for_message(id), "' must be 1 to ",
                                limits::campaign_id_bytes_max,
                                " characters from A-Z a-z 0-9 . _ - (and not '.' or '..')"));
  }
  job_.id = id;

  if (absl::Status status = require_string(table, "campaign", "recipients", value); !status.ok()) {
    return status;
  }
  if (absl::Status status = check_file(*value, "[campaign] recipients", job_.recipients_path);
      !status.ok()) {
    return status;
  }

  if (absl::Status status = read_encodings(table); !status.ok()) return status;

  if (absl::Status status = read_from(table); !status.ok()) return status;
  std::string reason;

  if (absl::Status status = find_string(table, "campaign", "envelope_from", value); !status.ok()) {
    return status;
  }
  job_.envelope_from = job_.from_address;
  if (value != nullptr) {
    if (absl::Status status = check_header_text(*value, "[campaign] envelope_from", value->get());
        !status.ok()) {
      return status;
    }
    // The null reverse-path <> is for delivery reports only (RFC 5321 4.5.5), never a campaign.
    if (!parse_address(value->get(), job_.envelope_from, reason)) {
      return error_at(*value, cat("[campaign] envelope_from '", value->get(),
                                  "' is not a valid address: ", reason));
    }
  }

  if (absl::Status status = find_string(table, "campaign", "reply_to", value); !status.ok()) {
    return status;
  }
  if (value != nullptr) {
    if (absl::Status status = check_header_text(*value, "[campaign] reply_to", value->get());
        !status.ok()) {
      return status;
    }
    for (std::string_view mailbox : split_address_list(value->get())) {
      std::string display_name;
      Address address;
      if (!parse_mailbox(mailbox, display_name, address, reason)) {
        return error_at(*value, cat("[campaign] reply_to '", value->get(),
                                    "' is not a valid mailbox list: ", reason));
      }
    }
    job_.reply_to = value->get();
  }

  if (absl::Status status = require_string(table, "campaign", "subject", value); !status.ok()) {
    return status;
  }
  if (absl::Status status = check_header_text(*value, "[campaign] subject", value->get());
      !status.ok()) {
    return status;
  }
  job_.subject = value->get();
  job_.subject_line = value->source().begin.line;

  for (auto [key, path] :
       {std::pair{"text", &job_.text_path}, std::pair{"html", &job_.html_path}}) {
    if (absl::Status status = find_string(table, "campaign", key, value); !status.ok()) {
      return status;
    }
    if (value == nullptr) continue;
    if (value->get().empty()) {
      return error_at(*value, cat("[campaign] ", key, " must not be empty"));
    }
    if (absl::Status status = check_file(*value, cat("[campaign] ", key), *path); !status.ok()) {
      return status;
    }
  }
  if (job_.text_path.empty() && job_.html_path.empty()) {
    return error_at(table.source().begin,
                    "[campaign] needs a body: set text, html or both (template file names)");
  }

  if (const toml::node* node = table.get("headers")) {
    const toml::table* headers = node->as_table();
    if (headers == nullptr) {
      return error_at(
          *node, cat("[campaign] headers must be a table, got ", toml_type_name(node->type())));
    }
    if (absl::Status status = read_headers(*headers); !status.ok()) return status;
  }
  return read_unsubscribe(table);
}

// from: the mailbox, and with charset = "iso-2022-jp" a display name ISO-2022-JP can carry.
absl::Status JobReader::read_from(const toml::table& table) {
  const toml::value<std::string>* value = nullptr;
  if (absl::Status status = require_string(table, "campaign", "from", value); !status.ok()) {
    return status;
  }
  if (absl::Status status = check_header_text(*value, "[campaign] from", value->get());
      !status.ok()) {
    return status;
  }
  // From is the same for every recipient: a template tag there would go out as written.
  if (value->get().find("{{") != std::string::npos) {
    return error_at(*value, cat("[campaign] from '", value->get(),
                                "' holds a template tag: from is not a template (it is the same "
                                "for every recipient); write the name and address as they are"));
  }
  std::string reason;
  if (!parse_mailbox(value->get(), job_.from_display_name, job_.from_address, reason)) {
    return error_at(*value,
                    cat("[campaign] from '", value->get(), "' is not a valid mailbox: ", reason));
  }
  if (job_.charset == MessageCharset::iso_2022_jp) {
    Iso2022JpEncoder encoder;
    std::string scratch;
    if (std::string problem = iso_2022_jp_problem(encoder, job_.from_display_name, scratch);
        !problem.empty()) {
      return error_at(*value, cat("[campaign] from: ", problem, "; charset = \"iso-2022-jp\""));
    }
  }
  job_.from = value->get();
  return absl::OkStatus();
}

// encoding, template_encoding (text_encoding_choices) and charset ("utf-8", "iso-2022-jp").
absl::Status JobReader::read_encodings(const toml::table& table) {
  const toml::value<std::string>* value = nullptr;
  for (auto [key, out] : {std::pair{"encoding", &job_.recipients_encoding},
                          std::pair{"template_encoding", &job_.template_encoding}}) {
    if (absl::Status status = find_string(table, "campaign", key, value); !status.ok()) {
      return status;
    }
    if (value != nullptr && !parse_text_encoding(value->get(), *out)) {
      return error_at(*value, cat("[campaign] ", key, " '", escape_for_message(value->get()),
                                  "' is not one hayate reads; choose ", text_encoding_choices));
    }
  }
  if (absl::Status status = find_string(table, "campaign", "charset", value); !status.ok()) {
    return status;
  }
  if (value != nullptr) {
    if (hayate::equals_ignoring_case(value->get(), "iso-2022-jp")) {
      job_.charset = MessageCharset::iso_2022_jp;
    } else if (!hayate::equals_ignoring_case(value->get(), "utf-8")) {
      return error_at(*value, cat("[campaign] charset '", escape_for_message(value->get()),
                                  "' must be \"utf-8\" or \"iso-2022-jp\""));
    }
  }
  return absl::OkStatus();
}

absl::Status JobReader::read_unsubscribe(const toml::table& table) {
  const struct {
    std::string_view key;
    std::string* out;
    std::optional<UnsubscribeUri> uri;
    std::string_view header;  // the header it writes, which [campaign.headers] may not repeat
  } fields[] = {
      {"list_unsubscribe", &job_.list_unsubscribe, UnsubscribeUri::https_url, "List-Unsubscribe"},
      {"list_unsubscribe_mailto", &job_.list_unsubscribe_mailto, UnsubscribeUri::mailto,
       "List-Unsubscribe"},
      {"feedback_id", &job_.feedback_id, std::nullopt, "Feedback-ID"},
  };
  for (const auto& field : fields) {
    const toml::value<std::string>* value = nullptr;
    if (absl::Status status = find_string(table, "campaign", field.key, value); !status.ok()) {
      return status;
    }
    if (value == nullptr) continue;
    const std::string label = cat("[campaign] ", field.key);
    if (absl::Status status = check_header_text(*value, label, value->get()); !status.ok()) {
      return status;
    }
    if (field.uri) {
      if (absl::Status status = check_list_unsubscribe_source(value->get(), *field.uri);
          !status.ok()) {
        return error_at(*value, cat(label, ": ", status.message()));
      }
    }
    for (const auto& [name, header_value] : job_.headers) {
      if (hayate::equals_ignoring_case(name, field.header) ||
          (field.uri && hayate::equals_ignoring_case(name, "List-Unsubscribe-Post"))) {
        return error_at(
            *value, cat(label, " writes the ", name, " header; remove it from [campaign.headers]"));
      }
    }
    *field.out = value->get();
  }
  return absl::OkStatus();
}

absl::Status JobReader::read_header_names(const toml::table& table, std::string_view label,
                                          std::string_view key,
                                          std::vector<std::string>& names) const {
  const toml::node* node = table.get(key);
  if (node == nullptr) return absl::OkStatus();
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    return error_at(*node, cat("[", label, "] ", key, " must be an array of header names"));
  }
  names.clear();
  for (const toml::node& element : *array) {
    const toml::value<std::string>* name = element.as_string();
    if (name == nullptr) {
      return error_at(element, cat("[", label, "] ", key, " must be an array of header names"));
    }
    names.push_back(name->get());
  }
  return absl::OkStatus();
}

// [[dkim]] tables: the keys are loaded (and checked) when the campaign opens, so that every
// problem with a key is known before anything is sent.
absl::Status JobReader::read_dkim(const toml::node& node) {
  const toml::array* tables = node.as_array();
  if (tables == nullptr || !tables->is_array_of_tables()) {
    return error_at(node, "dkim must be written as [[dkim]] tables, one per signature");
  }
  for (const toml::node& element : *tables) {
    const toml::table& table = *element.as_table();
    if (absl::Status status = check_keys(table, "[dkim]", dkim_keys); !status.ok()) return status;
    DkimConfig config;
    config.source = cat(path_, ":", table.source().begin.line);
    const toml::value<std::string>* value = nullptr;
    if (absl::Status status = require_string(table, "[dkim]", "domain", value); !status.ok()) {
      return status;
    }
    config.domain = value->get();
    if (absl::Status status = require_string(table, "[dkim]", "selector", value); !status.ok()) {
      return status;
    }
    config.selector = value->get();
    if (absl::Status status = require_string(table, "[dkim]", "key", value); !status.ok()) {
      return status;
    }
    if (absl::Status status = check_file(*value, "[[dkim]] key", config.key_path); !status.ok()) {
      return status;
    }
    if (absl::Status status = find_string(table, "[dkim]", "algorithm", value); !status.ok()) {
      return status;
    }
    if (value != nullptr) {
      config.algorithm = parse_dkim_algorithm(value->get());
      if (!config.algorithm) {
        return error_at(*value, "[[dkim]] algorithm must be \"rsa-sha256\" or \"ed25519-sha256\"");
      }
    }
    if (absl::Status status = find_string(table, "[dkim]", "canonicalization", value);
        !status.ok()) {
      return status;
    }
    if (value != nullptr &&
        !parse_dkim_canonicalization(value->get(), config.header_canon, config.body_canon)) {
      return error_at(*value,
                      "[[dkim]] canonicalization must be like \"relaxed/relaxed\" or "
                      "\"relaxed/simple\" (header/body)");
    }
    if (absl::Status status = read_header_names(table, "[dkim]", "headers", config.headers);
        !status.ok()) {
      return status;
    }
    if (absl::Status status =
            read_header_names(table, "[dkim]", "oversign", config.oversigned_headers);
        !status.ok()) {
      return status;
    }
    job_.dkim.push_back(std::move(config));
  }
  return absl::OkStatus();
}

// [schedule]: when a cron-started run may send (campaign/schedule.h).
absl::Status JobReader::read_schedule(const toml::node& node) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return error_at(node, cat("[schedule] must be a table, got ", toml_type_name(node.type())));
  }
  if (absl::Status status = check_keys(*table, "schedule", schedule_keys); !status.ok()) {
    return status;
  }
  Schedule schedule;
  std::string reason;
  const toml::value<std::string>* zone = nullptr;
  if (absl::Status status = find_string(*table, "schedule", "timezone", zone); !status.ok()) {
    return status;
  }
  if (zone != nullptr) {
    if (!load_time_zone(zone->get(), schedule.time_zone, reason)) {
      return error_at(
          *zone, cat("[schedule] timezone \"", escape_for_message(zone->get()), "\": ", reason));
    }
    schedule.time_zone_name = zone->get();
  }
  // A TOML date-time (with an offset, or local to `timezone`) or an RFC 3339 string.
  for (auto [key, out] :
       {std::pair{"start_at", &schedule.start_at}, std::pair{"stop_at", &schedule.stop_at}}) {
    const toml::node* value = table->get(key);
    if (value == nullptr) continue;
    bool ok = false;
    if (const toml::value<toml::date_time>* written = value->as_date_time()) {
      const toml::date_time& parts = written->get();
      WrittenDateTime fields{parts.date.year,       parts.date.month,  parts.date.day,
                             parts.time.hour,       parts.time.minute, parts.time.second,
                             parts.time.nanosecond, std::nullopt};
      if (parts.offset) fields.offset_minutes = parts.offset->minutes;
      ok = to_time(fields, schedule.time_zone, *out, reason);
    } else if (const toml::value<std::string>* text = value->as_string()) {
      ok = parse_date_time(text->get(), schedule.time_zone, *out, reason);
    } else {
      reason = cat("expected a date-time such as 2026-11-24T09:00:00+09:00, got ",
                   toml_type_name(value->type()));
    }
    if (!ok) return error_at(*value, cat("[schedule] ", key, ": ", reason));
  }
  if (schedule.start_at >= schedule.stop_at) {
    return error_at(
        *table->get("stop_at"),
        cat("[schedule] stop_at (", format_schedule_time(schedule.stop_at, schedule.time_zone),
            ") is not after start_at (",
            format_schedule_time(schedule.start_at, schedule.time_zone), ")"));
  }
  // windows and days: non-empty arrays of strings (leave a key out for "any time", "every day").
  for (std::string_view key : {"windows", "days"}) {
    const toml::node* value = table->get(key);
    if (value == nullptr) continue;
    const toml::array* items = value->as_array();
    if (items == nullptr) {
      return error_at(*value, cat("[schedule] ", key, " must be an array of strings, got ",
                                  toml_type_name(value->type())));
    }
    if (items->empty()) {
      return error_at(*value, cat("[schedule] ", key, " is empty; leave it out to send ",
                                  key == "days" ? "every day" : "at any time of day"));
    }
    if (items->size() > send_windows_max) {
      return error_at(*value, cat("[schedule] ", key, " has ", items->size(), " entries; at most ",
                                  send_windows_max, " are allowed"));
    }
    if (key == "days") schedule.days_mask = 0;
    for (std::size_t i = 0; i < items->size(); ++i) {
      const toml::node& item = *items->get(i);
      const toml::value<std::string>* text = item.as_string();
      if (text == nullptr) {
        return error_at(item, cat("[schedule] ", key, "[", i, "] must be a string, got ",
                                  toml_type_name(item.type())));
      }
      const std::string label =
          cat("[schedule] ", key, "[", i, "] \"", escape_for_message(text->get()), "\"");
      if (key == "windows") {
        SendWindow window;
        if (!parse_send_window(text->get(), window, reason)) {
          return error_at(item, cat(label, " is not a send window: ", reason));
        }
        schedule.windows.push_back(window);
        continue;
      }
      absl::Weekday day;
      if (!parse_weekday(text->get(), day, reason)) {
        return error_at(item, cat(label, " is not a day: ", reason));
      }
      const auto bit = static_cast<std::uint8_t>(1u << static_cast<int>(day));
      if ((schedule.days_mask & bit) != 0) {
        return error_at(item, cat(label, " names a day already listed"));
      }
      schedule.days_mask |= bit;
    }
  }
  job_.schedule = std::move(schedule);
  return absl::OkStatus();
}

// [shaping] and [[sources]]: where the job's shaping rules are, and the local addresses mail
// leaves from. Checked here; the rules file is read by campaign/delivery/shaping_rules.h.
absl::Status JobReader::read_shaping(const toml::table& root) {
  job_.warmup_state_path = default_store("hayate-warmup.state", warmup_file_name);
  const toml::table* shaping = nullptr;
  if (absl::Status status = find_table(root, "shaping", shaping); !status.ok()) return status;
  if (shaping != nullptr) {
    if (absl::Status status = read_shaping_table(*shaping); !status.ok()) return status;
  }
  const toml::node* sources = root.get("sources");
  if (sources == nullptr) return absl::OkStatus();
  return read_sources(*sources);
}

absl::Status JobReader::read_bool(const toml::table& table, std::string_view label,
                                  std::string_view key, bool& out) const {
  const toml::node* node = table.get(key);
  if (node == nullptr) return absl::OkStatus();
  if (!node->is_boolean()) return error_at(*node, cat(label, " ", key, " must be true or false"));
  out = node->as_boolean()->get();
  return absl::OkStatus();
}

// [shaping] rules, rollup and warmup_state.
absl::Status JobReader::read_shaping_table(const toml::table& shaping) {
  static constexpr std::array<std::string_view, 3> shaping_keys = {"rules", "rollup",
                                                                   "warmup_state"};
  if (absl::Status status = check_keys(shaping, "shaping", shaping_keys); !status.ok()) {
    return status;
  }
  const toml::value<std::string>* value = nullptr;
  if (absl::Status status = find_string(shaping, "shaping", "rules", value); !status.ok()) {
    return status;
  }
  if (value != nullptr) {
    if (absl::Status status = check_file(*value, "[shaping] rules", job_.shaping_rules_path);
        !status.ok()) {
      return status;
    }
  }
  if (absl::Status status = read_bool(shaping, "[shaping]", "rollup", job_.shaping_rollup);
      !status.ok()) {
    return status;
  }
  if (absl::Status status = find_string(shaping, "shaping", "warmup_state", value); !status.ok()) {
    return status;
  }
  if (value != nullptr) {
    if (value->get().empty() || !control_character(value->get()).empty()) {
      return error_at(*value, "[shaping] warmup_state must be a file name");
    }
    const std::filesystem::path path(value->get());
    job_.warmup_state_path =
        path.is_absolute() ? value->get() : (std::filesystem::path(job_.base_dir) / path).string();
  }
  return absl::OkStatus();
}

// [[sources]]: one table per local address, names and addresses each used once.
absl::Status JobReader::read_sources(const toml::node& sources) {
  constexpr std::size_t sources_max = 1'024;
  const toml::array* tables = sources.as_array();
  if (tables == nullptr || !tables->is_array_of_tables()) {
    return error_at(sources, "sources must be written as [[sources]] tables, one per address");
  }
  if (tables->size() > sources_max) {
    return error_at(sources, cat("[[sources]] has ", tables->size(), " entries; at most ",
                                 sources_max, " are allowed"));
  }
  for (const toml::node& element : *tables) {
    const toml::table& table = *element.as_table();
    JobConfig::Source source;
    if (absl::Status status = read_source(table, source); !status.ok()) return status;
    for (const JobConfig::Source& other : job_.sources) {
      if (other.name == source.name || other.address == source.address) {
        return error_at(table.source().begin, cat("[[sources]] ", source.name, ": ",
                                                  other.name == source.name ? "name" : "address",
                                                  " already used by [[sources]] ", other.name));
      }
    }
    job_.sources.push_back(std::move(source));
  }
  return absl::OkStatus();
}

// One [[sources]] table: name, address, and optionally ehlo, pool and warmup.
absl::Status JobReader::read_source(const toml::table& table, JobConfig::Source& source) const {
  static constexpr std::array<std::string_view, 5> source_keys = {"name", "address", "ehlo", "pool",
                                                                  "warmup"};
  if (absl::Status status = check_keys(table, "[sources]", source_keys); !status.ok()) {
    return status;
  }
  const toml::value<std::string>* value = nullptr;
  if (absl::Status status = require_string(table, "[sources]", "name", value); !status.ok()) {
    return status;
  }
  if (!is_source_name(value->get())) {
    return error_at(*value, cat("[[sources]] name \"", escape_for_message(value->get()),
                                "\" must be 1 to 64 of a-z 0-9 _ -"));
  }
  source.name = value->get();
  const std::string label = cat("[[sources]] ", source.name);
  if (absl::Status status = require_string(table, "[sources]", "address", value); !status.ok()) {
    return status;
  }
  std::optional<std::string> address = canonical_ip(value->get(), AF_INET);
  if (!address) address = canonical_ip(value->get(), AF_INET6);
  if (!address) {
    return error_at(*value, cat(label, " address \"", escape_for_message(value->get()),
                                "\" is not an IPv4 or IPv6 address (no brackets, no port)"));
  }
  source.address = std::move(*address);
  if (absl::Status status = find_string(table, "[sources]", "ehlo", value); !status.ok()) {
    return status;
  }
  source.ehlo = job_.helo;
  if (value != nullptr) {
    if (!is_helo_name(value->get())) {
      return error_at(*value, cat(label, " ehlo '", escape_for_message(value->get()),
                                  "' is not a host name or address literal (RFC 5321 4.1.1.1)"));
    }
    source.ehlo = value->get();
  }
  if (absl::Status status = find_string(table, "[sources]", "pool", value); !status.ok()) {
    return status;
  }
  if (value != nullptr) {
    if (!is_source_name(value->get())) {
      return error_at(*value, cat(label, " pool \"", escape_for_message(value->get()),
                                  "\" must be 1 to 64 of a-z 0-9 _ -"));
    }
    source.pool = value->get();
  }
  return read_bool(table, label, "warmup", source.warmup);
}

// [suppression]: where the list lives and the soft-bounce policy. The file need not exist:
// a run creates it.
constexpr std::array<std::string_view, 4> suppression_keys = {
    "enabled", "path", "soft_bounce_count", "soft_bounce_days"};
absl::Status JobReader::read_suppression(const toml::node* node) {
  JobConfig::Suppression& suppression = job_.suppression;
  suppression.path = default_store(suppression_file_name, suppression_file_name);
  if (node == nullptr) return absl::OkStatus();
  const toml::table* table = node->as_table();
  if (table == nullptr) {
    return error_at(*node,
                    cat("[suppression] must be a table, got ", toml_type_name(node->type())));
  }
  if (absl::Status status = check_keys(*table, "suppression", suppression_keys); !status.ok()) {
    return status;
  }
  if (const toml::node* enabled = table->get("enabled")) {
    const toml::value<bool>* value = enabled->as_boolean();
    if (value == nullptr) {
      return error_at(*enabled, cat("[suppression] enabled must be true or false, got ",
                                    toml_type_name(enabled->type())));
    }
    suppression.enabled = value->get();
  }
  const toml::value<std::string>* path = nullptr;
  if (absl::Status status = find_string(*table, "suppression", "path", path); !status.ok()) {
    return status;
  }
  if (path != nullptr) {
    const std::string& text = path->get();
    if (text.empty()) return error_at(*path, "[suppression] path must not be empty");
    if (std::string problem = control_character(text); !problem.empty()) {
      return error_at(*path, cat("[suppression] path must not contain ", problem));
    }
    const std::filesystem::path relative(text);
    suppression.path =
        relative.is_absolute() ? text : (std::filesystem::path(job_.base_dir) / relative).string();
  }
  std::int64_t value = 0;
  bool present = false;
  if (absl::Status status = read_integer(*table, "suppression", "soft_bounce_count", 1,
                                         soft_bounce_count_max, value, &present);
      !status.ok()) {
    return status;
  }
  if (present) suppression.soft_bounce_count = static_cast<std::uint32_t>(value);
  if (absl::Status status = read_integer(*table, "suppression", "soft_bounce_days", 1,
                                         soft_bounce_days_max, value, &present);
      !status.ok()) {
    return status;
  }
  if (present) suppression.soft_bounce_days = static_cast<std::uint32_t>(value);
  return absl::OkStatus();
}

absl::Status JobReader::read_verp(const toml::table& table) {
  if (absl::Status status = check_keys(table, "verp", verp_keys); !status.ok()) return status;
  JobConfig::Verp verp;
  const toml::value<std::string>* value = nullptr;
  if (absl::Status status = find_string(table, "verp", "prefix", value); !status.ok()) {
    return status;
  }
  if (value != nullptr) verp.prefix = value->get();
  if (absl::Status status = require_string(table, "verp", "domain", value); !status.ok()) {
    return status;
  }
  Address address;
  std::string reason;
  if (!parse_address(cat(verp.prefix.empty() ? "x" : verp.prefix, "@", value->get()), address,
                     reason)) {
    return error_at(*value, cat("[verp] prefix and domain do not make an address: ", reason));
  }
  verp.domain = std::string(address.domain());
  if (absl::Status status = require_string(table, "verp", "secret_file", value); !status.ok()) {
    return status;
  }
  if (absl::Status status = check_file(*value, "[verp] secret_file", verp.secret_file);
      !status.ok()) {
    return status;
  }
  job_.verp = std::move(verp);
  return absl::OkStatus();
}

absl::Status JobReader::read_headers(const toml::table& table) {
  struct Entry {
    const toml::key* key;
    const toml::value<std::string>* value;
  };
  std::vector<Entry> entries;
  for (auto&& [key, node] : table) {
    const std::string_view name = key.str();
    const toml::value<std::string>* value = node.as_string();
    if (value == nullptr) {
      return error_at(node, cat("[campaign.headers] ", escape_for_message(name),
                                " must be a string, got ", toml_type_name(node.type())));
    }
    entries.push_back({&key, value});
  }
  if (entries.size() > headers_max) {
    return error_at(table.source().begin, cat("[campaign.headers] has ", entries.size(),
                                              " headers; at most ", headers_max, " are allowed"));
  }
  // toml++ keeps keys sorted; headers are written in the order the job file gives them.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return is_position_before(a.key->source().begin, b.key->source().begin);
  });

  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string_view name = entries[i].key->str();
    const toml::source_position& where = entries[i].key->source().begin;
    if (!is_field_name(name)) {
      return error_at(where, cat("[campaign.headers] '", escape_for_message(name),
                                 "' is not a valid header name (RFC 5322 3.6.8: "
                                 "printable ASCII except ':' and space)"));
    }
    for (const ReservedHeader& reserved : reserved_headers) {
      if (is_reserved(reserved, name)) {
        return error_at(where, cat("[campaign.headers] '", name, "' ", reserved.why));
      }
    }
    if (!job_.reply_to.empty() && hayate::equals_ignoring_case(name, "Reply-To")) {
      return error_at(where, "[campaign.headers] 'Reply-To' duplicates [campaign] reply_to");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (hayate::equals_ignoring_case(name, entries[j].key->str())) {
        return error_at(where,
                        cat("[campaign.headers] '", name, "' duplicates '", entries[j].key->str(),
                            "' (header names ignore "
                            "case)"));
      }
    }
    if (absl::Status status = check_header_text(*entries[i].value, cat("[campaign.headers] ", name),
                                                entries[i].value->get());
        !status.ok()) {
      return status;
    }
    job_.headers.emplace_back(std::string(name), entries[i].value->get());
  }
  return absl::OkStatus();
}

absl::Status JobReader::read_delivery(const toml::table* table) {
  const toml::table empty;
  const toml::table& delivery = table != nullptr ? *table : empty;
  if (absl::Status status = check_keys(delivery, "delivery", delivery_keys); !status.ok()) {
    return status;
  }
  if (absl::Status status = read_helo(delivery); !status.ok()) return status;
  if (absl::Status status = read_connection_limits(delivery); !status.ok()) return status;
  for (auto [key, out] : {std::pair{"connect_timeout", &job_.connect_timeout_ms},
                          std::pair{"command_timeout", &job_.command_timeout_ms},
                          std::pair{"data_timeout", &job_.data_timeout_ms}}) {
    if (absl::Status status = read_timeout(delivery, key, *out); !status.ok()) return status;
  }
  if (absl::Status status = read_retry_schedule(delivery); !status.ok()) return status;
  if (absl::Status status = read_backoff(delivery); !status.ok()) return status;

  if (const toml::node* node = delivery.get("deadline")) {
    if (absl::Status status =
            read_duration(*node, "[delivery] deadline", deadline_ms_max, job_.deadline_ms);
        !status.ok()) {
      return status;
    }
  }
  if (const toml::node* node = delivery.get("tls")) {
    if (absl::Status status = read_tls_mode(*node, "[delivery] tls", job_.tls); !status.ok()) {
      return status;
    }
  }
  const toml::value<std::string>* ca_file = nullptr;
  if (absl::Status status = find_string(delivery, "delivery", "ca_file", ca_file); !status.ok()) {
    return status;
  }
  if (ca_file != nullptr) {
    if (absl::Status status = check_file(*ca_file, "[delivery] ca_file", job_.ca_file);
        !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

// [delivery] helo, or this host's name when it is a valid EHLO name.
absl::Status JobReader::read_helo(const toml::table& delivery) {
  const toml::value<std::string>* helo = nullptr;
  if (absl::Status status = find_string(delivery, "delivery", "helo", helo); !status.ok()) {
    return status;
  }
  if (helo != nullptr) {
    if (!is_helo_name(helo->get())) {
      return error_at(*helo, cat("[delivery] helo '", escape_for_message(helo->get()),
                                 "' is not a host name or address literal "
                                 "(RFC 5321 4.1.1.1)"));
    }
    job_.helo = helo->get();
    return absl::OkStatus();
  }
  char host_name[256] = {};
  if (gethostname(host_name, sizeof(host_name) - 1) != 0 || !is_host_name(host_name)) {
    return error_at(toml::source_position{},
                    cat("the host name '", escape_for_message(host_name),
                        "' is not a valid EHLO name; set [delivery] helo"));
  }
  job_.helo = host_name;
  return absl::OkStatus();
}

// [delivery] connections_max, connections_per_domain (never above connections_max),
// messages_per_connection, shards and port.
absl::Status JobReader::read_connection_limits(const toml::table& delivery) {
  std::int64_t value = 0;
  bool given = false;
  if (absl::Status status = read_integer(delivery, "delivery", "connections_max", 1,
                                         connections_limit, value, &given);
      !status.ok()) {
    return status;
  }
  if (given) job_.connections_max = static_cast<std::uint32_t>(value);

  bool per_domain_given = false;
  if (absl::Status status = read_integer(delivery, "delivery", "connections_per_domain", 1,
                                         connections_limit, value, &per_domain_given);
      !status.ok()) {
    return status;
  }
  if (per_domain_given) {
    if (value > job_.connections_max) {
      return error_at(*delivery.get("connections_per_domain"),
                      cat("[delivery] connections_per_domain (", value,
                          ") is more than connections_max (", job_.connections_max, ")"));
    }
    job_.connections_per_domain = static_cast<std::uint32_t>(value);
  } else {
    job_.connections_per_domain = std::min(job_.connections_per_domain, job_.connections_max);
  }

  if (absl::Status status = read_integer(delivery, "delivery", "messages_per_connection", 1,
                                         messages_per_connection_limit, value, &given);
      !status.ok()) {
    return status;
  }
  if (given) job_.messages_per_connection = static_cast<std::uint32_t>(value);
  if (absl::Status status =
          read_integer(delivery, "delivery", "shards", 0, limits::shards_max, value, &given);
      !status.ok()) {
    return status;
  }
  if (given) job_.shards = static_cast<std::uint32_t>(value);
  if (absl::Status status = read_integer(delivery, "delivery", "port", 1, 65535, value, &given);
      !status.ok()) {
    return status;
  }
  if (given) job_.port = static_cast<std::uint16_t>(value);
  return absl::OkStatus();
}

// [delivery] retry_schedule: the delays between attempts, in order.
absl::Status JobReader::read_retry_schedule(const toml::table& delivery) {
  const toml::node* node = delivery.get("retry_schedule");
  if (node == nullptr) return absl::OkStatus();
  const toml::array* delays = node->as_array();
  if (delays == nullptr) {
    return error_at(*node, cat("[delivery] retry_schedule must be an array of "
                               "durations, got ",
                               toml_type_name(node->type())));
  }
  if (delays->size() > retry_schedule_entries_max) {
    return error_at(*node, cat("[delivery] retry_schedule has ", delays->size(),
                               " entries; at most ", retry_schedule_entries_max, " are allowed"));
  }
  job_.retry_schedule_ms.clear();
  job_.retry_schedule_given = true;
  for (std::size_t i = 0; i < delays->size(); ++i) {
    std::uint64_t delay_ms = 0;
    if (absl::Status status =
            read_duration(*delays->get(i), cat("[delivery] retry_schedule[", i, "]"),
                          retry_delay_ms_max, delay_ms);
        !status.ok()) {
      return status;
    }
    job_.retry_schedule_ms.push_back(static_cast<std::uint32_t>(delay_ms));
  }
  return absl::OkStatus();
}

absl::Status JobReader::read_tls_mode(const toml::node& node, std::string_view label,
                                      TlsMode& mode) const {
  const toml::value<std::string>* text = node.as_string();
  if (text != nullptr && text->get() == "opportunistic") {
    mode = TlsMode::opportunistic;
  } else if (text != nullptr && text->get() == "required") {
    mode = TlsMode::required;
  } else if (text != nullptr && text->get() == "disabled") {
    mode = TlsMode::disabled;
  } else {
    return error_at(node, cat(label, " must be \"opportunistic\", \"required\" or \"disabled\""));
  }
  return absl::OkStatus();
}

absl::Status JobReader::read_domain_key(const toml::key& key, std::string_view table_name,
                                        std::string& domain) const {
  const std::string_view name = key.str();
  std::string reason;
  Address address;
  if (name.find('@') != std::string_view::npos) {
    reason = "keys are domains, not addresses";
  } else if (parse_address(cat("x@", name), address, reason)) {
    domain = std::string(address.domain());
    return absl::OkStatus();
  }
  return error_at(key.source().begin, cat("[", table_name, "] key \"", escape_for_message(name),
                                          "\" is not a domain: ", reason));
}

// implicit_tls = true | false; without it, port 465 means implicit TLS (RFC 8314 3.3).
absl::Status read_implicit_tls(
    const toml::table& table, std::string_view label, Route& route,
    const std::function<absl::Status(const toml::node&, std::string)>& error_at) {
  route.implicit_tls = route.endpoint.port == 465;
  const toml::node* node = table.get("implicit_tls");
  if (node == nullptr) return absl::OkStatus();
  const toml::value<bool>* value = node->as_boolean();
  if (value == nullptr)
    return error_at(*node, cat("[", label, "] implicit_tls must be true or false"));
  route.implicit_tls = value->get();
  return absl::OkStatus();
}

// A route as a table: { host = "relay.example.net", port = 587, tls = "required" }.
absl::Status JobReader::read_route_table(const toml::table& table, std::string_view label,
                                         Route& route) const {
  if (absl::Status status = check_keys(table, label, route_keys); !status.ok()) return status;
  const toml::value<std::string>* host = nullptr;
  if (absl::Status status = require_string(table, label, "host", host); !status.ok()) {
    return status;
  }
  std::string reason;
  if (!parse_endpoint(host->get(), smtp_port, /*allow_host_name=*/true, route.endpoint, reason)) {
    return error_at(*host, cat("[", label, "] host \"", escape_for_message(host->get()),
                               "\" is not a host name or address: ", reason));
  }
  std::int64_t port = 0;
  bool given = false;
  if (absl::Status status = read_integer(table, label, "port", 1, 65535, port, &given);
      !status.ok()) {
    return status;
  }
  if (given) route.endpoint.port = static_cast<std::uint16_t>(port);
  if (const toml::node* node = table.get("tls")) {
    TlsMode mode;
    if (absl::Status status = read_tls_mode(*node, cat("[", label, "] tls"), mode); !status.ok()) {
      return status;
    }
    route.tls = mode;
  }
  return read_implicit_tls(table, label, route, [this](const toml::node& node, std::string text) {
    return error_at(node, text);
  });
}

absl::Status JobReader::read_domains(const toml::table& table) {
  for (auto&& [key, node] : table) {
    DomainPolicy policy;
    if (absl::Status status = read_domain_key(key, "domains", policy.domain); !status.ok()) {
      return status;
    }
    const std::string label = cat("domains.\"", escape_for_message(key.str()), "\"");
    const toml::table* settings = node.as_table();
    if (settings == nullptr) {
      return error_at(node, cat("[", label, "] must be a table such as { tls = \"required\" }"));
    }
    if (absl::Status status = check_keys(*settings, label, domain_keys); !status.ok()) {
      return status;
    }
    if (const toml::node* tls = settings->get("tls")) {
      TlsMode mode;
      if (absl::Status status = read_tls_mode(*tls, cat("[", label, "] tls"), mode); !status.ok()) {
        return status;
      }
      policy.tls = mode;
    }
    job_.domains.push_back(std::move(policy));
  }
  std::sort(job_.domains.begin(), job_.domains.end(),
            [](const DomainPolicy& a, const DomainPolicy& b) { return a.domain < b.domain; });
  for (std::size_t i = 1; i < job_.domains.size(); ++i) {
    if (job_.domains[i].domain == job_.domains[i - 1].domain) {
      return error_at(table.source().begin,
                      cat("[domains] names ", job_.domains[i].domain, " twice"));
    }
  }
  return absl::OkStatus();
}

// [relay]: every domain without a route of its own goes through one smarthost, usually with
// AUTH on port 587 (STARTTLS) or 465 (implicit TLS).
absl::Status JobReader::read_relay(const toml::table& table) {
  if (absl::Status status = check_keys(table, "relay", relay_keys); !status.ok()) return status;
  for (const Route& route : job_.routes) {
    if (route.domain == "*") {
      return error_at(table.source().begin,
                      "[relay] and a \"*\" route both say where all mail goes; keep one");
    }
  }
  Route relay;
  relay.domain = "*";
  relay.relay = true;
  relay.tls = TlsMode::required;  // credentials and mail cross the network to a provider
  const toml::value<std::string>* host = nullptr;
  if (absl::Status status = require_string(table, "relay", "host", host); !status.ok()) {
    return status;
  }
  std::string reason;
  if (!parse_endpoint(host->get(), 587, /*allow_host_name=*/true, relay.endpoint, reason)) {
    return error_at(*host, cat("[relay] host \"", escape_for_message(host->get()),
                               "\" is not a host name or address: ", reason));
  }
  std::int64_t port = 0;
  bool given = false;
  if (absl::Status status = read_integer(table, "relay", "port", 1, 65535, port, &given);
      !status.ok()) {
    return status;
  }
  if (given) relay.endpoint.port = static_cast<std::uint16_t>(port);
  if (const toml::node* node = table.get("tls")) {
    TlsMode mode;
    if (absl::Status status = read_tls_mode(*node, "[relay] tls", mode); !status.ok()) {
      return status;
    }
    relay.tls = mode;
  }
  if (absl::Status status = read_implicit_tls(
          table, "relay", relay,
          [this](const toml::node& node, std::string text) { return error_at(node, text); });
      !status.ok()) {
    return status;
  }
  const toml::value<std::string>* username = nullptr;
  if (absl::Status status = find_string(table, "relay", "username", username); !status.ok()) {
    return status;
  }
  const toml::value<std::string>* password_file = nullptr;
  if (absl::Status status = find_string(table, "relay", "password_file", password_file);
      !status.ok()) {
    return status;
  }
  if ((username == nullptr) != (password_file == nullptr)) {
    return error_at(table.source().begin,
                    "[relay] username and password_file go together: give both or neither");
  }
  if (username != nullptr) {
    if (std::string problem = control_character(username->get());
        !problem.empty() || username->get().empty()) {
      return error_at(*username, "[relay] username must be a non-empty line of text");
    }
    relay.username = username->get();
    std::string path;
    if (absl::Status status = check_file(*password_file, "[relay] password_file", path);
        !status.ok()) {
      return status;
    }
    // Read with a bound: the file's first line is all that counts, and a huge file or a
    // device must not fill the memory.
    absl::StatusOr<std::string> contents =
        read_regular_file(path, password_file_bytes_max, "the password file");
    if (!contents.ok()) {
      return error_at(*password_file, cat("[relay] password_file ", contents.status().message()));
    }
    // The first line; a trailing CR (Windows editors) goes too.
    std::string password = contents->substr(0, contents->find('\n'));
    if (!password.empty() && password.back() == '\r') password.pop_back();
    if (password.empty()) {
      return error_at(*password_file, cat("[relay] password_file ", path,
                                          ": the first line (the password) is empty"));
    }
    relay.password = std::move(password);
    relay.password_file = path;
  }
  if (const toml::node* node = table.get("allow_plaintext_auth")) {
    const toml::value<bool>* allow = node->as_boolean();
    if (allow == nullptr) {
      return error_at(*node, cat("[relay] allow_plaintext_auth must be true or false, got ",
                                 toml_type_name(node->type())));
    }
    relay.allow_plaintext_auth = allow->get();
  }
  // Credentials need TLS (RFC 4954 4): with TLS turned off they could never be sent, and the
  // run would only find out at the relay.
  if (!relay.username.empty() && relay.tls == TlsMode::disabled && !relay.implicit_tls &&
      !relay.allow_plaintext_auth) {
    return error_at(table.source().begin,
                    "[relay] has a username and password_file but tls = \"disabled\": the "
                    "password would cross the network in clear, so hayate never sends it; use "
                    "tls = \"required\" (STARTTLS) or implicit_tls = true");
  }
  job_.routes.push_back(std::move(relay));  // "*" sorts last: find_route's order holds
  return absl::OkStatus();
}

absl::Status JobReader::read_routes(const toml::table& table) {
  if (table.size() > routes_max) {
    return error_at(table.source().begin, cat("[routes] has ", table.size(), " routes; at most ",
                                              routes_max, " are allowed"));
  }
  struct Entry {
    const toml::key* key;
    Route route;
  };
  std::vector<Entry> entries;
  for (auto&& [key, node] : table) {
    const std::string_view name = key.str();
    const toml::value<std::string>* value = node.as_string();
    const toml::table* route_table = node.as_table();
    if (value == nullptr && route_table == nullptr) {
      return error_at(node, cat("[routes] \"", escape_for_message(name),
                                "\" must be a string such as \"127.0.0.1:2525\" or a table such "
                                "as { host = \"127.0.0.1\", port = 465, tls = \"required\" }, got ",
                                toml_type_name(node.type())));
    }
    Route route;
    if (name == "*") {
      route.domain = "*";
    } else {
      std::string reason;
      Address address;
      if (name.find('@') != std::string_view::npos) {
        reason = "a route is keyed by a domain, not an address";
      } else if (name.starts_with("*.")) {
        reason = "wildcards other than \"*\" are not supported";
      } else if (parse_address(cat("x@", name), address, reason)) {
        route.domain = std::string(address.domain());
      }
      if (route.domain.empty()) {
        return error_at(key.source().begin, cat("[routes] key \"", escape_for_message(name),
                                                "\" is not a domain or \"*\": ", reason));
      }
    }
    std::string reason;
    if (route_table != nullptr) {
      if (absl::Status status = read_route_table(
              *route_table, cat("routes.\"", escape_for_message(name), "\""), route);
          !status.ok()) {
        return status;
      }
    } else if (!parse_endpoint(value->get(), smtp_port, /*allow_host_name=*/true, route.endpoint,
                               reason)) {
      return error_at(node,
                      cat("[routes] \"", escape_for_message(name), "\" = \"",
                          escape_for_message(value->get()), "\" is not host[:port]: ", reason));
    } else {
      route.implicit_tls = route.endpoint.port == 465;  // RFC 8314 3.3: submissions
    }
    entries.push_back({&key, std::move(route)});
  }

  // Exact domains in order, then "*", so that find_route can binary-search the exact part.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    const bool a_wildcard = a.route.domain == "*";
    const bool b_wildcard = b.route.domain == "*";
    if (a_wildcard != b_wildcard) return b_wildcard;
    if (a.route.domain != b.route.domain) return a.route.domain < b.route.domain;
    return is_position_before(a.key->source().begin, b.key->source().begin);
  });
  for (std::size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].route.domain == entries[i - 1].route.domain) {
      return error_at(
          entries[i].key->source().begin,
          cat("[routes] \"", escape_for_message(entries[i].key->str()),
              "\" is the same domain as \"", escape_for_message(entries[i - 1].key->str()),
              "\" (line ", entries[i - 1].key->source().begin.line, ")"));
    }
  }
  job_.routes.reserve(entries.size());
  for (Entry& entry : entries) job_.routes.push_back(std::move(entry.route));
  return absl::OkStatus();
}

absl::Status JobReader::read_dns(const toml::table& table) {
  if (absl::Status status = check_keys(table, "dns", dns_keys); !status.ok()) return status;
  const toml::node* node = table.get("servers");
  if (node == nullptr) return absl::OkStatus();
  const toml::array* servers = node->as_array();
  if (servers == nullptr) {
    return error_at(*node, cat("[dns] servers must be an array of strings, got ",
                               toml_type_name(node->type())));
  }
  if (servers->size() > dns_servers_max) {
    return error_at(*node, cat("[dns] servers has ", servers->size(), " entries; at most ",
                               dns_servers_max, " are allowed"));
  }
  for (std::size_t i = 0; i < servers->size(); ++i) {
    const toml::node& element = *servers->get(i);
    const toml::value<std::string>* text = element.as_string();
    if (text == nullptr) {
      return error_at(element, cat("[dns] servers[", i, "] must be a string, got ",
                                   toml_type_name(element.type())));
    }
    Endpoint endpoint;
    std::string reason;
    if (!parse_endpoint(text->get(), dns_port, /*allow_host_name=*/false, endpoint, reason)) {
      return error_at(element, cat("[dns] servers[", i, "] \"", escape_for_message(text->get()),
                                   "\" is not ip[:port]: ", reason));
    }
    job_.dns_servers.push_back(std::move(endpoint));
  }
  return absl::OkStatus();
}

// toml++ reports a string left open at the end of its line as a control character (the line
// feed) inside the string; name the likely cause.
bool is_unterminated_string(std::string_view description, std::string_view contents,
                            const toml::source_position& where) {
  if (!description.starts_with("Error while parsing string: unescaped control")) return false;
  std::size_t line_start = 0;
  for (std::uint32_t line = 1; line < where.line; ++line) {
    line_start = contents.find('\n', line_start);
    if (line_start == std::string_view::npos) return false;
    ++line_start;
  }
  // toml++ counts columns in code points: skip UTF-8 continuation bytes.
  std::uint32_t column = 1;
  std::size_t i = line_start;
  for (; i < contents.size() && column < where.column; ++i) {
    if ((static_cast<unsigned char>(contents[i]) & 0xC0) != 0x80) ++column;
  }
  while (i < contents.size() && (static_cast<unsigned char>(contents[i]) & 0xC0) == 0x80) ++i;
  return i < contents.size() && (contents[i] == '\n' || contents[i] == '\r');
}

// Reads the whole job file; errno decides between NotFound and InvalidArgument.
absl::Status read_job_file(const std::string& path, std::string& contents) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; the
  // fstat below refuses anything but a regular file.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    const std::string message = cat(path, ": cannot open the job file: ", std::strerror(error));
    return error == ENOENT || error == ENOTDIR ? absl::NotFoundError(message)
                                               : absl::InvalidArgumentError(message);
  }
  struct stat info;
  absl::Status status;
  if (fstat(fd, &info) != 0) {
    status =
        absl::InvalidArgumentError(cat(path, ": cannot read the job file: ", std::strerror(errno)));
  } else if (!S_ISREG(info.st_mode)) {
    status = absl::InvalidArgumentError(cat(path, ": the job file is not a regular file"));
  } else if (static_cast<std::uint64_t>(info.st_size) > job_file_bytes_max) {
    status =
        absl::InvalidArgumentError(cat(path, ": the job file is ", info.st_size, " bytes; at most ",
                                       job_file_bytes_max, " are allowed"));
  } else {
    contents.resize(static_cast<std::size_t>(info.st_size));
    std::size_t done = 0;
    while (done < contents.size()) {
      const ssize_t got = ::read(fd, contents.data() + done, contents.size() - done);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        status = absl::InvalidArgumentError(
            cat(path, ": cannot read the job file: ", std::strerror(errno)));
        break;
      }
      if (got == 0) break;  // shrank while reading: parse what is there
      done += static_cast<std::size_t>(got);
    }
    contents.resize(done);
  }
  close(fd);
  return status;
}

}  // namespace

bool parse_duration_ms(std::string_view text, std::uint64_t& duration_ms) {
  std::size_t digits = 0;
  std::uint64_t number = 0;
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  while (digits < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[digits]))) {
    const auto digit = static_cast<std::uint64_t>(text[digits] - '0');
    if (number > (max - digit) / 10) return false;
    number = number * 10 + digit;
    ++digits;
  }
  if (digits == 0) return false;
  const std::string_view unit = text.substr(digits);
  std::uint64_t unit_ms = 0;
  if (unit.empty() || unit == "s") {
    unit_ms = 1000;
  } else if (unit == "ms") {
    unit_ms = 1;
  } else if (unit == "m") {
    unit_ms = 60'000;
  } else if (unit == "h") {
    unit_ms = 3'600'000;
  } else if (unit == "d") {
    unit_ms = 86'400'000;
  } else {
    return false;
  }
  if (number > max / unit_ms) return false;
  duration_ms = number * unit_ms;
  return true;
}

absl::StatusOr<JobConfig> load_job(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("the job file path is empty");
  std::string contents;
  if (absl::Status status = read_job_file(path, contents); !status.ok()) return status;

  toml::table root;
  try {
    root = toml::parse(std::string_view(contents), std::string_view(path));
  } catch (const toml::parse_error& error) {
    const toml::source_position& where = error.source().begin;
    std::string message =
        cat(path, ":", where.line, ":", where.column, ": invalid TOML: ", error.description());
    if (is_unterminated_string(error.description(), contents, where)) {
      append(message, " (is the closing quote missing?)");
    }
    return absl::InvalidArgumentError(message);
  }

  JobConfig job;
  job.job_path = path;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  job.base_dir = parent.empty() ? "." : parent.string();
  absl::StatusOr<StateDir> state = resolve_state_dir();
  if (!state.ok()) return state.status();
  job.state_dir = state->path;
  job.state_dir_why = state->why;
  JobReader reader(path, job);
  if (absl::Status status = reader.read(root); !status.ok()) return status;
  HAYATE_ASSERT(!job.id.empty() && !job.subject.empty());
  HAYATE_ASSERT(!job.text_path.empty() || !job.html_path.empty());
  return job;
}

const Route* find_route(const JobConfig& job, std::string_view domain) {
  const std::vector<Route>& routes = job.routes;
  const bool has_wildcard = !routes.empty() && routes.back().domain == "*";
  const auto exact_end = has_wildcard ? routes.end() - 1 : routes.end();
  // Recipient domains are already lower case (parse_address); compare case-insensitively
  // anyway so that a caller passing "Example.ORG" is not silently sent through "*".
  const auto less = [](std::string_view a, std::string_view b) {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                        [](char x, char y) { return lower(x) < lower(y); });
  };
  const auto found = std::lower_bound(
      routes.begin(), exact_end, domain,
      [&](const Route& route, std::string_view key) { return less(route.domain, key); });
  if (found != exact_end && hayate::equals_ignoring_case(found->domain, domain)) return &*found;
  return has_wildcard ? &routes.back() : nullptr;
}

TlsMode tls_mode_for(const JobConfig& job, std::string_view domain, const Route* route) {
  if (route != nullptr && route->tls) return *route->tls;
  const auto found = std::lower_bound(
      job.domains.begin(), job.domains.end(), domain,
      [](const DomainPolicy& policy, std::string_view key) { return policy.domain < key; });
  if (found != job.domains.end() && found->domain == domain && found->tls) return *found->tls;
  return job.tls;
}

}  // namespace hayate::campaign::config
