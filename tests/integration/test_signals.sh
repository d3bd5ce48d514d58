#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# SIGTERM drains (transactions in flight finish, nothing new starts, exit 75, summary written);
# a second signal stops at once, still with a consistent summary and log.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
read -r port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"
# Every RCPT reply is held 2 s: a run of 100 over 2 connections would take 100 s.
start_hayate_sink "${port}" --slow-ms 2000 --stats-file "${dir}/sink.json" --stats-interval
sink_pid="${HAYATE_LAST_PID}"
csv="email,first_name"
for i in $(seq 1 100); do csv+=$'\n'"slow-${i}@s.test,S${i}"; done
write_campaign "${dir}/drain" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 2
shards = 1
[routes]
\"*\" = \"127.0.0.1:${port}\""
cp -r "${dir}/drain" "${dir}/now"
cp -r "${dir}/drain" "${dir}/lock"
cp -r "${dir}/drain" "${dir}/hup"

# rcpt_count: RCPT commands the sink has seen, answered or held (its stats, every second).
rcpt_count() {
  "${HAYATE_PYTHON}" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["rcpt_slow"])' \
    "${dir}/sink.json" 2>/dev/null || echo 0
}

# run_and_signal NAME SIGNALS...: starts a run, waits until two RCPTs more than before are
# held by the sink (both connections mid-transaction), sends the signals, waits for the end.
run_and_signal() {
  local name="$1" started before
  shift
  before="$(rcpt_count)"
  "${hayate}" run "${dir}/${name}/job.toml" --out "${dir}/${name}/out" \
    2>"${dir}/${name}.err" </dev/null &
  local pid=$!
  wait_until_eq "${name}: two transactions in flight" yes 10 \
    bash -c "(( \$(${HAYATE_PYTHON} -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"rcpt_slow\"])' ${dir}/sink.json 2>/dev/null || echo 0) >= ${before} + 2 )) && echo yes || echo no"
  started=${SECONDS}
  for signal in "$@"; do
    kill -s "${signal}" "${pid}"
    sleep 0.2
  done
  set +e
  timeout 30 tail --pid="${pid}" -f /dev/null
  wait "${pid}"
  HAYATE_EXIT=$?
  set -e
  HAYATE_ELAPSED=$((SECONDS - started))
  cat "${dir}/${name}.err" >&2
}

run_and_signal drain TERM
assert_eq "drain: exit" 75 "${HAYATE_EXIT}"
summary="${dir}/drain/out/summary.json"
assert_eq "drain: stopped by signal" true "$(json_get "${summary}" stopped_by_signal)"
assert_eq "drain: the two transactions in flight finished" 2 "$(json_get "${summary}" delivered)"
assert_eq "drain: nothing else attempted" 0 "$(json_get "${summary}" deferred)"
assert_eq "drain: log lines" 2 "$(wc -l <"${dir}/drain/out/deliveries.jsonl")"
assert_contains "drain: said so" "finishing the transactions in flight" "$(cat "${dir}/drain.err")"

run_and_signal now TERM INT
assert_eq "now: exit" 75 "${HAYATE_EXIT}"
summary="${dir}/now/out/summary.json"
assert_eq "now: nothing delivered" 0 "$(json_get "${summary}" delivered)"
((HAYATE_ELAPSED <= 2)) || fail "now: took ${HAYATE_ELAPSED} s after the signals"
assert_contains "now: in-flight recipients deferred, not lost" '"reply":"stopped by a signal"' \
  "$(cat "${dir}/now/out/deliveries.jsonl")"
# SIGHUP reopens the logs (logrotate): moved away mid-run, the outcomes that follow go to a
# new deliveries.jsonl, and a new accounting.csv that starts with its header line.
before="$(rcpt_count)"
"${hayate}" run "${dir}/hup/job.toml" --out "${dir}/hup/out" 2>"${dir}/hup.err" </dev/null &
hup_pid=$!
wait_until_eq "hup: two transactions in flight" yes 10 \
  bash -c "(( \$(${HAYATE_PYTHON} -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"rcpt_slow\"])' ${dir}/sink.json 2>/dev/null || echo 0) >= ${before} + 2 )) && echo yes || echo no"
mv "${dir}/hup/out/deliveries.jsonl" "${dir}/hup/out/deliveries.jsonl.1"
mv "${dir}/hup/out/accounting.csv" "${dir}/hup/out/accounting.csv.1"
kill -HUP "${hup_pid}"
sleep 0.2
kill -TERM "${hup_pid}"
wait "${hup_pid}" || true
assert_eq "hup: the in-flight outcomes went to the new file" 2 \
  "$(wc -l <"${dir}/hup/out/deliveries.jsonl")"
assert_eq "hup: nothing in the rotated file" 0 "$(wc -l <"${dir}/hup/out/deliveries.jsonl.1")"
assert_eq "hup: the new accounting.csv starts with the header" \
  "$(head -1 "${dir}/hup/out/accounting.csv.1")" "$(head -1 "${dir}/hup/out/accounting.csv")"
assert_eq "hup: then the in-flight rows" 3 "$(wc -l <"${dir}/hup/out/accounting.csv")"

# The campaign lock: while a run goes on, a second one into the same output sends nothing.
before="$(rcpt_count)"
"${hayate}" run "${dir}/lock/job.toml" --out "${dir}/lock/out" 2>"${dir}/lock.err" </dev/null &
first=$!
wait_until_eq "lock: first run sending" yes 10 \
  bash -c "(( \$(${HAYATE_PYTHON} -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"rcpt_slow\"])' ${dir}/sink.json 2>/dev/null || echo 0) >= ${before} + 2 )) && echo yes || echo no"
run_hayate second run "${dir}/lock/job.toml" --out "${dir}/lock/out"
assert_eq "lock: second run exit" 75 "${HAYATE_EXIT}"
assert_contains "lock: says why" "another run of this campaign is going on" \
  "$(cat "${dir}/second.err")"
kill -TERM "${first}"
sleep 0.2
kill -TERM "${first}"
wait "${first}" || true

stop_process "${sink_pid}"
assert_eq "sink messages (the drained and the hup runs' two each)" 4 \
  "$(json_get "${dir}/sink.json" messages)"
