// DKIM signing: key loading and checks, canonicalization (RFC 6376 3.4), the DKIM-Signature
// header (3.5, 3.7), RSA-SHA256 and Ed25519-SHA256 (RFC 8463) through OpenSSL, key generation.
// Canonicalization and hashing are meant to cost little next to the private-key operation.
#include "campaign/message/dkim.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "campaign/input/address.h"
#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/strings.h"

namespace hayate::campaign::inline message {
namespace {

// RFC 8301 3.2: signers MUST use RSA keys of at least 1024 bits (2048 SHOULD), and verifiers
// MUST handle 1024 to 4096 bits: larger keys may not verify anywhere.
constexpr int rsa_bits_min = 1024;
constexpr int rsa_bits_max = 4096;
constexpr std::size_t signature_bytes_max = rsa_bits_max / 8;
constexpr std::size_t sha256_bytes = 32;
// RFC 5322 2.1.1: lines SHOULD be at most 78 characters; the signature header is folded there.
constexpr std::size_t header_columns_max = 78;
constexpr std::size_t key_file_bytes_max = 64 * 1024;  // a 4096-bit PEM key is about 3.3 KB
constexpr std::size_t header_name_bytes_max = 128;     // longer names in h= are surely typos

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

// Base64 without line breaks (RFC 6376 2.4 base64string; FWS is added by the folding).
void append_base64(const unsigned char* data, std::size_t size, std::string& out) {
  const std::size_t start = out.size();
  out.resize(start + 4 * ((size + 2) / 3) + 1);
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + start), data,
                                      static_cast<int>(size));
  HAYATE_ASSERT(written >= 0 && static_cast<std::size_t>(written) == out.size() - start - 1);
  out.resize(start + static_cast<std::size_t>(written));
}

// SWAR: 0x80 in each byte of `word` equal to `byte`, exactly (no false positives).
constexpr std::uint64_t ones = 0x0101010101010101ULL;
constexpr std::uint64_t low7 = 0x7f7f7f7f7f7f7f7fULL;
inline std::uint64_t bytes_equal(std::uint64_t word, unsigned char byte) {
  const std::uint64_t x = word ^ (ones * byte);
  return ~(((x & low7) + low7) | x | low7);
}

inline std::uint64_t load_word(const char* p) {
  std::uint64_t word;
  std::memcpy(&word, p, sizeof(word));
  if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
  return word;
}

// Index of the first byte at or after `i` that relaxed body canonicalization changes: a tab, or
// a space followed by a space, a tab or a CR (a WSP run, or WSP that may end a line). Body
// text has a space every few bytes but such runs rarely, so eight bytes are checked at a time.
std::size_t find_wsp_to_rewrite(std::string_view body, std::size_t i) {
  const char* p = body.data();
  const std::size_t n = body.size();
  for (; i + 9 <= n; i += 8) {
    const std::uint64_t here = load_word(p + i);
    const std::uint64_t next = load_word(p + i + 1);
    const std::uint64_t mask =
        bytes_equal(here, '\t') |
        (bytes_equal(here, ' ') &
         (bytes_equal(next, ' ') | bytes_equal(next, '\t') | bytes_equal(next, '\r')));
    if (mask != 0) return i + static_cast<std::size_t>(std::countr_zero(mask) >> 3);
  }
  for (; i < n; ++i) {
    if (p[i] == '\t') return i;
    if (p[i] == ' ' && (i + 1 == n || is_wsp(p[i + 1]) || p[i + 1] == '\r')) return i;
  }
  return n;
}

bool ends_with_crlf(std::string_view text) { return text.ends_with("\r\n"); }

// Length of `body` without the empty lines at its end (RFC 6376 3.4.3), keeping one CRLF.
std::size_t without_trailing_empty_lines(std::string_view body) {
  std::size_t end = body.size();
  while (end >= 4 && body.substr(end - 4, 4) == "\r\n\r\n") end -= 2;
  return end;
}

// RFC 6376 3.1 selector: sub-domain *("." sub-domain), RFC 5321 sub-domain = Let-dig [Ldh-str].
bool is_valid_selector(std::string_view selector, std::string& why) {
  if (selector.empty()) {
    why = "it is empty";
    return false;
  }
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= selector.size(); ++i) {
    if (i < selector.size() && selector[i] != '.') {
      const char c = selector[i];
      const bool ldh =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ldh) {
        why = static_cast<unsigned char>(c) >= 0x80
                  ? "it is not ASCII (write an IDN selector as A-labels, xn--...)"
                  : "it may hold only letters, digits, '-' and '.' (RFC 6376 3.1)";
        return false;
      }
      continue;
    }
    const std::string_view label = selector.substr(label_start, i - label_start);
    if (label.empty()) {
      why = "it has an empty label";
      return false;
    }
    if (label.size() > limits::label_bytes_max) {
      why = "a label is longer than 63 octets";
      return false;
    }
    if (label.front() == '-' || label.back() == '-') {
      why = "a label starts or ends with '-'";
      return false;
    }
    label_start = i + 1;
  }
  return true;
}

