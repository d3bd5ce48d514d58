#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Self-test of lib.sh and the real third-party peers the integration tests use: Postfix
# smtp-sink, dnsmasq and aiosmtpd each start on a free loopback port, answer as expected, count
# exactly, and are stopped on exit. Needs no hayate binary: `bash test_peers.sh ANY_DIR`.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"

# smtp_client PORT SCRIPT: runs SCRIPT (Python, with `s` an smtplib.SMTP connected to
# 127.0.0.1:PORT after EHLO) and prints what it prints as KEY=VALUE lines.
smtp_client() {
  "${HAYATE_PYTHON}" - "$1" <<EOF
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.hayate.test", timeout=10)
code, _ = s.ehlo()
print(f"ehlo={code}")
print(f"pipelining={'yes' if s.has_extn('pipelining') else 'no'}")
def message(n):
    return (f"From: <sender@hayate.test>\r\nTo: <user{n}@example.test>\r\nSubject: peer test {n}"
            f"\r\nMessage-ID: <peer-test-{n}@hayate.test>\r\n\r\nbody {n}\r\n")
def rcpt_code(recipient):
    s.mail("sender@hayate.test")
    code = s.rcpt(recipient)[0]
    s.rset()
    return code
$2
s.quit()
EOF
}

# value KEY OUTPUT: the VALUE of the KEY=VALUE line in OUTPUT.
value() {
  sed -n "s/^$1=//p" <<<"$2"
}

read -r sink_port sink_nopipe_port dns_port aiosmtpd_port tls_port < <(free_port 5)

# --- Postfix smtp-sink: counts via -c, one file per message via --dump.
start_smtp_sink "${sink_port}" --dump
sink_output="$(smtp_client "${sink_port}" '
for n in range(2):
    s.sendmail("sender@hayate.test", [f"user{n}@example.test"], message(n))
print("sent=2")')"
assert_eq "smtp-sink EHLO" 250 "$(value ehlo "${sink_output}")"
assert_eq "smtp-sink announces PIPELINING" yes "$(value pipelining "${sink_output}")"
wait_until_eq "smtp-sink messages" 2 10 smtp_sink_messages "${sink_port}"
wait_until_eq "smtp-sink dumped files" 2 10 smtp_sink_dump_count "${sink_port}"
dumped="$(cat "$(smtp_sink_dump_dir "${sink_port}")"/*)"
assert_contains "smtp-sink dump" "X-Rcpt-Args: <user1@example.test>" "${dumped}"

# Extra arguments reach smtp-sink: -p drops PIPELINING from its EHLO reply.
start_smtp_sink "${sink_nopipe_port}" -p
nopipe_output="$(smtp_client "${sink_nopipe_port}" '')"
assert_eq "smtp-sink -p announces PIPELINING" no "$(value pipelining "${nopipe_output}")"
assert_eq "smtp-sink -p messages" 0 "$(smtp_sink_messages "${sink_nopipe_port}")"

# --- dnsmasq: MX and A records from the command line, nothing else.
start_dnsmasq "${dns_port}" --mx-host=example.test,mx.example.test,10 \
  --host-record=mx.example.test,127.0.0.1
assert_eq "dnsmasq MX example.test" "10 mx.example.test" \
  "$(dns_query "${HAYATE_LOOPBACK}" "${dns_port}" example.test MX)"
assert_eq "dnsmasq A mx.example.test" "127.0.0.1" \
  "$(dns_query "${HAYATE_LOOPBACK}" "${dns_port}" mx.example.test A)"
if unknown="$(dns_query "${HAYATE_LOOPBACK}" "${dns_port}" nowhere.invalid A 2>&1)"; then
  fail "dnsmasq answered NOERROR for nowhere.invalid: '${unknown}'"
fi
# With no upstream, dnsmasq refuses names it was not given (RFC 1035 4.1.1 rcode 5).
assert_contains "dnsmasq unknown name" "nowhere.invalid A: REFUSED" "${unknown}"

# --- aiosmtpd: no PIPELINING, exact counts, fault modes by local part.
start_aiosmtpd "${aiosmtpd_port}" --maildir "${HAYATE_TEST_DIR}/aiosmtpd-maildir"
stats="$(aiosmtpd_stats_file "${aiosmtpd_port}")"
aiosmtpd_output="$(smtp_client "${aiosmtpd_port}" '
for n in range(3):
    s.sendmail("sender@hayate.test", [f"user{n}@example.test"], message(n))
print("tempfail=%d" % rcpt_code("tempfail-2@example.test"))
print("bounce=%d" % rcpt_code("Bounce.Unknown@example.test"))
print("flaky=%d,%d" % (rcpt_code("flaky-1@example.test"), rcpt_code("flaky-1@example.test")))
for local in ("datafail", "datatempfail"):
    s.mail("sender@hayate.test")
    s.rcpt(f"{local}@example.test")
    code, text = s.data(message(9))  # unlike sendmail(), data() returns a final 4xx/5xx
    print(f"{local}={code} {text.decode()[:5]}")')"
