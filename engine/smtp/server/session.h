// The SMTP server session as a pure state machine: bytes from the client in, reply bytes out,
// plus an Action telling the I/O shell (server.h) what to do next. What the server accepts is
// decided by hooks: a Policy at MAIL FROM and at each RCPT TO, a MessageStore after the final
// dot. No I/O, no clock: delays are requested, not slept, so every behaviour is unit-testable.
//
// Speaks ESMTP (RFC 5321) with PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152),
// ENHANCEDSTATUSCODES (RFC 2034) and SMTPUTF8 (RFC 6531); HELO, EHLO, MAIL, RCPT, DATA, RSET,
// NOOP, VRFY (252) and QUIT. No AUTH, STARTTLS, BDAT or DSN: they are not announced, and their
// commands or parameters get 500 / 555.
//
// A policy that accepts mail only for one domain, and a store that keeps what arrives:
//
//   class OneDomain final : public server::Policy {
//    public:
//     server::Verdict check_recipient(const server::Envelope&,
//                                     std::string_view recipient) override {
//       if (recipient.ends_with("@bounces.example.com")) return server::Verdict::accept();
//       return server::Verdict::reject(550, "5.1.1", "No such user here");
//     }
//   };
//   class Keep final : public server::MessageStore {
//    public:
//     server::Verdict store(const server::ReceivedMessage& message) override {
//       if (!save(message.sender, message.recipients, message.content)) {
//         return server::Verdict::reject(451, "4.3.0", "Cannot store the message now");
//       }
//       return server::Verdict::accept();  // "250 2.0.0 Ok: queued as <queue id>"
//     }
//   };
//
// Then either drive a Session by hand (tests) or give the hooks to a Server (server.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/smtp/server/command.h"
#include "engine/smtp/server/data_reader.h"
#include "engine/smtp/server/stats.h"

namespace hayate::smtp::server {

struct SessionConfig {
  std::string hostname = "localhost";             // in the greeting and the EHLO reply
  std::string software = "hayate";                // the greeting: "220 <hostname> ESMTP <software>"
  bool pipelining = true;                         // RFC 2920; off: lock-step replies
  std::uint64_t message_bytes_max = 50ull << 20;  // RFC 1870 SIZE announced; bigger: 552
  std::uint32_t greeting_delay_ms = 0;            // hold the 220 (early talkers wait behind it)
  // Message content buffered by all the sessions of a thread together (buffer capacity, as
  // allocated). A message that would go beyond it is no longer buffered and gets 452 4.3.1
  // after its final dot (RFC 5321 4.2.5: insufficient storage; the client retries). 0: none,
  // and each session keeps its buffer between messages (up to a limit) to save allocations.
  std::uint64_t content_bytes_budget = 0;
};

// What a hook decides about a MAIL, a RCPT or a message: the reply the client gets.
// The views must stay valid until the hook returns (the session copies what it keeps).
struct Verdict {
  enum class Kind : std::uint8_t {
    accept,      // the server's 250 (at DATA's end: "250 2.0.0 Ok: queued as <id>")
    reject,      // "<code> <enhanced_code> <text>": 4xx temporary, 5xx permanent
    raw,         // `text` sent as it is, CRLF included: a broken server, for tests only
    disconnect,  // the connection closes without a reply (replies before it still go out)
  };

  Kind kind = Kind::accept;
  std::uint16_t code = 250;
  std::string_view enhanced_code;  // RFC 3463 "5.1.1"; empty: none
  std::string_view text;
  std::uint32_t delay_ms = 0;  // > 0: the reply waits this long, and every later one behind it

