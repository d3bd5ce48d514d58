// The verdict on an attempt: disposition, reason, reply rule and next try, in one place.
#include "campaign/delivery/verdict.h"

#include <algorithm>
#include <cstdint>

#include "campaign/bounce/classify.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign::inline delivery {

namespace {

// Stages before the session could carry mail: a reply there refuses the connection.
bool before_mail(Stage stage) {
  switch (stage) {
    case Stage::connect:
    case Stage::greeting:
    case Stage::ehlo:
    case Stage::helo:
    case Stage::starttls:
    case Stage::tls:
    case Stage::auth:
      return true;
    default:
      return false;
  }
}

// The reply's text as the rules see it: without the enhanced code that opens each line.
void strip_enhanced(std::string_view text, std::string_view enhanced, std::string& out) {
  out.clear();
  if (!enhanced.empty()) {
    for (std::size_t at; (at = text.find(enhanced)) != std::string_view::npos;) {
      out.append(text.substr(0, at));
      text = trim_front(text.substr(at + enhanced.size()), " ");
    }
  }
  out.append(text);
}

}  // namespace

smtp::EnhancedCode connection_failure_code(Stage stage) {
  return before_mail(stage) ? smtp::EnhancedCode{4, 4, 1} : smtp::EnhancedCode{4, 4, 2};
}

OutcomeType Verdict::outcome_type() const {
  switch (disposition) {
    case Disposition::delivered:
      return OutcomeType::delivered;
    case Disposition::deferred:
      return OutcomeType::deferred;
    case Disposition::bounced:
      return OutcomeType::bounced;
  }
  return OutcomeType::deferred;
}

Verdict Judge::judge(const Attempt& attempt, const Destination* destination,
                     std::int64_t now_ms) const {
  Verdict verdict;
  if (attempt.code >= 200 && attempt.code < 300) {
    verdict.disposition = Disposition::delivered;
    return verdict;
  }
  bool permanent = false;
  if (attempt.code >= 400 && destination != nullptr && rules_ != nullptr) {
    enhanced_text_.clear();
    smtp::append_enhanced_code(attempt.enhanced, enhanced_text_);
    strip_enhanced(attempt.text, enhanced_text_, rules_text_);
    verdict.rule = rules_->match_reply(*destination, attempt.code, enhanced_text_, rules_text_);
  }
  if (const ReplyRule* rule = verdict.rule; rule != nullptr) {
    verdict.about_connections = rule->action == ReplyAction::throttle && before_mail(attempt.stage);
    permanent = rule->action == ReplyAction::bounce;
    if (!permanent) {
      // A retry rule waits the rule's delay, or what the server asked for when it says.
      std::int64_t delay_ms = rule->duration_ms;
      if (rule->action == ReplyAction::retry) {
        if (const std::int64_t asked_ms = delay_asked_ms(rules_text_); asked_ms > 0) {
          delay_ms = asked_ms;
        }
      }
      verdict.retry_not_before_ms = delay_ms > 0 ? now_ms + delay_ms : 0;
    }
  }
  // 5xx replies, permanent failures we found ourselves (5.x.x without a reply), and a
  // recipient past max_age (RFC 3463 4.4.7: a bounce though its class is 4). A 5xx before the
  // session could carry mail (a 554 greeting, a refused EHLO) is about us or the server,
  // never about an address: deferred, as Postfix does by default (smtp_skip_5xx_greeting).
  const bool refused_session = before_mail(attempt.stage) && attempt.code >= 500;
  const bool bounced = !refused_session && (permanent || attempt.code >= 500 ||
                                            (attempt.code == 0 && attempt.enhanced.klass == 5) ||
                                            attempt.stage == Stage::expired);
  verdict.disposition = bounced ? Disposition::bounced : Disposition::deferred;
  const FailureClass why = classify_failure(verdict.disposition, attempt);
  verdict.reason = why.reason;
  verdict.hard = why.hard;
  HAYATE_ASSERT(!verdict.hard || verdict.disposition == Disposition::bounced);
  return verdict;
}

NextTry Judge::next_try(const Verdict& verdict, const RetryHistory& history, std::int64_t now_ms,
                        shaping::UniformRandom random) const {
  HAYATE_ASSERT(verdict.disposition == Disposition::deferred);
  HAYATE_ASSERT(history.attempts > 0);
  const JobConfig& job = *job_;
  NextTry next;
  next.delay_ms = history.previous_delay_ms;
  bool final = false;
  if (!job.retry_schedule_given) {
    const shaping::RetryDecision retry =
        shaping::next_retry(job.retry_backoff, history.attempts, history.first_attempt_ms, now_ms,
                            history.previous_delay_ms, random);
    if (retry.expired) return NextTry{NextTry::Kind::expired, 0, 0};
    next.at_ms = retry.retry_at_ms;
    next.delay_ms = static_cast<std::uint32_t>(std::min<std::int64_t>(retry.delay_ms, UINT32_MAX));
  } else {
    const std::size_t retry = history.attempts - 1;
    final = retry >= job.retry_schedule_ms.size();
    if (!final) next.at_ms = now_ms + job.retry_schedule_ms[retry];
  }
  if (!final && now_ms - history.first_attempt_ms >= job.retry_backoff.max_age_ms) {
    return NextTry{NextTry::Kind::expired, 0, 0};
  }
  if (!final) next.at_ms = std::max(next.at_ms, verdict.retry_not_before_ms);
  if (!final) final = next.at_ms > deadline_ms_;
  next.kind = final ? NextTry::Kind::final : NextTry::Kind::retry;
  return next;
}

