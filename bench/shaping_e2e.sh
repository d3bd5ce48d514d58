#!/usr/bin/env bash
# What traffic shaping costs per message, end to end on loopback: hayate sends N personalized
# ~2 KB messages into hayate-sink (a fresh one per run), spread over 10 and over 10,000
# destination domains, three ways each:
#   routed      a "*" route to the sink. Throttles exist (one per site × source) but a route
#               to the default destination is never paced: the baseline.
#   rollup-off  every domain resolved through MX served by dnsmasq (all point at
#               mx.bulk.test -> 127.0.0.1, on the sink's port); `[shaping] rollup = false`,
#               so each domain is the default destination with its own per-site throttle.
#   rollup-on   the same MX, `rollup = true`: the MX suffix makes every domain the named
#               destination "bulk", one throttle per shard × source shared by all of them.
# The job's rules file raises both destinations' rate far above what loopback reaches (the
# shipped default paces at 100/s per source and site), so the figures show the cost of the
# shaping machinery, not a pace. Prints one TSV line per run (msgs/s, hayate CPU seconds and
# CPU µs per message, peak RSS, SMTP sessions the sink saw, dnsmasq CPU seconds) and the
# ratios to routed measured in the same run. Every run must deliver all N (summary.json);
# one that does not, or whose sink count stands still for SHAPING_STALL_S seconds (default
# 15: it is stopped with SIGTERM), is marked in the status column and the script exits 1.
# Usage: bench/shaping_e2e.sh [N] (default 200000). Environment: HAYATE_BUILD_DIR (default
# build), SHAPING_RUN_TIMEOUT_S (default 600, the most one run may take), SHAPING_RUNS (a
# subset, e.g. "10:routed 10:rollup-on"), SHAPING_KEEP=1 keeps the files. Journal off
# (--no-journal) so that the disk stays out of the comparison.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
count=${1:-200000}
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/shaping_e2e.sh [N]" >&2; exit 64; }
run_timeout_s=${SHAPING_RUN_TIMEOUT_S:-600}
stall_s=${SHAPING_STALL_S:-15}
bin=${HAYATE_BUILD_DIR:-$root/build}/bin
python=/usr/bin/python3
for tool in "$bin/hayate" "$bin/hayate-sink" /usr/sbin/dnsmasq /usr/bin/time "$python"; do
  [[ -x $tool ]] || {
    echo "shaping_e2e: $tool is missing (scripts/build.sh, scripts/install-deps.sh)" >&2
    exit 69
  }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/hayate-shaping-e2e.XXXXXX")
export HAYATE_STATE_DIR="$work/state"  # its own suppression list and warm-up counts
sink_pid=""
dns_pid=""
run_pid=""
cleanup() {
  local pid
  [[ -n $run_pid ]] && pid=$(pgrep -P "$run_pid" -x timeout) && kill "$pid" 2>/dev/null
  for pid in $run_pid $sink_pid $dns_pid; do
    kill "$pid" 2>/dev/null && { wait "$pid" 2>/dev/null || true; }
  done
  if [[ ${SHAPING_KEEP:-0} == 1 ]]; then
    echo "shaping_e2e: files kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# Two loopback ports free for TCP (the sink) and for UDP and TCP (dnsmasq).
read -r sink_port dns_port < <("$python" - <<'PY'
import socket
held, chosen = [], []
while len(chosen) < 2:
    tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); held.append(tcp)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        udp.bind(("127.0.0.1", tcp.getsockname()[1]))
    except OSError:
        continue
    held.append(udp)
    chosen.append(tcp.getsockname()[1])
print(*chosen)
PY
)

# The campaign files: one recipients list per domain count, a body, a rules file, and a job
# per (domains, mode).
"$python" - "$work" "$count" "$sink_port" "$dns_port" <<'PY'
import sys
work, count, sink_port, dns_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n"
open(f"{work}/body.txt", "w").write(
    "Hello {{first_name}} from {{city}}, your plan is {{plan}}.\n\n" + paragraph * 22)
# Both destinations far above loopback speed, so that pacing never limits a run.
open(f"{work}/shaping.toml", "w").write('''[destination.default]
rate = "1000000/s"

[destination.bulk]
mx = ["bulk.test"]
rate = "1000000/s"
connections_max = 64
''')
with open(f"{work}/dnsmasq.conf", "w") as conf:
    conf.write("host-record=mx.bulk.test,127.0.0.1\n")
    for k in range(10000):
        conf.write(f"mx-host=d{k}.shaping.test,mx.bulk.test,10\n")
