// The pure SMTP server session (see session.h). Every complete command in the input is
// answered in order into one output buffer, so a pipelined burst (RFC 2920) costs the shell
// one send; only delayed verdicts and lock-step mode make it stop early.
#include "engine/smtp/server/session.h"

#include <algorithm>
#include <cstring>

#include "engine/assert.h"
#include "engine/limits.h"
#include "engine/strings.h"

namespace hayate::smtp::server {
namespace {

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
constexpr std::string_view kNoRoom = "452 4.3.1 Insufficient system storage, try again later\r\n";

constexpr std::size_t queue_id_bytes = 12;

// "<code> <enhanced> <text>\r\n". RFC 5321 4.2: textstring is HT and printable ASCII; other
// control bytes (CR and LF above all, which would end the line) are sent as spaces.
void append_reply(std::string& out, const Verdict& verdict) {
  char code[4] = {char('0' + verdict.code / 100), char('0' + verdict.code / 10 % 10),
                  char('0' + verdict.code % 10), ' '};
  out.append(code, sizeof code);
  if (!verdict.enhanced_code.empty()) {
    out.append(verdict.enhanced_code);
    out.push_back(' ');
  }
  const std::size_t text_start = out.size();
  out.append(verdict.text);
  for (std::size_t i = text_start; i < out.size(); ++i) {
    const auto byte = std::uint8_t(out[i]);
    if ((byte < 0x20 && byte != '\t') || byte == 0x7f) out[i] = ' ';
  }
  out.append("\r\n");
}

}  // namespace

Verdict Verdict::reject(std::uint16_t code, std::string_view enhanced_code, std::string_view text) {
  HAYATE_ASSERT(code >= 400 && code <= 599);
  // RFC 3463 2: class.subject.detail, the class matching the reply code's first digit.
  HAYATE_ASSERT(enhanced_code.empty() ||
                (enhanced_code.size() >= 5 && enhanced_code[0] == char('0' + code / 100) &&
                 enhanced_code[1] == '.' &&
                 enhanced_code.find_first_not_of("0123456789.") == std::string_view::npos));
  Verdict verdict;
  verdict.kind = Kind::reject;
  verdict.code = code;
  verdict.enhanced_code = enhanced_code;
  verdict.text = text;
  return verdict;
}

Verdict Verdict::raw(std::string_view bytes) {
  Verdict verdict;
  verdict.kind = Kind::raw;
  verdict.code = 0;
  verdict.text = bytes;
  return verdict;
}

Verdict Verdict::disconnect() {
  Verdict verdict;
  verdict.kind = Kind::disconnect;
  verdict.code = 0;
  return verdict;
}

Verdict Policy::check_sender(const Envelope&) { return Verdict::accept(); }

SessionEnvironment::SessionEnvironment(const SessionConfig& config, ServerStats& stats,
                                       Policy& policy, MessageStore& store,
                                       std::uint32_t thread_index)
    : config_(config),
      stats_(stats),
      policy_(policy),
      store_(store),
      keeps_content_(store.keeps_content()),
      thread_index_(thread_index) {
  HAYATE_ASSERT(thread_index < 256);  // two hex digits of the queue id
  // The names end up in reply lines: a line break in them would forge replies.
  HAYATE_ASSERT(config.hostname.find_first_of("\r\n") == std::string::npos);
  HAYATE_ASSERT(config.software.find_first_of("\r\n") == std::string::npos);
  greeting_ = cat("220 ", config.hostname, " ESMTP ", config.software, "\r\n");
  helo_reply_ = cat("250 ", config.hostname, "\r\n");
  // RFC 5321 4.1.1.1: the EHLO reply lists the extensions, one per line.
  timeout_reply_ = cat("421 4.4.2 ", config.hostname, " Error: timeout exceeded\r\n");
  ehlo_reply_ = cat("250-", config.hostname, "\r\n");
  if (config.pipelining) ehlo_reply_ += "250-PIPELINING\r\n";
  append(ehlo_reply_, "250-SIZE ", config.message_bytes_max, "\r\n",
         "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n");
}

bool SessionEnvironment::reserve_content(std::uint64_t bytes) {
  HAYATE_ASSERT(config_.content_bytes_budget > 0);
  if (bytes > config_.content_bytes_budget - content_bytes_reserved_) return false;
  content_bytes_reserved_ += bytes;
  return true;
}

void SessionEnvironment::release_content(std::uint64_t bytes) {
  HAYATE_ASSERT(bytes <= content_bytes_reserved_);
  content_bytes_reserved_ -= bytes;
}

void SessionEnvironment::peek_queue_id(char (&id)[12]) const {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const std::uint64_t sequence = queue_ids_issued_;
  HAYATE_ASSERT(sequence < (1ull << 40));  // ten hex digits
  id[0] = kHex[(thread_index_ >> 4) & 0xf];
  id[1] = kHex[thread_index_ & 0xf];
  for (int i = 0; i < 10; ++i) id[11 - i] = kHex[(sequence >> (4 * i)) & 0xf];
}

void SessionEnvironment::next_queue_id(char (&id)[12]) {
  peek_queue_id(id);
  ++queue_ids_issued_;
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
  inputs_completed_ = 0;
  close_after_delayed_reply_ = false;
  client_name_.clear();
  delayed_reply_.clear();
  environment_.stats().add(ServerCounter::sessions);
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
    case ResumeStep::delayed_reply:
      output_.append(delayed_reply_);
      delayed_reply_.clear();
      if (close_after_delayed_reply_) {
        close_silently();
      } else {
        after_reply(pending_offset_ < pending_.size());
      }
      break;
    case ResumeStep::lockstep:
    case ResumeStep::none:
      break;
  }
  drain_pending();
}

