#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The end-of-run lines name why mail failed without opening deliveries.jsonl: the largest
# deferral and bounce reasons with a reply each (a route to a closed port; a server that
# bounces), and a count with its singular noun.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null
read -r sink_port closed_port < <(free_port 2)
dir="${HAYATE_TEST_DIR}"
start_hayate_sink "${sink_port}"

# Nothing listens on closed_port: every attempt is refused.
write_campaign "${dir}/closed" $'email,first_name\na@x.test,A\nb@x.test,B\nc@x.test,C' \
  "[delivery]
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${closed_port}\""
run_hayate closed run "${dir}/closed/job.toml" --out "${dir}/closed/out"
assert_eq "closed port: exit (nothing reachable)" 69 "${HAYATE_EXIT}"
assert_contains "closed port: the cause on stderr" \
  "integration: deferred: networkerror 3 (\"4.4.1 no server accepted a session; last error: connect to 127.0.0.1:${closed_port}: Connection refused\")" \
  "$(cat "${dir}/closed.err")"

# One recipient delivered, two bounced by the server: "1 recipient" is not said; the bounce
# reason comes with the server's reply.
write_campaign "${dir}/bounces" $'email,first_name\nok@y.test,O\nbounce-1@y.test,B\nbounce-2@y.test,C' \
  "[delivery]
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${sink_port}\""
run_hayate bounces run "${dir}/bounces/job.toml" --out "${dir}/bounces/out"
assert_eq "bounces: exit" 0 "${HAYATE_EXIT}"
assert_contains "bounces: the counts" "integration: 3 recipients: 1 delivered, 2 bounced" \
  "$(cat "${dir}/bounces.err")"
assert_contains "bounces: the cause with the server's reply" \
  "integration: bounced: userunknown 2 (\"550 5.1.1" "$(cat "${dir}/bounces.err")"
write_campaign "${dir}/one" $'email,first_name\nok@y.test,O' "[routes]
\"*\" = \"127.0.0.1:${sink_port}\""
run_hayate one run "${dir}/one/job.toml" --out "${dir}/one/out"
assert_contains "one recipient: singular" "integration: 1 recipient: 1 delivered" \
  "$(cat "${dir}/one.err")"
if grep -q "deferred:\|bounced:" "${dir}/one.err"; then fail "a cause line when nothing failed"; fi
assert_eq "no cause line when nothing failed" yes yes
