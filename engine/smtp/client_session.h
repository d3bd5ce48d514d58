// The ESMTP client state machine (RFC 5321, PIPELINING RFC 2920), pure: reply bytes in,
// command bytes out, outcomes reported to a delegate. No sockets, no clock: the connection
// that owns a session moves the bytes and runs the timers, which makes the whole dialogue
// unit-testable with scripted replies.
//
// With PIPELINING a transaction's MAIL, RCPTs and DATA go in one write, and the message
// body, its final dot and the next transaction's MAIL/RCPT/DATA go in the next one (RFC 2920
// 3.1 allows the message content first in a group), so one round trip carries one message.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "engine/smtp/capabilities.h"
#include "engine/smtp/reply_parser.h"

namespace hayate::smtp {

// Which step of the dialogue a reply (or a failure) belongs to.
enum class Stage : std::uint8_t {
  connect,
  greeting,
  ehlo,
  helo,
  starttls,
  tls,
  auth,
  mail,
  rcpt,
  data,
  body,
  rset,
  quit
};
const char* stage_name(Stage stage);

struct Transaction {
  std::uint64_t id = 0;                 // the delegate's handle
  std::string mail_from;                // bare address; empty: the null sender <>
  std::vector<std::string> recipients;  // bare addresses
  bool needs_smtputf8 = false;          // an address has a non-ASCII local part (RFC 6531)
  bool body_8bitmime = false;           // MAIL FROM gets BODY=8BITMIME (RFC 6152), if offered
  // RFC 1870: the message's size in octets, declared as SIZE= when the server offers SIZE,
  // and refused here (552 5.3.4, no MAIL sent) above the limit it announced. 0: unknown.
  std::uint64_t size_bytes = 0;
};

// One recipient's result in one attempt. code 0: no reply, the connection failed (text says
// how); a delegate treats that as a temporary failure.
struct Outcome {
  std::uint16_t code = 0;
  EnhancedCode enhanced;
  std::string_view text;
  Stage stage = Stage::connect;
  // code 0 only. untried: the transaction was pipelined behind another one when the
  // connection failed, and the server answered none of its commands: it was never attempted.
  // after_final_dot: the message and its final dot had gone out and the reply was lost: the
  // server may have accepted it (RFC 1047), so a retry may deliver it twice.
  bool untried = false;
  bool after_final_dot = false;
};

class SessionDelegate {
 public:
  virtual ~SessionDelegate() = default;
  // The session may start a transaction now: fill `transaction` and return true, or return
  // false when there is no work (the session then stays idle until poke() or quit()).
  virtual bool next_transaction(Transaction& transaction) = 0;
  // The server said 354: append the message, dot-stuffed and terminated by ".\r\n".
  virtual void append_message(const Transaction& transaction, std::string& out) = 0;
  // Final result of this attempt for transaction.recipients[index]; called once per recipient.
  virtual void on_recipient_outcome(const Transaction& transaction, std::size_t index,
                                    const Outcome& outcome) = 0;
};

class ClientSession {
 public:
  enum class State : std::uint8_t {
    greeting,
    hello,
    tls_handshake,
    ready,
    quitting,
    closed,
    failed
  };
  // STARTTLS (RFC 3207): disabled never asks; opportunistic asks when offered and goes on in
  // plaintext if the server refuses; required fails the session without TLS.
  enum class TlsPolicy : std::uint8_t { disabled, opportunistic, required };

  struct Options {
    std::string helo_name;
    bool use_pipelining = true;  // when the server announces it
    TlsPolicy tls = TlsPolicy::disabled;
    bool tls_active = false;  // implicit TLS (RFC 8314): encrypted from the first byte
    // SMTP AUTH (RFC 4954), PLAIN or LOGIN; sent only over TLS unless allowed otherwise.
    std::string auth_username;
    std::string auth_password;
    bool allow_plaintext_auth = false;
  };

  ClientSession(Options options, SessionDelegate& delegate);

  // Bytes received from the server. Commands to send are appended to `out`.
  void on_bytes(std::string_view data, std::string& out);

