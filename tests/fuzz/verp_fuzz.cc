// libFuzzer target for campaign/verp: verp_decode and verp_verify on any bytes with a fixed
// key. Must not crash; every refusal says why; a decoded token verifies for an address exactly
// when the encoder writes that token for it (up to case); and the first 8 bytes, as a sequence
// number, must round-trip through an address made for the input, which verifies for that
// input alone and which any other base32 character in its token makes invalid.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "campaign/message/verp.h"
#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/strings.h"

namespace {

using hayate::campaign::VerpDecodeResult;
using hayate::campaign::VerpKey;
using hayate::campaign::VerpToken;

const VerpKey& key() {
  // The seeds in tests/fuzz/corpus/verp were made with this secret, for kRecipient.
  static const VerpKey key =
      *VerpKey::create("correct horse battery staple 42", "bounces", "bounce.example.com");
  return key;
}
constexpr std::string_view kRecipient = "ann@example.org";

// The token part of an address or local part, as verp_decode finds it.
std::string_view token_of(std::string_view text) {
  text = hayate::trim(text);
  if (text.size() >= 2 && text.front() == '<' && text.back() == '>') {
    text = text.substr(1, text.size() - 2);
  }
  text = text.substr(0, text.rfind('@'));
  return text.substr(text.rfind('+') + 1);
}

bool accepted(std::string_view address, std::string_view recipient) {
  VerpToken token;
  std::string error;
  return hayate::campaign::verp_decode(key(), address, token, error) == VerpDecodeResult::token &&
         hayate::campaign::verp_verify(key(), token, recipient);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  VerpToken token;
  std::string error;
  const VerpDecodeResult result = hayate::campaign::verp_decode(key(), input, token, error);
  HAYATE_ASSERT((result == VerpDecodeResult::token) == error.empty());
  if (result == VerpDecodeResult::token) {
    std::string address;
    hayate::campaign::append_verp_address(key(), token.campaign_tag, token.sequence, kRecipient,
                                          address);
    HAYATE_ASSERT(hayate::campaign::verp_verify(key(), token, kRecipient) ==
                  (hayate::lower(token_of(input)) == token_of(address)));
  }

  std::uint64_t sequence = 0;
  if (size > 0) std::memcpy(&sequence, data, size < 8 ? size : 8);
  const std::string recipient = input.empty() ? std::string(kRecipient) : std::string(input);
  const std::string address = hayate::campaign::verp_address(key(), input, sequence, recipient);
  HAYATE_ASSERT(address.find('@') <= hayate::limits::local_part_bytes_max);
  VerpToken decoded;
  HAYATE_ASSERT(hayate::campaign::verp_decode(key(), address, decoded, error) ==
                VerpDecodeResult::token);
  HAYATE_ASSERT(decoded.sequence == sequence &&
                decoded.campaign_tag == hayate::campaign::campaign_tag(input));
  HAYATE_ASSERT(hayate::campaign::verp_verify(key(), decoded, recipient));
  HAYATE_ASSERT(!hayate::campaign::verp_verify(key(), decoded, recipient + "x"));
  HAYATE_ASSERT(!hayate::campaign::verp_verify(key(), decoded, recipient.substr(1)));
  // Another character at one place (chosen by the input) is always refused.
  constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  const std::size_t token_start = address.find('+') + 1;
  const std::size_t token_characters = address.find('@') - token_start;
  const std::size_t position = token_start + (size > 8 ? data[8] : 0) % token_characters;
  std::string altered = address;
  const std::size_t current = alphabet.find(altered[position]);
  altered[position] = alphabet[(current + 1 + (size > 9 ? data[9] : 0) % 31) % 32];
  HAYATE_ASSERT(!accepted(altered, recipient));
  return 0;
}
