// Tests for engine/smtp/client_session: scripted server replies in, the exact bytes the client
// writes and the exact recipient outcomes out. Covers pipelining within and across transactions
// (RFC 2920), lock-step servers, split reads, rejections at every step and failures mid-way.
#include "engine/smtp/client_session.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/limits.h"

namespace hayate::smtp {
namespace {

using State = ClientSession::State;

// What the fake delegate appends after 354, already dot-stuffed and terminated.
constexpr std::string_view kBody = "Subject: x\r\n\r\nbody\r\n.\r\n";

// Real-world replies (Postfix 3.7 defaults unless noted).
constexpr std::string_view kGreeting = "220 mx.example.org ESMTP Postfix (Debian/GNU)\r\n";
constexpr std::string_view kEhloPipelining =
    "250-mx.example.org\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 10240000\r\n"
    "250-VRFY\r\n"
    "250-ETRN\r\n"
    "250-STARTTLS\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250-8BITMIME\r\n"
    "250-DSN\r\n"
    "250-SMTPUTF8\r\n"
    "250 CHUNKING\r\n";
// The same server with smtputf8_enable = no.
constexpr std::string_view kEhloNoSmtputf8 =
    "250-mx.example.org\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 10240000\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250-8BITMIME\r\n"
    "250 DSN\r\n";
// Sendmail without PIPELINING: every command waits for its reply.
constexpr std::string_view kEhloLockStep =
    "250-mail.example.net Hello relay.example.com [192.0.2.10], pleased to meet you\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250-8BITMIME\r\n"
    "250-SIZE 52428800\r\n"
    "250 HELP\r\n";
constexpr std::string_view kMailOk = "250 2.1.0 Ok\r\n";
constexpr std::string_view kRcptOk = "250 2.1.5 Ok\r\n";
constexpr std::string_view kGoAhead = "354 End data with <CR><LF>.<CR><LF>\r\n";
constexpr std::string_view kQueued = "250 2.0.0 Ok: queued as 4Xb1Lk2Qz5z9rxK\r\n";
constexpr std::string_view kUserUnknown =
    "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual "
    "mailbox table\r\n";
constexpr std::string_view kTooManyErrors = "421 4.7.0 mx.example.org Error: too many errors\r\n";

struct Recorded {
  std::uint64_t transaction_id = 0;
  std::size_t index = 0;
  std::string recipient;
  std::uint16_t code = 0;
  std::string enhanced;
  std::string text;
  Stage stage = Stage::connect;
  bool untried = false;
  bool after_final_dot = false;
};

// "1:b@example.org rcpt 550 5.1.1": transaction, recipient, stage, code, enhanced code.
std::string describe(const Recorded& outcome) {
  std::string out = std::to_string(outcome.transaction_id) + ":" + outcome.recipient + " " +
                    stage_name(outcome.stage) + " " + std::to_string(outcome.code);
  if (!outcome.enhanced.empty()) out += " " + outcome.enhanced;
  return out;
}

// Hands out queued transactions, appends kBody, records every outcome (copied: the outcome's
// text only lives during the call).
class FakeDelegate final : public SessionDelegate {
 public:
  bool next_transaction(Transaction& transaction) override {
    ++next_transaction_calls;
    if (queue.empty()) return false;
    transaction = std::move(queue.front());
    queue.pop_front();
    started.push_back(transaction);
    return true;
  }
  void append_message(const Transaction& transaction, std::string& out) override {
    messages.push_back(transaction.id);
    out.append(kBody);
  }
  void on_recipient_outcome(const Transaction& transaction, std::size_t index,
                            const Outcome& outcome) override {
    EXPECT_LT(index, transaction.recipients.size());
    if (index >= transaction.recipients.size()) return;
    outcomes.push_back({transaction.id, index, transaction.recipients[index], outcome.code,
                        outcome.enhanced.to_string(), std::string(outcome.text), outcome.stage,
                        outcome.untried, outcome.after_final_dot});
    if (on_outcome) on_outcome(outcomes.back());
  }

  std::function<void(const Recorded&)> on_outcome;  // runs inside the session's call
  std::deque<Transaction> queue;
  std::vector<Transaction> started;
  std::vector<std::uint64_t> messages;  // transaction ids whose body was appended
  std::vector<Recorded> outcomes;
  int next_transaction_calls = 0;
};

// One scripted dialogue. server() feeds reply bytes; client() returns (and forgets) what the
// session wrote since the last call, i.e. the next write a connection would make.
class Script {
 public:
  explicit Script(bool use_pipelining = true) : Script(options(use_pipelining)) {}
  explicit Script(ClientSession::Options options) : session_(std::move(options), delegate_) {}

  static ClientSession::Options options(bool use_pipelining = true) {
    ClientSession::Options options;
    options.helo_name = "me";
    options.use_pipelining = use_pipelining;
    return options;
  }

  // Whatever the scenario, no recipient hears twice; once the session has nothing in flight,
  // every recipient of every started transaction has heard exactly once.
  ~Script() {
    std::map<std::pair<std::uint64_t, std::size_t>, int> heard;
    for (const Recorded& outcome : delegate_.outcomes) {
      ++heard[{outcome.transaction_id, outcome.index}];
    }
    for (const auto& [key, count] : heard) {
      EXPECT_EQ(count, 1) << "transaction " << key.first << " recipient " << key.second;
    }
    if (session_.awaiting_reply()) return;
    std::size_t recipients = 0;
    for (const Transaction& transaction : delegate_.started) {
      recipients += transaction.recipients.size();
      for (std::size_t i = 0; i < transaction.recipients.size(); ++i) {
        EXPECT_EQ(heard.count({transaction.id, i}), 1u)
            << "transaction " << transaction.id << " recipient " << i << " never heard";
      }
    }
    EXPECT_EQ(delegate_.outcomes.size(), recipients);
  }

  void add(std::uint64_t id, std::string mail_from, std::vector<std::string> recipients,
           bool needs_smtputf8 = false, std::uint64_t size_bytes = 0) {
    Transaction transaction{id, std::move(mail_from), std::move(recipients), needs_smtputf8};
    transaction.size_bytes = size_bytes;
    delegate_.queue.push_back(std::move(transaction));
  }

  void server(std::string_view bytes) { session_.on_bytes(bytes, out_); }
  std::string client() { return std::exchange(out_, std::string()); }

  // Greeting and EHLO, checking the EHLO the client sends.
  void greet(std::string_view ehlo_reply = kEhloPipelining) {
    server(kGreeting);
    EXPECT_EQ(client(), "EHLO me\r\n");
    server(ehlo_reply);
  }

  void poke() { session_.poke(out_); }
  void quit() { session_.quit(out_); }

  std::vector<std::string> outcomes() const {
    std::vector<std::string> described;
    for (const Recorded& outcome : delegate_.outcomes) described.push_back(describe(outcome));
    return described;
  }

  ClientSession& session() { return session_; }
  FakeDelegate& delegate() { return delegate_; }

 private:
  FakeDelegate delegate_;
  ClientSession session_;
  std::string out_;
};

using Lines = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// Greeting, EHLO, HELO.

TEST(ClientSessionTest, GreetingThenEhlo) {
  Script s;
  EXPECT_EQ(s.session().state(), State::greeting);
  EXPECT_TRUE(s.session().awaiting_reply());
  EXPECT_EQ(s.session().awaited_stage(), Stage::greeting);
  EXPECT_EQ(s.client(), "");  // RFC 5321 3.1: the client waits for the greeting

  s.server(kGreeting);
  EXPECT_EQ(s.client(), "EHLO me\r\n");
  EXPECT_EQ(s.session().state(), State::hello);
  EXPECT_EQ(s.session().awaited_stage(), Stage::ehlo);

  s.server(kEhloPipelining);
  EXPECT_EQ(s.client(), "");  // no work
  EXPECT_EQ(s.session().state(), State::ready);
  EXPECT_TRUE(s.session().idle());
  EXPECT_FALSE(s.session().awaiting_reply());
  const Capabilities& capabilities = s.session().capabilities();
  EXPECT_TRUE(capabilities.pipelining);
  EXPECT_TRUE(capabilities.smtputf8);
  EXPECT_TRUE(capabilities.size);
  EXPECT_EQ(capabilities.size_max_bytes, 10240000u);
  EXPECT_TRUE(capabilities.starttls);
  EXPECT_TRUE(capabilities.chunking);
  EXPECT_EQ(s.delegate().next_transaction_calls, 1);
  EXPECT_EQ(s.session().failure(), "");
  EXPECT_EQ(s.session().transactions_started(), 0u);
}

TEST(ClientSessionTest, MultilineGreetingWithBareLineFeeds) {
  Script s;
  s.server("220-mx.example.org ESMTP\n220-No UCE.\n220 Welcome\n");
  EXPECT_EQ(s.client(), "EHLO me\r\n");
  EXPECT_EQ(s.session().awaited_stage(), Stage::ehlo);
}

TEST(ClientSessionTest, GreetingRefused) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.server(
      "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using "
      "zen.spamhaus.org\r\n");
  EXPECT_EQ(s.client(), "");
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure(),
            "greeting: 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using "
            "zen.spamhaus.org");
  EXPECT_EQ(s.session().failure_code(), 554);
  EXPECT_FALSE(s.session().awaiting_reply());
  EXPECT_FALSE(s.session().idle());
  EXPECT_EQ(s.delegate().next_transaction_calls, 0);  // nothing taken, nothing to report
  EXPECT_EQ(s.session().transactions_started(), 0u);

