// MX host ordering (RFC 5321 5.1): lowest preference first, ties shuffled to spread the load.
// Pure and seeded, with its own generator so an order is the same on every platform.
#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/assert.h"
#include "engine/dns/resolver.h"
#include "engine/limits.h"

namespace hayate::dns {
namespace {

// SplitMix64 (Steele, Lea, Flood 2014): tiny, and unlike std::uniform_int_distribution its
// output does not depend on the standard library.
std::uint64_t next_random(std::uint64_t& state) {
  state += 0x9e37'79b9'7f4a'7c15ULL;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58'476d'1ce4'e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d0'49bb'1331'11ebULL;
  return z ^ (z >> 31);
}

// Uniform in [0, bound) by rejection (Lemire 2019), bound > 0.
std::uint64_t random_below(std::uint64_t& state, std::uint64_t bound) {
  HAYATE_ASSERT(bound > 0);
  const std::uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
  for (;;) {
    const std::uint64_t value = next_random(state);
    if (value >= threshold) return value % bound;
  }
}

// RFC 5321 5.1 lists each name once: a host named twice keeps its lowest preference.
void remove_duplicate_names(std::vector<MxHost>& hosts) {
  absl::flat_hash_map<std::string_view, std::size_t> index_by_name;
  index_by_name.reserve(hosts.size());
  std::vector<bool> keep(hosts.size(), true);
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    auto [it, inserted] = index_by_name.try_emplace(hosts[i].name, i);
    if (inserted) continue;
    MxHost& first = hosts[it->second];
    if (hosts[i].preference < first.preference) first.preference = hosts[i].preference;
    keep[i] = false;
  }
  if (index_by_name.size() == hosts.size()) return;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    if (!keep[i]) continue;
    if (kept != i) hosts[kept] = std::move(hosts[i]);
    ++kept;
  }
  hosts.resize(kept);
}

}  // namespace

void order_mx_hosts(std::vector<MxHost>& hosts, std::uint64_t random_seed) {
  remove_duplicate_names(hosts);
  // Sorting by name first makes the result depend on the seed only, not on the order the
  // server listed the records in (servers rotate them).
  std::sort(hosts.begin(), hosts.end(), [](const MxHost& a, const MxHost& b) {
    return a.preference != b.preference ? a.preference < b.preference : a.name < b.name;
  });
  std::uint64_t state = random_seed;
  for (std::size_t begin = 0; begin < hosts.size();) {
    std::size_t end = begin + 1;
    while (end < hosts.size() && hosts[end].preference == hosts[begin].preference) ++end;
    // Fisher-Yates over [begin, end).
    for (std::size_t i = end - 1; i > begin; --i) {
      const std::size_t j = begin + random_below(state, i - begin + 1);
      if (j != i) std::swap(hosts[i], hosts[j]);
    }
    begin = end;
  }
  if (hosts.size() > limits::mx_hosts_max) hosts.resize(limits::mx_hosts_max);
  HAYATE_ASSERT(hosts.size() <= limits::mx_hosts_max);
}

}  // namespace hayate::dns
