// Tests of VERP tokens: golden addresses computed independently (Python hashlib/hmac/base64),
// round trips over the whole sequence range, tokens bound to the address they were made for,
// forged, altered and swapped tokens, version 1 tokens refused, case-folding MTAs, the 64-octet
// local part limit, secret files and key checks, and use from many threads.
#include "campaign/message/verp.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/limits.h"

namespace hayate::campaign {
namespace {

constexpr std::string_view secret = "correct horse battery staple 42";
constexpr std::string_view ann = "ann@example.org";  // the recipient most tokens are made for

VerpKey make_key(std::string_view prefix = "bounces",
                 std::string_view domain = "bounce.example.com",
                 std::string_view key_secret = secret) {
  absl::StatusOr<VerpKey> key = VerpKey::create(key_secret, prefix, domain);
  EXPECT_TRUE(key.ok()) << key.status();
  return key.ok() ? *std::move(key) : VerpKey();
}

std::string create_error(std::string_view key_secret, std::string_view prefix,
                         std::string_view domain) {
  absl::StatusOr<VerpKey> key = VerpKey::create(key_secret, prefix, domain);
  EXPECT_FALSE(key.ok()) << prefix << " " << domain;
  return key.ok() ? "<created>" : std::string(key.status().message());
}

struct Decoded {
  VerpDecodeResult result = VerpDecodeResult::malformed;
  bool ok = false;  // a well-formed version 2 token
  VerpToken token;
  std::string error;
};

Decoded decode(const VerpKey& key, std::string_view address) {
  Decoded decoded;
  decoded.result = verp_decode(key, address, decoded.token, decoded.error);
  decoded.ok = decoded.result == VerpDecodeResult::token;
  EXPECT_EQ(decoded.ok, decoded.error.empty()) << decoded.error;
  return decoded;
}

// Decodes and verifies for `recipient`: what a bounce processor accepts.
bool accepted(const VerpKey& key, std::string_view address, std::string_view recipient = ann) {
  const Decoded decoded = decode(key, address);
  return decoded.ok && verp_verify(key, decoded.token, recipient);
}

std::string token_of(std::string_view address) {
  const std::size_t plus = address.find('+');
  const std::size_t at = address.find('@');
  return std::string(address.substr(plus + 1, at - plus - 1));
}

const CampaignTag spring_tag = {0xea, 0xb9, 0x7b, 0xa5};  // SHA-256("spring-2026")[0:4]

TEST(Verp, CampaignTagIsTheStartOfSha256) {
  EXPECT_EQ(campaign_tag("spring-2026"), spring_tag);
  // SHA-256("") = e3b0c442 98...
  EXPECT_EQ(campaign_tag(""), (CampaignTag{0xe3, 0xb0, 0xc4, 0x42}));
  EXPECT_NE(campaign_tag("spring-2026"), campaign_tag("spring-2027"));
}

// Expected tokens from Python: signed = b"\x02" + sha256(id)[:4] + leb128(seq);
// base32(signed + hmac_sha256(secret, signed + address)[:10]) lower-cased, '=' stripped.
TEST(Verp, GoldenAddresses) {
  const VerpKey key = make_key();
  const std::pair<std::uint64_t, std::string_view> cases[] = {
      {0, "alvls65facspgtaul6anmlwrvu"},
      {7, "alvls65fa7t3o5xfr36d5dyy6m"},
      {127, "alvls65fp5lri4xxgfn4t5tvr4"},
      {128, "alvls65fqaa6zujfxin7d6kv5coq"},
      {300, "alvls65fvqblneh3vtfpi2mz562q"},
      {4294967296, "alvls65fqcaibaaqxqvta3xlxkccftlc"},
      {std::numeric_limits<std::uint64_t>::max(), "alvls65f77777777777777ybm7cf6owtfgddv6ge"},
  };
  for (const auto& [sequence, expected_token] : cases) {
    EXPECT_EQ(verp_address(key, "spring-2026", sequence, ann),
              "bounces+" + std::string(expected_token) + "@bounce.example.com")
        << sequence;
    std::string out = "kept:";
    append_verp_address(key, spring_tag, sequence, ann, out);
    EXPECT_EQ(out, "kept:bounces+" + std::string(expected_token) + "@bounce.example.com");
  }
  // Row 7 mailed to another address: another MAC, the same readable start.
  EXPECT_EQ(verp_address(key, "spring-2026", 7, "bob@example.org"),
            "bounces+alvls65fa6yzofpduak7brskvu@bounce.example.com");
}

// The token names a row; its MAC names the address. It verifies for the address it was made
// for and for no other: not another address, not the same one in another case (hayate sends
// the local part as written), not another campaign's or row's.
TEST(Verp, TheTokenIsBoundToItsAddress) {
  const VerpKey key = make_key();
  const std::string address = verp_address(key, "spring-2026", 7, ann);
  const Decoded decoded = decode(key, address);
  ASSERT_TRUE(decoded.ok) << decoded.error;
  EXPECT_EQ(decoded.token.sequence, 7u);  // readable without the address: finds the row
  EXPECT_EQ(decoded.token.campaign_tag, spring_tag);
  EXPECT_TRUE(verp_verify(key, decoded.token, ann));
  for (std::string_view other :
       {"bob@example.org", "Ann@example.org", "ann@example.org ", "ann@example.or", "", "a"}) {
    EXPECT_FALSE(verp_verify(key, decoded.token, other)) << other;
  }
  VerpToken moved = decoded.token;
  moved.sequence = 8;
  EXPECT_FALSE(verp_verify(key, moved, ann));
  moved = decoded.token;
  moved.campaign_tag = campaign_tag("autumn-2026");
  EXPECT_FALSE(verp_verify(key, moved, ann));
  const VerpKey other_secret =
      make_key("bounces", "bounce.example.com", "another secret, also long enough");
  EXPECT_FALSE(verp_verify(other_secret, decoded.token, ann));
}

// Version 1 (a 5-byte tag, the row, a MAC over those alone, no version byte) named a row, not
// a person: its tokens are recognized by their MAC and refused with a reason.
TEST(Verp, Version1TokensAreRefused) {
  const VerpKey key = make_key();
  // Python: base32(sha256(id)[:5] + leb128(7) + hmac_sha256(secret, those)[:10]).
  const std::string old_token = "5k4xxjowa6jfnd3kv5erh6cguq";
  const Decoded decoded = decode(key, "bounces+" + old_token + "@bounce.example.com");
  EXPECT_EQ(decoded.result, VerpDecodeResult::version_1);
  EXPECT_EQ(decoded.error, "token '" + old_token +
                               "' is of version 1, which names a row but not the address mailed: "
                               "refused, as it cannot say whom the bounce is about");
  // Another secret's version 1 token is not ours at all.
  const VerpKey other =
      make_key("bounces", "bounce.example.com", "another secret, also long enough");
  EXPECT_EQ(decode(other, "bounces+" + old_token).result, VerpDecodeResult::malformed);
  // A version 2 layout with version byte 3 (signed as version 2 would be): not ours.
  const Decoded version_3 = decode(key, "bounces+apvls65fa6aqyahwlu7lakauaa");
  EXPECT_EQ(version_3.result, VerpDecodeResult::malformed);
  EXPECT_EQ(version_3.error,
            "token 'apvls65fa6aqyahwlu7lakauaa' has version 3, not 2: forged or altered");
}

TEST(Verp, RoundTripOverTheSequenceRange) {
  const VerpKey key = make_key();
  std::vector<std::uint64_t> sequences = {0,
                                          1,
                                          127,
                                          128,
                                          16383,
                                          16384,
                                          1'000'000,
                                          std::numeric_limits<std::uint32_t>::max(),
                                          std::uint64_t{1} << 63,
                                          std::numeric_limits<std::uint64_t>::max()};
  for (int bits = 0; bits < 64; ++bits) {
    sequences.push_back((std::uint64_t{1} << bits) - 1);
    sequences.push_back(std::uint64_t{1} << bits);
  }
  std::mt19937_64 random(11);
  for (int i = 0; i < 2000; ++i) sequences.push_back(random() >> (random() % 64));
  const CampaignTag tag = campaign_tag("newsletter-2026-11");
  for (std::uint64_t sequence : sequences) {
    const std::string address = verp_address(key, "newsletter-2026-11", sequence, ann);
    const Decoded decoded = decode(key, address);
    ASSERT_TRUE(decoded.ok) << address << ": " << decoded.error;
    EXPECT_EQ(decoded.token.sequence, sequence);
    EXPECT_EQ(decoded.token.campaign_tag, tag);
    EXPECT_TRUE(verp_verify(key, decoded.token, ann)) << address;
    const std::size_t token_characters = token_of(address).size();
    EXPECT_GE(token_characters, 26u);
    EXPECT_LE(token_characters, verp_token_characters_max);
    EXPECT_EQ(address.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567+.@"), std::string::npos)
        << address;
  }
}

// MTAs that fold local parts to upper (or lower) case, and the forms a bounce processor meets.
TEST(Verp, AcceptsAnyCaseAndAddressForm) {
  const VerpKey key = make_key();
  const std::string address = verp_address(key, "spring-2026", 300, ann);
  std::string upper = address;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string mixed = address;
  for (std::size_t i = 0; i < mixed.size(); i += 2) {
    mixed[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(mixed[i])));
  }
  const std::string local = address.substr(0, address.find('@'));
  for (const std::string& form :
       {address, upper, mixed, "<" + address + ">", " <" + upper + ">\t", local,
        "BOUNCES+" + token_of(upper), local + "@another.example.net"}) {
    const Decoded decoded = decode(key, form);
    ASSERT_TRUE(decoded.ok) << form << ": " << decoded.error;
    EXPECT_EQ(decoded.token.sequence, 300u) << form;
    EXPECT_EQ(decoded.token.campaign_tag, spring_tag) << form;
    EXPECT_TRUE(verp_verify(key, decoded.token, ann)) << form;
  }
}

TEST(Verp, ForgedTokensAreRejected) {
  const VerpKey key = make_key();
  // Random tokens of every valid length, most with the version 2 start (the first 8 bits
  // 00000010: 'a', then one of 'i' to 'l'), so that they get as far as the MAC.
  std::mt19937 random(5);
  for (std::size_t characters : {26, 28, 29, 31, 32, 34, 36, 37, 39, 40}) {
    for (int i = 0; i < 50; ++i) {
      std::string token = {'a', "ijkl"[random() % 4]};
      if (i % 10 == 0) token[0] = "abcdefghijklmnopqrstuvwxyz234567"[random() % 32];
      while (token.size() < characters) {
        token.push_back("abcdefghijklmnopqrstuvwxyz234567"[random() % 32]);
      }
      EXPECT_FALSE(accepted(key, "bounces+" + token + "@bounce.example.com")) << token;
    }
  }
  // Another secret's token, same campaign, sequence and address: well-formed, never verified.
  const VerpKey other =
      make_key("bounces", "bounce.example.com", "another secret, also long enough");
  const std::string theirs = verp_address(other, "spring-2026", 7, ann);
  EXPECT_TRUE(decode(key, theirs).ok);
  EXPECT_FALSE(accepted(key, theirs));
}

TEST(Verp, AlteredTokensAreRejected) {
  const VerpKey key = make_key();
  const std::string address = verp_address(key, "spring-2026", 300, ann);  // 28 characters
  const std::string token = token_of(address);
  // Every character replaced by every other base32 character: never accepted.
  std::size_t rejected = 0;
  for (std::size_t i = 0; i < token.size(); ++i) {
    for (char replacement : std::string_view("abcdefghijklmnopqrstuvwxyz234567")) {
      if (replacement == token[i]) continue;
      std::string altered = token;
      altered[i] = replacement;
      const bool ok = accepted(key, "bounces+" + altered);
      EXPECT_FALSE(ok) << altered;
      rejected += ok ? 0 : 1;
    }
  }
  EXPECT_EQ(rejected, token.size() * 31);
  // A token moved to another campaign: campaign B's version and tag (the first 8 characters
  // hold those 40 bits) before campaign A's sequence and MAC.
  const std::string other_campaign = token_of(verp_address(key, "autumn-2026", 300, ann));
  std::string spliced = other_campaign.substr(0, 8) + token.substr(8);
  const Decoded moved = decode(key, "bounces+" + spliced);
  ASSERT_TRUE(moved.ok) << moved.error;
  EXPECT_EQ(moved.token.campaign_tag, campaign_tag("autumn-2026"));
  EXPECT_FALSE(verp_verify(key, moved.token, ann));
  // Tokens of one length cut or extended are rejected for their length or their MAC.
  EXPECT_FALSE(accepted(key, "bounces+" + token.substr(0, 26)));
  EXPECT_FALSE(accepted(key, "bounces+" + token + "aa"));
}

TEST(Verp, AlteredSequenceIsRejected) {
  const VerpKey key = make_key();
  // Token of sequence 7 with its varint byte set to 8, the MAC kept. Version and tag are
  // characters 0-7 (40 bits); characters 8 and 9 hold bits 40-49: the varint byte, then 2 bits
  // of the MAC. It reads as row 8, and verifies for nobody: rows are not movable.
  const std::string token = token_of(verp_address(key, "spring-2026", 7, ann));
  ASSERT_EQ(token, "alvls65fa7t3o5xfr36d5dyy6m");
  const auto value = [](char c) { return c >= 'a' ? c - 'a' : c - '2' + 26; };
  const auto character = [](int v) { return "abcdefghijklmnopqrstuvwxyz234567"[v]; };
  const int bits = value(token[8]) << 5 | value(token[9]);  // 10 bits: varint byte + 2 MAC bits
  ASSERT_EQ(bits >> 2, 7);
  const int altered_bits = 8 << 2 | (bits & 3);
  std::string altered = token;
  altered[8] = character(altered_bits >> 5);
  altered[9] = character(altered_bits & 31);
  const Decoded decoded = decode(key, "bounces+" + altered + "@bounce.example.com");
  ASSERT_TRUE(decoded.ok) << decoded.error;
  EXPECT_EQ(decoded.token.sequence, 8u);
  EXPECT_FALSE(verp_verify(key, decoded.token, ann));
  EXPECT_FALSE(verp_verify(key, decoded.token, "bob@example.org"));
}

TEST(Verp, MalformedInputsSayWhy) {
  const VerpKey key = make_key();
  const std::string token = token_of(verp_address(key, "spring-2026", 7, ann));
  EXPECT_EQ(decode(key, "bounces@bounce.example.com").error,
            "'bounces@bounce.example.com' has no '+' in its local part");
  EXPECT_EQ(decode(key, "bounces@bounce.example.com").result, VerpDecodeResult::not_ours);
  EXPECT_EQ(decode(key, "news+" + token).error,
            "'news+" + token + "' does not start with 'bounces+'");
  EXPECT_EQ(decode(key, "news+" + token).result, VerpDecodeResult::not_ours);
  EXPECT_EQ(decode(key, "bounces+abc").result, VerpDecodeResult::malformed);
  EXPECT_EQ(decode(key, "bounces+abc").error,
            "token 'abc' has 3 characters; a VERP token has 26 to 40");
  // 27 characters: no byte count encodes to that length.
  EXPECT_EQ(decode(key, "bounces+" + token + "a").error,
            "token '" + token + "a' has 27 characters; a VERP token has 26 to 40");
  EXPECT_EQ(decode(key, "bounces+" + std::string(41, 'a')).error,
            "token '" + std::string(41, 'a') + "' has 41 characters; a VERP token has 26 to 40");
  std::string with_digit = token;
  with_digit[3] = '1';  // not in the base32 alphabet (nor 0, 8, 9, '=')
  EXPECT_EQ(decode(key, "bounces+" + with_digit).error,
            "token '" + with_digit + "' has '1', which is not base32");
  // The last character of 26 holds 2 pad bits: 'm' (01100) has them zero, 'n' (01101) does not.
  ASSERT_EQ(token.back(), 'm');
  std::string padded = token;
  padded.back() = 'n';
  EXPECT_EQ(decode(key, "bounces+" + padded).error,
            "token '" + padded + "' is not canonical base32");
  EXPECT_FALSE(decode(key, "").ok);
  EXPECT_FALSE(decode(key, "+").ok);
  EXPECT_FALSE(decode(key, std::string_view("bounces+\0\xff", 10)).ok);
}

// Tokens signed with the secret for ann but not as the encoder writes (Python-made): an
// overlong varint, and a 10-byte varint over 64 bits. Only a leaked secret makes them; still
// refused, so that one row has one token an address.
TEST(Verp, SignedButNonCanonicalSequencesAreRejected) {
  const VerpKey key = make_key();
  EXPECT_EQ(decode(key, "bounces+alvls65fq4abqgcgeq33p4nwit3q").error,
            "token 'alvls65fq4abqgcgeq33p4nwit3q' has a malformed sequence number");
  EXPECT_EQ(decode(key, "bounces+alvls65f77777777777777ycbyau46sbges7o535").error,
            "token 'alvls65f77777777777777ycbyau46sbges7o535' has a malformed sequence number");
}

TEST(Verp, LocalPartStaysWithin64Octets) {
  const std::string longest_prefix(verp_prefix_bytes_max, 'p');
  const VerpKey key = make_key(longest_prefix);
  // The recipient's length changes nothing: it is under the MAC, not in the token.
  const std::string long_recipient = std::string(64, 'l') + "@" + std::string(63, 'd') + ".example";
  const std::string address =
      verp_address(key, "spring-2026", std::numeric_limits<std::uint64_t>::max(), long_recipient);
  EXPECT_EQ(address.find('@'), limits::local_part_bytes_max);  // exactly 64
  const Decoded decoded = decode(key, address);
  ASSERT_TRUE(decoded.ok) << decoded.error;
  EXPECT_EQ(decoded.token.sequence, std::numeric_limits<std::uint64_t>::max());
  EXPECT_TRUE(verp_verify(key, decoded.token, long_recipient));
  // A realistic prefix and list: "bounces" and ten million rows (a 4-byte varint, a 31
  // character token) leave 25 of the 64 octets unused.
  const std::string realistic = verp_address(make_key(), "newsletter-2026-11", 10'000'000, ann);
  EXPECT_EQ(realistic.find('@'), 39u);
  EXPECT_EQ(create_error(secret, longest_prefix + "p", "bounce.example.com"),
            "VERP prefix '" + longest_prefix +
                "p' is 24 octets; it must have 1 to 23, so that prefix+TOKEN stays within the 64 "
                "octets of a local part (RFC 5321 4.5.3.1.1)");
}

TEST(Verp, PrefixAndDomainAreChecked) {
  EXPECT_EQ(create_error(secret, "", "bounce.example.com"),
            "VERP prefix '' is 0 octets; it must have 1 to 23, so that prefix+TOKEN stays within "
            "the 64 octets of a local part (RFC 5321 4.5.3.1.1)");
  EXPECT_EQ(create_error(secret, "bounce+s", "bounce.example.com"),
            "VERP prefix 'bounce+s' has '+'; use letters, digits and !#$%&'*-/=?^_`{|}~. ('+' "
            "separates the token)");
  EXPECT_EQ(create_error(secret, "bo unces", "bounce.example.com"),
            "VERP prefix 'bo unces' has ' '; use letters, digits and !#$%&'*-/=?^_`{|}~. ('+' "
            "separates the token)");
  EXPECT_EQ(create_error(secret, ".bounces", "bounce.example.com"),
            "VERP prefix '.bounces' has a dot at an end or two in a row (RFC 5321 4.1.2 "
            "Dot-string)");
  EXPECT_EQ(create_error(secret, "b..x", "bounce.example.com"),
            "VERP prefix 'b..x' has a dot at an end or two in a row (RFC 5321 4.1.2 Dot-string)");
  EXPECT_EQ(create_error(secret, "bounces", ""),
            "VERP domain '' does not make a valid address: it is empty");
  EXPECT_EQ(create_error(secret, "bounces", "exa_mple.com").substr(0, 49),
            "VERP domain 'exa_mple.com' does not make a valid ");
  EXPECT_FALSE(VerpKey::create(secret, "bounces", "bounce.example.com\r\nRCPT TO:<x@y.z>").ok());
  EXPECT_FALSE(VerpKey::create(secret, "bounces", "a@b.example").ok());
  // Too long for a 254-octet address with the longest token.
  std::string long_domain;
  for (int i = 0; i < 4; ++i) long_domain += std::string(60, 'd') + ".";
  long_domain += "com";
  EXPECT_FALSE(VerpKey::create(secret, "bounces", long_domain).ok());
  // Upper case and IDN domains are normalized; a prefix keeps its case.
  const VerpKey key = make_key("Bounce-Box",
                               "Bounce.\xc3\x9c"
                               "bung.example");
  EXPECT_EQ(key.domain(), "bounce.xn--bung-zra.example");
  const std::string address = verp_address(key, "c", 1, ann);
  EXPECT_EQ(address.substr(0, 11), "Bounce-Box+");
  EXPECT_EQ(address.substr(address.find('@')), "@bounce.xn--bung-zra.example");
  EXPECT_TRUE(accepted(key, address));
  EXPECT_TRUE(accepted(key, "bounce-box+" + token_of(address)));
}

TEST(Verp, SecretLength) {
  EXPECT_EQ(create_error("fifteen bytes!!", "bounces", "b.example"),
            "VERP secret: the secret is 15 bytes; at least 16 are needed (for instance: head -c "
            "32 /dev/urandom | base64 > VERP secret)");
  EXPECT_TRUE(VerpKey::create("sixteen bytes!!!", "bounces", "b.example").ok());
  EXPECT_FALSE(VerpKey::create(std::string(4097, 's'), "bounces", "b.example").ok());
}

class VerpFiles : public testing::Test {
 protected:
  std::string path(std::string_view name) {
    return testing::TempDir() + "verp_" + std::string(name);
  }
  std::string write(std::string_view name, std::string_view content) {
    const std::string file = path(name);
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }
};

TEST_F(VerpFiles, LoadTrimsTheFinalNewline) {
  const std::string file = write("key", std::string(secret) + "\n");
  absl::StatusOr<VerpKey> loaded = VerpKey::load(file, "bounces", "bounce.example.com");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(verp_address(*loaded, "spring-2026", 7, ann),
            "bounces+alvls65fa7t3o5xfr36d5dyy6m@bounce.example.com");
  const std::string crlf = write("key_crlf", std::string(secret) + " \r\n");
  ASSERT_TRUE(VerpKey::load(crlf, "bounces", "b.example").ok());
  EXPECT_EQ(
      verp_address(*VerpKey::load(crlf, "bounces", "bounce.example.com"), "spring-2026", 7, ann),
      "bounces+alvls65fa7t3o5xfr36d5dyy6m@bounce.example.com");
}

TEST_F(VerpFiles, LoadErrorsNameTheFile) {
  const std::string missing = path("missing");
  absl::StatusOr<VerpKey> key = VerpKey::load(missing, "bounces", "b.example");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().message(), missing + ": cannot open: No such file or directory");

