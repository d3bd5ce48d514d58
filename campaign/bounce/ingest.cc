// Bounce messages into the suppression list (see ingest.h).
#include "campaign/bounce/ingest.h"

#include "campaign/bounce/recording.h"
#include "campaign/input/address.h"
#include "campaign/input/campaign_input.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign::inline bounce {

std::string_view to_string(IngestEffect effect) {
  switch (effect) {
    case IngestEffect::suppress:
      return "suppress";
    case IngestEffect::count_soft:
      return "count_soft";
    case IngestEffect::not_recipient:
      return "not_recipient";
    case IngestEffect::not_failure:
      return "not_failure";
    case IngestEffect::no_recipient:
      return "no_recipient";
    case IngestEffect::bad_token:
      return "bad_token";
  }
  return "no_recipient";
}

void BadTokenCounts::add(bounce::TokenCheck check) {
  switch (check) {
    case bounce::TokenCheck::forged:
      ++forged;
      return;
    case bounce::TokenCheck::stale:
      ++stale;
      return;
    case bounce::TokenCheck::other_campaign:
      ++other_campaign;
      return;
    case bounce::TokenCheck::old_version:
      ++old_version;
      return;
    case bounce::TokenCheck::unchecked:
      ++unchecked;
      return;
    case bounce::TokenCheck::absent:
    case bounce::TokenCheck::valid:
      break;
  }
  HAYATE_ASSERT(false && "not a refused token");
}

IngestDecision decide_finding(const bounce::Finding& finding) {
  IngestDecision decision;
  const bounce::Classification& classification = finding.classification;
  decision.reason = std::string(bounce::to_string(classification.reason));
  decision.hard = classification.hard;
  switch (finding.kind) {
    case bounce::FindingKind::autoreply:
    case bounce::FindingKind::delay:
    case bounce::FindingKind::delivered:
      decision.effect = IngestEffect::not_failure;
      return decision;
    case bounce::FindingKind::complaint:
      // RFC 5965 3.1: abuse, fraud, virus, other... the type says what was complained of.
      decision.source = SuppressionSource::complaint;
      decision.reason = finding.feedback_type.empty() ? "feedback" : finding.feedback_type;
      decision.effect = IngestEffect::suppress;
      break;
    case bounce::FindingKind::bounce:
      decision.effect = classification.hard ? IngestEffect::suppress
                        : counts_against_recipient(classification.reason)
                            ? IngestEffect::count_soft
                            : IngestEffect::not_recipient;
      break;
  }
  if (finding.recipient.empty()) decision.effect = IngestEffect::no_recipient;
  // Whatever the report says, it came to an address we never gave out: nothing to record.
  if (bounce::is_refused(finding.token)) decision.effect = IngestEffect::bad_token;
  return decision;
}

absl::StatusOr<std::unique_ptr<VerpRecipients>> VerpRecipients::open(const std::string& job_path) {
  absl::StatusOr<JobConfig> job = load_job(job_path);
  if (!job.ok()) return job.status();
  if (!job->verp) {
    return absl::FailedPreconditionError(cat(job_path, " has no [verp] table"));
  }
  absl::StatusOr<VerpKey> key =
      VerpKey::load(job->verp->secret_file, job->verp->prefix, job->verp->domain);
  if (!key.ok()) return key.status();
  std::unique_ptr<VerpRecipients> verp(new VerpRecipients());
  verp->job_path_ = job_path;
  verp->key_ = std::move(*key);
  verp->tag_ = campaign_tag(job->id);
  return verp;
}

void VerpRecipients::load_recipients() {
  loaded_ = true;
  absl::StatusOr<std::unique_ptr<CampaignInput>> input = CampaignInput::open(job_path_);
  if (!input.ok()) {
    status_ = input.status();
    return;
  }
  Recipient recipient;
  std::string reason, raw_email;
  while (true) {
    const CampaignInput::Row row = (*input)->next(recipient, reason, raw_email);
    if (row == CampaignInput::Row::end) break;
    // The sequence is the row's number, rejected rows included (as `hayate run` counts).
    HAYATE_ASSERT((*input)->rows_read() == ends_.size() + 1);
    if (row == CampaignInput::Row::recipient) addresses_.append(recipient.address());
    ends_.push_back(addresses_.size());
  }
  if (const absl::Status& read = (*input)->csv().status(); !read.ok()) status_ = read;
}

