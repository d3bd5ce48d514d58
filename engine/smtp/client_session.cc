// ESMTP client dialogue: greeting, EHLO (HELO fallback), pipelined or lock-step transactions,
// RSET after a failed transaction, QUIT. See client_session.h for the pipelining scheme.
#include "engine/smtp/client_session.h"

#include <openssl/evp.h>

#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/strings.h"

namespace hayate::smtp {

const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::connect:
      return "connect";
    case Stage::greeting:
      return "greeting";
    case Stage::ehlo:
      return "ehlo";
    case Stage::helo:
      return "helo";
    case Stage::starttls:
      return "starttls";
    case Stage::tls:
      return "tls";
    case Stage::auth:
      return "auth";
    case Stage::mail:
      return "mail";
    case Stage::rcpt:
      return "rcpt";
    case Stage::data:
      return "data";
    case Stage::body:
      return "body";
    case Stage::rset:
      return "rset";
    case Stage::quit:
      return "quit";
  }
  return "unknown";
}

namespace {
bool has_line_break(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}
}  // namespace

ClientSession::ClientSession(Options options, SessionDelegate& delegate)
    : options_(std::move(options)), delegate_(delegate) {
  HAYATE_ASSERT(!has_line_break(options_.helo_name));
  expected_.push_back({Stage::greeting, 0, 0});
}

Stage ClientSession::awaited_stage() const {
  HAYATE_ASSERT(!expected_.empty());
  return expected_.front().stage;
}

void ClientSession::on_bytes(std::string_view data, std::string& out) {
  if (state_ == State::closed || state_ == State::failed) return;
  // Parse straight from the received bytes; keep only an incomplete tail.
  std::string_view pending = data;
  if (!input_.empty()) {
    input_.append(data);
    pending = input_;
  }
  std::size_t consumed_total = 0;
  while (consumed_total < pending.size() && state_ != State::failed && state_ != State::closed) {
    Reply reply;
    std::size_t consumed = 0;
    ParseResult result = parse_reply(pending.substr(consumed_total), reply, consumed);
    if (result == ParseResult::need_more) break;
    if (result == ParseResult::malformed) {
      // Show the offending line (its first 80 bytes), not what follows it.
      std::string_view head = pending.substr(consumed_total, 80);
      head = head.substr(0, head.find_first_of("\r\n"));
      std::string shown;
      for (char c : head) shown.push_back(c >= 0x20 && c < 0x7f ? c : '?');
      fail("malformed reply from server: \"" + shown + "\"");
      return;
    }
    consumed_total += consumed;
    if (expected_.empty()) {
      // A reply nobody asked for (RFC 5321 allows none, except 421 before closing).
      if (reply.code == 421) {
        fail_with_reply(reply, Stage::quit);
      } else {
        fail("unexpected reply from server: " + reply_text_for_log(reply));
      }
      return;
    }
    handle_reply(reply, out);
    if (state_ == State::tls_handshake) {
      // RFC 3207 4.2 / 5: bytes that came with or after the 220 were sent in plaintext and
      // could be an injection; none of them may be read as if they came over TLS.
      input_.clear();
      return;
    }
  }
  if (state_ == State::failed || state_ == State::closed) {
    input_.clear();
    return;
  }
  if (pending.data() == input_.data()) {
    input_.erase(0, consumed_total);
  } else {
    input_.assign(pending.substr(consumed_total));
  }
}

