// Reading a campaign's inputs: job, templates, recipients, and the checks on every row.
#include "campaign/input/campaign_input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "campaign/input/address.h"
#include "campaign/limits.h"
#include "engine/files.h"
#include "engine/strings.h"

namespace hayate::campaign::inline input {

namespace {

// A template file: read, decoded from [campaign] template_encoding (checked strictly in
// UTF-8 too, since the parts say charset=utf-8), compiled. `source_out` keeps the text.
absl::StatusOr<Template> compile_file(const std::string& path, TextEncoding encoding,
                                      const std::vector<std::string>& columns, Escape escape,
                                      std::string& source_out) {
  // Never more than the limit in memory, and only a regular file: /dev/zero or a FIFO named
  // as a template would otherwise fill the memory or hang the start.
  absl::StatusOr<std::string> bytes =
      read_regular_file(path, limits::template_bytes_max, "the template");
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<std::string> source = decode_text(*bytes, encoding, path, "template_encoding");
  if (!source.ok()) return source.status();
  source_out = std::move(*source);
  return Template::compile(source_out, path, columns, escape);
}

// "NAME:LINE: ..." when the template source `text` has a character ISO-2022-JP cannot carry.
absl::Status check_iso_2022_jp_source(Iso2022JpEncoder& encoder, std::string_view text,
                                      std::string_view name, std::uint32_t first_line) {
  std::string scratch;
  std::size_t bad_offset = 0;
  if (encoder.encode(text, scratch, bad_offset)) return absl::OkStatus();
  const std::string_view before = text.substr(0, bad_offset);
  const auto line =
      first_line + static_cast<std::uint32_t>(std::count(before.begin(), before.end(), '\n'));
  return absl::InvalidArgumentError(hayate::cat(
      name, ":", line, ": ", iso_2022_jp_problem(encoder, text.substr(bad_offset), scratch),
      "; [campaign] charset = \"iso-2022-jp\" applies to the subject, the text "
      "body and the headers (the html body stays UTF-8)"));
}

// Rows read before the dedup set is sized for the whole file from their average length.
constexpr std::size_t seen_sample_rows = 4096;
// No reservation above this many addresses (1.6 GB of table); past it the set grows as needed.
constexpr double seen_reserve_max = 100'000'000;

}  // namespace

absl::StatusOr<std::unique_ptr<CampaignInput>> CampaignInput::open(const std::string& job_path) {
  absl::StatusOr<JobConfig> job = load_job(job_path);
  if (!job.ok()) return job.status();
  return open_loaded(std::move(*job));
}

absl::StatusOr<std::unique_ptr<CampaignInput>> CampaignInput::open_for_test(
    const std::string& job_path, std::string_view subject_prefix) {
  absl::StatusOr<JobConfig> job = load_job(job_path);
  if (!job.ok()) return job.status();
  job->subject.insert(0, subject_prefix);
  job->suppression.enabled = false;
  for (JobConfig::Source& source : job->sources) source.warmup = false;
  return open_loaded(std::move(*job));
}

absl::StatusOr<std::unique_ptr<CampaignInput>> CampaignInput::open_loaded(JobConfig job) {
  std::unique_ptr<CampaignInput> input(new CampaignInput());
  input->job_ = std::move(job);
  const JobConfig& config = input->job_;

  absl::StatusOr<std::unique_ptr<CsvReader>> csv = CsvReader::open(
      config.recipients_path, CsvReader::Source::regular_file, config.recipients_encoding);
  if (!csv.ok()) return csv.status();
  input->csv_ = std::move(*csv);
  // The whole file is decoded once before anything is sent: bytes that do not decode, on
  // any line, refuse the campaign now rather than stop it half sent. (About 1 s for a GB of
  // UTF-8; README.md "Japanese and other encodings".)
  if (absl::Status status =
          check_file_encoding(config.recipients_path, config.recipients_encoding, "encoding");
      !status.ok()) {
    return status;
  }
  struct stat recipients_stat {};
  if (::stat(config.recipients_path.c_str(), &recipients_stat) == 0 &&
      S_ISREG(recipients_stat.st_mode)) {
    input->recipients_file_bytes_ = static_cast<std::uint64_t>(recipients_stat.st_size);
  }
  const std::vector<std::string>& columns = input->csv_->header();
  auto email = std::find(columns.begin(), columns.end(), "email");
  if (email == columns.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.recipients_path,
        ":1: the header has no 'email' column (columns: ", absl::StrJoin(columns, ", "), ")"));
  }
  input->email_column_ = static_cast<std::size_t>(email - columns.begin());

  absl::StatusOr<Template> subject =
      Template::compile(config.subject, absl::StrCat(config.job_path), columns, Escape::none,
                        config.subject_line == 0 ? 1 : config.subject_line);
  if (!subject.ok()) return subject.status();
  input->subject_ = std::move(*subject);
  std::string text_source;
  if (!config.text_path.empty()) {
    absl::StatusOr<Template> text = compile_file(config.text_path, config.template_encoding,
                                                 columns, Escape::none, text_source);
    if (!text.ok()) return text.status();
    input->text_ = std::move(*text);
  }
  if (!config.html_path.empty()) {
    std::string html_source;
    absl::StatusOr<Template> html = compile_file(config.html_path, config.template_encoding,
                                                 columns, Escape::html, html_source);
    if (!html.ok()) return html.status();
    input->html_ = std::move(*html);
  }
  for (const auto& [name, value] : config.headers) {
    absl::StatusOr<Template> header = Template::compile(
        value, absl::StrCat(config.job_path, " [campaign.headers] ", name), columns, Escape::none);
    if (!header.ok()) return header.status();
    input->headers_.emplace_back(name, std::move(*header));
  }
  const struct {
    const std::string& source;
    std::string_view key;
    Escape escape;
    std::optional<Template>* out;
  } optional_templates[] = {
      {config.list_unsubscribe, "list_unsubscribe", Escape::url, &input->list_unsubscribe_},
      {config.list_unsubscribe_mailto, "list_unsubscribe_mailto", Escape::url,
       &input->list_unsubscribe_mailto_},
      {config.feedback_id, "feedback_id", Escape::none, &input->feedback_id_},
  };
  for (const auto& optional : optional_templates) {
    if (optional.source.empty()) continue;
    absl::StatusOr<Template> compiled = Template::compile(
        optional.source, absl::StrCat(config.job_path, " [campaign] ", std::string(optional.key)),
        columns, optional.escape);
    if (!compiled.ok()) return compiled.status();
    *optional.out = std::move(*compiled);
  }
  if (config.charset == MessageCharset::iso_2022_jp) {
    input->iso_2022_jp_ = std::make_unique<Iso2022JpEncoder>();
    Iso2022JpEncoder& encoder = *input->iso_2022_jp_;
    const std::uint32_t subject_line = config.subject_line == 0 ? 1 : config.subject_line;
    absl::Status status =
        check_iso_2022_jp_source(encoder, config.subject, config.job_path, subject_line);
    if (status.ok() && input->text_) {
      status = check_iso_2022_jp_source(encoder, text_source, config.text_path, 1);
    }
    for (const auto& [name, value] : config.headers) {
      if (!status.ok()) break;
      status = check_iso_2022_jp_source(
          encoder, value, hayate::cat(config.job_path, " [campaign.headers] ", name), 1);
    }
    if (!status.ok()) return status;
    input->prepare_iso_2022_jp();
  }
  input->message_inputs_ = input->build_message_inputs();
  for (const DkimConfig& dkim : config.dkim) {
    absl::StatusOr<std::shared_ptr<const DkimSigner>> signer = DkimSigner::load(dkim);
    if (!signer.ok()) return signer.status();
    input->dkim_signers_.push_back(std::move(*signer));
  }
  return input;
}

