// The c-ares resolver behind Resolver: MX then A/AAAA of each MX host, coalesced, cached by
// TTL, and PTR and TXT for start-up checks; driven entirely by the owner's loop (sockets through
// SocketWatcher, time by on_tick).
// c-ares callbacks only change state and queue answers; user callbacks run from the queue.
#include "engine/dns/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <random>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/dns/ttl.h"
#include "engine/limits.h"
#include "engine/strings.h"

namespace hayate::dns {
namespace {

constexpr std::int64_t ms_per_s = 1000;
// RFC 6891 6.2.5 and DNS flag day 2020: 1232 octets of UDP payload avoid IP fragmentation.
// Larger answers come back truncated and c-ares repeats the question over TCP.
constexpr int edns_udp_payload_bytes = 1232;

// Errors for logs (MxAnswer::error, HostAnswer::error), beside the DNS names of rcodes.
constexpr std::string_view error_invalid_name = "invalid domain name";
constexpr std::string_view error_no_mx_no_address = "no MX and no address";
constexpr std::string_view error_no_host_address = "no address for any MX host";
constexpr std::string_view error_null_mx = "null MX (RFC 7505)";
constexpr std::string_view error_servers_failed =
    "no server answered (SERVFAIL, REFUSED or unreachable)";

// c-ares 1.18 keeps global state that ares_library_init sets up once; doing it through a
// function-local static makes it safe when several shards create resolvers at once. It is
// never cleaned up: the process ends first.
bool init_ares_library_once(std::string& error) {
  static const int status = ares_library_init(ARES_LIB_INIT_ALL);
  if (status == ARES_SUCCESS) return true;
  error = absl::StrCat("c-ares library initialization failed: ", ares_strerror(status));
  return false;
}

std::uint16_t port_of(const SocketAddress& address) {
  if (address.storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in&>(address.storage).sin_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in6&>(address.storage).sin6_port);
}

void set_port(SocketAddress& address, std::uint16_t port) {
  if (address.storage.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in&>(address.storage).sin_port = htons(port);
  } else if (address.storage.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6&>(address.storage).sin6_port = htons(port);
  }
}

SocketAddress ipv4_address(const in_addr& ip) {
  SocketAddress address;
  auto& v4 = reinterpret_cast<sockaddr_in&>(address.storage);
  v4.sin_family = AF_INET;
  v4.sin_addr = ip;
  address.length = sizeof(sockaddr_in);
  return address;
}

SocketAddress ipv6_address(const void* ip_bytes) {
  SocketAddress address;
  auto& v6 = reinterpret_cast<sockaddr_in6&>(address.storage);
  v6.sin6_family = AF_INET6;
  std::memcpy(&v6.sin6_addr, ip_bytes, sizeof(v6.sin6_addr));
  address.length = sizeof(sockaddr_in6);
  return address;
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  std::uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value == 0 || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

// An IP literal without port: "192.0.2.1" or "2001:db8::1".
bool parse_ip(std::string_view text, std::uint16_t port, SocketAddress& out) {
  char buffer[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buffer)) return false;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  in_addr v4{};
  if (inet_pton(AF_INET, buffer, &v4) == 1) {
    out = ipv4_address(v4);
    set_port(out, port);
    return true;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, buffer, &v6) == 1) {
    out = ipv6_address(&v6);
    set_port(out, port);
    return true;
  }
  return false;
}

// Domain names arrive as A-labels; this lower-cases them, drops one trailing dot and refuses
// what no DNS query could carry (RFC 1035 2.3.4 lengths) or what no host name has in it.
bool normalize_name(std::string_view name, std::string& out) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > limits::domain_bytes_max) return false;
  out.assign(name.data(), name.size());
  std::size_t label_bytes = 0;
  for (char& c : out) {
    if (c == '.') {
      if (label_bytes == 0) return false;
      label_bytes = 0;
      continue;
    }
    if (++label_bytes > limits::label_bytes_max) return false;
    c = lower(c);
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return false;
    }
  }
  return label_bytes > 0;
}

// What a failed c-ares query means for delivery: NXDOMAIN is permanent, everything about
// reaching or trusting the server is temporary.
Outcome outcome_of(int status, std::string& error) {
  switch (status) {
    case ARES_ENOTFOUND:
      error = "NXDOMAIN";
      return Outcome::no_domain;
    case ARES_ENODATA:
      error = "no data";
      return Outcome::no_domain;
    case ARES_EBADNAME:
      error = error_invalid_name;
      return Outcome::no_domain;
    case ARES_ESERVFAIL:
      error = "SERVFAIL";
      return Outcome::temporary;
    case ARES_EREFUSED:
      error = "REFUSED";
      return Outcome::temporary;
    case ARES_ETIMEOUT:
      error = "timeout";
      return Outcome::temporary;
    case ARES_ECONNREFUSED:
      error = "connection refused";
      return Outcome::temporary;
    case ARES_EFORMERR:
      error = "FORMERR";
      return Outcome::temporary;
    case ARES_ENOTIMP:
      error = "NOTIMP";
      return Outcome::temporary;
    case ARES_EBADRESP:
      error = "malformed response";
      return Outcome::temporary;
    default:
      error = ares_strerror(status);
      return Outcome::temporary;
  }
}

