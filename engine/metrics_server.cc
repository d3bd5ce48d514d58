// The Prometheus scrape endpoint (see metrics_server.h). HTTP/1.1 per RFC 9110 and RFC 9112,
// reduced to what a scraper sends: one request per connection, no body, Connection: close.
#include "engine/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "engine/assert.h"
#include "engine/dns/resolver.h"
#include "engine/strings.h"

namespace hayate {

namespace {

constexpr int listen_backlog = 64;
constexpr std::int64_t accept_pause_ms = 100;  // after EMFILE and the like: poll would spin

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// RFC 9110 5.6.2: tchar.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_token_char);
}

struct RequestLine {
  std::string_view method;
  std::string_view target;
  int minor_version = 0;
};

// RFC 9112 3: method SP request-target SP HTTP-version. 0 when good, else the status.
int parse_request_line(std::string_view text, RequestLine& line) {
  const std::size_t first = text.find(' ');
  if (first == std::string_view::npos) return 400;  // HTTP/0.9 "GET /" is not supported
  const std::size_t second = text.find(' ', first + 1);
  if (second == std::string_view::npos) return 400;
  line.method = text.substr(0, first);
  line.target = text.substr(first + 1, second - first - 1);
  const std::string_view version = text.substr(second + 1);
  if (!is_token(line.method) || line.target.empty()) return 400;
  for (char c : line.target) {
    if (c <= 0x20 || c >= 0x7f) return 400;  // RFC 3986: visible ASCII only
  }
  // HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3)
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return 400;
  }
  if (version[5] != '1') return 505;
  line.minor_version = version[7] - '0';
  return 0;
}

// RFC 9112 5: field-name ":" OWS field-value OWS. No whitespace before the colon (5.1) and
// no obs-fold (5.2): both are rejected with 400, which the RFC allows.
bool valid_field_line(std::string_view text, bool& is_host) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || !is_token(text.substr(0, colon))) return false;
  for (char c : text.substr(colon + 1)) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && byte != '\t') || byte == 0x7f) return false;
  }
  is_host = equals_ignoring_case(text.substr(0, colon), "host");
  return true;
}

// The path of an origin-form or absolute-form target (RFC 9112 3.2.1, 3.2.2), or "" when the
// target is neither.
std::string_view target_path(std::string_view target) {
  if (target.front() != '/') {
    std::size_t authority = 0;
    if (target.size() >= 7 && equals_ignoring_case(target.substr(0, 7), "http://")) {
      authority = 7;
    } else if (target.size() >= 8 && equals_ignoring_case(target.substr(0, 8), "https://")) {
      authority = 8;
    } else {
      return {};
    }
    const std::size_t slash = target.find('/', authority);
    if (slash == std::string_view::npos) return "/";
    target = target.substr(slash);
  }
  return target.substr(0, target.find('?'));  // the query is ignored
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 505:
      return "HTTP Version Not Supported";
  }
  return "Error";
}

std::string_view error_body(int status) {
  switch (status) {
    case 400:
      return "bad request\n";
    case 404:
      return "not found: the metrics are at /metrics\n";
    case 405:
      return "method not allowed: use GET\n";
    case 408:
      return "request timeout\n";
    case 431:
      return "request header fields too large\n";
    case 505:
      return "HTTP version not supported: use HTTP/1.1\n";
  }
  return "error\n";
}

bool is_loopback(const sockaddr_storage& storage) {
  if (storage.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;  // 127.0.0.0/8
  }
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
  return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) ||
         (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) && v6->sin6_addr.s6_addr[12] == 127);
}

