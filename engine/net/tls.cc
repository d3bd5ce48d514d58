// OpenSSL over memory BIOs. TLS 1.2 is the minimum (RFC 8996 retired 1.0 and 1.1).
#include "engine/net/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "engine/assert.h"
#include "engine/files.h"
#include "engine/limits.h"
#include "engine/strings.h"

namespace hayate::net {

namespace {

std::string openssl_errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text;
}

// The PEM certificates and CRLs of `ca_file` into the context's store, as
// SSL_CTX_load_verify_locations does, but from a bounded read of a regular file: a FIFO or a
// device named as the CA file must not hang the start or fill the memory.
absl::Status load_ca_file(SSL_CTX* ctx, const std::string& ca_file) {
  absl::StatusOr<std::string> pem =
      read_regular_file(ca_file, limits::ca_file_bytes_max, "the CA file");
  if (!pem.ok()) return absl::InvalidArgumentError(pem.status().message());
  BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
  HAYATE_ASSERT(bio != nullptr);
  STACK_OF(X509_INFO)* infos = PEM_X509_INFO_read_bio(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (infos == nullptr) {
    return absl::InvalidArgumentError(
        cat(ca_file, ": cannot load CA certificates: ", openssl_errors()));
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int loaded = 0;
  bool added = true;
  for (int i = 0; i < sk_X509_INFO_num(infos) && added; ++i) {
    const X509_INFO* info = sk_X509_INFO_value(infos, i);
    if (info->x509 != nullptr) {
      added = X509_STORE_add_cert(store, info->x509) == 1;
      ++loaded;
    }
    if (added && info->crl != nullptr) {
      added = X509_STORE_add_crl(store, info->crl) == 1;
      ++loaded;
    }
  }
  sk_X509_INFO_pop_free(infos, X509_INFO_free);
  if (!added || loaded == 0) {
    const std::string error = openssl_errors();
    return absl::InvalidArgumentError(cat(ca_file, ": cannot load CA certificates: ",
                                          error.empty() ? "no certificate in it" : error));
  }
  return absl::OkStatus();
}

bool is_ip_literal(const std::string& name) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, name.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, name.c_str(), buffer) == 1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsContext>> TlsContext::create(const std::string& ca_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return absl::InternalError(cat("SSL_CTX_new: ", openssl_errors()));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    ERR_clear_error();  // no system store: only ca_file can vouch for servers
  }
  if (!ca_file.empty()) {
    if (absl::Status status = load_ca_file(ctx, ca_file); !status.ok()) {
      SSL_CTX_free(ctx);
      return status;
    }
  }
  return std::unique_ptr<TlsContext>(new TlsContext(ctx));
}

TlsContext::~TlsContext() {
  for (auto& [key, session] : sessions_) SSL_SESSION_free(session);
  SSL_CTX_free(ctx_);
}

SSL_SESSION* TlsContext::session_for(const std::string& key) const {
  auto found = sessions_.find(key);
  return found == sessions_.end() ? nullptr : found->second;
}

void TlsContext::remember_session(const std::string& key, SSL_SESSION* session) {
  if (session == nullptr || !SSL_SESSION_is_resumable(session)) return;
  SSL_SESSION_up_ref(session);
  auto [entry, inserted] = sessions_.try_emplace(key, session);
  if (!inserted) {
    SSL_SESSION_free(entry->second);
    entry->second = session;
  }
}

TlsStream::TlsStream(TlsContext& context, std::string server_name, bool verify,
                     std::string session_key)
    : context_(context), session_key_(std::move(session_key)), verify_(verify) {
  ssl_ = SSL_new(context.ctx());
  HAYATE_ASSERT(ssl_ != nullptr);
  network_in_ = BIO_new(BIO_s_mem());
  network_out_ = BIO_new(BIO_s_mem());
  HAYATE_ASSERT(network_in_ != nullptr && network_out_ != nullptr);
  BIO_set_mem_eof_return(network_in_, -1);       // empty means "wait for more", not end of stream
  SSL_set_bio(ssl_, network_in_, network_out_);  // ssl_ owns both now
  SSL_set_connect_state(ssl_);
  if (!server_name.empty() && !is_ip_literal(server_name)) {
    SSL_set_tlsext_host_name(ssl_, server_name.c_str());
  }
  if (verify_) {
    // RFC 6125: the name we asked for must be in the certificate; no partial wildcards.
    SSL_set_verify(ssl_, SSL_VERIFY_PEER, nullptr);
    SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip_literal(server_name)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), server_name.c_str());
    } else {
      SSL_set1_host(ssl_, server_name.c_str());
    }
  } else {
    SSL_set_verify(ssl_, SSL_VERIFY_NONE, nullptr);
  }
  if (SSL_SESSION* session = context_.session_for(session_key_)) SSL_set_session(ssl_, session);
}

