// Per-domain counts, domains.csv and the stderr table (see domain_report.h).
#include "campaign/output/domain_report.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>

#include "campaign/output/accounting.h"
#include "campaign/output/metrics.h"
#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::campaign::inline output {

namespace {

absl::string_view to_absl(std::string_view text) { return {text.data(), text.size()}; }

// One decimal, or `none` when nothing was measured.
std::string format_mean(double mean_ms, std::string_view none) {
  if (mean_ms < 0) return std::string(none);
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", mean_ms);
  return text;
}

// A name for the terminal: printable ASCII only, at most `width` columns.
std::string table_name(std::string_view name, std::size_t width) {
  std::string shown = name.empty() ? "(none)" : std::string(name);
  for (char& c : shown) {
    if (c < 0x20 || c > 0x7e) c = '?';  // never let a control byte reach a terminal
  }
  if (shown.size() > width) {
    HAYATE_ASSERT(width > 3);
    shown.resize(width - 3);
    shown.append("...");
  }
  return shown;
}

struct TableRow {
  std::string name;
  DomainCounts counts;
};

}  // namespace

double DomainCounts::mean_latency_ms() const {
  if (latency_samples == 0) return -1;
  return static_cast<double>(latency_sum_ms) / static_cast<double>(latency_samples);
}

void DomainCounts::add(const DomainCounts& other) {
  delivered += other.delivered;
  bounced += other.bounced;
  deferred += other.deferred;
  rejected += other.rejected;
  suppressed += other.suppressed;
  attempts += other.attempts;
  latency_samples += other.latency_samples;
  latency_sum_ms += other.latency_sum_ms;
}

void DomainReport::add(std::string_view domain, OutcomeType type, bool final, bool attempted,
                       std::int64_t latency_ms) {
  auto found = domains_.find(to_absl(domain));
  if (found == domains_.end()) found = domains_.try_emplace(std::string(domain)).first;
  DomainCounts& counts = found->second;
  switch (type) {
    case OutcomeType::delivered:
      ++counts.delivered;
      break;
    case OutcomeType::bounced:
      ++counts.bounced;
      break;
    case OutcomeType::deferred:
      counts.deferred += final ? 1 : 0;
      break;
    case OutcomeType::rejected:
      ++counts.rejected;
      return;  // never attempted
    case OutcomeType::suppressed:
      ++counts.suppressed;
      return;
  }
  if (attempted) ++counts.attempts;
  if (latency_ms >= 0) {
    ++counts.latency_samples;
    counts.latency_sum_ms += static_cast<std::uint64_t>(latency_ms);
  }
}

void DomainReport::add(const OutcomeRecord& record) {
  const bool attempted = record.stage != Stage::retry && record.stage != Stage::aborted &&
                         record.stage != Stage::input;
  add(record.domain, record.type, record.final, attempted, record.latency_ms);
  if (record.type == OutcomeType::bounced && record.classified) {
    auto found = bounce_reasons_.find(to_absl(record.domain));
    if (found == bounce_reasons_.end()) {
      found = bounce_reasons_.try_emplace(std::string(record.domain)).first;
    }
    found->second.add(record.reason);
  }
}

void DomainReport::merge(const DomainReport& other) {
  for (const auto& [domain, counts] : other.domains_) domains_[domain].add(counts);
  for (const auto& [domain, reasons] : other.bounce_reasons_) {
    bounce_reasons_[domain].merge(reasons);
  }
}

const BounceReasonCounts* DomainReport::bounce_reasons(std::string_view domain) const {
  const auto found = bounce_reasons_.find(to_absl(domain));
  return found == bounce_reasons_.end() ? nullptr : &found->second;
}

BounceReasonCounts DomainReport::bounce_reason_totals() const {
  BounceReasonCounts totals;
  for (const auto& [domain, reasons] : bounce_reasons_) totals.merge(reasons);
  return totals;
}

const DomainCounts* DomainReport::find(std::string_view domain) const {
  const auto found = domains_.find(to_absl(domain));
  return found == domains_.end() ? nullptr : &found->second;
}

DomainCounts DomainReport::totals() const {
  DomainCounts totals;
  for (const auto& [domain, counts] : domains_) totals.add(counts);
  return totals;
}

namespace {

bool before_in_report(const std::string& a_name, const DomainCounts& a, const std::string& b_name,
                      const DomainCounts& b) {
  const std::uint64_t a_recipients = a.recipients();
  const std::uint64_t b_recipients = b.recipients();
  return a_recipients != b_recipients ? a_recipients > b_recipients : a_name < b_name;
}

}  // namespace

std::vector<std::pair<std::string, DomainCounts>> DomainReport::sorted() const {
  std::vector<std::pair<std::string, DomainCounts>> rows(domains_.begin(), domains_.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return before_in_report(a.first, a.second, b.first, b.second);
  });
  return rows;
}

std::vector<std::pair<std::string, DomainCounts>> DomainReport::top(std::size_t count_max) const {
  using Entry = const std::pair<const std::string, DomainCounts>*;
  std::vector<Entry> entries;
  entries.reserve(domains_.size());
  for (const auto& entry : domains_) entries.push_back(&entry);
  const std::size_t count = std::min(count_max, entries.size());
  std::partial_sort(
      entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(count), entries.end(),
      [](Entry a, Entry b) { return before_in_report(a->first, a->second, b->first, b->second); });
  std::vector<std::pair<std::string, DomainCounts>> rows;
  rows.reserve(count);
  for (std::size_t i = 0; i < count; ++i) rows.emplace_back(entries[i]->first, entries[i]->second);
  return rows;
}

