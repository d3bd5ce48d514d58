// The pure SMTP server session of hayate-sink (see session.h). Every complete command in the
// input is answered in order into one output buffer, so a pipelined burst (RFC 2920) costs
// the shell one send; only fault modes and lock-step mode make it stop early.
#include "tools/sink/session.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/smtp/server/command.h"
#include "tools/sink/fault.h"

namespace hayate::sink {
namespace {

using namespace smtp::server;

// Replies, CRLF included, so that each costs one append.
constexpr std::string_view kMailOk = "250 2.1.0 Ok\r\n";
constexpr std::string_view kRcptOk = "250 2.1.5 Ok\r\n";
constexpr std::string_view kDataGoAhead = "354 End data with <CR><LF>.<CR><LF>\r\n";
constexpr std::string_view kQueuedPrefix = "250 2.0.0 Ok: queued as ";
constexpr std::string_view kOk = "250 2.0.0 Ok\r\n";
constexpr std::string_view kBye = "221 2.0.0 Bye\r\n";
constexpr std::string_view kVrfy = "252 2.0.0 Cannot VRFY user, but will accept message\r\n";
constexpr std::string_view kUnknown = "500 5.5.2 Command not recognized\r\n";
constexpr std::string_view kLineTooLong = "500 5.5.0 Line too long\r\n";
constexpr std::string_view kHeloSyntax = "501 5.5.4 Syntax: HELO hostname\r\n";
constexpr std::string_view kEhloSyntax = "501 5.5.4 Syntax: EHLO hostname\r\n";
constexpr std::string_view kMailSyntax = "501 5.5.4 Syntax: MAIL FROM:<address>\r\n";
constexpr std::string_view kRcptSyntax = "501 5.5.4 Syntax: RCPT TO:<address>\r\n";
constexpr std::string_view kDataSyntax = "501 5.5.4 Syntax: DATA\r\n";
constexpr std::string_view kSenderTooLong = "501 5.1.7 Sender address too long\r\n";
constexpr std::string_view kRcptTooLong = "501 5.1.3 Recipient address too long\r\n";
constexpr std::string_view kRcptEmpty = "501 5.1.3 Bad recipient address syntax\r\n";
constexpr std::string_view kMailParameters = "501 5.5.4 Bad MAIL parameters\r\n";
constexpr std::string_view kUnsupportedParameter = "555 5.5.4 Unsupported parameter\r\n";
constexpr std::string_view kNeedHelo = "503 5.5.1 Send HELO/EHLO first\r\n";
constexpr std::string_view kNestedMail = "503 5.5.1 Nested MAIL command\r\n";
constexpr std::string_view kNeedMail = "503 5.5.1 Need MAIL command\r\n";
constexpr std::string_view kNeedRcpt = "503 5.5.1 Need RCPT command\r\n";
constexpr std::string_view kNoValidRecipients = "554 5.5.1 No valid recipients\r\n";
constexpr std::string_view kTooBig = "552 5.3.4 Message size exceeds fixed limit\r\n";
constexpr std::string_view kTooManyRecipients = "452 4.5.3 Too many recipients\r\n";
constexpr std::string_view kTryAgain = "451 4.3.0 Try again later\r\n";
constexpr std::string_view kUserUnknown = "550 5.1.1 User unknown\r\n";
constexpr std::string_view kMessageRejected = "554 5.6.0 Message rejected\r\n";
constexpr std::string_view kStoreFailed = "451 4.3.0 Local error writing message\r\n";
constexpr std::string_view kGarbage = "HELLO THIS IS NOT SMTP\r\n";

}  // namespace

SessionEnvironment::SessionEnvironment(const SessionConfig& config, SinkStats& stats,
                                       FlakySet& flaky, MessageStore* store,
                                       std::uint32_t thread_index)
    : config_(config), stats_(stats), flaky_(flaky), store_(store), thread_index_(thread_index) {
  HAYATE_ASSERT(thread_index < 256);  // two hex digits of the queue id
  greeting_ = absl::StrCat("220 ", config.hostname, " ESMTP hayate-sink\r\n");
  helo_reply_ = absl::StrCat("250 ", config.hostname, "\r\n");
  // RFC 5321 4.1.1.1: the EHLO reply lists the extensions, one per line.
  ehlo_reply_ = absl::StrCat("250-", config.hostname, "\r\n");
  if (config.pipelining) ehlo_reply_ += "250-PIPELINING\r\n";
  absl::StrAppend(&ehlo_reply_, "250-SIZE ", config.message_bytes_max, "\r\n",
                  "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n");
}

void SessionEnvironment::next_queue_id(char (&id)[12]) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const std::uint64_t sequence = queue_ids_issued_++;
  HAYATE_ASSERT(sequence < (1ull << 40));  // ten hex digits
  id[0] = kHex[(thread_index_ >> 4) & 0xf];
  id[1] = kHex[thread_index_ & 0xf];
  for (int i = 0; i < 10; ++i) id[11 - i] = kHex[(sequence >> (4 * i)) & 0xf];
}

