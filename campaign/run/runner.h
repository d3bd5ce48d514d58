// The three things the hayate command does with a job: run it, check it, preview a message.
// Each returns a sysexits code (campaign/run/exit_codes.h) and writes its report to stderr.
#pragma once

#include <cstdint>
#include <string>

#include "campaign/message/dkim.h"

namespace hayate::campaign::inline run {

struct RunOptions {
  std::string job_path;
  std::string out_dir;      // empty: "./<campaign id>.out"
  bool quiet = false;       // only errors on stderr
  bool force = false;       // resume although the job or the recipients changed
  bool no_journal = false;  // benchmarks: no journal, so no resume after a crash
  // A live progress line on stderr: by default only when stderr is a terminal.
  enum class Progress { automatic, always, never } progress = Progress::automatic;
  std::string metrics_listen;  // "127.0.0.1:9464": Prometheus /metrics while the run goes on
  std::string metrics_file;    // written at the end (node_exporter textfile collector, *.prom)
  // --test-to: the rendered messages of `test_rows` (record numbers; empty: the first row) go
  // to these seed addresses instead of the recipients, from a fresh output directory of their
  // own, without the journal, the suppression list or the warm-up counts, whatever the send
  // window says. `test_mark`: "[test] " before the subject.
  std::vector<std::string> test_to;
  std::vector<std::uint64_t> test_rows;
  bool test_mark = false;
};

int run_campaign(const RunOptions& options);
// `strict`: the FCrDNS findings of campaign/run/fcrdns.h and those of the deliverability
// pre-flight (campaign/run/preflight.h) fail the check (65, or 75 when DNS did not answer);
// otherwise they are warnings only. `preflight` false skips the pre-flight.
int check_campaign(const std::string& job_path, bool strict = false, bool preflight = true);
// Prints the RFC 5322 message for CSV record `row` (1-based) to stdout.
int preview_campaign(const std::string& job_path, std::uint64_t row);
// Writes a DKIM key to `key_path` and prints the DNS TXT record for it.
int generate_dkim_key_command(DkimAlgorithm algorithm, int rsa_bits, const std::string& domain,
                              const std::string& selector, const std::string& key_path);

}  // namespace hayate::campaign::run
