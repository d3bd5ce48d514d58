// Socket side of an SMTP client connection, entirely on the shard's io_uring.
#include "engine/smtp/client_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::smtp {

namespace {
constexpr std::uint8_t operation_connect = 1;
constexpr std::uint8_t operation_receive = 2;
constexpr std::uint8_t operation_send = 3;
}  // namespace

ClientConnection* ClientConnection::open(Shard& shard, const dns::SocketAddress& address,
                                         const ConnectionOptions& options, ConnectionOwner& owner) {
  auto* connection = new ClientConnection(shard, address, options, owner);
  if (!connection->start_connect()) {
    connection->finish_if_done();  // reports on_closed and deletes the connection
    return nullptr;
  }
  return connection;
}

ClientConnection::ClientConnection(Shard& shard, const dns::SocketAddress& address,
                                   const ConnectionOptions& options, ConnectionOwner& owner)
    : shard_(shard),
      address_(address),
      address_text_(address.to_string()),
      options_(options),
      owner_(owner),
      session_(ClientSession::Options{options.helo_name, options.use_pipelining, options.tls,
                                      options.implicit_tls, options.auth_username,
                                      options.auth_password, options.allow_plaintext_auth},
               *this) {
  HAYATE_ASSERT(options.tls_context != nullptr ||
                (options.tls == ClientSession::TlsPolicy::disabled && !options.implicit_tls));
}

ClientConnection::~ClientConnection() { HAYATE_ASSERT(operations_in_flight_ == 0); }

bool ClientConnection::start_connect() {
  fd_ = socket(address_.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    report_.reason = absl::StrCat("socket: ", std::strerror(errno));
    session_.fail(report_.reason);
    begin_close(report_.reason);
    return false;
  }
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (options_.source.length > 0) {
    // Without IP_BIND_ADDRESS_NO_PORT, bind() would reserve a port for every (source) and
    // exhaust the range long before the 4-tuples run out (Linux 4.2+).
    setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if (bind(fd_, reinterpret_cast<const sockaddr*>(&options_.source.storage),
             options_.source.length) != 0) {
      report_.reason = absl::StrCat("bind to the source address ", options_.source.to_string(),
                                    ": ", std::strerror(errno));
      session_.fail(report_.reason);
      begin_close(report_.reason);
      return false;
    }
  }
  io_uring_sqe* sqe = shard_.ring().sqe();
  io_uring_prep_connect(sqe, fd_, reinterpret_cast<const sockaddr*>(&address_.storage),
                        address_.length);
  io_uring_sqe_set_data64(sqe, io_tag(this, operation_connect));
  ++operations_in_flight_;
  deadline_ms_ = shard_.now_ms() + options_.connect_timeout_ms;
  return true;
}

void ClientConnection::note_local_ip() {
  // One system call per connection, so that every outcome can name the source address (the
  // kernel's choice when no source was bound).
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  local_ip_length_ = 0;
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &length) != 0) return;
  const void* address = nullptr;
  if (local.ss_family == AF_INET) {
    address = &reinterpret_cast<const sockaddr_in*>(&local)->sin_addr;
  } else if (local.ss_family == AF_INET6) {
    address = &reinterpret_cast<const sockaddr_in6*>(&local)->sin6_addr;
  }
  if (address == nullptr ||
      inet_ntop(local.ss_family, address, local_ip_.data(), local_ip_.size()) == nullptr) {
    return;
  }
  local_ip_length_ = std::strlen(local_ip_.data());
  HAYATE_ASSERT(local_ip_length_ < local_ip_.size());
}

std::string_view ClientConnection::tls_version() const {
  return tls_ == nullptr ? std::string_view() : tls_->version();
}

std::string_view ClientConnection::tls_cipher() const {
  return tls_ == nullptr ? std::string_view() : tls_->cipher();
}