  const std::string short_file = write("short", "short secret\n");
  key = VerpKey::load(short_file, "bounces", "b.example");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().message(),
            short_file +
                ": the secret is 12 bytes; at least 16 are needed (for instance: head -c "
                "32 /dev/urandom | base64 > " +
                short_file + ")");

  const std::string big = write("big", std::string(5000, 'x'));
  key = VerpKey::load(big, "bounces", "b.example");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().message(), big + ": 5000 bytes; a VERP secret has at most 4096");

  key = VerpKey::load(testing::TempDir(), "bounces", "b.example");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().message(), testing::TempDir() + ": not a regular file");

  // A FIFO is refused, not waited on.
  const std::string fifo = path("fifo");
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  key = VerpKey::load(fifo, "bounces", "b.example");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().message(), fifo + ": not a regular file");
  ::unlink(fifo.c_str());
}

// Each thread caches an HMAC context for the last key: switching keys, copies, and many
// threads at once must all give the single-threaded answers.
TEST(Verp, KeysAndThreads) {
  const VerpKey first = make_key();
  const VerpKey second =
      make_key("bounces", "bounce.example.com", "a different secret of 32 bytes.");
  const VerpKey copy = first;
  const std::string a = verp_address(first, "spring-2026", 7, ann);
  const std::string b = verp_address(second, "spring-2026", 7, ann);
  EXPECT_NE(a, b);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(verp_address(first, "spring-2026", 7, ann), a);
    EXPECT_EQ(verp_address(second, "spring-2026", 7, ann), b);
    EXPECT_EQ(verp_address(copy, "spring-2026", 7, ann), a);
    EXPECT_TRUE(accepted(second, b));
    EXPECT_FALSE(accepted(first, b));
  }
  std::vector<std::string> expected;
  for (std::uint64_t sequence = 0; sequence < 2000; ++sequence) {
    expected.push_back(
        verp_address(sequence % 2 == 0 ? first : second, "spring-2026", sequence, ann));
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (std::uint64_t sequence = 0; sequence < 2000; ++sequence) {
          const VerpKey& even_key = t % 2 == 0 ? first : copy;
          const VerpKey& key = sequence % 2 == 0 ? even_key : second;
          if (verp_address(key, "spring-2026", sequence, ann) != expected[sequence]) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << t;
}

}  // namespace
}  // namespace hayate::campaign
