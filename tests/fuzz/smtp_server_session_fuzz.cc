// libFuzzer target for the SMTP server session (engine/smtp/server/session.h): any bytes from a
// client, split into reads of any size, through a policy that gives every kind of verdict and a
// store that sometimes fails. The session's asserts (on in release builds) must hold, replies
// must be whole CRLF-terminated lines, and a stored message must respect the limits.
// Input: byte 0 picks the configuration, byte 1 seeds the read sizes, the rest is the client.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/smtp/server/session.h"

namespace {

using namespace hayate::smtp::server;

constexpr std::uint64_t kMessageBytesMax = 256;

// The first byte of the local part picks the verdict, so the fuzzer reaches each one.
class EveryVerdictPolicy final : public Policy {
 public:
  Verdict check_sender(const Envelope& envelope) override {
    if (envelope.sender.starts_with("r")) return Verdict::reject(553, "5.1.8", "Bad sender");
    return Verdict::accept();
  }
  Verdict check_recipient(const Envelope& envelope, std::string_view recipient) override {
    HAYATE_ASSERT(!recipient.empty());
    HAYATE_ASSERT(envelope.recipients.size() <
                  hayate::limits::server_recipients_per_transaction_max);
    switch (recipient.front()) {
      case 'a':
        return Verdict::accept().delayed(5);
      case 'b':
        return Verdict::reject(550, "5.1.1", recipient);  // client bytes in the reply text
      case 'c':
        return Verdict::reject(421, "4.3.2", "closing");
      case 'd':
        return Verdict::disconnect();
      case 'g':
        return Verdict::raw("garbage\r\n");
      case 't':
        return Verdict::reject(451, "", "later").delayed(7);
      default:
        return Verdict::accept();
    }
  }
};

class CheckingStore final : public MessageStore {
 public:
  CheckingStore(bool keep, bool fail) : keep_(keep), fail_(fail) {}
  bool keeps_content() const override { return keep_; }
  Verdict store(const ReceivedMessage& message) override {
    HAYATE_ASSERT(!message.recipients.empty());
    HAYATE_ASSERT(message.size_bytes <= kMessageBytesMax);
    HAYATE_ASSERT(message.content.size() <= message.size_bytes);  // CRLF became LF
    HAYATE_ASSERT(keep_ || message.content.empty());
    HAYATE_ASSERT(message.queue_id.size() == 12);
    if (fail_) return Verdict::reject(452, "4.3.1", "full");
    return Verdict::accept();
  }

 private:
  const bool keep_;
  const bool fail_;
};

void check_replies(std::string_view output) {
  // Every reply is whole lines: no partial line is ever handed to the shell.
  HAYATE_ASSERT(output.empty() || output.ends_with("\r\n"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t flags = data[0];
  std::uint32_t read_seed = data[1];
  std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  SessionConfig config;
  config.pipelining = (flags & 1) != 0;
  config.message_bytes_max = kMessageBytesMax;
  config.greeting_delay_ms = (flags & 2) != 0 ? 10 : 0;
  config.content_bytes_budget = (flags & 16) != 0 ? 200 : 0;  // less than one message
  ServerStats stats;
  EveryVerdictPolicy policy;
  CheckingStore store((flags & 4) != 0, (flags & 8) != 0);
  SessionEnvironment environment(config, stats, policy, store, 0);
  Session session(environment);
  session.start();
  std::string output;
  const auto settle = [&] {
    while (session.action() == Action::flush_then_resume ||
           session.action() == Action::delay_then_resume) {
      output.swap(session.output());
      check_replies(output);
      output.clear();
      session.resume();
    }
    output.swap(session.output());
    check_replies(output);
    output.clear();
  };
  settle();
  while (!input.empty()) {
    read_seed = read_seed * 1103515245u + 12345u;
    const std::size_t length = std::min<std::size_t>(1 + (read_seed >> 16) % 300, input.size());
    session.feed(input.substr(0, length));
    input.remove_prefix(length);
    settle();
  }
  HAYATE_ASSERT(environment.content_bytes_reserved() <= config.content_bytes_budget);
  session.release();  // the connection is gone: its share of the budget comes back
  HAYATE_ASSERT(environment.content_bytes_reserved() == 0);
  const hayate::smtp::server::ServerStatsSnapshot counts = stats.snapshot();
  HAYATE_ASSERT(counts[ServerCounter::recipients_delivered] <= counts[ServerCounter::recipients]);
  HAYATE_ASSERT(counts[ServerCounter::bytes] <= counts[ServerCounter::messages] * kMessageBytesMax);
  return 0;
}