std::string DomainReport::render_csv() const {
  std::string out =
      "domain,recipients,delivered,bounced,deferred,rejected,suppressed,attempts,"
      "mean_latency_ms,bounce_reasons\n";
  for (const auto& [domain, counts] : sorted()) {
    append_spreadsheet_field(domain, out);
    append(out, ",", counts.recipients(), ",", counts.delivered, ",", counts.bounced, ",",
           counts.deferred, ",", counts.rejected, ",", counts.suppressed, ",", counts.attempts, ",",
           format_mean(counts.mean_latency_ms(), ""), ",");
    if (const BounceReasonCounts* reasons = bounce_reasons(domain)) {
      append(out, reasons->render_cell());
    }
    out += '\n';
  }
  return out;
}

absl::Status DomainReport::write_csv(const std::string& path) const {
  return write_file_atomically(path, render_csv(), private_file_mode);
}

std::string DomainReport::render_table(std::size_t rows_max) const {
  if (domains_.empty()) return {};
  const std::vector<std::pair<std::string, DomainCounts>> all = sorted();
  std::vector<TableRow> rows;
  const std::size_t shown = std::min(rows_max, all.size());
  for (std::size_t i = 0; i < shown; ++i) rows.push_back(TableRow{all[i].first, all[i].second});
  if (all.size() > shown) {
    TableRow rest{
        cat("(", all.size() - shown, " more domain", all.size() - shown == 1 ? "" : "s", ")"), {}};
    for (std::size_t i = shown; i < all.size(); ++i) rest.counts.add(all[i].second);
    rows.push_back(std::move(rest));
  }
  const std::size_t separated = rows.size();  // a rule goes between the domains and the totals
  rows.push_back(
      TableRow{cat("total (", all.size(), all.size() == 1 ? " domain)" : " domains)"), totals()});

  constexpr std::size_t kColumns = 8;
  constexpr std::size_t kSuppressedColumn = 5;
  static constexpr std::string_view all_headers[kColumns] = {
      "recipients", "delivered",  "bounced",  "deferred",
      "rejected",   "suppressed", "attempts", "mean ms"};
  // "suppressed" only when a recipient was: the usual table keeps its width.
  const bool show_suppressed = totals().suppressed > 0;
  const std::size_t columns = show_suppressed ? kColumns : kColumns - 1;
  std::string_view headers[kColumns];
  for (std::size_t c = 0, shown = 0; c < kColumns; ++c) {
    if (show_suppressed || c != kSuppressedColumn) headers[shown++] = all_headers[c];
  }
  std::vector<std::array<std::string, kColumns>> cells;
  std::size_t widths[kColumns] = {};
  for (std::size_t c = 0; c < columns; ++c) widths[c] = headers[c].size();
  for (const TableRow& row : rows) {
    const DomainCounts& counts = row.counts;
    std::array<std::string, kColumns> line = {
        std::to_string(counts.recipients()), std::to_string(counts.delivered),
        std::to_string(counts.bounced),      std::to_string(counts.deferred),
        std::to_string(counts.rejected),     std::to_string(counts.suppressed),
        std::to_string(counts.attempts),     format_mean(counts.mean_latency_ms(), "-")};
    if (!show_suppressed) {
      std::move(line.begin() + kSuppressedColumn + 1, line.end(), line.begin() + kSuppressedColumn);
    }
    for (std::size_t c = 0; c < columns; ++c) widths[c] = std::max(widths[c], line[c].size());
    cells.push_back(std::move(line));
  }
  std::size_t numbers_width = 0;
  for (std::size_t c = 0; c < columns; ++c) numbers_width += widths[c] + 2;  // 2 spaces before
  std::size_t name_width = std::string_view("domain").size();
  for (const TableRow& row : rows) {
    name_width = std::max(name_width, table_name(row.name, SIZE_MAX).size());
  }
  const std::size_t name_width_max = numbers_width + 16 <= domain_table_columns_max
                                         ? domain_table_columns_max - numbers_width
                                         : 16;  // absurd counts: wider than 100
  name_width = std::min(name_width, name_width_max);

  std::string out;
  const auto emit = [&](std::string_view name, const std::string_view* values) {
    const std::string cell = table_name(name, name_width);
    append(out, cell, std::string(name_width - cell.size(), ' '));
    for (std::size_t c = 0; c < columns; ++c) {
      append(out, "  ", std::string(widths[c] - values[c].size(), ' '), values[c]);
    }
    out += '\n';
  };
  emit("domain", headers);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (r == separated) {
      out += std::string(name_width + numbers_width, '-');
      out += '\n';
    }
    std::string_view values[kColumns];
    for (std::size_t c = 0; c < columns; ++c) values[c] = cells[r][c];
    emit(rows[r].name, values);
  }
  HAYATE_ASSERT(out.back() == '\n');
  return out;
}

}  // namespace hayate::campaign::output