Session::Session(SessionEnvironment& environment) : environment_(environment) {}

void Session::start() {
  state_ = State::command;
  action_ = Action::read;
  resume_step_ = ResumeStep::none;
  delay_ms_ = 0;
  greeted_ = false;
  discarding_line_ = false;
  reset_transaction();
  line_.clear();
  pending_.clear();
  pending_offset_ = 0;
  output_.clear();
  environment_.stats().add(Counter::sessions);
  if (environment_.config().greeting_delay_ms > 0) {
    action_ = Action::delay_then_resume;
    resume_step_ = ResumeStep::greeting;
    delay_ms_ = environment_.config().greeting_delay_ms;
  } else {
    reply(environment_.greeting());
  }
}

void Session::feed(std::string_view input) {
  if (state_ == State::closed) return;  // after QUIT or a disconnect fault, input is ignored
  if (action_ != Action::read) {
    queue_pending(input);
    return;
  }
  HAYATE_ASSERT(pending_.empty());  // drained whenever the action is back to read
  const std::size_t used = process(input);
  if (used < input.size()) queue_pending(input.substr(used));
}

void Session::resume() {
  HAYATE_ASSERT(action_ == Action::flush_then_resume || action_ == Action::delay_then_resume);
  action_ = Action::read;
  const ResumeStep step = resume_step_;
  resume_step_ = ResumeStep::none;
  switch (step) {
    case ResumeStep::greeting:
      reply(environment_.greeting());
      after_reply(pending_offset_ < pending_.size());
      break;
    case ResumeStep::slow_rcpt:
      reply(kRcptOk);
      after_reply(pending_offset_ < pending_.size());
      break;
    case ResumeStep::lockstep:
    case ResumeStep::none:
      break;
  }
  drain_pending();
}

void Session::queue_pending(std::string_view input) {
  if (input.empty()) return;
  if (pending_.size() - pending_offset_ + input.size() > pending_input_bytes_max) {
    close_silently();
    return;
  }
  pending_.append(input);
}

void Session::drain_pending() {
  while (action_ == Action::read && state_ != State::closed && pending_offset_ < pending_.size()) {
    const std::string_view rest = std::string_view(pending_).substr(pending_offset_);
    const std::size_t used = process(rest);
    HAYATE_ASSERT(used <= rest.size());
    pending_offset_ += used;
  }
  if (pending_offset_ >= pending_.size() || state_ == State::closed) {
    pending_.clear();
    pending_offset_ = 0;
  }
}

// Lock-step mode (no PIPELINING announced): each reply goes out on its own, as a server that
// reads one command and writes one reply would do, even when the client pipelines anyway.
void Session::after_reply(bool more_input) {
  if (!environment_.config().pipelining && action_ == Action::read && more_input &&
      state_ != State::closed) {
    action_ = Action::flush_then_resume;
    resume_step_ = ResumeStep::lockstep;
  }
}

void Session::close_silently() {
  state_ = State::closed;
  action_ = Action::close_after_flush;
  resume_step_ = ResumeStep::none;
  pending_.clear();
  pending_offset_ = 0;
}

