// Bounded single-producer single-consumer queue: how work crosses from one thread to another
// shard without a lock. push() fails when full (the producer waits and retries: that is the
// back-pressure that keeps memory bounded); pop() fails when empty.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>

#include "engine/assert.h"

namespace hayate {

template <typename T>
class SpscQueue {
 public:
  explicit SpscQueue(std::size_t capacity) : capacity_(capacity + 1), slots_(new T[capacity_]) {
    HAYATE_ASSERT(capacity > 0);
  }

  bool push(T&& value) {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    const std::size_t next = (tail + 1) % capacity_;
    if (next == head_.load(std::memory_order_acquire)) return false;
    slots_[tail] = std::move(value);
    tail_.store(next, std::memory_order_release);
    return true;
  }

  bool pop(T& value) {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_.load(std::memory_order_acquire)) return false;
    value = std::move(slots_[head]);
    head_.store((head + 1) % capacity_, std::memory_order_release);
    return true;
  }

 private:
  const std::size_t capacity_;
  std::unique_ptr<T[]> slots_;
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::atomic<std::size_t> tail_{0};
};

}  // namespace hayate
