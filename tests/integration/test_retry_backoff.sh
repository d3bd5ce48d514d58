#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Retries with exponential backoff and jitter: a greylisting server (the scripted peer) gets
# each triple again after its delay and takes it, every recipient exactly once; recipients
# that only ever get 4xx expire at max_age as bounces (RFC 3463 4.4.7, stage "expired").
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null
read -r grey_port sink_port < <(free_port 2)
dir="${HAYATE_TEST_DIR}"

# Greylisting: the first attempt of every (IP, sender, recipient) is refused for 2 s.
start_scripted_smtp "${grey_port}" --greylist 2
csv="email,first_name"
for i in $(seq 1 12); do csv+=$'\n'"user-${i}@grey.test,U${i}"; done
write_campaign "${dir}/grey" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 2
retry_first_delay = \"1s\"
retry_max_delay = \"2s\"
deadline = \"40s\"
[routes]
\"*\" = \"127.0.0.1:${grey_port}\""
HAYATE_RUN_TIMEOUT_S=60 run_hayate grey run "${dir}/grey/job.toml" --out "${dir}/grey/out"
assert_eq "greylist: exit" 0 "${HAYATE_EXIT}"
assert_eq "greylist: delivered" 12 "$(json_get "${dir}/grey/out/summary.json" delivered)"
report="$(scripted_smtp_report "${grey_port}")"
assert_eq "greylist: messages at the server" 12 "$(json_get <(echo "${report}") messages)"
assert_eq "greylist: no recipient twice" "{}" "$(json_get <(echo "${report}") duplicate_recipients)"
# Every deferral in our log is one greylisting reply at the server, and nothing else.
assert_eq "greylist: deferrals = greylisting replies" \
  "$(grep -c '"type":"deferred"' "${dir}/grey/out/deliveries.jsonl")" \
  "$(json_get <(echo "${report}") throttles.greylist)"
# Each recipient: one deferred attempt or more (an early retry is greylisted again), then
# delivered on a later attempt.
"${HAYATE_PYTHON}" - "${dir}/grey/out/deliveries.jsonl" <<'PY' || fail "greylist: attempts"
import collections, json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
delivered = {r["recipient"]: r["attempt"] for r in records if r["type"] == "delivered"}
deferred = collections.Counter(r["recipient"] for r in records if r["type"] == "deferred")
assert len(delivered) == 12, delivered
for recipient, attempt in delivered.items():
    assert attempt >= 2 and deferred[recipient] == attempt - 1, (recipient, attempt, deferred)
print("ok greylist: every recipient delivered after its deferrals")
PY

# Expiry: tempfail-* get 451 on every attempt; with max_age 2 s they become bounces.
start_hayate_sink "${sink_port}"
csv="email,first_name"
for i in $(seq 1 3); do csv+=$'\n'"tempfail-${i}@expire.test,T${i}"; done
for i in $(seq 1 5); do csv+=$'\n'"ok-${i}@expire.test,O${i}"; done
write_campaign "${dir}/expire" "${csv}" "[delivery]
helo = \"client.hayate.test\"
retry_first_delay = \"300ms\"
retry_max_delay = \"600ms\"
max_age = \"2s\"
deadline = \"30s\"
[routes]
\"*\" = \"127.0.0.1:${sink_port}\""
HAYATE_RUN_TIMEOUT_S=60 run_hayate expire run "${dir}/expire/job.toml" --out "${dir}/expire/out"
assert_eq "expire: exit (nothing left deferred)" 0 "${HAYATE_EXIT}"
summary="${dir}/expire/out/summary.json"
assert_eq "expire: delivered" 5 "$(json_get "${summary}" delivered)"
assert_eq "expire: bounced" 3 "$(json_get "${summary}" bounced)"
assert_eq "expire: deferred" 0 "$(json_get "${summary}" deferred)"
"${HAYATE_PYTHON}" - "${dir}/expire/out/deliveries.jsonl" <<'PY' || fail "expire: records"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
expired = [r for r in records if r["type"] == "bounced"]
assert len(expired) == 3, expired
for r in expired:
    assert r["recipient"].startswith("tempfail-"), r
    assert r["stage"] == "expired" and r["enhanced"] == "4.4.7" and r["final"], r
    assert "451" in r["reply"], r  # the last server reply is kept as the cause
    assert r["attempt"] >= 3, r  # 300 ms, then up to 600 ms apart, within 2 s
print("ok expire: three expired bounces with their last reply")
PY