void ClientConnection::arm_receive() {
  io_uring_sqe* sqe = shard_.ring().sqe();
  io_uring_prep_recv_multishot(sqe, fd_, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = Ring::buffer_group;
  io_uring_sqe_set_data64(sqe, io_tag(this, operation_receive));
  ++operations_in_flight_;
  receiving_ = true;
}

void ClientConnection::start_tls() {
  HAYATE_ASSERT(tls_ == nullptr && options_.tls_context != nullptr);
  tls_ = std::make_unique<net::TlsStream>(*options_.tls_context, options_.server_name,
                                          options_.verify_certificate, options_.tls_session_key);
  if (tls_->handshake(pending_) == net::TlsStream::Status::failed) {
    report_.tls_failed = true;
    session_.fail(cat("TLS handshake with ", address_text_, " failed: ", tls_->error()));
  }
}

void ClientConnection::receive(std::string_view data) {
  if (tls_ == nullptr) {
    session_.on_bytes(data, pending_);
    return;
  }
  tls_->feed(data);
  if (!tls_->established()) {
    if (tls_->handshake(pending_) == net::TlsStream::Status::failed) {
      report_.tls_failed = true;
      session_.fail(cat("TLS handshake with ", address_text_, " failed: ", tls_->error()));
      return;
    }
    if (!tls_->established()) return;
    report_.tls_used = true;
    session_.on_tls_established(plain_out_);
  }
  if (tls_->read(plain_in_, pending_) == net::TlsStream::Status::failed) {
    session_.fail(cat("TLS with ", address_text_, ": ", tls_->error()));
    return;
  }
  if (!plain_in_.empty()) {
    session_.on_bytes(plain_in_, plain_out_);
    plain_in_.clear();
  }
}

void ClientConnection::flush() {
  if (closing_ || !connected_) return;
  if (tls_ != nullptr && tls_->established() && !plain_out_.empty()) {
    if (tls_->write(plain_out_, pending_) == net::TlsStream::Status::failed) {
      session_.fail(cat("TLS with ", address_text_, ": ", tls_->error()));
      return;
    }
    plain_out_.clear();
  }
  if (!sending_.empty() || pending_.empty()) return;
  sending_.swap(pending_);
  pending_.clear();
  sent_bytes_ = 0;
  io_uring_sqe* sqe = shard_.ring().sqe();
  io_uring_prep_send(sqe, fd_, sending_.data(), sending_.size(), MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, io_tag(this, operation_send));
  ++operations_in_flight_;
}

void ClientConnection::on_completion(std::uint8_t operation, const io_uring_cqe& cqe) {
  switch (operation) {
    case operation_connect:
      --operations_in_flight_;
      if (closing_) break;
      if (cqe.res < 0) {
        report_.reason = absl::StrCat("connect to ", address_text_, ": ", std::strerror(-cqe.res));
        session_.fail(report_.reason);
        begin_close(report_.reason);
        break;
      }
      connected_ = true;
      report_.connected = true;
      note_local_ip();
      arm_receive();
      if (options_.implicit_tls) {
        start_tls();
        flush();
      }
      update_deadline();
      break;
    case operation_receive: {
      const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0;
      if (!more) {
        --operations_in_flight_;
        receiving_ = false;
      }
      if (cqe.res > 0) {
        HAYATE_ASSERT(cqe.flags & IORING_CQE_F_BUFFER);
        const auto buffer_id = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
        if (!closing_) {
          receive(
              std::string_view(shard_.ring().buffer(buffer_id), static_cast<std::size_t>(cqe.res)));
        }
        shard_.ring().recycle_buffer(buffer_id);
        if (!closing_) after_session_step();
      } else if (!closing_) {
        if (cqe.res == -ENOBUFS) {
          // Every provided buffer was in use: receive again once this turn recycles them.
        } else if (cqe.res == 0 && session_.state() == ClientSession::State::quitting) {
          report_.clean = true;  // the server closed before answering QUIT: still clean
          begin_close("");
        } else if (cqe.res == 0) {
          fail_maybe_in_handshake("connection closed by the server");
          after_session_step();
        } else {
          fail_maybe_in_handshake(
              absl::StrCat("receive from ", address_text_, ": ", std::strerror(-cqe.res)));
          after_session_step();
        }
      }
      if (!receiving_ && !closing_) arm_receive();
      break;
    }
    case operation_send:
      --operations_in_flight_;
      if (closing_) break;
      if (cqe.res < 0) {
        fail_maybe_in_handshake(
            absl::StrCat("send to ", address_text_, ": ", std::strerror(-cqe.res)));
        after_session_step();
        break;
      }
      sent_bytes_ += static_cast<std::size_t>(cqe.res);
      if (sent_bytes_ < sending_.size()) {  // a short write: send the rest
        io_uring_sqe* sqe = shard_.ring().sqe();
        io_uring_prep_send(sqe, fd_, sending_.data() + sent_bytes_, sending_.size() - sent_bytes_,
                           MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, io_tag(this, operation_send));
        ++operations_in_flight_;
        break;
      }
      sending_.clear();
      flush();
      break;
    default:
      HAYATE_ASSERT(false);
  }
  finish_if_done();  // may delete this: nothing may follow
}

bool ClientConnection::in_tls_handshake() const {
  return session_.wants_tls() || (tls_ != nullptr && !tls_->established());
}

void ClientConnection::fail_maybe_in_handshake(std::string_view reason) {
  if (in_tls_handshake()) {
    // A server that closes or resets the connection in the middle of the handshake has broken
    // TLS as surely as one that sends an alert: opportunistic TLS falls back to plaintext.
    report_.tls_failed = true;
    if (options_.tls_context != nullptr) ++options_.tls_context->counters().failures;
    session_.fail(cat("TLS handshake with ", address_text_, " failed: ", reason));
    return;
  }
  session_.fail(reason);
}

void ClientConnection::after_session_step() {
  const ClientSession::State state = session_.state();
  if (state != ClientSession::State::greeting && state != ClientSession::State::failed) {
    report_.greeted = true;
  }
  if (state == ClientSession::State::ready) report_.ready = true;
  if (session_.wants_tls() && tls_ == nullptr) start_tls();  // after the server's 220
  if (state == ClientSession::State::failed || session_.state() == ClientSession::State::failed) {
    if (report_.reason.empty() && !report_.clean) report_.reason = session_.failure();
    if (session_.failure_stage() == Stage::greeting && session_.failure_code() >= 500 &&
        tls_ == nullptr && fd_ >= 0) {
      // RFC 5321 3.1: after a 554 greeting the client SHOULD send QUIT. Best effort, without
      // waiting: the session is over either way, and a kernel buffer has room for 6 bytes.
      (void)::send(fd_, "QUIT\r\n", 6, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    report_.failure_code = session_.failure_code();
    report_.failure_enhanced = session_.failure_enhanced();
    report_.failure_stage = session_.failure_stage();
    report_.auth_rejected = session_.auth_rejected() || session_.auth_unusable();
    begin_close(report_.reason);
    return;
  }
  if (state == ClientSession::State::closed) {
    report_.clean = true;
    begin_close("");
    return;
  }
  if (session_.idle()) {
    if (quit_requested_) {
      session_.quit(out());
    } else if (!idle_reported_) {
      idle_reported_ = true;
      owner_.on_idle(*this);  // may call poke() or quit()
      if (closing_) return;
    }
  }
  flush();
  update_deadline();
}

void ClientConnection::update_deadline() {
  if (closing_) return;
  if (!connected_) return;  // the connect deadline stands
  std::uint32_t timeout_ms = options_.idle_timeout_ms;
  if (!session_.idle()) timeout_ms = options_.command_timeout_ms;  // a TLS handshake, say
  if (session_.awaiting_reply()) {
    const Stage stage = session_.awaited_stage();
    timeout_ms = stage == Stage::body       ? options_.data_timeout_ms
                 : stage == Stage::greeting ? options_.greeting_timeout_ms
                                            : options_.command_timeout_ms;
  }
  deadline_ms_ = shard_.now_ms() + timeout_ms;
}

void ClientConnection::check_timeout(std::int64_t now_ms) {
  if (closing_ || deadline_ms_ == 0 || now_ms < deadline_ms_) return;
  if (!connected_) {
    report_.reason = absl::StrCat("connect to ", address_text_, ": timed out");
    session_.fail(report_.reason);
    begin_close(report_.reason);
  } else if (session_.awaiting_reply()) {
    session_.fail(absl::StrCat("timed out waiting for the ", stage_name(session_.awaited_stage()),
                               " reply from ", address_text_));
    after_session_step();
  } else if (session_.idle()) {
    quit();  // idle for too long
    return;
  } else {
    // Neither awaiting a reply nor idle: stuck in the TLS handshake.
    report_.tls_failed = in_tls_handshake();
    session_.fail(cat("timed out in the TLS handshake with ", address_text_));
    after_session_step();
  }
  finish_if_done();
}

void ClientConnection::abort(std::string_view reason) {
  if (closing_) return;
  session_.fail(reason);
  after_session_step();  // begins the close
  finish_if_done();      // may delete this
}

void ClientConnection::poke() {
  if (closing_ || quit_requested_ || !session_.idle()) return;
  idle_reported_ = false;
  session_.poke(out());
  if (session_.idle()) idle_reported_ = true;  // no work after all: stay idle quietly
  flush();
  update_deadline();
}

void ClientConnection::quit() {
  if (closing_) return;
  quit_requested_ = true;
  if (!connected_) {
    begin_close("");
    finish_if_done();
    return;
  }
  if (session_.idle()) {
    session_.quit(out());
    flush();
    update_deadline();
  }
}

bool ClientConnection::next_transaction(Transaction& transaction) {
  if (quit_requested_) return false;
  if (session_.transactions_started() >= options_.messages_max) {
    quit_requested_ = true;
    return false;
  }
  if (!owner_.next_transaction(*this, transaction)) return false;
  idle_reported_ = false;
  return true;
}

void ClientConnection::append_message(const Transaction& transaction, std::string& out) {
  owner_.append_message(*this, transaction, out);
}

void ClientConnection::on_recipient_outcome(const Transaction& transaction, std::size_t index,
                                            const Outcome& outcome) {
  owner_.on_recipient_outcome(*this, transaction, index, outcome);
}

void ClientConnection::begin_close(std::string_view reason) {
  if (closing_) return;
  closing_ = true;
  deadline_ms_ = 0;
  if (report_.reason.empty()) report_.reason.assign(reason);
  report_.transactions = session_.transactions_started();
  if (fd_ >= 0 && operations_in_flight_ > 0) {
    shutdown(fd_, SHUT_RDWR);
    io_uring_sqe* sqe = shard_.ring().sqe();
    io_uring_prep_cancel_fd(sqe, fd_, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, 0);
  }
}

void ClientConnection::finish_if_done() {
  if (!closing_ || operations_in_flight_ > 0) return;
  if (fd_ >= 0) {
    io_uring_sqe* sqe = shard_.ring().sqe();  // nothing waits for it
    io_uring_prep_close(sqe, fd_);
    io_uring_sqe_set_data64(sqe, 0);
    fd_ = -1;
  }
  owner_.on_closed(*this, report_);
  delete this;
}

}  // namespace hayate::smtp
