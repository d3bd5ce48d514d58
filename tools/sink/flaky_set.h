// The memory of the sink's "flaky" fault mode: which recipient addresses were already seen, so
// the first RCPT for an address gets 451 and later ones 250. Shared by every sink thread
// (SO_REUSEPORT may send a client's retry to another thread), hence the mutex; only RCPTs
// whose local part starts with "flaky" ever reach it, so it stays off the hot path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"

namespace hayate::sink {

// Addresses remembered at most. When the set is full a new address is accepted at once (no
// first 451) and counted as untracked, so memory stays bounded whatever the test sends.
inline constexpr std::size_t flaky_addresses_max = 1'000'000;

class FlakySet {
 public:
  explicit FlakySet(std::size_t addresses_max = flaky_addresses_max)
      : addresses_max_(addresses_max) {}

  enum class Attempt : std::uint8_t { first, repeated, untracked };

  // Records `address` (compared byte for byte, as the client sent it) and says whether it is
  // its first attempt.
  Attempt record(std::string_view address);

  std::size_t size() const;

 private:
  const std::size_t addresses_max_;
  mutable std::mutex mutex_;
  absl::flat_hash_set<std::string> seen_;
};

}  // namespace hayate::sink