Attempt Judge::expired_attempt(const Attempt& last, std::string& text_storage) {
  text_storage = "expired: no delivery within max_age; last error: ";
  if (last.code != 0) append(text_storage, last.code, " ");
  append(text_storage, last.text);
  Attempt expired = last;  // the connection and message of the last attempt stay
  expired.stage = Stage::expired;
  expired.code = 0;
  expired.enhanced = smtp::EnhancedCode{4, 4, 7};
  expired.text = text_storage;
  expired.possible_duplicate = false;
  return expired;
}

namespace {

// The SMTP command a stage's reply answered, for the classifier's rules that depend on it.
bounce::SmtpCommand command_of(Stage stage) {
  switch (stage) {
    case Stage::connect:
    case Stage::greeting:
      return bounce::SmtpCommand::connect;
    case Stage::ehlo:
    case Stage::helo:
      return bounce::SmtpCommand::helo;
    case Stage::starttls:
    case Stage::tls:
      return bounce::SmtpCommand::starttls;
    case Stage::auth:
      return bounce::SmtpCommand::auth;
    case Stage::mail:
      return bounce::SmtpCommand::mail;
    case Stage::rcpt:
      return bounce::SmtpCommand::rcpt;
    case Stage::data:
    case Stage::body:
      return bounce::SmtpCommand::data;
    default:
      return bounce::SmtpCommand::unknown;
  }
}

}  // namespace

FailureClass classify_failure(Disposition disposition, const Attempt& attempt) {
  HAYATE_ASSERT(disposition != Disposition::delivered);
  // RFC 3463 4.4.7: the delivery time expired; the text holds the last error, which would
  // otherwise decide the reason.
  if (attempt.stage == Stage::expired) return {bounce::Reason::expired, false};
  // No reply because the connection failed (connection_failure_code): a network error on this
  // attempt. Left to the classifier, 4.4.1 would read "expired", which only max_age is.
  if (attempt.code == 0 && (attempt.enhanced == connection_failure_code(Stage::connect) ||
                            attempt.enhanced == connection_failure_code(Stage::rcpt))) {
    return {bounce::Reason::networkerror, false};
  }
  bounce::Failure failure;
  failure.reply_code = attempt.code;
  failure.status = attempt.enhanced;
  failure.text = attempt.text;
  failure.command = command_of(attempt.stage);
  failure.remote_host = attempt.mx;
  const bounce::Classification found = bounce::classify(failure);
  FailureClass result{found.reason, found.hard};
  if (!bounce::is_failure(result.reason)) result = {bounce::Reason::undefined, false};
  if (disposition != Disposition::bounced) result.hard = false;
  if (attempt.code == 0 && result.hard) {
    result.hard = attempt.enhanced == smtp::EnhancedCode{5, 1, 2} ||
                  attempt.enhanced == smtp::EnhancedCode{5, 1, 10};
  }
  return result;
}

std::int64_t delay_asked_ms(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9' || (i > 0 && text[i - 1] >= '0' && text[i - 1] <= '9')) {
      continue;
    }
    std::int64_t value = 0;
    std::size_t end = i;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9' && value < 1'000'000) {
      value = value * 10 + (text[end++] - '0');
    }
    while (end < text.size() && text[end] == ' ') ++end;
    const std::string_view unit = text.substr(end, 3);
    std::int64_t scale = 0;
    const bool bare_s = !unit.empty() && (unit[0] == 's' || unit[0] == 'S') &&
                        (unit.size() == 1 || unit[1] == ' ' || unit[1] == ')');
    if (equals_ignoring_case(unit, "sec") || bare_s) {
      scale = 1000;
    } else if (equals_ignoring_case(unit, "min")) {
      scale = 60'000;
    }
    if (scale != 0) return std::min<std::int64_t>(value * scale, 86'400'000);
  }
  return 0;
}

void fill_outcome(const Attempt& attempt, const Verdict& verdict, OutcomeRecord& record) {
  record.type = verdict.outcome_type();
  record.stage = attempt.stage;
  record.code = attempt.code;
  record.enhanced = attempt.enhanced;
  record.reply = attempt.text;
  record.mx = attempt.mx;
  record.latency_ms = attempt.latency_ms;
  record.possible_duplicate = attempt.possible_duplicate;
  record.source_ip = attempt.source_ip;
  record.tls_version = attempt.tls_version;
  record.tls_cipher = attempt.tls_cipher;
  record.message_id = attempt.message_id;
  record.size_bytes = attempt.size_bytes;
  record.classified = verdict.disposition != Disposition::delivered;
  record.reason = verdict.reason;
  record.hard = verdict.hard;
}

}  // namespace hayate::campaign::delivery