  // A dead session ignores whatever comes next.
  s.server("250 ok\r\n");
  s.quit();
  s.poke();
  EXPECT_EQ(s.client(), "");
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure_code(), 554);
}

TEST(ClientSessionTest, GreetingTemporaryFailure) {
  Script s;
  s.server("421 4.3.2 mx.example.org Service not available, try again later\r\n");
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure_code(), 421);
  EXPECT_EQ(s.session().failure(),
            "greeting: 4.3.2 mx.example.org Service not available, try again later");
}

TEST(ClientSessionTest, EhloNotImplementedFallsBackToHelo) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.server(kGreeting);
  EXPECT_EQ(s.client(), "EHLO me\r\n");
  s.server("502 5.5.2 Error: command not recognized\r\n");
  EXPECT_EQ(s.client(), "HELO me\r\n");  // RFC 5321 4.1.4
  EXPECT_EQ(s.session().state(), State::hello);
  EXPECT_EQ(s.session().awaited_stage(), Stage::helo);
  s.server("250 mx.example.org\r\n");
  EXPECT_EQ(s.session().state(), State::ready);
  const Capabilities& capabilities = s.session().capabilities();
  EXPECT_FALSE(capabilities.pipelining);
  EXPECT_FALSE(capabilities.smtputf8);
  EXPECT_FALSE(capabilities.size);
  EXPECT_FALSE(capabilities.enhancedstatuscodes);
  // HELO means no extensions: lock-step.
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\n");
  EXPECT_EQ(s.session().awaited_stage(), Stage::mail);
}

TEST(ClientSessionTest, EhloUnrecognizedOldServer) {
  Script s;
  s.server(kGreeting);
  EXPECT_EQ(s.client(), "EHLO me\r\n");
  s.server("500 Command unrecognized: \"EHLO me\"\r\n");
  EXPECT_EQ(s.client(), "HELO me\r\n");
}

TEST(ClientSessionTest, HeloRefused) {
  Script s;
  s.server(kGreeting);
  s.server("502 5.5.2 Error: command not recognized\r\n");
  EXPECT_EQ(s.client(), "EHLO me\r\nHELO me\r\n");
  s.server("504 5.5.2 <me>: Helo command rejected: need fully-qualified hostname\r\n");
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure_code(), 504);
  EXPECT_EQ(s.session().failure(),
            "helo: 5.5.2 <me>: Helo command rejected: need fully-qualified hostname");
  EXPECT_EQ(s.client(), "");
}

TEST(ClientSessionTest, EhloTemporaryFailureFails) {
  Script s;
  s.server(kGreeting);
  EXPECT_EQ(s.client(), "EHLO me\r\n");
  s.server("421 4.7.0 mx.example.org closing connection\r\n");
  EXPECT_EQ(s.client(), "");  // no HELO after a 4xx
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure_code(), 421);
  EXPECT_EQ(s.session().failure(), "ehlo: 4.7.0 mx.example.org closing connection");
}

// ---------------------------------------------------------------------------------------------
// Pipelining.

TEST(ClientSessionTest, PipelinedEnvelopeInOneWrite) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.greet();
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
  EXPECT_EQ(s.session().transactions_started(), 1u);
  EXPECT_FALSE(s.session().idle());
  EXPECT_EQ(s.session().awaited_stage(), Stage::mail);

  s.server(kMailOk);
  EXPECT_EQ(s.client(), "");
  EXPECT_EQ(s.session().awaited_stage(), Stage::rcpt);
  s.server(kRcptOk);
  EXPECT_EQ(s.client(), "");
  EXPECT_EQ(s.session().awaited_stage(), Stage::data);
  s.server(kGoAhead);
  EXPECT_EQ(s.client(), kBody);
  EXPECT_EQ(s.session().awaited_stage(), Stage::body);
  EXPECT_TRUE(s.outcomes().empty());

  s.server(kQueued);
  EXPECT_EQ(s.outcomes(), Lines{"1:b@example.org body 250 2.0.0"});
  EXPECT_EQ(s.delegate().outcomes[0].text, "2.0.0 Ok: queued as 4Xb1Lk2Qz5z9rxK");
  EXPECT_EQ(s.client(), "");
  EXPECT_TRUE(s.session().idle());
  EXPECT_EQ(s.delegate().messages, std::vector<std::uint64_t>{1});
}

TEST(ClientSessionTest, SizeIsDeclaredAndAMessageOverTheLimitIsNeverSent) {
  // RFC 1870: the server announced SIZE 10240000 (kEhloPipelining).
  Script s;
  s.add(1, "a@example.net", {"big@example.org"}, false, 20'000'000);
  s.add(2, "a@example.net", {"b@example.org"}, false, 2'048);
  s.greet();
  // The first is refused here, without a MAIL; the second goes with its size declared.
  EXPECT_EQ(s.client(),
            "MAIL FROM:<a@example.net> SIZE=2048\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
  ASSERT_EQ(s.outcomes().size(), 1u);
  EXPECT_EQ(s.outcomes()[0], "1:big@example.org mail 552 5.3.4");
  EXPECT_NE(s.delegate().outcomes[0].text.find("over the 10240000"), std::string::npos);
  s.server(kMailOk);
  s.server(kRcptOk);
  s.server(kGoAhead);
  EXPECT_EQ(s.client(), kBody);
  s.server(kQueued);
  EXPECT_EQ(s.outcomes().back(), "2:b@example.org body 250 2.0.0");
  EXPECT_EQ(s.delegate().messages, std::vector<std::uint64_t>{2});
}

TEST(ClientSessionTest, ALostConnectionMarksTheSentDotAndSparesThePipelinedEnvelope) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.add(2, "a@example.net", {"c@example.org"});
  s.greet();
  s.client();
  s.server(kMailOk);
  s.server(kRcptOk);
  s.server(kGoAhead);
  EXPECT_EQ(s.client(),
            "Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<a@example.net>\r\n"
            "RCPT TO:<c@example.org>\r\nDATA\r\n");
  // The server takes the dot and drops the connection before its reply (RFC 1047).
  s.session().fail("connection closed by the server");
  ASSERT_EQ(s.outcomes().size(), 2u);
  const Recorded& sent = s.delegate().outcomes[0];
  EXPECT_EQ(sent.recipient, "b@example.org");
  EXPECT_EQ(sent.stage, Stage::body);
  EXPECT_TRUE(sent.after_final_dot);
  EXPECT_FALSE(sent.untried);
  const Recorded& behind = s.delegate().outcomes[1];
  EXPECT_EQ(behind.recipient, "c@example.org");
  EXPECT_EQ(behind.stage, Stage::mail);
  EXPECT_TRUE(behind.untried);
  EXPECT_FALSE(behind.after_final_dot);
}

TEST(ClientSessionTest, AConnectionLostAtTheFirstMailIsAnAttempt) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.greet();
  s.client();
  s.session().fail("connection closed by the server");
  ASSERT_EQ(s.outcomes().size(), 1u);
  EXPECT_EQ(s.delegate().outcomes[0].stage, Stage::mail);
  EXPECT_FALSE(s.delegate().outcomes[0].untried);  // else it would be retried at once, for ever
}