void Session::time_out() {
  if (state_ == State::closed) return;
  reply(environment_.timeout_reply());
  close_silently();
}

void Session::release() {
  reset_transaction();
  close_silently();
  if (pending_.capacity() > limits::server_content_capacity_kept_max) std::string().swap(pending_);
  HAYATE_ASSERT(content_bytes_reserved_ == 0);
}

void Session::queue_pending(std::string_view input) {
  if (input.empty()) return;
  if (pending_.size() - pending_offset_ + input.size() > limits::server_pending_input_bytes_max) {
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
      std::size_t consumed_bytes = 0;
      bool complete = false;
      buffer_content(input.substr(i), consumed_bytes, complete);
      i += consumed_bytes;
      if (complete) {
        ++inputs_completed_;
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
      ++inputs_completed_;
      environment_.stats().add(ServerCounter::lines_too_long);
      reply(kLineTooLong);
      after_reply(i < size);
      continue;
    }
    if (!found) {
      // A partial line: keep it for the next read. Room for the CR that may end it.
      const std::string_view partial = input.substr(i);
      if (line_.size() + partial.size() > limits::server_command_line_bytes_max + 1) {
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
    ++inputs_completed_;
    const bool too_long = line_.size() + line.size() > limits::server_command_line_bytes_max + 1;
    if (!line_.empty() && !too_long) {
      line_.append(line);
      line = line_;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (too_long || line.size() > limits::server_command_line_bytes_max) {
      environment_.stats().add(ServerCounter::lines_too_long);
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

// Feeds DATA's content to the reader, buffering it while the message can still be accepted:
// within the size limit and, with a budget, within the share of it this session could get.
void Session::buffer_content(std::string_view input, std::size_t& consumed_bytes, bool& complete) {
  const SessionConfig& config = environment_.config();
  if (keeping_content_ && config.content_bytes_budget > 0) {
    // The content grows by at most the input and the CR the reader may hold back from the
    // read before (unstuffing and CRLF to LF only shrink it), so reserve that first; doubling,
    // so that a message asks a few times rather than at every read.
    const std::uint64_t needed = content_.size() + input.size() + 1;
    if (needed > content_bytes_reserved_) {
      const std::uint64_t doubled =
          std::min<std::uint64_t>(2 * content_bytes_reserved_, config.message_bytes_max);
      const std::uint64_t wanted = std::max(needed, doubled);
      if (environment_.reserve_content(wanted - content_bytes_reserved_)) {
        content_bytes_reserved_ = wanted;
      } else if (wanted > needed &&
                 environment_.reserve_content(needed - content_bytes_reserved_)) {
        content_bytes_reserved_ = needed;
      } else {
        over_budget_ = true;  // refused after the final dot; the rest is only counted
        stop_keeping_content();
      }
    }
  }
  const DataReader::Result result =
      data_reader_.feed(input, keeping_content_ ? &content_ : nullptr);
  consumed_bytes = result.consumed_bytes;
  complete = result.complete;
  HAYATE_ASSERT(!keeping_content_ || config.content_bytes_budget == 0 ||
                content_.size() <= content_bytes_reserved_);
  if (keeping_content_ && data_reader_.content_bytes() > config.message_bytes_max) {
    stop_keeping_content();  // it will be refused (552); stop buffering it
  }
}

// Empties the content buffer and gives back this session's share of the budget. With a budget
// the memory goes too (what is not counted must not be held); without one, a buffer of
// moderate size is kept for the next message.
void Session::stop_keeping_content() {
  keeping_content_ = false;
  if (environment_.config().content_bytes_budget > 0 ||
      content_.capacity() > limits::server_content_capacity_kept_max) {
    std::string().swap(content_);
  } else {
    content_.clear();
  }
  if (content_bytes_reserved_ > 0) environment_.release_content(content_bytes_reserved_);
  content_bytes_reserved_ = 0;
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
      environment_.stats().add(ServerCounter::commands_unknown);
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
  client_name_.assign(argument);
  reply(extended ? environment_.ehlo_reply() : environment_.helo_reply());
}

void Session::handle_mail(std::string_view argument) {
  if (!greeted_) return reply(kNeedHelo);
  if (mail_given_) return reply(kNestedMail);
  ServerStats& stats = environment_.stats();
  PathArgument path;
  std::string_view error;
  switch (parse_path_argument(argument, "FROM:", path)) {
    case PathStatus::ok:
      break;
    case PathStatus::syntax_error:
      error = kMailSyntax;
      break;
    case PathStatus::too_long:
      error = kSenderTooLong;
      break;
  }
  MailParameters parameters;
  if (error.empty()) {
    switch (parse_mail_parameters(path.parameters, parameters)) {
      case ParameterStatus::ok:
        break;
      case ParameterStatus::syntax_error:
        error = kMailParameters;
        break;
      case ParameterStatus::unsupported:
        error = kUnsupportedParameter;
        break;
    }
  }
  // RFC 1870 6.1: a declared size over the limit is refused at MAIL.
  if (error.empty() && parameters.size_given &&
      parameters.size_bytes > environment_.config().message_bytes_max) {
    error = kTooBig;
  }
  if (!error.empty()) {
    stats.add(ServerCounter::mail_rejected);
    return reply(error);
  }
  sender_.assign(path.path);
  parameters_ = parameters;
  const Verdict verdict = environment_.policy().check_sender(envelope());
  if (verdict.accepted()) {
    mail_given_ = true;
  } else {
    sender_.clear();
    parameters_ = MailParameters{};
    stats.add(ServerCounter::mail_rejected);
  }
  answer(verdict, kMailOk);
}

void Session::handle_rcpt(std::string_view argument) {
  if (!mail_given_) return reply(kNeedMail);
  ServerStats& stats = environment_.stats();
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
    stats.add(ServerCounter::rcpt_syntax);
    stats.add(ServerCounter::rcpt_rejected);
    return reply(error);
  }
  if (rcpt_accepted_ >= limits::server_recipients_per_transaction_max) {
    stats.add(ServerCounter::rcpt_too_many);
    stats.add(ServerCounter::rcpt_rejected);
    return reply(kTooManyRecipients);
  }
  const Verdict verdict = environment_.policy().check_recipient(envelope(), path.path);
  if (verdict.accepted()) {
    if (recipients_.size() <= rcpt_accepted_) recipients_.emplace_back();
    recipients_[rcpt_accepted_].assign(path.path);
    ++rcpt_accepted_;
    stats.add(ServerCounter::recipients);
  } else {
    stats.add(ServerCounter::rcpt_rejected);
  }
  answer(verdict, kRcptOk);
}

void Session::handle_data(std::string_view argument) {
  if (!argument.empty()) return reply(kDataSyntax);
  if (!mail_given_) return reply(kNeedMail);
  if (rcpt_attempts_ == 0) return reply(kNeedRcpt);
  // RFC 5321 3.3 and RFC 2920 3.1: when every RCPT was refused, DATA gets 554.
  if (rcpt_accepted_ == 0) return reply(kNoValidRecipients);
  state_ = State::data;
  data_reader_.reset();
  keeping_content_ = environment_.keeps_content();
  content_.clear();
  reply(kDataGoAhead);
}

void Session::finish_message() {
  HAYATE_ASSERT(state_ == State::data);
  HAYATE_ASSERT(rcpt_accepted_ > 0);
  ServerStats& stats = environment_.stats();
  const std::uint64_t size_bytes = data_reader_.content_bytes();
  state_ = State::command;
  if (size_bytes > environment_.config().message_bytes_max) {
    stats.add(ServerCounter::data_too_big);
    stats.add(ServerCounter::data_rejected);
    reply(kTooBig);
    reset_transaction();
    return;
  }
  if (over_budget_) {
    stats.add(ServerCounter::data_over_budget);
    stats.add(ServerCounter::data_rejected);
    reply(kNoRoom);
    reset_transaction();
    return;
  }
  char queue_id[queue_id_bytes];
  environment_.peek_queue_id(queue_id);
  const ReceivedMessage message{std::string_view(queue_id, sizeof queue_id),
                                sender_,
                                std::span<const std::string>(recipients_.data(), rcpt_accepted_),
                                content_,
                                size_bytes,
                                client_name_};
  const Verdict verdict = environment_.store().store(message);
  if (verdict.accepted()) {
    environment_.next_queue_id(queue_id);
    stats.add(ServerCounter::messages);
    stats.add(ServerCounter::bytes, size_bytes);
    stats.add(ServerCounter::recipients_delivered, rcpt_accepted_);
    char queued[kQueuedPrefix.size() + queue_id_bytes + 2];
    std::memcpy(queued, kQueuedPrefix.data(), kQueuedPrefix.size());
    std::memcpy(queued + kQueuedPrefix.size(), queue_id, queue_id_bytes);
    std::memcpy(queued + kQueuedPrefix.size() + queue_id_bytes, "\r\n", 2);
    answer(verdict, std::string_view(queued, sizeof queued));
  } else {
    stats.add(ServerCounter::data_rejected);
    answer(verdict, {});
  }
  reset_transaction();
}

// Writes the verdict's reply, or holds it back for the verdict's delay. The decision itself
// (counters, recorded recipient) was taken by the caller.
void Session::answer(const Verdict& verdict, std::string_view accepted_reply) {
  std::string& out = verdict.delay_ms > 0 ? delayed_reply_ : output_;
  bool close = false;
  switch (verdict.kind) {
    case Verdict::Kind::accept:
      out.append(accepted_reply);
      break;
    case Verdict::Kind::reject:
      append_reply(out, verdict);
      close = verdict.code == 421;  // RFC 5321 3.8: the server closes after a 421
      break;
    case Verdict::Kind::raw:
      out.append(verdict.text);
      break;
    case Verdict::Kind::disconnect:
      close = true;
      break;
  }
  if (verdict.delay_ms > 0) {
    HAYATE_ASSERT(action_ == Action::read);  // one held-back reply at a time
    action_ = Action::delay_then_resume;
    resume_step_ = ResumeStep::delayed_reply;
    delay_ms_ = verdict.delay_ms;
    close_after_delayed_reply_ = close;
  } else if (close) {
    close_silently();  // replies before this one still go out
  }
}

Envelope Session::envelope() const {
  return Envelope{client_name_, sender_,
                  std::span<const std::string>(recipients_.data(), rcpt_accepted_), parameters_};
}

void Session::reset_transaction() {
  mail_given_ = false;
  over_budget_ = false;
  rcpt_attempts_ = 0;
  rcpt_accepted_ = 0;
  parameters_ = MailParameters{};
  sender_.clear();
  stop_keeping_content();
}

}  // namespace hayate::smtp::server
