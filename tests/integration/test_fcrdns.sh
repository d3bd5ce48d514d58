#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `hayate check` confirms forward and reverse DNS of each [[sources]] entry against a dnsmasq on
# loopback: exactly the expected warnings, none for the matching source, exit 0 unless --strict;
# [delivery] helo alone without [[sources]]; no lookup when a "*" route takes all mail; and a
# DNS server that refuses or never answers bounds the check in time. --no-preflight throughout:
# test_preflight.sh checks the rest of what check looks up.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null

read -r dns_port closed_port silent_port < <(free_port 3)
# mta1 matches both ways; mta2's address has another PTR; mta3 has no address; mta4's address
# has no PTR; mta5 resolves elsewhere; lit says an address literal that is not its address.
start_dnsmasq "${dns_port}" --local=/hayate.test/ --local=/0.0.127.in-addr.arpa/ \
  --host-record=mta1.hayate.test,127.0.0.2 \
  --address=/mta2.hayate.test/127.0.0.3 \
  --ptr-record=3.0.0.127.in-addr.arpa,other.hayate.test \
  --ptr-record=4.0.0.127.in-addr.arpa,mta3.hayate.test \
  --address=/mta4.hayate.test/127.0.0.5 \
  --host-record=mta5.hayate.test,127.0.0.9,::9 \
  --ptr-record=6.0.0.127.in-addr.arpa,mta5.hayate.test \
  --ptr-record=7.0.0.127.in-addr.arpa,lit.hayate.test
dns_log="${HAYATE_TEST_DIR}/dnsmasq-${dns_port}.log"
queries() { grep -c 'query\[' "${dns_log}" || true; }

assert_eq "dnsmasq PTR of 127.0.0.2" "mta1.hayate.test" \
  "$(dns_query 127.0.0.1 "${dns_port}" 2.0.0.127.in-addr.arpa PTR)"

csv=$'email,first_name\nann@example.test,Ann'
source_table() {  # NAME ADDRESS EHLO
  printf '\n[[sources]]\nname = "%s"\naddress = "%s"\nehlo = "%s"\n' "$1" "$2" "$3"
}
sources="$(source_table mta1 127.0.0.2 mta1.hayate.test)"
sources+="$(source_table mta2 127.0.0.3 mta2.hayate.test)"
sources+="$(source_table mta3 127.0.0.4 mta3.hayate.test)"
sources+="$(source_table mta4 127.0.0.5 mta4.hayate.test)"
sources+="$(source_table mta5 127.0.0.6 MTA5.hayate.test)"
sources+="$(source_table lit 127.0.0.7 '[127.0.0.8]')"
write_campaign "${HAYATE_TEST_DIR}/sources" "${csv}" "[delivery]
helo = \"mta1.hayate.test\"

