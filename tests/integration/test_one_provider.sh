#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# One provider on every core: the recipients of a named destination's domain (gmail.com) are
# spread over the shards, each sending with its share of the limits, while any other domain
# stays on one shard; the outputs count each domain once. (Speed: bench/one_provider.sh.)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null
read -r port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"
start_hayate_sink "${port}" --stats-file "${dir}/sink.json"
sink_pid="${HAYATE_LAST_PID}"
csv="email,first_name"
for i in $(seq 1 200); do csv+=$'\n'"reader${i}@gmail.com,R${i}"; done
for i in $(seq 1 20); do csv+=$'\n'"user${i}@example.org,U${i}"; done
# Two shards: gmail.com on both (shard_of; which shard takes which recipient is checked in
# shaping_rules_test), example.org on one.
write_campaign "${dir}" "${csv}" "[delivery]
helo = \"client.hayate.test\"
shards = 2
connections_per_domain = 2
messages_per_connection = 10000
retry_schedule = []
[routes]
\"*\" = { host = \"127.0.0.1\", port = ${port}, tls = \"disabled\" }
[shaping]
rules = \"rules.toml\""
printf '[destination.gmail]\nconnections_max = 2\nmessages_per_connection = 10000\n' \
  >"${dir}/rules.toml"
run_hayate run run "${dir}/job.toml" --out "${dir}/out"
assert_eq "exit" 0 "${HAYATE_EXIT}"
assert_eq "delivered" 220 "$(json_get "${dir}/out/summary.json" delivered)"
assert_eq "domains counted once" 2 "$(json_get "${dir}/out/summary.json" domains)"
assert_eq "domains.csv: gmail.com once, with all its recipients" "gmail.com,200" \
  "$(grep '^gmail.com,' "${dir}/out/domains.csv" | cut -d, -f1,2)"
assert_eq "status.json: gmail.com once" 200 \
  "$("${HAYATE_PYTHON}" -c '
import json, sys
d = [x for x in json.load(open(sys.argv[1]))["destinations"] if x["name"] == "gmail.com"]
print(d[0]["delivered"] if len(d) == 1 else d)' "${dir}/out/status.json")"
stop_process "${sink_pid}"
assert_eq "the sink got every message" 220 "$(json_get "${dir}/sink.json" messages)"
