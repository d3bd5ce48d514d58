// Tests for campaign/run/spf: RFC 7208 evaluation over answers from a table (no DNS here;
// tests/integration/test_preflight.sh asks dnsmasq).
#include "campaign/run/spf.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/strings.h"

namespace hayate::campaign {
namespace {

dns::SocketAddress ip(const char* text) {
  dns::SocketAddress address;
  EXPECT_TRUE(dns::SocketAddress::parse(text, 0, address)) << text;
  return address;
}

dns::TxtAnswer txt(std::vector<std::string> records) {
  return dns::TxtAnswer{dns::Outcome::ok, std::move(records), ""};
}

dns::HostAnswer host(std::vector<const char*> addresses) {
  dns::HostAnswer answer{dns::Outcome::ok, {}, ""};
  for (const char* text : addresses) answer.addresses.push_back(ip(text));
  return answer;
}

dns::MxAnswer mx(std::vector<std::pair<const char*, std::vector<const char*>>> hosts) {
  dns::MxAnswer answer;
  answer.outcome = dns::Outcome::ok;
  std::uint16_t preference = 10;
  for (const auto& [name, addresses] : hosts) {
    answer.hosts.push_back(dns::MxHost{name, preference, host(addresses).addresses});
    preference += 10;
  }
  return answer;
}

const dns::TxtAnswer nxdomain{dns::Outcome::no_domain, {}, "NXDOMAIN"};

class SpfTest : public ::testing::Test {
 protected:
  // "pass: ip4:192.0.2.0/24 in example.com", with " [not evaluated: ...]" when some were.
  std::string check(const char* address, const char* domain = "example.com") {
    const SpfVerdict verdict = check_spf_host(ip(address), domain, facts_);
    EXPECT_TRUE(verdict.complete) << verdict.reason;
    std::string out = cat(spf_result_name(verdict.result), ": ", verdict.reason);
    for (const std::string& term : verdict.not_evaluated)
      append(out, " [not evaluated: ", term, "]");
    return out;
  }

