#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Self-test of the TLS and AUTH peers in lib.sh, checked with clients we did not write (Python's
# smtplib and ssl, openssl s_client): the test CA and its certificates, a private Postfix smtpd
# in each TLS mode, and aiosmtpd with SMTP AUTH. Needs root, no hayate binary:
# `bash test_tls_peers.sh ANY_DIR`.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
readonly client_timeout_s=20  # per client run; every socket operation has its own 5 s bound
ca="$(test_ca_file tls)"      # make_test_pki's CA, below; the clients trust it alone

# client PORT SCRIPT: runs SCRIPT (Python) with helpers to reach 127.0.0.1:PORT; it prints
# KEY=VALUE lines for `value`. Helpers: smtp() and smtps() connect (after EHLO), starttls(s,
# name) verifies against the test CA and NAME, message(n) is a small RFC 5322 message, and
# outcome(f) runs f and returns "ok", or the SMTP code and enhanced code, or the TLS error.
client() {
  timeout "${client_timeout_s}" "${HAYATE_PYTHON}" - "$1" "${ca}" <<EOF
import smtplib, socket, ssl, sys
port, ca_file = int(sys.argv[1]), sys.argv[2]
def context():
    c = ssl.create_default_context(cafile=ca_file)  # verifies the chain and the name
    return c
def smtp():
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.hayate.test", timeout=5)
    s.ehlo()
    return s
def smtps(name="127.0.0.1"):
    s = smtplib.SMTP_SSL(local_hostname="client.hayate.test", timeout=5, context=context())
    s._host = name  # smtplib checks the certificate against the name it connects to
    s.sock = s._get_socket("127.0.0.1", port, s.timeout)
    s.file = None
    s.getreply()
    s.ehlo()
    return s
def starttls(s, name):
    s._host = name  # the name STARTTLS verifies (RFC 6125), while we dial 127.0.0.1
    s.starttls(context=context())
    s.ehlo()
def message(n):
    return (f"From: <sender@hayate.test>\r\nTo: <user{n}@example.test>\r\nSubject: tls {n}\r\n"
            f"Message-ID: <tls-peer-{n}@hayate.test>\r\n\r\nbody {n}\r\n")
def outcome(f):
    try:
        f()
        return "ok"
    except smtplib.SMTPResponseException as e:
        return f"{e.smtp_code} {e.smtp_error.decode().split()[0]}"
    except ssl.SSLCertVerificationError as e:
        return f"verify: {e.verify_message}"
    except ssl.SSLError as e:
        return f"tls: {e.reason}"
    except (OSError, smtplib.SMTPException) as e:
        return f"error: {type(e).__name__}: {e}"
def code(reply):
    return f"{reply[0]} {reply[1].decode().split()[0]}"
$2
EOF
}

# value KEY OUTPUT: the VALUE of the KEY=VALUE line in OUTPUT.
value() {
  sed -n "s/^$1=//p" <<<"$2"
}

# s_client ARGS...: openssl s_client to 127.0.0.1 with stdin closed (it handshakes, then
# quits); prints its brief summary, then "exit=STATUS".
s_client() {
  local status=0
  timeout "${client_timeout_s}" openssl s_client -brief -CAfile "${ca}" \
    -verify_return_error "$@" </dev/null 2>&1 || status=$?
  printf 'exit=%s\n' "${status}"
}

read -r plain_port may_port encrypt_port wrapper_port broken_port wrong_port self_port \
  bad_port auth_port smtps_port clear_port starttls_port < <(free_port 12)
dir="${HAYATE_TEST_DIR}"

# --- The test PKI: a CA, a certificate for our names, one for another name.
make_test_pki
assert_eq "tls-mx chains to the test CA" "${dir}/tls-mx.crt: OK" \
  "$(openssl verify -CAfile "${ca}" -purpose sslserver "${dir}/tls-mx.crt" 2>&1)"
assert_eq "tls-mx names" "DNS:localhost, DNS:mx.tls.test, IP Address:127.0.0.1" \
  "$(openssl x509 -in "${dir}/tls-mx.crt" -noout -ext subjectAltName | sed -n '2s/^ *//p')"
for name in localhost mx.tls.test; do
  assert_contains "tls-mx verifies for ${name}" OK "$(openssl verify -CAfile "${ca}" \
    -verify_hostname "${name}" "${dir}/tls-mx.crt" 2>&1)"
