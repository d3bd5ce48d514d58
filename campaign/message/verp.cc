// VERP tokens: encoding (version, tag, varint sequence, HMAC-SHA256 over those and the
// recipient's address, truncated; lower-case base32), decoding, and a constant-time MAC check
// against an address. Each thread keeps one OpenSSL HMAC context keyed with the last secret it
// used, so an address costs one HMAC over about 40 bytes and no allocation beyond the returned
// string.
#include "campaign/message/verp.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "campaign/input/address.h"
#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/strings.h"

namespace hayate::campaign::inline message {
namespace {

constexpr char base32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";  // RFC 4648 6, lower case
constexpr std::size_t sha256_bytes = 32;
constexpr std::string_view secret_advice = "head -c 32 /dev/urandom | base64 > ";

std::atomic<std::uint64_t> next_key_id{1};

// Base32 value of a character in either case, or -1.
constexpr std::array<std::int8_t, 256> make_base32_values() {
  std::array<std::int8_t, 256> values{};
  for (auto& value : values) value = -1;
  for (int i = 0; i < 32; ++i) {
    const auto c = static_cast<unsigned char>(base32_alphabet[i]);
    values[c] = static_cast<std::int8_t>(i);
    if (c >= 'a' && c <= 'z') values[c - 32] = static_cast<std::int8_t>(i);
  }
  return values;
}
constexpr std::array<std::int8_t, 256> base32_values = make_base32_values();

std::size_t base32_characters(std::size_t bytes) { return (bytes * 8 + 4) / 5; }

void append_base32(const std::uint8_t* bytes, std::size_t size, std::string& out) {
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < size; ++i) {
    buffer = (buffer << 8) | bytes[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(base32_alphabet[(buffer >> bits) & 31]);
    }
  }
  if (bits > 0) out.push_back(base32_alphabet[(buffer << (5 - bits)) & 31]);
}

// LEB128: 7 bits a byte, least significant first, high bit set on all bytes but the last.
std::size_t write_varint(std::uint64_t value, std::uint8_t* out) {
  std::size_t size = 0;
  while (value >= 0x80) {
    out[size++] = static_cast<std::uint8_t>(value | 0x80);
    value >>= 7;
  }
  out[size++] = static_cast<std::uint8_t>(value);
  HAYATE_ASSERT(size <= verp_sequence_bytes_max);
  return size;
}

// The shortest encoding only (the one write_varint makes), so that one sequence has one token.
bool read_varint(const std::uint8_t* bytes, std::size_t size, std::uint64_t& value) {
  if (size == 0 || size > verp_sequence_bytes_max) return false;
  value = 0;
  for (std::size_t i = 0; i < size; ++i) {
    const bool last = i + 1 == size;
    if (((bytes[i] & 0x80) == 0) != last) return false;
    value |= static_cast<std::uint64_t>(bytes[i] & 0x7F) << (7 * i);
  }
  if (size > 1 && bytes[size - 1] == 0) return false;                        // overlong
  if (size == verp_sequence_bytes_max && bytes[size - 1] > 1) return false;  // over 64 bits
  return true;
}

// The signed bytes of a version 2 token: version, tag, varint; returns their count. The MAC
// covers them and then the address. The varint is self-delimiting, so that input cannot be
// read two ways; and it never equals a version 1 input (tag and varint alone, only its last
// byte under 0x80), as a version 2 varint is followed by the address.
std::size_t write_signed_bytes(const CampaignTag& tag, std::uint64_t sequence, std::uint8_t* out) {
  out[0] = verp_token_version;
  std::memcpy(out + verp_version_bytes, tag.data(), tag.size());
  const std::size_t size = verp_version_bytes + tag.size();
  return size + write_varint(sequence, out + size);
}

EVP_MAC* hmac_algorithm() {
  // Fetched once for the process (OpenSSL 3 providers); never freed, like OpenSSL's own tables.
  static EVP_MAC* const algorithm = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  HAYATE_ASSERT(algorithm != nullptr);
  return algorithm;
}

// One HMAC context a thread, keyed with the secret of the key it served last: re-keying
// (hashing the padded key) happens only when a thread switches keys.
struct ThreadMac {
  EVP_MAC_CTX* context = nullptr;
  std::uint64_t key_id = 0;
  ~ThreadMac() { EVP_MAC_CTX_free(context); }
};
thread_local ThreadMac thread_mac;

bool is_prefix_character(char c) {
  // RFC 5322 3.2.3 atext, without '+' (it separates the token).
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*-/=?^_`{|}~.").find(c) != std::string_view::npos;
}

std::string printable(std::string_view text) {
  constexpr std::size_t quoted_bytes_max = 80;
  std::string out;
  for (char c : text.substr(0, quoted_bytes_max)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7F) {
      constexpr char hex[] = "0123456789abcdef";
      hayate::append(out, "\\x", hex[byte >> 4], hex[byte & 15]);
    } else {
      out.push_back(c);
    }
  }
  if (text.size() > quoted_bytes_max) out += "...";
  return out;
}

// The local part of "local@domain", "<local@domain>" or "local", surrounding blanks trimmed.
std::string_view local_part_of(std::string_view text) {
  text = hayate::trim(text, " \t");
  if (text.size() >= 2 && text.front() == '<' && text.back() == '>') {
    text = text.substr(1, text.size() - 2);
  }
  const std::size_t at = text.rfind('@');
  return at == std::string_view::npos ? text : text.substr(0, at);
}

}  // namespace

CampaignTag campaign_tag(std::string_view campaign_id) {
  std::uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int digest_bytes = 0;
  HAYATE_ASSERT(EVP_Digest(campaign_id.data(), campaign_id.size(), digest, &digest_bytes,
                           EVP_sha256(), nullptr) == 1 &&
                digest_bytes == sha256_bytes);
  CampaignTag tag;
  std::memcpy(tag.data(), digest, tag.size());
  return tag;
}

absl::StatusOr<VerpKey> VerpKey::create(std::string_view secret, std::string_view prefix,
                                        std::string_view domain, std::string_view source_name) {
  if (secret.size() < verp_secret_bytes_min) {
    return absl::InvalidArgumentError(hayate::cat(
        source_name, ": the secret is ", secret.size(), " bytes; at least ", verp_secret_bytes_min,
        " are needed (for instance: ", secret_advice, source_name, ")"));
  }
  if (secret.size() > verp_secret_bytes_max) {
    return absl::InvalidArgumentError(hayate::cat(source_name, ": the secret is ", secret.size(),
                                                  " bytes; at most ", verp_secret_bytes_max,
                                                  " are allowed"));
  }
  if (prefix.empty() || prefix.size() > verp_prefix_bytes_max) {
    return absl::InvalidArgumentError(
        hayate::cat("VERP prefix '", printable(prefix), "' is ", prefix.size(),
                    " octets; it must have 1 to ", verp_prefix_bytes_max,
                    ", so that prefix+TOKEN stays within the 64 octets of a local "
                    "part (RFC 5321 4.5.3.1.1)"));
  }
  for (char c : prefix) {
    if (!is_prefix_character(c)) {
      return absl::InvalidArgumentError(hayate::cat(
          "VERP prefix '", printable(prefix), "' has '", printable(std::string_view(&c, 1)),
          "'; use letters, digits and !#$%&'*-/=?^_`{|}~. ('+' separates the token)"));
    }
  }
  if (prefix.front() == '.' || prefix.back() == '.' ||
      prefix.find("..") != std::string_view::npos) {
    return absl::InvalidArgumentError(
        hayate::cat("VERP prefix '", printable(prefix),
                    "' has a dot at an end or two in a row (RFC 5321 4.1.2 Dot-string)"));
  }
  // The longest address this key makes must be a valid one: checks the domain and lower-cases
  // it (or makes its A-labels).
  Address longest;
  std::string error;
  const std::string sample =
      hayate::cat(prefix, "+", std::string(verp_token_characters_max, 'a'), "@", domain);
  if (domain.empty() || !parse_address(sample, longest, error)) {
    return absl::InvalidArgumentError(
        hayate::cat("VERP domain '", printable(domain),
                    "' does not make a valid address: ", domain.empty() ? "it is empty" : error));
  }
  if (longest.text.size() > limits::address_bytes_max) {
    return absl::InvalidArgumentError(
        hayate::cat("VERP domain '", printable(domain), "' is too long: addresses would reach ",
                    longest.text.size(), " octets, over ", limits::address_bytes_max));
  }
  HAYATE_ASSERT(longest.local().size() <= limits::local_part_bytes_max);
  VerpKey key;
  key.secret_ = std::string(secret);
  key.prefix_ = std::string(prefix);
  key.domain_ = std::string(longest.domain());
  key.id_ = next_key_id.fetch_add(1, std::memory_order_relaxed);
  return key;
}

