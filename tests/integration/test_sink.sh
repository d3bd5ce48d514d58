#!/usr/bin/env bash
# Integration test of hayate-sink: runs the real binary on 127.0.0.1, drives it with Postfix's
# smtp-source and with Python's smtplib and raw sockets, and checks exact replies and counters.
# Usage: test_sink.sh BIN_DIR   (the build's bin directory, holding hayate-sink)
set -euo pipefail

BIN_DIR=${1:?usage: test_sink.sh BIN_DIR}
SINK="$BIN_DIR/hayate-sink"
PYTHON=/usr/bin/python3
SMTP_SOURCE=/usr/sbin/smtp-source
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_sink.XXXXXX")
SINK_PIDS=()
FAILURES=0

cleanup() {
  local pid
  for pid in "${SINK_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  FAILURES=$((FAILURES + 1))
}

[[ -x "$SINK" ]] || { echo "no executable $SINK" >&2; exit 1; }

# start_sink NAME ARGS...: starts the sink on a kernel-chosen port, waits (with a deadline)
# for its "listening on" line, and sets SINK_PID and PORT. Logs go to $WORK/NAME.log.
start_sink() {
  local name=$1
  shift
  local log="$WORK/$name.log"
  : >"$log"
  "$SINK" --stats-file "$WORK/$name.json" "$@" 2>"$log" &
  SINK_PID=$!
  SINK_PIDS+=("$SINK_PID")
  local deadline=$((SECONDS + 10))
  PORT=""
  while [[ -z "$PORT" ]]; do
    PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\) (.*/\1/p' "$log" | head -n1 || true)
    if [[ -n "$PORT" ]]; then break; fi
    if ! kill -0 "$SINK_PID" 2>/dev/null; then
      echo "sink $name died at start:" >&2
      cat "$log" >&2
      exit 1
    fi
    if ((SECONDS > deadline)); then
      echo "sink $name did not listen within 10 s" >&2
      exit 1
    fi
    sleep 0.02
  done
}

# wait_exit PID SECONDS: polls until the process is gone; returns its exit status.
wait_exit() {
  local pid=$1
  local deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS > deadline)); then
      echo "process $pid still running after $2 s" >&2
      kill -KILL "$pid" 2>/dev/null || true
      return 124
    fi
    sleep 0.02
  done
  local status=0
  wait "$pid" || status=$?
  return $status
}

# stop_sink NAME: SIGTERM, wait for a clean exit, check the exit code.
stop_sink() {
  local status=0
  kill -TERM "$SINK_PID"
  wait_exit "$SINK_PID" 10 || status=$?
  [[ $status -eq 0 ]] || fail "$1: sink exited with $status"
  [[ -s "$WORK/$1.json" ]] || fail "$1: no stats file"
}

# stat NAME KEY: one counter from the stats file.
stat() {
  "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
    "$WORK/$1.json" "$2"
}

expect_stat() {
  local actual
  actual=$(stat "$1" "$2")
  [[ "$actual" == "$3" ]] || fail "$1: $2 is $actual, expected $3"
}

# --- 1. smtp-source: 2000 messages over 8 parallel sessions, counted exactly. ---------------
start_sink source
"$SMTP_SOURCE" -d -s 8 -m 2000 -l 1000 "127.0.0.1:$PORT" || fail "smtp-source reported an error"
stop_sink source
expect_stat source messages 2000
expect_stat source recipients 2000
expect_stat source data_rejected 0
expect_stat source rcpt_rejected 0
expect_stat source sessions 8
grep -q '^hayate-sink: stats sessions=8 messages=2000 ' "$WORK/source.log" ||
  fail "source: no stats line on stderr"

# --- 2. Two threads (SO_REUSEPORT): the same exact count, seen while running through
# --stats-interval (polled with a deadline), then at exit. A second sink on the same port is
# refused rather than silently sharing it.
start_sink threads --threads 2 --stats-interval
"$SMTP_SOURCE" -d -s 16 -m 2000 -l 500 "127.0.0.1:$PORT" || fail "smtp-source (2 threads)"
deadline=$((SECONDS + 5))
until [[ -s "$WORK/threads.json" && "$(stat threads messages)" == 2000 ]]; do
  if ((SECONDS > deadline)); then
    fail "threads: the interval stats never showed 2000 messages"
    break
  fi
  sleep 0.1
done
status=0
"$SINK" --listen "127.0.0.1:$PORT" 2>"$WORK/taken.log" || status=$?
[[ $status -eq 69 ]] || fail "port in use: exit status $status, expected 69"
grep -q 'Address already in use' "$WORK/taken.log" || fail "port in use: no message"
stop_sink threads
expect_stat threads messages 2000
expect_stat threads sessions 16

