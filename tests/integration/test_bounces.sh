#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Bounces into the suppression list, end to end. (a) A campaign into hayate-sink whose bounce…
# recipients get 550 5.1.1: deliveries.jsonl carries reason and hard, summary.json and
# domains.csv count per reason, the list holds exactly the hard-bounced addresses, and a new
# campaign to the same list skips exactly them (the sink never sees them again). (b) A campaign
# with VERP, then RFC 3464 DSNs, an ARF complaint, a qmail bounce and an auto-reply built for
# its VERP envelope senders, read by `hayate bounces ingest --job`: exactly the hard bounces
# and the complaint are suppressed (the VERP token outranks a forwarded address in the DSN and
# the other recipients a DSN names; a report or complaint to a forged token, another
# campaign's or one of version 1 records nothing and is counted), and a third campaign skips them; with the
# recipients file replaced or two rows swapped since, tokens of the changed rows map to nobody. (c) A run killed with SIGKILL
# after a bounce: the next run of that output records it before checking its recipients.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
read -r port slow_port < <(free_port 2)
dir="${HAYATE_TEST_DIR}"
# The host's state store is the test's folder: (a)'s list is ${dir}/suppression.db, the one
# (b) and (c) name with path = "../suppression.db".
export HAYATE_STATE_DIR="${dir}"
mkdir -p "${dir}/maildir"
start_hayate_sink "${port}" --stats-file "${dir}/sink.json" --maildir "${dir}/maildir"
sink_pid="${HAYATE_LAST_PID}"

joined() {  # the arguments joined with '|'
  local IFS='|'
  printf '%s\n' "$*"
}
list_addresses() {  # the list's entries as "address source reason", sorted, one a line
  run_hayate list suppress list --json --db "${dir}/suppression.db"
  [[ "${HAYATE_EXIT}" == 0 ]] || fail "suppress list: exit ${HAYATE_EXIT}"
  "${HAYATE_PYTHON}" -c '
import json, sys
for e in sorted(map(json.loads, open(sys.argv[1])), key=lambda e: e["address"]):
    print(e["address"], e["source"], e["reason"])' "${dir}/list.out"
}

# --- (a) synchronous bounces ---------------------------------------------------------------
csv="email,first_name"
for i in $(seq 0 29); do csv+=$'\n'"user${i}@d$((i % 3)).test,User ${i}"; done
for i in 0 1 2 3; do csv+=$'\n'"bounce-${i}@b.test,Bounce"; done
csv+=$'\n'"bounce-x@d1.test,Bounce"$'\n'"datafail-0@df.test,Data"$'\n'"tempfail-0@t.test,Temp"
write_campaign "${dir}" "${csv}" "[delivery]
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${port}\""
sed -i 's/^id = "integration"$/id = "bounces-a"/' "${dir}/job.toml"

run_hayate a run "${dir}/job.toml" --out "${dir}/out-a"
assert_eq "(a) exit: the tempfail recipient is still deferred" 75 "${HAYATE_EXIT}"
summary="${dir}/out-a/summary.json"
assert_eq "(a) delivered" 30 "$(json_get "${summary}" delivered)"
assert_eq "(a) bounced" 6 "$(json_get "${summary}" bounced)"
assert_eq "(a) bounce_reasons" '{"contenterror": 1, "userunknown": 5}' \
  "$(json_get "${summary}" bounce_reasons)"
assert_eq "(a) suppression_recorded" \
  '{"already_suppressed": 0, "soft_counted": 0, "suppressed": 5}' \
  "$(json_get "${summary}" suppression_recorded)"
assert_contains "(a) stderr: reasons" "bounce reasons: userunknown 5, contenterror 1" \
  "$(cat "${dir}/a.err")"
assert_contains "(a) stderr: the list" "suppression list: 5 suppressed, 0 soft bounces counted" \
  "$(cat "${dir}/a.err")"
