#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# hayate-gen end to end: the campaign it writes is deterministic, has unique addresses, passes
# `hayate check`, and runs into hayate-sink with exactly the outcomes its expected.json names,
# with and without fault rows.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
gen="$(require_bin hayate-gen)"
require_bin hayate >/dev/null
dir="${HAYATE_TEST_DIR}"
read -r port < <(free_port 1)

# --- Usage: sysexits codes and a help text with an example.
set +e
"${gen}" --recipients 10 >/dev/null 2>&1
assert_eq "no --out: usage error" 64 "$?"
"${gen}" --recipients 0 --out "${dir}/never" >/dev/null 2>&1
assert_eq "zero recipients: usage error" 64 "$?"
"${gen}" --route '127.0.0.1:2525"' --out "${dir}/never" >/dev/null 2>&1
assert_eq "route that would break the TOML: usage error" 64 "$?"
"${gen}" --out /proc/hayate-gen-cannot-create >/dev/null 2>&1
assert_eq "directory that cannot be made: cant-create" 73 "$?"
help="$("${gen}" --help)"
assert_eq "--help exit code" 0 "$?"
set -e
assert_contains "--help example" "hayate-gen --recipients 10000000 --domains 1000" "${help}"
[[ ! -e "${dir}/never" ]] || fail "a refused run created its --out directory"

# --- 10,000 rows over 1,000 domains.
"${gen}" --recipients 10000 --domains 1000 --out "${dir}/gen" --route "127.0.0.1:${port}"
for file in recipients.csv body.txt body.html job.toml expected.json; do
  [[ -s "${dir}/gen/${file}" ]] || fail "hayate-gen wrote no ${file}"
done
[[ -z "$(find "${dir}/gen" -name '*.tmp')" ]] || fail "temporary files left behind"
assert_eq "header" "email,first_name,city,plan" "$(head -n 1 "${dir}/gen/recipients.csv")"
assert_eq "rows" 10001 "$(wc -l <"${dir}/gen/recipients.csv")"
assert_eq "first row" "grace.lee0@domain0.example,Grace,\"Washington, D.C.\",basic" \
  "$(sed -n 2p "${dir}/gen/recipients.csv")"
# Field 1 only: no row has a comma or quote before the first separator.
assert_eq "distinct addresses" 10000 \
  "$(tail -n +2 "${dir}/gen/recipients.csv" | cut -d, -f1 | sort -u | wc -l)"
assert_eq "distinct domains" 1000 \
  "$(tail -n +2 "${dir}/gen/recipients.csv" | cut -d, -f1 | cut -d@ -f2 | sort -u | wc -l)"
assert_contains "route" "\"*\" = \"127.0.0.1:${port}\"" "$(cat "${dir}/gen/job.toml")"
assert_eq "expected delivered" 10000 "$(json_get "${dir}/gen/expected.json" delivered)"

# Deterministic: the same options give the same bytes; another seed changes the rows.
"${gen}" --recipients 10000 --domains 1000 --out "${dir}/again" --route "127.0.0.1:${port}" \
  2>/dev/null
for file in recipients.csv body.txt body.html job.toml expected.json; do
  cmp -s "${dir}/gen/${file}" "${dir}/again/${file}" || fail "${file} differs between two runs"
done
assert_eq "same options, same files" ok ok
"${gen}" --recipients 10000 --domains 1000 --out "${dir}/seed2" --seed 2 2>/dev/null
if cmp -s "${dir}/gen/recipients.csv" "${dir}/seed2/recipients.csv"; then
  fail "--seed 2 wrote the same recipients as seed 1"
fi
assert_eq "another seed, other rows" ok ok

run_hayate check check "${dir}/gen/job.toml"
assert_eq "check exit code" 0 "${HAYATE_EXIT}"
assert_contains "check output" "10000 recipients in 1000 domains, 0 rows rejected" \
  "$(cat "${dir}/check.out")"