// RFC 5322 2.2 field-name: printable ASCII except ':'.
bool is_valid_header_name(std::string_view name) {
  if (name.empty() || name.size() > header_name_bytes_max) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return c >= 33 && c <= 126 && c != ':'; });
}

// A status of the code that matches `error`, whose message is errno's text alone.
absl::Status errno_status(int error) {
  return absl::Status(absl::ErrnoToStatusCode(error), std::generic_category().message(error));
}

// Reads a whole small file; the error carries errno's text.
absl::Status read_key_file(const std::string& path, std::string& text) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return errno_status(errno);
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int error = errno;
    ::close(fd);
    return errno_status(error);
  }
  if (!S_ISREG(info.st_mode)) {  // a FIFO would block start-up; a directory reads as nothing
    ::close(fd);
    return absl::InvalidArgumentError(S_ISDIR(info.st_mode) ? "is a directory"
                                                            : "is not a regular file");
  }
  if (static_cast<std::size_t>(info.st_size) > key_file_bytes_max) {
    ::close(fd);
    return absl::InvalidArgumentError(
        cat("is ", static_cast<std::int64_t>(info.st_size), " bytes: too large for a PEM key"));
  }
  text.resize(static_cast<std::size_t>(info.st_size));
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t got = ::read(fd, text.data() + done, text.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      ::close(fd);
      return errno_status(error);
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  text.resize(done);
  ::close(fd);
  return absl::OkStatus();
}

// OpenSSL asks for a passphrase through this: refuse instead of prompting on the terminal.
int refuse_passphrase(char*, int, int, void*) { return -1; }

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using UniqueBio = std::unique_ptr<BIO, BioFree>;
using UniquePkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using UniquePkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using UniqueMdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// Parses a PEM private key; `why` says what the text is instead when it is not one.
UniquePkey parse_private_key(const std::string& text, std::string& why) {
  if (text.find("-----BEGIN ") == std::string::npos) {
    why = "is not a PEM private key (no \"-----BEGIN\" line; DER keys are not supported)";
    return nullptr;
  }
  if (text.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string::npos ||
      text.find("Proc-Type: 4,ENCRYPTED") != std::string::npos) {
    why =
        "is an encrypted key; hayate needs it unencrypted (decrypt it with `openssl pkey "
        "-in KEY -out NEW`, and keep NEW readable only by the sending user, mode 0600)";
    return nullptr;
  }
  if (text.find("PRIVATE KEY-----") == std::string::npos &&
      (text.find("PUBLIC KEY-----") != std::string::npos ||
       text.find("CERTIFICATE-----") != std::string::npos)) {
    why =
        "holds a public key or certificate; DKIM signing needs the private key (the public "
        "key goes in the DNS TXT record)";
    return nullptr;
  }
  UniqueBio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  HAYATE_ASSERT(bio != nullptr);
  UniquePkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr));
  if (key == nullptr) why = cat("is not a PEM private key (", openssl_error(), ")");
  ERR_clear_error();
  return key;
}

// Signs a fixed digest and verifies it with the same key: a key whose halves do not match
// fails here, at start-up, rather than producing signatures that never verify.
absl::Status self_test(EVP_PKEY* key, DkimAlgorithm algorithm) {
  unsigned char digest[sha256_bytes];
  for (std::size_t i = 0; i < sizeof(digest); ++i) digest[i] = static_cast<unsigned char>(i);
  unsigned char signature[signature_bytes_max];
  std::size_t signature_bytes = sizeof(signature);
  bool ok = false;
  if (algorithm == DkimAlgorithm::rsa_sha256) {
    UniquePkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    ok = ctx != nullptr && EVP_PKEY_sign_init(ctx.get()) == 1 &&
         EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1 &&
         EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1 &&
         EVP_PKEY_sign(ctx.get(), signature, &signature_bytes, digest, sizeof(digest)) == 1 &&
         EVP_PKEY_verify_init(ctx.get()) == 1 &&
         EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1 &&
         EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1 &&
         EVP_PKEY_verify(ctx.get(), signature, signature_bytes, digest, sizeof(digest)) == 1;
  } else {
    UniqueMdCtx ctx(EVP_MD_CTX_new());
    ok = ctx != nullptr && EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key) == 1 &&
         EVP_DigestSign(ctx.get(), signature, &signature_bytes, digest, sizeof(digest)) == 1 &&
         EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key) == 1 &&
         EVP_DigestVerify(ctx.get(), signature, signature_bytes, digest, sizeof(digest)) == 1;
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(cat("a test signature with this key failed (", openssl_error(),
                                        "); the key file is damaged: generate a new key"));
}

