// The deliverability pre-flight of `hayate check`: what receivers will look up about this
// campaign's mail, looked up before it is sent, with the job's [dns] servers. The DKIM key of
// each [[dkim]] signer as published, the From domain's DMARC policy and alignment, the SPF of
// the envelope domain for each [[sources]] address, an MX for bounces, and one-click
// List-Unsubscribe (RFC 8058). Judging is pure over DnsFacts; the lookups run in rounds on a
// one-off shard, for 5 s at most.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "campaign/config/job.h"
#include "campaign/run/dns_facts.h"
#include "engine/dns/resolver.h"

namespace hayate::campaign::inline run {

enum class PreflightLevel : std::uint8_t {
  ok,       // passes: a line on stdout
  warning,  // what a receiver would hold against this mail
  unknown,  // a lookup failed for now (timeout, SERVFAIL): nothing was learnt
};

struct PreflightFinding {
  PreflightLevel level = PreflightLevel::ok;
  std::string label;  // "dkim s1._domainkey.example.com", "spf bounce.example.com"...
  std::string text;
};

// RFC 6376 3.2 tag-list ("v=DKIM1; k=rsa; p=..."), shared by DKIM key records and DMARC
// records (RFC 7489 6.4): names and values without surrounding whitespace, in order. False with
// `error` set when malformed or a tag name repeats (3.2: then the whole list is invalid).
bool parse_tag_list(std::string_view text, std::vector<std::pair<std::string, std::string>>& tags,
                    std::string& error);

// A DKIM key record (RFC 6376 3.6.1; RFC 8463 for k=ed25519).
struct DkimKeyRecord {
  std::string key_type = "rsa";               // k=, lower case
  std::string public_key;                     // p=, base64-decoded; empty: revoked
  std::vector<std::string> hashes;            // h=, lower case; empty: any
  std::vector<std::string> services = {"*"};  // s=
  bool testing = false;                       // t=y
};

// False with `error` set when `text` is no DKIM key record: a v= other than "DKIM1" or not
// first, no p=, p= not base64, a malformed tag list.
bool parse_dkim_key_record(std::string_view text, DkimKeyRecord& record, std::string& error);

// A DMARC record (RFC 7489 6.3).
struct DmarcRecord {
  std::string policy;            // p=: none, quarantine, reject
  std::string subdomain_policy;  // sp=; empty: p= applies
  bool strict_dkim = false;      // adkim=s
  bool strict_spf = false;       // aspf=s
  std::uint32_t percent = 100;   // pct=
};

// False with `error` set when `text` is no usable DMARC record: not starting with v=DMARC1, a
// malformed tag list, p= missing or not one of the three policies (RFC 7489 6.6.3: such a
// record is ignored, unless it has rua=, which this check does not count on).
bool parse_dmarc_record(std::string_view text, DmarcRecord& record, std::string& error);

// The organizational domain (RFC 7489 3.2), simplified to the last two labels: without the
// Public Suffix List, "mail.example.co.uk" gives "co.uk". Good enough to tell whether two
// domains of one sender align, and to find the DMARC record of most subdomains.
std::string_view organizational_domain(std::string_view domain);

// RFC 7489 3.1: strict alignment needs the same domain, relaxed the same organizational one.
bool domains_align(std::string_view a, std::string_view b, bool strict);

// A [[dkim]] signer as the pre-flight sees it: where its key is published, and the public half
// of its private key.
struct DkimPublication {
  std::string domain;      // d=, lower-case A-label
  std::string selector;    // s=
  std::string key_path;    // as the job names it, for messages
  std::string key_type;    // "rsa", "ed25519"; empty when the key could not be read
  std::string public_key;  // RSA: DER SubjectPublicKeyInfo; Ed25519 (RFC 8463 4): raw 32 bytes
  std::string key_error;   // why the key could not be read
  bool signs_list_unsubscribe = false;  // h= covers List-Unsubscribe and List-Unsubscribe-Post
  std::string record_name() const { return selector + "._domainkey." + domain; }
};

// What the pre-flight checks, taken from the job (and the DKIM key files).
struct PreflightPlan {
  std::vector<DkimPublication> dkim;
  std::string from_domain;
  std::string envelope_domain;  // [verp] domain, else the envelope_from domain
  struct Source {
    std::string name;     // [[sources]] name
    std::string address;  // IP literal
  };
  std::vector<Source> sources;
  bool list_unsubscribe_https = false;   // [campaign] list_unsubscribe
  bool list_unsubscribe_mailto = false;  // [campaign] list_unsubscribe_mailto
};

// Reads the public half of each DKIM key with OpenSSL (I/O: the key files).
PreflightPlan preflight_plan(const JobConfig& job);

// The public key of a PEM private key file: type "rsa" with the DER SubjectPublicKeyInfo, or
// "ed25519" with the raw 32 bytes (RFC 8463 4): what a DKIM key record's p= carries.
absl::Status read_dkim_public_key(const std::string& key_path, std::string& key_type,
                                  std::string& public_key);

// Every finding about `plan` from what `facts` knows, in order: DKIM, SPF, DMARC, bounce MX,
// List-Unsubscribe. Pure; questions without an answer are noted in `facts` (their findings
// are then unknown: look them up and judge again).
std::vector<PreflightFinding> judge_preflight(const PreflightPlan& plan, DnsFacts& facts);

// Looks up what judge_preflight asks, in rounds (each round's answers may raise new questions:
// an SPF include, the organizational DMARC record) on a one-off shard, for at most
// `timeout_ms` in all: an answer still missing then reads "timeout". Fails only when the
// shard or the resolver cannot start.
absl::StatusOr<std::vector<PreflightFinding>> run_preflight(
    const PreflightPlan& plan, const std::vector<dns::SocketAddress>& servers,
    std::uint32_t timeout_ms);

inline constexpr std::uint32_t preflight_check_timeout_ms = 5'000;

// hayate check's part: prints ok findings on stdout and "hayate: warning: LABEL: ..." on
// stderr. Returns the exit code it asks for: 0, unless `strict` (then 65 for a warning, else
// 75 for a lookup that failed for now).
int check_preflight(const JobConfig& job, bool strict);

// The exit code of two checks together: a data error (65) wins over a temporary one (75).
int combine_check_codes(int first, int second);

}  // namespace hayate::campaign::run