  DnsFacts facts_;
};

TEST_F(SpfTest, Ip4AndIp6WithPrefixes) {
  facts_.set_txt("example.com",
                 txt({"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ip4:198.51.100.7 -all"}));
  EXPECT_EQ(check("192.0.2.77"), "pass: ip4:192.0.2.0/24 in example.com");
  EXPECT_EQ(check("198.51.100.7"), "pass: ip4:198.51.100.7 in example.com");
  EXPECT_EQ(check("198.51.100.8"), "fail: -all in example.com");
  EXPECT_EQ(check("2001:db8:1::5"), "pass: ip6:2001:db8::/32 in example.com");
  EXPECT_EQ(check("2001:db9::5"), "fail: -all in example.com");
}

TEST_F(SpfTest, OddPrefixLengths) {
  facts_.set_txt("example.com", txt({"v=spf1 ip4:192.0.2.128/25 ip4:10.0.0.0/0 ~all"}));
  EXPECT_EQ(check("192.0.2.200"), "pass: ip4:192.0.2.128/25 in example.com");
  EXPECT_EQ(check("192.0.2.100"), "pass: ip4:10.0.0.0/0 in example.com");
  facts_.set_txt("example.org", txt({"v=spf1 ip4:192.0.2.128/25 ~all"}));
  EXPECT_EQ(check("192.0.2.127", "example.org"), "softfail: ~all in example.org");
}

TEST_F(SpfTest, QualifiersAndTheDefault) {
  facts_.set_txt("a.example", txt({"v=spf1 ?all"}));
  facts_.set_txt("b.example", txt({"v=spf1 ip4:192.0.2.1"}));
  facts_.set_txt("c.example", txt({"V=SPF1 +IP4:192.0.2.9 -ALL"}));  // case does not matter
  EXPECT_EQ(check("192.0.2.9", "a.example"), "neutral: ?all in a.example");
  EXPECT_EQ(check("192.0.2.9", "b.example"),
            "neutral: no mechanism of b.example matched (the default is neutral)");
  EXPECT_EQ(check("192.0.2.9", "c.example"), "pass: +IP4:192.0.2.9 in c.example");
}

TEST_F(SpfTest, RecordSelection) {
  facts_.set_txt("none.example", txt({"google-site-verification=abc", "v=spf10 -all"}));
  facts_.set_txt("two.example", txt({"v=spf1 -all", "v=spf1 +all"}));
  facts_.set_txt("gone.example", nxdomain);
  facts_.set_txt("down.example", dns::TxtAnswer{dns::Outcome::temporary, {}, "SERVFAIL"});
  EXPECT_EQ(check("192.0.2.1", "none.example"), "none: none.example has no SPF record");
  EXPECT_EQ(check("192.0.2.1", "two.example"),
            "permerror: two.example has 2 SPF records (RFC 7208 4.5: one)");
  EXPECT_EQ(check("192.0.2.1", "gone.example"), "none: gone.example has no SPF record");
  EXPECT_EQ(check("192.0.2.1", "down.example"),
            "temperror: could not look up the TXT records of down.example: SERVFAIL");
  std::string record;
  EXPECT_EQ(select_spf_record({"v=spf1", "x"}, record), 1u);
  EXPECT_EQ(record, "v=spf1");
}

TEST_F(SpfTest, SyntaxErrorsAnywhereArePermerrors) {
  for (const char* record :
       {"v=spf1 -all ip4:300.0.0.1", "v=spf1 ip4:192.0.2.0/33", "v=spf1 foo:bar", "v=spf1 include",
        "v=spf1 a/", "v=spf1 mx//129", "v=spf1 ip6:192.0.2.1",
        "v=spf1 redirect=a.example "
        "redirect=b.example",
        "v=spf1 all:x", "v=spf1 ip4:192.0.2.0/024"}) {
    facts_.set_txt("example.com", txt({record}));
    const SpfVerdict verdict = check_spf_host(ip("192.0.2.1"), "example.com", facts_);
    EXPECT_EQ(verdict.result, SpfResult::permerror) << record << ": " << verdict.reason;
  }
  facts_.set_txt("example.com", txt({"v=spf1 foo:bar"}));
  EXPECT_EQ(check("192.0.2.1"),
            "permerror: the SPF record of example.com has a malformed or unknown term foo:bar");
  // Unknown modifiers are ignored; so are extra spaces.
  facts_.set_txt("example.com", txt({"v=spf1  moo=cow   ip4:192.0.2.1 exp=explain.example -all"}));
  EXPECT_EQ(check("192.0.2.1"), "pass: ip4:192.0.2.1 in example.com");
}

TEST_F(SpfTest, IncludeMatchesOnlyOnPass) {
  facts_.set_txt("example.com", txt({"v=spf1 include:soft.example include:esp.example -all"}));
  facts_.set_txt("soft.example", txt({"v=spf1 ip4:192.0.2.1 ~all"}));
  facts_.set_txt("esp.example", txt({"v=spf1 ip4:198.51.100.0/24 -all"}));
  EXPECT_EQ(check("198.51.100.4"), "pass: include:esp.example in example.com");
  EXPECT_EQ(check("192.0.2.1"), "pass: include:soft.example in example.com");
  EXPECT_EQ(check("203.0.113.1"), "fail: -all in example.com");
}

TEST_F(SpfTest, IncludeOfNothingIsAPermerror) {
  facts_.set_txt("example.com", txt({"v=spf1 include:gone.example -all"}));
  facts_.set_txt("gone.example", nxdomain);
  EXPECT_EQ(check("192.0.2.1"),
            "permerror: include:gone.example in example.com: gone.example has no SPF record");
  facts_.set_txt("gone.example", dns::TxtAnswer{dns::Outcome::temporary, {}, "timeout"});
  EXPECT_EQ(check("192.0.2.1"),
            "temperror: include:gone.example in example.com: could not look up the TXT records "
            "of gone.example: timeout");
}

TEST_F(SpfTest, Redirect) {
  facts_.set_txt("example.com", txt({"v=spf1 ip4:192.0.2.1 redirect=_spf.example.net"}));
  facts_.set_txt("_spf.example.net", txt({"v=spf1 ip4:198.51.100.1 -all"}));
  EXPECT_EQ(check("192.0.2.1"), "pass: ip4:192.0.2.1 in example.com");
  EXPECT_EQ(check("198.51.100.1"),
            "pass: redirect=_spf.example.net in example.com: ip4:198.51.100.1 in _spf.example.net");
  EXPECT_EQ(check("203.0.113.1"),
            "fail: redirect=_spf.example.net in example.com: -all in _spf.example.net");
  // "all" wins over redirect; a redirect to no record is a permerror.
  facts_.set_txt("example.org", txt({"v=spf1 redirect=gone.example ?all"}));
  EXPECT_EQ(check("203.0.113.1", "example.org"), "neutral: ?all in example.org");
  facts_.set_txt("example.net", txt({"v=spf1 redirect=gone.example"}));
  facts_.set_txt("gone.example", nxdomain);
  EXPECT_EQ(check("203.0.113.1", "example.net"),
            "permerror: redirect=gone.example in example.net: gone.example has no SPF record");
}

TEST_F(SpfTest, AAndMxWithCidr) {
  facts_.set_txt("example.com", txt({"v=spf1 a a:out.example.com/24 mx//64 -all"}));
  facts_.set_host("example.com", host({"192.0.2.10"}));
  facts_.set_host("out.example.com", host({"198.51.100.20", "2001:db8::20"}));
  facts_.set_mx("example.com", mx({{"mx1.example.com", {"203.0.113.5", "2001:db8:5::1"}}}));
  EXPECT_EQ(check("192.0.2.10"), "pass: a in example.com");
  EXPECT_EQ(check("192.0.2.11"), "fail: -all in example.com");
  EXPECT_EQ(check("198.51.100.99"), "pass: a:out.example.com/24 in example.com");
  EXPECT_EQ(check("2001:db8::21"), "fail: -all in example.com");  // /24 is for IPv4
  EXPECT_EQ(check("203.0.113.5"), "pass: mx//64 in example.com");
  EXPECT_EQ(check("2001:db8:5::77"), "pass: mx//64 in example.com");
}

TEST_F(SpfTest, MxHasNoImplicitFallback) {
  facts_.set_txt("example.com", txt({"v=spf1 mx -all"}));
  dns::MxAnswer implicit = mx({{"example.com", {"192.0.2.10"}}});
  implicit.implicit = true;
  facts_.set_mx("example.com", implicit);
  EXPECT_EQ(check("192.0.2.10"), "fail: -all in example.com");
}

TEST_F(SpfTest, TenLookupsAtMost) {
  // A chain of includes: example.com, i1 ... i10; the 11th include passes the limit.
  facts_.set_txt("example.com", txt({"v=spf1 include:i1.example -all"}));
  for (int i = 1; i <= 11; ++i) {
    facts_.set_txt(cat("i", i, ".example"), txt({cat("v=spf1 include:i", i + 1, ".example")}));
  }
  const SpfVerdict verdict = check_spf_host(ip("192.0.2.1"), "example.com", facts_);
  EXPECT_EQ(verdict.result, SpfResult::permerror);
  EXPECT_EQ(verdict.dns_lookups, 11u);
  EXPECT_TRUE(verdict.reason.ends_with("more than 10 DNS lookups (RFC 7208 4.6.4)"))
      << verdict.reason;
  // Ten are fine: i2 ... i10 then an ip4 match.
  facts_.set_txt("i10.example", txt({"v=spf1 ip4:192.0.2.1"}));
  EXPECT_EQ(check_spf_host(ip("192.0.2.1"), "example.com", facts_).result, SpfResult::pass);
}

TEST_F(SpfTest, ThreeVoidLookupsArePermerror) {
  facts_.set_txt("example.com", txt({"v=spf1 a:v1.example a:v2.example mx:v3.example -all"}));
  facts_.set_host("v1.example", dns::HostAnswer{dns::Outcome::no_domain, {}, "NXDOMAIN"});
  facts_.set_host("v2.example", dns::HostAnswer{dns::Outcome::no_domain, {}, "no address"});
  facts_.set_mx("v3.example", dns::MxAnswer{dns::Outcome::no_domain, {}, false, "NXDOMAIN"});
  EXPECT_EQ(check("192.0.2.1"),
            "permerror: more than 2 lookups found nothing, the last for v3.example (RFC 7208 "
            "4.6.4)");
}

TEST_F(SpfTest, ExistsPtrAndMacrosAreNotEvaluated) {
  facts_.set_txt("example.com",
                 txt({"v=spf1 exists:%{i}._spf.example.com ptr a:%{d}.example.net ip4:192.0.2.1 "
                      "~all"}));
  EXPECT_EQ(check("192.0.2.1"),
            "pass: ip4:192.0.2.1 in example.com [not evaluated: exists:%{i}._spf.example.com in "
            "example.com] [not evaluated: ptr in example.com] [not evaluated: "
            "a:%{d}.example.net in example.com]");
  EXPECT_TRUE(facts_.missing().empty());  // none of them was asked
}

TEST_F(SpfTest, MissingAnswersAreGatheredInOneRound) {
  facts_.set_txt("example.com",
                 txt({"v=spf1 include:a.example a mx:m.example include:b.example -all"}));
  SpfVerdict verdict = check_spf_host(ip("192.0.2.1"), "example.com", facts_);
  EXPECT_FALSE(verdict.complete);
  const std::vector<DnsQuestion> expected = {{DnsQuestionType::txt, "a.example"},
                                             {DnsQuestionType::host, "example.com"},
                                             {DnsQuestionType::mx, "m.example"},
                                             {DnsQuestionType::txt, "b.example"}};
  EXPECT_EQ(facts_.missing(), expected);
  facts_.clear_missing();
  facts_.set_txt("a.example", txt({"v=spf1 -all"}));
  facts_.set_host("example.com", host({"192.0.2.99"}));
  facts_.set_mx("m.example", mx({{"mx.m.example", {"192.0.2.98"}}}));
  facts_.set_txt("b.example", txt({"v=spf1 ip4:192.0.2.1"}));
  EXPECT_EQ(check("192.0.2.1"), "pass: include:b.example in example.com");
  EXPECT_TRUE(facts_.missing().empty());
}

TEST_F(SpfTest, InvalidDomainIsNone) {
  EXPECT_EQ(check("192.0.2.1", "localhost"), "none: localhost is not a valid domain name");
  EXPECT_TRUE(facts_.missing().empty());
}

}  // namespace
}  // namespace hayate::campaign
