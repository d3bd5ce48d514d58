// VERP (variable envelope return paths): each message's envelope sender carries a signed token
// naming its campaign, its row and, through the signature, the address it was sent to,
// "bounces+TOKEN@bounce-domain", so that a bounce says whom it is about even when its DSN is
// unreadable, and a forged one, or one whose row now holds someone else, is recognized.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hayate::campaign::inline message {

// The token, version 2: the version byte (2), the campaign tag (4 bytes), the row (LEB128
// varint, 1 to 10 bytes), then the first 10 bytes of HMAC-SHA256(secret, those bytes ||
// recipient address); in base32 (RFC 4648 6, lower case, no padding), so that MTAs that fold
// the case of local parts cannot break it. The row is readable without the address (to find
// the row); the MAC verifies only for the address that row held when it was mailed.
// Version 1 had no version byte, a 5-byte tag, and a MAC over tag and row alone: it named a
// row, not a person. Its tokens are recognized by their MAC and refused.
inline constexpr std::uint8_t verp_token_version = 2;
inline constexpr std::size_t verp_version_bytes = 1;
inline constexpr std::size_t verp_campaign_tag_bytes = 4;
inline constexpr std::size_t verp_sequence_bytes_max = 10;  // a uint64 as LEB128
inline constexpr std::size_t verp_mac_bytes = 10;           // 80 bits: forging is a 2^-80 guess
inline constexpr std::size_t verp_token_bytes_min =
    verp_version_bytes + verp_campaign_tag_bytes + 1 + verp_mac_bytes;
inline constexpr std::size_t verp_token_bytes_max =
    verp_version_bytes + verp_campaign_tag_bytes + verp_sequence_bytes_max + verp_mac_bytes;
inline constexpr std::size_t verp_token_characters_max = (verp_token_bytes_max * 8 + 4) / 5;
// RFC 5321 4.5.3.1.1: a local part is at most 64 octets: prefix '+' token.
inline constexpr std::size_t verp_prefix_bytes_max = 64 - 1 - verp_token_characters_max;
inline constexpr std::size_t verp_secret_bytes_min = 16;
inline constexpr std::size_t verp_secret_bytes_max = 4096;  // a bigger file is not a secret file
// The version byte cost the tag's fifth byte: tokens are as long as version 1's were, and a
// prefix valid then still is.
static_assert(verp_token_characters_max == 40 && verp_prefix_bytes_max == 23);

using CampaignTag = std::array<std::uint8_t, verp_campaign_tag_bytes>;

// The first 4 bytes of SHA-256(campaign_id): names the campaign in 32 bits, so that a bounce
// processor can tell its campaigns apart without the id, which can be 64 bytes long. Two
// campaigns that share a tag still need the same address on the same row to be confused.
CampaignTag campaign_tag(std::string_view campaign_id);

// What a well-formed token says. Whom it was made for is checked with verp_verify.
struct VerpToken {
  CampaignTag campaign_tag{};
  std::uint64_t sequence = 0;
  std::array<std::uint8_t, verp_mac_bytes> mac{};
};

enum class VerpDecodeResult : std::uint8_t {
  token,      // a well-formed version 2 token: verp_verify says whom it was made for
  not_ours,   // no '+' in the local part, or another prefix: not one of our addresses
  malformed,  // our prefix, but no token we make: length, alphabet, padding, version, row
  version_1,  // a version 1 token signed with our secret: it names no address, so it is refused
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
  friend void append_verp_address(const VerpKey&, const CampaignTag&, std::uint64_t,
                                  std::string_view, std::string&);
  friend VerpDecodeResult verp_decode(const VerpKey&, std::string_view, VerpToken&, std::string&);
  friend bool verp_verify(const VerpKey&, const VerpToken&, std::string_view);

  // HMAC-SHA256 of `size` bytes at `data` then `tail` into `mac` (32 bytes).
  void compute_mac(const std::uint8_t* data, std::size_t size, std::string_view tail,
                   std::uint8_t* mac) const;

  std::string secret_;
  std::string prefix_;
  std::string domain_;
  std::uint64_t id_ = 0;  // names the secret in each thread's cached HMAC context
};

// "bounces+TOKEN@bounce-domain" for the recipient of one row: a token of 26 (sequence under
// 128) to 40 characters, at most 64 octets before the '@'. `recipient` is the address as
// hayate sends it (parse_address's text: the domain lower-cased, in A-labels; the local part
// as written), the form the bounce processor reads back from the recipients file.
std::string verp_address(const VerpKey& key, std::string_view campaign_id, std::uint64_t sequence,
                         std::string_view recipient);
// The same appended to `out`, with the campaign's tag computed once (the hot path).
void append_verp_address(const VerpKey& key, const CampaignTag& tag, std::uint64_t sequence,
                         std::string_view recipient, std::string& out);

// Reads a token back from "bounces+TOKEN@domain", "<bounces+TOKEN@domain>" or "bounces+TOKEN",
// in any case (the domain is not checked: a bounce may come back through another one).
// Everything but `token` comes with `error` saying why.
VerpDecodeResult verp_decode(const VerpKey& key, std::string_view address_or_local_part,
                             VerpToken& token, std::string& error);

// True when `token` was made with this key for `recipient` (as verp_address takes it): false
// for a forged or altered token, one of another secret, or one made for another address
// (the row's recipient changed). Compared in constant time.
bool verp_verify(const VerpKey& key, const VerpToken& token, std::string_view recipient);

}  // namespace hayate::campaign::message
