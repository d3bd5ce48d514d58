// The io_uring loop of the SMTP server (see server.h). Completions are reaped in batches; each
// recv completion is fed to its Session at once and its provided buffer returned, and the
// replies it produced leave in one send. user_data is a tag: operation, slot, generation.
#include "engine/smtp/server/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/ring.h"
#include "engine/strings.h"

namespace hayate::smtp::server {
namespace {

using limits::server_completion_entries;
using limits::server_connections_per_thread_max;
using limits::server_drain_timeout_ms;
using limits::server_listen_backlog;
using limits::server_recv_buffer_bytes;
using limits::server_recv_buffers;
using limits::server_ring_entries;

enum class Op : std::uint8_t {
  accept = 1,
  accept_retry,  // timer before re-arming accept after an error such as EMFILE
  recv,
  send,
  timer,           // a session's delay (greeting delay, slow RCPT)
  timer_remove,    // the cancellation of a session timer; its own completion is ignored
  cancel,          // cancellation of accept at stop; ignored
  wake,            // the thread's eventfd: stop requested
  signal,          // thread 0's signalfd
  tick,            // thread 0: ServerHooks::tick
  drain_deadline,  // stop: give up waiting for replies in flight
  idle_sweep,      // close the connections idle or slow beyond their timeouts
};

// A client's address, IPv4 as IPv4-mapped IPv6 (RFC 4291 2.5.5.2), for connections_per_ip_max.
using PeerKey = std::array<std::uint8_t, 16>;

// The peer of an accepted socket; false when the kernel cannot say (it then counts as no one).
bool peer_key(int fd, PeerKey& key) {
  sockaddr_storage peer{};
  socklen_t length = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) return false;
  key = {};
  if (peer.ss_family == AF_INET6) {
    std::memcpy(key.data(), &reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr, 16);
    return true;
  }
  if (peer.ss_family != AF_INET) return false;
  key[10] = 0xff;
  key[11] = 0xff;
  std::memcpy(key.data() + 12, &reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr, 4);
  return true;
}

constexpr std::uint32_t slot_bits = 24;
static_assert(server_connections_per_thread_max <= (1u << slot_bits));

std::uint64_t make_tag(Op op, std::uint32_t slot = 0, std::uint32_t generation = 0) {
  return std::uint64_t(op) | std::uint64_t(slot) << 8 | std::uint64_t(generation) << 32;
}
Op tag_op(std::uint64_t tag) { return Op(tag & 0xff); }
std::uint32_t tag_slot(std::uint64_t tag) {
  return std::uint32_t(tag >> 8) & ((1u << slot_bits) - 1);
}
std::uint32_t tag_generation(std::uint64_t tag) { return std::uint32_t(tag >> 32); }

__kernel_timespec timespec_from_ms(std::uint32_t ms) {
  __kernel_timespec result{};
  result.tv_sec = ms / 1000;
  result.tv_nsec = (ms % 1000) * 1'000'000LL;
  return result;
}

std::string errno_text(int error) { return std::strerror(error); }

// CLOCK_MONOTONIC_COARSE: a few ms of resolution is plenty for a timeout of minutes, and it
// costs no more than a memory read.
std::uint64_t monotonic_ms() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return std::uint64_t(now.tv_sec) * 1000 + std::uint64_t(now.tv_nsec) / 1'000'000;
}

}  // namespace

// What every thread shares: counters (one slot each), the stop signal.
struct Server::Shared {
  explicit Shared(const ServerConfig& config_in)
      : config(config_in), stats(std::make_unique<ServerStats[]>(config_in.threads)) {}
  ~Shared() {
    for (int fd : wake_fds) ::close(fd);
  }

  const ServerConfig& config;
  std::vector<int> wake_fds;  // one eventfd per thread
  std::unique_ptr<ServerStats[]> stats;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> messages_total{0};
  std::atomic<std::uint32_t> connections_open{0};  // counted with connections_max only
  // Connections open per client address, with connections_per_ip_max only. A lock, taken
  // once at accept and once at close: the threads share one count per client, and the
  // servers that set the cap do not accept at a benchmark's rate.
  std::mutex peers_mutex;
  absl::flat_hash_map<PeerKey, std::uint32_t> connections_per_peer;

  void request_stop() {
    if (stopping.exchange(true)) return;
    const std::uint64_t one = 1;
    for (int fd : wake_fds) {
      [[maybe_unused]] const ssize_t written = ::write(fd, &one, sizeof one);
    }
  }