// "127.0.0.1:9464", "[::1]:9464" or "localhost:9464": numeric, with an explicit port.
absl::Status parse_listen_address(std::string_view text, bool allow_non_loopback,
                                  dns::SocketAddress& address) {
  const auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(cat("metrics listen address \"", text, "\": ", why,
                                          " (expected 127.0.0.1:PORT or [::1]:PORT)"));
  };
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return invalid("an IPv6 address needs brackets and a port");
    }
    host = text.substr(0, close + 1);
    port_text = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return invalid("no port");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return invalid("an IPv6 address needs brackets");
  }
  if (port_text.empty() || !std::all_of(port_text.begin(), port_text.end(),
                                        [](char c) { return c >= '0' && c <= '9'; })) {
    return invalid("the port is not a number");
  }
  if (port_text.size() > 5 || std::stoul(std::string(port_text)) > 65535) {
    return invalid("the port is above 65535");
  }
  const auto port = static_cast<std::uint16_t>(std::stoul(std::string(port_text)));
  if (host == "localhost") host = "127.0.0.1";
  // SocketAddress::parse wants a port from 1 up; port 0 (any free port) is set afterwards.
  if (host.empty() || !dns::SocketAddress::parse(cat(host, ":1"), 0, address)) {
    return invalid("not a numeric IP address");
  }
  if (address.storage.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&address.storage)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(&address.storage)->sin_port = htons(port);
  }
  if (!allow_non_loopback && !is_loopback(address.storage)) {
    return absl::InvalidArgumentError(
        cat("metrics listen address \"", text,
            "\" is not a loopback address; metrics reveal campaign names and volumes, so they "
            "are served on 127.0.0.0/8 or ::1 only"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status check_metrics_listen_address(std::string_view listen_address,
                                          bool allow_non_loopback) {
  dns::SocketAddress address;
  return parse_listen_address(listen_address, allow_non_loopback, address);
}

HttpVerdict examine_http_request(std::string_view received, std::size_t request_bytes_max) {
  HAYATE_ASSERT(request_bytes_max > 0);
  std::size_t position = 0;
  // RFC 9112 2.2: empty lines before the request-line are ignored.
  while (position < received.size() && (received[position] == '\r' || received[position] == '\n')) {
    if (received[position] == '\r' &&
        (position + 1 >= received.size() || received[position + 1] != '\n')) {
      break;  // a bare CR: judged below
    }
    position += received[position] == '\r' ? 2 : 1;
  }
  RequestLine request;
  bool request_line_seen = false;
  int host_fields = 0;
  while (true) {
    const std::size_t newline = received.find('\n', position);
    if (newline == std::string_view::npos || newline >= request_bytes_max) {
      // Complete lines were good so far: wait for more unless the cap is reached.
      return HttpVerdict{received.size() >= request_bytes_max ? 431 : 0};
    }
    std::string_view text = received.substr(position, newline - position);
    position = newline + 1;
    // RFC 9112 2.2: CRLF ends a line; a bare LF is accepted, a bare CR is not.
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.find('\r') != std::string_view::npos) return HttpVerdict{400};
    if (!request_line_seen) {
      if (const int status = parse_request_line(text, request); status != 0) {
        return HttpVerdict{status};
      }
      request_line_seen = true;
      continue;
    }
    if (text.empty()) break;  // the end of the header section
    bool is_host = false;
    if (!valid_field_line(text, is_host)) return HttpVerdict{400};
    host_fields += is_host ? 1 : 0;
  }
  // RFC 9112 3.2: an HTTP/1.1 request has exactly one Host; none or several is a 400.
  if (host_fields > 1 || (request.minor_version >= 1 && host_fields == 0)) return HttpVerdict{400};
  const std::string_view path = target_path(request.target);
  if (path.empty()) return HttpVerdict{400};
  if (path != "/metrics") return HttpVerdict{404};
  if (request.method == "GET") return HttpVerdict{200, false};
  if (request.method == "HEAD") return HttpVerdict{200, true};
  return HttpVerdict{405};
}

std::string make_http_response(int status, std::string_view body, bool head) {
  if (status != 200) body = error_body(status);
  std::string response =
      cat("HTTP/1.1 ", status, " ", reason_phrase(status),
          "\r\nContent-Type: ", status == 200 ? metrics_content_type : "text/plain; charset=utf-8",
          "\r\nContent-Length: ", body.size(), "\r\n");
  if (status == 405) response += "Allow: GET, HEAD\r\n";  // RFC 9110 15.5.6
  response += "Connection: close\r\n\r\n";
  if (!head) response += body;
  return response;
}

struct MetricsServer::Connection {
  enum class State : std::uint8_t { reading, writing, draining };
  int fd = -1;
  State state = State::reading;
  std::string input;
  std::string output;
  std::size_t written_bytes = 0;
  std::int64_t accepted_ms = 0;
  std::int64_t deadline_ms = 0;

  // A closed connection keeps fd -1 until serve() erases it.
  void close_socket() {
    close(fd);
    fd = -1;
  }
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::start(
    std::string_view listen_address, std::function<std::string()> render) {
  return start(listen_address, std::move(render), MetricsServerOptions{});
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::start(
    std::string_view listen_address, std::function<std::string()> render,
    const MetricsServerOptions& options) {
  HAYATE_ASSERT(render != nullptr);
  HAYATE_ASSERT(options.request_bytes_max > 0 && options.connections_max > 0);
  HAYATE_ASSERT(options.slow_request_ms < options.read_timeout_ms);
  dns::SocketAddress address;
  if (absl::Status status =
          parse_listen_address(listen_address, options.allow_non_loopback, address);
      !status.ok()) {
    return status;
  }
  const int family = address.storage.ss_family;
  const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::UnavailableError(cat("metrics: cannot create a socket: ", std::strerror(errno)));
  }
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // restart despite TIME_WAIT
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0 ||
      listen(fd, listen_backlog) != 0) {
    const int error = errno;
    close(fd);
    const std::string where = cat("metrics listen address ", listen_address);
    if (error == EADDRINUSE) {
      return absl::UnavailableError(
          cat(where, " is already in use (another hayate or exporter?); choose another port"));
    }
    if (error == EADDRNOTAVAIL) {
      return absl::UnavailableError(cat(where, " is not an address of this host"));
    }
    if (error == EACCES) {
      return absl::PermissionDeniedError(
          cat(where, ": permission denied (ports below 1024 need privileges)"));
    }
    return absl::UnavailableError(cat(where, ": cannot listen: ", std::strerror(error)));
  }
  dns::SocketAddress bound;
  bound.length = sizeof bound.storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound.storage), &bound.length) != 0) {
    const int error = errno;
    close(fd);
    return absl::UnavailableError(cat("metrics: getsockname: ", std::strerror(error)));
  }
  const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    const int error = errno;
    close(fd);
    return absl::UnavailableError(cat("metrics: eventfd: ", std::strerror(error)));
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer(fd, wake_fd, std::move(render), options));
  server->address_ = bound.to_string();
  server->port_ =
      ntohs(family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&bound.storage)->sin6_port
                               : reinterpret_cast<const sockaddr_in*>(&bound.storage)->sin_port);
  server->thread_ = std::thread([raw = server.get()] { raw->serve(); });
  return server;
}

