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

namespace hayate::dns {

// One IPv4 or IPv6 address with the port to use.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string to_string() const;  // "127.0.0.1:25", "[::1]:25"
  static bool parse(std::string_view text, std::uint16_t default_port, SocketAddress& out);
};

enum class Outcome : std::uint8_t {
  ok,             // hosts/addresses are usable
  no_domain,      // NXDOMAIN (or no MX and no address): a permanent failure (bounce)
  null_mx,        // RFC 7505 "0 ." : the domain accepts no mail (bounce)
  temporary,      // timeout, SERVFAIL, refused: try again later (defer)
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

// What the owner's loop must do for c-ares: watch a socket for reading and/or writing
// (both false: stop watching it).
class SocketWatcher {
 public:
  virtual ~SocketWatcher() = default;
  virtual void watch_socket(int fd, bool readable, bool writable) = 0;
};

struct ResolverOptions {
  std::vector<SocketAddress> servers;  // empty: /etc/resolv.conf
  std::uint32_t timeout_ms = 5000;
  std::uint32_t tries = 3;
};

class Resolver {
 public:
  using MxCallback = std::function<void(const MxAnswer&)>;
  using HostCallback = std::function<void(const HostAnswer&)>;

  // Fails (returns nullptr and sets error) when c-ares cannot be initialized.
  static std::unique_ptr<Resolver> create(const ResolverOptions& options, SocketWatcher& watcher,
                                          std::string& error);
  ~Resolver();

  // MX hosts of `domain` with their addresses (A and AAAA of each host), `port` set on every
  // address. Implicit MX when there is no MX record; null MX is reported as such. Served
  // from the cache while the TTL lasts. The callback runs later, never inside this call.
  void resolve_mx(std::string_view domain, std::uint16_t port, MxCallback callback);

  // A and AAAA of a host name, or the address itself for an IP literal.
  void resolve_host(std::string_view host, std::uint16_t port, HostCallback callback);

  // The owner calls these from its loop.
  void on_socket_ready(int fd, bool readable, bool writable);
  void on_tick();                        // processes timeouts; call at next_timeout_ms()
  std::int64_t next_timeout_ms() const;  // -1: nothing pending
  bool idle() const;                     // no query in flight

 private:
  struct State;
  explicit Resolver(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Pure MX ordering (RFC 5321 5.1): sorts by preference, shuffles hosts of equal preference
// with `random_seed`, keeps at most limits::mx_hosts_max.
void order_mx_hosts(std::vector<MxHost>& hosts, std::uint64_t random_seed);

}  // namespace hayate::dns