  ServerStatsSnapshot totals() const {
    ServerStatsSnapshot sum;
    for (std::uint32_t i = 0; i < config.threads; ++i) sum.add(stats[i].snapshot());
    return sum;
  }
};

namespace {

using Shared = Server::Shared;

struct Connection {
  explicit Connection(SessionEnvironment& environment, std::uint32_t slot_in)
      : slot(slot_in), session(environment) {}

  const std::uint32_t slot;
  int fd = -1;
  std::uint32_t generation = 0;
  bool recv_armed = false;
  bool send_in_flight = false;
  bool timer_armed = false;
  bool closing = false;
  std::string sending;  // the bytes of the send in flight (swapped with the session's output)
  std::size_t sent_bytes = 0;
  std::uint64_t active_ms = 0;  // when bytes last came in or went out (monotonic)
  std::uint64_t accepted_ms = 0;
  std::uint64_t waiting_since_ms = 0;  // since the session's last complete input (or our delay)
  std::uint64_t inputs_seen = 0;       // the session's inputs_completed() then
  bool counted_open = false;           // in Shared::connections_open
  bool counted_peer = false;           // in Shared::connections_per_peer[peer]
  PeerKey peer{};
  __kernel_timespec timer{};
  Session session;
};

class Worker {
 public:
  Worker(Shared& shared, ServerHooks& hooks, std::uint32_t index, int listen_fd, int signal_fd)
      : shared_(shared),
        config_(shared.config),
        hooks_(hooks),
        index_(index),
        listen_fd_(listen_fd),
        signal_fd_(signal_fd) {}

  ~Worker();

  absl::Status run();

 private:
  absl::Status set_up();
  io_uring_sqe* get_sqe();
  void arm_accept();
  void arm_recv(Connection& connection);
  void arm_wake();
  void arm_signal();
  void arm_timeout(Op op, __kernel_timespec& timespec, std::uint32_t ms);
  void handle(std::uint64_t tag, int result, std::uint32_t flags);
  void on_accept(int result, std::uint32_t flags);
  bool admit(Connection& connection);
  void refuse(int fd, std::string_view reply);
  void uncount(Connection& connection);
  bool too_slow(const Connection& connection) const;
  void sweep_timeouts();
  void on_recv(Connection& connection, int result, std::uint32_t flags);
  void on_send(Connection& connection, int result);
  void on_timer(Connection& connection, int result);
  void after_session(Connection& connection);
  void start_send(Connection& connection);
  void begin_close(Connection& connection);
  void maybe_release(Connection& connection);
  void begin_drain();
  void return_buffer(std::uint16_t buffer_id);
  void note_messages();
  void log_error(std::string_view what);
  Connection* allocate_connection();

  Shared& shared_;
  const ServerConfig& config_;
  ServerHooks& hooks_;
  const std::uint32_t index_;
  int listen_fd_;
  const int signal_fd_;                              // -1 except on thread 0
  std::unique_ptr<SessionEnvironment> environment_;  // once the hooks are known

  io_uring ring_{};
  bool ring_ready_ = false;
  io_uring_buf_ring* buffer_ring_ = nullptr;
  std::size_t buffer_ring_bytes_ = 0;
  char* buffers_ = nullptr;
  std::uint32_t buffers_returned_ = 0;

  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<std::uint32_t> free_slots_;
  std::uint32_t live_connections_ = 0;

