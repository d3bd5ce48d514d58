// DKIM signing (RFC 6376; Ed25519 per RFC 8463) and key generation. One DkimSigner per [[dkim]]
// table of the job file, loaded and checked at start-up and shared read-only by the shards; one
// DkimContext per shard holds the OpenSSL contexts, scratch buffers and the body-hash cache.
#pragma once

#include <openssl/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hayate::campaign::inline message {

enum class DkimAlgorithm : std::uint8_t { rsa_sha256, ed25519_sha256 };
enum class Canonicalization : std::uint8_t { simple, relaxed };

// "rsa-sha256", "ed25519-sha256": the a= tag values (RFC 6376 3.5, RFC 8463 3).
std::string_view dkim_algorithm_name(DkimAlgorithm algorithm);
std::optional<DkimAlgorithm> parse_dkim_algorithm(std::string_view name);

// Parses a c= style value (RFC 6376 3.5): "relaxed/simple", or one word for the header
// algorithm, the body then being "simple" as the RFC says. False if malformed.
bool parse_dkim_canonicalization(std::string_view text, Canonicalization& header_canon,
                                 Canonicalization& body_canon);

// The headers signed by default, each instance present: RFC 6376 5.4.1's list without the
// Resent-* fields and the List-* fields a bulk sender does not write, plus MIME-Version,
// Content-Type, Message-ID, List-Unsubscribe(-Post), which RFC 8058 4 requires signed, and
// Feedback-ID.
// Not Content-Transfer-Encoding: relays that downgrade 8bit rewrite it with the body, which
// breaks bh= anyway, and RFC 6376 5.4.1 does not recommend it.
std::vector<std::string> default_dkim_signed_headers();
// The headers oversigned by default (listed in h= once more than present, RFC 6376 5.4): From,
// Reply-To, To, Cc, Subject, the fields a reader sees, so that a replayed message cannot get a
// second one that a mail client would show instead. Absent ones are thereby signed as absent.
std::vector<std::string> default_dkim_oversigned_headers();

struct DkimConfig {                        // one [[dkim]] table of the job file
  std::string domain;                      // d=; a U-label domain is converted to A-labels
  std::string selector;                    // s=
  std::string key_path;                    // already resolved against the job file's directory
  std::optional<DkimAlgorithm> algorithm;  // default: from the key type
  Canonicalization header_canon = Canonicalization::relaxed;
  Canonicalization body_canon = Canonicalization::relaxed;
  std::vector<std::string> headers = default_dkim_signed_headers();  // must include From
  // Each is also signed (added to `headers` if missing).
  std::vector<std::string> oversigned_headers = default_dkim_oversigned_headers();
  std::string source;  // "job.toml:12", starts every error message
};

class DkimContext;

// A loaded, checked key with its signing parameters. Immutable after load(); the EVP_PKEY is
// only read (each DkimContext signs with its own copy, so shards never share RSA blinding
// state or its lock).
class DkimSigner {
 public:
  // Reads and checks the key and the parameters. Errors start with config.source and say what
  // to fix: the file cannot be read (errno text), is not a PEM private key, is a public key, is
  // encrypted, is neither RSA nor Ed25519, RSA outside 1024..4096 bits, the algorithm given does
  // not match the key, domain or selector invalid, From not signed, a header name invalid or
  // listed twice. A test signature is made and verified, so that sign() cannot fail later.
  static absl::StatusOr<std::shared_ptr<const DkimSigner>> load(const DkimConfig& config);

  ~DkimSigner();
  DkimSigner(const DkimSigner&) = delete;
  DkimSigner& operator=(const DkimSigner&) = delete;

  DkimAlgorithm algorithm() const { return algorithm_; }
  Canonicalization header_canon() const { return header_canon_; }
  Canonicalization body_canon() const { return body_canon_; }
  const std::string& domain() const { return domain_; }  // A-label, lower case
  const std::string& selector() const { return selector_; }
  int key_bits() const { return key_bits_; }  // 256 for Ed25519
  // The zone file line that publishes this key (see generate_dkim_key).
  std::string dns_txt_record() const;

 private:
  friend class DkimContext;
  struct SignedHeader {
    std::string name;  // lower case
    bool oversigned = false;
  };
  DkimSigner() = default;
  absl::Status set_signed_headers(const DkimConfig& config, std::string_view where);

  EVP_PKEY* key_ = nullptr;
  DkimAlgorithm algorithm_ = DkimAlgorithm::rsa_sha256;
  Canonicalization header_canon_ = Canonicalization::relaxed;
  Canonicalization body_canon_ = Canonicalization::relaxed;
  std::string domain_;
  std::string selector_;
  int key_bits_ = 0;
  std::vector<std::string> tag_units_;  // "v=1;", "a=...;", "c=...;", "d=...;", "s=...;"
  std::vector<SignedHeader> headers_;
};

