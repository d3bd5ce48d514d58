#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Campaigns into servers we did not write: Postfix smtp-sink (PIPELINING), aiosmtpd (no
# PIPELINING: lock-step), and MX records served by dnsmasq (primary refuses, secondary takes
# the mail; implicit MX; NXDOMAIN). Exact counts every time.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null
read -r postfix_port aiosmtpd_port dns_port mx_port closed_port < <(free_port 5)
dir="${HAYATE_TEST_DIR}"

# --- Postfix smtp-sink, 400 recipients in 8 domains over pipelined connections.
start_smtp_sink "${postfix_port}"
csv="email,first_name"
for i in $(seq 1 400); do csv+=$'\n'"user${i}@d$((i % 8)).test,User ${i}"; done
write_campaign "${dir}/postfix" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 4
[routes]
\"*\" = \"127.0.0.1:${postfix_port}\""
run_hayate postfix run "${dir}/postfix/job.toml" --out "${dir}/postfix/out"
assert_eq "postfix: exit" 0 "${HAYATE_EXIT}"
assert_eq "postfix: delivered" 400 "$(json_get "${dir}/postfix/out/summary.json" delivered)"
wait_until_eq "postfix: smtp-sink messages" 400 10 smtp_sink_messages "${postfix_port}"

# --- aiosmtpd without PIPELINING; failures by address.
start_aiosmtpd "${aiosmtpd_port}"
csv="email,first_name"
for i in $(seq 1 40); do csv+=$'\n'"user${i}@a$((i % 3)).test,User ${i}"; done
csv+=$'\n'"bounce-1@a1.test,B"$'\n'"tempfail-1@a2.test,T"$'\n'"datafail-1@a0.test,D"
write_campaign "${dir}/aiosmtpd" "${csv}" "[delivery]
helo = \"client.hayate.test\"
retry_schedule = [\"100ms\"]
deadline = \"20s\"
[routes]
\"*\" = \"127.0.0.1:${aiosmtpd_port}\""
run_hayate aiosmtpd run "${dir}/aiosmtpd/job.toml" --out "${dir}/aiosmtpd/out"
summary="${dir}/aiosmtpd/out/summary.json"
assert_eq "aiosmtpd: exit (one deferred)" 75 "${HAYATE_EXIT}"
assert_eq "aiosmtpd: delivered" 40 "$(json_get "${summary}" delivered)"
assert_eq "aiosmtpd: bounced" 2 "$(json_get "${summary}" bounced)"
assert_eq "aiosmtpd: deferred" 1 "$(json_get "${summary}" deferred)"
wait_until_eq "aiosmtpd: messages stored" 40 10 json_get "$(aiosmtpd_stats_file "${aiosmtpd_port}")" messages

# --- MX from dnsmasq. mx.test: primary MX on 127.0.0.2 (nothing listens there), secondary on
# 127.0.0.1 where hayate-sink listens; implicit.test has only an A record; gone.test does not
# exist; nullmx.test publishes a null MX (RFC 7505). Every MX host is reached on the job's [delivery] port.
start_hayate_sink "${mx_port}" --stats-file "${dir}/mx-sink.json"
sink_pid="${HAYATE_LAST_PID}"
start_dnsmasq "${dns_port}" --local=/test/ \
  --mx-host=mx.test,mx1.mx.test,10 --mx-host=mx.test,mx2.mx.test,20 \
  --host-record=mx1.mx.test,127.0.0.2 --host-record=mx2.mx.test,127.0.0.1 \
  --host-record=implicit.test,127.0.0.1 --mx-host=nullmx.test,.,0
csv="email,first_name"
for i in $(seq 1 30); do csv+=$'\n'"user${i}@mx.test,M ${i}"; done
for i in $(seq 1 5); do csv+=$'\n'"user${i}@implicit.test,I ${i}"; done
for i in $(seq 1 3); do csv+=$'\n'"user${i}@gone.test,G ${i}"; done
csv+=$'\n'"user1@nullmx.test,N"
write_campaign "${dir}/mx" "${csv}" "[delivery]
helo = \"client.hayate.test\"
port = ${mx_port}
connect_timeout = \"2s\"
[dns]
servers = [\"127.0.0.1:${dns_port}\"]"
run_hayate mx run "${dir}/mx/job.toml" --out "${dir}/mx/out"
summary="${dir}/mx/out/summary.json"
assert_eq "mx: exit" 0 "${HAYATE_EXIT}"
assert_eq "mx: delivered (secondary MX and implicit MX)" 35 "$(json_get "${summary}" delivered)"
assert_eq "mx: bounced (NXDOMAIN, null MX)" 4 "$(json_get "${summary}" bounced)"
assert_contains "mx: null MX is 556 5.1.10" '"code":556,"enhanced":"5.1.10"' \
  "$(grep nullmx.test "${dir}/mx/out/deliveries.jsonl")"
assert_contains "mx: NXDOMAIN is 5.1.2" '"enhanced":"5.1.2"' "$(grep -m1 gone.test "${dir}/mx/out/deliveries.jsonl")"
assert_contains "mx: delivered through mx2" 'mx2.mx.test (127.0.0.1:' "$(grep user1@mx.test "${dir}/mx/out/deliveries.jsonl")"
stop_process "${sink_pid}"
assert_eq "mx: sink messages" 35 "$(json_get "${dir}/mx-sink.json" messages)"

# --- A route where nothing listens: nothing reachable, exit 69, every recipient deferred.
write_campaign "${dir}/closed" $'email,first_name\na@x.test,A\nb@y.test,B' "[delivery]
helo = \"client.hayate.test\"
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${closed_port}\""
run_hayate closed run "${dir}/closed/job.toml" --out "${dir}/closed/out"
assert_eq "closed route: exit" 69 "${HAYATE_EXIT}"
assert_eq "closed route: deferred" 2 "$(json_get "${dir}/closed/out/summary.json" deferred)"
assert_contains "closed route: reason" "Connection refused" "$(cat "${dir}/closed/out/deliveries.jsonl")"