  std::uint64_t wake_value_ = 0;
  signalfd_siginfo signal_info_{};
  __kernel_timespec accept_retry_timespec_{};
  __kernel_timespec tick_timespec_{};
  __kernel_timespec drain_timespec_{};
  bool accept_armed_ = false;
  bool draining_ = false;
  bool done_ = false;
  std::uint64_t now_ms_ = 0;  // monotonic, coarse, read once per batch of completions
  std::uint32_t sweep_interval_ms_ = 0;
  __kernel_timespec sweep_timespec_{};
  std::uint64_t messages_seen_ = 0;
  std::uint32_t errors_logged_ = 0;
};

Worker::~Worker() {
  for (auto& connection : connections_) {
    if (connection && connection->fd >= 0) ::close(connection->fd);
  }
  if (ring_ready_) io_uring_queue_exit(&ring_);  // cancels whatever is still in flight
  if (buffer_ring_ != nullptr) ::munmap(buffer_ring_, buffer_ring_bytes_);
  std::free(buffers_);
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

absl::Status Worker::set_up() {
  // One issuer per ring, and completions run when this thread asks for them: the cheapest
  // mode since 6.1. Older kernels refuse the flags; fall back to the plain ring.
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
                 IORING_SETUP_DEFER_TASKRUN;
  params.cq_entries = server_completion_entries;
  int result = io_uring_queue_init_params(server_ring_entries, &ring_, &params);
  if (result == -EINVAL) {
    params = io_uring_params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = server_completion_entries;
    result = io_uring_queue_init_params(server_ring_entries, &ring_, &params);
  }
  if (result < 0) {
    return absl::UnavailableError(io_uring_setup_error(-result));
  }
  ring_ready_ = true;

  // The provided-buffer ring (kernel 5.19+): multishot recv picks a buffer per completion.
  buffer_ring_bytes_ = server_recv_buffers * sizeof(io_uring_buf);
  void* ring_memory = ::mmap(nullptr, buffer_ring_bytes_, PROT_READ | PROT_WRITE,
                             MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (ring_memory == MAP_FAILED) {
    return absl::ResourceExhaustedError(hayate::cat("mmap buffer ring: ", errno_text(errno)));
  }
  buffer_ring_ = static_cast<io_uring_buf_ring*>(ring_memory);
  buffers_ = static_cast<char*>(
      std::aligned_alloc(4096, std::size_t(server_recv_buffers) * server_recv_buffer_bytes));
  if (buffers_ == nullptr) return absl::ResourceExhaustedError("cannot allocate recv buffers");
  io_uring_buf_reg registration{};
  registration.ring_addr = reinterpret_cast<std::uint64_t>(buffer_ring_);
  registration.ring_entries = server_recv_buffers;
  registration.bgid = 0;
  result = io_uring_register_buf_ring(&ring_, &registration, 0);
  if (result < 0) {
    return absl::UnavailableError(
        hayate::cat("io_uring_register_buf_ring (needs Linux 5.19+): ", errno_text(-result)));
  }
  io_uring_buf_ring_init(buffer_ring_);
  for (std::uint32_t id = 0; id < server_recv_buffers; ++id) return_buffer(std::uint16_t(id));
  io_uring_buf_ring_advance(buffer_ring_, int(buffers_returned_));
  buffers_returned_ = 0;

  connections_.reserve(1024);
  return absl::OkStatus();
}

io_uring_sqe* Worker::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    io_uring_submit(&ring_);  // the SQ is full: hand it to the kernel and take a fresh entry
    sqe = io_uring_get_sqe(&ring_);
  }
  HAYATE_ASSERT(sqe != nullptr);
  return sqe;
}

void Worker::return_buffer(std::uint16_t buffer_id) {
  io_uring_buf_ring_add(buffer_ring_, buffers_ + std::size_t(buffer_id) * server_recv_buffer_bytes,
                        server_recv_buffer_bytes, buffer_id,
                        io_uring_buf_ring_mask(server_recv_buffers), int(buffers_returned_));
  ++buffers_returned_;
  HAYATE_ASSERT(buffers_returned_ <= server_recv_buffers);
}

void Worker::arm_accept() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_multishot_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, make_tag(Op::accept));
  accept_armed_ = true;
}

void Worker::arm_recv(Connection& connection) {
  HAYATE_ASSERT(!connection.recv_armed);
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_recv_multishot(sqe, connection.fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = 0;
  io_uring_sqe_set_data64(sqe, make_tag(Op::recv, connection.slot, connection.generation));
  connection.recv_armed = true;
}

void Worker::arm_wake() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_read(sqe, shared_.wake_fds[index_], &wake_value_, sizeof wake_value_, 0);
  io_uring_sqe_set_data64(sqe, make_tag(Op::wake));
}

void Worker::arm_signal() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_read(sqe, signal_fd_, &signal_info_, sizeof signal_info_, 0);
  io_uring_sqe_set_data64(sqe, make_tag(Op::signal));
}

void Worker::arm_timeout(Op op, __kernel_timespec& timespec, std::uint32_t ms) {
  timespec = timespec_from_ms(ms);
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_timeout(sqe, &timespec, 0, 0);
  io_uring_sqe_set_data64(sqe, make_tag(op));
}