// d=: a domain with at least two labels, as RFC 6376 3.5 wants it (A-labels). Reuses the
// address checks, which also convert U-labels.
bool normalize_domain(std::string_view domain, std::string& out, std::string& why) {
  if (domain.find('@') != std::string_view::npos) {
    why = "it looks like an address; give only the domain after the '@'";
    return false;
  }
  Address address;
  if (!parse_address(cat("dkim@", domain), address, why)) return false;
  out = std::string(address.domain());
  return true;
}

// "v=DKIM1; k=rsa; p=..." for `key` (RFC 6376 3.6.1; RFC 8463 4 for Ed25519).
std::string dns_record_value(EVP_PKEY* key, DkimAlgorithm algorithm) {
  std::string value;
  if (algorithm == DkimAlgorithm::ed25519_sha256) {
    unsigned char raw[32];
    std::size_t raw_bytes = sizeof(raw);
    HAYATE_ASSERT(EVP_PKEY_get_raw_public_key(key, raw, &raw_bytes) == 1 && raw_bytes == 32);
    value = "v=DKIM1; k=ed25519; p=";
    append_base64(raw, raw_bytes, value);
  } else {
    unsigned char* der = nullptr;
    const int der_bytes = i2d_PUBKEY(key, &der);
    HAYATE_ASSERT(der_bytes > 0);
    value = "v=DKIM1; k=rsa; p=";
    append_base64(der, static_cast<std::size_t>(der_bytes), value);
    OPENSSL_free(der);
  }
  return value;
}

// `name. IN TXT "..." "..."`: RFC 1035 3.3.14 character-strings hold at most 255 octets.
std::string dns_txt_line(std::string_view domain, std::string_view selector,
                         std::string_view value) {
  std::string line = cat(selector, "._domainkey.", domain, ". IN TXT");
  for (std::size_t i = 0; i < value.size(); i += 255) {
    append(line, " \"", value.substr(i, 255), "\"");
  }
  return line;
}

// Appends `unit` to the header being folded: after a space on the current line when it fits
// in header_columns_max, else on a continuation line. `column` is the current line's length.
// `reserved` columns are kept free on the line for what must follow the unit (a separator).
void append_folded(std::string_view unit, bool space_before, std::string& header,
                   std::size_t& column, std::size_t reserved = 0) {
  const std::size_t needed = unit.size() + (space_before ? 1 : 0) + reserved;
  if (column + needed > header_columns_max && column > 1) {
    header += "\r\n ";  // RFC 5322 2.2.3 folding; RFC 6376 3.2 allows FWS around tags
    column = 1;
  } else if (space_before) {
    header += ' ';
    ++column;
  }
  header += unit;
  column += unit.size();
}

}  // namespace

std::string_view dkim_algorithm_name(DkimAlgorithm algorithm) {
  return algorithm == DkimAlgorithm::rsa_sha256 ? "rsa-sha256" : "ed25519-sha256";
}

std::optional<DkimAlgorithm> parse_dkim_algorithm(std::string_view name) {
  if (equals_ignoring_case(name, "rsa-sha256")) return DkimAlgorithm::rsa_sha256;
  if (equals_ignoring_case(name, "ed25519-sha256")) return DkimAlgorithm::ed25519_sha256;
  return std::nullopt;
}

bool parse_dkim_canonicalization(std::string_view text, Canonicalization& header_canon,
                                 Canonicalization& body_canon) {
  const auto parse_one = [](std::string_view word, Canonicalization& canon) {
    if (equals_ignoring_case(word, "simple")) {
      canon = Canonicalization::simple;
    } else if (equals_ignoring_case(word, "relaxed")) {
      canon = Canonicalization::relaxed;
    } else {
      return false;
    }
    return true;
  };
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    body_canon = Canonicalization::simple;
    return parse_one(text, header_canon);
  }
  return parse_one(text.substr(0, slash), header_canon) &&
         parse_one(text.substr(slash + 1), body_canon);
}

std::vector<std::string> default_dkim_signed_headers() {
  return {"From",
          "Reply-To",
          "To",
          "Cc",
          "Subject",
          "Date",
          "Message-ID",
          "In-Reply-To",
          "References",
          "MIME-Version",
          "Content-Type",
          "List-Id",
          "List-Unsubscribe",
          "List-Unsubscribe-Post",
          "Feedback-ID"};
}

