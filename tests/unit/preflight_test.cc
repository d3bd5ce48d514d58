// Tests for campaign/run/preflight: the record parsers, alignment, and the findings of the whole
// pre-flight from answers in a table (no DNS here; tests/integration/test_preflight.sh asks
// dnsmasq).
#include "campaign/run/preflight.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "engine/strings.h"

namespace hayate::campaign {
namespace {

TEST(TagList, NamesValuesAndWhitespace) {
  std::vector<std::pair<std::string, std::string>> tags;
  std::string error;
  ASSERT_TRUE(parse_tag_list(" v=DKIM1 ;k = rsa;\tp=AB CD ;", tags, error)) << error;
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"v", "DKIM1"}, {"k", "rsa"}, {"p", "AB CD"}};
  EXPECT_EQ(tags, expected);
  EXPECT_FALSE(parse_tag_list("v=DKIM1; p=a; p=b", tags, error));
  EXPECT_EQ(error, "tag p= appears twice");
  EXPECT_FALSE(parse_tag_list("v=DKIM1;; p=a", tags, error));
  EXPECT_FALSE(parse_tag_list("v=DKIM1; novalue", tags, error));
  EXPECT_FALSE(parse_tag_list("", tags, error));
}

TEST(DkimKeyRecord, ParsesTheTagsThatMatter) {
  DkimKeyRecord record;
  std::string error;
  ASSERT_TRUE(
      parse_dkim_key_record("v=DKIM1; k=Ed25519; h=sha256; t=y:s; p=AAEC Aw==", record, error))
      << error;
  EXPECT_EQ(record.key_type, "ed25519");
  EXPECT_EQ(record.public_key, std::string("\x00\x01\x02\x03", 4));
  EXPECT_EQ(record.hashes, std::vector<std::string>{"sha256"});
  EXPECT_TRUE(record.testing);
  // v= is optional; k= defaults to rsa; an empty p= is a revoked key.
  ASSERT_TRUE(parse_dkim_key_record("p=", record, error)) << error;
  EXPECT_EQ(record.key_type, "rsa");
  EXPECT_TRUE(record.public_key.empty());
}

TEST(DkimKeyRecord, RefusesWhatIsNoKeyRecord) {
  DkimKeyRecord record;
  std::string error;
  EXPECT_FALSE(parse_dkim_key_record("v=DKIM2; p=AAAA", record, error));
  EXPECT_EQ(error, "v=DKIM2 is not DKIM1");
  EXPECT_FALSE(parse_dkim_key_record("k=rsa; v=DKIM1; p=AAAA", record, error));
  EXPECT_EQ(error, "v= is not the first tag");
  EXPECT_FALSE(parse_dkim_key_record("v=DKIM1; k=rsa", record, error));
  EXPECT_EQ(error, "no p= tag");
  EXPECT_FALSE(parse_dkim_key_record("v=DKIM1; p=!!!!", record, error));
  EXPECT_EQ(error, "p= is not base64");
  EXPECT_FALSE(parse_dkim_key_record("v=spf1 -all", record, error));
}

TEST(DmarcRecord, PolicyAndAlignmentModes) {
  DmarcRecord record;
  std::string error;
  ASSERT_TRUE(parse_dmarc_record("v=DMARC1; p=Reject; sp=none; adkim=s; pct=50; rua=mailto:x@y",
                                 record, error))
      << error;
  EXPECT_EQ(record.policy, "reject");
  EXPECT_EQ(record.subdomain_policy, "none");
  EXPECT_TRUE(record.strict_dkim);
  EXPECT_FALSE(record.strict_spf);
  EXPECT_EQ(record.percent, 50u);
  EXPECT_FALSE(parse_dmarc_record("v=DMARC1; rua=mailto:x@y", record, error));
  EXPECT_EQ(error, "it has no p= tag");
  EXPECT_FALSE(parse_dmarc_record("v=DMARC1; p=block", record, error));
  EXPECT_EQ(error, "p=block is not a policy");
  EXPECT_FALSE(parse_dmarc_record("p=none; v=DMARC1", record, error));
  EXPECT_EQ(error, "it does not start with v=DMARC1");
}

