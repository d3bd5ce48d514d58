// Per-reason counts of a run's bounces and the events for the suppression list (see recording.h).
#include "campaign/bounce/recording.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "campaign/bounce/classify.h"
#include "campaign/limits.h"
#include "engine/assert.h"
#include "engine/strings.h"
#include "engine/write_fully.h"

namespace hayate::campaign::inline bounce {

using bounce::Reason;

void BounceReasonCounts::merge(const BounceReasonCounts& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
}

std::uint64_t BounceReasonCounts::total() const {
  std::uint64_t total = 0;
  for (const std::uint64_t count : counts_) total += count;
  return total;
}

std::array<Reason, bounce::reason_count> BounceReasonCounts::ranked(std::size_t& size) const {
  std::array<Reason, bounce::reason_count> reasons{};
  size = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] > 0) reasons[size++] = static_cast<Reason>(i);
  }
  std::sort(reasons.begin(), reasons.begin() + static_cast<std::ptrdiff_t>(size),
            [this](Reason a, Reason b) {
              if (count(a) != count(b)) return count(a) > count(b);
              return bounce::to_string(a) < bounce::to_string(b);
            });
  return reasons;
}

std::string BounceReasonCounts::render_json() const {
  std::size_t size = 0;
  const auto reasons = ranked(size);
  std::string out = "{";
  for (std::size_t i = 0; i < size; ++i) {
    append(out, i == 0 ? "\"" : ", \"", bounce::to_string(reasons[i]), "\": ", count(reasons[i]));
  }
  out += '}';
  return out;
}

std::string BounceReasonCounts::render_line(std::size_t shown_max) const {
  std::size_t size = 0;
  const auto reasons = ranked(size);
  std::string out;
  const std::size_t shown = std::min(size, shown_max);
  for (std::size_t i = 0; i < shown; ++i) {
    append(out, i == 0 ? "" : ", ", bounce::to_string(reasons[i]), " ", count(reasons[i]));
  }
  if (size > shown) append(out, ", +", size - shown, " more");
  return out;
}

std::string BounceReasonCounts::render_cell() const {
  std::size_t size = 0;
  const auto reasons = ranked(size);
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    append(out, i == 0 ? "" : " ", bounce::to_string(reasons[i]), ":", count(reasons[i]));
  }
  return out;
}

bool counts_against_recipient(Reason reason) {
  switch (reason) {
    case Reason::userunknown:
    case Reason::hostunknown:
    case Reason::hasmoved:
    case Reason::notaccept:
    case Reason::mailboxfull:
    case Reason::suspend:
    case Reason::filtered:
    case Reason::suppressed:
    case Reason::systemfull:
    case Reason::systemerror:
    case Reason::mailererror:
    case Reason::norelaying:
    case Reason::expired:
    case Reason::onhold:
    case Reason::undefined:
      return true;
    case Reason::blocked:
    case Reason::spamdetected:
    case Reason::virusdetected:
    case Reason::policyviolation:
    case Reason::rejected:
    case Reason::securityerror:
    case Reason::failedstarttls:
    case Reason::authfailure:
    case Reason::requireptr:
    case Reason::badreputation:
    case Reason::toomanyconn:
    case Reason::speeding:
    case Reason::ratelimited:
    case Reason::mesgtoobig:
    case Reason::contenterror:
    case Reason::notcompliantrfc:
    case Reason::networkerror:
    case Reason::syntaxerror:
    case Reason::feedback:
    case Reason::vacation:
    case Reason::delivered:
      return false;
  }
  return false;
}

bool is_suppression_event(OutcomeType type, Reason reason, bool hard) {
  return type == OutcomeType::bounced && (hard || counts_against_recipient(reason));
}

