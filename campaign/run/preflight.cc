// The pre-flight of `hayate check`: record parsers (DKIM key, DMARC), the judges of each
// check over DnsFacts, and the rounds of lookups on a one-off shard (run_preflight).
#include "campaign/run/preflight.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "campaign/run/exit_codes.h"
#include "campaign/run/spf.h"
#include "engine/assert.h"
#include "engine/dns/ring_socket_watcher.h"
#include "engine/shard.h"
#include "engine/strings.h"

namespace hayate::campaign::inline run {

// ---------------------------------------------------------------------------------------------
// Records

bool parse_tag_list(std::string_view text, std::vector<std::pair<std::string, std::string>>& tags,
                    std::string& error) {
  tags.clear();
  while (true) {
    const std::size_t end = text.find(';');
    const std::string_view spec = trim(text.substr(0, end), whitespace_characters);
    const bool last = end == std::string_view::npos;
    if (!spec.empty()) {
      const std::size_t equals = spec.find('=');
      const std::string_view name = trim(
          spec.substr(0, equals == std::string_view::npos ? 0 : equals), whitespace_characters);
      if (equals == std::string_view::npos || name.empty() ||
          !absl::ascii_isalpha(static_cast<unsigned char>(name.front())) ||
          !std::all_of(name.begin(), name.end(), [](char c) {
            return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
          })) {
        error = cat("malformed tag \"", spec, "\"");
        return false;
      }
      if (std::any_of(tags.begin(), tags.end(),
                      [&](const auto& tag) { return tag.first == name; })) {
        error = cat("tag ", name, "= appears twice");
        return false;
      }
      tags.emplace_back(std::string(name),
                        std::string(trim(spec.substr(equals + 1), whitespace_characters)));
    } else if (!last && !tags.empty() &&
               trim(text.substr(end + 1), whitespace_characters).empty()) {
      return true;  // a final ";"
    } else if (!last || tags.empty()) {
      error = "empty tag";
      return false;
    }
    if (last) return true;
    text.remove_prefix(end + 1);
  }
}

namespace {

const std::string* find_tag(const std::vector<std::pair<std::string, std::string>>& tags,
                            std::string_view name) {
  for (const auto& [tag, value] : tags) {
    if (tag == name) return &value;
  }
  return nullptr;
}

// A colon-separated list (h=, s=), each item trimmed and lower-cased.
std::vector<std::string> colon_list(std::string_view text) {
  std::vector<std::string> items;
  while (true) {
    const std::size_t colon = text.find(':');
    const std::string_view item = trim(text.substr(0, colon), whitespace_characters);
    if (!item.empty()) items.push_back(lower(item));
    if (colon == std::string_view::npos) return items;
    text.remove_prefix(colon + 1);
  }
}

}  // namespace

bool parse_dkim_key_record(std::string_view text, DkimKeyRecord& record, std::string& error) {
  record = DkimKeyRecord{};
  std::vector<std::pair<std::string, std::string>> tags;
  if (!parse_tag_list(text, tags, error)) return false;
  // RFC 6376 3.6.1: v= is optional, but when present it comes first and says DKIM1.
  const std::string* version = find_tag(tags, "v");
  if (version != nullptr && (tags.front().first != "v" || *version != "DKIM1")) {
    error = tags.front().first != "v" ? "v= is not the first tag"
                                      : cat("v=", *version, " is not DKIM1");
    return false;
  }
  const std::string* key = find_tag(tags, "p");
  if (key == nullptr) {
    error = "no p= tag";
    return false;
  }
  std::string base64;
  for (char c : *key) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') base64.push_back(c);
  }
  if (!base64.empty() && !absl::Base64Unescape(base64, &record.public_key)) {
    error = "p= is not base64";
    return false;
  }
  if (const std::string* type = find_tag(tags, "k")) record.key_type = lower(*type);
  if (const std::string* hashes = find_tag(tags, "h")) record.hashes = colon_list(*hashes);
  if (const std::string* services = find_tag(tags, "s")) record.services = colon_list(*services);
  if (const std::string* flags = find_tag(tags, "t")) {
    const std::vector<std::string> list = colon_list(*flags);
    record.testing = std::find(list.begin(), list.end(), "y") != list.end();
  }
  return true;
}