TEST(ClientSessionTest, NullSender) {
  Script s;
  s.add(1, "", {"b@example.org"});  // a bounce: RFC 5321 4.5.5
  s.greet();
  EXPECT_EQ(s.client(), "MAIL FROM:<>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
}

// RFC 2920 3.1: the message content may open a group, so the body, its dot and the next
// transaction's envelope share one write: one round trip per message.
TEST(ClientSessionTest, BodyAndNextEnvelopeShareOneWrite) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.add(2, "a@example.net", {"c@example.org", "d@example.org"});
  s.add(3, "bounces@example.net", {"e@example.com"});
  s.greet();
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
  s.server(kMailOk);
  s.server(kRcptOk);
  s.server(kGoAhead);
  EXPECT_EQ(s.client(),
            "Subject: x\r\n\r\nbody\r\n.\r\n"
            "MAIL FROM:<a@example.net>\r\n"
            "RCPT TO:<c@example.org>\r\n"
            "RCPT TO:<d@example.org>\r\n"
            "DATA\r\n");
  EXPECT_EQ(s.session().awaited_stage(), Stage::body);
  EXPECT_EQ(s.session().transactions_started(), 2u);

  s.server(kQueued);  // transaction 1's dot
  EXPECT_EQ(s.outcomes(), Lines{"1:b@example.org body 250 2.0.0"});
  EXPECT_EQ(s.session().awaited_stage(), Stage::mail);
  EXPECT_EQ(s.client(), "");  // transaction 2's envelope is already in flight

  // The rest of transaction 2's replies in one read.
  s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n");
  EXPECT_EQ(s.client(),
            "Subject: x\r\n\r\nbody\r\n.\r\n"
            "MAIL FROM:<bounces@example.net>\r\n"
            "RCPT TO:<e@example.com>\r\n"
            "DATA\r\n");
  s.server("250 2.0.0 Ok: queued as 2\r\n");
  EXPECT_EQ(s.outcomes(), (Lines{"1:b@example.org body 250 2.0.0", "2:c@example.org body 250 2.0.0",
                                 "2:d@example.org body 250 2.0.0"}));
  s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n");
  EXPECT_EQ(s.client(), kBody);  // no fourth transaction
  EXPECT_EQ(s.session().awaited_stage(), Stage::body);
  s.server("250 2.0.0 Ok: queued as 3\r\n");
  EXPECT_EQ(s.outcomes().back(), "3:e@example.com body 250 2.0.0");
  EXPECT_EQ(s.outcomes().size(), 4u);
  EXPECT_TRUE(s.session().idle());
  EXPECT_EQ(s.delegate().messages, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(s.session().transactions_started(), 3u);

  s.quit();
  EXPECT_EQ(s.client(), "QUIT\r\n");
  EXPECT_EQ(s.session().state(), State::quitting);
  EXPECT_EQ(s.session().awaited_stage(), Stage::quit);
  s.server("221 2.0.0 Bye\r\n");
  EXPECT_EQ(s.session().state(), State::closed);
  EXPECT_FALSE(s.session().awaiting_reply());
  EXPECT_EQ(s.session().failure(), "");
}

TEST(ClientSessionTest, OneRecipientRejectedOthersGetTheDotReply) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org", "nobody@example.org", "d@example.org"});
  s.greet();
  EXPECT_EQ(s.client(),
            "MAIL FROM:<a@example.net>\r\n"
            "RCPT TO:<b@example.org>\r\n"
            "RCPT TO:<nobody@example.org>\r\n"
            "RCPT TO:<d@example.org>\r\n"
            "DATA\r\n");
  s.server(kMailOk);
  s.server(kRcptOk);
  EXPECT_EQ(s.session().awaited_stage(), Stage::rcpt);
  s.server(kUserUnknown);
  // The rejection is final at once; the accepted ones wait for the dot.
  EXPECT_EQ(s.outcomes(), Lines{"1:nobody@example.org rcpt 550 5.1.1"});
  EXPECT_EQ(s.delegate().outcomes[0].text,
            "5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual "
            "mailbox table");
  EXPECT_EQ(s.delegate().outcomes[0].index, 1u);
  EXPECT_EQ(s.session().awaited_stage(), Stage::rcpt);
  s.server(kRcptOk);
  EXPECT_EQ(s.session().awaited_stage(), Stage::data);
  s.server(kGoAhead);
  EXPECT_EQ(s.client(), kBody);
  s.server(kQueued);
  EXPECT_EQ(s.outcomes(),
            (Lines{"1:nobody@example.org rcpt 550 5.1.1", "1:b@example.org body 250 2.0.0",
                   "1:d@example.org body 250 2.0.0"}));
  EXPECT_TRUE(s.session().idle());
}

TEST(ClientSessionTest, AllRecipientsRejectedDataRefusedThenRset) {
  for (std::string_view data_reply :
       {"554 5.5.1 Error: no valid recipients\r\n", "503 5.5.1 Error: need RCPT command\r\n"}) {
    SCOPED_TRACE(data_reply);
    Script s;
    s.add(1, "a@example.net", {"x@example.org", "y@example.org"});
    s.add(2, "a@example.net", {"z@example.org"});
    s.greet();
    EXPECT_EQ(s.client(),
              "MAIL FROM:<a@example.net>\r\n"
              "RCPT TO:<x@example.org>\r\n"
              "RCPT TO:<y@example.org>\r\n"
              "DATA\r\n");
    s.server(kMailOk);
    s.server("550 5.1.1 <x@example.org>: Recipient address rejected: User unknown\r\n");
    s.server("450 4.2.0 <y@example.org>: Recipient address rejected: Greylisted\r\n");
    EXPECT_EQ(s.outcomes(),
              (Lines{"1:x@example.org rcpt 550 5.1.1", "1:y@example.org rcpt 450 4.2.0"}));
    EXPECT_EQ(s.session().awaited_stage(), Stage::data);
    s.server(data_reply);
    // No body; RSET clears the server's transaction (RFC 5321 4.1.1.5) before the next one.
    EXPECT_EQ(s.client(), "RSET\r\n");
    EXPECT_EQ(s.session().awaited_stage(), Stage::rset);
    EXPECT_TRUE(s.delegate().messages.empty());
    EXPECT_EQ(s.outcomes().size(), 2u);  // the DATA reply tells the recipients nothing new
    s.server("250 2.0.0 Ok\r\n");
    EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\nRCPT TO:<z@example.org>\r\nDATA\r\n");
    s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n");
    EXPECT_EQ(s.client(), kBody);
    s.server(kQueued);
    EXPECT_EQ(s.outcomes().back(), "2:z@example.org body 250 2.0.0");
    EXPECT_TRUE(s.session().idle());
  }
}

TEST(ClientSessionTest, MailRejectedEveryRecipientGetsMailReply) {
  Script s;
  s.add(1, "spammer@bad.example", {"b@example.org", "c@example.org"});
  s.add(2, "a@example.net", {"d@example.org"});
  s.greet();
  EXPECT_EQ(s.client(),
            "MAIL FROM:<spammer@bad.example>\r\n"
            "RCPT TO:<b@example.org>\r\n"
            "RCPT TO:<c@example.org>\r\n"
            "DATA\r\n");
  s.server("553 5.7.1 <spammer@bad.example>: Sender address rejected: not owned by user\r\n");
  EXPECT_EQ(s.session().awaited_stage(), Stage::rcpt);
  // The server answers the pipelined RCPTs and DATA with 503s: those say nothing about the
  // recipients, MAIL's reply does.
  s.server("503 5.5.1 Error: need MAIL command\r\n");
  s.server("503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(s.outcomes(),
            (Lines{"1:b@example.org mail 553 5.7.1", "1:c@example.org mail 553 5.7.1"}));
  EXPECT_EQ(s.delegate().outcomes[1].text,
            "5.7.1 <spammer@bad.example>: Sender address rejected: not owned by user");
  EXPECT_EQ(s.session().awaited_stage(), Stage::data);
  s.server("503 5.5.1 Error: need RCPT command\r\n");
  // No transaction was opened, so no RSET: the next envelope goes at once.
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\nRCPT TO:<d@example.org>\r\nDATA\r\n");
  EXPECT_EQ(s.outcomes().size(), 2u);
  EXPECT_TRUE(s.delegate().messages.empty());
}

// RFC 2920 3.1: when DATA is accepted although no recipient was, send a lone dot.
TEST(ClientSessionTest, DataAcceptedWithoutRecipientsSendsLoneDot) {
  Script s;
  s.add(1, "a@example.net", {"nobody@example.org"});
  s.greet();
  s.client();
  s.server(kMailOk);
  s.server(kUserUnknown);
  s.server(kGoAhead);
  EXPECT_EQ(s.client(), ".\r\n");
  EXPECT_TRUE(s.delegate().messages.empty());
  EXPECT_EQ(s.session().awaited_stage(), Stage::body);
  s.server("554 5.5.1 Error: no valid recipients\r\n");
  EXPECT_EQ(s.outcomes(), Lines{"1:nobody@example.org rcpt 550 5.1.1"});
  EXPECT_TRUE(s.session().idle());
  EXPECT_EQ(s.client(), "");
}