void ClientSession::handle_reply(const Reply& reply, std::string& out) {
  const Expected expected = expected_.front();
  expected_.pop_front();
  switch (expected.stage) {
    case Stage::greeting:
      if (reply.code / 100 != 2) {
        fail_with_reply(reply, Stage::greeting);
        return;
      }
      state_ = State::hello;
      out.append("EHLO ").append(options_.helo_name).append("\r\n");
      expected_.push_back({Stage::ehlo, 0, 0});
      return;
    case Stage::ehlo:
      if (reply.code / 100 == 2) {
        capabilities_ = parse_capabilities(reply);
        after_hello(out);
      } else if (reply.code / 100 == 5) {  // RFC 5321 4.1.4: fall back to HELO
        out.append("HELO ").append(options_.helo_name).append("\r\n");
        expected_.push_back({Stage::helo, 0, 0});
      } else {
        fail_with_reply(reply, Stage::ehlo);
      }
      return;
    case Stage::helo:
      if (reply.code / 100 != 2) {
        fail_with_reply(reply, Stage::helo);
        return;
      }
      capabilities_ = Capabilities{};
      after_hello(out);
      return;
    case Stage::starttls:
      if (reply.code == 220) {
        state_ = State::tls_handshake;  // on_bytes drops whatever followed the 220
      } else if (options_.tls == TlsPolicy::required) {
        fail_with_reply(reply, Stage::starttls);
      } else {
        starttls_refused_ = true;  // opportunistic: go on in plaintext
        after_hello(out);
      }
      return;
    case Stage::auth:
      handle_auth_reply(expected.index, reply, out);
      return;
    case Stage::tls:
      HAYATE_ASSERT(false);
    case Stage::mail:
    case Stage::rcpt:
    case Stage::data:
    case Stage::body:
      handle_envelope_reply(expected, reply, out);
      break;
    case Stage::rset:
      // RFC 5321 4.1.1.5: RSET must succeed. Otherwise the server's state is unknown, and the
      // next MAIL could draw a 503 that would fail its recipients for nothing they did.
      if (reply.code / 100 != 2) fail_with_reply(reply, Stage::rset);
      break;
    case Stage::quit:
      state_ = State::closed;
      return;
    case Stage::connect:
      HAYATE_ASSERT(false);
  }
  if (state_ == State::ready && expected_.empty()) start_transaction(out);
}

void ClientSession::after_hello(std::string& out) {
  if (!tls_active_ && options_.tls != TlsPolicy::disabled && !starttls_refused_) {
    if (capabilities_.starttls) {
      out.append("STARTTLS\r\n");
      expected_.push_back({Stage::starttls, 0, 0});
      return;
    }
    if (options_.tls == TlsPolicy::required) {
      fail_at("TLS is required, but the server does not offer STARTTLS", Stage::starttls);
      return;
    }
  }
  if (!options_.auth_username.empty() && !authenticated_) {
    start_auth(out);
    return;
  }
  state_ = State::ready;
  start_transaction(out);
}

void ClientSession::on_tls_established(std::string& out) {
  HAYATE_ASSERT(state_ == State::tls_handshake || (options_.tls_active && !tls_active_));
  tls_active_ = true;
  if (state_ != State::tls_handshake) return;  // implicit TLS: the greeting comes next
  // RFC 3207 4.2: forget what the server said before, and ask again.
  capabilities_ = Capabilities{};
  state_ = State::hello;
  out.append("EHLO ").append(options_.helo_name).append("\r\n");
  expected_.push_back({Stage::ehlo, 0, 0});
}

namespace {
std::string base64(std::string_view data) {
  std::string encoded(4 * ((data.size() + 2) / 3), '\0');
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                     reinterpret_cast<const unsigned char*>(data.data()),
                                     static_cast<int>(data.size()));
  encoded.resize(static_cast<std::size_t>(length));
  return encoded;
}
}  // namespace

void ClientSession::start_auth(std::string& out) {
  // RFC 4954 4: credentials go only over an encrypted connection (unless the operator said so,
  // for a test server on loopback).
  if (!tls_active_ && !options_.allow_plaintext_auth) {
    auth_unusable_ = true;
    fail_at("refusing to send credentials over a connection without TLS", Stage::auth);
    return;
  }
  if (capabilities_.auth_plain) {  // RFC 4616: authzid NUL authcid NUL passwd
    std::string credentials;
    credentials.append(1, '\0').append(options_.auth_username).append(1, '\0');
    credentials.append(options_.auth_password);
    out.append("AUTH PLAIN ").append(base64(credentials)).append("\r\n");
    expected_.push_back({Stage::auth, 0, 0});
  } else if (capabilities_.auth_login) {
    out.append("AUTH LOGIN\r\n");
    expected_.push_back({Stage::auth, 0, 1});
  } else {
    auth_unusable_ = true;
    fail_at("the server offers neither AUTH PLAIN nor AUTH LOGIN", Stage::auth);
  }
}

