// Everything a run, a check and a preview share: the job loaded, the templates compiled
// against the CSV header, the recipients stream opened, and the per-row checks (address,
// control characters, duplicates) that decide whether a row becomes a recipient.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "campaign/config/job.h"
#include "campaign/input/csv_reader.h"
#include "campaign/input/recipient.h"
#include "campaign/message/dkim.h"
#include "campaign/message/message.h"
#include "campaign/message/template.h"

namespace hayate::campaign::inline input {

class CampaignInput {
 public:
  // Loads the job, opens the recipients file and compiles every template. Errors name the
  // file and line; nothing has been sent.
  static absl::StatusOr<std::unique_ptr<CampaignInput>> open(const std::string& job_path);
  // For test sends (hayate run --test-to): `subject_prefix` (plain text) goes before the
  // subject, and the suppression list and the warm-up caps are off: seeds are no recipients.
  static absl::StatusOr<std::unique_ptr<CampaignInput>> open_for_test(
      const std::string& job_path, std::string_view subject_prefix);

  const JobConfig& job() const { return job_; }
  CsvReader& csv() { return *csv_; }
  const MessageInputs& message_inputs() const { return message_inputs_; }
  // One signer per [[dkim]] table, keys loaded and checked.
  const std::vector<std::shared_ptr<const DkimSigner>>& dkim_signers() const {
    return dkim_signers_;
  }

  enum class Row : std::uint8_t { recipient, rejected, end };
  // Reads the next row: a valid recipient, or a rejected row with `reason` (and the raw email
  // value in `raw_email` when there was one), or the end of the file.
  Row next(Recipient& recipient, std::string& reason, std::string& raw_email);
  std::uint64_t rows_read() const { return rows_read_; }
  std::uint64_t line() const { return line_; }

 private:
  CampaignInput() = default;
  static absl::StatusOr<std::unique_ptr<CampaignInput>> open_loaded(JobConfig job);
  bool check_row(const CsvRow& row, Recipient& recipient, std::string& reason);
  MessageInputs build_message_inputs() const;
  // charset = "iso-2022-jp": the literal text of the templates it applies to is checked once,
  // and the columns they read are checked in every row (check_row).
  void prepare_iso_2022_jp();
  bool check_iso_2022_jp_fields(const CsvRow& row, std::string& reason);

  JobConfig job_;
  std::unique_ptr<CsvReader> csv_;
  std::size_t email_column_ = 0;
  Template subject_;
  std::optional<Template> text_;
  std::optional<Template> html_;
  std::vector<std::pair<std::string, Template>> headers_;
  std::optional<Template> list_unsubscribe_;
  std::optional<Template> list_unsubscribe_mailto_;
  std::optional<Template> feedback_id_;
  MessageInputs message_inputs_;  // built once the templates are in place
  std::vector<std::shared_ptr<const DkimSigner>> dkim_signers_;
  std::unique_ptr<Iso2022JpEncoder> iso_2022_jp_;   // with charset = "iso-2022-jp" only
  std::vector<std::uint32_t> iso_2022_jp_columns_;  // read by the subject, text and headers
  std::vector<std::string_view> fields_;            // scratch for row checks
  std::string scratch_;
  CsvRow row_;
  std::uint64_t rows_read_ = 0;
  std::uint64_t line_ = 0;
  // Addresses seen, by 64-bit hash, with the line that had them first: 12 bytes a slot (the
  // hash as two halves keeps the entry 4-byte aligned). A false duplicate needs a hash
  // collision (odds about 3 in 10^6 over 10 million addresses); it is refused with its line,
  // never dropped unseen.
  struct SeenAddress {
    std::uint32_t hash_high;
    std::uint32_t hash_low;
    std::uint32_t line;  // 0 past 2^32 - 1 lines
    std::uint64_t hash() const { return std::uint64_t{hash_high} << 32 | hash_low; }
  };
  struct SeenAddressHash {
    std::size_t operator()(const SeenAddress& seen) const { return seen.hash(); }
  };
  struct SeenAddressEqual {
    bool operator()(const SeenAddress& a, const SeenAddress& b) const {
      return a.hash() == b.hash();
    }
  };
  static_assert(sizeof(SeenAddress) == 12);
  // Sizes seen_ once for the whole file after the first rows: growing it by doubling would
  // hold the old and the new table at once (the peak of a 10-million-row run).
  void reserve_seen();

  absl::flat_hash_set<SeenAddress, SeenAddressHash, SeenAddressEqual> seen_;
  std::uint64_t recipients_file_bytes_ = 0;  // size when opened; 0 if unknown
  bool seen_reserved_ = false;
};

}  // namespace hayate::campaign::input
