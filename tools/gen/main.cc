// hayate-gen: writes a deterministic campaign for scale tests and demos — a recipients CSV, text
// and HTML templates, a job file routed to one SMTP target, and the outcome counts to expect.
// Plain C++ (no io_uring): rows are formatted into a large buffer and written with write(2).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/assert.h"
#include "engine/files.h"

namespace hayate::gen {
namespace {

// sysexits(3), as the other hayate programs use them.
constexpr int exit_ok = 0;
constexpr int exit_usage = 64;        // EX_USAGE
constexpr int exit_cant_create = 73;  // EX_CANTCREAT

// Bounds of the options: a 10^10-row CSV is ~600 GB, more than any test wants; 10^7 domains
// keep the Zipf table (8 bytes a domain) under 100 MB.
constexpr std::uint64_t recipients_max = 10'000'000'000;
constexpr std::uint64_t domains_max = 10'000'000;
// Rows are formatted into this buffer and written when it is nearly full: few write(2) calls,
// and memory that does not grow with the list.
constexpr std::size_t write_buffer_bytes = 4 << 20;
constexpr std::size_t row_bytes_max = 512;  // far above the longest row the tables below make

constexpr char kHelp[] =
    R"(hayate-gen: writes a campaign for scale tests and demos.

Usage: hayate-gen --out DIR [options]

