#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# TLS and AUTH against real servers: Postfix smtpd (STARTTLS offered or required, implicit
# TLS, a broken handshake, a certificate for the wrong name) and aiosmtpd with AUTH behind
# STARTTLS. deliveries.jsonl names each attempt's TLS protocol and cipher, source address,
# envelope sender, size and Message-ID (the one the server received). Certificates come from a
# throwaway CA the test makes; names resolve via dnsmasq.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null
read -r may_port encrypt_port wrapper_port broken_port wrong_port auth_port dns_port \
  < <(free_port 7)
dir="${HAYATE_TEST_DIR}"
make_test_pki
ca="$(test_ca_file)"
start_dnsmasq "${dns_port}" --local=/test/ --host-record=mx.tls.test,127.0.0.1 \
  --mx-host=tls-mx.test,mx.tls.test,10

# five_recipients DOMAIN: a CSV with five recipients at DOMAIN.
five_recipients() {
  local csv="email,first_name"
  for i in 1 2 3 4 5; do csv+=$'\n'"user${i}@$1,User ${i}"; done
  printf '%s' "${csv}"
}
# campaign NAME DOMAIN TOML_TAIL: writes and runs a five-recipient campaign.
campaign() {
  write_campaign "${dir}/$1" "$(five_recipients "$2")" "[delivery]
helo = \"client.hayate.test\"
retry_schedule = []
connect_timeout = \"5s\"
command_timeout = \"5s\"
ca_file = \"${ca}\"
$3"
  run_hayate "$1" run "${dir}/$1/job.toml" --out "${dir}/$1/out"
}
summary() { json_get "${dir}/$1/out/summary.json" "$2"; }
# check_deliveries NAME TLS [MAILDIR]: every delivered line of NAME's deliveries.jsonl names
# the envelope sender, the Message-ID, the size and the source address (127.0.0.1); the TLS
# protocol and cipher suite when TLS is "yes", and no tls_ key when it is "no". With MAILDIR
# (aiosmtpd's, which keeps X-Original-To): each recipient's logged Message-ID is the one its
# message carried, and the logged size is the size of what the server received.
check_deliveries() {
  "${HAYATE_PYTHON}" - "${dir}/$1/out/deliveries.jsonl" "$2" "${3:-}" <<'PY' ||
import email, json, os, re, sys
path, tls, maildir = sys.argv[1], sys.argv[2], sys.argv[3]
delivered = [line for line in map(json.loads, open(path)) if line["type"] == "delivered"]
assert delivered, path
for line in delivered:
    assert line["envelope_from"] == "news@example.com", line
    assert re.fullmatch(r"<integration\.\d+\.[0-9a-f]{16}@example\.com>", line["message_id"]), line
    assert line["size"] > 100, line
    assert line["source_ip"] == "127.0.0.1", line
    if tls == "yes":
        assert re.fullmatch(r"TLSv1\.[23]", line["tls_version"]), line
        assert re.fullmatch(r"[A-Z0-9_-]+", line["tls_cipher"]), line
    else:
        assert "tls_version" not in line and "tls_cipher" not in line, line
if maildir:
    logged = {line["recipient"]: line for line in delivered}
    folder = os.path.join(maildir, "new")
    names = os.listdir(folder)
    assert len(names) == len(logged), (names, logged)
    for name in names:
        raw = open(os.path.join(folder, name), "rb").read()
        message = email.message_from_bytes(raw)
        line = logged[message["X-Original-To"]]
        assert message["Message-ID"] == line["message_id"], (message["Message-ID"], line)
        # aiosmtpd put its trace fields (Return-Path, X-Original-To) above what it received
        sent = raw[raw.index(b"\r\n", raw.index(b"X-Original-To:")) + 2:]
        assert len(sent) == line["size"], (len(sent), line)
PY
    fail "$1: deliveries.jsonl fields"
  assert_eq "$1: TLS, source, sender, size and Message-ID logged" ok ok
}

# 1. STARTTLS offered; opportunistic by default: encrypted, no certificate check needed.
start_postfix_smtpd "${may_port}" may
campaign may may.test "[routes]
\"*\" = \"127.0.0.1:${may_port}\""
assert_eq "may: exit" 0 "${HAYATE_EXIT}"
assert_eq "may: delivered" 5 "$(summary may delivered)"
wait_until_eq "may: postfix accepted" 5 10 postfix_accepted_count "${may_port}"
assert_eq "may: every session used TLS" "$(postfix_sessions "${may_port}")" \
  "$(postfix_tls_sessions "${may_port}")"
