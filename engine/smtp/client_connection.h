// One outbound SMTP connection on a shard's ring: connect, multishot receive into provided
// buffers, one send in flight with the next write accumulating behind it, timeouts from
// RFC 5321 4.5.3.2 by the step awaited, and an orderly close. The ClientSession decides what
// to say; the ConnectionOwner (a site) decides what to send and hears results.
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/dns/resolver.h"
#include "engine/limits.h"
#include "engine/net/tls.h"
#include "engine/ring.h"
#include "engine/shard.h"
#include "engine/smtp/client_session.h"

namespace hayate::smtp {

class ClientConnection;

// What the owner of a connection may ask of it: the interface a site drives, so that the
// delivery core can be tested with a scripted connection instead of a socket.
class Connection {
 public:
  // Work may be available: an idle session starts a transaction.
  virtual void poke() = 0;
  // Ends the session (QUIT when idle; otherwise after the transaction in flight).
  virtual void quit() = 0;
  // Ends the connection now, whatever is in flight (its recipients get code 0 outcomes).
  virtual void abort(std::string_view reason) = 0;
  // Checks the deadline; called by the owner's periodic sweep.
  virtual void check_timeout(std::int64_t now_ms) = 0;
  virtual const dns::SocketAddress& address() const = 0;
  virtual const Capabilities& capabilities() const = 0;
  // Our end of the connection ("192.0.2.10", "2001:db8::1") once connected; else empty.
  virtual std::string_view local_ip() const = 0;
  // The session's TLS protocol and cipher suite ("TLSv1.3", "TLS_AES_256_GCM_SHA384"); empty
  // in plaintext. OpenSSL's static strings: they outlive the connection.
  virtual std::string_view tls_version() const = 0;
  virtual std::string_view tls_cipher() const = 0;

 protected:
  ~Connection() = default;
};

struct ConnectionOptions {
  std::string helo_name;
  std::uint32_t messages_max = 1000;  // transactions before QUIT
  std::uint32_t connect_timeout_ms = limits::connect_timeout_ms;
  std::uint32_t greeting_timeout_ms = limits::greeting_timeout_ms;
  std::uint32_t command_timeout_ms = limits::command_timeout_ms;
  std::uint32_t data_timeout_ms = limits::data_timeout_ms;  // DATA, body and final dot
  std::uint32_t idle_timeout_ms = limits::idle_timeout_ms;  // idle with no work: QUIT
  bool use_pipelining = true;
  // TLS: STARTTLS per policy, or implicit TLS from the first byte (port 465, RFC 8314).
  ClientSession::TlsPolicy tls = ClientSession::TlsPolicy::disabled;
  bool implicit_tls = false;
  bool verify_certificate = false;         // chain and name (RFC 6125), for policy "required"
  net::TlsContext* tls_context = nullptr;  // the shard's; needed unless TLS is disabled
  std::string server_name;                 // SNI and the name the certificate must carry
  std::string tls_session_key;             // resumption sessions are kept under this key
  // SMTP AUTH (relays): never logged, sent only over TLS unless allow_plaintext_auth.
  std::string auth_username;
  std::string auth_password;
  bool allow_plaintext_auth = false;
  // The local address to send from (a source IP of the host), port 0; length 0: the kernel's
  // choice. Bound before connect with IP_BIND_ADDRESS_NO_PORT, so the port is picked at
  // connect time per destination and many sources share the ephemeral range.
  dns::SocketAddress source;
};

// Why and how a connection ended, for logs and for choosing the next MX.
struct CloseReport {
  bool connected = false;          // TCP connect succeeded
  bool greeted = false;            // the server's greeting was positive
  bool ready = false;              // the session got as far as MAIL (EHLO, TLS, AUTH done)
  bool clean = false;              // ended by QUIT
  bool tls_failed = false;         // the TLS handshake failed (reason says why)
  bool tls_used = false;           // the session ran over TLS
  bool auth_rejected = false;      // the credentials were refused (535) or could not be offered
  std::uint16_t failure_code = 0;  // the reply that ended it (421, 554 greeting...), or 0
  EnhancedCode failure_enhanced;   // that reply's enhanced code, when it gave one
  Stage failure_stage = Stage::connect;  // where that reply came
  std::string reason;                    // empty when clean
  std::uint32_t transactions = 0;
};

class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  virtual bool next_transaction(Connection& connection, Transaction& transaction) = 0;
  virtual void append_message(Connection& connection, const Transaction& transaction,
                              std::string& out) = 0;
  virtual void on_recipient_outcome(Connection& connection, const Transaction& transaction,
                                    std::size_t index, const Outcome& outcome) = 0;
  // The session is idle with no work. The owner may call quit() or keep it for later work.
  virtual void on_idle(Connection& connection) = 0;
  // The connection is gone; the pointer is invalid after this call returns.
  virtual void on_closed(Connection& connection, const CloseReport& report) = 0;
};