void ClientSession::handle_auth_reply(std::uint32_t step, const Reply& reply, std::string& out) {
  // step 0: AUTH PLAIN sent; 1: AUTH LOGIN sent; 2: user name sent; 3: password sent.
  if (reply.code == 334 && (step == 1 || step == 2)) {
    out.append(base64(step == 1 ? options_.auth_username : options_.auth_password)).append("\r\n");
    expected_.push_back({Stage::auth, 0, step + 1});
    return;
  }
  if (reply.code == 235 && (step == 0 || step == 3)) {
    authenticated_ = true;
    state_ = State::ready;
    start_transaction(out);
    return;
  }
  if (reply.code == 535) auth_rejected_ = true;  // RFC 4954 6: credentials invalid
  fail_with_reply(reply, Stage::auth);
}

void ClientSession::handle_envelope_reply(const Expected& expected, const Reply& reply,
                                          std::string& out) {
  Slot& slot = slots_[expected.slot];
  HAYATE_ASSERT(slot.active);
  // RFC 5321 4.3.2: DATA's go-ahead is 3xx and nothing else's is. A server out of step must
  // not make a message count as delivered (a 250 to DATA, with no body sent) or a 3xx stand
  // as a recipient's verdict: end the session, the recipients in flight get code 0.
  const int reply_class = reply.code / 100;
  const int positive_class = expected.stage == Stage::data ? 3 : 2;
  if (reply_class != positive_class && reply_class != 4 && reply_class != 5) {
    expected_.push_front(expected);  // the step is still unanswered
    fail_at(std::string(stage_name(expected.stage)) + ": reply " + std::to_string(reply.code) +
                " out of sequence: " + reply_text_for_log(reply),
            expected.stage);
    failure_code_ = reply.code;
    return;
  }
  text_ = reply_text_for_log(reply);
  const Outcome outcome{reply.code, reply.enhanced, text_, expected.stage};
  switch (expected.stage) {
    case Stage::mail:
      if (reply.code / 100 != 2) {
        slot.mail_failed = true;
        slot.mail_code = reply.code;
        slot.mail_enhanced = reply.enhanced;
        slot.mail_text = text_;
        if (!pipelining()) {  // nothing else was sent: every recipient fails with MAIL's reply
          report_pending(slot, outcome, false);
          finish_transaction(slot);
        }
      } else if (!pipelining()) {
        append_address_command("RCPT TO:", slot.transaction.recipients[0], out);
        slot.next_rcpt_to_send = 1;
        expected_.push_back({Stage::rcpt, expected.slot, 0});
      }
      break;
    case Stage::rcpt:
      if (slot.mail_failed) {
        const Outcome mail_outcome{slot.mail_code, slot.mail_enhanced, slot.mail_text, Stage::mail};
        report(slot, expected.index, mail_outcome);
      } else if (reply.code / 100 == 2) {
        ++slot.accepted;
      } else {
        report(slot, expected.index, outcome);
      }
      // In lock-step the next command follows, unless the server is closing (RFC 5321 3.8).
      if (!pipelining() && reply.code != 421) send_data_or_finish(slot, expected.slot, out);
      break;
    case Stage::data:
      handle_data_reply(slot, expected.slot, reply, out);
      break;
    case Stage::body:
      // The final dot's reply decides for every recipient accepted at RCPT.
      report_pending(slot, outcome, true);
      finish_transaction(slot);
      break;
    default:
      HAYATE_ASSERT(false);
  }
  if (reply.code == 421) fail_with_reply(reply, expected.stage);  // the server is closing
}

void ClientSession::send_data_or_finish(Slot& slot, std::uint8_t slot_index, std::string& out) {
  const auto& recipients = slot.transaction.recipients;
  if (slot.next_rcpt_to_send < recipients.size()) {
    append_address_command("RCPT TO:", recipients[slot.next_rcpt_to_send], out);
    expected_.push_back({Stage::rcpt, slot_index, slot.next_rcpt_to_send});
    ++slot.next_rcpt_to_send;
    return;
  }
  if (slot.accepted > 0) {
    out.append("DATA\r\n");
    expected_.push_back({Stage::data, slot_index, 0});
    return;
  }
  // No recipient accepted: the transaction ends here; clear the server's state.
  finish_transaction(slot);
  out.append("RSET\r\n");
  expected_.push_back({Stage::rset, 0, 0});
}

