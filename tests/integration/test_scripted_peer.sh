#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Self-test of scripted_smtp.py, the throttling peer of the shaping tests, and of
# scripted_report.py: third-party clients (Postfix smtp-source, Python smtplib, raw sockets)
# meet each behaviour, and the report's counts are asserted exactly. Needs no hayate binary:
# `bash test_scripted_peer.sh ANY_DIR`. Windows and delays are a few seconds long.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"

readonly SMTP_SOURCE=/usr/sbin/smtp-source
[[ -x "${SMTP_SOURCE}" ]] || fail "${SMTP_SOURCE} missing: run scripts/install-deps.sh"

# client SCRIPT ARGS...: runs SCRIPT (Python) after a prelude of helpers; it prints KEY=VALUE.
#   smtp(port, source="127.0.0.1"): an smtplib.SMTP connected from source, after EHLO
#   greet(port, source="127.0.0.1", host="127.0.0.1"): (socket, first reply line), raw
#   send(s, n, rcpt=...): MAIL, RCPT, DATA; the reply code of the first command not accepted
#   closed(s): whether the server has closed the connection (NOOP fails)
client() {
  local script="$1"
  shift
  "${HAYATE_PYTHON}" - "$@" <<EOF
import smtplib, socket, sys, time
def smtp(port, source="127.0.0.1"):
    s = smtplib.SMTP("127.0.0.1", int(port), local_hostname="client.hayate.test", timeout=10,
                     source_address=(source, 0))
    s.ehlo()
    return s
def greet(port, source="127.0.0.1", host="127.0.0.1"):
    raw = socket.create_connection((host, int(port)), timeout=10,
                                   source_address=(source, 0))
    line = b""
    while not line.endswith(b"\n"):
        chunk = raw.recv(1)
        if not chunk:
            break
        line += chunk
    return raw, line.decode().rstrip("\r\n")
def eof(raw):
    try:
        return "eof" if raw.recv(4096) == b"" else "data"
    except ConnectionResetError:
        return "reset"
def message(n, rcpt):
    return (f"From: <sender@hayate.test>\r\nTo: <{rcpt}>\r\nSubject: scripted {n}\r\n"
            f"Message-ID: <scripted-{n}@hayate.test>\r\n\r\nbody {n}\r\n")
def send(s, n, rcpt="user@example.test", sender="sender@hayate.test"):
    code = s.mail(sender)[0]
    if code != 250:
        return code
    code = s.rcpt(rcpt)[0]
    if code != 250:
        return code
    return s.data(message(n, rcpt))[0]
def closed(s):
    try:
        s.noop()
        return "no"
    except smtplib.SMTPServerDisconnected:
        return "yes"
args = sys.argv[1:]
${script}
EOF
}

# value KEY OUTPUT: the VALUE of the KEY=VALUE line in OUTPUT.
value() {
  sed -n "s/^$1=//p" <<<"$2"
}

# report_value PORT KEY [REPORT_ARGS...]: one value of the server's report.
report_value() {
  local port="$1" key="$2" file="${HAYATE_TEST_DIR}/report.json"
  shift 2
  scripted_smtp_report "${port}" "$@" >"${file}"
  json_get "${file}" "${key}"
}

source_run() {  # source_run PORT ARGS...: smtp-source, its output; status as smtp-source's
  local port="$1"
  shift
  "${SMTP_SOURCE}" -M client.hayate.test -f sender@hayate.test -t user@example.test "$@" \
    "127.0.0.1:${port}" 2>&1
}

read -r rate_port window_port ipr_port guard_port cap_port ipcap_port grey_port suspend_port \
  ipsuspend_port repeat_port lift_port r554_port r421_port drop_port reset_port < <(free_port 15)

# --- 1. Rate limit: 5 per 10 s, Gmail's 421-4.7.28 at MAIL, then the connection closes. -----
start_scripted_smtp "${rate_port}" --rate-limit 5/10s
if output="$(source_run "${rate_port}" -d -s 1 -m 8)"; then
  fail "smtp-source sent 8 messages through a 5/10s limit: ${output}"
