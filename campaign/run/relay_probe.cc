// The relay probe of `hayate check` (see relay_probe.h): a short blocking SMTP session over a
// socket with timeouts, OpenSSL for TLS; check runs before anything else, so blocking is fine.
#include "campaign/run/relay_probe.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "campaign/run/exit_codes.h"
#include "engine/net/tls.h"
#include "engine/smtp/reply_parser.h"
#include "engine/strings.h"

namespace hayate::campaign::inline run {

namespace {

constexpr int probe_timeout_s = 5;

// One SMTP session over a socket, in plain text or TLS.
class ProbeSession {
 public:
  explicit ProbeSession(int fd) : fd_(fd) {}
  ~ProbeSession() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    close(fd_);
  }
  ProbeSession(const ProbeSession&) = delete;
  ProbeSession& operator=(const ProbeSession&) = delete;

  // Sends `line` (CRLF added) unless empty, then reads one reply. False on a failure, said in
  // `error`.
  bool exchange(std::string_view line, smtp::Reply& reply, std::string& kept, std::string& error) {
    if (!line.empty() && !send(cat(line, "\r\n"), error)) return false;
    while (true) {
      std::size_t consumed = 0;
      const smtp::ParseResult result = smtp::parse_reply(buffer_, reply, consumed);
      if (result == smtp::ParseResult::malformed) {
        error = "the relay's reply is not SMTP";
        return false;
      }
      if (result == smtp::ParseResult::complete) {
        kept.assign(buffer_, 0, consumed);
        buffer_.erase(0, consumed);
        std::size_t again = 0;
        return smtp::parse_reply(kept, reply, again) == smtp::ParseResult::complete;
      }
      char chunk[4096];
      const long got = ssl_ != nullptr ? SSL_read(ssl_, chunk, sizeof chunk)
                                       : ::recv(fd_, chunk, sizeof chunk, 0);
      if (got <= 0) {
        error = got == 0 ? "the relay closed the connection" : "no reply from the relay in 5 s";
        return false;
      }
      buffer_.append(chunk, static_cast<std::size_t>(got));
    }
  }

  // The TLS handshake; the certificate and host name are checked when `verify`.
  bool start_tls(SSL_CTX* ctx, const std::string& host, bool verify, std::string& error) {
    ssl_ = SSL_new(ctx);
    if (ssl_ == nullptr) {
      error = "cannot start TLS";
      return false;
    }
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, host.c_str());
    SSL_set_verify(ssl_, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    if (verify) SSL_set1_host(ssl_, host.c_str());
    if (SSL_connect(ssl_) != 1) {
      const long verdict = SSL_get_verify_result(ssl_);
      error = verdict != X509_V_OK
                  ? cat("the relay's certificate: ", X509_verify_cert_error_string(verdict))
                  : "the TLS handshake with the relay failed";
      return false;
    }
    return true;
  }

 private:
  bool send(const std::string& data, std::string& error) {
    const long sent = ssl_ != nullptr ? SSL_write(ssl_, data.data(), static_cast<int>(data.size()))
                                      : ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent != static_cast<long>(data.size())) {
      error = "cannot write to the relay";
      return false;
    }
    return true;
  }

  int fd_;
  SSL* ssl_ = nullptr;
  std::string buffer_;
};

// A connected socket to host:port with send and receive timeouts, or -1 and `error`.
int connect_to(const Endpoint& endpoint, std::string& error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(endpoint.port);
  if (const int code = getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found);
      code != 0) {
    error = cat(endpoint.host, " does not resolve: ", gai_strerror(code));
    return -1;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, freeaddrinfo);
  error = "no address";
  for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
    const int fd = socket(address->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    timeval timeout{probe_timeout_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (connect(fd, address->ai_addr, address->ai_addrlen) == 0) return fd;
    error = std::strerror(errno);
    close(fd);
  }
  error = cat("cannot connect to ", endpoint.host, ":", endpoint.port, ": ", error);
  return -1;
}

