#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# What mailbox providers look for, end to end into hayate-sink's Maildir: a one-click
# List-Unsubscribe (RFC 2369, RFC 8058) per recipient, Feedback-ID, a VERP envelope sender per
# recipient, 8bit bodies when the server offers 8BITMIME, and messages Python's strict email
# parser accepts.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null
read -r port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"
mkdir -p "${dir}/maildir"
start_hayate_sink "${port}" --maildir "${dir}/maildir" --stats-file "${dir}/sink.json"
sink_pid="${HAYATE_LAST_PID}"
printf 'a-secret-of-at-least-16-bytes\n' >"${dir}/verp.key"
csv=$'email,first_name\nalice@example.org,アリス\nbob+news@example.net,Bob\ncarol@example.com,Carol & Co'
write_campaign "${dir}/c" "${csv}" "list_unsubscribe = \"https://example.com/u?e={{email}}\"
list_unsubscribe_mailto = \"unsubscribe@example.com\"
feedback_id = \"nov:news:example\"
[delivery]
helo = \"client.hayate.test\"
[verp]
domain = \"bounces.example.com\"
secret_file = \"${dir}/verp.key\"
[routes]
\"*\" = \"127.0.0.1:${port}\""
printf 'こんにちは {{first_name}} さん、十一月のお知らせです。\n' >"${dir}/c/body.txt"
run_hayate c run "${dir}/c/job.toml" --out "${dir}/c/out"
assert_eq "exit" 0 "${HAYATE_EXIT}"
assert_eq "delivered" 3 "$(json_get "${dir}/c/out/summary.json" delivered)"
stop_process "${sink_pid}"

"${HAYATE_PYTHON}" - "${dir}/maildir/new" <<'PY' || fail "message checks failed"
import email, email.policy, os, re, sys
folder = sys.argv[1]
names = sorted(os.listdir(folder))
assert len(names) == 3, names
senders = set()
for name in names:
    raw = open(os.path.join(folder, name), "rb").read()
    message = email.message_from_bytes(raw, policy=email.policy.strict)
    to = message["Delivered-To"].strip("<>")
    unsubscribe = message["List-Unsubscribe"]
    # the recipient's address, percent-encoded into the URL ('+' and '@' are encoded)
    encoded = to.replace("+", "%2B").replace("@", "%40")
    assert f"<https://example.com/u?e={encoded}>" in unsubscribe, (to, unsubscribe)
    assert "<mailto:unsubscribe@example.com>" in unsubscribe, unsubscribe
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Feedback-ID"] == "nov:news:example"
    return_path = message["Return-Path"].strip("<>")
    assert re.fullmatch(r"bounces\+[a-z2-7]+@bounces\.example\.com", return_path), return_path
    senders.add(return_path)
    assert message["Content-Transfer-Encoding"] == "8bit", message["Content-Transfer-Encoding"]
    body = message.get_content()
    assert "こんにちは" in body and "お知らせ" in body, body
    if to == "alice@example.org":
        assert "アリス" in body
assert len(senders) == 3, senders  # one VERP address per recipient
PY
assert_eq "unsubscribe, feedback-id, VERP, 8bit, strict parse" ok ok