fi
assert_contains "smtp-source sees the Gmail reply" "sender rejected: 421 4.7.28" "${output}"
output="$(client '
s = smtp(args[0])
code, text = s.mail("sender@hayate.test")
lines = text.decode().split("\n")
print(f"code={code}")
print(f"lines={len(lines)}")
print(f"first={lines[0]}")
print(f"last={lines[-1]}")
print(f"closed={closed(s)}")' "${rate_port}")"
assert_eq "rate limit code" 421 "$(value code "${output}")"
assert_eq "rate limit reply lines" 6 "$(value lines "${output}")"
assert_eq "rate limit first line" \
  "4.7.28 [127.0.0.1      15] Our system has detected an unusual rate of" \
  "$(value first "${output}")"
assert_contains "rate limit last line" "Bulk Email Senders Guidelines." "$(value last "${output}")"
assert_contains "rate limit last line" " - gsmtp" "$(value last "${output}")"
assert_eq "server closes after 421" yes "$(value closed "${output}")"
report="${HAYATE_TEST_DIR}/rate.json"
scripted_smtp_report "${rate_port}" >"${report}"
assert_eq "rate: window from the server's flag" 10.0 "$(json_get "${report}" window_s)"
assert_eq "rate: messages" 5 "$(json_get "${report}" messages)"
assert_eq "rate: per recipient" '{"user@example.test": 5}' "$(json_get "${report}" per_recipient)"
assert_eq "rate: MAIL replies" '{"250": 5, "421": 2}' \
  "$(json_get "${report}" codes_by_command.mail)"
assert_eq "rate: throttles" '{"rate_limit": 2}' "$(json_get "${report}" throttles)"
assert_eq "rate: max messages in 10 s" 5 "$(json_get "${report}" max_messages_in_window)"
assert_eq "rate: max MAIL commands in 10 s" 7 "$(json_get "${report}" max_transactions_in_window)"
assert_eq "rate: sessions" 2 "$(json_get "${report}" sessions)"
assert_eq "rate: smtp-source Message-IDs are distinct" '{}' \
  "$(json_get "${report}" duplicate_message_ids)"

# A bare N counts per --window; the window slides: a message is accepted again once the oldest
# of the window is W seconds old. --keep-open-after-421 leaves the connection open.
start_scripted_smtp "${window_port}" --rate-limit 3 --window 2 --keep-open-after-421
output="$(client '
s = smtp(args[0])
start = time.monotonic()
print("codes=" + ",".join(str(send(s, n)) for n in range(4)))
print(f"closed={closed(s)}")
time.sleep(max(0.0, start + 2.1 - time.monotonic()))  # the window is a timer, not a server
print(f"later={send(s, 4)}")' "${window_port}")"
assert_eq "window: 3 accepted, the 4th refused" 250,250,250,421 "$(value codes "${output}")"
assert_eq "window: --keep-open-after-421" no "$(value closed "${output}")"
assert_eq "window: accepted once the window slid" 250 "$(value later "${output}")"
assert_eq "window: messages" 4 "$(report_value "${window_port}" messages)"
assert_eq "window: max in 2 s" 3 "$(report_value "${window_port}" max_messages_in_window)"
assert_eq "window: max in 60 s" 4 \
  "$(report_value "${window_port}" max_messages_in_window --window 60)"

# Per client IP, answered at RCPT: each address gets its own 2 per minute.
start_scripted_smtp "${ipr_port}" --rate-limit-per-ip 2/min --rate-limit-at rcpt
for source in 127.0.0.2 127.0.0.3; do
  output="$(client '
s = smtp(args[0], args[1])
print("codes=" + ",".join(str(send(s, n, f"user{n}@example.test")) for n in range(3)))
print(f"closed={closed(s)}")' "${ipr_port}" "${source}")"
  assert_eq "per-IP rate from ${source}" 250,250,421 "$(value codes "${output}")"
  assert_eq "per-IP rate: closed after 421 at RCPT" yes "$(value closed "${output}")"
done
report="${HAYATE_TEST_DIR}/ipr.json"
scripted_smtp_report "${ipr_port}" >"${report}"
assert_eq "per-IP rate: messages per IP" '{"127.0.0.2": 2, "127.0.0.3": 2}' \
  "$(json_get "${report}" messages_per_ip)"