for domains in (10, 10000):
    with open(f"{work}/recipients-{domains}.csv", "w") as f:
        f.write("email,first_name,city,plan\n")
        for i in range(count):
            f.write(f"user{i}@d{i % domains}.shaping.test,Name{i},City{i % 50},gold\n")
    for mode in ("routed", "rollup-off", "rollup-on"):
        # Routed: the route. Else MX from dnsmasq, every MX host reached on the sink's port.
        where = (f'[routes]\n"*" = "127.0.0.1:{sink_port}"\n' if mode == "routed" else
                 f'[dns]\nservers = ["127.0.0.1:{dns_port}"]\n')
        job = f'''[campaign]
id = "shaping-bench"
recipients = "recipients-{domains}.csv"
from = "Bench <bench@example.com>"
subject = "Hello {{{{first_name}}}}"
text = "body.txt"
[delivery]
helo = "bench.example.com"
connections_max = 2000
connections_per_domain = 64
messages_per_connection = 1000
port = {sink_port}
retry_schedule = []
deadline = "10m"
[shaping]
rules = "shaping.toml"
rollup = {"false" if mode == "rollup-off" else "true"}
warmup_state = "warmup-{domains}-{mode}.state"
{where}'''
        open(f"{work}/job-{domains}-{mode}.toml", "w").write(job)
PY

# dnsmasq: only what the generated file says, no upstream, no /etc/hosts.
/usr/sbin/dnsmasq --no-daemon --conf-file="$work/dnsmasq.conf" --no-resolv --no-hosts \
  --no-poll --port="$dns_port" --listen-address=127.0.0.1 --bind-interfaces --pid-file= \
  2>"$work/dnsmasq.err" &
