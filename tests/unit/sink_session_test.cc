// Tests for hayate-sink's pure core over the engine's SMTP server session: command parsing, the
// DATA reader, the session state machine with the sink's fault modes (replies, order, fault
// modes, lock-step mode, limits, counters), the Maildir writer and --listen parsing. The session is
// fed whole bursts, byte by byte and split at every offset: the replies must be the same bytes
// whatever the reads.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/limits.h"
#include "engine/smtp/server/command.h"
#include "engine/smtp/server/data_reader.h"
#include "engine/smtp/server/listen_address.h"
#include "engine/smtp/server/session.h"
#include "tools/sink/fault.h"
#include "tools/sink/flaky_set.h"
#include "tools/sink/maildir.h"
#include "tools/sink/stats.h"

namespace hayate::sink {
namespace {

using namespace smtp::server;
using limits::server_command_line_bytes_max;
using limits::server_pending_input_bytes_max;
using limits::server_recipients_per_transaction_max;

// ---------------------------------------------------------------------------------------------
// Command parser

TEST(SinkCommand, VerbsAreCaseInsensitiveAndNeedASpaceOrTheEnd) {
  EXPECT_EQ(parse_command("MAIL FROM:<a@b>").verb, Verb::mail);
  EXPECT_EQ(parse_command("mail FROM:<a@b>").argument, "FROM:<a@b>");
  EXPECT_EQ(parse_command("rCpT TO:<a@b>  ").argument, "TO:<a@b>");
  EXPECT_EQ(parse_command("DATA").verb, Verb::data);
  EXPECT_EQ(parse_command("data").argument, "");
  EXPECT_EQ(parse_command("QUIT").verb, Verb::quit);
  EXPECT_EQ(parse_command("EHLO client.example").argument, "client.example");
  EXPECT_EQ(parse_command("HELO x").verb, Verb::helo);
  EXPECT_EQ(parse_command("RSET").verb, Verb::rset);
  EXPECT_EQ(parse_command("NOOP").verb, Verb::noop);
  EXPECT_EQ(parse_command("VRFY postmaster").verb, Verb::vrfy);
  EXPECT_EQ(parse_command("MAILX FROM:<a@b>").verb, Verb::unknown);
  EXPECT_EQ(parse_command("MAI").verb, Verb::unknown);
  EXPECT_EQ(parse_command("").verb, Verb::unknown);
  EXPECT_EQ(parse_command(" MAIL FROM:<a@b>").verb, Verb::unknown);
  EXPECT_EQ(parse_command("STARTTLS").verb, Verb::unknown);
  EXPECT_EQ(parse_command("BDAT 100 LAST").verb, Verb::unknown);
  EXPECT_EQ(parse_command(std::string_view("MA\0L x", 6)).verb, Verb::unknown);
}

TEST(SinkCommand, PathArguments) {
  PathArgument path;
  ASSERT_EQ(parse_path_argument("FROM:<a@b.example>", "FROM:", path), PathStatus::ok);
  EXPECT_EQ(path.path, "a@b.example");
  EXPECT_EQ(path.parameters, "");

  ASSERT_EQ(parse_path_argument("from: <a@b> SIZE=10  BODY=8BITMIME ", "FROM:", path),
            PathStatus::ok);
  EXPECT_EQ(path.path, "a@b");
  EXPECT_EQ(path.parameters, "SIZE=10  BODY=8BITMIME");

  ASSERT_EQ(parse_path_argument("FROM:<>", "FROM:", path), PathStatus::ok);
  EXPECT_EQ(path.path, "");

  // A quoted local part may hold '>' and spaces; the escaped quote does not end the quote.
  ASSERT_EQ(parse_path_argument(R"(TO:<"odd> \" name"@x.example> NOTIFY=NEVER)", "TO:", path),
            PathStatus::ok);
  EXPECT_EQ(path.path, R"("odd> \" name"@x.example)");
  EXPECT_EQ(path.parameters, "NOTIFY=NEVER");

  // RFC 5321 4.1.2: a source route is accepted and ignored.
  ASSERT_EQ(parse_path_argument("TO:<@relay.example,@b.example:user@c.example>", "TO:", path),
            PathStatus::ok);
  EXPECT_EQ(path.path, "user@c.example");

  ASSERT_EQ(parse_path_argument("TO:bare@x.example", "TO:", path), PathStatus::ok);
  EXPECT_EQ(path.path, "bare@x.example");

  EXPECT_EQ(parse_path_argument("TO <a@b>", "TO:", path), PathStatus::syntax_error);
  EXPECT_EQ(parse_path_argument("FROM:<a@b>", "TO:", path), PathStatus::syntax_error);
  EXPECT_EQ(parse_path_argument("TO:", "TO:", path), PathStatus::syntax_error);
  EXPECT_EQ(parse_path_argument("TO:<a@b", "TO:", path), PathStatus::syntax_error);
  EXPECT_EQ(parse_path_argument("TO:<a@b>x", "TO:", path), PathStatus::syntax_error);
  EXPECT_EQ(parse_path_argument("TO:<@relay:>", "TO:", path), PathStatus::ok);
  EXPECT_EQ(parse_path_argument("TO:<@relay>", "TO:", path), PathStatus::syntax_error);
  EXPECT_EQ(parse_path_argument(std::string_view("TO:<a\0b@c>", 10), "TO:", path),
            PathStatus::syntax_error);
  EXPECT_EQ(parse_path_argument("TO:<a\rb@c>", "TO:", path), PathStatus::syntax_error);

  const std::string longest = "TO:<" + std::string(254 - 2, 'a') + "@b>";
  EXPECT_EQ(parse_path_argument(longest, "TO:", path), PathStatus::ok);
  EXPECT_EQ(path.path.size(), 254u);
  const std::string too_long = "TO:<" + std::string(254 - 1, 'a') + "@b>";
  EXPECT_EQ(parse_path_argument(too_long, "TO:", path), PathStatus::too_long);
}

TEST(SinkCommand, MailParameters) {
  MailParameters parameters;
  ASSERT_EQ(parse_mail_parameters("", parameters), ParameterStatus::ok);
  EXPECT_FALSE(parameters.size_given);

  ASSERT_EQ(parse_mail_parameters("size=2000 body=8bitmime SMTPUTF8", parameters),
            ParameterStatus::ok);
  EXPECT_TRUE(parameters.size_given);
  EXPECT_EQ(parameters.size_bytes, 2000u);
  EXPECT_TRUE(parameters.body_8bitmime);
  EXPECT_TRUE(parameters.smtputf8);

  ASSERT_EQ(parse_mail_parameters("BODY=7BIT", parameters), ParameterStatus::ok);
  EXPECT_FALSE(parameters.body_8bitmime);
  ASSERT_EQ(parse_mail_parameters("SIZE=9999999999999999999", parameters), ParameterStatus::ok);
  EXPECT_EQ(parameters.size_bytes, 9999999999999999999ull);

  EXPECT_EQ(parse_mail_parameters("SIZE=", parameters), ParameterStatus::syntax_error);
  EXPECT_EQ(parse_mail_parameters("SIZE=12a", parameters), ParameterStatus::syntax_error);
  EXPECT_EQ(parse_mail_parameters("SIZE=-1", parameters), ParameterStatus::syntax_error);
  EXPECT_EQ(parse_mail_parameters("SIZE=18446744073709551616", parameters),
            ParameterStatus::syntax_error);
  EXPECT_EQ(parse_mail_parameters("SIZE=1 SIZE=2", parameters), ParameterStatus::syntax_error);
  EXPECT_EQ(parse_mail_parameters("BODY=BINARYMIME", parameters), ParameterStatus::syntax_error);
  EXPECT_EQ(parse_mail_parameters("SMTPUTF8=yes", parameters), ParameterStatus::syntax_error);
  EXPECT_EQ(parse_mail_parameters("=x", parameters), ParameterStatus::syntax_error);
  // DSN was not announced: RFC 5321 4.1.1.11 answers unknown parameters with 555.
  EXPECT_EQ(parse_mail_parameters("RET=HDRS", parameters), ParameterStatus::unsupported);
  EXPECT_EQ(parse_mail_parameters("SIZE=1 ENVID=abc", parameters), ParameterStatus::unsupported);
}

TEST(SinkCommand, FaultModesByLocalPartPrefix) {
  EXPECT_EQ(classify_recipient("user@example.com"), RcptFault::none);
  EXPECT_EQ(classify_recipient("tempfail@x"), RcptFault::tempfail);
  EXPECT_EQ(classify_recipient("TempFail-17@x"), RcptFault::tempfail);
  EXPECT_EQ(classify_recipient("bounce.3@x"), RcptFault::bounce);
  EXPECT_EQ(classify_recipient("BOUNCE@x"), RcptFault::bounce);
  EXPECT_EQ(classify_recipient("datafail@x"), RcptFault::datafail);
  EXPECT_EQ(classify_recipient("datatempfail1@x"), RcptFault::datatempfail);
  EXPECT_EQ(classify_recipient("slow@x"), RcptFault::slow);
  EXPECT_EQ(classify_recipient("disconnect-now@x"), RcptFault::disconnect);
  EXPECT_EQ(classify_recipient("garbage@x"), RcptFault::garbage);
  EXPECT_EQ(classify_recipient("flaky42@x"), RcptFault::flaky);
  EXPECT_EQ(classify_recipient("\"slow guy\"@x"), RcptFault::slow);
  // Only the local part counts, and only its start.
  EXPECT_EQ(classify_recipient("user@bounce.example"), RcptFault::none);
  EXPECT_EQ(classify_recipient("nobounce@x"), RcptFault::none);
  EXPECT_EQ(classify_recipient("temp@x"), RcptFault::none);
  EXPECT_EQ(classify_recipient("slow"), RcptFault::slow);  // no domain at all
  EXPECT_EQ(classify_recipient(""), RcptFault::none);
}

// ---------------------------------------------------------------------------------------------
// DATA reader

struct ReadResult {
  std::string content;
  std::uint64_t size_bytes = 0;
  std::size_t consumed_bytes = 0;  // total, when complete
  bool complete = false;
};

// Feeds `input` in pieces of `piece_bytes` (0: all at once).
ReadResult read_body(std::string_view input, std::size_t piece_bytes = 0) {
  DataReader reader;
  reader.reset();
  ReadResult result;
  std::size_t offset = 0;
  while (offset < input.size() && !result.complete) {
    const std::size_t length =
        piece_bytes == 0 ? input.size() - offset : std::min(piece_bytes, input.size() - offset);
    const DataReader::Result step = reader.feed(input.substr(offset, length), &result.content);
    offset += step.consumed_bytes;
    result.complete = step.complete;
    if (!step.complete) {
      EXPECT_EQ(step.consumed_bytes, length);
    }
  }
  result.size_bytes = reader.content_bytes();
  result.consumed_bytes = offset;
  return result;
}

TEST(SinkDataReader, EndsAtCrLfDotCrLfAndLeavesTheRest) {
  const ReadResult result = read_body("Subject: x\r\n\r\nHello\r\n.\r\nQUIT\r\n");
  EXPECT_TRUE(result.complete);
  EXPECT_EQ(result.content, "Subject: x\n\nHello\n");
  EXPECT_EQ(result.size_bytes, 21u);  // "Subject: x\r\n\r\nHello\r\n"
  EXPECT_EQ(result.consumed_bytes, 24u);
}

TEST(SinkDataReader, EmptyMessage) {
  const ReadResult result = read_body(".\r\n");
  EXPECT_TRUE(result.complete);
  EXPECT_EQ(result.content, "");
  EXPECT_EQ(result.size_bytes, 0u);
}

TEST(SinkDataReader, UndoesDotStuffing) {
  // RFC 5321 4.5.2: "..x" is ".x", ".." alone is ".", and a ".\r" not followed by LF is a
  // stuffed dot followed by a bare CR.
  const ReadResult result = read_body("..x\r\n..\r\na.b\r\n.\rz\r\n.\r\n");
  EXPECT_TRUE(result.complete);
  EXPECT_EQ(result.content, ".x\n.\na.b\n\rz\n");
  EXPECT_EQ(result.size_bytes, 4u + 3u + 5u + 4u);
}

TEST(SinkDataReader, BareLineFeedsNeverEndTheBody) {
  // The SMTP smuggling family (CVE-2023-51764): "\n.\n", "\r\n.\n", "\n.\r\n" are content.
  // After "b\r\n" a line starts with '.', so that dot is stuffing and goes (RFC 5321 4.5.2).
  const ReadResult result = read_body("a\n.\nb\r\n.\nc\n.\r\nd\r\n.\r\n");
  EXPECT_TRUE(result.complete);
  EXPECT_EQ(result.content, "a\n.\nb\n\nc\n.\nd\n");
  EXPECT_EQ(result.size_bytes, 16u);
  const ReadResult open = read_body("a\r\n.\n\r\n");
  EXPECT_FALSE(open.complete);
}

TEST(SinkDataReader, TerminatorSplitAtEveryOffsetAndEveryPieceSize) {
  const std::string body = "Line one\r\n..dotted\r\nx\ry\r\n\r\n.\r\nNEXT";
  const ReadResult whole = read_body(body);
  ASSERT_TRUE(whole.complete);
  EXPECT_EQ(whole.content, "Line one\n.dotted\nx\ry\n\n");
  EXPECT_EQ(whole.consumed_bytes, body.size() - 4);
  for (std::size_t piece = 1; piece <= body.size(); ++piece) {
    const ReadResult split = read_body(body, piece);
    EXPECT_TRUE(split.complete) << piece;
    EXPECT_EQ(split.content, whole.content) << piece;
    EXPECT_EQ(split.size_bytes, whole.size_bytes) << piece;
    EXPECT_EQ(split.consumed_bytes, whole.consumed_bytes) << piece;
  }
}

TEST(SinkDataReader, CountsWithoutKeepingContent) {
  DataReader reader;
  reader.reset();
  const DataReader::Result result = reader.feed("abc\r\n.\r\n", nullptr);
  EXPECT_TRUE(result.complete);
  EXPECT_EQ(reader.content_bytes(), 5u);
}

// ---------------------------------------------------------------------------------------------
// Session

// Captures what the session stores, as --maildir would.
class RecordingStore : public MessageKeeper {
 public:
  struct Stored {
    std::string queue_id;
    std::string sender;
    std::vector<std::string> recipients;
    std::string content;
  };
  absl::Status keep(const ReceivedMessage& message) override {
    if (fail) return absl::UnavailableError("disk full");
    messages.push_back(Stored{std::string(message.queue_id),
                              std::string(message.sender),
                              {message.recipients.begin(), message.recipients.end()},
                              std::string(message.content)});
    return absl::OkStatus();
  }
  std::vector<Stored> messages;
  bool fail = false;
};

class Harness {
 public:
  explicit Harness(SinkConfig config = {}, bool with_store = false)
      : config_(std::move(config)),
        policy_(config_, stats_, flaky_),
        fault_store_(stats_, with_store ? &store_ : nullptr),
        environment_(config_, server_stats_, policy_, fault_store_, 7),
        session_(environment_) {}