absl::StatusOr<VerpKey> VerpKey::load(const std::string& secret_file, std::string_view prefix,
                                      std::string_view domain) {
  const int fd = ::open(secret_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    return absl::NotFoundError(hayate::cat(secret_file, ": cannot open: ", std::strerror(errno)));
  }
  struct stat status {};
  if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(hayate::cat(secret_file, ": not a regular file"));
  }
  if (static_cast<std::uint64_t>(status.st_size) > verp_secret_bytes_max + 2) {
    ::close(fd);
    return absl::InvalidArgumentError(hayate::cat(secret_file, ": ", status.st_size,
                                                  " bytes; a VERP secret has at most ",
                                                  verp_secret_bytes_max));
  }
  std::string secret(static_cast<std::size_t>(status.st_size), '\0');
  std::size_t read_bytes = 0;
  while (read_bytes < secret.size()) {
    const ssize_t got = ::read(fd, secret.data() + read_bytes, secret.size() - read_bytes);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int read_errno = errno;
      ::close(fd);
      return absl::InvalidArgumentError(
          hayate::cat(secret_file, ": cannot read: ", std::strerror(read_errno)));
    }
    if (got == 0) break;  // the file shrank
    read_bytes += static_cast<std::size_t>(got);
  }
  ::close(fd);
  secret.resize(read_bytes);
  // `echo secret > file` and editors add a newline: not part of the secret.
  while (!secret.empty() && std::string_view(" \t\r\n").find(secret.back()) != std::string::npos) {
    secret.pop_back();
  }
  absl::StatusOr<VerpKey> key = create(secret, prefix, domain, secret_file);
  OPENSSL_cleanse(secret.data(), secret.size());
  return key;
}

