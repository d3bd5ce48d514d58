#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# [[sources]]: mail leaves from several local addresses (bound before connect), each with its
# EHLO name; a new source under warm-up sends at most its daily cap to a provider, the rest
# goes from the warmed source, and the count is remembered by the next run the same day.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null
read -r port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"
start_scripted_smtp "${port}"

# per_ip REPORT_JSON IP: messages the server accepted from that client address.
per_ip() {
  "${HAYATE_PYTHON}" -c 'import json,sys; print(json.loads(sys.argv[1])["messages_per_ip"].get(sys.argv[2], 0))' "$1" "$2"
}

# --- Two sources in the default pool share the mail.
csv="email,first_name"
for i in $(seq 1 40); do csv+=$'\n'"user-${i}@spread.test,U${i}"; done
write_campaign "${dir}/spread" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 4
shards = 1
[routes]
\"*\" = \"127.0.0.1:${port}\"
[[sources]]
name = \"ip2\"
address = \"127.0.0.2\"
ehlo = \"mta2.hayate.test\"
[[sources]]
name = \"ip3\"
address = \"127.0.0.3\"
ehlo = \"mta3.hayate.test\""
run_hayate spread run "${dir}/spread/job.toml" --out "${dir}/spread/out"
assert_eq "spread: exit" 0 "${HAYATE_EXIT}"
assert_eq "spread: delivered" 40 "$(json_get "${dir}/spread/out/summary.json" delivered)"
report="$(scripted_smtp_report "${port}")"
from2=$(per_ip "${report}" 127.0.0.2)
from3=$(per_ip "${report}" 127.0.0.3)
assert_eq "spread: every message from a configured source" 40 "$((from2 + from3))"
((from2 > 0 && from3 > 0)) || fail "spread: one source sent nothing (${from2} and ${from3})"
echo "ok spread: ${from2} from 127.0.0.2, ${from3} from 127.0.0.3"
assert_eq "spread: nothing from the default address" 0 "$(per_ip "${report}" 127.0.0.1)"
# Each source greets with its own EHLO name.
events="$(scripted_smtp_events "${port}")"
"${HAYATE_PYTHON}" - "${events}" <<'PY' || fail "spread: EHLO names"
import json, sys
helo = {}
for line in open(sys.argv[1]):
    event = json.loads(line)
    if event["event"] == "ehlo":
        helo.setdefault(event["client_ip"], set()).add(event["name"])
assert helo.get("127.0.0.2") == {"mta2.hayate.test"}, helo
assert helo.get("127.0.0.3") == {"mta3.hayate.test"}, helo
print("ok spread: each source says its own EHLO name")
PY

# --- Caps for all sources together: partner.test may have one connection open and 20
# messages a second, whichever source sends.
read -r cap_port < <(free_port 1)
start_scripted_smtp "${cap_port}"
csv="email,first_name"
for i in $(seq 1 30); do csv+=$'\n'"user-${i}@partner.test,U${i}"; done
write_campaign "${dir}/together" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 8
shards = 1
[routes]
\"*\" = \"127.0.0.1:${cap_port}\"
[shaping]
rules = \"rules.toml\"
[[sources]]
name = \"ip2\"
address = \"127.0.0.2\"
[[sources]]
name = \"ip3\"
address = \"127.0.0.3\""
cat >"${dir}/together/rules.toml" <<'TOML'
[destination.partner]
domains = ["partner.test"]
connections_max = 4
destination_connections_max = 1
destination_rate = "20/s"
TOML
run_hayate together run "${dir}/together/job.toml" --out "${dir}/together/out"
assert_eq "together: exit" 0 "${HAYATE_EXIT}"
assert_eq "together: delivered" 30 "$(json_get "${dir}/together/out/summary.json" delivered)"
assert_eq "together: one connection at a time over both sources" 1 \
  "$(json_get <(scripted_smtp_report "${cap_port}") max_concurrent)"
window="$(json_get <(scripted_smtp_report "${cap_port}" --window 1) max_transactions_in_window)"
((window <= 21)) || fail "together: ${window} transactions in one second (cap 20/s)"
echo "ok together: at most ${window} transactions a second"

# --- Warm-up: ip3 is new (warmup = true) and may send 5 a day to "gmail" (gmail.test here);
# the other 25 go from the warmed ip2. A second campaign the same day finds ip3's cap spent.
read -r warm_port < <(free_port 1)
start_scripted_smtp "${warm_port}"
warm_job() {
  local name="$1" csv="email,first_name" i
  for i in $(seq 1 30); do csv+=$'\n'"${name}-${i}@gmail.test,U${i}"; done
  write_campaign "${dir}/${name}" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 2
shards = 1
[routes]
\"*\" = \"127.0.0.1:${warm_port}\"
[shaping]
rules = \"rules.toml\"
warmup_state = \"../warmup.state\"
[[sources]]
name = \"ip2\"
address = \"127.0.0.2\"
[[sources]]
name = \"ip3\"
address = \"127.0.0.3\"
warmup = true"
  cat >"${dir}/${name}/rules.toml" <<'TOML'
[warmup]
tiny = [5, 10]

[destination.gmail]
domains = ["gmail.test"]
warmup = "tiny"
TOML
}
warm_job first
run_hayate first run "${dir}/first/job.toml" --out "${dir}/first/out"
assert_eq "warm-up: exit" 0 "${HAYATE_EXIT}"
assert_eq "warm-up: delivered" 30 "$(json_get "${dir}/first/out/summary.json" delivered)"
report="$(scripted_smtp_report "${warm_port}")"
assert_eq "warm-up: the new source sent its cap" 5 "$(per_ip "${report}" 127.0.0.3)"
assert_eq "warm-up: the warmed source sent the rest" 25 "$(per_ip "${report}" 127.0.0.2)"
warm_job second
run_hayate second run "${dir}/second/job.toml" --out "${dir}/second/out"
assert_eq "warm-up again: exit" 0 "${HAYATE_EXIT}"
report="$(scripted_smtp_report "${warm_port}")"
assert_eq "warm-up again: the cap was spent today" 5 "$(per_ip "${report}" 127.0.0.3)"
assert_eq "warm-up again: all from the warmed source" 55 "$(per_ip "${report}" 127.0.0.2)"
