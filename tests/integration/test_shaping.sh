#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Traffic shaping against a scripted server that throttles like the large providers: a Gmail
# rate limit (421-4.7.28 above N messages a window), a cap on concurrent connections, a
# Yahoo-like suspension ([TSS04]), and the end of throttling. For each: every recipient is
# delivered exactly once, the engine's reaction is in shaping.jsonl and summary.json, and the
# attempts the server sees stay under its limit once the engine has reacted.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null
read -r rate_port cap_port suspend_port < <(free_port 3)
dir="${HAYATE_TEST_DIR}"

# report_get PORT KEY [REPORT ARGS]: one value of the scripted server's report.
report_get() {
  local port="$1" key="$2"
  shift 2
  json_get <(scripted_smtp_report "${port}" "$@") "${key}"
}
# events NAME TYPE: shaping.jsonl events of one type in campaign NAME.
events() {
  grep -c "\"event\":\"$2\"" "${dir}/$1/out/shaping.jsonl" || true
}

# --- Rate: Gmail's limit, 8 messages in any 4 s, answered with its 421-4.7.28 text (the
# connection is closed after it), until the server stops throttling after 8 s. The job points
# gmail.test at the shipped "gmail" destination (20/s, 2 connections) and shortens the shipped
# rule's pause and the cool-downs to test scale. The engine must come down to the server's
# pace, and climb back to its own once the replies are clean.
start_scripted_smtp "${rate_port}" --rate-limit 8/4s --stop-throttling-after 8
csv="email,first_name"
for i in $(seq 1 150); do csv+=$'\n'"user-${i}@gmail.test,U${i}"; done
write_campaign "${dir}/rate" "${csv}" "[delivery]
helo = \"client.hayate.test\"
shards = 1
retry_first_delay = \"1s\"
retry_max_delay = \"2s\"
deadline = \"90s\"
[routes]
\"*\" = \"127.0.0.1:${rate_port}\"
[shaping]
rules = \"rules.toml\""
cat >"${dir}/rate/rules.toml" <<'TOML'
[destination.gmail]
domains = ["gmail.test"]
connections_max = 2
rate = "20/s"
throttle_cooldown = "1s"
recovery_interval = "500ms"
rate_min = "60/min"

[[reply]]
name = "gmail-unusual-rate"
code = 421
enhanced = "4.7.28"
text = 'unusual rate of'
action = "throttle"
duration = "1s"
TOML
HAYATE_RUN_TIMEOUT_S=120 run_hayate rate run "${dir}/rate/job.toml" --out "${dir}/rate/out" \
  --progress --metrics-file "${dir}/rate.prom"
assert_eq "rate: exit" 0 "${HAYATE_EXIT}"
assert_eq "rate: delivered" 150 "$(json_get "${dir}/rate/out/summary.json" delivered)"
assert_eq "rate: messages at the server" 150 "$(report_get "${rate_port}" messages)"
assert_eq "rate: nobody twice" "{}" "$(report_get "${rate_port}" duplicate_recipients)"
throttled=$(events rate throttled)
((throttled >= 1)) || fail "rate: no throttled event in shaping.jsonl"
echo "ok rate: ${throttled} throttle events"
assert_contains "rate: the event names the rule and the reply" '"rule":"gmail-unusual-rate","code":421' \
  "$(grep -m1 '"event":"throttled"' "${dir}/rate/out/shaping.jsonl")"
assert_contains "rate: summary" '"destination": "gmail", "state": ' \
  "$(cat "${dir}/rate/out/summary.json")"
# The progress line (stderr, --progress) names it with its state while it is shaped.
grep -qE '\| gmail (throttled|suspended|recovering)' "${HAYATE_TEST_DIR}/rate.err" ||
  fail "rate: the progress line never named gmail as throttled, suspended or recovering"
echo "ok rate: the progress line names the throttled destination"
assert_contains "rate: metrics" 'hayate_shaping_events_total{campaign="integration",destination="gmail",event="throttled"}' \
  "$(cat "${dir}/rate.prom")"
# Converged: few 421s, and while the server throttled, never more than twice its limit tried
# in a window; once it stopped, the pace came back (a "recovered" event).
rejected=$(report_get "${rate_port}" codes.421)
((rejected <= 15)) || fail "rate: ${rejected} messages refused with 421: the pace did not come down"
stopped=$(report_get "${rate_port}" throttling_stopped_elapsed_s)
tried=$("${HAYATE_PYTHON}" - "$(scripted_smtp_events "${rate_port}")" "${stopped}" <<'PY'
import json, sys
stop = float(sys.argv[2])
starts = [e["elapsed_s"] for e in map(json.loads, open(sys.argv[1]))
          if e["event"] == "mail" and e["elapsed_s"] < stop]
print(max((sum(1 for t in starts if s <= t < s + 4) for s in starts), default=0))
PY
)
((tried <= 16)) || fail "rate: ${tried} transactions in one 4 s window while throttled (limit 8)"
recovered=$(events rate recovered)
((recovered >= 1)) || fail "rate: no recovered event after the server stopped throttling"
echo "ok rate: ${rejected} refused, at most ${tried} tried in a 4 s window, recovered ${recovered}x"