namespace {

// JSON (RFC 8259 7) string body at `line[i]` (after the opening quote) into `out`; `i` ends
// after the closing quote. False on a malformed string.
bool read_json_string(std::string_view line, std::size_t& i, std::string& out) {
  out.clear();
  while (i < line.size()) {
    const char c = line[i++];
    if (c == '"') return true;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (i >= line.size()) return false;
    const char escaped = line[i++];
    switch (escaped) {
      case '"':
      case '\\':
      case '/':
        out.push_back(escaped);
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        std::uint32_t code_point = 0;
        for (int digit = 0; digit < 4; ++digit, ++i) {
          if (i >= line.size()) return false;
          const char h = line[i];
          const int value = h >= '0' && h <= '9'   ? h - '0'
                            : h >= 'a' && h <= 'f' ? h - 'a' + 10
                            : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                   : -1;
          if (value < 0) return false;
          code_point = code_point << 4 | static_cast<std::uint32_t>(value);
        }
        // Surrogates (RFC 8259 7) never come from DeliveryLog: U+FFFD stands for them.
        if (code_point >= 0xD800 && code_point <= 0xDFFF) code_point = 0xFFFD;
        if (code_point < 0x80) {
          out.push_back(static_cast<char>(code_point));
        } else if (code_point < 0x800) {
          out.push_back(static_cast<char>(0xC0 | code_point >> 6));
          out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
        } else {
          out.push_back(static_cast<char>(0xE0 | code_point >> 12));
          out.push_back(static_cast<char>(0x80 | (code_point >> 6 & 0x3F)));
          out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
        }
        break;
      }
      default:
        return false;
    }
  }
  return false;
}

// "2026-11-03T14:05:09.123Z" (DeliveryLog's form) into unix seconds.
bool parse_log_time(std::string_view text, std::int64_t& unix_s) {
  if (text.size() < 20 || text.back() != 'Z') return false;
  tm utc{};
  char tail = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &utc.tm_year, &utc.tm_mon,
                  &utc.tm_mday, &utc.tm_hour, &utc.tm_min, &utc.tm_sec, &tail) != 7 ||
      (tail != '.' && tail != 'Z')) {
    return false;
  }
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  unix_s = static_cast<std::int64_t>(timegm(&utc));
  return true;
}

}  // namespace

bool parse_delivery_line(std::string_view line, DeliveryLine& out) {
  out = DeliveryLine{};
  std::size_t i = 0;
  const auto skip_space = [&] {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
  };
  skip_space();
  if (i >= line.size() || line[i++] != '{') return false;
  std::string key, value;
  bool have_type = false, have_recipient = false;
  while (true) {
    skip_space();
    if (i >= line.size()) return false;
    if (line[i] == '}') break;
    if (line[i++] != '"' || !read_json_string(line, i, key)) return false;
    skip_space();
    if (i >= line.size() || line[i++] != ':') return false;
    skip_space();
    if (i >= line.size()) return false;
    bool is_string = false;
    if (line[i] == '"') {
      ++i;
      if (!read_json_string(line, i, value)) return false;
      is_string = true;
    } else {  // a number, true, false or null: this format has no nested values
      const std::size_t start = i;
      while (i < line.size() && line[i] != ',' && line[i] != '}' && line[i] != ' ') ++i;
      value.assign(line.substr(start, i - start));
      if (value.empty() || value[0] == '{' || value[0] == '[') return false;
    }
    if (key == "type" && is_string) {
      out.type = value;
      have_type = true;
    } else if (key == "recipient" && is_string) {
      out.recipient = value;
      have_recipient = true;
    } else if (key == "reason" && is_string) {
      out.bounce_reason = value;
    } else if (key == "hard" && !is_string) {
      out.hard = value == "true";
    } else if (key == "final" && !is_string) {
      out.final = value == "true";
    } else if (key == "time" && is_string) {
      if (!parse_log_time(value, out.time_unix_s)) return false;
    }
    skip_space();
    if (i < line.size() && line[i] == ',') {
      ++i;
      continue;
    }
    if (i < line.size() && line[i] == '}') break;
    return false;
  }
  ++i;
  skip_space();
  return i == line.size() && have_type && have_recipient;
}