TEST(Alignment, OrganizationalDomainIsTheLastTwoLabels) {
  EXPECT_EQ(organizational_domain("news.mail.example.com"), "example.com");
  EXPECT_EQ(organizational_domain("example.com."), "example.com");
  EXPECT_EQ(organizational_domain("localhost"), "localhost");
  EXPECT_TRUE(domains_align("bounce.example.com", "Example.COM", false));
  EXPECT_FALSE(domains_align("bounce.example.com", "example.com", true));
  EXPECT_TRUE(domains_align("example.com.", "EXAMPLE.com", true));
  EXPECT_FALSE(domains_align("example.net", "example.com", false));
}

// ---------------------------------------------------------------------------------------------
// The whole pre-flight over a table of answers

dns::TxtAnswer txt(std::vector<std::string> records) {
  return dns::TxtAnswer{dns::Outcome::ok, std::move(records), ""};
}

const dns::TxtAnswer txt_nxdomain{dns::Outcome::no_domain, {}, "NXDOMAIN"};

dns::MxAnswer mx_of(const char* host) {
  dns::MxAnswer answer;
  answer.outcome = dns::Outcome::ok;
  answer.hosts.push_back(dns::MxHost{host, 10, {}});
  return answer;
}

const std::string rsa_spki = std::string("\x30\x82\x01\x22 an RSA SubjectPublicKeyInfo", 33);
const std::string ed25519_key(32, '\x07');

class PreflightTest : public ::testing::Test {
 protected:
  void SetUp() override {
    plan_.dkim.push_back(
        DkimPublication{"example.com", "s1", "keys/s1.pem", "rsa", rsa_spki, "", true});
    plan_.from_domain = "example.com";
    plan_.envelope_domain = "bounce.example.com";
    plan_.sources.push_back(PreflightPlan::Source{"mta1", "192.0.2.1"});
    plan_.list_unsubscribe_https = true;
    facts_.set_txt("s1._domainkey.example.com",
                   txt({cat("v=DKIM1; k=rsa; p=", absl::Base64Escape(rsa_spki))}));
    facts_.set_txt("bounce.example.com", txt({"v=spf1 ip4:192.0.2.0/24 -all"}));
    facts_.set_txt("_dmarc.example.com", txt({"v=DMARC1; p=quarantine"}));
    facts_.set_mx("bounce.example.com", mx_of("mx.example.com"));
  }

  // One line per finding: "ok|warning|unknown LABEL: TEXT".
  std::vector<std::string> judge() {
    static const char* const levels[] = {"ok", "warning", "unknown"};
    std::vector<std::string> lines;
    for (const PreflightFinding& finding : judge_preflight(plan_, facts_)) {
      lines.push_back(
          cat(levels[static_cast<int>(finding.level)], " ", finding.label, ": ", finding.text));
    }
    return lines;
  }

  PreflightPlan plan_;
  DnsFacts facts_;
};

TEST_F(PreflightTest, AllWell) {
  const std::vector<std::string> expected = {
      "ok dkim s1._domainkey.example.com: the published rsa key matches keys/s1.pem",
      "ok spf bounce.example.com: authorizes [[sources]] mta1 (192.0.2.1): ip4:192.0.2.0/24 in "
      "bounce.example.com",
      "ok dmarc example.com: _dmarc.example.com: p=quarantine sp=quarantine adkim=r aspf=r",
      "ok dmarc example.com: mail aligns (RFC 7489 3.1): DKIM d=example.com; SPF of "
      "bounce.example.com passes for every source",
      "ok bounce domain bounce.example.com: MX mx.example.com",
      "ok list-unsubscribe: one-click (RFC 8058): an https URI with List-Unsubscribe-Post, "
      "signed by DKIM"};
  EXPECT_EQ(judge(), expected);
  EXPECT_TRUE(facts_.missing().empty());
}

TEST_F(PreflightTest, TheFirstRoundAsksEverythingItCanSee) {
  DnsFacts empty;
  judge_preflight(plan_, empty);
  const std::vector<DnsQuestion> expected = {{DnsQuestionType::txt, "s1._domainkey.example.com"},
                                             {DnsQuestionType::txt, "bounce.example.com"},
                                             {DnsQuestionType::txt, "_dmarc.example.com"},
                                             {DnsQuestionType::mx, "bounce.example.com"}};
  EXPECT_EQ(empty.missing(), expected);
}