  // The session is idle and the delegate may have work now: start a transaction if it does.
  void poke(std::string& out);
  // Ends an idle session politely (QUIT).
  void quit(std::string& out);
  // The connection failed (closed, timed out, reset): every recipient still in flight gets an
  // outcome with code 0 and `reason`. The state becomes failed.
  void fail(std::string_view reason);
  // The server said 220 to STARTTLS: the owner runs the TLS handshake (nothing received after
  // that 220 is kept: RFC 3207 4.2), then calls on_tls_established, which says EHLO again.
  bool wants_tls() const { return state_ == State::tls_handshake; }
  void on_tls_established(std::string& out);
  bool tls_active() const { return tls_active_; }
  // The server refused our credentials (535): no other connection will do better.
  bool auth_rejected() const { return auth_rejected_; }
  // The credentials could not be offered at all: no TLS to send them over, or no AUTH
  // mechanism we speak. As final as a refusal: the same relay answers the same next time.
  bool auth_unusable() const { return auth_unusable_; }

  State state() const { return state_; }
  bool idle() const { return state_ == State::ready && expected_.empty(); }
  bool awaiting_reply() const { return !expected_.empty(); }
  // The step whose reply is awaited (for choosing its timeout), when awaiting_reply().
  Stage awaited_stage() const;
  const Capabilities& capabilities() const { return capabilities_; }
  // Why the session failed, for logs (the server's reply or the local reason).
  const std::string& failure() const { return failure_; }
  // The reply code that made the session fail (0 when it was not a reply).
  std::uint16_t failure_code() const { return failure_code_; }
  const EnhancedCode& failure_enhanced() const { return failure_enhanced_; }
  Stage failure_stage() const { return failure_stage_; }
  std::uint32_t transactions_started() const { return transactions_started_; }

 private:
  struct Slot {
    Transaction transaction;
    bool active = false;
    bool mail_failed = false;
    std::uint16_t mail_code = 0;
    EnhancedCode mail_enhanced;
    std::string mail_text;
    std::vector<std::uint8_t> reported;   // per recipient: outcome given
    std::uint32_t accepted = 0;           // recipients accepted at RCPT, awaiting the body
    std::uint32_t next_rcpt_to_send = 0;  // lock-step mode
  };
  struct Expected {
    Stage stage;
    std::uint8_t slot;
    std::uint32_t index;  // recipient index for rcpt
  };

  void handle_reply(const Reply& reply, std::string& out);
  void handle_envelope_reply(const Expected& expected, const Reply& reply, std::string& out);
  void handle_data_reply(Slot& slot, std::uint8_t slot_index, const Reply& reply, std::string& out);
  void start_transaction(std::string& out);
  void send_data_or_finish(Slot& slot, std::uint8_t slot_index, std::string& out);
  void report(Slot& slot, std::size_t index, const Outcome& outcome);
  void report_pending(Slot& slot, const Outcome& outcome, bool accepted_only);
  void finish_transaction(Slot& slot);
  // fail() with the step whose reply ended the session, for transactions awaiting no reply.
  void fail_at(std::string_view reason, Stage stage);
  void fail_slot(Slot& slot, Stage stage, bool behind_another = false);
  void fail_with_reply(const Reply& reply, Stage stage);
  void append_address_command(std::string_view verb, std::string_view address,
                              std::string& out) const;
  void after_hello(std::string& out);
  void start_auth(std::string& out);
  void handle_auth_reply(std::uint32_t step, const Reply& reply, std::string& out);
  bool pipelining() const { return options_.use_pipelining && capabilities_.pipelining; }

  Options options_;
  SessionDelegate& delegate_;
  State state_ = State::greeting;
  Capabilities capabilities_;
  std::deque<Expected> expected_;
  std::array<Slot, 2> slots_;
  std::string input_;  // bytes of an incomplete reply, kept across reads
  std::string text_;   // scratch for reply texts given to the delegate
  std::string failure_;
  std::uint16_t failure_code_ = 0;
  EnhancedCode failure_enhanced_;
  std::string size_text_;  // the text of an outcome decided here (SIZE, SMTPUTF8)
  Stage failure_stage_ = Stage::connect;
  std::uint32_t transactions_started_ = 0;
  bool tls_active_ = false;
  bool starttls_refused_ = false;
  bool authenticated_ = false;
  bool auth_rejected_ = false;
  bool auth_unusable_ = false;
};

}  // namespace hayate::smtp