std::int64_t clamp_ttl_ms(std::int64_t ttl_s) {
  return std::clamp<std::int64_t>(ttl_s, 1, limits::dns_ttl_max_s) * ms_per_s;
}

constexpr std::int64_t negative_ttl_ms = std::int64_t{limits::dns_negative_ttl_s} * ms_per_s;

std::int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SocketAddress

std::string SocketAddress::to_string() const {
  char ip[INET6_ADDRSTRLEN];
  if (storage.ss_family == AF_INET && length >= sizeof(sockaddr_in)) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(storage);
    if (inet_ntop(AF_INET, &v4.sin_addr, ip, sizeof(ip)) == nullptr) return "<invalid>";
    return absl::StrCat(ip, ":", port_of(*this));
  }
  if (storage.ss_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(storage);
    if (inet_ntop(AF_INET6, &v6.sin6_addr, ip, sizeof(ip)) == nullptr) return "<invalid>";
    return absl::StrCat("[", ip, "]:", port_of(*this));
  }
  return "<none>";
}

std::string SocketAddress::ip_string() const {
  char ip[INET6_ADDRSTRLEN];
  if (storage.ss_family == AF_INET && length >= sizeof(sockaddr_in)) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(storage);
    if (inet_ntop(AF_INET, &v4.sin_addr, ip, sizeof(ip)) != nullptr) return ip;
  } else if (storage.ss_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(storage);
    if (inet_ntop(AF_INET6, &v6.sin6_addr, ip, sizeof(ip)) != nullptr) return ip;
  }
  return "<none>";
}

bool SocketAddress::parse(std::string_view text, std::uint16_t default_port, SocketAddress& out) {
  std::uint16_t port = default_port;
  if (!text.empty() && text.front() == '[') {  // "[v6]" or "[v6]:port" (RFC 3986 3.2.2)
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !parse_port(rest.substr(1), port))) {
      return false;
    }
    SocketAddress parsed;
    if (!parse_ip(text.substr(1, close - 1), port, parsed)) return false;
    if (parsed.storage.ss_family != AF_INET6) return false;  // brackets are for IPv6 only
    out = parsed;
    return true;
  }
  const std::size_t first_colon = text.find(':');
  if (first_colon != std::string_view::npos && text.find(':', first_colon + 1) == text.npos) {
    // One colon: "v4:port". Two or more: a bare IPv6 address.
    if (!parse_port(text.substr(first_colon + 1), port)) return false;
    text = text.substr(0, first_colon);
    SocketAddress parsed;
    if (!parse_ip(text, port, parsed) || parsed.storage.ss_family != AF_INET) return false;
    out = parsed;
    return true;
  }
  return parse_ip(text, port, out);
}

std::string reverse_lookup_name(const SocketAddress& address) {
  std::string name;
  if (address.storage.ss_family == AF_INET && address.length >= sizeof(sockaddr_in)) {
    // RFC 1035 3.5: the octets in reverse order under in-addr.arpa.
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address.storage);
    const auto* octets = reinterpret_cast<const std::uint8_t*>(&v4.sin_addr);
    for (int i = 3; i >= 0; --i) absl::StrAppend(&name, octets[i], ".");
    name += "in-addr.arpa";
  } else if (address.storage.ss_family == AF_INET6 && address.length >= sizeof(sockaddr_in6)) {
    // RFC 3596 2.5: every nibble, lowest first, in hexadecimal under ip6.arpa.
    constexpr char hex[] = "0123456789abcdef";
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address.storage);
    const auto* octets = reinterpret_cast<const std::uint8_t*>(&v6.sin6_addr);
    for (int i = 15; i >= 0; --i) {
      name += hex[octets[i] & 0xf];
      name += '.';
      name += hex[octets[i] >> 4];
      name += '.';
    }
    name += "ip6.arpa";
  }
  return name;
}

// ---------------------------------------------------------------------------------------------
// Resolver state

namespace {

// A+AAAA of one name, ports unset: what the host cache keeps and MX lookups combine.
struct HostResult {
  Outcome outcome = Outcome::temporary;
  std::vector<SocketAddress> addresses;  // IPv4 first, then IPv6
  std::string error;
  std::int64_t expires_ms = 0;  // meaningless when temporary (never cached)
};

}  // namespace

struct Resolver::State {
  struct MxWaiter {
    std::uint16_t port;
    MxCallback callback;
  };

  struct MxLookup {
    State* state = nullptr;
    std::string domain;
    std::vector<MxWaiter> waiters;
    std::vector<MxHost> hosts;
    std::vector<HostResult> results;  // one per host, filled as host lookups end
    bool implicit = false;
    std::int64_t mx_expires_ms = 0;
    std::size_t hosts_pending = 0;
  };

  struct HostLookup;
  struct FamilyQuery {  // the A or the AAAA half of a host lookup
    HostLookup* lookup = nullptr;
    int status = ARES_SUCCESS;
    std::vector<SocketAddress> addresses;
    std::int64_t ttl_min_s = 0;
  };

  struct HostWaiter {
    MxLookup* mx = nullptr;  // an MX lookup waiting for its host `host_index`, or...
    std::size_t host_index = 0;
    std::uint16_t port = 0;  // ...a user of resolve_host
    HostCallback callback;
  };

