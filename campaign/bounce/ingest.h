// What bounce messages read later do to the suppression list: each finding of
// bounce/report_parser.h becomes an event (a hard bounce or a complaint suppresses, a soft
// bounce about the recipient is counted by the policy) or is only counted (auto-replies,
// delays, failures about us). A job's VERP tokens map back to its recipients. Used by
// `hayate bounces ingest`; the message bytes and the clock come from the caller.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "campaign/bounce/report_parser.h"
#include "campaign/bounce/suppression.h"
#include "campaign/message/verp.h"

namespace hayate::campaign::inline bounce {

// Events held in one transaction while ingesting: the list's write lock is let go this often,
// so that a run finishing meanwhile waits at most one batch (suppression_busy_timeout_ms).
inline constexpr std::size_t ingest_batch_events_max = 1000;

enum class IngestEffect : std::uint8_t {
  suppress,       // a hard bounce or a complaint: on the list at once
  count_soft,     // a soft bounce about the recipient: counted toward soft_bounce_count
  not_recipient,  // a soft failure about us or our message (blocked, content...): no event
  not_failure,    // an auto-reply or a delay warning: no event
  no_recipient,   // nobody to record: the report names no recipient we could read
  bad_token,      // the message came to our VERP address with a refused token: proves nothing
};
std::string_view to_string(IngestEffect effect);

// The event a finding makes (time_unix_s is the caller's), and what it does.
struct IngestDecision {
  IngestEffect effect = IngestEffect::no_recipient;
  SuppressionSource source = SuppressionSource::bounce;
  std::string reason;  // a bounce reason word, or the complaint's feedback type ("abuse")
  bool hard = false;
};
IngestDecision decide_finding(const bounce::Finding& finding);

// A job's VERP tokens back to its recipients: the token's campaign tag must be the job's
// (campaign_tag(id)), its sequence a row of the job's recipients file as it is now (read
// once, at the first such token: about 8 bytes plus the address a row), and its MAC must
// verify for that row's address, so that swapped rows or a replaced file never make a
// bounce name someone it was not about. The one check both `bounces ingest` (through the
// parser) and `bounces listen` (at RCPT) make.
class VerpRecipients {
 public:
  // Loads the job and its VERP secret; FailedPrecondition when the job has no [verp].
  static absl::StatusOr<std::unique_ptr<VerpRecipients>> open(const std::string& job_path);
  // What `address` (a bounce's Delivered-To, To..., or an RCPT) says: absent when it is not a
  // VERP address of ours; valid, with the recipient it stands for, when the token's MAC
  // verifies for the address its row holds now; stale when it verifies instead for one of
  // `reported` (what the report names): the row changed since the mailing; forged when it
  // verifies for none, or does not decode; other_campaign; old_version (version 1 tokens
  // name no address); unchecked when the recipients file cannot be read.
  bounce::TokenAnswer check(std::string_view address,
                            const std::vector<std::string>& reported = {});
  // Why tokens could not be mapped (the recipients file could not be read), or OK.
  const absl::Status& status() const { return status_; }
  std::uint64_t decoded() const { return decoded_; }

 private:
  VerpRecipients() = default;
  void load_recipients();

  std::string job_path_;
  VerpKey key_;
  CampaignTag tag_{};
  bool loaded_ = false;
  absl::Status status_;
  std::string addresses_;            // every recipient's address, back to back
  std::vector<std::uint64_t> ends_;  // ends_[sequence - 1]: end of that row's address
  std::uint64_t decoded_ = 0;
};

// Findings of messages that came to our VERP address with a refused token, by why.
struct BadTokenCounts {
  std::uint64_t forged = 0;
  std::uint64_t stale = 0;
  std::uint64_t other_campaign = 0;
  std::uint64_t old_version = 0;
  std::uint64_t unchecked = 0;
  void add(bounce::TokenCheck check);
  std::uint64_t total() const { return forged + stale + other_campaign + old_version + unchecked; }
};

struct IngestTally {
  std::uint64_t messages = 0;
  std::uint64_t bounces = 0;
  std::uint64_t complaints = 0;
  std::uint64_t autoreplies = 0;
  std::uint64_t delays = 0;
  std::uint64_t delivered = 0;      // delivery notifications (SES): not failures
  std::uint64_t no_recipient = 0;   // findings without an address to record
  std::uint64_t not_recipient = 0;  // soft failures about us: not recorded
  std::uint64_t suppressed = 0;     // new entries (dry run: what would suppress)
  std::uint64_t already_suppressed = 0;
  std::uint64_t soft_counted = 0;  // dry run: soft bounces that would be counted
  std::uint64_t invalid = 0;       // recipients the list refuses as addresses
  BadTokenCounts bad_tokens;       // findings not recorded: their VERP token was refused
};

// Feeds messages into the list at `store_path` (opened, and created, at the first event).
// A dry run opens nothing and hands each event to `print` instead, and each finding refused
// for its token (effect bad_token).
class BounceIngester {
 public:
  using Printer = std::function<void(std::string_view source, const bounce::Finding& finding,
                                     const IngestDecision& decision)>;
  BounceIngester(std::string store_path, SuppressionPolicy policy, VerpRecipients* verp,
                 Printer dry_run_print = nullptr);
  // One message: parsed, its findings decided and recorded (in the open batch). An error is
  // the list's (cannot be opened or written): stop there.
  absl::Status ingest(std::string_view source, std::string_view message, std::int64_t now_unix_s);
  // Commits what is pending. Call once at the end.
  absl::Status finish();
  const IngestTally& tally() const { return tally_; }

 private:
  absl::Status record(const SuppressionEvent& event);

  std::string store_path_;
  SuppressionPolicy policy_;
  Printer print_;
  bounce::ParseOptions options_;
  std::unique_ptr<SuppressionStore> store_;
  std::optional<SuppressionStore::Batch> batch_;
  std::size_t batch_events_ = 0;
  IngestTally tally_;
};

}  // namespace hayate::campaign::bounce