void ClientSession::handle_data_reply(Slot& slot, std::uint8_t slot_index, const Reply& reply,
                                      std::string& out) {
  if (reply.code / 100 == 3) {
    if (slot.accepted > 0 && !slot.mail_failed) {
      delegate_.append_message(slot.transaction, out);
    } else {
      out.append(".\r\n");  // RFC 2920 3.1: DATA was accepted anyway, send an empty message
    }
    expected_.push_back({Stage::body, slot_index, 0});
    // The next transaction's envelope rides in the same write as this body.
    if (pipelining()) start_transaction(out);
    return;
  }
  if (slot.mail_failed) {
    const Outcome mail_outcome{slot.mail_code, slot.mail_enhanced, slot.mail_text, Stage::mail};
    report_pending(slot, mail_outcome, false);
  } else {
    text_ = reply_text_for_log(reply);
    report_pending(slot, Outcome{reply.code, reply.enhanced, text_, Stage::data}, false);
  }
  const bool transaction_open = !slot.mail_failed;
  finish_transaction(slot);
  if (transaction_open && reply.code != 421) {
    out.append("RSET\r\n");
    expected_.push_back({Stage::rset, 0, 0});
  }
}

void ClientSession::start_transaction(std::string& out) {
  if (state_ != State::ready) return;
  // One transaction may await its body's reply while the next one's envelope is in flight.
  std::uint8_t free_slot = 2;
  for (std::uint8_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].active) free_slot = i;
  }
  if (free_slot == 2) return;
  for (const Expected& e : expected_) {
    if (e.stage != Stage::body) return;  // an envelope is already in flight
  }
  if (!pipelining() && !expected_.empty()) return;
  Slot& slot = slots_[free_slot];
  Transaction& transaction = slot.transaction;
  // A loop, not recursion: a long run of transactions that cannot be sent here is refused
  // without a round trip each, and must not grow the stack.
  for (;;) {
    transaction.recipients.clear();
    transaction.needs_smtputf8 = false;
    transaction.body_8bitmime = false;
    transaction.size_bytes = 0;
    if (!delegate_.next_transaction(transaction)) return;
    const std::size_t count = transaction.recipients.size();
    HAYATE_ASSERT(count > 0 && count <= limits::recipients_per_transaction_max);
    slot.active = true;
    slot.mail_failed = false;
    slot.accepted = 0;
    slot.next_rcpt_to_send = 0;
    slot.reported.assign(count, 0);
    ++transactions_started_;
    const bool too_big = capabilities_.size && capabilities_.size_max_bytes > 0 &&
                         transaction.size_bytes > capabilities_.size_max_bytes;
    if (!too_big && (!transaction.needs_smtputf8 || capabilities_.smtputf8)) break;
    // Refused here, without a round trip: RFC 6531 3.4, without SMTPUTF8 such an address
    // cannot be sent at all; RFC 1870 6.1, a message over the announced SIZE would get 552.
    size_text_ = too_big ? cat("the message is ", transaction.size_bytes, " octets, over the ",
                               capabilities_.size_max_bytes, " the server announced (SIZE)")
                         : "the address needs SMTPUTF8, which the server does not offer";
    const Outcome outcome = too_big ? Outcome{552, EnhancedCode{5, 3, 4}, size_text_, Stage::mail}
                                    : Outcome{553, EnhancedCode{5, 6, 7}, size_text_, Stage::mail};
    report_pending(slot, outcome, false);
    finish_transaction(slot);
    if (state_ != State::ready) return;  // the delegate ended the session from its callback
  }
  const std::size_t count = transaction.recipients.size();
  out.append("MAIL FROM:<").append(transaction.mail_from).append(">");
  HAYATE_ASSERT(!has_line_break(transaction.mail_from));
  if (transaction.body_8bitmime && capabilities_.eightbitmime) out.append(" BODY=8BITMIME");
  if (capabilities_.size && transaction.size_bytes > 0) {
    out.append(" SIZE=").append(std::to_string(transaction.size_bytes));
  }
  if (transaction.needs_smtputf8) out.append(" SMTPUTF8");
  out.append("\r\n");
  expected_.push_back({Stage::mail, free_slot, 0});
  if (!pipelining()) return;
  for (std::uint32_t i = 0; i < count; ++i) {
    append_address_command("RCPT TO:", transaction.recipients[i], out);
    expected_.push_back({Stage::rcpt, free_slot, i});
  }
  slot.next_rcpt_to_send = static_cast<std::uint32_t>(count);
  out.append("DATA\r\n");
  expected_.push_back({Stage::data, free_slot, 0});
}