  struct HostLookup {
    State* state = nullptr;
    std::string name;
    std::vector<HostWaiter> waiters;
    FamilyQuery a;
    FamilyQuery aaaa;
    int pending = 0;
  };

  struct PtrLookup {
    State* state = nullptr;
    SocketAddress address;
    PtrCallback callback;
  };

  struct TxtLookup {
    State* state = nullptr;
    TxtCallback callback;
  };

  struct MxCacheEntry {
    MxAnswer answer;  // ports unset
    std::int64_t expires_ms = 0;
  };

  // An answer waiting to be handed to its callback from the owner's loop.
  struct Completion {
    MxCallback mx_callback;
    MxAnswer mx;
    HostCallback host_callback;
    HostAnswer host;
    PtrCallback ptr_callback;
    PtrAnswer ptr;
    TxtCallback txt_callback;
    TxtAnswer txt;
  };

  State(const ResolverOptions& options_in, SocketWatcher& watcher_in)
      : watcher(watcher_in), options(options_in) {
    clock_ms = options.clock_ms ? options.clock_ms : steady_now_ms;
    random_state = options.random_seed;
    if (random_state == 0) {
      std::random_device device;
      random_state = (std::uint64_t{device()} << 32) ^ device();
    }
  }

  ares_channel channel = nullptr;
  SocketWatcher& watcher;
  ResolverOptions options;
  std::function<std::int64_t()> clock_ms;
  std::uint64_t random_state = 0;
  bool single_server = false;
  bool destroying = false;  // ares_destroy is failing the queries in flight: ignore them
  bool running_completions = false;

  absl::flat_hash_map<std::string, std::unique_ptr<MxLookup>> mx_in_flight;
  absl::flat_hash_map<std::string, std::unique_ptr<HostLookup>> hosts_in_flight;
  absl::flat_hash_map<std::string, MxCacheEntry> mx_cache;
  absl::flat_hash_map<std::string, HostResult> host_cache;
  absl::flat_hash_map<const PtrLookup*, std::unique_ptr<PtrLookup>> ptr_in_flight;
  absl::flat_hash_map<const TxtLookup*, std::unique_ptr<TxtLookup>> txt_in_flight;
  std::vector<Completion> ready;
  std::vector<Completion> running;
  ResolverStats stats;

  std::uint64_t next_seed() {
    random_state = random_state * 6364136223846793005ULL + 1442695040888963407ULL;  // Knuth
    return random_state;
  }

  // -- delivery ---------------------------------------------------------------------------

  void deliver_mx(const MxAnswer& answer, std::uint16_t port, MxCallback callback) {
    Completion& completion = ready.emplace_back();
    completion.mx = answer;
    // Each delivery gets its own shuffle of equal preferences, so that many messages to one
    // domain spread over its equal MX hosts (RFC 5321 5.1).
    if (completion.mx.hosts.size() > 1) order_mx_hosts(completion.mx.hosts, next_seed());
    for (MxHost& host : completion.mx.hosts) {
      for (SocketAddress& address : host.addresses) set_port(address, port);
    }
    completion.mx_callback = std::move(callback);
  }

  void deliver_host(const HostResult& result, std::uint16_t port, HostCallback callback) {
    Completion& completion = ready.emplace_back();
    completion.host.outcome = result.outcome;
    completion.host.addresses = result.addresses;
    completion.host.error = result.error;
    for (SocketAddress& address : completion.host.addresses) set_port(address, port);
    completion.host_callback = std::move(callback);
  }

  void deliver_ptr(PtrAnswer answer, PtrCallback callback) {
    Completion& completion = ready.emplace_back();
    completion.ptr = std::move(answer);
    completion.ptr_callback = std::move(callback);
  }

  void deliver_txt(TxtAnswer answer, TxtCallback callback) {
    Completion& completion = ready.emplace_back();
    completion.txt = std::move(answer);
    completion.txt_callback = std::move(callback);
  }

  void run_completions() {
    if (running_completions) return;  // a callback called on_tick: the outer call goes on
    running_completions = true;
    running.swap(ready);
    for (Completion& completion : running) {
      if (completion.mx_callback) {
        completion.mx_callback(completion.mx);
      } else if (completion.host_callback) {
        completion.host_callback(completion.host);
      } else if (completion.ptr_callback) {
        completion.ptr_callback(completion.ptr);
      } else {
        HAYATE_ASSERT(completion.txt_callback);
        completion.txt_callback(completion.txt);
      }
    }
    running.clear();
    running_completions = false;
  }

  // -- caches -----------------------------------------------------------------------------

  template <typename Map>
  void make_room(Map& cache, std::int64_t now_ms) {
    if (cache.size() < cache_entries_max) return;
    for (auto it = cache.begin(); it != cache.end();) {
      if (it->second.expires_ms <= now_ms) {
        cache.erase(it++);
      } else {
        ++it;
      }
    }
    if (cache.size() < cache_entries_max) return;
    // Nothing expired: drop an arbitrary eighth (hash order), so the next inserts are cheap.
    std::size_t to_drop = cache_entries_max / 8;
    for (auto it = cache.begin(); it != cache.end() && to_drop > 0; --to_drop) cache.erase(it++);
    HAYATE_ASSERT(cache.size() < cache_entries_max);
  }

