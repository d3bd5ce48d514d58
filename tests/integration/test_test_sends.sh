#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# hayate run --test-to: the rendered messages of the chosen rows reach the seed addresses (each
# row's own fields, the subject marked only when asked), whatever the send window says, from a
# folder of their own; the campaign's journal and outputs, and the suppression list, are left
# alone, so the real run afterwards sends to every recipient.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
require_bin hayate >/dev/null
read -r port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"
start_hayate_sink "${port}" --maildir "${dir}/maildir" --stats-file "${dir}/sink.json" \
  --stats-interval
csv="email,first_name
ann@real.test,Ann
bob@real.test,Bob
carl@real.test,Carl
not-an-address,Dora"
future="$(date -u -d "@$(($(date +%s) + 86400))" +%Y-%m-%dT%H:%M:%SZ)"
write_campaign "${dir}/c" "${csv}" "[delivery]
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${port}\""
cp -r "${dir}/c" "${dir}/later"
printf '[schedule]\nstart_at = %s\n' "${future}" >>"${dir}/later/job.toml"

# messages_to ADDRESS: "subject|first body line" of each message the sink kept for ADDRESS.
messages_to() {
  "${HAYATE_PYTHON}" - "${dir}/maildir/new" "$1" <<'PY'
import email, email.policy, os, sys
folder, address = sys.argv[1], sys.argv[2]
found = []
for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
    with open(os.path.join(folder, name), "rb") as f:
        message = email.message_from_binary_file(f, policy=email.policy.default)
    if message["Delivered-To"] != address:
        continue
    body = message.get_body(("plain",)).get_content().splitlines()[0]
    found.append(f"{message['Subject']}|{body}")
print("\n".join(sorted(found)))
PY
}

# Rows 1 and 3 to two seeds, marked; the job's send window opens tomorrow.
run_hayate marked run "${dir}/later/job.toml" --test-to seed1@seeds.test,seed2@seeds.test \
  --rows 3,1 --mark-subject --out "${dir}"
assert_eq "marked: exit" 0 "${HAYATE_EXIT}"
assert_contains "marked: says where" "test sends: 4 messages to 2 seed addresses" \
  "$(cat "${dir}/marked.err")"
wait_until_eq "marked: messages to seed1" "[test] Hi Ann|Hello Ann,
[test] Hi Carl|Hello Carl," 10 messages_to seed1@seeds.test
assert_eq "marked: messages to seed2" "[test] Hi Ann|Hello Ann,
[test] Hi Carl|Hello Carl," "$(messages_to seed2@seeds.test)"
assert_eq "marked: nothing to the recipients" "" "$(messages_to ann@real.test)"
[[ ! -e "${dir}/later/integration.out" && ! -e "${dir}/integration.out" ]] ||
  fail "a test send made the campaign's output directory"
assert_eq "no campaign output" yes yes
outs=("${dir}"/hayate-test-sends.*)
assert_eq "one folder of its own" 1 "${#outs[@]}"
assert_eq "its summary" 4 "$(json_get "${outs[0]}/summary.json" delivered)"
[[ ! -e "${outs[0]}/journal.bin" ]] || fail "a test send wrote a journal"

# Unmarked, the default row (the first); a seed that bounces is not suppressed.
run_hayate plain run "${dir}/c/job.toml" --test-to bounce-seed@seeds.test,seed3@seeds.test \
  --out "${dir}/plain-out"
assert_eq "plain: exit" 0 "${HAYATE_EXIT}"
wait_until_eq "plain: the first row, subject as the recipients get it" "Hi Ann|Hello Ann," 10 \
  messages_to seed3@seeds.test
[[ ! -e "${HAYATE_STATE_DIR}/suppression.db" ]] || fail "a test send touched the suppression list"
assert_eq "suppression list untouched" yes yes

# Mistakes end the run before anything is sent.
run_hayate bad-seed run "${dir}/c/job.toml" --test-to "not an address"
assert_eq "a bad seed: exit" 64 "${HAYATE_EXIT}"
run_hayate no-row run "${dir}/c/job.toml" --test-to seed1@seeds.test --rows 9
assert_eq "a row that is not there: exit" 64 "${HAYATE_EXIT}"
assert_contains "a row that is not there: says so" "there is no row 9" "$(cat "${dir}/no-row.err")"
run_hayate rejected-row run "${dir}/c/job.toml" --test-to seed1@seeds.test --rows 4
assert_eq "a rejected row: exit" 65 "${HAYATE_EXIT}"
assert_contains "a rejected row: says why" "row 4 would be rejected" \
  "$(cat "${dir}/rejected-row.err")"
run_hayate rows-alone run "${dir}/c/job.toml" --rows 1
assert_eq "--rows without --test-to: exit" 64 "${HAYATE_EXIT}"

# The campaign itself then goes to every recipient: nothing was recorded as sent.
run_hayate real run "${dir}/c/job.toml" --out "${dir}/c/out"
assert_eq "the campaign: exit" 0 "${HAYATE_EXIT}"
assert_eq "the campaign: delivered" 3 "$(json_get "${dir}/c/out/summary.json" delivered)"
wait_until_eq "the campaign: ann got hers" "Hi Ann|Hello Ann," 10 messages_to ann@real.test