std::size_t Session::process(std::string_view input) {
  const char* const data = input.data();
  const std::size_t size = input.size();
  std::size_t i = 0;
  while (i < size && action_ == Action::read && state_ != State::closed) {
    if (state_ == State::data) {
      std::string* content = keeping_content_ ? &content_ : nullptr;
      const DataReader::Result result = data_reader_.feed(input.substr(i), content);
      i += result.consumed_bytes;
      if (keeping_content_ &&
          data_reader_.content_bytes() > environment_.config().message_bytes_max) {
        keeping_content_ = false;  // it will be refused; stop buffering it
        content_.clear();
      }
      if (result.complete) {
        finish_message();
        after_reply(i < size);
      }
      continue;
    }

    const void* found = std::memchr(data + i, '\n', size - i);
    if (discarding_line_) {
      if (!found) return size;
      i = std::size_t(static_cast<const char*>(found) - data) + 1;
      discarding_line_ = false;
      environment_.stats().add(Counter::lines_too_long);
      reply(kLineTooLong);
      after_reply(i < size);
      continue;
    }
    if (!found) {
      // A partial line: keep it for the next read. Room for the CR that may end it.
      const std::string_view partial = input.substr(i);
      if (line_.size() + partial.size() > command_line_bytes_max + 1) {
        line_.clear();
        discarding_line_ = true;
      } else {
        line_.append(partial);
      }
      return size;
    }
    const std::size_t end = std::size_t(static_cast<const char*>(found) - data);
    std::string_view line = input.substr(i, end - i);
    i = end + 1;
    const bool too_long = line_.size() + line.size() > command_line_bytes_max + 1;
    if (!line_.empty() && !too_long) {
      line_.append(line);
      line = line_;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (too_long || line.size() > command_line_bytes_max) {
      environment_.stats().add(Counter::lines_too_long);
      reply(kLineTooLong);
    } else {
      handle_command(line);
    }
    line_.clear();
    after_reply(i < size);
  }
  HAYATE_ASSERT(i <= size);
  return i;
}

void Session::handle_command(std::string_view line) {
  const Command command = parse_command(line);
  switch (command.verb) {
    case Verb::ehlo:
      handle_helo(command.argument, true);
      break;
    case Verb::helo:
      handle_helo(command.argument, false);
      break;
    case Verb::mail:
      handle_mail(command.argument);
      break;
    case Verb::rcpt:
      handle_rcpt(command.argument);
      break;
    case Verb::data:
      handle_data(command.argument);
      break;
    case Verb::rset:  // RFC 5321 4.1.1.5
      reset_transaction();
      reply(kOk);
      break;
    case Verb::noop:
      reply(kOk);
      break;
    case Verb::vrfy:
      reply(kVrfy);
      break;  // RFC 5321 3.5.3: 252 when not verifying
    case Verb::quit:
      reply(kBye);
      state_ = State::closed;
      action_ = Action::close_after_flush;
      break;
    case Verb::unknown:
      environment_.stats().add(Counter::commands_unknown);
      reply(kUnknown);
      break;
  }
}

void Session::handle_helo(std::string_view argument, bool extended) {
  if (argument.empty()) {
    reply(extended ? kEhloSyntax : kHeloSyntax);
    return;
  }
  // RFC 5321 4.1.4: EHLO/HELO in a session resets any transaction in progress.
  reset_transaction();
  greeted_ = true;
  reply(extended ? environment_.ehlo_reply() : environment_.helo_reply());
}

void Session::handle_mail(std::string_view argument) {
  if (!greeted_) return reply(kNeedHelo);
  if (mail_given_) return reply(kNestedMail);
  PathArgument path;
  switch (parse_path_argument(argument, "FROM:", path)) {
    case PathStatus::ok:
      break;
    case PathStatus::syntax_error:
      return reply(kMailSyntax);
    case PathStatus::too_long:
      return reply(kSenderTooLong);
  }
  MailParameters parameters;
  switch (parse_mail_parameters(path.parameters, parameters)) {
    case ParameterStatus::ok:
      break;
    case ParameterStatus::syntax_error:
      return reply(kMailParameters);
    case ParameterStatus::unsupported:
      return reply(kUnsupportedParameter);
  }
  // RFC 1870 6.1: a declared size over the limit is refused at MAIL.
  if (parameters.size_given && parameters.size_bytes > environment_.config().message_bytes_max) {
    return reply(kTooBig);
  }
  mail_given_ = true;
  if (environment_.store() != nullptr) sender_.assign(path.path);
  reply(kMailOk);
}

void Session::handle_rcpt(std::string_view argument) {
  if (!mail_given_) return reply(kNeedMail);
  SinkStats& stats = environment_.stats();
  ++rcpt_attempts_;
  PathArgument path;
  std::string_view error;
  switch (parse_path_argument(argument, "TO:", path)) {
    case PathStatus::ok:
      if (path.path.empty()) error = kRcptEmpty;  // RFC 5321 4.1.1.3: <> is no recipient
      if (!path.parameters.empty()) error = kUnsupportedParameter;  // no DSN: nothing allowed
      break;
    case PathStatus::syntax_error:
      error = kRcptSyntax;
      break;
    case PathStatus::too_long:
      error = kRcptTooLong;
      break;
  }
  if (!error.empty()) {
    stats.add(Counter::rcpt_syntax);
    stats.add(Counter::rcpt_rejected);
    return reply(error);
  }
  if (rcpt_accepted_ >= sink_recipients_per_transaction_max) {
    stats.add(Counter::rcpt_too_many);
    stats.add(Counter::rcpt_rejected);
    return reply(kTooManyRecipients);
  }
  const RcptFault fault = classify_recipient(path.path);
  switch (fault) {
    case RcptFault::none:
      return accept_rcpt(path.path);
    case RcptFault::datafail:
      any_datafail_ = true;
      return accept_rcpt(path.path);
    case RcptFault::datatempfail:
      any_datatempfail_ = true;
      return accept_rcpt(path.path);
    case RcptFault::tempfail:
      stats.add(Counter::rcpt_tempfail);
      stats.add(Counter::rcpt_rejected);
      return reply(kTryAgain);
    case RcptFault::bounce:
      stats.add(Counter::rcpt_bounce);
      stats.add(Counter::rcpt_rejected);
      return reply(kUserUnknown);
    case RcptFault::garbage:
      stats.add(Counter::rcpt_garbage);
      stats.add(Counter::rcpt_rejected);
      return reply(kGarbage);
    case RcptFault::disconnect:
      stats.add(Counter::rcpt_disconnect);
      stats.add(Counter::rcpt_rejected);
      return close_silently();  // replies before this one still go out
    case RcptFault::slow: {
      // Counted as accepted now; the 250 is written by resume() after the delay, and every
      // later reply waits behind it.
      stats.add(Counter::rcpt_slow);
      accept_rcpt(path.path, /*reply_now=*/false);
      action_ = Action::delay_then_resume;
      resume_step_ = ResumeStep::slow_rcpt;
      delay_ms_ = environment_.config().slow_ms;
      return;
    }
    case RcptFault::flaky:
      switch (environment_.flaky().record(path.path)) {
        case FlakySet::Attempt::first:
          stats.add(Counter::rcpt_flaky);
          stats.add(Counter::rcpt_rejected);
          return reply(kTryAgain);
        case FlakySet::Attempt::untracked:
          stats.add(Counter::rcpt_flaky_untracked);
          return accept_rcpt(path.path);
        case FlakySet::Attempt::repeated:
          return accept_rcpt(path.path);
      }
  }
}

void Session::accept_rcpt(std::string_view path, bool reply_now) {
  if (environment_.store() != nullptr) {
    if (recipients_.size() <= rcpt_accepted_) recipients_.emplace_back();
    recipients_[rcpt_accepted_].assign(path);
  }
  ++rcpt_accepted_;
  environment_.stats().add(Counter::recipients);
  if (reply_now) reply(kRcptOk);
}

void Session::handle_data(std::string_view argument) {
  if (!argument.empty()) return reply(kDataSyntax);
  if (!mail_given_) return reply(kNeedMail);
  if (rcpt_attempts_ == 0) return reply(kNeedRcpt);
  // RFC 5321 3.3 and RFC 2920 3.1: when every RCPT was refused, DATA gets 554.
  if (rcpt_accepted_ == 0) return reply(kNoValidRecipients);
  state_ = State::data;
  data_reader_.reset();
  keeping_content_ = environment_.store() != nullptr;
  content_.clear();
  reply(kDataGoAhead);
}

void Session::finish_message() {
  HAYATE_ASSERT(state_ == State::data);
  HAYATE_ASSERT(rcpt_accepted_ > 0);
  SinkStats& stats = environment_.stats();
  const std::uint64_t size_bytes = data_reader_.content_bytes();
  state_ = State::command;
  std::string_view refusal;
  Counter refusal_counter = Counter::data_fail;
  if (size_bytes > environment_.config().message_bytes_max) {
    refusal = kTooBig;
    refusal_counter = Counter::data_too_big;
  } else if (any_datafail_) {  // a permanent failure wins over a temporary one
    refusal = kMessageRejected;
    refusal_counter = Counter::data_fail;
  } else if (any_datatempfail_) {
    refusal = kTryAgain;
    refusal_counter = Counter::data_tempfail;
  }
  char queue_id[12];
  if (refusal.empty()) {
    environment_.next_queue_id(queue_id);
    if (MessageStore* store = environment_.store()) {
      const AcceptedMessage message{
          std::string_view(queue_id, sizeof queue_id), sender_,
          std::span<const std::string>(recipients_.data(), rcpt_accepted_), content_};
      if (!store->store(message).ok()) {
        refusal = kStoreFailed;
        refusal_counter = Counter::data_store_failed;
      }
    }
  }
  if (!refusal.empty()) {
    stats.add(refusal_counter);
    stats.add(Counter::data_rejected);
    reply(refusal);
  } else {
    stats.add(Counter::messages);
    stats.add(Counter::bytes, size_bytes);
    stats.add(Counter::recipients_delivered, rcpt_accepted_);
    output_.append(kQueuedPrefix);
    output_.append(queue_id, sizeof queue_id);
    output_.append("\r\n");
  }
  reset_transaction();
}

void Session::reset_transaction() {
  mail_given_ = false;
  any_datafail_ = false;
  any_datatempfail_ = false;
  keeping_content_ = false;
  rcpt_attempts_ = 0;
  rcpt_accepted_ = 0;
  sender_.clear();
  if (content_.capacity() > content_capacity_kept_max) {
    std::string().swap(content_);
  } else {
    content_.clear();
  }
}

}  // namespace hayate::sink
