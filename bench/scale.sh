#!/usr/bin/env bash
# Scale run: N recipients over 1,000 domains written by hayate-gen, sent by hayate into
# hayate-sink on loopback, and the figures an operator asks first: time to first send, total
# time, msgs/s, peak RSS, and what the run leaves on disk (journal.bin, deliveries.jsonl).
#
# Usage: bench/scale.sh [N]   (default 1000000; bench/scale.sh 10000000 is the 10M run, about
#                              5 GB of files while it runs: they are deleted at the end)
# Environment: HAYATE_BUILD_DIR (default build), SCALE_DOMAINS (default 1000), SCALE_DIR (where
# the files go, default $TMPDIR or /tmp), SCALE_KEEP=1 to keep them, SCALE_SINK_THREADS
# (default 1), SCALE_BODY_KB (the text body grown to about this many KB of static prose, with
# the generator's per-recipient fields still in it; the HTML part left out: e.g. 100 for the
# "100 KB campaign of 1 M recipients" memory check).
#
# Time to first send is measured twice, both from the moment hayate is launched:
#   first accepted  the kernel timestamp of hayate-sink's first "250 2.0.0 Ok: queued" (the
#                   reply to a final dot) seen on the loopback interface by an AF_PACKET capture
#                   filtered in the kernel to the sink's port. This is the real first send; it
#                   needs root or CAP_NET_RAW and is "n/a" without.
#   first logged    the first line appearing in OUT/deliveries.jsonl, polled every 10 ms. Later
#                   than the first send: hayate writes the log in 64 KB blocks (about 200 lines),
#                   so this shows when the first block reached the disk.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
count=${1:-1000000}
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/scale.sh [N]" >&2; exit 64; }
domains=${SCALE_DOMAINS:-1000}
bin=${HAYATE_BUILD_DIR:-$root/build}/bin
python=/usr/bin/python3
for tool in "$bin/hayate" "$bin/hayate-sink" "$bin/hayate-gen" /usr/bin/time "$python"; do
  [[ -x $tool ]] || { echo "scale: $tool is missing (scripts/build.sh)" >&2; exit 69; }
done

parent=${SCALE_DIR:-${TMPDIR:-/tmp}}
# Disk needed, per recipient: ~55 B of CSV, ~330 B of deliveries.jsonl, room for a journal.
need_kb=$((count * 600 / 1024 + 65536))
free_kb=$(df -Pk "$parent" | awk 'NR == 2 { print $4 }')
if ((free_kb < need_kb)); then
  echo "scale: $parent has $((free_kb / 1024)) MB free, a run of $count needs about" \
    "$((need_kb / 1024)) MB (set SCALE_DIR)" >&2
  exit 73
