// The bounded, thread-safe address memory of the "flaky" fault mode (see flaky_set.h).
#include "tools/sink/flaky_set.h"

#include "engine/assert.h"
#include "tools/sink/absl_views.h"

namespace hayate::sink {

FlakySet::Attempt FlakySet::record(std::string_view address) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (seen_.contains(to_absl(address))) return Attempt::repeated;
  if (seen_.size() >= addresses_max_) return Attempt::untracked;
  seen_.emplace(address);
  HAYATE_ASSERT(seen_.size() <= addresses_max_);
  return Attempt::first;
}

std::size_t FlakySet::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return seen_.size();
}

}  // namespace hayate::sink
