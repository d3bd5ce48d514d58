// io_uring set-up and the provided-buffer ring (kernel 5.19+, liburing 2.2+).
#include "engine/ring.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace hayate {

std::string io_uring_setup_error(int error_number) {
  // Docker's default seccomp profile (since 25.0) and Podman's refuse io_uring with EPERM, as
  // does kernel.io_uring_disabled (Linux 6.6+: 2 for everyone, 1 outside io_uring_group); a
  // profile that does not know the calls, or a kernel without CONFIG_IO_URING, gives ENOSYS.
  constexpr char kWhatToChange[] =
      ": in a container, allow the io_uring_setup, io_uring_enter and io_uring_register system "
      "calls in its seccomp profile (docker: --security-opt seccomp=PROFILE.json); on the host, "
      "check sysctl kernel.io_uring_disabled (it must be 0, or 1 with this user in the group "
      "kernel.io_uring_group)";
  if (error_number == EPERM) return absl::StrCat("io_uring is blocked (EPERM)", kWhatToChange);
  if (error_number == ENOSYS) {
    return absl::StrCat("io_uring is not available (ENOSYS)", kWhatToChange,
                        "; the kernel needs io_uring (CONFIG_IO_URING, Linux 5.19 or later)");
  }
  return absl::StrCat("io_uring_queue_init: ", std::strerror(error_number));
}

Ring::~Ring() {
  if (!initialized_) return;
  if (buffer_ring_ != nullptr) {
    io_uring_unregister_buf_ring(&ring_, buffer_group);
    munmap(buffer_ring_, buffer_ring_bytes_);
  }
  std::free(buffer_memory_);
  io_uring_queue_exit(&ring_);
}

absl::Status Ring::init(std::uint32_t entries) {
  io_uring_params params{};
  // One shard thread submits and reaps: SINGLE_ISSUER with DEFER_TASKRUN runs completion work
  // only when the loop asks for events, in one batch, instead of interrupting the thread. The
  // ring is created here (main thread) but disabled until the shard thread enables it, which
  // makes that thread the single issuer.
  params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
                 IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED | IORING_SETUP_CQSIZE;
  params.cq_entries = entries * 4;
  int result = io_uring_queue_init_params(entries, &ring_, &params);
  if (result == -EINVAL) {  // an older kernel without those flags
    params = io_uring_params{};
    result = io_uring_queue_init_params(entries, &ring_, &params);
  }
  disabled_ = result == 0 && (params.flags & IORING_SETUP_R_DISABLED) != 0;
  if (result < 0) {
    return absl::UnavailableError(io_uring_setup_error(-result));
  }
  initialized_ = true;
  return absl::OkStatus();
}

void Ring::enable() {
  if (!disabled_) return;
  // Debian's liburing 2.3 declares io_uring_enable_rings but does not export it.
  HAYATE_ASSERT(syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS,
                        nullptr, 0) == 0);
  disabled_ = false;
}

io_uring_sqe* Ring::sqe() {
  io_uring_sqe* entry = io_uring_get_sqe(&ring_);
  if (entry == nullptr) {
    io_uring_submit(&ring_);
    entry = io_uring_get_sqe(&ring_);
  }
  HAYATE_ASSERT(entry != nullptr);
  return entry;
}

bool Ring::submit_and_wait(std::int64_t timeout_ms) {
  io_uring_cqe* cqe = nullptr;
  int result;
  if (timeout_ms < 0) {
    result = io_uring_submit_and_wait(&ring_, 1);
  } else if (timeout_ms == 0) {
    result = io_uring_submit_and_get_events(&ring_);  // completions without waiting
  } else {
    __kernel_timespec timeout{};
    timeout.tv_sec = timeout_ms / 1000;
    timeout.tv_nsec = (timeout_ms % 1000) * 1'000'000;
    result = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &timeout, nullptr);
  }
  return result >= 0 || result == -ETIME || result == -EINTR || result == -EAGAIN ||
         result == -EBUSY;
}

absl::Status Ring::setup_buffers(std::uint32_t count, std::uint32_t size_bytes) {
  HAYATE_ASSERT(buffer_ring_ == nullptr);
  HAYATE_ASSERT(count > 0 && count <= 32768 && (count & (count - 1)) == 0);
  buffer_ring_bytes_ = count * sizeof(io_uring_buf);
  void* mapped =
      mmap(nullptr, buffer_ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mapped == MAP_FAILED) return absl::ResourceExhaustedError("mmap for the buffer ring");
  buffer_ring_ = static_cast<io_uring_buf_ring*>(mapped);
  io_uring_buf_ring_init(buffer_ring_);
  io_uring_buf_reg registration{};
  registration.ring_addr = reinterpret_cast<std::uint64_t>(buffer_ring_);
  registration.ring_entries = count;
  registration.bgid = buffer_group;
  int result = io_uring_register_buf_ring(&ring_, &registration, 0);
  if (result != 0) {
    munmap(buffer_ring_, buffer_ring_bytes_);
    buffer_ring_ = nullptr;
    return absl::UnavailableError(
        absl::StrCat("io_uring_register_buf_ring: ", std::strerror(-result),
                     " (provided buffer rings need Linux 5.19 or later)"));
  }
  buffer_memory_ = static_cast<char*>(std::aligned_alloc(4096, std::size_t{count} * size_bytes));
  HAYATE_ASSERT(buffer_memory_ != nullptr);
  buffer_count_ = count;
  buffer_size_bytes_ = size_bytes;
  const int mask = io_uring_buf_ring_mask(count);
  for (std::uint32_t id = 0; id < count; ++id) {
    io_uring_buf_ring_add(buffer_ring_, buffer_memory_ + std::size_t{id} * size_bytes, size_bytes,
                          static_cast<unsigned short>(id), mask, static_cast<int>(id));
  }
  io_uring_buf_ring_advance(buffer_ring_, static_cast<int>(count));
  return absl::OkStatus();
}

void Ring::recycle_buffer(std::uint16_t id) {
  HAYATE_ASSERT(id < buffer_count_);
  io_uring_buf_ring_add(buffer_ring_, buffer_memory_ + std::size_t{id} * buffer_size_bytes_,
                        buffer_size_bytes_, id, io_uring_buf_ring_mask(buffer_count_), 0);
  io_uring_buf_ring_advance(buffer_ring_, 1);
}

}  // namespace hayate
