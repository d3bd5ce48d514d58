// Thin io_uring wrapper for one shard: submission, completion batches, a provided-buffer ring
// for receives, and tagged user_data so that each completion reaches the object that asked.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "engine/assert.h"

namespace hayate {

// What to tell the user when io_uring_queue_init fails with -error_number. EPERM and ENOSYS
// mean io_uring itself is refused (a container's seccomp profile, the kernel.io_uring_disabled
// sysctl, a kernel built without it): the message says so and what to change. Pure; every
// ring of the program (shards, the SMTP server) reports through it.
std::string io_uring_setup_error(int error_number);

// Completions are routed by a tagged pointer: the object that issued the operation, with the
// operation's kind in the low 3 bits (objects are 8-byte aligned). An object stays alive until
// every operation it issued has completed.
class IoTarget {
 public:
  virtual ~IoTarget() = default;
  virtual void on_completion(std::uint8_t operation, const io_uring_cqe& cqe) = 0;
};

inline std::uint64_t io_tag(IoTarget* target, std::uint8_t operation) {
  HAYATE_ASSERT(operation < 8);
  const auto address = reinterpret_cast<std::uintptr_t>(target);
  HAYATE_ASSERT((address & 7u) == 0);
  return address | operation;
}

inline void dispatch_completion(const io_uring_cqe& cqe) {
  if (cqe.user_data == 0) return;  // operations nobody waits for (e.g. cancellations)
  auto* target = reinterpret_cast<IoTarget*>(cqe.user_data & ~std::uint64_t{7});
  target->on_completion(static_cast<std::uint8_t>(cqe.user_data & 7u), cqe);
}

class Ring {
 public:
  Ring() = default;
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  absl::Status init(std::uint32_t entries);
  // Call on the thread that will use the ring, before its first submission.
  void enable();

  // A submission entry; when the submission queue is full, submits what is there first.
  io_uring_sqe* sqe();

  // Submits, then waits for at least one completion or until timeout_ms (-1: no limit,
  // 0: do not wait). Returns false only on an unexpected error (errno text in `error`).
  bool submit_and_wait(std::int64_t timeout_ms);

  // Calls fn(cqe) for every ready completion and marks them seen in one step.
  template <typename Fn>
  unsigned drain(Fn&& fn) {
    unsigned head;
    unsigned count = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      fn(*cqe);
      ++count;
    }
    io_uring_cq_advance(&ring_, count);
    return count;
  }

  // Provided buffers for multishot receive (group id `buffer_group`).
  absl::Status setup_buffers(std::uint32_t count, std::uint32_t size_bytes);
  const char* buffer(std::uint16_t id) const {
    HAYATE_ASSERT(id < buffer_count_);
    return buffer_memory_ + std::size_t{id} * buffer_size_bytes_;
  }
  void recycle_buffer(std::uint16_t id);
  static constexpr std::uint16_t buffer_group = 0;

  io_uring* raw() { return &ring_; }

 private:
  io_uring ring_{};
  bool initialized_ = false;
  bool disabled_ = false;
  io_uring_buf_ring* buffer_ring_ = nullptr;
  char* buffer_memory_ = nullptr;
  std::uint32_t buffer_count_ = 0;
  std::uint32_t buffer_size_bytes_ = 0;
  std::size_t buffer_ring_bytes_ = 0;
};

}  // namespace hayate