bool parse_dmarc_record(std::string_view text, DmarcRecord& record, std::string& error) {
  record = DmarcRecord{};
  std::vector<std::pair<std::string, std::string>> tags;
  if (!parse_tag_list(text, tags, error)) return false;
  // RFC 7489 6.4: v=DMARC1 first, then p= (RFC 7489 6.3 says p= follows v=; receivers take
  // it anywhere, and so does this).
  if (tags.empty() || tags.front().first != "v" || tags.front().second != "DMARC1") {
    error = "it does not start with v=DMARC1";
    return false;
  }
  const auto is_policy = [](const std::string& value) {
    return value == "none" || value == "quarantine" || value == "reject";
  };
  const std::string* policy = find_tag(tags, "p");
  if (policy == nullptr || !is_policy(lower(*policy))) {
    error = policy == nullptr ? "it has no p= tag" : cat("p=", *policy, " is not a policy");
    return false;
  }
  record.policy = lower(*policy);
  if (const std::string* sp = find_tag(tags, "sp"); sp != nullptr && is_policy(lower(*sp))) {
    record.subdomain_policy = lower(*sp);
  }
  if (const std::string* adkim = find_tag(tags, "adkim")) record.strict_dkim = lower(*adkim) == "s";
  if (const std::string* aspf = find_tag(tags, "aspf")) record.strict_spf = lower(*aspf) == "s";
  if (const std::string* pct = find_tag(tags, "pct")) {
    std::uint32_t percent = 0;
    if (!pct->empty() && pct->size() <= 3 &&
        std::all_of(pct->begin(), pct->end(), [](char c) { return c >= '0' && c <= '9'; })) {
      percent = static_cast<std::uint32_t>(std::stoul(*pct));
    }
    record.percent = std::min<std::uint32_t>(percent, 100);
  }
  return true;
}

std::string_view organizational_domain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  const std::size_t last_dot = domain.rfind('.');
  if (last_dot == std::string_view::npos || last_dot == 0) return domain;
  const std::size_t second_dot = domain.rfind('.', last_dot - 1);
  return second_dot == std::string_view::npos ? domain : domain.substr(second_dot + 1);
}

bool domains_align(std::string_view a, std::string_view b, bool strict) {
  const std::string first = dns_question_name(a);
  const std::string second = dns_question_name(b);
  if (strict) return first == second;
  return organizational_domain(first) == organizational_domain(second);
}

// ---------------------------------------------------------------------------------------------
// The plan

namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

// PEM_read_bio_PrivateKey would otherwise prompt on the terminal for an encrypted key.
int refuse_passphrase(char*, int, int, void*) { return -1; }

bool signs_header(const DkimConfig& config, std::string_view name) {
  return std::any_of(config.headers.begin(), config.headers.end(),
                     [&](const std::string& header) { return equals_ignoring_case(header, name); });
}

}  // namespace

absl::Status read_dkim_public_key(const std::string& key_path, std::string& key_type,
                                  std::string& public_key) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(key_path.c_str(), "r"));
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      bio == nullptr ? nullptr
                     : PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr));
  ERR_clear_error();
  if (key == nullptr)
    return absl::InvalidArgumentError(cat("cannot read a private key from ", key_path));
  const int id = EVP_PKEY_get_base_id(key.get());
  if (id == EVP_PKEY_RSA) {
    const int bytes = i2d_PUBKEY(key.get(), nullptr);
    if (bytes > 0) {
      public_key.assign(static_cast<std::size_t>(bytes), '\0');
      auto* out = reinterpret_cast<unsigned char*>(public_key.data());
      if (i2d_PUBKEY(key.get(), &out) == bytes) {
        key_type = "rsa";
        return absl::OkStatus();
      }
    }
  } else if (id == EVP_PKEY_ED25519) {
    unsigned char raw[32];
    std::size_t bytes = sizeof(raw);
    if (EVP_PKEY_get_raw_public_key(key.get(), raw, &bytes) == 1 && bytes == sizeof(raw)) {
      public_key.assign(reinterpret_cast<const char*>(raw), bytes);
      key_type = "ed25519";
      return absl::OkStatus();
    }
  } else {
    return absl::InvalidArgumentError(cat(key_path, " holds neither an RSA nor an Ed25519 key"));
  }
  ERR_clear_error();
  return absl::InternalError(cat("cannot derive the public key of ", key_path));
}