assert_eq "per-IP rate: max per IP in a minute" '{"127.0.0.2": 2, "127.0.0.3": 2}' \
  "$(json_get "${report}" max_messages_in_window_per_ip)"
assert_eq "per-IP rate: max overall in a minute" 4 "$(json_get "${report}" max_messages_in_window)"
assert_eq "per-IP rate: RCPT replies" '{"250": 4, "421": 2}' \
  "$(json_get "${report}" codes_by_command.rcpt)"
assert_eq "per-IP rate: throttles" '{"rate_limit_per_ip": 2}' "$(json_get "${report}" throttles)"
# Both clients wrote to user0 and user1: the report shows them as duplicates.
assert_eq "per-IP rate: duplicates" '{"user0@example.test": 2, "user1@example.test": 2}' \
  "$(json_get "${report}" duplicate_recipients)"

# Two transactions pass MAIL together; the limit still holds at the end of DATA.
start_scripted_smtp "${guard_port}" --rate-limit 1/min
output="$(client '
a, b = smtp(args[0]), smtp(args[0])
codes = [a.mail("a@hayate.test")[0], b.mail("b@hayate.test")[0]]
print("mails=%d,%d" % tuple(codes))
a.rcpt("x@example.test")
b.rcpt("y@example.test")
codes = [a.data(message(1, "x@example.test"))[0], b.data(message(2, "y@example.test"))[0]]
print("data=%d,%d" % tuple(codes))' "${guard_port}")"
assert_eq "guard: both MAIL accepted" 250,250 "$(value mails "${output}")"
assert_eq "guard: the second refused after DATA" 250,421 "$(value data "${output}")"
report="${HAYATE_TEST_DIR}/guard.json"
scripted_smtp_report "${guard_port}" >"${report}"
assert_eq "guard: messages" 1 "$(json_get "${report}" messages)"
assert_eq "guard: end-of-DATA replies" '{"250": 1, "421": 1}' \
  "$(json_get "${report}" codes_by_command.data_end)"
assert_eq "guard: the accepted recipient" '{"x@example.test": 1}' \
  "$(json_get "${report}" per_recipient)"

# PIPELINING (RFC 2920) is announced; commands pipelined behind a 421 are neither executed nor
# answered: the client reads the 421, then the end of the connection.
output="$(client '
raw, line = greet(args[0])
raw.sendall(b"EHLO client.hayate.test\r\n")
ehlo = b""
while not ehlo.endswith(b"250 HELP\r\n"):
    ehlo += raw.recv(4096)
print("pipelining=" + ("yes" if b"250-PIPELINING\r\n" in ehlo else "no"))
raw.sendall(b"MAIL FROM:<p@hayate.test>\r\nRCPT TO:<p@example.test>\r\nDATA\r\n")
replies = b""
while True:
    chunk = raw.recv(4096)
    if not chunk:
        break
    replies += chunk
lines = replies.decode().split("\r\n")[:-1]
print("replies=" + ",".join(sorted(set(l[:3] for l in lines))) + f" in {len(lines)} lines")
' "${guard_port}")"
assert_eq "pipelining: announced" yes "$(value pipelining "${output}")"
assert_eq "pipelining: only the 421" "421 in 6 lines" "$(value replies "${output}")"
assert_eq "pipelining: RCPT and DATA behind it not logged" '{"250": 2}' \
  "$(report_value "${guard_port}" codes_by_command.rcpt)"

# --- 2. Connection cap: 3 served, the 4th and 5th greeted 421 and closed. ---------------------
start_scripted_smtp "${cap_port}" --max-connections 3
# The refused ones one after the other, each until the server has closed it (it closes the
# socket after its books are updated), so that the peak of open connections is exact.
client '
import os
held = [greet(args[0]) for _ in range(3)]
refused = []
for _ in range(2):
    raw, line = greet(args[0])
    refused.append((line, eof(raw)))