// One header field of a message: `name` as written (without trailing WSP before the colon;
// empty if the field has no colon), `field` the whole field with folding and its CRLF.
struct HeaderField {
  std::string_view name;
  std::string_view field;
};

// Splits the header section of `message` (RFC 5322 2.2: fields, each with its continuation
// lines, up to the empty line) into `fields` (cleared first). Returns the offset of the body:
// after the empty line, or message.size() when there is none. Only CRLF ends a line; a bare
// CR or LF is part of the field. Pure, never fails.
std::size_t split_header_fields(std::string_view message, std::vector<HeaderField>& fields);

// RFC 6376 3.4.2 relaxed header canonicalization of one field: appends "name:value" without
// CRLF (the caller adds it): name lower-cased, WSP before the colon removed, the value unfolded
// (every CRLF deleted), WSP runs made one SP, WSP at its start and end removed.
void append_relaxed_header(std::string_view field, std::string& out);

// RFC 6376 3.4.4 relaxed body canonicalization: WSP at the end of lines removed, other WSP runs
// made one SP, empty lines at the end removed; a non-empty result ends with CRLF, an empty body
// stays empty. WSP at the very end of a body without final CRLF counts as the end of a line.
void append_relaxed_body(std::string_view body, std::string& out);

// RFC 6376 3.4.3 simple body canonicalization: empty lines at the end removed, a CRLF added
// when the body is empty or does not end with one.
void append_simple_body(std::string_view body, std::string& out);

// Per shard. Not thread-safe; cheap to keep, expensive to create per message.
class DkimContext {
 public:
  DkimContext();
  ~DkimContext();
  DkimContext(const DkimContext&) = delete;
  DkimContext& operator=(const DkimContext&) = delete;

  // Appends one folded "DKIM-Signature: ...\r\n" header per signer, in signer order, for the
  // RFC 5322 message `message` (CRLF line endings, headers, empty line, body); the caller puts
  // them before the message. `unix_time_s` is the t= tag (time is passed in: no clock here).
  void sign(std::span<const std::shared_ptr<const DkimSigner>> signers, std::string_view message,
            std::int64_t unix_time_s, std::string& out);

  // Times a body hash was reused because the body was byte-identical to the last one.
  std::uint64_t body_hash_reuses() const { return body_hash_reuses_; }

 private:
  struct KeyState;  // one per signer seen: a copy of its key and the OpenSSL contexts
  KeyState& key_state(const std::shared_ptr<const DkimSigner>& signer);
  const std::string& body_hash(Canonicalization canon, std::string_view body);
  void sign_one(const std::shared_ptr<const DkimSigner>& signer, std::string_view body,
                std::int64_t unix_time_s, std::string& out);

  EVP_MD* sha256_ = nullptr;
  EVP_MD_CTX* digest_ = nullptr;
  std::vector<std::unique_ptr<KeyState>> keys_;
  std::vector<HeaderField> fields_;  // of the current message
  std::string scratch_;              // canonicalized headers or body
  std::string header_;               // the DKIM-Signature being built
  // Body-hash cache: the last body as given, and its bh= per canonicalization. Comparing the
  // raw body costs a memcmp; hashing it costs canonicalization plus SHA-256.
  std::string last_body_;
  bool last_body_valid_ = false;
  std::array<std::string, 2> body_hash_base64_;  // indexed by Canonicalization
  std::array<bool, 2> body_hash_valid_ = {false, false};
  std::uint64_t body_hash_reuses_ = 0;
};

// Generates a key (RSA of `rsa_bits`, 1024..4096, or Ed25519, for which rsa_bits is ignored),
// writes it as a PKCS#8 PEM file of mode 0600 at `key_path` (refusing to replace an existing
// file: a key in use is published in DNS), and sets `dns_txt_record` to the zone file line
// that publishes it, its value split into strings of at most 255 octets (RFC 1035 3.3.14):
//   s1._domainkey.example.com. IN TXT "v=DKIM1; k=rsa; p=MIIBIjANBg..." "...IDAQAB"
// RSA: p= is the DER SubjectPublicKeyInfo (what opendkim-genkey publishes); Ed25519 (RFC 8463
// 4): the raw 32-byte public key.
absl::Status generate_dkim_key(DkimAlgorithm algorithm, int rsa_bits, std::string_view domain,
                               std::string_view selector, const std::string& key_path,
                               std::string& dns_txt_record);

}  // namespace hayate::campaign::message