TEST(ClientSessionTest, FinalDotDeferredOrBounced) {
  struct Case {
    std::string_view reply;
    std::string expected;
    std::string text;
  };
  const Case cases[] = {
      {"451 4.3.0 Mail server temporarily rejected message. a640c23a62f3a-a9 - gsmtp\r\n",
       "1:b@example.org body 451 4.3.0",
       "4.3.0 Mail server temporarily rejected message. a640c23a62f3a-a9 - gsmtp"},
      {"554 5.7.1 Message rejected as spam\r\n", "1:b@example.org body 554 5.7.1",
       "5.7.1 Message rejected as spam"},
      // Gmail's multiline rejection: the lines are joined in the text.
      {"550-5.7.1 [192.0.2.10] Our system has detected that this message is\r\n"
       "550-5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail,\r\n"
       "550 5.7.1 this message has been blocked. 4fb4d7f45d1cf-5c - gsmtp\r\n",
       "1:b@example.org body 550 5.7.1",
       "5.7.1 [192.0.2.10] Our system has detected that this message is 5.7.1 likely "
       "unsolicited mail. To reduce the amount of spam sent to Gmail, 5.7.1 this message has "
       "been blocked. 4fb4d7f45d1cf-5c - gsmtp"},
      {"552 Message size exceeds fixed maximum message size\r\n", "1:b@example.org body 552",
       "Message size exceeds fixed maximum message size"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.reply);
    Script s;
    s.add(1, "a@example.net", {"b@example.org"});
    s.greet();
    s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n");
    EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n" +
                              std::string(kBody));
    s.server(c.reply);
    EXPECT_EQ(s.outcomes(), Lines{c.expected});
    EXPECT_EQ(s.delegate().outcomes.at(0).text, c.text);
    EXPECT_EQ(s.client(), "");  // the transaction ended with the dot: no RSET needed
    EXPECT_TRUE(s.session().idle());
    EXPECT_EQ(s.session().state(), State::ready);
  }
}

TEST(ClientSessionTest, DataTemporarilyRefusedAfterAcceptedRecipients) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org", "c@example.org"});
  s.add(2, "a@example.net", {"d@example.org"});
  s.greet();
  s.client();
  s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n");
  s.server("451 4.3.0 Error: queue file write error\r\n");
  EXPECT_EQ(s.outcomes(),
            (Lines{"1:b@example.org data 451 4.3.0", "1:c@example.org data 451 4.3.0"}));
  EXPECT_EQ(s.client(), "RSET\r\n");
  s.server("250 2.0.0 Ok\r\n");
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\nRCPT TO:<d@example.org>\r\nDATA\r\n");
}

TEST(ClientSessionTest, HundredRecipientsInOneWrite) {
  Script s;
  std::vector<std::string> recipients;
  std::string expected_write = "MAIL FROM:<a@example.net>\r\n";
  std::string replies(kMailOk);
  for (std::uint32_t i = 0; i < limits::recipients_per_transaction_max; ++i) {
    recipients.push_back("user" + std::to_string(i) + "@example.org");
    expected_write += "RCPT TO:<" + recipients.back() + ">\r\n";
    replies += i % 10 == 3 ? kUserUnknown : kRcptOk;
  }
  expected_write += "DATA\r\n";
  s.add(7, "a@example.net", recipients);
  s.greet();
  EXPECT_EQ(s.client(), expected_write);
  s.server(replies);
  EXPECT_EQ(s.outcomes().size(), 10u);
  EXPECT_EQ(s.outcomes()[0], "7:user3@example.org rcpt 550 5.1.1");
  EXPECT_EQ(s.outcomes()[9], "7:user93@example.org rcpt 550 5.1.1");
  s.server(kGoAhead);
  EXPECT_EQ(s.client(), kBody);
  s.server(kQueued);
  EXPECT_EQ(s.outcomes().size(), 100u);
  EXPECT_EQ(s.outcomes()[10], "7:user0@example.org body 250 2.0.0");
  EXPECT_EQ(s.outcomes()[99], "7:user99@example.org body 250 2.0.0");
}

// ---------------------------------------------------------------------------------------------
// Split reads: the same dialogue gives the same writes and outcomes however the replies are cut.

struct DialogueResult {
  std::string written;
  std::vector<std::string> outcomes;
  std::vector<std::string> texts;
  State state = State::greeting;
  std::uint32_t transactions = 0;
};

// A pipelined dialogue of three transactions: delivered; one recipient refused and the others
// deferred at the dot; MAIL refused. Two replies end with a bare LF, as some servers send.
constexpr std::string_view kPipelinedServer =
    "220 mx.example.org ESMTP Postfix\r\n"
    "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-ENHANCEDSTATUSCODES\r\n"
    "250-8BITMIME\r\n250 SMTPUTF8\r\n"
    "250 2.1.0 Ok\r\n250 2.1.5 Ok\n354 End data with <CR><LF>.<CR><LF>\r\n"
    "250 2.0.0 Ok: queued as A1\r\n"
    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <x@example.org>: Recipient address rejected\r\n"
    "250 2.1.5 Ok\r\n354 End data\r\n"
    "451-4.7.1 Greylisted,\r\n451 4.7.1 see https://example.org/greylisting\r\n"
    "553 5.7.1 Sender address rejected\n503 5.5.1 Error: need MAIL command\r\n"
    "503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need RCPT command\r\n";

constexpr std::string_view kLockStepServer =
    "220 mail.example.net ESMTP Sendmail 8.17.1; Mon, 4 Mar 2024 10:00:00 GMT\r\n"
    "250-mail.example.net Hello relay.example.com [192.0.2.10], pleased to meet you\r\n"
    "250-ENHANCEDSTATUSCODES\r\n250 HELP\r\n"
    "250 2.1.0 <a@example.net>... Sender ok\r\n250 2.1.5 <b@example.org>... Recipient ok\r\n"
    "354 Enter mail, end with \".\" on a line by itself\r\n"
    "250 2.0.0 42A9xYz1000123 Message accepted for delivery\r\n"
    "250 2.1.0 <a@example.net>... Sender ok\r\n250 2.1.5 <c@example.org>... Recipient ok\r\n"
    "550 5.1.1 <x@example.org>... User unknown\r\n250 2.1.5 <d@example.org>... Recipient ok\r\n"
    "354 Enter mail\r\n451 4.7.1 Greylisted\r\n"
    "553 5.1.8 <bad@bad.example>... Domain of sender address does not exist\r\n";

void add_three_transactions(Script& s) {
  s.add(1, "a@example.net", {"b@example.org"});
  s.add(2, "a@example.net", {"c@example.org", "x@example.org", "d@example.org"});
  s.add(3, "bad@bad.example", {"e@example.org", "f@example.org"});
}

// Feeds `server` cut at the given offsets (sorted, within the stream).
DialogueResult run_dialogue(std::string_view server, const std::vector<std::size_t>& cuts) {
  Script s;
  add_three_transactions(s);
  DialogueResult run;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    std::size_t end = i < cuts.size() ? cuts[i] : server.size();
    s.server(server.substr(start, end - start));
    run.written += s.client();
    start = end;
  }
  run.outcomes = s.outcomes();
  for (const Recorded& outcome : s.delegate().outcomes) run.texts.push_back(outcome.text);
  run.state = s.session().state();
  run.transactions = s.session().transactions_started();
  EXPECT_TRUE(s.session().idle());
  return run;
}

void expect_same_result(const DialogueResult& run, const DialogueResult& reference) {
  EXPECT_EQ(run.written, reference.written);
  EXPECT_EQ(run.outcomes, reference.outcomes);
  EXPECT_EQ(run.texts, reference.texts);
  EXPECT_EQ(run.state, reference.state);
  EXPECT_EQ(run.transactions, reference.transactions);
}