  // Starts the session and returns the greeting.
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
  // Feeds `input` one byte at a time, resuming whenever the session asks (as the shell would),
  // and returns every reply.
  std::string feed_bytewise(std::string_view input) {
    std::string output;
    for (char c : input) {
      session_.feed(std::string_view(&c, 1));
      output += take();
      while (session_.action() == Action::flush_then_resume ||
             session_.action() == Action::delay_then_resume) {
        session_.resume();
        output += take();
      }
    }
    return output;
  }
  // Feeds `input` at once and resumes until the session only wants more input.
  std::string feed_and_settle(std::string_view input) {
    std::string output = feed(input);
    while (session_.action() == Action::flush_then_resume ||
           session_.action() == Action::delay_then_resume) {
      output += resume();
    }
    return output;
  }

  std::uint64_t count(Counter counter) const {
    return combine_stats(server_stats_.snapshot(), stats_.snapshot())[counter];
  }
  Session& session() { return session_; }
  RecordingStore& store() { return store_; }
  FlakySet& flaky() { return flaky_; }

 private:
  SinkConfig config_;
  ServerStats server_stats_;
  SinkStats stats_;
  FlakySet flaky_;
  RecordingStore store_;
  FaultPolicy policy_;
  FaultStore fault_store_;
  SessionEnvironment environment_;
  Session session_;
};

constexpr std::string_view kEhloReply =
    "250-hayate-sink\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
    "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n";

TEST(SinkSession, GreetingAndEhloExactBytes) {
  Harness sink;
  EXPECT_EQ(sink.start(), "220 hayate-sink ESMTP hayate-sink\r\n");
  EXPECT_EQ(sink.session().action(), Action::read);
  EXPECT_EQ(sink.feed("EHLO client.example\r\n"), kEhloReply);
  EXPECT_EQ(sink.feed("HELO client.example\r\n"), "250 hayate-sink\r\n");
  EXPECT_EQ(sink.feed("EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
  EXPECT_EQ(sink.feed("HELO \r\n"), "501 5.5.4 Syntax: HELO hostname\r\n");
  EXPECT_EQ(sink.count(Counter::sessions), 1u);
}

TEST(SinkSession, EhloFollowsTheConfiguration) {
  SinkConfig config;
  config.hostname = "mx.test";
  config.pipelining = false;
  config.message_bytes_max = 1000;
  Harness sink(config);
  EXPECT_EQ(sink.start(), "220 mx.test ESMTP hayate-sink\r\n");
  EXPECT_EQ(sink.feed("EHLO c\r\n"),
            "250-mx.test\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
            "250 SMTPUTF8\r\n");
}

constexpr std::string_view kPipelinedTransaction =
    "EHLO client.example\r\n"
    "MAIL FROM:<sender@client.example> SIZE=40 BODY=8BITMIME\r\n"
    "RCPT TO:<a@rcpt.example>\r\n"
    "RCPT TO:<b@rcpt.example>\r\n"
    "DATA\r\n"
    "Subject: test\r\n"
    "\r\n"
    "..leading dot\r\n"
    "body\r\n"
    ".\r\n"
    "QUIT\r\n";

const std::string kPipelinedReplies = std::string(kEhloReply) +
                                      "250 2.1.0 Ok\r\n"
                                      "250 2.1.5 Ok\r\n"
                                      "250 2.1.5 Ok\r\n"
                                      "354 End data with <CR><LF>.<CR><LF>\r\n"
                                      "250 2.0.0 Ok: queued as 070000000000\r\n"
                                      "221 2.0.0 Bye\r\n";

TEST(SinkSession, PipelinedBurstIsAnsweredInOrderInOneOutput) {
  Harness sink({}, /*with_store=*/true);
  sink.start();
  EXPECT_EQ(sink.feed(kPipelinedTransaction), kPipelinedReplies);
  EXPECT_EQ(sink.session().action(), Action::close_after_flush);
  EXPECT_EQ(sink.count(Counter::messages), 1u);
  EXPECT_EQ(sink.count(Counter::recipients), 2u);
  EXPECT_EQ(sink.count(Counter::recipients_delivered), 2u);
  EXPECT_EQ(sink.count(Counter::bytes), 37u);  // "Subject: test\r\n\r\n.leading dot\r\nbody\r\n"
  ASSERT_EQ(sink.store().messages.size(), 1u);
  const RecordingStore::Stored& stored = sink.store().messages[0];
  EXPECT_EQ(stored.queue_id, "070000000000");
  EXPECT_EQ(stored.sender, "sender@client.example");
  EXPECT_EQ(stored.recipients, (std::vector<std::string>{"a@rcpt.example", "b@rcpt.example"}));
  EXPECT_EQ(stored.content, "Subject: test\n\n.leading dot\nbody\n");
  // Input after QUIT is ignored.
  EXPECT_EQ(sink.feed("NOOP\r\n"), "");
}

TEST(SinkSession, SameRepliesWhateverTheReads) {
  for (std::size_t split = 0; split <= kPipelinedTransaction.size(); ++split) {
    Harness sink;
    sink.start();
    std::string output = sink.feed(kPipelinedTransaction.substr(0, split));
    output += sink.feed(kPipelinedTransaction.substr(split));
    EXPECT_EQ(output, kPipelinedReplies) << "split at " << split;
  }
  Harness bytewise;
  bytewise.start();
  EXPECT_EQ(bytewise.feed_bytewise(kPipelinedTransaction), kPipelinedReplies);
  EXPECT_EQ(bytewise.count(Counter::bytes), 37u);
}

TEST(SinkSession, SmtpSourceLockStepDialogue) {
  // What Postfix's smtp-source sends, one command per read (captured with strace).
  Harness sink;
  sink.start();
  EXPECT_EQ(sink.feed("HELO vm\r\n"), "250 hayate-sink\r\n");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(sink.feed("MAIL FROM:<foo@vm>\r\n"), "250 2.1.0 Ok\r\n");
    EXPECT_EQ(sink.feed("RCPT TO:<foo@vm>\r\n"), "250 2.1.5 Ok\r\n");
    EXPECT_EQ(sink.feed("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
    EXPECT_TRUE(sink.session().in_data());
    EXPECT_EQ(sink.feed("From: <foo@vm>\r\nTo: <foo@vm>\r\n\r\nLa de da de da 1.\r\n"), "");
    EXPECT_EQ(sink.feed(".\r\n"),
              "250 2.0.0 Ok: queued as 07000000000" + std::to_string(i) + "\r\n");
  }
  EXPECT_EQ(sink.feed("QUIT\r\n"), "221 2.0.0 Bye\r\n");
  EXPECT_EQ(sink.count(Counter::messages), 3u);
}

TEST(SinkSession, PythonSmtplibDialogue) {
  // Python's smtplib.sendmail: lower-case verbs, "size=" in MAIL, a dot-stuffed body.
  Harness sink({}, true);
  sink.start();
  EXPECT_EQ(sink.feed("ehlo [127.0.1.1]\r\n"), kEhloReply);
  EXPECT_EQ(sink.feed("mail FROM:<a@b.c> size=27\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(sink.feed("rcpt TO:<x@y.z>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(sink.feed("data\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(sink.feed("Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\n"),
            "250 2.0.0 Ok: queued as 070000000000\r\n");
  EXPECT_EQ(sink.count(Counter::bytes), 27u);
  EXPECT_EQ(sink.store().messages.at(0).content, "Subject: hi\n\n.dot\nbody\n");
}

TEST(SinkSession, SequenceErrors) {
  Harness sink;
  sink.start();
  EXPECT_EQ(sink.feed("MAIL FROM:<a@b>\r\n"), "503 5.5.1 Send HELO/EHLO first\r\n");
  EXPECT_EQ(sink.feed("RCPT TO:<a@b>\r\n"), "503 5.5.1 Need MAIL command\r\n");
  EXPECT_EQ(sink.feed("DATA\r\n"), "503 5.5.1 Need MAIL command\r\n");
  EXPECT_EQ(sink.feed("HELO c\r\n"), "250 hayate-sink\r\n");
  EXPECT_EQ(sink.feed("MAIL FROM:<a@b>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(sink.feed("MAIL FROM:<a@b>\r\n"), "503 5.5.1 Nested MAIL command\r\n");
  EXPECT_EQ(sink.feed("DATA\r\n"), "503 5.5.1 Need RCPT command\r\n");
  EXPECT_EQ(sink.feed("DATA now\r\n"), "501 5.5.4 Syntax: DATA\r\n");
  EXPECT_EQ(sink.feed("RSET\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(sink.feed("RCPT TO:<a@b>\r\n"), "503 5.5.1 Need MAIL command\r\n");
  EXPECT_EQ(sink.feed("NOOP\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(sink.feed("VRFY root\r\n"), "252 2.0.0 Cannot VRFY user, but will accept message\r\n");
  EXPECT_EQ(sink.feed("STARTTLS\r\n"), "500 5.5.2 Command not recognized\r\n");
  EXPECT_EQ(sink.feed("\r\n"), "500 5.5.2 Command not recognized\r\n");
  EXPECT_EQ(sink.count(Counter::commands_unknown), 2u);
  EXPECT_EQ(sink.count(Counter::messages), 0u);
}

TEST(SinkSession, SyntaxErrorsInMailAndRcpt) {
  Harness sink;
  sink.start();
  sink.feed("EHLO c\r\n");
  EXPECT_EQ(sink.feed("MAIL FROM <a@b>\r\n"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  EXPECT_EQ(sink.feed("MAIL FROM:<a@b> RET=HDRS\r\n"), "555 5.5.4 Unsupported parameter\r\n");
  EXPECT_EQ(sink.feed("MAIL FROM:<a@b> SIZE=x\r\n"), "501 5.5.4 Bad MAIL parameters\r\n");
  EXPECT_EQ(sink.feed("MAIL FROM:<" + std::string(300, 'a') + ">\r\n"),
            "501 5.1.7 Sender address too long\r\n");
  EXPECT_EQ(sink.feed("MAIL FROM:<>\r\n"), "250 2.1.0 Ok\r\n");  // the null sender
  EXPECT_EQ(sink.feed("RCPT TO:<>\r\n"), "501 5.1.3 Bad recipient address syntax\r\n");
  EXPECT_EQ(sink.feed("RCPT TO:<a@b> NOTIFY=NEVER\r\n"), "555 5.5.4 Unsupported parameter\r\n");
  EXPECT_EQ(sink.feed("RCPT <a@b>\r\n"), "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
  EXPECT_EQ(sink.feed("RCPT TO:<" + std::string(300, 'a') + ">\r\n"),
            "501 5.1.3 Recipient address too long\r\n");
  EXPECT_EQ(sink.count(Counter::rcpt_syntax), 4u);
  EXPECT_EQ(sink.count(Counter::rcpt_rejected), 4u);
  // RCPTs were tried, none accepted: RFC 5321 3.3 allows 554 "no valid recipients".
  EXPECT_EQ(sink.feed("DATA\r\n"), "554 5.5.1 No valid recipients\r\n");
}

TEST(SinkSession, FaultModesAtRcpt) {
  Harness sink;
  sink.start();
  const std::string output = sink.feed(
      "EHLO c\r\nMAIL FROM:<s@x>\r\n"
      "RCPT TO:<tempfail-1@x>\r\n"
      "RCPT TO:<Bounce@x>\r\n"
      "RCPT TO:<garbage@x>\r\n"
      "RCPT TO:<ok@x>\r\n"
      "DATA\r\nhello\r\n.\r\n");
  EXPECT_EQ(output, std::string(kEhloReply) +
                        "250 2.1.0 Ok\r\n"
                        "451 4.3.0 Try again later\r\n"
                        "550 5.1.1 User unknown\r\n"
                        "HELLO THIS IS NOT SMTP\r\n"
                        "250 2.1.5 Ok\r\n"
                        "354 End data with <CR><LF>.<CR><LF>\r\n"
                        "250 2.0.0 Ok: queued as 070000000000\r\n");
  EXPECT_EQ(sink.count(Counter::rcpt_tempfail), 1u);
  EXPECT_EQ(sink.count(Counter::rcpt_bounce), 1u);
  EXPECT_EQ(sink.count(Counter::rcpt_garbage), 1u);
  EXPECT_EQ(sink.count(Counter::rcpt_rejected), 3u);
  EXPECT_EQ(sink.count(Counter::recipients), 1u);
  EXPECT_EQ(sink.count(Counter::recipients_delivered), 1u);
  EXPECT_EQ(sink.count(Counter::messages), 1u);
  EXPECT_EQ(sink.count(Counter::bytes), 7u);
}

TEST(SinkSession, FaultModesAtEndOfData) {
  Harness sink({}, true);
  sink.start();
  sink.feed("EHLO c\r\n");
  EXPECT_EQ(sink.feed("MAIL FROM:<s@x>\r\nRCPT TO:<ok@x>\r\nRCPT TO:<DataFail7@x>\r\nDATA\r\n"
                      "body\r\n.\r\n"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
            "354 End data with <CR><LF>.<CR><LF>\r\n554 5.6.0 Message rejected\r\n");
  EXPECT_EQ(sink.feed("MAIL FROM:<s@x>\r\nRCPT TO:<datatempfail@x>\r\nDATA\r\nbody\r\n.\r\n"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
            "354 End data with <CR><LF>.<CR><LF>\r\n451 4.3.0 Try again later\r\n");
  // Both in one transaction: the permanent failure wins.
  EXPECT_EQ(sink.feed("MAIL FROM:<s@x>\r\nRCPT TO:<datatempfail@x>\r\nRCPT TO:<datafail@x>\r\n"
                      "DATA\r\nbody\r\n.\r\n"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
            "354 End data with <CR><LF>.<CR><LF>\r\n554 5.6.0 Message rejected\r\n");
  // The transaction is reset after a refusal: the next one is accepted.
  EXPECT_EQ(sink.feed("MAIL FROM:<s@x>\r\nRCPT TO:<ok@x>\r\nDATA\r\nbody\r\n.\r\n"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
            "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as 070000000000\r\n");
  EXPECT_EQ(sink.count(Counter::data_fail), 2u);
  EXPECT_EQ(sink.count(Counter::data_tempfail), 1u);
  EXPECT_EQ(sink.count(Counter::data_rejected), 3u);
  EXPECT_EQ(sink.count(Counter::messages), 1u);
  EXPECT_EQ(sink.count(Counter::recipients), 6u);
  EXPECT_EQ(sink.count(Counter::recipients_delivered), 1u);
  EXPECT_EQ(sink.count(Counter::bytes), 6u);
  ASSERT_EQ(sink.store().messages.size(), 1u);
  EXPECT_EQ(sink.store().messages[0].recipients, std::vector<std::string>{"ok@x"});
}

TEST(SinkSession, SlowRcptDelaysItsReplyAndEveryLaterOne) {
  SinkConfig config;
  config.slow_ms = 1234;
  Harness sink(config);
  sink.start();
  // Everything before the slow RCPT goes out now; nothing after it until resume().
  EXPECT_EQ(sink.feed("EHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<slow1@x>\r\nRCPT TO:<b@x>\r\n"),
            std::string(kEhloReply) + "250 2.1.0 Ok\r\n");
  EXPECT_EQ(sink.session().action(), Action::delay_then_resume);
  EXPECT_EQ(sink.session().delay_ms(), 1234u);
  // Input during the delay waits too.
  EXPECT_EQ(sink.feed("DATA\r\nhi\r\n.\r"), "");
  EXPECT_EQ(sink.resume(),
            "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(sink.session().action(), Action::read);
  EXPECT_EQ(sink.feed("\nQUIT\r\n"), "250 2.0.0 Ok: queued as 070000000000\r\n221 2.0.0 Bye\r\n");
  EXPECT_EQ(sink.count(Counter::rcpt_slow), 1u);
  EXPECT_EQ(sink.count(Counter::recipients), 2u);
  EXPECT_EQ(sink.count(Counter::recipients_delivered), 2u);
}

TEST(SinkSession, TwoSlowRcptsInOneBurst) {
  Harness sink;
  sink.start();
  sink.feed("HELO c\r\n");
  EXPECT_EQ(sink.feed("MAIL FROM:<s@x>\r\nRCPT TO:<slow@x>\r\nRCPT TO:<slow2@x>\r\nNOOP\r\n"),
            "250 2.1.0 Ok\r\n");
  EXPECT_EQ(sink.resume(), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(sink.session().action(), Action::delay_then_resume);
  EXPECT_EQ(sink.resume(), "250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n");
  EXPECT_EQ(sink.session().action(), Action::read);
}

TEST(SinkSession, DisconnectClosesWithoutReplyAfterEarlierReplies) {
  Harness sink;
  sink.start();
  EXPECT_EQ(sink.feed("HELO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<disconnect@x>\r\nRCPT TO:<a@x>\r\n"),
            "250 hayate-sink\r\n250 2.1.0 Ok\r\n");
  EXPECT_EQ(sink.session().action(), Action::close_after_flush);
  EXPECT_EQ(sink.feed("NOOP\r\n"), "");
  EXPECT_EQ(sink.count(Counter::rcpt_disconnect), 1u);
  EXPECT_EQ(sink.count(Counter::rcpt_rejected), 1u);
  EXPECT_EQ(sink.count(Counter::recipients), 0u);
}

TEST(SinkSession, FlakyFailsOnceThenAcceptsAcrossSessions) {
  Harness sink;
  sink.start();
  sink.feed("HELO c\r\nMAIL FROM:<s@x>\r\n");
  EXPECT_EQ(sink.feed("RCPT TO:<flaky1@x>\r\n"), "451 4.3.0 Try again later\r\n");
  EXPECT_EQ(sink.feed("RCPT TO:<flaky2@x>\r\n"), "451 4.3.0 Try again later\r\n");
  EXPECT_EQ(sink.feed("RCPT TO:<flaky1@x>\r\n"), "250 2.1.5 Ok\r\n");
  // A new connection (the retry) shares the set.
  sink.start();
  sink.feed("HELO c\r\nMAIL FROM:<s@x>\r\n");
  EXPECT_EQ(sink.feed("RCPT TO:<flaky2@x>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(sink.feed("RCPT TO:<FLAKY1@x>\r\n"), "451 4.3.0 Try again later\r\n");  // new bytes
  EXPECT_EQ(sink.count(Counter::rcpt_flaky), 3u);
  EXPECT_EQ(sink.count(Counter::rcpt_rejected), 3u);
  EXPECT_EQ(sink.count(Counter::recipients), 2u);
  EXPECT_EQ(sink.count(Counter::sessions), 2u);
}

TEST(SinkFlakySet, BoundedAndThenUntracked) {
  FlakySet set(2);
  EXPECT_EQ(set.record("a"), FlakySet::Attempt::first);
  EXPECT_EQ(set.record("b"), FlakySet::Attempt::first);
  EXPECT_EQ(set.record("c"), FlakySet::Attempt::untracked);
  EXPECT_EQ(set.record("a"), FlakySet::Attempt::repeated);
  EXPECT_EQ(set.size(), 2u);
}

TEST(SinkSession, LockStepModeAnswersOneCommandPerFlush) {
  SinkConfig config;
  config.pipelining = false;
  Harness sink(config);
  EXPECT_EQ(sink.start(), "220 hayate-sink ESMTP hayate-sink\r\n");
  // A client that pipelines anyway: one reply per flush, in order.
  EXPECT_EQ(sink.feed("HELO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n"),
            "250 hayate-sink\r\n");
  EXPECT_EQ(sink.session().action(), Action::flush_then_resume);
  EXPECT_EQ(sink.resume(), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(sink.resume(), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(sink.resume(), "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(sink.resume(), "250 2.0.0 Ok: queued as 070000000000\r\n");
  EXPECT_EQ(sink.resume(), "221 2.0.0 Bye\r\n");
  EXPECT_EQ(sink.session().action(), Action::close_after_flush);
}

TEST(SinkSession, LockStepModeWithoutExtraInputNeedsNoFlush) {
  SinkConfig config;
  config.pipelining = false;
  Harness sink(config);
  sink.start();
  EXPECT_EQ(sink.feed("HELO c\r\n"), "250 hayate-sink\r\n");
  EXPECT_EQ(sink.session().action(), Action::read);
  EXPECT_EQ(sink.feed_bytewise("MAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\n"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
}

TEST(SinkSession, GreetingDelayHoldsEarlyTalkers) {
  SinkConfig config;
  config.greeting_delay_ms = 500;
  Harness sink(config);
  EXPECT_EQ(sink.start(), "");
  EXPECT_EQ(sink.session().action(), Action::delay_then_resume);
  EXPECT_EQ(sink.session().delay_ms(), 500u);
  EXPECT_EQ(sink.feed("HELO early\r\n"), "");
  EXPECT_EQ(sink.resume(), "220 hayate-sink ESMTP hayate-sink\r\n250 hayate-sink\r\n");
}

TEST(SinkSession, OverlongCommandLines) {
  Harness sink;
  sink.start();
  // Exactly the limit is a line (an unknown command here); one more byte is too long.
  const std::string at_limit(server_command_line_bytes_max, 'X');
  EXPECT_EQ(sink.feed(at_limit + "\r\n"), "500 5.5.2 Command not recognized\r\n");
  const std::string over_limit(server_command_line_bytes_max + 1, 'X');
  EXPECT_EQ(sink.feed(over_limit + "\r\nNOOP\r\n"), "500 5.5.0 Line too long\r\n250 2.0.0 Ok\r\n");
  // Split across reads, with a huge line: one reply, when the line ends, and no buffering.
  EXPECT_EQ(sink.feed("NOOP " + std::string(5000, 'y')), "");
  EXPECT_EQ(sink.feed(std::string(100000, 'y')), "");
  EXPECT_EQ(sink.feed("yy\r\nHELO c\r\n"), "500 5.5.0 Line too long\r\n250 hayate-sink\r\n");
  // A partial line under the limit that grows over it when completed.
  EXPECT_EQ(sink.feed(std::string(2000, 'z')), "");
  EXPECT_EQ(sink.feed(std::string(100, 'z') + "\r\n"), "500 5.5.0 Line too long\r\n");
  EXPECT_EQ(sink.count(Counter::lines_too_long), 3u);
}

TEST(SinkSession, MessageSizeLimit) {
  SinkConfig config;
  config.message_bytes_max = 10;
  Harness sink(config, true);
  sink.start();
  sink.feed("EHLO c\r\n");
  EXPECT_EQ(sink.feed("MAIL FROM:<s@x> SIZE=11\r\n"),
            "552 5.3.4 Message size exceeds fixed limit\r\n");
  EXPECT_EQ(sink.feed("MAIL FROM:<s@x> SIZE=10\r\nRCPT TO:<a@x>\r\nDATA\r\n"
                      "0123456789\r\n.\r\n"),  // 12 bytes with the CRLF
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
            "552 5.3.4 Message size exceeds fixed limit\r\n");
  EXPECT_EQ(sink.feed("MAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\n12345678\r\n.\r\n"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
            "250 2.0.0 Ok: queued as 070000000000\r\n");
  EXPECT_EQ(sink.count(Counter::data_too_big), 1u);
  EXPECT_EQ(sink.count(Counter::data_rejected), 1u);
  EXPECT_EQ(sink.count(Counter::bytes), 10u);
  ASSERT_EQ(sink.store().messages.size(), 1u);
  EXPECT_EQ(sink.store().messages[0].content, "12345678\n");
}

TEST(SinkSession, StoreFailureIsATemporaryError) {
  Harness sink({}, true);
  sink.store().fail = true;
  sink.start();
  EXPECT_EQ(sink.feed("HELO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\nx\r\n.\r\n"),
            "250 hayate-sink\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
            "354 End data with <CR><LF>.<CR><LF>\r\n451 4.3.0 Local error writing message\r\n");
  EXPECT_EQ(sink.count(Counter::data_store_failed), 1u);
  EXPECT_EQ(sink.count(Counter::messages), 0u);
}

TEST(SinkSession, TooManyRecipients) {
  Harness sink;
  sink.start();
  std::string input = "HELO c\r\nMAIL FROM:<s@x>\r\n";
  for (std::uint32_t i = 0; i <= server_recipients_per_transaction_max; ++i) {
    input += "RCPT TO:<r" + std::to_string(i) + "@x>\r\n";
  }
  const std::string output = sink.feed(input);
  EXPECT_TRUE(output.ends_with("250 2.1.5 Ok\r\n452 4.5.3 Too many recipients\r\n"));
  EXPECT_EQ(sink.count(Counter::recipients), server_recipients_per_transaction_max);
  EXPECT_EQ(sink.count(Counter::rcpt_too_many), 1u);
}

TEST(SinkSession, EhloResetsTheTransaction) {
  Harness sink;
  sink.start();
  EXPECT_EQ(sink.feed("HELO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nHELO c\r\nDATA\r\n"),
            "250 hayate-sink\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 hayate-sink\r\n"
            "503 5.5.1 Need MAIL command\r\n");
}

TEST(SinkSession, BareLfEndsCommandsButNotTheBody) {
  Harness sink;
  sink.start();
  EXPECT_EQ(sink.feed("HELO c\nMAIL FROM:<s@x>\nRCPT TO:<a@x>\nDATA\n"),
            "250 hayate-sink\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
            "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(sink.feed("x\n.\nMAIL FROM:<smuggled@x>\n"), "");  // still in DATA
  EXPECT_TRUE(sink.session().in_data());
  EXPECT_EQ(sink.feed("\r\n.\r\n"), "250 2.0.0 Ok: queued as 070000000000\r\n");
  EXPECT_EQ(sink.count(Counter::messages), 1u);
}

TEST(SinkSession, PendingInputIsBounded) {
  Harness sink;
  sink.start();
  sink.feed("HELO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<slow@x>\r\n");
  ASSERT_EQ(sink.session().action(), Action::delay_then_resume);
  const std::string chunk(1 << 20, 'n');
  for (std::size_t fed = 0; fed <= server_pending_input_bytes_max; fed += chunk.size()) {
    sink.feed(chunk);
  }
  EXPECT_EQ(sink.session().action(), Action::close_after_flush);
}

TEST(SinkSession, RestartForgetsThePreviousConnection) {
  Harness sink;
  sink.start();
  sink.feed("HELO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\npartial body");
  EXPECT_TRUE(sink.session().in_data());
  EXPECT_EQ(sink.start(), "220 hayate-sink ESMTP hayate-sink\r\n");
  EXPECT_FALSE(sink.session().in_data());
  EXPECT_EQ(sink.feed("MAIL FROM:<s@x>\r\n"), "503 5.5.1 Send HELO/EHLO first\r\n");
}

TEST(SinkSession, QueueIdsAreUniqueAndCarryTheThread) {
  SinkConfig config;
  ServerStats stats;
  AcceptAllPolicy policy;
  SinkStats sink_stats;
  FaultStore store(sink_stats, nullptr);
  SessionEnvironment environment(config, stats, policy, store, 0xab);
  char first[12];
  char second[12];
  environment.next_queue_id(first);
  environment.next_queue_id(second);
  EXPECT_EQ(std::string_view(first, 12), "AB0000000000");
  EXPECT_EQ(std::string_view(second, 12), "AB0000000001");
}

// Hostile input: random bytes and random splits must never break an invariant (the asserts
// stay on in release builds), and the session must still answer a clean command afterwards
// when it is not closed.
TEST(SinkSession, RandomInputKeepsInvariants) {
  std::mt19937 random(12345);
  const std::vector<std::string> pieces = {"HELO c\r\n",
                                           "EHLO c\r\n",
                                           "MAIL FROM:<a@b>\r\n",
                                           "RCPT TO:<a@b>\r\n",
                                           "RCPT TO:<slow@b>\r\n",
                                           "RCPT TO:<flaky@b>\r\n",
                                           "RCPT TO:<garbage@b>\r\n",
                                           "DATA\r\n",
                                           ".\r\n",
                                           "\r\n",
                                           "\n",
                                           "\r",
                                           "..",
                                           "RSET\r\n",
                                           "x",
                                           std::string(3000, 'L'),
                                           std::string("\0\xff", 2)};
  for (int round = 0; round < 300; ++round) {
    SinkConfig config;
    config.pipelining = round % 2 == 0;
    config.message_bytes_max = 100;
    Harness sink(config, round % 3 == 0);
    sink.start();
    std::string input;
    const int count = int(random() % 40);
    for (int i = 0; i < count; ++i) input += pieces[random() % pieces.size()];
    std::size_t offset = 0;
    while (offset < input.size()) {
      const std::size_t length = std::min<std::size_t>(1 + random() % 64, input.size() - offset);
      sink.feed(std::string_view(input).substr(offset, length));
      offset += length;
      while (sink.session().action() == Action::flush_then_resume ||
             sink.session().action() == Action::delay_then_resume) {
        sink.resume();
      }
      sink.take();
    }
    if (sink.session().action() == Action::read && !sink.session().in_data()) {
      // Whatever partial line is pending, a line end and a NOOP get a reply ending in 250.
      const std::string output = sink.feed_and_settle("\r\nNOOP\r\n");
      EXPECT_TRUE(output.ends_with("250 2.0.0 Ok\r\n")) << round << ": " << output;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Stats rendering

TEST(SinkStats, JsonHasTheSummaryKeysFirst) {
  ServerStats server;
  server.add(ServerCounter::sessions, 3);
  server.add(ServerCounter::messages, 2000);
  server.add(ServerCounter::bytes, 12345);
  SinkStats faults;
  faults.add(Counter::rcpt_bounce, 4);
  const StatsSnapshot stats = combine_stats(server.snapshot(), faults.snapshot());
  const std::string json = stats_to_json(stats);
  EXPECT_TRUE(json.starts_with(
      R"({"sessions":3,"messages":2000,"recipients":0,"rcpt_rejected":0,"bytes":12345,)"
      R"("data_rejected":0,"recipients_delivered":0,)"))
      << json;
  EXPECT_TRUE(json.ends_with(R"("commands_unknown":0,"lines_too_long":0})")) << json;
  EXPECT_NE(json.find(R"("rcpt_bounce":4,)"), std::string::npos) << json;
  EXPECT_TRUE(stats_to_text(stats).starts_with("sessions=3 messages=2000 "));
  StatsSnapshot sum = stats;
  sum.add(stats);
  EXPECT_EQ(sum[Counter::messages], 4000u);
}

// ---------------------------------------------------------------------------------------------
// Maildir

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

std::vector<std::string> list_directory(const std::string& path) {
  std::vector<std::string> names;
  if (DIR* directory = ::opendir(path.c_str())) {
    while (dirent* entry = ::readdir(directory)) {
      if (entry->d_name[0] != '.') names.emplace_back(entry->d_name);
    }
    ::closedir(directory);
  }
  return names;
}

TEST(SinkMaildir, WritesOneFileInNewWithReturnPathAndDeliveredTo) {
  char directory_template[] = "/tmp/sink_maildir_test_XXXXXX";
  ASSERT_NE(::mkdtemp(directory_template), nullptr);
  const std::string maildir = std::string(directory_template) + "/box";
  ASSERT_TRUE(create_maildir(maildir).ok());
  ASSERT_TRUE(create_maildir(maildir).ok());  // idempotent

  MaildirStore store(maildir, "host/with:odd", 3);
  const std::vector<std::string> recipients = {"a@x.example", "b@y.example"};
  ASSERT_TRUE(store
                  .keep(ReceivedMessage{"030000000000", "sender@z.example", recipients,
                                        "Subject: hi\n\nbody\n"})
                  .ok());
  ASSERT_TRUE(store.keep(ReceivedMessage{"030000000001", "", recipients, "x\n"}).ok());
  EXPECT_EQ(store.messages_stored(), 2u);
  EXPECT_TRUE(list_directory(maildir + "/tmp").empty());
  std::vector<std::string> names = list_directory(maildir + "/new");
  ASSERT_EQ(names.size(), 2u);
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    return a.find("030000000000") != std::string::npos &&
           b.find("030000000000") == std::string::npos;
  });
  EXPECT_TRUE(names[0].ends_with("_030000000000.host_with_odd")) << names[0];
  EXPECT_EQ(read_file(maildir + "/new/" + names[0]),
            "Return-Path: <sender@z.example>\nDelivered-To: a@x.example\n"
            "Delivered-To: b@y.example\nSubject: hi\n\nbody\n");
  EXPECT_EQ(read_file(maildir + "/new/" + names[1]),
            "Return-Path: <>\nDelivered-To: a@x.example\nDelivered-To: b@y.example\nx\n");

  // A store that cannot write reports an error (the session turns it into 451).
  MaildirStore broken(std::string(directory_template) + "/missing", "h", 0);
  EXPECT_FALSE(broken.keep(ReceivedMessage{"000000000000", "s", recipients, "x\n"}).ok());
  std::filesystem::remove_all(directory_template);
}

// ---------------------------------------------------------------------------------------------
// --listen

TEST(SinkListenAddress, LoopbackOnlyUnlessAllowed) {
  absl::StatusOr<ListenAddress> v4 = parse_listen_address("127.0.0.1:2525", false);
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->to_string(), "127.0.0.1:2525");
  EXPECT_EQ(v4->port(), 2525);

  absl::StatusOr<ListenAddress> v6 = parse_listen_address("[::1]:25", false);
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->family, AF_INET6);
  EXPECT_EQ(v6->to_string(), "[::1]:25");

  EXPECT_EQ(parse_listen_address("localhost:0", false)->to_string(), "127.0.0.1:0");
  EXPECT_TRUE(parse_listen_address("127.3.2.1:1", false).ok());
  EXPECT_TRUE(parse_listen_address("[::ffff:127.0.0.1]:1", false).ok());

  const absl::StatusOr<ListenAddress> open = parse_listen_address("0.0.0.0:25", false);
  ASSERT_FALSE(open.ok());
  EXPECT_NE(std::string(open.status().message()).find("--allow-non-loopback"), std::string::npos);
  EXPECT_FALSE(parse_listen_address("[::]:25", false).ok());
  EXPECT_FALSE(parse_listen_address("192.0.2.1:25", false).ok());
  EXPECT_TRUE(parse_listen_address("0.0.0.0:25", true).ok());

  EXPECT_FALSE(parse_listen_address("127.0.0.1", false).ok());
  EXPECT_FALSE(parse_listen_address("127.0.0.1:", false).ok());
  EXPECT_FALSE(parse_listen_address("127.0.0.1:65536", false).ok());
  EXPECT_FALSE(parse_listen_address("127.0.0.1:25x", false).ok());
  EXPECT_FALSE(parse_listen_address("::1:25", false).ok());
  EXPECT_FALSE(parse_listen_address("[::1]25", false).ok());
  EXPECT_FALSE(parse_listen_address("example.com:25", false).ok());
  EXPECT_FALSE(parse_listen_address(":25", false).ok());
}

}  // namespace
}  // namespace hayate::sink
