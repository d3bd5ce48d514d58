#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Bounces by SMTP, end to end: a campaign with VERP into hayate-sink, whose bounce… recipients
# are refused at once (550 5.1.1, synchronous); then DSNs and a complaint for other recipients
# are sent by SMTP (Python's smtplib, from the null sender) to `hayate bounces listen`, which
# takes mail only for the campaign's VERP addresses; the next campaign to the same list skips
# exactly the addresses that said no.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
read -r port listen_port < <(free_port 2)
dir="${HAYATE_TEST_DIR}"
mkdir -p "${dir}/maildir"
start_hayate_sink "${port}" --maildir "${dir}/maildir"

printf 'a-listen-secret-of-at-least-16-bytes\n' >"${dir}/verp.key"
csv="email,first_name"
for i in 1 2 3; do csv+=$'\n'"bounce-${i}@v.test,B${i}"; done
for i in $(seq 1 7); do csv+=$'\n'"u${i}@v.test,U${i}"; done
write_campaign "${dir}/a" "${csv}" "[delivery]
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
sed -i 's/^id = "integration"$/id = "listen-a"/' "${dir}/a/job.toml"
run_hayate a run "${dir}/a/job.toml" --out "${dir}/out-a"
assert_eq "campaign: exit" 0 "${HAYATE_EXIT}"
assert_eq "campaign: delivered" 7 "$(json_get "${dir}/out-a/summary.json" delivered)"
assert_eq "campaign: bounced at once" 3 "$(json_get "${dir}/out-a/summary.json" bounced)"
maildir_count() { find "${dir}/maildir/new" -type f | wc -l; }
wait_until_eq "maildir messages" 7 10 maildir_count

"${hayate}" bounces listen "127.0.0.1:${listen_port}" --job "${dir}/a/job.toml" --exit-after 3 \
  >"${dir}/listen.out" 2>"${dir}/listen.err" </dev/null &
listen_pid=$!
wait_for_smtp 127.0.0.1 "${listen_port}" 10 "${listen_pid}"

# A hard bounce for u1, a complaint about u2, a full mailbox (soft: counted, not suppressed)
# for u3, each to the VERP address its message went out with; two addresses that are not
# ours, u4's token one character off, another campaign's token for u4's row and a token for
# u4's row made for another address: refused; a second valid address in one transaction:
# deferred.
"${HAYATE_PYTHON}" - "${dir}/maildir/new" "${listen_port}" <<'PY' || fail "sending the bounces"
import base64, hashlib, hmac, os, smtplib, sys
maildir, port = sys.argv[1], int(sys.argv[2])
secret = b"a-listen-secret-of-at-least-16-bytes"
sender = {}
for name in os.listdir(maildir):
    data = open(os.path.join(maildir, name), "rb").read().decode().replace("\r\n", "\n")
    head = dict(line.split(": ", 1) for line in data.split("\n\n", 1)[0].split("\n")
                if ": " in line and not line[0].isspace())
    sender[head["Delivered-To"]] = head["Return-Path"].strip("<>")

def leb128(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))

def token_address(campaign_id, row, recipient):
    """A VERP address as README.md's "VERP tokens" describes it, made without hayate."""
    signed = bytes([2]) + hashlib.sha256(campaign_id.encode()).digest()[:4] + leb128(row)
    mac = hmac.new(secret, signed + recipient.encode(), hashlib.sha256).digest()[:10]
    token = base64.b32encode(signed + mac).decode().lower().rstrip("=")
    return f"bounces+{token}@bounces.example.com"

u4_row = 3 + 4
assert token_address("listen-a", u4_row, "u4@v.test") == sender["u4@v.test"], "README's format"
forged = sender["u4@v.test"]
forged = forged[:20] + ("a" if forged[20] != "a" else "b") + forged[21:]

def dsn(to, recipient, action, status, diagnostic):
    return f"""From: MAILER-DAEMON@mx.v.test
To: {to}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Your message could not be delivered.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.v.test

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--b--
"""

complaint = f"""From: feedback@isp.test
To: {sender["u2@v.test"]}
Subject: complaint
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="f"

--f
Content-Type: text/plain

A complaint.

--f
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: isp-fbl/1.0
Version: 1
Original-Mail-From: <{sender["u2@v.test"]}>
Original-Rcpt-To: <u2@v.test>

--f--
"""
messages = [
    (sender["u1@v.test"], dsn(sender["u1@v.test"], "u1@v.test", "failed", "5.1.1",
                              "550 5.1.1 <u1@v.test>: Recipient address rejected: User unknown")),
    (sender["u2@v.test"], complaint),
    (sender["u3@v.test"], dsn(sender["u3@v.test"], "u3@v.test", "failed", "5.2.2",
                              "552 5.2.2 <u3@v.test>: Mailbox full")),
]
with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
    smtp.ehlo("mx.v.test")
    for not_ours in ("postmaster@bounces.example.com", "someone@elsewhere.test", forged,
                     token_address("listen-other", u4_row, "u4@v.test"),
                     token_address("listen-a", u4_row, "u5@v.test")):
        code, _ = smtp.docmd("MAIL FROM:<>")
        assert code == 250, code
        code, reply = smtp.docmd(f"RCPT TO:<{not_ours}>")
        assert code == 550 and b"5.1.1" in reply, (not_ours, code, reply)
        smtp.rset()
    # One bounce address a message: a second valid one is deferred, not taken along.
    code, _ = smtp.docmd("MAIL FROM:<>")
    assert code == 250, code
    code, reply = smtp.docmd(f"RCPT TO:<{sender['u4@v.test']}>")
    assert code == 250, (code, reply)
    code, reply = smtp.docmd(f"RCPT TO:<{sender['u5@v.test']}>")
    assert code == 452 and b"4.5.3" in reply, (code, reply)
    smtp.rset()
    for to, message in messages:
        refused = smtp.sendmail("", [to], message.encode())
        assert not refused, refused