fi
work=$(mktemp -d "$parent/hayate-scale.XXXXXX")
export HAYATE_STATE_DIR="$work/state"  # its own suppression list and warm-up counts
sink_pid=""
capture_pid=""
run_pid=""
cleanup() {
  local pid
  for pid in $run_pid $capture_pid $sink_pid; do
    kill "$pid" 2>/dev/null && { wait "$pid" 2>/dev/null || true; }
  done
  if [[ ${SCALE_KEEP:-0} == 1 ]]; then
    echo "scale: files kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

port=$("$python" -c \
  'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

now_ms() { echo $((${EPOCHREALTIME//[.,]/} / 1000)); }  # wall clock, ms (bash 5)

# --- The campaign.
gen_start=$(now_ms)
"$bin/hayate-gen" --recipients "$count" --domains "$domains" --out "$work/gen" \
  --route "127.0.0.1:$port" 2>"$work/gen.err"
gen_ms=$(($(now_ms) - gen_start))
if [[ -n ${SCALE_BODY_KB:-} ]]; then
  "$python" - "$work/gen" "$SCALE_BODY_KB" <<'PY'
import os, sys
gen, kb = sys.argv[1], int(sys.argv[2])
line = "The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\n"
with open(os.path.join(gen, "body.txt"), "a", encoding="utf-8") as body:
    body.write(line * max(0, kb * 1024 // len(line)))
job = os.path.join(gen, "job.toml")
text = open(job, encoding="utf-8").read()
open(job, "w", encoding="utf-8").write(
    "\n".join(l for l in text.splitlines() if not l.startswith("html")) + "\n")
PY
fi

# --- The sink.
"$bin/hayate-sink" --listen "127.0.0.1:$port" --threads "${SCALE_SINK_THREADS:-1}" \
  --stats-file "$work/sink.json" 2>"$work/sink.err" &
sink_pid=$!
for _ in $(seq 1 500); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$sink_pid" 2>/dev/null || { cat "$work/sink.err" >&2; exit 69; }
  sleep 0.01
done

# --- The first-send capture: a raw socket on lo with a classic BPF filter (as `tcpdump -dd
# 'ip and tcp src port PORT'` prints it) so that only the sink's replies reach Python; exits
# at the first queued reply, printing its kernel timestamp (SO_TIMESTAMP) in ms.
"$python" - "$port" "$work/capture.ready" >"$work/capture.out" 2>"$work/capture.err" <<'PY' &
import ctypes, socket, struct, sys
port, ready = int(sys.argv[1]), sys.argv[2]
SO_ATTACH_FILTER, SO_TIMESTAMP, ETH_P_ALL = 26, 29, 0x0003
program = [
    (0x28, 0, 0, 12),       # ldh [12]: ethertype (lo has a zeroed 14-byte Ethernet header)
    (0x15, 0, 8, 0x0800),   # IPv4, else drop
    (0x30, 0, 0, 23),       # ldb [23]: protocol
    (0x15, 0, 6, 6),        # TCP, else drop
    (0x28, 0, 0, 20),       # ldh [20]: fragment offset
    (0x45, 4, 0, 0x1fff),   # a later fragment: drop
    (0xB1, 0, 0, 14),       # x = IP header length
    (0x48, 0, 0, 14),       # ldh [x + 14]: TCP source port
    (0x15, 0, 1, port),     # the sink's port: accept, else drop
    (0x06, 0, 0, 0x40000),
    (0x06, 0, 0, 0),
]
code = b"".join(struct.pack("HBBI", *instruction) for instruction in program)
buffer = ctypes.create_string_buffer(code)
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER,
                struct.pack("HL", len(program), ctypes.addressof(buffer)))
sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
sock.bind(("lo", 0))
open(ready, "w").close()
while True:
    frame, ancillary, _, _ = sock.recvmsg(65535, 64)
    ip_header_bytes = (frame[14] & 0x0F) * 4
    tcp = 14 + ip_header_bytes
    if b"250 2.0.0 Ok: queued" in frame[tcp + (frame[tcp + 12] >> 4) * 4:]:
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP:
                seconds, microseconds = struct.unpack("qq", data[:16])
                print(seconds * 1000 + microseconds // 1000)
                sys.exit(0)
PY
capture_pid=$!
for _ in $(seq 1 300); do
  [[ -e $work/capture.ready ]] && break
  kill -0 "$capture_pid" 2>/dev/null || { capture_pid=""; break; }
  sleep 0.01
done

# --- The run.
out=$work/out
start_ms=$(now_ms)
/usr/bin/time -v -o "$work/time.txt" "$bin/hayate" run "$work/gen/job.toml" --out "$out" \
  --quiet 2>"$work/run.err" &
run_pid=$!
first_logged_ms=""
while kill -0 "$run_pid" 2>/dev/null; do
  if [[ -s $out/deliveries.jsonl ]]; then
    first_logged_ms=$(($(now_ms) - start_ms))
    break
  fi
  sleep 0.01
done
set +e
wait "$run_pid"
run_exit=$?
set -e
end_ms=$(($(now_ms) - start_ms))
run_pid=""
first_accepted_ms="n/a (no capture: needs root or CAP_NET_RAW)"
if [[ -n $capture_pid ]]; then
  if [[ -s $work/capture.out ]]; then
    first_accepted_ms=$(($(cat "$work/capture.out") - start_ms))
  else
    first_accepted_ms="n/a (capture saw no queued reply)"
  fi
  kill "$capture_pid" 2>/dev/null || true
  wait "$capture_pid" 2>/dev/null || true
  capture_pid=""
fi
sink_cpu_s=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' \
  "/proc/$sink_pid/stat")
kill "$sink_pid"
wait "$sink_pid" 2>/dev/null || true
sink_pid=""

# --- Figures.
time_field() { sed -n "s/^[[:space:]]*$1: //p" "$work/time.txt"; }
json() {
  "$python" -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], "?"))' "$@"
}
size_mb() { [[ -e $1 ]] && awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
delivered=$(json "$out/summary.json" delivered 2>/dev/null || echo "?")
sink_messages=$(json "$work/sink.json" messages 2>/dev/null || echo "?")
seconds=$(awk -v ms="$end_ms" 'BEGIN { printf "%.2f", ms / 1000 }')
rate=$(awk -v n="$delivered" -v ms="$end_ms" \
  'BEGIN { printf "%.0f", (ms > 0 ? n * 1000 / ms : 0) }')
rss_mb=$(awk -v kb="$(time_field 'Maximum resident set size (kbytes)')" \
  'BEGIN { printf "%.0f", kb / 1024 }')
cpu_s=$(awk -v u="$(time_field 'User time (seconds)')" \
  -v s="$(time_field 'System time (seconds)')" 'BEGIN { printf "%.1f", u + s }')
jsonl_bytes=$(stat -c %s "$out/deliveries.jsonl" 2>/dev/null || echo 0)

printf 'recipients\t%s (%s domains, generated in %.2f s, %s CSV)\n' "$count" "$domains" \
  "$(awk -v ms="$gen_ms" 'BEGIN { print ms / 1000 }')" "$(size_mb "$work/gen/recipients.csv")"
printf 'first send\t%s ms (sink accepted the first message)\n' "$first_accepted_ms"
printf 'first logged\t%s ms (first line in deliveries.jsonl)\n' "${first_logged_ms:-n/a}"
printf 'total\t%s s (exit code %s)\n' "$seconds" "$run_exit"
printf 'msgs/s\t%s (%s delivered, sink counted %s)\n' "$rate" "$delivered" "$sink_messages"
printf 'peak RSS\t%s MB (hayate CPU %s s, sink CPU %s s)\n' "$rss_mb" "$cpu_s" "$sink_cpu_s"
if [[ -e $out/journal.bin ]]; then
  printf 'journal.bin\t%s\n' "$(size_mb "$out/journal.bin")"
else
  printf 'journal.bin\tnone\n'
fi
printf 'deliveries.jsonl\t%s (%s bytes per recipient)\n' "$(size_mb "$out/deliveries.jsonl")" \
  "$((jsonl_bytes / count))"
[[ $delivered == "$count" ]] || echo "scale: hayate delivered $delivered of $count" >&2
[[ $run_exit == 0 ]] || { sed 's/^/  hayate: /' "$work/run.err" >&2; exit 1; }
