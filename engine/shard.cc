// The shard loop: submit, wait for completions (or the next deadline), dispatch them in one
// batch, then let the handler act. The eventfd read stays armed so other threads can wake it.
#include "engine/shard.h"

#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/limits.h"

namespace hayate {

namespace {
constexpr std::uint8_t operation_eventfd_read = 1;
}

Shard::~Shard() {
  if (thread_.joinable()) thread_.join();
  if (event_fd_ >= 0) close(event_fd_);
}

absl::Status Shard::init() {
  if (absl::Status status = ring_.init(limits::ring_entries); !status.ok()) return status;
  if (absl::Status status =
          ring_.setup_buffers(limits::recv_buffers_per_shard, limits::recv_buffer_bytes);
      !status.ok()) {
    return status;
  }
  event_fd_ = eventfd(0, EFD_CLOEXEC);
  if (event_fd_ < 0) return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  refresh_clock();
  return absl::OkStatus();
}

void Shard::refresh_clock() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  now_ms_ = std::int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1'000'000;
}

void Shard::arm_eventfd() {
  io_uring_sqe* sqe = ring_.sqe();
  io_uring_prep_read(sqe, event_fd_, &event_value_, sizeof(event_value_), 0);
  io_uring_sqe_set_data64(sqe, io_tag(this, operation_eventfd_read));
}

void Shard::on_completion(std::uint8_t operation, const io_uring_cqe& cqe) {
  HAYATE_ASSERT(operation == operation_eventfd_read);
  HAYATE_ASSERT(cqe.res == sizeof(event_value_) || cqe.res == -EINTR);
  woken_ = true;
  arm_eventfd();
}

void Shard::wake() {
  const std::uint64_t one = 1;
  // The counter cannot overflow in practice; a failed write means the fd is gone (a bug).
  HAYATE_ASSERT(write(event_fd_, &one, sizeof(one)) == sizeof(one));
}

void Shard::start(ShardHandler& handler) {
  thread_ = std::thread([this, &handler] { run(handler); });
}

void Shard::join() {
  if (thread_.joinable()) thread_.join();
}

void Shard::run(ShardHandler& handler) {
  HAYATE_ASSERT(event_fd_ >= 0);
  ring_.enable();
  refresh_clock();
  arm_eventfd();
  handler.on_start(*this);
  handler.on_wake(*this);
  while (true) {
    handler.on_tick(*this);
    if (handler.finished(*this)) break;
    std::int64_t wait_ms = handler.next_wakeup_ms(*this);
    wait_ms = wait_ms < 0 ? tick_ms : std::min(wait_ms, tick_ms);
    HAYATE_ASSERT(ring_.submit_and_wait(wait_ms));
    refresh_clock();
    // Drain until the completion queue is empty: handlers may complete more work inline.
    while (ring_.drain([](const io_uring_cqe& cqe) { dispatch_completion(cqe); }) > 0) {
    }
    if (woken_) {
      woken_ = false;
      handler.on_wake(*this);
    }
  }
  // Let cancelled operations finish so no completion refers to freed objects.
  io_uring_sqe* sqe = ring_.sqe();
  io_uring_prep_cancel_fd(sqe, event_fd_, 0);
  io_uring_sqe_set_data64(sqe, 0);
  ring_.submit_and_wait(50);
  ring_.drain([](const io_uring_cqe&) {});
}

}  // namespace hayate
