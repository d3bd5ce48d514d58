// Tests for the engine's pure SMTP server session (engine/smtp/server/session.h) through its
// hooks: a policy that refuses recipients and senders, a store that fails, the null sender of
// bounces, pipelined bursts split at every offset, delayed and closing verdicts, and the
// limits a hostile client meets (line length, SIZE, recipients).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "engine/limits.h"
#include "engine/smtp/server/session.h"

namespace hayate::smtp::server {
namespace {

// Accepts recipients of one domain; refuses the others with the text a bounce receiver would
// give. Local parts choose other verdicts, so one test can exercise each kind.
class DomainPolicy final : public Policy {
 public:
  Verdict check_sender(const Envelope& envelope) override {
    senders_seen.emplace_back(envelope.sender);
    if (envelope.sender == "spammer@bad.example") {
      return Verdict::reject(550, "5.7.1", "Sender refused");
    }
    return Verdict::accept();
  }

  Verdict check_recipient(const Envelope& envelope, std::string_view recipient) override {
    recipients_seen.emplace_back(recipient);
    recipients_before.push_back(envelope.recipients.size());
    last_envelope_sender = std::string(envelope.sender);
    last_client_name = std::string(envelope.client_name);
    last_parameters = envelope.parameters;
    if (recipient.starts_with("tarpit@")) {
      return Verdict::reject(450, "4.2.0", "Slow down").delayed(3000);
    }
    if (recipient.starts_with("busy@")) return Verdict::reject(421, "4.3.2", "Going away");
    if (recipient.starts_with("hangup@")) return Verdict::disconnect();
    if (recipient.starts_with("inject@")) {
      return Verdict::reject(550, "5.1.1", std::string_view("no\r\n250 forged\0\x7f\tend", 20));
    }
    if (recipient.ends_with("@bounces.example.com")) return Verdict::accept();
    return Verdict::reject(550, "5.1.1", "Recipient not a bounce address");
  }

  std::vector<std::string> senders_seen;
  std::vector<std::string> recipients_seen;
  std::vector<std::size_t> recipients_before;
  std::string last_envelope_sender;
  std::string last_client_name;
  MailParameters last_parameters;
};

class CollectingStore final : public MessageStore {
 public:
  explicit CollectingStore(bool keep_content = true) : keep_content_(keep_content) {}

  struct Stored {
    std::string queue_id;
    std::string sender;
    std::vector<std::string> recipients;
    std::string content;
    std::uint64_t size_bytes = 0;
    std::string client_name;
  };

  bool keeps_content() const override { return keep_content_; }

  Verdict store(const ReceivedMessage& message) override {
    ++calls;
    if (fail) return Verdict::reject(451, "4.3.0", "Bounce database busy");
    messages.push_back(Stored{std::string(message.queue_id),
                              std::string(message.sender),
                              {message.recipients.begin(), message.recipients.end()},
                              std::string(message.content),
                              message.size_bytes,
                              std::string(message.client_name)});
    return Verdict::accept();
  }

  std::vector<Stored> messages;
  bool fail = false;
  int calls = 0;

 private:
  const bool keep_content_;
};

class Harness {
 public:
  explicit Harness(SessionConfig config = {}, bool keep_content = true)
      : config_(std::move(config)),
        store_(keep_content),
        environment_(config_, stats_, policy_, store_, 3),
        session_(environment_) {}

  std::string start() {
    session_.start();
    return take();
  }
  std::string feed(std::string_view input) {
    session_.feed(input);
    return take();
  }
  std::string resume() {
    session_.resume();
    return take();
  }
  std::string take() {
    std::string output;
    output.swap(session_.output());
    return output;
  }
  std::uint64_t count(ServerCounter counter) const { return stats_.get(counter); }
  Session& session() { return session_; }
  DomainPolicy& policy() { return policy_; }
  CollectingStore& store() { return store_; }

