// Synchronous bounces: the reason and hard/soft of each failed delivery outcome (what
// deliveries.jsonl carries, decided once on the sending shard by bounce/classify.h), the
// per-reason counts a run reports in summary.json, domains.csv and on stderr, and the events
// that reach the suppression list once the shards have stopped (RunBounceRecorder).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "campaign/bounce/reason.h"
#include "campaign/bounce/suppression.h"
#include "campaign/config/job.h"
#include "campaign/output/outcome.h"
#include "engine/files.h"

namespace hayate::campaign::inline bounce {

// Counts of bounced recipients per reason.
class BounceReasonCounts {
 public:
  void add(bounce::Reason reason, std::uint64_t count = 1) {
    counts_[static_cast<std::size_t>(reason)] += count;
  }
  void merge(const BounceReasonCounts& other);
  std::uint64_t count(bounce::Reason reason) const {
    return counts_[static_cast<std::size_t>(reason)];
  }
  std::uint64_t total() const;
  // {"userunknown": 3, "mailboxfull": 1}: most first, then by name; "{}" when empty.
  std::string render_json() const;
  // "userunknown 3, mailboxfull 1, +2 more": the `shown_max` most frequent, for a human.
  std::string render_line(std::size_t shown_max = 4) const;
  // "userunknown:3 mailboxfull:1": a domains.csv cell (no comma, no quoting needed).
  std::string render_cell() const;

 private:
  // Reasons with a count, most first, then by name.
  std::array<bounce::Reason, bounce::reason_count> ranked(std::size_t& size) const;
  std::array<std::uint64_t, bounce::reason_count> counts_{};
};

// Whether a soft failure with this reason says something about the recipient's own mailbox or
// domain (full, disabled, refused by its owner's settings, undeliverable for days), so that
// soft_bounce_count of them suppress the address. Failures about us or our message (blocked,
// badreputation, spamdetected, authfailure, ratelimited, mesgtoobig...) do not: an IP on a
// blocklist for a week must not empty the list of every address of that provider.
bool counts_against_recipient(bounce::Reason reason);

// Whether an outcome goes to the suppression list: a bounce (always final), hard, or soft with
// a reason that counts_against_recipient.
bool is_suppression_event(OutcomeType type, bounce::Reason reason, bool hard);

// One bounce for the suppression list, kept by the shard that saw it until the run ends.
struct BounceEvent {
  std::string address;
  bounce::Reason reason = bounce::Reason::undefined;
  bool hard = false;
  std::int64_t time_unix_s = 0;
};

// A deliveries.jsonl line read back: the fields the suppression list needs.
struct DeliveryLine {
  std::string type;  // "bounced", "delivered"...
  std::string recipient;
  std::string bounce_reason;  // empty when the line has none
  bool hard = false;
  bool final = false;
  std::int64_t time_unix_s = 0;
};
// Parses one line as DeliveryLog writes it (a flat JSON object; other keys are skipped). False
// for anything else: a torn last line after a kill, a line from a foreign tool.
bool parse_delivery_line(std::string_view line, DeliveryLine& out);

// The events in deliveries.jsonl at `path` from byte `offset` to its end (the part one run
// wrote, or several runs that died before recording theirs). A torn last line is skipped.
absl::Status read_bounce_events(const std::string& path, std::uint64_t offset,
                                std::vector<BounceEvent>& events);
// The same for `name` in `directory`, never through a symbolic link.
absl::Status read_bounce_events(const Directory& directory, std::string_view name,
                                std::uint64_t offset, std::vector<BounceEvent>& events);

struct RecordTally {
  std::uint64_t events = 0;
  std::uint64_t suppressed = 0;          // new entries
  std::uint64_t already_suppressed = 0;  // entries updated
  std::uint64_t soft_counted = 0;        // soft bounces below the threshold
  std::uint64_t invalid = 0;             // addresses the list refuses (never after a send)
};

// Records `events` in the list at `path` (created if missing) in one transaction.
absl::StatusOr<RecordTally> record_bounce_events(const std::string& path, SuppressionPolicy policy,
                                                 const std::vector<BounceEvent>& events);

// What a run does for the suppression list, across kill -9. Before the first send, begin()
// records what an earlier run of this output left unrecorded, then writes OUT/bounces.pending:
// the size and inode of deliveries.jsonl, where this run's lines start. The shards keep their
// events in memory (a bounce is rare; each shard keeps at most limits::bounce_events_held_max,
// then the run reads them back from deliveries.jsonl instead); finish() records them in one
// transaction and removes the marker. A run killed before that leaves the marker, and the next
// run of the same output re-reads its lines: nothing is lost, and an event is counted twice
// only when the kill falls between the commit and the removal. A deliveries.jsonl rotated
// since (another inode) is read from its start; lines moved to the rotated file are lost.
class RunBounceRecorder {
 public:
  // Does nothing when the job's [suppression] is off. `out_dir` is the run's output directory.
  RunBounceRecorder(const JobConfig& job, Directory out_dir);
  // Recovers and marks, as above. Failures are warnings (returned to print): the run goes on,
  // and finish() reads every line since the older marker.
  std::vector<std::string> begin();
  // Events a shard kept; `complete` false when it had to drop some.
  void add(std::vector<BounceEvent> events, bool complete);
  // Records this run's events; call once deliveries.jsonl holds every line of the run.
  // `warnings` gets what the operator should know (a rotated deliveries.jsonl).
  absl::StatusOr<RecordTally> finish(std::vector<std::string>& warnings);
  bool enabled() const { return enabled_; }

 private:
  // `offset` as recorded for the file with `inode`, or 0 when deliveries.jsonl was rotated.
  std::uint64_t read_offset(std::uint64_t offset, std::uint64_t inode,
                            std::vector<std::string>& warnings) const;
  absl::Status write_marker(std::uint64_t offset, std::uint64_t inode) const;
  static constexpr std::string_view deliveries_name = "deliveries.jsonl";
  static constexpr std::string_view marker_name = "bounces.pending";
  std::string deliveries_path() const { return out_dir_.path_of(deliveries_name); }

  bool enabled_ = false;
  std::string store_path_;
  SuppressionPolicy policy_;
  Directory out_dir_;
  bool read_back_ = false;  // finish() reads deliveries.jsonl from read_from_ instead
  std::uint64_t read_from_ = 0;
  std::uint64_t read_from_inode_ = 0;
  std::vector<BounceEvent> events_;
};

}  // namespace hayate::campaign::bounce
