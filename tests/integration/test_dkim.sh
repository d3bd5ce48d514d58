#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# DKIM end to end: keys made by `hayate dkim keygen` (RSA and Ed25519), a campaign signing
# with both, and every message in hayate-sink's Maildir verified by an independent verifier
# (dkimpy) against the DNS records keygen printed; a changed message must fail.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
read -r port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"
mkdir -p "${dir}/maildir" "${dir}/c"
"${hayate}" dkim keygen --domain example.com --selector rsa1 --key "${dir}/c/rsa.pem" \
  >"${dir}/rsa.txt"
"${hayate}" dkim keygen --domain example.com --selector ed1 --algo ed25519 \
  --key "${dir}/c/ed.pem" >"${dir}/ed.txt"
assert_contains "keygen: RSA record" 'rsa1._domainkey.example.com. IN TXT "v=DKIM1; k=rsa; p=' \
  "$(cat "${dir}/rsa.txt")"
assert_contains "keygen: Ed25519 record" 'k=ed25519; p=' "$(cat "${dir}/ed.txt")"
assert_eq "keygen: key mode" 600 "$(stat -c %a "${dir}/c/rsa.pem")"

start_hayate_sink "${port}" --maildir "${dir}/maildir"
sink_pid="${HAYATE_LAST_PID}"
csv=$'email,first_name\nalice@example.org,アリス\nbob@example.net,Bob\ncarol@example.com,Carol'
write_campaign "${dir}/c" "${csv}" "list_unsubscribe = \"https://example.com/u?e={{email}}\"
[delivery]
helo = \"client.hayate.test\"
[routes]
\"*\" = \"127.0.0.1:${port}\"
[[dkim]]
domain = \"example.com\"
selector = \"rsa1\"
key = \"rsa.pem\"
[[dkim]]
domain = \"example.com\"
selector = \"ed1\"
key = \"ed.pem\""
sed -i 's/^subject = .*/subject = "【お知らせ】{{first_name}}様、11月のニュース — a long subject to fold over lines"/' \
  "${dir}/c/job.toml"
printf '<p>Hello {{first_name}}</p>\n%s\n' "$(printf 'x%.0s' $(seq 1 1200))" >"${dir}/c/body.html"
sed -i 's/^text = .*/text = "body.txt"\nhtml = "body.html"/' "${dir}/c/job.toml"
run_hayate c run "${dir}/c/job.toml" --out "${dir}/c/out"
assert_eq "exit" 0 "${HAYATE_EXIT}"
assert_eq "delivered" 3 "$(json_get "${dir}/c/out/summary.json" delivered)"
stop_process "${sink_pid}"

"${HAYATE_PYTHON}" - "${dir}/maildir/new" "${dir}/rsa.txt" "${dir}/ed.txt" <<'PY' ||
import os, re, sys
import dkim
records = {}
for path in sys.argv[2:]:
    line = open(path).read()
    name = line.split()[0].rstrip(".")
    records[name.encode()] = "".join(re.findall(r'"([^"]*)"', line)).encode()
def dnsfunc(name, timeout=5):
    return records.get(name.rstrip(b"."), b"")
def verifies(message, index):
    try:
        return dkim.DKIM(message).verify(idx=index, dnsfunc=dnsfunc)
    except dkim.ValidationError:  # dkimpy raises for some failures (body hash mismatch)
        return False
folder = sys.argv[1]
names = sorted(os.listdir(folder))
assert len(names) == 3, names
for name in names:
    raw = open(os.path.join(folder, name), "rb").read().replace(b"\n", b"\r\n")
    # hayate-sink prepends Return-Path and Delivered-To, as an MTA would: not signed, harmless.
    signatures = [l for l in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n") if l.startswith(b"DKIM-Signature")]
    assert len(signatures) == 2, signatures
    for index in range(2):
        assert verifies(raw, index), f"signature {index} of {name} fails"
    tampered = raw.replace(b"Hello", b"Hallo", 1)
    assert tampered != raw
    for index in range(2):
        assert not verifies(tampered, index), "a changed body verified"
    forged = raw.replace(b"\r\nFrom:", b"\r\nFrom: Evil <evil@example.com>\r\nFrom:", 1)
    assert forged != raw
    for index in range(2):
        assert not verifies(forged, index), "an added From verified"
print("verified")
PY
  fail "DKIM verification failed"
assert_eq "every signature verifies; changes are caught" ok ok