# --- Connections: the server takes 2 at a time and greets a third with 421 4.7.0 "Too many
# concurrent SMTP connections". The job allows 8 (4 per shard); the shipped rule
# too-many-connections cuts them. Throttling stops after 6 s: the engine recovers.
start_scripted_smtp "${cap_port}" --max-connections 2
csv="email,first_name"
for i in $(seq 1 60); do csv+=$'\n'"user-${i}@cap.test,U${i}"; done
write_campaign "${dir}/cap" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 8
retry_first_delay = \"1s\"
retry_max_delay = \"2s\"
deadline = \"90s\"
[routes]
\"*\" = \"127.0.0.1:${cap_port}\"
[shaping]
rules = \"rules.toml\""
cat >"${dir}/cap/rules.toml" <<'TOML'
[destination.default]
throttle_cooldown = "1s"
recovery_interval = "2s"
TOML
HAYATE_RUN_TIMEOUT_S=120 run_hayate cap run "${dir}/cap/job.toml" --out "${dir}/cap/out"
assert_eq "cap: exit" 0 "${HAYATE_EXIT}"
assert_eq "cap: delivered" 60 "$(json_get "${dir}/cap/out/summary.json" delivered)"
assert_eq "cap: messages at the server" 60 "$(report_get "${cap_port}" messages)"
assert_eq "cap: nobody twice" "{}" "$(report_get "${cap_port}" duplicate_recipients)"
assert_eq "cap: never more than 2 served at once" 2 "$(report_get "${cap_port}" max_concurrent_served)"
assert_contains "cap: throttled by the connection rule" '"rule":"too-many-connections"' \
  "$(grep -m1 '"event":"throttled"' "${dir}/cap/out/shaping.jsonl")"

# --- Suspension: after 5 messages the server answers every MAIL with Yahoo's [TSS04]
# "temporarily deferred" for 3 s, then takes mail again. The shipped yahoo-deferred rule
# suspends the source for yahoo.test; the job shortens it to 2 s.
start_scripted_smtp "${suspend_port}" --suspend-after 5 --suspend-for 3
csv="email,first_name"
for i in $(seq 1 20); do csv+=$'\n'"user-${i}@yahoo.test,U${i}"; done
write_campaign "${dir}/suspend" "${csv}" "[delivery]
helo = \"client.hayate.test\"
retry_first_delay = \"1s\"
retry_max_delay = \"2s\"
deadline = \"90s\"
[routes]
\"*\" = \"127.0.0.1:${suspend_port}\"
[shaping]
rules = \"rules.toml\""
cat >"${dir}/suspend/rules.toml" <<'TOML'
[destination.yahoo]
domains = ["yahoo.test"]

[[reply]]
name = "yahoo-deferred"
code = "4xx"
text = '\[(TSS04|TSS05|IPTS04|IPTS05)\]|Messages from \S+ temporarily deferred'
action = "suspend_source"
duration = "2s"
TOML
HAYATE_RUN_TIMEOUT_S=120 run_hayate suspend run "${dir}/suspend/job.toml" --out "${dir}/suspend/out"
assert_eq "suspend: exit" 0 "${HAYATE_EXIT}"
assert_eq "suspend: delivered" 20 "$(json_get "${dir}/suspend/out/summary.json" delivered)"
assert_eq "suspend: messages at the server" 20 "$(report_get "${suspend_port}" messages)"
assert_eq "suspend: nobody twice" "{}" "$(report_get "${suspend_port}" duplicate_recipients)"
suspended=$(events suspend suspended)
resumed=$(events suspend resumed)
((suspended >= 1 && resumed >= 1)) || fail "suspend: ${suspended} suspended, ${resumed} resumed events"
assert_contains "suspend: the event names the rule" '"rule":"yahoo-deferred"' \
  "$(grep -m1 '"event":"suspended"' "${dir}/suspend/out/shaping.jsonl")"
# While suspended nothing new starts: the TSS04 replies are those already on their way (one
# per connection and shard, pipelined), not one per recipient.
deferred=$(report_get "${suspend_port}" throttles.suspend)
((deferred <= 8)) || fail "suspend: ${deferred} TSS04 replies: sending went on while suspended"
echo "ok suspend: ${suspended} suspensions, ${deferred} TSS04 replies"
