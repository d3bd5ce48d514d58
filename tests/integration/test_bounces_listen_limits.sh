#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `hayate bounces listen` faces the Internet, so a client cannot hold it: against the real
# process, with deadlines shortened on its command line, a Python client checks that the
# connection caps answer 421 (per address, then in all), that the default 4 MiB limit is
# announced in SIZE and enforced with 552 (declared at MAIL, and after an undeclared body),
# that a client trickling one byte of a command every 0.3 s is cut at the command deadline,
# one sending a NOOP every 0.3 s at the session deadline, and that a good bounce still gets 250.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
read -r port listen_port < <(free_port 2)
dir="${HAYATE_TEST_DIR}"
mkdir -p "${dir}/maildir"
start_hayate_sink "${port}" --maildir "${dir}/maildir"

# One message through the sink, for one VERP address the listener will accept.
printf 'a-limits-secret-of-at-least-16-bytes\n' >"${dir}/verp.key"
chmod 600 "${dir}/verp.key"
write_campaign "${dir}/a" $'email,first_name\nu1@v.test,U1' "[delivery]
helo = \"client.hayate.test\"
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${port}\"
[verp]
prefix = \"bounces\"
domain = \"bounces.example.com\"
secret_file = \"../verp.key\"
[suppression]
path = \"../suppression.db\""
run_hayate a run "${dir}/a/job.toml" --out "${dir}/out-a"
assert_eq "campaign: exit" 0 "${HAYATE_EXIT}"
maildir_count() { find "${dir}/maildir/new" -type f | wc -l; }
wait_until_eq "maildir messages" 1 10 maildir_count
verp_address="$(grep -h '^Return-Path: ' "${dir}"/maildir/new/* | head -n 1 | tr -d '\r' |
  sed 's/^Return-Path: <\(.*\)>$/\1/')"
assert_contains "the VERP address" "@bounces.example.com" "${verp_address}"

_hayate_start "bounces listen" "${dir}/listen.out" "${dir}/listen.err" \
  "${hayate}" bounces listen "127.0.0.1:${listen_port}" --job "${dir}/a/job.toml" \
  --connections-max 5 --connections-per-ip-max 3 \
  --session-timeout 6s --command-timeout 2s --data-timeout 10s
listen_pid="${HAYATE_LAST_PID}"
wait_for_smtp 127.0.0.1 "${listen_port}" 10 "${listen_pid}"

timeout 60 "${HAYATE_PYTHON}" - "${listen_port}" "${verp_address}" <<'PY' || fail "the client"
import smtplib, socket, sys, threading, time
port, verp = int(sys.argv[1]), sys.argv[2]

def connect(source):
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    return s, s.makefile("rb")

def reply(stream):
    """One whole reply; b"" once the server has closed."""
    lines = b""
    while True:
        line = stream.readline(4096)
        lines += line
        if len(line) < 4 or line[3:4] == b" ":
            return lines

def wait_for_room(source):
    """Connections just closed are released a moment later: poll, at most 5 s."""
    for _ in range(100):
        s, stream = connect(source)
        greeting = reply(stream)
        s.close()
        if greeting.startswith(b"220 "):
            return
        time.sleep(0.05)
    sys.exit(f"no room again for {source}: {greeting!r}")

# 1. Caps: three connections from one address, five in all.
held = []
for _ in range(3):
    s, stream = connect("127.0.0.1")
    assert reply(stream).startswith(b"220 "), "greeting"
    held.append(s)
s, stream = connect("127.0.0.1")
refused = reply(stream)
assert refused.startswith(b"421 4.7.0 Too many connections from your address"), refused
assert reply(stream) == b"", "closed after the 421"
s.close()
for _ in range(2):
    s, stream = connect("127.0.0.2")
    assert reply(stream).startswith(b"220 "), "greeting from another address"
    held.append(s)
s, stream = connect("127.0.0.3")
refused = reply(stream)
assert refused.startswith(b"421 4.3.2 Too many connections"), refused
s.close()
for s in held:
    s.close()
wait_for_room("127.0.0.1")
print("ok caps: the 4th connection from one address and the 6th in all got 421")

# 2. SIZE: announced, enforced at MAIL and after the data; a small report is still taken.
with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
    smtp.ehlo("mx.v.test")
    assert smtp.esmtp_features.get("size") == "4194304", smtp.esmtp_features
    code, text = smtp.docmd("MAIL FROM:<> SIZE=4194305")
    assert code == 552, (code, text)
    assert smtp.docmd("MAIL FROM:<>")[0] == 250
    assert smtp.docmd(f"RCPT TO:<{verp}>")[0] == 250
    assert smtp.docmd("DATA")[0] == 354
    line = b"x" * 998 + b"\r\n"
    smtp.sock.sendall(b"Subject: big\r\n\r\n" + line * 4400 + b".\r\n")  # 4.4 MB
    code, text = smtp.getreply()
    assert code == 552 and b"5.3.4" in text, (code, text)
    refused = smtp.sendmail("", [verp], b"Subject: a small report\r\n\r\nNothing here.\r\n")
    assert not refused, refused
print("ok SIZE 4194304 announced; 552 at MAIL SIZE= and after a 4.4 MB body; 250 after")
wait_for_room("127.0.0.1")

# 3. Deadlines: a byte of one command every 0.3 s is never idle, yet is cut at the 2 s
# command deadline; a NOOP every 0.3 s at the 6 s session deadline.
results = {}
def slow_client(name, chunks):
    started = time.monotonic()
    s, stream = connect("127.0.0.1")
    s.settimeout(1)
    got = reply(stream)
    for chunk in chunks:  # bounded: len(chunks) * 0.3 s
        try:
            s.sendall(chunk)
            time.sleep(0.3)
            s.setblocking(False)
            try:
                data = s.recv(4096)
            except BlockingIOError:
                data = None
            s.setblocking(True)
            s.settimeout(1)
        except OSError:
            break
        if data is not None:
            got += data
            if data == b"" or b"421 " in data:
                break
    results[name] = (time.monotonic() - started, got)
    s.close()

dribble_chunks = [bytes([c]) for c in b"EHLO " + b"d" * 60]
threads = [
    threading.Thread(target=slow_client, args=("dribble", dribble_chunks)),
    threading.Thread(target=slow_client, args=("noops", [b"NOOP\r\n"] * 40)),
]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(30)
dribble_s, dribble = results["dribble"]
noops_s, noops = results["noops"]
assert dribble.endswith(b"421 4.4.2 bounces.example.com Error: timeout exceeded\r\n"), dribble
assert 1.9 <= dribble_s < 5, dribble_s
assert noops.count(b"250 2.0.0 Ok\r\n") >= 10, noops
assert noops.endswith(b"421 4.4.2 bounces.example.com Error: timeout exceeded\r\n"), noops
assert 5.9 <= noops_s < 10, noops_s
print(f"ok the dribbler was cut after {dribble_s:.1f} s, the NOOP client after {noops_s:.1f} s")
PY

stop_process "${listen_pid}"
set +e
wait "${listen_pid}"
listen_exit=$?
set -e
assert_eq "listen: exit after SIGTERM" 0 "${listen_exit}"
assert_contains "listen: its summary" "hayate bounces listen: 1 messages:" \
  "$(cat "${dir}/listen.out")"