done
assert_contains "tls-mx verifies for 127.0.0.1" OK \
  "$(openssl verify -CAfile "${ca}" -verify_ip 127.0.0.1 "${dir}/tls-mx.crt" 2>&1)"
assert_contains "tls-wrong fails for mx.tls.test" "hostname mismatch" \
  "$(openssl verify -CAfile "${ca}" -verify_hostname mx.tls.test "${dir}/tls-wrong.crt" 2>&1)"
assert_contains "tls-wrong verifies for wrong.test" OK "$(openssl verify -CAfile "${ca}" \
  -verify_hostname wrong.test "${dir}/tls-wrong.crt" 2>&1)"
assert_eq "tls-mx expires within 2 days" "yes,no" \
  "$(openssl x509 -in "${dir}/tls-mx.crt" -noout -checkend $((2 * 86400 + 60)) >/dev/null &&
    echo no || echo yes),$(openssl x509 -in "${dir}/tls-mx.crt" -noout -checkend 86400 \
    >/dev/null && echo no || echo yes)"
assert_eq "test CA is a CA" "CA:TRUE" "$(openssl x509 -in "${ca}" -noout \
  -ext basicConstraints | sed -n '2s/^ *//p')"
# Servers that drop privileges (smtp-sink -u nobody, a future hayate-sink) read the key.
assert_eq "key readable by nobody" yes "$(setpriv --reuid=nobody --regid=nogroup \
  --clear-groups cat "${dir}/tls-mx.key" >/dev/null 2>&1 && echo yes || echo no)"
make_ca_signed_certificate --rsa tls tls-rsa rsa.tls.test
assert_contains "RSA certificate" "rsaEncryption" \
  "$(openssl x509 -in "${dir}/tls-rsa.crt" -noout -text | grep 'Public Key Algorithm')"

# --- Postfix, no TLS: accepts any recipient, delivers nothing, counts exactly.
start_postfix_smtpd "${plain_port}" plain
out="$(client "${plain_port}" '
s = smtp()
print("starttls=%s" % ("yes" if s.has_extn("starttls") else "no"))
print("pipelining=%s" % ("yes" if s.has_extn("pipelining") else "no"))
s.sendmail("sender@hayate.test", ["user0@example.test"], message(0))
s.sendmail("sender@hayate.test", ["user1@example.test", "user1@example.org"], message(1))
s.mail("sender@hayate.test"); s.rcpt("user2@example.test"); s.rset()  # not a message
s.quit()')"
assert_eq "postfix plain: STARTTLS offered" no "$(value starttls "${out}")"
assert_eq "postfix plain: PIPELINING offered" yes "$(value pipelining "${out}")"
wait_until_eq "postfix plain: accepted" 2 10 postfix_accepted_count "${plain_port}"
wait_until_eq "postfix plain: recipients discarded" 3 10 postfix_recipients_count "${plain_port}"
assert_eq "postfix plain: sessions (after the probe)" 1 "$(postfix_sessions "${plain_port}")"
assert_eq "postfix plain: TLS sessions" 0 "$(postfix_tls_sessions "${plain_port}")"
assert_eq "postfix plain: nothing left in the queue" 0 \
  "$(find "${dir}/postfix-${plain_port}/queue/"{incoming,active,deferred} -type f | wc -l)"

# --- Postfix, STARTTLS offered: verified by name and by address; plaintext still accepted.
start_postfix_smtpd "${may_port}" may
out="$(client "${may_port}" '
s = smtp()
print("starttls=%s" % ("yes" if s.has_extn("starttls") else "no"))
s.sendmail("sender@hayate.test", ["user0@example.test"], message(0))  # in the clear
starttls(s, "mx.tls.test")
print("version=%s" % s.sock.version())
s.sendmail("sender@hayate.test", ["user1@example.test"], message(1))
s.quit()
s = smtp()
print("by_address=%s" % outcome(lambda: starttls(s, "127.0.0.1")))  # IP SAN (RFC 5280)
s.quit()
s = smtp()
print("other_name=%s" % outcome(lambda: starttls(s, "other.tls.test")))')"
assert_eq "postfix may: STARTTLS offered" yes "$(value starttls "${out}")"
assert_contains "postfix may: TLS version" TLSv1. "$(value version "${out}")"
assert_eq "postfix may: verified by address" ok "$(value by_address "${out}")"
assert_contains "postfix may: other name refused" "verify: Hostname mismatch" \
  "$(value other_name "${out}")"
