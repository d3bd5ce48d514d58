#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# --metrics-listen while a run is under way: /metrics shows the totals, the per-destination
# series and the journal's write latency before the run ends, and the same counts as the
# summary once it has.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
read -r sink_port metrics_port < <(free_port 2)
dir="${HAYATE_TEST_DIR}"
# Every RCPT to slow-* is held 50 ms: 60 recipients over 2 connections take about 1.5 s.
start_hayate_sink "${sink_port}" --slow-ms 50
csv="email,first_name"
for i in $(seq 1 40); do csv+=$'\n'"slow-${i}@big.test,U${i}"; done
for i in $(seq 1 20); do csv+=$'\n'"slow-${i}@small.test,U${i}"; done
write_campaign "${dir}/live" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 1
shards = 1
[routes]
\"*\" = \"127.0.0.1:${sink_port}\""

"${hayate}" run "${dir}/live/job.toml" --out "${dir}/live/out" \
  --metrics-listen "127.0.0.1:${metrics_port}" 2>"${dir}/live.err" </dev/null &
pid=$!

# scrape: the body of /metrics, or nothing while the server is not up.
scrape() {
  "${HAYATE_PYTHON}" - "${metrics_port}" <<'PY' 2>/dev/null || true
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=2) as reply:
    sys.stdout.write(reply.read().decode())
PY
}
# series VALUE_OF NAME_AND_LABELS: the value of one series in the last scrape, or -1.
series() {
  "${HAYATE_PYTHON}" -c '
import sys
for line in open(sys.argv[1]):
    name, _, value = line.rstrip("\n").rpartition(" ")
    if name == sys.argv[2]:
        print(int(float(value))); break
else:
    print(-1)' "${dir}/scrape.txt" "$1"
}

big='hayate_destination_messages_total{campaign="integration",destination="big.test",outcome="delivered"}'
small='hayate_destination_messages_total{campaign="integration",destination="small.test",outcome="delivered"}'
mid_run=no
deadline=$((SECONDS + 20))
while ((SECONDS < deadline)) && process_alive "${pid}"; do
  scrape >"${dir}/scrape.txt"
  delivered_big=$(series "${big}")
  journal_commits=$(series 'hayate_journal_write_seconds_count{campaign="integration"}')
  if ((delivered_big > 0 && delivered_big < 40 && journal_commits > 0)) && process_alive "${pid}"
  then
    mid_run=yes
    break
  fi
  sleep 0.1
done
cp "${dir}/scrape.txt" "${dir}/scrape-mid-run.txt" 2>/dev/null || true
assert_eq "per-destination and journal series while the run goes on" yes "${mid_run}"
assert_contains "totals while running" 'hayate_messages_total{campaign="integration",outcome="delivered"}' \
  "$(cat "${dir}/scrape-mid-run.txt")"
assert_contains "open connections gauge" 'hayate_connections_open{campaign="integration"}' \
  "$(cat "${dir}/scrape-mid-run.txt")"

set +e
timeout 30 tail --pid="${pid}" -f /dev/null
wait "${pid}"
code=$?
set -e
cat "${dir}/live.err" >&2
assert_eq "exit code" 0 "${code}"
assert_eq "summary delivered" 60 "$(json_get "${dir}/live/out/summary.json" delivered)"