MessageInputs CampaignInput::build_message_inputs() const {
  MessageInputs inputs;
  inputs.campaign_id = job_.id;
  inputs.from_header = job_.from;
  inputs.from_domain = std::string(job_.from_address.domain());
  inputs.reply_to = job_.reply_to;
  inputs.subject = &subject_;
  inputs.text = text_ ? &*text_ : nullptr;
  inputs.html = html_ ? &*html_ : nullptr;
  for (const auto& [name, header] : headers_) inputs.headers.emplace_back(name, &header);
  inputs.list_unsubscribe_url = list_unsubscribe_ ? &*list_unsubscribe_ : nullptr;
  inputs.list_unsubscribe_mailto = list_unsubscribe_mailto_ ? &*list_unsubscribe_mailto_ : nullptr;
  inputs.feedback_id = feedback_id_ ? &*feedback_id_ : nullptr;
  inputs.charset = job_.charset;
  return inputs;
}

void CampaignInput::prepare_iso_2022_jp() {
  std::vector<const Template*> converted = {&subject_};
  if (text_) converted.push_back(&*text_);
  if (feedback_id_) converted.push_back(&*feedback_id_);
  for (const auto& [name, header] : headers_) converted.push_back(&header);
  for (const Template* converted_template : converted) {
    const std::vector<std::uint32_t>& used = converted_template->fields_used();
    iso_2022_jp_columns_.insert(iso_2022_jp_columns_.end(), used.begin(), used.end());
  }
  std::sort(iso_2022_jp_columns_.begin(), iso_2022_jp_columns_.end());
  iso_2022_jp_columns_.erase(std::unique(iso_2022_jp_columns_.begin(), iso_2022_jp_columns_.end()),
                             iso_2022_jp_columns_.end());
}

