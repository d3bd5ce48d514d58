#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# kill -9 in the middle of a campaign, twice, then let a rerun finish: every recipient ends up
# in the sink's Maildir, duplicates stay within what was in flight at each kill (SMTP cannot
# rule those out), and the final summary equals an uninterrupted run's.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
read -r port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"
mkdir -p "${dir}/maildir"
# Every RCPT reply is held 100 ms: 240 recipients over 4 connections take about 6 s.
start_hayate_sink "${port}" --slow-ms 100 --maildir "${dir}/maildir"
sink_pid="${HAYATE_LAST_PID}"
csv="email,first_name"
for i in $(seq 1 240); do csv+=$'\n'"slow-${i}@k$((i % 4)).test,K${i}"; done
write_campaign "${dir}/c" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 1
shards = 1
[routes]
\"*\" = \"127.0.0.1:${port}\""
in_flight_max=4  # one transaction per connection, four connections

delivered_in_maildir() { find "${dir}/maildir/new" -type f | wc -l; }

for round in 1 2; do
  before="$(delivered_in_maildir)"
  "${hayate}" run "${dir}/c/job.toml" --out "${dir}/c/out" --no-progress \
    2>>"${dir}/runs.err" </dev/null &
  pid=$!
  # Kill once this run has delivered a few dozen more messages.
  wait_until_eq "round ${round}: sending" yes 30 \
    bash -c "(( \$(find '${dir}/maildir/new' -type f | wc -l) >= ${before} + 30 )) && echo yes || echo no"
  kill -9 "${pid}"
  wait "${pid}" || true
done

run_hayate final run "${dir}/c/job.toml" --out "${dir}/c/out" --no-progress
assert_eq "final run: exit" 0 "${HAYATE_EXIT}"
summary="${dir}/c/out/summary.json"
assert_eq "all runs: delivered" 240 "$(json_get "${summary}" all_runs.delivered)"
assert_eq "all runs: deferred" 0 "$(json_get "${summary}" all_runs.deferred)"
stop_process "${sink_pid}"

"${HAYATE_PYTHON}" - "${dir}/maildir/new" "${in_flight_max}" <<'PY' || fail "Maildir check failed"
import collections, os, sys
folder, in_flight_max = sys.argv[1], int(sys.argv[2])
seen = collections.Counter()
for name in os.listdir(folder):
    for line in open(os.path.join(folder, name), "rb").read().split(b"\n\n", 1)[0].split(b"\n"):
        if line.lower().startswith(b"delivered-to:"):
            seen[line.split(b":", 1)[1].strip()] += 1
missing = [f"slow-{i}@k{i % 4}.test" for i in range(1, 241) if seen[f"slow-{i}@k{i % 4}.test".encode()] == 0]
duplicates = sum(n - 1 for n in seen.values())
print(f"distinct {len(seen)}, duplicates {duplicates}, missing {len(missing)}")
if missing:
    sys.exit(f"lost: {missing[:5]}")
# Two kills: at most what was in flight (or delivered but not yet journaled) at each.
if duplicates > 2 * 2 * in_flight_max:
    sys.exit(f"{duplicates} duplicates")
PY
assert_eq "no recipient lost; duplicates within the in-flight bound" ok ok
