// Parsing of a server's listen address (see listen_address.h).
#include "engine/smtp/server/listen_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::smtp::server {

std::uint16_t ListenAddress::port() const {
  if (family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
}

void ListenAddress::set_port(std::uint16_t port) {
  if (family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  }
}

std::string ListenAddress::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, text,
                sizeof text);
    return hayate::cat("[", std::string_view(text), "]:", port());
  }
  ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, text,
              sizeof text);
  return hayate::cat(std::string_view(text), ":", port());
}

absl::StatusOr<ListenAddress> parse_listen_address(std::string_view text, bool allow_non_loopback) {
  const auto usage = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        hayate::cat("--listen ", text, ": ", why, " (expected 127.0.0.1:PORT or [::1]:PORT)"));
  };
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return usage("bad IPv6 form");
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return usage("no port");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return usage("IPv6 needs brackets");
  }
  if (port_text.empty() || port_text.size() > 5) return usage("bad port");
  std::uint32_t port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') return usage("bad port");
    port = port * 10 + std::uint32_t(c - '0');
  }
  if (port > 65535) return usage("port out of range");
  if (host == "localhost") host = "127.0.0.1";
  if (host.empty() || host.size() >= INET6_ADDRSTRLEN) return usage("bad address");

  ListenAddress address;
  const std::string host_text(host);
  if (text.front() == '[') {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    if (::inet_pton(AF_INET6, host_text.c_str(), &v6->sin6_addr) != 1) {
      return usage("not a numeric IPv6 address");
    }
    v6->sin6_family = AF_INET6;
    address.family = AF_INET6;
    address.length = sizeof(sockaddr_in6);
    const std::uint8_t* bytes = v6->sin6_addr.s6_addr;
    address.loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) ||
                       (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) && bytes[12] == 127);
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
    if (::inet_pton(AF_INET, host_text.c_str(), &v4->sin_addr) != 1) {
      return usage("not a numeric IPv4 address");
    }
    v4->sin_family = AF_INET;
    address.family = AF_INET;
    address.length = sizeof(sockaddr_in);
    address.loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;  // 127.0.0.0/8
  }
  address.set_port(std::uint16_t(port));
  HAYATE_ASSERT(address.port() == port);
  if (!address.loopback && !allow_non_loopback) {
    return absl::InvalidArgumentError(
        hayate::cat("--listen ", text,
                    ": not a loopback address; a server that accepts mail listens on "
                    "127.0.0.0/8 or ::1 only unless --allow-non-loopback is given"));
  }
  return address;
}

}  // namespace hayate::smtp::server