// The session up to the last EHLO: TLS as the run would do it.
void hold_session(ProbeSession& session, const Route& relay, SSL_CTX* ctx, const std::string& helo,
                  RelayProbe& probe) {
  const TlsMode mode = relay.tls.value_or(TlsMode::required);
  const bool verify = mode == TlsMode::required;
  smtp::Reply reply;
  std::string kept, error;
  if (relay.implicit_tls) {
    if (!session.start_tls(ctx, relay.endpoint.host, verify, error)) {
      probe.problem = error;
      return;
    }
    probe.tls = true;
  }
  if (!session.exchange("", reply, kept, error) ||
      !session.exchange(cat("EHLO ", helo), reply, kept, error)) {
    probe.failure = error;
    return;
  }
  if (!reply.positive()) {
    probe.problem = cat("the relay answered EHLO with ", smtp::reply_text_for_log(reply));
    return;
  }
  probe.reached = true;
  probe.capabilities = smtp::parse_capabilities(reply);
  if (probe.tls || mode == TlsMode::disabled || !probe.capabilities.starttls) return;
  if (!session.exchange("STARTTLS", reply, kept, error) || reply.code != 220) {
    probe.problem = error.empty()
                        ? cat("the relay refused STARTTLS: ", smtp::reply_text_for_log(reply))
                        : error;
    return;
  }
  if (!session.start_tls(ctx, relay.endpoint.host, verify, error)) {
    probe.problem = error;
    return;
  }
  probe.tls = true;
  if (!session.exchange(cat("EHLO ", helo), reply, kept, error) || !reply.positive()) {
    probe.problem = error.empty() ? "the relay did not answer EHLO after STARTTLS" : error;
    return;
  }
  probe.capabilities = smtp::parse_capabilities(reply);
  (void)session.exchange("QUIT", reply, kept, error);
}

}  // namespace

std::string judge_relay(const Route& relay, bool tls, const smtp::Capabilities& capabilities) {
  if (!tls && !relay.allow_plaintext_auth) {
    return "the relay offers no TLS (no STARTTLS), and the password is never sent without it";
  }
  if (!capabilities.auth_plain && !capabilities.auth_login) {
    return capabilities.auth_mechanisms.empty()
               ? "the relay offers no AUTH: it takes no login"
               : cat("the relay offers neither AUTH PLAIN nor AUTH LOGIN (only ",
                     capabilities.auth_mechanisms, ")");
  }
  return {};
}

RelayProbe probe_relay(const Route& relay, const std::string& ca_file, const std::string& helo) {
  RelayProbe probe;
  absl::StatusOr<std::unique_ptr<net::TlsContext>> tls = net::TlsContext::create(ca_file);
  if (!tls.ok()) {
    probe.failure = std::string(tls.status().message());
    return probe;
  }
  std::string error;
  const int fd = connect_to(relay.endpoint, error);
  if (fd < 0) {
    probe.failure = error;
    return probe;
  }
  ProbeSession session(fd);
  hold_session(session, relay, (*tls)->ctx(), helo, probe);
  if (probe.reached && probe.problem.empty()) {
    probe.problem = judge_relay(relay, probe.tls, probe.capabilities);
  }
  return probe;
}

int check_relay(const JobConfig& job, bool strict) {
  const Route* relay = nullptr;
  for (const Route& route : job.routes) {
    if (route.relay && !route.username.empty()) relay = &route;
  }
  if (relay == nullptr) return exit_code::ok;
  const std::string where = cat(relay->endpoint.host, ":", relay->endpoint.port);
  const RelayProbe probe =
      probe_relay(*relay, job.ca_file, job.helo.empty() ? std::string("localhost") : job.helo);
  if (!probe.problem.empty()) {
    std::fprintf(stderr, "hayate: [relay] %s: %s; a run would stop at once (78)\n", where.c_str(),
                 probe.problem.c_str());
    return exit_code::data_error;
  }
  if (!probe.failure.empty()) {
    std::fprintf(stderr, "hayate: warning: [relay] %s: %s\n", where.c_str(), probe.failure.c_str());
    return strict ? exit_code::temporary : exit_code::ok;
  }
  std::printf("[relay] %s: %s, AUTH %s: it can take the credentials (not sent by check)\n",
              where.c_str(), probe.tls ? "TLS" : "no TLS (allow_plaintext_auth)",
              probe.capabilities.auth_mechanisms.c_str());
  return exit_code::ok;
}

}  // namespace hayate::campaign::run
