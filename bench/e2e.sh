#!/usr/bin/env bash
# End-to-end throughput on loopback, every system measured in the same run against a sink
# started fresh for it:
#   1. Postfix smtp-source -d -s 32 -m N -l 2000  ->  Postfix smtp-sink
#   2. hayate, N personalized ~2 KB messages to 1,000 domains routed there  ->  smtp-sink
#   3. smtp-source  ->  hayate-sink
#   4. hayate  ->  hayate-sink
#   5. hayate --no-journal  ->  hayate-sink (what the crash-safe journal costs)
#   6. bench/yardstick (the bare pipelining protocol, no hayate code) -> each sink, and hayate
#      and the yardstick again with ~100 KB bodies (N/10 messages, E2E_COUNT_100K to change):
#      hayate / yardstick in the same run says how close hayate is to the protocol's own cost
# Prints one TSV line per run (messages, seconds, msgs/s, sender CPU seconds, sender peak RSS,
# sink CPU seconds, messages per sink CPU second) and the ratios. Usage: bench/e2e.sh [N] (default 100000). Needs a built tree (scripts/build.sh).
# E2E_JOURNAL_ROUNDS=5 repeats the journal on/off pair, alternating, and compares medians.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
count=${1:-100000}
bin=${HAYATE_BUILD_DIR:-$root/build}/bin
count_100k=${E2E_COUNT_100K:-$((count / 10))}
for tool in "$bin/hayate" "$bin/hayate-sink" "$bin/yardstick" /usr/sbin/smtp-sink /usr/sbin/smtp-source; do
  [[ -x $tool ]] || { echo "e2e: $tool is missing (scripts/build.sh, scripts/install-deps.sh)" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/hayate-e2e.XXXXXX")
export HAYATE_STATE_DIR="$work/state"  # its own suppression list and warm-up counts
chmod 0755 "$work"
sink_pid=""
cleanup() {
  [[ -n $sink_pid ]] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

/usr/bin/python3 - "$work" "$count" "$port" "$count_100k" <<'PY'
import sys
work, count, port, count_100k = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
with open(f"{work}/recipients.csv", "w") as f:
    f.write("email,first_name,city,plan\n")
    for i in range(count):
        f.write(f"user{i}@domain{i % 1000}.example,Name{i},City{i % 50},gold\n")
with open(f"{work}/recipients-100k.csv", "w") as f:
    f.write("email,first_name,city,plan\n")
    for i in range(count_100k):
        f.write(f"user{i}@domain{i % 1000}.example,Name{i},City{i % 50},gold\n")
paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n"
open(f"{work}/body.txt", "w").write(
    "Hello {{first_name}} from {{city}}, your plan is {{plan}}.\n\n" + paragraph * 22)
open(f"{work}/body-100k.txt", "w").write(
    "Hello {{first_name}} from {{city}}, your plan is {{plan}}.\n\n" + paragraph * 1240)
for name, csv, body in (("job", "recipients.csv", "body.txt"),
                        ("job-100k", "recipients-100k.csv", "body-100k.txt")):
  open(f"{work}/{name}.toml", "w").write(f'''[campaign]
id = "bench"
recipients = "{csv}"
from = "Bench <bench@example.com>"
subject = "Hello {{{{first_name}}}}"
text = "{body}"
[delivery]
helo = "bench.example.com"
connections_max = 2000
connections_per_domain = 20
messages_per_connection = 1000
[routes]
"*" = "127.0.0.1:{port}"
''')
PY

wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "e2e: sink did not start on port $port" >&2
  exit 1
}
start_sink() {  # start_sink smtp-sink|hayate-sink
  if [[ $1 == smtp-sink ]]; then
    /usr/sbin/smtp-sink -u nobody -c "127.0.0.1:$port" 5000 >"$work/sink.out" 2>&1 &
  else
    "$bin/hayate-sink" --listen "127.0.0.1:$port" --stats-file "$work/sink.json" \
      2>"$work/sink.out" &
  fi
  sink_pid=$!
  wait_port
}
stop_sink() {
  # The sink's own CPU time (user + system, clock ticks) before it goes.
  sink_cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$sink_pid/stat")
  kill "$sink_pid" 2>/dev/null || true
  wait "$sink_pid" 2>/dev/null || true
  sink_pid=""
}

declare -A rate sink_rate cpu cpu_us
printf 'system\tsink\tmessages\tseconds\tmsgs_per_s\tsender_cpu_s\tsender_cpu_us_per_msg\tsender_peak_rss_kb\tsink_cpu_s\tsink_msgs_per_cpu_s\n'
# run SENDER SINK [100k]: SENDER is smtp-source, hayate, hayate-nojournal or yardstick; with
# 100k, ~100 KB bodies (count_100k messages), and the results are keyed SENDER.SINK.100k.
run() {
  local sender=$1 sink=$2 size=${3:-} n=$count job=job key="$1.$2"
  if [[ $size == 100k ]]; then n=$count_100k job=job-100k key="$1.$2.100k"; fi
  start_sink "$sink"
  rm -rf "$work/out"
  if [[ $sender == smtp-source ]]; then
    /usr/bin/time -o "$work/time" -f '%e %U %S %M' \
      /usr/sbin/smtp-source -d -s 32 -m "$n" -l 2000 "127.0.0.1:$port" >/dev/null
  elif [[ $sender == yardstick ]]; then
    local body_bytes=2000
    [[ $size == 100k ]] && body_bytes=100000
    /usr/bin/time -o "$work/time" -f '%e %U %S %M' \
      "$bin/yardstick" --port "$port" --connections 32 --messages "$n" \
      --body-bytes "$body_bytes" --domains 200 >/dev/null
  else
    local -a extra=()
    [[ $sender == hayate-nojournal ]] && extra=(--no-journal)
    /usr/bin/time -o "$work/time" -f '%e %U %S %M' \
      "$bin/hayate" run "$work/$job.toml" --out "$work/out" --quiet "${extra[@]}"
  fi
  stop_sink
  read -r seconds user system rss <"$work/time"
  rate[$key]=$(awk -v n="$n" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')
  sink_rate[$key]=$(awk -v n="$n" -v c="$sink_cpu" 'BEGIN { printf "%.0f", (c > 0 ? n / c : 0) }')
  cpu[$key]=$(awk -v u="$user" -v s="$system" 'BEGIN { print u + s }')
  cpu_us[$key]=$(awk -v c="${cpu[$key]}" -v n="$n" 'BEGIN { printf "%.1f", c * 1e6 / n }')
  printf '%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\n' "$sender" "$sink${size:+ ($size)}" "$n" \
    "$seconds" "${rate[$key]}" "${cpu[$key]}" "${cpu_us[$key]}" "$rss" "$sink_cpu" \
    "${sink_rate[$key]}"
  if [[ $sender == hayate* ]]; then
    delivered=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["delivered"])' "$work/out/summary.json")
    [[ $delivered == "$n" ]] || echo "e2e: hayate delivered $delivered of $n" >&2
  fi
}
run smtp-source smtp-sink
run hayate smtp-sink
run smtp-source hayate-sink
run hayate hayate-sink
run hayate-nojournal hayate-sink
run yardstick smtp-sink
run yardstick hayate-sink
run hayate hayate-sink 100k
run yardstick hayate-sink 100k
run hayate smtp-sink 100k
run yardstick smtp-sink 100k
# E2E_JOURNAL_ROUNDS=N (default 1): N more runs of each, alternating, and the journal ratio of
# the medians (rate and sender CPU per message) — a shared machine's noise hits both alike.
journal_rounds=${E2E_JOURNAL_ROUNDS:-1}
journal_rates=("${rate[hayate.hayate-sink]}") nojournal_rates=("${rate[hayate-nojournal.hayate-sink]}")
journal_cpu=("${cpu[hayate.hayate-sink]}") nojournal_cpu=("${cpu[hayate-nojournal.hayate-sink]}")
for ((round = 1; round < journal_rounds; round++)); do
  run hayate-nojournal hayate-sink
  nojournal_rates+=("${rate[hayate-nojournal.hayate-sink]}")
  nojournal_cpu+=("${cpu[hayate-nojournal.hayate-sink]}")
  run hayate hayate-sink
  journal_rates+=("${rate[hayate.hayate-sink]}")
  journal_cpu+=("${cpu[hayate.hayate-sink]}")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
if ((journal_rounds > 1)); then
  printf 'median\thayate with journal: %s msgs/s, %s CPU s; without: %s msgs/s, %s CPU s (%s rounds)\n' \
    "$(median "${journal_rates[@]}")" "$(median "${journal_cpu[@]}")" \
    "$(median "${nojournal_rates[@]}")" "$(median "${nojournal_cpu[@]}")" "$journal_rounds"
  rate[hayate.hayate-sink]=$(median "${journal_rates[@]}")
  rate[hayate-nojournal.hayate-sink]=$(median "${nojournal_rates[@]}")
  printf 'ratio\thayate CPU per message without journal / with, medians\t%s\n' \
    "$(awk -v a="$(median "${nojournal_cpu[@]}")" -v b="$(median "${journal_cpu[@]}")" 'BEGIN { printf "%.2f", a / b }')"
fi
ratio() { awk -v a="${rate[$1]}" -v b="${rate[$2]}" 'BEGIN { printf "%.2f", a / b }'; }
sink_ratio() { awk -v a="${sink_rate[$1]}" -v b="${sink_rate[$2]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
printf 'ratio\thayate/smtp-source into smtp-sink\t%s\n' "$(ratio hayate.smtp-sink smtp-source.smtp-sink)"
cpu_ratio() { awk -v a="${cpu_us[$1]}" -v b="${cpu_us[$2]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
for target in hayate-sink smtp-sink; do
  for size in "" .100k; do
    printf 'ratio\thayate/yardstick into %s%s: msgs/s %s, CPU per message %s (%s vs %s us)\n' \
      "$target" "${size:+ (100 KB)}" "$(ratio "hayate.$target$size" "yardstick.$target$size")" \
      "$(cpu_ratio "hayate.$target$size" "yardstick.$target$size")" \
      "${cpu_us[hayate.$target$size]}" "${cpu_us[yardstick.$target$size]}"
  done
done
printf 'ratio\thayate with journal / without, into hayate-sink\t%s\n' \
  "$(ratio hayate.hayate-sink hayate-nojournal.hayate-sink)"
printf 'ratio\thayate-sink/smtp-sink fed by smtp-source\t%s\n' "$(ratio smtp-source.hayate-sink smtp-source.smtp-sink)"
printf 'ratio\thayate-sink/smtp-sink fed by hayate\t%s\n' "$(ratio hayate.hayate-sink hayate.smtp-sink)"
# On two shared cores the sender limits what a sink can show; messages per sink CPU second
# is the sink's own capacity.
printf 'ratio\thayate-sink/smtp-sink messages per sink CPU second (fed by hayate)\t%s\n' \
  "$(sink_ratio hayate.hayate-sink hayate.smtp-sink)"
