#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Faults on the wire, against real server processes: a connection lost after the final dot
# (RFC 1047) is deferred and marked a possible duplicate, and the recipient pipelined behind
# it is not charged an attempt (it goes out on the next connection); a 554 greeting defers
# with the server's own code and words and never reaches the suppression list; a 421 greeting
# and a greeting timeout are deferrals that keep the server's code or name the timeout, never
# "expired" on the first attempt.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null
read -r sink_port r554_port r421_port mute_port tls_close_port tls_reset_port size_port \
  slow_port < <(free_port 8)
dir="${HAYATE_TEST_DIR}"

line_of() {  # line_of FILE RECIPIENT: the recipient's (last) deliveries.jsonl line
  grep "\"recipient\":\"$2\"" "$1" | tail -n 1
}

# 1. hayate-sink's dotdrop mode closes the connection after the final dot, without a reply.
start_hayate_sink "${sink_port}" --stats-file "${dir}/sink.json"
sink_pid="${HAYATE_LAST_PID}"
csv="email,first_name"$'\n'"dotdrop-1@w.test,D"
for i in $(seq 1 5); do csv+=$'\n'"user${i}@w.test,U${i}"; done
write_campaign "${dir}/drop" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 1
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${sink_port}\""
run_hayate drop run "${dir}/drop/job.toml" --out "${dir}/drop/out"
log="${dir}/drop/out/deliveries.jsonl"
assert_eq "dotdrop: exit (one deferred)" 75 "${HAYATE_EXIT}"
assert_eq "dotdrop: delivered" 5 "$(json_get "${dir}/drop/out/summary.json" delivered)"
assert_eq "dotdrop: deferred" 1 "$(json_get "${dir}/drop/out/summary.json" deferred)"
assert_contains "dotdrop: marked" '"possible_duplicate":true' "$(line_of "${log}" dotdrop-1@w.test)"
assert_contains "dotdrop: stage" '"stage":"body"' "$(line_of "${log}" dotdrop-1@w.test)"
assert_eq "dotdrop: one line marked" 1 "$(grep -c possible_duplicate "${log}")"
assert_eq "dotdrop: counted" 1 "$(json_get "${dir}/drop/out/summary.json" possible_duplicates)"
# The one pipelined behind the lost body was requeued, not charged: every other recipient has
# one line, delivered at attempt 1, and none is logged at stage mail.
assert_eq "dotdrop: lines" 6 "$(wc -l <"${log}")"
assert_eq "dotdrop: no mail-stage deferral" 0 "$(grep -c '"stage":"mail"' "${log}" || true)"
for i in $(seq 1 5); do
  assert_contains "dotdrop: user${i} first attempt" '"type":"delivered"' \
    "$(line_of "${log}" "user${i}@w.test")"
  assert_contains "dotdrop: user${i} attempt 1" '"attempt":1,' \
    "$(line_of "${log}" "user${i}@w.test")"
done
stop_process "${sink_pid}"
assert_eq "dotdrop: the sink took the lost message too" 6 \
  "$(($(json_get "${dir}/sink.json" messages) + $(json_get "${dir}/sink.json" data_dotdrop)))"

# 2. SIZE (RFC 1870): a server announcing 4000 octets never receives a larger message: it is
# bounced before MAIL with 552 5.3.4; the others go with their size declared.
start_hayate_sink "${size_port}" --max-message-bytes 4000 --stats-file "${dir}/size-sink.json"
size_pid="${HAYATE_LAST_PID}"
big_name="$(printf 'x%.0s' $(seq 1 6000))"
write_campaign "${dir}/size" "email,first_name
small@z.test,S
big@z.test,${big_name}" "[delivery]
helo = \"client.hayate.test\"
[routes]
\"*\" = \"127.0.0.1:${size_port}\""
run_hayate size run "${dir}/size/job.toml" --out "${dir}/size/out"
line="$(line_of "${dir}/size/out/deliveries.jsonl" big@z.test)"
assert_contains "SIZE: bounced before sending" '"type":"bounced"' "${line}"
assert_contains "SIZE: 552 5.3.4 at MAIL" '"code":552,"enhanced":"5.3.4"' "${line}"
assert_contains "SIZE: stage" '"stage":"mail"' "${line}"
assert_contains "SIZE: reason" '"reason":"mesgtoobig"' "${line}"
assert_eq "SIZE: delivered" 1 "$(json_get "${dir}/size/out/summary.json" delivered)"
stop_process "${size_pid}"
assert_eq "SIZE: the sink never saw the big one" 0 "$(json_get "${dir}/size-sink.json" data_too_big)"
assert_eq "SIZE: the sink took one" 1 "$(json_get "${dir}/size-sink.json" messages)"