  bool open_channel(bool take_failures_as_answers, std::vector<ares_addr_port_node>& nodes,
                    std::string& error) {
    ares_options ares{};
    ares.flags = ARES_FLAG_EDNS;
    if (take_failures_as_answers) ares.flags |= ARES_FLAG_NOCHECKRESP;
    ares.timeout = static_cast<int>(options.timeout_ms);
    ares.tries = static_cast<int>(options.tries);
    ares.sock_state_cb = &State::on_socket_state;
    ares.sock_state_cb_data = this;
    ares.ednspsz = edns_udp_payload_bytes;
    const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB |
                     ARES_OPT_EDNSPSZ;
    int status = ares_init_options(&channel, &ares, mask);
    if (status != ARES_SUCCESS) {
      channel = nullptr;
      error = absl::StrCat("c-ares initialization failed: ", ares_strerror(status));
      return false;
    }
    if (nodes.empty()) return true;
    status = ares_set_servers_ports(channel, nodes.data());
    if (status != ARES_SUCCESS) {
      ares_destroy(channel);
      channel = nullptr;
      error = absl::StrCat("c-ares rejected the DNS servers: ", ares_strerror(status));
      return false;
    }
    return true;
  }

  Outcome classify(int status, std::string& error) const {
    const Outcome outcome = outcome_of(status, error);
    // See create(): with several servers, c-ares folds their SERVFAIL and REFUSED into this.
    if (status == ARES_ECONNREFUSED && !single_server) error = error_servers_failed;
    return outcome;
  }

