#!/usr/bin/env bash
# Benchmark: hayate-sink against Postfix's smtp-sink on loopback. Prints figures and ratios;
# it is not a test and never fails on a number.
#   1. Lock-step: Postfix smtp-source (no pipelining) with 32 and 64 sessions.
#   2. Pipelined: a Python client that writes BATCH whole transactions per write and then reads
#      their replies, on a few connections; this loads the server, not the client.
# Each case alternates the two servers for ROUNDS rounds and reports the median rate and the
# server's CPU time per message (from /proc/PID/stat, 10 ms ticks: read it over long runs).
# Usage: bench/sink_vs_smtp_sink.sh BIN_DIR [MESSAGES] [ROUNDS]
set -euo pipefail

BIN_DIR=${1:?usage: sink_vs_smtp_sink.sh BIN_DIR [MESSAGES] [ROUNDS]}
MESSAGES=${2:-100000}
ROUNDS=${3:-3}
SINK="$BIN_DIR/hayate-sink"
SMTP_SINK=/usr/sbin/smtp-sink
SMTP_SOURCE=/usr/sbin/smtp-source
PYTHON=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sink_bench.XXXXXX")
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in "$SINK" "$SMTP_SINK" "$SMTP_SOURCE" "$PYTHON"; do
  [[ -x "$tool" ]] || { echo "missing $tool" >&2; exit 1; }
done

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

wait_for_port() {
  local deadline=$((SECONDS + 10))
  until "$PYTHON" -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "port $1 not ready" >&2; exit 1; }
    sleep 0.05
  done
}

# Server CPU time in clock ticks (user + system, every thread).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS_PER_SECOND=$(getconf CLK_TCK)

# The pipelined client. Timing starts when every connection has said EHLO.
cat >"$WORK/blast.py" <<'EOF'
import multiprocessing, re, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
connections, messages, body_bytes, batch = (int(x) for x in sys.argv[3:7])
line = b"La de da de da de da de da de da de da de da de da de da de da de da de da da\r\n"
body = (line * (body_bytes // len(line) + 1))[:body_bytes - 2] + b"\r\n"
txn = b"MAIL FROM:<s@example.org>\r\nRCPT TO:<r@example.net>\r\nDATA\r\n" + body + b".\r\n"

def worker(count, ready, go, result):
    sock = socket.create_connection((host, port))
    data = b""
    sock.sendall(b"EHLO blast\r\n")
    while not re.search(rb"(^|\n)250 [^\n]*\n$", data):
        data += sock.recv(65536)
    ready.release()
    go.wait()
    started = time.monotonic()
    sent = 0
    while sent < count:
        n = min(batch, count - sent)
        sock.sendall(txn * n)
        seen, tail = 0, b""
        while seen < n:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise SystemExit("server closed the connection")
            buf = tail + chunk
            cut = buf.rfind(b"\n")
            seen += buf.count(b" 2.0.0 Ok", 0, cut + 1)  # "250 2.0.0 Ok..." ends each message
            tail = buf[cut + 1:]
        sent += n
    result.put((started, time.monotonic(), sent))
    sock.close()

if __name__ == "__main__":
    ready, go = multiprocessing.Semaphore(0), multiprocessing.Event()
    result = multiprocessing.Queue()
    per = messages // connections
    procs = [multiprocessing.Process(target=worker, args=(per, ready, go, result))
             for _ in range(connections)]
    for p in procs: p.start()
    for _ in procs: ready.acquire()
    go.set()
    runs = [result.get() for _ in procs]
    for p in procs: p.join()
    total = sum(r[2] for r in runs)
    elapsed = max(r[1] for r in runs) - min(r[0] for r in runs)
    print(f"{total} {elapsed:.4f}")
EOF

HAYATE_LOG="$WORK/hayate.log"
"$SINK" --listen 127.0.0.1:0 2>"$HAYATE_LOG" &
HAYATE_PID=$!
PIDS+=("$HAYATE_PID")
deadline=$((SECONDS + 10))
until grep -q 'listening on' "$HAYATE_LOG"; do
  ((SECONDS < deadline)) || { echo "hayate-sink did not start" >&2; exit 1; }
  sleep 0.05
done
HAYATE_PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$HAYATE_LOG")

SMTP_SINK_PORT=$(free_port)
user_option=()
[[ $(id -u) -eq 0 ]] && user_option=(-u nobody)  # smtp-sink refuses to run as root without -u
"$SMTP_SINK" "${user_option[@]}" -m 1000 "127.0.0.1:$SMTP_SINK_PORT" 1000 &
SMTP_SINK_PID=$!
PIDS+=("$SMTP_SINK_PID")
wait_for_port "$SMTP_SINK_PORT"

median() { sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }

# run_case LABEL COMMAND_TEMPLATE: COMMAND_TEMPLATE has PORT replaced; it prints "messages
# seconds" (blast) or nothing (smtp-source, timed here).
run_case() {
  local label=$1 template=$2
  local server rates_h=() rates_s=() cpu_h=() cpu_s=()
  for ((round = 1; round <= ROUNDS; round++)); do
    for server in hayate smtp-sink; do
      local pid port
      if [[ $server == hayate ]]; then pid=$HAYATE_PID port=$HAYATE_PORT; else
        pid=$SMTP_SINK_PID port=$SMTP_SINK_PORT; fi
      local command=${template//PORT/$port}
      local ticks_before ticks_after start end output messages seconds
      ticks_before=$(cpu_ticks "$pid")
      start=$(date +%s.%N)
      output=$(eval "$command")
      end=$(date +%s.%N)
      ticks_after=$(cpu_ticks "$pid")
      if [[ -n "$output" ]]; then
        read -r messages seconds <<<"$output"
      else
        messages=$MESSAGES
        seconds=$(echo "$end - $start" | bc -l)
      fi
      local rate cpu_us
      rate=$(echo "$messages / $seconds" | bc -l)
      cpu_us=$(echo "($ticks_after - $ticks_before) * 1000000 / $TICKS_PER_SECOND / $messages" |
        bc -l)
      if [[ $server == hayate ]]; then rates_h+=("$rate") cpu_h+=("$cpu_us"); else
        rates_s+=("$rate") cpu_s+=("$cpu_us"); fi
    done
  done
  local rh rs ch cs
  rh=$(printf '%s\n' "${rates_h[@]}" | median)
  rs=$(printf '%s\n' "${rates_s[@]}" | median)
  ch=$(printf '%s\n' "${cpu_h[@]}" | median)
  cs=$(printf '%s\n' "${cpu_s[@]}" | median)
  local format='%-36s hayate-sink %7.0f msg/s %5.1f us/msg | smtp-sink %7.0f msg/s %5.1f us/msg'
  printf "$format | x%.2f\n" \
    "$label" "$rh" "$ch" "$rs" "$cs" "$(echo "$rh / $rs" | bc -l)"
}

echo "hayate-sink vs smtp-sink: $MESSAGES messages per run, median of $ROUNDS rounds, $(nproc) CPUs"
echo "(us/msg: server CPU time per message, user + system)"
for sessions in 32 64; do
  run_case "smtp-source -d -s $sessions -l 2000" \
    "$SMTP_SOURCE -d -s $sessions -m $MESSAGES -l 2000 127.0.0.1:PORT"
done
for batch in 20 100; do
  run_case "pipelined 4 conns, batch $batch, 2000 B" \
    "$PYTHON $WORK/blast.py 127.0.0.1 PORT 4 $MESSAGES 2000 $batch"
done
