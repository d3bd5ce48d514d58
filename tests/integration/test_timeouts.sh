#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Timeouts (RFC 5321 4.5.3.2, shortened by the job): a server that never greets, and one that
# holds a RCPT reply, end in deferrals that name the step; the other mail still goes through.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null
read -r mute_port slow_port < <(free_port 2)
dir="${HAYATE_TEST_DIR}"

# A server that accepts and stays silent for 20 s: the greeting times out after 1 s.
start_hayate_sink "${mute_port}" --greeting-delay-ms 20000
write_campaign "${dir}/mute" $'email,first_name\na@mute.test,A\nb@mute.test,B' "[delivery]
helo = \"client.hayate.test\"
command_timeout = \"1s\"
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${mute_port}\""
start_s=${SECONDS}
run_hayate mute run "${dir}/mute/job.toml" --out "${dir}/mute/out"
assert_eq "mute: exit (nothing reachable)" 69 "${HAYATE_EXIT}"
assert_eq "mute: deferred" 2 "$(json_get "${dir}/mute/out/summary.json" deferred)"
assert_contains "mute: reason" "timed out waiting for the greeting reply" \
  "$(cat "${dir}/mute/out/deliveries.jsonl")"
((SECONDS - start_s < 15)) || fail "mute: the run took $((SECONDS - start_s)) s; the timeout is 1 s"

# One slow RCPT (held 6 s) among normal recipients: it alone is deferred, at the rcpt step.
start_hayate_sink "${slow_port}" --slow-ms 6000 --stats-file "${dir}/slow-sink.json"
slow_pid="${HAYATE_LAST_PID}"
csv="email,first_name"$'\n'"slow-1@s.test,S"
for i in $(seq 1 20); do csv+=$'\n'"user${i}@s.test,U${i}"; done
write_campaign "${dir}/slow" "${csv}" "[delivery]
helo = \"client.hayate.test\"
command_timeout = \"1s\"
connections_per_domain = 2
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${slow_port}\""
run_hayate slow run "${dir}/slow/job.toml" --out "${dir}/slow/out"
assert_eq "slow: exit (one deferred)" 75 "${HAYATE_EXIT}"
assert_eq "slow: delivered" 20 "$(json_get "${dir}/slow/out/summary.json" delivered)"
assert_eq "slow: deferred" 1 "$(json_get "${dir}/slow/out/summary.json" deferred)"
assert_contains "slow: reason" '"recipient":"slow-1@s.test"' \
  "$(grep 'timed out waiting for the rcpt reply' "${dir}/slow/out/deliveries.jsonl")"
# A timeout is a network error on this attempt (RFC 3463 4.4.2, bad connection), named.
assert_contains "slow: enhanced code and reason" '"enhanced":"4.4.2"' \
  "$(grep '"recipient":"slow-1@s.test"' "${dir}/slow/out/deliveries.jsonl")"
assert_contains "slow: reason networkerror" '"reason":"networkerror"' \
  "$(grep '"recipient":"slow-1@s.test"' "${dir}/slow/out/deliveries.jsonl")"
stop_process "${slow_pid}"
assert_eq "slow: sink messages" 20 "$(json_get "${dir}/slow-sink.json" messages)"