  static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<State*>(data)->watcher.watch_socket(fd, readable != 0, writable != 0);
  }

  // -- MX lookups -------------------------------------------------------------------------

  void send_query(const std::string& name, int type, ares_callback callback, void* arg) {
    ++stats.queries_sent;
    // May call `callback` before returning (bad name, no server): the callback only queues.
    ares_query(channel, name.c_str(), ns_c_in, type, callback, arg);
  }

  static void on_mx_reply(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto* lookup = static_cast<MxLookup*>(arg);
    State& state = *lookup->state;
    if (state.destroying) return;
    state.handle_mx_reply(*lookup, status, abuf, alen);
  }

  void handle_mx_reply(MxLookup& lookup, int status, const unsigned char* abuf, int alen) {
    const std::int64_t now_ms = clock_ms();
    if (status == ARES_ENODATA) return start_implicit_mx(lookup, now_ms);
    if (status != ARES_SUCCESS) {
      MxAnswer answer;
      answer.outcome = classify(status, answer.error);
      return finish_mx(lookup, std::move(answer), now_ms + negative_ttl_ms);
    }
    ares_mx_reply* replies = nullptr;
    const int parse_status = ares_parse_mx_reply(abuf, alen, &replies);
    if (parse_status == ARES_ENODATA) {  // only CNAMEs, or no MX among the records
      return start_implicit_mx(lookup, now_ms);
    }
    if (parse_status != ARES_SUCCESS) {
      MxAnswer answer;
      answer.error = "malformed MX answer";
      return finish_mx(lookup, std::move(answer), 0);
    }
    std::size_t null_exchanges = 0;
    for (const ares_mx_reply* reply = replies; reply != nullptr; reply = reply->next) {
      const std::string_view exchange = reply->host != nullptr ? reply->host : "";
      // RFC 7505 3: the null MX has the root as exchange, which c-ares returns as "".
      if (exchange.empty() || exchange == ".") {
        ++null_exchanges;
        continue;
      }
      std::string name;
      if (!normalize_name(exchange, name)) continue;  // no host could carry such a name
      lookup.hosts.push_back(MxHost{std::move(name), reply->priority, {}});
    }
    ares_free_data(replies);
    if (lookup.hosts.empty()) {
      MxAnswer answer;
      answer.outcome = null_exchanges > 0 ? Outcome::null_mx : Outcome::no_domain;
      answer.error = null_exchanges > 0 ? error_null_mx : error_invalid_name;
      return finish_mx(lookup, std::move(answer), now_ms + negative_ttl_ms);
    }
    // c-ares does not report the MX TTL: read it from the raw answer.
    AnswerTtl ttl;
    const bool ttl_known = parse_answer_ttl({abuf, static_cast<std::size_t>(alen)}, rr_type_mx,
                                            ttl) == MessageParse::ok &&
                           ttl.records_matched > 0;
    lookup.mx_expires_ms = now_ms + (ttl_known ? clamp_ttl_ms(ttl.ttl_min_s) : negative_ttl_ms);
    order_mx_hosts(lookup.hosts, next_seed());
    start_host_lookups(lookup);
  }

  // RFC 5321 5.1: no MX record, so the domain itself is the host, with preference 0.
  void start_implicit_mx(MxLookup& lookup, std::int64_t now_ms) {
    lookup.implicit = true;
    lookup.hosts.push_back(MxHost{lookup.domain, 0, {}});
    // The answer rests on a negative one (no MX), which lives dns_negative_ttl_s.
    lookup.mx_expires_ms = now_ms + negative_ttl_ms;
    start_host_lookups(lookup);
  }

  void start_host_lookups(MxLookup& lookup) {
    HAYATE_ASSERT(!lookup.hosts.empty() && lookup.hosts.size() <= limits::mx_hosts_max);
    lookup.results.assign(lookup.hosts.size(), HostResult{});
    // One extra count holds the lookup open while hosts answer during this loop (cache hits,
    // queries that fail at once).
    lookup.hosts_pending = lookup.hosts.size() + 1;
    for (std::size_t i = 0; i < lookup.hosts.size(); ++i) {
      request_host(lookup.hosts[i].name, HostWaiter{&lookup, i, 0, nullptr});
    }
    host_done_for_mx(lookup);
  }

  void host_result_for_mx(MxLookup& lookup, std::size_t index, const HostResult& result) {
    HAYATE_ASSERT(index < lookup.results.size());
    lookup.results[index] = result;
    host_done_for_mx(lookup);
  }

  void host_done_for_mx(MxLookup& lookup) {
    HAYATE_ASSERT(lookup.hosts_pending > 0);
    if (--lookup.hosts_pending > 0) return;
    const std::int64_t now_ms = clock_ms();
    MxAnswer answer;
    std::int64_t expires_ms = lookup.mx_expires_ms;
    const std::string* temporary_error = nullptr;
    bool any_address = false;
    for (std::size_t i = 0; i < lookup.hosts.size(); ++i) {
      const HostResult& result = lookup.results[i];
      if (!result.addresses.empty()) {
        any_address = true;
        expires_ms = std::min(expires_ms, result.expires_ms);
      } else if (result.outcome == Outcome::temporary && temporary_error == nullptr) {
        temporary_error = &result.error;
      }
      lookup.hosts[i].addresses = result.addresses;
    }
    if (any_address) {
      answer.outcome = Outcome::ok;
      answer.implicit = lookup.implicit;
      answer.hosts = std::move(lookup.hosts);
      // A host that could not be looked up now is retried soon, not after a day.
      if (temporary_error != nullptr) expires_ms = std::min(expires_ms, now_ms + negative_ttl_ms);
    } else if (temporary_error != nullptr) {
      answer.outcome = Outcome::temporary;
      answer.error = *temporary_error;
    } else {
      answer.outcome = Outcome::no_domain;
      answer.error = lookup.implicit ? error_no_mx_no_address : error_no_host_address;
      expires_ms = now_ms + negative_ttl_ms;
    }
    finish_mx(lookup, std::move(answer), expires_ms);
  }

  // Caches `answer` unless temporary, queues it for every waiter and ends the lookup.
  void finish_mx(MxLookup& lookup, MxAnswer answer, std::int64_t expires_ms) {
    auto node = mx_in_flight.extract(lookup.domain);
    HAYATE_ASSERT(!node.empty() && node.mapped().get() == &lookup);
    if (answer.outcome != Outcome::temporary) {
      const std::int64_t now_ms = clock_ms();
      make_room(mx_cache, now_ms);
      mx_cache.insert_or_assign(lookup.domain, MxCacheEntry{answer, expires_ms});
    }
    for (MxWaiter& waiter : lookup.waiters) {
      deliver_mx(answer, waiter.port, std::move(waiter.callback));
    }
  }

  // -- host lookups -----------------------------------------------------------------------

  void request_host(const std::string& name, HostWaiter waiter) {
    const std::int64_t now_ms = clock_ms();
    if (auto cached = host_cache.find(name); cached != host_cache.end()) {
      if (cached->second.expires_ms > now_ms) {
        ++stats.cache_hits;
        return notify_host_waiter(std::move(waiter), cached->second);
      }
      host_cache.erase(cached);
    }
    if (auto in_flight = hosts_in_flight.find(name); in_flight != hosts_in_flight.end()) {
      ++stats.coalesced;
      in_flight->second->waiters.push_back(std::move(waiter));
      return;
    }
    auto owned = std::make_unique<HostLookup>();
    HostLookup& lookup = *owned;
    lookup.state = this;
    lookup.name = name;
    lookup.a.lookup = &lookup;
    lookup.aaaa.lookup = &lookup;
    lookup.waiters.push_back(std::move(waiter));
    hosts_in_flight.emplace(name, std::move(owned));
    lookup.pending = 3;  // A, AAAA, and this function until both are sent
    send_query(lookup.name, ns_t_a, &on_address_reply, &lookup.a);
    send_query(lookup.name, ns_t_aaaa, &on_address_reply, &lookup.aaaa);
    family_done(lookup);
  }

  void notify_host_waiter(HostWaiter waiter, const HostResult& result) {
    if (waiter.mx != nullptr) return host_result_for_mx(*waiter.mx, waiter.host_index, result);
    deliver_host(result, waiter.port, std::move(waiter.callback));
  }

  static void on_address_reply(void* arg, int status, int /*timeouts*/, unsigned char* abuf,
                               int alen) {
    auto* query = static_cast<FamilyQuery*>(arg);
    HostLookup& lookup = *query->lookup;
    if (lookup.state->destroying) return;
    query->status = status;
    if (status == ARES_SUCCESS) read_addresses(*query, query == &lookup.a, abuf, alen);
    lookup.state->family_done(lookup);
  }

  static void read_addresses(FamilyQuery& query, bool ipv4, const unsigned char* abuf, int alen) {
    int count = limits::addresses_per_host_max;
    int parse_status;
    if (ipv4) {
      ares_addrttl records[limits::addresses_per_host_max];
      parse_status = ares_parse_a_reply(abuf, alen, nullptr, records, &count);
      for (int i = 0; parse_status == ARES_SUCCESS && i < count; ++i) {
        query.addresses.push_back(ipv4_address(records[i].ipaddr));
        query.ttl_min_s =
            i == 0 ? records[i].ttl : std::min<std::int64_t>(query.ttl_min_s, records[i].ttl);
      }
    } else {
      ares_addr6ttl records[limits::addresses_per_host_max];
      parse_status = ares_parse_aaaa_reply(abuf, alen, nullptr, records, &count);
      for (int i = 0; parse_status == ARES_SUCCESS && i < count; ++i) {
        query.addresses.push_back(ipv6_address(&records[i].ip6addr));
        query.ttl_min_s =
            i == 0 ? records[i].ttl : std::min<std::int64_t>(query.ttl_min_s, records[i].ttl);
      }
    }
    // A CNAME without the record at its end parses as "no data".
    if (parse_status != ARES_SUCCESS) {
      query.status = parse_status;
    } else if (query.addresses.empty()) {
      query.status = ARES_ENODATA;
    }
  }

  void family_done(HostLookup& lookup) {
    HAYATE_ASSERT(lookup.pending > 0);
    if (--lookup.pending > 0) return;
    const HostResult result = combine_families(lookup);
    auto node = hosts_in_flight.extract(lookup.name);
    HAYATE_ASSERT(!node.empty() && node.mapped().get() == &lookup);
    if (result.outcome != Outcome::temporary) {
      make_room(host_cache, clock_ms());
      host_cache.insert_or_assign(lookup.name, result);
    }
    // Waiters may finish MX lookups; none of them touches this one, which `node` still owns.
    for (HostWaiter& waiter : lookup.waiters) notify_host_waiter(std::move(waiter), result);
  }

  // -- PTR lookups ------------------------------------------------------------------------

  static void on_ptr_reply(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto* lookup = static_cast<PtrLookup*>(arg);
    State& state = *lookup->state;
    if (state.destroying) return;
    auto node = state.ptr_in_flight.extract(lookup);
    HAYATE_ASSERT(!node.empty());
    PtrAnswer answer;
    if (status == ARES_SUCCESS) status = read_ptr_names(lookup->address, abuf, alen, answer.names);
    if (status == ARES_SUCCESS) {
      answer.outcome = Outcome::ok;
    } else {
      answer.outcome = state.classify(status, answer.error);
      if (status == ARES_ENODATA) answer.error = "no PTR record";
    }
    state.deliver_ptr(std::move(answer), std::move(lookup->callback));
  }

  // c-ares 1.18 follows CNAMEs and gathers every PTR name among the aliases (the last one
  // also as h_name). Names no host could have are left out, as for MX exchanges.
  static int read_ptr_names(const SocketAddress& address, const unsigned char* abuf, int alen,
                            std::vector<std::string>& names) {
    const bool ipv4 = address.storage.ss_family == AF_INET;
    const void* ip = ipv4 ? static_cast<const void*>(
                                &reinterpret_cast<const sockaddr_in&>(address.storage).sin_addr)
                          : static_cast<const void*>(
                                &reinterpret_cast<const sockaddr_in6&>(address.storage).sin6_addr);
    hostent* host = nullptr;
    const int status =
        ares_parse_ptr_reply(abuf, alen, ip, ipv4 ? 4 : 16, ipv4 ? AF_INET : AF_INET6, &host);
    if (status != ARES_SUCCESS) return status;
    const auto add = [&names](const char* raw) {
      std::string name;
      if (raw == nullptr || !normalize_name(raw, name) || names.size() >= limits::ptr_names_max) {
        return;
      }
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        names.push_back(std::move(name));
      }
    };
    for (char** alias = host->h_aliases; alias != nullptr && *alias != nullptr; ++alias) {
      add(*alias);
    }
    add(host->h_name);
    ares_free_hostent(host);
    return names.empty() ? ARES_ENODATA : ARES_SUCCESS;
  }

  // -- TXT lookups ------------------------------------------------------------------------

  static void on_txt_reply(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto* lookup = static_cast<TxtLookup*>(arg);
    State& state = *lookup->state;
    if (state.destroying) return;
    auto node = state.txt_in_flight.extract(lookup);
    HAYATE_ASSERT(!node.empty());
    TxtAnswer answer;
    if (status == ARES_SUCCESS) status = read_txt_records(abuf, alen, answer.records);
    if (status == ARES_SUCCESS) {
      answer.outcome = Outcome::ok;
    } else {
      answer.outcome = state.classify(status, answer.error);
      if (status == ARES_ENODATA) answer.error = "no TXT record";
    }
    state.deliver_txt(std::move(answer), std::move(lookup->callback));
  }

  // ares_parse_txt_reply_ext gives every character-string, `record_start` marking the first
  // of each record; the strings of one record are joined.
  static int read_txt_records(const unsigned char* abuf, int alen,
                              std::vector<std::string>& records) {
    ares_txt_ext* strings = nullptr;
    const int status = ares_parse_txt_reply_ext(abuf, alen, &strings);
    if (status != ARES_SUCCESS) return status;
    bool keep = false;  // the current record is one of the first txt_records_max
    for (const ares_txt_ext* string = strings; string != nullptr; string = string->next) {
      if (string->record_start != 0 || records.empty()) {
        keep = records.size() < limits::txt_records_max;
        if (keep) records.emplace_back();
      }
      if (!keep) continue;
      std::string& record = records.back();
      const std::size_t room = limits::txt_record_bytes_max - record.size();
      record.append(reinterpret_cast<const char*>(string->txt), std::min(string->length, room));
    }
    ares_free_data(strings);
    return records.empty() ? ARES_ENODATA : ARES_SUCCESS;
  }

  HostResult combine_families(const HostLookup& lookup) {
    const std::int64_t now_ms = clock_ms();
    HostResult result;
    std::int64_t expires_ms = std::numeric_limits<std::int64_t>::max();
    const FamilyQuery* temporary = nullptr;
    bool nxdomain = false;
    // IPv4 first: every peer can reach it, and loopback tests listen on 127.0.0.0/8.
    for (const FamilyQuery* family : {&lookup.a, &lookup.aaaa}) {
      for (const SocketAddress& address : family->addresses) {
        if (result.addresses.size() < limits::addresses_per_host_max) {
          result.addresses.push_back(address);
        }
      }
      if (!family->addresses.empty()) {
        expires_ms = std::min(expires_ms, now_ms + clamp_ttl_ms(family->ttl_min_s));
        continue;
      }
      std::string error;
      if (classify(family->status, error) == Outcome::temporary) {
        if (temporary == nullptr) temporary = family;
      } else {
        // A negative answer for one family lives as long as negative answers do.
        nxdomain = nxdomain || family->status == ARES_ENOTFOUND;
        expires_ms = std::min(expires_ms, now_ms + negative_ttl_ms);
      }
    }
    if (!result.addresses.empty()) {
      result.outcome = Outcome::ok;
      if (temporary != nullptr) expires_ms = std::min(expires_ms, now_ms + negative_ttl_ms);
    } else if (temporary != nullptr) {
      result.outcome = Outcome::temporary;
      classify(temporary->status, result.error);
    } else {
      result.outcome = Outcome::no_domain;
      result.error = nxdomain ? "NXDOMAIN" : "no address";
    }
    result.expires_ms = expires_ms;
    return result;
  }
};

