#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# hayate status against a running campaign (its figures move, its ETA is sane, exit 3), a
# finished one (done, exit 0, the same counts as summary.json), one killed mid-run ("gone",
# exit 1), one stopped by a signal (exit 4), and the usage and missing-directory cases; then
# hayate report draws every run of the campaign, the killed one included.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
read -r port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"
# slow...@ recipients get their RCPT reply after 100 ms: 2 connections make about 20 a second.
start_hayate_sink "${port}" --slow-ms 100
csv="email,first_name"
for i in $(seq 1 120); do csv+=$'\n'"slow-${i}@d$((i % 3)).test,S${i}"; done
csv+=$'\n'"bounce-1@d0.test,B"$'\n'"flaky-1@d1.test,F"
write_campaign "${dir}/c" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 2
connections_max = 2
shards = 1
retry_schedule = [\"1s\"]
deadline = \"30s\"
[suppression]
path = \"${dir}/suppression.db\"
[routes]
\"*\" = \"127.0.0.1:${port}\""
out="${dir}/c/out"

# status_field KEY: a key of `hayate status --json`, or "none" before status.json exists.
status_field() {
  local json
  json="$("${hayate}" status "${out}" --json 2>/dev/null)" || true
  [[ -n "${json}" ]] || {
    echo none
    return
  }
  printf '%s' "${json}" | "${HAYATE_PYTHON}" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
status_exit() {
  set +e
  "${hayate}" status "${out}" >/dev/null 2>&1
  echo $?
  set -e
}

"${hayate}" run "${dir}/c/job.toml" --out "${out}" 2>"${dir}/run.err" </dev/null &
run_pid=$!
wait_until_eq "status while running" running 20 status_field state
wait_until_eq "exit code while running" 3 5 status_exit
sleep 1.5
first_done=$(status_field delivered)
first_eta=$(status_field eta_s)
first_pending=$(status_field pending)
((first_pending > 0)) || fail "pending while running: ${first_pending}"
assert_eq "recipients pending while running" yes yes
sleep 2.5
second_done=$(status_field delivered)
[[ "$(status_field state)" == running ]] || fail "the run ended before the second look"
((second_done > first_done)) || fail "delivered did not move: ${first_done} then ${second_done}"
assert_eq "delivered moves while running" yes yes
assert_eq "total rows known" 122 "$(status_field total_rows)"
# About 20 a second for 122 rows: the ETA is some seconds, never negative nor hours.
"${HAYATE_PYTHON}" -c 'import sys; e=float(sys.argv[1]); sys.exit(0 if 0 < e < 60 else 1)' \
  "${first_eta}" || fail "ETA not sane while running: ${first_eta}"
assert_eq "ETA sane" yes yes
text="$("${hayate}" status "${out}" || true)"
assert_contains "status text" "campaign integration: running" "${text}"
# The report of a campaign that is still running: drawn from its status.json.
"${hayate}" report "${out}" --to "${dir}/running-report.html" >/dev/null
grep -q 'id="chart-rate"' "${dir}/running-report.html" || fail "no report of the running campaign"
grep -q '>running<' "${dir}/running-report.html" || fail "the running report does not say running"
assert_eq "report while running" yes yes
assert_contains "status text ETA" "ETA" "${text}"

set +e
timeout 60 tail --pid="${run_pid}" -f /dev/null
wait "${run_pid}"
run_exit=$?
set -e
cat "${dir}/run.err" >&2
assert_eq "run exit" 0 "${run_exit}"
assert_eq "status after the run" "done" "$(status_field state)"
assert_eq "status exit after the run" 0 "$(status_exit)"
summary="${out}/summary.json"
for key in delivered bounced deferred rejected suppressed attempts_deferred; do
  assert_eq "status ${key} = summary ${key}" "$(json_get "${summary}" "${key}")" \
    "$(status_field "${key}")"
done
assert_eq "bounce reasons" "{'userunknown': 1}" "$(status_field bounce_reasons)"
text="$("${hayate}" status "${out}")"
assert_contains "status text done" "campaign integration: done" "${text}"
assert_contains "status text bounces" "bounces: userunknown 1" "${text}"
assert_eq "runs.jsonl lines" 1 "$(wc -l <"${out}/runs.jsonl")"
[[ -s "${out}/report.html" ]] || fail "no report.html after the run"
assert_eq "report written" yes yes

# A run killed mid-way: its status says running, its process is gone.
cp -r "${dir}/c" "${dir}/k"
rm -rf "${dir}/k/out"
out="${dir}/k/out"
"${hayate}" run "${dir}/k/job.toml" --out "${out}" 2>"${dir}/killed.err" </dev/null &
run_pid=$!
wait_until_eq "killed run: status running" running 20 status_field state
kill -KILL "${run_pid}"
wait "${run_pid}" || true
assert_eq "killed run: state" gone "$(status_field state)"
assert_eq "killed run: exit" 1 "$(status_exit)"
assert_contains "killed run: text" "killed or crashed" "$("${hayate}" status "${out}" || true)"
# The rerun finishes the campaign; the report has both runs.
run_hayate rerun run "${dir}/k/job.toml" --out "${out}"
assert_eq "rerun exit" 0 "${HAYATE_EXIT}"
assert_eq "rerun: run number" 2 "$(status_field run)"
run_hayate report report "${out}" --to "${dir}/k-report.html"
assert_eq "report exit" 0 "${HAYATE_EXIT}"
assert_eq "report names its file" "${dir}/k-report.html" "$(cat "${dir}/report.out")"
[[ -s "${dir}/k-report.html" ]] || fail "hayate report wrote nothing"

# A run stopped by SIGTERM: not done, nothing running: exit 4.
cp -r "${dir}/c" "${dir}/s"
rm -rf "${dir}/s/out"
out="${dir}/s/out"
"${hayate}" run "${dir}/s/job.toml" --out "${out}" 2>"${dir}/stopped.err" </dev/null &
run_pid=$!
wait_until_eq "stopped run: status running" running 20 status_field state
kill -TERM "${run_pid}"
set +e
timeout 30 tail --pid="${run_pid}" -f /dev/null
wait "${run_pid}"
set -e
assert_eq "stopped run: state" stopped "$(status_field state)"
assert_eq "stopped run: exit" 4 "$(status_exit)"

# Usage and missing directories.
run_hayate no_args status
assert_eq "status without a directory" 64 "${HAYATE_EXIT}"
run_hayate missing status "${dir}/nowhere"
assert_eq "status of a missing directory" 66 "${HAYATE_EXIT}"
mkdir -p "${dir}/empty"
run_hayate empty status "${dir}/empty"
assert_eq "status of a directory without a run" 66 "${HAYATE_EXIT}"
run_hayate empty_report report "${dir}/empty"
assert_eq "report of a directory without a run" 66 "${HAYATE_EXIT}"
