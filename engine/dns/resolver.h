// Asynchronous DNS over c-ares, driven by its owner's event loop: no blocking call and no
// thread of its own. The owner (a shard) watches the sockets c-ares asks for and calls back
// on readiness and on timer ticks. Answers are cached by TTL (failures briefly).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/limits.h"

namespace hayate::dns {

// One IPv4 or IPv6 address with the port to use.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string to_string() const;  // "127.0.0.1:25", "[::1]:25"
  std::string ip_string() const;  // "127.0.0.1", "::1": the address alone, without port
  static bool parse(std::string_view text, std::uint16_t default_port, SocketAddress& out);
};

enum class Outcome : std::uint8_t {
  ok,         // hosts/addresses are usable
  no_domain,  // NXDOMAIN (or no MX and no address): a permanent failure (bounce)
  null_mx,    // RFC 7505 "0 ." : the domain accepts no mail (bounce)
  temporary,  // timeout, SERVFAIL, refused: try again later (defer)
};

struct MxHost {
  std::string name;
  std::uint16_t preference = 0;
  std::vector<SocketAddress> addresses;  // port set to the caller's port; may be empty
};

struct MxAnswer {
  Outcome outcome = Outcome::temporary;
  std::vector<MxHost> hosts;  // ordered: preference ascending, equal preferences shuffled
  bool implicit = false;      // no MX record: the domain's own A/AAAA (RFC 5321 5.1)
  std::string error;          // for logs: "NXDOMAIN", "timeout", "SERVFAIL"...
};

struct HostAnswer {
  Outcome outcome = Outcome::temporary;
  std::vector<SocketAddress> addresses;
  std::string error;
};

struct PtrAnswer {
  Outcome outcome = Outcome::temporary;  // no_domain: NXDOMAIN or no PTR record
  std::vector<std::string> names;        // lower case, no final dot, each once, in answer order
  std::string error;
};

struct TxtAnswer {
  Outcome outcome = Outcome::temporary;  // no_domain: NXDOMAIN or no TXT record
  // One entry per TXT record, its character-strings joined without separator (RFC 7208 3.3,
  // RFC 6376 3.6.2.2: a long record is split into strings of at most 255 octets), in answer
  // order; at most limits::txt_records_max records of at most limits::txt_record_bytes_max.
  std::vector<std::string> records;
  std::string error;
};

// RFC 1035 3.5 and RFC 3596 2.5: the name a PTR lookup asks for, "4.3.2.1.in-addr.arpa" or
// 32 nibbles and "ip6.arpa"; empty for an address of neither family.
std::string reverse_lookup_name(const SocketAddress& address);

// What the owner's loop must do for c-ares: watch a socket for reading and/or writing
// (both false: stop watching it).
// It is called from inside any Resolver member, resolve_* and the destructor included.
class SocketWatcher {
 public:
  virtual ~SocketWatcher() = default;
  virtual void watch_socket(int fd, bool readable, bool writable) = 0;
};

struct ResolverOptions {
  std::vector<SocketAddress> servers;                 // empty: /etc/resolv.conf
  std::uint32_t timeout_ms = limits::dns_timeout_ms;  // c-ares doubles it on each round
  std::uint32_t tries = limits::dns_tries;            // rounds over the servers
  std::function<std::int64_t()> clock_ms;             // cache expiry clock; empty: steady_clock
  std::uint64_t random_seed = 0;                      // shuffles of equal MX preferences; 0: random
};

// Capacity of each answer cache (MX answers, host answers). When one is full, expired entries
// are dropped; when none has expired, an arbitrary eighth of the entries is.
inline constexpr std::uint32_t cache_entries_max = 65'536;

struct ResolverStats {
  std::uint64_t queries_sent = 0;  // DNS questions handed to c-ares (MX, A, AAAA, PTR, TXT)
  std::uint64_t cache_hits = 0;    // requests answered from the cache
  std::uint64_t coalesced = 0;     // requests that joined an identical lookup in flight
};

class Resolver {
 public:
  using MxCallback = std::function<void(const MxAnswer&)>;
  using HostCallback = std::function<void(const HostAnswer&)>;
  using PtrCallback = std::function<void(const PtrAnswer&)>;
  using TxtCallback = std::function<void(const TxtAnswer&)>;

  // Fails (returns nullptr and sets error) when c-ares cannot be initialized.
  // `watcher` must outlive the resolver. Callbacks still pending at destruction are dropped,
  // never called. A callback may call resolve_* again (it is answered on a later call of the
  // loop), but must not destroy the resolver.
  static std::unique_ptr<Resolver> create(const ResolverOptions& options, SocketWatcher& watcher,
                                          std::string& error);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // MX hosts of `domain` with their addresses (A and AAAA of each host), `port` set on every
  // address. Implicit MX when there is no MX record; null MX is reported as such. Served
  // from the cache while the TTL lasts. The callback runs later, never inside this call.
  void resolve_mx(std::string_view domain, std::uint16_t port, MxCallback callback);

  // A and AAAA of a host name, or the address itself for an IP literal.
  void resolve_host(std::string_view host, std::uint16_t port, HostCallback callback);

  // The PTR names of an address (reverse DNS), following CNAMEs (RFC 2317 delegation). For
  // start-up checks, not the sending path: neither cached nor coalesced. The port is ignored.
  void resolve_ptr(const SocketAddress& address, PtrCallback callback);

  // The TXT records of `name` (SPF, DKIM keys, DMARC policies), following CNAMEs. For
  // start-up checks, like resolve_ptr: neither cached nor coalesced.
  void resolve_txt(std::string_view name, TxtCallback callback);

  // The owner calls these from its loop; user callbacks run only inside them. An error or a
  // hang-up on a socket counts as readable. Readiness must be level-triggered (a one-shot poll
  // re-armed after each call): c-ares 1.18 reads a TCP answer in steps, one per call.
  void on_socket_ready(int fd, bool readable, bool writable);
  void on_tick();                        // processes timeouts; call at next_timeout_ms()
  std::int64_t next_timeout_ms() const;  // -1: nothing pending; 0: answers are waiting
  bool idle() const;                     // no query in flight and no answer waiting
  const ResolverStats& stats() const;

 private:
  struct State;
  explicit Resolver(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Pure MX ordering (RFC 5321 5.1): sorts by preference, shuffles hosts of equal preference
// with `random_seed`, keeps at most limits::mx_hosts_max. A name listed twice is kept once,
// with its lowest preference.
void order_mx_hosts(std::vector<MxHost>& hosts, std::uint64_t random_seed);

}  // namespace hayate::dns