  --out DIR              where to write (created if missing; the files below are replaced):
                           recipients.csv  email,first_name,city,plan; one row per recipient
                           body.txt        text template (~1.5 KB rendered)
                           body.html       HTML template (~2 KB rendered)
                           job.toml        the job, every domain routed to --route
                           expected.json   the outcome counts a run into hayate-sink gives
  --recipients N         rows (default 1000, at most 10000000000)
  --domains N            destination domains domainK.example, K < N (default 1000)
  --distribution D       uniform: row i goes to domain i mod N (default);
                         zipf: domain K is chosen with weight 1/(K+1), as in real lists where
                         a few providers hold most addresses
  --route HOST:PORT      where job.toml sends everything (default 127.0.0.1:2525)
  --fault-every N        every Nth row gets a hayate-sink fault local part, in turn
                         tempfail- (deferred), bounce- (bounced), flaky- (delivered on retry)
  --seed N               changes names, cities and plans, and the Zipf draw (default 1)
  --id ID                campaign id (default scale)
  --help                 this text

Output is deterministic: the same options give byte-identical files. Addresses are unique
(the row number is part of the local part) and are ASCII; names and cities include
non-ASCII, an apostrophe, a comma and a double quote, as real exports do.

Example:
  hayate-gen --recipients 10000000 --domains 1000 --out /tmp/scale --fault-every 1000
  hayate-sink --listen 127.0.0.1:2525 --stats-file /tmp/sink.json &
  hayate run /tmp/scale/job.toml --out /tmp/scale.out; cat /tmp/scale/expected.json
)";

enum class Distribution : std::uint8_t { uniform, zipf };

struct Options {
  std::uint64_t recipients_count = 1000;
  std::uint64_t domains_count = 1000;
  Distribution distribution = Distribution::uniform;
  std::string route = "127.0.0.1:2525";
  std::uint64_t fault_every = 0;  // 0: no fault rows
  std::uint64_t seed = 1;
  std::string campaign_id = "scale";
  std::string out_dir;
};

// --- Tables. Local parts come from the ASCII handles; no handle starts with a hayate-sink
// fault prefix (tempfail, bounce, datafail, slow, disconnect, garbage, flaky), so that only
// the rows --fault-every picks fail. Handles do not end in a digit: the row number appended
// to them keeps every address unique.
struct Person {
  std::string_view first_name;  // CSV field: UTF-8, may be empty, never needs quoting
  std::string_view handle;      // local part stem: lower-case ASCII
};
constexpr std::array<Person, 32> kPeople = {{
    {"Maria", "maria.garcia"},
    {"James", "james.smith"},
    {"Aiko", "aiko.tanaka"},
    {"José", "jose.martinez"},
    {"Zoë", "zoe.brown"},
    {"Łukasz", "lukasz.nowak"},
    {"François", "francois.b"},
    {"Björn", "bjorn.lind"},
    {"Siobhán", "siobhan.oneill"},
    {"Mei", "mei.chen"},
    {"Oluwaseun", "seun.ade"},
    {"Priya", "priya.sharma"},
    {"Ahmed", "ahmed.hassan"},
    {"Anna", "anna.k"},
    {"D'Arcy", "darcy.w"},
    {"Noah", "noah.j"},
    {"Emma", "emma.wilson"},
    {"Liam", "liam.murphy"},
    {"Sofía", "sofia.lopez"},
    {"Hiroshi", "hiroshi.s"},
    {"Олег", "oleg.petrov"},
    {"美咲", "misaki.y"},
    {"Chloé", "chloe.martin"},
    {"Mateus", "mateus.silva"},
    {"Fatima", "fatima.z"},
    {"Jürgen", "juergen.m"},
    {"Ines", "ines.costa"},
    {"Kwame", "kwame.mensah"},
    {"", "info"},
    {"", "contact"},
    {"Grace", "grace.lee"},
    {"Tomás", "tomas.r"},
}};
// CSV fields as written (RFC 4180 2.6-2.7: quoted when they hold a comma or a quote).
constexpr std::array<std::string_view, 16> kCities = {
    "Tokyo",     "\"Washington, D.C.\"",
    "São Paulo", "Zürich",
    "Lagos",     "\"Den Haag (\"\"The Hague\"\")\"",
    "Kraków",    "Mumbai",
    "Berlin",    "",
    "New York",  "Montréal",
    "Cairo",     "Reykjavík",
    "Seoul",     "Buenos Aires",
};
constexpr std::array<std::string_view, 4> kPlans = {"free", "basic", "pro", "team"};

enum class Fault : std::uint8_t { tempfail, bounce, flaky, count_ };
constexpr std::array<std::string_view, 3> kFaultPrefixes = {"tempfail-", "bounce-", "flaky-"};
static_assert(kFaultPrefixes.size() == std::size_t(Fault::count_));

// Debian's Abseil has its own absl::string_view, which std::string_view does not convert to.
absl::string_view to_absl(std::string_view text) { return {text.data(), text.size()}; }

constexpr std::string_view kHeader = "email,first_name,city,plan\n";

// splitmix64 (Steele, Lea, Flood 2014): a counter-based generator, so row i's choices depend
// only on (seed, i) and the output is the same however it is produced.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Domain chooser. Zipf with exponent 1: cumulative weights, searched with a uniform draw.
class DomainChooser {
 public:
  DomainChooser(const Options& options) : options_(options) {
    if (options.distribution != Distribution::zipf) return;
    cumulative_.resize(options.domains_count);
    double sum = 0;
    for (std::uint64_t k = 0; k < options.domains_count; ++k) {
      sum += 1.0 / double(k + 1);
      cumulative_[k] = sum;
    }
  }
  std::uint64_t choose(std::uint64_t row, std::uint64_t random) const {
    if (cumulative_.empty()) return row % options_.domains_count;
    // 53 random bits: a double in [0, 1), scaled to the total weight.
    const double draw = double(random >> 11) * 0x1.0p-53 * cumulative_.back();
    const auto found = std::upper_bound(cumulative_.begin(), cumulative_.end(), draw);
    // draw < total weight, so an entry is always found; min() guards the last rounding ulp.
    const std::uint64_t domain =
        std::min<std::uint64_t>(found - cumulative_.begin(), cumulative_.size() - 1);
    HAYATE_ASSERT(domain < options_.domains_count);
    return domain;
  }