TEST(ClientSessionTest, PipelinedDialogueReference) {
  DialogueResult run = run_dialogue(kPipelinedServer, {});
  EXPECT_EQ(run.written,
            "EHLO me\r\n"
            "MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
            "Subject: x\r\n\r\nbody\r\n.\r\n"
            "MAIL FROM:<a@example.net>\r\nRCPT TO:<c@example.org>\r\n"
            "RCPT TO:<x@example.org>\r\nRCPT TO:<d@example.org>\r\nDATA\r\n"
            "Subject: x\r\n\r\nbody\r\n.\r\n"
            "MAIL FROM:<bad@bad.example>\r\nRCPT TO:<e@example.org>\r\n"
            "RCPT TO:<f@example.org>\r\nDATA\r\n");
  EXPECT_EQ(run.outcomes,
            (Lines{"1:b@example.org body 250 2.0.0", "2:x@example.org rcpt 550 5.1.1",
                   "2:c@example.org body 451 4.7.1", "2:d@example.org body 451 4.7.1",
                   "3:e@example.org mail 553 5.7.1", "3:f@example.org mail 553 5.7.1"}));
  EXPECT_EQ(run.texts[2], "4.7.1 Greylisted, 4.7.1 see https://example.org/greylisting");
  EXPECT_EQ(run.state, State::ready);
  EXPECT_EQ(run.transactions, 3u);
}

TEST(ClientSessionTest, LockStepDialogueReference) {
  DialogueResult run = run_dialogue(kLockStepServer, {});
  EXPECT_EQ(run.written,
            "EHLO me\r\n"
            "MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
            "Subject: x\r\n\r\nbody\r\n.\r\n"
            "MAIL FROM:<a@example.net>\r\nRCPT TO:<c@example.org>\r\n"
            "RCPT TO:<x@example.org>\r\nRCPT TO:<d@example.org>\r\nDATA\r\n"
            "Subject: x\r\n\r\nbody\r\n.\r\n"
            "MAIL FROM:<bad@bad.example>\r\n");
  EXPECT_EQ(run.outcomes,
            (Lines{"1:b@example.org body 250 2.0.0", "2:x@example.org rcpt 550 5.1.1",
                   "2:c@example.org body 451 4.7.1", "2:d@example.org body 451 4.7.1",
                   "3:e@example.org mail 553 5.1.8", "3:f@example.org mail 553 5.1.8"}));
  EXPECT_EQ(run.texts[1], "5.1.1 <x@example.org>... User unknown");
}

TEST(ClientSessionTest, AllRepliesInOneBufferOrByteByByte) {
  for (bool pipelined : {true, false}) {
    SCOPED_TRACE(pipelined ? "pipelined" : "lock-step");
    std::string_view server = pipelined ? kPipelinedServer : kLockStepServer;
    // Reference: one reply per read, as a real server answering each write would give them.
    // (Cutting after every line also cuts multiline replies between their lines.)
    std::vector<std::size_t> line_ends;
    for (std::size_t i = 0; i + 1 < server.size(); ++i) {
      if (server[i] == '\n') line_ends.push_back(i + 1);
    }
    const DialogueResult reference = run_dialogue(server, line_ends);
    expect_same_result(run_dialogue(server, {}), reference);
    std::vector<std::size_t> every_byte;
    for (std::size_t i = 1; i < server.size(); ++i) every_byte.push_back(i);
    expect_same_result(run_dialogue(server, every_byte), reference);
  }
}

TEST(ClientSessionTest, SplitAtEveryPosition) {
  for (bool pipelined : {true, false}) {
    SCOPED_TRACE(pipelined ? "pipelined" : "lock-step");
    std::string_view server = pipelined ? kPipelinedServer : kLockStepServer;
    const DialogueResult reference = run_dialogue(server, {});
    for (std::size_t cut = 1; cut < server.size(); ++cut) {
      SCOPED_TRACE(cut);
      expect_same_result(run_dialogue(server, {cut}), reference);
      if (HasFailure()) return;  // one cut is enough to see the bug
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Lock-step: without PIPELINING every command waits for its reply.

TEST(ClientSessionTest, LockStepWithoutPipeliningExtension) {
  for (bool server_offers_pipelining : {false, true}) {
    SCOPED_TRACE(server_offers_pipelining ? "use_pipelining=false" : "no PIPELINING");
    Script s(/*use_pipelining=*/!server_offers_pipelining);
    s.add(1, "a@example.net", {"b@example.org", "nobody@example.org", "d@example.org"});
    s.add(2, "a@example.net", {"e@example.org"});
    s.greet(server_offers_pipelining ? kEhloPipelining : kEhloLockStep);
    EXPECT_EQ(s.session().capabilities().pipelining, server_offers_pipelining);
    EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\n");
    EXPECT_EQ(s.session().awaited_stage(), Stage::mail);
    s.server(kMailOk);
    EXPECT_EQ(s.client(), "RCPT TO:<b@example.org>\r\n");
    EXPECT_EQ(s.session().awaited_stage(), Stage::rcpt);
    s.server(kRcptOk);
    EXPECT_EQ(s.client(), "RCPT TO:<nobody@example.org>\r\n");
    s.server(kUserUnknown);
    EXPECT_EQ(s.outcomes(), Lines{"1:nobody@example.org rcpt 550 5.1.1"});
    EXPECT_EQ(s.client(), "RCPT TO:<d@example.org>\r\n");
    s.server(kRcptOk);
    EXPECT_EQ(s.client(), "DATA\r\n");
    EXPECT_EQ(s.session().awaited_stage(), Stage::data);
    s.server(kGoAhead);
    EXPECT_EQ(s.client(), kBody);  // the next MAIL waits for the dot's reply
    EXPECT_EQ(s.session().awaited_stage(), Stage::body);
    EXPECT_EQ(s.session().transactions_started(), 1u);
    s.server(kQueued);
    EXPECT_EQ(s.outcomes(),
              (Lines{"1:nobody@example.org rcpt 550 5.1.1", "1:b@example.org body 250 2.0.0",
                     "1:d@example.org body 250 2.0.0"}));
    EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\n");
    s.server(kMailOk);
    EXPECT_EQ(s.client(), "RCPT TO:<e@example.org>\r\n");
    s.server(kRcptOk);
    EXPECT_EQ(s.client(), "DATA\r\n");
    s.server(kGoAhead);
    EXPECT_EQ(s.client(), kBody);
    s.server(kQueued);
    EXPECT_EQ(s.client(), "");
    EXPECT_TRUE(s.session().idle());
  }
}

TEST(ClientSessionTest, LockStepAllRecipientsRejectedSendsRsetNotData) {
  Script s(false);
  s.add(1, "a@example.net", {"x@example.org", "y@example.org"});
  s.add(2, "a@example.net", {"z@example.org"});
  s.greet();
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\n");
  s.server(kMailOk);
  EXPECT_EQ(s.client(), "RCPT TO:<x@example.org>\r\n");
  s.server("550 5.1.1 <x@example.org>: Recipient address rejected: User unknown\r\n");
  EXPECT_EQ(s.client(), "RCPT TO:<y@example.org>\r\n");
  s.server("550 5.1.1 <y@example.org>: Recipient address rejected: User unknown\r\n");
  EXPECT_EQ(s.client(), "RSET\r\n");
  EXPECT_EQ(s.session().awaited_stage(), Stage::rset);
  EXPECT_EQ(s.outcomes(),
            (Lines{"1:x@example.org rcpt 550 5.1.1", "1:y@example.org rcpt 550 5.1.1"}));
  s.server("250 2.0.0 Ok\r\n");
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\n");
}

TEST(ClientSessionTest, LockStepMailRejectedSendsNoRcpt) {
  Script s(false);
  s.add(1, "spammer@bad.example", {"b@example.org", "c@example.org"});
  s.add(2, "a@example.net", {"d@example.org"});
  s.greet();
  EXPECT_EQ(s.client(), "MAIL FROM:<spammer@bad.example>\r\n");
  s.server("550 5.7.1 Client host rejected: cannot find your reverse hostname\r\n");
  EXPECT_EQ(s.outcomes(),
            (Lines{"1:b@example.org mail 550 5.7.1", "1:c@example.org mail 550 5.7.1"}));
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\n");
  EXPECT_EQ(s.session().awaited_stage(), Stage::mail);
}

TEST(ClientSessionTest, LockStepDataRefused) {
  Script s(false);
  s.add(1, "a@example.net", {"b@example.org"});
  s.greet(kEhloLockStep);
  s.server(kMailOk);
  s.server(kRcptOk);
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
  s.server("554 5.7.1 Data command rejected\r\n");
  EXPECT_EQ(s.outcomes(), Lines{"1:b@example.org data 554 5.7.1"});
  EXPECT_EQ(s.client(), "RSET\r\n");
  s.server("250 2.0.0 Reset state\r\n");
  EXPECT_TRUE(s.session().idle());
}

// ---------------------------------------------------------------------------------------------
// The connection fails or the server closes.

TEST(ClientSessionTest, ServerClosesAtSecondTransactionsRcpt) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.add(2, "a@example.net", {"c@example.org", "d@example.org", "e@example.org"});
  s.add(3, "a@example.net", {"never@example.org"});
  s.greet();
  s.client();
  s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n");
  s.client();
  s.server(kQueued);
  s.server(kMailOk);
  s.server(kRcptOk);  // c accepted
  EXPECT_EQ(s.session().awaited_stage(), Stage::rcpt);
  s.server(kTooManyErrors);  // at d
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure_code(), 421);
  EXPECT_EQ(s.session().failure(), "rcpt: 4.7.0 mx.example.org Error: too many errors");
  EXPECT_FALSE(s.session().awaiting_reply());
  EXPECT_EQ(s.client(), "");  // nothing after a 421 (RFC 5321 3.8)
  // d heard the 421; c (accepted, body never sent) and e (RCPT unanswered) get code 0.
  EXPECT_EQ(s.outcomes(), (Lines{"1:b@example.org body 250 2.0.0", "2:d@example.org rcpt 421 4.7.0",
                                 "2:c@example.org rcpt 0", "2:e@example.org rcpt 0"}));
  EXPECT_EQ(s.delegate().outcomes[2].text, "rcpt: 4.7.0 mx.example.org Error: too many errors");
  EXPECT_EQ(s.session().transactions_started(), 2u);  // transaction 3 never taken
  EXPECT_EQ(s.delegate().queue.size(), 1u);
}

TEST(ClientSessionTest, ServerClosesAtDotWhileNextEnvelopeInFlight) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.add(2, "a@example.net", {"c@example.org"});
  s.greet();
  s.client();
  s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n");
  EXPECT_EQ(s.client(), std::string(kBody) +
                            "MAIL FROM:<a@example.net>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n");
  // Replies after the 421 in the same read are ignored.
  s.server("421 4.3.0 mx.example.org shutting down\r\n250 2.1.0 Ok\r\n");
  EXPECT_EQ(s.outcomes(), (Lines{"1:b@example.org body 421 4.3.0", "2:c@example.org mail 0"}));
  EXPECT_EQ(s.session().failure(), "body: 4.3.0 mx.example.org shutting down");
  EXPECT_EQ(s.session().failure_code(), 421);
  EXPECT_EQ(s.client(), "");
}