PreflightPlan preflight_plan(const JobConfig& job) {
  PreflightPlan plan;
  for (const DkimConfig& config : job.dkim) {
    DkimPublication publication;
    publication.domain = dns_question_name(config.domain);
    publication.selector = lower(config.selector);
    publication.key_path = config.key_path;
    if (absl::Status status =
            read_dkim_public_key(config.key_path, publication.key_type, publication.public_key);
        !status.ok()) {
      publication.key_error = std::string(status.message());
    }
    // RFC 8058 4: one-click needs both fields covered by a valid DKIM signature.
    publication.signs_list_unsubscribe =
        signs_header(config, "List-Unsubscribe") && signs_header(config, "List-Unsubscribe-Post");
    plan.dkim.push_back(std::move(publication));
  }
  plan.from_domain = dns_question_name(job.from_address.domain());
  plan.envelope_domain =
      dns_question_name(job.verp ? std::string_view(job.verp->domain) : job.envelope_from.domain());
  for (const JobConfig::Source& source : job.sources) {
    plan.sources.push_back(PreflightPlan::Source{source.name, source.address});
  }
  plan.list_unsubscribe_https = !job.list_unsubscribe.empty();
  plan.list_unsubscribe_mailto = !job.list_unsubscribe_mailto.empty();
  return plan;
}

// ---------------------------------------------------------------------------------------------
// The judges

namespace {

using Findings = std::vector<PreflightFinding>;

// What a DKIM key check found, for alignment.
enum class KeyState : std::uint8_t { matches, differs, unknown };

// What the SPF checks found for the sources, for alignment.
enum class SpfState : std::uint8_t { all_pass, not_all_pass, unknown, not_checked };

void add(Findings& findings, PreflightLevel level, const std::string& label, std::string text) {
  findings.push_back(PreflightFinding{level, label, std::move(text)});
}

// The published record against the key: every mismatch, or nothing when it matches.
std::vector<std::string> key_problems(const DkimPublication& publication,
                                      const DkimKeyRecord& record) {
  std::vector<std::string> problems;
  if (record.public_key.empty()) {
    problems.push_back("the key is revoked (empty p=, RFC 6376 3.6.1)");
  } else if (record.key_type != publication.key_type) {
    problems.push_back(cat("the published key is k=", record.key_type, " but ",
                           publication.key_path, " holds an ", publication.key_type, " key"));
  } else if (record.public_key != publication.public_key) {
    problems.push_back(cat("the published key does not match ", publication.key_path));
  }
  if (!record.hashes.empty() &&
      std::find(record.hashes.begin(), record.hashes.end(), "sha256") == record.hashes.end()) {
    problems.push_back("h= does not allow sha256, which hayate signs with");
  }
  if (std::none_of(record.services.begin(), record.services.end(), [](const std::string& service) {
        return service == "*" || service == "email";
      })) {
    problems.push_back("s= does not allow email");
  }
  return problems;
}

KeyState judge_dkim(const DkimPublication& publication, DnsFacts& facts, Findings& findings) {
  const std::string name = publication.record_name();
  const std::string label = cat("dkim ", name);
  if (!publication.key_error.empty()) {
    add(findings, PreflightLevel::warning, label, publication.key_error);
    return KeyState::differs;
  }
  const dns::TxtAnswer* answer = facts.txt(name);
  if (answer == nullptr || answer->outcome == dns::Outcome::temporary) {
    add(findings, PreflightLevel::unknown, label,
        cat("could not look up the key record: ", answer == nullptr ? "not asked" : answer->error));
    return KeyState::unknown;
  }
  if (answer->outcome != dns::Outcome::ok) {
    add(findings, PreflightLevel::warning, label,
        cat("no key is published (", answer->error,
            "); publish the TXT record that `hayate dkim "
            "keygen` printed for ",
            publication.key_path));
    return KeyState::differs;
  }
  std::vector<DkimKeyRecord> records;
  std::string first_error;
  for (const std::string& text : answer->records) {
    DkimKeyRecord record;
    std::string error;
    if (parse_dkim_key_record(text, record, error)) {
      records.push_back(std::move(record));
    } else if (first_error.empty()) {
      first_error = std::move(error);
    }
  }
  if (records.size() != 1) {
    add(findings, PreflightLevel::warning, label,
        records.empty()
            ? cat("the TXT record is no DKIM key record (RFC 6376 3.6.1): ", first_error)
            : cat(records.size(),
                  " key records are published; receivers may use any of them "
                  "(RFC 6376 3.6.2.2): keep one"));
    return KeyState::differs;
  }
  const std::vector<std::string> problems = key_problems(publication, records.front());
  for (const std::string& problem : problems) {
    add(findings, PreflightLevel::warning, label, problem);
  }
  if (!problems.empty()) return KeyState::differs;
  add(findings, PreflightLevel::ok, label,
      cat("the published ", publication.key_type, " key matches ", publication.key_path,
          records.front().testing ? " (t=y: receivers may treat it as a test)" : ""));
  return KeyState::matches;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) append(out, out.empty() ? "" : separator, item);
  return out;
}

