#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The suppression list end to end: `hayate suppress add/import/list/export/remove` on the list
# a job names, then a campaign into hayate-sink where addresses suppressed one by one and a
# whole suppressed domain are never sent (the sink's Maildir and counters), are logged as
# "suppressed" and counted, and every other recipient is delivered exactly once. A rerun into
# the same output keeps them final even after removal; a new campaign sends the removed one.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null
read -r port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"
mkdir -p "${dir}/maildir"
start_hayate_sink "${port}" --stats-file "${dir}/sink.json" --maildir "${dir}/maildir"
sink_pid="${HAYATE_LAST_PID}"

# 40 ordinary rows on four domains, three on a domain that is going away, and two addresses
# that differ only in the case of their local part.
csv="email,first_name"
for i in $(seq 0 39); do csv+=$'\n'"user${i}@d$((i % 4)).test,User ${i}"; done
for i in 0 1 2; do csv+=$'\n'"staff${i}@Gone.TEST,Staff ${i}"; done
csv+=$'\n'"Case@d2.test,Upper"$'\n'"case@d2.test,Lower"
write_campaign "${dir}" "${csv}" "[delivery]
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${port}\""

# By address (the domain's case does not matter), by domain, by CSV import.
run_hayate add suppress add user3@D3.TEST Case@d2.test --reason "asked by phone" --job "${dir}/job.toml"
assert_eq "add: exit" 0 "${HAYATE_EXIT}"
assert_eq "the list lives in the state directory" yes \
  "$([[ -f "${HAYATE_STATE_DIR}/suppression.db" ]] && echo yes)"
run_hayate add-domain suppress add @gone.test --source bounce --reason hostunknown --db "${HAYATE_STATE_DIR}/suppression.db"
assert_eq "add domain: exit" 0 "${HAYATE_EXIT}"
printf 'Email,reason,source,extra\nuser7@d3.test,complaint via FBL,complaint,x\nnot an address,x,manual,y\nuser11@d3.test,,unsubscribe,z\n' \
  >"${dir}/import.csv"
run_hayate import suppress import "${dir}/import.csv" --job "${dir}/job.toml"
assert_eq "import with a bad row: exit" 65 "${HAYATE_EXIT}"
assert_contains "import names the bad line" "${dir}/import.csv:3: address 'not an address'" \
  "$(cat "${dir}/import.err")"
printf 'user19@d3.test\n' >"${dir}/bare.csv"
run_hayate bare suppress import "${dir}/bare.csv" --db "${HAYATE_STATE_DIR}/suppression.db"
assert_eq "bare import: exit" 0 "${HAYATE_EXIT}"
run_hayate bad-add suppress add "nobody" --db "${HAYATE_STATE_DIR}/suppression.db"
assert_eq "bad address: exit" 65 "${HAYATE_EXIT}"
run_hayate usage suppress add --db "${HAYATE_STATE_DIR}/suppression.db"
assert_eq "add without an address: exit" 64 "${HAYATE_EXIT}"

run_hayate list suppress list --json --db "${HAYATE_STATE_DIR}/suppression.db"
assert_eq "list: exit" 0 "${HAYATE_EXIT}"
"${HAYATE_PYTHON}" - "${dir}/list.out" <<'PY' || fail "list --json is not what was added"
import json, sys
entries = {e["address"]: e for e in map(json.loads, open(sys.argv[1]))}
want = {"@gone.test": ("bounce", "hostunknown"), "Case@d2.test": ("manual", "asked by phone"),
        "user3@d3.test": ("manual", "asked by phone"), "user7@d3.test": ("complaint", "complaint via FBL"),
        "user11@d3.test": ("unsubscribe", "imported"), "user19@d3.test": ("import", "imported")}
got = {a: (e["source"], e["reason"]) for a, e in entries.items()}
if got != want:
    sys.exit(f"list: {got}")
if any(e["count"] != 1 or not e["first_seen"].endswith("Z") for e in entries.values()):
    sys.exit("counts or times")
PY
assert_eq "list --json" ok ok
run_hayate export suppress export "${dir}/export.csv" --job "${dir}/job.toml"
assert_eq "export: exit" 0 "${HAYATE_EXIT}"
assert_eq "export header" "address,reason,source,first_seen,last_seen,count" "$(head -1 "${dir}/export.csv")"
assert_eq "export rows" 7 "$(wc -l <"${dir}/export.csv")"

# The campaign: 45 rows, 8 suppressed (3 by domain, 5 by address), 37 sent.
run_hayate run run "${dir}/job.toml" --out "${dir}/out"
assert_eq "run: exit" 0 "${HAYATE_EXIT}"
summary="${dir}/out/summary.json"
assert_eq "summary suppressed" 8 "$(json_get "${summary}" suppressed)"
assert_eq "summary delivered" 37 "$(json_get "${summary}" delivered)"
assert_eq "summary recipients (handed to the shards)" 37 "$(json_get "${summary}" recipients)"
assert_eq "summary all_runs suppressed" 8 "$(json_get "${summary}" all_runs.suppressed)"
assert_contains "stderr line" "37 delivered, 0 bounced, 0 deferred, 0 rejected, 8 suppressed" \
  "$(cat "${dir}/run.err")"
assert_eq "stderr table has the column" 1 "$(grep -c '^domain .* rejected  suppressed  attempts' "${dir}/run.err")"
assert_contains "domains.csv: the gone domain" "gone.test,3,0,0,0,0,3,0," "$(cat "${dir}/out/domains.csv")"
assert_eq "accounting: suppressed rows" 8 "$(grep -c '^s,' "${dir}/out/accounting.csv")"