void VerpKey::compute_mac(const std::uint8_t* data, std::size_t size, std::string_view tail,
                          std::uint8_t* mac) const {
  HAYATE_ASSERT(id_ != 0 && !secret_.empty());  // made by create(), not moved from
  ThreadMac& thread = thread_mac;
  if (thread.context == nullptr) {
    thread.context = EVP_MAC_CTX_new(hmac_algorithm());
    HAYATE_ASSERT(thread.context != nullptr);
    thread.key_id = 0;
  }
  if (thread.key_id != id_) {
    char digest_name[] = "SHA256";
    const OSSL_PARAM parameters[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end()};
    thread.key_id = 0;  // until keyed
    HAYATE_ASSERT(EVP_MAC_init(thread.context,
                               reinterpret_cast<const unsigned char*>(secret_.data()),
                               secret_.size(), parameters) == 1);
    thread.key_id = id_;
  } else {
    // Same key: restart from the keyed state (OpenSSL keeps the hashed pads).
    HAYATE_ASSERT(EVP_MAC_init(thread.context, nullptr, 0, nullptr) == 1);
  }
  std::size_t mac_bytes = 0;
  HAYATE_ASSERT(EVP_MAC_update(thread.context, data, size) == 1);
  HAYATE_ASSERT(EVP_MAC_update(thread.context, reinterpret_cast<const unsigned char*>(tail.data()),
                               tail.size()) == 1);
  HAYATE_ASSERT(EVP_MAC_final(thread.context, mac, &mac_bytes, sha256_bytes) == 1 &&
                mac_bytes == sha256_bytes);
}

void append_verp_address(const VerpKey& key, const CampaignTag& tag, std::uint64_t sequence,
                         std::string_view recipient, std::string& out) {
  HAYATE_ASSERT(!recipient.empty());  // a token is made for someone
  std::uint8_t token[verp_token_bytes_max];
  std::size_t size = write_signed_bytes(tag, sequence, token);
  std::uint8_t mac[sha256_bytes];
  key.compute_mac(token, size, recipient, mac);
  std::memcpy(token + size, mac, verp_mac_bytes);  // RFC 2104 5: the leftmost bits
  size += verp_mac_bytes;
  HAYATE_ASSERT(size >= verp_token_bytes_min && size <= verp_token_bytes_max);
  const std::size_t start = out.size();
  hayate::append(out, key.prefix_, '+');
  append_base32(token, size, out);
  HAYATE_ASSERT(out.size() - start <= limits::local_part_bytes_max);
  hayate::append(out, '@', key.domain_);
}

std::string verp_address(const VerpKey& key, std::string_view campaign_id, std::uint64_t sequence,
                         std::string_view recipient) {
  std::string address;
  address.reserve(key.prefix().size() + 2 + verp_token_characters_max + key.domain().size());
  append_verp_address(key, campaign_tag(campaign_id), sequence, recipient, address);
  return address;
}