std::vector<std::string> default_dkim_oversigned_headers() {
  return {"From", "Reply-To", "To", "Cc", "Subject"};
}

// ---- Canonicalization (RFC 6376 3.4) ----

std::size_t split_header_fields(std::string_view message, std::vector<HeaderField>& fields) {
  fields.clear();
  std::size_t position = 0;
  const std::size_t size = message.size();
  while (position < size) {
    if (message.substr(position, 2) == "\r\n") return position + 2;  // the empty line
    std::size_t end = position;
    for (;;) {  // to the CRLF not followed by WSP (RFC 5322 2.2.3 unfolding)
      const std::size_t crlf = message.find("\r\n", end);
      if (crlf == std::string_view::npos) {
        end = size;
        break;
      }
      end = crlf + 2;
      if (end < size && is_wsp(message[end])) continue;
      break;
    }
    const std::string_view field = message.substr(position, end - position);
    std::string_view name;
    const std::size_t colon = field.find(':');
    if (colon != std::string_view::npos) {
      name = trim_back(field.substr(0, colon));
    }
    fields.push_back(HeaderField{name, field});
    HAYATE_ASSERT(end > position);
    position = end;
  }
  return size;
}

void append_relaxed_header(std::string_view field, std::string& out) {
  const char* p = field.data();
  const std::size_t size = field.size();
  const auto is_crlf = [&](std::size_t i) {
    return p[i] == '\r' && i + 1 < size && p[i + 1] == '\n';
  };

  // The name, lower-cased, without CRLFs (unfolding) or the WSP before the colon.
  const std::size_t colon = std::min(field.find(':'), size);
  const std::size_t name_start = out.size();
  out.resize(name_start + colon);
  char* name = out.data() + name_start;
  std::size_t name_bytes = 0;
  for (std::size_t i = 0; i < colon; ++i) {
    if (is_crlf(i)) {
      ++i;
      continue;
    }
    name[name_bytes++] = lower(p[i]);
  }
  while (name_bytes > 0 && is_wsp(name[name_bytes - 1])) --name_bytes;
  out.resize(name_start + name_bytes);
  out += ':';

  // The value: runs of WSP and CRLF become one SP, none at either end. Plain runs are copied
  // whole: a header has a space every few bytes but seldom anything else to rewrite.
  std::size_t i = colon + 1;
  bool value_started = false;
  while (i < size) {
    std::size_t plain_end = i;
    while (plain_end < size && !is_wsp(p[plain_end]) && p[plain_end] != '\r') ++plain_end;
    if (plain_end > i) {
      out.append(p + i, plain_end - i);
      value_started = true;
      i = plain_end;
      continue;
    }
    if (p[i] == '\r' && !is_crlf(i)) {  // a bare CR is value text
      out += '\r';
      value_started = true;
      ++i;
      continue;
    }
    bool has_wsp = false;
    while (i < size && (is_wsp(p[i]) || is_crlf(i))) {
      has_wsp |= is_wsp(p[i]);
      i += is_wsp(p[i]) ? 1 : 2;
    }
    if (has_wsp && value_started && i < size) out += ' ';
  }
}

void append_relaxed_body(std::string_view body, std::string& out) {
  const std::size_t start = out.size();
  const std::size_t size = body.size();
  std::size_t copied = 0;  // body[copied, i) is unchanged and not yet appended
  std::size_t i = find_wsp_to_rewrite(body, 0);
  while (i < size) {
    out.append(body.data() + copied, i - copied);
    std::size_t run_end = i;
    while (run_end < size && is_wsp(body[run_end])) ++run_end;
    const bool line_end = run_end == size || body.substr(run_end, 2) == "\r\n";
    if (!line_end) out += ' ';
    copied = run_end;
    i = find_wsp_to_rewrite(body, run_end);
  }
  out.append(body.data() + copied, size - copied);

  // Empty lines at the end go; a body of only empty lines becomes empty (RFC 6376 3.4.4, and
  // errata 1384: relaxed keeps an empty body empty where simple makes it one CRLF).
  const std::size_t end = start + without_trailing_empty_lines(std::string_view(out).substr(start));
  out.resize(end);
  if (out.size() - start == 2 && ends_with_crlf(out)) out.resize(start);
  if (out.size() > start && !ends_with_crlf(out)) out += "\r\n";
}

void append_simple_body(std::string_view body, std::string& out) {
  const std::string_view kept = body.substr(0, without_trailing_empty_lines(body));
  out += kept;
  if (!ends_with_crlf(kept)) out += "\r\n";
}

// ---- DkimSigner ----

DkimSigner::~DkimSigner() { EVP_PKEY_free(key_); }