  static Verdict accept() { return Verdict{}; }
  // RFC 5321 4.2: code 400-599. RFC 3463 2: the enhanced code's class is the code's first
  // digit. 421 closes the connection after the reply (RFC 5321 3.8). Control bytes in `text`
  // (CR, LF...) are sent as spaces, so a text made of client input cannot forge a reply line.
  static Verdict reject(std::uint16_t code, std::string_view enhanced_code, std::string_view text);
  static Verdict raw(std::string_view bytes);
  static Verdict disconnect();
  // The same decision, taken now (counted, the recipient recorded), its reply held back.
  Verdict delayed(std::uint32_t delay_ms_in) const {
    Verdict copy = *this;
    copy.delay_ms = delay_ms_in;
    return copy;
  }
  bool accepted() const { return kind == Kind::accept; }
};

// The transaction as the hooks see it.
struct Envelope {
  std::string_view client_name;             // the EHLO/HELO argument
  std::string_view sender;                  // reverse-path; empty for the null sender <>
  std::span<const std::string> recipients;  // accepted so far, in RCPT order
  MailParameters parameters;                // SIZE, BODY, SMTPUTF8 given at MAIL
};

// Decides on senders and recipients. One per server thread: called on that thread only.
class Policy {
 public:
  virtual ~Policy() = default;
  // At MAIL FROM, after its syntax and declared SIZE were checked; envelope.sender is the new
  // sender (empty for <>, RFC 5321 4.5.5: bounces come from the null sender).
  virtual Verdict check_sender(const Envelope& envelope);
  // At RCPT TO, after its syntax and the recipients-per-transaction limit were checked.
  // `recipient` is the path without angle brackets, never empty; it is not yet in
  // envelope.recipients.
  virtual Verdict check_recipient(const Envelope& envelope, std::string_view recipient) = 0;
};

// Accepts every sender and every recipient (a sink).
class AcceptAllPolicy final : public Policy {
 public:
  Verdict check_recipient(const Envelope&, std::string_view) override { return Verdict::accept(); }
};

// A message whose final dot was read, within the size limit, before the server answers it.
struct ReceivedMessage {
  std::string_view queue_id;                // 12 hex digits, unique within a run of the server
  std::string_view sender;                  // reverse-path, empty for the null sender <>
  std::span<const std::string> recipients;  // the accepted recipients, in RCPT order, >= 1
  std::string_view content;      // LF line endings, stuffing dots removed; empty when the store
                                 // does not keep content
  std::uint64_t size_bytes = 0;  // RFC 1870 size: as sent, CRLF counted as two
  std::string_view client_name = {};  // the EHLO/HELO argument
};

// Takes the messages. One per server thread: called on that thread only, before the reply,
// so a slow store slows that thread's clients.
class MessageStore {
 public:
  virtual ~MessageStore() = default;
  // Whether the session buffers message content for store(). Asked once, when the
  // SessionEnvironment is made. Counting-only stores (a benchmark sink) say false.
  virtual bool keeps_content() const { return true; }
  // accept: "250 2.0.0 Ok: queued as <queue_id>"; any other verdict is the reply, and the
  // queue id goes to the next message. A failure to store is a 451 (RFC 5321 4.2.5: the
  // server must not accept what it cannot keep).
  virtual Verdict store(const ReceivedMessage& message) = 0;
};

// What the sessions of one server thread share: configuration, counters, hooks, the
// queue-id sequence and the replies built once.
class SessionEnvironment {
 public:
  SessionEnvironment(const SessionConfig& config, ServerStats& stats, Policy& policy,
                     MessageStore& store, std::uint32_t thread_index);

  const SessionConfig& config() const { return config_; }
  ServerStats& stats() { return stats_; }
  Policy& policy() { return policy_; }
  MessageStore& store() { return store_; }
  bool keeps_content() const { return keeps_content_; }
  std::string_view greeting() const { return greeting_; }
  std::string_view helo_reply() const { return helo_reply_; }
  std::string_view ehlo_reply() const { return ehlo_reply_; }
  std::string_view timeout_reply() const { return timeout_reply_; }

