#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# /metrics while clients hold sockets open: during a real run with --metrics-listen, 100
# connections that send nothing and 20 that trickle half a request take more than every
# connection slot; scrapes made meanwhile must still be answered at once, and the run must end
# as it would without them.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
read -r sink_port metrics_port < <(free_port 2)
dir="${HAYATE_TEST_DIR}"
# Every RCPT to slow-* is held 50 ms: 100 recipients over one connection take about 5 s.
start_hayate_sink "${sink_port}" --slow-ms 50
csv="email,first_name"
for i in $(seq 1 100); do csv+=$'\n'"slow-${i}@big.test,U${i}"; done
write_campaign "${dir}/live" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 1
shards = 1
[routes]
\"*\" = \"127.0.0.1:${sink_port}\""

_hayate_start "hayate run" "${dir}/run.out" "${dir}/run.err" \
  "${hayate}" run "${dir}/live/job.toml" --out "${dir}/live/out" \
  --metrics-listen "127.0.0.1:${metrics_port}"
pid="${HAYATE_LAST_PID}"

timeout 60 "${HAYATE_PYTHON}" - "${metrics_port}" "${pid}" <<'PY' || fail "scrapes under load"
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])

def scrape(timeout_s):
    """Status line and body of GET /metrics, and the seconds it took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n")
        response = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body, time.monotonic() - started

# The server is up once a scrape answers (bounded: 20 s).
for _ in range(200):
    try:
        status, body, _ = scrape(2)
        if status == b"HTTP/1.1 200 OK":
            break
    except OSError:
        pass
    time.sleep(0.1)
else:
    sys.exit("the metrics server never answered")

held = []
for _ in range(100):
    held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
for _ in range(20):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHo")
    held.append(s)
time.sleep(0.3)  # the held sockets are now older than any fresh scrape
slowest = 0.0
for _ in range(5):
    status, body, took = scrape(5)
    assert status == b"HTTP/1.1 200 OK", status
    assert b'hayate_messages_total{campaign="integration"' in body, body[:200]
    slowest = max(slowest, took)
    time.sleep(0.1)
assert slowest < 1.0, f"a scrape took {slowest:.2f} s"
try:
    os.kill(pid, 0)
except OSError:
    sys.exit("the run ended before the scrapes: make it longer")
for s in held:
    s.close()
print(f"ok 5 scrapes answered while 120 sockets were held, the slowest in {slowest:.3f} s")
PY

set +e
timeout 60 tail --pid="${pid}" -f /dev/null
wait "${pid}"
code=$?
set -e
assert_eq "run: exit code" 0 "${code}"
assert_eq "run: delivered" 100 "$(json_get "${dir}/live/out/summary.json" delivered)"
