#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The jobs README.md shows are files under examples/, and they work: the annotated job in
# "Job file" is examples/annotated/job.toml byte for byte and passes `hayate check` once the
# files it names exist; the demo job checks as the README says (its two bad rows rejected).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(realpath "$(require_bin hayate)")"
root="$(cd "${HAYATE_INTEGRATION_DIR}/../.." && pwd)"
dir="${HAYATE_TEST_DIR}"

# The TOML block that follows the sentence naming examples/annotated/job.toml.
"${HAYATE_PYTHON}" - "${root}/README.md" >"${dir}/readme-job.toml" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
start = text.index("```toml\n", text.index("This job is `examples/annotated/job.toml`")) + 8
sys.stdout.write(text[start:text.index("```\n", start)])
PY
if ! cmp -s "${dir}/readme-job.toml" "${root}/examples/annotated/job.toml"; then
  diff "${dir}/readme-job.toml" "${root}/examples/annotated/job.toml" >&2 || true
  fail "README.md's annotated job and examples/annotated/job.toml differ"
fi
assert_eq "README's job is examples/annotated/job.toml" yes yes

# The files the annotated job names, made here (keys and secrets are never in the tree).
job="${dir}/annotated"
mkdir -p "${job}/keys"
cp "${root}/examples/annotated/job.toml" "${job}/"
printf 'email,first_name,city\nann@example.org,Ann,Kyoto\nbob@example.net,Bob,Lyon\n' \
  >"${job}/recipients.csv"
printf 'Hello {{first_name}} in {{city}}\n' >"${job}/body.txt"
printf '<p>Hello {{first_name}}</p>\n' >"${job}/body.html"
make_test_pki
cp "$(test_ca_file)" "${job}/test-ca.pem"
"${hayate}" dkim keygen --domain example.com --selector s1 --key "${job}/keys/s1.pem" \
  >/dev/null 2>&1
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"${job}/verp.key"
chmod 600 "${job}/verp.key" "${job}/keys/s1.pem"
run_hayate annotated check --no-preflight "${job}/job.toml"
assert_eq "annotated job: check exit" 0 "${HAYATE_EXIT}"
assert_contains "annotated job: its rows" "newsletter-2026-11: 2 recipients in 2 domains, 0 rows" \
  "$(cat "${dir}/annotated.out")"
assert_eq "annotated job: no warning" "" "$(cat "${dir}/annotated.err")"

# Its commented [relay], turned on in place of the "*" route, checks too.
sed -e 's/^"\*" = "127.0.0.1:2525".*$//' -e 's/^# \[relay\] .*$/[relay]/' \
  -e '/^\[relay\]$/,/^$/ s/^# \(host\|port\|tls\|username\|password_file\|allow_plaintext_auth\) /\1 /' \
  "${job}/job.toml" >"${job}/relay.toml"
printf 'secret\n' >"${job}/relay-password"
chmod 600 "${job}/relay-password"
grep -q '^username = "newsletter"' "${job}/relay.toml" || fail "the [relay] was not turned on"
run_hayate relay check --no-preflight "${job}/relay.toml"
assert_eq "annotated job with its relay: check exit" 0 "${HAYATE_EXIT}"
# Both a "*" route and a [relay] is a mistake check names (the README's comment says so).
sed 's/^\[routes\] .*$/[routes]\n"*" = "127.0.0.1:2525"/' "${job}/relay.toml" >"${job}/both.toml"
run_hayate both check --no-preflight "${job}/both.toml"
assert_eq "a \"*\" route and a [relay]: check exit" 65 "${HAYATE_EXIT}"

# The demo job (scripts/demo.sh): 12 recipients, the 2 rows it gets wrong on purpose rejected.
run_hayate demo check --no-preflight "${root}/examples/demo/job.toml"
assert_eq "demo job: check exit (rejected rows)" 65 "${HAYATE_EXIT}"
assert_contains "demo job: its rows" "demo-2026-11: 12 recipients in 3 domains, 2 rows rejected" \
  "$(cat "${dir}/demo.out")"