TEST(ClientSessionTest, ServerClosesAtDataWithPipelining) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.greet();
  s.client();
  s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n421 4.4.5 too busy\r\n");
  EXPECT_EQ(s.outcomes(), Lines{"1:b@example.org data 421 4.4.5"});
  EXPECT_EQ(s.client(), "");  // no RSET to a closing server
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure_code(), 421);
}

TEST(ClientSessionTest, ServerClosesAtRcptInLockStepSendsNothingMore) {
  Script s(false);
  s.add(1, "a@example.net", {"b@example.org", "c@example.org"});
  s.greet();
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\n");
  s.server(kMailOk);
  EXPECT_EQ(s.client(), "RCPT TO:<b@example.org>\r\n");
  s.server(kTooManyErrors);
  EXPECT_EQ(s.client(), "");  // not "RCPT TO:<c@example.org>": the server is closing
  EXPECT_EQ(s.outcomes(), (Lines{"1:b@example.org rcpt 421 4.7.0", "1:c@example.org rcpt 0"}));
  EXPECT_EQ(s.session().state(), State::failed);
}

TEST(ClientSessionTest, ServerClosesAtMailWithPipelining) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org", "c@example.org"});
  s.greet();
  s.client();
  s.server("421 4.7.0 mx.example.org Error: too many connections from 192.0.2.10\r\n");
  // MAIL's reply is every recipient's answer, as when MAIL is refused with a 5xx.
  EXPECT_EQ(s.outcomes(),
            (Lines{"1:b@example.org mail 421 4.7.0", "1:c@example.org mail 421 4.7.0"}));
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure_code(), 421);
}

// A pipelined MAIL refused, then the connection drops before the RCPT replies: the refusal
// still stands for every recipient (retrying with code 0 would only meet it again).
TEST(ClientSessionTest, MailRefusedThenConnectionLost) {
  Script s;
  s.add(1, "spammer@bad.example", {"b@example.org", "c@example.org"});
  s.greet();
  s.client();
  s.server("553 5.7.1 <spammer@bad.example>: Sender address rejected\r\n");
  s.session().fail("connection reset by peer");
  EXPECT_EQ(s.outcomes(),
            (Lines{"1:b@example.org mail 553 5.7.1", "1:c@example.org mail 553 5.7.1"}));
  EXPECT_EQ(s.session().failure(), "connection reset by peer");
  EXPECT_EQ(s.session().failure_code(), 0);
}

TEST(ClientSessionTest, TimeoutWhileBodyAwaited) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org", "nobody@example.org", "d@example.org"});
  s.greet();
  s.client();
  s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
  s.server(kUserUnknown);
  s.server("250 2.1.5 Ok\r\n354 End data\r\n");
  EXPECT_EQ(s.client(), kBody);
  EXPECT_EQ(s.session().awaited_stage(), Stage::body);
  s.session().fail("timeout");
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure(), "timeout");
  EXPECT_EQ(s.session().failure_code(), 0);
  EXPECT_FALSE(s.session().awaiting_reply());
  EXPECT_EQ(s.outcomes(), (Lines{"1:nobody@example.org rcpt 550 5.1.1", "1:b@example.org body 0",
                                 "1:d@example.org body 0"}));
  EXPECT_EQ(s.delegate().outcomes[1].text, "timeout");
  EXPECT_EQ(s.delegate().outcomes[2].text, "timeout");

  // A late reply or a second failure changes nothing.
  s.server(kQueued);
  s.session().fail("connection closed");
  EXPECT_EQ(s.session().failure(), "timeout");
  EXPECT_EQ(s.outcomes().size(), 3u);
  EXPECT_EQ(s.client(), "");
}

// With the next envelope riding behind a body, each transaction's recipients are failed at
// their own step: only the first one's body may have reached the server.
TEST(ClientSessionTest, TimeoutWhileBodyAwaitedAndNextEnvelopeInFlight) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.add(2, "a@example.net", {"c@example.org", "d@example.org"});
  s.greet();
  s.client();
  s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n");
  s.client();
  EXPECT_EQ(s.session().awaited_stage(), Stage::body);
  s.session().fail("timeout");
  EXPECT_EQ(s.outcomes(),
            (Lines{"1:b@example.org body 0", "2:c@example.org mail 0", "2:d@example.org mail 0"}));
}

TEST(ClientSessionTest, ConnectionLostDuringEnvelope) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org", "c@example.org"});
  s.greet();
  s.client();
  s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
  EXPECT_EQ(s.session().awaited_stage(), Stage::rcpt);
  s.session().fail("connection closed by peer");
  EXPECT_EQ(s.outcomes(), (Lines{"1:b@example.org rcpt 0", "1:c@example.org rcpt 0"}));
}

TEST(ClientSessionTest, FailBeforeGreeting) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.session().fail("connection refused");
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure(), "connection refused");
  EXPECT_TRUE(s.outcomes().empty());
  EXPECT_EQ(s.delegate().queue.size(), 1u);  // the work stays with the delegate
}

// ---------------------------------------------------------------------------------------------
// Hostile or broken servers.

TEST(ClientSessionTest, MalformedReplyFails) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.server("HELLO THIS IS NOT SMTP\r\n");
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure(), "malformed reply from server: \"HELLO THIS IS NOT SMTP\"");
  EXPECT_EQ(s.session().failure_code(), 0);
  EXPECT_EQ(s.client(), "");
}

TEST(ClientSessionTest, MalformedReplyMidTransaction) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.greet();
  s.client();
  s.server("250 2.1.0 Ok\r\nHTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure(), "malformed reply from server: \"HTTP/1.1 400 Bad Request\"");
  EXPECT_EQ(s.outcomes(), Lines{"1:b@example.org rcpt 0"});
  EXPECT_EQ(s.delegate().outcomes[0].text, s.session().failure());
}