// Without [[sources]]: only that the envelope domain has one SPF record.
void judge_spf_record(const std::string& domain, const std::string& label, DnsFacts& facts,
                      Findings& findings) {
  const dns::TxtAnswer* answer = facts.txt(domain);
  if (answer == nullptr || answer->outcome == dns::Outcome::temporary) {
    add(findings, PreflightLevel::unknown, label,
        cat("could not look up the SPF record: ", answer == nullptr ? "not asked" : answer->error));
    return;
  }
  std::string record;
  const std::size_t count =
      answer->outcome == dns::Outcome::ok ? select_spf_record(answer->records, record) : 0;
  if (count == 0) {
    add(findings, PreflightLevel::warning, label,
        cat(domain, " has no SPF record: receivers cannot tell which addresses may send its mail"));
  } else if (count > 1) {
    add(findings, PreflightLevel::warning, label,
        cat(domain, " has ", count, " SPF records: a permerror for every receiver (RFC 7208 4.5)"));
  } else {
    add(findings, PreflightLevel::ok, label,
        cat("\"", record,
            "\"; without [[sources]] the sending address is unknown, so whether "
            "it is authorized is not checked"));
  }
}

SpfState judge_spf(const PreflightPlan& plan, DnsFacts& facts, Findings& findings) {
  const std::string& domain = plan.envelope_domain;
  const std::string label = cat("spf ", domain);
  if (plan.sources.empty()) {
    judge_spf_record(domain, label, facts, findings);
    return SpfState::not_checked;
  }
  bool all_pass = true;
  bool any_unknown = false;
  for (const PreflightPlan::Source& source : plan.sources) {
    const std::string who = cat("[[sources]] ", source.name, " (", source.address, ")");
    dns::SocketAddress ip;
    const bool parsed = dns::SocketAddress::parse(source.address, 0, ip);
    HAYATE_ASSERT(parsed);  // the job loader keeps canonical IP literals only
    const SpfVerdict verdict = check_spf_host(ip, domain, facts);
    const std::string note = verdict.not_evaluated.empty()
                                 ? ""
                                 : cat("; not evaluated: ", join(verdict.not_evaluated, ", "));
    if (!verdict.complete || verdict.result == SpfResult::temperror) {
      any_unknown = true;
      add(findings, PreflightLevel::unknown, label,
          cat("could not evaluate SPF for ", who, ": ",
              verdict.complete ? verdict.reason : "answers are missing"));
    } else if (verdict.result == SpfResult::pass) {
      add(findings, PreflightLevel::ok, label, cat("authorizes ", who, ": ", verdict.reason, note));
    } else {
      all_pass = false;
      add(findings, PreflightLevel::warning, label,
          cat("does not authorize ", who, ": ", spf_result_name(verdict.result), " (",
              verdict.reason, ")", note));
    }
  }
  if (!all_pass) return SpfState::not_all_pass;
  return any_unknown ? SpfState::unknown : SpfState::all_pass;
}

// The DMARC record at one name, as a receiver takes it (RFC 7489 6.6.3).
struct DmarcLookup {
  enum class State : std::uint8_t { found, absent, several, invalid, unknown } state;
  DmarcRecord record;
  std::string detail;  // the error, for unknown and invalid; the count, for several
};