absl::Status Worker::run() {
  absl::StatusOr<ServerHooks::ThreadHooks> thread_hooks = hooks_.start_thread(index_);
  if (!thread_hooks.ok()) return thread_hooks.status();
  HAYATE_ASSERT(thread_hooks->policy != nullptr && thread_hooks->store != nullptr);
  environment_ = std::make_unique<SessionEnvironment>(
      config_.session, shared_.stats[index_], *thread_hooks->policy, *thread_hooks->store, index_);
  if (absl::Status status = set_up(); !status.ok()) return status;
  arm_wake();
  if (signal_fd_ >= 0) arm_signal();
  if (index_ == 0 && config_.tick_interval_ms > 0) {
    arm_timeout(Op::tick, tick_timespec_, config_.tick_interval_ms);
  }
  now_ms_ = monotonic_ms();
  std::uint32_t shortest_timeout_ms = 0;
  for (const std::uint32_t timeout_ms : {config_.idle_timeout_ms, config_.session_timeout_ms,
                                         config_.command_timeout_ms, config_.data_timeout_ms}) {
    if (timeout_ms > 0 && (shortest_timeout_ms == 0 || timeout_ms < shortest_timeout_ms)) {
      shortest_timeout_ms = timeout_ms;
    }
  }
  if (shortest_timeout_ms > 0) {
    // A few sweeps per period: a connection closes between 1 and 1.25 timeouts.
    sweep_interval_ms_ = std::clamp(shortest_timeout_ms / 4, 10u, 1000u);
    arm_timeout(Op::idle_sweep, sweep_timespec_, sweep_interval_ms_);
  }
  if (shared_.stopping.load()) {
    begin_drain();
  } else {
    arm_accept();
  }

  while (!done_) {
    const int result = io_uring_submit_and_wait(&ring_, 1);
    now_ms_ = monotonic_ms();
    if (result < 0 && result != -EINTR && result != -EAGAIN && result != -EBUSY &&
        result != -ETIME) {
      return absl::InternalError(hayate::cat("io_uring_submit_and_wait: ", errno_text(-result)));
    }
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      handle(cqe->user_data, cqe->res, cqe->flags);
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);
    if (buffers_returned_ > 0) {
      io_uring_buf_ring_advance(buffer_ring_, int(buffers_returned_));
      buffers_returned_ = 0;
    }
    if (config_.exit_after_messages > 0) note_messages();
  }
  return absl::OkStatus();
}

void Worker::note_messages() {
  const std::uint64_t now = shared_.stats[index_].get(ServerCounter::messages);
  if (now == messages_seen_) return;
  const std::uint64_t total =
      shared_.messages_total.fetch_add(now - messages_seen_) + (now - messages_seen_);
  messages_seen_ = now;
  if (total >= config_.exit_after_messages) shared_.request_stop();
}

// A few lines, not one per failed accept: a persistent error must not flood stderr.
void Worker::log_error(std::string_view what) {
  if (errors_logged_++ >= 10) return;
  std::fprintf(stderr, "%s: %.*s\n", config_.log_name.c_str(), int(what.size()), what.data());
}

void Worker::handle(std::uint64_t tag, int result, std::uint32_t flags) {
  const Op op = tag_op(tag);
  switch (op) {
    case Op::accept:
      return on_accept(result, flags);
    case Op::accept_retry:
      if (!draining_) arm_accept();
      return;
    case Op::recv:
    case Op::send:
    case Op::timer: {
      const std::uint32_t slot = tag_slot(tag);
      HAYATE_ASSERT(slot < connections_.size());
      Connection& connection = *connections_[slot];
      // A slot is reused only once nothing is in flight for it, so a stale tag is a bug.
      HAYATE_ASSERT(connection.generation == tag_generation(tag) && connection.fd >= 0);
      if (op == Op::recv) return on_recv(connection, result, flags);
      if (op == Op::send) return on_send(connection, result);
      return on_timer(connection, result);
    }
    case Op::timer_remove:
    case Op::cancel:
      return;
    case Op::wake:
      return begin_drain();
    case Op::signal:
      if (result == int(sizeof signal_info_)) {
        if (draining_) {
          done_ = true;  // a second signal: stop waiting for replies in flight
        } else {
          shared_.request_stop();
        }
      }
      if (!done_) arm_signal();
      return;
    case Op::tick:
      hooks_.tick();
      if (!draining_) arm_timeout(Op::tick, tick_timespec_, config_.tick_interval_ms);
      return;
    case Op::idle_sweep:
      if (draining_) return;
      sweep_timeouts();
      arm_timeout(Op::idle_sweep, sweep_timespec_, sweep_interval_ms_);
      return;
    case Op::drain_deadline:
      if (live_connections_ > 0) {
        std::fprintf(stderr, "%s: thread %u: %u connections still open at the stop deadline\n",
                     config_.log_name.c_str(), index_, live_connections_);
      }
      done_ = true;
      return;
  }
  HAYATE_ASSERT(false);  // an op this loop never submits
}

