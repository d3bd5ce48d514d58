#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# [schedule] for cron: before start_at a run exits 75 at once and sends nothing (the next tick
# may send); after stop_at the campaign is over: exit 78 (no tick will send), the recipients
# never attempted counted, nothing said under --quiet; when stop_at comes during a run, it
# drains like SIGTERM and exits 78 with the rest counted as never attempted.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null
read -r port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"
start_hayate_sink "${port}" --slow-ms 1500 --stats-file "${dir}/sink.json"
sink_pid="${HAYATE_LAST_PID}"
csv="email,first_name"
for i in $(seq 1 50); do csv+=$'\n'"slow-${i}@w.test,W${i}"; done
stamp() { date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ; }
campaign() {  # campaign NAME SCHEDULE_LINES
  write_campaign "${dir}/$1" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 1
shards = 1
[routes]
\"*\" = \"127.0.0.1:${port}\"
[schedule]
$2"
  run_hayate "$1" run "${dir}/$1/job.toml" --out "${dir}/$1/out"
}

campaign early "start_at = \"$(stamp 3600)\""
assert_eq "before start_at: exit" 75 "${HAYATE_EXIT}"
assert_contains "before start_at: says so" "before start_at" "$(cat "${dir}/early.err")"
[[ ! -e "${dir}/early/out" ]] || fail "before start_at: an output directory was made"

campaign late "stop_at = \"$(stamp -3600)\""
assert_eq "after stop_at: exit" 78 "${HAYATE_EXIT}"
assert_contains "after stop_at: says so" "the campaign is over (after stop_at" \
  "$(cat "${dir}/late.err")"
assert_contains "after stop_at: counts the recipients never attempted" \
  "50 recipients were never attempted" "$(cat "${dir}/late.err")"
run_hayate late-quiet run "${dir}/late/job.toml" --out "${dir}/late/out" --quiet
assert_eq "after stop_at, --quiet: exit" 78 "${HAYATE_EXIT}"
assert_eq "after stop_at, --quiet: says nothing" "" "$(cat "${dir}/late-quiet.err")"

start_s=${SECONDS}
campaign closing "stop_at = \"$(stamp 3)\""
assert_eq "stop_at during the run: exit" 78 "${HAYATE_EXIT}"
assert_contains "stop_at during the run: says so" "after stop_at" "$(cat "${dir}/closing.err")"
((SECONDS - start_s < 20)) || fail "the run went on $((SECONDS - start_s)) s past its stop_at"
delivered="$(json_get "${dir}/closing/out/summary.json" delivered)"
((delivered >= 1 && delivered < 50)) || fail "stop_at during the run: delivered ${delivered}"
assert_eq "stop_at during the run: nothing deferred" 0 \
  "$(json_get "${dir}/closing/out/summary.json" deferred)"
assert_eq "stop_at during the run: the rest never attempted" $((50 - delivered)) \
  "$(json_get "${dir}/closing/out/summary.json" not_attempted)"
assert_contains "stop_at during the run: the campaign is over" \
  "the campaign is over (stop_at has passed): $((50 - delivered)) recipients were never" \
  "$(cat "${dir}/closing.err")"
assert_eq "stop_at during the run: status" over \
  "$(json_get "${dir}/closing/out/status.json" state)"
# A tick after it: over at once, the same count, from the campaign's journal.
run_hayate closing-again run "${dir}/closing/job.toml" --out "${dir}/closing/out"
assert_eq "after the closing run: exit" 78 "${HAYATE_EXIT}"
assert_contains "after the closing run: counts from the journal" \
  "$((50 - delivered)) recipients were never attempted" "$(cat "${dir}/closing-again.err")"
stop_process "${sink_pid}"
assert_eq "sink: only the closing run's mail" "${delivered}" "$(json_get "${dir}/sink.json" messages)"