DmarcLookup look_up_dmarc(const std::string& name, DnsFacts& facts) {
  const dns::TxtAnswer* answer = facts.txt(name);
  if (answer == nullptr || answer->outcome == dns::Outcome::temporary) {
    return {DmarcLookup::State::unknown, {}, answer == nullptr ? "not asked" : answer->error};
  }
  if (answer->outcome != dns::Outcome::ok) return {DmarcLookup::State::absent, {}, ""};
  // Records that do not start with v=DMARC1 are not DMARC records: discarded.
  std::vector<std::string_view> records;
  for (const std::string& text : answer->records) {
    if (trim_front(text, whitespace_characters).starts_with("v=DMARC1")) records.push_back(text);
  }
  if (records.empty()) return {DmarcLookup::State::absent, {}, ""};
  if (records.size() > 1) return {DmarcLookup::State::several, {}, cat(records.size())};
  DmarcLookup lookup{DmarcLookup::State::found, {}, ""};
  std::string error;
  if (!parse_dmarc_record(records.front(), lookup.record, error)) {
    return {DmarcLookup::State::invalid, {}, std::move(error)};
  }
  return lookup;
}

std::string describe_policy(const DmarcRecord& record) {
  return cat("p=", record.policy,
             " sp=", record.subdomain_policy.empty() ? record.policy : record.subdomain_policy,
             " adkim=", record.strict_dkim ? "s" : "r", " aspf=", record.strict_spf ? "s" : "r",
             record.percent == 100 ? "" : cat(" pct=", record.percent));
}

// The From domain's DMARC record, else (RFC 7489 6.6.3) its organizational domain's. Returns the
// policy found, for alignment.
std::optional<DmarcRecord> judge_dmarc(const std::string& from_domain, DnsFacts& facts,
                                       Findings& findings) {
  const std::string label = cat("dmarc ", from_domain);
  const std::string name = cat("_dmarc.", from_domain);
  const std::string org_domain(organizational_domain(from_domain));
  DmarcLookup lookup = look_up_dmarc(name, facts);
  std::string where = name;
  if (lookup.state == DmarcLookup::State::absent && org_domain != from_domain) {
    where = cat("_dmarc.", org_domain);
    lookup = look_up_dmarc(where, facts);
  }
  switch (lookup.state) {
    case DmarcLookup::State::found:
      add(findings, PreflightLevel::ok, label,
          where == name ? cat(where, ": ", describe_policy(lookup.record))
                        : cat("no record at ", name, "; the organizational domain's ", where,
                              " applies: ", describe_policy(lookup.record)));
      return lookup.record;
    case DmarcLookup::State::absent:
      add(findings, PreflightLevel::warning, label,
          cat("no DMARC record at ", name, where == name ? "" : cat(" nor at ", where),
              ": large mailbox providers require one of bulk senders (p=none at least)"));
      break;
    case DmarcLookup::State::several:
      add(findings, PreflightLevel::warning, label,
          cat(where, " has ", lookup.detail,
              " DMARC records: receivers apply none "
              "(RFC 7489 6.6.3)"));
      break;
    case DmarcLookup::State::invalid:
      add(findings, PreflightLevel::warning, label,
          cat("receivers ignore the record at ", where, ": ", lookup.detail));
      break;
    case DmarcLookup::State::unknown:
      add(findings, PreflightLevel::unknown, label,
          cat("could not look up ", where, ": ", lookup.detail));
      break;
  }
  return std::nullopt;
}