domains="$(cat "${dir}/out-a/domains.csv")"
assert_eq "(a) domains.csv header" \
  "domain,recipients,delivered,bounced,deferred,rejected,suppressed,attempts,mean_latency_ms,\
bounce_reasons" \
  "$(head -1 "${dir}/out-a/domains.csv")"
assert_contains "(a) domains.csv: b.test" "b.test,4,0,4,0,0,0,4," "${domains}"
assert_eq "(a) domains.csv: per-domain reasons" "userunknown:4|userunknown:1|contenterror:1|" \
  "$(grep -E '^(b|d1|df|t)\.test,' "${dir}/out-a/domains.csv" | sort | cut -d, -f10 | paste -sd'|')"
"${HAYATE_PYTHON}" - "${dir}/out-a/deliveries.jsonl" <<'PY' || fail "(a) deliveries.jsonl"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
got = {r["recipient"]: (r["type"], r.get("reason"), r.get("hard")) for r in records
       if r["type"] != "delivered"}
want = {f"bounce-{i}@b.test": ("bounced", "userunknown", True) for i in range(4)}
want["bounce-x@d1.test"] = ("bounced", "userunknown", True)
want["datafail-0@df.test"] = ("bounced", "contenterror", False)
want["tempfail-0@t.test"] = ("deferred", "systemerror", False)
if got != want:
    sys.exit(f"failures: {got}")
if any("reason" in r or "hard" in r for r in records if r["type"] == "delivered"):
    sys.exit("a delivered record has a reason")
PY
assert_eq "(a) deliveries.jsonl reason/hard" ok ok
assert_eq "(a) no pending marker after a clean run" no \
  "$([[ -e "${dir}/out-a/bounces.pending" ]] && echo yes || echo no)"
hard_bounces=("bounce-0@b.test bounce userunknown" "bounce-1@b.test bounce userunknown"
  "bounce-2@b.test bounce userunknown" "bounce-3@b.test bounce userunknown"
  "bounce-x@d1.test bounce userunknown")
assert_eq "(a) the list holds exactly the hard bounces" "$(joined "${hard_bounces[@]}")" \
  "$(list_addresses | paste -sd'|')"

sed 's/^id = "bounces-a"$/id = "bounces-a2"/' "${dir}/job.toml" >"${dir}/job-a2.toml"
run_hayate a2 run "${dir}/job-a2.toml" --out "${dir}/out-a2"
assert_eq "(a) second campaign: exit" 75 "${HAYATE_EXIT}"
assert_eq "(a) second campaign: suppressed" 5 "$(json_get "${dir}/out-a2/summary.json" suppressed)"
assert_eq "(a) second campaign: bounced (datafail only)" 1 \
  "$(json_get "${dir}/out-a2/summary.json" bounced)"
assert_eq "(a) second campaign: suppressed exactly those" \
  "bounce-0@b.test,bounce-1@b.test,bounce-2@b.test,bounce-3@b.test,bounce-x@d1.test" \
  "$(grep '"type":"suppressed"' "${dir}/out-a2/deliveries.jsonl" |
    sed 's/.*"recipient":"\([^"]*\)".*/\1/' | sort | paste -sd,)"

# --- (b) asynchronous bounces through VERP ---------------------------------------------------
mkdir -p "${dir}/b"
printf 'another-secret-of-at-least-16-bytes\n' >"${dir}/b/verp.key"
csv="email,first_name"
for i in $(seq 0 9); do csv+=$'\n'"u${i}@v.test,U${i}"; done
write_campaign "${dir}/b" "${csv}" "[delivery]
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${port}\"
[verp]
prefix = \"bounces\"
domain = \"bounces.example.com\"
secret_file = \"verp.key\"
[suppression]
path = \"../suppression.db\""
sed -i 's/^id = "integration"$/id = "bounces-b"/' "${dir}/b/job.toml"
run_hayate b run "${dir}/b/job.toml" --out "${dir}/out-b"
assert_eq "(b) campaign with VERP: exit" 0 "${HAYATE_EXIT}"
assert_eq "(b) delivered" 10 "$(json_get "${dir}/out-b/summary.json" delivered)"
maildir_count() { find "${dir}/maildir/new" -type f | wc -l; }
wait_until_eq "maildir messages" $((30 + 30 + 10)) 10 maildir_count