# Zipf: hayate agrees with expected.json on how many domains the draw reached.
"${gen}" --recipients 10000 --domains 5000 --distribution zipf --out "${dir}/zipf" 2>/dev/null
run_hayate check-zipf check "${dir}/zipf/job.toml"
assert_eq "check zipf exit code" 0 "${HAYATE_EXIT}"
assert_contains "zipf domains" \
  "10000 recipients in $(json_get "${dir}/zipf/expected.json" domains) domains" \
  "$(cat "${dir}/check-zipf.out")"
# awk reads to the end: `head -n 1` would close the pipe early, and with pipefail the
# SIGPIPE that sort may then get fails the test at random.
top="$(tail -n +2 "${dir}/zipf/recipients.csv" | cut -d, -f1 | cut -d@ -f2 | sort | uniq -c |
  sort -rn | awk 'NR == 1')"
# Weight 1/1 of H(5000) ~ 9.09: about 1,100 of 10,000 rows on domain0.
[[ "${top}" =~ ^\ *([0-9]+)\ domain0\.example$ ]] || fail "zipf: top domain is not domain0: ${top}"
((BASH_REMATCH[1] > 900 && BASH_REMATCH[1] < 1300)) ||
  fail "zipf: domain0 has ${BASH_REMATCH[1]} rows, expected about 1100"
assert_eq "zipf top domain" ok ok

# --- The campaign into hayate-sink: every row delivered, once.
start_hayate_sink "${port}" --stats-file "${dir}/sink.json"
sink_pid="${HAYATE_LAST_PID}"
run_hayate run run "${dir}/gen/job.toml" --out "${dir}/out" --quiet
assert_eq "run exit code" 0 "${HAYATE_EXIT}"
assert_eq delivered 10000 "$(json_get "${dir}/out/summary.json" delivered)"
assert_eq bounced 0 "$(json_get "${dir}/out/summary.json" bounced)"
assert_eq deferred 0 "$(json_get "${dir}/out/summary.json" deferred)"
assert_eq rejected 0 "$(json_get "${dir}/out/summary.json" rejected)"
assert_eq "deliveries.jsonl lines" 10000 "$(wc -l <"${dir}/out/deliveries.jsonl")"
stop_process "${sink_pid}"
assert_eq "sink messages" 10000 "$(json_get "${dir}/sink.json" messages)"

# --- Fault rows: every 100th row in turn tempfail-, bounce-, flaky-; counts as expected.json.
"${gen}" --recipients 3000 --domains 50 --fault-every 100 --out "${dir}/faults" \
  --route "127.0.0.1:${port}" 2>/dev/null
expected="${dir}/faults/expected.json"
assert_eq "expected delivered with faults" 2980 "$(json_get "${expected}" delivered)"
assert_eq "tempfail rows" 10 "$(grep -c '^tempfail-' "${dir}/faults/recipients.csv")"
assert_eq "bounce rows" 10 "$(grep -c '^bounce-' "${dir}/faults/recipients.csv")"
assert_eq "flaky rows" 10 "$(grep -c '^flaky-' "${dir}/faults/recipients.csv")"
assert_eq "first fault row" "tempfail-" "$(sed -n 101p "${dir}/faults/recipients.csv" | cut -c1-9)"
start_hayate_sink "${port}" --stats-file "${dir}/sink-faults.json"
sink_pid="${HAYATE_LAST_PID}"
run_hayate faults run "${dir}/faults/job.toml" --out "${dir}/faults-out" --quiet
summary="${dir}/faults-out/summary.json"
assert_eq "faults exit code" "$(json_get "${expected}" exit_code)" "${HAYATE_EXIT}"
for outcome in delivered bounced deferred rejected; do
  assert_eq "faults ${outcome}" "$(json_get "${expected}" "${outcome}")" \
    "$(json_get "${summary}" "${outcome}")"
done
stop_process "${sink_pid}"
assert_eq "faults sink messages" 2980 "$(json_get "${dir}/sink-faults.json" messages)"
assert_eq "faults sink flaky first refusals" 10 "$(json_get "${dir}/sink-faults.json" rcpt_flaky)"