// RFC 7489 3.1 and 4.2: DMARC passes when DKIM passes for an aligned d=, or SPF passes for an
// aligned envelope domain. Without a record, relaxed alignment (the default) is checked.
void judge_alignment(const PreflightPlan& plan, const std::vector<KeyState>& keys, SpfState spf,
                     const DmarcRecord* dmarc, Findings& findings) {
  HAYATE_ASSERT(keys.size() == plan.dkim.size());
  const std::string label = cat("dmarc ", plan.from_domain);
  const bool strict_dkim = dmarc != nullptr && dmarc->strict_dkim;
  const bool strict_spf = dmarc != nullptr && dmarc->strict_spf;
  const std::string dkim_scope =
      strict_dkim ? plan.from_domain : cat("*.", organizational_domain(plan.from_domain));
  std::string dkim_aligned;
  std::string dkim_broken;
  bool dkim_unknown = false;
  for (std::size_t i = 0; i < plan.dkim.size(); ++i) {
    if (!domains_align(plan.dkim[i].domain, plan.from_domain, strict_dkim)) continue;
    if (keys[i] == KeyState::matches && dkim_aligned.empty()) dkim_aligned = plan.dkim[i].domain;
    if (keys[i] == KeyState::differs && dkim_broken.empty()) dkim_broken = plan.dkim[i].domain;
    dkim_unknown = dkim_unknown || keys[i] == KeyState::unknown;
  }
  const std::string& envelope = plan.envelope_domain;
  const bool envelope_aligned = domains_align(envelope, plan.from_domain, strict_spf);
  const bool spf_aligned = envelope_aligned && spf == SpfState::all_pass;
  if (!dkim_aligned.empty() || spf_aligned) {
    add(findings, PreflightLevel::ok, label,
        cat("mail aligns (RFC 7489 3.1)",
            dkim_aligned.empty() ? "" : cat(": DKIM d=", dkim_aligned),
            spf_aligned ? cat(dkim_aligned.empty() ? ": " : "; ", "SPF of ", envelope,
                              " passes for every source")
                        : ""));
    return;
  }
  if (dkim_unknown || (envelope_aligned && spf == SpfState::unknown)) {
    add(findings, PreflightLevel::unknown, label,
        "could not tell whether mail aligns: a lookup failed");
    return;
  }
  if (envelope_aligned && spf == SpfState::not_checked) {
    add(findings, PreflightLevel::ok, label,
        cat("the envelope domain ", envelope,
            " aligns; SPF alignment holds if its record "
            "authorizes the sending address (not checked without [[sources]])"));
    return;
  }
  const std::string dkim_reason =
      plan.dkim.empty()     ? std::string("no [[dkim]] signer")
      : dkim_broken.empty() ? cat("no [[dkim]] signer has d= in ", dkim_scope)
                            : cat("the published key of d=", dkim_broken, " does not verify");
  const std::string spf_reason =
      !envelope_aligned
          ? cat("the envelope domain ", envelope, " is not in ",
                strict_spf ? plan.from_domain : cat("*.", organizational_domain(plan.from_domain)))
          : cat("SPF of ", envelope, " does not pass for every source");
  add(findings, PreflightLevel::warning, label,
      cat("mail does not align (RFC 7489 3.1): ", dkim_reason, ", and ", spf_reason));
}

// Bounces come back to the envelope domain: it needs an MX (RFC 5321 5.1 allows the address
// record instead, which some receivers do not use for bounces).
void judge_bounce_mx(const std::string& domain, DnsFacts& facts, Findings& findings) {
  const std::string label = cat("bounce domain ", domain);
  const dns::MxAnswer* answer = facts.mx(domain);
  if (answer == nullptr || answer->outcome == dns::Outcome::temporary) {
    add(findings, PreflightLevel::unknown, label,
        cat("could not look up the MX: ", answer == nullptr ? "not asked" : answer->error));
  } else if (answer->outcome == dns::Outcome::null_mx) {
    add(findings, PreflightLevel::warning, label,
        "has a null MX (RFC 7505): it accepts no mail, so bounces are lost");
  } else if (answer->outcome != dns::Outcome::ok) {
    add(findings, PreflightLevel::warning, label,
        cat("has no MX and no address (", answer->error, "): bounces are lost"));
  } else if (answer->implicit) {
    add(findings, PreflightLevel::warning, label,
        "has no MX record; bounces go to its address record (RFC 5321 5.1): publish an MX");
  } else {
    std::vector<std::string> hosts;
    for (const dns::MxHost& host : answer->hosts) hosts.push_back(host.name);
    add(findings, PreflightLevel::ok, label, cat("MX ", join(hosts, ", ")));
  }
}