TEST(ClientSessionTest, MalformedRepliesOfEveryKind) {
  const std::string_view hostile[] = {
      "250-mx.example.org\r\n550 mixed codes\r\n",  // RFC 5321 4.2.1: one code per reply
      "25O typo\r\n",
      "650 no such class\r\n",
      std::string_view("250 nul\0inside\r\n", 16),
      "250\tTab separator\r\n",
  };
  for (std::string_view reply : hostile) {
    SCOPED_TRACE(reply);
    Script s;
    s.add(1, "a@example.net", {"b@example.org"});
    s.greet();
    s.client();
    s.server(reply);
    EXPECT_EQ(s.session().state(), State::failed);
    EXPECT_EQ(s.session().failure().rfind("malformed reply from server: \"", 0), 0u)
        << s.session().failure();
    EXPECT_EQ(s.outcomes(), Lines{"1:b@example.org mail 0"});
    EXPECT_EQ(s.client(), "");
  }
}

TEST(ClientSessionTest, EndlessReplyLineFails) {
  Script s;
  s.server("220 ");
  std::string chunk(1000, 'a');
  for (int i = 0; i < 5 && s.session().state() == State::greeting; ++i) s.server(chunk);
  EXPECT_EQ(s.session().state(), State::failed);  // limits::reply_line_bytes_max
}

TEST(ClientSessionTest, UnsolicitedReplyWhileIdle) {
  Script s;
  s.greet();
  EXPECT_TRUE(s.session().idle());
  s.server("250 2.0.0 I am talking to myself\r\n");
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure(), "unexpected reply from server: 2.0.0 I am talking to myself");
  EXPECT_EQ(s.client(), "");
}

// RFC 5321 3.8: a server may send 421 at any time before closing.
TEST(ClientSessionTest, ServerClosingWhileIdle) {
  Script s;
  s.greet();
  s.server("421 4.4.2 mx.example.org Error: timeout exceeded\r\n");
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure_code(), 421);
  EXPECT_EQ(s.session().failure(), "quit: 4.4.2 mx.example.org Error: timeout exceeded");
}

// A server out of step must not make a message count as delivered: DATA's only go-ahead is
// 354 (RFC 5321 4.3.2), and a 3xx to anything else is no answer.
TEST(ClientSessionTest, ReplyOfImpossibleClassFails) {
  struct Case {
    std::string_view replies;
    Lines expected;
    std::string failure;
    std::uint16_t failure_code;
  };
  const Case cases[] = {
      {"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: queued as X\r\n",
       {"1:b@example.org data 0"},
       "data: reply 250 out of sequence: 2.0.0 Ok: queued as X",
       250},
      {"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n354 go\r\n",
       {"1:b@example.org body 0", "2:c@example.org mail 0"},
       "body: reply 354 out of sequence: go",
       354},
      {"250 2.1.0 Ok\r\n354 go\r\n",
       {"1:b@example.org rcpt 0"},
       "rcpt: reply 354 out of sequence: go",
       354},
      {"354 go\r\n", {"1:b@example.org mail 0"}, "mail: reply 354 out of sequence: go", 354},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.replies);
    Script s;
    s.add(1, "a@example.net", {"b@example.org"});
    s.add(2, "a@example.net", {"c@example.org"});
    s.greet();
    s.client();
    s.server(c.replies);
    EXPECT_EQ(s.session().state(), State::failed);
    EXPECT_EQ(s.outcomes(), c.expected);
    EXPECT_EQ(s.session().failure(), c.failure);
    EXPECT_EQ(s.session().failure_code(), c.failure_code);
  }
}

TEST(ClientSessionTest, RsetRefusedFails) {
  Script s;
  s.add(1, "a@example.net", {"x@example.org"});
  s.add(2, "a@example.net", {"y@example.org"});
  s.greet();
  s.client();
  s.server("250 2.1.0 Ok\r\n550 5.1.1 unknown\r\n554 5.5.1 Error: no valid recipients\r\n");
  EXPECT_EQ(s.client(), "RSET\r\n");
  // The server's state is unknown: a MAIL now could draw a 503 that would bounce the next
  // transaction's recipients for nothing they did.
  s.server("503 5.5.1 Error: bad sequence\r\n");
  EXPECT_EQ(s.client(), "");
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure(), "rset: 5.5.1 Error: bad sequence");
  EXPECT_EQ(s.session().failure_code(), 503);
  EXPECT_EQ(s.session().transactions_started(), 1u);
}

TEST(ClientSessionTest, AddressWithLineBreakIsABug) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org>\r\nRCPT TO:<c@example.org"});
  s.server(kGreeting);
  std::string out;
  EXPECT_DEATH(s.session().on_bytes(kEhloPipelining, out), "has_line_break");
  // The forked child died; this session never took the transaction.
  s.delegate().queue.clear();
}

// ---------------------------------------------------------------------------------------------
// SMTPUTF8 (RFC 6531).

TEST(ClientSessionTest, Smtputf8RequiredButNotOffered) {
  Script s;
  s.add(1, "a@example.net", {"δοκιμή@example.org", "用户@example.org"}, /*needs_smtputf8=*/true);
  s.add(2, "a@example.net", {"b@example.org"});
  s.greet(kEhloNoSmtputf8);
  // Transaction 1 cannot be sent at all; transaction 2 goes in the same write.
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
  EXPECT_EQ(s.outcomes(),
            (Lines{"1:δοκιμή@example.org mail 553 5.6.7", "1:用户@example.org mail 553 5.6.7"}));
  EXPECT_EQ(s.delegate().outcomes[0].text,
            "the address needs SMTPUTF8, which the server does not offer");
  EXPECT_EQ(s.session().transactions_started(), 2u);
}

TEST(ClientSessionTest, Smtputf8Offered) {
  Script s;
  s.add(1, "a@example.net", {"δοκιμή@example.org"}, /*needs_smtputf8=*/true);
  s.greet();
  EXPECT_EQ(s.client(),
            "MAIL FROM:<a@example.net> SMTPUTF8\r\nRCPT TO:<δοκιμή@example.org>\r\nDATA\r\n");
}

TEST(ClientSessionTest, ManyUnsendableTransactionsInARow) {
  // Each is refused without a round trip; the session must not recurse once per transaction.
  constexpr std::uint64_t kCount = 200'000;
  Script s;
  for (std::uint64_t i = 1; i <= kCount; ++i) s.add(i, "a@example.net", {"ü@example.org"}, true);
  s.greet(kEhloNoSmtputf8);
  EXPECT_EQ(s.client(), "");
  EXPECT_EQ(s.delegate().outcomes.size(), kCount);
  EXPECT_TRUE(s.session().idle());
}

