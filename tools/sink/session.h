// The SMTP server session of hayate-sink as a pure state machine: bytes from the client in,
// reply bytes out, plus an Action telling the I/O shell (server.cc) what to do next. No I/O,
// no clock: delays are requested, not slept, so every behaviour is unit-testable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/smtp/server/data_reader.h"
#include "tools/sink/flaky_set.h"
#include "tools/sink/stats.h"

namespace hayate::sink {

using smtp::server::DataReader;

// RFC 5321 4.5.3.1.4 allows 512 octets per command line; ESMTP parameters make real lines
// longer, so accept up to this many bytes (line ending excluded). A longer line is answered
// 500 5.5.0 once it ends, and the session goes on.
inline constexpr std::size_t command_line_bytes_max = 2048;
// RFC 5321 4.5.3.1.8: a server must accept at least 100 recipients; more get 452 4.5.3.
inline constexpr std::uint32_t sink_recipients_per_transaction_max = 1000;
// Input that arrives while a reply is delayed waits in memory, up to this much; beyond, the
// client is abusive and the connection is closed.
inline constexpr std::size_t pending_input_bytes_max = 16u << 20;
// A kept message buffer larger than this is released after the message, not reused.
inline constexpr std::size_t content_capacity_kept_max = 1u << 20;

struct SessionConfig {
  std::string hostname = "hayate-sink";
  bool pipelining = true;                         // RFC 2920; off: lock-step replies
  std::uint64_t message_bytes_max = 50ull << 20;  // RFC 1870 SIZE announced; bigger: 552
  std::uint32_t slow_ms = 2000;                   // delay of the slow fault mode
  std::uint32_t greeting_delay_ms = 0;
};

// A message accepted at the end of DATA, handed to the store before the 250 is given.
struct AcceptedMessage {
  std::string_view queue_id;
  std::string_view sender;                  // reverse-path, empty for the null sender <>
  std::span<const std::string> recipients;  // the accepted recipients, in RCPT order
  std::string_view content;                 // LF line endings, stuffing dots removed
};

// Where accepted messages go when bodies are kept (--maildir). Called on the session's thread.
class MessageStore {
 public:
  virtual ~MessageStore() = default;
  virtual absl::Status store(const AcceptedMessage& message) = 0;
};

// What the sessions of one sink thread share: configuration, counters, the flaky set (shared
// by all threads), the store, and the queue-id sequence.
class SessionEnvironment {
 public:
  SessionEnvironment(const SessionConfig& config, SinkStats& stats, FlakySet& flaky,
                     MessageStore* store, std::uint32_t thread_index);

  const SessionConfig& config() const { return config_; }
  SinkStats& stats() { return stats_; }
  FlakySet& flaky() { return flaky_; }
  MessageStore* store() { return store_; }
  std::string_view greeting() const { return greeting_; }
  std::string_view helo_reply() const { return helo_reply_; }
  std::string_view ehlo_reply() const { return ehlo_reply_; }

  // Writes the next queue id: 12 uppercase hex digits, thread index then sequence number,
  // unique within a run of the sink.
  void next_queue_id(char (&id)[12]);

 private:
  const SessionConfig& config_;
  SinkStats& stats_;
  FlakySet& flaky_;
  MessageStore* store_;
  std::uint32_t thread_index_;
  std::uint64_t queue_ids_issued_ = 0;
  std::string greeting_;
  std::string helo_reply_;
  std::string ehlo_reply_;
};

// What the shell does after start(), feed() or resume().
enum class Action : std::uint8_t {
  read,               // send output() if any; keep reading
  flush_then_resume,  // send output(); once all of it is sent, call resume() (lock-step mode)
  delay_then_resume,  // send output(); after delay_ms(), call resume()
  close_after_flush,  // send output(); then close the connection
};

class Session {
 public:
  explicit Session(SessionEnvironment& environment);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // A new connection: forgets everything of the previous one (buffers keep their capacity)
  // and produces the greeting, or asks for the greeting delay first.
  void start();

  // Bytes from the client. While the action is not `read`, input is only queued; resume()
  // works through it.
  void feed(std::string_view input);

  // The shell finished what the action asked (output flushed, delay elapsed).
  void resume();

  Action action() const { return action_; }
  std::uint32_t delay_ms() const { return delay_ms_; }

  // Replies produced and not yet taken. The shell swaps this with its own (empty) send buffer,
  // so neither allocates once warm.
  std::string& output() { return output_; }

  bool in_data() const { return state_ == State::data; }

 private:
  enum class State : std::uint8_t { command, data, closed };
  enum class ResumeStep : std::uint8_t { none, greeting, slow_rcpt, lockstep };

  std::size_t process(std::string_view input);
  void queue_pending(std::string_view input);
  void drain_pending();
  void after_reply(bool more_input);
  void handle_command(std::string_view line);
  void handle_helo(std::string_view argument, bool extended);
  void handle_mail(std::string_view argument);
  void handle_rcpt(std::string_view argument);
  void handle_data(std::string_view argument);
  void accept_rcpt(std::string_view path, bool reply_now = true);
  void finish_message();
  void reset_transaction();
  void close_silently();
  void reply(std::string_view text) { output_.append(text); }

  SessionEnvironment& environment_;
  State state_ = State::command;
  Action action_ = Action::read;
  ResumeStep resume_step_ = ResumeStep::none;
  std::uint32_t delay_ms_ = 0;
  bool greeted_ = false;
  bool discarding_line_ = false;  // inside a command line longer than command_line_bytes_max

  // Transaction (RFC 5321 3.3): MAIL, RCPTs, DATA.
  bool mail_given_ = false;
  bool any_datafail_ = false;
  bool any_datatempfail_ = false;
  bool keeping_content_ = false;
  std::uint32_t rcpt_attempts_ = 0;
  std::uint32_t rcpt_accepted_ = 0;
  std::string sender_;                   // kept only when there is a store
  std::vector<std::string> recipients_;  // first rcpt_accepted_ are valid; when there is a store
  std::string content_;
  DataReader data_reader_;

  std::string line_;     // the start of a command line split across reads
  std::string pending_;  // input received while the action was not `read`
  std::size_t pending_offset_ = 0;
  std::string output_;
};

}  // namespace hayate::sink
