// Forward-confirmed reverse DNS of the job's sending identities, for `hayate check`: each
// [[sources]] EHLO name must resolve to its address, and the address's PTR must name it back.
// Receivers distrust or refuse mail from addresses that fail this. Judging is pure; the
// lookups run on a one-off shard with the job's [dns] servers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "campaign/config/job.h"
#include "engine/dns/resolver.h"

namespace hayate::campaign::inline run {

// One sending identity to confirm.
struct FcrdnsSubject {
  std::string label;    // "[[sources]] mta1", or "[delivery] helo"
  std::string ehlo;     // a host name, or an address literal "[192.0.2.1]", "[IPv6:2001:db8::1]"
  std::string address;  // canonical IP literal; empty: the system picks it (no [[sources]])
};

enum class FcrdnsLevel : std::uint8_t {
  ok,       // confirmed, or (without an address) the name resolves: a note
  warning,  // what a receiver checking FCrDNS would hold against this identity
  unknown,  // a lookup failed for now (timeout, SERVFAIL): nothing was learnt
};

struct FcrdnsFinding {
  FcrdnsLevel level = FcrdnsLevel::ok;
  std::string text;  // without the subject's label
};

// The answers a subject's check rests on.
struct FcrdnsAnswers {
  std::optional<dns::HostAnswer> forward;  // A/AAAA of the EHLO name; unset for a literal
  std::optional<dns::PtrAnswer> reverse;   // PTR of the address; unset without one
};

// Every [[sources]] entry; without any, [delivery] helo alone, unless a "*" route takes all
// mail (a relay or smart host: receivers never see this EHLO name) or helo is an address
// literal (nothing to look up without an address).
std::vector<FcrdnsSubject> fcrdns_subjects(const JobConfig& job);

// What the answers say about `subject`: one ok finding when all is well, otherwise one
// finding per problem (forward first, then reverse). Pure.
std::vector<FcrdnsFinding> judge_fcrdns(const FcrdnsSubject& subject, const FcrdnsAnswers& answers);

// Looks up what each subject needs (A/AAAA of host-name EHLOs, PTR of addresses) on a
// one-off shard, all at once, for at most `timeout_ms`: an answer still missing then reads
// "temporary: timeout". Fails only when the shard or the resolver cannot start.
absl::StatusOr<std::vector<FcrdnsAnswers>> look_up_fcrdns(
    const std::vector<FcrdnsSubject>& subjects, const std::vector<dns::SocketAddress>& servers,
    std::uint32_t timeout_ms);

// Overall bound of the lookups in `hayate check`.
inline constexpr std::uint32_t fcrdns_check_timeout_ms = 5'000;

// hayate check's part: looks up and judges the job's subjects, prints ok notes on stdout and
// "hayate: warning: LABEL: ..." on stderr. Returns the exit code it asks for: 0, unless
// `strict` (then 65 for a warning, else 75 for a lookup that failed for now).
int check_fcrdns(const JobConfig& job, bool strict);

}  // namespace hayate::campaign::run
