// A shard: one thread, one io_uring, its own clock reading and its own work. Shards share
// nothing; other threads reach a shard only by pushing to a queue the shard drains and then
// calling wake(), which writes the shard's eventfd (read through the ring).
#pragma once

#include <cstdint>
#include <thread>

#include "absl/status/status.h"
#include "engine/ring.h"

namespace hayate {

class Shard;

// What runs on a shard. Every call comes from the shard's own thread.
class ShardHandler {
 public:
  virtual ~ShardHandler() = default;
  virtual void on_start(Shard& shard) = 0;
  // The eventfd was written: drain the queues this handler reads.
  virtual void on_wake(Shard& shard) = 0;
  // Called after every batch of completions and at least every tick_ms.
  virtual void on_tick(Shard& shard) = 0;
  // Milliseconds until the handler needs on_tick again (-1: only on events, capped by tick).
  virtual std::int64_t next_wakeup_ms(Shard& shard) = 0;
  // The loop ends when this returns true (checked after on_tick).
  virtual bool finished(Shard& shard) = 0;
};

class Shard : private IoTarget {
 public:
  explicit Shard(std::uint32_t index) : index_(index) {}
  ~Shard() override;

  // Sets up the ring, the receive buffers and the eventfd. Call before start().
  absl::Status init();
  // Runs the loop on a new thread until the handler is finished.
  void start(ShardHandler& handler);
  void join();
  // Runs the loop on the calling thread (tests, single-shard tools).
  void run(ShardHandler& handler);

  // Thread-safe: makes the shard call on_wake soon.
  void wake();

  std::uint32_t index() const { return index_; }
  Ring& ring() { return ring_; }
  // Monotonic milliseconds, read once per loop turn.
  std::int64_t now_ms() const { return now_ms_; }
  void refresh_clock();

  static constexpr std::int64_t tick_ms = 200;

 private:
  void on_completion(std::uint8_t operation, const io_uring_cqe& cqe) override;
  void arm_eventfd();

  const std::uint32_t index_;
  Ring ring_;
  int event_fd_ = -1;
  std::uint64_t event_value_ = 0;
  bool woken_ = false;
  std::int64_t now_ms_ = 0;
  std::thread thread_;
};

}  // namespace hayate