Connection* Worker::allocate_connection() {
  if (free_slots_.empty()) {
    if (connections_.size() >= server_connections_per_thread_max) return nullptr;
    const auto slot = std::uint32_t(connections_.size());
    connections_.push_back(std::make_unique<Connection>(*environment_, slot));
    free_slots_.push_back(slot);
  }
  const std::uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  ++live_connections_;
  return connections_[slot].get();
}

void Worker::on_accept(int result, std::uint32_t flags) {
  if (!(flags & IORING_CQE_F_MORE)) accept_armed_ = false;
  if (result < 0) {
    if (result != -ECANCELED) log_error(hayate::cat("accept: ", errno_text(-result)));
    // EMFILE and friends: retry a little later rather than spin.
    if (!accept_armed_ && !draining_) arm_timeout(Op::accept_retry, accept_retry_timespec_, 10);
    return;
  }
  if (!accept_armed_ && !draining_) arm_accept();
  const int fd = result;
  if (draining_) {
    ::close(fd);
    return;
  }
  // RFC 5321 3.8: 421 when the service cannot take the session.
  static constexpr std::string_view kBusy = "421 4.3.2 Too many connections, try again later\r\n";
  Connection* connection = allocate_connection();
  if (connection == nullptr) return refuse(fd, kBusy);
  HAYATE_ASSERT(connection->fd < 0 && !connection->recv_armed && !connection->send_in_flight);
  HAYATE_ASSERT(!connection->counted_open && !connection->counted_peer);
  connection->fd = fd;
  if (!admit(*connection)) return;
  connection->closing = false;
  connection->sent_bytes = 0;
  connection->sending.clear();
  connection->active_ms = now_ms_;
  connection->accepted_ms = now_ms_;
  connection->waiting_since_ms = now_ms_;
  connection->inputs_seen = 0;
  connection->session.start();
  arm_recv(*connection);
  after_session(*connection);
}

// The connection caps of ServerConfig. A connection beyond one gets 421 and is closed; its
// slot goes back to the free list.
bool Worker::admit(Connection& connection) {
  std::string_view refusal;
  if (config_.connections_max > 0) {
    connection.counted_open = true;
    if (shared_.connections_open.fetch_add(1) >= config_.connections_max) {
      refusal = "421 4.3.2 Too many connections, try again later\r\n";
    }
  }
  if (refusal.empty() && config_.connections_per_ip_max > 0 &&
      peer_key(connection.fd, connection.peer)) {
    std::lock_guard<std::mutex> lock(shared_.peers_mutex);
    std::uint32_t& open = shared_.connections_per_peer[connection.peer];
    if (open >= config_.connections_per_ip_max) {
      refusal = "421 4.7.0 Too many connections from your address, try again later\r\n";
    } else {
      ++open;
      connection.counted_peer = true;
    }
  }
  if (refusal.empty()) return true;
  const int fd = connection.fd;
  uncount(connection);
  connection.fd = -1;
  free_slots_.push_back(connection.slot);
  --live_connections_;
  refuse(fd, refusal);
  return false;
}

