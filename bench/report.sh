#!/usr/bin/env bash
# The campaign report at scale: N recipients (default 1,000,000) over 1,000 domains (Zipf, a
# fault every 1,000th row: bounces, deferrals, retries) sent by hayate into hayate-sink on
# loopback; then the size of report.html and status.json, and the time `hayate report` takes
# to draw the page again (the median of 5). The report is drawn from what the run aggregated
# (runs.jsonl, status.json), never from deliveries.jsonl: its size and time must not grow with
# the recipients. Prints one line per figure.
#
# Usage: bench/report.sh [N]
# Environment: HAYATE_BUILD_DIR (default build), REPORT_DIR (where the files go, default
# $TMPDIR or /tmp; about 450 bytes a recipient while it runs, deleted at the end).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
count=${1:-1000000}
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/report.sh [N]" >&2; exit 64; }
bin=${HAYATE_BUILD_DIR:-$root/build}/bin
python=/usr/bin/python3
for tool in "$bin/hayate" "$bin/hayate-sink" "$bin/hayate-gen" "$python"; do
  [[ -x $tool ]] || { echo "report: $tool is missing (scripts/build.sh)" >&2; exit 69; }
done
work=$(mktemp -d "${REPORT_DIR:-${TMPDIR:-/tmp}}/hayate-report.XXXXXX")
export HAYATE_STATE_DIR="$work/state"  # its own suppression list and warm-up counts
sink_pid=""
cleanup() {
  [[ -n $sink_pid ]] && { kill "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

port=$("$python" -c \
  'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/hayate-gen" --recipients "$count" --domains 1000 --distribution zipf --fault-every 1000 \
  --out "$work/gen" --route "127.0.0.1:$port" 2>"$work/gen.err"
# Retries a second apart, and a deadline that ends the run soon after the last first attempt.
sed -i 's/^retry_schedule = .*$//; s/^deadline = .*$//' "$work/gen/job.toml"
sed -i 's/^\[delivery\]$/[delivery]\nretry_schedule = ["1s"]\ndeadline = "5s"/' "$work/gen/job.toml"
printf '\n[suppression]\nenabled = false\n' >>"$work/gen/job.toml"
"$bin/hayate-sink" --listen "127.0.0.1:$port" 2>"$work/sink.err" &
sink_pid=$!
for _ in $(seq 1 500); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.01
done

start=${EPOCHREALTIME}
set +e
timeout 900 "$bin/hayate" run "$work/gen/job.toml" --out "$work/out" --quiet 2>"$work/run.err"
code=$?
set -e
run_s=$("$python" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" \
  "$start" "${EPOCHREALTIME}")
if ((code != 0 && code != 75)); then
  cat "$work/run.err" >&2
  echo "report: the run failed with exit $code" >&2
  exit 1
fi
times=()
for _ in 1 2 3 4 5; do
  t0=${EPOCHREALTIME}
  "$bin/hayate" report "$work/out" >/dev/null
  times+=("$("$python" -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" \
    "$t0" "${EPOCHREALTIME}")")
done
median_ms=$(printf '%s\n' "${times[@]}" | sort -g | sed -n 3p |
  "$python" -c "import sys; print(f'{float(sys.stdin.read()) * 1000:.1f}')")
summary=$("$python" -c '
import json, sys
s = json.load(open(sys.argv[1]))
rate = s["messages_per_second"]
print("%d delivered, %d bounced, %d deferred, %.0f msgs/s, exit %d" % (
    s["delivered"], s["bounced"], s["deferred"], rate, s["exit_code"]))' "$work/out/summary.json")
echo "report: $count recipients in ${run_s} s: $summary"
echo "report: deliveries.jsonl $(stat -c %s "$work/out/deliveries.jsonl") bytes (not read)"
echo "report: status.json $(stat -c %s "$work/out/status.json") bytes," \
  "runs.jsonl $(stat -c %s "$work/out/runs.jsonl") bytes"
echo "report: report.html $(stat -c %s "$work/out/report.html") bytes; hayate report" \
  "${median_ms} ms (median of 5)"