MetricsServer::MetricsServer(int listen_fd, int wake_fd, std::function<std::string()> render,
                             const MetricsServerOptions& options)
    : listen_fd_(listen_fd), wake_fd_(wake_fd), render_(std::move(render)), options_(options) {}

MetricsServer::~MetricsServer() { stop(); }

void MetricsServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  const std::uint64_t one = 1;
  // An eventfd write of 8 bytes cannot be short; it fails only if the counter would overflow.
  [[maybe_unused]] const ssize_t written = write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(wake_fd_);
}

void MetricsServer::serve() {
  std::vector<Connection> connections;
  std::vector<pollfd> poll_fds;
  std::int64_t accept_paused_until_ms = 0;
  while (true) {
    std::int64_t now_ms = steady_ms();
    poll_fds.clear();
    poll_fds.push_back(pollfd{wake_fd_, POLLIN, 0});
    // Full: accept only when a slow request can make room, or once one can.
    std::int64_t room_at_ms = now_ms;
    if (connections.size() >= options_.connections_max) {
      room_at_ms = -1;
      for (const Connection& connection : connections) {
        if (connection.state == Connection::State::reading) {
          room_at_ms = connection.accepted_ms + options_.slow_request_ms;
          break;  // in accept order: the first reader is the oldest
        }
      }
    }
    const bool accepting =
        now_ms >= accept_paused_until_ms && room_at_ms >= 0 && now_ms >= room_at_ms;
    poll_fds.push_back(pollfd{accepting ? listen_fd_ : -1, POLLIN, 0});  // -1: ignored
    std::int64_t timeout_ms =
        now_ms < accept_paused_until_ms ? accept_paused_until_ms - now_ms : -1;
    if (room_at_ms > now_ms) {
      timeout_ms = timeout_ms < 0 ? room_at_ms - now_ms : std::min(timeout_ms, room_at_ms - now_ms);
    }
    for (const Connection& connection : connections) {
      const short events = connection.state == Connection::State::writing ? POLLOUT : POLLIN;
      poll_fds.push_back(pollfd{connection.fd, events, 0});
      const std::int64_t left_ms = std::max<std::int64_t>(0, connection.deadline_ms - now_ms);
      timeout_ms = timeout_ms < 0 ? left_ms : std::min(timeout_ms, left_ms);
    }
    const int ready = poll(poll_fds.data(), poll_fds.size(), static_cast<int>(timeout_ms));
    if (ready < 0 && errno != EINTR) {
      // Only ENOMEM is possible with valid arguments: wait a little and try again.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (ready > 0 && poll_fds[0].revents != 0) break;  // stop()
    now_ms = steady_ms();
    for (std::size_t i = 0; i < connections.size(); ++i) {
      advance(connections[i], ready > 0 ? poll_fds[i + 2].revents : short{0}, now_ms);
    }
    std::erase_if(connections, [](const Connection& connection) { return connection.fd < 0; });
    if (ready > 0 && (poll_fds[1].revents & POLLIN) != 0) {
      accept_connections(connections, now_ms, accept_paused_until_ms);
    }
  }
  for (Connection& connection : connections) connection.close_socket();
}

// What poll reported for one connection (`revents`, 0 when nothing), then its deadline.
void MetricsServer::advance(Connection& connection, short revents, std::int64_t now_ms) {
  if (revents & POLLNVAL) {
    connection.close_socket();
  } else if (revents != 0 && connection.state == Connection::State::writing) {
    send_output(connection, now_ms);  // POLLERR and POLLHUP show up as a failed send
  } else if (revents != 0) {
    on_readable(connection, now_ms);
  }
  if (connection.fd >= 0 && now_ms >= connection.deadline_ms) {
    if (connection.state == Connection::State::reading) {
      respond(connection, HttpVerdict{408}, now_ms);  // RFC 9110 15.5.9
    } else {
      connection.close_socket();
    }
  }
}

void MetricsServer::accept_connections(std::vector<Connection>& connections, std::int64_t now_ms,
                                       std::int64_t& accept_paused_until_ms) {
  while (true) {
    const bool full = connections.size() >= options_.connections_max;
    const std::size_t slow = full ? find_slow_request(connections, now_ms) : 0;
    if (full && slow == connections.size()) return;  // wait for room
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      if (full) evict(connections, slow);
      Connection connection;
      connection.fd = fd;
      connection.accepted_ms = now_ms;
      connection.deadline_ms = now_ms + options_.read_timeout_ms;
      connections.push_back(std::move(connection));
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      accept_paused_until_ms = now_ms + accept_pause_ms;  // EMFILE, ENFILE, ENOBUFS...
    }
    return;
  }
}