 private:
  SessionConfig config_;
  ServerStats stats_;
  DomainPolicy policy_;
  CollectingStore store_;
  SessionEnvironment environment_;
  Session session_;
};

constexpr std::string_view kEhloReply =
    "250-localhost\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
    "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n";
constexpr std::string_view kGoAhead = "354 End data with <CR><LF>.<CR><LF>\r\n";

TEST(SmtpServerSession, GreetingNamesHostAndSoftware) {
  Harness server;
  EXPECT_EQ(server.start(), "220 localhost ESMTP hayate\r\n");
  SessionConfig config;
  config.hostname = "bounces.example.com";
  config.software = "hayate-bounces";
  Harness named(config);
  EXPECT_EQ(named.start(), "220 bounces.example.com ESMTP hayate-bounces\r\n");
  EXPECT_EQ(named.feed("EHLO mx.example.net\r\n"),
            "250-bounces.example.com\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
            "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n");
}

TEST(SmtpServerSession, RejectingRcptPolicyGives550WithItsText) {
  Harness server;
  server.start();
  EXPECT_EQ(server.feed("EHLO mx.example.net\r\n"), kEhloReply);
  EXPECT_EQ(server.feed("MAIL FROM:<>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(server.feed("RCPT TO:<someone@example.org>\r\n"),
            "550 5.1.1 Recipient not a bounce address\r\n");
  // Every RCPT refused: DATA gets 554 (RFC 5321 3.3) and the store is never asked.
  EXPECT_EQ(server.feed("DATA\r\n"), "554 5.5.1 No valid recipients\r\n");
  EXPECT_EQ(server.store().calls, 0);
  EXPECT_EQ(server.count(ServerCounter::rcpt_rejected), 1u);
  EXPECT_EQ(server.count(ServerCounter::recipients), 0u);
  EXPECT_EQ(server.policy().recipients_seen, std::vector<std::string>{"someone@example.org"});
}

TEST(SmtpServerSession, NullSenderIsAcceptedAndReachesTheStore) {
  // RFC 5321 4.5.5: delivery status notifications come from the null reverse-path.
  Harness server;
  server.start();
  const std::string dsn =
      "From: MAILER-DAEMON@mx.example.net\r\n"
      "Subject: Undelivered Mail Returned to Sender\r\n"
      "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n"
      "\r\n"
      "--B\r\n"
      "Content-Type: message/delivery-status\r\n"
      "\r\n"
      "Final-Recipient: rfc822; gone@example.org\r\n"
      "Action: failed\r\n"
      "Status: 5.1.1\r\n"
      "--B--\r\n";
  EXPECT_EQ(server.feed("EHLO mx.example.net\r\nMAIL FROM:<> SIZE=" + std::to_string(dsn.size()) +
                        "\r\nRCPT TO:<b-2f7a.gone=example.org@bounces.example.com>\r\nDATA\r\n" +
                        dsn + ".\r\n"),
            std::string(kEhloReply) + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" + std::string(kGoAhead) +
                "250 2.0.0 Ok: queued as 030000000000\r\n");
  EXPECT_EQ(server.policy().senders_seen, std::vector<std::string>{""});
  EXPECT_EQ(server.policy().last_envelope_sender, "");
  EXPECT_EQ(server.policy().last_client_name, "mx.example.net");
  EXPECT_TRUE(server.policy().last_parameters.size_given);
  EXPECT_EQ(server.policy().last_parameters.size_bytes, dsn.size());
  ASSERT_EQ(server.store().messages.size(), 1u);
  const CollectingStore::Stored& stored = server.store().messages[0];
  EXPECT_EQ(stored.queue_id, "030000000000");
  EXPECT_EQ(stored.sender, "");
  EXPECT_EQ(stored.recipients,
            std::vector<std::string>{"b-2f7a.gone=example.org@bounces.example.com"});
  std::string lf_content = dsn;
  for (std::size_t at = lf_content.find("\r\n"); at != std::string::npos;
       at = lf_content.find("\r\n", at)) {
    lf_content.erase(at, 1);
  }
  EXPECT_EQ(stored.content, lf_content);
  EXPECT_EQ(stored.size_bytes, dsn.size());
  EXPECT_EQ(stored.client_name, "mx.example.net");
  EXPECT_EQ(server.count(ServerCounter::messages), 1u);
  EXPECT_EQ(server.count(ServerCounter::bytes), dsn.size());
}

TEST(SmtpServerSession, FailingStoreGives451AndTheQueueIdIsNotUsedUp) {
  Harness server;
  server.store().fail = true;
  server.start();
  EXPECT_EQ(server.feed("HELO mx\r\nMAIL FROM:<>\r\nRCPT TO:<a@bounces.example.com>\r\nDATA\r\n"
                        "x\r\n.\r\n"),
            "250 localhost\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" + std::string(kGoAhead) +
                "451 4.3.0 Bounce database busy\r\n");
  EXPECT_EQ(server.store().calls, 1);
  EXPECT_EQ(server.count(ServerCounter::data_rejected), 1u);
  EXPECT_EQ(server.count(ServerCounter::messages), 0u);
  // The transaction is over: a new one is needed, and its message gets the first queue id.
  EXPECT_EQ(server.feed("DATA\r\n"), "503 5.5.1 Need MAIL command\r\n");
  server.store().fail = false;
  EXPECT_EQ(server.feed("MAIL FROM:<>\r\nRCPT TO:<a@bounces.example.com>\r\nDATA\r\ny\r\n.\r\n"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" + std::string(kGoAhead) +
                "250 2.0.0 Ok: queued as 030000000000\r\n");
  ASSERT_EQ(server.store().messages.size(), 1u);
  EXPECT_EQ(server.store().messages[0].content, "y\n");
}

TEST(SmtpServerSession, SenderPolicyRefusal) {
  Harness server;
  server.start();
  server.feed("EHLO c\r\n");
  EXPECT_EQ(server.feed("MAIL FROM:<spammer@bad.example>\r\nRCPT TO:<a@bounces.example.com>\r\n"),
            "550 5.7.1 Sender refused\r\n503 5.5.1 Need MAIL command\r\n");
  EXPECT_EQ(server.count(ServerCounter::mail_rejected), 1u);
  EXPECT_EQ(server.policy().recipients_seen.size(), 0u);  // the policy never saw the RCPT
  EXPECT_EQ(server.feed("MAIL FROM:<ok@good.example>\r\n"), "250 2.1.0 Ok\r\n");
}

const std::string kPipelinedBurst =
    "EHLO mx.example.net\r\n"
    "MAIL FROM:<> BODY=8BITMIME\r\n"
    "RCPT TO:<one@bounces.example.com>\r\n"
    "RCPT TO:<stranger@example.org>\r\n"
    "RCPT TO:<two@bounces.example.com>\r\n"
    "DATA\r\n"
    "Subject: first\r\n"
    "\r\n"
    "..stuffed\r\n"
    ".\r\n"
    "MAIL FROM:<postmaster@example.net>\r\n"
    "RCPT TO:<three@bounces.example.com>\r\n"
    "DATA\r\n"
    "second\r\n"
    ".\r\n"
    "QUIT\r\n";

const std::string kPipelinedReplies = std::string(kEhloReply) +
                                      "250 2.1.0 Ok\r\n"
                                      "250 2.1.5 Ok\r\n"
                                      "550 5.1.1 Recipient not a bounce address\r\n"
                                      "250 2.1.5 Ok\r\n" +
                                      std::string(kGoAhead) +
                                      "250 2.0.0 Ok: queued as 030000000000\r\n"
                                      "250 2.1.0 Ok\r\n"
                                      "250 2.1.5 Ok\r\n" +
                                      std::string(kGoAhead) +
                                      "250 2.0.0 Ok: queued as 030000000001\r\n"
                                      "221 2.0.0 Bye\r\n";

TEST(SmtpServerSession, PipelinedInputIsAnsweredInOrderWhateverTheReads) {
  Harness whole;
  whole.start();
  EXPECT_EQ(whole.feed(kPipelinedBurst), kPipelinedReplies);
  EXPECT_EQ(whole.session().action(), Action::close_after_flush);
  ASSERT_EQ(whole.store().messages.size(), 2u);
  EXPECT_EQ(whole.store().messages[0].recipients,
            (std::vector<std::string>{"one@bounces.example.com", "two@bounces.example.com"}));
  EXPECT_EQ(whole.store().messages[0].content, "Subject: first\n\n.stuffed\n");
  EXPECT_EQ(whole.store().messages[1].sender, "postmaster@example.net");
  EXPECT_EQ(whole.store().messages[1].recipients,
            std::vector<std::string>{"three@bounces.example.com"});
  EXPECT_EQ(whole.store().messages[1].content, "second\n");
  // The policy saw the recipients accepted before each RCPT.
  EXPECT_EQ(whole.policy().recipients_before, (std::vector<std::size_t>{0, 1, 1, 0}));
  EXPECT_TRUE(whole.policy().last_parameters.size_given == false);
  EXPECT_EQ(whole.count(ServerCounter::recipients), 3u);
  EXPECT_EQ(whole.count(ServerCounter::rcpt_rejected), 1u);
  EXPECT_EQ(whole.count(ServerCounter::recipients_delivered), 3u);

  for (std::size_t split = 0; split <= kPipelinedBurst.size(); ++split) {
    Harness server;
    server.start();
    std::string output = server.feed(std::string_view(kPipelinedBurst).substr(0, split));
    output += server.feed(std::string_view(kPipelinedBurst).substr(split));
    ASSERT_EQ(output, kPipelinedReplies) << "split at " << split;
    ASSERT_EQ(server.store().messages.size(), 2u) << split;
    ASSERT_EQ(server.store().messages[0].content, "Subject: first\n\n.stuffed\n") << split;
  }
}

TEST(SmtpServerSession, LineTooLongIsRefusedAndTheSessionGoesOn) {
  Harness server;
  server.start();
  const std::string over(limits::server_command_line_bytes_max + 1, 'a');
  EXPECT_EQ(server.feed("RCPT TO:<" + over + ">\r\nHELO c\r\n"),
            "500 5.5.0 Line too long\r\n250 localhost\r\n");
  // A line that never ends is not buffered: 10 MB arrive, one reply when it ends.
  const std::string chunk(1 << 20, 'x');
  for (int i = 0; i < 10; ++i) EXPECT_EQ(server.feed(chunk), "");
  EXPECT_EQ(server.feed("\r\nNOOP\r\n"), "500 5.5.0 Line too long\r\n250 2.0.0 Ok\r\n");
  EXPECT_EQ(server.count(ServerCounter::lines_too_long), 2u);
  EXPECT_EQ(server.policy().recipients_seen.size(), 0u);
}

TEST(SmtpServerSession, SizeExceededAtMailAndAfterTheData) {
  SessionConfig config;
  config.message_bytes_max = 20;
  Harness server(config);
  server.start();
  EXPECT_EQ(server.feed("EHLO c\r\n"),
            "250-localhost\r\n250-PIPELINING\r\n250-SIZE 20\r\n250-8BITMIME\r\n"
            "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n");
  // RFC 1870 6.1: a declared size over the limit is refused at MAIL, before the policy.
  EXPECT_EQ(server.feed("MAIL FROM:<> SIZE=21\r\n"),
            "552 5.3.4 Message size exceeds fixed limit\r\n");
  EXPECT_TRUE(server.policy().senders_seen.empty());
  // An undeclared size over the limit is refused after the dot; the store never sees it.
  EXPECT_EQ(server.feed("MAIL FROM:<>\r\nRCPT TO:<a@bounces.example.com>\r\nDATA\r\n" +
                        std::string(30, 'z') + "\r\n.\r\n"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" + std::string(kGoAhead) +
                "552 5.3.4 Message size exceeds fixed limit\r\n");
  EXPECT_EQ(server.store().calls, 0);
  EXPECT_EQ(server.count(ServerCounter::data_too_big), 1u);
  EXPECT_EQ(server.count(ServerCounter::data_rejected), 1u);
  EXPECT_EQ(server.count(ServerCounter::mail_rejected), 1u);
  // Exactly at the limit (18 bytes + CRLF = 20) is accepted.
  EXPECT_EQ(server.feed("MAIL FROM:<>\r\nRCPT TO:<a@bounces.example.com>\r\nDATA\r\n" +
                        std::string(18, 'y') + "\r\n.\r\n"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" + std::string(kGoAhead) +
                "250 2.0.0 Ok: queued as 030000000000\r\n");
  EXPECT_EQ(server.store().messages.at(0).size_bytes, 20u);
}

// Two sessions of one thread share the content budget: a message that would go beyond it is
// no longer buffered and gets 452 4.3.1; a share comes back when its transaction ends, and when
// its connection is lost in the middle of a message.
TEST(SmtpServerSession, ContentBudgetIsSharedAndGivenBack) {
  SessionConfig config;
  config.message_bytes_max = 1000;
  config.content_bytes_budget = 1500;
  ServerStats stats;
  DomainPolicy policy;
  CollectingStore store;
  SessionEnvironment environment(config, stats, policy, store, 0);
  Session first(environment);
  Session second(environment);
  const auto take = [](Session& session) {
    std::string output;
    output.swap(session.output());
    return output;
  };
  const std::string envelope = "MAIL FROM:<>\r\nRCPT TO:<a@bounces.example.com>\r\nDATA\r\n";
  const std::string body = std::string(798, 'x') + "\r\n";  // 800 bytes: fits one, not two
  first.start();
  second.start();
  first.feed("EHLO c\r\n" + envelope);
  second.feed("EHLO c\r\n" + envelope);
  take(first);
  take(second);
  first.feed(body);
  EXPECT_GE(environment.content_bytes_reserved(), 800u);
  second.feed(body);  // 700 left: not enough
  first.feed(".\r\n");
  EXPECT_EQ(take(first), "250 2.0.0 Ok: queued as 000000000000\r\n");
  second.feed(".\r\n");
  EXPECT_EQ(take(second), "452 4.3.1 Insufficient system storage, try again later\r\n");
  EXPECT_EQ(stats.get(ServerCounter::data_over_budget), 1u);
  EXPECT_EQ(stats.get(ServerCounter::data_rejected), 1u);
  EXPECT_EQ(environment.content_bytes_reserved(), 0u);
  ASSERT_EQ(store.messages.size(), 1u);
  EXPECT_EQ(store.messages[0].content, std::string(798, 'x') + "\n");

  // Once first's share is back, second's next message fits.
  second.feed(envelope + body + ".\r\n");
  EXPECT_EQ(take(second), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" + std::string(kGoAhead) +
                              "250 2.0.0 Ok: queued as 000000000001\r\n");
  EXPECT_EQ(environment.content_bytes_reserved(), 0u);

  // A message cut off by a lost connection gives its share back.
  first.feed(envelope + body);
  EXPECT_GE(environment.content_bytes_reserved(), 800u);
  first.release();
  EXPECT_EQ(environment.content_bytes_reserved(), 0u);
}

// The shell's per-command deadline restarts when a command line or a message ends, never on
// the bytes of an unfinished one.
TEST(SmtpServerSession, InputsCompletedCountsLinesAndMessagesNotBytes) {
  Harness server;
  server.start();
  EXPECT_EQ(server.session().inputs_completed(), 0u);
  server.feed("N");
  server.feed("O");
  server.feed("OP");
  EXPECT_EQ(server.session().inputs_completed(), 0u);
  server.feed("\r\nHELO c\r\n");
  EXPECT_EQ(server.session().inputs_completed(), 2u);
  server.feed("MAIL FROM:<>\r\nRCPT TO:<a@bounces.example.com>\r\nDATA\r\nabc\r\n");
  EXPECT_EQ(server.session().inputs_completed(), 5u);  // the content is not a command
  server.feed("def\r\n.\r\n");
  EXPECT_EQ(server.session().inputs_completed(), 6u);
  server.feed(std::string(3000, 'L'));  // a line too long, still unfinished
  EXPECT_EQ(server.session().inputs_completed(), 6u);
  EXPECT_EQ(server.feed("\r\n"), "500 5.5.0 Line too long\r\n");
  EXPECT_EQ(server.session().inputs_completed(), 7u);
}

TEST(SmtpServerSession, TooManyRecipientsNeverReachThePolicy) {
  Harness server;
  server.start();
  std::string input = "HELO c\r\nMAIL FROM:<>\r\n";
  for (std::uint32_t i = 0; i <= limits::server_recipients_per_transaction_max; ++i) {
    input += "RCPT TO:<r" + std::to_string(i) + "@bounces.example.com>\r\n";
  }
  EXPECT_TRUE(server.feed(input).ends_with("250 2.1.5 Ok\r\n452 4.5.3 Too many recipients\r\n"));
  EXPECT_EQ(server.policy().recipients_seen.size(), limits::server_recipients_per_transaction_max);
  EXPECT_EQ(server.count(ServerCounter::rcpt_too_many), 1u);
}

TEST(SmtpServerSession, DelayedRejectHoldsItsReplyAndEveryLaterOne) {
  Harness server;
  server.start();
  EXPECT_EQ(server.feed("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<tarpit@x.example>\r\nNOOP\r\n"),
            "250 localhost\r\n250 2.1.0 Ok\r\n");
  EXPECT_EQ(server.session().action(), Action::delay_then_resume);
  EXPECT_EQ(server.session().delay_ms(), 3000u);
  EXPECT_EQ(server.count(ServerCounter::rcpt_rejected), 1u);  // decided now, answered later
  EXPECT_EQ(server.feed("RSET\r\n"), "");
  EXPECT_EQ(server.resume(), "450 4.2.0 Slow down\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n");
  EXPECT_EQ(server.session().action(), Action::read);
}

TEST(SmtpServerSession, ClosingVerdicts) {
  // RFC 5321 3.8: 421, then the server closes; later input is ignored.
  Harness busy;
  busy.start();
  EXPECT_EQ(
      busy.feed(
          "HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<busy@x>\r\nRCPT TO:<a@bounces.example.com>\r\n"),
      "250 localhost\r\n250 2.1.0 Ok\r\n421 4.3.2 Going away\r\n");
  EXPECT_EQ(busy.session().action(), Action::close_after_flush);
  EXPECT_EQ(busy.feed("NOOP\r\n"), "");
  EXPECT_EQ(busy.policy().recipients_seen.size(), 1u);

  Harness hangup;
  hangup.start();
  EXPECT_EQ(hangup.feed("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<hangup@x>\r\n"),
            "250 localhost\r\n250 2.1.0 Ok\r\n");
  EXPECT_EQ(hangup.session().action(), Action::close_after_flush);
}

TEST(SmtpServerSession, TimeOutSays421AndCloses) {
  Harness server;
  server.start();
  server.feed("HELO c\r\nMAIL FROM:<>\r\n");
  server.session().time_out();
  EXPECT_EQ(server.take(), "421 4.4.2 localhost Error: timeout exceeded\r\n");
  EXPECT_EQ(server.session().action(), Action::close_after_flush);
  server.session().time_out();  // already closing: nothing more
  EXPECT_EQ(server.take(), "");
  EXPECT_EQ(server.feed("RCPT TO:<a@bounces.example.com>\r\n"), "");
}

TEST(SmtpServerSession, ReplyTextCannotInjectALine) {
  Harness server;
  server.start();
  EXPECT_EQ(server.feed("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<inject@x>\r\n"),
            "250 localhost\r\n250 2.1.0 Ok\r\n550 5.1.1 no  250 forged  \tend\r\n");
}

TEST(SmtpServerSession, CountingStoreGetsSizeWithoutContent) {
  Harness server({}, /*keep_content=*/false);
  server.start();
  EXPECT_EQ(server.feed("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@bounces.example.com>\r\nDATA\r\n"
                        "abc\r\n..d\r\n.\r\n"),
            "250 localhost\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" + std::string(kGoAhead) +
                "250 2.0.0 Ok: queued as 030000000000\r\n");
  ASSERT_EQ(server.store().messages.size(), 1u);
  EXPECT_EQ(server.store().messages[0].content, "");
  EXPECT_EQ(server.store().messages[0].size_bytes, 9u);  // "abc\r\n.d\r\n"
}

TEST(SmtpServerSession, SmugglingAttemptStaysInsideTheMessage) {
  // CVE-2023-51764 family: "\n.\n" is not the end of DATA, so the MAIL after it is content.
  Harness server;
  server.start();
  EXPECT_EQ(server.feed("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@bounces.example.com>\r\nDATA\r\n"
                        "x\n.\nMAIL FROM:<forged@x>\r\nRCPT TO:<b@bounces.example.com>\r\n"
                        ".\r\n"),
            "250 localhost\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" + std::string(kGoAhead) +
                "250 2.0.0 Ok: queued as 030000000000\r\n");
  ASSERT_EQ(server.store().messages.size(), 1u);
  EXPECT_EQ(server.store().messages[0].recipients,
            std::vector<std::string>{"a@bounces.example.com"});
  EXPECT_EQ(server.store().messages[0].content,
            "x\n.\nMAIL FROM:<forged@x>\nRCPT TO:<b@bounces.example.com>\n");
  EXPECT_EQ(server.policy().senders_seen.size(), 1u);
}

// Random bursts through every verdict kind: the session's asserts (on in release builds) must
// hold, and a session that is still open must answer a clean NOOP.
TEST(SmtpServerSession, RandomInputThroughEveryVerdict) {
  std::mt19937 random(20240611);
  const std::vector<std::string> pieces = {"EHLO c\r\n",
                                           "MAIL FROM:<>\r\n",
                                           "MAIL FROM:<spammer@bad.example>\r\n",
                                           "RCPT TO:<a@bounces.example.com>\r\n",
                                           "RCPT TO:<x@other.example>\r\n",
                                           "RCPT TO:<tarpit@x>\r\n",
                                           "RCPT TO:<busy@x>\r\n",
                                           "RCPT TO:<hangup@x>\r\n",
                                           "DATA\r\n",
                                           ".\r\n",
                                           "..\r\n",
                                           "\r\n",
                                           "\n",
                                           "\r",
                                           "RSET\r\n",
                                           "BDAT 10 LAST\r\n",
                                           std::string(2100, 'L'),
                                           std::string("\0\xff\x7f", 3)};
  for (int round = 0; round < 400; ++round) {
    SessionConfig config;
    config.pipelining = round % 2 == 0;
    config.message_bytes_max = 64;
    Harness server(config, round % 3 != 0);
    server.store().fail = round % 5 == 0;
    server.start();
    std::string input;
    const int count = int(random() % 50);
    for (int i = 0; i < count; ++i) input += pieces[random() % pieces.size()];
    std::size_t offset = 0;
    while (offset < input.size()) {
      const std::size_t length = std::min<std::size_t>(1 + random() % 80, input.size() - offset);
      server.feed(std::string_view(input).substr(offset, length));
      offset += length;
      while (server.session().action() == Action::flush_then_resume ||
             server.session().action() == Action::delay_then_resume) {
        server.resume();
      }
      server.take();
    }
    for (const CollectingStore::Stored& stored : server.store().messages) {
      EXPECT_FALSE(stored.recipients.empty());
      EXPECT_LE(stored.size_bytes, 64u);
      for (const std::string& recipient : stored.recipients) {
        EXPECT_TRUE(recipient.ends_with("@bounces.example.com")) << recipient;
      }
    }
    if (server.session().action() == Action::read && !server.session().in_data()) {
      std::string output = server.feed("\r\nNOOP\r\n");
      while (server.session().action() == Action::flush_then_resume) output += server.resume();
      EXPECT_TRUE(output.ends_with("250 2.0.0 Ok\r\n")) << round << ": " << output;
    }
  }
}

}  // namespace
}  // namespace hayate::smtp::server
