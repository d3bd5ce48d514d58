// A tiny HTTP/1.1 server for Prometheus scraping: GET /metrics answers with the text a
// callback renders. One thread of its own, blocking in poll(2); it is not on the hot path, so
// it favours being small and hard to wedge: every connection has a deadline, requests are
// capped in size, and each response ends the connection.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace hayate {

// The Prometheus text exposition format, version 0.0.4.
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4";

struct MetricsServerOptions {
  // Metrics reveal campaign names and volumes: loopback only unless the operator says so.
  bool allow_non_loopback = false;
  // From accept to a complete request, however the bytes trickle in; a slow or silent client
  // gets 408 and is closed.
  std::uint32_t read_timeout_ms = 2000;
  // Writing the response and waiting for the client to close (see the .cc for why).
  std::uint32_t write_timeout_ms = 2000;
  // Request line and headers, CRLF CRLF included. Larger: 431 (RFC 6585 5).
  std::size_t request_bytes_max = 8192;
  // Connections served at once. When all are taken, a new connection closes the oldest one
  // still reading its request after slow_request_ms (408), so that clients holding idle
  // sockets cannot keep a scrape waiting; when none is that old, new ones wait in the backlog.
  std::uint32_t connections_max = 64;
  std::uint32_t slow_request_ms = 100;
};

// What the server makes of the bytes received so far on a connection. Pure, for tests.
struct HttpVerdict {
  // 0: the request is not complete yet (read more). Otherwise the status to answer with:
  // 200 (serve the metrics), 400, 404, 405, 431, 505.
  int status = 0;
  bool head = false;  // HEAD /metrics: the headers of a 200, no body
};
HttpVerdict examine_http_request(std::string_view received, std::size_t request_bytes_max);

// Whether `listen_address` is one MetricsServer::start would take (the same syntax, loopback
// unless allowed), without binding it: for checking a command line before a run starts.
absl::Status check_metrics_listen_address(std::string_view listen_address, bool allow_non_loopback);

// The whole response for `status` (Connection: close). `body` is used for 200 only; for HEAD
// the Content-Length is the body's but the body is left out (RFC 9110 9.3.2).
std::string make_http_response(int status, std::string_view body, bool head);

class MetricsServer {
 public:
  // Listens on `listen_address` ("127.0.0.1:9464", "[::1]:9464", "localhost:9464"; port 0
  // picks a free port, see port()) and serves until stop(). `render` runs on the server's
  // thread for every GET or HEAD of /metrics: it must be safe to call from that thread while
  // the run goes on, and must not throw. Errors: a malformed or non-loopback address
  // (InvalidArgument), an address in use or not of this host (Unavailable), a port below
  // 1024 without privileges (PermissionDenied).
  static absl::StatusOr<std::unique_ptr<MetricsServer>> start(std::string_view listen_address,
                                                              std::function<std::string()> render);
  static absl::StatusOr<std::unique_ptr<MetricsServer>> start(std::string_view listen_address,
                                                              std::function<std::string()> render,
                                                              const MetricsServerOptions& options);

  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Closes every connection and the listening socket, and joins the thread. Returns within
  // a few milliseconds unless `render` is running (then once it returns). Idempotent.
  void stop();

  std::uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }  // "127.0.0.1:9464", as bound
  std::uint64_t responses_sent() const { return responses_sent_.load(); }

 private:
  struct Connection;
  MetricsServer(int listen_fd, int wake_fd, std::function<std::string()> render,
                const MetricsServerOptions& options);
  void serve();
  // serve()'s steps on its own thread, once poll(2) says what is ready.
  void accept_connections(std::vector<Connection>& connections, std::int64_t now_ms,
                          std::int64_t& accept_paused_until_ms);
  std::size_t find_slow_request(const std::vector<Connection>& connections,
                                std::int64_t now_ms) const;
  void evict(std::vector<Connection>& connections, std::size_t index);
  void advance(Connection& connection, short revents, std::int64_t now_ms);
  void on_readable(Connection& connection, std::int64_t now_ms);
  void respond(Connection& connection, HttpVerdict verdict, std::int64_t now_ms);
  void send_output(Connection& connection, std::int64_t now_ms);

  int listen_fd_;
  int wake_fd_;  // an eventfd in the poll set: stop() writes it
  std::function<std::string()> render_;
  MetricsServerOptions options_;
  std::uint16_t port_ = 0;
  std::string address_;
  std::atomic<std::uint64_t> responses_sent_{0};
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace hayate