# The bounces, as receiving MTAs would send them to each recipient's VERP envelope sender.
mkdir -p "${dir}/bounces/new" "${dir}/bounces/cur" "${dir}/bounces/tmp"
"${HAYATE_PYTHON}" - "${dir}/maildir/new" "${dir}/bounces" <<'PY' || fail "building the DSNs"
import base64, hashlib, hmac, os, sys
maildir, out = sys.argv[1], sys.argv[2]
secret = b"another-secret-of-at-least-16-bytes"
sent = {}  # recipient -> (VERP envelope sender, the message as stored)
for name in os.listdir(maildir):
    data = open(os.path.join(maildir, name), "rb").read().decode().replace("\r\n", "\n")
    head = dict(line.split(": ", 1) for line in data.split("\n\n", 1)[0].split("\n")
                if ": " in line and not line[0].isspace())
    if head.get("Delivered-To", "").endswith("@v.test"):
        sent[head["Delivered-To"]] = (head["Return-Path"].strip("<>"), data)
assert len(sent) == 10 and all(s.startswith("bounces+") for s, _ in sent.values()), sent

def original_headers(recipient):
    return sent[recipient][1].split("\n\n", 1)[0] + "\n"

def dsn(to, final_recipient, action, status, diagnostic, original_for, remote="mx.v.test"):
    return f"""Return-Path: <>
From: Mail Delivery System <MAILER-DAEMON@mx.v.test>
To: <{to}>
Subject: Undelivered Mail Returned to Sender
Date: Tue, 3 Nov 2026 14:05:09 +0000
Message-ID: <dsn.{abs(hash((to, final_recipient))) }@mx.v.test>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
 boundary="dsn-boundary"

This is a MIME-encapsulated message.

--dsn-boundary
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.v.test.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{final_recipient}>: host {remote}[192.0.2.25] said: {diagnostic}

--dsn-boundary
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.v.test
X-Postfix-Queue-ID: 4Q2kLm1XyZz9sWp
Arrival-Date: Tue, 3 Nov 2026 14:05:01 +0000

Final-Recipient: rfc822; {final_recipient}
Original-Recipient: rfc822;{final_recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; {remote}
Diagnostic-Code: smtp; {diagnostic}

--dsn-boundary
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

{original_headers(original_for)}
--dsn-boundary--
"""

def verp(recipient):
    return sent[recipient][0]

def leb128(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))

def token_address(campaign_id, row, recipient, version=2):
    """A VERP address as README.md's "VERP tokens" describes it, made without hayate; version 1
    is the format before it (no version byte, a 5-byte tag, a MAC without the address)."""
    tag = hashlib.sha256(campaign_id.encode()).digest()
    signed = bytes([2]) + tag[:4] + leb128(row) if version == 2 else tag[:5] + leb128(row)
    signed_address = signed + recipient.encode() if version == 2 else signed
    mac = hmac.new(secret, signed_address, hashlib.sha256).digest()[:10]
    token = base64.b32encode(signed + mac).decode().lower().rstrip("=")
    return f"bounces+{token}@bounces.example.com"