// The owner may end the session from inside an outcome callback (a domain suspended after a
// refusal): the session must not take more work or write a MAIL behind that.
TEST(ClientSessionTest, DelegateEndsSessionFromOutcomeCallback) {
  for (bool by_quit : {false, true}) {
    SCOPED_TRACE(by_quit ? "quit" : "fail");
    Script s;
    s.add(1, "a@example.net", {"ü@example.org"}, true);
    s.add(2, "a@example.net", {"b@example.org"});
    std::string quit_bytes;
    s.delegate().on_outcome = [&](const Recorded&) {
      if (by_quit) {
        s.session().quit(quit_bytes);
      } else {
        s.session().fail("domain suspended");
      }
    };
    s.greet(kEhloNoSmtputf8);
    EXPECT_EQ(s.client(), "");
    EXPECT_EQ(s.outcomes(), Lines{"1:ü@example.org mail 553 5.6.7"});
    EXPECT_EQ(s.delegate().queue.size(), 1u);  // transaction 2 was not taken
    EXPECT_EQ(s.session().transactions_started(), 1u);
    if (by_quit) {
      EXPECT_EQ(quit_bytes, "QUIT\r\n");
      EXPECT_EQ(s.session().state(), State::quitting);
    } else {
      EXPECT_EQ(s.session().state(), State::failed);
      EXPECT_EQ(s.session().failure(), "domain suspended");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Idle, poke, quit.

TEST(ClientSessionTest, IdleThenPoke) {
  Script s;
  s.greet();
  EXPECT_TRUE(s.session().idle());
  EXPECT_EQ(s.client(), "");
  s.poke();  // still nothing to do
  EXPECT_EQ(s.client(), "");
  EXPECT_TRUE(s.session().idle());

  s.add(1, "a@example.net", {"b@example.org"});
  s.poke();
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
  EXPECT_FALSE(s.session().idle());
  EXPECT_EQ(s.session().awaited_stage(), Stage::mail);

  // Poking a busy session does nothing: the work is picked up after the dot.
  s.add(2, "a@example.net", {"c@example.org"});
  s.poke();
  EXPECT_EQ(s.client(), "");
  s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n");
  EXPECT_EQ(s.client(), std::string(kBody) +
                            "MAIL FROM:<a@example.net>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n");
}

TEST(ClientSessionTest, WorkArrivingWhileBodyAwaitedStartsAfterTheDot) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.greet();
  s.client();
  s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n");
  EXPECT_EQ(s.client(), kBody);
  s.add(2, "a@example.net", {"c@example.org"});
  s.poke();
  EXPECT_EQ(s.client(), "");
  s.server(kQueued);
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.net>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n");
}

TEST(ClientSessionTest, PokeBeforeReadyDoesNothing) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.poke();
  EXPECT_EQ(s.client(), "");
  EXPECT_EQ(s.delegate().next_transaction_calls, 0);
  s.server(kGreeting);
  s.poke();
  EXPECT_EQ(s.client(), "EHLO me\r\n");
  EXPECT_EQ(s.delegate().next_transaction_calls, 0);
}

TEST(ClientSessionTest, QuitWhenIdle) {
  Script s;
  s.greet();
  s.quit();
  EXPECT_EQ(s.client(), "QUIT\r\n");
  EXPECT_EQ(s.session().state(), State::quitting);
  EXPECT_FALSE(s.session().idle());
  EXPECT_EQ(s.session().awaited_stage(), Stage::quit);
  s.poke();  // no transaction after QUIT
  s.quit();  // nor a second QUIT
  EXPECT_EQ(s.client(), "");
  s.server("221 2.0.0 Bye\r\n");
  EXPECT_EQ(s.session().state(), State::closed);
  EXPECT_FALSE(s.session().awaiting_reply());
  s.session().fail("connection closed");  // the peer closing after 221 is no failure
  EXPECT_EQ(s.session().state(), State::closed);
  EXPECT_EQ(s.session().failure(), "");
}

TEST(ClientSessionTest, QuitBeforeReadyFails) {
  for (bool greeted : {false, true}) {
    Script s;
    if (greeted) s.server(kGreeting);
    s.client();
    s.quit();
    EXPECT_EQ(s.client(), "");
    EXPECT_EQ(s.session().state(), State::failed);
    EXPECT_EQ(s.session().failure(), "session ended before it was ready");
  }
}

TEST(ClientSessionTest, QuitWhileTransactionInFlightWaits) {
  Script s;
  s.add(1, "a@example.net", {"b@example.org"});
  s.greet();
  s.client();
  s.quit();
  EXPECT_EQ(s.client(), "");
  EXPECT_EQ(s.session().state(), State::ready);
  s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n");
  s.client();
  s.server(kQueued);
  EXPECT_TRUE(s.session().idle());
  s.quit();
  EXPECT_EQ(s.client(), "QUIT\r\n");
}

}  // namespace
// ---------------------------------------------------------------------------------------------
// STARTTLS (RFC 3207) and AUTH (RFC 4954).

constexpr std::string_view kEhloStarttls =
    "250-mx.example.org\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
constexpr std::string_view kEhloAfterTls =
    "250-mx.example.org\r\n250-PIPELINING\r\n250-AUTH LOGIN PLAIN\r\n250 8BITMIME\r\n";

ClientSession::Options tls_options(ClientSession::TlsPolicy policy) {
  ClientSession::Options options = Script::options();
  options.tls = policy;
  return options;
}

TEST(ClientSessionTest, StarttlsThenEhloAgainAndInjectedBytesDropped) {
  Script s(tls_options(ClientSession::TlsPolicy::opportunistic));
  s.add(1, "a@example.com", {"b@example.org"});
  s.greet(kEhloStarttls);
  EXPECT_EQ(s.client(), "STARTTLS\r\n");
  EXPECT_EQ(s.session().awaited_stage(), Stage::starttls);
  // A plaintext reply smuggled after the 220 (CVE-2011-0411 style) must never be read.
  s.server("220 2.0.0 Ready to start TLS\r\n250 2.1.0 injected\r\n");
  EXPECT_TRUE(s.session().wants_tls());
  EXPECT_EQ(s.client(), "");
  std::string out;
  s.session().on_tls_established(out);
  EXPECT_EQ(out, "EHLO me\r\n");
  // The smuggled "250" was dropped: the next reply is the answer to this EHLO.
  EXPECT_EQ(s.session().awaited_stage(), Stage::ehlo);
  s.server(kEhloAfterTls);
  EXPECT_EQ(s.session().state(), State::ready);
}

TEST(ClientSessionTest, StarttlsForgetsCapabilitiesAndSaysEhloAgain) {
  Script s(tls_options(ClientSession::TlsPolicy::required));
  s.add(1, "a@example.com", {"b@example.org"});
  s.greet(kEhloStarttls);
  EXPECT_EQ(s.client(), "STARTTLS\r\n");
  s.server("220 2.0.0 Ready to start TLS\r\n");
  ASSERT_TRUE(s.session().wants_tls());
  std::string out;
  s.session().on_tls_established(out);
  EXPECT_EQ(out, "EHLO me\r\n");
  EXPECT_TRUE(s.session().tls_active());
  EXPECT_FALSE(s.session().capabilities().starttls);  // RFC 3207 4.2: forgotten
  s.server(kEhloAfterTls);
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
}

TEST(ClientSessionTest, RequiredTlsWithoutStarttlsFails) {
  Script s(tls_options(ClientSession::TlsPolicy::required));
  s.add(1, "a@example.com", {"b@example.org"});
  s.greet("250-mx.example.org\r\n250 PIPELINING\r\n");
  EXPECT_EQ(s.client(), "");
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure(), "TLS is required, but the server does not offer STARTTLS");
  EXPECT_TRUE(s.delegate().started.empty());  // no mail went out in plaintext
}

TEST(ClientSessionTest, OpportunisticTlsRefusedGoesOnInPlaintext) {
  Script s(tls_options(ClientSession::TlsPolicy::opportunistic));
  s.add(1, "a@example.com", {"b@example.org"});
  s.greet(kEhloStarttls);
  EXPECT_EQ(s.client(), "STARTTLS\r\n");
  s.server("454 4.7.0 TLS not available due to local problem\r\n");
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
  EXPECT_FALSE(s.session().tls_active());
}

TEST(ClientSessionTest, AuthPlainOnlyOverTls) {
  ClientSession::Options options = tls_options(ClientSession::TlsPolicy::required);
  options.auth_username = "user";
  options.auth_password = "secret";
  Script s(options);
  s.add(1, "a@example.com", {"b@example.org"});
  s.greet(kEhloStarttls);
  EXPECT_EQ(s.client(), "STARTTLS\r\n");
  s.server("220 Ready\r\n");
  std::string out;
  s.session().on_tls_established(out);
  s.server(kEhloAfterTls);
  // base64("\0user\0secret")
  EXPECT_EQ(s.client(), "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n");
  EXPECT_EQ(s.session().awaited_stage(), Stage::auth);
  s.server("235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(s.client(), "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
}

TEST(ClientSessionTest, AuthRefusedWithoutTlsAndCredentialsNeverSent) {
  ClientSession::Options options = Script::options();
  options.auth_username = "user";
  options.auth_password = "secret";
  Script s(options);
  s.greet(kEhloAfterTls);
  EXPECT_EQ(s.client(), "");
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_EQ(s.session().failure(), "refusing to send credentials over a connection without TLS");
  // As final as a refusal: the run stops at once (78) instead of retrying to its deadline.
  EXPECT_TRUE(s.session().auth_unusable());
  EXPECT_FALSE(s.session().auth_rejected());
}

TEST(ClientSessionTest, AuthLoginAndWrongPassword) {
  ClientSession::Options options = Script::options();
  options.auth_username = "user";
  options.auth_password = "secret";
  options.allow_plaintext_auth = true;  // a loopback test server
  Script s(options);
  s.greet("250-mx.example.org\r\n250 AUTH LOGIN\r\n");
  EXPECT_EQ(s.client(), "AUTH LOGIN\r\n");
  s.server("334 VXNlcm5hbWU6\r\n");
  EXPECT_EQ(s.client(), "dXNlcg==\r\n");
  s.server("334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(s.client(), "c2VjcmV0\r\n");
  s.server("535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_EQ(s.session().state(), State::failed);
  EXPECT_TRUE(s.session().auth_rejected());
  EXPECT_EQ(s.session().failure_code(), 535);
  EXPECT_EQ(s.session().failure().find("secret"), std::string::npos);
}

}  // namespace hayate::smtp