lines = [line for _, line in held] + [line for line, _ in refused]
print("greetings=" + ",".join(line[:3] for line in lines))
print(f"text={refused[0][0]}")
print("after=" + ",".join(after for _, after in refused))
open(args[1], "w").close()  # the caller runs smtp-source now, with 3 connections held
deadline = time.monotonic() + 30
while os.path.exists(args[1]) and time.monotonic() < deadline:
    time.sleep(0.02)
for raw, _ in held:
    raw.sendall(b"QUIT\r\n")
    raw.recv(4096)  # 221
    eof(raw)' "${cap_port}" "${HAYATE_TEST_DIR}/cap.held" >"${HAYATE_TEST_DIR}/cap.out" &
client_pid=$!
wait_until_eq "cap: client holds its connections" yes 20 \
  bash -c "[[ -e '${HAYATE_TEST_DIR}/cap.held' ]] && echo yes || echo no"
if source_output="$(source_run "${cap_port}" -s 1 -m 1)"; then
  fail "smtp-source was served above the connection cap: ${source_output}"
fi
rm -f "${HAYATE_TEST_DIR}/cap.held"
wait "${client_pid}" || fail "cap client failed"
output="$(cat "${HAYATE_TEST_DIR}/cap.out")"
assert_eq "cap: greetings" 220,220,220,421,421 "$(value greetings "${output}")"
assert_eq "cap: 421 text" \
  "421 4.7.0 Too many concurrent SMTP connections; please try again later" \
  "$(value text "${output}")"
assert_eq "cap: refused connections closed by the server" eof,eof "$(value after "${output}")"
assert_contains "cap: smtp-source refused at the banner" \
  "rejected at server banner: 421 4.7.0 Too many concurrent SMTP connections" "${source_output}"
# Once they are closed, the slots are free: 3 parallel smtp-source sessions are all served.
source_run "${cap_port}" -s 3 -m 6 >/dev/null || fail "smtp-source -s 3 under a cap of 3"
report="${HAYATE_TEST_DIR}/cap.json"
scripted_smtp_report "${cap_port}" >"${report}"
assert_eq "cap: max concurrent (all)" 4 "$(json_get "${report}" max_concurrent)"
assert_eq "cap: max concurrent served" 3 "$(json_get "${report}" max_concurrent_served)"
assert_eq "cap: sessions refused" 3 "$(json_get "${report}" sessions_refused)"
assert_eq "cap: greetings" '{"220": 9, "421": 3}' "$(json_get "${report}" codes_by_command.connect)"
assert_eq "cap: throttles" '{"max_connections": 3}' "$(json_get "${report}" throttles)"
assert_eq "cap: messages" 6 "$(json_get "${report}" messages)"

# Per client IP: one connection each.
start_scripted_smtp "${ipcap_port}" --max-connections-per-ip 1
output="$(client '
a, b, c = greet(args[0], "127.0.0.2"), greet(args[0], "127.0.0.2"), greet(args[0], "127.0.0.3")
print("codes=%s,%s,%s" % (a[1][:3], b[1][:3], c[1][:3]))
print("text=" + b[1])' "${ipcap_port}")"
assert_eq "per-IP cap: greetings" 220,421,220 "$(value codes "${output}")"
assert_eq "per-IP cap: text" \
  "421 4.7.0 Too many concurrent SMTP connections from this IP address; please try again later" \
  "$(value text "${output}")"
report="${HAYATE_TEST_DIR}/ipcap.json"
scripted_smtp_report "${ipcap_port}" >"${report}"
assert_eq "per-IP cap: max per IP" '{"127.0.0.2": 2, "127.0.0.3": 1}' \
  "$(json_get "${report}" max_concurrent_per_ip)"
assert_eq "per-IP cap: max served per IP" '{"127.0.0.2": 1, "127.0.0.3": 1}' \
  "$(json_get "${report}" max_concurrent_served_per_ip)"
assert_eq "per-IP cap: max served" 2 "$(json_get "${report}" max_concurrent_served)"
assert_eq "per-IP cap: throttles" '{"max_connections_per_ip": 1}' \
  "$(json_get "${report}" throttles)"