// ---------------------------------------------------------------------------------------------
// Resolver

namespace {

// c-ares' list of servers from ours (which hold ports too); fails on an unknown family.
bool server_nodes(const std::vector<SocketAddress>& servers,
                  std::vector<ares_addr_port_node>& nodes, std::string& error) {
  nodes.assign(servers.size(), ares_addr_port_node{});
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const SocketAddress& server = servers[i];
    ares_addr_port_node& node = nodes[i];
    node.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
    node.family = server.storage.ss_family;
    if (node.family == AF_INET) {
      node.addr.addr4 = reinterpret_cast<const sockaddr_in&>(server.storage).sin_addr;
    } else if (node.family == AF_INET6) {
      std::memcpy(&node.addr.addr6,
                  &reinterpret_cast<const sockaddr_in6&>(server.storage).sin6_addr,
                  sizeof(node.addr.addr6));
    } else {
      error = absl::StrCat("DNS server ", i + 1, " is not an IPv4 or IPv6 address");
      return false;
    }
    node.udp_port = node.tcp_port = port_of(server);
  }
  return true;
}

std::size_t count_servers(ares_channel channel) {
  ares_addr_port_node* servers = nullptr;
  if (ares_get_servers_ports(channel, &servers) != ARES_SUCCESS) return 0;
  std::size_t count = 0;
  for (const ares_addr_port_node* node = servers; node != nullptr; node = node->next) ++count;
  ares_free_data(servers);
  return count;
}

}  // namespace