out="$(s_client -connect "127.0.0.1:${may_port}" -starttls smtp -verify_hostname mx.tls.test)"
assert_contains "postfix may: s_client verification" "Verification: OK" "${out}"
assert_contains "postfix may: s_client exit" "exit=0" "${out}"
wait_until_eq "postfix may: accepted" 2 10 postfix_accepted_count "${may_port}"
# smtplib twice and s_client once. The "other name" handshake does not count: in TLS 1.3 the
# client checks the certificate before its Finished, so the server logs an alert instead.
wait_until_eq "postfix may: TLS sessions" 3 10 postfix_tls_sessions "${may_port}"
assert_eq "postfix may: bad certificate alert logged" 1 \
  "$(postfix_log_count "${may_port}" 'alert bad certificate')"

# --- Postfix, STARTTLS required (RFC 3207 4: 530 before it).
start_postfix_smtpd "${encrypt_port}" encrypt
out="$(client "${encrypt_port}" '
s = smtp()
print("mail_before=%s" % code(s.mail("sender@hayate.test")))
starttls(s, "mx.tls.test")
s.sendmail("sender@hayate.test", ["user0@example.test"], message(0))
print("sent=yes")
s.quit()')"
assert_eq "postfix encrypt: MAIL before STARTTLS" "530 5.7.0" "$(value mail_before "${out}")"
assert_eq "postfix encrypt: sent over TLS" yes "$(value sent "${out}")"
wait_until_eq "postfix encrypt: accepted" 1 10 postfix_accepted_count "${encrypt_port}"
wait_until_eq "postfix encrypt: TLS sessions" 1 10 postfix_tls_sessions "${encrypt_port}"

# --- Postfix, implicit TLS (port 465 style): TLS first, then SMTP; no plaintext greeting.
start_postfix_smtpd "${wrapper_port}" wrapper
out="$(client "${wrapper_port}" '
s = smtps("mx.tls.test")
print("version=%s" % s.sock.version())
print("starttls=%s" % ("yes" if s.has_extn("starttls") else "no"))
s.sendmail("sender@hayate.test", ["user0@example.test"], message(0))
s.quit()
def plaintext():
    smtplib.SMTP("127.0.0.1", port, timeout=1)  # waits for a greeting that never comes
print("plaintext=%s" % outcome(plaintext))')"
assert_contains "postfix wrapper: TLS version" TLSv1. "$(value version "${out}")"
assert_eq "postfix wrapper: STARTTLS offered inside TLS" no "$(value starttls "${out}")"
assert_eq "postfix wrapper: plaintext client" \
  "error: SMTPServerDisconnected: Connection unexpectedly closed: timed out" \
  "$(value plaintext "${out}")"
out="$(s_client -connect "127.0.0.1:${wrapper_port}" -verify_hostname mx.tls.test)"
assert_contains "postfix wrapper: s_client verification" "Verification: OK" "${out}"
wait_until_eq "postfix wrapper: accepted" 1 10 postfix_accepted_count "${wrapper_port}"
wait_until_eq "postfix wrapper: TLS sessions" 2 10 postfix_tls_sessions "${wrapper_port}"

# --- Postfix, STARTTLS announced and accepted, handshake always fails; plaintext still works.
start_postfix_smtpd "${broken_port}" broken
out="$(client "${broken_port}" '
s = smtp()
print("starttls=%s" % ("yes" if s.has_extn("starttls") else "no"))
print("starttls_reply=%s" % code(s.docmd("STARTTLS")))
try:
    context().wrap_socket(s.sock, server_hostname="mx.tls.test")
    print("handshake=ok")
except ssl.SSLError as e:
    print(f"handshake={e.reason}")
s.close()
s = smtp()
s.sendmail("sender@hayate.test", ["user0@example.test"], message(0))
s.quit()')"
assert_eq "postfix broken: STARTTLS offered" yes "$(value starttls "${out}")"
assert_eq "postfix broken: STARTTLS reply" "220 2.0.0" "$(value starttls_reply "${out}")"
assert_eq "postfix broken: handshake" SSLV3_ALERT_HANDSHAKE_FAILURE "$(value handshake "${out}")"
out="$(s_client -connect "127.0.0.1:${broken_port}" -starttls smtp)"
assert_contains "postfix broken: s_client alert" "alert handshake failure" "${out}"
assert_contains "postfix broken: s_client exit" "exit=1" "${out}"
wait_until_eq "postfix broken: accepted in the clear" 1 10 postfix_accepted_count "${broken_port}"
wait_until_eq "postfix broken: failed handshakes logged" 2 10 \
  postfix_log_count "${broken_port}" 'no shared cipher'
