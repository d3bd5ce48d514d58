// `hayate check` on a relay with credentials ([relay] username): before a campaign, connect to
// it as a run would (implicit TLS or STARTTLS per the job's policy, the certificate checked
// when TLS is required), read what it offers after TLS, and QUIT: no credentials are sent and
// no mail. A relay that cannot take the credentials (no AUTH PLAIN or LOGIN, or no TLS to send
// them over) is an error: the run would stop at its first connection (exit 78). One relay,
// one connection, 5 s at most.
#pragma once

#include <string>

#include "campaign/config/job.h"
#include "engine/smtp/capabilities.h"

namespace hayate::campaign::inline run {

struct RelayProbe {
  bool reached = false;             // a session was held (greeting and EHLO answered)
  bool tls = false;                 // the session ended up over TLS
  smtp::Capabilities capabilities;  // what the relay offered last (after TLS)
  std::string problem;              // why the run could not use it; empty when it can
  std::string failure;  // why it could not be reached (a warning: it may be up at run time)
};

// What a run needs of the relay, judged from a probe: empty when the credentials can be used.
// Pure, for tests.
std::string judge_relay(const Route& relay, bool tls, const smtp::Capabilities& capabilities);

// Connects to the job's relay (the "*" route with a username). `helo` is the name sent in EHLO.
RelayProbe probe_relay(const Route& relay, const std::string& ca_file, const std::string& helo);

// For `hayate check`: nothing to do (0) without a relay with credentials; 65 when the relay
// cannot take them (said on stderr), 75 with --strict when it could not be reached (a
// warning otherwise); an OK line on stdout when all is well.
int check_relay(const JobConfig& job, bool strict);

}  // namespace hayate::campaign::run