// A reply the kernel can take at once (the socket is new, its buffer empty), then close.
void Worker::refuse(int fd, std::string_view reply) {
  shared_.stats[index_].add(ServerCounter::connections_refused);
  [[maybe_unused]] const ssize_t sent =
      ::send(fd, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::close(fd);
}

void Worker::uncount(Connection& connection) {
  if (connection.counted_open) {
    HAYATE_ASSERT(shared_.connections_open.load() > 0);
    shared_.connections_open.fetch_sub(1);
    connection.counted_open = false;
  }
  if (connection.counted_peer) {
    std::lock_guard<std::mutex> lock(shared_.peers_mutex);
    const auto found = shared_.connections_per_peer.find(connection.peer);
    HAYATE_ASSERT(found != shared_.connections_per_peer.end() && found->second > 0);
    if (--found->second == 0) shared_.connections_per_peer.erase(found);
    connection.counted_peer = false;
  }
}

void Worker::on_recv(Connection& connection, int result, std::uint32_t flags) {
  if (!(flags & IORING_CQE_F_MORE)) connection.recv_armed = false;
  if (result > 0) {
    connection.active_ms = now_ms_;
    HAYATE_ASSERT(flags & IORING_CQE_F_BUFFER);
    const auto buffer_id = std::uint16_t(flags >> IORING_CQE_BUFFER_SHIFT);
    HAYATE_ASSERT(buffer_id < server_recv_buffers &&
                  std::uint32_t(result) <= server_recv_buffer_bytes);
    if (!connection.closing && !draining_) {
      connection.session.feed(std::string_view(
          buffers_ + std::size_t(buffer_id) * server_recv_buffer_bytes, std::size_t(result)));
    }
    return_buffer(buffer_id);  // the session copied what it keeps
    if (connection.session.inputs_completed() != connection.inputs_seen) {
      connection.inputs_seen = connection.session.inputs_completed();
      connection.waiting_since_ms = now_ms_;  // the next command's deadline starts now
    }
    if (connection.session.output().size() > config_.output_bytes_max) begin_close(connection);
    if (!connection.recv_armed && !connection.closing) arm_recv(connection);
    if (!connection.closing) after_session(connection);
    maybe_release(connection);
    return;
  }
  if (result == -ENOBUFS && !connection.closing) {
    // Every provided buffer was in use; they are returned at the end of this batch, before
    // the re-armed recv reaches the kernel.
    if (!connection.recv_armed) arm_recv(connection);
    return;
  }
  // 0: the client closed; < 0: reset or cancelled. Either way the multishot recv ended.
  begin_close(connection);
  maybe_release(connection);
}

void Worker::after_session(Connection& connection) {
  while (!connection.closing) {
    Session& session = connection.session;
    if (!connection.send_in_flight && !session.output().empty()) start_send(connection);
    if (draining_) {
      if (!connection.send_in_flight) begin_close(connection);
      return;
    }
    switch (session.action()) {
      case Action::read:
        return;
      case Action::flush_then_resume:
        if (connection.send_in_flight) return;  // on_send resumes
        session.resume();
        continue;
      case Action::delay_then_resume:
        if (!connection.timer_armed) {
          connection.timer = timespec_from_ms(session.delay_ms());
          io_uring_sqe* sqe = get_sqe();
          io_uring_prep_timeout(sqe, &connection.timer, 0, 0);
          io_uring_sqe_set_data64(sqe, make_tag(Op::timer, connection.slot, connection.generation));
          connection.timer_armed = true;
        }
        return;
      case Action::close_after_flush:
        if (!connection.send_in_flight) begin_close(connection);
        return;
    }
  }
}

void Worker::start_send(Connection& connection) {
  HAYATE_ASSERT(!connection.send_in_flight && connection.sending.empty());
  std::swap(connection.sending, connection.session.output());
  connection.sent_bytes = 0;
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_send(sqe, connection.fd, connection.sending.data(), connection.sending.size(),
                     MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, make_tag(Op::send, connection.slot, connection.generation));
  connection.send_in_flight = true;
}

void Worker::on_send(Connection& connection, int result) {
  connection.send_in_flight = false;
  if (result < 0) {
    connection.sending.clear();
    begin_close(connection);
    maybe_release(connection);
    return;
  }
  connection.sent_bytes += std::size_t(result);
  connection.active_ms = now_ms_;
  HAYATE_ASSERT(connection.sent_bytes <= connection.sending.size());
  if (connection.sent_bytes < connection.sending.size() && !connection.closing) {
    // A short send (full socket buffer): send the rest before anything newer.
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_send(sqe, connection.fd, connection.sending.data() + connection.sent_bytes,
                       connection.sending.size() - connection.sent_bytes, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, make_tag(Op::send, connection.slot, connection.generation));
    connection.send_in_flight = true;
    return;
  }
  connection.sending.clear();
  connection.sent_bytes = 0;
  after_session(connection);
  maybe_release(connection);
}

void Worker::on_timer(Connection& connection, int result) {
  connection.timer_armed = false;
  connection.active_ms = now_ms_;  // the delay was ours, not the client's silence
  connection.waiting_since_ms = now_ms_;
  if (!connection.closing && !draining_ && result == -ETIME) {
    connection.session.resume();
    after_session(connection);
  }
  maybe_release(connection);
}

// Past the session's deadline, or the current command's (or message's): the client may be
// sending, but too slowly to be served.
bool Worker::too_slow(const Connection& connection) const {
  if (config_.session_timeout_ms > 0 &&
      now_ms_ - connection.accepted_ms >= config_.session_timeout_ms) {
    return true;
  }
  const std::uint32_t timeout_ms =
      connection.session.in_data() ? config_.data_timeout_ms : config_.command_timeout_ms;
  return timeout_ms > 0 && now_ms_ - connection.waiting_since_ms >= timeout_ms;
}

void Worker::sweep_timeouts() {
  for (auto& slot : connections_) {
    Connection& connection = *slot;
    if (connection.fd < 0 || connection.closing || connection.timer_armed) continue;
    const bool idle =
        config_.idle_timeout_ms > 0 && now_ms_ - connection.active_ms >= config_.idle_timeout_ms;
    const bool slow = !idle && too_slow(connection);
    if (!idle && !slow) continue;
    shared_.stats[index_].add(idle ? ServerCounter::sessions_timed_out
                                   : ServerCounter::sessions_too_slow);
    if (connection.send_in_flight) {
      begin_close(connection);  // a client that stopped reading: no room for a 421 either
    } else {
      connection.session.time_out();  // RFC 5321 4.5.3.2.7
      after_session(connection);      // sends the 421; its completion closes
    }
    maybe_release(connection);
  }
}

void Worker::begin_close(Connection& connection) {
  if (connection.closing) return;
  connection.closing = true;
  // close() alone would not end the armed multishot recv (it holds a file reference);
  // shutdown() wakes it with end-of-file, and sends our FIN after any queued reply.
  if (connection.recv_armed || connection.send_in_flight) ::shutdown(connection.fd, SHUT_RDWR);
  if (connection.timer_armed) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_timeout_remove(sqe, make_tag(Op::timer, connection.slot, connection.generation),
                                 0);
    io_uring_sqe_set_data64(sqe, make_tag(Op::timer_remove));
  }
}

