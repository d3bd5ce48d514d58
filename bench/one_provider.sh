#!/usr/bin/env bash
# One provider on every core: a campaign that is all gmail.com (a named destination, spread over
# the shards by address), routed to hayate-sink on loopback.
#   1. Its limits lifted (the shipped gmail rules cap connections): N recipients with
#      shards = 1 and shards = 2, alternating, ONE_PROVIDER_ROUNDS rounds (default 3); prints
#      each run's msgs/s and the ratio of the medians, 2 shards / 1.
#   2. A configured rate = "6000/min" (100 a second, for the two shards together): 3,000
#      recipients, the delivered rate measured from the sink's replies as deliveries.jsonl
#      logs them (last minus first), against the 100/s asked.
# The machine's 2 cores also run the sink: the ratio is what the whole machine gives.
# Usage: bench/one_provider.sh [N] (default 200000). Environment: HAYATE_BUILD_DIR.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
count=${1:-200000}
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/one_provider.sh [N]" >&2; exit 64; }
rounds=${ONE_PROVIDER_ROUNDS:-3}
bin=${HAYATE_BUILD_DIR:-$root/build}/bin
python=/usr/bin/python3
for tool in "$bin/hayate" "$bin/hayate-sink" "$python"; do
  [[ -x $tool ]] || { echo "one_provider: $tool is missing (scripts/build.sh)" >&2; exit 69; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/hayate-one-provider.XXXXXX")
export HAYATE_STATE_DIR="$work/state"  # its own suppression list and warm-up counts
sink_pid=""
cleanup() {
  [[ -n $sink_pid ]] && { kill "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
port=$("$python" -c \
  'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/hayate-sink" --listen "127.0.0.1:$port" 2>"$work/sink.err" &
sink_pid=$!
for _ in $(seq 1 500); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.01
done

# campaign DIR ROWS SHARDS RULES: a gmail.com campaign with its rules file.
campaign() {
  mkdir -p "$1"
  "$python" -c '
import sys
rows = int(sys.argv[1])
with open(sys.argv[2], "w") as out:
    out.write("email,first_name\n")
    for i in range(rows):
        out.write(f"reader{i}@gmail.com,Reader {i}\n")' "$2" "$1/recipients.csv"
  printf 'Hello {{first_name}},\n%s\n' "$(head -c 1500 /dev/zero | tr '\0' 'x')" >"$1/body.txt"
  printf '%s\n' "$4" >"$1/rules.toml"
  cat >"$1/job.toml" <<TOML
[campaign]
id = "one-provider"
recipients = "recipients.csv"
from = "News <news@example.com>"
subject = "Hi {{first_name}}"
text = "body.txt"
[delivery]
helo = "bench.hayate.test"
shards = $3
connections_max = 64
connections_per_domain = 64
retry_schedule = []
[routes]
"*" = { host = "127.0.0.1", port = $port, tls = "disabled" }
[shaping]
rules = "rules.toml"
[suppression]
enabled = false
TOML
}
unlimited='[destination.gmail]
connections_max = 64
messages_per_connection = 10000
rate = "1000000/s"'

rate_of() { "$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages_per_second"])' "$1"; }
declare -a one=() two=()
for round in $(seq 1 "$rounds"); do
  for shards in 1 2; do
    dir="$work/r$round-s$shards"
    campaign "$dir" "$count" "$shards" "$unlimited"
    "$bin/hayate" run "$dir/job.toml" --out "$dir/out" --quiet --no-journal
    rate=$(rate_of "$dir/out/summary.json")
    echo "one_provider: round $round, shards=$shards: $rate msgs/s"
    if ((shards == 1)); then one+=("$rate"); else two+=("$rate"); fi
    rm -rf "$dir"
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
m1=$(median "${one[@]}")
m2=$(median "${two[@]}")
echo "one_provider: all gmail.com, medians: 1 shard $m1 msgs/s, 2 shards $m2 msgs/s," \
  "ratio $("$python" -c "import sys; print(f'{float(sys.argv[2]) / float(sys.argv[1]):.2f}')" "$m1" "$m2")"

dir="$work/paced"
campaign "$dir" 3000 2 '[destination.gmail]
connections_max = 64
messages_per_connection = 10000
rate = "6000/min"'
"$bin/hayate" run "$dir/job.toml" --out "$dir/out" --quiet --no-journal
"$python" - "$dir/out/deliveries.jsonl" <<'PY'
import datetime, json, sys
times = sorted(datetime.datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp()
               for r in map(json.loads, open(sys.argv[1])) if r["type"] == "delivered")
rate = (len(times) - 1) / (times[-1] - times[0])
print(f"one_provider: rate = \"6000/min\" on 2 shards: {len(times)} delivered at {rate:.1f}/s "
      f"(asked 100/s: {rate / 100:.3f}x)")
PY
