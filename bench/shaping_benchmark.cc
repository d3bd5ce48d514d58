// Cost of shaping per message: finding a recipient domain's destination among 10 and 10,000
// listed domains (MX rollup on and off), matching typical replies against the shipped reply
// rules, and one GCRA admission check.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "campaign/delivery/shaping_rules.h"
#include "engine/assert.h"
#include "engine/shaping/gcra.h"
#include "engine/strings.h"

namespace {

using hayate::campaign::ShapingRules;

// The shipped rules plus a job destination listing `domains` domains.
ShapingRules rules_with(int domains, bool rollup) {
  std::string job = "[destination.partner]\ndomains = [";
  for (int i = 0; i < domains; ++i) hayate::append(job, i ? ", " : "", "\"d", i, ".example\"");
  job += "]\n";
  absl::StatusOr<ShapingRules> rules = hayate::campaign::load_rules_text(
      hayate::campaign::shipped_shaping_rules(), job, "bench.toml",
      hayate::campaign::RulesOptions{.rollup = rollup, .pools = {}});
  HAYATE_ASSERT(rules.ok());
  return *std::move(rules);
}

// A mix of recipients: listed domains, gmail.com, a Workspace domain found by its MX, and
// unlisted domains that fall through to "default" (the slowest path: every table is tried).
void BM_MatchDestination(benchmark::State& state) {
  const int domains = static_cast<int>(state.range(0));
  const bool rollup = state.range(1) != 0;
  const ShapingRules rules = rules_with(domains, rollup);
  struct Query {
    std::string domain;
    std::vector<std::string> mx;
  };
  std::vector<Query> queries;
  for (int i = 0; i < 64; ++i) {
    queries.push_back({hayate::cat("d", (i * 7919) % domains, ".example"), {"mx.example"}});
  }
  queries.push_back({"gmail.com", {"gmail-smtp-in.l.google.com"}});
  queries.push_back({"workspace.example.com", {"aspmx.l.google.com", "alt1.aspmx.l.google.com"}});
  queries.push_back({"hotmail.co.uk", {"eur.olc.protection.outlook.com"}});
  queries.push_back({"small-isp.example.net", {"mx1.small-isp.example.net", "mx2.backup.example"}});
  std::size_t i = 0;
  for (auto _ : state) {
    const Query& query = queries[i++ % queries.size()];
    benchmark::DoNotOptimize(&rules.match_destination(query.domain, query.mx));
  }
  state.SetLabel(rollup ? "rollup on" : "rollup off");
}
BENCHMARK(BM_MatchDestination)->Args({10, 0})->Args({10, 1})->Args({10000, 0})->Args({10000, 1});

// Typical replies against the 28 shipped rules: a throttle signal near the top of the list, a
// greylisting reply near the bottom, and a plain "user unknown" that no rule matches (every
// rule whose code fits runs its pattern).
void BM_MatchReply(benchmark::State& state) {
  const ShapingRules rules = rules_with(10, true);
  struct Reply {
    const char* destination;
    std::uint16_t code;
    const char* enhanced;
    const char* text;
  };
  const Reply replies[] = {
      {"gmail", 421, "4.7.28",
       "[192.0.2.10 15] Our system has detected an unusual rate of unsolicited mail originating "
       "from your IP address. To protect our users from spam, mail sent from your IP address has "
       "been temporarily rate limited. - gsmtp"},
      {"default", 451, "4.7.1", "Greylisting in action, please come back later"},
      {"default", 550, "5.1.1",
       "<alice@example.org>: Recipient address rejected: User unknown in virtual mailbox table"},
      {"yahoo", 421, "4.7.0",
       "[TSS04] Messages from 192.0.2.10 temporarily deferred due to unexpected volume or user "
       "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes"},
  };
  const int which = static_cast<int>(state.range(0));
  const Reply& reply = replies[which];
  const auto& destination = *rules.find_destination(reply.destination);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        rules.match_reply(destination, reply.code, reply.enhanced, reply.text));
  }
  static const char* const labels[] = {"gmail 421 4.7.28", "greylisting 451", "550 no match",
                                       "yahoo TSS04"};
  state.SetLabel(labels[which]);
}
BENCHMARK(BM_MatchReply)->DenseRange(0, 3);

void BM_GcraTryAcquire(benchmark::State& state) {
  hayate::shaping::Gcra gcra(hayate::shaping::Rate{600, 60'000}, 10);
  std::int64_t now_ms = 1'795'446'601'000;
  for (auto _ : state) {
    benchmark::DoNotOptimize(gcra.try_acquire(now_ms));
    now_ms += 7;  // some admitted, some refused
  }
}
BENCHMARK(BM_GcraTryAcquire);

}  // namespace