// The index of the oldest connection still reading its request after slow_request_ms, or
// connections.size() when there is none. A scraper sends its request as soon as it connects,
// so only a client that holds a socket open without asking is that slow.
std::size_t MetricsServer::find_slow_request(const std::vector<Connection>& connections,
                                             std::int64_t now_ms) const {
  for (std::size_t i = 0; i < connections.size(); ++i) {  // in accept order, oldest first
    const Connection& connection = connections[i];
    if (connection.fd < 0 || connection.state != Connection::State::reading) continue;
    return now_ms - connection.accepted_ms >= options_.slow_request_ms ? i : connections.size();
  }
  return connections.size();
}

// Closes a slow request's connection to make room, with a 408 if the socket takes it at once.
void MetricsServer::evict(std::vector<Connection>& connections, std::size_t index) {
  HAYATE_ASSERT(index < connections.size());
  Connection& connection = connections[index];
  HAYATE_ASSERT(connection.fd >= 0 && connection.state == Connection::State::reading);
  static const std::string timeout_response = make_http_response(408, {}, false);
  [[maybe_unused]] const ssize_t sent = send(connection.fd, timeout_response.data(),
                                             timeout_response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  connection.close_socket();
  connections.erase(connections.begin() + static_cast<std::ptrdiff_t>(index));
}

// Sends what is left of the response; once it is all out, shuts our side down and waits for
// the client to close. Closing at once could reset the connection while the client still
// has bytes in flight (say, a request body we never read), and a reset may destroy the
// response before the client reads it (RFC 9112 9.6).
void MetricsServer::send_output(Connection& connection, std::int64_t now_ms) {
  while (connection.written_bytes < connection.output.size()) {
    const ssize_t sent = send(connection.fd, connection.output.data() + connection.written_bytes,
                              connection.output.size() - connection.written_bytes, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (sent <= 0) {
      connection.close_socket();
      return;
    }
    connection.written_bytes += static_cast<std::size_t>(sent);
  }
  responses_sent_.fetch_add(1);
  shutdown(connection.fd, SHUT_WR);
  connection.state = Connection::State::draining;
  connection.deadline_ms = now_ms + options_.write_timeout_ms;
  connection.output = std::string();
}

void MetricsServer::respond(Connection& connection, HttpVerdict verdict, std::int64_t now_ms) {
  HAYATE_ASSERT(verdict.status != 0 && connection.state == Connection::State::reading);
  const std::string body = verdict.status == 200 ? render_() : std::string();
  connection.output = make_http_response(verdict.status, body, verdict.head);
  connection.input = std::string();
  connection.state = Connection::State::writing;
  connection.deadline_ms = now_ms + options_.write_timeout_ms;
  send_output(connection, now_ms);
}

void MetricsServer::on_readable(Connection& connection, std::int64_t now_ms) {
  char buffer[4096];
  const bool reading = connection.state == Connection::State::reading;
  HAYATE_ASSERT(!reading || connection.input.size() < options_.request_bytes_max);
  const std::size_t room =
      reading ? std::min(sizeof buffer, options_.request_bytes_max - connection.input.size())
              : sizeof buffer;
  const ssize_t received = recv(connection.fd, buffer, room, 0);
  if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (received <= 0) {
    // The client closed (or failed). A partial request can never complete: say so.
    if (reading && received == 0 && !connection.input.empty()) {
      respond(connection, HttpVerdict{400}, now_ms);
    } else {
      connection.close_socket();
    }
    return;
  }
  if (!reading) return;  // draining: discard
  connection.input.append(buffer, static_cast<std::size_t>(received));
  const HttpVerdict verdict = examine_http_request(connection.input, options_.request_bytes_max);
  if (verdict.status != 0) respond(connection, verdict, now_ms);
}

}  // namespace hayate