void Worker::maybe_release(Connection& connection) {
  if (!connection.closing || connection.recv_armed || connection.send_in_flight ||
      connection.timer_armed) {
    return;
  }
  HAYATE_ASSERT(connection.fd >= 0 && live_connections_ > 0);
  ::close(connection.fd);
  connection.fd = -1;
  ++connection.generation;
  connection.sending.clear();
  connection.session.release();
  uncount(connection);
  free_slots_.push_back(connection.slot);
  --live_connections_;
  if (draining_ && live_connections_ == 0) done_ = true;
}

void Worker::begin_drain() {
  if (draining_) return;
  draining_ = true;
  if (accept_armed_) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, make_tag(Op::accept), 0);
    io_uring_sqe_set_data64(sqe, make_tag(Op::cancel));
  }
  // Replies already produced (the 250 of the message that reached --exit-after-messages)
  // still go out; idle connections close now.
  for (auto& slot : connections_) {
    Connection& connection = *slot;
    if (connection.fd < 0 || connection.closing) continue;
    if (!connection.send_in_flight && !connection.session.output().empty()) {
      start_send(connection);
    }
    if (!connection.send_in_flight) begin_close(connection);
    maybe_release(connection);
  }
  if (live_connections_ == 0) {
    done_ = true;
  } else {
    arm_timeout(Op::drain_deadline, drain_timespec_, server_drain_timeout_ms);
  }
}