// RFC 8058: List-Unsubscribe with an https URI, List-Unsubscribe-Post: List-Unsubscribe=One-Click
// (the job's list_unsubscribe writes both), and a DKIM signature covering the two.
void judge_list_unsubscribe(const PreflightPlan& plan, Findings& findings) {
  const std::string label = "list-unsubscribe";
  if (!plan.list_unsubscribe_https) {
    add(findings, PreflightLevel::warning, label,
        cat("[campaign] list_unsubscribe is not set",
            plan.list_unsubscribe_mailto ? " (list_unsubscribe_mailto alone is no one-click)" : "",
            ": bulk mail needs one-click unsubscribe (RFC 8058), an https URL"));
    return;
  }
  if (std::none_of(plan.dkim.begin(), plan.dkim.end(), [](const DkimPublication& publication) {
        return publication.signs_list_unsubscribe;
      })) {
    add(findings, PreflightLevel::warning, label,
        "no [[dkim]] signer covers List-Unsubscribe and List-Unsubscribe-Post: one-click needs "
        "them signed (RFC 8058 4)");
    return;
  }
  add(findings, PreflightLevel::ok, label,
      "one-click (RFC 8058): an https URI with List-Unsubscribe-Post, signed by DKIM");
}

}  // namespace

std::vector<PreflightFinding> judge_preflight(const PreflightPlan& plan, DnsFacts& facts) {
  Findings findings;
  std::vector<KeyState> keys;
  if (plan.dkim.empty()) {
    add(findings, PreflightLevel::warning, "dkim",
        "the job has no [[dkim]] signer: mail goes out unsigned");
  }
  for (const DkimPublication& publication : plan.dkim) {
    keys.push_back(judge_dkim(publication, facts, findings));
  }
  const SpfState spf = judge_spf(plan, facts, findings);
  const std::optional<DmarcRecord> dmarc = judge_dmarc(plan.from_domain, facts, findings);
  judge_alignment(plan, keys, spf, dmarc ? &*dmarc : nullptr, findings);
  judge_bounce_mx(plan.envelope_domain, facts, findings);
  judge_list_unsubscribe(plan, findings);
  return findings;
}

// ---------------------------------------------------------------------------------------------
// The lookups, in rounds on a shard of their own

namespace {

// Rounds of lookups at most: SPF's 10 lookups, nested, and the organizational DMARC record
// need fewer. Past it, what is still missing reads "timeout".
constexpr std::uint32_t preflight_rounds_max = 32;

// Judges, looks up every question the judges asked without an answer, and when all are in,
// judges again: until no question is left, or the deadline.
class PreflightHandler final : public ShardHandler {
 public:
  PreflightHandler(Shard& shard, const PreflightPlan& plan, dns::ResolverOptions options,
                   std::int64_t timeout_ms, DnsFacts& facts)
      : plan_(plan),
        options_(std::move(options)),
        timeout_ms_(timeout_ms),
        facts_(facts),
        watcher_(shard) {}

  const std::string& error() const { return error_; }

  void on_start(Shard& shard) override {
    deadline_ms_ = shard.now_ms() + timeout_ms_;
    resolver_ = dns::Resolver::create(options_, watcher_, error_);
    if (resolver_ == nullptr) return;
    watcher_.set_resolver(resolver_.get());
    next_round();
  }

  void on_wake(Shard&) override {}

  void on_tick(Shard&) override {
    if (resolver_ != nullptr) resolver_->on_tick();
  }

  std::int64_t next_wakeup_ms(Shard& shard) override {
    const std::int64_t remaining_ms = std::max<std::int64_t>(0, deadline_ms_ - shard.now_ms());
    const std::int64_t dns_ms = resolver_ != nullptr ? resolver_->next_timeout_ms() : -1;
    return dns_ms >= 0 ? std::min(dns_ms, remaining_ms) : remaining_ms;
  }

  bool finished(Shard& shard) override {
    if (resolver_ == nullptr) return true;
    if (pending_ > 0 && shard.now_ms() < deadline_ms_) return false;
    watcher_.set_resolver(nullptr);
    resolver_.reset();  // drops the callbacks of lookups still in flight
    return true;
  }

