// VERP (variable envelope return paths): each message's envelope sender carries a signed token
// naming its campaign and recipient, "bounces+TOKEN@bounce-domain", so that a bounce says whom
// it is about even when its DSN is unreadable, and a forged one is recognized.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hayate::campaign::inline message {

// The token: campaign tag (5 bytes), sequence (LEB128 varint, 1 to 10 bytes), then the first
// 10 bytes of HMAC-SHA256(secret, tag || varint); in base32 (RFC 4648 6, lower case, no
// padding), so that MTAs that fold the case of local parts cannot break it.
inline constexpr std::size_t verp_campaign_tag_bytes = 5;
inline constexpr std::size_t verp_sequence_bytes_max = 10;  // a uint64 as LEB128
inline constexpr std::size_t verp_mac_bytes = 10;           // 80 bits: forging is a 2^-80 guess
inline constexpr std::size_t verp_token_bytes_min = verp_campaign_tag_bytes + 1 + verp_mac_bytes;
inline constexpr std::size_t verp_token_bytes_max =
    verp_campaign_tag_bytes + verp_sequence_bytes_max + verp_mac_bytes;
inline constexpr std::size_t verp_token_characters_max = (verp_token_bytes_max * 8 + 4) / 5;
// RFC 5321 4.5.3.1.1: a local part is at most 64 octets: prefix '+' token.
inline constexpr std::size_t verp_prefix_bytes_max = 64 - 1 - verp_token_characters_max;
inline constexpr std::size_t verp_secret_bytes_min = 16;
inline constexpr std::size_t verp_secret_bytes_max = 4096;  // a bigger file is not a secret file
static_assert(verp_token_characters_max == 40 && verp_prefix_bytes_max == 23);

using CampaignTag = std::array<std::uint8_t, verp_campaign_tag_bytes>;

// The first 5 bytes of SHA-256(campaign_id): names the campaign in 40 bits, so that a bounce
// processor can tell its campaigns apart without the id, which can be 64 bytes long.
CampaignTag campaign_tag(std::string_view campaign_id);

// What a valid token says.
struct VerpToken {
  CampaignTag campaign_tag{};
  std::uint64_t sequence = 0;
};

// The secret and the address shape. Copies share the secret; immutable, so one key can serve
// every shard at once.
class VerpKey {
 public:
  // Reads the secret from `secret_file`: its bytes, trailing whitespace (a final newline)
  // removed, at least 16 and at most 4096. `prefix`: the local part before '+' ("bounces"),
  // 1 to 23 octets of atext but '+', dots only between other characters, so that the longest
  // local part stays within 64 octets. `domain`: the bounce domain (an IDN becomes its
  // A-labels). Errors name the file or the value: "verp.key: the secret is 9 bytes; at least
  // 16 are needed (for instance: head -c 32 /dev/urandom | base64 > verp.key)".
  static absl::StatusOr<VerpKey> load(const std::string& secret_file, std::string_view prefix,
                                      std::string_view domain);
  // The same from the secret's bytes (no trimming); `source_name` names it in errors.
  static absl::StatusOr<VerpKey> create(std::string_view secret, std::string_view prefix,
                                        std::string_view domain,
                                        std::string_view source_name = "VERP secret");

  std::string_view prefix() const { return prefix_; }
  std::string_view domain() const { return domain_; }

  VerpKey() = default;

 private:
  friend void append_verp_address(const VerpKey&, const CampaignTag&, std::uint64_t, std::string&);
  friend bool verp_decode(const VerpKey&, std::string_view, VerpToken&, std::string&);

  // HMAC-SHA256 of `size` bytes at `data` into `mac` (32 bytes).
  void compute_mac(const std::uint8_t* data, std::size_t size, std::uint8_t* mac) const;

  std::string secret_;
  std::string prefix_;
  std::string domain_;
  std::uint64_t id_ = 0;  // names the secret in each thread's cached HMAC context
};

// "bounces+TOKEN@bounce-domain" for one recipient: a token of 26 (sequence under 128) to 40
// characters, at most 64 octets before the '@'.
std::string verp_address(const VerpKey& key, std::string_view campaign_id, std::uint64_t sequence);
// The same appended to `out`, with the campaign's tag computed once (the hot path).
void append_verp_address(const VerpKey& key, const CampaignTag& tag, std::uint64_t sequence,
                         std::string& out);

// True when the local part of `address_or_local_part` (any of verp_decode's forms) is
// PREFIX+something, in any case: an address of ours, whatever its token turns out to be.
bool is_verp_address(const VerpKey& key, std::string_view address_or_local_part);

// Reads a token back from "bounces+TOKEN@domain", "<bounces+TOKEN@domain>" or "bounces+TOKEN",
// in any case (the domain is not checked: a bounce may come back through another one). False
// with `error` when the prefix differs, the token is malformed, or its MAC does not match
// (forged or altered; compared in constant time).
bool verp_decode(const VerpKey& key, std::string_view address_or_local_part, VerpToken& token,
                 std::string& error);

}  // namespace hayate::campaign::message
