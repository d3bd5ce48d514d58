#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A campaign into hayate-sink with failures chosen by address: exact counts of delivered,
# bounced, deferred and rejected recipients, retries that succeed, and no duplicate message.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
read -r port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"
mkdir -p "${dir}/maildir"
start_hayate_sink "${port}" --stats-file "${dir}/sink.json" --maildir "${dir}/maildir"

"${HAYATE_PYTHON}" - "${dir}" <<'PY'
import sys
d = sys.argv[1]
rows = ["email,first_name,city"]
for i in range(300):
    rows.append(f"user{i}@d{i % 30}.test,User {i},City {i % 7}")
for i in range(5):
    rows.append(f"tempfail-{i}@t.test,Temp,X")
    rows.append(f"bounce-{i}@b.test,Bounce,X")
    rows.append(f"flaky-{i}@f.test,Flaky,X")
for i in range(3):
    rows.append(f"datafail-{i}@df.test,Data,X")
rows.append("not-an-address,Bad,X")                 # invalid address
rows.append("user1@D1.TEST,Duplicate,X")            # duplicate after normalization
rows.append('evil@e.test,"Line\r\nBcc: x@y.test",X')  # CR/LF in a field
rows.append("short@e.test,only-two")               # wrong field count
open(f"{d}/recipients.csv", "w", newline="").write("\n".join(rows) + "\n")
open(f"{d}/body.txt", "w").write("Hello {{first_name}} from {{city}}.\n.leading dot line\n")
open(f"{d}/job.toml", "w").write(f'''
[campaign]
id = "it-sink"
recipients = "recipients.csv"
from = "Tester <news@example.com>"
subject = "Hi {{{{first_name}}}}"
text = "body.txt"
[delivery]
helo = "client.hayate.test"
connections_per_domain = 3
messages_per_connection = 50
retry_schedule = ["200ms", "300ms"]
deadline = "30s"
[routes]
"*" = "127.0.0.1:PORT"
''')
PY
sed -i "s/PORT\"/${port}\"/" "${dir}/job.toml"

set +e
"${hayate}" run "${dir}/job.toml" --out "${dir}/out" --metrics-file "${dir}/hayate.prom" \
  2>"${dir}/run.err"
code=$?
set -e
cat "${dir}/run.err"
assert_eq "exit code (some still deferred)" 75 "${code}"
summary="${dir}/out/summary.json"
assert_eq delivered 305 "$(json_get "${summary}" delivered)"
assert_eq bounced 8 "$(json_get "${summary}" bounced)"
assert_eq deferred 5 "$(json_get "${summary}" deferred)"
assert_eq rejected 4 "$(json_get "${summary}" rejected)"
assert_eq recipients 318 "$(json_get "${summary}" recipients)"

deliveries="${dir}/out/deliveries.jsonl"
count_type() {
  "${HAYATE_PYTHON}" -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["type"] == sys.argv[2] and (sys.argv[3] == "any" or str(r["final"]).lower() == sys.argv[3]):
        n += 1
print(n)' "${deliveries}" "$1" "$2"
}
assert_eq "jsonl delivered" 305 "$(count_type delivered true)"
assert_eq "jsonl bounced" 8 "$(count_type bounced true)"
assert_eq "jsonl final deferred" 5 "$(count_type deferred true)"
# tempfail: 3 attempts each (2 retried); flaky: 1 failed attempt each.
assert_eq "jsonl retried deferrals" 15 "$(count_type deferred false)"
assert_eq "jsonl rejected" 4 "$(count_type rejected any)"
assert_eq "rejects.csv rows" 5 "$(wc -l <"${dir}/out/rejects.csv")"
assert_contains "rejects name the line" "recipients.csv,322," "$(cat "${dir}/out/rejects.csv")"
assert_contains "duplicate reason" "duplicate: the same address is on line 3" \
  "$(cat "${dir}/out/rejects.csv")"
# accounting.csv: a header and one row per attempt outcome, as deliveries.jsonl.
assert_eq "accounting rows" "$(wc -l <"${deliveries}")" "$(($(wc -l <"${dir}/out/accounting.csv") - 1))"
assert_eq "accounting delivered rows" 305 "$(grep -c '^d,' "${dir}/out/accounting.csv")"
assert_eq "accounting bounced rows" 8 "$(grep -c '^b,' "${dir}/out/accounting.csv")"
assert_contains "domains.csv" "d1.test,10,10,0,0,0,0,10," "$(cat "${dir}/out/domains.csv")"
assert_contains "metrics file" 'hayate_messages_total{campaign="it-sink",outcome="delivered"} 305' \
  "$(cat "${dir}/hayate.prom")"

stop_process "${HAYATE_LAST_PID}"
assert_eq "sink messages" 305 "$(json_get "${dir}/sink.json" messages)"
# Every delivered recipient exactly once in the Maildir; the injected Bcc never became a header.
"${HAYATE_PYTHON}" - "${dir}/maildir" <<'PY' || fail "maildir check failed"
import collections, os, sys
new = os.path.join(sys.argv[1], "new")
seen = collections.Counter()
for name in os.listdir(new):
    data = open(os.path.join(new, name), "rb").read().replace(b"\r\n", b"\n")  # Maildir: LF
    head = data.split(b"\n\n", 1)[0]
    for line in head.split(b"\n"):
        if line.lower().startswith(b"delivered-to:"):
            seen[line.split(b":", 1)[1].strip().strip(b"<>")] += 1
        if line.lower().startswith(b"bcc:"):
            sys.exit("a Bcc header reached a message")
    if b"\n..leading dot line\n" in data or b"\n.leading dot line\n" not in data:
        sys.exit("dot-stuffing was not undone exactly once")
dups = [a for a, n in seen.items() if n > 1]
if dups or len(seen) != 305:
    sys.exit(f"{len(seen)} distinct recipients, duplicates: {dups[:5]}")
PY
assert_eq "maildir distinct recipients" ok ok