class ClientConnection final : public Connection, private IoTarget, private SessionDelegate {
 public:
  // Starts connecting at once. The connection deletes itself after on_closed. When the socket
  // cannot even be created, on_closed runs before open returns, and open returns nullptr.
  static ClientConnection* open(Shard& shard, const dns::SocketAddress& address,
                                const ConnectionOptions& options, ConnectionOwner& owner);

  void poke() override;
  void quit() override;
  void abort(std::string_view reason) override;
  void check_timeout(std::int64_t now_ms) override;

  const dns::SocketAddress& address() const override { return address_; }
  bool idle() const { return session_.idle() && !quit_requested_; }
  std::uint32_t transactions() const { return session_.transactions_started(); }
  const Capabilities& capabilities() const override { return session_.capabilities(); }
  std::string_view local_ip() const override { return {local_ip_.data(), local_ip_length_}; }
  std::string_view tls_version() const override;
  std::string_view tls_cipher() const override;

 private:
  ClientConnection(Shard& shard, const dns::SocketAddress& address,
                   const ConnectionOptions& options, ConnectionOwner& owner);
  ~ClientConnection() override;

  void on_completion(std::uint8_t operation, const io_uring_cqe& cqe) override;
  bool next_transaction(Transaction& transaction) override;
  void append_message(const Transaction& transaction, std::string& out) override;
  void on_recipient_outcome(const Transaction& transaction, std::size_t index,
                            const Outcome& outcome) override;

  bool start_connect();
  void note_local_ip();  // once connected: getsockname
  void start_tls();
  void receive(std::string_view data);
  std::string& out() { return tls_ ? plain_out_ : pending_; }
  void arm_receive();
  void flush();
  void after_session_step();
  void update_deadline();
  void begin_close(std::string_view reason);
  bool in_tls_handshake() const;
  // The connection failed (closed, reset, a send error): a failed handshake when it was in
  // one, so that opportunistic TLS can fall back.
  void fail_maybe_in_handshake(std::string_view reason);
  void finish_if_done();

  Shard& shard_;
  dns::SocketAddress address_;
  std::string address_text_;
  std::array<char, INET6_ADDRSTRLEN> local_ip_{};  // local_ip(), written once connected
  std::size_t local_ip_length_ = 0;
  ConnectionOptions options_;
  ConnectionOwner& owner_;
  ClientSession session_;
  int fd_ = -1;
  std::uint32_t operations_in_flight_ = 0;
  bool connected_ = false;
  bool receiving_ = false;
  bool closing_ = false;
  bool quit_requested_ = false;
  bool idle_reported_ = false;
  std::int64_t deadline_ms_ = 0;  // 0: none
  std::string sending_;           // bytes of the send in flight
  std::size_t sent_bytes_ = 0;
  std::string pending_;  // bytes to send after it (ciphertext under TLS)
  std::unique_ptr<net::TlsStream> tls_;
  std::string plain_out_;  // under TLS: what the session says, before encryption
  std::string plain_in_;   // under TLS: what the server said, decrypted
  CloseReport report_;
};

}  // namespace hayate::smtp