std::unique_ptr<Resolver> Resolver::create(const ResolverOptions& options, SocketWatcher& watcher,
                                           std::string& error) {
  if (options.timeout_ms == 0 || options.tries == 0) {
    error = "DNS timeout and tries must be at least 1";
    return nullptr;
  }
  if (options.timeout_ms > static_cast<std::uint32_t>(std::numeric_limits<int>::max()) ||
      options.tries > 100) {
    error = "DNS timeout or tries out of range";
    return nullptr;
  }
  if (!init_ares_library_once(error)) return nullptr;
  std::vector<ares_addr_port_node> nodes;
  if (!server_nodes(options.servers, nodes, error)) return nullptr;
  auto state = std::make_unique<State>(options, watcher);
  // c-ares 1.18 retries SERVFAIL and REFUSED on the next server, and when none is left reports
  // "connection refused". With one server there is no next: take such answers as they come, so
  // that they are reported by name (ARES_FLAG_NOCHECKRESP).
  std::size_t server_count = nodes.size();
  if (!state->open_channel(server_count == 1, nodes, error)) return nullptr;
  if (server_count == 0) {  // from /etc/resolv.conf
    server_count = count_servers(state->channel);
    if (server_count == 1) {
      ares_destroy(state->channel);
      state->channel = nullptr;
      if (!state->open_channel(true, nodes, error)) return nullptr;
    }
  }
  state->single_server = server_count == 1;
  return std::unique_ptr<Resolver>(new Resolver(std::move(state)));
}

Resolver::Resolver(std::unique_ptr<State> state) : state_(std::move(state)) {}

Resolver::~Resolver() {
  // ares_destroy fails every query in flight through its callback: those return at once, and
  // the lookups they point at are freed with the state afterwards.
  state_->destroying = true;
  ares_destroy(state_->channel);
}