TEST_F(PreflightTest, KeyMismatches) {
  facts_.set_txt("s1._domainkey.example.com",
                 txt({cat("v=DKIM1; k=rsa; p=", absl::Base64Escape("another key"))}));
  EXPECT_EQ(judge()[0],
            "warning dkim s1._domainkey.example.com: the published key does not match keys/s1.pem");
  facts_.set_txt("s1._domainkey.example.com", txt({"v=DKIM1; k=rsa; p="}));
  EXPECT_EQ(
      judge()[0],
      "warning dkim s1._domainkey.example.com: the key is revoked (empty p=, RFC 6376 3.6.1)");
  facts_.set_txt("s1._domainkey.example.com",
                 txt({cat("v=DKIM1; k=ed25519; p=", absl::Base64Escape(ed25519_key))}));
  EXPECT_EQ(judge()[0],
            "warning dkim s1._domainkey.example.com: the published key is k=ed25519 but "
            "keys/s1.pem holds an rsa key");
  facts_.set_txt("s1._domainkey.example.com", txt_nxdomain);
  const std::vector<std::string> lines = judge();
  EXPECT_EQ(lines[0],
            "warning dkim s1._domainkey.example.com: no key is published (NXDOMAIN); publish the "
            "TXT record that `hayate dkim keygen` printed for keys/s1.pem");
  // SPF still aligns the mail.
  EXPECT_EQ(lines[3],
            "ok dmarc example.com: mail aligns (RFC 7489 3.1): SPF of bounce.example.com passes "
            "for every source");
}

TEST_F(PreflightTest, Ed25519KeyMatchesItsRawKey) {
  plan_.dkim[0].key_type = "ed25519";
  plan_.dkim[0].public_key = ed25519_key;
  facts_.set_txt("s1._domainkey.example.com",
                 txt({cat("v=DKIM1; k=ed25519; p=", absl::Base64Escape(ed25519_key))}));
  EXPECT_EQ(judge()[0],
            "ok dkim s1._domainkey.example.com: the published ed25519 key matches "
            "keys/s1.pem");
}

TEST_F(PreflightTest, DmarcFallsBackToTheOrganizationalDomain) {
  plan_.from_domain = "news.example.com";
  facts_.set_txt("_dmarc.news.example.com", txt_nxdomain);
  facts_.set_txt("_dmarc.example.com", txt({"v=DMARC1; p=reject; sp=quarantine; aspf=s"}));
  const std::vector<std::string> lines = judge();
  EXPECT_EQ(lines[2],
            "ok dmarc news.example.com: no record at _dmarc.news.example.com; the organizational "
            "domain's _dmarc.example.com applies: p=reject sp=quarantine adkim=r aspf=s");
  // Relaxed DKIM alignment: d=example.com covers news.example.com; strict SPF does not.
  EXPECT_EQ(lines[3], "ok dmarc news.example.com: mail aligns (RFC 7489 3.1): DKIM d=example.com");
}

TEST_F(PreflightTest, NoDmarcAndNoAlignment) {
  facts_.set_txt("_dmarc.example.com", txt({"some other record"}));
  plan_.dkim[0].domain = "esp.example.net";
  plan_.envelope_domain = "bounces.esp.example.net";
  facts_.set_txt("s1._domainkey.esp.example.net",
                 txt({cat("v=DKIM1; p=", absl::Base64Escape(rsa_spki))}));
  facts_.set_txt("bounces.esp.example.net", txt({"v=spf1 ip4:192.0.2.1 -all"}));
  facts_.set_mx("bounces.esp.example.net", mx_of("mx.esp.example.net"));
  const std::vector<std::string> lines = judge();
  EXPECT_EQ(lines[2],
            "warning dmarc example.com: no DMARC record at _dmarc.example.com: large mailbox "
            "providers require one of bulk senders (p=none at least)");
  EXPECT_EQ(lines[3],
            "warning dmarc example.com: mail does not align (RFC 7489 3.1): no [[dkim]] signer "
            "has d= in *.example.com, and the envelope domain bounces.esp.example.net is not in "
            "*.example.com");
}