assert_contains "may: handshakes counted" '"tls_handshakes": ' "$(cat "${dir}/may/out/summary.json")"
check_deliveries may yes

# Resumption: later connections to the same server resume the TLS session of earlier ones.
write_campaign "${dir}/resume" "$(five_recipients r1.test)
$(five_recipients r2.test | tail -n +2)" "[delivery]
helo = \"client.hayate.test\"
messages_per_connection = 2
connections_per_domain = 1
shards = 1
[routes]
\"*\" = \"127.0.0.1:${may_port}\""
run_hayate resume run "${dir}/resume/job.toml" --out "${dir}/resume/out"
assert_eq "resume: delivered" 10 "$(summary resume delivered)"
resumptions="$(summary resume tls_resumptions)"
((resumptions >= 1)) || fail "resume: no TLS session was resumed ($(summary resume tls_handshakes) handshakes)"
assert_eq "resume: some sessions resumed" yes yes

# 2. STARTTLS required by the server and by us, found through MX: the certificate must chain
#    to the test CA and name mx.tls.test (RFC 6125).
start_postfix_smtpd "${encrypt_port}" encrypt
campaign encrypt tls-mx.test "tls = \"required\"
port = ${encrypt_port}
[dns]
servers = [\"127.0.0.1:${dns_port}\"]"
assert_eq "encrypt: exit" 0 "${HAYATE_EXIT}"
assert_eq "encrypt: delivered" 5 "$(summary encrypt delivered)"
assert_contains "encrypt: through the MX" "mx.tls.test (127.0.0.1:${encrypt_port})" \
  "$(cat "${dir}/encrypt/out/deliveries.jsonl")"
wait_until_eq "encrypt: postfix accepted" 5 10 postfix_accepted_count "${encrypt_port}"

# 3. Implicit TLS (RFC 8314), as on port 465, here on a free port with implicit_tls = true.
start_postfix_smtpd "${wrapper_port}" wrapper
campaign wrapper wrapper.test "tls = \"required\"
[routes]
\"*\" = { host = \"127.0.0.1\", port = ${wrapper_port}, implicit_tls = true }"
assert_eq "wrapper: exit" 0 "${HAYATE_EXIT}"
assert_eq "wrapper: delivered" 5 "$(summary wrapper delivered)"
check_deliveries wrapper yes
wait_until_eq "wrapper: postfix accepted" 5 10 postfix_accepted_count "${wrapper_port}"

# 4. A handshake that fails: opportunistic goes on in plaintext and says so; required defers.
start_postfix_smtpd "${broken_port}" broken
campaign broken-opportunistic broken.test "[routes]
\"*\" = \"127.0.0.1:${broken_port}\""
assert_eq "broken, opportunistic: exit" 0 "${HAYATE_EXIT}"
assert_eq "broken, opportunistic: delivered" 5 "$(summary broken-opportunistic delivered)"
assert_contains "broken, opportunistic: says why" "without TLS" \
  "$(cat "${dir}/broken-opportunistic.err")"
check_deliveries broken-opportunistic no
campaign broken-required broken.test "tls = \"required\"
[routes]
\"*\" = \"127.0.0.1:${broken_port}\""
assert_eq "broken, required: exit" 75 "${HAYATE_EXIT}"
assert_eq "broken, required: deferred" 5 "$(summary broken-required deferred)"
assert_contains "broken, required: reason" "TLS handshake" \
  "$(cat "${dir}/broken-required/out/deliveries.jsonl")"
wait_until_eq "broken: postfix accepted only the plaintext run" 5 10 \
  postfix_accepted_count "${broken_port}"

# 5. A certificate for another name: required refuses it; opportunistic does not check.
start_postfix_smtpd "${wrong_port}" may --wrong-name
campaign wrong-required wrong.test "tls = \"required\"
port = ${wrong_port}
[dns]
servers = [\"127.0.0.1:${dns_port}\"]
[routes]
\"*\" = \"mx.tls.test:${wrong_port}\""
assert_eq "wrong name, required: exit" 75 "${HAYATE_EXIT}"
assert_contains "wrong name, required: reason" "certificate verification failed" \
  "$(cat "${dir}/wrong-required/out/deliveries.jsonl")"
campaign wrong-opportunistic wrong.test "[routes]
\"*\" = \"127.0.0.1:${wrong_port}\""
assert_eq "wrong name, opportunistic: delivered" 5 "$(summary wrong-opportunistic delivered)"
wait_until_eq "wrong name: postfix accepted" 5 10 postfix_accepted_count "${wrong_port}"

# 6. A relay with AUTH behind STARTTLS (aiosmtpd): the right password delivers; a wrong one
#    stops the run (exit 78) and never shows the password.
start_aiosmtpd "${auth_port}" --tls-cert "${dir}/tls-mx.crt" --tls-key "${dir}/tls-mx.key" \
  --auth-user sender --auth-password 'right horse battery' --maildir "${dir}/relay-maildir"
printf 'right horse battery\n' >"${dir}/password"
printf 'wrong horse battery\n' >"${dir}/wrong-password"
campaign relay relay.test "[relay]
host = \"127.0.0.1\"
port = ${auth_port}
username = \"sender\"
password_file = \"${dir}/password\""
assert_eq "relay: exit" 0 "${HAYATE_EXIT}"
assert_eq "relay: delivered" 5 "$(summary relay delivered)"
check_deliveries relay yes "${dir}/relay-maildir"
campaign relay-wrong relay.test "[relay]
host = \"127.0.0.1\"
port = ${auth_port}
username = \"sender\"
password_file = \"${dir}/wrong-password\""
assert_eq "relay, wrong password: exit" 78 "${HAYATE_EXIT}"
assert_eq "relay, wrong password: deferred" 5 "$(summary relay-wrong deferred)"
assert_contains "relay, wrong password: says so" "did not take the credentials" \
  "$(cat "${dir}/relay-wrong.err")"
# Credentials need TLS. With tls = "disabled" the job is refused before anything is sent...
write_campaign "${dir}/relay-disabled" "$(five_recipients relay.test)" "[relay]
host = \"127.0.0.1\"
port = ${auth_port}
tls = \"disabled\"
username = \"sender\"
password_file = \"${dir}/password\""
run_hayate relay-disabled-check check --no-preflight "${dir}/relay-disabled/job.toml"
assert_eq "relay, tls disabled: check exit" 65 "${HAYATE_EXIT}"
assert_contains "relay, tls disabled: says why" "the password would cross the network in clear" \
  "$(cat "${dir}/relay-disabled-check.err")"
run_hayate relay-disabled-run run "${dir}/relay-disabled/job.toml" --out "${dir}/relay-disabled/out"
assert_eq "relay, tls disabled: run exit" 65 "${HAYATE_EXIT}"
# ...and a relay that offers no AUTH (Postfix with STARTTLS and no SASL) stops the run at
# once with 78, the cause named, never "expired" after retrying to the deadline.
campaign relay-no-auth relay.test "deadline = \"1h\"
[relay]
host = \"127.0.0.1\"
port = ${may_port}
username = \"sender\"
password_file = \"${dir}/password\""
assert_eq "relay without AUTH: exit" 78 "${HAYATE_EXIT}"
assert_contains "relay without AUTH: says why" \
  "the server offers neither AUTH PLAIN nor AUTH LOGIN" "$(cat "${dir}/relay-no-auth.err")"
run_hayate relay-no-auth-check check --no-preflight "${dir}/relay-no-auth/job.toml"
assert_eq "relay without AUTH: check refuses it" 65 "${HAYATE_EXIT}"
assert_contains "relay without AUTH: check says why" \
  "the relay offers no AUTH: it takes no login; a run would stop at once (78)" \
  "$(cat "${dir}/relay-no-auth-check.err")"
run_hayate relay-check check --no-preflight "${dir}/relay/job.toml"
assert_eq "relay with AUTH over TLS: check exit" 0 "${HAYATE_EXIT}"
assert_contains "relay with AUTH over TLS: check says so" "TLS, AUTH" "$(cat "${dir}/relay-check.out")"
assert_eq "relay without AUTH: nothing expired" 0 \
  "$(grep -c '"reason":"expired"' "${dir}/relay-no-auth/out/deliveries.jsonl" || true)"
if grep -rq "horse" "${dir}/relay-wrong.err" "${dir}/relay-wrong/out" "${dir}/relay/out"; then
  fail "a password reached a log"
fi
assert_eq "aiosmtpd: messages" 5 "$(json_get "$(aiosmtpd_stats_file "${auth_port}")" messages)"
