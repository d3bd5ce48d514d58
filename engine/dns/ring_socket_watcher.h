// Drives c-ares from a shard's io_uring: each socket c-ares asks about gets a poll request on
// the ring; readiness is handed back to the resolver. No thread, no blocking call.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "engine/dns/resolver.h"
#include "engine/shard.h"

namespace hayate::dns {

class RingSocketWatcher final : public SocketWatcher {
 public:
  explicit RingSocketWatcher(Shard& shard) : shard_(shard) {}
  ~RingSocketWatcher() override;
  void set_resolver(Resolver* resolver) { resolver_ = resolver; }
  void watch_socket(int fd, bool readable, bool writable) override;

 private:
  class Poll;
  friend class Poll;
  void arm(Poll& poll);

  Shard& shard_;
  Resolver* resolver_ = nullptr;
  absl::flat_hash_map<int, Poll*> polls_;
};

}  // namespace hayate::dns