VerpDecodeResult verp_decode(const VerpKey& key, std::string_view address_or_local_part,
                             VerpToken& token, std::string& error) {
  const std::string_view local = local_part_of(address_or_local_part);
  const std::size_t plus = local.rfind('+');
  if (plus == std::string_view::npos) {
    error = hayate::cat("'", printable(address_or_local_part), "' has no '+' in its local part");
    return VerpDecodeResult::not_ours;
  }
  if (!hayate::equals_ignoring_case(local.substr(0, plus), key.prefix_)) {
    error = hayate::cat("'", printable(address_or_local_part), "' does not start with '",
                        key.prefix_, "+'");
    return VerpDecodeResult::not_ours;
  }
  const std::string_view characters = local.substr(plus + 1);
  // Lengths that base32 of 16 to 25 bytes can have, and nothing in between (both versions).
  const std::size_t size = characters.size() * 5 / 8;
  if (size < verp_token_bytes_min || size > verp_token_bytes_max ||
      base32_characters(size) != characters.size()) {
    error = hayate::cat("token '", printable(characters), "' has ", characters.size(),
                        " characters; a VERP token has 26 to ", verp_token_characters_max);
    return VerpDecodeResult::malformed;
  }
  std::uint8_t bytes[verp_token_bytes_max];
  std::uint32_t buffer = 0;
  int bits = 0;
  std::size_t written = 0;
  for (char c : characters) {
    const std::int8_t value = base32_values[static_cast<unsigned char>(c)];
    if (value < 0) {
      error = hayate::cat("token '", printable(characters), "' has '",
                          printable(std::string_view(&c, 1)), "', which is not base32");
      return VerpDecodeResult::malformed;
    }
    buffer = (buffer << 5) | static_cast<std::uint32_t>(value);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes[written++] = static_cast<std::uint8_t>(buffer >> bits);
    }
  }
  HAYATE_ASSERT(written == size && bits < 5);
  if ((buffer & ((1u << bits) - 1)) != 0) {  // RFC 4648 3.5: pad bits are zero
    error = hayate::cat("token '", printable(characters), "' is not canonical base32");
    return VerpDecodeResult::malformed;
  }
  const std::size_t signed_bytes = size - verp_mac_bytes;
  // Version 1 signed its own bytes alone; checked first, so that its tokens are named as such
  // whatever their first byte.
  std::uint8_t mac[sha256_bytes];
  key.compute_mac(bytes, signed_bytes, {}, mac);
  if (CRYPTO_memcmp(mac, bytes + signed_bytes, verp_mac_bytes) == 0) {
    error = hayate::cat("token '", printable(characters),
                        "' is of version 1, which names a row but not the address mailed: "
                        "refused, as it cannot say whom the bounce is about");
    return VerpDecodeResult::version_1;
  }
  if (bytes[0] != verp_token_version) {
    error = hayate::cat("token '", printable(characters), "' has version ",
                        static_cast<unsigned>(bytes[0]), ", not ",
                        static_cast<unsigned>(verp_token_version), ": forged or altered");
    return VerpDecodeResult::malformed;
  }
  constexpr std::size_t sequence_start = verp_version_bytes + verp_campaign_tag_bytes;
  std::uint64_t sequence = 0;
  if (!read_varint(bytes + sequence_start, signed_bytes - sequence_start, sequence)) {
    error = hayate::cat("token '", printable(characters), "' has a malformed sequence number");
    return VerpDecodeResult::malformed;
  }
  std::memcpy(token.campaign_tag.data(), bytes + verp_version_bytes, verp_campaign_tag_bytes);
  token.sequence = sequence;
  std::memcpy(token.mac.data(), bytes + signed_bytes, verp_mac_bytes);
  error.clear();
  return VerpDecodeResult::token;
}

bool verp_verify(const VerpKey& key, const VerpToken& token, std::string_view recipient) {
  if (recipient.empty()) return false;
  std::uint8_t signed_bytes[verp_token_bytes_max];
  const std::size_t size = write_signed_bytes(token.campaign_tag, token.sequence, signed_bytes);
  std::uint8_t mac[sha256_bytes];
  key.compute_mac(signed_bytes, size, recipient, mac);
  return CRYPTO_memcmp(mac, token.mac.data(), verp_mac_bytes) == 0;
}

}  // namespace hayate::campaign::message
