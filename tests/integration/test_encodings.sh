#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Recipient files as Japanese spreadsheets save them, end to end into hayate-sink's Maildir:
# a CP932 CSV with encoding = "cp932" delivers the right names; the same file in utf-8 mode is
# refused (exit 65, file:line, the cp932 hint) and nothing is sent; charset = "iso-2022-jp"
# delivers a Subject and body that Python's email package decodes back to the Japanese.
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

csv=$'email,first_name\nyamada@example.jp,山田 太郎\nsato@example.jp,佐藤 花子\nkudo@example.jp,髙橋 一郎'
routes="[routes]
\"*\" = \"127.0.0.1:${port}\""

# 1. The CP932 file in utf-8 mode: refused before anything is sent, by check and by run.
write_campaign "${dir}/refused" "${csv}" "${routes}"
iconv -f UTF-8 -t CP932 "${dir}/refused/recipients.csv" >"${dir}/refused/cp932.csv"
mv "${dir}/refused/cp932.csv" "${dir}/refused/recipients.csv"
for command in check run; do
  options=()
  [[ "${command}" == run ]] && options=(--out "${dir}/refused/out")
  run_hayate "refused-${command}" "${command}" "${dir}/refused/job.toml" "${options[@]}"
  assert_eq "${command} of a CP932 file in utf-8 mode: exit" 65 "${HAYATE_EXIT}"
  assert_contains "${command}: names file:line" "recipients.csv:2: byte 0x8E is not valid UTF-8" \
    "$(cat "${dir}/refused-${command}.err")"
  assert_contains "${command}: suggests cp932" 'set encoding = "cp932"' \
    "$(cat "${dir}/refused-${command}.err")"
done
assert_eq "nothing sent" 0 "$(find "${dir}/maildir" -type f | wc -l)"

# 2. The same file with encoding = "cp932": delivered, each name right.
write_campaign "${dir}/cp932" "${csv}" "encoding = \"cp932\"
${routes}"
iconv -f UTF-8 -t CP932 "${dir}/cp932/recipients.csv" >"${dir}/cp932/cp932.csv"
mv "${dir}/cp932/cp932.csv" "${dir}/cp932/recipients.csv"
run_hayate cp932 run "${dir}/cp932/job.toml" --out "${dir}/cp932/out"
assert_eq "cp932 run: exit" 0 "${HAYATE_EXIT}"
assert_eq "cp932 run: delivered" 3 "$(json_get "${dir}/cp932/out/summary.json" delivered)"
wait_until_eq "cp932 messages in the Maildir" 3 30 \
  bash -c "find '${dir}/maildir' -type f | wc -l"

"${HAYATE_PYTHON}" - "${dir}/maildir/new" <<'PY' || fail "cp932 message checks failed"
import email, email.policy, os, sys
folder = sys.argv[1]
want = {"yamada@example.jp": "山田 太郎", "sato@example.jp": "佐藤 花子",
        "kudo@example.jp": "髙橋 一郎"}
for name in os.listdir(folder):
    message = email.message_from_bytes(open(os.path.join(folder, name), "rb").read(),
                                       policy=email.policy.default)
    to = message["Delivered-To"].strip("<>")
    body = message.get_content()
    assert f"Hello {want[to]}," in body, (to, body)
    assert message["Subject"] == f"Hi {want[to]}", (to, message["Subject"])
    os.remove(os.path.join(folder, name))
PY

# 3. charset = "iso-2022-jp": Subject, From name and text body in ISO-2022-JP; a row whose
# field JIS X 0208 lacks (髙, a CP932 extension) is rejected with its field, never sent.
write_campaign "${dir}/jis" "${csv}" "charset = \"iso-2022-jp\"
${routes}"
sed -i 's/^from = .*/from = "ニュース編集部 <news@example.com>"/; s/^subject = .*/subject = "【ご案内】{{first_name}} 様、十一月のお知らせ"/' \
  "${dir}/jis/job.toml"
printf '{{first_name}} 様\nこんにちは。十一月のお知らせです。\n' >"${dir}/jis/body.txt"
run_hayate jis-check check "${dir}/jis/job.toml"
assert_eq "iso-2022-jp check: exit" 65 "${HAYATE_EXIT}"
assert_contains "check names the row and field" "recipients.csv:4: field 'first_name': '髙' (U+9AD9)" \
  "$(cat "${dir}/jis-check.err")"
run_hayate jis run "${dir}/jis/job.toml" --out "${dir}/jis/out"
assert_eq "iso-2022-jp run: delivered" 2 "$(json_get "${dir}/jis/out/summary.json" delivered)"
assert_eq "iso-2022-jp run: rejected" 1 "$(json_get "${dir}/jis/out/summary.json" rejected)"
assert_contains "rejects.csv says why" "'髙' (U+9AD9) is not in JIS X 0208" \
  "$(cat "${dir}/jis/out/rejects.csv")"
wait_until_eq "iso-2022-jp messages in the Maildir" 2 30 \
  bash -c "find '${dir}/maildir' -type f | wc -l"
stop_process "${sink_pid}"

"${HAYATE_PYTHON}" - "${dir}/maildir/new" <<'PY' || fail "iso-2022-jp message checks failed"
import email, email.header, os, sys
folder = sys.argv[1]
want = {"yamada@example.jp": "山田 太郎", "sato@example.jp": "佐藤 花子"}
names = os.listdir(folder)
assert len(names) == 2, names
def decode(value):
    parts = email.header.decode_header(value)
    text = ""
    for data, charset in parts:
        if charset is None:
            text += data if isinstance(data, str) else data.decode("ascii")
        else:
            assert charset.lower() == "iso-2022-jp", charset
            text += data.decode("iso2022_jp")
    return text
for name in names:
    raw = open(os.path.join(folder, name), "rb").read()
    message = email.message_from_bytes(raw)
    to = message["Delivered-To"].strip("<>")
    subject = message["Subject"]
    assert "=?ISO-2022-JP?B?" in subject, subject
    assert decode(subject) == f"【ご案内】{want[to]} 様、十一月のお知らせ", decode(subject)
    assert decode(message["From"]).startswith("ニュース編集部"), message["From"]
    assert message.get_content_charset() == "iso-2022-jp", message["Content-Type"]
    assert message["Content-Transfer-Encoding"] == "7bit"
    payload = message.get_payload(decode=True)
    assert all(byte < 0x80 for byte in payload)
    body = payload.decode("iso2022_jp").replace("\r\n", "\n")  # the Maildir keeps LF
    assert body == f"{want[to]} 様\nこんにちは。十一月のお知らせです。\n", repr(body)
PY
echo "ok: test_encodings"