[dns]
servers = [\"127.0.0.1:${dns_port}\"]
${sources}"

expected_warnings="hayate: warning: [[sources]] mta2: PTR of 127.0.0.3 is other.hayate.test, not the ehlo name mta2.hayate.test
hayate: warning: [[sources]] mta3: ehlo name mta3.hayate.test does not resolve (NXDOMAIN)
hayate: warning: [[sources]] mta4: 127.0.0.5 has no PTR record
hayate: warning: [[sources]] mta5: ehlo name MTA5.hayate.test resolves to 127.0.0.9, ::9, not to the source address 127.0.0.6
hayate: warning: [[sources]] lit: ehlo [127.0.0.8] is not the source address 127.0.0.7"

before="$(queries)"
run_hayate sources check --no-preflight "${HAYATE_TEST_DIR}/sources/job.toml"
assert_eq "check exit code with warnings" 0 "${HAYATE_EXIT}"
assert_eq "warnings" "${expected_warnings}" "$(cat "${HAYATE_TEST_DIR}/sources.err")"
assert_eq "report" "integration: 1 recipient in 1 domain, 0 rows rejected
state: ${HAYATE_STATE_DIR} (from HAYATE_STATE_DIR)
  suppression list: ${HAYATE_STATE_DIR}/suppression.db
  warm-up counts: ${HAYATE_STATE_DIR}/warmup.state
[[sources]] mta1: forward-confirmed: ehlo name mta1.hayate.test resolves to 127.0.0.2 and the PTR of 127.0.0.2 is mta1.hayate.test" \
  "$(cat "${HAYATE_TEST_DIR}/sources.out")"
# Each host name once for A and once for AAAA, each address once for PTR: 5 × 2 + 6.
assert_eq "queries asked" $((before + 16)) "$(queries)"

run_hayate sources-strict check --strict --no-preflight "${HAYATE_TEST_DIR}/sources/job.toml"
assert_eq "check --strict exit code with warnings" 65 "${HAYATE_EXIT}"
assert_eq "warnings under --strict" "${expected_warnings}" \
  "$(cat "${HAYATE_TEST_DIR}/sources-strict.err")"

# The matching source alone passes --strict.
write_campaign "${HAYATE_TEST_DIR}/good" "${csv}" "[dns]
servers = [\"127.0.0.1:${dns_port}\"]
$(source_table mta1 127.0.0.2 mta1.hayate.test)"
run_hayate good check --strict --no-preflight "${HAYATE_TEST_DIR}/good/job.toml"
assert_eq "check --strict exit code, all confirmed" 0 "${HAYATE_EXIT}"
assert_eq "no warning when confirmed" "" "$(cat "${HAYATE_TEST_DIR}/good.err")"

# Without [[sources]], [delivery] helo must resolve; the check says where it points.
write_campaign "${HAYATE_TEST_DIR}/helo" "${csv}" "[delivery]
helo = \"mta5.hayate.test\"
[dns]
servers = [\"127.0.0.1:${dns_port}\"]"
run_hayate helo check --strict --no-preflight "${HAYATE_TEST_DIR}/helo/job.toml"
assert_eq "helo check exit code" 0 "${HAYATE_EXIT}"
assert_eq "helo check stderr" "" "$(cat "${HAYATE_TEST_DIR}/helo.err")"
assert_contains "helo check report" "[delivery] helo: ehlo name mta5.hayate.test resolves to \
127.0.0.9, ::9; mail leaves from the address the system picks, which should be one of these, \
with a PTR naming mta5.hayate.test" "$(cat "${HAYATE_TEST_DIR}/helo.out")"

write_campaign "${HAYATE_TEST_DIR}/nohelo" "${csv}" "[delivery]
helo = \"nothere.hayate.test\"
[dns]
servers = [\"127.0.0.1:${dns_port}\"]"
run_hayate nohelo check --no-preflight "${HAYATE_TEST_DIR}/nohelo/job.toml"
assert_eq "unresolved helo exit code" 0 "${HAYATE_EXIT}"
assert_eq "unresolved helo warning" \
  "hayate: warning: [delivery] helo: ehlo name nothere.hayate.test does not resolve (NXDOMAIN)" \
  "$(cat "${HAYATE_TEST_DIR}/nohelo.err")"

# A "*" route takes all mail to a named host: receivers never see this helo, nothing is asked.
before="$(queries)"
write_campaign "${HAYATE_TEST_DIR}/routed" "${csv}" "[delivery]
helo = \"nothere.hayate.test\"
[routes]
\"*\" = \"127.0.0.1:2525\"
[dns]
servers = [\"127.0.0.1:${dns_port}\"]"
run_hayate routed check --strict --no-preflight "${HAYATE_TEST_DIR}/routed/job.toml"
assert_eq "routed check exit code" 0 "${HAYATE_EXIT}"
assert_eq "routed check stderr" "" "$(cat "${HAYATE_TEST_DIR}/routed.err")"
assert_eq "routed check asked nothing" "${before}" "$(queries)"

# A port where nothing listens: refused at once; --strict says "try again" (75).
write_campaign "${HAYATE_TEST_DIR}/refused" "${csv}" "[dns]
servers = [\"127.0.0.1:${closed_port}\"]
$(source_table mta1 127.0.0.2 mta1.hayate.test)"
run_hayate refused check --strict --no-preflight "${HAYATE_TEST_DIR}/refused/job.toml"
assert_eq "refused DNS exit code under --strict" 75 "${HAYATE_EXIT}"
assert_eq "refused DNS warnings" "hayate: warning: [[sources]] mta1: could not look up ehlo name mta1.hayate.test: connection refused
hayate: warning: [[sources]] mta1: could not look up the PTR of 127.0.0.2: connection refused" \
  "$(cat "${HAYATE_TEST_DIR}/refused.err")"
run_hayate refused-lenient check --no-preflight "${HAYATE_TEST_DIR}/refused/job.toml"
assert_eq "refused DNS exit code" 0 "${HAYATE_EXIT}"

# A server that reads and never answers: the check gives up after 5 s.
ready="${HAYATE_TEST_DIR}/silent.ready"
_hayate_start silent-dns "${HAYATE_TEST_DIR}/silent.log" "${HAYATE_TEST_DIR}/silent.log" \
  "${HAYATE_PYTHON}" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2], "w").close()
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    s.settimeout(1)
    try:
        s.recv(2048)
    except socket.timeout:
        pass
' "${silent_port}" "${ready}"
wait_until_eq "silent DNS server bound" yes 10 bash -c "[[ -e '${ready}' ]] && echo yes"
write_campaign "${HAYATE_TEST_DIR}/silent" "${csv}" "[dns]
servers = [\"127.0.0.1:${silent_port}\"]
$(source_table mta1 127.0.0.2 mta1.hayate.test)"
started_s="${EPOCHREALTIME}"
run_hayate silent check --no-preflight "${HAYATE_TEST_DIR}/silent/job.toml"
elapsed_ms="$(awk -v a="${started_s}" -v b="${EPOCHREALTIME}" 'BEGIN { printf "%d", (b - a) * 1000 }')"
assert_eq "silent DNS exit code" 0 "${HAYATE_EXIT}"
assert_eq "silent DNS warnings" "hayate: warning: [[sources]] mta1: could not look up ehlo name mta1.hayate.test: timeout
hayate: warning: [[sources]] mta1: could not look up the PTR of 127.0.0.2: timeout" \
  "$(cat "${HAYATE_TEST_DIR}/silent.err")"
assert_eq "silent DNS check ends after 5 to 8 s (${elapsed_ms} ms)" 1 \
  "$((elapsed_ms >= 4900 && elapsed_ms < 8000))"