namespace {

// The key file of `config`: read, parsed, of a kind DKIM signs with (RSA of 1024 to 4096 bits
// or Ed25519), agreeing with the algorithm the job names, and able to make a signature that
// verifies (self_test), so that signing cannot fail later.
absl::Status load_signing_key(const DkimConfig& config, std::string_view where, UniquePkey& key,
                              DkimAlgorithm& key_algorithm, int& bits) {
  std::string text;
  if (absl::Status status = read_key_file(config.key_path, text); !status.ok()) {
    return absl::Status(status.code(),
                        cat(where, "key file '", config.key_path, "': ", status.message()));
  }
  std::string why;
  key = parse_private_key(text, why);
  OPENSSL_cleanse(text.data(), text.size());
  if (key == nullptr) {
    return absl::InvalidArgumentError(cat(where, "key file '", config.key_path, "' ", why));
  }
  const int type = EVP_PKEY_get_base_id(key.get());
  bits = EVP_PKEY_get_bits(key.get());
  std::string key_description;
  if (type == EVP_PKEY_RSA) {
    key_algorithm = DkimAlgorithm::rsa_sha256;
    key_description = cat("an RSA ", bits, "-bit key");
  } else if (type == EVP_PKEY_ED25519) {
    key_algorithm = DkimAlgorithm::ed25519_sha256;
    key_description = "an Ed25519 key";
  } else {
    const char* name = type == EVP_PKEY_EC ? "EC (ECDSA)" : OBJ_nid2sn(type);
    return absl::InvalidArgumentError(cat(where, "key file '", config.key_path,
                                          "' holds a key of type ",
                                          name != nullptr ? name : "unknown",
                                          "; DKIM signs with RSA (rsa-sha256) or Ed25519 "
                                          "(ed25519-sha256, RFC 8463)"));
  }
  if (key_algorithm == DkimAlgorithm::rsa_sha256 && (bits < rsa_bits_min || bits > rsa_bits_max)) {
    return absl::InvalidArgumentError(
        cat(where, "key file '", config.key_path, "' holds ", key_description,
            "; RSA keys must be 1024 to 4096 bits; Gmail wants at least 1024, 2048 recommended"));
  }
  if (config.algorithm.has_value() && *config.algorithm != key_algorithm) {
    return absl::InvalidArgumentError(
        cat(where, "algorithm ", dkim_algorithm_name(*config.algorithm),
            " was given but key file '", config.key_path, "' holds ", key_description, " (",
            dkim_algorithm_name(key_algorithm), "); remove algorithm or use a matching key"));
  }
  if (absl::Status status = self_test(key.get(), key_algorithm); !status.ok()) {
    return absl::InvalidArgumentError(
        cat(where, "key file '", config.key_path, "': ", status.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const DkimSigner>> DkimSigner::load(const DkimConfig& config) {
  const std::string where = cat(config.source, ": [[dkim]] ");
  std::shared_ptr<DkimSigner> signer(new DkimSigner());

  std::string why;
  if (!normalize_domain(config.domain, signer->domain_, why)) {
    return absl::InvalidArgumentError(
        cat(where, "domain '", config.domain, "' is not a valid domain: ", why));
  }
  if (!is_valid_selector(config.selector, why)) {
    return absl::InvalidArgumentError(
        cat(where, "selector '", config.selector, "' is invalid: ", why));
  }
  signer->selector_ = config.selector;
  if (signer->selector_.size() + signer->domain_.size() + 12 > limits::domain_bytes_max) {
    return absl::InvalidArgumentError(cat(where, "selector '", config.selector, "'._domainkey.",
                                          signer->domain_,
                                          " is longer than a DNS name can be (253 octets)"));
  }
  if (absl::Status status = signer->set_signed_headers(config, where); !status.ok()) {
    return status;
  }
  UniquePkey key;
  DkimAlgorithm key_algorithm = DkimAlgorithm::rsa_sha256;
  int bits = 0;
  if (absl::Status status = load_signing_key(config, where, key, key_algorithm, bits);
      !status.ok()) {
    return status;
  }

  signer->key_ = key.release();
  signer->algorithm_ = key_algorithm;
  signer->key_bits_ = bits;
  signer->header_canon_ = config.header_canon;
  signer->body_canon_ = config.body_canon;
  const auto canon_name = [](Canonicalization canon) {
    return canon == Canonicalization::simple ? "simple" : "relaxed";
  };
  signer->tag_units_ = {
      "v=1;",
      cat("a=", dkim_algorithm_name(key_algorithm), ";"),
      cat("c=", canon_name(config.header_canon), "/", canon_name(config.body_canon), ";"),
      cat("d=", signer->domain_, ";"),
      cat("s=", signer->selector_, ";"),
  };
  return std::shared_ptr<const DkimSigner>(std::move(signer));
}

// Signed headers: the configured order, then the oversigned names not listed. From must be
// among them (RFC 6376 5.4).
absl::Status DkimSigner::set_signed_headers(const DkimConfig& config, std::string_view where) {
  bool signs_from = false;
  const auto add_header = [&](const std::string& name, bool oversigned) -> absl::Status {
    if (!is_valid_header_name(name)) {
      return absl::InvalidArgumentError(
          cat(where, "header name '", name, "' is invalid (printable ASCII without ':')"));
    }
    const std::string lower_name = lower(name);
    for (SignedHeader& existing : headers_) {
      if (existing.name != lower_name) continue;
      if (!oversigned) {
        return absl::InvalidArgumentError(
            cat(where, "header '", name,
                "' is listed twice in headers; every instance of a "
                "listed header is signed, and oversigned_headers adds one more"));
      }
      existing.oversigned = true;
      return absl::OkStatus();
    }
    headers_.push_back(SignedHeader{lower_name, oversigned});
    signs_from |= lower_name == "from";
    return absl::OkStatus();
  };
  for (const std::string& name : config.headers) {
    if (absl::Status status = add_header(name, false); !status.ok()) return status;
  }
  std::vector<std::string> oversigned_seen;
  for (const std::string& name : config.oversigned_headers) {
    const std::string lower_name = lower(name);
    if (std::find(oversigned_seen.begin(), oversigned_seen.end(), lower_name) !=
        oversigned_seen.end()) {
      return absl::InvalidArgumentError(
          cat(where, "header '", name, "' is listed twice in oversigned_headers"));
    }
    oversigned_seen.push_back(lower_name);
    if (absl::Status status = add_header(name, true); !status.ok()) return status;
  }
  if (!signs_from) {
    return absl::InvalidArgumentError(
        cat(where, "headers must include From (RFC 6376 5.4: the From field must be signed)"));
  }
  return absl::OkStatus();
}

std::string DkimSigner::dns_txt_record() const {
  return dns_txt_line(domain_, selector_, dns_record_value(key_, algorithm_));
}

// ---- DkimContext ----

struct DkimContext::KeyState {
  std::shared_ptr<const DkimSigner> signer;  // keeps the pointer used as key alive
  UniquePkey key;                            // this shard's copy
  UniquePkeyCtx rsa;                         // RSA: initialized for PKCS#1 v1.5 + SHA-256
  UniqueMdCtx ed25519;                       // Ed25519: initialized for one-shot signing
};

DkimContext::DkimContext() {
  sha256_ = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);  // fetched once, not per message
  digest_ = EVP_MD_CTX_new();
  HAYATE_ASSERT(sha256_ != nullptr && digest_ != nullptr);
}

DkimContext::~DkimContext() {
  EVP_MD_CTX_free(digest_);
  EVP_MD_free(sha256_);
}

DkimContext::KeyState& DkimContext::key_state(const std::shared_ptr<const DkimSigner>& signer) {
  for (const std::unique_ptr<KeyState>& state : keys_) {
    if (state->signer.get() == signer.get()) return *state;
  }
  auto state = std::make_unique<KeyState>();
  state->signer = signer;
  state->key.reset(EVP_PKEY_dup(signer->key_));
  HAYATE_ASSERT(state->key != nullptr);
  if (signer->algorithm_ == DkimAlgorithm::rsa_sha256) {
    state->rsa.reset(EVP_PKEY_CTX_new_from_pkey(nullptr, state->key.get(), nullptr));
    HAYATE_ASSERT(state->rsa != nullptr && EVP_PKEY_sign_init(state->rsa.get()) == 1);
    HAYATE_ASSERT(EVP_PKEY_CTX_set_rsa_padding(state->rsa.get(), RSA_PKCS1_PADDING) == 1);
    HAYATE_ASSERT(EVP_PKEY_CTX_set_signature_md(state->rsa.get(), EVP_sha256()) == 1);
  } else {
    state->ed25519.reset(EVP_MD_CTX_new());
    HAYATE_ASSERT(state->ed25519 != nullptr);
    HAYATE_ASSERT(
        EVP_DigestSignInit(state->ed25519.get(), nullptr, nullptr, nullptr, state->key.get()) == 1);
  }
  keys_.push_back(std::move(state));
  return *keys_.back();
}

const std::string& DkimContext::body_hash(Canonicalization canon, std::string_view body) {
  const std::size_t index = static_cast<std::size_t>(canon);
  if (last_body_valid_ && body == last_body_) {
    if (body_hash_valid_[index]) {
      ++body_hash_reuses_;
      return body_hash_base64_[index];
    }
  } else {
    last_body_.assign(body);
    last_body_valid_ = true;
    body_hash_valid_ = {false, false};
  }
  HAYATE_ASSERT(EVP_DigestInit_ex(digest_, sha256_, nullptr) == 1);
  if (canon == Canonicalization::simple) {
    // No copy: the kept prefix is hashed in place.
    const std::string_view kept = body.substr(0, without_trailing_empty_lines(body));
    HAYATE_ASSERT(EVP_DigestUpdate(digest_, kept.data(), kept.size()) == 1);
    if (!ends_with_crlf(kept)) HAYATE_ASSERT(EVP_DigestUpdate(digest_, "\r\n", 2) == 1);
  } else {
    scratch_.clear();
    append_relaxed_body(body, scratch_);
    HAYATE_ASSERT(EVP_DigestUpdate(digest_, scratch_.data(), scratch_.size()) == 1);
  }
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int hash_bytes = 0;
  HAYATE_ASSERT(EVP_DigestFinal_ex(digest_, hash, &hash_bytes) == 1 && hash_bytes == sha256_bytes);
  body_hash_base64_[index].clear();
  append_base64(hash, hash_bytes, body_hash_base64_[index]);
  body_hash_valid_[index] = true;
  return body_hash_base64_[index];
}

void DkimContext::sign(std::span<const std::shared_ptr<const DkimSigner>> signers,
                       std::string_view message, std::int64_t unix_time_s, std::string& out) {
  HAYATE_ASSERT(unix_time_s >= 0);  // t= is a count of seconds since 1970 (RFC 6376 3.5)
  if (signers.empty()) return;
  const std::size_t body_offset = split_header_fields(message, fields_);
  HAYATE_ASSERT(body_offset <= message.size());
  const std::string_view body = message.substr(body_offset);
  for (const std::shared_ptr<const DkimSigner>& signer : signers) {
    HAYATE_ASSERT(signer != nullptr);
    sign_one(signer, body, unix_time_s, out);
  }
}

void DkimContext::sign_one(const std::shared_ptr<const DkimSigner>& signer, std::string_view body,
                           std::int64_t unix_time_s, std::string& out) {
  const DkimSigner& config = *signer;
  const bool relaxed_headers = config.header_canon_ == Canonicalization::relaxed;
  KeyState& state = key_state(signer);
  const std::string& body_hash_base64 = body_hash(config.body_canon_, body);

  // Header data to hash (RFC 6376 3.7): the h= fields, each instance from the bottom up
  // (5.4.2), then the signature header itself with an empty b= and no final CRLF.
  header_.clear();
  header_ += "DKIM-Signature:";
  std::size_t column = header_.size();
  for (const std::string& unit : config.tag_units_) append_folded(unit, true, header_, column);
  append_folded(cat("t=", unix_time_s, ";"), true, header_, column);
  scratch_.clear();
  bool first_name = true;
  std::string name_unit;
  const auto list_name = [&](std::string_view name) {
    if (!first_name) {
      header_ += ':';
      ++column;
    }
    name_unit.clear();
    append(name_unit, first_name ? "h=" : "", name);
    append_folded(name_unit, first_name, header_, column, 1);  // 1: the ':' or ';' after it
    first_name = false;
  };
  for (const DkimSigner::SignedHeader& wanted : config.headers_) {
    bool present = false;
    for (std::size_t k = fields_.size(); k-- > 0;) {
      if (!equals_ignoring_case(fields_[k].name, wanted.name)) continue;
      present = true;
      list_name(wanted.name);
      if (relaxed_headers) {
        append_relaxed_header(fields_[k].field, scratch_);
        scratch_ += "\r\n";
      } else {
        scratch_ += fields_[k].field;
        if (!ends_with_crlf(fields_[k].field)) scratch_ += "\r\n";  // a message without body
      }
    }
    // An oversigned name hashes nothing: a field that is absent. From is listed even when the
    // message has none (RFC 6376 5.4: h= must include From), so h= is never empty.
    if (wanted.oversigned || (!present && wanted.name == "from")) list_name(wanted.name);
  }
  HAYATE_ASSERT(!first_name);  // load() refuses a configuration without From
  header_ += ';';
  ++column;
  append_folded(cat("bh=", body_hash_base64, ";"), true, header_, column);
  // b= starts a new line unless enough of this one is left for a useful part of its value.
  append_folded("b=", true, header_, column, 8);
  if (relaxed_headers) {
    append_relaxed_header(header_, scratch_);
  } else {
    scratch_ += header_;
  }

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_bytes = 0;
  HAYATE_ASSERT(EVP_DigestInit_ex(digest_, sha256_, nullptr) == 1);
  HAYATE_ASSERT(EVP_DigestUpdate(digest_, scratch_.data(), scratch_.size()) == 1);
  HAYATE_ASSERT(EVP_DigestFinal_ex(digest_, digest, &digest_bytes) == 1);
  HAYATE_ASSERT(digest_bytes == sha256_bytes);

  // RSA: RSASSA-PKCS1-v1_5 over the SHA-256 digest (RFC 6376 3.3.1). Ed25519: PureEdDSA over
  // the 32-byte SHA-256 digest itself (RFC 8463 3). Load checked the key with a test signature.
  unsigned char signature[signature_bytes_max];
  std::size_t signature_bytes = sizeof(signature);
  if (config.algorithm_ == DkimAlgorithm::rsa_sha256) {
    HAYATE_ASSERT(
        EVP_PKEY_sign(state.rsa.get(), signature, &signature_bytes, digest, digest_bytes) == 1);
  } else {
    HAYATE_ASSERT(EVP_DigestSign(state.ed25519.get(), signature, &signature_bytes, digest,
                                 digest_bytes) == 1);
  }
  std::string& value = name_unit;  // reused as scratch
  value.clear();
  append_base64(signature, signature_bytes, value);
  for (std::size_t i = 0; i < value.size();) {
    if (column >= header_columns_max) {
      header_ += "\r\n ";  // FWS inside base64 is allowed (RFC 6376 2.4) and ignored
      column = 1;
    }
    const std::size_t part = std::min(value.size() - i, header_columns_max - column);
    header_.append(value, i, part);
    column += part;
    i += part;
  }
  header_ += "\r\n";
  out += header_;
}

// ---- Key generation ----

absl::Status generate_dkim_key(DkimAlgorithm algorithm, int rsa_bits, std::string_view domain,
                               std::string_view selector, const std::string& key_path,
                               std::string& dns_txt_record) {
  std::string normalized_domain;
  std::string why;
  if (!normalize_domain(domain, normalized_domain, why)) {
    return absl::InvalidArgumentError(cat("domain '", domain, "' is not a valid domain: ", why));
  }
  if (!is_valid_selector(selector, why)) {
    return absl::InvalidArgumentError(cat("selector '", selector, "' is invalid: ", why));
  }
  if (algorithm == DkimAlgorithm::rsa_sha256 &&
      (rsa_bits < rsa_bits_min || rsa_bits > rsa_bits_max)) {
    return absl::InvalidArgumentError(
        cat("cannot make an RSA key of ", rsa_bits,
            " bits; RSA keys must be 1024 to 4096 bits; Gmail wants at least 1024, 2048 "
            "recommended"));
  }
  UniquePkey key(
      algorithm == DkimAlgorithm::rsa_sha256
          ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(rsa_bits))
          : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (key == nullptr) {
    return absl::InternalError(cat("key generation failed: ", openssl_error()));
  }
  UniqueBio bio(BIO_new(BIO_s_mem()));
  HAYATE_ASSERT(bio != nullptr);
  if (PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError(cat("cannot encode the key: ", openssl_error()));
  }
  char* pem = nullptr;
  const long pem_bytes = BIO_get_mem_data(bio.get(), &pem);
  HAYATE_ASSERT(pem_bytes > 0 && pem != nullptr);

  // O_EXCL: never replace a key that may already be published and in use.
  const int fd = ::open(key_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) {
    const int error = errno;
    if (error == EEXIST) {
      return absl::AlreadyExistsError(cat("key file '", key_path,
                                          "' already exists; refusing to replace a key that may "
                                          "be published in DNS (remove it first)"));
    }
    return absl::Status(
        absl::ErrnoToStatusCode(error),
        cat("cannot create key file '", key_path, "': ", std::generic_category().message(error)));
  }
  std::size_t done = 0;
  int error = 0;
  if (::fchmod(fd, 0600) != 0) error = errno;  // a umask may have cleared owner bits
  while (error == 0 && done < static_cast<std::size_t>(pem_bytes)) {
    const ssize_t wrote = ::write(fd, pem + done, static_cast<std::size_t>(pem_bytes) - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) {
      error = errno;
      break;
    }
    done += static_cast<std::size_t>(wrote);
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error != 0) {
    ::unlink(key_path.c_str());
    return absl::Status(
        absl::ErrnoToStatusCode(error),
        cat("cannot write key file '", key_path, "': ", std::generic_category().message(error)));
  }
  dns_txt_record =
      dns_txt_line(normalized_domain, selector, dns_record_value(key.get(), algorithm));
  return absl::OkStatus();
}

}  // namespace hayate::campaign::message