 private:
  const Options& options_;
  std::vector<double> cumulative_;
};

// A file written through a large buffer into a fresh temporary name beside DIR/NAME (created
// exclusively: a link planted there is never written through) and renamed to DIR/NAME when
// complete, so that an interrupted run never leaves a short file under the final name.
class OutputFile {
 public:
  OutputFile() = default;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile() {
    if (fd_ >= 0) {
      ::close(fd_);
      directory_->discard_temporary(temporary_name_);
    }
  }

  absl::Status open(const std::filesystem::path& path) {
    final_path_ = path.string();
    absl::StatusOr<Directory> directory = Directory::open_parent(final_path_, name_);
    if (!directory.ok()) return directory.status();
    directory_.emplace(std::move(*directory));
    absl::StatusOr<UniqueFd> fd = directory_->create_temporary(name_, 0644, temporary_name_);
    if (!fd.ok()) return fd.status();
    fd_ = fd->release();
    buffer_.reserve(write_buffer_bytes);
    return absl::OkStatus();
  }
  // Room for `bytes` more at the end of the buffer, flushing first when needed.
  absl::Status reserve(std::size_t bytes) {
    if (buffer_.size() + bytes > write_buffer_bytes) return flush();
    return absl::OkStatus();
  }
  void append(std::string_view text) { buffer_.append(text); }
  std::string& buffer() { return buffer_; }
  std::uint64_t bytes_written() const { return bytes_written_ + buffer_.size(); }

  absl::Status flush() {
    std::size_t done = 0;
    while (done < buffer_.size()) {
      const ssize_t result = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (result < 0 && errno == EINTR) continue;
      if (result <= 0) return error("cannot write");  // ENOSPC, EIO, EDQUOT...
      done += std::size_t(result);
    }
    bytes_written_ += done;
    buffer_.clear();
    return absl::OkStatus();
  }
  absl::Status commit() {
    if (absl::Status status = flush(); !status.ok()) return status;
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      const absl::Status status = error("cannot write");
      directory_->discard_temporary(temporary_name_);
      return status;
    }
    return directory_->commit_temporary(temporary_name_, name_);
  }

 private:
  absl::Status error(std::string_view what) const {
    return absl::Status(absl::StatusCode::kPermissionDenied,
                        absl::StrCat(to_absl(what), " ", final_path_, ": ", std::strerror(errno)));
  }

  int fd_ = -1;
  std::string final_path_;
  std::optional<Directory> directory_;  // where final_path_ is, as `name_`
  std::string name_;
  std::string temporary_name_;
  std::string buffer_;
  std::uint64_t bytes_written_ = 0;
};

absl::Status write_whole_file(const std::filesystem::path& path, std::string_view content) {
  OutputFile file;
  if (absl::Status status = file.open(path); !status.ok()) return status;
  file.append(content);
  return file.commit();
}

void append_number(std::string& out, std::uint64_t value) {
  char digits[20];
  const auto result = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, result.ptr);
}

struct Counts {
  std::uint64_t rows = 0;
  std::uint64_t domains_used = 0;
  std::array<std::uint64_t, std::size_t(Fault::count_)> faults{};
  std::uint64_t csv_bytes = 0;
};