namespace {

absl::Status read_bounce_events_from(int fd, const std::string& path, std::uint64_t offset,
                                     std::vector<BounceEvent>& events) {
  std::string buffer(1 << 20, '\0');
  std::string line;  // a line that straddles two reads
  DeliveryLine parsed;
  std::uint64_t position = offset;
  const auto take = [&](std::string_view text) {
    if (!parse_delivery_line(text, parsed) || parsed.type != "bounced" || !parsed.final) return;
    const std::optional<Reason> reason = bounce::parse_reason(parsed.bounce_reason);
    if (!reason || !is_suppression_event(OutcomeType::bounced, *reason, parsed.hard)) return;
    events.push_back(
        BounceEvent{std::move(parsed.recipient), *reason, parsed.hard, parsed.time_unix_s});
  };
  while (true) {
    const ssize_t got = pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(position));
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(cat("cannot read ", path, ": ", std::strerror(errno)));
    }
    if (got == 0) break;
    position += static_cast<std::uint64_t>(got);
    std::string_view chunk(buffer.data(), static_cast<std::size_t>(got));
    for (std::size_t end; (end = chunk.find('\n')) != std::string_view::npos;) {
      if (line.empty()) {
        take(chunk.substr(0, end));
      } else {
        line.append(chunk.substr(0, end));
        take(line);
        line.clear();
      }
      chunk.remove_prefix(end + 1);
    }
    if (line.size() + chunk.size() > limits::csv_row_bytes_max * 4) {
      line.clear();  // not a line of ours: far longer than any DeliveryLog writes
    } else {
      line.append(chunk);
    }
  }
  return absl::OkStatus();  // what is left in `line` is a torn last line: never complete
}

}  // namespace

absl::Status read_bounce_events(const std::string& path, std::uint64_t offset,
                                std::vector<BounceEvent>& events) {
  absl::StatusOr<UniqueFd> fd = open_regular_file(path, "the delivery log");
  if (!fd.ok() && fd.status().code() == absl::StatusCode::kNotFound) {
    return absl::OkStatus();  // no run has written a line yet
  }
  if (!fd.ok()) return absl::UnavailableError(fd.status().message());
  return read_bounce_events_from(fd->get(), path, offset, events);
}

absl::Status read_bounce_events(const Directory& directory, std::string_view name,
                                std::uint64_t offset, std::vector<BounceEvent>& events) {
  absl::StatusOr<UniqueFd> fd = directory.open_for_reading(name);
  if (!fd.ok() && fd.status().code() == absl::StatusCode::kNotFound) {
    return absl::OkStatus();  // no run has written a line yet
  }
  if (!fd.ok()) return absl::UnavailableError(fd.status().message());
  return read_bounce_events_from(fd->get(), directory.path_of(name), offset, events);
}

absl::StatusOr<RecordTally> record_bounce_events(const std::string& path, SuppressionPolicy policy,
                                                 const std::vector<BounceEvent>& events) {
  RecordTally tally;
  if (events.empty()) return tally;  // nothing to record: no list is created
  absl::StatusOr<std::unique_ptr<SuppressionStore>> store =
      SuppressionStore::open(path, policy, true);
  if (!store.ok()) return store.status();
  absl::StatusOr<SuppressionStore::Batch> batch = (*store)->begin_batch();
  if (!batch.ok()) return batch.status();
  for (const BounceEvent& event : events) {
    ++tally.events;
    const absl::StatusOr<EventOutcome> outcome = batch->record_event(
        SuppressionEvent{event.address, bounce::to_string(event.reason), SuppressionSource::bounce,
                         event.hard, event.time_unix_s});
    if (!outcome.ok()) {
      if (outcome.status().code() == absl::StatusCode::kInvalidArgument) {
        ++tally.invalid;
        continue;
      }
      return outcome.status();  // the batch rolls back: nothing half recorded
    }
    switch (*outcome) {
      case EventOutcome::suppressed:
        ++tally.suppressed;
        break;
      case EventOutcome::already_suppressed:
        ++tally.already_suppressed;
        break;
      case EventOutcome::soft_counted:
        ++tally.soft_counted;
        break;
    }
  }
  if (absl::Status status = batch->commit(); !status.ok()) return status;
  HAYATE_ASSERT(tally.suppressed + tally.already_suppressed + tally.soft_counted + tally.invalid ==
                tally.events);
  return tally;
}

RunBounceRecorder::RunBounceRecorder(const JobConfig& job, Directory out_dir)
    : enabled_(job.suppression.enabled),
      store_path_(job.suppression.path),
      policy_{job.suppression.soft_bounce_count, job.suppression.soft_bounce_days},
      out_dir_(std::move(out_dir)) {}

namespace {

struct FilePosition {
  std::uint64_t size = 0;
  std::uint64_t inode = 0;  // 0: the file does not exist
};

FilePosition file_position(const Directory& directory, std::string_view name) {
  struct stat info {};
  if (!directory.stat_file(name, info)) return {};
  return {static_cast<std::uint64_t>(info.st_size), static_cast<std::uint64_t>(info.st_ino)};
}

}  // namespace