TEST_F(PreflightTest, SpfFailureAndNoSources) {
  facts_.set_txt("bounce.example.com", txt({"v=spf1 ip4:198.51.100.0/24 ~all"}));
  EXPECT_EQ(judge()[1],
            "warning spf bounce.example.com: does not authorize [[sources]] mta1 (192.0.2.1): "
            "softfail (~all in bounce.example.com)");
  plan_.sources.clear();
  EXPECT_EQ(judge()[1],
            "ok spf bounce.example.com: \"v=spf1 ip4:198.51.100.0/24 ~all\"; without [[sources]] "
            "the sending address is unknown, so whether it is authorized is not checked");
  facts_.set_txt("bounce.example.com", txt({"v=DKIM1; p="}));
  EXPECT_EQ(judge()[1],
            "warning spf bounce.example.com: bounce.example.com has no SPF record: receivers "
            "cannot tell which addresses may send its mail");
}

TEST_F(PreflightTest, BounceDomainWithoutMx) {
  dns::MxAnswer implicit = mx_of("bounce.example.com");
  implicit.implicit = true;
  facts_.set_mx("bounce.example.com", implicit);
  EXPECT_EQ(judge()[4],
            "warning bounce domain bounce.example.com: has no MX record; bounces go to its "
            "address record (RFC 5321 5.1): publish an MX");
  facts_.set_mx("bounce.example.com", dns::MxAnswer{dns::Outcome::null_mx, {}, false, "null"});
  EXPECT_EQ(judge()[4],
            "warning bounce domain bounce.example.com: has a null MX (RFC 7505): it accepts no "
            "mail, so bounces are lost");
}

TEST_F(PreflightTest, ListUnsubscribe) {
  plan_.list_unsubscribe_https = false;
  plan_.list_unsubscribe_mailto = true;
  EXPECT_EQ(judge().back(),
            "warning list-unsubscribe: [campaign] list_unsubscribe is not set "
            "(list_unsubscribe_mailto alone is no one-click): bulk mail needs one-click "
            "unsubscribe (RFC 8058), an https URL");
  plan_.list_unsubscribe_https = true;
  plan_.dkim[0].signs_list_unsubscribe = false;
  EXPECT_EQ(judge().back(),
            "warning list-unsubscribe: no [[dkim]] signer covers List-Unsubscribe and "
            "List-Unsubscribe-Post: one-click needs them signed (RFC 8058 4)");
}

TEST_F(PreflightTest, FailedLookupsAreUnknown) {
  for (const char* name :
       {"s1._domainkey.example.com", "bounce.example.com", "_dmarc.example.com"}) {
    facts_.set(DnsQuestion{DnsQuestionType::txt, name}, "SERVFAIL");
  }
  facts_.set(DnsQuestion{DnsQuestionType::mx, "bounce.example.com"}, "timeout");
  const std::vector<std::string> expected = {
      "unknown dkim s1._domainkey.example.com: could not look up the key record: SERVFAIL",
      "unknown spf bounce.example.com: could not evaluate SPF for [[sources]] mta1 (192.0.2.1): "
      "could not look up the TXT records of bounce.example.com: SERVFAIL",
      "unknown dmarc example.com: could not look up _dmarc.example.com: SERVFAIL",
      "unknown dmarc example.com: could not tell whether mail aligns: a lookup failed",
      "unknown bounce domain bounce.example.com: could not look up the MX: timeout",
      "ok list-unsubscribe: one-click (RFC 8058): an https URI with List-Unsubscribe-Post, "
      "signed by DKIM"};
  EXPECT_EQ(judge(), expected);
}

TEST(CheckCodes, DataErrorWins) {
  EXPECT_EQ(combine_check_codes(0, 0), 0);
  EXPECT_EQ(combine_check_codes(75, 0), 75);
  EXPECT_EQ(combine_check_codes(0, 75), 75);
  EXPECT_EQ(combine_check_codes(75, 65), 65);
  EXPECT_EQ(combine_check_codes(65, 75), 65);
}

TEST(DkimPublicKey, MissingFile) {
  std::string type;
  std::string key;
  EXPECT_FALSE(read_dkim_public_key("/nonexistent/key.pem", type, key).ok());
}

}  // namespace
}  // namespace hayate::campaign