assert token_address("bounces-b", 9, "u8@v.test") == verp("u8@v.test"), "the README's format"
forged = verp("u8@v.test")
forged = forged[:20] + ("a" if forged[20] != "a" else "b") + forged[21:]  # one character off
messages = {
    # u1 moved to another mailbox that no longer exists: the DSN names the forwarded address,
    # the VERP token the one we mailed.
    "1.eml": dsn(verp("u1@v.test"), "forwarded-u1@elsewhere.test", "failed", "5.1.1",
                 "550 5.1.1 <forwarded-u1@elsewhere.test>: Recipient address rejected: User "
                 "unknown in local recipient table", "u1@v.test", "mx.elsewhere.test"),
    # No VERP: the report's own recipient.
    "2.eml": dsn("news@example.com", "u5@v.test", "failed", "5.1.1",
                 "550-5.1.1 The email account that you tried to reach does not exist.",
                 "u5@v.test"),
    # Soft: counted, not suppressed (soft_bounce_count is 3).
    "3.eml": dsn(verp("u6@v.test"), "u6@v.test", "failed", "5.2.2",
                 "552 5.2.2 <u6@v.test>: Recipient address rejected: Mailbox full", "u6@v.test"),
    # Still being retried: not a failure.
    "4.eml": dsn(verp("u4@v.test"), "u4@v.test", "delayed", "4.4.1",
                 "connect to mx.v.test[192.0.2.25]:25: Connection timed out", "u4@v.test"),
    # About our IP, not the recipient.
    "5.eml": dsn(verp("u9@v.test"), "u9@v.test", "failed", "5.7.1",
                 "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using "
                 "zen.spamhaus.org", "u9@v.test"),
    # A forged token: the message proves nothing, not even about the address its DSN names.
    "6.eml": dsn(forged, "stranger@elsewhere.test", "failed", "5.1.1",
                 "550 5.1.1 User unknown", "u8@v.test"),
    # Another campaign's token (same secret), naming one of ours: proves nothing here either.
    "7.eml": dsn(token_address("bounces-other", 9, "u8@v.test"), "u8@v.test", "failed", "5.1.1",
                 "550 5.1.1 User unknown", "u8@v.test"),
    # A version 1 token of this campaign for u8's row: it names the row, not the address, so
    # it cannot say who was mailed; refused.
    "9.eml": dsn(token_address("bounces-b", 9, "", version=1), "u8@v.test", "failed", "5.1.1",
                 "550 5.1.1 User unknown", "u8@v.test"),
}
# u0's token, and a DSN that names u0 (mailbox full) and a bystander (unknown): VERP mail has
# one recipient a message, so only the finding about u0 counts.
two = dsn(verp("u0@v.test"), "bystander@elsewhere.test", "failed", "5.1.1",
          "550 5.1.1 <bystander@elsewhere.test>: User unknown", "u0@v.test")
messages["8.eml"] = two.replace("""
--dsn-boundary
Content-Description: Undelivered Message Headers""", """
Final-Recipient: rfc822; u0@v.test
Action: failed
Status: 5.2.2
Diagnostic-Code: smtp; 552 5.2.2 <u0@v.test>: Mailbox full

--dsn-boundary
Content-Description: Undelivered Message Headers""")
assert messages["8.eml"] != two
for name, text in messages.items():
    open(os.path.join(out, "new", name), "w").write(text)

# For a recipients file changed after the mailing: u0's token naming u0, u3's naming u3, and
# u9's naming the address it was forwarded to.
changed = os.path.join(out, "..", "changed")
for sub in ("new", "cur", "tmp"):
    os.makedirs(os.path.join(changed, sub))
for name, (recipient, named) in {"s1.eml": ("u0@v.test", "u0@v.test"),
                                  "s2.eml": ("u3@v.test", "u3@v.test"),
                                  "s3.eml": ("u9@v.test", "forwarded-u9@elsewhere.test")}.items():
    open(os.path.join(changed, "new", name), "w").write(
        dsn(verp(recipient), named, "failed", "5.1.1", "550 5.1.1 User unknown", recipient))