"${HAYATE_PYTHON}" - "${dir}/out/deliveries.jsonl" <<'PY' || fail "deliveries.jsonl is wrong"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
suppressed = {r["recipient"]: r for r in records if r["type"] == "suppressed"}
want = {"staff0@gone.test", "staff1@gone.test", "staff2@gone.test", "Case@d2.test",
        "user3@d3.test", "user7@d3.test", "user11@d3.test", "user19@d3.test"}
if set(suppressed) != want:
    sys.exit(f"suppressed: {sorted(suppressed)}")
for r in suppressed.values():
    if not r["final"] or r["stage"] != "suppression" or r["attempt"] != 0 or r["line"] < 2:
        sys.exit(f"record: {r}")
if "on the suppression list: @gone.test (bounce: hostunknown" not in suppressed["staff1@gone.test"]["reply"]:
    sys.exit(suppressed["staff1@gone.test"]["reply"])
if "(complaint: complaint via FBL" not in suppressed["user7@d3.test"]["reply"]:
    sys.exit(suppressed["user7@d3.test"]["reply"])
delivered = [r["recipient"] for r in records if r["type"] == "delivered"]
if len(delivered) != 37 or len(set(delivered)) != 37 or "case@d2.test" not in delivered:
    sys.exit(f"delivered: {len(delivered)}")
if len(records) != 45:
    sys.exit(f"{len(records)} records")
PY
assert_eq "deliveries.jsonl" ok ok

maildir_recipients() {
  "${HAYATE_PYTHON}" - "${dir}/maildir/new" <<'PY'
import collections, os, sys
seen = collections.Counter()
for name in os.listdir(sys.argv[1]):
    head = open(os.path.join(sys.argv[1], name), "rb").read().replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    for line in head.split(b"\n"):
        if line.lower().startswith(b"delivered-to:"):
            seen[line.split(b":", 1)[1].strip().strip(b"<>").decode()] += 1
print(len(seen), sum(seen.values()), ",".join(sorted(a for a in seen if not a.startswith("user") or a in
      ("user3@d3.test", "user7@d3.test", "user11@d3.test", "user19@d3.test"))))
PY
}
maildir_count() { find "${dir}/maildir/new" -type f | wc -l; }
wait_until_eq "maildir messages" 37 10 maildir_count
assert_eq "maildir: 37 distinct, once each, no suppressed one" "37 37 case@d2.test" "$(maildir_recipients)"

# Removing an entry does not reopen a campaign that already recorded it as final.
run_hayate remove suppress remove user3@d3.test nobody@d3.test --job "${dir}/job.toml"
assert_eq "remove: exit" 0 "${HAYATE_EXIT}"
assert_contains "remove says what was absent" "nobody@d3.test was not on the list" "$(cat "${dir}/remove.err")"
run_hayate rerun run "${dir}/job.toml" --out "${dir}/out"
assert_eq "rerun: exit" 0 "${HAYATE_EXIT}"
assert_eq "rerun: skipped as final" 45 "$(json_get "${summary}" skipped_as_final_before)"
assert_eq "rerun: all_runs suppressed" 8 "$(json_get "${summary}" all_runs.suppressed)"
assert_eq "rerun: all_runs delivered" 37 "$(json_get "${summary}" all_runs.delivered)"
assert_eq "rerun: nothing logged" 45 "$(wc -l <"${dir}/out/deliveries.jsonl")"

# A new campaign to the same list: the removed address is sent, the rest still skipped.
run_hayate second run "${dir}/job.toml" --out "${dir}/out2"
assert_eq "second campaign: exit" 0 "${HAYATE_EXIT}"
assert_eq "second campaign: suppressed" 7 "$(json_get "${dir}/out2/summary.json" suppressed)"
assert_eq "second campaign: delivered" 38 "$(json_get "${dir}/out2/summary.json" delivered)"

# enabled = false: the list is not read at all.
sed 's/^\[delivery\]$/[suppression]\nenabled = false\n[delivery]/' "${dir}/job.toml" >"${dir}/job-off.toml"
run_hayate off run "${dir}/job-off.toml" --out "${dir}/out3"
assert_eq "suppression off: exit" 0 "${HAYATE_EXIT}"
assert_eq "suppression off: suppressed" 0 "$(json_get "${dir}/out3/summary.json" suppressed)"
assert_eq "suppression off: delivered" 45 "$(json_get "${dir}/out3/summary.json" delivered)"
wait_until_eq "maildir messages in all" $((37 + 38 + 45)) 10 maildir_count

# A file that is not a suppression list stops the run before anything is sent.
printf 'not a database\n' >"${dir}/broken.db"
sed 's/^\[delivery\]$/[suppression]\npath = "broken.db"\n[delivery]/' "${dir}/job.toml" >"${dir}/job-broken.toml"
run_hayate broken run "${dir}/job-broken.toml" --out "${dir}/out4"
assert_eq "unreadable list: exit" 65 "${HAYATE_EXIT}"
assert_contains "unreadable list: says what" "broken.db: not a hayate suppression list" \
  "$(cat "${dir}/broken.err")"
stop_process "${sink_pid}"
assert_eq "sink messages at the end" $((37 + 38 + 45)) "$(json_get "${dir}/sink.json" messages)"