bounce::TokenAnswer VerpRecipients::check(std::string_view address,
                                          const std::vector<std::string>& reported) {
  bounce::TokenAnswer answer;
  VerpToken token;
  std::string error;
  switch (verp_decode(key_, address, token, error)) {
    case VerpDecodeResult::not_ours:
      return answer;  // absent
    case VerpDecodeResult::malformed:
      answer.check = bounce::TokenCheck::forged;
      return answer;
    case VerpDecodeResult::version_1:
      answer.check = bounce::TokenCheck::old_version;
      return answer;
    case VerpDecodeResult::token:
      break;
  }
  if (token.campaign_tag != tag_) {
    answer.check = bounce::TokenCheck::other_campaign;
    return answer;
  }
  if (!loaded_) load_recipients();
  if (!status_.ok()) {
    answer.check = bounce::TokenCheck::unchecked;
    return answer;
  }
  // The row's address now: empty for a rejected row or one past the end.
  std::string_view row_address;
  if (token.sequence >= 1 && token.sequence <= ends_.size()) {
    const std::uint64_t start = token.sequence == 1 ? 0 : ends_[token.sequence - 2];
    row_address = std::string_view(addresses_).substr(start, ends_[token.sequence - 1] - start);
  }
  if (verp_verify(key_, token, row_address)) {
    HAYATE_ASSERT(!row_address.empty());  // a token is made for someone
    ++decoded_;
    answer.check = bounce::TokenCheck::valid;
    answer.recipient = std::string(row_address);
    return answer;
  }
  // Made for another address than the row holds now, or forged: an address the report names
  // may tell which. That is all the report is believed for: a stale token records nothing.
  answer.check = bounce::TokenCheck::forged;
  Address named;
  std::string reason;
  for (const std::string& candidate : reported) {
    if (parse_address(candidate, named, reason) && verp_verify(key_, token, named.text)) {
      answer.check = bounce::TokenCheck::stale;
      break;
    }
  }
  return answer;
}

BounceIngester::BounceIngester(std::string store_path, SuppressionPolicy policy,
                               VerpRecipients* verp, Printer dry_run_print)
    : store_path_(std::move(store_path)), policy_(policy), print_(std::move(dry_run_print)) {
  options_.detect_format = static_cast<bool>(print_);  // only a dry run prints findings
  if (verp != nullptr) {
    options_.verp_decoder = [verp](std::string_view address,
                                   const std::vector<std::string>& reported) {
      return verp->check(address, reported);
    };
  }
}

absl::Status BounceIngester::record(const SuppressionEvent& event) {
  if (!store_) {
    absl::StatusOr<std::unique_ptr<SuppressionStore>> opened =
        SuppressionStore::open(store_path_, policy_, true);
    if (!opened.ok()) return opened.status();
    store_ = std::move(*opened);
  }
  if (!batch_) {
    absl::StatusOr<SuppressionStore::Batch> batch = store_->begin_batch();
    if (!batch.ok()) return batch.status();
    batch_.emplace(std::move(*batch));
    batch_events_ = 0;
  }
  const absl::StatusOr<EventOutcome> outcome = batch_->record_event(event);
  if (!outcome.ok()) {
    if (outcome.status().code() != absl::StatusCode::kInvalidArgument) return outcome.status();
    ++tally_.invalid;  // not an address: a report's garbage, never worth stopping for
  } else {
    switch (*outcome) {
      case EventOutcome::suppressed:
        ++tally_.suppressed;
        break;
      case EventOutcome::already_suppressed:
        ++tally_.already_suppressed;
        break;
      case EventOutcome::soft_counted:
        ++tally_.soft_counted;
        break;
    }
  }
  if (++batch_events_ >= ingest_batch_events_max) return finish();
  return absl::OkStatus();
}

absl::Status BounceIngester::ingest(std::string_view source, std::string_view message,
                                    std::int64_t now_unix_s) {
  ++tally_.messages;
  for (const bounce::Finding& finding : bounce::parse_report(message, options_)) {
    switch (finding.kind) {
      case bounce::FindingKind::bounce:
        ++tally_.bounces;
        break;
      case bounce::FindingKind::complaint:
        ++tally_.complaints;
        break;
      case bounce::FindingKind::autoreply:
        ++tally_.autoreplies;
        break;
      case bounce::FindingKind::delay:
        ++tally_.delays;
        break;
      case bounce::FindingKind::delivered:
        ++tally_.delivered;
        break;
    }
    const IngestDecision decision = decide_finding(finding);
    switch (decision.effect) {
      case IngestEffect::bad_token:
        tally_.bad_tokens.add(finding.token);
        if (print_) print_(source, finding, decision);
        continue;
      case IngestEffect::not_failure:
        continue;
      case IngestEffect::no_recipient:
        ++tally_.no_recipient;
        continue;
      case IngestEffect::not_recipient:
        ++tally_.not_recipient;
        continue;
      case IngestEffect::suppress:
      case IngestEffect::count_soft:
        break;
    }
    if (print_) {
      print_(source, finding, decision);
      ++(decision.effect == IngestEffect::suppress ? tally_.suppressed : tally_.soft_counted);
      continue;
    }
    const SuppressionEvent event{finding.recipient, decision.reason, decision.source, decision.hard,
                                 now_unix_s};
    if (absl::Status status = record(event); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status BounceIngester::finish() {
  if (!batch_) return absl::OkStatus();
  absl::Status status = batch_->commit();
  batch_.reset();
  return status;
}

}  // namespace hayate::campaign::bounce