void Resolver::resolve_mx(std::string_view domain, std::uint16_t port, MxCallback callback) {
  HAYATE_ASSERT(callback);
  State& state = *state_;
  std::string key;
  if (!normalize_name(domain, key)) {
    MxAnswer answer;
    answer.outcome = Outcome::no_domain;
    answer.error = error_invalid_name;
    return state.deliver_mx(answer, port, std::move(callback));
  }
  const std::int64_t now_ms = state.clock_ms();
  if (auto cached = state.mx_cache.find(key); cached != state.mx_cache.end()) {
    if (cached->second.expires_ms > now_ms) {
      ++state.stats.cache_hits;
      return state.deliver_mx(cached->second.answer, port, std::move(callback));
    }
    state.mx_cache.erase(cached);
  }
  if (auto in_flight = state.mx_in_flight.find(key); in_flight != state.mx_in_flight.end()) {
    ++state.stats.coalesced;
    in_flight->second->waiters.push_back(State::MxWaiter{port, std::move(callback)});
    return;
  }
  auto owned = std::make_unique<State::MxLookup>();
  State::MxLookup& lookup = *owned;
  lookup.state = &state;
  lookup.domain = key;
  lookup.waiters.push_back(State::MxWaiter{port, std::move(callback)});
  state.mx_in_flight.emplace(std::move(key), std::move(owned));
  // The lookup may end inside this call (a query that fails at once): do not touch it after.
  state.send_query(lookup.domain, ns_t_mx, &State::on_mx_reply, &lookup);
}

void Resolver::resolve_host(std::string_view host, std::uint16_t port, HostCallback callback) {
  HAYATE_ASSERT(callback);
  State& state = *state_;
  HostResult literal;
  SocketAddress address;
  if (parse_ip(host, 0, address)) {
    literal.outcome = Outcome::ok;
    literal.addresses.push_back(address);
    return state.deliver_host(literal, port, std::move(callback));
  }
  std::string name;
  if (!normalize_name(host, name)) {
    literal.outcome = Outcome::no_domain;
    literal.error = error_invalid_name;
    return state.deliver_host(literal, port, std::move(callback));
  }
  state.request_host(name, State::HostWaiter{nullptr, 0, port, std::move(callback)});
}

void Resolver::resolve_ptr(const SocketAddress& address, PtrCallback callback) {
  HAYATE_ASSERT(callback);
  State& state = *state_;
  const std::string name = reverse_lookup_name(address);
  if (name.empty()) {
    PtrAnswer answer;
    answer.outcome = Outcome::no_domain;
    answer.error = "not an IPv4 or IPv6 address";
    return state.deliver_ptr(std::move(answer), std::move(callback));
  }
  auto owned = std::make_unique<State::PtrLookup>();
  State::PtrLookup& lookup = *owned;
  lookup.state = &state;
  lookup.address = address;
  lookup.callback = std::move(callback);
  state.ptr_in_flight.emplace(&lookup, std::move(owned));
  // The lookup may end inside this call (a query that fails at once): do not touch it after.
  state.send_query(name, ns_t_ptr, &State::on_ptr_reply, &lookup);
}

void Resolver::resolve_txt(std::string_view name, TxtCallback callback) {
  HAYATE_ASSERT(callback);
  State& state = *state_;
  std::string normalized;
  if (!normalize_name(name, normalized)) {
    TxtAnswer answer;
    answer.outcome = Outcome::no_domain;
    answer.error = error_invalid_name;
    return state.deliver_txt(std::move(answer), std::move(callback));
  }
  auto owned = std::make_unique<State::TxtLookup>();
  State::TxtLookup& lookup = *owned;
  lookup.state = &state;
  lookup.callback = std::move(callback);
  state.txt_in_flight.emplace(&lookup, std::move(owned));
  // The lookup may end inside this call (a query that fails at once): do not touch it after.
  state.send_query(normalized, ns_t_txt, &State::on_txt_reply, &lookup);
}

void Resolver::on_socket_ready(int fd, bool readable, bool writable) {
  ares_process_fd(state_->channel, readable ? fd : ARES_SOCKET_BAD,
                  writable ? fd : ARES_SOCKET_BAD);
  state_->run_completions();
}

void Resolver::on_tick() {
  ares_process_fd(state_->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  state_->run_completions();
}

std::int64_t Resolver::next_timeout_ms() const {
  if (!state_->ready.empty()) return 0;
  timeval remaining{};
  const timeval* timeout = ares_timeout(state_->channel, nullptr, &remaining);
  if (timeout == nullptr) return -1;
  // c-ares 1.18 truncates to whole milliseconds and reports 0 while a query still has a
  // fraction of one left, and on_tick then finds nothing due: round up and wait at least 1 ms
  // so the owner does not spin.
  const std::int64_t ms =
      std::int64_t{timeout->tv_sec} * ms_per_s + (timeout->tv_usec + 999) / 1000;
  return std::max<std::int64_t>(ms, 1);
}

bool Resolver::idle() const {
  return state_->mx_in_flight.empty() && state_->hosts_in_flight.empty() &&
         state_->ptr_in_flight.empty() && state_->txt_in_flight.empty() && state_->ready.empty();
}

const ResolverStats& Resolver::stats() const { return state_->stats; }

}  // namespace hayate::dns