absl::Status set_socket_option(int fd, int level, int name, int value, const char* what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) {
    return absl::UnavailableError(hayate::cat("setsockopt ", what, ": ", errno_text(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> open_listener(const ListenAddress& address) {
  const int fd = ::socket(address.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(hayate::cat("socket: ", errno_text(errno)));
  absl::Status status = set_socket_option(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
  if (status.ok()) status = set_socket_option(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
  // Accepted sockets inherit TCP_NODELAY: a reply must not wait for the client's ACK of the
  // previous one (Nagle plus delayed ACK costs 40 ms per lock-step round trip).
  if (status.ok()) status = set_socket_option(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
  if (status.ok() && address.family == AF_INET6) {
    status = set_socket_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
  }
  if (status.ok() &&
      ::bind(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
    status =
        absl::UnavailableError(hayate::cat("bind ", address.to_string(), ": ", errno_text(errno)));
  }
  if (status.ok() && ::listen(fd, int(server_listen_backlog)) != 0) {
    status = absl::UnavailableError(
        hayate::cat("listen ", address.to_string(), ": ", errno_text(errno)));
  }
  if (!status.ok()) {
    ::close(fd);
    return status;
  }
  return fd;
}

// SO_REUSEPORT would let this sink silently share a port with a forgotten sink of the same
// user, each getting half the connections. A plain bind first tells a taken port apart.
absl::Status check_port_free(const ListenAddress& address) {
  const int fd = ::socket(address.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(hayate::cat("socket: ", errno_text(errno)));
  absl::Status status = set_socket_option(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
  if (status.ok() && address.family == AF_INET6) {
    status = set_socket_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
  }
  if (status.ok() &&
      ::bind(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
    status =
        absl::UnavailableError(hayate::cat("bind ", address.to_string(), ": ", errno_text(errno),
                                           errno == EADDRINUSE ? " (another server?)" : ""));
  }
  ::close(fd);
  return status;
}

}  // namespace

void block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

absl::StatusOr<std::unique_ptr<Server>> Server::open(const ServerConfig& config) {
  HAYATE_ASSERT(config.threads >= 1 && config.threads <= limits::server_threads_max);
  ListenAddress address = config.listen;
  if (address.port() != 0) {
    if (absl::Status status = check_port_free(address); !status.ok()) return status;
  }
  std::vector<int> fds;
  for (std::uint32_t i = 0; i < config.threads; ++i) {
    absl::StatusOr<int> fd = open_listener(address);
    if (!fd.ok()) {
      for (int open_fd : fds) ::close(open_fd);
      return fd.status();
    }
    fds.push_back(*fd);
    if (i == 0 && address.port() == 0) {
      // Port 0: the kernel chose one; every other thread joins the same port.
      sockaddr_storage bound{};
      socklen_t length = sizeof bound;
      if (::getsockname(*fd, reinterpret_cast<sockaddr*>(&bound), &length) == 0) {
        address.set_port(bound.ss_family == AF_INET6
                             ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                             : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port));
      }
    }
  }
  std::unique_ptr<Server> server(new Server(config, address, std::move(fds)));
  for (std::uint32_t i = 0; i < config.threads; ++i) {
    const int fd = ::eventfd(0, EFD_CLOEXEC);
    if (fd < 0) return absl::UnavailableError(hayate::cat("eventfd: ", errno_text(errno)));
    server->shared_->wake_fds.push_back(fd);
  }
  return server;
}

Server::Server(const ServerConfig& config, ListenAddress address, std::vector<int> listen_fds)
    : config_(config),
      address_(address),
      listen_fds_(std::move(listen_fds)),
      shared_(std::make_unique<Shared>(config_)) {}

Server::~Server() {
  for (int fd : listen_fds_) {
    if (fd >= 0) ::close(fd);
  }
}

void Server::stop() { shared_->request_stop(); }

ServerStatsSnapshot Server::stats() const { return shared_->totals(); }

absl::Status Server::run(ServerHooks& hooks) {
  HAYATE_ASSERT(!ran_);  // the listening sockets are handed to the workers, which close them
  ran_ = true;
  HAYATE_ASSERT(listen_fds_.size() == config_.threads);
  int signal_fd = -1;
  if (config_.stop_on_signals) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    signal_fd = ::signalfd(-1, &signals, SFD_CLOEXEC);
    if (signal_fd < 0) return absl::UnavailableError(hayate::cat("signalfd: ", errno_text(errno)));
  }

  std::vector<absl::Status> results(config_.threads);
  std::vector<std::thread> threads;
  const auto run_worker = [&](std::uint32_t index) {
    const int listen_fd = listen_fds_[index];
    listen_fds_[index] = -1;  // the worker closes it
    Worker worker(*shared_, hooks, index, listen_fd, index == 0 ? signal_fd : -1);
    results[index] = worker.run();
    if (!results[index].ok()) shared_->request_stop();  // one failed thread stops them all
  };
  for (std::uint32_t i = 1; i < config_.threads; ++i) threads.emplace_back(run_worker, i);
  run_worker(0);
  for (std::thread& thread : threads) thread.join();

  if (signal_fd >= 0) ::close(signal_fd);
  for (const absl::Status& status : results) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace hayate::smtp::server