assert_eq "aiosmtpd EHLO" 250 "$(value ehlo "${aiosmtpd_output}")"
assert_eq "aiosmtpd announces PIPELINING" no "$(value pipelining "${aiosmtpd_output}")"
assert_eq "aiosmtpd tempfail RCPT" 451 "$(value tempfail "${aiosmtpd_output}")"
assert_eq "aiosmtpd bounce RCPT (case-insensitive)" 550 "$(value bounce "${aiosmtpd_output}")"
assert_eq "aiosmtpd flaky RCPT, then again" 451,250 "$(value flaky "${aiosmtpd_output}")"
assert_eq "aiosmtpd datafail DATA" "554 5.6.0" "$(value datafail "${aiosmtpd_output}")"
assert_eq "aiosmtpd datatempfail DATA" "451 4.3.0" "$(value datatempfail "${aiosmtpd_output}")"
# One session for the readiness probe, one for the client.
assert_eq "aiosmtpd sessions" 2 "$(json_get "${stats}" sessions)"
assert_eq "aiosmtpd messages" 3 "$(json_get "${stats}" messages)"
# 3 delivered + flaky's second try + datafail + datatempfail, refused only after DATA.
assert_eq "aiosmtpd recipients" 6 "$(json_get "${stats}" recipients)"
assert_eq "aiosmtpd recipients_delivered" 3 "$(json_get "${stats}" recipients_delivered)"
assert_eq "aiosmtpd rcpt_rejected" 3 "$(json_get "${stats}" rcpt_rejected)"
assert_eq "aiosmtpd data_rejected" 2 "$(json_get "${stats}" data_rejected)"
assert_eq "aiosmtpd maildir messages" 3 \
  "$(find "${HAYATE_TEST_DIR}/aiosmtpd-maildir/new" -type f | wc -l)"

# A start on a taken port fails fast (the server exits; no wait for the deadline) and loudly.
start_s=${SECONDS}
if taken_output="$(start_aiosmtpd "${sink_port}" 2>&1)"; then
  stop_process "$(cat "${HAYATE_TEST_DIR}/aiosmtpd-${sink_port}.pid")"
  fail "start_aiosmtpd on the taken port ${sink_port} succeeded"
fi
assert_contains "start on a taken port" "did not come up" "${taken_output}"
assert_contains "start on a taken port shows the log" "aiosmtpd_server:" "${taken_output}"
assert_eq "start on a taken port fails before the deadline" yes \
  "$( ((SECONDS - start_s < HAYATE_START_TIMEOUT_S)) && echo yes || echo no)"

# stop_process takes a peer down: its port closes, and its final stats survive.
aiosmtpd_pid="$(cat "${HAYATE_TEST_DIR}/aiosmtpd-${aiosmtpd_port}.pid")"
stop_process "${aiosmtpd_pid}"
if process_alive "${aiosmtpd_pid}"; then fail "aiosmtpd ${aiosmtpd_pid} survived stop_process"; fi
if (exec 3<>"/dev/tcp/${HAYATE_LOOPBACK}/${aiosmtpd_port}") 2>/dev/null; then
  fail "port ${aiosmtpd_port} still accepts after aiosmtpd stopped"
fi
assert_eq "aiosmtpd messages after stop" 3 "$(json_get "${stats}" messages)"
assert_eq "aiosmtpd removed its pid file" no \
  "$([[ -e "${HAYATE_TEST_DIR}/aiosmtpd-${aiosmtpd_port}.pid" ]] && echo yes || echo no)"

# STARTTLS (RFC 3207) with a throwaway certificate: announced, and the handshake completes.
make_test_certificate peer
start_aiosmtpd "${tls_port}" --tls-cert "${HAYATE_TEST_DIR}/peer.crt" \
  --tls-key "${HAYATE_TEST_DIR}/peer.key"
tls_output="$(smtp_client "${tls_port}" '
import ssl
print("starttls=%s" % ("yes" if s.has_extn("starttls") else "no"))
# Verified like a real peer: the certificate names IP 127.0.0.1, the address we dial.
context = ssl.create_default_context(cafile="'"${HAYATE_TEST_DIR}/peer.crt"'")
s.starttls(context=context)
s.ehlo()
s.sendmail("sender@hayate.test", ["user0@example.test"], message(0))
print("tls_version=%s" % s.sock.version())')"
assert_eq "aiosmtpd --tls-cert announces STARTTLS" yes "$(value starttls "${tls_output}")"
assert_contains "aiosmtpd STARTTLS handshake" TLSv1 "$(value tls_version "${tls_output}")"
assert_eq "aiosmtpd messages over TLS" 1 \
  "$(json_get "$(aiosmtpd_stats_file "${tls_port}")" messages)"