dns_pid=$!
# Ready when it answers an MX query (polled, with a deadline).
"$python" - "$dns_port" "$dns_pid" <<'PY' || { cat "$work/dnsmasq.err" >&2; exit 69; }
import os, socket, struct, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
name = b"".join(bytes([len(label)]) + label for label in b"d0.shaping.test".split(b".")) + b"\0"
query = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 15, 1)
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    os.kill(pid, 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        try:
            sock.sendto(query, ("127.0.0.1", port))
            reply = sock.recv(512)
            if reply[:2] == b"\x42\x42" and struct.unpack(">H", reply[6:8])[0] > 0:
                sys.exit(0)
        except OSError:
            time.sleep(0.05)
sys.exit("shaping_e2e: dnsmasq did not answer")
PY

start_sink() {
  rm -f "$work/sink.json"
  "$bin/hayate-sink" --listen "127.0.0.1:$sink_port" --stats-file "$work/sink.json" \
    --stats-interval 2>"$work/sink.err" &
  sink_pid=$!
  for _ in $(seq 1 500); do
    (exec 3<>"/dev/tcp/127.0.0.1/$sink_port") 2>/dev/null && return 0
    kill -0 "$sink_pid" 2>/dev/null || break
    sleep 0.01
  done
  echo "shaping_e2e: hayate-sink did not start on port $sink_port" >&2
  cat "$work/sink.err" >&2
  exit 69
}
stop_sink() {
  kill "$sink_pid" 2>/dev/null || true
  wait "$sink_pid" 2>/dev/null || true
  sink_pid=""
}
json() {  # json FILE KEY: the value, or "?" when the file is missing or half written
  "$python" -c 'import json, sys
try:
    print(json.load(open(sys.argv[1])).get(sys.argv[2], "?"))
except (OSError, ValueError):
    print("?")' "$@"
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # user + system, clock ticks
declare -A rate cpu_us outcome
failed=0
printf 'domains\tmode\tmessages\tdelivered\tseconds\tmsgs_per_s\thayate_cpu_s\tcpu_us_per_msg'
printf '\tpeak_rss_mb\tsink_sessions\tdns_cpu_s\tstatus\n'
run() {  # run DOMAINS MODE
  local domains=$1 mode=$2 status=0 note=ok seconds user system rss delivered sessions
  local messages last_messages=-1 still_s=0 timer_pid hayate_pid dns_cpu_before dns_cpu_s
  dns_cpu_before=$(cpu_ticks "$dns_pid")
  start_sink
  rm -rf "$work/out"
  /usr/bin/time -o "$work/time" -f '%e %U %S %M' \
    timeout -k 10 "$run_timeout_s" "$bin/hayate" run "$work/job-$domains-$mode.toml" \
    --out "$work/out" --quiet --no-journal 2>"$work/run.err" &
  run_pid=$!
  # A run whose sink count stands still for stall_s seconds has stalled: SIGTERM to hayate,
  # which finishes what is in flight and exits 75.
  while kill -0 "$run_pid" 2>/dev/null; do
    sleep 1
    messages=$(json "$work/sink.json" messages)
    if [[ $messages == "$last_messages" ]]; then
      still_s=$((still_s + 1))
    else
      still_s=0
      last_messages=$messages
    fi
    if ((still_s >= stall_s)); then
      note="stalled ${stall_s} s at $messages messages"
      timer_pid=$(pgrep -P "$run_pid" -x timeout || true)
      hayate_pid=$([[ -n $timer_pid ]] && pgrep -P "$timer_pid" -x hayate || true)
      [[ -n $hayate_pid ]] && kill "$hayate_pid" 2>/dev/null
      break
    fi
  done
  wait "$run_pid" || status=$?
  run_pid=""
  stop_sink
  read -r seconds user system rss < <(tail -n 1 "$work/time")
  dns_cpu_s=$(awk -v a="$dns_cpu_before" -v b="$(cpu_ticks "$dns_pid")" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.2f", (b - a) / hz }')
  delivered=$(json "$work/out/summary.json" delivered)
  sessions=$(json "$work/sink.json" sessions)
  rate[$domains.$mode]=$(awk -v n="$delivered" -v s="$seconds" \
    'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  cpu_us[$domains.$mode]=$(awk -v u="$user" -v s="$system" -v n="$delivered" \
    'BEGIN { printf "%.1f", (n > 0 ? (u + s) * 1e6 / n : 0) }')
  [[ $note == ok && $status != 0 ]] && note="exit $status"
  [[ $note == ok && $delivered != "$count" ]] && note="delivered $delivered of $count"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%.0f\t%s\t%s\t%s\n' "$domains" "$mode" "$count" \
    "$delivered" "$seconds" "${rate[$domains.$mode]}" \
    "$(awk -v u="$user" -v s="$system" 'BEGIN { print u + s }')" "${cpu_us[$domains.$mode]}" \
    "$(awk -v kb="$rss" 'BEGIN { print kb / 1024 }')" "$sessions" "$dns_cpu_s" "$note"
  outcome[$domains.$mode]=$note
  if [[ $note != ok ]]; then
    sed 's/^/  hayate: /' "$work/run.err" | tail -n 3 >&2
    failed=1
  fi
}
all_runs="10:routed 10:rollup-off 10:rollup-on 10000:routed 10000:rollup-off 10000:rollup-on"
for pair in ${SHAPING_RUNS:-$all_runs}; do
  run "${pair%%:*}" "${pair#*:}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
for domains in 10 10000; do
  for mode in rollup-off rollup-on; do
    [[ -n ${rate[$domains.$mode]:-} && -n ${rate[$domains.routed]:-} ]] || continue
    if [[ ${outcome[$domains.$mode]} != ok || ${outcome[$domains.routed]} != ok ]]; then
      printf 'ratio\t%s domains, %s / routed: n/a (%s)\n' "$domains" "$mode" \
        "$([[ ${outcome[$domains.$mode]} != ok ]] && echo "$mode" || echo routed) did not finish"
      continue
    fi
    printf 'ratio\t%s domains, %s / routed: msgs/s %s, CPU per message %s (%s vs %s µs)\n' \
      "$domains" "$mode" "$(ratio "${rate[$domains.$mode]}" "${rate[$domains.routed]}")" \
      "$(ratio "${cpu_us[$domains.$mode]}" "${cpu_us[$domains.routed]}")" \
      "${cpu_us[$domains.$mode]}" "${cpu_us[$domains.routed]}"
  done
done
echo "note: the job's rules file sets rate = \"1000000/s\" for [destination.default] and" \
  "[destination.bulk], far above what loopback reaches (the shipped default paces 100/s per" \
  "source and site)"
exit "$failed"