TlsStream::~TlsStream() {
  // Freeing an SSL that never sent close_notify marks its session not resumable
  // (ssl_clear_bad_session). SMTP ends with QUIT, not with a TLS shutdown: a stream that saw
  // no error ended well, and its session may be offered again.
  if (established_ && !broken_) {
    SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  SSL_free(ssl_);
}

void TlsStream::drain_output(std::string& cipher_out) {
  char* data = nullptr;
  const long pending = BIO_get_mem_data(network_out_, &data);
  if (pending > 0) {
    cipher_out.append(data, static_cast<std::size_t>(pending));
    (void)BIO_reset(network_out_);
  }
}

TlsStream::Status TlsStream::fail(std::string_view what, int ssl_result) {
  broken_ = true;  // a protocol error: this session is not offered again
  if (error_.empty()) {
    const long verify = SSL_get_verify_result(ssl_);
    if (verify_ && verify != X509_V_OK) {
      error_ = cat("certificate verification failed: ", X509_verify_cert_error_string(verify));
    } else {
      const std::string errors = openssl_errors();
      error_ = cat(what, " failed (", SSL_get_error(ssl_, ssl_result), ")",
                   errors.empty() ? "" : ": ", errors);
    }
  }
  ERR_clear_error();
  return Status::failed;
}

TlsStream::Status TlsStream::handshake(std::string& cipher_out) {
  if (established_) return Status::ok;
  const int result = SSL_do_handshake(ssl_);
  drain_output(cipher_out);
  if (result == 1) {
    established_ = true;
    resumed_ = SSL_session_reused(ssl_) == 1;
    ++context_.counters().handshakes;
    if (resumed_) ++context_.counters().resumptions;
    context_.remember_session(session_key_, SSL_get0_session(ssl_));
    return Status::ok;
  }
  const int error = SSL_get_error(ssl_, result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return Status::ok;
  ++context_.counters().failures;
  return fail("TLS handshake", result);
}

void TlsStream::feed(std::string_view cipher) {
  if (cipher.empty()) return;
  const int written = BIO_write(network_in_, cipher.data(), static_cast<int>(cipher.size()));
  HAYATE_ASSERT(written == static_cast<int>(cipher.size()));  // memory BIOs grow as needed
}

TlsStream::Status TlsStream::read(std::string& plain_out, std::string& cipher_out) {
  char buffer[16384];
  while (true) {
    const int result = SSL_read(ssl_, buffer, sizeof(buffer));
    if (result > 0) {
      plain_out.append(buffer, static_cast<std::size_t>(result));
      continue;
    }
    drain_output(cipher_out);  // TLS 1.3 tickets, key updates
    const int error = SSL_get_error(ssl_, result);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      // A TLS 1.3 session ticket may have arrived after the handshake: keep it for later.
      context_.remember_session(session_key_, SSL_get0_session(ssl_));
      return Status::ok;
    }
    if (error == SSL_ERROR_ZERO_RETURN) {
      error_ = "the server closed the TLS session";
      return Status::failed;
    }
    return fail("TLS read", result);
  }
}

TlsStream::Status TlsStream::write(std::string_view plain, std::string& cipher_out) {
  HAYATE_ASSERT(established_);
  while (!plain.empty()) {
    const int result = SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
    if (result <= 0) return fail("TLS write", result);
    plain.remove_prefix(static_cast<std::size_t>(result));
  }
  drain_output(cipher_out);
  return Status::ok;
}

std::string TlsStream::description() const {
  if (!established_) return "";
  return cat(version(), " ", cipher());
}

std::string_view TlsStream::version() const {
  if (!established_) return {};
  const char* name = SSL_get_version(ssl_);
  return name == nullptr ? std::string_view() : std::string_view(name);
}

std::string_view TlsStream::cipher() const {
  if (!established_) return {};
  const SSL_CIPHER* current = SSL_get_current_cipher(ssl_);
  const char* name = current == nullptr ? nullptr : SSL_CIPHER_get_name(current);
  return name == nullptr ? std::string_view() : std::string_view(name);
}

}  // namespace hayate::net