# --- 3. Greylisting, 2 s: first 450, too early 450, after the delay 250. ---------------------
start_scripted_smtp "${grey_port}" --greylist 2
if output="$(source_run "${grey_port}" -s 1 -m 1)"; then
  fail "smtp-source was not greylisted: ${output}"
fi
assert_contains "greylist: smtp-source deferred" "recipient rejected: 450 4.2.0" "${output}"
output="$(client '
s = smtp(args[0])
start = time.monotonic()
s.mail("other@hayate.test")
code, text = s.rcpt("user@example.test")
print(f"first={code} {text.decode()}")
s.rset()
time.sleep(1.0)  # half the delay: a retry too early
s.mail("other@hayate.test")
code, text = s.rcpt("user@example.test")
print(f"early={code} {text.decode()}")
s.rset()
time.sleep(max(0.0, start + 2.1 - time.monotonic()))
print("after=%d" % send(s, 1, sender="other@hayate.test"))
print("again=%d" % send(s, 2, sender="other@hayate.test"))  # the triple is now whitelisted
s.quit()
other = smtp(args[0], "127.0.0.2")  # another client IP: another triple
print("other_ip=%d" % send(other, 3, sender="other@hayate.test"))' "${grey_port}")"
greylisted="450 4.2.0 <user@example.test>: Recipient address rejected: Greylisted"
assert_eq "greylist: first attempt" "${greylisted}, please try again in 2 seconds" \
  "$(value first "${output}")"
assert_eq "greylist: retry too early" "${greylisted}, please try again in 1 seconds" \
  "$(value early "${output}")"
assert_eq "greylist: retry after the delay" 250 "$(value after "${output}")"
assert_eq "greylist: whitelisted triple" 250 "$(value again "${output}")"
assert_eq "greylist: other client IP" 450 "$(value other_ip "${output}")"
# smtp-source's own triple was first seen before the client's: its retry passes too.
source_run "${grey_port}" -s 1 -m 1 >/dev/null || fail "smtp-source retry after greylisting"
report="${HAYATE_TEST_DIR}/grey.json"
scripted_smtp_report "${grey_port}" >"${report}"
assert_eq "greylist: RCPT replies" '{"250": 3, "450": 4}' \
  "$(json_get "${report}" codes_by_command.rcpt)"
assert_eq "greylist: throttles" '{"greylist": 4}' "$(json_get "${report}" throttles)"
assert_eq "greylist: messages" 3 "$(json_get "${report}" messages)"

# --- 4. Suspension (from a scenario file): after 3 messages, TSS04 for 3 s, then recovery. ----
printf '{"suspend_after": 3, "suspend_for": 60, "rate_limit": null}\n' \
  >"${HAYATE_TEST_DIR}/suspend.json"
start_scripted_smtp "${suspend_port}" --scenario "${HAYATE_TEST_DIR}/suspend.json" \
  --suspend-for 3  # the command line overrides the file
source_run "${suspend_port}" -d -s 1 -m 3 >/dev/null || fail "smtp-source before the suspension"
output="$(client '
for attempt in range(2):
    s = smtp(args[0])
    code, text = s.mail("sender@hayate.test")
    print(f"reply{attempt}={code} {text.decode()}")
    print(f"closed{attempt}={closed(s)}")' "${suspend_port}")"
tss04="421 4.7.0 [TSS04] Messages from 127.0.0.1 temporarily deferred due to unexpected volume"
tss04+=" or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes"
assert_eq "suspend: Yahoo TSS04" "${tss04}" "$(value reply0 "${output}")"
assert_eq "suspend: every transaction" "$(value reply0 "${output}")" "$(value reply1 "${output}")"
assert_eq "suspend: closed after 421" yes,yes \
  "$(value closed0 "${output}"),$(value closed1 "${output}")"
wait_until_eq "suspend: recovery logged" 1 10 scripted_smtp_event_count "${suspend_port}" \
  suspend_end