# An mbox: qmail's plain-text bounce (through VERP) and a vacation reply.
qmail = f"""From MAILER-DAEMON Tue Nov  3 14:05:09 2026
Return-Path: <>
From: MAILER-DAEMON@mail.v.test
To: {verp("u2@v.test")}
Subject: failure notice
Date: Tue, 3 Nov 2026 14:05:09 +0000

Hi. This is the qmail-send program at mail.v.test.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<u2@v.test>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

{original_headers("u2@v.test")}
"""
vacation = f"""From u3@v.test Tue Nov  3 14:05:10 2026
From: U3 <u3@v.test>
To: {verp("u3@v.test")}
Subject: Out of office: Hi U3
Date: Tue, 3 Nov 2026 14:05:10 +0000
Auto-Submitted: auto-replied

I am away until Monday and will read your message when I return.
"""
open(os.path.join(out, "..", "bounces.mbox"), "w").write(qmail + "\n" + vacation)

# A single file: an ARF complaint (RFC 5965) about the message to u7; and in the Maildir, one
# whose Original-Mail-From is a forged token and whose Original-Rcpt-To names u9.
def complaint(mail_from, rcpt_to, original_for):
    return f"""From: feedback@fbl.v.test
To: fbl@example.com
Subject: FW: Hi U7
Date: Tue, 3 Nov 2026 15:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
 boundary="arf-boundary"

--arf-boundary
Content-Type: text/plain; charset=us-ascii

This is an email abuse report for an email message received from IP 192.0.2.1.

--arf-boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ExampleFBL/1.0
Version: 1
Original-Mail-From: <{mail_from}>
Original-Rcpt-To: <{rcpt_to}>
Arrival-Date: Tue, 3 Nov 2026 14:05:09 +0000
Source-IP: 192.0.2.1
Reported-Domain: example.com

--arf-boundary
Content-Type: message/rfc822

{sent[original_for][1]}
--arf-boundary--
"""

open(os.path.join(out, "..", "complaint.eml"), "w").write(
    complaint(verp("u7@v.test"), "u7@v.test", "u7@v.test"))
open(os.path.join(out, "new", "c.eml"), "w").write(complaint(forged, "u9@v.test", "u9@v.test"))
PY
cp "${dir}/suppression.db" "${dir}/before-ingest.db"

run_hayate dry bounces ingest "${dir}/bounces" "${dir}/bounces.mbox" "${dir}/complaint.eml" \
  --job "${dir}/b/job.toml" --dry-run
assert_eq "(b) dry run: exit" 0 "${HAYATE_EXIT}"
events=("1.eml u1@v.test bounce userunknown true 5.1.1 suppress - forwarded-u1@elsewhere.test"
  "2.eml u5@v.test bounce userunknown true 5.1.1 suppress - -"
  "3.eml u6@v.test bounce mailboxfull false 5.2.2 count_soft - -"
  "6.eml stranger@elsewhere.test bounce userunknown true 5.1.1 bad_token forged -"
  "7.eml u8@v.test bounce userunknown true 5.1.1 bad_token other_campaign -"
  "8.eml u0@v.test bounce mailboxfull false 5.2.2 count_soft - -"
  "9.eml u8@v.test bounce userunknown true 5.1.1 bad_token old_version -"
  "c.eml u9@v.test complaint abuse false  bad_token forged -"
  "bounces.mbox:1 u2@v.test bounce userunknown true 5.1.1 suppress - -"
  "complaint.eml u7@v.test complaint abuse false  suppress - -")
assert_eq "(b) dry run: the events" "$(joined "${events[@]}")" \
  "$("${HAYATE_PYTHON}" -c '
import json, os, sys
for e in map(json.loads, open(sys.argv[1])):
    print(os.path.basename(e["file"]), e["recipient"], e["source"], e["reason"],
          str(e["hard"]).lower(), e["status"], e["effect"], e.get("token", "-"),
          e.get("reported_recipient", "-"))' "${dir}/dry.out" | paste -sd'|')"