absl::Status write_recipients(const Options& options, const std::filesystem::path& path,
                              Counts& counts) {
  OutputFile file;
  if (absl::Status status = file.open(path); !status.ok()) return status;
  file.append(kHeader);
  const DomainChooser chooser(options);
  std::vector<bool> domain_used(options.domains_count, false);
  const std::uint64_t seed = mix(options.seed);
  for (std::uint64_t row = 0; row < options.recipients_count; ++row) {
    if (absl::Status status = file.reserve(row_bytes_max); !status.ok()) return status;
    std::string& out = file.buffer();
    const std::size_t row_start = out.size();
    const std::uint64_t random = mix(seed ^ row);
    const Person& person = kPeople[random % kPeople.size()];
    const std::string_view city = kCities[(random >> 8) % kCities.size()];
    const std::string_view plan = kPlans[(random >> 16) % kPlans.size()];
    const std::uint64_t domain = chooser.choose(row, mix(random));
    domain_used[domain] = true;
    if (options.fault_every != 0 && (row + 1) % options.fault_every == 0) {
      const std::uint64_t fault = ((row + 1) / options.fault_every - 1) % kFaultPrefixes.size();
      out.append(kFaultPrefixes[fault]);
      ++counts.faults[fault];
    }
    out.append(person.handle);
    append_number(out, row);
    out.append("@domain");
    append_number(out, domain);
    out.append(".example,");
    out.append(person.first_name);
    out.push_back(',');
    out.append(city);
    out.push_back(',');
    out.append(plan);
    out.push_back('\n');
    HAYATE_ASSERT(out.size() - row_start <= row_bytes_max);  // else reserve() is too small
  }
  counts.rows = options.recipients_count;
  counts.domains_used = std::uint64_t(std::count(domain_used.begin(), domain_used.end(), true));
  counts.csv_bytes = file.bytes_written();
  return file.commit();
}

// Templates: a newsletter as a real sender writes it, with every field, both kinds of section
// and an escaped field (the HTML body escapes {{city}}, whose values hold quotes).
constexpr std::string_view kBodyText =
    R"({{#first_name}}Hello {{first_name}},{{/first_name}}{{^first_name}}Hello,{{/first_name}}

Welcome to the November letter. Here is what happened this month, and
what is coming for you on the {{plan}} plan.

THIS MONTH
----------
* Faster sending: campaigns of ten million recipients now start in
  seconds and keep memory flat, because the list is read as a stream.
* Clearer reports: every recipient ends with one outcome in
  deliveries.jsonl, and the summary names the counts you need.