source_run "${suspend_port}" -d -s 1 -m 2 >/dev/null || fail "smtp-source after the recovery"
report="${HAYATE_TEST_DIR}/suspend.json.report"
scripted_smtp_report "${suspend_port}" >"${report}"
assert_eq "suspend: messages" 5 "$(json_get "${report}" messages)"
assert_eq "suspend: throttles" '{"suspend": 2}' "$(json_get "${report}" throttles)"
assert_eq "suspend: one suspension, global" '*' "$(json_get "${report}" suspensions.0.scope)"
assert_eq "suspend: ends at its time" yes "$("${HAYATE_PYTHON}" -c '
import json, sys
s = json.load(open(sys.argv[1]))["suspensions"][0]
print("yes" if s["end_elapsed_s"] >= s["until_elapsed_s"] == round(s["start_elapsed_s"] + 3, 6)
      else json.dumps(s))' "${report}")"
assert_eq "suspend: not twice without --suspend-repeat" 1 \
  "$(scripted_smtp_event_count "${suspend_port}" suspend_start)"

# Per client IP, at the greeting: 127.0.0.2 is suspended after one message, 127.0.0.3 is not.
start_scripted_smtp "${ipsuspend_port}" --suspend-after 1 --suspend-for 60 --suspend-per-ip \
  --suspend-at greeting
output="$(client '
print("first=%d" % send(smtp(args[0], "127.0.0.2"), 1))
print("greeting=" + greet(args[0], "127.0.0.2")[1])
print("other=%d" % send(smtp(args[0], "127.0.0.3"), 2))' "${ipsuspend_port}")"
assert_eq "per-IP suspend: first message" 250 "$(value first "${output}")"
assert_contains "per-IP suspend: 421 greeting" \
  "421 4.7.0 [TSS04] Messages from 127.0.0.2 temporarily deferred" "$(value greeting "${output}")"
assert_eq "per-IP suspend: other IP served" 250 "$(value other "${output}")"
assert_eq "per-IP suspend: scopes" 127.0.0.2 \
  "$(report_value "${ipsuspend_port}" suspensions.0.scope)"

# --suspend-repeat: after the recovery, the next message starts a new suspension.
start_scripted_smtp "${repeat_port}" --suspend-after 1 --suspend-for 1 --suspend-repeat
output="$(client 'print("first=%d" % send(smtp(args[0]), 1))' "${repeat_port}")"
assert_eq "repeat: first message" 250 "$(value first "${output}")"
wait_until_eq "repeat: recovery" 1 10 scripted_smtp_event_count "${repeat_port}" suspend_end
output="$(client '
print("second=%d" % send(smtp(args[0]), 2))
print("third=%d" % send(smtp(args[0]), 3))' "${repeat_port}")"
assert_eq "repeat: accepted after recovery, then suspended again" 250,421 \
  "$(value second "${output}"),$(value third "${output}")"
assert_eq "repeat: suspensions" 2 "$(scripted_smtp_event_count "${repeat_port}" suspend_start)"

# --- 5. --stop-throttling-after lifts every limit. --------------------------------------------
start_scripted_smtp "${lift_port}" --rate-limit 1/min --max-connections 1 --greylist 60 \
  --stop-throttling-after 4
output="$(client '
s = smtp(args[0])
print(f"second={greet(args[0])[1][:3]}")
print(f"greylisted={send(s, 1)}")' "${lift_port}")"
assert_eq "before lifting: connection cap" 421 "$(value second "${output}")"
assert_eq "before lifting: greylisting" 450 "$(value greylisted "${output}")"
wait_until_eq "limits lifted" 1 10 scripted_smtp_event_count "${lift_port}" throttling_stopped
output="$(client '
clients = [smtp(args[0]) for _ in range(3)]
print("codes=" + ",".join(str(send(s, n, f"user{n}@example.test")) for n, s in enumerate(clients)))
' "${lift_port}")"
assert_eq "after lifting: 3 connections, 3 messages at once" 250,250,250 \
  "$(value codes "${output}")"