 private:
  // Runs inside on_start or inside a resolver callback (which may ask again).
  void next_round() {
    HAYATE_ASSERT(pending_ == 0);
    facts_.clear_missing();
    judge_preflight(plan_, facts_);
    if (++rounds_ > preflight_rounds_max) return;
    const std::vector<DnsQuestion> questions = facts_.missing();
    pending_ = questions.size();
    for (const DnsQuestion& question : questions) {
      const std::string& name = question.name;
      switch (question.type) {
        case DnsQuestionType::txt:
          resolver_->resolve_txt(name, [this, name](const dns::TxtAnswer& answer) {
            facts_.set_txt(name, answer);
            answered();
          });
          break;
        case DnsQuestionType::host:
          resolver_->resolve_host(name, 0, [this, name](const dns::HostAnswer& answer) {
            facts_.set_host(name, answer);
            answered();
          });
          break;
        case DnsQuestionType::mx:
          resolver_->resolve_mx(name, 25, [this, name](const dns::MxAnswer& answer) {
            facts_.set_mx(name, answer);
            answered();
          });
          break;
      }
    }
  }

  void answered() {
    HAYATE_ASSERT(pending_ > 0);
    if (--pending_ == 0) next_round();
  }

  const PreflightPlan& plan_;
  const dns::ResolverOptions options_;
  const std::int64_t timeout_ms_;
  DnsFacts& facts_;
  dns::RingSocketWatcher watcher_;  // declared before the resolver, which calls it as it dies
  std::unique_ptr<dns::Resolver> resolver_;
  std::string error_;
  std::int64_t deadline_ms_ = 0;
  std::size_t pending_ = 0;
  std::uint32_t rounds_ = 0;
};

}  // namespace

absl::StatusOr<std::vector<PreflightFinding>> run_preflight(
    const PreflightPlan& plan, const std::vector<dns::SocketAddress>& servers,
    std::uint32_t timeout_ms) {
  DnsFacts facts;
  {
    Shard shard(0);
    if (absl::Status status = shard.init(); !status.ok()) return status;
    dns::ResolverOptions options;
    options.servers = servers;
    // As for FCrDNS: tries of 1 s, 2 s, 4 s, the deadline cutting the last.
    options.timeout_ms = std::min<std::uint32_t>(timeout_ms, 1'000);
    options.tries = 3;
    PreflightHandler handler(shard, plan, std::move(options), timeout_ms, facts);
    shard.run(handler);
    if (!handler.error().empty()) return absl::UnavailableError(handler.error());
  }
  // What is still unanswered failed for now. A failed answer raises no new question, so the
  // second judgement asks nothing.
  for (std::uint32_t round = 0;; ++round) {
    HAYATE_ASSERT(round < 3);
    facts.clear_missing();
    std::vector<PreflightFinding> findings = judge_preflight(plan, facts);
    if (facts.missing().empty()) return findings;
    const std::vector<DnsQuestion> missing = facts.missing();
    for (const DnsQuestion& question : missing) facts.set(question, "timeout");
  }
}

int check_preflight(const JobConfig& job, bool strict) {
  std::vector<dns::SocketAddress> servers;
  for (const Endpoint& server : job.dns_servers) {
    dns::SocketAddress address;
    const bool parsed = dns::SocketAddress::parse(server.host, server.port, address);
    HAYATE_ASSERT(parsed);  // the job loader takes IP literals only in [dns] servers
    servers.push_back(address);
  }
  absl::StatusOr<std::vector<PreflightFinding>> findings =
      run_preflight(preflight_plan(job), servers, preflight_check_timeout_ms);
  if (!findings.ok()) {
    std::fprintf(stderr, "hayate: warning: could not run the deliverability checks: %s\n",
                 std::string(findings.status().message()).c_str());
    return strict ? exit_code::temporary : exit_code::ok;
  }
  bool any_warning = false;
  bool any_unknown = false;
  for (const PreflightFinding& finding : *findings) {
    if (finding.level == PreflightLevel::ok) {
      std::printf("%s: %s\n", finding.label.c_str(), finding.text.c_str());
      continue;
    }
    any_warning = any_warning || finding.level == PreflightLevel::warning;
    any_unknown = any_unknown || finding.level == PreflightLevel::unknown;
    std::fprintf(stderr, "hayate: warning: %s: %s\n", finding.label.c_str(), finding.text.c_str());
  }
  if (!strict) return exit_code::ok;
  if (any_warning) return exit_code::data_error;
  return any_unknown ? exit_code::temporary : exit_code::ok;
}

int combine_check_codes(int first, int second) {
  if (first == exit_code::data_error || second == exit_code::data_error) {
    return exit_code::data_error;
  }
  return first != exit_code::ok ? first : second;
}

}  // namespace hayate::campaign::run
