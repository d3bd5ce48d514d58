#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# One judgement on both paths: a campaign into aiosmtpd (a server we did not write) that
# refuses each recipient at RCPT with a real server's words, then the same words as DSNs
# (Postfix's form: "in reply to RCPT TO command") through `hayate bounces classify` and
# `hayate bounces ingest`. The run's deliveries.jsonl reason and hard/soft, and its
# suppression list, must equal what the bounce path says of the same reply.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null
read -r port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"

# LOCAL-PART, the reply its RCPT gets, and the reason both paths must give (Sisimai 5's).
# (No DNS block list wording: hayate's shipped reply rules defer those and rest the source.)
cat >"${dir}/cases.tsv" <<'CASES'
uu	550 5.1.1 <uu@agree.test>: Recipient address rejected: User unknown in virtual mailbox table	userunknown
nouser	550 No such user here	userunknown
full	552 5.2.2 Mailbox full	mailboxfull
refused	554 5.7.1 You are not allowed to connect.	blocked
dmarc	550 5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy	authfailure
disabled	550 5.2.1 The email account that you tried to reach is disabled	suspend
relay	554 5.7.1 <relay@agree.test>: Relay access denied	norelaying
ptr	550 5.7.25 The IP address sending this message does not have a PTR record setup	requireptr
daily	550 5.4.5 Daily user sending limit exceeded	ratelimited
policy	550 5.7.1 Message rejected due to local policy	policyviolation
size	552 5.3.4 Message size exceeds fixed maximum message size	mesgtoobig
prefs	550 5.7.1 Refused due to recipient preferences	filtered
moved	551 5.1.6 User has moved; please try <new@elsewhere.test>	hasmoved
nxdomain	550 5.1.2 Host or domain name not found	hostunknown
CASES
cut -f1,2 "${dir}/cases.tsv" >"${dir}/replies.tsv"
start_aiosmtpd "${port}" --replies "${dir}/replies.tsv"

csv="email,first_name"
while IFS=$'\t' read -r local _ _; do csv+=$'\n'"${local}@agree.test,X"; done <"${dir}/cases.tsv"
csv+=$'\n'"fine@agree.test,F"
write_campaign "${dir}/run" "${csv}" "[delivery]
helo = \"client.hayate.test\"
[routes]
\"*\" = \"127.0.0.1:${port}\""
run_hayate run run "${dir}/run/job.toml" --out "${dir}/run/out"
cases=$(wc -l <"${dir}/cases.tsv")
assert_eq "run: bounced" "${cases}" "$(json_get "${dir}/run/out/summary.json" bounced)"
assert_eq "run: delivered" 1 "$(json_get "${dir}/run/out/summary.json" delivered)"

# The same replies as DSNs from the sending MTA, one message each, into a Maildir.
mkdir -p "${dir}/dsn/new" "${dir}/dsn/cur" "${dir}/dsn/tmp"
"${HAYATE_PYTHON}" - "${dir}/cases.tsv" "${dir}/dsn/new" <<'PY'
import sys
cases, folder = sys.argv[1], sys.argv[2]
for n, line in enumerate(open(cases, encoding="utf-8")):
    local, reply, _ = line.rstrip("\n").split("\t")
    rcpt = f"{local}@agree.test"
    with open(f"{folder}/{n}.dsn:2,", "w", encoding="utf-8") as out:
        out.write(f"""From: MAILER-DAEMON@mx.sender.test (Mail Delivery System)
To: news@example.com
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B{n}"

--B{n}
Content-Type: text/plain

<{rcpt}>: host 127.0.0.1[127.0.0.1] said: {reply} (in reply to RCPT TO command)

--B{n}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.sender.test

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: {reply.split()[1] if reply.split()[1][0].isdigit() and "." in reply.split()[1] else "5.0.0"}
Remote-MTA: dns; 127.0.0.1
Diagnostic-Code: smtp; {reply}

--B{n}--
""")
PY
run_hayate classify bounces classify "${dir}/dsn"
assert_eq "classify: exit" 0 "${HAYATE_EXIT}"

# reason and hard per recipient, from each path, side by side.
"${HAYATE_PYTHON}" - "${dir}/cases.tsv" "${dir}/run/out/deliveries.jsonl" \
  "${HAYATE_TEST_DIR}/classify.out" >"${dir}/compare.txt" <<'PY'
import json, sys
expected = {f"{l.split(chr(9))[0]}@agree.test": l.rstrip("\n").split("\t")[2]
            for l in open(sys.argv[1], encoding="utf-8")}
run = {}
for line in open(sys.argv[2], encoding="utf-8"):
    record = json.loads(line)
    if record.get("type") == "bounced":
        run[record["recipient"]] = (record.get("reason"), record.get("hard"))
dsn = {}
for line in open(sys.argv[3], encoding="utf-8"):
    finding = json.loads(line)
    dsn[finding["recipient"]] = (finding["reason"], finding["hard"])
def words(verdict):
    return "none none" if verdict is None else f"{verdict[0]} {str(verdict[1]).lower()}"
for rcpt in sorted(expected):
    print(rcpt, expected[rcpt], words(run.get(rcpt)), words(dsn.get(rcpt)))
PY
while read -r rcpt want run_reason run_hard dsn_reason dsn_hard; do
  assert_eq "${rcpt}: reason in the run" "${want}" "${run_reason}"
  assert_eq "${rcpt}: the bounce path agrees" "${run_reason} ${run_hard}" "${dsn_reason} ${dsn_hard}"
done <"${dir}/compare.txt"

# The suppression decisions: what the run recorded in its list, and what ingesting the DSNs
# records in a fresh one, hold the same addresses.
run_hayate run-list suppress list --job "${dir}/run/job.toml"
run_hayate ingest bounces ingest "${dir}/dsn" --db "${dir}/dsn.db"
assert_eq "ingest: exit" 0 "${HAYATE_EXIT}"
run_hayate dsn-list suppress list --db "${dir}/dsn.db"
run_list=$(awk '$1 ~ /@/ {print $1}' "${HAYATE_TEST_DIR}/run-list.out" | sort | paste -sd' ')
dsn_list=$(awk '$1 ~ /@/ {print $1}' "${HAYATE_TEST_DIR}/dsn-list.out" | sort | paste -sd' ')
# The hard ones (userunknown, hostunknown, hasmoved) at once; one soft bounce each is below
# the job's soft_bounce_count.
assert_eq "suppressed by the run" \
  "moved@agree.test nouser@agree.test nxdomain@agree.test uu@agree.test" "${run_list}"
assert_eq "suppressed by ingesting the DSNs" "${run_list}" "${dsn_list}"