assert_eq "postfix broken: TLS sessions" 0 "$(postfix_tls_sessions "${broken_port}")"

# --- Postfix with a certificate for another name: the chain is fine, the name is not.
start_postfix_smtpd "${wrong_port}" may --wrong-name
out="$(s_client -connect "127.0.0.1:${wrong_port}" -starttls smtp \
  -verify_hostname mx.tls.test)"
assert_contains "postfix wrong-name: s_client" "hostname mismatch" "${out}"
assert_contains "postfix wrong-name: s_client exit" "exit=1" "${out}"
out="$(s_client -connect "127.0.0.1:${wrong_port}" -starttls smtp -verify_hostname wrong.test)"
assert_contains "postfix wrong-name: s_client for wrong.test" "Verification: OK" "${out}"
out="$(client "${wrong_port}" '
s = smtp()
print("verify=%s" % outcome(lambda: starttls(s, "mx.tls.test")))')"
assert_contains "postfix wrong-name: smtplib" "verify: Hostname mismatch" \
  "$(value verify "${out}")"

# --- Postfix with a self-signed certificate (--cert) and a main.cf override (--set).
make_test_certificate self-signed
start_postfix_smtpd "${self_port}" may --cert self-signed \
  --set 'smtpd_discard_ehlo_keywords = pipelining'
out="$(client "${self_port}" '
s = smtp()
print("pipelining=%s" % ("yes" if s.has_extn("pipelining") else "no"))
print("verify=%s" % outcome(lambda: starttls(s, "localhost")))')"
assert_eq "postfix --set: PIPELINING offered" no "$(value pipelining "${out}")"
assert_contains "postfix --cert self-signed: smtplib" "verify: self-signed certificate" \
  "$(value verify "${out}")"

# --- aiosmtpd with AUTH PLAIN and LOGIN after STARTTLS, and required before MAIL.
start_aiosmtpd "${auth_port}" --hostname mx.tls.test --tls-cert "${dir}/tls-mx.crt" \
  --tls-key "${dir}/tls-mx.key" --auth-user alice@hayate.test \
  --auth-password 'correct horse' --auth-required
out="$(client "${auth_port}" '
import base64
s = smtp()
print("auth_before_tls_offered=%s" % ("yes" if s.has_extn("auth") else "no"))
plain = base64.b64encode(b"\0alice@hayate.test\0correct horse").decode()
print("auth_before_tls=%s" % code(s.docmd("AUTH", "PLAIN " + plain)))
starttls(s, "mx.tls.test")
print("auth_offered=%s" % s.esmtp_features.get("auth", "").strip())
print("mail_before_auth=%s" % code(s.docmd("MAIL", "FROM:<sender@hayate.test>")))
s.user, s.password = "alice@hayate.test", "wrong horse"
print("plain_wrong=%s" % outcome(lambda: s.auth("PLAIN", s.auth_plain)))
print("login_wrong=%s" % outcome(lambda: s.auth("LOGIN", s.auth_login, initial_response_ok=False)))
s.user = "bob@hayate.test"; s.password = "correct horse"
print("plain_wrong_user=%s" % outcome(lambda: s.auth("PLAIN", s.auth_plain)))
s.user = "alice@hayate.test"
print("plain_right=%s" % code(s.auth("PLAIN", s.auth_plain)))
s.sendmail("sender@hayate.test", ["user0@example.test"], message(0))
s.quit()
s = smtp()
starttls(s, "mx.tls.test")
s.user, s.password = "alice@hayate.test", "correct horse"
print("login_right=%s" % code(s.auth("LOGIN", s.auth_login, initial_response_ok=False)))
s.sendmail("sender@hayate.test", ["user1@example.test"], message(1))
s.quit()')"
assert_eq "aiosmtpd AUTH offered before STARTTLS" no "$(value auth_before_tls_offered "${out}")"
# RFC 4954 6: 538 5.7.11, encryption required for the mechanism.
assert_eq "aiosmtpd AUTH before STARTTLS" "538 5.7.11" "$(value auth_before_tls "${out}")"
assert_eq "aiosmtpd AUTH mechanisms after STARTTLS" "LOGIN PLAIN" \
  "$(value auth_offered "${out}")"