print("ok three reports accepted, five foreign or forged addresses refused with 550 5.1.1, "
      "a second bounce address in one transaction deferred with 452 4.5.3")
PY

set +e
timeout 20 tail --pid="${listen_pid}" -f /dev/null
wait "${listen_pid}"
listen_exit=$?
set -e
cat "${dir}/listen.err" >&2
assert_eq "listen: exit after 3 messages" 0 "${listen_exit}"
assert_contains "listen: its summary" "3 messages: 2 bounces, 1 complaints, 0 autoreplies, 0 delays; 2 suppressed, 1 soft bounces counted" \
  "$(cat "${dir}/listen.out")"

sed 's/^id = "listen-a"$/id = "listen-b"/' "${dir}/a/job.toml" >"${dir}/a/job-b.toml"
run_hayate b run "${dir}/a/job-b.toml" --out "${dir}/out-b"
assert_eq "next campaign: exit" 0 "${HAYATE_EXIT}"
assert_eq "next campaign: suppressed exactly those" \
  "bounce-1@v.test,bounce-2@v.test,bounce-3@v.test,u1@v.test,u2@v.test" \
  "$(grep '"type":"suppressed"' "${dir}/out-b/deliveries.jsonl" |
    sed 's/.*"recipient":"\([^"]*\)".*/\1/' | sort | paste -sd,)"
assert_eq "next campaign: delivered" 5 "$(json_get "${dir}/out-b/summary.json" delivered)"

# The recipients file changed since the mailing: u4 and u5 swapped rows. Their tokens no longer
# verify for their rows and are refused at RCPT; u6's row did not change, so its bounce is
# still taken (and u6 suppressed).
mkdir -p "${dir}/swapped"
cp "${dir}/a/job.toml" "${dir}/a/body.txt" "${dir}/swapped/"
sed -e 's/^u4@/u5-tmp@/' -e 's/^u5@/u4@/' -e 's/^u5-tmp@/u5@/' "${dir}/a/recipients.csv" \
  >"${dir}/swapped/recipients.csv"
assert_eq "the swapped file" "u5@v.test,U4|u4@v.test,U5" \
  "$(grep -E '^u[45]@' "${dir}/swapped/recipients.csv" | paste -sd'|')"
"${hayate}" bounces listen "127.0.0.1:${listen_port}" --job "${dir}/swapped/job.toml" \
  --exit-after 1 >"${dir}/listen2.out" 2>"${dir}/listen2.err" </dev/null &
listen_pid=$!
wait_for_smtp 127.0.0.1 "${listen_port}" 10 "${listen_pid}"
"${HAYATE_PYTHON}" - "${listen_port}" <<'PY' || fail "(swapped) RCPTs"
import base64, hashlib, hmac, smtplib, sys
port = int(sys.argv[1])
secret = b"a-listen-secret-of-at-least-16-bytes"

def token_address(campaign_id, row, recipient):
    """As above, where it was checked against what listen-a's messages went out with."""
    signed = bytes([2]) + hashlib.sha256(campaign_id.encode()).digest()[:4] + bytes([row])
    mac = hmac.new(secret, signed + recipient.encode(), hashlib.sha256).digest()[:10]
    return f"bounces+{base64.b32encode(signed + mac).decode().lower().rstrip('=')}" \
        "@bounces.example.com"

# Rows 1-3 are bounce-1..3, rows 4-10 u1..u7.
sender = {f"u{i}@v.test": token_address("listen-a", 3 + i, f"u{i}@v.test") for i in (4, 5, 6)}
with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
    smtp.ehlo("mx.v.test")
    for moved in ("u4@v.test", "u5@v.test"):
        code, _ = smtp.docmd("MAIL FROM:<>")
        assert code == 250, code
        code, reply = smtp.docmd(f"RCPT TO:<{sender[moved]}>")
        assert code == 550 and b"5.1.1" in reply, (moved, code, reply)
        smtp.rset()
    report = f"""From: MAILER-DAEMON@mx.v.test
To: {sender["u6@v.test"]}
Subject: failure notice

<u6@v.test>:
Sorry, no mailbox here by that name. (#5.1.1)
"""
    assert not smtp.sendmail("", [sender["u6@v.test"]], report.encode())
print("ok the swapped rows' tokens refused, the unchanged row's taken")
PY
set +e
timeout 20 tail --pid="${listen_pid}" -f /dev/null
wait "${listen_pid}"
listen_exit=$?
set -e
cat "${dir}/listen2.err" >&2
assert_eq "listen (swapped): exit after 1 message" 0 "${listen_exit}"
assert_contains "listen (swapped): its summary" "1 messages: 1 bounces, 0 complaints, \
0 autoreplies, 0 delays; 1 suppressed" "$(cat "${dir}/listen2.out")"
assert_contains "listen (swapped): u6 is suppressed" "u6@v.test" \
  "$("${hayate}" suppress list --db "${dir}/suppression.db")"