report="${HAYATE_TEST_DIR}/lift.json"
scripted_smtp_report "${lift_port}" --settle 4 >"${report}"
assert_eq "lift: at 4 s, after the last throttle" yes "$("${HAYATE_PYTHON}" -c '
import json, sys
r = json.load(open(sys.argv[1]))
lifted, last = r["throttling_stopped_elapsed_s"], r["last_throttle_elapsed_s"]
print("yes" if last < 4.0 <= lifted < 5.0 else f"{last} {lifted}")' "${report}")"
assert_eq "lift: messages" 3 "$(json_get "${report}" messages)"
assert_eq "lift: no throttle after it" '{}' "$(json_get "${report}" after_settle.throttles)"
assert_eq "lift: 3 served at once after it" 3 \
  "$(json_get "${report}" after_settle.max_concurrent_served)"
assert_eq "lift: throttles before it" '{"greylist": 1, "max_connections": 1}' \
  "$(json_get "${report}" throttles)"

# --- 6. Dead MX modes. ------------------------------------------------------------------------
start_scripted_smtp "${r554_port}" --refuse 554
start_scripted_smtp "${r421_port}" --refuse 421
start_scripted_smtp "${drop_port}" --refuse drop
start_scripted_smtp "127.0.0.2:${reset_port}" --refuse reset  # as a second MX host would
output="$(client '
raw, line = greet(args[0])
print(f"greeting554={line}")
raw.sendall(b"EHLO client.hayate.test\r\n")
print(f"ehlo554={raw.recv(200).decode().strip()}")
raw.sendall(b"QUIT\r\n")
print(f"quit554={raw.recv(200).decode().strip()}")
print(f"close554={eof(raw)}")
raw, line = greet(args[1])
print(f"greeting421={line}")
print(f"close421={eof(raw)}")
raw, line = greet(args[2])
print("drop=%s,%s" % (line or "nothing", eof(raw)))
try:
    raw, line = greet(args[3], host="127.0.0.2")
    print("reset=%s,%s" % (line or "nothing", eof(raw)))
except ConnectionResetError:
    print("reset=nothing,reset")' "${r554_port}" "${r421_port}" "${drop_port}" "${reset_port}")"
assert_eq "refuse 554: greeting" "554 5.3.2 mx.scripted.test No SMTP service here" \
  "$(value greeting554 "${output}")"
assert_eq "refuse 554: 503 until QUIT (RFC 5321 3.1)" "503 5.5.1 Bad sequence of commands" \
  "$(value ehlo554 "${output}")"
assert_eq "refuse 554: QUIT" "221 2.0.0 Bye" "$(value quit554 "${output}")"
assert_eq "refuse 554: closed" eof "$(value close554 "${output}")"
assert_eq "refuse 421: greeting" \
  "421 4.3.2 mx.scripted.test Service not available, closing transmission channel" \
  "$(value greeting421 "${output}")"
assert_eq "refuse 421: closed" eof "$(value close421 "${output}")"
assert_eq "refuse drop" nothing,eof "$(value drop "${output}")"
assert_eq "refuse reset" nothing,reset "$(value reset "${output}")"
if output="$(source_run "${r554_port}" -s 1 -m 1)"; then fail "smtp-source through a 554 MX"; fi
assert_contains "refuse 554: smtp-source" "rejected at server banner: 554 5.3.2" "${output}"
assert_eq "refuse 554: report" '{"554": 2}' \
  "$(report_value "${r554_port}" codes_by_command.connect)"
assert_eq "refuse 554: nothing else logged" '{"554": 2}' "$(report_value "${r554_port}" codes)"
assert_eq "refuse reset: report" '{"refuse": 1}' \
  "$(report_value "127.0.0.2:${reset_port}" throttles)"
assert_eq "refuse reset: no reply code" '{}' "$(report_value "127.0.0.2:${reset_port}" codes)"
assert_eq "refuse reset: listens on 127.0.0.2" "127.0.0.2:${reset_port}" \
  "$(report_value "127.0.0.2:${reset_port}" server)"

# SIGTERM: open connections are closed, the log ends with "stop", the exit status is 0.
pid="$(json_get "$(_scripted_smtp_base 127.0.0.1 "${r554_port}").ready" pid)"
output="$(client '
import os, signal
raw, line = greet(args[0])
os.kill(int(args[1]), signal.SIGTERM)
print("open_connection=" + eof(raw))' "${r554_port}" "${pid}")"
status=0
wait "${pid}" || status=$?
assert_eq "SIGTERM: exit status" 0 "${status}"
assert_eq "SIGTERM: open connection closed" eof "$(value open_connection "${output}")"
assert_eq "SIGTERM: closed by the shutdown" 1 \
  "$(grep -c '"closed_by":"shutdown"' "$(scripted_smtp_events "${r554_port}")")"
