// Tests for campaign/delivery/shaping_rules: the shipped rules load and every real reply sample in
// tests/data/shaping/replies.txt picks the rule meant for it; destinations match by domain,
// wildcard and MX suffix (rollup on and off); a job's file overrides key by key; mistakes fail
// with "file:line:column".
#include "campaign/delivery/shaping_rules.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/config/job.h"
#include "engine/smtp/reply_parser.h"

namespace hayate::campaign {
namespace {

ShapingRules load_ok(std::string_view job_toml = "", const RulesOptions& options = {}) {
  absl::StatusOr<ShapingRules> rules =
      load_rules_text(shipped_shaping_rules(), job_toml, "rules.toml", options);
  EXPECT_TRUE(rules.ok()) << rules.status();
  return rules.ok() ? *std::move(rules) : ShapingRules{};
}

std::string load_error(std::string_view job_toml, const RulesOptions& options = {}) {
  absl::StatusOr<ShapingRules> rules =
      load_rules_text(shipped_shaping_rules(), job_toml, "rules.toml", options);
  EXPECT_FALSE(rules.ok()) << "loaded:\n" << job_toml;
  return rules.ok() ? "" : std::string(rules.status().message());
}

const std::string& destination_of(const ShapingRules& rules, std::string_view domain,
                                  std::vector<std::string> mx = {}) {
  return rules.match_destination(domain, mx).name;
}

// ---- the shipped file ----

TEST(ShippedRulesTest, LoadsWithEveryProvider) {
  const ShapingRules rules = load_ok();
  std::vector<std::string> names;
  for (const Destination& destination : rules.destinations) names.push_back(destination.name);
  EXPECT_EQ(names, (std::vector<std::string>{"default", "gmail", "outlook", "microsoft365", "yahoo",
                                             "yahoo_japan", "icloud", "docomo", "au", "softbank"}));
  EXPECT_EQ(rules.reply_rules.size(), 29u);
  for (const ReplyRule& rule : rules.reply_rules) {
    EXPECT_TRUE(rule.text != nullptr) << rule.name;  // every shipped rule has a pattern
    EXPECT_TRUE(rule.defined_at.starts_with("default_rules.toml (shipped):")) << rule.defined_at;
  }
}

TEST(ShippedRulesTest, AProvidersRecipientsSpreadOverTheShardsOtherDomainsStayOnOne) {
  const ShapingRules rules = load_ok();
  std::vector<std::uint32_t> gmail(4, 0), other(4, 0);
  for (int i = 0; i < 400; ++i) {
    const std::string n = std::to_string(i);
    ++gmail[shard_of("reader" + n + "@gmail.com", "gmail.com", rules, 4)];
    ++other[shard_of("reader" + n + "@example.org", "example.org", rules, 4)];
  }
  for (std::uint32_t count : gmail) {
    EXPECT_GT(count, 60u) << "a named destination's recipients reach every shard";
  }
  EXPECT_EQ(std::count(other.begin(), other.end(), 400u), 1) << "a default domain: one shard";
  EXPECT_EQ(shard_of("a@gmail.com", "gmail.com", rules, 1), 0u);
}

TEST(ShippedRulesTest, ProviderLimits) {
  const ShapingRules rules = load_ok();
  const Destination& fallback = rules.destinations[0];
  EXPECT_EQ(fallback.connections_max, 10u);
  EXPECT_EQ(fallback.messages_per_connection, 100u);
  EXPECT_EQ(fallback.rate, (shaping::Rate{100, 1'000}));
  EXPECT_EQ(fallback.greeting_timeout_ms, 300'000u);
  EXPECT_EQ(fallback.data_timeout_ms, 600'000u);
  EXPECT_EQ(fallback.tls, TlsMode::opportunistic);
  EXPECT_TRUE(fallback.warmup_daily.empty());

  const Destination& gmail = *rules.find_destination("gmail");
  EXPECT_EQ(gmail.connections_max, 5u);
  EXPECT_EQ(gmail.messages_per_connection, 50u);
  EXPECT_EQ(gmail.tls, TlsMode::required);
  EXPECT_EQ(gmail.rate, (shaping::Rate{100, 1'000}));  // inherited from default
  EXPECT_EQ(gmail.warmup, "standard");
  ASSERT_EQ(gmail.warmup_daily.size(), 14u);
  EXPECT_EQ(gmail.warmup_daily.front(), 200u);
  EXPECT_EQ(gmail.warmup_daily.back(), 250'000u);

  EXPECT_EQ(rules.find_destination("yahoo")->messages_per_connection, 20u);
  EXPECT_EQ(rules.find_destination("icloud")->messages_per_connection, 5u);
  EXPECT_EQ(rules.find_destination("yahoo_japan")->rate, (shaping::Rate{10, 1'000}));
  EXPECT_EQ(rules.find_destination("docomo")->recipients_per_transaction, 100u);
}

TEST(ShippedRulesTest, DestinationsByDomainAndMx) {
  const ShapingRules rules = load_ok();
  EXPECT_EQ(destination_of(rules, "gmail.com"), "gmail");
  EXPECT_EQ(destination_of(rules, "GoogleMail.COM."), "gmail");
  EXPECT_EQ(destination_of(rules, "hotmail.co.uk"), "outlook");
  EXPECT_EQ(destination_of(rules, "hotmail.com"), "outlook");
  EXPECT_EQ(destination_of(rules, "live.jp"), "outlook");
  EXPECT_EQ(destination_of(rules, "msn.com"), "outlook");
  EXPECT_EQ(destination_of(rules, "yahoo.co.uk"), "yahoo");
  EXPECT_EQ(destination_of(rules, "yahoo.co.jp"), "yahoo_japan");  // exact beats "yahoo.*"
  EXPECT_EQ(destination_of(rules, "aol.com"), "yahoo");
  EXPECT_EQ(destination_of(rules, "me.com"), "icloud");
  EXPECT_EQ(destination_of(rules, "docomo.ne.jp"), "docomo");
  EXPECT_EQ(destination_of(rules, "ezweb.ne.jp"), "au");
  EXPECT_EQ(destination_of(rules, "i.softbank.jp"), "softbank");
  EXPECT_EQ(destination_of(rules, "example.org"), "default");
  EXPECT_EQ(destination_of(rules, "hotmail"), "default");  // "hotmail.*" needs an ending
  EXPECT_EQ(destination_of(rules, ""), "default");

  // MX rollup: a Workspace domain, a Microsoft 365 tenant, a Yahoo-hosted AT&T domain.
  EXPECT_EQ(destination_of(rules, "example.com", {"aspmx.l.google.com", "alt1.aspmx.l.google.com"}),
            "gmail");
  EXPECT_EQ(destination_of(rules, "example.net", {"example-net.mail.protection.outlook.com."}),
            "microsoft365");
  EXPECT_EQ(destination_of(rules, "sbcglobal.net", {"mx-att.mail.am0.yahoodns.net"}), "yahoo");
  EXPECT_EQ(destination_of(rules, "example.jp", {"mfsmax.docomo.ne.jp"}), "docomo");
  // Suffixes match on label boundaries only.
  EXPECT_EQ(destination_of(rules, "example.com", {"mx.notgoogle.com"}), "default");
  // The first MX host that matches decides, in the order given.
  EXPECT_EQ(destination_of(rules, "example.com", {"mx.example.com", "aspmx.l.google.com"}),
            "gmail");
  // A domain match wins over the MX.
  EXPECT_EQ(destination_of(rules, "gmail.com", {"mx.example.com"}), "gmail");
}

TEST(ShippedRulesTest, RollupOffMatchesDomainsOnly) {
  const ShapingRules rules = load_ok("", RulesOptions{.rollup = false, .pools = {}});
  EXPECT_EQ(destination_of(rules, "example.com", {"aspmx.l.google.com"}), "default");
  EXPECT_EQ(destination_of(rules, "gmail.com", {"gmail-smtp-in.l.google.com"}), "gmail");
}

// One sample of replies.txt.
struct Sample {
  std::string rule;
  std::string destination;
  std::string raw;  // CRLF lines
  int line = 0;
};

std::vector<Sample> read_samples() {
  std::ifstream in(std::string(HAYATE_TEST_DATA_DIR) + "/shaping/replies.txt");
  EXPECT_TRUE(in.good());
  std::vector<Sample> samples;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.starts_with("=== ")) {
      const std::size_t at = line.find(" @ ");
      samples.push_back({line.substr(4, at - 4), line.substr(at + 3), "", number});
    } else if (!line.empty() && !line.starts_with("#") && !samples.empty()) {
      samples.back().raw += line + "\r\n";
    }
  }
  return samples;
}

TEST(ShippedRulesTest, RealRepliesPickTheirRule) {
  const ShapingRules rules = load_ok();
  const std::vector<Sample> samples = read_samples();
  ASSERT_EQ(samples.size(), 42u);
  std::vector<std::string> rules_seen;
  for (const Sample& sample : samples) {
    smtp::Reply reply;
    std::size_t consumed = 0;
    ASSERT_EQ(smtp::parse_reply(sample.raw, reply, consumed), smtp::ParseResult::complete)
        << "replies.txt:" << sample.line;
    const Destination* destination = rules.find_destination(sample.destination);
    ASSERT_NE(destination, nullptr) << "replies.txt:" << sample.line;
    const std::string text = reply_text_for_rules(reply);
    const ReplyRule* rule =
        rules.match_reply(*destination, reply.code, reply.enhanced.to_string(), text);
    EXPECT_EQ(rule == nullptr ? "none" : rule->name, sample.rule)
        << "replies.txt:" << sample.line << ": " << text;
    if (rule != nullptr) rules_seen.push_back(rule->name);
  }
  // Every shipped rule is exercised by at least one real sample, except those whose replies
  // were not found in a source (listed here so that a new rule needs a sample).
  for (const ReplyRule& rule : rules.reply_rules) {
    if (rule.name == "rate-limited") continue;
    EXPECT_TRUE(std::find(rules_seen.begin(), rules_seen.end(), rule.name) != rules_seen.end())
        << rule.name << " has no sample in replies.txt";
  }
}

TEST(ShippedRulesTest, ScopedRuleOnlyForItsDestination) {
  const ShapingRules rules = load_ok();
  const std::string text =
      "The user you are trying to contact is receiving mail at a rate that prevents additional "
      "messages from being delivered.";
  const ReplyRule* at_gmail =
      rules.match_reply(*rules.find_destination("gmail"), 450, "4.2.1", text);
  ASSERT_NE(at_gmail, nullptr);
  EXPECT_EQ(at_gmail->name, "gmail-recipient-rate");
  EXPECT_EQ(at_gmail->action, ReplyAction::retry);
  EXPECT_EQ(at_gmail->duration_ms, 30 * 60'000);
  EXPECT_EQ(rules.match_reply(rules.destinations[0], 450, "4.2.1", text), nullptr);
}

TEST(ShippedRulesTest, ActionsAndDurations) {
  const ShapingRules rules = load_ok();
  const Destination& yahoo = *rules.find_destination("yahoo");
  const ReplyRule* rule = rules.match_reply(
      yahoo, 421, "4.7.0",
      "[TSS04] Messages from 192.0.2.10 temporarily deferred due to unexpected volume");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->action, ReplyAction::suspend_source);
  EXPECT_EQ(rule->duration_ms, 2 * 3'600'000);
  // Case-insensitive.
  rule = rules.match_reply(yahoo, 421, "4.7.0", "[tss04] MESSAGES FROM 192.0.2.10 TEMPORARILY");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->name, "yahoo-deferred");
  // The code must match too: a 250 with that text is no deferral.
  EXPECT_EQ(rules.match_reply(yahoo, 250, "2.0.0", "[TSS04] temporarily deferred"), nullptr);
}

TEST(ReplyTextTest, JoinsLinesWithoutRepeatedCodes) {
  const std::string raw =
      "421-4.7.28 [192.0.2.10      15] Our system has detected an unusual rate of\r\n"
      "421-4.7.28 unsolicited mail originating from your IP address.\r\n"
      "421 4.7.28  https://support.google.com/mail/?p=UnsolicitedRateLimitError - gsmtp\r\n";
  smtp::Reply reply;
  std::size_t consumed = 0;
  ASSERT_EQ(smtp::parse_reply(raw, reply, consumed), smtp::ParseResult::complete);
  EXPECT_EQ(reply_text_for_rules(reply),
            "[192.0.2.10      15] Our system has detected an unusual rate of unsolicited mail "
            "originating from your IP address. "
            "https://support.google.com/mail/?p=UnsolicitedRateLimitError - gsmtp");
  ASSERT_EQ(smtp::parse_reply("452 too many recipients\r\n", reply, consumed),
            smtp::ParseResult::complete);
  EXPECT_EQ(reply_text_for_rules(reply), "too many recipients");
  const std::string long_line = "550 " + std::string(3'000, 'a') + "\r\n";
  ASSERT_EQ(smtp::parse_reply(long_line, reply, consumed), smtp::ParseResult::complete);
  EXPECT_EQ(reply_text_for_rules(reply).size(), 2'048u);
}

// ---- job overrides ----

TEST(JobRulesTest, OverridesKeyByKeyAndAddsDestinations) {
  const ShapingRules rules = load_ok(R"(
[destination.default]
data_timeout = "2m"

[destination.gmail]
connections_max = 2
rate = "600/min"

[destination.partner]
domains = ["partner.example", "*.partner.example"]
mx = [".mx.partner.example"]
tls = "required"
)");
  const Destination& gmail = *rules.find_destination("gmail");
  EXPECT_EQ(gmail.connections_max, 2u);
  EXPECT_EQ(gmail.rate, (shaping::Rate{600, 60'000}));
  EXPECT_EQ(gmail.messages_per_connection, 50u);  // the shipped value stays
  EXPECT_EQ(gmail.tls, TlsMode::required);
  EXPECT_EQ(gmail.data_timeout_ms, 120'000u);  // the job's default reaches every destination
  EXPECT_EQ(gmail.defined_at, "rules.toml:5");
  EXPECT_EQ(rules.destinations[0].data_timeout_ms, 120'000u);

  const Destination& partner = *rules.find_destination("partner");
  EXPECT_EQ(partner.index, rules.destinations.size() - 1);
  EXPECT_EQ(partner.connections_max, 10u);
  EXPECT_EQ(partner.tls, TlsMode::required);
  EXPECT_EQ(destination_of(rules, "partner.example"), "partner");
  EXPECT_EQ(destination_of(rules, "eu.partner.example"), "partner");
  EXPECT_EQ(destination_of(rules, "a.b.partner.example"), "partner");
  EXPECT_EQ(destination_of(rules, "other.example", {"in1.mx.partner.example"}), "partner");
  EXPECT_EQ(partner.domains, (std::vector<std::string>{"partner.example", "*.partner.example"}));
  EXPECT_EQ(partner.mx_suffixes, (std::vector<std::string>{"mx.partner.example"}));
}

TEST(JobRulesTest, JobTakesADomainFromAShippedDestination) {
  const ShapingRules rules = load_ok(R"(
[destination.gsuite_partner]
domains = ["googlemail.com"]
)");
  EXPECT_EQ(destination_of(rules, "googlemail.com"), "gsuite_partner");
  EXPECT_EQ(destination_of(rules, "gmail.com"), "gmail");
  EXPECT_EQ(rules.find_destination("gmail")->domains, (std::vector<std::string>{"gmail.com"}));
}

TEST(JobRulesTest, ReplacingDomainsList) {
  const ShapingRules rules = load_ok(R"(
[destination.outlook]
domains = ["outlook.com"]
)");
  EXPECT_EQ(destination_of(rules, "hotmail.fr"), "default");
  EXPECT_EQ(destination_of(rules, "outlook.com"), "outlook");
  EXPECT_EQ(destination_of(rules, "x.example", {"x-example.olc.protection.outlook.com"}),
            "outlook");
}

TEST(JobRulesTest, JobRulesComeFirstAndReplaceByName) {
  const ShapingRules rules = load_ok(R"(
[[reply]]
name = "partner-busy"
destination = ["gmail", "yahoo"]
code = "4xx"
text = 'unusual rate|\[TSS04\]'
action = "suspend_destination"
duration = "45m"

[[reply]]
name = "greylisting"
code = [450, 451]
text = 'greylist'
action = "retry"
duration = "1m"
)");
  ASSERT_EQ(rules.reply_rules.size(), 30u);  // 29 shipped, one replaced, two added
  EXPECT_EQ(rules.reply_rules[0].name, "partner-busy");
  EXPECT_EQ(rules.reply_rules[0].defined_at, "rules.toml:2");
  const ReplyRule* rule = rules.match_reply(*rules.find_destination("gmail"), 421, "4.7.28",
                                            "Our system has detected an unusual rate of");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->name, "partner-busy");
  EXPECT_EQ(rule->action, ReplyAction::suspend_destination);
  EXPECT_EQ(rule->duration_ms, 45 * 60'000);
  // Outside its destinations, the shipped rule still applies.
  rule = rules.match_reply(rules.destinations[0], 421, "4.7.28",
                           "Our system has detected an unusual rate of");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->name, "gmail-unusual-rate");
  // The job's greylisting rule replaced the shipped one (its delay is the job's); another
  // shipped rule still takes the wordless 4.7.1 kind.
  rule = rules.match_reply(rules.destinations[0], 451, "4.7.1", "Greylisted for 60 seconds");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->name, "greylisting");
  EXPECT_EQ(rule->duration_ms, 60'000);
  rule = rules.match_reply(rules.destinations[0], 451, "4.7.1", "Please try again later");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->name, "greylisting-policy");
  EXPECT_EQ(rules.match_reply(rules.destinations[0], 451, "4.3.0", "Try again later"), nullptr);
}

TEST(JobRulesTest, CodeClassesAndEnhancedPrefixes) {
  const ShapingRules rules = load_ok(R"(
[[reply]]
name = "class"
code = "45x"
enhanced = "4.7"
action = "throttle"
)");
  const Destination& fallback = rules.destinations[0];
  EXPECT_EQ(rules.match_reply(fallback, 452, "4.7.28", "x")->name, "class");
  EXPECT_EQ(rules.match_reply(fallback, 450, "4.7", "x")->name, "class");
  EXPECT_EQ(rules.match_reply(fallback, 421, "4.7.28", "x"), nullptr);  // 42x
  EXPECT_EQ(rules.match_reply(fallback, 451, "4.70.1", "x"), nullptr);  // not the 4.7 subject
  EXPECT_EQ(rules.match_reply(fallback, 451, "", "x"), nullptr);        // no enhanced code
}

TEST(JobRulesTest, WarmupSchedulesAndPools) {
  const ShapingRules rules = load_ok(R"(
[warmup]
standard = [10, 20, 40]
slow = [5, 5, 10]

[destination.gmail]
pool = "warm"

[destination.icloud]
warmup = "slow"

[destination.yahoo]
warmup = "none"
)",
                                     RulesOptions{.rollup = true, .pools = {"default", "warm"}});
  EXPECT_EQ(rules.find_destination("gmail")->pool, "warm");
  EXPECT_EQ(rules.find_destination("gmail")->warmup_daily,
            (std::vector<std::uint32_t>{10, 20, 40}));
  EXPECT_EQ(rules.find_destination("outlook")->warmup_daily,
            (std::vector<std::uint32_t>{10, 20, 40}));
  EXPECT_EQ(rules.find_destination("icloud")->warmup_daily, (std::vector<std::uint32_t>{5, 5, 10}));
  EXPECT_TRUE(rules.find_destination("yahoo")->warmup_daily.empty());
  EXPECT_EQ(rules.find_destination("outlook")->pool, "");
}

// ---- errors ----

TEST(JobRulesErrorTest, SyntaxAndUnknownKeys) {
  EXPECT_EQ(load_error("[destination.gmail]\nconections_max = 3\n"),
            "rules.toml:2:1: unknown key 'conections_max' in [destination.gmail]; did you mean "
            "'connections_max'?");
  EXPECT_EQ(load_error("[destinations.gmail]\n"),
            "rules.toml:1:2: unknown key 'destinations'; a rules file holds [destination.NAME] "
            "tables, [warmup] and [[reply]] rules; did you mean 'destination'?");
  EXPECT_TRUE(load_error("[destination.gmail\n").starts_with("rules.toml:1:"));
  EXPECT_EQ(load_error("[destination.Gmail]\n"),
            "rules.toml:1:14: [destination.Gmail]: a destination name is 1 to 64 of a-z 0-9 _ -");
}

TEST(JobRulesErrorTest, BadValues) {
  EXPECT_EQ(load_error("[destination.gmail]\nrate = \"600/week\"\n"),
            "rules.toml:2:8: [destination.gmail] rate: '600/week' is not a rate: the unit after "
            "'/' must be s, min, h or d");
  EXPECT_EQ(load_error("[destination.gmail]\nconnections_max = 0\n"),
            "rules.toml:2:19: [destination.gmail] connections_max must be between 1 and 100000, "
            "got 0");
  EXPECT_EQ(load_error("[destination.gmail]\nrecipients_per_transaction = 500\n"),
            "rules.toml:2:30: [destination.gmail] recipients_per_transaction must be between 1 "
            "and 100, got 500");
  EXPECT_EQ(load_error("[destination.gmail]\ntls = \"require\"\n"),
            "rules.toml:2:7: [destination.gmail] tls must be \"opportunistic\", \"required\" or "
            "\"disabled\"");
  EXPECT_EQ(load_error("[destination.gmail]\ndata_timeout = \"10 minutes\"\n"),
            "rules.toml:2:16: [destination.gmail] data_timeout '10 minutes' is not a duration; "
            "write e.g. \"250ms\", \"30s\", \"5m\", \"2h\", \"1d\" or an integer of seconds");
  EXPECT_EQ(load_error("[destination.gmail]\nthrottle_factor = 1.5\n"),
            "rules.toml:2:19: [destination.gmail] throttle_factor must be a number between 0 and "
            "1 (exclusive), e.g. 0.5 to halve the rate on each throttle");
  EXPECT_EQ(load_error("[destination.gmail]\nwarmup = \"fast\"\n"),
            "rules.toml:2:10: [destination.gmail] warmup \"fast\" is not a schedule in [warmup]");
  EXPECT_EQ(load_error("[destination.gmail]\npool = \"warm\"\n"),
            "rules.toml:2:8: [destination.gmail] pool \"warm\" is not a pool of the job's "
            "[[sources]] (the job has none)");
  EXPECT_EQ(load_error("[warmup]\nfast = [100, 50]\n"),
            "rules.toml:2:14: [warmup] fast[1] (50) is less than the day before (100); a warm-up "
            "only rises");
}

TEST(JobRulesErrorTest, Domains) {
  EXPECT_EQ(load_error("[destination.a]\ndomains = [\"a.example\"]\n"
                       "[destination.b]\ndomains = [\"x.example\", \"A.example\"]\n"),
            "rules.toml:4:25: \"a.example\" is already in [destination.a] (line 2)");
  EXPECT_EQ(load_error("[destination.a]\ndomains = [\"mail.*.example\"]\n"),
            "rules.toml:2:12: [destination.a] domains: \"mail.*.example\" is not valid: a "
            "wildcard is \"*.example.com\" (subdomains) or \"hotmail.*\" (any ending)");
  EXPECT_EQ(load_error("[destination.a]\nmx = [\"bad_host.example\"]\n"),
            "rules.toml:2:7: [destination.a] mx: \"bad_host.example\" is not valid: an mx suffix "
            "is a host name such as \"google.com\"");
  EXPECT_EQ(load_error("[destination.default]\ndomains = [\"a.example\"]\n"),
            "rules.toml:2:11: [destination.default] domains: the default destination takes "
            "every other domain; give it no list");
}

TEST(JobRulesErrorTest, ReplyRules) {
  EXPECT_EQ(load_error("[[reply]]\nname = \"x\"\naction = \"throttle\"\n"),
            "rules.toml:1:1: [[reply]] x matches every reply: give code, enhanced or text");
  EXPECT_EQ(load_error("[[reply]]\nname = \"x\"\ntext = 'unclosed('\naction = \"retry\"\n"),
            "rules.toml:3:8: [[reply]] x text is not a valid RE2 expression: missing ): "
            "unclosed(");
  EXPECT_EQ(load_error("[[reply]]\nname = \"x\"\ncode = \"4yx\"\naction = \"retry\"\n"),
            "rules.toml:3:8: [[reply]] code \"4yx\" is not a reply code: write 421, \"4xx\" or "
            "\"45x\"");
  EXPECT_EQ(load_error("[[reply]]\nname = \"x\"\ncode = 421\naction = \"suspend\"\n"),
            "rules.toml:4:10: [[reply]] x action must be throttle, suspend_destination, "
            "suspend_source, retry or bounce");
  EXPECT_EQ(load_error("[[reply]]\nname = \"x\"\ncode = 421\naction = \"throtle\"\n"),
            "rules.toml:4:10: [[reply]] x action must be throttle, suspend_destination, "
            "suspend_source, retry or bounce; did you mean \"throttle\"?");
  EXPECT_EQ(load_error("[[reply]]\nname = \"x\"\ncode = 421\naction = \"suspend_source\"\n"),
            "rules.toml:1:1: [[reply]] x: suspend_source needs a duration, e.g. duration = \"1h\"");
  EXPECT_EQ(load_error("[[reply]]\nname = \"x\"\ncode = 550\naction = \"bounce\"\n"
                       "duration = \"1h\"\n"),
            "rules.toml:5:12: [[reply]] x: a bounce takes no duration");
  EXPECT_EQ(load_error("[[reply]]\nname = \"x\"\ncode = 421\ndestination = \"gmial\"\n"
                       "action = \"retry\"\n"),
            "rules.toml:4:15: [[reply]] x destination \"gmial\" is not a [destination.NAME] table");
  EXPECT_EQ(load_error("[[reply]]\nname = \"x\"\nenhanced = \"4.7.\"\naction = \"retry\"\n"),
            "rules.toml:3:12: [[reply]] x enhanced must be an enhanced status code or its start, "
            "e.g. \"4.7.28\" or \"5.7\" (RFC 3463)");
  EXPECT_EQ(load_error("[[reply]]\nname = \"x\"\ncode = 421\naction = \"retry\"\n"
                       "[[reply]]\nname = \"x\"\ncode = 451\naction = \"retry\"\n"),
            "rules.toml:5:1: [[reply]] name \"x\" is used twice in this file");
  EXPECT_EQ(load_error("reply = 3\n"),
            "rules.toml:1:9: reply rules must be written as [[reply]] tables");
}

TEST(JobRulesErrorTest, MissingFile) {
  const std::string path = ::testing::TempDir() + "/no-such-rules.toml";
  absl::StatusOr<ShapingRules> rules = load_rules(shipped_shaping_rules(), &path);
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(rules.status().message(),
            path + ": cannot open the rules file: No such file or directory");
}

TEST(JobRulesErrorTest, ShippedFileErrorsNameIt) {
  absl::StatusOr<ShapingRules> rules = load_rules("[destination.x]\nrate = 5\n", nullptr);
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.status().message(),
            "default_rules.toml (shipped):2:8: [destination.x] rate must be a string such as "
            "\"600/min\", got an integer");
}

TEST(JobRulesTest, LoadsFromAFile) {
  const std::string path = ::testing::TempDir() + "/shaping_rules_test.toml";
  {
    std::ofstream out(path);
    out << "[destination.gmail]\nconnections_max = 1\n";
  }
  absl::StatusOr<ShapingRules> rules = load_rules(shipped_shaping_rules(), &path);
  ASSERT_TRUE(rules.ok()) << rules.status();
  EXPECT_EQ(rules->find_destination("gmail")->connections_max, 1u);
  EXPECT_EQ(rules->find_destination("gmail")->defined_at, path + ":1");
  std::remove(path.c_str());
}

// ---- [shaping] and [[sources]] in the job file ----

class JobShapingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "job_shaping.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    write(dir_ + "/recipients.csv", "email\nalice@example.org\n");
    write(dir_ + "/body.txt", "Hello\n");
    write(dir_ + "/shaping.toml", "[destination.gmail]\nconnections_max = 1\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  static void write(const std::string& path, std::string_view text) {
    std::ofstream(path, std::ios::binary) << text;
  }
  absl::StatusOr<JobConfig> load(std::string_view extra) {
    write(dir_ + "/job.toml", std::string(kBase) + std::string(extra));
    return load_job(dir_ + "/job.toml");
  }
  std::string error(std::string_view extra) {
    absl::StatusOr<JobConfig> job = load(extra);
    EXPECT_FALSE(job.ok());
    return job.ok() ? "" : std::string(job.status().message().substr(dir_.size() + 1));
  }
  // Lines 1 to 7.
  static constexpr std::string_view kBase =
      "[campaign]\nid = \"c1\"\nrecipients = \"recipients.csv\"\n"
      "from = \"News <news@example.com>\"\nsubject = \"Hi\"\ntext = \"body.txt\"\n"
      "[delivery]\nhelo = \"mta.example.com\"\n";
  std::string dir_;
};

TEST_F(JobShapingTest, Defaults) {
  absl::StatusOr<JobConfig> job = load("");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_TRUE(job->shaping_rules_path.empty());
  EXPECT_TRUE(job->shaping_rollup);
  // The host's state store (config/state_dir.h), not the job's folder.
  EXPECT_EQ(job->warmup_state_path, job->state_dir + "/warmup.state");
  EXPECT_TRUE(job->sources.empty());
}

TEST_F(JobShapingTest, ShapingAndSources) {
  absl::StatusOr<JobConfig> job = load(R"(
[shaping]
rules = "shaping.toml"
rollup = false
warmup_state = "state/warmup.txt"

[[sources]]
name = "ip1"
address = "127.0.0.2"

[[sources]]
name = "ip2"
address = "2001:DB8::0:10"
ehlo = "mta2.example.com"
pool = "warm"
warmup = true
)");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->shaping_rules_path, dir_ + "/shaping.toml");
  EXPECT_FALSE(job->shaping_rollup);
  EXPECT_EQ(job->warmup_state_path, dir_ + "/state/warmup.txt");
  ASSERT_EQ(job->sources.size(), 2u);
  EXPECT_EQ(job->sources[0].address, "127.0.0.2");
  EXPECT_EQ(job->sources[0].ehlo, "mta.example.com");
  EXPECT_EQ(job->sources[0].pool, "default");
  EXPECT_FALSE(job->sources[0].warmup);
  EXPECT_EQ(job->sources[1].address, "2001:db8::10");
  EXPECT_EQ(job->sources[1].ehlo, "mta2.example.com");
  EXPECT_EQ(job->sources[1].pool, "warm");
  EXPECT_TRUE(job->sources[1].warmup);

  // The rules it names load with the job's pools and rollup.
  absl::StatusOr<ShapingRules> rules =
      load_rules(shipped_shaping_rules(), &job->shaping_rules_path,
                 RulesOptions{.rollup = job->shaping_rollup, .pools = {"default", "warm"}});
  ASSERT_TRUE(rules.ok()) << rules.status();
  EXPECT_EQ(rules->find_destination("gmail")->connections_max, 1u);
  EXPECT_FALSE(rules->rollup);
}

TEST_F(JobShapingTest, Errors) {
  EXPECT_EQ(error("[shaping]\nrules = \"missing.toml\"\n"),
            "job.toml:10:9: [shaping] rules file '" + dir_ +
                "/missing.toml' not found (paths are relative to the job file)");
  EXPECT_EQ(error("[shaping]\nrolup = true\n"),
            "job.toml:10:1: unknown key 'rolup' in [shaping]; did you mean 'rollup'?");
  EXPECT_EQ(error("[shaping]\nrollup = \"yes\"\n"),
            "job.toml:10:10: [shaping] rollup must be true or false");
  EXPECT_EQ(error("[[sources]]\nname = \"ip1\"\naddress = \"192.0.2.300\"\n"),
            "job.toml:11:11: [[sources]] ip1 address \"192.0.2.300\" is not an IPv4 or IPv6 "
            "address (no brackets, no port)");
  EXPECT_EQ(error("[[sources]]\nname = \"ip1\"\naddress = \"[::1]\"\n"),
            "job.toml:11:11: [[sources]] ip1 address \"[::1]\" is not an IPv4 or IPv6 address "
            "(no brackets, no port)");
  EXPECT_EQ(error("[[sources]]\nname = \"IP 1\"\naddress = \"127.0.0.2\"\n"),
            "job.toml:10:8: [[sources]] name \"IP 1\" must be 1 to 64 of a-z 0-9 _ -");
  EXPECT_EQ(error("[[sources]]\nname = \"a\"\naddress = \"127.0.0.2\"\n"
                  "[[sources]]\nname = \"b\"\naddress = \"127.0.0.2\"\n"),
            "job.toml:12:1: [[sources]] b: address already used by [[sources]] a");
  EXPECT_EQ(error("[[sources]]\nname = \"a\"\naddress = \"127.0.0.2\"\nehlo = \"bad name\"\n"),
            "job.toml:12:8: [[sources]] a ehlo 'bad name' is not a host name or address literal "
            "(RFC 5321 4.1.1.1)");
  EXPECT_EQ(error("[[sources]]\nname = \"a\"\nadress = \"127.0.0.2\"\n"),
            "job.toml:11:1: unknown key 'adress' in [[sources]]; did you mean 'address'?");
  EXPECT_EQ(error("[sources]\nname = \"a\"\n"),
            "job.toml:9:1: sources must be written as [[sources]] tables, one per address");
}

}  // namespace
}  // namespace hayate::campaign