void ClientSession::append_address_command(std::string_view verb, std::string_view address,
                                           std::string& out) const {
  // Addresses were checked when read; a line break here would be command injection.
  HAYATE_ASSERT(!has_line_break(address));
  out.append(verb).append("<").append(address).append(">\r\n");
}

void ClientSession::report(Slot& slot, std::size_t index, const Outcome& outcome) {
  HAYATE_ASSERT(index < slot.reported.size());
  if (slot.reported[index]) return;
  slot.reported[index] = 1;
  delegate_.on_recipient_outcome(slot.transaction, index, outcome);
}

void ClientSession::report_pending(Slot& slot, const Outcome& outcome, bool accepted_only) {
  (void)accepted_only;  // recipients refused at RCPT were reported already
  for (std::size_t i = 0; i < slot.reported.size(); ++i) report(slot, i, outcome);
}

void ClientSession::finish_transaction(Slot& slot) {
  for (std::uint8_t reported : slot.reported) HAYATE_ASSERT(reported);
  slot.active = false;
}

void ClientSession::poke(std::string& out) {
  if (idle()) start_transaction(out);
}

void ClientSession::quit(std::string& out) {
  if (state_ == State::ready && expected_.empty()) {
    out.append("QUIT\r\n");
    expected_.push_back({Stage::quit, 0, 0});
    state_ = State::quitting;
  } else if (state_ == State::greeting || state_ == State::hello) {
    fail("session ended before it was ready");
  }
}

void ClientSession::fail_with_reply(const Reply& reply, Stage stage) {
  if (state_ == State::failed || state_ == State::closed) return;
  fail_at(std::string(stage_name(stage)) + ": " + reply_text_for_log(reply), stage);
  failure_code_ = reply.code;
  failure_enhanced_ = reply.enhanced;
  failure_stage_ = stage;
}

void ClientSession::fail(std::string_view reason) { fail_at(reason, Stage::connect); }

void ClientSession::fail_at(std::string_view reason, Stage stage) {
  if (state_ == State::failed || state_ == State::closed) return;
  state_ = State::failed;
  failure_.assign(reason);
  // Oldest transaction first, each at its own step: behind a body awaiting its reply, the
  // next transaction's envelope is in flight too, and only the first body may have arrived.
  std::deque<Expected> in_flight;
  in_flight.swap(expected_);
  bool behind_another = false;  // a transaction earlier in the pipeline failed first
  for (const Expected& expected : in_flight) {
    const bool envelope = expected.stage == Stage::mail || expected.stage == Stage::rcpt ||
                          expected.stage == Stage::data || expected.stage == Stage::body;
    if (envelope && slots_[expected.slot].active) {
      fail_slot(slots_[expected.slot], expected.stage, behind_another);
      behind_another = true;
    }
  }
  // A transaction with no reply awaited: in lock-step, the one whose reply ends the session.
  for (Slot& slot : slots_) {
    if (slot.active) fail_slot(slot, stage);
  }
}

void ClientSession::fail_slot(Slot& slot, Stage stage, bool behind_another) {
  if (slot.mail_failed) {
    // MAIL was refused: that reply is every recipient's answer, whatever became of the rest.
    const Outcome mail_outcome{slot.mail_code, slot.mail_enhanced, slot.mail_text, Stage::mail};
    report_pending(slot, mail_outcome, false);
  } else {
    Outcome outcome{0, EnhancedCode{}, failure_, stage};
    // Only a transaction behind the one that failed: the first one's MAIL unanswered is the
    // server dropping us at MAIL, an attempt like any other (else it would be retried at once
    // for ever).
    outcome.untried = behind_another && stage == Stage::mail;
    outcome.after_final_dot = stage == Stage::body;
    report_pending(slot, outcome, false);
  }
  finish_transaction(slot);
}

}  // namespace hayate::smtp