found="13 messages: 9 bounces, 2 complaints, 1 autoreply, 1 delay"
bad_tokens="4 with a bad VERP token (2 forged, 1 another campaign's, 1 old format)"
assert_contains "(b) dry run: summary on stderr" "hayate bounces ingest: ${found}; 4 would be \
suppressed, 2 soft bounces would be counted, 1 not about the recipient, 0 without a recipient, \
${bad_tokens}" "$(cat "${dir}/dry.err")"
cmp -s "${dir}/suppression.db" "${dir}/before-ingest.db" || fail "(b) the dry run changed the list"

run_hayate ingest bounces ingest "${dir}/bounces" "${dir}/bounces.mbox" "${dir}/nonexistent" \
  "${dir}/complaint.eml" --job "${dir}/b/job.toml"
assert_eq "(b) ingest with an unreadable path: exit" 66 "${HAYATE_EXIT}"
assert_contains "(b) ingest names the unreadable path" "${dir}/nonexistent" \
  "$(cat "${dir}/ingest.err")"
assert_eq "(b) ingest: one summary line" "hayate bounces ingest: ${found}; 4 suppressed, 2 soft \
bounces counted, 0 already suppressed, 1 not about the recipient, 0 without a recipient, \
${bad_tokens} (${dir}/b/../suppression.db)" "$(cat "${dir}/ingest.out")"
ingested=("u1@v.test bounce userunknown" "u2@v.test bounce userunknown"
  "u5@v.test bounce userunknown" "u7@v.test complaint abuse")
assert_eq "(b) the list after ingest" "$(joined "${hard_bounces[@]}" "${ingested[@]}")" \
  "$(list_addresses | paste -sd'|')"

sed 's/^id = "bounces-b"$/id = "bounces-b3"/' "${dir}/b/job.toml" >"${dir}/b/job3.toml"
run_hayate b3 run "${dir}/b/job3.toml" --out "${dir}/out-b3"
assert_eq "(b) third campaign: exit" 0 "${HAYATE_EXIT}"
assert_eq "(b) third campaign: suppressed" 4 "$(json_get "${dir}/out-b3/summary.json" suppressed)"
assert_eq "(b) third campaign: delivered" 6 "$(json_get "${dir}/out-b3/summary.json" delivered)"
assert_eq "(b) third campaign: suppressed exactly those" "u1@v.test,u2@v.test,u5@v.test,u7@v.test" \
  "$(grep '"type":"suppressed"' "${dir}/out-b3/deliveries.jsonl" |
    sed 's/.*"recipient":"\([^"]*\)".*/\1/' | sort | paste -sd,)"
wait_until_eq "maildir messages" $((30 + 30 + 10 + 6)) 10 maildir_count
stop_process "${sink_pid}"

# --- (b) the recipients file changed after the mailing ------------------------------------
# A token names a row and, through its MAC, the address mailed: once that row holds someone
# else it maps to nobody. Replaced by other addresses: nothing is recorded. Rows 1 and 10 (u0
# and u9) swapped: only the bounce for u3, whose row did not change, is.
for variant in replaced swapped; do
  mkdir -p "${dir}/b-${variant}"
  cp "${dir}/b/job.toml" "${dir}/b/verp.key" "${dir}/b/body.txt" "${dir}/b-${variant}/"