# 3. A server greeting 554: deferred with its code and words, soft, nothing suppressed.
start_scripted_smtp "${r554_port}" --refuse 554
write_campaign "${dir}/r554" $'email,first_name\na@r554.test,A\nb@r554.test,B' "[delivery]
helo = \"client.hayate.test\"
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${r554_port}\"
[suppression]
path = \"${dir}/r554/suppression.db\""
run_hayate r554 run "${dir}/r554/job.toml" --out "${dir}/r554/out"
log="${dir}/r554/out/deliveries.jsonl"
assert_eq "554 greeting: bounced" 0 "$(json_get "${dir}/r554/out/summary.json" bounced)"
assert_eq "554 greeting: deferred" 2 "$(json_get "${dir}/r554/out/summary.json" deferred)"
assert_contains "554 greeting: code" '"code":554,"enhanced":"5.3.2"' "$(line_of "${log}" a@r554.test)"
assert_contains "554 greeting: words" 'No SMTP service here' "$(line_of "${log}" a@r554.test)"
assert_contains "554 greeting: soft" '"hard":false' "$(line_of "${log}" a@r554.test)"
assert_contains "554 greeting: stage" '"stage":"greeting"' "$(line_of "${log}" a@r554.test)"
# RFC 5321 3.1: the client said QUIT after the 554 (the server logs who closed).
assert_contains "554 greeting: QUIT sent" '"closed_by":"quit"' \
  "$(grep '"event": *"disconnect"' "$(scripted_smtp_events "${r554_port}")" | head -n 1)"
run_hayate r554-list suppress list --job "${dir}/r554/job.toml"
assert_eq "554 greeting: nothing suppressed" 0 \
  "$(grep -c '@r554.test' "${HAYATE_TEST_DIR}/r554-list.out" || true)"

# 4. A 421 greeting keeps the server's code; a greeting timeout names itself.
start_scripted_smtp "${r421_port}" --refuse 421
write_campaign "${dir}/r421" $'email,first_name\na@r421.test,A' "[delivery]
helo = \"client.hayate.test\"
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${r421_port}\""
run_hayate r421 run "${dir}/r421/job.toml" --out "${dir}/r421/out"
line="$(line_of "${dir}/r421/out/deliveries.jsonl" a@r421.test)"
assert_contains "421 greeting: code" '"code":421' "${line}"
assert_contains "421 greeting: deferred" '"type":"deferred"' "${line}"
[[ "${line}" != *'"reason":"expired"'* ]] || fail "421 greeting: reason expired: ${line}"
[[ "${line}" != *'"enhanced":"4.4.1"'* ]] || fail "421 greeting: our 4.4.1 over the server's: ${line}"

start_hayate_sink "${mute_port}" --greeting-delay-ms 20000
write_campaign "${dir}/mute" $'email,first_name\na@mute.test,A' "[delivery]
helo = \"client.hayate.test\"
command_timeout = \"1s\"
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${mute_port}\""
run_hayate mute run "${dir}/mute/job.toml" --out "${dir}/mute/out"
line="$(line_of "${dir}/mute/out/deliveries.jsonl" a@mute.test)"
assert_contains "greeting timeout: named" 'timed out waiting for the greeting reply' "${line}"
assert_contains "greeting timeout: reason" '"reason":"networkerror"' "${line}"
assert_contains "greeting timeout: no answer from host" '"enhanced":"4.4.1"' "${line}"
# 5. Opportunistic TLS: a server that answers STARTTLS 220 and then closes or resets the
# connection has a broken handshake; the mail goes again without TLS, as Postfix does at
# level "may", and the failure is counted and said once on stderr.
for how in close reset; do
  port_var="tls_${how}_port"
  start_scripted_smtp "${!port_var}" --broken-starttls "${how}"
  write_campaign "${dir}/tls-${how}" $'email,first_name
a@tls.test,A
b@tls.test,B' "[delivery]
helo = \"client.hayate.test\"
tls = \"opportunistic\"
retry_schedule = [\"1s\"]
[routes]
\"*\" = \"127.0.0.1:${!port_var}\""
  run_hayate "tls-${how}" run "${dir}/tls-${how}/job.toml" --out "${dir}/tls-${how}/out"
  summary="${dir}/tls-${how}/out/summary.json"
  assert_eq "STARTTLS then ${how}: exit" 0 "${HAYATE_EXIT}"
  assert_eq "STARTTLS then ${how}: delivered" 2 "$(json_get "${summary}" delivered)"
  assert_eq "STARTTLS then ${how}: TLS failures counted" 1 "$(json_get "${summary}" tls_failures)"
  assert_contains "STARTTLS then ${how}: said once" "without TLS" \
    "$(cat "${HAYATE_TEST_DIR}/tls-${how}.err")"
  assert_eq "STARTTLS then ${how}: server saw STARTTLS once" 1 \
    "$(scripted_smtp_event_count "${!port_var}" starttls)"
done
# 6. A slow server (every RCPT answered after 1 s, no refusal) gets more connections than the
# two that 30 ready recipients ask for at first, up to connections_per_domain.
start_hayate_sink "${slow_port}" --slow-ms 1000 --stats-file "${dir}/slow-sink.json"
slow_pid="${HAYATE_LAST_PID}"
csv="email,first_name"
for i in $(seq 1 30); do csv+=$'\n'"slow-${i}@slow.test,S${i}"; done
write_campaign "${dir}/slow" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 8
[routes]
\"*\" = \"127.0.0.1:${slow_port}\""
run_hayate slow run "${dir}/slow/job.toml" --out "${dir}/slow/out"
assert_eq "slow server: delivered" 30 "$(json_get "${dir}/slow/out/summary.json" delivered)"
stop_process "${slow_pid}"
sessions="$(json_get "${dir}/slow-sink.json" sessions)"
((sessions > 2)) || fail "slow server: ${sessions} sessions; expected more than 2"
echo "ok slow server: ${sessions} sessions"
echo "test_wire_faults: ok"