bool CampaignInput::check_iso_2022_jp_fields(const CsvRow& row, std::string& reason) {
  for (const std::uint32_t column : iso_2022_jp_columns_) {
    std::string problem = iso_2022_jp_problem(*iso_2022_jp_, row.fields[column], scratch_);
    if (!problem.empty()) {
      reason = hayate::cat("field '", csv_->header()[column], "': ", problem,
                           " (charset = \"iso-2022-jp\")");
      return false;
    }
  }
  return true;
}

void CampaignInput::reserve_seen() {
  seen_reserved_ = true;
  const std::uint64_t bytes_read = csv_->bytes_read();
  if (recipients_file_bytes_ <= bytes_read || bytes_read == 0 || rows_read_ == 0) return;
  // Rows still to come at the average size so far, plus a tenth for shorter rows later.
  const double bytes_per_row = static_cast<double>(bytes_read) / static_cast<double>(rows_read_);
  const double rows_left =
      static_cast<double>(recipients_file_bytes_ - bytes_read) / bytes_per_row * 1.1;
  const double expected = static_cast<double>(seen_.size()) + rows_left;
  seen_.reserve(static_cast<std::size_t>(std::min(expected, seen_reserve_max)));
}

CampaignInput::Row CampaignInput::next(Recipient& recipient, std::string& reason,
                                       std::string& raw_email) {
  while (true) {
    reason.clear();
    raw_email.clear();
    const CsvReader::Next next = csv_->next(row_, reason);
    if (next == CsvReader::Next::end) return Row::end;
    ++rows_read_;
    line_ = row_.line;
    if (next == CsvReader::Next::bad_row) return Row::rejected;
    raw_email.assign(row_.fields[email_column_]);
    if (!check_row(row_, recipient, reason)) return Row::rejected;
    return Row::recipient;
  }
}

bool CampaignInput::check_row(const CsvRow& row, Recipient& recipient, std::string& reason) {
  const std::vector<std::string>& columns = csv_->header();
  // CR, LF or NUL in any field could end up in a header or an SMTP command: refuse the row.
  for (std::size_t i = 0; i < row.fields.size(); ++i) {
    const std::string_view field = row.fields[i];
    if (field.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
      reason = absl::StrCat("field '", columns[i], "' contains a line break or NUL byte");
      return false;
    }
  }
  if (iso_2022_jp_ != nullptr && !check_iso_2022_jp_fields(row, reason)) return false;
  Address address;
  std::string error;
  if (!parse_address(row.fields[email_column_], address, error)) {
    reason = absl::StrCat("invalid address: ", error);
    return false;
  }
  // A List-Unsubscribe URI that this row's fields make too long to write (RFC 2369 forbids
  // folding inside it): refuse the row rather than send without a working unsubscribe.
  if (message_inputs_.list_unsubscribe_url != nullptr ||
      message_inputs_.list_unsubscribe_mailto != nullptr) {
    fields_.assign(row.fields.begin(), row.fields.end());
    if (!check_list_unsubscribe(message_inputs_, fields_, scratch_, reason)) return false;
  }
  const std::uint64_t hash = absl::Hash<std::string>{}(address.text);
  if (!seen_reserved_ && seen_.size() == seen_sample_rows) reserve_seen();
  const SeenAddress seen{static_cast<std::uint32_t>(hash >> 32), static_cast<std::uint32_t>(hash),
                         row.line > UINT32_MAX ? 0 : static_cast<std::uint32_t>(row.line)};
  auto [found, inserted] = seen_.insert(seen);
  if (!inserted) {
    reason = found->line == 0
                 ? std::string("duplicate: the same address is on an earlier line")
                 : absl::StrCat("duplicate: the same address is on line ", found->line);
    return false;
  }
  recipient = Recipient{};
  recipient.line = row.line;
  recipient.sequence = rows_read_;
  recipient.needs_smtputf8 = address.needs_smtputf8;
  recipient.domain_offset = address.at + 1;
  std::size_t size = address.text.size();
  for (std::string_view field : row.fields) size += field.size();
  recipient.data.reserve(size);
  recipient.data.append(address.text);
  recipient.ends.reserve(row.fields.size() + 1);
  recipient.ends.push_back(static_cast<std::uint32_t>(recipient.data.size()));
  for (std::string_view field : row.fields) {
    recipient.data.append(field);
    recipient.ends.push_back(static_cast<std::uint32_t>(recipient.data.size()));
  }
  return true;
}

}  // namespace hayate::campaign::input