assert_eq "aiosmtpd MAIL before AUTH" "530 5.7.0" "$(value mail_before_auth "${out}")"
assert_eq "aiosmtpd PLAIN, wrong password" "535 5.7.8" "$(value plain_wrong "${out}")"
assert_eq "aiosmtpd LOGIN, wrong password" "535 5.7.8" "$(value login_wrong "${out}")"
assert_eq "aiosmtpd PLAIN, wrong user" "535 5.7.8" "$(value plain_wrong_user "${out}")"
assert_eq "aiosmtpd PLAIN, right password" "235 2.7.0" "$(value plain_right "${out}")"
assert_eq "aiosmtpd LOGIN, right password" "235 2.7.0" "$(value login_right "${out}")"
stats="$(aiosmtpd_stats_file "${auth_port}")"
assert_eq "aiosmtpd auth_ok" 2 "$(json_get "${stats}" auth_ok)"
assert_eq "aiosmtpd auth_failed" 3 "$(json_get "${stats}" auth_failed)"
assert_eq "aiosmtpd auth_plain" 4 "$(json_get "${stats}" auth_plain)"
assert_eq "aiosmtpd auth_login" 2 "$(json_get "${stats}" auth_login)"
assert_eq "aiosmtpd auth_plaintext" 1 "$(json_get "${stats}" auth_plaintext)"
assert_eq "aiosmtpd tls_sessions" 2 "$(json_get "${stats}" tls_sessions)"
assert_eq "aiosmtpd messages" 2 "$(json_get "${stats}" messages)"
assert_eq "aiosmtpd messages_authenticated" 2 "$(json_get "${stats}" messages_authenticated)"
out="$(s_client -connect "127.0.0.1:${auth_port}" -starttls smtp -verify_hostname mx.tls.test)"
assert_contains "aiosmtpd s_client verification" "Verification: OK" "${out}"

# --- aiosmtpd with implicit TLS and AUTH (submissions, RFC 8314 3.3).
start_aiosmtpd "${smtps_port}" --hostname mx.tls.test --implicit-tls \
  --tls-cert "${dir}/tls-mx.crt" --tls-key "${dir}/tls-mx.key" \
  --auth-user alice@hayate.test --auth-password 'correct horse'
out="$(client "${smtps_port}" '
s = smtps("mx.tls.test")
print("auth_offered=%s" % s.esmtp_features.get("auth", "").strip())
print("login=%s" % code(s.login("alice@hayate.test", "correct horse")))
s.sendmail("sender@hayate.test", ["user0@example.test"], message(0))
s.quit()')"
assert_eq "aiosmtpd implicit TLS: AUTH offered" "LOGIN PLAIN" "$(value auth_offered "${out}")"
assert_eq "aiosmtpd implicit TLS: login" "235 2.7.0" "$(value login "${out}")"
stats="$(aiosmtpd_stats_file "${smtps_port}")"
# The readiness probe's TLS session, and ours.
assert_eq "aiosmtpd implicit TLS: tls_sessions" 2 "$(json_get "${stats}" tls_sessions)"
assert_eq "aiosmtpd implicit TLS: messages_authenticated" 1 \
  "$(json_get "${stats}" messages_authenticated)"
assert_eq "aiosmtpd implicit TLS: auth_plaintext" 0 "$(json_get "${stats}" auth_plaintext)"

# --- aiosmtpd offering AUTH in the clear (to catch a client that would use it), and one
# requiring STARTTLS before anything else (RFC 3207 4: 530).
start_aiosmtpd "${clear_port}" --tls-cert "${dir}/tls-mx.crt" --tls-key "${dir}/tls-mx.key" \
  --auth-user alice@hayate.test --auth-password 'correct horse' --auth-without-tls
out="$(client "${clear_port}" '
s = smtp()
print("auth_offered=%s" % s.esmtp_features.get("auth", "").strip())
print("login=%s" % code(s.login("alice@hayate.test", "correct horse")))
s.quit()')"
assert_eq "aiosmtpd --auth-without-tls: AUTH offered in the clear" "LOGIN PLAIN" \
  "$(value auth_offered "${out}")"
