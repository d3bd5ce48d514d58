// The fault modes of hayate-sink: a recipient's local part picks what the sink does with it,
// so a test chooses each recipient's outcome by its address ("tempfail-1@x" is a tempfail,
// "Bounce.7@x" a bounce). The choice is pure; FaultPolicy and FaultStore are the SMTP
// server's hooks (engine/smtp/server/session.h) that carry it out and count it.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "engine/smtp/server/session.h"
#include "tools/sink/flaky_set.h"
#include "tools/sink/stats.h"

namespace hayate::sink {

// Fault mode chosen by the prefix of a recipient's local part (case-insensitive).
enum class RcptFault : std::uint8_t {
  none,
  tempfail,      // 451 4.3.0 at RCPT
  bounce,        // 550 5.1.1 at RCPT
  datafail,      // accepted; the transaction gets 554 5.6.0 at the end of DATA
  datatempfail,  // accepted; the transaction gets 451 4.3.0 at the end of DATA
  slow,          // the RCPT reply is delayed (later replies wait behind it)
  disconnect,    // the connection is closed after the RCPT is read, without a reply
  garbage,       // the RCPT is answered with "HELLO THIS IS NOT SMTP"
  flaky,         // the first RCPT for this address gets 451 4.3.0, later ones 250
  dotdrop,       // accepted; the connection closes after the final dot, without a reply
};

RcptFault classify_recipient(std::string_view path);

// The server session's settings with the sink's names, plus the delay of the slow mode.
struct SinkConfig : smtp::server::SessionConfig {
  SinkConfig() {
    hostname = "hayate-sink";
    software = "hayate-sink";
  }
  std::uint32_t slow_ms = 2000;
};

// The RCPT-time fault modes. One per sink thread; the flaky set is shared by all.
class FaultPolicy final : public smtp::server::Policy {
 public:
  FaultPolicy(const SinkConfig& config, SinkStats& stats, FlakySet& flaky)
      : config_(config), stats_(stats), flaky_(flaky) {}
  smtp::server::Verdict check_recipient(const smtp::server::Envelope& envelope,
                                        std::string_view recipient) override;

 private:
  const SinkConfig& config_;
  SinkStats& stats_;
  FlakySet& flaky_;
};

// Where accepted messages go when bodies are kept (--maildir).
class MessageKeeper {
 public:
  virtual ~MessageKeeper() = default;
  virtual absl::Status keep(const smtp::server::ReceivedMessage& message) = 0;
};

// The end-of-DATA fault modes (datafail, datatempfail, dotdrop), then the keeper if there is one:
// its failure is a 451. Without a keeper, bodies are counted and never buffered.
class FaultStore final : public smtp::server::MessageStore {
 public:
  FaultStore(SinkStats& stats, MessageKeeper* keeper) : stats_(stats), keeper_(keeper) {}
  bool keeps_content() const override { return keeper_ != nullptr; }
  smtp::server::Verdict store(const smtp::server::ReceivedMessage& message) override;

 private:
  SinkStats& stats_;
  MessageKeeper* keeper_;
};

}  // namespace hayate::sink
