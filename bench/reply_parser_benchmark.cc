// Micro benchmarks of the SMTP reply parser: the pipelined burst a sender reads for every
// message (MAIL, RCPT, DATA, end of data) and an EHLO reply with its capabilities.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <string_view>

#include "engine/smtp/capabilities.h"
#include "engine/smtp/reply_parser.h"

namespace {

using hayate::smtp::ParseResult;
using hayate::smtp::Reply;

constexpr std::string_view burst =
    "250 2.1.0 Ok\r\n"
    "250 2.1.5 Ok\r\n"
    "354 End data with <CR><LF>.<CR><LF>\r\n"
    "250 2.0.0 Ok: queued as ABC\r\n";
constexpr int burst_replies = 4;

constexpr std::string_view ehlo =
    "250-mx.google.com at your service, [192.0.2.10]\r\n"
    "250-SIZE 157286400\r\n"
    "250-8BITMIME\r\n"
    "250-STARTTLS\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250-PIPELINING\r\n"
    "250-CHUNKING\r\n"
    "250 SMTPUTF8\r\n";

// Reports time per reply: items_per_second counts replies.
void BM_ParseReplyBurst(benchmark::State& state) {
  for (auto _ : state) {
    std::string_view input = burst;
    benchmark::DoNotOptimize(input.data());
    Reply reply;
    std::size_t consumed = 0;
    while (!input.empty()) {
      ParseResult result = hayate::smtp::parse_reply(input, reply, consumed);
      if (result != ParseResult::complete) state.SkipWithError("burst did not parse");
      benchmark::DoNotOptimize(reply);
      input.remove_prefix(consumed);
    }
  }
  state.SetItemsProcessed(state.iterations() * burst_replies);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(burst.size()));
}
BENCHMARK(BM_ParseReplyBurst);

void BM_ParseEhlo(benchmark::State& state) {
  for (auto _ : state) {
    std::string_view input = ehlo;
    benchmark::DoNotOptimize(input.data());
    Reply reply;
    std::size_t consumed = 0;
    if (hayate::smtp::parse_reply(input, reply, consumed) != ParseResult::complete) {
      state.SkipWithError("EHLO reply did not parse");
    }
    hayate::smtp::Capabilities capabilities = hayate::smtp::parse_capabilities(reply);
    benchmark::DoNotOptimize(capabilities);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(ehlo.size()));
}
BENCHMARK(BM_ParseEhlo);

}  // namespace