assert_eq "aiosmtpd --auth-without-tls: login in the clear" "235 2.7.0" "$(value login "${out}")"
stats="$(aiosmtpd_stats_file "${clear_port}")"
assert_eq "aiosmtpd --auth-without-tls: auth_plaintext" 1 "$(json_get "${stats}" auth_plaintext)"
assert_eq "aiosmtpd --auth-without-tls: tls_sessions" 0 "$(json_get "${stats}" tls_sessions)"
start_aiosmtpd "${starttls_port}" --tls-cert "${dir}/tls-mx.crt" --tls-key "${dir}/tls-mx.key" \
  --require-starttls
out="$(client "${starttls_port}" '
s = smtp()
print("mail_before_starttls=%s" % code(s.docmd("MAIL", "FROM:<sender@hayate.test>")))
starttls(s, "mx.tls.test")
s.sendmail("sender@hayate.test", ["user0@example.test"], message(0))
s.quit()')"
assert_eq "aiosmtpd --require-starttls: MAIL before STARTTLS" "530 Must" \
  "$(value mail_before_starttls "${out}")"
assert_eq "aiosmtpd --require-starttls: messages over TLS" 1 \
  "$(json_get "$(aiosmtpd_stats_file "${starttls_port}")" messages)"
if out="$(start_aiosmtpd "${bad_port}" --auth-user alice --auth-password x 2>&1)"; then
  fail "aiosmtpd started with AUTH but without TLS"
fi
assert_contains "aiosmtpd --auth-user without TLS" "--auth-user needs --tls-cert" "${out}"

# --- Failed starts are fast, say why, and leave nothing running (even inside $(...)).
start_s=${SECONDS}
if out="$(start_postfix_smtpd "${auth_port}" plain 2>&1)"; then
  fail "Postfix started on port ${auth_port}, where aiosmtpd listens"
fi
assert_contains "postfix on a taken port" "is taken" "${out}"
if out="$(start_postfix_smtpd "${bad_port}" may \
    --set 'smtpd_tls_security_level = bogus' 2>&1)"; then
  fail "Postfix with smtpd_tls_security_level = bogus started"
fi
assert_contains "postfix with a bad main.cf value" 'fatal: Invalid TLS level "bogus"' "${out}"
assert_eq "postfix failed starts take less than the start timeout" yes \
  "$( ((SECONDS - start_s < HAYATE_START_TIMEOUT_S)) && echo yes || echo no)"
assert_eq "postfix failed start: processes left" "" \
  "$(_postfix_instance_pids "${bad_port}" "$(cat "${dir}/postfix-${bad_port}/master.test-pid")")"
if out="$(start_postfix_smtpd "${bad_port}" sometimes 2>&1)"; then
  fail "start_postfix_smtpd accepted the mode 'sometimes'"
fi
assert_contains "postfix with an unknown mode" "unknown mode 'sometimes'" "${out}"

# --- Stopping leaves nothing behind: no master, no Postfix daemon, no aiosmtpd.
postfix_ports=("${plain_port}" "${may_port}" "${encrypt_port}" "${wrapper_port}" \
  "${broken_port}" "${wrong_port}" "${self_port}")
daemons=0
for port in "${postfix_ports[@]}"; do
  daemons=$((daemons + $(_postfix_instance_pids "${port}" \
    "$(cat "${dir}/postfix-${port}/master.test-pid")" | wc -l)))
  stop_postfix_smtpd "${port}"
done
# qmgr and postlogd at least, for each instance: the check below would see them.
assert_eq "postfix daemons seen before stopping" yes \
  "$( ((daemons >= 2 * ${#postfix_ports[@]})) && echo yes || echo "no: ${daemons}")"
for port in "${auth_port}" "${smtps_port}" "${clear_port}" "${starttls_port}"; do
  stop_process "$(cat "${dir}/aiosmtpd-${port}.pid")"
done
left=""
for port in "${postfix_ports[@]}"; do
  left+="$(_postfix_instance_pids "${port}" "$(cat "${dir}/postfix-${port}/master.test-pid")")"
done
for proc in /proc/[0-9]*; do  # builtins only: a grep of ours would match itself
  { mapfile -d '' arguments <"${proc}/cmdline"; } 2>/dev/null || continue
  [[ "${arguments[*]}" != *"${dir}"* ]] || left+=" ${proc#/proc/}"
done
assert_eq "processes left after stopping" "" "${left}"