assert_eq "SIGTERM: stopped" true "$(report_value "${r554_port}" stopped)"

# --- 7. The report on hand-made logs: exact windows, settle, and malformed input. ------------
log="${HAYATE_TEST_DIR}/synthetic.jsonl"
{
  printf '{"event":"start","time":1000.0,"elapsed_s":0.0,"host":"127.0.0.1","port":25,'
  printf '"pid":1,"config":{"window":60.0}}\n'
  for t in 1.0 1.5 2.0 3.0; do
    printf '{"event":"message","time":1001,"elapsed_s":%s,"session":1,"client_ip":' "${t}"
    printf '"127.0.0.2","recipients":["a@example.test"],"queue_id":"1.1"}\n'
  done
} >"${log}"
report_of() { "${HAYATE_PYTHON}" "${HAYATE_INTEGRATION_DIR}/scripted_report.py" "$@"; }
report_of "${log}" --window 1 >"${HAYATE_TEST_DIR}/synthetic.json"
# (t - 1, t]: 1.0 is out of the window that ends at 2.0, so never more than 2.
assert_eq "report: window edge excluded" 2 \
  "$(json_get "${HAYATE_TEST_DIR}/synthetic.json" max_messages_in_window)"
report_of "${log}" --window 1.000001 >"${HAYATE_TEST_DIR}/synthetic.json"
assert_eq "report: a microsecond more includes it" 3 \
  "$(json_get "${HAYATE_TEST_DIR}/synthetic.json" max_messages_in_window)"
report_of "${log}" --window 10 --since 1001.5 >"${HAYATE_TEST_DIR}/synthetic.json"
assert_eq "report: --since" 3 \
  "$(json_get "${HAYATE_TEST_DIR}/synthetic.json" after_settle.messages)"
assert_eq "report: duplicates" '{"a@example.test": 4}' \
  "$(json_get "${HAYATE_TEST_DIR}/synthetic.json" duplicate_recipients)"
malformed() {  # malformed NAME LINE EXPECTED: the log plus LINE is refused with EXPECTED
  local bad="${HAYATE_TEST_DIR}/bad.jsonl" status=0 output
  { cat "${log}"; printf '%s' "$2"; } >"${bad}"
  output="$(report_of "${bad}" 2>&1)" || status=$?
  assert_eq "report: $1 exit status" 65 "${status}"
  assert_contains "report: $1 message" "$3" "${output}"
}
malformed "cut line" '{"event":"message"' "bad.jsonl:6: the last line is cut short"
malformed "not JSON" $'not json\n' "bad.jsonl:6: not JSON"
malformed "unknown event" $'{"event":"nope","time":1,"elapsed_s":5}\n' "unknown event 'nope'"
malformed "missing field" $'{"event":"mail","time":1,"elapsed_s":5,"session":1}\n' \
  "mail event without a valid 'client_ip'"
malformed "time going back" \
  $'{"event":"throttling_stopped","time":1,"elapsed_s":2.5}\n' "goes back in time"
connect='{"event":"connect","time":1,"elapsed_s":4,"session":1,"client_ip":"127.0.0.1",'
connect+='"client_port":1,"concurrent":2,"concurrent_ip":1,"served":true,"served_concurrent":1,'
connect+='"served_concurrent_ip":1}'
malformed "bad concurrency" "${connect}"$'\n' "disagree"
disconnect='{"event":"disconnect","time":1,"elapsed_s":4,"session":7,"client_ip":"127.0.0.1",'
disconnect+='"concurrent":0,"closed_by":"client","messages":0}'
malformed "disconnect without connect" "${disconnect}"$'\n' \
  "session 7 disconnects without a connect"
status=0
report_of "${HAYATE_TEST_DIR}/missing.jsonl" 2>/dev/null || status=$?
assert_eq "report: missing log" 66 "${status}"