std::uint64_t RunBounceRecorder::read_offset(std::uint64_t offset, std::uint64_t inode,
                                             std::vector<std::string>& warnings) const {
  const FilePosition now = file_position(out_dir_, deliveries_name);
  if (inode != 0 && now.inode != 0 && (now.inode != inode || now.size < offset)) {
    warnings.push_back(cat(deliveries_path(),
                           " was rotated: its bounces are read from the start of the new file; "
                           "those moved to the old one are not recorded"));
    return 0;
  }
  return offset;
}

absl::Status RunBounceRecorder::write_marker(std::uint64_t offset, std::uint64_t inode) const {
  const absl::Status status = out_dir_.replace_file(marker_name, cat(offset, " ", inode, "\n"),
                                                    private_file_mode, /*durable=*/true);
  return status.ok() ? status : absl::UnavailableError(status.message());
}

std::vector<std::string> RunBounceRecorder::begin() {
  std::vector<std::string> warnings;
  if (!enabled_) return warnings;
  absl::StatusOr<UniqueFd> marker = out_dir_.open_for_reading(marker_name);
  if (!marker.ok() && marker.status().code() != absl::StatusCode::kNotFound) {
    warnings.push_back(cat(marker.status().message(),
                           "; the bounces of an earlier run, if any, are not recorded"));
  }
  if (marker.ok()) {
    // An earlier run stopped before recording its bounces: record them now, before this run
    // checks its recipients against the list. A damaged marker: every line is read again.
    char text[64] = {};
    const ssize_t got = pread(marker->get(), text, sizeof text - 1, 0);
    marker->reset();
    unsigned long long offset = 0, inode = 0;
    if (got <= 0 || std::sscanf(text, "%llu %llu", &offset, &inode) != 2) offset = inode = 0;
    read_from_ = read_offset(offset, inode, warnings);
    read_from_inode_ = inode;
    std::vector<BounceEvent> events;
    absl::Status status = read_bounce_events(out_dir_, deliveries_name, read_from_, events);
    absl::StatusOr<RecordTally> tally = RecordTally{};
    if (status.ok()) tally = record_bounce_events(store_path_, policy_, events);
    if (status.ok() && !tally.ok()) status = tally.status();
    if (!status.ok()) {
      // The older marker stays: finish() reads from there, this run's lines included.
      read_back_ = true;
      warnings.push_back(cat("the bounces of an earlier run are not on the suppression list yet (",
                             status.message(), "); this run tries again when it ends"));
      return warnings;
    }
    if (tally->events > 0) {
      warnings.push_back(cat("recorded ", tally->events, " bounce", tally->events == 1 ? "" : "s",
                             " an earlier run left off the suppression list (", tally->suppressed,
                             " suppressed)"));
    }
  }
  const FilePosition start = file_position(out_dir_, deliveries_name);
  read_from_ = start.size;
  read_from_inode_ = start.inode;
  if (absl::Status status = write_marker(start.size, start.inode); !status.ok()) {
    warnings.push_back(cat(status.message(), "; if this run is killed, its bounces are lost"));
  }
  return warnings;
}

void RunBounceRecorder::add(std::vector<BounceEvent> events, bool complete) {
  if (!enabled_) return;
  if (!complete) read_back_ = true;
  if (read_back_) {
    events_.clear();  // read back from deliveries.jsonl instead
    return;
  }
  events_.insert(events_.end(), std::make_move_iterator(events.begin()),
                 std::make_move_iterator(events.end()));
}

absl::StatusOr<RecordTally> RunBounceRecorder::finish(std::vector<std::string>& warnings) {
  if (!enabled_) return RecordTally{};
  std::vector<BounceEvent> events;
  if (read_back_) {
    const std::uint64_t offset = read_offset(read_from_, read_from_inode_, warnings);
    if (absl::Status status = read_bounce_events(out_dir_, deliveries_name, offset, events);
        !status.ok()) {
      return status;
    }
  } else {
    events.swap(events_);
  }
  absl::StatusOr<RecordTally> tally = record_bounce_events(store_path_, policy_, events);
  if (tally.ok()) (void)out_dir_.remove_file(marker_name);  // recorded: nothing is pending
  return tally;
}

}  // namespace hayate::campaign::bounce
