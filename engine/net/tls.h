// TLS for connections on the ring: OpenSSL over memory BIOs, so the socket I/O stays with
// io_uring and no OpenSSL call ever blocks. A TlsContext per shard holds the SSL_CTX and the
// sessions kept for resumption (one per destination name); a TlsStream per connection turns
// ciphertext from the network into plaintext for the SMTP session and back.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace hayate::net {

struct TlsCounters {
  std::uint64_t handshakes = 0;
  std::uint64_t resumptions = 0;  // handshakes that resumed an earlier session
  std::uint64_t failures = 0;
};

class TlsContext {
 public:
  // `ca_file`: extra trust anchors (PEM) beside the system store; empty for none.
  static absl::StatusOr<std::unique_ptr<TlsContext>> create(const std::string& ca_file);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* ctx() const { return ctx_; }
  // Resumption: the last session a destination gave us (owned here), or nullptr.
  SSL_SESSION* session_for(const std::string& key) const;
  void remember_session(const std::string& key, SSL_SESSION* session);  // takes a reference
  TlsCounters& counters() { return counters_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
  absl::flat_hash_map<std::string, SSL_SESSION*> sessions_;
  TlsCounters counters_;
};

class TlsStream {
 public:
  enum class Status : std::uint8_t { ok, failed };

  // server_name: for SNI (not sent for IP literals) and, with `verify`, the name the
  // certificate must match (RFC 6125). session_key: where resumption sessions are kept.
  TlsStream(TlsContext& context, std::string server_name, bool verify, std::string session_key);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Advances the handshake; ciphertext to send is appended to `cipher_out`.
  Status handshake(std::string& cipher_out);
  bool established() const { return established_; }
  bool resumed() const { return resumed_; }

  // Ciphertext received from the network.
  void feed(std::string_view cipher);
  // Decrypts what it can into `plain_out` (appended). Also appends any ciphertext the
  // protocol must send back (key updates, alerts) to `cipher_out`.
  Status read(std::string& plain_out, std::string& cipher_out);
  // Encrypts `plain` into `cipher_out` (appended).
  Status write(std::string_view plain, std::string& cipher_out);

  // What went wrong, for logs: the verification result or OpenSSL's error queue.
  const std::string& error() const { return error_; }
  std::string description() const;  // "TLSv1.3 TLS_AES_256_GCM_SHA384" once established
  // The protocol ("TLSv1.3") and cipher suite ("TLS_AES_256_GCM_SHA384") once established,
  // else empty. OpenSSL's own static strings: they outlive the stream.
  std::string_view version() const;
  std::string_view cipher() const;

 private:
  Status fail(std::string_view what, int ssl_result);
  void drain_output(std::string& cipher_out);

  TlsContext& context_;
  SSL* ssl_ = nullptr;
  BIO* network_in_ = nullptr;   // ciphertext from the server, read by OpenSSL
  BIO* network_out_ = nullptr;  // ciphertext from OpenSSL, to send
  std::string session_key_;
  bool verify_ = false;
  bool established_ = false;
  bool resumed_ = false;
  bool broken_ = false;  // a TLS protocol error (not the server simply closing)
  std::string error_;
};

}  // namespace hayate::net
