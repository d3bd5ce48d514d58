// libFuzzer target for campaign/job: any bytes as a job file must load or fail with a message,
// never crash, and a job that loads must hold its invariants (sorted routes, "*" last).
// The job is written next to the files it may name (recipients.csv, body.txt, body.html).
// Build it against the installed libtomlplusplus as the product does (-DTOML_HEADER_ONLY=0
// -DTOML_SHARED_LIB=1 ... -ltomlplusplus): toml++ 3.3 compiled header-only without NDEBUG
// asserts on keys like "[\x1f" or "[[[1]]]" (upstream marzer/tomlplusplus#301) where the
// release library returns a parse_error.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include "campaign/config/job.h"
#include "engine/assert.h"

namespace {

std::string make_work_dir() {
  const char* tmp = getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/job_fuzz.XXXXXX";
  HAYATE_ASSERT(mkdtemp(pattern.data()) != nullptr);
  for (const char* name : {"recipients.csv", "body.txt", "body.html"}) {
    FILE* file = std::fopen((pattern + "/" + name).c_str(), "w");
    HAYATE_ASSERT(file != nullptr);
    std::fputs("email\nalice@example.org\n", file);
    std::fclose(file);
  }
  return pattern;
}

// Never destroyed, so the atexit clean-up can still read it after static destructors ran.
const std::string& work_dir() {
  static const std::string* const dir = [] {
    auto* made = new std::string(make_work_dir());
    std::atexit([] { std::filesystem::remove_all(work_dir()); });
    return made;
  }();
  return *dir;
}

void check_job(const hayate::campaign::JobConfig& job) {
  using hayate::campaign::find_route;
  HAYATE_ASSERT(!job.id.empty() && job.id.size() <= 64);
  HAYATE_ASSERT(job.subject.find_first_of("\r\n") == std::string::npos);
  for (const auto& [name, value] : job.headers) {
    HAYATE_ASSERT(!name.empty() && value.find_first_of("\r\n") == std::string::npos);
  }
  HAYATE_ASSERT(!job.text_path.empty() || !job.html_path.empty());
  for (std::size_t i = 0; i < job.routes.size(); ++i) {
    const auto& route = job.routes[i];
    HAYATE_ASSERT(route.domain != "*" || i + 1 == job.routes.size());
    HAYATE_ASSERT(route.endpoint.port != 0 && !route.endpoint.host.empty());
    if (i > 0 && route.domain != "*") HAYATE_ASSERT(job.routes[i - 1].domain < route.domain);
    const auto* found = find_route(job, route.domain);
    HAYATE_ASSERT(found == &route);
  }
  const auto* other = find_route(job, "no-such-domain.invalid");
  HAYATE_ASSERT(other == nullptr || other->domain == "*");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  std::uint64_t duration_ms = 0;
  (void)hayate::campaign::parse_duration_ms(input, duration_ms);

  const std::string path = work_dir() + "/job.toml";
  FILE* file = std::fopen(path.c_str(), "wb");
  HAYATE_ASSERT(file != nullptr);
  HAYATE_ASSERT(std::fwrite(data, 1, size, file) == size);
  std::fclose(file);

  absl::StatusOr<hayate::campaign::JobConfig> job = hayate::campaign::load_job(path);
  if (job.ok()) {
    check_job(*job);
  } else {
    HAYATE_ASSERT(!job.status().message().empty());
  }
  return 0;
}