# --- 3. Exact replies, fault modes and pipelining, with smtplib and a raw socket. -----------
start_sink faults --slow-ms 300 --hostname sink.test
"$PYTHON" - "$PORT" <<'EOF' || fail "faults: python checks"
import smtplib, socket, sys, time
port = int(sys.argv[1])
failures = []
def check(what, actual, expected):
    if actual != expected:
        failures.append(f"{what}: got {actual!r}, expected {expected!r}")

smtp = smtplib.SMTP("127.0.0.1", port, timeout=10)
check("ehlo", smtp.ehlo(), (250, b"sink.test\nPIPELINING\nSIZE 52428800\n8BITMIME\n"
                                 b"ENHANCEDSTATUSCODES\nSMTPUTF8"))
check("mail", smtp.mail("sender@example.org"), (250, b"2.1.0 Ok"))
check("rcpt ok", smtp.rcpt("user@example.net"), (250, b"2.1.5 Ok"))
check("rcpt tempfail", smtp.rcpt("tempfail-1@example.net"), (451, b"4.3.0 Try again later"))
check("rcpt bounce", smtp.rcpt("Bounce.2@example.net"), (550, b"5.1.1 User unknown"))
code, text = smtp.data(b"Subject: one\r\n\r\nhello\r\n")
check("data", code, 250)
check("queue id", text.startswith(b"2.0.0 Ok: queued as ") and len(text) == 32, True)

# datafail: accepted at RCPT, refused at the end of DATA.
check("mail 2", smtp.mail("sender@example.org")[0], 250)
check("rcpt datafail", smtp.rcpt("datafail@example.net"), (250, b"2.1.5 Ok"))
check("data refused", smtp.data(b"x\r\n"), (554, b"5.6.0 Message rejected"))
check("mail 3", smtp.mail("sender@example.org")[0], 250)
check("rcpt datatempfail", smtp.rcpt("datatempfail@example.net")[0], 250)
check("data deferred", smtp.data(b"x\r\n"), (451, b"4.3.0 Try again later"))

# flaky: 451 the first time, 250 on the retry (also from a new connection).
check("mail 4", smtp.mail("sender@example.org")[0], 250)
check("flaky first", smtp.rcpt("flaky-7@example.net"), (451, b"4.3.0 Try again later"))
check("flaky again", smtp.rcpt("flaky-7@example.net"), (250, b"2.1.5 Ok"))
check("rset", smtp.rset(), (250, b"2.0.0 Ok"))
check("vrfy", smtp.verify("root"), (252, b"2.0.0 Cannot VRFY user, but will accept message"))
check("noop", smtp.noop(), (250, b"2.0.0 Ok"))
check("unknown", smtp.docmd("XYZZY"), (500, b"5.5.2 Command not recognized"))
check("too long", smtp.docmd("NOOP " + "x" * 3000), (500, b"5.5.0 Line too long"))
check("no rcpt", smtp.docmd("DATA"), (503, b"5.5.1 Need MAIL command"))
check("quit", smtp.quit(), (221, b"2.0.0 Bye"))

