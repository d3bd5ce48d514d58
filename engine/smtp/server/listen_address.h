// Parsing of an SMTP server's --listen argument: "127.0.0.1:2525", "[::1]:2525", "localhost:0".
// Pure (no socket is opened); loopback is required unless the caller allows otherwise, so that
// a server that accepts mail (a test sink, a bounce receiver) is not reachable from the network
// by accident.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hayate::smtp::server {

struct ListenAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
  bool loopback = false;
  std::uint16_t port() const;
  void set_port(std::uint16_t port);
  std::string to_string() const;  // "127.0.0.1:2525", "[::1]:2525"
};

// Numeric addresses only (no DNS), plus the name "localhost" for 127.0.0.1. Port 0 asks the
// kernel for a free port. A non-loopback address is an error unless allow_non_loopback.
absl::StatusOr<ListenAddress> parse_listen_address(std::string_view text, bool allow_non_loopback);

}  // namespace hayate::smtp::server