  // The share of SessionConfig::content_bytes_budget the sessions hold. A session asks for
  // more before it buffers beyond what it holds, and gives back all of it when its
  // transaction ends; `reserve` says no once the budget would be exceeded.
  bool reserve_content(std::uint64_t bytes);
  void release_content(std::uint64_t bytes);
  std::uint64_t content_bytes_reserved() const { return content_bytes_reserved_; }

  // The id the next accepted message gets: 12 uppercase hex digits, thread index then
  // sequence number, unique within a run of the server.
  void peek_queue_id(char (&id)[12]) const;
  // The same, and the sequence moves on.
  void next_queue_id(char (&id)[12]);

 private:
  const SessionConfig& config_;
  ServerStats& stats_;
  Policy& policy_;
  MessageStore& store_;
  const bool keeps_content_;
  const std::uint32_t thread_index_;
  std::uint64_t queue_ids_issued_ = 0;
  std::uint64_t content_bytes_reserved_ = 0;
  std::string greeting_;
  std::string helo_reply_;
  std::string ehlo_reply_;
  std::string timeout_reply_;
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

  // The client was silent too long (RFC 5321 4.5.3.2.7): "421 4.4.2", then the connection
  // closes (action close_after_flush). Nothing happens to a session already closing.
  void time_out();

  // The connection is gone: gives back what the session holds (its share of the content
  // budget, a large buffer). start() makes it usable again.
  void release();

  Action action() const { return action_; }
  std::uint32_t delay_ms() const { return delay_ms_; }

  // Replies produced and not yet taken. The shell swaps this with its own (empty) send buffer,
  // so neither allocates once warm.
  std::string& output() { return output_; }

  bool in_data() const { return state_ == State::data; }

  // Command lines and message contents read to their end since start(). The shell watches it
  // to tell a client that makes progress from one that trickles bytes of one command forever.
  std::uint64_t inputs_completed() const { return inputs_completed_; }

 private:
  enum class State : std::uint8_t { command, data, closed };
  enum class ResumeStep : std::uint8_t { none, greeting, delayed_reply, lockstep };

  std::size_t process(std::string_view input);
  void queue_pending(std::string_view input);
  void drain_pending();
  void after_reply(bool more_input);
  void handle_command(std::string_view line);
  void handle_helo(std::string_view argument, bool extended);
  void handle_mail(std::string_view argument);
  void handle_rcpt(std::string_view argument);
  void handle_data(std::string_view argument);
  void finish_message();
  void answer(const Verdict& verdict, std::string_view accepted_reply);
  Envelope envelope() const;
  void reset_transaction();
  void buffer_content(std::string_view input, std::size_t& consumed_bytes, bool& complete);
  void stop_keeping_content();
  void close_silently();
  void reply(std::string_view text) { output_.append(text); }

  SessionEnvironment& environment_;
  State state_ = State::command;
  Action action_ = Action::read;
  ResumeStep resume_step_ = ResumeStep::none;
  std::uint32_t delay_ms_ = 0;
  bool greeted_ = false;
  bool discarding_line_ = false;  // inside a command line longer than the limit
  bool close_after_delayed_reply_ = false;
  std::string client_name_;
  std::string delayed_reply_;  // a verdict's reply held back for its delay

  // Transaction (RFC 5321 3.3): MAIL, RCPTs, DATA.
  bool mail_given_ = false;
  bool keeping_content_ = false;
  bool over_budget_ = false;                  // this message went beyond content_bytes_budget
  std::uint64_t content_bytes_reserved_ = 0;  // this session's share of the budget
  std::uint32_t rcpt_attempts_ = 0;
  std::uint32_t rcpt_accepted_ = 0;
  MailParameters parameters_;
  std::string sender_;
  std::vector<std::string> recipients_;  // the first rcpt_accepted_ are this transaction's
  std::string content_;
  DataReader data_reader_;

  std::string line_;     // the start of a command line split across reads
  std::string pending_;  // input received while the action was not `read`
  std::size_t pending_offset_ = 0;
  std::string output_;
  std::uint64_t inputs_completed_ = 0;
};

}  // namespace hayate::smtp::server