* Kinder retries: a temporary failure is tried again on a schedule you
  choose, and a deadline makes a campaign end when you expect it to.
{{#city}}
NEAR YOU
--------
Our team visits {{city}} next month. Reply to this letter if you
would like to meet us, and tell us what you would like to see next.
{{/city}}
YOUR PLAN
---------
You are on the {{plan}} plan. Upgrades take effect at once and are
billed pro rata; a downgrade takes effect at the end of the current
period. Nothing changes unless you ask.

READING LIST
------------
1. How bulk mail finds its way: MX records, pools and pipelining.
2. One-click unsubscribe (RFC 8058) explained in five minutes.
3. DKIM keys: when to rotate them and how to publish a new selector.

Thank you for reading,
The Example News team

--
You receive this letter because {{email}} subscribed
to Example News. Unsubscribe: https://example.com/unsubscribe
Example News, 1 Example Street, 00000 Example City
)";

constexpr std::string_view kBodyHtml = R"(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>The November letter</title>
</head>
<body style="margin:0;padding:0;background:#f4f4f4;font-family:Helvetica,Arial,sans-serif">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0">
<tr><td align="center" style="padding:24px">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="background:#fff">
<tr><td style="padding:24px;font-size:16px;line-height:24px;color:#222">
<h1 style="font-size:22px;margin:0 0 16px">
{{#first_name}}Hello {{first_name}},{{/first_name}}{{^first_name}}Hello,{{/first_name}}</h1>
<p>Welcome to the November letter. Here is what happened this month, and what is coming for
you on the <b>{{plan}}</b> plan.</p>
<h2 style="font-size:18px">This month</h2>
<ul>
<li><b>Faster sending</b>: campaigns of ten million recipients now start in seconds and keep
memory flat.</li>
<li><b>Clearer reports</b>: every recipient ends with one outcome, and the summary names the
counts a spreadsheet needs.</li>
<li><b>Kinder retries</b>: a temporary failure is tried again on a schedule you choose.</li>
</ul>
{{#city}}<h2 style="font-size:18px">Near you</h2>
<p>Our team visits {{city}} next month. Reply to this letter if you would like to meet us.</p>
{{/city}}<h2 style="font-size:18px">Your plan</h2>
<p>You are on the {{plan}} plan. Upgrades take effect at once and are billed pro rata; a
downgrade takes effect at the end of the current period.</p>
<p><a href="https://example.com/account?plan={{plan}}" style="color:#0a58ca">Manage your
plan</a></p>
<p>Thank you for reading,<br>The Example News team</p>
</td></tr>
<tr><td style="padding:16px 24px;font-size:12px;line-height:18px;color:#777">
You receive this letter because {{email}} subscribed to Example News.
<a href="https://example.com/unsubscribe" style="color:#777">Unsubscribe</a>.
Example News, 1 Example Street, 00000 Example City
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
)";

std::string job_toml(const Options& options) {
  return absl::StrCat("# Generated by hayate-gen: ", options.recipients_count, " recipients in ",
                      options.domains_count, " domains (",
                      options.distribution == Distribution::zipf ? "zipf" : "uniform", ", seed ",
                      options.seed, "), every domain routed to ", options.route, ".\n",
                      R"([campaign]
id = ")",
                      options.campaign_id, R"("
recipients = "recipients.csv"
from = "Example News <news@example.com>"
subject = "The November letter{{#first_name}} for {{first_name}}{{/first_name}}"
text = "body.txt"
html = "body.html"
list_unsubscribe = "https://example.com/unsubscribe?e={{email}}"

[delivery]
helo = "gen.hayate.test"
connections_max = 2000
connections_per_domain = 20
messages_per_connection = 1000
# Short, so that a run with --fault-every ends soon after its tempfail rows are given up.
retry_schedule = ["1s", "2s"]
deadline = "1h"

[routes]
"*" = ")",
                      options.route, "\"\n");
}

std::string expected_json(const Options& options, const Counts& counts) {
  const std::uint64_t tempfail = counts.faults[std::size_t(Fault::tempfail)];
  const std::uint64_t bounce = counts.faults[std::size_t(Fault::bounce)];
  const std::uint64_t flaky = counts.faults[std::size_t(Fault::flaky)];
  // hayate-sink answers tempfail- 451 on every attempt (deferred when the retries run out),
  // bounce- 550 (bounced), flaky- 451 once and 250 after (delivered on the first retry).
  return absl::StrCat("{\"recipients\":", counts.rows, ",\"domains\":", counts.domains_used,
                      ",\"delivered\":", counts.rows - tempfail - bounce, ",\"bounced\":", bounce,
                      ",\"deferred\":", tempfail, ",\"rejected\":0,\"flaky\":", flaky,
                      ",\"exit_code\":", tempfail > 0 ? 75 : 0, ",\"seed\":", options.seed, "}\n");
}

int usage_error(std::string_view message) {
  std::fprintf(stderr, "hayate-gen: %.*s (see --help)\n", int(message.size()), message.data());
  return exit_usage;
}

bool parse_count(std::string_view text, std::uint64_t& value, std::uint64_t minimum,
                 std::uint64_t maximum) {
  std::uint64_t parsed = 0;
  if (!absl::SimpleAtoi(to_absl(text), &parsed) || parsed < minimum || parsed > maximum) {
    return false;
  }
  value = parsed;
  return true;
}

// HOST:PORT or [IPv6]:PORT, as job files write routes; only characters that need no TOML
// escaping, so that the job file cannot be broken by the value.
bool valid_route(std::string_view route) {
  const std::size_t colon = route.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::uint64_t port = 0;
  if (!parse_count(route.substr(colon + 1), port, 1, 65535)) return false;
  const std::string_view host = route.substr(0, colon);
  const bool bracketed = host.front() == '[';
  if (bracketed && (host.size() < 3 || host.back() != ']')) return false;
  return std::all_of(
      host.begin() + (bracketed ? 1 : 0), host.end() - (bracketed ? 1 : 0), [&](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || (bracketed && c == ':');
      });
}

bool valid_campaign_id(std::string_view id) {  // the job file's rule: [A-Za-z0-9._-]{1,64}
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// Returns -1 when the options are good, else the exit code.
int parse_options(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string_view name = argv[i];
    std::string_view value;
    bool value_inline = false;
    if (const std::size_t equals = name.find('='); equals != std::string_view::npos) {
      value = name.substr(equals + 1);
      name = name.substr(0, equals);
      value_inline = true;
    }
    const auto option = [&](std::string_view option_name) {
      if (name != option_name) return false;
      if (!value_inline) {
        if (i + 1 >= argc) return false;
        value = argv[++i];
      }
      return true;
    };
    const auto bad = [&](std::string_view why) {
      return usage_error(absl::StrCat(to_absl(name), " ", to_absl(value), ": ", to_absl(why)));
    };
    if ((name == "--help" || name == "-h") && !value_inline) {
      std::fputs(kHelp, stdout);
      return exit_ok;
    } else if (option("--recipients")) {
      if (!parse_count(value, options.recipients_count, 1, recipients_max)) {
        return bad(absl::StrCat("expected 1 to ", recipients_max));
      }
    } else if (option("--domains")) {
      if (!parse_count(value, options.domains_count, 1, domains_max)) {
        return bad(absl::StrCat("expected 1 to ", domains_max));
      }
    } else if (option("--distribution")) {
      if (value == "uniform") {
        options.distribution = Distribution::uniform;
      } else if (value == "zipf") {
        options.distribution = Distribution::zipf;
      } else {
        return bad("expected uniform or zipf");
      }
    } else if (option("--route")) {
      if (!valid_route(value)) return bad("expected HOST:PORT or [IPv6]:PORT");
      options.route = std::string(value);
    } else if (option("--fault-every")) {
      if (!parse_count(value, options.fault_every, 1, recipients_max)) {
        return bad("expected a positive number");
      }
    } else if (option("--seed")) {
      if (!parse_count(value, options.seed, 0, ~std::uint64_t(0))) return bad("expected a number");
    } else if (option("--id")) {
      if (!valid_campaign_id(value)) return bad("expected [A-Za-z0-9._-]{1,64}");
      options.campaign_id = std::string(value);
    } else if (option("--out")) {
      if (value.empty()) return bad("expected a directory");
      options.out_dir = std::string(value);
    } else {
      return usage_error(absl::StrCat("unknown or incomplete option ", argv[i]));
    }
  }
  if (options.out_dir.empty()) return usage_error("--out DIR is required");
  return -1;
}

int run(int argc, char** argv) {
  Options options;
  if (const int code = parse_options(argc, argv, options); code >= 0) return code;
  const std::filesystem::path dir = options.out_dir;
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    std::fprintf(stderr, "hayate-gen: cannot create %s: %s\n", dir.c_str(),
                 error.message().c_str());
    return exit_cant_create;
  }
  const auto started = std::chrono::steady_clock::now();
  Counts counts;
  absl::Status status = write_recipients(options, dir / "recipients.csv", counts);
  if (status.ok()) status = write_whole_file(dir / "body.txt", kBodyText);
  if (status.ok()) status = write_whole_file(dir / "body.html", kBodyHtml);
  if (status.ok()) status = write_whole_file(dir / "job.toml", job_toml(options));
  if (status.ok()) status = write_whole_file(dir / "expected.json", expected_json(options, counts));
  if (!status.ok()) {
    std::fprintf(stderr, "hayate-gen: %s\n", std::string(status.message()).c_str());
    return exit_cant_create;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::fprintf(stderr,
               "hayate-gen: %llu rows in %llu domains (%.1f MB) written to %s in %.2f s "
               "(%.0f rows/s)\n",
               static_cast<unsigned long long>(counts.rows),
               static_cast<unsigned long long>(counts.domains_used), double(counts.csv_bytes) / 1e6,
               dir.c_str(), seconds, seconds > 0 ? double(counts.rows) / seconds : 0.0);
  return exit_ok;
}

}  // namespace
}  // namespace hayate::gen

int main(int argc, char** argv) { return hayate::gen::run(argc, argv); }