done
csv="email,first_name"
for i in $(seq 0 9); do csv+=$'\n'"new${i}@v.test,N${i}"; done
printf '%s\n' "${csv}" >"${dir}/b-replaced/recipients.csv"
csv="email,first_name"$'\n'"u9@v.test,U9"
for i in $(seq 1 8); do csv+=$'\n'"u${i}@v.test,U${i}"; done
printf '%s\n%s\n' "${csv}" "u0@v.test,U0" >"${dir}/b-swapped/recipients.csv"
changed_found="3 messages: 3 bounces, 0 complaints, 0 autoreplies, 0 delays"
run_hayate replaced bounces ingest "${dir}/changed" --job "${dir}/b-replaced/job.toml"
assert_eq "(b) replaced file: exit" 0 "${HAYATE_EXIT}"
assert_eq "(b) replaced file: nothing recorded, the tokens counted" \
  "hayate bounces ingest: ${changed_found}; 0 suppressed, 0 soft bounces counted, 0 already \
suppressed, 0 not about the recipient, 0 without a recipient, 3 with a bad VERP token (1 forged, \
2 stale) (${dir}/b-replaced/../suppression.db)" "$(cat "${dir}/replaced.out")"
run_hayate swapped bounces ingest "${dir}/changed" --job "${dir}/b-swapped/job.toml"
assert_eq "(b) swapped rows: exit" 0 "${HAYATE_EXIT}"
assert_eq "(b) swapped rows: u3's bounce recorded, u0's and u9's counted" \
  "hayate bounces ingest: ${changed_found}; 1 suppressed, 0 soft bounces counted, 0 already \
suppressed, 0 not about the recipient, 0 without a recipient, 2 with a bad VERP token (1 forged, \
1 stale) (${dir}/b-swapped/../suppression.db)" "$(cat "${dir}/swapped.out")"
assert_eq "(b) the list after the changed files: u3 only" \
  "$(joined "${hard_bounces[@]}" "u1@v.test bounce userunknown" "u2@v.test bounce userunknown" \
    "u3@v.test bounce userunknown" "u5@v.test bounce userunknown" "u7@v.test complaint abuse")" \
  "$(list_addresses | paste -sd'|')"

assert_eq "sink: bounce recipients refused only by the first campaign" 5 \
  "$(json_get "${dir}/sink.json" rcpt_bounce)"
assert_eq "sink: messages" $((30 + 30 + 10 + 6)) "$(json_get "${dir}/sink.json" messages)"

# --- (c) a run killed after a bounce ---------------------------------------------------------
start_hayate_sink "${slow_port}" --slow-ms 3000
mkdir -p "${dir}/c"
write_campaign "${dir}/c" $'email,first_name\nbounce-killed@k.test,K\nslow-0@s.test,S' "[delivery]
retry_schedule = []
connections_per_domain = 1
[routes]
\"*\" = \"127.0.0.1:${slow_port}\"
[suppression]
path = \"../suppression.db\""
sed -i 's/^id = "integration"$/id = "bounces-c"/' "${dir}/c/job.toml"
# The slow recipient holds the run for 3 s after the bounce: time enough to kill it.
"${hayate}" run "${dir}/c/job.toml" --out "${dir}/out-c" --quiet 2>"${dir}/c1.err" &
run_pid=$!
bounce_lines() { grep -c '"type":"bounced"' "${dir}/out-c/deliveries.jsonl" 2>/dev/null || true; }
wait_until_eq "(c) the bounce is in deliveries.jsonl" 1 20 bounce_lines
kill -KILL "${run_pid}"
wait "${run_pid}" 2>/dev/null || true
assert_eq "(c) killed: the marker stays" yes \
  "$([[ -e "${dir}/out-c/bounces.pending" ]] && echo yes)"
assert_eq "(c) killed: not on the list yet" "" "$(list_addresses | grep killed || true)"
run_hayate c2 run "${dir}/c/job.toml" --out "${dir}/out-c"
assert_eq "(c) rerun: exit" 0 "${HAYATE_EXIT}"
assert_contains "(c) rerun says what it recorded" \
  "recorded 1 bounce an earlier run left off the suppression list (1 suppressed)" \
  "$(cat "${dir}/c2.err")"
assert_eq "(c) rerun: the bounce is on the list" "bounce-killed@k.test bounce userunknown" \
  "$(list_addresses | grep killed)"
# Final in the journal before the kill (skipped), or not yet (then found on the list).
assert_eq "(c) rerun: the killed run's bounce is not sent again" 1 \
  "$(($(json_get "${dir}/out-c/summary.json" skipped_as_final_before) +
    $(json_get "${dir}/out-c/summary.json" suppressed)))"
assert_eq "(c) no marker after the rerun" no \
  "$([[ -e "${dir}/out-c/bounces.pending" ]] && echo yes || echo no)"