def converse(payload, expected_bytes, timeout=5.0):
    """Sends payload in one write and reads until expected_bytes bytes or EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        greeting = sock.recv(1000)
        sock.sendall(payload)
        data = b""
        while len(data) < expected_bytes:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return greeting, data

# A pipelined burst (RFC 2920) with a slow recipient: every reply in order, the ones after the
# slow RCPT held back by about --slow-ms.
burst = (b"EHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nRCPT TO:<slow1@x>\r\n"
         b"RCPT TO:<garbage@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n")
expected = (b"250-sink.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
            b"250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n"
            b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\nHELLO THIS IS NOT SMTP\r\n"
            b"250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
started = time.monotonic()
greeting, replies = converse(burst, len(expected))
elapsed = time.monotonic() - started
check("greeting", greeting, b"220 sink.test ESMTP hayate-sink\r\n")
check("pipelined replies", replies, expected)
check("slow delay", 0.25 <= elapsed < 3.0, True)

# disconnect: the replies before it arrive, then the connection closes without a reply.
_, replies = converse(b"HELO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<disconnect@x>\r\nNOOP\r\n", 10**6)
check("disconnect", replies, b"250 sink.test\r\n250 2.1.0 Ok\r\n")

# The end of DATA split across writes, a dot-stuffed line, and a bare-LF "smuggled" dot.
with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
    sock.recv(1000)
    sock.sendall(b"HELO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\n")
    data = b""
    while not data.endswith(b"354 End data with <CR><LF>.<CR><LF>\r\n"):
        data += sock.recv(1000)
    for piece in (b"..dot\r\nsmuggled\n.\nMAIL FROM:<evil@x>\n", b"end\r", b"\n.", b"\r", b"\n"):
        sock.sendall(piece)
        time.sleep(0.01)  # separate segments on purpose, not a wait for the server
    data = sock.recv(1000)
    check("split terminator", data.startswith(b"250 2.0.0 Ok: queued as "), True)
    sock.sendall(b"QUIT\r\n")
    check("quit after split", sock.recv(1000), b"221 2.0.0 Bye\r\n")

for failure in failures:
    print("  " + failure, file=sys.stderr)
sys.exit(1 if failures else 0)
EOF
stop_sink faults
expect_stat faults sessions 4
expect_stat faults messages 2
expect_stat faults data_rejected 2
expect_stat faults data_fail 1
expect_stat faults data_tempfail 1
expect_stat faults rcpt_tempfail 1
expect_stat faults rcpt_bounce 1
expect_stat faults rcpt_flaky 1
expect_stat faults rcpt_slow 1
expect_stat faults rcpt_garbage 1
expect_stat faults rcpt_disconnect 1
expect_stat faults rcpt_rejected 5
expect_stat faults lines_too_long 1
expect_stat faults commands_unknown 1

# --- 4. --no-pipelining: not announced, and a client that pipelines anyway is answered in
# order, one reply per send.
start_sink lockstep --no-pipelining
"$PYTHON" - "$PORT" <<'EOF' || fail "lockstep: python checks"
import socket, sys
port = int(sys.argv[1])
with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
    sock.recv(1000)
    sock.sendall(b"EHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n")
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
expected = (b"250-hayate-sink\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
            b"250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
            b"354 End data with <CR><LF>.<CR><LF>\r\n")
if not data.startswith(expected) or not data.endswith(b"\r\n221 2.0.0 Bye\r\n"):
    print(f"  lockstep replies: {data!r}", file=sys.stderr)
    sys.exit(1)
EOF
stop_sink lockstep
expect_stat lockstep messages 1

# --- 5. --maildir: one file per message in new/, headers prepended, dots unstuffed. ---------
start_sink maildir --maildir "$WORK/Maildir"
"$PYTHON" - "$PORT" <<'EOF' || fail "maildir: python send"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10) as smtp:
    smtp.sendmail("sender@example.org", ["a@example.net", "bounce@example.net", "b@example.net"],
                  b"Subject: kept\r\n\r\n.starts with a dot\r\nlast line\r\n")
EOF
stop_sink maildir
expect_stat maildir messages 1
files=("$WORK"/Maildir/new/*)
if [[ ${#files[@]} -ne 1 || ! -f "${files[0]}" ]]; then
  fail "maildir: expected one file in new/, found ${#files[@]}"
else
  expected=$'Return-Path: <sender@example.org>\nDelivered-To: a@example.net\n'
  expected+=$'Delivered-To: b@example.net\nSubject: kept\n\n.starts with a dot\nlast line'
  [[ "$(cat "${files[0]}")" == "$expected" ]] || fail "maildir: content is $(cat -A "${files[0]}")"
fi
[[ -z "$(ls -A "$WORK/Maildir/tmp")" ]] || fail "maildir: tmp/ not empty"

# --- 6. --exit-after-messages: the sink stops by itself, after the reply went out. ----------
start_sink bounded --exit-after-messages 10 --pid-file "$WORK/bounded.pid"
[[ "$(cat "$WORK/bounded.pid")" == "$SINK_PID" ]] || fail "bounded: pid file"
"$SMTP_SOURCE" -d -s 1 -m 20 -l 100 "127.0.0.1:$PORT" 2>/dev/null || true
status=0
wait_exit "$SINK_PID" 10 || status=$?
[[ $status -eq 0 ]] || fail "bounded: exit status $status"
expect_stat bounded messages 10
[[ ! -e "$WORK/bounded.pid" ]] || fail "bounded: pid file left behind"

# --- 7. SIGINT, IPv6 loopback, and refusals. ------------------------------------------------
if "$PYTHON" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
  start_sink ipv6 --listen '[::1]:0'
  "$SMTP_SOURCE" -6 -d -s 2 -m 20 -l 100 "[::1]:$PORT" || fail "ipv6: smtp-source"
  kill -INT "$SINK_PID"
  status=0
  wait_exit "$SINK_PID" 10 || status=$?
  [[ $status -eq 0 ]] || fail "ipv6: exit status $status after SIGINT"
  expect_stat ipv6 messages 20
fi

status=0
"$SINK" --listen 0.0.0.0:0 2>"$WORK/refused.log" || status=$?
[[ $status -eq 64 ]] || fail "non-loopback: exit status $status, expected 64"
grep -q -- '--allow-non-loopback' "$WORK/refused.log" || fail "non-loopback: no hint"
status=0
"$SINK" --threads 0 2>/dev/null || status=$?
[[ $status -eq 64 ]] || fail "--threads 0: exit status $status, expected 64"
"$SINK" --help | grep -q 'Example:' || fail "--help has no example"

# No run may have left a connection open at its stop (a leaked slot shows up here).
if grep -l 'still open at the stop deadline' "$WORK"/*.log; then
  fail "a sink stopped with connections still open"
fi

if ((FAILURES > 0)); then
  echo "test_sink: $FAILURES failure(s)" >&2
  exit 1
fi
echo "test_sink: all checks passed"
