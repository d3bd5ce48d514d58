// Tests for campaign/fcrdns: which identities a job asks to confirm, and the verdict on each
// from given answers (pure: no DNS here; tests/integration/test_fcrdns.sh runs the lookups
// against dnsmasq).
#include "campaign/run/fcrdns.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/strings.h"

namespace hayate::campaign {
namespace {

dns::SocketAddress ip(const char* text) {
  dns::SocketAddress address;
  EXPECT_TRUE(dns::SocketAddress::parse(text, 25, address)) << text;
  return address;
}

dns::HostAnswer resolves_to(std::vector<const char*> ips) {
  dns::HostAnswer answer;
  answer.outcome = dns::Outcome::ok;
  for (const char* text : ips) answer.addresses.push_back(ip(text));
  return answer;
}

dns::HostAnswer host_failure(dns::Outcome outcome, const char* error) {
  return dns::HostAnswer{outcome, {}, error};
}

dns::PtrAnswer ptr_names(std::vector<std::string> names) {
  return dns::PtrAnswer{dns::Outcome::ok, std::move(names), ""};
}

dns::PtrAnswer ptr_failure(dns::Outcome outcome, const char* error) {
  return dns::PtrAnswer{outcome, {}, error};
}

// "warning: text | unknown: text" or "ok: text".
std::string verdict(const FcrdnsSubject& subject, const FcrdnsAnswers& answers) {
  static const char* const levels[] = {"ok", "warning", "unknown"};
  std::string out;
  for (const FcrdnsFinding& finding : judge_fcrdns(subject, answers)) {
    append(out, out.empty() ? "" : " | ", levels[static_cast<int>(finding.level)], ": ",
           finding.text);
  }
  return out;
}

const FcrdnsSubject mta1{"[[sources]] mta1", "mta1.example.test", "192.0.2.1"};

TEST(JudgeFcrdns, ConfirmedBothWays) {
  EXPECT_EQ(verdict(mta1, {resolves_to({"192.0.2.1"}), ptr_names({"mta1.example.test"})}),
            "ok: forward-confirmed: ehlo name mta1.example.test resolves to 192.0.2.1 and the "
            "PTR of 192.0.2.1 is mta1.example.test");
}

TEST(JudgeFcrdns, OneOfSeveralAddressesAndNamesIsEnough) {
  EXPECT_EQ(verdict(mta1, {resolves_to({"192.0.2.9", "192.0.2.1", "2001:db8::1"}),
                           ptr_names({"other.example.test", "mta1.example.test"})})
                .substr(0, 21),
            "ok: forward-confirmed");
}

TEST(JudgeFcrdns, NamesCompareIgnoringCaseAndFinalDot) {
  const FcrdnsSubject upper{"[[sources]] a", "MTA1.Example.TEST.", "192.0.2.1"};
  EXPECT_EQ(verdict(upper, {resolves_to({"192.0.2.1"}), ptr_names({"mta1.example.test"})}),
            "ok: forward-confirmed: ehlo name MTA1.Example.TEST. resolves to 192.0.2.1 and the "
            "PTR of 192.0.2.1 is MTA1.Example.TEST");
}

TEST(JudgeFcrdns, Ipv6AddressesCompareAsAddressesNotText) {
  const FcrdnsSubject six{"[[sources]] six", "six.example.test", "2001:db8::25"};
  EXPECT_EQ(verdict(six, {resolves_to({"2001:DB8:0:0::25"}), ptr_names({"six.example.test"})})
                .substr(0, 21),
            "ok: forward-confirmed");
  EXPECT_EQ(verdict(six, {resolves_to({"2001:db8::26"}), ptr_names({"six.example.test"})}),
            "warning: ehlo name six.example.test resolves to 2001:db8::26, not to the source "
            "address 2001:db8::25");
}

TEST(JudgeFcrdns, EhloNameDoesNotResolve) {
  EXPECT_EQ(verdict(mta1, {host_failure(dns::Outcome::no_domain, "NXDOMAIN"),
                           ptr_names({"mta1.example.test"})}),
            "warning: ehlo name mta1.example.test does not resolve (NXDOMAIN)");
  EXPECT_EQ(verdict(mta1, {host_failure(dns::Outcome::no_domain, "no address"),
                           ptr_names({"mta1.example.test"})}),
            "warning: ehlo name mta1.example.test does not resolve (no address)");
  // An ok answer without addresses (no resolver gives one) is no address all the same.
  EXPECT_EQ(verdict(mta1, {resolves_to({}), ptr_names({"mta1.example.test"})}),
            "warning: ehlo name mta1.example.test does not resolve (no address)");
}

TEST(JudgeFcrdns, EhloNameResolvesElsewhere) {
  EXPECT_EQ(
      verdict(mta1, {resolves_to({"192.0.2.7", "2001:db8::7"}), ptr_names({"mta1.example.test"})}),
      "warning: ehlo name mta1.example.test resolves to 192.0.2.7, 2001:db8::7, not to the "
      "source address 192.0.2.1");
}

TEST(JudgeFcrdns, NoPtrRecord) {
  for (const char* error : {"NXDOMAIN", "no PTR record"}) {
    EXPECT_EQ(
        verdict(mta1, {resolves_to({"192.0.2.1"}), ptr_failure(dns::Outcome::no_domain, error)}),
        "warning: 192.0.2.1 has no PTR record");
  }
}

TEST(JudgeFcrdns, PtrNamesSomethingElse) {
  EXPECT_EQ(verdict(mta1, {resolves_to({"192.0.2.1"}),
                           ptr_names({"1.2.0.192.dsl.isp.example", "static.isp.example"})}),
            "warning: PTR of 192.0.2.1 is 1.2.0.192.dsl.isp.example, static.isp.example, not the "
            "ehlo name mta1.example.test");
}

TEST(JudgeFcrdns, BothDirectionsWrongGiveTwoFindingsForwardFirst) {
  EXPECT_EQ(verdict(mta1, {host_failure(dns::Outcome::no_domain, "NXDOMAIN"),
                           ptr_names({"other.example.test"})}),
            "warning: ehlo name mta1.example.test does not resolve (NXDOMAIN) | warning: PTR of "
            "192.0.2.1 is other.example.test, not the ehlo name mta1.example.test");
}

TEST(JudgeFcrdns, TemporaryFailuresAreUnknownNotWarnings) {
  EXPECT_EQ(verdict(mta1, {host_failure(dns::Outcome::temporary, "timeout"),
                           ptr_failure(dns::Outcome::temporary, "SERVFAIL")}),
            "unknown: could not look up ehlo name mta1.example.test: timeout | unknown: could "
            "not look up the PTR of 192.0.2.1: SERVFAIL");
  EXPECT_EQ(verdict(mta1, {resolves_to({"192.0.2.1"}),
                           ptr_failure(dns::Outcome::temporary, "connection refused")}),
            "unknown: could not look up the PTR of 192.0.2.1: connection refused");
}

TEST(JudgeFcrdns, MissingAnswersAreUnknown) {
  EXPECT_EQ(verdict(mta1, {}),
            "unknown: ehlo name mta1.example.test was not looked up | unknown: the PTR of "
            "192.0.2.1 was not looked up");
}

TEST(JudgeFcrdns, AddressLiteralEhlo) {
  const FcrdnsSubject v4{"[[sources]] v4", "[192.0.2.1]", "192.0.2.1"};
  EXPECT_EQ(verdict(v4, {std::nullopt, ptr_names({"anything.example.test"})}),
            "ok: ehlo [192.0.2.1] is the source address; its PTR is anything.example.test");
  EXPECT_EQ(verdict(v4, {std::nullopt, ptr_failure(dns::Outcome::no_domain, "NXDOMAIN")}),
            "warning: 192.0.2.1 has no PTR record");
  const FcrdnsSubject wrong{"[[sources]] w", "[192.0.2.2]", "192.0.2.1"};
  EXPECT_EQ(verdict(wrong, {std::nullopt, ptr_names({"mta.example.test"})}),
            "warning: ehlo [192.0.2.2] is not the source address 192.0.2.1");
  const FcrdnsSubject v6{"[[sources]] v6", "[IPv6:2001:DB8::1]", "2001:db8::1"};
  EXPECT_EQ(verdict(v6, {std::nullopt, ptr_names({"six.example.test"})}),
            "ok: ehlo [IPv6:2001:DB8::1] is the source address; its PTR is six.example.test");
}

TEST(JudgeFcrdns, HeloWithoutAnAddressOnlyHasToResolve) {
  const FcrdnsSubject helo{"[delivery] helo", "mta.example.test", ""};
  EXPECT_EQ(verdict(helo, {resolves_to({"192.0.2.5", "2001:db8::5"}), std::nullopt}),
            "ok: ehlo name mta.example.test resolves to 192.0.2.5, 2001:db8::5; mail leaves from "
            "the address the system picks, which should be one of these, with a PTR naming "
            "mta.example.test");
  EXPECT_EQ(verdict(helo, {host_failure(dns::Outcome::no_domain, "NXDOMAIN"), std::nullopt}),
            "warning: ehlo name mta.example.test does not resolve (NXDOMAIN)");
  EXPECT_EQ(verdict(helo, {host_failure(dns::Outcome::temporary, "timeout"), std::nullopt}),
            "unknown: could not look up ehlo name mta.example.test: timeout");
}

TEST(JudgeFcrdns, HostileInputsGiveAVerdictWithoutCrashing) {
  const FcrdnsSubject empty{"", "", ""};
  EXPECT_EQ(verdict(empty, {}), "unknown: ehlo name  was not looked up");
  const FcrdnsSubject brackets{"x", "[]", "not an address"};
  EXPECT_EQ(verdict(brackets, {std::nullopt, ptr_names({"a.example"})}),
            "unknown: ehlo name [] was not looked up | warning: PTR of not an address is "
            "a.example, not the ehlo name []");
  const FcrdnsSubject odd{"x", "[IPv6:]", "192.0.2.1"};
  EXPECT_EQ(verdict(odd, {std::nullopt, ptr_names({"a.example"})}),
            "warning: ehlo [IPv6:] is not the source address 192.0.2.1");
  const FcrdnsSubject dot{"x", ".", "192.0.2.1"};
  EXPECT_EQ(verdict(dot, {resolves_to({"192.0.2.1"}), ptr_names({""})}),
            "warning: PTR of 192.0.2.1 is , not the ehlo name .");
}

// ---------------------------------------------------------------------------------------------
// fcrdns_subjects

std::string subjects_of(const JobConfig& job) {
  std::string out;
  for (const FcrdnsSubject& subject : fcrdns_subjects(job)) {
    append(out, out.empty() ? "" : " | ", subject.label, " ", subject.ehlo, " ", subject.address);
  }
  return out;
}

JobConfig job_with_helo(const char* helo) {
  JobConfig job;
  job.helo = helo;
  return job;
}

void add_source(JobConfig& job, const char* name, const char* address, const char* ehlo) {
  JobConfig::Source source;
  source.name = name;
  source.address = address;
  source.ehlo = ehlo;
  job.sources.push_back(source);
}

TEST(FcrdnsSubjects, EverySourceInOrder) {
  JobConfig job = job_with_helo("helo.example.test");
  add_source(job, "b", "192.0.2.2", "b.example.test");
  add_source(job, "a", "2001:db8::1", "[IPv6:2001:db8::1]");
  EXPECT_EQ(
      subjects_of(job),
      "[[sources]] b b.example.test 192.0.2.2 | [[sources]] a [IPv6:2001:db8::1] 2001:db8::1");
}

TEST(FcrdnsSubjects, WithoutSourcesTheHeloAlone) {
  EXPECT_EQ(subjects_of(job_with_helo("helo.example.test")), "[delivery] helo helo.example.test ");
}

TEST(FcrdnsSubjects, AWildcardRouteTakesTheHeloOutButNotTheSources) {
  JobConfig job = job_with_helo("helo.example.test");
  Route exact;
  exact.domain = "example.org";
  job.routes.push_back(exact);
  EXPECT_EQ(subjects_of(job), "[delivery] helo helo.example.test ");  // other domains use MX
  Route wildcard;
  wildcard.domain = "*";
  job.routes.push_back(wildcard);
  EXPECT_EQ(subjects_of(job), "");
  add_source(job, "a", "192.0.2.1", "a.example.test");
  EXPECT_EQ(subjects_of(job), "[[sources]] a a.example.test 192.0.2.1");
}

TEST(FcrdnsSubjects, AnAddressLiteralHeloHasNothingToLookUp) {
  EXPECT_EQ(subjects_of(job_with_helo("[192.0.2.1]")), "");
  EXPECT_EQ(subjects_of(job_with_helo("[IPv6:2001:db8::1]")), "");
}

}  // namespace
}  // namespace hayate::campaign
